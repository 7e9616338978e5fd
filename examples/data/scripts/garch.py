"""Writes examples/data/garch.csv: 500 returns of a GARCH(1,1) process (fixed seed, Python's
`random`), r[t] = mu + sqrt(s2[t]) e[t], s2[t] = alpha0 + alpha1 (r[t-1] - mu)^2 + beta1 s2[t-1],
with mu = 0.1, alpha0 = 0.2, alpha1 = 0.3, beta1 = 0.5 and s2[1] = 1."""
import math
import random
from pathlib import Path

rng = random.Random(2026)
mu, alpha0, alpha1, beta1 = 0.1, 0.2, 0.3, 0.5
s2 = 1.0
previous = None
rows = []
for t in range(500):
    if previous is not None:
        s2 = alpha0 + alpha1 * (previous - mu) ** 2 + beta1 * s2
    r = mu + math.sqrt(s2) * rng.gauss(0.0, 1.0)
    rows.append(r)
    previous = r
out = Path(__file__).resolve().parent.parent / "garch.csv"
out.write_text("y\n" + "".join(f"{r:.6f}\n" for r in rows))
