"""Writes examples/data/net_regression.csv: 200 points of y = sin(2x) + x/2 + Normal(0, 0.1)
noise at x uniform on (-2, 2), for examples/net_regression.model (fixed seed, Python's random)."""
import math
import os
import random

rng = random.Random(8)
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "..", "net_regression.csv"), "w") as out:
    out.write("x.1,y\n")
    for _ in range(200):
        x = rng.uniform(-2.0, 2.0)
        y = math.sin(2.0 * x) + 0.5 * x + rng.gauss(0.0, 0.1)
        out.write(f"{x:.6f},{y:.6f}\n")
