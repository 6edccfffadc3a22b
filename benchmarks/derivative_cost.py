"""Cost of derivatives: our autodiff against hand-coded numpy (scipy's rosen,
rosen_der, rosen_hess_prod), chained Rosenbrock, n = 2 .. 10^6, same process.

    python benchmarks/derivative_cost.py            # both allocator settings
    python benchmarks/derivative_cost.py --mode cli # one setting (used internally)

Prints medians and the ratios gradient/f, HVP/f and ours/hand-coded.  Each
allocator setting runs in its own process: "default" is glibc as it comes;
"cli" is what the newtonopt command sets (freed large blocks are reused
instead of page-faulted in anew; see newtonopt/autodiff/allocator.py).
Targets (issue 2): at n = 10^6 gradient <= 2.5x rosen_der and make_hvp
replay <= 3x rosen_hess_prod; at n = 2 each <= 12x.
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import fmt_time, median_time, table  # noqa: E402

SIZES = [2, 100, 10_000, 1_000_000]


def rosen(x):
    import newtonopt.functions as F
    return F.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def measure(mode: str) -> str:
    from scipy.optimize import rosen as s_f, rosen_der as s_g, rosen_hess_prod as s_hp

    from newtonopt import Variable, grad, hvp, make_hvp, no_grad

    if mode == "cli":
        from newtonopt.autodiff.allocator import keep_freed_memory
        keep_freed_memory()
    rows = []
    for n in SIZES:
        rng = np.random.default_rng(0)
        x, v = rng.uniform(-1, 1, n), rng.normal(size=n)
        budget = 1.0 if n >= 10_000 else 0.3
        ref_f = median_time(lambda: s_f(x), budget)
        ref_g = median_time(lambda: s_g(x), budget)
        ref_h = median_time(lambda: s_hp(x, v), budget)

        def f_only():
            with no_grad():
                rosen(Variable(x))

        our_f = median_time(f_only, budget)
        our_g = median_time(lambda: grad(rosen, x), budget)
        our_h = median_time(lambda: hvp(rosen, x, v), budget)
        replay = make_hvp(rosen, x)[0]
        our_r = median_time(lambda: replay(v), budget)
        rows.append([f"{n:,}", fmt_time(our_f), fmt_time(our_g), fmt_time(our_h), fmt_time(our_r),
                     f"{our_g / our_f:.1f}", f"{our_r / our_f:.1f}",
                     f"{our_f / ref_f:.2f}x", f"**{our_g / ref_g:.2f}x**", f"{our_h / ref_h:.2f}x",
                     f"**{our_r / ref_h:.2f}x**"])
    header = ["n", "f", "grad", "hvp", "replay", "grad/f", "replay/f", "f vs rosen",
              "grad vs rosen_der", "hvp vs hess_prod", "replay vs hess_prod"]
    return f"allocator: {mode}\n\n" + table(header, rows)


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
