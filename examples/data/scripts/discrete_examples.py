"""Writes examples/data/hmm.csv and examples/data/zip.csv with fixed seeds (Python's own
`random`, so no package is needed): `python3 examples/data/scripts/discrete_examples.py`."""
import math
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def hmm(rng, steps=300):
    """Two states, Gaussian emissions: mu = (-1, 1.5), sigma = 0.7, stay 0.95 / 0.9."""
    theta = [[0.95, 0.05], [0.10, 0.90]]
    mu = [-1.0, 1.5]
    state = 0 if rng.random() < 0.5 else 1
    rows = []
    for _ in range(steps):
        rows.append((state + 1, rng.gauss(mu[state], 0.7)))
        state = 0 if rng.random() < theta[state][0] else 1
    return rows


def poisson(rng, rate):
    """Knuth's multiplication method (small rates)."""
    limit, count, product = math.exp(-rate), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def zip_counts(rng, count=200, zero_share=0.3, rate=3.0):
    return [0 if rng.random() < zero_share else poisson(rng, rate) for _ in range(count)]


def main():
    rows = hmm(random.Random(20261127))
    with open(HERE / "hmm.csv", "w") as out:
        out.write("y,state\n")
        for state, y in rows:
            out.write(f"{y:.6f},{state}\n")
    with open(HERE / "zip.csv", "w") as out:
        out.write("y\n")
        for y in zip_counts(random.Random(7)):
            out.write(f"{y}\n")


if __name__ == "__main__":
    main()
