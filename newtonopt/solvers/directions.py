"""Search directions: each says where to go from x; a search (a line search
or a trust region, ``method.py``) says how far.

A direction is a frozen dataclass: configuration only, so one object can
serve any number of runs, one after another or at once.  What a run learns
(the BFGS matrix, the L-BFGS pairs, the last CG direction) lives in the
state ``start(n)`` returns, which the run passes back to every call:

    compute(state, ev, x, f, g) -> (p, Note, cg_iters)
    update(state, s, y) -> Note          after each accepted step
    initial_step(state, g, p, decrease)  the line search's first trial,
                                         decrease = f_{k-1} - f_k (None at k = 0)
"""
from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from .cholesky import Cholesky, cholesky
from .eigen import eigh
from .evaluator import Evaluator
from .frozen import Frozen
from .result import Note, finite_curvature, finite_hessian

EPS = np.finfo(float).eps
_SKIP = np.sqrt(EPS)        # BFGS/L-BFGS skip rule:  y's <= _SKIP ||y|| ||s||
_FLAT = 1e-12               # CG: curvature below _FLAT * (largest seen) is none


class Direction(Frozen):
    """Where a step goes: ``compute`` gives p at x from a run state that
    ``start`` makes and ``update`` teaches with each accepted (s, y)."""

    second_order: ClassVar[bool] = False   # needs Hessians or Hessian-vector products
    dense: ClassVar[bool] = False          # forms the n x n Hessian
    # carries a model learned from earlier steps (a quasi-Newton matrix, CG's
    # last direction), which a restart drops (globalization.LineSearchRun)
    remembers: ClassVar[bool] = False

    def start(self, n: int) -> Any:
        """A fresh run state (None for a direction that remembers nothing)."""
        return None

    def compute(self, state: Any, ev: Evaluator, x: np.ndarray, f: float,
                g: np.ndarray) -> tuple[np.ndarray, Note, int]:
        raise NotImplementedError

    def update(self, state: Any, s: np.ndarray, y: np.ndarray) -> Note:
        return Note.NONE

    def initial_step(self, state: Any, g: np.ndarray, p: np.ndarray,
                     decrease: float | None) -> float:
        return 1.0


def norm(v: np.ndarray) -> float:
    """||v||_2 as ``np.linalg.norm`` takes it (the square root of v'v, to
    the bit) without its ~1 us of argument handling."""
    return math.sqrt(float(v @ v))


def _curvature(s: np.ndarray, y: np.ndarray) -> float | None:
    """s'y for a quasi-Newton update, or None where the pair is to be skipped:
    s'y <= sqrt(eps) ||s|| ||y|| (N&W §6.1: the update needs s'y > 0), or
    y'y is 0.  H0 = (s'y / y'y) I divides by y'y, and a y of 1e-170 (an
    unbounded f whose gradient fades as x runs off) squares to 0 while s'y
    with a long s does not: L-BFGS divided by zero."""
    sy, yy = float(s @ y), float(y @ y)
    return sy if yy > 0 and sy > _SKIP * norm(s) * math.sqrt(yy) else None


class _LastStep:
    """What N&W §3.5's slope-ratio first trial step needs: g_{k-1}'s_{k-1}.  (Run
    states are plain classes: a dataclass costs start-up time to create.)"""

    __slots__ = ("g", "gs")

    def __init__(self) -> None:
        self.g: np.ndarray | None = None
        self.gs: float | None = None


def _rescaled_step(state: _LastStep, g: np.ndarray, p: np.ndarray) -> float:
    """N&W §3.5 (the rule before eq. 3.60):
    a0 = a_{k-1} g_{k-1}'p_{k-1} / g_k'p_k = g_{k-1}'s_{k-1} / g_k'p_k, so each
    line search starts where the last one ended, rescaled by the change in
    slope; 1/||g||inf at the first iteration."""
    if state.gs is None:
        return 1.0 / max(float(np.max(np.abs(g))), 1.0)
    return state.gs / float(g @ p)


def _remember_step(state: _LastStep, s: np.ndarray) -> None:
    state.gs = float(state.g @ s)


def _interpolated_step(g: np.ndarray, p: np.ndarray, decrease: float | None) -> float:
    """A unit-length step at first, then the step that would repeat the
    last decrease on a quadratic (N&W eq. 3.60, with their cap
    min(1, 1.01 a0)): a0 = min(1, 1.01 * 2 (f_{k-1} - f_k) / -g'p), as
    scipy's BFGS and CG."""
    if decrease is None:
        return min(1.0, 1.0 / np.linalg.norm(g))
    return min(1.0, 2.02 * decrease / -float(g @ p))


class SteepestDescent(Direction):
    """p = -g; the first trial step is N&W §3.5's slope ratio."""

    def start(self, n):
        return _LastStep()

    def compute(self, state, ev, x, f, g):
        state.g = g
        return -g, Note.NONE, 0

    def initial_step(self, state, g, p, decrease):
        return _rescaled_step(state, g, p)

    def update(self, state, s, y):
        _remember_step(state, s)
        return Note.NONE


class Newton(Direction):
    """Newton's step H p = -g with the exact Hessian (double backprop).

    When Cholesky fails (H not positive definite), H is modified through its
    eigendecomposition, |lambda_i| floored at delta = sqrt(eps) max|lambda|
    (N&W §3.4, eq. 3.41 with the absolute-value choice), so the step
    descends and keeps the scale of the true Newton step.  Where H = 0 the
    model is linear and there is no scale to keep: the step is -g.
    """

    second_order: ClassVar[bool] = True
    dense: ClassVar[bool] = True

    def compute(self, state, ev, x, f, g):
        h = finite_hessian(ev.hessian(x))
        p = newton_step(h, g)
        if p is not None:
            return p, Note.NONE, 0
        lam, q = eigh(h)
        top = float(np.max(np.abs(lam)))
        if not top > 0:     # dividing by a floor of 1e-300 sent x to inf (sum(x))
            return -g, Note.H_MODIFIED, 0
        p = -q @ ((q.T @ g) / np.maximum(np.abs(lam), np.sqrt(EPS) * top))
        return p, Note.H_MODIFIED, 0


def factored_step(h: np.ndarray, g: np.ndarray,
                  shift: float = 0.0) -> tuple[Cholesky, np.ndarray] | None:
    """(the Cholesky factorization of H = h + shift I, -H^{-1} g) when H is
    positive definite, else None."""
    factor = cholesky(h, shift)
    return None if factor is None else (factor, -factor.solve(g))


def newton_step(h: np.ndarray, g: np.ndarray) -> np.ndarray | None:
    """-H^{-1} g when H is positive definite, else None."""
    found = factored_step(h, g)
    return None if found is None else found[1]


class _Matrix:
    __slots__ = ("h",)

    def __init__(self) -> None:
        self.h: np.ndarray | None = None


class BFGS(Direction):
    """Inverse BFGS update (N&W eq. 6.17):
    H+ = (I - rho s y') H (I - rho y s') + rho s s',  rho = 1 / y's,
    skipped when y's <= sqrt(eps) ||y|| ||s|| (noted ``H-skip``).

    H0 = I, as scipy.  With ``scale_h0`` it is replaced by (y's / y'y) I
    just before the first update (N&W eq. 6.20).  Measured on our problems:
    6.20 costs @quadratic (cond 1e4) 75 iterations against 11, @rosenbrock
    38 against 32, and saves only on @wood (38 against 86), because it
    sizes H0 to the stiffest curvature the first step sees.
    """

    scale_h0: bool = False
    dense: ClassVar[bool] = True
    remembers: ClassVar[bool] = True

    def start(self, n):
        return _Matrix()

    def compute(self, state, ev, x, f, g):
        return (-g if state.h is None else -(state.h @ g)), Note.NONE, 0

    def initial_step(self, state, g, p, decrease):
        return _interpolated_step(g, p, decrease)

    def update(self, state, s, y):
        sy = _curvature(s, y)
        if sy is None:
            return Note.H_SKIP
        if state.h is None:
            state.h = np.eye(s.size) * (sy / float(y @ y) if self.scale_h0 else 1.0)
        rho = 1.0 / sy
        hy = state.h @ y
        state.h += (rho * rho * float(y @ hy) + rho) * np.outer(s, s) \
            - rho * (np.outer(hy, s) + np.outer(s, hy))
        return Note.NONE


class _Pairs:
    """The last m pairs (s, y) as the rows of S and Y (a ring whose
    ``slots`` list them oldest first; slots fill from 0, so the rows in use
    are the first k), with what the compact representation needs:
    Y'Y, D = diag(s_i'y_i) and R^{-1}, R the upper triangle of S'Y
    (R_ij = s_i'y_j for i older than or equal to j), all indexed by slot.

    R^{-1} is kept, not solved with: dropping the oldest pair leaves the
    trailing block of R, whose inverse is the trailing block of R^{-1};
    adding a pair borders R with r = S'y_new and rho = s_new'y_new, and
    [[R, r], [0, rho]]^{-1} = [[R^{-1}, -R^{-1} r / rho], [0, 1 / rho]].
    Each column is computed once, from columns at most m pairs old, so
    rounding does not accumulate past the memory.  (Against the two-loop
    recursion in extended precision, over 300 pair sequences with
    curvatures up to 1e12 and nearly parallel steps: at worst 7e-15
    relative, where the recursion itself in float64 gave 4e-15.)"""

    __slots__ = ("m", "s", "y", "yy", "d", "rinv", "slots", "h0")

    def __init__(self, m: int, n: int) -> None:
        self.m = m
        # S and Y are allocated at the first pair (at n = 10^6 they are 80 MB
        # each: not while a trace runs), two blocks rather than one 2m x n
        # (which the trace's freed memory could not hold: peak 469 MB at
        # n = 10^6, against 396)
        self.s = self.y = np.empty((0, n))
        self.yy = np.zeros((m, m))
        self.d = np.zeros(m)
        self.rinv = np.zeros((m, m))
        self.slots: list[int] = []
        self.h0 = 1.0            # H0 = (s'y / y'y) I of the newest pair (N&W eq. 7.20)

    def __len__(self) -> int:
        return len(self.slots)

    def add(self, s: np.ndarray, y: np.ndarray) -> None:
        m = self.m
        if not self.s.size:
            self.s, self.y = np.empty((m, s.size)), np.empty((m, s.size))
        slot = self.slots.pop(0) if len(self.slots) == m else len(self.slots)
        self.slots.append(slot)
        k = len(self.slots)
        self.s[slot], self.y[slot] = s, y
        r = self.s[:k] @ y                    # s_i'y_new; at the slot, s_new'y_new
        rho = float(r[slot])
        r[slot] = 0.0
        yy = self.y[:k] @ y
        self.yy[slot, :k] = self.yy[:k, slot] = yy
        self.d[slot] = rho
        rinv = self.rinv
        rinv[slot] = 0.0                      # the newest pair's row: the diagonal only
        rinv[:k, slot] = rinv[:k, :k] @ r * (-1.0 / rho)
        rinv[slot, slot] = 1.0 / rho
        self.h0 = rho / float(yy[slot])


class LBFGS(Direction):
    """Limited-memory BFGS over the last ``memory`` pairs (s, y), with
    H0 = gamma I, gamma = s'y / y'y of the newest pair (N&W eq. 7.20), in the
    compact representation of Byrd, Nocedal & Schnabel (1994, Thm 2.2):

        H = gamma I + [S  gamma Y] [[R^-T (D + gamma Y'Y) R^-1, -R^-T], [-R^-1, 0]] [S'; gamma Y']

    with S, Y the pairs as columns, D = diag(s_i'y_i), R the upper triangle
    of S'Y.  The same matrix as the two-loop recursion (N&W Alg. 7.4), taken
    with ~15 numpy calls a direction and no loop over the pairs:

        u = S'g,  w = Y'g,  t = R^-1 u,  z = D t + gamma (Y'Y t - w)
        -H g = -gamma g - S R^-T z + gamma Y t."""

    memory: int = 10
    remembers: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if isinstance(self.memory, bool) or not isinstance(self.memory, int) \
                or self.memory < 1:
            raise ValueError("LBFGS memory must be a whole number of at least 1")

    def start(self, n):
        return _Pairs(self.memory, n)

    def compute(self, pairs, ev, x, f, g):
        k = len(pairs.slots)
        if not k:
            return -g, Note.NONE, 0
        rows_s, rows_y, rinv, h0 = pairs.s[:k], pairs.y[:k], pairs.rinv[:k, :k], pairs.h0
        t = rinv @ (rows_s @ g)
        z = pairs.d[:k] * t + h0 * (pairs.yy[:k, :k] @ t - rows_y @ g)
        p = (h0 * t) @ rows_y
        p -= (z @ rinv) @ rows_s
        p -= h0 * g
        return p, Note.NONE, 0

    def initial_step(self, pairs, g, p, decrease):
        return min(1.0, 1.0 / np.linalg.norm(g)) if not pairs else 1.0

    def update(self, pairs, s, y):
        if _curvature(s, y) is None:
            return Note.H_SKIP
        pairs.add(s, y)
        return Note.NONE


class NewtonCG(Direction):
    """Line-search truncated Newton (N&W Alg. 7.1): CG on H p = -g with
    Hessian-vector products only, stopped when ||r||_1 <= eta ||g||_1,
    eta = min(0.5, sqrt(||g||_1)) (superlinear forcing, N&W eq. 7.3).

    The 1-norm is scipy's choice; measured on @rosenbrock n = 100 it takes
    242 iterations where the 2-norm takes 370 (scipy: 229).

    Negative or negligible curvature d'Hd <= 1e-12 ||d||^2 kappa_max
    (kappa_max the largest |d'Hd| / ||d||^2 seen: invariant to scaling f or
    x) ends CG.  At negative curvature the step also moves along d:

        p = z + tau d,   tau = ||r||^2 / |d'Hd|,

    where r = Hz + g is the CG residual.  By conjugacy g'd = r'd = -||r||^2,
    so p descends; tau is where the model's linear decrease along d and its
    curvature balance (at the first CG step, z = 0 and d = -g, this is -g
    scaled by g'g / |g'Hg|).  Stopping at z alone, as scipy does, ignores the
    direction that leaves the saddle region: on the extended Wood function
    at n = 10^4 it took 7,500 iterations (scipy 1,240); with the move along
    d, 93.  Negligible positive curvature ends CG at z."""

    second_order: ClassVar[bool] = True

    def compute(self, state, ev, x, f, g):
        g1 = float(np.abs(g).sum())
        tol = min(0.5, np.sqrt(g1)) * g1
        z = np.zeros_like(g)
        r = g.copy()
        d = -r
        rr = float(g @ g)
        kappa_max = 0.0
        for j in range(20 * g.size):
            hd = ev.hvp(x, d)
            curv = finite_curvature(float(d @ hd), hd)
            dd = float(d @ d)
            kappa_max = max(kappa_max, abs(curv) / dd)
            if curv <= _FLAT * dd * kappa_max:
                if curv < 0 or j == 0:
                    tau = rr / abs(curv) if curv != 0 else 1.0
                    return z + tau * d, Note.NEG_CURV, j + 1
                return z, Note.NEG_CURV, j + 1
            alpha = rr / curv
            z += alpha * d
            r += alpha * hd
            if np.abs(r).sum() <= tol:
                return z, Note.NONE, j + 1
            rr_new = float(r @ r)
            d *= rr_new / rr       # d = -r + beta d, in place (the same bits)
            d -= r
            rr = rr_new
        return z, Note.NONE, 20 * g.size


class _CGState:
    __slots__ = ("g", "d", "since_restart")

    def __init__(self) -> None:
        self.g: np.ndarray | None = None
        self.d: np.ndarray | None = None
        self.since_restart = 0


class ConjugateGradient(Direction):
    """Nonlinear conjugate gradient with Hager and Zhang's beta (CG_DESCENT;
    SIAM J. Optim. 16 (2005), eqs. 1.4 and 1.5-1.6):

        y = g+ - g,   beta_N = (y - 2 d |y|^2 / d'y)' g+ / d'y,
        beta = max(beta_N, eta_k),  eta_k = -1 / (|d| min(eta, |g|)),
        d+ = -g+ + beta d,

    with eta = 0.01.  The lower bound eta_k keeps every d+ a descent
    direction (their Theorem 1.1) without Polak-Ribière's restarts at
    beta < 0.  Restarted with -g every ``restart`` x n iterations (CG_DESCENT's
    restart_fac = 6), and whenever d'y <= 0 (no curvature information).
    The first trial step repeats the last decrease, as BFGS's (a CG
    direction's length carries no scale, so N&W §3.5's slope ratio, tried
    first, swung by 10^3 between iterations and cost 1.5-3x scipy's CG in
    f evaluations).
    """

    eta: float = 0.01
    restart: float = 6.0
    remembers: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if not (self.eta > 0 and self.restart > 0):
            raise ValueError("ConjugateGradient needs eta > 0 and restart > 0")

    def start(self, n):
        return _CGState()

    def compute(self, state, ev, x, f, g):
        d, notes = -g, Note.NONE
        if state.d is not None:
            y = g - state.g
            dy = float(state.d @ y)
            if dy <= 0 or state.since_restart + 1 >= self.restart * g.size:
                notes, state.since_restart = Note.RESET, 0
            else:
                beta_n = float((y - (2.0 * float(y @ y) / dy) * state.d) @ g) / dy
                floor = -1.0 / (float(np.linalg.norm(state.d))
                                * min(self.eta, float(np.linalg.norm(state.g))))
                d = -g + max(beta_n, floor) * state.d
                state.since_restart += 1
        state.g, state.d = g, d
        return d, notes, 0

    def initial_step(self, state, g, p, decrease):
        return _interpolated_step(g, p, decrease)
