"""The one place a solver touches the objective: evaluation, caching, counts.

Interpreted, ``f(x)`` runs the forward pass and keeps its graph, so when a
line search accepts the point its gradient is one backward pass away, with
no second forward.  For the second-order methods that backward records its
own graph (``create_graph=True``): the same pass yields g and the replay
that every CG step and every Hessian column uses (``autodiff.backprop``).

Compiled (``autodiff.compiled``), the same stages run as generated
straight-line code: forward -> gradient (or gradient + HVP cache) -> HVPs.
The switch happens after ``COMPILE_AFTER`` evaluations and, for code
compiled by default, once the interpreted evaluations (f, g and
Hessian-vector products) have taken ``compile_budget`` seconds or
numbered ``COMPILE_BY_COUNT`` (a dense Hessian counting as its n replays;
at once when the code is already cached), so a run too short to pay for
the compile never does (the headline command: 7 evaluations, 0.9 ms
interpreted, against ~3 ms for the generator's import and a first
compile) while a
longer one switches early (Osborne 1 with bfgs: after 5 of 70 evaluations,
at 0.5 ms each interpreted, against a 3 ms compile); the compiled
code gives the interpreter's results to the bit, so the switch changes no
iterate.

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

COMPILE_AFTER = 1
COMPILE_BY_COUNT = 10   # ... and, compiling by default, at the latest after this many

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
    ``compiler``, when given, is asked once (after ``COMPILE_AFTER``
    evaluations) for compiled code; if it raises, the run stays
    interpreted and ``compile_note`` says why.  ``compiled``: code to use
    from the start (the curvature check reuses the run's).
    """

    def __init__(self, f: Callable[[Variable], Variable], second_order: bool = False,
                 compiler: Compiler | None = None, compiled: Any = None,
                 compile_budget: float = 0.0) -> None:
        self._f = f
        self.second_order = second_order
        self.nfev = self.njev = self.nhev = self.nhvp = 0
        self._compiler = compiler
        self.compile_budget = compile_budget
        self._interpreted_s = 0.0     # time spent in interpreted f and g so far
        self.compiled: Any = compiled
        self.compile_note: str | None = None
        self._iterate: _Point | None = None
        self._trial: _Point | None = None

    @property
    def compile_pending(self) -> bool:
        """Compiling was asked for and has not happened (yet)."""
        return self._compiler is not None

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
        if self._compiler is not None:
            self._maybe_compile(x)
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
        t0 = time.perf_counter()
        point.leaf = Variable(point.x)
        y = self._f(point.leaf)
        if self.nfev == 0:
            _check_recorded(y, point.leaf)
        if y.size != 1:
            raise ValueError(f"the objective must return a scalar, got shape {y.shape}")
        point.y, point.value = y, float(y.data)
        self._interpreted_s += time.perf_counter() - t0

    def _derive(self, point: _Point) -> None:
        """g at the point (and with second_order, what H v needs)."""
        c = self.compiled
        if point.y is not None:
            t0 = time.perf_counter()
            g, point.replay = backprop(point.y, point.leaf, self.second_order)
            point.grad = g.reshape(point.x.shape)
            point.y = point.leaf = None  # the forward graph lives on in the replay only
            self._interpreted_s += time.perf_counter() - t0
        elif not self.second_order:
            point.grad = c.gradient(point.x, point.state)
        else:
            x = point.x   # not the point: a closure on it would make a cycle that
            # keeps the state's arrays (8 MB each at n = 10^6) until gc runs
            point.grad, state = c.second_order(x, point.state)
            point.replay = lambda v: c.hvp(x, state, v)
            point.dense = lambda: c.hessian(x, state)

    def _maybe_compile(self, x: np.ndarray, pending: int = 0) -> None:
        """Switch to compiled code once; the iterate's graphs are freed first
        (the trace records three more) and its state re-derived by the new
        code, uncounted: f and g at that point were counted already.
        Code already cached switches before the first evaluation (the first
        interpreted one checks what the objective returns; cached code was
        made from an objective checked so).  ``x``: the point about to be
        evaluated; ``pending``: interpreted passes about to be made (a dense
        Hessian's n replays), counted as evaluations toward
        ``COMPILE_BY_COUNT``."""
        if self._compiler is None:
            return
        cached = getattr(self._compiler, "cached", lambda: False)()
        if not cached and (self.nfev < COMPILE_AFTER or (
                self._interpreted_s < self.compile_budget
                and self.nfev + pending < COMPILE_BY_COUNT)):
            return
        compiler, self._compiler = self._compiler, None
        kept = self._iterate
        at = next((p.x for p in (kept, self._trial) if p is not None), x)
        self._trial = None
        if kept is not None:
            kept.y = kept.leaf = kept.replay = None
        t0 = time.perf_counter()
        try:
            self.compiled = compiler(at)
        except Exception as exc:  # noqa: BLE001 - any failure: stay interpreted, say why
            self.compile_note = f"interpreted: {type(exc).__name__}: {exc}"
        else:
            cost = "the code was cached" if cached else \
                f"compiling took {1e3 * (time.perf_counter() - t0):.1f} ms"
            self.compile_note = f"compiled at once: {cost}" if not self.nfev else \
                (f"compiled after {_evaluations(self.nfev)} interpreted "
                 f"({1e3 * self._interpreted_s:.1f} ms); {cost}")
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
        """H(x) v by one seeded backward through the recorded gradient graph
        (interpreted, its time counts toward the compile budget: a CG loop
        makes several a point, each costing about an f and g).  The switch
        itself waits for the next f: between two products CG's vectors are
        alive, and the trace's arrays would join them (n = 10^6: +8 MB)."""
        point = self._second_order_point(x)
        self.nhvp += 1
        if self.compiled is not None:
            return point.replay(v).reshape(v.shape)
        t0 = time.perf_counter()
        hv = point.replay(v).reshape(v.shape)
        self._interpreted_s += time.perf_counter() - t0
        return hv

    def hessian(self, x: np.ndarray) -> np.ndarray:
        """Dense Hessian (counted once): compiled, all n seeds in one
        batched pass; interpreted, column i = H e_i from n replays."""
        point = self._second_order_point(x)
        self.nhev += 1
        if point.dense is None:
            # n interpreted replays may cost more than compiling (newton at
            # n = 100 replayed 100 times an iteration until the 10th f)
            self._maybe_compile(x, pending=x.size)
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
