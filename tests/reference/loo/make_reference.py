"""ArviZ's PSIS-LOO on the draws committed next to this script, for tests/workflow.rs.

The draws (one CSV per chain, CmdStan layout, `log_lik.n` columns) are written by
`cargo test --release --test workflow -- --ignored write_loo_reference_draws`. The chains are
pooled into one (chain = 1), so that ArviZ takes the relative efficiency as 1, as `ppl loo
--reff 1` does; `with_relative_efficiency` is PSIS-LOO as R's `loo` computes it with chains (r_eff
per observation from the ESS of its likelihood), with ArviZ's `psislw` given each r_eff, which
`ppl loo` (default `--reff ess`) must match. Run: `python3 tests/reference/loo/make_reference.py` (ArviZ 0.23.4 gave arviz.json).
"""

import glob
import json
import os

import arviz as az
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def chains(name):
    """The log_lik matrix of each chain, in file order."""
    out = []
    for path in sorted(glob.glob(os.path.join(HERE, name, "chain_*.csv"))):
        rows = []
        with open(path) as f:
            lines = [l for l in f if not l.startswith("#") and l.strip()]
        header = lines[0].strip().split(",")
        columns = [i for i, c in enumerate(header) if c.startswith("log_lik.")]
        for line in lines[1:]:
            values = line.strip().split(",")
            rows.append([float(values[i]) for i in columns])
        out.append(np.array(rows))
    return out


def ess_whole_chains(x):
    """ESS of the mean of whole chains (rows: chains), Stan 2.18 / R loo's ess_rfun: Geyer's
    initial positive and monotone sequences on the multi-chain autocorrelation."""
    m, n = x.shape
    acov = np.array([np.correlate(c - c.mean(), c - c.mean(), "full")[n - 1:] / n for c in x])
    chain_mean = x.mean(axis=1)
    mean_var = acov[:, 0].mean() * n / (n - 1)
    var_plus = mean_var * (n - 1) / n
    if m > 1:
        var_plus += chain_mean.var(ddof=1)
    rho = np.zeros(n)
    rho_even, rho_odd = 1.0, 1.0 - (mean_var - acov[:, 1].mean()) / var_plus
    rho[0], rho[1] = rho_even, rho_odd
    t = 1
    while t < n - 3 and rho_even + rho_odd > 0:
        rho_even = 1.0 - (mean_var - acov[:, t + 1].mean()) / var_plus
        rho_odd = 1.0 - (mean_var - acov[:, t + 2].mean()) / var_plus
        if rho_even + rho_odd >= 0:
            rho[t + 1], rho[t + 2] = rho_even, rho_odd
        t += 2
    max_t = t - 2
    if rho_even > 0:
        rho[max_t + 1] = rho_even
    t = 1
    while t <= max_t - 2:
        if rho[t + 1] + rho[t + 2] > rho[t - 1] + rho[t]:
            rho[t + 1] = (rho[t - 1] + rho[t]) / 2
            rho[t + 2] = rho[t + 1]
        t += 2
    tau = -1 + 2 * rho[: max_t + 1].sum() + rho[max_t + 1]
    tau = max(tau, 1 / np.log10(m * n))
    return m * n / tau


def with_relative_efficiency(per_chain):
    """PSIS-LOO as R's loo does it with chains: r_eff per observation from the ESS of the
    likelihood, ArviZ's psislw per observation with that r_eff."""
    from scipy.special import logsumexp

    stacked = np.stack(per_chain)  # chains × draws × observations
    matrix = np.concatenate(per_chain)
    total = matrix.shape[0]
    reff, k, elpd_i, lppd_i = [], [], [], []
    for n in range(matrix.shape[1]):
        ll = stacked[:, :, n]
        r = ess_whole_chains(np.exp(ll - ll.max())) / total
        lw, kn = az.psislw(-matrix[:, n], reff=r)
        reff.append(float(r))
        k.append(float(kn))
        elpd_i.append(float(logsumexp(lw + matrix[:, n])))
        lppd_i.append(float(logsumexp(matrix[:, n]) - np.log(total)))
    elpd_i = np.array(elpd_i)
    k = np.array(k)
    threshold = min(1 - 1 / np.log10(total), 0.7)
    return {
        "elpd_loo": float(elpd_i.sum()),
        "se": float(np.sqrt(len(elpd_i) * elpd_i.var())),
        "p_loo": float(sum(lppd_i) - elpd_i.sum()),
        "relative_efficiency": reff,
        "pareto_k": [float(v) for v in k],
        "pareto_k_counts": {
            "good": int(np.sum(k <= threshold)),
            "bad": int(np.sum((k > threshold) & (k <= 1))),
            "very_bad": int(np.sum(k > 1)),
        },
    }


def log_lik(name):
    rows = []
    for path in sorted(glob.glob(os.path.join(HERE, name, "chain_*.csv"))):
        with open(path) as f:
            lines = [l for l in f if not l.startswith("#") and l.strip()]
        header = lines[0].strip().split(",")
        columns = [i for i, c in enumerate(header) if c.startswith("log_lik.")]
        for line in lines[1:]:
            values = line.strip().split(",")
            rows.append([float(values[i]) for i in columns])
    return np.array(rows)


def main():
    out = {}
    for name in ["eight_schools", "regression"]:
        matrix = log_lik(name)
        idata = az.from_dict(
            posterior={"dummy": np.zeros((1, matrix.shape[0]))},
            log_likelihood={"y": matrix[np.newaxis, :, :]},
        )
        result = az.loo(idata, pointwise=True)
        k = result.pareto_k.values
        threshold = min(1 - 1 / np.log10(matrix.shape[0]), 0.7)
        out[name] = {
            "draws": int(matrix.shape[0]),
            "observations": int(matrix.shape[1]),
            "elpd_loo": float(result.elpd_loo),
            "se": float(result.se),
            "p_loo": float(result.p_loo),
            "pareto_k_counts": {
                "good": int(np.sum(k <= threshold)),
                "bad": int(np.sum((k > threshold) & (k <= 1))),
                "very_bad": int(np.sum(k > 1)),
            },
            "pareto_k": [float(v) for v in k],
            "arviz": az.__version__,
            "with_relative_efficiency": with_relative_efficiency(chains(name)),
        }
    with open(os.path.join(HERE, "arviz.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
