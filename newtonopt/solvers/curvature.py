"""Is a stationary point a minimum?  The extreme Hessian eigenvalues decide.

Dense ``eigvalsh`` (``eigh`` when the eigenvector is wanted) of the
Hessian for n <= ``DENSE_LIMIT``; above, the Lanczos iteration on
Hessian-vector products (Golub & Van Loan, Alg. 10.1.1; Saad,
"Numerical Methods for Large Eigenvalue Problems", §6.6).  Lanczos keeps
three vectors, not the Krylov basis, so n = 10^6 stays within a few arrays.
Without reorthogonalization Ritz values can repeat ("ghosts") but the
extreme ones converge first, and those are all a verdict needs.

It stops as soon as the sign of lambda_min is decided (``_decided``).  Ritz
values lie inside the spectrum, theta_1 >= lambda_min and theta_k <=
lambda_max, so theta_1 < 0 < theta_k proves a saddle at once.  That
lambda_min > 0 cannot be proved from a Krylov space; the search stops when
theta_1 has settled (its residual bound within 1 % of it, Saad Thm 6.3)
after at least ``_MIN_STEPS`` steps.  A random start is what makes this a
test: started from the gradient instead (the last CG solve's Krylov space,
free of cost) it would call the saddle of x^2 - y^2 + y^4 that newton-cg
reaches from (0.5, 1e-9) a minimum, because g has no component along y
there.  The Ritz vector, wanted only to leave a saddle, comes from a second
identical pass.
"""
from __future__ import annotations

import itertools
from typing import Callable

import numpy as np

from .eigen import eigh

DENSE_LIMIT = 100   # above, Lanczos is cheaper (n = 1000: 2.6 ms against 222 ms dense)
LANCZOS_STEPS = 40
_TOL = 1e-8  # |lambda| below _TOL * max(1, |lambda|max) is "zero": not certified


class Curvature:
    """The extreme Hessian eigenvalues found, the unit eigenvector of the
    smallest (when computed), the method ("dense" or "lanczos"), and why the
    verdict is "not certified" when that is known."""

    __slots__ = ("min_eigenvalue", "max_eigenvalue", "vector", "method", "reason")

    def __init__(self, min_eigenvalue: float, max_eigenvalue: float,
                 vector: np.ndarray | None, method: str, reason: str | None = None) -> None:
        self.min_eigenvalue, self.max_eigenvalue = min_eigenvalue, max_eigenvalue
        self.vector, self.method, self.reason = vector, method, reason

    @property
    def verdict(self) -> str:
        scale = _zero(self.min_eigenvalue, self.max_eigenvalue)
        if self.min_eigenvalue > scale:
            return "minimum"
        if self.min_eigenvalue < -scale:
            return "maximum" if self.max_eigenvalue < -scale else "saddle"
        return "not certified"

    def negated(self) -> "Curvature":
        """The curvature of -f (used to report a maximization)."""
        return Curvature(-self.max_eigenvalue, -self.min_eigenvalue, None, self.method,
                         self.reason)


def _recurrence(matvec: Callable[[np.ndarray], np.ndarray], n: int, seed: int):
    """The Lanczos three-term recurrence: yields (q_j, alpha_j, beta_j)."""
    q = np.random.default_rng(seed).standard_normal(n)
    q /= np.linalg.norm(q)
    q_prev, beta = np.zeros(n), 0.0
    while True:
        w = matvec(q) - beta * q_prev
        alpha = float(w @ q)
        w -= alpha * q
        beta = float(np.linalg.norm(w))
        yield q, alpha, beta
        if beta <= 1e-12 * max(1.0, abs(alpha)):
            return  # an invariant subspace: the Ritz values are exact
        q_prev, q = q, w / beta


def lanczos(matvec: Callable[[np.ndarray], np.ndarray], n: int, steps: int,
            want_vector: bool, seed: int = 0) -> Curvature:
    """Extreme eigenvalues of a symmetric operator from at most ``steps``
    Lanczos steps, fewer once the sign of the smallest is decided
    (``_decided``).  The Ritz vector of the smallest, when wanted and that
    eigenvalue is negative (a saddle to escape), comes from a second pass
    of the same length."""
    alphas: list[float] = []
    betas: list[float] = []
    theta = s = None
    for _, alpha, beta in itertools.islice(_recurrence(matvec, n, seed), steps):
        alphas.append(alpha)
        betas.append(beta)
        theta, s = _ritz(alphas, betas)
        if _decided(theta, s, beta, len(alphas), want_vector):
            break
    vector = None
    if want_vector and theta[0] < -_zero(theta[0], theta[-1]):
        vector = np.zeros(n)
        for (q, _, _), c in zip(_recurrence(matvec, n, seed), s[:, 0]):
            vector += c * q
        vector /= np.linalg.norm(vector)
    return Curvature(float(theta[0]), float(theta[-1]), vector, "lanczos")


_MIN_STEPS = 5       # before a "minimum": the extremes of a random start emerge first
_SETTLED = 1e-2      # relative residual bound of a settled Ritz value


def _ritz(alphas: list[float], betas: list[float]) -> tuple[np.ndarray, np.ndarray]:
    m = len(alphas)
    t = np.diag(alphas) + np.diag(betas[:m - 1], 1) + np.diag(betas[:m - 1], -1)
    return eigh(t)


def _zero(low: float, high: float) -> float:
    """Eigenvalues below this in size count as zero, given the extremes."""
    return _TOL * max(1.0, abs(low), abs(high))


def _decided(theta: np.ndarray, s: np.ndarray, beta: float, k: int,
             want_vector: bool) -> bool:
    """Is the verdict settled after k steps?  theta_1 < 0 < theta_k proves a
    saddle; theta_1 and theta_k both negative need theta_k settled (a
    maximum); otherwise theta_1 must settle: beta |s_k1| (an eigenvalue lies
    that close to theta_1, Saad Thm 6.3) within ``_SETTLED`` of its size, or
    of the zero tolerance when theta_1 is within it ("not certified").  A
    saddle to leave (``want_vector``) also waits for theta_1 to settle: the
    escape goes along its Ritz vector, best when that has converged."""
    zero = _zero(theta[0], theta[-1])

    def settled(i: int) -> bool:
        return k >= _MIN_STEPS and beta * abs(s[-1, i]) <= _SETTLED * max(abs(theta[i]), zero)

    if theta[0] < -zero:
        proven = theta[-1] > zero or settled(-1)
        return proven and (settled(0) or not want_vector)
    return settled(0)


def curvature(hessian: Callable[[], np.ndarray],
              hvp: Callable[[np.ndarray], np.ndarray], n: int,
              want_vector: bool = False) -> Curvature:
    """Extreme eigenvalues at a point, densely or by Lanczos by size.  A
    Hessian with a NaN or infinite entry (e.g. norm(x) at 0), or an
    eigensolver that does not converge, gives no verdict: "not certified",
    with the reason."""
    method = "dense" if n <= DENSE_LIMIT else "lanczos"
    try:
        if method == "dense":
            h = hessian()
            if not np.all(np.isfinite(h)):
                return _uncertified(method, "the Hessian is not finite at this point")
            if not want_vector:     # eigenvalues alone: half eigh's cost (n = 100: 0.46 ms)
                lam = eigh(h, vectors=False)
                return Curvature(float(lam[0]), float(lam[-1]), None, method)
            lam, q = eigh(h)
            return Curvature(float(lam[0]), float(lam[-1]), q[:, 0], method)
        found = lanczos(hvp, n, min(n, LANCZOS_STEPS), want_vector)
    except np.linalg.LinAlgError as exc:
        return _uncertified(method, f"the eigenvalue solver failed ({exc})")
    if not (np.isfinite(found.min_eigenvalue) and np.isfinite(found.max_eigenvalue)):
        return _uncertified(method, "a Hessian-vector product is not finite at this point")
    return found


def _uncertified(method: str, reason: str) -> Curvature:
    return Curvature(float("nan"), float("nan"), None, method, reason)
