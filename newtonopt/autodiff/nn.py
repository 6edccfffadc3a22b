"""The functions a model-fitting objective reaches for, as in
``dezero.functions``: linear, relu, sigmoid, softplus, softmax,
log_softmax, logsumexp, mean_squared_error.

Each is either a small ``Function`` whose backward uses our ops, or a
composition of ops, so every one is twice differentiable.  The
numerically stable forms subtract the running maximum as a *constant*:
softmax(x - c) and logsumexp(x - c) + c equal softmax(x) and
logsumexp(x) identically in x, so their derivatives are unchanged.
"""
from __future__ import annotations

import numpy as np

from .core import Function, as_variable
from .functions import MaxShift, Positive, broadcast_to, exp, log, matmul, sum, sum_to

__all__ = ["linear", "relu", "sigmoid", "softplus", "softmax", "log_softmax",
           "logsumexp", "mean_squared_error"]


def linear(x, W, b=None):
    """x W + b (DeZero's affine layer)."""
    y = matmul(x, W)
    return y if b is None else y + b


class ReLU(Function):
    """max(x, 0); gradient 1 where x > 0, else 0."""

    def forward(self, x):
        return np.maximum(x, 0.0)

    def backward(self, gy):
        return gy * Positive()(self.inputs[0])


def relu(x):
    return ReLU()(x)


class Sigmoid(Function):
    """1 / (1 + exp(-x)), computed as tanh(x/2)/2 + 1/2 (no overflow for
    any x);  d = y (1 - y) dx."""

    def forward(self, x):
        return np.tanh(x * 0.5) * 0.5 + 0.5

    def backward(self, gy):
        y = self.outputs[0]()
        return gy * y * (1 - y)


def sigmoid(x):
    return Sigmoid()(x)


class Softplus(Function):
    """log(1 + exp(x)) by ``np.logaddexp(0, x)`` (no overflow);
    d = sigmoid(x) dx."""

    def forward(self, x):
        return np.logaddexp(0.0, x)

    def backward(self, gy):
        return gy * sigmoid(self.inputs[0])


def softplus(x):
    return Softplus()(x)


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) along ``axis``, without overflow: c + log(sum(exp(x - c)))."""
    x = as_variable(x)
    c = MaxShift(axis)(x)
    y = log(sum(exp(x - c), axis=axis, keepdims=True)) + c
    if keepdims:
        return y
    axes = range(x.ndim) if axis is None else ((axis,) if np.ndim(axis) == 0 else axis)
    reduced = {a % x.ndim for a in axes}
    return y.reshape(tuple(n for i, n in enumerate(x.shape) if i not in reduced))


def softmax(x, axis=1):
    """exp(x) / sum(exp(x)) along ``axis`` (DeZero's default axis 1)."""
    x = as_variable(x)
    e = exp(x - MaxShift(axis)(x))
    return e / sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis=1):
    """x - logsumexp(x) along ``axis``."""
    return as_variable(x) - logsumexp(x, axis=axis, keepdims=True)


class MeanSquaredError(Function):
    """sum((x0 - x1)**2) / len(x0 - x1), as DeZero (len is the first axis);
    d/dx0 = 2 (x0 - x1) / len = -d/dx1."""

    def forward(self, x0, x1):
        diff = x0 - x1
        return (diff ** 2).sum() / len(diff)

    def backward(self, gy):
        x0, x1 = self.inputs
        diff = x0 - x1
        gx0 = broadcast_to(gy, diff.shape) * diff * (2.0 / len(diff))
        return sum_to(gx0, x0.shape), sum_to(-gx0, x1.shape)


def mean_squared_error(x0, x1):
    return MeanSquaredError()(x0, x1)
