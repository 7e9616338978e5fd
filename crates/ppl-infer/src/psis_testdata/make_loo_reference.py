"""Reference values for the PSIS-LOO tests in ../loo.rs, computed with ArviZ's `loo` and `compare`.

The pointwise log-likelihood matrices are formulas that Rust reproduces: S = 1000 draws of
(mu, sigma) from smooth deterministic sequences, N = 20 observations with one outlier, under a
normal model A (sigma drawn) and a model B (sigma fixed at 2). Run: `python3 make_loo_reference.py`
(arviz 0.23.4).
"""
import math

import numpy as np
import arviz as az

S, N = 1000, 20


def y(n):
    return 8.0 if n == 7 else 1.0 + 1.5 * math.sin(2.1 * n)


def normal_log_pdf(x, mu, sigma):
    return -0.5 * math.log(2.0 * math.pi) - math.log(sigma) - 0.5 * ((x - mu) / sigma) ** 2


def matrix(fixed_sigma):
    out = np.empty((S, N))
    for s in range(S):
        mu = 1.0 + 0.3 * math.sin(1.3 * s)
        sigma = fixed_sigma if fixed_sigma else math.exp(0.4 + 0.1 * math.cos(0.7 * s))
        for n in range(N):
            out[s, n] = normal_log_pdf(y(n), mu, sigma)
    return out


def idata(log_lik):
    return az.from_dict(
        posterior={"mu": np.zeros((1, S))}, log_likelihood={"y": log_lik[None, :, :]}
    )


models = {"A": idata(matrix(None)), "B": idata(matrix(2.0))}
for name, data in models.items():
    result = az.loo(data, pointwise=True, reff=1.0)
    print(f"{name}: elpd_loo = {float(result.elpd_loo)!r}, se = {float(result.se)!r}, "
          f"p_loo = {float(result.p_loo)!r}")
    print(f"  k = {[float(k) for k in result.pareto_k.values]!r}")
    print(f"  loo_i[7] = {float(result.loo_i.values[7])!r}")
comparison = az.compare(models, ic="loo")
print(comparison[["elpd_loo", "elpd_diff", "dse"]].to_string())
for name in comparison.index:
    print(f"{name}: elpd_diff = {float(comparison.loc[name, 'elpd_diff'])!r}, "
          f"dse = {float(comparison.loc[name, 'dse'])!r}")
