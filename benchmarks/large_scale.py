"""Large-scale test functions at n = 10^5: newtonopt against scipy.optimize
given jax.jit derivatives (what an expert would use instead).

    python benchmarks/large_scale.py              # n = 100,000 (about 5 minutes)
    python benchmarks/large_scale.py --n 10000    # quicker
    python benchmarks/large_scale.py --check      # the curvature check's HVPs, n = 10^4

Functions from N. Andrei, "An unconstrained optimization test functions
collection" (2008) and CUTEst, written once in our objective language and
once in jax.numpy.  Both sides run Newton-CG (ours: ``newton-cg``; scipy:
``Newton-CG`` with jit-compiled gradient and forward-over-reverse HVP) and
are judged by the same test: ||g||inf <= 1e-8 at the returned x, g
computed by jax.  Compile time is reported apart: ours is a first solve
minus a second (trace and code generation), whose time is the one
compared; jax's is its first value-and-grad and HVP calls minus their
second calls (jit), and its solve is the one after them.
Needs jax (benchmark-only; never a dependency of newtonopt).
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import table  # noqa: E402


def functions(n: int):
    """(name, our text, jax function, start) for each test function."""
    import jax.numpy as jnp

    m = n // 3

    def pairs(z):
        return z[::2], z[1::2]

    def quads(z):
        return z[::4], z[1::4], z[2::4], z[3::4]

    return [
        ("ARWHEAD", "sum(-4*x[:-1] + 3) + sum((x[:-1]^2 + x[-1]^2)^2)",
         lambda z: jnp.sum(-4 * z[:-1] + 3) + jnp.sum((z[:-1] ** 2 + z[-1] ** 2) ** 2),
         np.ones(n)),
        ("BDQRTIC", "sum((-4*x[:-4] + 3)^2 + (x[:-4]^2 + 2*x[1:-3]^2 + 3*x[2:-2]^2 "
                    "+ 4*x[3:-1]^2 + 5*x[-1]^2)^2)",
         lambda z: jnp.sum((-4 * z[:-4] + 3) ** 2 + (z[:-4] ** 2 + 2 * z[1:-3] ** 2
                           + 3 * z[2:-2] ** 2 + 4 * z[3:-1] ** 2 + 5 * z[-1] ** 2) ** 2),
         np.ones(n)),
        ("DQDRTIC", "sum(x[:-2]^2 + 100*x[1:-1]^2 + 100*x[2:]^2)",
         lambda z: jnp.sum(z[:-2] ** 2 + 100 * z[1:-1] ** 2 + 100 * z[2:] ** 2),
         np.full(n, 3.0)),
        ("ENGVAL1", "sum((x[:-1]^2 + x[1:]^2)^2 + (-4*x[:-1] + 3))",
         lambda z: jnp.sum((z[:-1] ** 2 + z[1:] ** 2) ** 2 + (-4 * z[:-1] + 3)),
         np.full(n, 2.0)),
        ("NONDIA", "(x[0] - 1)^2 + sum(100*(x[0] - x[:-1]^2)^2)",
         lambda z: (z[0] - 1) ** 2 + jnp.sum(100 * (z[0] - z[:-1] ** 2) ** 2),
         np.full(n, -1.0)),
        ("LIARWHD", "sum(4*(x^2 - x[0])^2 + (x - 1)^2)",
         lambda z: jnp.sum(4 * (z ** 2 - z[0]) ** 2 + (z - 1) ** 2), np.full(n, 4.0)),
        ("EDENSCH", "16 + sum((x[:-1] - 2)^4 + (x[:-1]*x[1:] - 2*x[1:])^2 + (x[1:] + 1)^2)",
         lambda z: 16 + jnp.sum((z[:-1] - 2) ** 4 + (z[:-1] * z[1:] - 2 * z[1:]) ** 2
                                + (z[1:] + 1) ** 2), np.zeros(n)),
        ("DIXMAANA", f"1 + sum(x^2) + 0.125*sum(x[:{2 * m}]^2 * x[{m}:{3 * m}]^4) "
                     f"+ 0.125*sum(x[:{m}]*x[{2 * m}:{3 * m}])",
         lambda z: 1 + jnp.sum(z ** 2) + 0.125 * jnp.sum(z[:2 * m] ** 2 * z[m:3 * m] ** 4)
         + 0.125 * jnp.sum(z[:m] * z[2 * m:3 * m]), np.full(n, 2.0)),
        ("ext-Powell", "@powell",
         lambda z: (lambda a, b, c, d: jnp.sum((a + 10 * b) ** 2 + 5 * (c - d) ** 2
                                              + (b - 2 * c) ** 4 + 10 * (a - d) ** 4))(
             *quads(z)), np.tile([3.0, -1.0, 0.0, 1.0], n // 4)),
        ("ext-Wood", "sum(100*(x[::4]^2 - x[1::4])^2 + (x[::4] - 1)^2 + 90*(x[2::4]^2 - "
                     "x[3::4])^2 + (1 - x[2::4])^2 + 10.1*((x[1::4] - 1)^2 + (x[3::4] - 1)^2)"
                     " + 19.8*(x[1::4] - 1)*(x[3::4] - 1))",
         lambda z: (lambda a, b, c, d: jnp.sum(
             100 * (a ** 2 - b) ** 2 + (a - 1) ** 2 + 90 * (c ** 2 - d) ** 2 + (1 - c) ** 2
             + 10.1 * ((b - 1) ** 2 + (d - 1) ** 2) + 19.8 * (b - 1) * (d - 1)))(*quads(z)),
         np.tile([-3.0, -1.0, -3.0, -1.0], n // 4)),
        ("ext-Beale", "sum((1.5 - x[::2]*(1 - x[1::2]))^2 + (2.25 - x[::2]*(1 - x[1::2]^2))^2"
                      " + (2.625 - x[::2]*(1 - x[1::2]^3))^2)",
         lambda z: (lambda a, b: jnp.sum((1.5 - a * (1 - b)) ** 2 + (2.25 - a * (1 - b ** 2))
                                         ** 2 + (2.625 - a * (1 - b ** 3)) ** 2))(*pairs(z)),
         np.tile([1.0, 0.8], n // 2)),
        ("ext-Freudenstein-Roth", "sum((-13 + x[::2] + ((5 - x[1::2])*x[1::2] - 2)*x[1::2])^2"
                                  " + (-29 + x[::2] + ((x[1::2] + 1)*x[1::2] - 14)*x[1::2])^2)",
         lambda z: (lambda a, b: jnp.sum((-13 + a + ((5 - b) * b - 2) * b) ** 2
                                         + (-29 + a + ((b + 1) * b - 14) * b) ** 2))(*pairs(z)),
         np.tile([0.5, -2.0], n // 2)),
        ("ext-Rosenbrock", "@ext-rosenbrock",
         lambda z: (lambda a, b: jnp.sum(100 * (b - a * a) ** 2 + (1 - a) ** 2))(*pairs(z)),
         np.tile([-1.2, 1.0], n // 2)),
    ]


def ours(text: str, x0: np.ndarray, n: int) -> tuple[float, float, np.ndarray, int]:
    import newtonopt as no

    obj = no.parse(text, dims={"x": n})
    t0 = time.perf_counter()
    no.minimize(obj, x0, method="newton-cg", maxiter=5000, check_curvature_at_end=False)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = no.minimize(obj, x0, method="newton-cg", maxiter=5000, check_curvature_at_end=False)
    second = time.perf_counter() - t0
    return second, first - second, res.x, res.nit


def scipy_jax(f, x0: np.ndarray) -> tuple[float, float, np.ndarray, int]:
    import jax
    from scipy.optimize import minimize

    vg = jax.jit(jax.value_and_grad(f))
    hv = jax.jit(lambda x, v: jax.jvp(jax.grad(f), (x,), (v,))[1])

    def fun(x):
        value, g = vg(x)
        return float(value), np.asarray(g)

    def hessp(x, v):
        return np.asarray(hv(x, v))

    def solve():
        return minimize(fun, x0, jac=True, hessp=hessp, method="Newton-CG",
                        options={"xtol": 1e-14, "maxiter": 5000})

    def first_calls():
        fun(x0)
        hessp(x0, x0)

    # compile time: the first calls against the second, not the first solve
    # against the second (a 29 s solve's noise made that negative)
    t0 = time.perf_counter()
    first_calls()
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    first_calls()
    compile_s = first - (time.perf_counter() - t0)
    t0 = time.perf_counter()
    res = solve()
    return time.perf_counter() - t0, compile_s, res.x, int(res.nit)


def check_cost(n: int) -> None:
    """What the final curvature check adds to each solve, in HVPs."""
    import newtonopt as no

    rows = []
    for name, text, _, x0 in functions(n):
        obj = no.parse(text, dims={"x": n})
        for method in ("newton-cg", "trust-ncg"):
            res = no.minimize(obj, x0, method=method, maxiter=5000)
            check = res.curvature["nhvp"]
            rows.append([name, method, str(res.status), str(res.nhvp), str(check),
                         f"{100 * check / max(res.nhvp, 1):.0f} %", res.curvature["verdict"]])
    print(f"n = {n:,}: the curvature check's HVPs against the solve's\n")
    print(table(["function", "method", "status", "solve HVPs", "check HVPs", "check / solve",
                 "verdict"], rows))


def main() -> None:
    try:
        import jax
    except ImportError:
        sys.exit("large_scale.py needs jax (pip install jax): it is the reference")
    jax.config.update("jax_enable_x64", True)
    n = int(sys.argv[sys.argv.index("--n") + 1]) if "--n" in sys.argv else 100_000
    if "--check" in sys.argv:
        check_cost(n if "--n" in sys.argv else 10_000)
        return
    rows, ratios = [], []
    for name, text, jf, x0 in functions(n):
        grad = jax.jit(jax.grad(jf))
        t_ours, c_ours, x_ours, it_ours = ours(text, x0, n)
        t_ref, c_ref, x_ref, it_ref = scipy_jax(jf, x0)
        g_ours = float(np.max(np.abs(np.asarray(grad(x_ours)))))
        g_ref = float(np.max(np.abs(np.asarray(grad(x_ref)))))
        ratio = t_ours / t_ref
        ratios.append(ratio)
        rows.append([name, f"{it_ours} / {it_ref}", f"{g_ours:.1e} / {g_ref:.1e}",
                     f"{'yes' if g_ours <= 1e-8 else 'no'} / {'yes' if g_ref <= 1e-8 else 'no'}",
                     f"{t_ours:.3f} / {t_ref:.3f}", f"**{ratio:.2f}x**",
                     f"{c_ours:.2f} / {c_ref:.2f}"])
        print(" | ".join(rows[-1]), file=sys.stderr, flush=True)
    print(f"n = {n:,}, newton-cg, each cell newtonopt / scipy + jax.jit\n")
    print(table(["function", "iterations", "‖g‖∞ at x", "‖g‖∞ ≤ 1e-8", "solve s",
                 "time ratio", "compile s"], rows))
    print(f"\nmedian ratio {np.median(ratios):.2f}x, worst {max(ratios):.2f}x")


if __name__ == "__main__":
    main()
