"""Globalizations: how far to go.  A ``LineSearch`` moves along a
``Direction``; a ``TrustRegion`` (trust_region.py) picks the step itself.

Both answer ``step(ev, k, x, f, g) -> Outcome`` and ``accepted(s, y)``
(after an accepted step, with s = x+ - x and y = g+ - g), so the outer loop
in ``loop.py`` is written once for every method.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .directions import Direction
from .evaluator import Evaluator
from .result import Note, Status


@dataclass
class Outcome:
    """What one step did.  ``x`` is None when no acceptable step was found;
    ``accepted`` is False for a trust-region step that was tried and
    refused (x stays).  ``predicted`` is the decrease the local model
    promised, used to tell a real failure from the float64 floor."""

    x: np.ndarray | None
    f: float
    step: float
    predicted: float
    notes: Note = Note.NONE
    cg_iters: int = 0
    accepted: bool = True


class LineSearch:
    """A direction, then a step length along it: strong Wolfe, backtracking
    Armijo, or a fixed learning rate ``lr``."""

    def __init__(self, direction: Direction, lr: float | None = None) -> None:
        if lr is not None and not lr > 0:
            raise ValueError("lr must be positive")
        self.direction = direction
        self.lr = lr
        self.second_order = direction.second_order
        self._f_prev: float | None = None

    # how a step that cannot be found is reported
    failure = Status.LINE_SEARCH_FAILED
    failure_text = "the line search found no acceptable step"

    def step(self, ev: Evaluator, k: int, x: np.ndarray, f: float,
             g: np.ndarray) -> Outcome:
        p, notes, cg = self.direction.compute(ev, x, f, g)
        slope = float(g @ p)
        if not slope < 0:
            # Rounding can make a quasi-Newton direction fail to descend.
            p, slope = -g, -float(g @ g)
            notes |= Note.RESET
        if self.lr is not None:
            x_new = x + self.lr * p
            return Outcome(x_new, ev.f(x_new), self.lr, -slope * self.lr, notes, cg)
        decrease = None if self._f_prev is None else self._f_prev - f
        self._f_prev = f
        alpha = self.direction.initial_step(g, p, decrease)
        if not alpha > 0:
            alpha = 1.0
        found = self.direction.line_search(ev, x, f, p, slope, alpha)
        if found is None:
            return Outcome(None, f, 0.0, -slope, notes, cg)
        return Outcome(found.x, found.f, found.alpha, -slope * found.alpha, notes, cg)

    def accepted(self, s: np.ndarray, y: np.ndarray) -> Note:
        return self.direction.update(s, y)
