"""Regenerates diagnostics_reference.json: chains and the values ArviZ computes for them.

Run with a Python that has numpy and arviz (the project used ArviZ 0.23.4):
    python make_diagnostics_reference.py > diagnostics_reference.json
The Rust tests in src/diagnostics.rs read the JSON; Python is not needed to run them.
"""
import json
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")
import arviz as az  # noqa: E402


def ar1(rng, n_chains, n_draws, phi, innovations="normal", offsets=None):
    chains = np.empty((n_chains, n_draws))
    for c in range(n_chains):
        x = rng.normal() / np.sqrt(1 - phi**2)
        for t in range(n_draws):
            e = rng.standard_t(3) if innovations == "t3" else rng.normal()
            x = phi * x + e
            chains[c, t] = x
        if offsets is not None:
            chains[c] += offsets[c]
    return chains


def case(name, chains, energy=False):
    out = {
        "name": name,
        "chains": chains.tolist(),
        "mean": float(np.mean(chains)),
        "sd": float(np.std(chains, ddof=1)),
        "q5": float(np.quantile(chains, 0.05)),
        "q50": float(np.quantile(chains, 0.50)),
        "q95": float(np.quantile(chains, 0.95)),
        "ess_bulk": float(az.ess(chains, method="bulk")),
        "ess_tail": float(az.ess(chains, method="tail")),
        "ess_mean": float(az.ess(chains, method="mean")),
        "rhat": float(az.rhat(chains, method="rank")),
        "mcse_mean": float(az.mcse(chains, method="mean")),
    }
    if energy:
        out["bfmi"] = [float(v) for v in az.bfmi(chains)]
    return out


rng = np.random.default_rng(20240611)
cases = [
    case("ar1_phi0.9_4x500", ar1(rng, 4, 500, 0.9), energy=True),
    case("ar1_t3_offset_4x501", ar1(rng, 4, 501, 0.6, "t3", [0.0, 0.0, 0.0, 0.8])),
    case("ar1_rounded_ties_3x200", np.round(ar1(rng, 3, 200, 0.3), 1)),
    case("iid_2x1000", rng.normal(size=(2, 1000)), energy=True),
    case("antithetic_4x300", ar1(rng, 4, 300, -0.5)),
]
json.dump({"arviz_version": az.__version__, "numpy_version": np.__version__, "cases": cases}, sys.stdout)
