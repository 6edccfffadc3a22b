"""Trust regions: the step minimizes the model m(p) = f + g'p + p'Hp/2 over
||p|| <= radius, and the radius follows rho = actual / predicted reduction
(N&W Alg. 4.1, eta = 0.15).

Two subproblem solvers:

* ``Steihaug``: truncated CG with Hessian-vector products only (N&W Alg.
  7.2): stop on the forcing test ||r|| <= min(0.5, sqrt(||g||)) ||g||, or
  at the boundary when a CG step leaves the region or meets non-positive
  curvature.  Large n; never forms H.
* ``MoreSorensen``: the nearly exact solution (Moré & Sorensen 1983; N&W
  Alg. 4.3 and Thm. 4.1): p = -(H + lam I)^{-1} g with lam >= 0,
  H + lam I positive semidefinite and lam (radius - ||p||) = 0, found to
  within 10 % of the radius by their Cholesky iteration (``nearly_exact``),
  which hands the hard case to ``more_sorensen``: the exact solution on
  one eigendecomposition H = Q diag(l) Q', where ||p(lam)||^2
  = sum (q_i'g)^2 / (l_i + lam)^2 is explicit, so Newton's method on the
  secular equation 1/||p(lam)|| = 1/radius (N&W eq. 4.44) costs O(n) a step;
  safeguarded by bisection on a bracket; an interior step (H positive
  definite, ||H^{-1} g|| <= radius) is found first, by Cholesky and a
  solve, without the eigendecomposition.  The hard case (g orthogonal to
  the eigenspace of l_1 < 0 and ||p(-l_1)|| < radius) adds the eigenvector:
  p = p(-l_1) + tau z, ||p|| = radius (N&W eq. 4.45).  Dense H: n up to a
  few thousand.

Where f changes by less than its rounding (``NOISE`` |f|), the actual
reduction is taken as -(g(x) + g(x + p))'p / 2 instead, as the line
searches judge such steps by the slope; otherwise rho is noise there and
the radius collapses with ||g|| far above gtol (a logistic fit at f ~ 4e4
stopped at ||g||inf = 2.7e-6).
"""
from __future__ import annotations

import functools
import math
from dataclasses import field

import numpy as np

from .directions import factored_step, newton_step, norm
from .eigen import eigh
from .evaluator import Evaluator
from .frozen import Frozen
from .linesearch import NOISE
from .result import Note, Outcome, Status, finite_curvature, finite_hessian


def _to_boundary(z: np.ndarray, d: np.ndarray, radius: float) -> float:
    """tau >= 0 with ||z + tau d|| = radius (the positive root)."""
    a, b, c = float(d @ d), 2.0 * float(z @ d), float(z @ z) - radius * radius
    disc = np.sqrt(max(b * b - 4.0 * a * c, 0.0))
    # The numerically stable form of (-b + disc) / 2a.
    return (-b + disc) / (2.0 * a) if b <= 0 else (-2.0 * c) / (b + disc)


class Steihaug(Frozen):
    """Steihaug-Toint truncated CG for the trust-region subproblem."""

    def solve(self, ev: Evaluator, x: np.ndarray, g: np.ndarray, radius: float):
        """Approximate minimizer p of the model in the ball, with Hp (built
        alongside, so the model value costs no extra product), notes and
        the number of CG iterations."""
        gnorm = norm(g)
        tol = min(0.5, math.sqrt(gnorm)) * gnorm
        z, hz = np.zeros_like(g), np.zeros_like(g)
        r = g.copy()
        d = -r
        rr = gnorm * gnorm
        for j in range(20 * g.size):
            hd = ev.hvp(x, d)
            curv = finite_curvature(float(d @ hd), hd)
            if curv <= 0:
                tau = _to_boundary(z, d, radius)
                return z + tau * d, hz + tau * hd, Note.NEG_CURV | Note.BOUNDARY, j + 1
            alpha = rr / curv
            z_next = z + alpha * d
            if norm(z_next) >= radius:
                tau = _to_boundary(z, d, radius)
                return z + tau * d, hz + tau * hd, Note.BOUNDARY, j + 1
            z, hz = z_next, hz + alpha * hd
            r = r + alpha * hd
            rr_new = float(r @ r)
            if math.sqrt(rr_new) <= tol:
                return z, hz, Note.NONE, j + 1
            d = -r + (rr_new / rr) * d
            rr = rr_new
        return z, hz, Note.NONE, 20 * g.size


_SECULAR_RTOL = 1e-10     # ||p|| within this of the radius is on the boundary
_SECULAR_STEPS = 100
_LARGE = 2.0 ** 256       # past this, squares and sums of squares near overflow


def _scale_invariant(solve):
    """The subproblem times c > 0 has the same minimizer p, and lam times c.
    Where H or g has an entry past ``_LARGE`` (a run falling without bound:
    entries of 9e281 beside ones), the solver gets them times c = 2^-e, its
    largest entry brought below 1 (exactly, but for entries some 1e-308
    times smaller than it, which vanish), and lam is scaled back:
    unscaled, g'g overflowed to inf and numpy's eigensolver did not
    converge.  Below, nothing is scaled (the answer to the bit)."""
    @functools.wraps(solve)
    def scaled(h: np.ndarray, g: np.ndarray, radius: float):
        top = max(float(h.max()), -float(h.min()), float(np.abs(g).max()))  # (no n x n |h|)
        if not top > _LARGE:
            return solve(h, g, radius)
        exponent = int(np.frexp(top)[1])
        p, lam, notes = solve(np.ldexp(h, -exponent), np.ldexp(g, -exponent), radius)
        try:
            return p, math.ldexp(lam, exponent), notes
        except OverflowError:     # a multiplier past float64's range; p is the step
            return p, math.inf, notes
    return scaled


@_scale_invariant
def more_sorensen(h: np.ndarray, g: np.ndarray, radius: float) -> tuple[np.ndarray, float, Note]:
    """The minimizer p of g'p + p'hp/2 over ||p|| <= radius, its
    multiplier lam, and notes (module docstring).  An interior Newton step
    (H positive definite, ||H^{-1} g|| <= radius: lam = 0) needs no
    eigendecomposition, only a Cholesky test and a solve."""
    p = newton_step(h, g)
    if p is not None and np.linalg.norm(p) <= radius:
        return p, 0.0, Note.NONE
    l, q = eigh(h)
    a = q.T @ g
    l1 = float(l[0])
    notes = Note.NEG_CURV if l1 < 0 else Note.NONE

    def norm_p(lam: float) -> float:
        return float(np.linalg.norm(a / (l + lam)))

    if l1 > 0 and norm_p(0.0) <= radius:    # Cholesky failed on a barely definite H
        return q @ (-a / l), 0.0, notes
    lo = max(0.0, -l1)
    hi = lo + float(np.linalg.norm(g)) / radius    # ||p(hi)|| <= ||g|| / (l1 + hi) <= radius
    scale = max(float(np.max(np.abs(l))), float(np.linalg.norm(g)) / radius, 1e-300)
    # The hard case: g has (almost) no component along the eigenvectors of
    # l1, so ||p(lam)|| stays below the radius as lam falls to -l1.
    lowest = np.abs(l - l1) <= 1e-12 * scale
    rest = ~lowest
    in_lowest = float(np.linalg.norm(a[lowest]))
    if l1 <= 0 and in_lowest <= 1e-12 * float(np.linalg.norm(g)) + 1e-300:
        p_rest = np.zeros_like(a)
        p_rest[rest] = -a[rest] / (l[rest] + lo)
        short = float(np.linalg.norm(p_rest))
        if short <= radius:
            tau = math.sqrt(max(radius * radius - short * short, 0.0))
            p_rest[np.argmax(lowest)] += tau     # + tau z, z the first eigenvector of l1
            return q @ p_rest, lo, notes | Note.BOUNDARY
    lam = hi
    for _ in range(_SECULAR_STEPS):
        w = a / (l + lam)
        pn = float(np.linalg.norm(w))
        if abs(pn - radius) <= _SECULAR_RTOL * radius:
            break
        if pn > radius:
            lo = lam
        else:
            hi = lam
        # Newton on 1/||p|| - 1/radius: lam += (||p|| / ||q||)^2 (||p|| - radius) / radius
        qq = float(np.sum(w * w / (l + lam)))
        step = (pn / radius - 1.0) * pn * pn / qq if qq > 0 else math.inf
        lam = lam + step if lo < lam + step < hi else 0.5 * (lo + hi)
    return q @ (-a / (l + lam)), lam, notes | Note.BOUNDARY


_NEARLY = 0.1          # a boundary step within 10 % of the radius will do
_NEARLY_STEPS = 30


@_scale_invariant
def nearly_exact(h: np.ndarray, g: np.ndarray, radius: float) -> tuple[np.ndarray, float, Note]:
    """Moré & Sorensen's iteration (1983, §3; N&W Alg. 4.3): lam is found
    by Newton's method on 1/||p(lam)|| = 1/radius with one Cholesky
    factorization of H + lam I per step, safeguarded in a bracket
    [lo, hi] (their eq. 3.4: lo >= -min H_ii and ||g||/radius - ||H||_1,
    hi = ||g||/radius + ||H||_1), and stopped once |‖p‖ - radius| <= 0.1
    radius, as they (and scipy) do: p then solves the subproblem exactly
    for the radius ||p|| (drawn back to the radius when just past it).
    An interior Newton step is returned as it is;
    the hard case, or a bracket that will not close, goes to the exact
    solution on the eigendecomposition (``more_sorensen``).  Cholesky
    iterations cost a factorization and two solves where ``eigh`` costs
    ~15 factorizations, so a boundary step takes 2-3 of them."""
    found = factored_step(h, g)        # lam = 0: interior if H > 0 and ||p|| <= radius
    if found is not None and norm(found[1]) <= radius:
        return found[1], 0.0, Note.NONE
    notes = Note.NONE if found is not None else Note.NEG_CURV
    gnorm = norm(g)
    hnorm = float(np.abs(h).sum(axis=0).max())
    lo = max(0.0, -float(h.diagonal().min()), gnorm / radius - hnorm)
    hi = gnorm / radius + hnorm
    lam = 0.0 if found is not None else max(lo, 1e-12 * hi)
    for _ in range(_NEARLY_STEPS):
        if found is None:
            found = factored_step(h, g, lam)
        if found is None:                    # lam below -lambda_1
            lo = lam
            lam = max(math.sqrt(lo * hi), lo + 0.01 * (hi - lo))
            continue
        (factor, p), found = found, None
        pn = norm(p)
        if lam > 0 and abs(pn - radius) <= _NEARLY * radius:
            # (a step just past the radius is drawn back to it: the radius
            # is the user's promise of where the model holds)
            return p * min(1.0, radius / pn), lam, notes | Note.BOUNDARY
        if pn < radius:
            hi = lam
        else:
            lo = lam
        w = factor.solve_lower(p)             # ||w||^2 = p'(H + lam I)^-1 p
        ww = float(w @ w)
        if not 0 < ww < math.inf:             # (underflowed: the exact solution decides)
            break
        step = (pn * pn / ww) * (pn - radius) / radius
        lam = lam + step if lo < lam + step < hi else max(math.sqrt(lo * hi),
                                                          lo + 0.01 * (hi - lo))
        if hi - lo <= 1e-12 * max(hi, 1e-300):
            break
    return more_sorensen(h, g, radius)


class MoreSorensen(Frozen):
    """The nearly exact trust-region step on the dense Hessian."""

    def solve(self, ev: Evaluator, x: np.ndarray, g: np.ndarray, radius: float):
        h = finite_hessian(ev.hessian(x))
        p, _, notes = nearly_exact(h, g, radius)
        return p, h @ p, notes, 0


class TrustRegion(Frozen):
    """A trust region around the model of a second-order direction:
    ``subproblem`` (``Steihaug()`` or ``MoreSorensen()``), the first
    ``radius``, its cap ``max_radius``, and the acceptance ratio ``eta``."""

    subproblem: Steihaug | MoreSorensen = field(default_factory=Steihaug)
    radius: float = 1.0
    max_radius: float = 1000.0
    eta: float = 0.15

    def __post_init__(self) -> None:
        if not isinstance(self.subproblem, (Steihaug, MoreSorensen)):
            raise TypeError("TrustRegion's subproblem is Steihaug() or MoreSorensen()")
        if not 0 < self.radius <= self.max_radius < math.inf:
            raise ValueError("TrustRegion needs 0 < radius <= max_radius (finite)")
        if not 0 <= self.eta < 0.25:
            raise ValueError("TrustRegion needs 0 <= eta < 1/4")


class TrustRegionRun:
    """One run's trust region: the radius is its state."""

    second_order = True
    failure = Status.TRUST_REGION_COLLAPSED
    failure_text = "the trust region collapsed (radius below eps·max(1, ‖x‖))"

    def __init__(self, config: TrustRegion) -> None:
        self.config = config
        self.radius = config.radius
        self.shrunk = True      # the radius is new: is it below the floor?

    def step(self, ev: Evaluator, k: int, x: np.ndarray, f: float,
             g: np.ndarray) -> Outcome:
        radius = self.radius
        if self.shrunk:
            self.shrunk = False
            if _collapsed(radius, x):
                # shrunk there by steps accepted with rho < 1/4 (at a kink):
                # as collapsed as after a rejection, and below this the
                # model's squares underflow (trust-exact on sum(abs(x))
                # reached 1e-161)
                return Outcome(None, f, radius, math.inf)
        p, hp, notes, cg = self.config.subproblem.solve(ev, x, g, radius)
        predicted = -(float(g @ p) + 0.5 * float(p @ hp))
        x_new = x + p
        f_new = ev.f(x_new)
        if not predicted > 0:
            return Outcome(None, f, radius, predicted, notes, cg)
        actual = f - f_new
        if math.isfinite(f_new) and abs(actual) <= NOISE * abs(f):
            # A change at rounding level says nothing: the trapezoid rule
            # on the gradients measures it (exact for a quadratic).
            actual = -0.5 * float((g + ev.grad(x_new)) @ p)
        rho = actual / predicted if math.isfinite(f_new) else -math.inf
        if rho < 0.25:
            # N&W Alg. 4.1 as written (and scipy): a quarter of the radius.
            # A quarter of ||p|| instead, for an interior step, cost 10-75 %
            # more iterations (trust-exact on @rosenbrock n = 100: 360
            # against 207; trust-ncg 510 against 463).
            self.radius = 0.25 * radius
            self.shrunk = True
        elif rho > 0.75 and Note.BOUNDARY in notes:
            self.radius = min(2.0 * radius, self.config.max_radius)
        if rho > self.config.eta:
            return Outcome(x_new, f_new, radius, predicted, notes, cg)
        if _collapsed(self.radius, x):
            return Outcome(None, f, radius, predicted, notes, cg)
        self.shrunk = False     # just checked, at the x the next step starts from
        return Outcome(x, f, radius, predicted, notes | Note.REJECTED, cg, accepted=False)

    def accepted(self, s: np.ndarray, y: np.ndarray) -> Note:
        return Note.NONE

    def restart(self) -> bool:
        return False      # the model is the Hessian's: nothing learned to drop


def _collapsed(radius: float, x: np.ndarray) -> bool:
    """A radius below eps max(1, ||x||) allows no step that changes x."""
    return radius <= np.finfo(float).eps * max(1.0, norm(x))
