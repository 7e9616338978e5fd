#!/usr/bin/env python3
"""Writes faithful_sklearn.txt: scikit-learn's 2-component full-covariance Gaussian mixture of
Old Faithful (faithful.csv, columns eruptions,waiting), the reference the EM tests compare with.

Run with the peers' venv: /work/shared/peers/.venv/bin/python make_faithful_reference.py
"""
import os

import numpy as np
import sklearn
from sklearn.mixture import GaussianMixture

here = os.path.dirname(os.path.abspath(__file__))
x = np.loadtxt(os.path.join(here, "faithful.csv"), delimiter=",", skiprows=1)
gm = GaussianMixture(n_components=2, covariance_type="full", n_init=10, tol=1e-10,
                     max_iter=10000, reg_covar=1e-6, random_state=0).fit(x)
order = np.argsort(gm.means_[:, 0])
lines = [
    f"# scikit-learn {sklearn.__version__}; GaussianMixture(n_components=2, covariance_type='full', "
    "n_init=10, tol=1e-10, max_iter=10000, reg_covar=1e-6, random_state=0)",
    f"loglik_per_point {gm.score(x)!r}",
    f"bic {gm.bic(x)!r}",
    "weights " + " ".join(repr(float(w)) for w in gm.weights_[order]),
]
for j, k in enumerate(order):
    lines.append(f"mean{j} " + " ".join(repr(float(v)) for v in gm.means_[k]))
    lines.append(f"covariance{j} " + " ".join(repr(float(v)) for v in gm.covariances_[k].ravel()))
with open(os.path.join(here, "faithful_sklearn.txt"), "w") as f:
    f.write("\n".join(lines) + "\n")
