"""Each part of a method against its defining property: strong Wolfe on
Moré and Thuente's six line-search test functions, Steihaug's stopping
rules (N&W Alg. 7.2), Moré-Sorensen's optimality conditions (N&W Thm 4.1)
with the hard case, Hager-Zhang's descent property, Lanczos against
numpy.linalg.eigh, and Method as an immutable, reusable value."""
from __future__ import annotations

import dataclasses
import math
import threading

import numpy as np
import pytest

import newtonopt as no
from newtonopt.methods import METHODS
from newtonopt.solvers import cholesky as cholesky_module
from newtonopt.solvers.curvature import lanczos
from newtonopt.solvers.linesearch import strong_wolfe
from newtonopt.solvers.result import Note
from newtonopt.solvers.trust_region import Steihaug, more_sorensen


class _Line:
    """phi(a) as an evaluator of f and grad on 1-vectors (what a line
    search asks of an Evaluator)."""

    def __init__(self, phi, dphi):
        self.phi, self.dphi, self.calls = phi, dphi, 0

    def f(self, x):
        self.calls += 1
        return float(self.phi(float(x[0])))

    def grad(self, x):
        return np.array([float(self.dphi(float(x[0])))])


def _gamma(b):
    return math.sqrt(1 + b * b) - b


def _yanai(b1, b2):
    """Moré-Thuente functions 4-6 (Yanai, Ozawa and Kaneko)."""
    g1, g2 = _gamma(b1), _gamma(b2)
    return (lambda a: g1 * math.sqrt((1 - a) ** 2 + b2 * b2) + g2 * math.sqrt(a * a + b1 * b1),
            lambda a: -g1 * (1 - a) / math.sqrt((1 - a) ** 2 + b2 * b2)
            + g2 * a / math.sqrt(a * a + b1 * b1))


def _phi0(a, b=0.01):
    if a <= 1 - b:
        return 1 - a, -1.0
    if a >= 1 + b:
        return a - 1, 1.0
    return (a - 1) ** 2 / (2 * b) + b / 2, (a - 1) / b


_L, _B3 = 39, 0.01
# (phi, phi', mu = c1, eta = c2): Moré & Thuente (1994), Tables 1-6
MORE_THUENTE = {
    "1": (lambda a: -a / (a * a + 2), lambda a: (a * a - 2) / (a * a + 2) ** 2, 0.001, 0.1),
    "2": (lambda a: (a + 0.004) ** 5 - 2 * (a + 0.004) ** 4,
          lambda a: 5 * (a + 0.004) ** 4 - 8 * (a + 0.004) ** 3, 0.1, 0.1),
    "3": (lambda a: _phi0(a)[0] + 2 * (1 - _B3) / (_L * math.pi) * math.sin(_L * math.pi * a / 2),
          lambda a: _phi0(a)[1] + (1 - _B3) * math.cos(_L * math.pi * a / 2), 0.1, 0.1),
    "4": (*_yanai(0.001, 0.001), 0.001, 0.001),
    "5": (*_yanai(0.01, 0.001), 0.001, 0.001),
    "6": (*_yanai(0.001, 0.01), 0.001, 0.001),
}


@pytest.mark.parametrize("alpha0", [1e-3, 1e-1, 1e1, 1e3])
@pytest.mark.parametrize("name", MORE_THUENTE)
def test_strong_wolfe_meets_both_conditions_on_the_more_thuente_functions(name, alpha0):
    phi, dphi, c1, c2 = MORE_THUENTE[name]
    line = _Line(phi, dphi)
    d0 = dphi(0.0)
    assert d0 < 0
    step = strong_wolfe(line, np.zeros(1), phi(0.0), np.ones(1), d0, alpha0, c1=c1, c2=c2)
    assert step is not None
    a = step.alpha
    assert phi(a) <= phi(0.0) + c1 * a * d0                      # sufficient decrease
    assert abs(dphi(a)) <= c2 * abs(d0) * (1 + 1e-12)          # strong curvature
    assert line.calls <= 40


# -- Steihaug ---------------------------------------------------------------------

class _Quadratic:
    def __init__(self, h):
        self.h, self.nhvp = h, 0

    def hvp(self, x, d):
        self.nhvp += 1
        return self.h @ d


def _model(h, g, p):
    return float(g @ p + 0.5 * p @ h @ p)


def _spd(n, cond, seed):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n)))
    return q @ np.diag(np.geomspace(1, cond, n)) @ q.T


def test_steihaug_inside_the_region_meets_the_forcing_test():
    h, g = _spd(20, 100.0, 1), np.random.default_rng(2).normal(size=20)
    p, hp, notes, iters = Steihaug().solve(_Quadratic(h), None, g, radius=1e6)
    gnorm = np.linalg.norm(g)
    assert Note.BOUNDARY not in notes and Note.NEG_CURV not in notes
    assert np.linalg.norm(h @ p + g) <= min(0.5, math.sqrt(gnorm)) * gnorm
    np.testing.assert_allclose(hp, h @ p, rtol=1e-10, atol=1e-12)
    assert 1 <= iters <= 20


def test_steihaug_stops_on_the_boundary_with_at_least_the_cauchy_decrease():
    h, g = _spd(20, 100.0, 3), np.random.default_rng(4).normal(size=20)
    radius = 0.05
    p, hp, notes, _ = Steihaug().solve(_Quadratic(h), None, g, radius)
    assert Note.BOUNDARY in notes
    assert np.linalg.norm(p) == pytest.approx(radius, rel=1e-12)
    # Cauchy point: the model's minimizer along -g within the region (N&W eq. 4.12)
    gHg = float(g @ h @ g)
    tau = min(1.0, np.linalg.norm(g) ** 3 / (radius * gHg))
    cauchy = -tau * radius / np.linalg.norm(g) * g
    assert _model(h, g, p) <= _model(h, g, cauchy) + 1e-15


def test_steihaug_follows_negative_curvature_to_the_boundary():
    h = np.diag([-1.0, 2.0, 3.0])
    g = np.array([1.0, 0.0, 0.0])            # the first CG direction -g has d'Hd = -1
    p, _, notes, iters = Steihaug().solve(_Quadratic(h), None, g, radius=2.0)
    assert notes == Note.NEG_CURV | Note.BOUNDARY and iters == 1
    np.testing.assert_allclose(p, [-2.0, 0.0, 0.0])


# -- Moré-Sorensen ----------------------------------------------------------------

def _check_theorem_4_1(h, g, radius, p, lam):
    """N&W Thm 4.1: (H + lam I) p = -g, lam (radius - |p|) = 0, lam >= 0,
    H + lam I positive semidefinite."""
    n = g.size
    assert lam >= 0
    np.testing.assert_allclose((h + lam * np.eye(n)) @ p, -g, atol=1e-9 * (1 + np.linalg.norm(g)))
    assert np.linalg.norm(p) <= radius * (1 + 1e-9)
    assert lam * (radius - np.linalg.norm(p)) == pytest.approx(0.0, abs=1e-8 * (1 + lam))
    assert np.linalg.eigvalsh(h + lam * np.eye(n))[0] >= -1e-9 * max(1.0, lam)


class _Hessian:
    """An evaluator that knows only a fixed Hessian (what Newton asks)."""

    def __init__(self, h):
        self.h = h

    def hessian(self, x):
        return self.h


def test_newton_modifies_an_indefinite_hessian_by_its_eigenvalues():
    """N&W eq. 3.41, the absolute-value choice: p = -Q diag(1/max(|l|, d)) Q'g,
    d = sqrt(eps) max|l|, a descent direction."""
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    lam = np.array([-3.0, -1e-20, 0.5, 2.0, 7.0])
    h, g = q @ np.diag(lam) @ q.T, rng.normal(size=5)
    p, notes, _ = no.Newton().compute(None, _Hessian(h), np.zeros(5), 0.0, g)
    floored = np.maximum(np.abs(lam), np.sqrt(np.finfo(float).eps) * 7.0)
    np.testing.assert_allclose(p, -q @ ((q.T @ g) / floored), rtol=1e-9)
    assert notes is Note.H_MODIFIED and g @ p < 0


def test_newton_on_a_zero_hessian_steps_along_minus_g():
    """H = 0 (a linear f): no Newton step exists; flooring by 1e-300 gave
    p = -g * 1e300, inf at n = 3, and the line search failed at once."""
    g = np.array([1.0, -2.0, 0.5])
    p, notes, _ = no.Newton().compute(None, _Hessian(np.zeros((3, 3))), np.zeros(3), 0.0, g)
    np.testing.assert_array_equal(p, -g)
    assert notes is Note.H_MODIFIED
    res = no.minimize("sum(x)", x0=[0.0, 0.0, 0.0], dims={"x": 3}, method="newton", maxiter=2)
    assert res.status is no.Status.MAXITER and res.fun < -1.0   # f = sum(x) fell along -g
    np.testing.assert_allclose(res.x, np.full(3, res.x[0]))


def test_more_sorensen_interior_newton_step():
    h, g = _spd(8, 10.0, 5), np.random.default_rng(6).normal(size=8)
    p, lam, notes = more_sorensen(h, g, radius=1e3)
    assert lam == 0.0 and Note.BOUNDARY not in notes
    np.testing.assert_allclose(p, -np.linalg.solve(h, g), rtol=1e-10)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("radius", [0.1, 1.0, 10.0])
def test_more_sorensen_meets_its_optimality_conditions(seed, radius):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(12, 12))
    h, g = (a + a.T) / 2, rng.normal(size=12)            # indefinite
    p, lam, _ = more_sorensen(h, g, radius)
    _check_theorem_4_1(h, g, radius, p, lam)
    # and it is the global minimizer of the model in the ball
    for _ in range(200):
        q = rng.normal(size=12)
        q *= radius * rng.uniform() ** (1 / 12) / np.linalg.norm(q)
        assert _model(h, g, p) <= _model(h, g, q) + 1e-12


@pytest.mark.parametrize("seed", range(40))
def test_nearly_exact_is_within_moré_sorensens_tolerance(seed):
    """Moré & Sorensen's Cholesky iteration stops within 10 % of the radius
    (never past it); its model decrease is then at least 0.85 of the exact
    solution's (``more_sorensen``, the eigendecomposition), and an interior
    Newton step is the exact one."""
    from newtonopt.solvers.trust_region import nearly_exact

    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 25))
    a = rng.normal(size=(n, n))
    h = (a + a.T) / 2 + rng.uniform(-2, 4) * np.eye(n)          # often indefinite
    g = rng.normal(size=n) * [1e-3, 1.0, 1e3][seed % 3]
    radius = 10 ** rng.uniform(-2, 2)
    p, lam, notes = nearly_exact(h, g, radius)
    exact, lam_exact, _ = more_sorensen(h, g, radius)
    assert np.linalg.norm(p) <= radius * (1 + 1e-12)
    if lam_exact == 0.0:
        np.testing.assert_allclose(p, exact, rtol=1e-8, atol=1e-12 * np.linalg.norm(exact))
    else:
        assert Note.BOUNDARY in notes and np.linalg.norm(p) >= 0.9 * radius * (1 - 1e-9)
        assert _model(h, g, p) <= 0.85 * _model(h, g, exact)


def test_more_sorensen_hard_case():
    # g has no component along e1, the eigenvector of the smallest eigenvalue
    # -2, and ||(H + 2I)^+ g|| < radius: the step must add tau * e1.
    h, g, radius = np.diag([-2.0, 1.0, 3.0]), np.array([0.0, 1.0, 1.0]), 5.0
    p, lam, notes = more_sorensen(h, g, radius)
    assert lam == pytest.approx(2.0)
    assert Note.BOUNDARY in notes and Note.NEG_CURV in notes
    assert abs(p[0]) > 4.9
    _check_theorem_4_1(h, g, radius, p, lam)
    tau2 = radius ** 2 - 1 / 9 - 1 / 25      # (p_1)^2 once p_2 = -1/3, p_3 = -1/5
    assert _model(h, g, p) == pytest.approx((-1 / 3 + 1 / 18) + (-1 / 5 + 3 / 50) - tau2)
    # Cholesky iterations cannot reach lam = 2 here (H + 2I is singular):
    # the nearly exact solver hands the hard case to this exact one
    from newtonopt.solvers.trust_region import nearly_exact
    q, lam_q, notes_q = nearly_exact(h, g, radius)
    assert lam_q == pytest.approx(2.0) and Note.NEG_CURV in notes_q
    assert _model(h, g, q) == pytest.approx(_model(h, g, p))


# A runaway run's Hessian (trust-exact on an f without a minimum, entries from
# 1e-251 to 9e281) on which numpy's eigh raised "Eigenvalues did not converge"
_SPREAD_H = np.array([
    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [0.0, 1.9929812569458063e-183, 1.0, 0.0, 0.0, 9.13964891793132e-186],
    [0.0, 1.0, 0.0, 1.0, 0.0, 0.0],
    [0.0, 0.0, 1.0, 2.0074376651807948e-248, 1.0, 8.596766448120219e-251],
    [0.0, 0.0, 0.0, 1.0, -9.227015405890774e+281, 6.903222062950085e+279],
    [0.0, 9.13964891793132e-186, 0.0, 8.596766448120219e-251, 6.903222062950085e+279, 0.0]])
_SPREAD_G = np.array([0.0, -0.6745806420704676, 1.5859223680602108, -2.0124953956480933,
                      5.644700522647149e+278, -4.2211712272593664e+276])


def _as_if_numpy_refused_large_matrices(monkeypatch):
    """numpy's symmetric eigensolvers, failing as they did on _SPREAD_H on
    any matrix with an entry above 1e100 (whether the real ones fail on a
    given matrix depends on the LAPACK numpy was built with)."""
    for name in ("eigh", "eigvalsh"):
        real = getattr(np.linalg, name)

        def refusing(h, real=real):
            if np.max(np.abs(h)) > 1e100:
                raise np.linalg.LinAlgError("Eigenvalues did not converge")
            return real(h)
        monkeypatch.setattr(np.linalg, name, refusing)


@pytest.mark.parametrize("refuse", [False, True])
def test_eigenvalues_of_a_matrix_spanning_hundreds_of_decades(monkeypatch, refuse):
    from scipy.linalg import eigh as scipy_eigh

    from newtonopt.solvers.eigen import eigh
    want = scipy_eigh(_SPREAD_H, driver="evr", eigvals_only=True)   # another LAPACK driver
    if refuse:
        _as_if_numpy_refused_large_matrices(monkeypatch)
    top = np.max(np.abs(want))
    lam, q = eigh(_SPREAD_H)
    np.testing.assert_allclose(eigh(_SPREAD_H, vectors=False), want, rtol=0, atol=1e-14 * top)
    np.testing.assert_allclose(lam, want, rtol=0, atol=1e-14 * top)
    np.testing.assert_allclose(q.T @ q, np.eye(6), atol=1e-14)
    np.testing.assert_allclose(_SPREAD_H @ q, q * lam, rtol=0, atol=1e-14 * top)


def test_a_retried_eigendecomposition_is_the_scaled_matrixs(monkeypatch):
    # The retry scales by a power of two, exactly: a matrix 2^900 A gets A's
    # eigenvectors and 2^900 times its eigenvalues, to the bit
    from newtonopt.solvers.eigen import eigh
    rng = np.random.default_rng(3)
    a = rng.normal(size=(7, 7))
    a = (a + a.T) / 2
    want_lam, want_q = np.linalg.eigh(a)
    want_values = np.linalg.eigvalsh(a)        # (not eigh's to the bit: another algorithm)
    _as_if_numpy_refused_large_matrices(monkeypatch)
    lam, q = eigh(np.ldexp(a, 900))
    np.testing.assert_array_equal(lam, np.ldexp(want_lam, 900))
    np.testing.assert_array_equal(q, want_q)
    np.testing.assert_array_equal(eigh(np.ldexp(a, 900), vectors=False), np.ldexp(want_values, 900))
    with pytest.raises(np.linalg.LinAlgError):          # no scale to take: numpy's error
        eigh(np.array([[np.inf, 0.0], [0.0, 1.0]]), vectors=False)


@pytest.mark.parametrize("refuse", [False, True])
def test_more_sorensen_on_a_matrix_spanning_hundreds_of_decades(monkeypatch, refuse):
    # The subproblem is the same times any c > 0 (p stays, lam scales): its
    # optimality conditions are checked on the problem brought near 1
    if refuse:
        _as_if_numpy_refused_large_matrices(monkeypatch)
    radius = 0.03125
    p, lam, notes = more_sorensen(_SPREAD_H, _SPREAD_G, radius)
    assert Note.BOUNDARY in notes and Note.NEG_CURV in notes
    scale = 2.0 ** -int(np.frexp(np.max(np.abs(_SPREAD_H)))[1])
    _check_theorem_4_1(_SPREAD_H * scale, _SPREAD_G * scale, radius, p, lam * scale)


def test_a_multiplier_past_float64_leaves_the_step_to_the_radius():
    # H = -1e300 I, ||g|| = 1e300, radius 1e-10: lam = 1e300 + ||g|| / radius
    # = 1e310 overflows once scaled back (math.ldexp raised); the step is
    # the radius along -g, whatever lam's size
    from newtonopt.solvers.trust_region import nearly_exact
    h, g, radius = -1e300 * np.eye(3), np.array([1e300, 0.0, 0.0]), 1e-10
    for solve in (nearly_exact, more_sorensen):
        p, lam, notes = solve(h, g, radius)
        np.testing.assert_allclose(p, [-radius, 0.0, 0.0], rtol=1e-12, atol=0)
        assert lam == math.inf and Note.BOUNDARY in notes


# -- Hager-Zhang CG -----------------------------------------------------------------

def test_hager_zhang_with_exact_line_searches_is_linear_cg():
    # With exact steps g+'d = 0, so beta_N = y'g+ / d'y (Hestenes-Stiefel):
    # on a quadratic in R^8 the gradient vanishes after 8 steps, and every
    # direction descends.
    h = _spd(8, 10.0, 9)
    x = np.random.default_rng(10).normal(size=8)
    direction = no.ConjugateGradient()
    state = direction.start(8)
    g = h @ x
    g0 = np.linalg.norm(g)
    for _ in range(8):
        d, notes, _ = direction.compute(state, None, x, 0.0, g)
        assert float(g @ d) < 0 and notes == Note.NONE
        alpha = -float(g @ d) / float(d @ h @ d)
        x = x + alpha * d
        g_new = h @ x
        direction.update(state, alpha * d, g_new - g)
        g = g_new
    assert np.linalg.norm(g) <= 1e-8 * g0


def test_hager_zhang_restarts_as_published_and_beats_steepest_descent():
    res = no.minimize("@quadratic", method="cg")
    assert res.status == "converged"
    restarts = [i for i, row in enumerate(res.trace) if Note.RESET in row["notes"]]
    assert restarts == list(range(61, res.nit + 1, 60))      # every 6n iterations, n = 10
    gd = no.minimize("@quadratic", method="gd", maxiter=5000)
    assert res.nit * 10 < gd.nit


# -- Lanczos --------------------------------------------------------------------------

def test_lanczos_extreme_eigenvalues_match_eigh():
    rng = np.random.default_rng(8)
    q, _ = np.linalg.qr(rng.normal(size=(300, 300)))
    spectrum = np.concatenate([[-7.0], np.linspace(-1.0, 4.0, 298), [12.0]])
    h = q @ np.diag(spectrum) @ q.T
    found = lanczos(lambda v: h @ v, 300, 80, want_vector=True)
    exact = np.linalg.eigh(h)
    # Ritz values lie inside the spectrum; a saddle to leave waits for the
    # smallest to settle (residual bound 1 %), which here means 4e-5.
    assert exact[0][0] <= found.min_eigenvalue <= exact[0][0] * (1 - 1e-3)
    assert exact[0][-1] * (1 - 1e-3) <= found.max_eigenvalue <= exact[0][-1]
    assert abs(found.vector @ exact[1][:, 0]) == pytest.approx(1.0, abs=1e-3)


def test_lanczos_stops_once_a_saddle_is_proven():
    # Ritz values lie inside the spectrum: theta_1 < 0 < theta_k proves a
    # saddle however far from converged; no Ritz vector asked for, no waiting.
    spectrum = np.concatenate([[-100.0], np.linspace(1.0, 1000.0, 4999)])
    calls = []
    found = lanczos(lambda v: calls.append(1) or spectrum * v, 5000, 40, want_vector=False)
    assert found.verdict == "saddle"
    assert -100.0 <= found.min_eigenvalue < 0 and found.max_eigenvalue <= 1000.0
    assert len(calls) < 20


def test_lanczos_settles_the_smallest_eigenvalue_before_calling_a_minimum():
    # A positive spectrum 1..1000: the verdict waits until theta_1 is within
    # 1 % of an eigenvalue (here the smallest, 1.0), not for theta_k.
    spectrum = np.linspace(1.0, 1000.0, 5000)
    found = lanczos(lambda v: spectrum * v, 5000, 200, want_vector=False)
    assert found.verdict == "minimum"
    assert found.min_eigenvalue == pytest.approx(1.0, rel=2e-2)


# -- Cholesky: LAPACK's solves where numpy bundles them, numpy's otherwise ---------------

@pytest.fixture(params=["lapack", "numpy"])
def cholesky_path(request, monkeypatch):
    """Both ways of solving: the LAPACK numpy bundles (the default where it
    is found) and numpy's LU solves (elsewhere, and below LAPACK_FROM)."""
    if request.param == "numpy":
        monkeypatch.setattr(cholesky_module, "_lapack", None)
    elif cholesky_module._find() is None:    # found wherever bundled: the next test
        pytest.skip("this numpy bundles no OpenBLAS")
    return request.param


def test_the_bundled_lapack_is_found_where_numpy_ships_openblas():
    assert (cholesky_module._find() is not None) == bool(cholesky_module.bundled_openblas())


@pytest.mark.parametrize("n", [3, 40, 300])
def test_cholesky_solves_agree_with_numpy(cholesky_path, n):
    rng = np.random.default_rng(n)
    a = rng.normal(size=(n, n))
    h = a @ a.T + n * np.eye(n)
    b = rng.normal(size=n)
    found = cholesky_module.cholesky(h)
    np.testing.assert_allclose(found.solve(b), np.linalg.solve(h, b), rtol=1e-11)
    w = found.solve_lower(b)      # L^{-1} b for H = L L': its norm is b'H^{-1}b's root
    np.testing.assert_allclose(w, np.linalg.solve(np.linalg.cholesky(h), b), rtol=1e-11)
    np.testing.assert_allclose(w @ w, b @ np.linalg.solve(h, b), rtol=1e-12)
    indefinite = h - (np.linalg.eigvalsh(h)[0] + 1.0) * np.eye(n)   # smallest eigenvalue -1
    assert cholesky_module.cholesky(indefinite) is None


def test_a_matrix_that_factors_but_is_singular_to_lu_is_solved_through_its_factor():
    """The Hessian of norm(x - 1) at a point of a trust-exact run: rank 2, yet
    Cholesky passes (its last pivot a rounding error, 4e-3 beside 4e5) while
    numpy's LU meets an exact zero pivot.  The solve is L^-T L^-1 b, as
    LAPACK's potrs gives (scipy's triangular solves as the reference)."""
    from scipy.linalg import solve_triangular

    h = np.array([[1.7627797415567715e+11, -1.6833875720020752e+10, -4.0297748906054565e+10],
                  [-1.6833875720020752e+10, 1.6090687287785663e+11, -6.2696990005688416e+10],
                  [-4.0297748906054565e+10, -6.2696990005688416e+10, 3.7010650379606049e+10]])
    b = np.array([-0.24047770849921601, -0.37414567551938144, -0.8956480811150727])
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.solve(h, b)
    found = cholesky_module.cholesky(h)
    lower = np.linalg.cholesky(h)
    want = solve_triangular(lower.T, solve_triangular(lower, b, lower=True), lower=False)
    np.testing.assert_allclose(found.solve(b), want, rtol=1e-9)


def test_dense_methods_solve_alike_on_either_path(cholesky_path):
    """newton and trust-exact at n = 30 (above LAPACK_FROM) reach the local
    minimum scipy's trust-exact reaches from the same start (x_0 = -0.993)."""
    from scipy.optimize import minimize, rosen, rosen_der, rosen_hess

    x0 = no.parse("@rosenbrock", dims={"x": 30}).default_start()
    ref = minimize(rosen, x0, jac=rosen_der, hess=rosen_hess, method="trust-exact",
                   options={"gtol": 1e-10})
    for method in ("newton", "trust-exact"):
        res = no.minimize("@rosenbrock", x0=x0, dims={"x": 30}, method=method)
        assert res.success
        np.testing.assert_allclose(res.x, ref.x, atol=1e-8)


# -- L-BFGS ----------------------------------------------------------------------------

@pytest.mark.parametrize("memory", [1, 3, 5])
def test_lbfgs_direction_is_the_bfgs_recursion_over_the_last_pairs(memory):
    # Reference: H0 = (s'y / y'y) I of the newest pair, then N&W eq. 6.17
    # over the last `memory` pairs, oldest first, as a dense matrix; checked
    # before the memory is full and after the oldest pairs are dropped.
    rng = np.random.default_rng(3)
    n = 12
    direction = no.LBFGS(memory=memory)
    state = direction.start(n)
    history = []
    for _ in range(9):
        a = rng.normal(size=(n, n))
        s = rng.normal(size=n)
        y = (a @ a.T + n * np.eye(n)) @ s
        direction.update(state, s, y)
        history.append((s, y))
        g = rng.normal(size=n)
        p = direction.compute(state, None, None, None, g)[0]
        s_new, y_new = history[-1]
        h = np.eye(n) * (s_new @ y_new) / (y_new @ y_new)
        for s_i, y_i in history[-memory:]:
            rho = 1.0 / (s_i @ y_i)
            v = np.eye(n) - rho * np.outer(y_i, s_i)
            h = v.T @ h @ v + rho * np.outer(s_i, s_i)
        np.testing.assert_allclose(p, -h @ g, rtol=1e-12, atol=1e-14 * np.max(np.abs(h @ g)))


def _two_loop(pairs, g, dtype):
    """N&W Alg. 7.4 in the given precision: -H g over the pairs, oldest first."""
    q, alphas = np.asarray(g, dtype), []
    pairs = [(np.asarray(s, dtype), np.asarray(y, dtype)) for s, y in pairs]
    for s, y in reversed(pairs):
        alphas.append((s @ q) / (s @ y))
        q = q - alphas[-1] * y
    s, y = pairs[-1]
    r = (s @ y) / (y @ y) * q
    for (s, y), a in zip(pairs, reversed(alphas)):
        r = r + (a - (y @ r) / (s @ y)) * s
    return -r


@pytest.mark.parametrize("seed", range(6))
def test_lbfgs_direction_is_accurate_with_nearly_parallel_steps(seed):
    """The compact form multiplies by an explicitly kept R^-1; with steps
    nearly parallel (R near singular) on a quadratic of condition 1e10 its
    direction agrees with the two-loop recursion in extended precision to
    1e-13 relative, as the recursion in float64 does."""
    rng = np.random.default_rng(seed)
    n = 20
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    a = (q * np.logspace(0, 10, n)) @ q.T
    direction = no.LBFGS()
    state = direction.start(n)
    base, kept = rng.normal(size=n), []
    for _ in range(25):
        s = (base + 10 ** rng.uniform(-8, 0) * rng.normal(size=n)) * 10 ** rng.uniform(-6, 2)
        y = a @ s
        if direction.update(state, s, y) is Note.NONE:
            kept = (kept + [(s, y)])[-10:]
        g = rng.normal(size=n)
        want = _two_loop(kept, g, np.longdouble).astype(float)
        tol = 1e-13 * np.max(np.abs(want))
        np.testing.assert_allclose(direction.compute(state, None, None, None, g)[0], want,
                                   rtol=0, atol=tol)
        np.testing.assert_allclose(_two_loop(kept, g, np.float64), want, rtol=0, atol=tol)


@pytest.mark.parametrize("direction", [no.BFGS(), no.BFGS(scale_h0=True), no.LBFGS()])
def test_a_pair_whose_y_squares_to_zero_is_skipped(direction):
    # s'y = 2e-20 > 0 passes the sign test, but y'y = 2e-340 is 0 in float64
    # (H0 = s'y / y'y divides by it: L-BFGS raised ZeroDivisionError on an
    # unbounded f whose gradient faded as x ran off to 1e90)
    s, y = np.full(2, 1e150), np.full(2, 1e-170)
    assert float(y @ y) == 0.0 and float(s @ y) > 0
    state = direction.start(2)
    assert direction.update(state, s, y) is Note.H_SKIP
    g = np.array([1.0, -2.0])
    np.testing.assert_array_equal(direction.compute(state, None, None, None, g)[0], -g)


# -- Method ----------------------------------------------------------------------------

def test_presets_are_the_method_names():
    assert list(no.PRESETS) == list(METHODS)
    for name, method in no.PRESETS.items():
        assert method.name == name


CONFIGS = [no.SteepestDescent(), no.Newton(), no.BFGS(), no.LBFGS(memory=4), no.NewtonCG(),
           no.ConjugateGradient(), no.StrongWolfe(c2=0.8), no.Backtracking(), no.FixedStep(0.1),
           no.TrustRegion(no.MoreSorensen(), radius=2.0), no.Steihaug(),
           no.Method(no.LBFGS(memory=5), no.StrongWolfe(c2=0.8))]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: type(c).__name__)
def test_configurations_behave_as_frozen_dataclasses(config):
    """``solvers.frozen`` stands in for @dataclass(frozen=True) (which costs
    ~10 ms of start-up for these classes); the reference is a real one made
    from the same fields."""
    fields = dataclasses.fields(config)
    values = {f.name: getattr(config, f.name) for f in fields}
    Reference = dataclasses.make_dataclass(
        type(config).__name__, [(f.name, object) for f in fields], frozen=True)
    reference = Reference(**values)
    assert repr(config) == repr(reference)
    assert hash(config) == hash(reference)
    again = type(config)(**values)
    assert again == config and hash(again) == hash(config) and again is not config
    assert type(config)(*values.values()) == config             # by position too
    assert config != reference                                  # another class
    if fields:
        name = fields[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(config, name, values[name])
        with pytest.raises(dataclasses.FrozenInstanceError):
            delattr(config, name)
        changed = dataclasses.replace(config, **{name: values[name]})
        assert changed == config
        with pytest.raises(TypeError, match="unexpected keyword argument 'nope'"):
            type(config)(nope=1)
        with pytest.raises(TypeError, match="multiple values"):
            type(config)(values[name], **{name: values[name]})
    with pytest.raises(TypeError, match="positional arguments"):
        type(config)(*values.values(), None)


def test_configurations_show_their_fields_as_their_signature():
    # what help() and editors show: the fields and defaults (README, Methods)
    import inspect
    assert str(inspect.signature(no.StrongWolfe)) == "(c1: 'float' = 0.0001, c2: 'float' = 0.9)"
    assert str(inspect.signature(no.TrustRegion)) == (
        "(subproblem: 'Steihaug | MoreSorensen' = <factory>, radius: 'float' = 1.0, "
        "max_radius: 'float' = 1000.0, eta: 'float' = 0.15)")
    assert list(inspect.signature(no.Method).parameters) == ["direction", "search"]


def test_a_method_is_an_immutable_value_that_runs_twice_and_in_parallel():
    method = no.Method(no.LBFGS(memory=5), no.StrongWolfe(c2=0.8))
    with pytest.raises(dataclasses.FrozenInstanceError):
        method.direction = no.BFGS()
    with pytest.raises(dataclasses.FrozenInstanceError):
        method.direction.memory = 7
    first = no.minimize("@rosenbrock", method=method, dims={"x": 10})
    second = no.minimize("@rosenbrock", method=method, dims={"x": 10})
    assert first.nit == second.nit and np.array_equal(first.x, second.x)
    results = [None] * 4

    def run(i):
        results[i] = no.minimize("@rosenbrock", method=method, dims={"x": 10}, compile=False)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for res in results:
        assert res.nit == first.nit and np.array_equal(res.x, first.x)
    assert first.method == "LBFGS(memory=5)+StrongWolfe(c2=0.8)"


def test_options_reach_the_presets():
    default = no.minimize("@wood", method="bfgs")
    scaled = no.minimize("@wood", method=no.Method(no.BFGS(scale_h0=True), no.StrongWolfe()))
    assert scaled.status == default.status == "converged"
    assert scaled.nit < default.nit                       # README: 38 against 86 on @wood
    short = no.minimize("@rosenbrock", method="lbfgs", memory=2)
    assert short.method == "lbfgs" and short.nit != no.minimize("@rosenbrock", method="lbfgs").nit
    wide = no.minimize("@rosenbrock", method="trust-exact", radius=0.01)
    assert wide.status == "converged" and wide.trace[1]["step"] == pytest.approx(0.01)


@pytest.mark.parametrize("build, message", [
    (lambda: no.Method(no.BFGS(), no.TrustRegion()), "needs a direction with a Hessian model"),
    (lambda: no.Method(no.NewtonCG(), no.TrustRegion(no.MoreSorensen())), "pair it with Newton"),
    (lambda: no.Method("bfgs"), "direction is one of"),
    (lambda: no.Method(no.BFGS(), "wolfe"), "search is StrongWolfe"),
    (lambda: no.StrongWolfe(c1=0.5, c2=0.1), "0 < c1 < c2 < 1"),
    (lambda: no.LBFGS(memory=0), "at least 1"),
    (lambda: no.ConjugateGradient(eta=0.0), "eta > 0"),
    (lambda: no.TrustRegion(radius=-1.0), "0 < radius"),
    (lambda: no.FixedStep(lr=0.0), "positive"),
    (lambda: no.minimize("x^2", method=no.PRESETS["gd"], lr=0.1), "configure a preset"),
])
def test_invalid_compositions_are_refused_with_one_sentence(build, message):
    with pytest.raises((ValueError, TypeError), match=message):
        build()
