"""newtonopt against scipy.optimize.minimize, method by method.

    python benchmarks/vs_scipy.py            # everything (about 15 minutes: scipy's BFGS at n = 1000 takes 6)
    python benchmarks/vs_scipy.py --quick    # skip n = 10^6
    python benchmarks/vs_scipy.py --only osborne1   # rows whose problem contains the text
    python benchmarks/vs_scipy.py --only "@rosenbrock n=100"   # (not n=1000)

Each run is its own process, so peak memory (ru_maxrss, interpreter and
numpy included) belongs to that run alone.  Rows where both sides finish
within a second are run three times, the two sides in turn, and each
time is the median of its three.  scipy gets exact derivatives:
hand-coded numpy for the Rosenbrock family (rosen_der, rosen_hess_prod and
the pairwise forms below), so wall-time ratios there compare our automatic
derivatives with hand-written ones; on the small built-ins scipy is given
our autodiff gradient and HVP, so only the counts compare.  scipy's
Newton-CG runs with xtol = 1e-12 so that it reaches ||g||inf <= 1e-8 too
(our newton is compared with scipy's trust-exact, given the exact Hessian)
(with its default xtol it stops early and calls it success).  Both sides
get maxiter = 10000 and one BLAS thread.

A run under a second is repeated in the same process ("warm ratio"): our
compiled code is cached by then, and neither side pays its first calls
again.  What separates the two ratios is the one-time cost of a fresh
process: the interpreted evaluations before the compile, the compile, and
both libraries' first calls.
"""
from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _osborne  # noqa: E402
from _timing import compile_bytecode, table  # noqa: E402

SCIPY = {"newton": ("trust-exact", {"gtol": 1e-8}),
         "bfgs": ("BFGS", {"gtol": 1e-8}),
         "lbfgs": ("L-BFGS-B", {"gtol": 1e-8, "ftol": 1e-15, "maxcor": 10}),
         "cg": ("CG", {"gtol": 1e-8}),
         "newton-cg": ("Newton-CG", {"xtol": 1e-12}),
         "trust-ncg": ("trust-ncg", {"gtol": 1e-8}),
         "trust-exact": ("trust-exact", {"gtol": 1e-8})}

# The extended Wood function (n/4 independent copies of @wood), written once
# for every n; standard start (-3, -1, -3, -1, ...).
EXT_WOOD = ("sum(100*(b - a^2)^2 + (1 - a)^2 + 90*(d - c^2)^2 + (1 - c)^2"
            " + 10.1*((b - 1)^2 + (d - 1)^2) + 19.8*(b - 1)*(d - 1))"
            " where a = x[::4], b = x[1::4], c = x[2::4], d = x[3::4]")


def _ext_rosen():
    def f(x):
        a, b = x[::2], x[1::2]
        return float(np.sum(100 * (b - a * a) ** 2 + (1 - a) ** 2))

    def g(x):
        a, b = x[::2], x[1::2]
        t = b - a * a
        out = np.empty_like(x)
        out[::2] = -400 * a * t - 2 * (1 - a)
        out[1::2] = 200 * t
        return out

    def hp(x, v):
        a, b, va, vb = x[::2], x[1::2], v[::2], v[1::2]
        out = np.empty_like(x)
        out[::2] = (1200 * a * a - 400 * b + 2) * va - 400 * a * vb
        out[1::2] = -400 * a * va + 200 * vb
        return out

    return f, g, hp


def run_one(lib: str, method: str, problem: str, n: int | None) -> dict:
    from newtonopt.expr import parse

    if problem == "osborne1":
        obj = parse(_osborne.text(), dims={"x": 5})
        x0 = np.array(_osborne.X0)
    elif problem == "ext-wood":
        obj = parse(EXT_WOOD, dims={"x": n})
        x0 = np.tile([-3.0, -1.0], n // 2)
    else:
        obj = parse(problem, dims={"x": n} if n else None)
        x0 = obj.default_start()
    t0 = time.perf_counter()
    if lib == "newtonopt":
        # Module imports stay outside the timing on both sides (scipy.optimize's
        # below): the code generator is imported when a run first compiles.
        import newtonopt.autodiff.compiled  # noqa: F401
        from newtonopt import minimize
        from newtonopt.autodiff.allocator import keep_freed_memory

        keep_freed_memory()  # as the command line does

        def solve():
            return minimize(obj, x0, method=method, maxiter=10000)
        t0 = time.perf_counter()
        r = solve()
        out = {"nit": r.nit, "nfev": r.nfev, "njev": r.njev, "nh": r.nhev + r.nhvp,
               "ok": r.success, "status": str(r.status), "g": r.grad_norm}
    else:
        from scipy.optimize import (minimize, rosen, rosen_der, rosen_hess,
                                    rosen_hess_prod)

        import newtonopt as no
        h = None
        if problem == "@rosenbrock":
            f, g, hp, h = rosen, rosen_der, rosen_hess_prod, rosen_hess
        elif problem == "@ext-rosenbrock":
            f, g, hp = _ext_rosen()
        elif problem == "osborne1":
            f, g, hp, h = _osborne.f, _osborne.grad, _osborne.hess_prod, _osborne.hess
        else:
            f, g, hp = obj.value, (lambda z: no.grad(obj, z)), (lambda z, v: no.hvp(obj, z, v))
            h = lambda z: no.hessian(obj, z)  # noqa: E731
        name, options = SCIPY[method]
        kw = {"hessp": hp} if method in ("newton-cg", "trust-ncg") else {}
        if method in ("newton", "trust-exact"):
            kw = {"hess": h}

        def solve():
            return minimize(f, x0, jac=g, method=name, options={**options, "maxiter": 10000},
                            **kw)
        t0 = time.perf_counter()
        r = solve()
        out = {"nit": int(r.nit), "nfev": int(r.nfev), "njev": int(r.njev),
               "nh": int(getattr(r, "nhev", 0) or 0), "ok": bool(r.success),
               "status": "success" if r.success else "failed",
               "g": float(np.max(np.abs(r.jac)))}
    out["time"] = time.perf_counter() - t0
    if out["time"] < 1.0:   # the same solve again, in the same process: warm
        t0 = time.perf_counter()
        solve()
        out["warm"] = time.perf_counter() - t0
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def spawn(lib: str, method: str, problem: str, n: int | None) -> dict:
    args = [sys.executable, __file__, "--one", lib, method, problem, str(n or 0)]
    # One BLAS thread for both: with two, scipy's dense BFGS at n = 1000 ran
    # 186 s instead of seconds whenever the other core was busy.
    env = {**os.environ, **{v: "1" for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                               "MKL_NUM_THREADS")}}
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1]}
    return json.loads(done.stdout)


def spawn_pair(method: str, problem: str, n: int | None) -> tuple[dict, dict | None]:
    """Both sides in turn; where both took under a second, twice more, and
    each side's median time kept: single runs of a few milliseconds swing
    by up to 2.7x on a shared machine, and a median of interleaved runs
    shares the slow spells out evenly."""
    runs: list[tuple[dict, dict | None]] = []
    for _ in range(_REPEATS):
        ours = spawn("newtonopt", method, problem, n)
        ref = spawn("scipy", method, problem, n) if method in SCIPY else None
        runs.append((ours, ref))
        if any(r is not None and ("error" in r or r["time"] > 1.0) for r in (ours, ref)):
            break
    ours, ref = runs[0]
    for side, first in ((0, ours), (1, ref)):
        if first is not None and "error" not in first:
            for key in ("time", "warm"):     # a repeat over a second has no warm run
                values = [r[side][key] for r in runs if key in r[side]]
                if values:
                    first[key] = float(np.median(values))
    return ours, ref


_REPEATS = 3


def cases(quick: bool):
    small = ["@himmelblau", "@beale", "@powell", "@wood", "@quadratic"]
    for n in (2, 100, 1000):
        for method in ("gd", "newton", "bfgs", "lbfgs", "cg", "newton-cg", "trust-ncg",
                       "trust-exact"):
            if n == 1000 and method in ("gd", "newton", "trust-exact"):
                continue
            yield method, "@rosenbrock", n
    for p in small:
        for method in ("bfgs", "lbfgs", "cg", "newton-cg", "trust-ncg", "trust-exact"):
            yield method, p, None
    for method in ("newton", "bfgs", "cg", "newton-cg", "trust-ncg", "trust-exact"):
        yield method, "osborne1", None
    for method in ("newton-cg", "trust-ncg"):
        yield method, "ext-wood", 10_000
    for n in (10_000,) if quick else (10_000, 1_000_000):
        for method in ("lbfgs", "newton-cg", "trust-ncg"):
            yield method, "@ext-rosenbrock", n


def main() -> None:
    if "--one" in sys.argv:
        i = sys.argv.index("--one")
        lib, method, problem, n = sys.argv[i + 1:i + 5]
        print(json.dumps(run_one(lib, method, problem, int(n) or None)))
        return
    compile_bytecode()
    rows = []
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else ""
    for method, problem, n in cases("--quick" in sys.argv):
        if not re.search(re.escape(only) + r"(?!\d)", f"{problem} n={n}"):
            continue   # "n=100" is not "n=1000"
        ours, ref = spawn_pair(method, problem, n)
        label = f"{problem} n={n:,}" if n else problem

        def cell(r, key, f="{}"):
            return "—" if not r or "error" in r else f.format(r[key])

        both = ref and "error" not in ref and "error" not in ours
        ratio = f"{ours['time'] / ref['time']:.2f}x" if both else "—"
        warm = f"{ours['warm'] / ref['warm']:.2f}x" if both and "warm" in ours \
            and "warm" in ref else "—"
        rows.append([label, method,
                     f"{cell(ours, 'nit')} / {cell(ref, 'nit')}",
                     f"{cell(ours, 'nfev')} / {cell(ref, 'nfev')}",
                     f"{cell(ours, 'njev')} / {cell(ref, 'njev')}",
                     f"{cell(ours, 'nh')} / {cell(ref, 'nh')}",
                     f"{cell(ours, 'status')} / {cell(ref, 'status')}",
                     f"{cell(ours, 'g', '{:.1e}')} / {cell(ref, 'g', '{:.1e}')}",
                     f"{cell(ours, 'time', '{:.3f}')} / {cell(ref, 'time', '{:.3f}')}",
                     ratio, warm,
                     f"{cell(ours, 'rss_mb', '{:.0f}')} / {cell(ref, 'rss_mb', '{:.0f}')}"])
        print(" | ".join(rows[-1]), file=sys.stderr, flush=True)
    print(table(["problem", "method", "nit", "nfev", "njev", "nhev+nhvp", "status",
                 "‖g‖∞", "time s", "time ratio", "warm ratio", "peak MB"], rows))
    print("\nEach cell: newtonopt / scipy.  Time ratio: newtonopt / scipy.  Warm ratio: the "
          "same, for the same solve run again in the same process (runs under 1 s).")


if __name__ == "__main__":
    main()
