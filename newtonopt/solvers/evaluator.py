"""The one place a solver touches the objective: evaluation, caching, counts.

Interpreted, ``f(x)`` runs the forward pass and keeps its graph, so when a
line search accepts the point its gradient is one backward pass away, with
no second forward.  For the second-order methods that backward records its
own graph (``create_graph=True``): the same pass yields g and the replay
that every CG step and every Hessian column uses (``autodiff.backprop``).

Compiled (``autodiff.compiled``), the same stages run as generated
straight-line code: forward -> gradient (or gradient + HVP cache) -> HVPs.
A parsed objective switches before its first evaluation; a Python callable
after it (``compile_after``), which checks what the callable returns.  The
compiled code gives the interpreter's results to the bit, so the switch
changes no iterate.  (Compiling at once was measured against waiting for
the interpreted evaluations to cost what a compile does, the ski-rental
rule: at once, fresh runs of @rosenbrock n = 2 took 1-3 ms less, the
interpreted evaluations before the switch being the first calls of a
fresh process, and the headline command, 7 evaluations, 1.2 ms more.)

Counts (SPEC §5): f and g at one point count once in ``nfev`` and once in
``njev``; a dense Hessian once in ``nhev``; each Hessian-vector product once
in ``nhvp``.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from newtonopt.autodiff import Variable, backprop
from newtonopt.autodiff.functional import dense_hessian

Compiler = Callable[[np.ndarray], Any]   # x -> a Compiled (or raises)


class _Point:
    """What is known at one point: f, and once asked for, g and the means
    to take Hessian-vector products (an interpreted graph or compiled state)."""

    __slots__ = ("x", "bytes", "value", "leaf", "y", "state", "grad", "replay", "dense")

    def __init__(self, x: np.ndarray) -> None:
        self.x = x
        # A small point is recognized by its bytes (0.4 us against 2.5 for
        # an elementwise ==; and exact: f(-0.0) need not be f(0.0)).
        self.bytes = x.tobytes() if x.size <= _BYTES_LIMIT else None
        self.value = 0.0
        self.leaf = self.y = self.state = self.grad = self.replay = self.dense = None

    def at(self, x: np.ndarray) -> bool:
        if x is self.x:
            return True
        if x.shape != self.x.shape:
            return False
        if self.bytes is not None:
            return x.tobytes() == self.bytes
        return bool((x == self.x).all())


_BYTES_LIMIT = 4096


class Evaluator:
    """Evaluates f at flat float64 points (to maximize, the caller passes -f).

    Two points are kept: the last one whose gradient was taken (the
    iterate: its HVPs are the CG loop's) and the last trial point (f only,
    until a line search or trust region accepts it).  So a rejected trial
    costs its own f and nothing at the iterate is evaluated twice.
    ``compiler``, when given, is asked once (after ``compile_after``
    evaluations) for compiled code; if it raises, the run stays
    interpreted and ``compile_note`` says why.  ``compiled``: code to use
    from the start (the curvature check reuses the run's).
    """

    def __init__(self, f: Callable[[Variable], Variable], second_order: bool = False,
                 compiler: Compiler | None = None, compiled: Any = None,
                 compile_after: int = 0) -> None:
        self._f = f
        self.second_order = second_order
        self.nfev = self.njev = self.nhev = self.nhvp = 0
        self._compiler = compiler
        self.compile_after = compile_after
        self.compiled: Any = compiled
        self._compile_note: str | None = None
        self._iterate: _Point | None = None
        self._trial: _Point | None = None

    @property
    def compile_note(self) -> str | None:
        """How the derivatives ran: compiled (when, at what cost), or
        interpreted and why; None where compiling was not asked for."""
        if self._compile_note is None and self._compiler is not None:
            return f"interpreted: the run ended before compiling ({_evaluations(self.nfev)})"
        return self._compile_note

    def counts(self) -> dict[str, int]:
        return {"nfev": self.nfev, "njev": self.njev, "nhev": self.nhev, "nhvp": self.nhvp}

    def _find(self, x: np.ndarray) -> _Point | None:
        for point in (self._iterate, self._trial):
            if point is not None and point.at(x):
                return point
        return None

    def f(self, x: np.ndarray) -> float:
        """f(x); the graph (or the compiled state) is kept for ``grad(x)``."""
        point = self._find(x)
        if point is not None:
            return point.value
        if self._compiler is not None and self.nfev >= self.compile_after:
            self._switch(x)
        point = _Point(np.array(x, dtype=np.float64))
        self._trial = None   # free the last trial's graph before making another
        self._forward(point)
        self.nfev += 1
        self._trial = point
        return point.value

    def grad(self, x: np.ndarray) -> np.ndarray:
        """grad f(x), from the forward pass kept by ``f(x)``; the point
        becomes the iterate."""
        return self._derived(x).grad

    def _derived(self, x: np.ndarray) -> _Point:
        """The point x, its gradient taken: now the iterate."""
        point = self._find(x)
        if point is None:
            self.f(x)
            point = self._trial
        if point.grad is None:
            self._derive(point)
            self.njev += 1
        if point is self._trial:
            self._iterate, self._trial = point, None
        return point

    def _forward(self, point: _Point) -> None:
        """f at the point, keeping what its gradient continues from."""
        if self.compiled is not None:
            point.value, point.state = self.compiled.forward(point.x)
            return
        point.leaf = Variable(point.x)
        y = self._f(point.leaf)
        if self.nfev == 0:
            _check_recorded(y, point.leaf)
        if y.size != 1:
            raise ValueError(f"the objective must return a scalar, got shape {y.shape}")
        point.y, point.value = y, float(y.data)

    def _derive(self, point: _Point) -> None:
        """g at the point (and with second_order, what H v needs)."""
        c = self.compiled
        if point.y is not None:
            g, point.replay = backprop(point.y, point.leaf, self.second_order)
            point.grad = g.reshape(point.x.shape)
            point.y = point.leaf = None  # the forward graph lives on in the replay only
        elif not self.second_order:
            point.grad = c.gradient(point.x, point.state)
        else:
            x = point.x   # not the point: a closure on it would make a cycle that
            # keeps the state's arrays (8 MB each at n = 10^6) until gc runs
            point.grad, state = c.second_order(x, point.state)
            point.replay = lambda v: c.hvp(x, state, v)
            point.dense = lambda: c.hessian(x, state)

    def _switch(self, x: np.ndarray) -> None:
        """Switch to compiled code, once, traced at the iterate (or else at
        x, the point about to be evaluated); the iterate's graphs are freed
        first (the trace records three more) and its state re-derived by the
        new code, uncounted: f and g at that point were counted already."""
        compiler, self._compiler = self._compiler, None
        cached = getattr(compiler, "cached", lambda: False)()
        kept = self._iterate
        at = next((p.x for p in (kept, self._trial) if p is not None), x)
        self._trial = None
        if kept is not None:
            kept.y = kept.leaf = kept.replay = None
        t0 = time.perf_counter()
        try:
            self.compiled = compiler(at)
        except Exception as exc:  # noqa: BLE001 - any failure: stay interpreted, say why
            self._compile_note = f"interpreted: {type(exc).__name__}: {exc}"
        else:
            cost = "the code was cached" if cached else \
                f"compiling took {1e3 * (time.perf_counter() - t0):.1f} ms"
            self._compile_note = f"compiled at once: {cost}" if not self.nfev else \
                f"compiled after {_evaluations(self.nfev)} interpreted; {cost}"
        if kept is not None:   # the iterate again, by whichever code now runs
            self._forward(kept)
            self._derive(kept)

    def f_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        return self.f(x), self.grad(x)

    def _second_order_point(self, x: np.ndarray) -> _Point:
        if not self.second_order:
            raise RuntimeError("Hessians need an Evaluator with second_order=True")
        return self._derived(x)

    def hvp(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        """H(x) v: compiled, or by one seeded backward through the recorded
        gradient graph."""
        point = self._second_order_point(x)
        self.nhvp += 1
        return point.replay(v).reshape(v.shape)

    def hessian(self, x: np.ndarray) -> np.ndarray:
        """Dense Hessian (counted once): compiled, all n seeds in one
        batched pass; interpreted, column i = H e_i from n replays."""
        point = self._second_order_point(x)
        self.nhev += 1
        if point.dense is None and self._compiler is not None:
            # a callable's first Hessian comes after its first f: compiled,
            # not n interpreted replays
            self._switch(x)
            point = self._find(x)
        if point.dense is not None:
            return point.dense()
        return dense_hessian(point.replay, x.size)


def _evaluations(k: int) -> str:
    return f"{k} f evaluation{'' if k == 1 else 's'}"


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
