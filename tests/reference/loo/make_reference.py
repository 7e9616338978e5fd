"""ArviZ's PSIS-LOO on the draws committed next to this script, for tests/workflow.rs.

The draws (one CSV per chain, CmdStan layout, `log_lik.n` columns) are written by
`cargo test --release --test workflow -- --ignored write_loo_reference_draws`. The chains are
pooled into one (chain = 1), so that ArviZ takes the relative efficiency as 1, as `ppl loo`
does. Run: `python3 tests/reference/loo/make_reference.py` (ArviZ 0.23.4 gave arviz.json).
"""

import glob
import json
import os

import arviz as az
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


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
        }
    with open(os.path.join(HERE, "arviz.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
