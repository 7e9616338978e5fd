"""Writes posteriordb's diamonds data with the design matrix centred as brms does it.

brms fits `Y ~ normal(Intercept + Xc b, sigma)` with Xc the columns 2..K of X, each minus its
mean (the first column is the intercept). This writes {N, K, Xc, Y} as JSON for
crates/ppl-bench/models/diamonds.model:

    python3 scripts/diamonds-centred.py ../shared/data/posteriordb/diamonds-diamonds.json out.json
"""
import json
import sys

source, target = sys.argv[1], sys.argv[2]
data = json.load(open(source))
rows = [row[1:] for row in data["X"]]
columns = len(rows[0])
means = [sum(row[j] for row in rows) / len(rows) for j in range(columns)]
centred = [[row[j] - means[j] for j in range(columns)] for row in rows]
json.dump({"N": data["N"], "K": columns, "Xc": centred, "Y": data["Y"]}, open(target, "w"))
