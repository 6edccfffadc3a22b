"""Cost of derivatives: our autodiff, interpreted and compiled, against
hand-coded numpy and (where installed) jax.jit, medians in one process.

    python benchmarks/derivative_cost.py            # both allocator settings
    python benchmarks/derivative_cost.py --mode cli # one setting (used internally)

Two problems:

* chained Rosenbrock, n = 2 .. 10^6, against scipy's rosen, rosen_der and
  rosen_hess_prod;
* Osborne 1 (MGH 17; n = 5, 33 residuals) written out term by term as a
  user types it, against a vectorized hand-coded gradient (and jax.jit
  value-and-grad / HVP of the vectorized function).

"interp" is the double-backprop interpreter (grad = forward + backward;
replay = one seeded backward through the recorded gradient graph, what the
CG loop uses).  "compiled" is the generated straight-line code
(``newtonopt.compile``): value_and_grad, and one HVP from the cached
gradient stage.  Each allocator setting runs in its own process: "default"
is glibc as it comes, "cli" what the newtonopt command sets.
Targets (issue 11): compiled gradient <= 2x rosen_der and HVP <= 2x
rosen_hess_prod at n = 2, <= 1.5x at n = 10^6; Osborne 1 gradient <= 5x the
hand-coded one.
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _osborne  # noqa: E402
from _timing import fmt_time, median_time, table  # noqa: E402

SIZES = [2, 100, 10_000, 1_000_000]


def rosen(x):
    import newtonopt.functions as F
    return F.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def _jax():
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    return jax, jnp


def _jax_pair(jax, f, x, v):
    """Timed callables: jit(value_and_grad) and jit(HVP by forward-over-reverse)."""
    vg = jax.jit(jax.value_and_grad(f))
    hv = jax.jit(lambda x, v: jax.jvp(jax.grad(f), (x,), (v,))[1])
    vg(x)[1].block_until_ready()
    hv(x, v).block_until_ready()
    return (lambda: vg(x)[1].block_until_ready()), (lambda: hv(x, v).block_until_ready())


def rosenbrock_rows(jx) -> list[list[str]]:
    from scipy.optimize import rosen_der as s_g, rosen_hess_prod as s_hp

    from newtonopt import compile, grad, make_hvp

    rows = []
    for n in SIZES:
        rng = np.random.default_rng(0)
        x, v = rng.uniform(-1, 1, n), rng.normal(size=n)
        budget = 1.0 if n >= 10_000 else 0.3
        ref_g = median_time(lambda: s_g(x), budget)
        ref_h = median_time(lambda: s_hp(x, v), budget)
        our_g = median_time(lambda: grad(rosen, x), budget)
        replay = make_hvp(rosen, x)[0]
        our_r = median_time(lambda: replay(v), budget)
        c = compile(rosen, x)
        _, state = c.forward(x)
        hstate = c.second_order(x, state)[1]
        comp_g = median_time(lambda: c.value_and_grad(x), budget)
        comp_h = median_time(lambda: c.hvp(x, hstate, v), budget)
        jax_cells = ["—", "—"]
        if jx is not None:
            jax, jnp = jx

            def jrosen(z):
                return jnp.sum(100.0 * (z[1:] - z[:-1] ** 2) ** 2 + (1 - z[:-1]) ** 2)

            jg, jh = _jax_pair(jax, jrosen, jnp.asarray(x), jnp.asarray(v))
            jax_cells = [f"{median_time(jg, budget) / ref_g:.2f}x",
                         f"{median_time(jh, budget) / ref_h:.2f}x"]
        rows.append([f"{n:,}", fmt_time(ref_g), f"{our_g / ref_g:.2f}x",
                     f"**{comp_g / ref_g:.2f}x**", jax_cells[0], fmt_time(ref_h),
                     f"{our_r / ref_h:.2f}x", f"**{comp_h / ref_h:.2f}x**", jax_cells[1]])
    return rows


def osborne_rows(jx) -> list[list[str]]:
    import newtonopt as no
    from newtonopt import compile, make_hvp, value_and_grad

    obj = no.parse(_osborne.text(), dims={"x": 5})
    x, v = np.array(_osborne.X0), np.ones(5)
    ref = median_time(lambda: _osborne.value_and_grad(x), 0.5)
    ref_h = median_time(lambda: _osborne.hess_prod(x, v), 0.5)
    interp = median_time(lambda: value_and_grad(obj, x), 0.5)
    replay = make_hvp(obj, x)[0]
    interp_h = median_time(lambda: replay(v), 0.5)
    c = compile(obj, x)
    _, state = c.forward(x)
    hstate = c.second_order(x, state)[1]
    comp = median_time(lambda: c.value_and_grad(x), 0.5)
    comp_h = median_time(lambda: c.hvp(x, hstate, v), 0.5)
    jax_g = jax_h = "—"
    if jx is not None:
        jax, jnp = jx
        t, y = jnp.asarray(_osborne.T), jnp.asarray(_osborne.Y)

        def jf(z):
            r = y - (z[0] + z[1] * jnp.exp(-t * z[3]) + z[2] * jnp.exp(-t * z[4]))
            return jnp.sum(r * r)

        jg, jh = _jax_pair(jax, jf, jnp.asarray(x), jnp.asarray(v))
        jax_g, jax_h = fmt_time(median_time(jg, 0.5)), fmt_time(median_time(jh, 0.5))
    return [["value and gradient", fmt_time(ref), fmt_time(interp), fmt_time(comp),
             f"**{comp / ref:.2f}x**", f"{interp / comp:.0f}x", jax_g],
            ["one HVP", fmt_time(ref_h), fmt_time(interp_h), fmt_time(comp_h),
             f"**{comp_h / ref_h:.2f}x**", f"{interp_h / comp_h:.0f}x", jax_h]]


def measure(mode: str) -> str:
    if mode == "cli":
        from newtonopt.autodiff.allocator import keep_freed_memory
        keep_freed_memory()
    jx = _jax()
    out = [f"allocator: {mode}" + ("" if jx else " (jax not installed: its columns are —)"), ""]
    out.append(table(["n", "rosen_der", "grad interp", "grad compiled", "grad jax.jit",
                      "rosen_hess_prod", "replay interp", "HVP compiled", "HVP jax.jit"],
                     rosenbrock_rows(jx)))
    out += ["", "Osborne 1 written out (33 terms, n = 5):", ""]
    out.append(table(["", "hand-coded numpy", "interpreted", "compiled", "compiled / hand",
                      "speed-up", "jax.jit"], osborne_rows(jx)))
    return "\n".join(out)


def main() -> None:
    if "--mode" in sys.argv:
        print(measure(sys.argv[sys.argv.index("--mode") + 1]))
        return
    for mode in ("default", "cli"):
        out = subprocess.run([sys.executable, __file__, "--mode", mode], capture_output=True,
                             text=True, check=True)
        print(out.stdout)


if __name__ == "__main__":
    main()
