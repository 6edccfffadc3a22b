"""Trust-region Newton with the Steihaug-Toint truncated CG (trust-ncg).

Model m(p) = f + g'p + p'Hp/2 over ||p|| <= radius, solved approximately by
CG with Hessian-vector products only (N&W Alg. 7.2): stop on the forcing
test ||r|| <= min(0.5, sqrt(||g||)) ||g||, or at the boundary when a CG
step leaves the region or meets non-positive curvature.  The radius follows
the ratio rho = actual / predicted reduction (N&W Alg. 4.1, eta = 0.15).
Where f changes by less than its rounding (``NOISE`` |f|), the actual
reduction is taken as -(g(x) + g(x + p))'p / 2 instead, as the line
searches judge such steps by the slope; otherwise rho is noise there and
the radius collapses with ||g|| far above gtol (a logistic fit at f ~ 4e4
stopped at ||g||inf = 2.7e-6).
"""
from __future__ import annotations

import numpy as np

from .evaluator import Evaluator
from .globalization import Outcome
from .linesearch import NOISE
from .result import Note, Status


def _to_boundary(z: np.ndarray, d: np.ndarray, radius: float) -> float:
    """tau >= 0 with ||z + tau d|| = radius (the positive root)."""
    a, b, c = float(d @ d), 2.0 * float(z @ d), float(z @ z) - radius * radius
    disc = np.sqrt(max(b * b - 4.0 * a * c, 0.0))
    # The numerically stable form of (-b + disc) / 2a.
    return (-b + disc) / (2.0 * a) if b <= 0 else (-2.0 * c) / (b + disc)


def steihaug(ev: Evaluator, x: np.ndarray, g: np.ndarray, radius: float):
    """Approximate minimizer p of the model in the ball, with Hp (built
    alongside, so the model value costs no extra product), notes and the
    number of CG iterations."""
    gnorm = float(np.linalg.norm(g))
    tol = min(0.5, np.sqrt(gnorm)) * gnorm
    z, hz = np.zeros_like(g), np.zeros_like(g)
    r = g.copy()
    d = -r
    rr = gnorm * gnorm
    for j in range(20 * g.size):
        hd = ev.hvp(x, d)
        curv = float(d @ hd)
        if curv <= 0:
            tau = _to_boundary(z, d, radius)
            return z + tau * d, hz + tau * hd, Note.NEG_CURV | Note.BOUNDARY, j + 1
        alpha = rr / curv
        z_next = z + alpha * d
        if np.linalg.norm(z_next) >= radius:
            tau = _to_boundary(z, d, radius)
            return z + tau * d, hz + tau * hd, Note.BOUNDARY, j + 1
        z, hz = z_next, hz + alpha * hd
        r = r + alpha * hd
        rr_new = float(r @ r)
        if np.sqrt(rr_new) <= tol:
            return z, hz, Note.NONE, j + 1
        d = -r + (rr_new / rr) * d
        rr = rr_new
    return z, hz, Note.NONE, 20 * g.size


class TrustRegion:
    """Steihaug-CG steps with the radius updated from rho."""

    second_order = True
    failure = Status.TRUST_REGION_COLLAPSED
    failure_text = "the trust region collapsed (radius below eps·max(1, ‖x‖))"

    def __init__(self, radius: float = 1.0, max_radius: float = 1000.0,
                 eta: float = 0.15) -> None:
        if not 0 < radius <= max_radius:
            raise ValueError("need 0 < radius <= max_radius")
        self.radius = radius
        self.max_radius = max_radius
        self.eta = eta

    def step(self, ev: Evaluator, k: int, x: np.ndarray, f: float,
             g: np.ndarray) -> Outcome:
        radius = self.radius
        p, hp, notes, cg = steihaug(ev, x, g, radius)
        predicted = -(float(g @ p) + 0.5 * float(p @ hp))
        x_new = x + p
        f_new = ev.f(x_new)
        if not predicted > 0:
            return Outcome(None, f, radius, predicted, notes, cg)
        actual = f - f_new
        if np.isfinite(f_new) and abs(actual) <= NOISE * abs(f):
            # A change at rounding level says nothing; measure it by the
            # trapezoid rule on the gradients, exact for a quadratic.
            actual = -0.5 * float((g + ev.grad(x_new)) @ p)
        rho = actual / predicted if np.isfinite(f_new) else -np.inf
        if rho < 0.25:
            self.radius = 0.25 * float(np.linalg.norm(p))
        elif rho > 0.75 and Note.BOUNDARY in notes:
            self.radius = min(2.0 * radius, self.max_radius)
        if rho > self.eta:
            return Outcome(x_new, f_new, radius, predicted, notes, cg)
        if self.radius <= np.finfo(float).eps * max(1.0, float(np.linalg.norm(x))):
            return Outcome(None, f, radius, predicted, notes, cg)
        return Outcome(x, f, radius, predicted, notes | Note.REJECTED, cg, accepted=False)

    def accepted(self, s: np.ndarray, y: np.ndarray) -> Note:
        return Note.NONE
