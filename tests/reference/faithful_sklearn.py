"""The scikit-learn reference for tests/examples.rs: Old Faithful, 2 components, full covariance,
best of 10 inits. Run with the peers venv (../shared/peers/.venv/bin/python); its output is
committed as faithful_sklearn.json."""
import json
import numpy as np
from sklearn.mixture import GaussianMixture

x = np.loadtxt("examples/data/faithful.csv", delimiter=",", skiprows=1)
gm = GaussianMixture(n_components=2, covariance_type="full", n_init=10, tol=1e-10,
                     max_iter=10000, reg_covar=1e-6, random_state=0).fit(x)
print(json.dumps({"loglik_per_point": gm.score(x), "weights": gm.weights_.tolist(),
                  "means": gm.means_.tolist()}))
