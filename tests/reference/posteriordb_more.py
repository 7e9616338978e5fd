"""The reference for tests/posteriordb.rs: posteriordb's reference draws of five posteriors,
reduced to each parameter's mean and sd, and the posteriors' data sets copied beside them, so
that the test needs neither the checkout nor Python. Run from the repository root with a
checkout of github.com/stan-dev/posteriordb (the one used: commit 28f8d3d6):
  python3 tests/reference/posteriordb_more.py POSTERIORDB_DIR > tests/reference/posteriordb_more.json
It writes tests/reference/posteriordb/NAME.json (the data, as posteriordb stores it) and prints
the summary; both are committed."""
import json
import os
import sys
import zipfile

import numpy as np

POSTERIORS = ["arma-arma11", "garch-garch11", "kilpisjarvi_mod-kilpisjarvi",
              "low_dim_gauss_mix-low_dim_gauss_mix", "sblrc-blr"]
HERE = os.path.dirname(os.path.abspath(__file__))


def unzip_json(path):
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read(z.namelist()[0]))


def main():
    database = os.path.join(sys.argv[1], "posterior_database")
    out = {"provenance": {
        "source": "posteriordb (github.com/stan-dev/posteriordb) commit "
                  "28f8d3d6e975315f42aa274a8399f21e07a43b30",
        "draws": "posterior_database/reference_posteriors/draws/draws/NAME.json.zip: rstan 2.19.2, "
                 "10 chains, seed 4711, thinned by 10 to 10 000 draws per posterior, as each "
                 "reference_posteriors/draws/info/NAME.info.json records",
        "computed": "mean and sd (n - 1) over all 10 000 draws, rounded to 6 significant digits",
    }, "posteriors": {}}
    for name in POSTERIORS:
        data_name = json.load(open(os.path.join(database, "posteriors", name + ".json")))["data_name"]
        data = unzip_json(os.path.join(database, "data", "data", data_name + ".json.zip"))
        with open(os.path.join(HERE, "posteriordb", name + ".json"), "w") as f:
            json.dump(data, f)
            f.write("\n")
        chains = unzip_json(os.path.join(database, "reference_posteriors", "draws", "draws",
                                         name + ".json.zip"))
        summary = {}
        for key in chains[0]:
            values = np.concatenate([np.asarray(c[key], dtype=float) for c in chains])
            summary[key] = {"mean": float(f"{values.mean():.6g}"),
                            "sd": float(f"{values.std(ddof=1):.6g}")}
        out["posteriors"][name] = summary
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
