"""How a run moves: a ``LineSearchRun`` steps along a direction with a
line search; a ``TrustRegionRun`` (trust_region.py) picks the step itself.

Both answer ``step(ev, k, x, f, g) -> Outcome``, ``accepted(s, y)``
(after an accepted step, with s = x+ - x and y = g+ - g) and ``restart()``
(after a step that led nowhere: drop what was learned, if anything), so the
outer loop in ``loop.py`` is written once for every method.  Both hold the run's
state; the configurations they run (``method.Method``) hold none.
"""
from __future__ import annotations

import numpy as np

from .directions import Direction
from .evaluator import Evaluator
from .linesearch import FixedStep
from .result import Note, Outcome, Status


class LineSearchRun:
    """A direction, then a step length along it from ``search`` (strong
    Wolfe, backtracking Armijo, or a fixed step)."""

    failure = Status.LINE_SEARCH_FAILED
    failure_text = "the line search found no acceptable step"

    def __init__(self, direction: Direction, search, n: int) -> None:
        self.direction, self.search, self.n = direction, search, n
        self.state = direction.start(n)
        self.second_order = direction.second_order
        self._f_prev: float | None = None
        self._restarted = False

    def step(self, ev: Evaluator, k: int, x: np.ndarray, f: float,
             g: np.ndarray) -> Outcome:
        p, notes, cg = self.direction.compute(self.state, ev, x, f, g)
        if self._restarted:
            self._restarted, notes = False, notes | Note.RESET
        slope = float(g @ p)
        if not slope < 0:
            # Rounding can make a quasi-Newton direction fail to descend.
            p, slope = -g, -float(g @ g)
            notes |= Note.RESET
        alpha = 1.0
        if not isinstance(self.search, FixedStep):
            decrease = None if self._f_prev is None else self._f_prev - f
            self._f_prev = f
            alpha = self.direction.initial_step(self.state, g, p, decrease)
            if not alpha > 0:
                alpha = 1.0
        found = self.search.search(ev, x, f, p, slope, alpha)
        if found is None:
            return Outcome(None, f, 0.0, -slope, notes, cg)
        return Outcome(found.x, found.f, found.alpha, -slope * found.alpha, notes, cg)

    def accepted(self, s: np.ndarray, y: np.ndarray) -> Note:
        return self.direction.update(self.state, s, y)

    def restart(self) -> bool:
        """Drop what the direction learned, so the next step starts from -g
        (noted ``reset``); False when it learns nothing.  The loop asks
        after a step that led nowhere, as L-BFGS-B does after a failed line
        search ("Bad direction in the line search; refresh the lbfgs memory
        and restart the iteration": Zhu, Byrd, Lu & Nocedal 1997, ACM TOMS
        Alg. 778).  A first L-BFGS pair taken across a steep wall ((10x)^32
        + x^2 from 0.9: f from 3e31 to 1) scaled H0 by 1e-31, and every
        later step was below x's rounding: the run stopped there."""
        if not self.direction.remembers:
            return False
        self.state = self.direction.start(self.n)
        self._restarted = True
        return True
