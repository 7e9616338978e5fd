"""The scikit-learn reference for tests/examples.rs: examples/gmm.model (one dimension, two
components) fitted by GaussianMixture on examples/data/gmm.csv, best of 10 inits, run to a
tolerance far below the test's. Run from the repository root with the peers venv
(/tmp/peers_venv/bin/python tests/reference/gmm_sklearn.py > tests/reference/gmm_sklearn.json);
its output is committed."""
import json
import numpy as np
import sklearn
from sklearn.mixture import GaussianMixture

x = np.loadtxt("examples/data/gmm.csv", delimiter=",", skiprows=1).reshape(-1, 1)
gm = GaussianMixture(n_components=2, covariance_type="full", n_init=10, tol=1e-14,
                     max_iter=100000, reg_covar=1e-6, random_state=0).fit(x)
order = np.argsort(gm.means_[:, 0])
print(json.dumps({
    "sklearn": sklearn.__version__,
    "n": int(x.shape[0]),
    "loglik_per_point": float(gm.score(x)),
    "loglik": float(gm.score(x) * x.shape[0]),
    "weights": gm.weights_[order].tolist(),
    "means": gm.means_[order, 0].tolist(),
    "sds": np.sqrt(gm.covariances_[order, 0, 0]).tolist(),
    "converged": bool(gm.converged_),
    "iterations": int(gm.n_iter_),
}))
