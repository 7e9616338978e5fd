#!/usr/bin/env python3
"""The posteriordb table: ppl, Stan (PyStan) and nutpie (PyMC models) on posteriordb posteriors,
each checked against posteriordb's reference draws.

Usage (from the repository root, with the peers' virtualenv):
  python crates/ppl-bench/scripts/posteriordb.py --posteriordb DIR [--ppl target/release/ppl]
         [--data ../shared/data/posteriordb] [--only NAME,...] [--tools ppl,stan,nutpie]
         [--seed 1] [--out results.jsonl]
  PDB_CHAINS=1 in the environment runs one chain per tool (for the cost of a gradient: seconds
  per leapfrog step, warmup included, with no chains competing for the cores).

DIR holds posteriordb's `posterior_database/models/stan/*.stan` and
`posterior_database/reference_posteriors/draws/draws/*.json.zip` (a checkout of
github.com/stan-dev/posteriordb); a posterior whose data is not in --data as NAME.json is read
from the checkout's `posterior_database/posteriors/NAME.json` and `data/data/*.json.zip`. Every tool runs 4 chains x (1000 warmup + 1000 draws), its
defaults otherwise (ppl: no flags). Per posterior and tool, one JSON line:
  grad_evals       gradient evaluations over all chains, warmup included (Stan, nutpie: leapfrog
                   steps; ppl: the count in summary.json, step-size searches included)
  grad_per_ess     grad_evals / min bulk ESS (ArviZ, over the reference's parameters)
  ess_s_sampling   min bulk ESS / (warmup + sampling seconds)
  ess_s_all        min bulk ESS / everything (ppl: the whole `ppl run` process; Stan: + compile;
                   nutpie: + PyMC -> numba compile)
  matches          every reference parameter's mean within 0.1 reference sd + 4 MCSE (the run's
                   MCSE of the mean), with the worst parameter's distance in those units
and a markdown table at the end (stdout).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "..", "models", "posteriordb")

# name: (ppl model, data file, Stan program, reference draws)
POSTERIORS = {
    "arK-arK": ("arK", "arK-arK", "arK", "arK-arK"),
    "diamonds-diamonds": ("diamonds", "diamonds-diamonds", "diamonds", "diamonds-diamonds"),
    "earnings-log10earn_height": ("log10earn_height", "earnings-log10earn_height",
                                  "log10earn_height", "earnings-log10earn_height"),
    "eight_schools-eight_schools_centered": ("eight_schools_centered",
                                             "eight_schools-eight_schools_centered",
                                             "eight_schools_centered",
                                             "eight_schools-eight_schools_noncentered"),
    "eight_schools-eight_schools_noncentered": ("eight_schools_noncentered",
                                                "eight_schools-eight_schools_noncentered",
                                                "eight_schools_noncentered",
                                                "eight_schools-eight_schools_noncentered"),
    "gp_pois_regr-gp_regr": ("gp_regr", "gp_pois_regr-gp_regr", "gp_regr", "gp_pois_regr-gp_regr"),
    "hmm_example-hmm_example": ("hmm_example", "hmm_example-hmm_example", "hmm_example",
                                "hmm_example-hmm_example"),
    "kidiq-kidscore_momiq": ("kidscore_momiq", "kidiq-kidscore_momiq", "kidscore_momiq",
                             "kidiq-kidscore_momiq"),
    "mesquite-logmesquite": ("logmesquite", "mesquite-logmesquite", "logmesquite",
                             "mesquite-logmesquite"),
    "nes2000-nes": ("nes", "nes2000-nes", "nes", "nes2000-nes"),
    # Data not in --data: read from the checkout's posterior_database/data/data (see data_file).
    "arma-arma11": ("arma11", "arma-arma11", "arma11", "arma-arma11"),
    "bball_drive_event_0-hmm_drive_0": ("hmm_drive_0", "bball_drive_event_0-hmm_drive_0",
                                        "hmm_drive_0", "bball_drive_event_0-hmm_drive_0"),
    "garch-garch11": ("garch11", "garch-garch11", "garch11", "garch-garch11"),
    "gp_pois_regr-gp_pois_regr": ("gp_pois_regr", "gp_pois_regr-gp_pois_regr", "gp_pois_regr",
                                  "gp_pois_regr-gp_pois_regr"),
    "kilpisjarvi_mod-kilpisjarvi": ("kilpisjarvi", "kilpisjarvi_mod-kilpisjarvi", "kilpisjarvi",
                                    "kilpisjarvi_mod-kilpisjarvi"),
    "low_dim_gauss_mix-low_dim_gauss_mix": ("low_dim_gauss_mix",
                                            "low_dim_gauss_mix-low_dim_gauss_mix",
                                            "low_dim_gauss_mix",
                                            "low_dim_gauss_mix-low_dim_gauss_mix"),
    "sblrc-blr": ("blr", "sblrc-blr", "blr", "sblrc-blr"),
}
CHAINS, WARMUP, DRAWS = int(os.environ.get("PDB_CHAINS", "4")), 1000, 1000


def reference(pdb, name):
    path = os.path.join(pdb, "posterior_database", "reference_posteriors", "draws", "draws",
                        name + ".json.zip")
    with zipfile.ZipFile(path) as z:
        chains = json.loads(z.read(z.namelist()[0]))
    return {k: np.concatenate([np.asarray(c[k], dtype=float) for c in chains]) for k in chains[0]}


def data_file(args, posterior):
    """The data of `posterior`: `--data`/NAME.json when it is there, else the checkout's zipped
    copy (posterior_database/posteriors/NAME.json names the data set), unpacked once into a
    temporary directory."""
    local = os.path.join(args.data, posterior + ".json")
    if os.path.exists(local):
        return local
    database = os.path.join(args.posteriordb, "posterior_database")
    with open(os.path.join(database, "posteriors", posterior + ".json")) as f:
        data_name = json.load(f)["data_name"]
    unpacked = os.path.join(args.unpacked, posterior + ".json")
    if not os.path.exists(unpacked):
        with zipfile.ZipFile(os.path.join(database, "data", "data", data_name + ".json.zip")) as z:
            with open(unpacked, "wb") as f:
                f.write(z.read(z.namelist()[0]))
    return unpacked


def ppl_name(ref_name):
    """`theta1[2]` (hmm_example's Stan names) -> `theta[1,2]`; `beta[1]` stays."""
    for prefix in ("theta1", "theta2"):
        if ref_name.startswith(prefix + "["):
            return f"theta[{prefix[-1]},{ref_name[len(prefix) + 1:-1]}]"
    return ref_name


def summarise(tool, name, draws, ref, extra):
    """draws: {ref name: array (chain, draw)}."""
    import arviz as az
    post = {k.replace("[", "_").replace("]", "").replace(",", "_"): v for k, v in draws.items()}
    idata = az.from_dict(posterior=post)
    ess = az.ess(idata, method="bulk")
    mcse = az.mcse(idata, method="mean")
    worst, worst_name, min_ess = 0.0, None, float("inf")
    for k, v in draws.items():
        key = k.replace("[", "_").replace("]", "").replace(",", "_")
        e, m = float(ess[key]), float(mcse[key])
        min_ess = min(min_ess, e)
        distance = float(abs(v.mean() - ref[k].mean())) / (0.1 * ref[k].std(ddof=1) + 4 * m)
        if distance > worst:
            worst, worst_name = distance, k
    out = {"posterior": name, "tool": tool, "min_ess_bulk": float(min_ess),
           "matches": bool(worst <= 1.0), "worst": float(worst), "worst_param": worst_name}
    out.update(extra)
    out["grad_per_ess"] = out["grad_evals"] / min_ess
    out["ess_s_sampling"] = min_ess / out["sample_s"]
    out["ess_s_all"] = min_ess / out["wall_s"]
    return out


def read_ppl_chain(path):
    elapsed = {}
    rows = []
    header = None
    with open(path) as f:
        for line in f:
            if line.startswith("#"):
                text = line.strip("# \n")
                for phase in ("Warm-up", "Sampling"):
                    if text.endswith(f"seconds ({phase})"):
                        elapsed[phase] = float(text.split(":")[-1].split()[0])
                continue
            if header is None:
                header = line.strip().split(",")
            elif line.strip():
                rows.append([float(x) for x in line.strip().split(",")])
    return header, np.asarray(rows), elapsed


def run_ppl(args, name, spec, ref):
    model = os.path.join(MODELS, spec[0] + ".model")
    data = data_file(args, spec[1])
    out = tempfile.mkdtemp(prefix="pdb-ppl-")
    t0 = time.perf_counter()
    subprocess.run([args.ppl, "run", model, "--data", data, "--out", out, "--seed", str(args.seed),
                    "--chains", str(CHAINS), "--format", "json"], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    draws = {k: [] for k in ref}
    # The run counts its gradient evaluations (step-size searches included), warmup and sampling.
    counted = json.load(open(os.path.join(out, "summary.json")))["diagnostics"]
    grad = float(sum(counted["gradient_evaluations"].values()))
    sample_s = 0.0
    for c in range(1, CHAINS + 1):
        header, rows, elapsed = read_ppl_chain(os.path.join(out, f"chain-{c}.csv"))
        sample_s = max(sample_s, elapsed["Warm-up"] + elapsed["Sampling"])
        for k in ref:
            column = ppl_name(k).replace("[", ".").replace("]", "").replace(",", ".")
            draws[k].append(rows[:, header.index(column)])
    draws = {k: np.asarray(v) for k, v in draws.items()}
    return summarise("ppl", name, draws, ref, {"grad_evals": grad, "grad_estimated": False,
                                               "sample_s": sample_s, "wall_s": wall})


def run_stan(args, name, spec, ref):
    import stan
    code = open(os.path.join(args.posteriordb, "posterior_database", "models", "stan",
                             spec[2] + ".stan")).read()
    data = json.load(open(data_file(args, spec[1])))
    import contextlib
    with contextlib.redirect_stdout(sys.stderr):
        t0 = time.perf_counter()
        # httpstan compiles in the working directory (a `build/` tree): keep it out of the repo.
        here = os.getcwd()
        os.chdir(args.unpacked)
        try:
            model = stan.build(code, data=data, random_seed=args.seed)
        finally:
            os.chdir(here)
        compile_s = time.perf_counter() - t0
        import httpstan.cache
        for f in httpstan.cache.model_directory(model.model_name).glob("**/*.jsonlines.gz"):
            f.unlink()
        t1 = time.perf_counter()
        fit = model.sample(num_chains=CHAINS, num_samples=DRAWS, num_warmup=WARMUP,
                           save_warmup=True)
        sample_s = time.perf_counter() - t1
    total = WARMUP + DRAWS

    def chains_of(values):
        # PyStan's last axis runs draw-major with the chain fastest.
        return np.asarray(values).reshape(-1, total, CHAINS).transpose(2, 1, 0)

    leap = chains_of(fit["n_leapfrog__"])[..., 0]
    draws = {}
    for k in ref:
        base = k.split("[")[0]
        values = chains_of(fit[base])[:, WARMUP:, :]
        index = int(k.split("[")[1][:-1]) - 1 if "[" in k else 0
        draws[k] = values[..., index]
    return summarise("stan", name, draws, ref, {"grad_evals": float(leap.sum()),
                                                "grad_estimated": False, "compile_s": compile_s,
                                                "sample_s": sample_s,
                                                "wall_s": compile_s + sample_s})


def pymc_model(spec, data):
    import pymc as pm
    import pytensor.tensor as pt
    m = spec[0]
    with pm.Model() as model:
        if m == "arK":
            y, K = np.asarray(data["y"]), data["K"]
            lags = np.stack([y[K - k:len(y) - k] for k in range(1, K + 1)], axis=1)
            alpha = pm.Normal("alpha", 0, 10)
            beta = pm.Normal("beta", 0, 10, shape=K)
            sigma = pm.HalfCauchy("sigma", 2.5)
            pm.Normal("y", alpha + pm.math.dot(lags, beta), sigma, observed=y[K:])
        elif m == "diamonds":
            X = np.asarray(data["X"], dtype=float)
            xc = X[:, 1:] - X[:, 1:].mean(axis=0)
            b = pm.Normal("b", 0, 1, shape=xc.shape[1])
            icpt = pm.StudentT("Intercept", nu=3, mu=8, sigma=10)
            sigma = pm.HalfStudentT("sigma", nu=3, sigma=10)
            pm.Normal("Y", icpt + pm.math.dot(xc, b), sigma, observed=np.asarray(data["Y"]))
        elif m.startswith("eight_schools"):
            y, s = np.asarray(data["y"], float), np.asarray(data["sigma"], float)
            mu = pm.Normal("mu", 0, 5)
            tau = pm.HalfCauchy("tau", 5)
            if m == "eight_schools_centered":
                theta = pm.Normal("theta", mu, tau, shape=8)
            else:
                tt = pm.Normal("theta_trans", 0, 1, shape=8)
                theta = pm.Deterministic("theta", mu + tau * tt)
            pm.Normal("y", theta, s, observed=y)
        elif m == "gp_regr":
            x, y = np.asarray(data["x"], float), np.asarray(data["y"], float)
            rho = pm.Gamma("rho", 25, 4)
            alpha = pm.HalfNormal("alpha", 2)
            sigma = pm.HalfNormal("sigma", 1)
            d2 = (x[:, None] - x[None, :]) ** 2
            cov = alpha ** 2 * pt.exp(-d2 / (2 * rho ** 2)) + sigma * pt.eye(len(x))
            pm.MvNormal("y", mu=np.zeros(len(x)), cov=cov, observed=y)
        elif m == "hmm_example":
            y = np.asarray(data["y"], float)
            theta1 = pm.Dirichlet("theta1", np.ones(2))
            theta2 = pm.Dirichlet("theta2", np.ones(2))
            mu = pm.Normal("mu", [3.0, 10.0], 1.0, shape=2,
                           transform=pm.distributions.transforms.ordered,
                           initval=np.array([3.0, 10.0]))
            pm.Potential("positive", pt.switch(pt.all(mu > 0), 0.0, -np.inf))
            log_theta = pt.log(pt.stack([theta1, theta2]))
            emit = -0.5 * (y[:, None] - mu[None, :]) ** 2 - 0.5 * np.log(2 * np.pi)

            def step(e, gamma, lt):
                return pm.math.logsumexp(gamma[:, None] + lt, axis=0) + e

            import pytensor
            gammas, _ = pytensor.scan(step, sequences=[emit[1:]], outputs_info=[emit[0]],
                                      non_sequences=[log_theta])
            pm.Potential("forward", pm.math.logsumexp(gammas[-1]))
        elif m == "kidscore_momiq":
            beta = pm.Flat("beta", shape=2)
            sigma = pm.HalfCauchy("sigma", 2.5)
            pm.Normal("y", beta[0] + beta[1] * np.asarray(data["mom_iq"], float), sigma,
                      observed=np.asarray(data["kid_score"], float))
        elif m == "log10earn_height":
            beta = pm.Flat("beta", shape=2)
            sigma = pm.HalfFlat("sigma")
            pm.Normal("y", beta[0] + beta[1] * np.asarray(data["height"], float), sigma,
                      observed=np.log10(np.asarray(data["earn"], float)))
        elif m == "logmesquite":
            d = {k: np.asarray(v, float) for k, v in data.items() if k != "N"}
            X = np.stack([np.log(d["diam1"]), np.log(d["diam2"]), np.log(d["canopy_height"]),
                          np.log(d["total_height"]), np.log(d["density"]), d["group"]], axis=1)
            beta = pm.Flat("beta", shape=7)
            sigma = pm.HalfFlat("sigma")
            pm.Normal("y", beta[0] + pm.math.dot(X, beta[1:]), sigma,
                      observed=np.log(d["weight"]))
        elif m == "nes":
            d = {k: np.asarray(v, float) for k, v in data.items() if k != "N"}
            age = d["age_discrete"]
            X = np.stack([d["real_ideo"], d["race_adj"], age == 2, age == 3, age == 4, d["educ1"],
                          d["gender"], d["income"]], axis=1).astype(float)
            beta = pm.Flat("beta", shape=9)
            sigma = pm.HalfFlat("sigma")
            pm.Normal("y", beta[0] + pm.math.dot(X, beta[1:]), sigma, observed=d["partyid7"])
        elif m == "arma11":
            y = np.asarray(data["y"], float)
            mu = pm.Normal("mu", 0, 10)
            phi = pm.Normal("phi", 0, 2)
            theta = pm.Normal("theta", 0, 2)
            sigma = pm.HalfCauchy("sigma", 2.5)
            import pytensor
            first = y[0] - (mu + phi * mu)
            # The unknowns go in as non-sequences, so that PyMC swaps in their values.
            rest, _ = pytensor.scan(
                lambda y_t, y_prev, err, m, p, q: y_t - (m + p * y_prev + q * err),
                sequences=[pt.as_tensor_variable(y[1:]), pt.as_tensor_variable(y[:-1])],
                outputs_info=[first], non_sequences=[mu, phi, theta])
            err = pt.concatenate([pt.stack([first]), rest])
            pm.Potential("y", pm.logp(pm.Normal.dist(0, sigma), err).sum())
        elif m == "garch11":
            y = np.asarray(data["y"], float)
            mu = pm.Flat("mu")
            alpha0 = pm.HalfFlat("alpha0")
            alpha1 = pm.Uniform("alpha1", 0, 1)
            beta1 = pm.Uniform("beta1", 0, 1 - alpha1)
            # Stan's beta1 is flat on (0, 1 - alpha1): cancel the uniform's 1 / (1 - alpha1).
            pm.Potential("flat_beta1", pt.log(1 - alpha1))
            import pytensor
            first = pt.as_tensor_variable(np.float64(data["sigma1"]) ** 2)
            rest, _ = pytensor.scan(
                lambda y_prev, s2, m, a0, a1, b1: a0 + a1 * (y_prev - m) ** 2 + b1 * s2,
                sequences=[pt.as_tensor_variable(y[:-1])], outputs_info=[first],
                non_sequences=[mu, alpha0, alpha1, beta1])
            sigma2 = pt.concatenate([pt.stack([first]), rest])
            pm.Normal("y", mu, pt.sqrt(sigma2), observed=y)
        elif m == "gp_pois_regr":
            x, k = np.asarray(data["x"], float), np.asarray(data["k"], int)
            rho = pm.Gamma("rho", 25, 4)
            alpha = pm.HalfNormal("alpha", 2)
            f_tilde = pm.Normal("f_tilde", 0, 1, shape=len(x))
            d2 = (x[:, None] - x[None, :]) ** 2
            cov = alpha ** 2 * pt.exp(-d2 / (2 * rho ** 2)) + 1e-10 * np.eye(len(x))
            f = pm.Deterministic("f", pt.linalg.cholesky(cov) @ f_tilde)
            pm.Poisson("k", pt.exp(f), observed=k)
        elif m == "kilpisjarvi":
            x, y = np.asarray(data["x"], float), np.asarray(data["y"], float)
            alpha = pm.Normal("alpha", data["pmualpha"], data["psalpha"])
            beta = pm.Normal("beta", data["pmubeta"], data["psbeta"])
            sigma = pm.HalfFlat("sigma")
            pm.Normal("y", alpha + beta * x, sigma, observed=y)
        elif m == "low_dim_gauss_mix":
            y = np.asarray(data["y"], float)
            mu = pm.Normal("mu", 0, 2, shape=2, transform=pm.distributions.transforms.ordered,
                           initval=np.array([-1.0, 1.0]))
            sigma = pm.HalfNormal("sigma", 2, shape=2)
            theta = pm.Beta("theta", 5, 5)
            pm.NormalMixture("y", w=pt.stack([theta, 1 - theta]), mu=mu, sigma=sigma, observed=y)
        elif m == "blr":
            X, y = np.asarray(data["X"], float), np.asarray(data["y"], float)
            beta = pm.Normal("beta", 0, 10, shape=X.shape[1])
            sigma = pm.HalfNormal("sigma", 10)
            pm.Normal("y", pm.math.dot(X, beta), sigma, observed=y)
        elif m == "hmm_drive_0":
            u, v = np.asarray(data["u"], float), np.asarray(data["v"], float)
            prior = np.asarray(data["alpha"], float)
            theta1 = pm.Dirichlet("theta1", prior[0])
            theta2 = pm.Dirichlet("theta2", prior[1])
            positive_ordered = pm.distributions.transforms.Chain(
                [pm.distributions.transforms.log, pm.distributions.transforms.ordered])
            phi = pm.Normal("phi", [0.0, 3.0], 1.0, shape=2, transform=positive_ordered,
                            initval=np.array([1.0, 3.0]))
            lam = pm.Normal("lambda", [0.0, 3.0], 1.0, shape=2, transform=positive_ordered,
                            initval=np.array([0.5, 3.0]))
            log_theta = pt.log(pt.stack([theta1, theta2]))
            # Exponential log densities of both emissions, per time and state.
            emit = (pt.log(phi)[None, :] - u[:, None] * phi[None, :]
                    + pt.log(lam)[None, :] - v[:, None] * lam[None, :])

            def step(e, gamma, lt):
                return pm.math.logsumexp(gamma[:, None] + lt, axis=0) + e

            import pytensor
            gammas, _ = pytensor.scan(step, sequences=[emit[1:]], outputs_info=[emit[0]],
                                      non_sequences=[log_theta])
            pm.Potential("forward", pm.math.logsumexp(gammas[-1]))
    return model


def run_nutpie(args, name, spec, ref):
    import nutpie
    data = json.load(open(data_file(args, spec[1])))
    import contextlib
    with contextlib.redirect_stdout(sys.stderr):
        model = pymc_model(spec, data)
        t0 = time.perf_counter()
        compiled = nutpie.compile_pymc_model(model)
        compile_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        trace = nutpie.sample(compiled, chains=CHAINS, tune=WARMUP, draws=DRAWS, seed=args.seed,
                              progress_bar=False, save_warmup=True)
        sample_s = time.perf_counter() - t1
    grad = float(trace.sample_stats["n_steps"].values.sum()
                 + trace.warmup_sample_stats["n_steps"].values.sum())
    draws = {}
    for k in ref:
        base = k.split("[")[0]
        values = trace.posterior[base].values
        draws[k] = values[..., int(k.split("[")[1][:-1]) - 1] if "[" in k else values
    return summarise("nutpie", name, draws, ref, {"grad_evals": grad, "grad_estimated": False,
                                                  "compile_s": compile_s, "sample_s": sample_s,
                                                  "wall_s": compile_s + sample_s})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--posteriordb", required=True)
    ap.add_argument("--ppl", default="target/release/ppl")
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "..", "..", "shared", "data",
                                                   "posteriordb"))
    ap.add_argument("--only", default="")
    ap.add_argument("--tools", default="ppl,stan,nutpie")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    args.unpacked = tempfile.mkdtemp(prefix="pdb-data-")
    names = [n for n in POSTERIORS if not args.only or n in args.only.split(",")]
    runners = {"ppl": run_ppl, "stan": run_stan, "nutpie": run_nutpie}
    results = []
    for name in names:
        spec = POSTERIORS[name]
        ref = reference(args.posteriordb, spec[3])
        for tool in args.tools.split(","):
            try:
                row = runners[tool](args, name, spec, ref)
            except Exception as error:  # one failing tool must not lose the others' rows
                row = {"posterior": name, "tool": tool, "error": repr(error)[:300]}
            row["load"] = os.getloadavg()[0]
            results.append(row)
            line = json.dumps(row)
            print(line, file=sys.stderr)
            if args.out:
                with open(args.out, "a") as f:
                    f.write(line + "\n")
    print("| posterior | tool | grad evals / ESS | ESS/s sampling | ESS/s all-in | min bulk ESS "
          "| matches reference |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        if "error" in r:
            print(f"| {r['posterior']} | {r['tool']} | failed: {r['error'][:60]} | | | | |")
            continue
        est = "~" if r.get("grad_estimated") else ""
        print(f"| {r['posterior']} | {r['tool']} | {est}{r['grad_per_ess']:.1f} | "
              f"{r['ess_s_sampling']:.1f} | {r['ess_s_all']:.1f} | {r['min_ess_bulk']:.0f} | "
              f"{'yes' if r['matches'] else 'NO'} ({r['worst']:.2f}, {r['worst_param']}) |")


if __name__ == "__main__":
    main()
