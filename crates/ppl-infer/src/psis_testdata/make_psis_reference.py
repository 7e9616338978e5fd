"""Reference values for the PSIS tests in ../psis.rs, computed with ArviZ's `psislw`.

The inputs are formulas that Rust reproduces exactly (a golden-ratio sequence of uniforms), so
only numbers need to be committed. Run: `python3 make_psis_reference.py` (arviz 0.23.4 was used).
"""
import math

import numpy as np
import arviz as az

GOLDEN = 0.6180339887498949


def uniform(i):
    x = (i + 1) * GOLDEN
    return x - math.floor(x)


def case(name, size, formula):
    return name, np.array([formula(i) for i in range(size)], dtype=float)


CASES = [
    case("pareto_0_3", 1000, lambda i: -0.3 * math.log(uniform(i))),
    case("pareto_1_0", 1000, lambda i: -1.0 * math.log(uniform(i))),
    case("sine_100", 100, lambda i: 2.0 * math.sin(i) + 0.1 * i / 100.0),
    case("mixed_4000", 4000, lambda i: -0.6 * math.log(uniform(i)) + 0.5 * math.sin(3.0 * i)),
    case("short_20", 20, lambda i: math.cos(1.7 * i)),
]

for name, log_ratios in CASES:
    log_weights, k = az.psislw(log_ratios.copy())
    top = int(np.argmax(log_ratios))
    picks = [0, 1, 2, top]
    # Normalised log weights at a few indices, and the weighted mean of the index (checks the
    # whole vector at once).
    weighted_index = float(np.sum(np.exp(log_weights) * np.arange(len(log_ratios))))
    print(f"{name}: k = {float(k)!r}")
    print(f"  picks = {picks}")
    print(f"  log_weights = {[float(log_weights[j]) for j in picks]!r}")
    print(f"  weighted_index = {weighted_index!r}")
