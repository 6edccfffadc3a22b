"""The one place a solver touches the objective: evaluation, caching, counts.

Interpreted, ``f(x)`` runs the forward pass and keeps its graph, so when a
line search accepts the point its gradient is one backward pass away, with
no second forward.  For the second-order methods that backward records its
own graph (``create_graph=True``): the same pass yields g and the replay
that every CG step and every Hessian column uses (``autodiff.backprop``).

Compiled (``autodiff.compiled``), the same stages run as generated
straight-line code: forward -> gradient (or gradient + HVP cache) -> HVPs.
The switch happens after ``COMPILE_AFTER`` evaluations, so a run too short
to pay for the compile never does; the compiled code gives the
interpreter's results, so the switch changes no iterate.

Counts (SPEC §5): f and g at one point count once in ``nfev`` and once in
``njev``; a dense Hessian once in ``nhev``; each Hessian-vector product once
in ``nhvp``.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from newtonopt.autodiff import Variable, backprop
from newtonopt.autodiff.functional import dense_hessian

COMPILE_AFTER = 1

Compiler = Callable[[np.ndarray], Any]   # x -> a Compiled (or raises)


class Evaluator:
    """Evaluates f at flat float64 points (to maximize, the caller passes -f).

    Only the most recent point is cached: solvers move forward.
    ``compiler``, when given, is asked once (after ``COMPILE_AFTER``
    evaluations) for compiled code; if it raises, the run stays
    interpreted and ``compile_note`` says why.  ``compiled``: code to use
    from the start (the curvature check reuses the run's).
    """

    def __init__(self, f: Callable[[Variable], Variable], second_order: bool = False,
                 compiler: Compiler | None = None, compiled: Any = None) -> None:
        self._f = f
        self.second_order = second_order
        self.nfev = self.njev = self.nhev = self.nhvp = 0
        self._compiler = compiler
        self.compiled: Any = compiled
        self.compile_note: str | None = None
        self._x: np.ndarray | None = None
        self._leaf: Variable | None = None
        self._y: Variable | None = None
        self._state: Any = None
        self._value = 0.0
        self._grad: np.ndarray | None = None
        self._replay: Callable[[np.ndarray], np.ndarray] | None = None
        self._dense: Callable[[], np.ndarray] | None = None

    def counts(self) -> dict[str, int]:
        return {"nfev": self.nfev, "njev": self.njev, "nhev": self.nhev, "nhvp": self.nhvp}

    def _is_cached(self, x: np.ndarray) -> bool:
        return self._x is not None and (x is self._x or np.array_equal(x, self._x))

    def _maybe_compile(self, x: np.ndarray) -> None:
        if self._compiler is None or self.nfev < COMPILE_AFTER:
            return
        compiler, self._compiler = self._compiler, None
        # f is about to move to a new point anyway: free the recorded graphs
        # of the last one before the trace records three more.
        self._x = self._leaf = self._y = self._grad = self._replay = self._dense = None
        try:
            self.compiled = compiler(x)
        except Exception as exc:  # noqa: BLE001 - any failure: stay interpreted, say why
            self.compile_note = f"interpreted: {type(exc).__name__}: {exc}"
        else:
            self.compile_note = "compiled"

    def f(self, x: np.ndarray) -> float:
        """f(x); the graph (or the compiled state) is kept for ``grad(x)``."""
        if self._is_cached(x):
            return self._value
        self._maybe_compile(x)
        x = np.array(x, dtype=np.float64)
        self._grad = self._replay = self._dense = self._y = self._state = None
        if self.compiled is not None:
            value, self._state = self.compiled.forward(x)
            self._x = x
        else:
            leaf = Variable(x)
            y = self._f(leaf)
            if self.nfev == 0:
                _check_recorded(y, leaf)
            if y.size != 1:
                raise ValueError(f"the objective must return a scalar, got shape {y.shape}")
            self._x, self._leaf, self._y = x, leaf, y
            value = float(y.data)
        self.nfev += 1
        self._value = value
        return value

    def grad(self, x: np.ndarray) -> np.ndarray:
        """grad f(x), from the forward pass kept by ``f(x)``."""
        self.f(x)
        if self._grad is None:
            if self._y is None:
                self._grad = self._compiled_grad()
            else:
                g, self._replay = backprop(self._y, self._leaf, self.second_order)
                self._grad = g.reshape(x.shape)
                self._y = None  # the forward graph now lives on in the replay only
            self.njev += 1
        return self._grad

    def _compiled_grad(self) -> np.ndarray:
        x, c = self._x, self.compiled
        if not self.second_order:
            return c.gradient(x, self._state)
        g, state = c.second_order(x, self._state)
        self._replay = lambda v: c.hvp(x, state, v)
        self._dense = lambda: c.hessian(x, state)
        return g

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
        """Dense Hessian (counted once): compiled, all n seeds in one
        batched pass; interpreted, column i = H e_i from n replays."""
        self._check_second_order(x)
        self.nhev += 1
        if self._dense is not None:
            return self._dense()
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
