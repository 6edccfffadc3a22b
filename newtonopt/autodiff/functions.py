"""Differentiable functions, as ``dezero.functions``: ``F.sin(x)`` etc.

Each op is a small ``Function``: ``forward`` on ndarrays, ``backward`` with
these same ops on Variables, so every op can be differentiated again.
Broadcasting in backward goes through the single ``sum_to`` helper.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .core import (Function, Variable, add, as_variable, div, mul, neg, pow,
                   sub)

__all__ = [
    "as_variable", "add", "sub", "mul", "div", "neg", "pow", "exp", "log",
    "log1p", "expm1", "atan", "erf", "sin", "cos", "tan", "tanh", "sinh", "cosh", "sqrt",
    "absolute", "abs", "sum", "mean", "average", "max", "min", "clip",
    "reshape", "transpose", "expand_dims", "flatten", "broadcast_to",
    "sum_to", "matmul", "dot", "matvec", "get_item", "maximum", "minimum", "norm",
    "zeros_like", "square",
]


def zeros_like(x: Variable) -> Variable:
    """A constant zero of x's shape: the gradient of what does not depend on x."""
    return Variable(np.zeros_like(x.data), requires_grad=False)


# -- masks --------------------------------------------------------------------
# A backward that needs a mask or a shift computed from the data (the sign
# in d|x|, the winner of a max) computes it with a Mask op, never as a
# frozen constant: a recorded graph then recomputes it at every point it is
# replayed at (the compiled derivatives rely on this).  Masks have
# derivative zero.


class Mask(Function):
    """An array computed from the inputs' values, with derivative zero."""

    def backward(self, gy):
        return tuple(zeros_like(x) for x in self.inputs)


def _typed(values: np.ndarray, like: Any) -> np.ndarray:
    """values in the dtype of ``like`` (float32 stays float32; a Python
    float, as compiled code passes, gives float64)."""
    return values.astype(like.dtype, copy=False) if isinstance(like, np.ndarray) else values


class NonNegSign(Mask):
    """1 where x >= 0, else -1 (the derivative of |x|, with 1 at 0)."""

    def forward(self, x):
        return _typed(np.where(x >= 0, 1.0, -1.0), x)


class IsZero(Mask):
    """1 where x == 0, else 0."""

    def forward(self, x):
        return _typed((x == 0) * 1.0, x)


class BothZero(Mask):
    """1 where x == 0 and y == 0, else 0."""

    def forward(self, x, y):
        return _typed(((x == 0) & (y == 0)) * 1.0, x)


class Positive(Mask):
    """1 where x > 0, else 0."""

    def forward(self, x):
        return _typed((x > 0) * 1.0, x)


class InRange(Mask):
    """1 where lo <= x <= hi, else 0."""

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def forward(self, x):
        return _typed(((x >= self.lo) & (x <= self.hi)) * 1.0, x)


class TieWeight(Mask):
    """The share of max(a, b)'s gradient that goes to a: 1, 1/2 at a tie, 0."""

    def forward(self, a, b):
        return (1.0 + np.sign(a - b)) / 2


class IsExtreme(Mask):
    """Each element's share of a max or min reduction's gradient: 1/k where
    x equals its reduction y (broadcast back along ``kept``) and k elements
    tie for it, else 0 (also where y is nan and no element equals it)."""

    def __init__(self, kept):
        self.kept = kept

    def forward(self, x, y):
        hit = np.asarray(x == np.reshape(y, self.kept), dtype=np.float64)
        axes = tuple(i for i, n in enumerate(self.kept) if n == 1)
        ties = hit.sum(axis=axes, keepdims=True) if axes else hit
        return _typed(np.divide(hit, ties, out=np.zeros_like(hit), where=ties > 0), x)


class MaxShift(Mask):
    """The maximum along ``axis`` (kept for broadcasting), 0 where it is not
    finite: the shift that keeps exp from overflowing in logsumexp/softmax."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        m = np.max(x, axis=self.axis, keepdims=True)
        return np.where(np.isfinite(m), m, 0.0)


# -- elementwise ------------------------------------------------------------


class Exp(Function):
    def forward(self, x):
        return np.exp(x)

    def backward(self, gy):
        return gy * self.outputs[0]()


class Log(Function):
    def forward(self, x):
        return np.log(x)

    def backward(self, gy):
        return gy / self.inputs[0]


class Sin(Function):
    def forward(self, x):
        return np.sin(x)

    def backward(self, gy):
        return gy * cos(self.inputs[0])


class Cos(Function):
    def forward(self, x):
        return np.cos(x)

    def backward(self, gy):
        return gy * -sin(self.inputs[0])


class Tan(Function):
    """d tan x = (1 + tan^2 x) dx."""

    def forward(self, x):
        return np.tan(x)

    def backward(self, gy):
        y = self.outputs[0]()
        return gy * (1 + y * y)


class Tanh(Function):
    """d tanh x = (1 - tanh^2 x) dx."""

    def forward(self, x):
        return np.tanh(x)

    def backward(self, gy):
        y = self.outputs[0]()
        return gy * (1 - y * y)


class Sinh(Function):
    def forward(self, x):
        return np.sinh(x)

    def backward(self, gy):
        return gy * cosh(self.inputs[0])


class Cosh(Function):
    def forward(self, x):
        return np.cosh(x)

    def backward(self, gy):
        return gy * sinh(self.inputs[0])


class Sqrt(Function):
    """d sqrt x = dx / (2 sqrt x)."""

    def forward(self, x):
        return np.sqrt(x)

    def backward(self, gy):
        return gy / (self.outputs[0]() * 2)


class Log1p(Function):
    """log(1 + x), accurate for small x;  d = dx / (1 + x)."""

    def forward(self, x):
        return np.log1p(x)

    def backward(self, gy):
        return gy / (self.inputs[0] + 1)


class Expm1(Function):
    """exp(x) - 1, accurate for small x;  d = exp(x) dx = (y + 1) dx."""

    def forward(self, x):
        return np.expm1(x)

    def backward(self, gy):
        return gy * (self.outputs[0]() + 1)


class Atan(Function):
    """arctan(x);  d = dx / (1 + x^2)."""

    def forward(self, x):
        return np.arctan(x)

    def backward(self, gy):
        x = self.inputs[0]
        return gy / (x * x + 1)


_erf = np.frompyfunc(math.erf, 1, 1)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def erf_array(x: np.ndarray) -> np.ndarray:
    """The error function elementwise: numpy has none, so the C library's
    ``math.erf`` is mapped over the array (about 60 ns an element)."""
    return np.asarray(_erf(x), dtype=np.float64)


class Erf(Function):
    """erf(x) = 2/sqrt(pi) * int_0^x exp(-t^2) dt;
    d = 2/sqrt(pi) exp(-x^2) dx."""

    def forward(self, x):
        return erf_array(x)

    def backward(self, gy):
        x = self.inputs[0]
        return gy * (exp(-(x * x)) * _TWO_OVER_SQRT_PI)


class Abs(Function):
    """d|x| = s(x) dx with s(x) = 1 for x >= 0 and -1 below (JAX's choice).

    Taking s(0) = 1 rather than sign(0) = 0 keeps the derivatives of a
    function that is smooth at 0 right: |x|**2 has second derivative
    s(0)**2 * 2 = 2 and cosh(|x|) has s(0)**2 * cosh(0) = 1 there, where
    s(0) = 0 would give 0 for both.
    """

    def forward(self, x):
        return np.abs(x)

    def backward(self, gy):
        return gy * NonNegSign()(self.inputs[0])


class Maximum(Function):
    """max(a, b); at ties the gradient is split evenly between a and b."""

    def forward(self, a, b):
        return np.maximum(a, b)

    def backward(self, gy):
        a, b = self.inputs
        wa = TieWeight()(a, b)
        return sum_to(gy * wa, a.shape), sum_to(gy * (1 - wa), b.shape)


def exp(x): return Exp()(x)
def log(x): return Log()(x)
def sin(x): return Sin()(x)
def cos(x): return Cos()(x)
def tan(x): return Tan()(x)
def tanh(x): return Tanh()(x)
def sinh(x): return Sinh()(x)
def cosh(x): return Cosh()(x)
def sqrt(x): return Sqrt()(x)
def absolute(x): return Abs()(x)
def log1p(x): return Log1p()(x)
def expm1(x): return Expm1()(x)
def atan(x): return Atan()(x)
def erf(x): return Erf()(x)


abs = absolute


def square(x):
    return pow(as_variable(x), 2)


def maximum(a, b):
    return Maximum()(a, b)


def minimum(a, b):
    """min(a, b) = -max(-a, -b)."""
    return -maximum(-as_variable(a), -as_variable(b))


# -- shapes -----------------------------------------------------------------


def _sum_to(x: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum a broadcast array back down to ``shape`` (undo broadcasting)."""
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and x.shape[lead + i] != 1)
    y = x.sum(axes, keepdims=True) if axes else x
    return y.reshape(shape)


class SumTo(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        return _sum_to(x, self.shape)

    def backward(self, gy):
        return broadcast_to(gy, self.inputs[0].shape)


class BroadcastTo(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        return np.broadcast_to(x, self.shape)

    def backward(self, gy):
        return sum_to(gy, self.inputs[0].shape)


def sum_to(x, shape):
    x = as_variable(x)
    return x if x.shape == tuple(shape) else SumTo(tuple(shape))(x)


def broadcast_to(x, shape):
    x = as_variable(x)
    return x if x.shape == tuple(shape) else BroadcastTo(tuple(shape))(x)


class Reshape(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        return x.reshape(self.shape)

    def backward(self, gy):
        return reshape(gy, self.inputs[0].shape)


def reshape(x, shape):
    """x with a new shape: a tuple, or an int for a vector (as numpy)."""
    x = as_variable(x)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    return x if x.shape == shape else Reshape(shape)(x)


class Transpose(Function):
    def __init__(self, axes=None):
        self.axes = axes

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy):
        if self.axes is None:
            return transpose(gy)
        ndim = self.inputs[0].ndim
        return transpose(gy, tuple(int(a) for a in np.argsort([a % ndim for a in self.axes])))


def transpose(x, axes=None):
    return Transpose(axes)(x)


def _kept_shape(shape: tuple, axis) -> tuple:
    """The shape of a reduction over ``axis`` with the reduced axes kept
    as length 1: where its gradient is reshaped before broadcasting back."""
    axes = range(len(shape)) if axis is None else \
        ((axis,) if np.ndim(axis) == 0 else axis)
    reduced = {a % len(shape) for a in axes}
    return tuple(1 if i in reduced else n for i, n in enumerate(shape))


class Sum(Function):
    def __init__(self, axis, keepdims):
        self.axis = axis
        self.keepdims = keepdims

    def forward(self, x):
        return x.sum(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        shape = self.inputs[0].shape
        if gy.ndim:  # a scalar broadcasts as it is
            gy = reshape(gy, _kept_shape(shape, self.axis))
        return broadcast_to(gy, shape)


def sum(x, axis=None, keepdims=False):
    return Sum(axis, keepdims)(x)


def mean(x, axis=None, keepdims=False):
    x = as_variable(x)
    y = sum(x, axis, keepdims)
    return y * (y.size / x.size) if x.size else y


average = mean


class _Extreme(Function):
    """max or min over ``axis``; k elements tied for the extreme share its
    gradient, 1/k each, through a constant mask (as JAX and PyTorch do,
    and as ``maximum`` does for two).  DeZero gives each the whole
    gradient, which is not a subgradient: max of (x, x) would have slope 2."""

    reduce = staticmethod(np.max)

    def __init__(self, axis, keepdims):
        self.axis = axis
        self.keepdims = keepdims

    def forward(self, x):
        return self.reduce(x, axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        x, y = self.inputs[0], self.outputs[0]()
        kept = _kept_shape(x.shape, self.axis)
        return broadcast_to(reshape(gy, kept), x.shape) * IsExtreme(kept)(x, y)


class Max(_Extreme):
    reduce = staticmethod(np.max)


class Min(_Extreme):
    reduce = staticmethod(np.min)


def max(x, axis=None, keepdims=False):
    """The largest element (along ``axis``); reduction, unlike ``maximum``."""
    return Max(axis, keepdims)(x)


def min(x, axis=None, keepdims=False):
    """The smallest element (along ``axis``); reduction, unlike ``minimum``."""
    return Min(axis, keepdims)(x)


class Clip(Function):
    """x limited to [lo, hi]; gradient 1 inside (bounds included), 0 outside."""

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def forward(self, x):
        return np.clip(x, self.lo, self.hi)

    def backward(self, gy):
        return gy * InRange(self.lo, self.hi)(self.inputs[0])


def clip(x, x_min, x_max):
    return Clip(x_min, x_max)(x)


def expand_dims(x, axis):
    """x with a new axis of length 1 at ``axis``."""
    x = as_variable(x)
    shape = list(x.shape)
    shape.insert(axis, 1)
    return reshape(x, tuple(shape))


def flatten(x):
    """Keep the first axis, flatten the rest (DeZero's flatten)."""
    x = as_variable(x)
    return reshape(x, (x.shape[0], -1))


def _is_basic_index(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (int, np.integer, slice, type(None)))
               or p is Ellipsis for p in parts)


def _scatter_add(gx: np.ndarray, index: Any, gy: np.ndarray) -> None:
    """gx[index] += gy; np.add.at only where an index array may repeat."""
    if _is_basic_index(index):
        gx[index] += gy
    else:
        np.add.at(gx, index, gy)


class GetItem(Function):
    fresh_grad = True  # GetItemGrad allocates its zeros

    def __init__(self, index):
        self.index = index

    def forward(self, x):
        return x[self.index]

    def backward(self, gy):
        return GetItemGrad(self.index, self.inputs[0].shape)(gy)

    def accumulate_grad(self, gx: np.ndarray, gy: np.ndarray) -> None:
        """gx[index] += gy, into a gradient the engine owns: a slice of x
        then costs no zeros(n) and no full-size add."""
        _scatter_add(gx, self.index, gy)


class GetItemGrad(Function):
    """Scatter a gradient back into zeros of the source shape: a plain
    assignment for basic (slice) indexing, ``np.add.at`` only when an
    index array may repeat."""

    def __init__(self, index, shape):
        self.index = index
        self.shape = shape

    def forward(self, gy):
        gx = np.zeros(self.shape, dtype=gy.dtype)
        _scatter_add(gx, self.index, gy)
        return gx

    def backward(self, ggx):
        return get_item(ggx, self.index)


def get_item(x, index):
    return GetItem(index)(x)


# -- linear algebra ---------------------------------------------------------


class MatMul(Function):
    """2-D matrix product; d(XW) = dX W + X dW."""

    def forward(self, x, w):
        return x @ w

    def backward(self, gy):
        x, w = self.inputs
        return matmul(gy, w.T), matmul(x.T, gy)


def matmul(a, b):
    """numpy's ``@`` for 1-D and 2-D operands, built on the 2-D product."""
    a, b = as_variable(a), as_variable(b)
    if a.ndim == 1 and b.ndim == 1:
        return sum(a * b)
    if a.ndim == 2 and b.ndim == 1:
        return reshape(MatMul()(a, reshape(b, (b.size, 1))), (a.shape[0],))
    if a.ndim == 1 and b.ndim == 2:
        return reshape(MatMul()(reshape(a, (1, a.size)), b), (b.shape[1],))
    if a.ndim == 2 and b.ndim == 2:
        return MatMul()(a, b)
    raise ValueError(f"matmul supports 1-D and 2-D operands, got {a.ndim}-D and {b.ndim}-D")


dot = matmul


class MatVecConst(Function):
    """y = A x for a constant matrix A (data): x is the only input, so no
    gradient is formed for A (``MatMul`` would build an r x c outer
    product for it);  dx = A^T gy, itself a product with a constant."""

    def __init__(self, a: np.ndarray) -> None:
        self.a = a

    def forward(self, x):
        return self.a @ x

    def backward(self, gy):
        return MatVecConst(self.a.T)(gy)


def matvec(a: np.ndarray, x) -> Variable:
    """A @ x with A a constant 2-D array and x a vector Variable."""
    return MatVecConst(np.asarray(a, dtype=np.float64))(x)


class NormRoot(Sqrt):
    """The root in norm(x) = sqrt(sum(x**2)): sqrt, whose derivative is
    taken as 0 at 0 (PyTorch's choice for the norm) instead of inf.

    At x = 0 the norm's gradient x / ||x|| is 0/0, while every vector of the
    unit ball is a subgradient there; 0 is the one that makes a minimizer
    at the kink (``norm(x - 1)`` at x = 1) read as converged, not as nan.
    With z = [s == 0]:  d = gy (1 - z) / (2 (s + z)), which is gy / (2 sqrt s)
    bit for bit where s > 0; its own derivative at 0 is 0 too (the masks
    have none), so the Hessian there is 0, as PyTorch's."""

    def backward(self, gy):
        root = self.outputs[0]()
        at_zero = IsZero()(root)
        return gy * (1 - at_zero) / ((root + at_zero) * 2)


def norm(x):
    """Euclidean norm sqrt(sum(x**2)); its gradient at 0 is 0 (``NormRoot``)."""
    return NormRoot()(sum(square(x)))
