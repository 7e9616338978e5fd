"""Generate cdfs.json: reference log cdfs and log complementary cdfs (scipy.stats logcdf / logsf)
for the kinds ppl-dist writes a cdf for (`ppl_dist::has_cdf`), with Stan's parameterisations
mapped onto scipy's. The Rust test `tests/reference_cdfs.rs` reads it.

Usage: python make_cdf_reference.py  (writes cdfs.json next to this file)
"""
import json
import math
import os

import scipy
from scipy import stats

cases = []


def encode(value):
    value = float(value)
    if math.isnan(value):
        raise ValueError("NaN reference")
    return value if math.isfinite(value) else ("-inf" if value < 0 else "inf")


def scalar(kind, params_list, xs, frozen):
    for params in params_list:
        dist = frozen(*params)
        for x in xs:
            cases.append({
                "kind": kind,
                "x": float(x),
                "params": [float(p) for p in params],
                "logcdf": encode(dist.logcdf(x)),
                "logccdf": encode(dist.logsf(x)),
            })


real_xs = [-40.0, -9.0, -3.1, -1.0, -0.2, 0.0, 0.7, 1.3, 2.5, 9.0, 40.0]
pos_xs = [-1.0, 0.0, 1e-8, 0.03, 0.5, 1.0, 2.2, 7.5, 40.0]

scalar("Normal", [(0.0, 1.0), (1.5, 0.3), (-2.0, 7.0)], real_xs, lambda m, s: stats.norm(m, s))
class HalfNormal:
    """scipy's halfnorm.logsf underflows to -inf far in the tail (x = 40); log 2 + log Φ(−x/σ) is
    the same quantity, and scipy's norm.logsf keeps it."""

    def __init__(self, s):
        self.s = s
        self.frozen = stats.halfnorm(scale=s)

    def logcdf(self, x):
        return self.frozen.logcdf(x)

    def logsf(self, x):
        return 0.0 if x <= 0 else math.log(2.0) + stats.norm.logsf(x / self.s)


scalar("HalfNormal", [(1.0,), (0.2,), (5.0,)], pos_xs, HalfNormal)
scalar("LogNormal", [(0.0, 1.0), (1.0, 0.5)], pos_xs,
       lambda m, s: stats.lognorm(s=s, scale=math.exp(m)))
scalar("Cauchy", [(0.0, 1.0), (2.0, 0.5)], real_xs, lambda m, s: stats.cauchy(m, s))
scalar("HalfCauchy", [(1.0,), (3.0,)], pos_xs, lambda s: stats.halfcauchy(scale=s))
scalar("Laplace", [(0.0, 1.0), (-1.0, 2.5)], real_xs, lambda m, b: stats.laplace(m, b))
scalar("Exponential", [(1.0,), (0.3,), (4.0,)], pos_xs, lambda r: stats.expon(scale=1.0 / r))
scalar("Weibull", [(1.5, 2.0), (0.7, 1.0)], pos_xs,
       lambda k, lam: stats.weibull_min(k, scale=lam))
scalar("Uniform", [(0.0, 1.0), (-2.0, 3.0)], [-3.0, -2.0, -0.5, 0.0, 0.3, 0.999, 1.0, 2.9, 3.0, 4.0],
       lambda a, b: stats.uniform(a, b - a))

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "cdfs.json"), "w") as out:
    json.dump({"generator": "make_cdf_reference.py", "scipy": scipy.__version__, "cases": cases},
              out, indent=0)
    out.write("\n")
print(len(cases), "cases")
