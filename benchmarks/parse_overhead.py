"""Does parsing cost anything after the first call?  The parsed @rosenbrock
against the same function written directly with our ops, f and gradient,
n = 2 and 10^6, same process.  Target (issue 3): parsed <= 1.1x direct.

    python benchmarks/parse_overhead.py
"""
from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import fmt_time, median_time, table  # noqa: E402

import newtonopt.functions as F  # noqa: E402
from newtonopt import grad  # noqa: E402
from newtonopt.expr import parse  # noqa: E402


def direct(x):
    return F.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def main() -> None:
    rows = []
    for n in (2, 1_000_000):
        parsed = parse("@rosenbrock", dims={"x": n})
        x = np.random.default_rng(0).uniform(-1, 1, n)
        budget = 1.0 if n > 1000 else 0.3
        for what, run in (("f", lambda f: parsed.value(x) if f is parsed else direct_value(x)),
                          ("f + gradient", lambda f: grad(f, x))):
            t_parsed = median_time(lambda: run(parsed), budget)
            t_direct = median_time(lambda: run(direct), budget)
            rows.append([f"{n:,}", what, fmt_time(t_direct), fmt_time(t_parsed),
                         f"**{t_parsed / t_direct:.2f}x**"])
    print(table(["n", "evaluation", "direct ops", "parsed", "parsed / direct"], rows))


def direct_value(x):
    from newtonopt import Variable, no_grad
    with no_grad():
        return float(direct(Variable(x)).data)


if __name__ == "__main__":
    main()
