"""Fits the polynomial and rational coefficients of `hg_kernel::fastmath` (minimax by Lawson's
iteratively reweighted least squares on a Chebyshev grid; rationals linearised as in Loeb's
method) and prints them rounded to f32. Needs numpy and mpmath:

    python3 -m venv venv && venv/bin/pip install numpy mpmath && venv/bin/python fit_fastmath.py

The maximum errors printed are those of the fit in exact arithmetic; the errors of the f32
evaluation are measured by the tests of `fastmath.rs`.
"""

import mpmath
import numpy as np

mpmath.mp.dps = 30


def grid(lo, hi, n=20001):
    return lo + (hi - lo) * (1 - np.cos(np.linspace(0, np.pi, n))) / 2


def lawson(A, b, scale, iters=300):
    """Coefficients c minimising max |scale * (A c - b)|, and that maximum."""
    w = np.ones(len(b)) / len(b)
    best = (np.inf, None)
    for _ in range(iters):
        sw = np.sqrt(w) * scale
        c, *_ = np.linalg.lstsq(A * sw[:, None], b * sw, rcond=None)
        e = np.abs(scale * (A @ c - b))
        if e.max() < best[0]:
            best = (e.max(), c)
        w = w * e
        w /= w.sum()
    return best[1], best[0]


def rational(t, f, m, n, iters=500):
    """P (degree m) and Q (degree n, Q(0) = 1) in t minimising max |P/Q / f - 1|."""
    Pm = np.stack([t**i for i in range(m + 1)], 1)
    Qm = np.stack([t**j for j in range(1, n + 1)], 1)
    A = np.concatenate([Pm, -f[:, None] * Qm], 1)
    q_prev = np.ones_like(t)
    w = np.ones_like(t) / len(t)
    best = (np.inf, None, None)
    for _ in range(iters):
        sw = np.sqrt(w) / q_prev / f
        c, *_ = np.linalg.lstsq(A * sw[:, None], f * sw, rcond=None)
        p, q = c[: m + 1], c[m + 1 :]
        Q = 1 + Qm @ q
        e = np.abs((Pm @ p) / Q / f - 1) + np.where(Q > 0, 0, 1)
        if e.max() < best[0]:
            best = (e.max(), p, q)
        q_prev = Q
        w = w * (e + 1e-300)
        w /= w.sum()
    return best


def show(name, coefficients, err):
    values = ", ".join(np.format_float_scientific(np.float32(c), unique=True) for c in coefficients)
    print(f"{name} (max error {err:.3g}): [{values}]")


# exp(r) = 1 + r + r^2 (c2 + c3 r + ... + c6 r^4) on |r| <= ln(2)/2, relative error.
r = grid(-np.log(2) / 2 * 1.0001, np.log(2) / 2 * 1.0001)
c, err = lawson(np.stack([r ** (2 + i) for i in range(5)], 1), np.expm1(r) - r, np.exp(-r))
show("EXP c2..c6", c, err)

# log(1 + f) = 2s + s R(z), s = f / (2 + f), z = s^2, R(z) = z (l1 + l2 z + l3 z^2),
# on |s| <= (sqrt(2) - 1) / (sqrt(2) + 1); error of s R relative to log(1 + f).
s = grid(-0.17159, 0.17159)
s = s[np.abs(s) > 1e-4]
z = s * s
target = (2 * np.arctanh(s) - 2 * s) / (s * z)
c, err = lawson(np.stack([z**i for i in range(3)], 1), target, s * z / np.log1p(2 * s / (1 - s)))
show("LOG l1..l3", c, err)

# tanh(x) = x + x z (t0 + t1 z + ... + t6 z^6), z = x^2, on |x| <= 0.875, relative error.
x = grid(1e-3, 0.875 * 1.0001)
z = x * x
c, err = lawson(np.stack([z**i for i in range(7)], 1), (np.tanh(x) - x) / (x * z), x * z / np.tanh(x))
show("TANH t0..t6", c, err)

# The tail of the normal distribution Phi(-a) = exp(-a^2/2) M(a), with M(a) = erfcx(a/sqrt2)/2
# = P(a) / Q(a) on 0 <= a <= 5.5 (degrees 4 and 4), relative error.
C = 5.5
a = grid(0, C, 8001)
M = np.array(
    [float(mpmath.erfc(mpmath.mpf(v) / mpmath.sqrt(2)) * mpmath.exp(mpmath.mpf(v) ** 2 / 2) / 2) for v in a]
)
err, p, q = rational(a / C, M, 4, 4)
show("GELU p0..p4", [p[i] / C**i for i in range(5)], err)
show("GELU q0..q4", [1.0] + [q[j - 1] / C**j for j in range(1, 5)], err)
