"""The one place a solver touches the objective: evaluation, caching, counts.

``f(x)`` runs the forward pass and keeps its graph, so when a line search
accepts the point its gradient is one backward pass away, with no second
forward.  For the second-order methods that backward records its own graph
(``create_graph=True``): the same pass yields g and the replay that every
CG step and every Hessian column uses (``autodiff.backprop``).

Counts (SPEC §5): f and g at one point count once in ``nfev`` and once in
``njev``; a dense Hessian once in ``nhev``; each Hessian-vector product once
in ``nhvp``.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from newtonopt.autodiff import Variable, backprop
from newtonopt.autodiff.functional import dense_hessian


class Evaluator:
    """Evaluates ``sign * f`` (sign = -1 to maximize) at flat float64 points.

    Only the most recent point is cached: solvers move forward.
    """

    def __init__(self, f: Callable[[Variable], Variable], sign: float = 1.0,
                 second_order: bool = False) -> None:
        self._f = f
        self.sign = sign
        self.second_order = second_order
        self.nfev = self.njev = self.nhev = self.nhvp = 0
        self._x: np.ndarray | None = None
        self._leaf: Variable | None = None
        self._y: Variable | None = None
        self._value = 0.0
        self._grad: np.ndarray | None = None
        self._replay: Callable[[np.ndarray], np.ndarray] | None = None

    def counts(self) -> dict[str, int]:
        return {"nfev": self.nfev, "njev": self.njev, "nhev": self.nhev, "nhvp": self.nhvp}

    def _is_cached(self, x: np.ndarray) -> bool:
        return self._x is not None and (x is self._x or np.array_equal(x, self._x))

    def f(self, x: np.ndarray) -> float:
        """sign * f(x); the graph is kept for a later ``grad(x)``."""
        if self._is_cached(x):
            return self._value
        leaf = Variable(np.array(x, dtype=np.float64))
        y = self._f(leaf)
        if self.nfev == 0:
            _check_recorded(y, leaf)
        if y.size != 1:
            raise ValueError(f"the objective must return a scalar, got shape {y.shape}")
        if self.sign != 1.0:
            y = -y
        self.nfev += 1
        self._x, self._leaf, self._y = leaf.data, leaf, y
        self._value = float(y.data)
        self._grad = self._replay = None
        return self._value

    def grad(self, x: np.ndarray) -> np.ndarray:
        """sign * grad f(x), from the forward graph kept by ``f(x)``."""
        self.f(x)
        if self._grad is None:
            g, self._replay = backprop(self._y, self._leaf, self.second_order)
            self._grad = g.reshape(x.shape)
            self._y = None  # the forward graph now lives on in the replay only
            self.njev += 1
        return self._grad

    def f_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        return self.f(x), self.grad(x)

    def _check_second_order(self, x: np.ndarray) -> None:
        if not self.second_order:
            raise RuntimeError("Hessians need an Evaluator with second_order=True")
        self.grad(x)

    def hvp(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        """H(x) v by one seeded backward through the recorded gradient graph."""
        self._check_second_order(x)
        self.nhvp += 1
        return self._replay(v).reshape(v.shape)

    def hessian(self, x: np.ndarray) -> np.ndarray:
        """Dense Hessian, column i = H e_i from n replays (counted once)."""
        self._check_second_order(x)
        self.nhev += 1
        return dense_hessian(self._replay, x.size)


def _check_recorded(y, leaf: Variable) -> None:
    """The first value of an objective must be a Variable computed from the
    input through recorded operations.  A value built from ``x.data`` with
    numpy (or a constant) has gradient zero everywhere and would "converge"
    anywhere, so it is refused with a TypeError that says why."""
    if not isinstance(y, Variable):
        got = "None" if y is None else type(y).__name__
        raise TypeError(f"the objective returned {got}; it must return a scalar Variable "
                        "computed from its argument with newtonopt operations")
    stack = [y.creator] if y.creator is not None else []
    seen: set[int] = set()
    while stack:
        f = stack.pop()
        for x in f.inputs:
            if x is leaf:
                return
            if x.creator is not None and id(x.creator) not in seen:
                seen.add(id(x.creator))
                stack.append(x.creator)
    raise TypeError("the objective's value does not depend on its argument through "
                    "newtonopt operations (was it computed from x.data or with numpy "
                    "functions?); build it with newtonopt.functions, e.g. F.sum(x ** 2)")
