"""Independent references for derivative tests: central finite differences."""
from __future__ import annotations

import numpy as np


def fd_grad(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central differences of a scalar numpy function f at x."""
    x = np.asarray(x, dtype=float)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def fd_hvp(grad_fn, x: np.ndarray, v: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central difference of the gradient along v: (g(x+hv) - g(x-hv)) / 2h."""
    return (grad_fn(x + h * v) - grad_fn(x - h * v)) / (2 * h)
