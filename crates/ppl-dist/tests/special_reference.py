"""Reference values of ln|Gamma(x)| and digamma(x) for tests/special_accuracy.rs, from mpmath at
50 significant digits. Run `python3 special_reference.py` and paste its output into the test.
Points: ordinary positive arguments and arguments close to the positive roots (ln Gamma vanishes at
1 and 2, digamma at 1.4616...), where a naive evaluation loses its relative accuracy to
cancellation; and ordinary negative arguments away from the roots (held to 1e-13: the reflection
formula cancels near the negative roots, which ppl's densities never evaluate)."""
import mpmath as mp

mp.mp.dps = 50

def gamma_points():
    points = [0.1, 0.3, 0.5, 0.9, 1.5, 2.5, 2.75, 3.7, 7.25, 9.99, 10.5, 33.3, 100.0, 1e5,
              1e10, 1e-8, 1e-3]
    for root in (1.0, 2.0):
        for delta in (1e-12, 1e-8, 1e-5, 1e-3, 0.05, 0.3):
            points += [root - delta, root + delta]
    return points

def digamma_points():
    points = [0.1, 0.5, 1.0, 2.0, 2.5, 3.7, 7.25, 10.5, 33.3, 100.0, 1e5, 1e10, 1e-8]
    for r in [mp.findroot(mp.digamma, 1.46)]:
        points.append(float(r))
        for delta in (1e-12, 1e-8, 1e-5, 1e-3, 0.2, 0.3):
            points += [float(r - delta), float(r + delta)]
    return points

def show(name, f, points):
    print(f"const {name}: &[(f64, f64)] = &[")
    for x in points:
        value = f(mp.mpf(x))
        print(f"    ({x!r}, {mp.nstr(value, 20, strip_zeros=False)}),")
    print("];")

NEGATIVE = [-0.5, -1.5, -2.5, -3.7, -10.3, -0.1, -5.9]
show("LN_GAMMA", lambda x: mp.log(abs(mp.gamma(x))), gamma_points())
show("DIGAMMA", mp.digamma, digamma_points())
show("LN_GAMMA_NEGATIVE", lambda x: mp.log(abs(mp.gamma(x))), NEGATIVE)
show("DIGAMMA_NEGATIVE", mp.digamma, NEGATIVE)
