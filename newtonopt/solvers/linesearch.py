"""Line searches along a descent direction p from x: phi(a) = f(x + a p).

* ``backtracking``: Armijo sufficient decrease with safeguarded quadratic
  interpolation (Nocedal & Wright, Alg. 3.1 and eq. 3.57).  Needs f only,
  except where f is flat to rounding (below).
* ``strong_wolfe``: bracketing and zoom with safeguarded cubic
  interpolation (Nocedal & Wright, Alg. 3.5 and 3.6, eq. 3.59).  While
  bracketing, the next trial is the cubic's minimizer held to 1.1-4 times
  the last (4 is Moré & Thuente's extrapolation bound).  In the zoom an
  interpolated trial within 10 % of the bracket's ends is replaced by the
  midpoint, except after a wild overshoot (f at the far end higher by
  more than ``_OVERSHOOT`` times the decrease the slope promised over the
  bracket): there the quadratic's tiny step is right in direction, and the
  trial goes to the 10 % edge instead (bisecting toward it took 15 trials
  on @himmelblau's CG where this takes 4).  Not always: moved to the edge
  after a mild overshoot, Newton-CG accepted 0.1-steps and doubled its
  iterations on @rosenbrock.

Where the change in f is at rounding level (within ``NOISE`` |f|), f
cannot say which point is lower: sufficient decrease is judged by the exact
slope instead, Hager & Zhang's approximate Wolfe condition
phi'(a) <= (2 delta - 1) phi'(0), delta = 0.1 (SIAM J. Optim. 16 (2005),
eq. 4.1), in both searches, and the zoom brackets by the sign of the slope
alone (their update rule U3).  Without it a run at |f| ~ 4 stalls with
||g|| ~ 1e-7, where decreases fall below eps |f| (and a logistic fit at
f ~ 139, Newton's steps included, at 4e-8); an equal f taken as an Armijo
decrease ended BFGS on EDENSCH (n = 100) at ||g|| = 1e-6.

Both treat a non-finite trial value as "too far" and step back.  Both
return ``Step(alpha, x, f)`` at the accepted point (whose gradient the
Evaluator then has one backward away) or None.
"""
from __future__ import annotations

import math

import numpy as np

from .evaluator import Evaluator
from .frozen import Frozen

C1 = 1e-4
C2 = 0.9
NOISE = 100 * np.finfo(float).eps
_HZ_DELTA = 0.1
_MAX_BACKTRACKS = 60
_MAX_WOLFE = 40
_OVERSHOOT = 10.0   # f rose 10x the linear decrease: trust the quadratic's small step


class Step:
    """An accepted step length, its point and f there."""

    __slots__ = ("alpha", "x", "f")

    def __init__(self, alpha: float, x: np.ndarray, f: float) -> None:
        self.alpha, self.x, self.f = alpha, x, f


class _Line:
    """phi(a) and phi'(a) along x + a p through the evaluator."""

    def __init__(self, ev: Evaluator, x: np.ndarray, p: np.ndarray) -> None:
        self.ev, self.x, self.p = ev, x, p
        self._slope_at: np.ndarray | None = None   # the trial point of the last phi'
        self._slope = 0.0

    def indistinct(self, width: float) -> bool:
        """Do steps ``width`` apart reach the same float64 point?  (Judged
        in x, not in a: a is 1e-16 when ||p|| is 1e16.)"""
        return abs(width) * float(np.abs(self.p).max()) \
            <= 1e-16 * max(1.0, float(np.abs(self.x).max()))

    def point(self, a: float) -> np.ndarray:
        return self.x + a * self.p

    def phi(self, a: float) -> tuple[np.ndarray, float]:
        xa = self.point(a)
        return xa, self.ev.f(xa)

    def dphi(self, xa: np.ndarray) -> float:
        """phi' at a trial point; asked twice in a row where f is flat to
        rounding (``decreased``, then the curvature test), taken once."""
        if xa is not self._slope_at:
            self._slope_at, self._slope = xa, float(self.ev.grad(xa) @ self.p)
        return self._slope

    def decreased(self, a: float, xa: np.ndarray, fa: float, f0: float,
                  dphi0: float, c1: float) -> bool:
        """Armijo, or approximate Wolfe where f is flat to rounding."""
        if not math.isfinite(fa):
            return False
        if abs(fa - f0) <= NOISE * abs(f0):   # f level to rounding: the slope decides
            return self.dphi(xa) <= (2 * _HZ_DELTA - 1) * dphi0
        return fa <= f0 + c1 * a * dphi0


def _above(fa: float, f_ref: float, f0: float) -> bool:
    """Is fa higher than f_ref?  Not decidable within rounding of f0: then
    the caller's slope decides."""
    return fa - f_ref > NOISE * abs(f0)


def backtracking(ev: Evaluator, x: np.ndarray, f0: float, p: np.ndarray,
                 dphi0: float, alpha: float = 1.0, curvature: float = 0.0,
                 c1: float = C1) -> Step | None:
    """Largest tried a with f(x + a p) <= f0 + c1 (a phi'(0) + a^2 curvature / 2).

    ``curvature`` = p'Hp < 0 along a direction of negative curvature (where
    phi'(0) may be 0), so the test asks for the decrease the quadratic model
    promises (Moré & Sorensen's second-order Armijo condition).
    """
    line = _Line(ev, x, p)
    for _ in range(_MAX_BACKTRACKS):
        xa, fa = line.phi(alpha)
        model = alpha * dphi0 + 0.5 * alpha * alpha * curvature
        if math.isfinite(fa) and fa <= f0 + c1 * model and (model < 0 or fa < f0):
            return Step(alpha, xa, fa)
        if curvature == 0.0 and dphi0 < 0 and line.decreased(alpha, xa, fa, f0, dphi0, c1):
            return Step(alpha, xa, fa)    # a decrease below rounding, seen in the slope
        if math.isfinite(fa) and dphi0 < 0:
            # Minimizer of the quadratic through phi(0), phi'(0), phi(alpha).
            denom = 2.0 * (fa - f0 - dphi0 * alpha)
            trial = -dphi0 * alpha * alpha / denom if denom > 0 else 0.5 * alpha
            alpha = min(max(trial, 0.1 * alpha), 0.5 * alpha)
        else:
            alpha *= 0.1 if not math.isfinite(fa) else 0.5
        if alpha * np.max(np.abs(p)) <= np.finfo(float).tiny:
            break
    return None


def _cubic_min(a0, f0, d0, a1, f1, d1) -> float | None:
    """Minimizer of the cubic through (a0, f0, d0), (a1, f1, d1) (N&W 3.59)."""
    if a0 == a1:
        return None
    e1 = d0 + d1 - 3.0 * (f0 - f1) / (a0 - a1)
    disc = e1 * e1 - d0 * d1
    if not (disc >= 0 and math.isfinite(disc)):
        return None
    e2 = math.copysign(math.sqrt(disc), a1 - a0)
    denom = d1 - d0 + 2.0 * e2
    if denom == 0:
        return None
    a = a1 - (a1 - a0) * (d1 + e2 - e1) / denom
    return a if math.isfinite(a) else None


def strong_wolfe(ev: Evaluator, x: np.ndarray, f0: float, p: np.ndarray,
                 dphi0: float, alpha: float = 1.0, c1: float = C1, c2: float = C2,
                 alpha_max: float = 1e10) -> Step | None:
    """A step satisfying the strong Wolfe conditions
    f(x + a p) <= f0 + c1 a phi'(0) and |phi'(a)| <= c2 |phi'(0)|."""
    line = _Line(ev, x, p)
    prev = (0.0, f0, dphi0)
    for i in range(_MAX_WOLFE):
        xa, fa = line.phi(alpha)
        if not math.isfinite(fa):
            alpha = prev[0] + 0.1 * (alpha - prev[0])
            continue
        if not line.decreased(alpha, xa, fa, f0, dphi0, c1) \
                or (i > 0 and _above(fa, prev[1], f0)):
            return _zoom(line, f0, dphi0, prev, (alpha, fa, None), c1, c2)
        da = line.dphi(xa)
        if abs(da) <= -c2 * dphi0:
            return Step(alpha, xa, fa)
        if da >= 0:
            return _zoom(line, f0, dphi0, (alpha, fa, da), prev, c1, c2)
        reach = _cubic_min(*prev, alpha, fa, da)
        prev = (alpha, fa, da)
        if alpha >= alpha_max:
            break
        grow = 4.0 if reach is None else min(max(reach / alpha, 1.1), 4.0)
        alpha = min(grow * alpha, alpha_max)
    # Still descending steeply after every extrapolation (f may be unbounded
    # below): take the last point, which satisfies sufficient decrease.
    if prev[0] > 0:
        xa, fa = line.phi(prev[0])
        return Step(prev[0], xa, fa)
    return None


def _zoom(line: _Line, f0: float, dphi0: float, lo, hi, c1: float, c2: float) -> Step | None:
    """N&W Alg. 3.6: shrink [lo, hi] (lo the best point so far, satisfying
    sufficient decrease) until a point meets the strong Wolfe conditions."""
    for _ in range(_MAX_WOLFE):
        a_lo, f_lo, d_lo = lo
        a_hi, f_hi, d_hi = hi
        width = a_hi - a_lo
        if line.indistinct(width):
            break
        trial = None
        if d_hi is not None:
            trial = _cubic_min(a_lo, f_lo, d_lo, a_hi, f_hi, d_hi)
        elif math.isfinite(f_hi):
            # Quadratic through f_lo, d_lo and f_hi when phi'(hi) is unknown.
            denom = 2.0 * (f_hi - f_lo - d_lo * width)
            if denom > 0:
                trial = a_lo - d_lo * width * width / denom
        lo_edge, hi_edge = sorted((a_lo + 0.1 * width, a_hi - 0.1 * width))
        if trial is not None and (trial - a_lo) / width < 0.1 and d_hi is None \
                and f_hi - f_lo > _OVERSHOOT * abs(d_lo * width):
            trial = a_lo + 0.1 * width    # close to lo after a wild overshoot
        elif trial is None or not lo_edge <= trial <= hi_edge:
            trial = a_lo + 0.5 * width
        xa, fa = line.phi(trial)
        if not line.decreased(trial, xa, fa, f0, dphi0, c1) or _above(fa, f_lo, f0):
            hi = (trial, fa, None)
            continue
        da = line.dphi(xa)
        if abs(da) <= -c2 * dphi0:
            return Step(trial, xa, fa)
        if da * (a_hi - a_lo) >= 0:
            if fa >= f_lo:   # level with lo to rounding: lo stays, the slope brackets
                hi = (trial, fa, da)
                continue
            hi = lo
        lo = (trial, fa, da)
    # The bracket collapsed: accept the best point if it decreased f at all.
    a_lo, f_lo, _ = lo
    if a_lo > 0 and f_lo < f0:
        xa, fa = line.phi(a_lo)
        return Step(a_lo, xa, fa)
    return None


# -- configurations (what a Method names as its search) -------------------------

class StrongWolfe(Frozen):
    """The strong Wolfe line search above with constants 0 < c1 < c2 < 1."""

    c1: float = C1
    c2: float = C2

    def __post_init__(self) -> None:
        if not 0 < self.c1 < self.c2 < 1:
            raise ValueError("StrongWolfe needs 0 < c1 < c2 < 1")

    def search(self, ev: Evaluator, x: np.ndarray, f0: float, p: np.ndarray,
               dphi0: float, alpha: float) -> Step | None:
        return strong_wolfe(ev, x, f0, p, dphi0, alpha, c1=self.c1, c2=self.c2)


class Backtracking(Frozen):
    """Backtracking Armijo above with constant 0 < c1 < 1."""

    c1: float = C1

    def __post_init__(self) -> None:
        if not 0 < self.c1 < 1:
            raise ValueError("Backtracking needs 0 < c1 < 1")

    def search(self, ev: Evaluator, x: np.ndarray, f0: float, p: np.ndarray,
               dphi0: float, alpha: float) -> Step | None:
        return backtracking(ev, x, f0, p, dphi0, alpha, c1=self.c1)


class FixedStep(Frozen):
    """No search: every step is ``lr`` times the direction (gradient
    descent with a learning rate)."""

    lr: float

    def __post_init__(self) -> None:
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError("lr must be a positive finite number")

    def search(self, ev: Evaluator, x: np.ndarray, f0: float, p: np.ndarray,
               dphi0: float, alpha: float) -> Step:
        x_new = x + self.lr * p
        return Step(self.lr, x_new, ev.f(x_new))
