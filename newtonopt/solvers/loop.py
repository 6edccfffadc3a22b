"""The outer iteration, written once for every method.

Each iteration: stop if f or g is not finite, if ||g||_inf <= gtol (after
the curvature check: a saddle or maximum is not a minimum), or at maxiter;
otherwise ask the globalization for a step, update the direction's memory,
record a trace row and hand it to the callback.  A step that leads nowhere
(a failed search, or an accepted step that changes no component of x) first
drops the direction's model, once after each step that moved x.
"""
from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np

from .curvature import Curvature, curvature
from .directions import norm
from .evaluator import Evaluator
from .linesearch import backtracking
from .result import NonFiniteCurvature, Note, Outcome, Status

EPS = np.finfo(float).eps
_MAX_ESCAPES = 10
_PRECISION_FLOOR = 100 * EPS  # decreases below this times |f| are rounding
# A run that gave up after f fell by this many times max(1, |f0|) asks
# whether f is unbounded (KNITRO's objrange is the absolute form, 1e20).
_FELL_FAR = 1e10
_GAVE_UP = frozenset((Status.MAXITER, Status.LINE_SEARCH_FAILED, Status.TRUST_REGION_COLLAPSED,
                      Status.PRECISION_LIMITED, Status.NON_FINITE))


TRACE_CAP = 10_000


class Trace:
    """The iteration rows, bounded: every row until ``TRACE_CAP`` are held,
    then every other one is dropped and only every ``stride``-th iteration
    (stride doubling each time) is kept, so a run of any length holds at
    most ``TRACE_CAP`` rows.  The latest row is always kept.  With
    ``keep=False`` only the latest row is."""

    def __init__(self, keep: bool = True) -> None:
        self.keep = keep
        self.stride = 1
        self._rows: list[dict] = []
        self._last: dict | None = None

    def append(self, row: dict) -> None:
        self._last = row
        if self.keep and row["iter"] % self.stride == 0:
            self._rows.append(row)
            if len(self._rows) > TRACE_CAP:
                self._rows = self._rows[::2]
                self.stride *= 2

    def rows(self) -> list[dict]:
        """The kept rows, ending with the latest."""
        if self._last is None:
            return []
        if self._rows and self._rows[-1] is self._last:
            return list(self._rows)
        return [*self._rows, self._last]


def inf_norm(g: np.ndarray) -> float:
    return float(np.abs(g).max()) if g.size else 0.0


class Run:
    """The state of a run and what it found (``grad_norm`` = ||g||_inf)."""

    def __init__(self, x: np.ndarray, f: float, g: np.ndarray, trace: Trace) -> None:
        self.x, self.f, self.g = x, f, g
        self.f0 = f            # f at the start
        self.grad_norm = inf_norm(g)
        self.status: Status | None = None
        self.message = ""
        self.nit = self.cg_iters = 0
        self.trace = trace
        self.curvature: Curvature | None = None
        self.curvature_counts: dict = {}

    def finite(self) -> bool:
        """f and every component of g finite (a nan in g makes ||g||_inf nan)."""
        return math.isfinite(self.f) and math.isfinite(self.grad_norm)

    def move(self, x: np.ndarray, f: float, g: np.ndarray) -> None:
        self.x, self.f, self.g = x, f, g
        self.grad_norm = inf_norm(g)
        self.curvature = None


def check_curvature(f, x: np.ndarray, want_vector: bool = False,
                    compiled=None) -> tuple[Curvature, dict]:
    """Extreme Hessian eigenvalues of f at x, on an evaluator of its own so
    the check's work (returned as counts) is kept apart from the method's
    (``compiled``: the run's compiled code, if it has some)."""
    ev = Evaluator(f, second_order=True, compiled=compiled)
    curv = curvature(lambda: ev.hessian(x), lambda v: ev.hvp(x, v), x.size, want_vector)
    return curv, {"nhev": ev.nhev, "nhvp": ev.nhvp}


class Loop:
    """Drive ``glob.step`` until a stopping test holds."""

    def __init__(self, ev: Evaluator, glob, *, gtol: float, maxiter: int,
                 callback: Callable[[dict], bool | None] | None, sign: float,
                 objective_f, check: bool = True, keep_trace: bool = True) -> None:
        self.ev, self.glob = ev, glob
        self.gtol, self.maxiter = gtol, maxiter
        self.callback, self.sign = callback, sign
        self.objective_f = objective_f  # sign * f, for the curvature check
        self.check = check
        self.keep_trace = keep_trace
        self.t0 = time.perf_counter()

    def record(self, run: Run, step: float | None, dx: float | None,
               notes: Note, cg: int) -> bool:
        row = {"iter": run.nit, "fun": self.sign * run.f,
               "grad_norm": run.grad_norm,
               "step": step, "dx_norm": dx, **self.ev.counts(),
               "cg_iters": cg, "notes": notes,
               "time_s": time.perf_counter() - self.t0}
        run.trace.append(row)
        return bool(self.callback(row)) if self.callback is not None else False

    def run(self, x0: np.ndarray) -> Run:
        ev = self.ev
        x = np.array(x0, dtype=np.float64)
        run = Run(x, *ev.f_and_grad(x), trace=Trace(self.keep_trace))
        escapes = 0
        # A step that led nowhere drops the direction's model (glob.restart)
        # once; again only after a step that moved x.  Where -g leads nowhere
        # too, the stop is judged on the less promising of the two
        # (``stalled``): at float64's floor the model's prediction says so.
        restartable, stalled = False, None
        try:
            if self.record(run, None, None, Note.NONE, 0):
                return self._stop(run, Status.CALLBACK, "the callback asked to stop")
            while True:
                if not run.finite():
                    return self._stop(run, Status.NON_FINITE,
                                      f"f or its gradient is not finite at iteration {run.nit}")
                gnorm = run.grad_norm
                if gnorm <= self.gtol:
                    verdict = self._stationary(run, escapes)
                    if verdict is not None:
                        return verdict
                    escapes += 1
                    outcome = self._escape(run)
                elif run.nit >= self.maxiter:
                    return self._stop(run, Status.MAXITER,
                                      f"iteration limit {self.maxiter} reached with "
                                      f"‖g‖∞ = {gnorm:.3g} > gtol = {self.gtol:g}")
                else:
                    try:
                        outcome = self.glob.step(ev, run.nit, run.x, run.f, run.g)
                    except NonFiniteCurvature as exc:
                        return self._stop(run, Status.NON_FINITE,
                                          f"{exc.what} at iteration {run.nit}"
                                          + (f"; {exc.hint}" if exc.hint else ""))
                if outcome is None or outcome.x is None:
                    if outcome is not None and restartable and self.glob.restart():
                        restartable, stalled = False, outcome
                        continue
                    if outcome is not None and stalled is not None:
                        outcome = min(outcome, stalled, key=lambda o: o.predicted)
                    return self._failed(run, outcome)
                run.nit += 1
                run.cg_iters += outcome.cg_iters
                notes = outcome.notes
                dx = 0.0
                if outcome.accepted:
                    dx, learned = self._advance(run, outcome)
                    notes |= learned
                    if dx > 0.0:
                        restartable, stalled = True, None
                if self.record(run, outcome.step, dx, notes, outcome.cg_iters):
                    return self._stop(run, Status.CALLBACK, "the callback asked to stop")
                if outcome.accepted and dx == 0.0 and run.grad_norm > self.gtol:
                    # A step too small to change any component of x is no
                    # progress: every later iteration would repeat it.
                    if restartable and self.glob.restart():
                        restartable, stalled = False, outcome
                        continue
                    return self._stop(run, Status.PRECISION_LIMITED,
                                      f"the accepted step (length {outcome.step:.2g}) changes "
                                      f"no component of x in float64; ‖g‖∞ = "
                                      f"{run.grad_norm:.3g} > gtol = {self.gtol:g}")
        except KeyboardInterrupt:
            return self._stop(run, Status.INTERRUPTED,
                              f"interrupted after {run.nit} iterations; x is the best point so far")

    def _advance(self, run: Run, outcome: Outcome) -> tuple[float, Note]:
        """Move to the accepted point; the direction learns from s = x+ - x
        and y = g+ - g (which die here: at n = 10^6 each is 8 MB).
        Returns ||s|| and the direction's notes."""
        g_new = self.ev.grad(outcome.x)
        s, y = outcome.x - run.x, g_new - run.g
        run.move(outcome.x, outcome.f, g_new)
        return norm(s), self.glob.accepted(s, y) if run.finite() else Note.NONE

    def _stop(self, run: Run, status: Status, message: str) -> Run:
        if status in _GAVE_UP:
            message += self._unbounded_hint(run)
        run.status, run.message = status, message
        return run

    def _unbounded_hint(self, run: Run) -> str:
        """Where f fell far before the run gave up (``_FELL_FAR``), the
        likeliest cause is an f without a minimum (or a maximum, maximizing):
        a question for the message, not a status (a bounded f can be scaled
        so; the run's status stays what happened)."""
        if not run.f0 - run.f > _FELL_FAR * max(1.0, abs(run.f0)):   # False for nan
            return ""
        way = "below" if self.sign > 0 else "above"
        return (f"; f went from {self.sign * run.f0:.3g} to {self.sign * run.f:.3g}: "
                f"is it unbounded {way}?")

    def _stationary(self, run: Run, escapes: int) -> Run | None:
        """Stop at a stationary point unless it is a saddle or maximum that
        a second-order method can still leave (then return None)."""
        gnorm = run.grad_norm
        if self.check and run.curvature is None:
            run.curvature, run.curvature_counts = check_curvature(
                self.objective_f, run.x, want_vector=self.glob.second_order,
                compiled=self.ev.compiled)
        verdict = run.curvature.verdict if self.check else "not certified"
        if verdict in ("minimum", "not certified"):
            return self._stop(run, Status.CONVERGED,
                              f"‖g‖∞ = {gnorm:.3g} ≤ gtol = {self.gtol:g}")
        if self.glob.second_order and escapes < _MAX_ESCAPES:
            return None
        lam = run.curvature.min_eigenvalue
        where = "maximum" if verdict == "maximum" else "saddle point"
        if self.sign < 0:
            where = {"maximum": "minimum", "saddle point": "saddle point"}[where]
        return self._stop(run, Status.STATIONARY_NOT_MINIMUM,
                          f"‖g‖∞ = {gnorm:.3g} ≤ gtol at a {where} "
                          f"(smallest Hessian eigenvalue {self.sign * lam:.3g}); "
                          "the method uses no curvature to leave it")

    def _escape(self, run: Run):
        """Leave a saddle or maximum along the most negative curvature
        direction v (unit length, oriented downhill), with the second-order
        Armijo test of ``backtracking``."""
        c = run.curvature
        v = c.vector if float(run.g @ c.vector) <= 0 else -c.vector
        scale = max(1.0, float(np.linalg.norm(run.x)))
        p = scale * v
        found = backtracking(self.ev, run.x, run.f, p, float(run.g @ p),
                             curvature=c.min_eigenvalue * scale * scale)
        if found is None:
            return None
        return Outcome(found.x, found.f, found.alpha, 0.0, Note.NEG_CURV | Note.ESCAPE)

    def _failed(self, run: Run, outcome) -> Run:
        gnorm = run.grad_norm
        floor = _PRECISION_FLOOR * max(abs(run.f), np.finfo(float).tiny)
        predicted = outcome.predicted if outcome is not None else 0.0
        if predicted <= floor:
            return self._stop(run, Status.PRECISION_LIMITED,
                              f"no further decrease is representable in float64: the model "
                              f"predicts {predicted:.2g}, below the rounding floor "
                              f"100·eps·|f| = {floor:.2g}; ‖g‖∞ = {gnorm:.3g} > gtol = {self.gtol:g}")
        if outcome is None:
            return self._stop(run, Status.LINE_SEARCH_FAILED,
                              "no step along the negative curvature direction decreased f; "
                              f"‖g‖∞ = {gnorm:.3g}")
        return self._stop(run, self.glob.failure, f"{self.glob.failure_text}; ‖g‖∞ = {gnorm:.3g}")
