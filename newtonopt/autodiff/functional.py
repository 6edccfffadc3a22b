"""Functional derivatives of a scalar function ``f`` (Variable -> Variable).

Named and ordered as in HIPS autograd / JAX, with the vector last so that
``lambda x, v: hvp(f, x, v)`` is scipy's ``hessp``.  Inputs and results are
numpy arrays; no grad or graph outlives a call.

The Hessian-vector product is Pearlmutter's trick by double backprop:
record g(x) = grad f(x) as a graph (``backward(create_graph=True)``), then
one backward pass through g seeded with v gives d(g . v)/dx = H v, at about
the cost of two gradients and without ever forming H.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .core import Variable

Objective = Callable[[Variable], Variable]


def _leaf(x) -> Variable:
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    return Variable(arr)


def _scalar(y: Variable) -> float:
    if not isinstance(y, Variable):
        raise TypeError(f"f must return a Variable, got {type(y).__name__}")
    if y.size != 1:
        raise ValueError(f"f must return a scalar, got shape {y.shape}")
    return float(y.data)


def _take_grad(x: Variable) -> Variable | None:
    g, x.grad = x.grad, None
    return g


def fresh_array(a, dtype=np.float64) -> np.ndarray:
    """a as a writable array of its own, in ``dtype`` (a copy only when
    needed).  The interpreter's gradient of a function of a reduction is a
    broadcast view (stride 0, read only), and BLAS takes another path for
    it than for an ordinary vector: a rounding-level difference, which a
    singular trust-region subproblem (mean(x)^2, trust-exact) turned into a
    different step from the compiled code's, and a gradient the caller
    could not write to."""
    if type(a) is np.ndarray and a.base is None and a.flags.writeable and a.dtype == dtype:
        return a
    return np.array(a, dtype=dtype)


def _as_array(g: Variable | None, like: Variable) -> np.ndarray:
    """A gradient as an array; zeros where f does not depend on x."""
    return np.zeros_like(like.data) if g is None else fresh_array(g.data, like.dtype)


def value_and_grad(f: Objective, x) -> tuple[float, np.ndarray]:
    """(f(x), grad f(x)) from one forward and one backward pass."""
    xv = _leaf(x)
    y = f(xv)
    value = _scalar(y)
    return value, backprop(y, xv)[0]


def grad(f: Objective, x) -> np.ndarray:
    """grad f(x)."""
    return value_and_grad(f, x)[1]


def backprop(y: Variable, x: Variable, create_graph: bool = False
             ) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray] | None]:
    """Backward from the scalar y to the leaf x: ``(grad, replay)``.

    With ``create_graph`` the gradient graph is recorded and ``replay(v)``
    answers H v with one backward pass through it seeded with v; without,
    replay is None.  x.grad is left cleared.
    """
    y.backward(create_graph=create_graph)
    g = _take_grad(x)
    g_data = _as_array(g, x)
    if not create_graph:
        return g_data, None
    if g is None or g.creator is None:
        # f is at most linear in x: its Hessian is identically zero.
        return g_data, lambda v: np.zeros_like(x.data)

    def replay(v) -> np.ndarray:
        g.grad = Variable(np.asarray(v, dtype=g.dtype).reshape(g.shape),
                          requires_grad=False)
        g.backward()
        return _as_array(_take_grad(x), x)

    return g_data, replay


def make_hvp(f: Objective, x) -> tuple[Callable[[np.ndarray], np.ndarray], float, np.ndarray]:
    """Record grad f at x once; return ``(hvp_fn, f(x), grad f(x))``.

    Each ``hvp_fn(v)`` is one backward pass through the recorded gradient
    graph seeded with v, so a CG loop pays no forward evaluation per product.
    """
    xv = _leaf(x)
    y = f(xv)
    value = _scalar(y)
    g, hvp_fn = backprop(y, xv, create_graph=True)
    return hvp_fn, value, g


def hvp(f: Objective, x, v) -> np.ndarray:
    """Hessian-vector product H(x) v by double backprop (H never formed)."""
    return make_hvp(f, x)[0](v)


def dense_hessian(replay: Callable[[np.ndarray], np.ndarray], n: int) -> np.ndarray:
    """The n x n Hessian from n products with e_i, symmetrized (the two
    triangles agree to rounding)."""
    h = np.empty((n, n))
    e = np.zeros(n)
    for i in range(n):
        e[i] = 1.0
        h[:, i] = np.ravel(replay(e))
        e[i] = 0.0
    return (h + h.T) / 2


def hessian(f: Objective, x) -> np.ndarray:
    """Dense Hessian from n seeded passes through one recorded gradient
    graph: column i is H e_i.  Shape ``x.shape + x.shape``."""
    hvp_fn, _, g = make_hvp(f, x)
    return dense_hessian(lambda v: hvp_fn(v.reshape(g.shape)), g.size).reshape(g.shape + g.shape)


def derivative_graph(f: Objective, x, order: int) -> Variable:
    """The k-th derivative of f at x as a Variable that keeps the graph
    which computed it (DeZero steps 33-35): f itself for k = 0, the
    gradient for k = 1 (any number of variables), and for k >= 2 (one
    variable) k nested backward passes, each recording the next.  A
    derivative that is identically zero comes back as a constant 0."""
    if order < 0:
        raise ValueError("order must be >= 0")
    xv = _leaf(x)
    if order >= 2 and xv.size != 1:
        raise ValueError("derivatives of order 2 and above need a function of one variable")
    xv.name = "x"
    y = f(xv)
    _scalar(y)
    for _ in range(order):
        y.backward(create_graph=True)
        y = _take_grad(xv)
        if y is None:
            return Variable(np.zeros_like(xv.data), requires_grad=False)
    return y


def nth_derivative(f: Objective, x, order: int) -> float:
    """d^k f / dx^k of a function of one variable by k nested backward
    passes, each recording the next (DeZero steps 33-34)."""
    if np.size(x) != 1:
        raise ValueError("nth_derivative needs a function of one variable")
    return float(derivative_graph(f, x, order).data.reshape(()))
