"""Osborne 1 (Moré, Garbow & Hillstrom 1981, problem 17): n = 5, 33
exponential-decay residuals, f* = 5.46489e-5 from x0 = (0.5, 1.5, -1,
0.01, 0.02).  As a user types it (term by term) and hand-coded in numpy
(vectorized value, gradient and exact Hessian-vector product) for the
references."""
from __future__ import annotations

import numpy as np

Y = [0.844, 0.908, 0.932, 0.936, 0.925, 0.908, 0.881, 0.850, 0.818, 0.784, 0.751, 0.718,
     0.685, 0.658, 0.628, 0.603, 0.580, 0.558, 0.538, 0.522, 0.506, 0.490, 0.478, 0.467,
     0.457, 0.448, 0.438, 0.431, 0.424, 0.420, 0.414, 0.411, 0.406]
X0 = [0.5, 1.5, -1.0, 0.01, 0.02]
T = 10.0 * np.arange(33)


def text() -> str:
    """33 squared residuals written out, t_i = 10 i."""
    return " + ".join(f"({y} - (x[0] + x[1]*exp(-{10 * i}*x[3]) + x[2]*exp(-{10 * i}*x[4])))^2"
                      for i, y in enumerate(Y))


def _parts(x):
    e4, e5 = np.exp(-T * x[3]), np.exp(-T * x[4])
    r = np.array(Y) - (x[0] + x[1] * e4 + x[2] * e5)
    jac = np.stack([-np.ones(33), -e4, -e5, x[1] * T * e4, x[2] * T * e5], axis=1)
    return r, jac, e4, e5


def f(x) -> float:
    r = _parts(x)[0]
    return float(r @ r)


def grad(x) -> np.ndarray:
    r, jac, _, _ = _parts(x)
    return 2.0 * jac.T @ r


def value_and_grad(x):
    r, jac, _, _ = _parts(x)
    return float(r @ r), 2.0 * jac.T @ r


def hess_prod(x, v) -> np.ndarray:
    """H v = 2 (J'J v + sum_i r_i (d2 r_i) v), the residuals' second
    derivatives written out."""
    r, jac, e4, e5 = _parts(x)
    out = 2.0 * jac.T @ (jac @ v)
    w4, w5 = r * T * e4, r * T * e5
    out[1] += 2.0 * np.sum(w4) * v[3]
    out[3] += 2.0 * (np.sum(w4) * v[1] - x[1] * np.sum(w4 * T) * v[3])
    out[2] += 2.0 * np.sum(w5) * v[4]
    out[4] += 2.0 * (np.sum(w5) * v[2] - x[2] * np.sum(w5 * T) * v[4])
    return out


def hess(x) -> np.ndarray:
    return np.column_stack([hess_prod(x, e) for e in np.eye(5)])
