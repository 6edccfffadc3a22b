"""The cost of one `newton` iteration against one of scipy's `trust-exact`
given the hand-coded `rosen_hess`, on @rosenbrock.

    python benchmarks/newton_iteration.py      # about a minute

Both run their first 60 iterations from the standard start, in this
process, after one untimed run each (compiled code and caches warm), with
one BLAS thread; the time of the best of three, divided by the iterations
made.  The target of
issue 11 is 2x scipy's.
"""
from __future__ import annotations

import os
import sys
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")     # one BLAS thread each, as vs_scipy.py
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import table  # noqa: E402

ITERATIONS = 60


def per_iteration(run) -> float:
    run()
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        nit = run()
        best = min(best, (time.perf_counter() - t0) / nit)
    return best


def main() -> None:
    from scipy.optimize import minimize, rosen, rosen_der, rosen_hess

    import newtonopt as no

    rows = []
    for n in (100, 1000):
        obj = no.parse("@rosenbrock", dims={"x": n})
        x0 = obj.default_start()
        ours = per_iteration(lambda: no.minimize(obj, x0, method="newton",
                                                 maxiter=ITERATIONS).nit)
        theirs = per_iteration(lambda: minimize(
            rosen, x0, jac=rosen_der, hess=rosen_hess, method="trust-exact",
            options={"maxiter": ITERATIONS, "gtol": 1e-8}).nit)
        rows.append([f"{n:,}", f"{ours * 1e3:.2f} ms", f"{theirs * 1e3:.2f} ms",
                     f"{ours / theirs:.2f}x"])
    print(table(["n", "newton", "scipy trust-exact", "ratio"], rows))


if __name__ == "__main__":
    main()
