"""Newton's direction under two line searches: strong Wolfe (the preset) and
backtracking Armijo (what `newton` used before).

    python benchmarks/newton_search.py       # about a minute

Every built-in problem, Osborne 1 and the large-scale test functions of
large_scale.py at n = 20 and 100, from the standard start and four random
ones each (seeded); per problem the solves that converge, the iterations
and the f + g evaluations summed over the five starts.
"""
from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _osborne  # noqa: E402
import large_scale  # noqa: E402
from _timing import table  # noqa: E402


def problems():
    from newtonopt.expr import parse
    from newtonopt.problems import PROBLEMS

    for name in PROBLEMS:
        if name != "ext-rosenbrock":      # one of the large-scale functions below
            obj = parse("@" + name)
            yield "@" + name, obj, obj.default_start()
    yield "osborne1", parse(_osborne.text(), dims={"x": 5}), np.array(_osborne.X0)
    for n in (20, 100):
        for name, text, _, x0 in large_scale.functions(n):
            yield f"{name} n={n}", parse(text, dims={"x": n}), x0


def main() -> None:
    import newtonopt as no

    searches = {"strong Wolfe": no.StrongWolfe(), "backtracking": no.Backtracking()}
    rng = np.random.default_rng(0)
    rows, totals = [], {k: np.zeros(3, dtype=int) for k in searches}
    for label, obj, x0 in problems():
        starts = [x0] + [x0 + rng.normal(size=x0.size) * max(1.0, np.abs(x0).max())
                         for _ in range(4)]
        row = [label]
        for key, search in searches.items():
            got = np.zeros(3, dtype=int)
            for start in starts:
                with np.errstate(all="ignore"):
                    r = no.minimize(obj, start, method=no.Method(no.Newton(), search),
                                    maxiter=3000)
                got += (r.success, r.nit, r.nfev + r.njev)
            totals[key] += got
            row.append(f"{got[0]}/5  {got[1]}  {got[2]}")
        rows.append(row)
    rows.append(["all"] + [f"{t[0]}/{5 * len(rows)}  {t[1]}  {t[2]}" for t in totals.values()])
    print(table(["problem"] + [f"{k}: solved  nit  f+g" for k in searches], rows))


if __name__ == "__main__":
    main()
