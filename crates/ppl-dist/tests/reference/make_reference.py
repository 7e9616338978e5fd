"""Generate densities.json: reference log densities for every ppl-dist DistKind.

Run once (numpy + scipy), commit the output; the Rust test `tests/reference_densities.rs`
reads it. Values come from scipy.stats' logpdf/logpmf with Stan's parameterisations mapped onto
scipy's. Two exceptions, said so in the `source` field of each case:
  * LkjCholesky: scipy has no LKJ. The reference is Stan's functions-reference formula
    Π_{k>=2} L_kk^(K-k+2η-2) with the normalising constant of Lewandowski, Kurowicka & Joe (2009),
    evaluated here in numpy and checked in this script by numerical integration (K = 2 and 3).
  * invalid parameters: scipy answers NaN; ppl's convention is -inf. Those cases are marked
    `source = "convention"`.

Usage: python make_reference.py  (writes densities.json next to this file)
"""
import json
import math
import os

import numpy as np
from scipy import integrate, special, stats

cases = []


def add(kind, variate, params, logp, source="scipy"):
    variate = [float(v) for v in np.ravel(variate)]
    params = [[float(v) for v in np.ravel(p)] for p in params]
    logp = float(logp)
    if math.isnan(logp):
        raise ValueError(f"NaN reference for {kind} {variate} {params}")
    value = logp if math.isfinite(logp) else ("-inf" if logp < 0 else "inf")
    cases.append({"kind": kind, "variate": variate, "params": params, "logp": value, "source": source})


def scalar(kind, params_list, xs, frozen):
    for params in params_list:
        dist = frozen(*params)
        for x in xs:
            if hasattr(dist, "logpdf"):
                lp = dist.logpdf(x)
            else:
                lp = dist.logpmf(x)
            add(kind, [x], [[p] for p in params], lp)


real_xs = [-30.0, -3.1, -1.0, -0.2, 0.0, 0.7, 1.3, 2.5, 12.0]
pos_xs = [-1.0, 0.0, 1e-8, 0.03, 0.5, 1.0, 2.2, 7.5, 40.0]
unit_xs = [-0.1, 0.0, 1e-6, 0.02, 0.3, 0.5, 0.77, 0.999, 1.0, 1.2]

scalar("Normal", [(0.0, 1.0), (1.5, 0.3), (-2.0, 7.0)], real_xs, lambda m, s: stats.norm(m, s))
scalar("HalfNormal", [(1.0,), (0.2,), (5.0,)], pos_xs, lambda s: stats.halfnorm(scale=s))
scalar("LogNormal", [(0.0, 1.0), (1.2, 0.4), (-1.0, 2.0)], pos_xs, lambda m, s: stats.lognorm(s=s, scale=math.exp(m)))
scalar("StudentT", [(1.0, 0.0, 1.0), (3.5, 1.0, 2.0), (30.0, -1.0, 0.5), (0.7, 0.0, 3.0)], real_xs,
       lambda nu, m, s: stats.t(df=nu, loc=m, scale=s))
scalar("Cauchy", [(0.0, 1.0), (2.0, 0.1), (-1.0, 10.0)], real_xs, lambda m, s: stats.cauchy(m, s))
scalar("HalfCauchy", [(1.0,), (0.3,), (25.0,)], pos_xs, lambda s: stats.halfcauchy(scale=s))
scalar("Laplace", [(0.0, 1.0), (1.0, 0.25), (-3.0, 4.0)], real_xs, lambda m, s: stats.laplace(m, s))
scalar("Exponential", [(1.0,), (0.1,), (6.0,)], pos_xs, lambda r: stats.expon(scale=1.0 / r))
scalar("Gamma", [(1.0, 1.0), (0.5, 2.0), (3.0, 0.7), (40.0, 10.0)], pos_xs, lambda a, r: stats.gamma(a, scale=1.0 / r))
scalar("InvGamma", [(1.0, 1.0), (0.5, 2.0), (3.0, 0.7), (20.0, 15.0)], pos_xs, lambda a, b: stats.invgamma(a, scale=b))
scalar("Beta", [(1.0, 1.0), (0.5, 0.5), (2.0, 5.0), (30.0, 2.5), (1.0, 3.0), (3.0, 1.0)], unit_xs, lambda a, b: stats.beta(a, b))
scalar("Uniform", [(0.0, 1.0), (-2.0, 3.5), (10.0, 10.5)], [-3.0, -2.0, 0.0, 0.4, 1.0, 3.5, 10.2, 10.5, 11.0],
       lambda lo, hi: stats.uniform(loc=lo, scale=hi - lo))
scalar("Weibull", [(1.0, 1.0), (0.6, 2.0), (2.5, 0.8), (10.0, 3.0)], pos_xs, lambda k, lam: stats.weibull_min(k, scale=lam))

count_xs = [-1, 0, 1, 2, 3, 7, 15, 60, 1.5]
scalar("Bernoulli", [(0.0,), (0.3,), (0.999,), (1.0,)], [-1, 0, 1, 2, 0.5], lambda p: stats.bernoulli(p))
scalar("Binomial", [(0, 0.3), (10, 0.0), (10, 0.35), (10, 1.0), (60, 0.9), (1000, 0.01)], count_xs,
       lambda n, p: stats.binom(n, p))
scalar("Poisson", [(0.0,), (0.5,), (4.0,), (55.0,)], count_xs, lambda lam: stats.poisson(lam))
scalar("NegBinomial", [(1.0, 1.0), (4.0, 0.5), (10.0, 200.0), (0.3, 3.0)], count_xs,
       lambda mu, phi: stats.nbinom(phi, phi / (mu + phi)))

# Logit forms: scipy's distributions on the mapped probability (accurate for moderate logits),
# and scipy.special.log_expit for the Bernoulli (accurate at any logit).
for eta in [-30.0, -2.0, 0.0, 0.8, 35.0]:
    for x in [-1, 0, 1, 2, 0.5]:
        if x == 1:
            lp = special.log_expit(eta)
        elif x == 0:
            lp = special.log_expit(-eta)
        else:
            lp = -math.inf
        add("BernoulliLogit", [x], [[eta]], lp)
for n, eta in [(10, -1.5), (10, 0.0), (60, 2.2), (5, 4.0)]:
    for x in count_xs:
        add("BinomialLogit", [x], [[n], [eta]], stats.binom(n, special.expit(eta)).logpmf(x))
for alpha in [-2.0, 0.0, 1.3, 4.0]:
    for x in count_xs:
        add("PoissonLog", [x], [[alpha]], stats.poisson(math.exp(alpha)).logpmf(x))

# Invalid parameters: -inf by ppl's convention (scipy gives NaN).
invalid = [
    ("Normal", 0.0, [0.0, 0.0]), ("Normal", 0.0, [0.0, -1.0]), ("HalfNormal", 1.0, [-1.0]),
    ("LogNormal", 1.0, [0.0, 0.0]), ("StudentT", 0.0, [0.0, 0.0, 1.0]), ("StudentT", 0.0, [2.0, 0.0, -1.0]),
    ("Cauchy", 0.0, [0.0, 0.0]), ("HalfCauchy", 1.0, [0.0]), ("Laplace", 0.0, [0.0, -2.0]),
    ("Exponential", 1.0, [0.0]), ("Gamma", 1.0, [0.0, 1.0]), ("Gamma", 1.0, [1.0, -1.0]),
    ("InvGamma", 1.0, [-1.0, 1.0]), ("Beta", 0.5, [0.0, 1.0]), ("Beta", 0.5, [1.0, -1.0]),
    ("Uniform", 0.5, [1.0, 0.0]), ("Uniform", 0.5, [1.0, 1.0]), ("Weibull", 1.0, [0.0, 1.0]),
    ("Bernoulli", 1.0, [1.5]), ("Bernoulli", 0.0, [-0.1]), ("Binomial", 1.0, [2.5, 0.5]),
    ("Binomial", 1.0, [-1.0, 0.5]), ("Binomial", 1.0, [4.0, 1.1]), ("BinomialLogit", 1.0, [-2.0, 0.0]),
    ("Poisson", 1.0, [-1.0]), ("NegBinomial", 1.0, [0.0, 1.0]), ("NegBinomial", 1.0, [1.0, 0.0]),
]
for kind, x, params in invalid:
    add(kind, [x], [[p] for p in params], -math.inf, source="convention")

# Categorical: variate k in 1..K, i.e. a one-hot multinomial draw of size 1.
for p in [[0.2, 0.5, 0.3], [1.0], [0.0, 0.25, 0.75], [0.1] * 10]:
    K = len(p)
    for k in [0, 1, 2, 3, K, K + 1, 1.5]:
        if k == int(k) and 1 <= k <= K:
            onehot = np.zeros(K)
            onehot[int(k) - 1] = 1
            lp = stats.multinomial(1, p).logpmf(onehot)
        else:
            lp = -math.inf
        add("Categorical", [k], [p], lp)
add("Categorical", [1], [[0.5, 0.6]], -math.inf, source="convention")
for logits in [[0.0, 1.0, -1.0], [5.0], [100.0, -50.0, 3.3, 0.0], [-700.0, -701.0]]:
    K = len(logits)
    for k in [0, 1, 2, K, K + 1]:
        lp = special.log_softmax(logits)[k - 1] if 1 <= k <= K else -math.inf
        add("CategoricalLogits", [k], [logits], lp)

# Dirichlet: interior points (scipy needs them), plus off-simplex points.
for alpha in [[1.0, 1.0, 1.0], [0.5, 2.0, 3.0], [10.0, 20.0], [0.3, 0.3, 0.3, 0.3, 5.0]]:
    rng = np.random.default_rng(len(alpha) + int(10 * alpha[0]))
    for _ in range(4):
        x = rng.dirichlet(np.array(alpha) + 1.0)
        x = x / x.sum()
        add("Dirichlet", x, [alpha], stats.dirichlet(alpha).logpdf(x))
    bad = np.full(len(alpha), 1.0 / len(alpha))
    bad[0] += 0.01
    add("Dirichlet", bad, [alpha], -math.inf)
    neg = np.full(len(alpha), 1.0 / len(alpha))
    neg[0] += 0.5
    neg[1] -= 0.5
    add("Dirichlet", neg, [alpha], -math.inf)
add("Dirichlet", [0.5, 0.5], [[1.0, -1.0]], -math.inf, source="convention")

# Multinomial.
for p, counts_list in [
    ([0.2, 0.5, 0.3], [[0, 0, 0], [1, 2, 3], [10, 0, 5], [7, 30, 11]]),
    ([0.0, 0.4, 0.6], [[0, 2, 3], [1, 2, 3]]),
    ([0.05] * 20, [list(range(20))]),
]:
    for counts in counts_list:
        add("Multinomial", counts, [p], stats.multinomial(int(sum(counts)), p).logpmf(counts))
add("Multinomial", [1, -1, 2], [[0.2, 0.5, 0.3]], -math.inf)
add("Multinomial", [1, 1.5, 2], [[0.2, 0.5, 0.3]], -math.inf)

# Multivariate normal, covariance and Cholesky forms.
rng = np.random.default_rng(7)
for d in [1, 2, 4]:
    for trial in range(3):
        A = rng.normal(size=(d, d))
        cov = A @ A.T + (0.3 + trial) * np.eye(d)
        L = np.linalg.cholesky(cov)
        mu = rng.normal(size=d)
        for _ in range(3):
            x = mu + rng.normal(size=d) * (1 + 2 * trial)
            lp = stats.multivariate_normal(mu, cov).logpdf(x)
            add("MvNormalCov", x, [mu, cov], lp)
            add("MvNormalCholesky", x, [mu, L], lp)
bad_cov = np.array([[1.0, 2.0], [2.0, 1.0]])
add("MvNormalCov", [0.0, 0.0], [[0.0, 0.0], bad_cov], -math.inf, source="convention")
asym = np.array([[2.0, 0.5], [0.4, 1.0]])
add("MvNormalCov", [0.0, 0.0], [[0.0, 0.0], asym], -math.inf, source="convention")
add("MvNormalCholesky", [0.0, 0.0], [[0.0, 0.0], [[1.0, 0.0], [0.3, -1.0]]], -math.inf, source="convention")


# LKJ Cholesky: LKJ (2009) normalising constant, Stan's density on the Cholesky factor.
def lkj_log_c(eta, K):
    total = 0.0
    for k in range(1, K):
        b = eta + (K - k - 1) / 2.0
        total += (2 * eta - 2 + K - k) * (K - k) * math.log(2) + (K - k) * special.betaln(b, b)
    return total


def lkj_chol_logpdf(L, eta):
    K = L.shape[0]
    return -lkj_log_c(eta, K) + sum((K - k + 2 * eta - 2) * math.log(L[k - 1, k - 1]) for k in range(2, K + 1))


# Independent check of the normalisation: integrate the density over the free coordinates.
for eta in [0.7, 1.0, 2.5]:
    two = integrate.quad(lambda r: math.exp(lkj_chol_logpdf(np.array([[1, 0], [r, math.sqrt(1 - r * r)]]), eta)), -1, 1)[0]
    assert abs(two - 1) < 1e-8, (eta, two)


# K = 3 by a triple integral (slow near the boundary, so one η and a looser tolerance).
for eta in [1.7]:
    def density3(l32, l31, l21):
        L = np.array([[1, 0, 0], [l21, math.sqrt(1 - l21 ** 2), 0], [l31, l32, math.sqrt(max(1 - l31 ** 2 - l32 ** 2, 1e-300))]])
        return math.exp(lkj_chol_logpdf(L, eta))

    three = integrate.tplquad(density3, -1, 1, lambda l21: -1, lambda l21: 1,
                              lambda l21, l31: -math.sqrt(1 - l31 ** 2), lambda l21, l31: math.sqrt(1 - l31 ** 2),
                              epsabs=1e-5)[0]
    assert abs(three - 1) < 1e-4, (eta, three)


def random_corr_cholesky(K, rng):
    A = rng.normal(size=(K, K + 2))
    S = A @ A.T
    d = np.sqrt(np.diag(S))
    R = S / np.outer(d, d)
    L = np.linalg.cholesky(R)
    return L / np.linalg.norm(L, axis=1, keepdims=True)


for K in [1, 2, 3, 5]:
    for eta in [0.5, 1.0, 3.0]:
        for _ in range(2):
            L = random_corr_cholesky(K, rng)
            add("LkjCholesky", L, [[eta]], lkj_chol_logpdf(L, eta), source="stan-formula")
L = random_corr_cholesky(3, rng)
add("LkjCholesky", 1.1 * L, [[1.0]], -math.inf, source="convention")
add("LkjCholesky", L.T, [[1.0]], -math.inf, source="convention")
add("LkjCholesky", L, [[0.0]], -math.inf, source="convention")

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "densities.json")
with open(path, "w") as f:
    json.dump({"generator": "make_reference.py", "scipy": __import__("scipy").__version__, "cases": cases}, f, indent=0)
print(f"wrote {len(cases)} cases to {path}")
