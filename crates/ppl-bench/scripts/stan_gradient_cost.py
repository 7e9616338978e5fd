#!/usr/bin/env python3
"""Stan's cost per gradient evaluation, as the sampler pays it: one chain's wall time for
warmup + sampling divided by its total leapfrog steps (warmup included), through PyStan.

Usage (from the repository root, with the peers' virtualenv):
  python crates/ppl-bench/scripts/stan_gradient_cost.py --model diamonds|logreg|logreg_glm
         --data FILE [--peers ../shared/peers] [--posteriordb DIR] [--seed 1]
         [--warmup 1000] [--samples 1000]

diamonds: posteriordb's brms program (`normal_id_glm_lpdf` over the centred columns) on
`../shared/data/posteriordb/diamonds-diamonds.json`, read from a posteriordb checkout
(`--posteriordb DIR`). logreg: the peers' program (`nuts_stan.py`'s text, so httpstan's cache is
shared), `bernoulli_logit(alpha + X * beta)`; logreg_glm: the same with `bernoulli_logit_glm`.
One chain, so no other chain competes for the cores. The figure is an upper bound on Stan's pure
gradient cost: it also holds the tree building of NUTS and PyStan's transfer of the draws (JSON
over a local socket), both small beside N = 5000 rows per gradient. Prints one JSON line.
"""
import argparse
import contextlib
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.join(HERE, "..", "..", "..", "..", "shared", "peers")


def program(args):
    sys.path.insert(0, args.peers)
    import nuts_stan  # the peers' program texts: same text, same httpstan cache entry
    if args.model == "diamonds":
        code = open(os.path.join(args.posteriordb, "posterior_database", "models", "stan",
                                 "diamonds.stan")).read()
        return code, json.load(open(args.data))
    import pandas as pd
    frame = pd.read_csv(args.data)
    x = frame.drop(columns=["y"]).to_numpy(dtype=np.float64)
    code = nuts_stan.LOGREG_GLM if args.model == "logreg_glm" else nuts_stan.LOGREG
    return code, {"N": x.shape[0], "D": x.shape[1], "X": x, "y": frame["y"].to_numpy(dtype=int)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["diamonds", "logreg", "logreg_glm"], required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--posteriordb", default="/tmp/glm_pdb/posteriordb")
    ap.add_argument("--peers", default=PEERS, help="the peers' folder (../shared/peers)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=1000)
    args = ap.parse_args()
    import stan
    import httpstan.cache
    code, data = program(args)
    with contextlib.redirect_stdout(sys.stderr):
        t0 = time.perf_counter()
        model = stan.build(code, data=data, random_seed=args.seed)
        compile_s = time.perf_counter() - t0
        for f in httpstan.cache.model_directory(model.model_name).glob("**/*.jsonlines.gz"):
            f.unlink()
        t1 = time.perf_counter()
        fit = model.sample(num_chains=1, num_samples=args.samples, num_warmup=args.warmup,
                           save_warmup=True)
        sample_s = time.perf_counter() - t1
    leapfrogs = float(np.asarray(fit["n_leapfrog__"]).sum())
    print(json.dumps({"tool": "stan", "model": args.model, "chains": 1, "warmup": args.warmup,
                      "samples": args.samples, "compile_s": round(compile_s, 3),
                      "sample_s": round(sample_s, 3), "leapfrogs": leapfrogs,
                      "microseconds_per_gradient": round(1e6 * sample_s / leapfrogs, 2),
                      "load": os.getloadavg()}))


if __name__ == "__main__":
    main()
