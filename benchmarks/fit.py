"""Model fits with data: newtonopt against scipy's curve-fitting tools.

    python benchmarks/fit.py            # everything (about a minute)
    python benchmarks/fit.py --quick    # skip 10^6 observations

Exponential decay y = a exp(-b t) + c + noise (sd 0.05; a, b, c = 2.5, 1.3,
0.5; t uniform on [0, 5]) with 10^3, 10^5 and 10^6 observations, from
(1, 1, 0):

* newtonopt ``newton``, ``trust-ncg`` and ``lbfgs`` on the text
  ``sum((y - a*exp(-b*t) - c)^2)`` with ``data={"t": t, "y": y}``: parse,
  trace, compile and solve, every time (the in-process compile cache is
  cleared before each run, as for a fresh shell command);
* ``scipy.optimize.curve_fit`` (MINPACK Levenberg-Marquardt) with its
  finite-difference Jacobian and with the analytic Jacobian, and
  ``least_squares`` (trust-region reflective) with the analytic Jacobian.

Logistic regression, 10^5 observations x 20 features, lambda = 1:
``sum(softplus(-y * (X @ w))) + 0.5*lam*sum(w^2)`` against L-BFGS-B given
a hand-coded value and gradient.

Osborne 1 (MGH 17) written with its 33 (t, y) pairs as data, against the
same problem typed as 33 terms and MINPACK with the analytic Jacobian; and
the time --data's reader takes for a CSV of 10^7 values.

Every method is asked for ||grad f||inf <= GTOL of the same objective (scipy
where it has a gradient test, else its tightest ftol/xtol); the table shows
the gradient each one reached (hand-coded numpy), the largest relative
difference of its answer from the best scipy answer, and the best of three
wall times.  One BLAS thread on both sides, and both run with the command
line's allocator setting (``keep_freed_memory``: freed large arrays stay in
the heap instead of being page-faulted in anew).
"""
from __future__ import annotations

import os
import sys
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from scipy import optimize  # noqa: E402

import newtonopt as no  # noqa: E402
from newtonopt.autodiff.allocator import keep_freed_memory  # noqa: E402
from newtonopt.solvers import api  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import fmt_time, table  # noqa: E402

GTOL = 1e-8
TRUE = np.array([2.5, 1.3, 0.5])
START = np.array([1.0, 1.0, 0.0])
DECAY = "sum((y - a*exp(-b*t) - c)^2)"
LOGISTIC = "sum(softplus(-y * (X @ w))) + 0.5*lam*sum(w^2) where lam = 1"


def best_of(run, repeats: int = 3):
    best, out = float("inf"), None
    for _ in range(repeats):
        api._COMPILED.clear()
        t0 = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - t0)
    return best, out


# -- exponential decay ----------------------------------------------------------

def decay_data(n: int):
    rng = np.random.default_rng(n)
    t = rng.uniform(0.0, 5.0, n)
    return t, TRUE[0] * np.exp(-TRUE[1] * t) + TRUE[2] + rng.normal(0.0, 0.05, n)


def model(t, a, b, c):
    return a * np.exp(-b * t) + c


def jacobian(t, a, b, c):
    e = np.exp(-b * t)
    return np.column_stack([e, -a * t * e, np.ones_like(t)])


def decay_grad(p, t, y):
    r = y - model(t, *p)
    return -2.0 * jacobian(t, *p).T @ r


def decay_rows(n: int) -> list[list[str]]:
    t, y = decay_data(n)
    tight = {"ftol": 1e-15, "xtol": 1e-15, "gtol": 1e-15}
    runs = {
        "curve_fit LM, finite-difference J": lambda: optimize.curve_fit(
            model, t, y, p0=START, method="lm", **tight)[0],
        "curve_fit LM, analytic J": lambda: optimize.curve_fit(
            model, t, y, p0=START, method="lm", jac=jacobian, **tight)[0],
        "least_squares TRF, analytic J": lambda: optimize.least_squares(
            lambda p: model(t, *p) - y, START, jac=lambda p: jacobian(t, *p),
            method="trf", **tight).x,
    }
    for method in ("newton", "trust-ncg", "lbfgs"):
        runs[f"newtonopt {method}"] = (lambda m=method: no.minimize(
            DECAY, dict(zip("abc", START)), method=m, gtol=GTOL, data={"t": t, "y": y}).x)
    results = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, run in runs.items():
            results[name] = best_of(run)
    return _rows(f"decay, n = {n:,}", results, lambda p: decay_grad(p, t, y))


# -- logistic regression ---------------------------------------------------------

def logistic_rows(n: int = 100_000, d: int = 20) -> list[list[str]]:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(n, d))
    w_true = rng.normal(size=d)
    y = np.where(rng.uniform(size=n) < 1 / (1 + np.exp(-X @ w_true)), 1.0, -1.0)

    def f_and_g(w):
        m = -y * (X @ w)
        return np.sum(np.logaddexp(0.0, m)) + 0.5 * w @ w, X.T @ (-y / (1 + np.exp(-m))) + w

    runs = {"L-BFGS-B, hand-coded gradient": lambda: optimize.minimize(
        f_and_g, np.zeros(d), jac=True, method="L-BFGS-B",
        options={"gtol": GTOL, "ftol": 1e-15, "maxiter": 10_000}).x}
    for method in ("newton", "trust-ncg", "lbfgs"):
        runs[f"newtonopt {method}"] = (lambda m=method: no.minimize(
            LOGISTIC, "w=0", method=m, gtol=GTOL, dims={"w": d},
            data={"X": X, "y": y}).x)
    results = {name: best_of(run) for name, run in runs.items()}
    return _rows(f"logistic, {n:,} x {d}", results, lambda w: f_and_g(w)[1])


# -- Osborne 1 with data ---------------------------------------------------------

OSBORNE = "sum((y - (x[0] + x[1]*exp(-t*x[3]) + x[2]*exp(-t*x[4])))^2)"


def osborne_rows() -> list[list[str]]:
    """MGH 17 written with its 33 (t, y) pairs as data, against the same
    problem typed term by term and against MINPACK with the analytic
    Jacobian."""
    import _osborne

    t, y = _osborne.T, np.array(_osborne.Y)

    def model5(tt, a, b, c, d, e):
        return a + b * np.exp(-tt * d) + c * np.exp(-tt * e)

    def jac5(tt, a, b, c, d, e):
        e4, e5 = np.exp(-tt * d), np.exp(-tt * e)
        return np.column_stack([np.ones_like(tt), e4, e5, -b * tt * e4, -c * tt * e5])

    runs = {
        "curve_fit LM, analytic J": lambda: optimize.curve_fit(
            model5, t, y, p0=_osborne.X0, method="lm", jac=jac5,
            ftol=1e-15, xtol=1e-15, gtol=1e-15)[0],
        "least_squares TRF, analytic J": lambda: optimize.least_squares(
            lambda p: model5(t, *p) - y, _osborne.X0, jac=lambda p: jac5(t, *p),
            ftol=1e-15, xtol=1e-15, gtol=1e-15).x,
    }
    for method in ("newton", "trust-ncg", "lbfgs"):
        runs[f"newtonopt {method}"] = (lambda m=method: no.minimize(
            OSBORNE, _osborne.X0, method=m, gtol=GTOL, dims={"x": 5},
            data={"t": t, "y": y}, maxiter=10_000).x)
    runs["newtonopt newton, 33 terms typed"] = lambda: no.minimize(
        _osborne.text(), _osborne.X0, method="newton", gtol=GTOL, dims={"x": 5}).x
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = {name: best_of(run) for name, run in runs.items()}
    return _rows("Osborne 1 (33 points)", results, _osborne.grad)


def load_row(values: int = 10_000_000) -> list[str]:
    """Seconds to read a CSV of ``values`` numbers (two columns, 10
    significant digits, a header) with --data's reader."""
    import tempfile

    from newtonopt.expr.data import read_table

    rows = np.random.default_rng(0).normal(size=(values // 2, 2))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big.csv")
        np.savetxt(path, rows, delimiter=",", header="t,y", comments="", fmt="%.10g")
        size = os.path.getsize(path)
        t0 = time.perf_counter()
        table_, _ = read_table(path)
        seconds = time.perf_counter() - t0
    assert table_.shape == rows.shape
    return [f"{values:,} values ({size / 2**20:.0f} MiB CSV)", fmt_time(seconds)]


def _rows(problem: str, results: dict, grad) -> list[list[str]]:
    """One row per method: time, ratio to the fastest scipy run that met
    the gradient tolerance (else the fastest), gradient reached, distance."""
    scipy_names = [k for k in results if not k.startswith("newtonopt")]
    gnorm = {k: float(np.max(np.abs(grad(x)))) for k, (_, x) in results.items()}
    met = [k for k in scipy_names if gnorm[k] <= GTOL] or scipy_names
    ref = min(met, key=lambda k: results[k][0])
    best_x = results[min(scipy_names, key=lambda k: gnorm[k])][1]
    rows = []
    for name, (seconds, x) in results.items():
        rel = float(np.max(np.abs(x - best_x) / np.maximum(np.abs(best_x), 1e-12)))
        rows.append([problem, name, fmt_time(seconds), f"{seconds / results[ref][0]:.2f}",
                     f"{gnorm[name]:.1e}", f"{rel:.0e}"])
    return rows


def main() -> None:
    keep_freed_memory()
    sizes = [1_000, 100_000] if "--quick" in sys.argv else [1_000, 100_000, 1_000_000]
    rows = []
    for n in sizes:
        rows += decay_rows(n)
    rows += logistic_rows()
    rows += osborne_rows()
    print(table(["problem", "method", "wall time", "/ best scipy", "‖g‖∞ reached",
                 "max rel. diff"], rows))
    print()
    print(table(["--data file", "read time"], [load_row()]))


if __name__ == "__main__":
    main()
