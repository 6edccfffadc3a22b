"""What a long objective costs before its first iteration: parsing, then
compiling (trace + code generation + the check against the interpreter at
a second point), then writing the Hessian-vector code, for 1 KB to 1 MB.

    python benchmarks/compile_cost.py

Two kinds of text:

* data typed in: Osborne-1-like residuals (y_i - (x0 + x1 exp(-t_i x3) +
  x2 exp(-t_i x4)))^2 with a different (t_i, y_i) in every term;
* mixed: random scalar terms over 20 variables a..t drawn from six shapes
  (products, sines, squares, exponentials, logs, quotients) with random
  numbers, so terms repeat a shape only by chance.

Terms that differ only in their numbers are evaluated together as vector
operations (``expr.parser``), which is what keeps the typed-in data cheap.
Targets (issue 11): compile <= 20 ms for 1 KB, <= 2 s for 1 MB.
"""
from __future__ import annotations

import os
import random
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import fmt_time, table  # noqa: E402

import newtonopt as no  # noqa: E402
from newtonopt.expr import parse  # noqa: E402

SIZES = [1_000, 10_000, 100_000, 990_000]
NAMES = [chr(ord("a") + i) for i in range(20)]
SHAPES = ["{c}*{u}*{v}", "sin({u} + {c})", "({u} - {c})^2", "exp({c}*{u})*{v}",
          "log(1 + {c}*{u}^2)", "{u}/(1 + {c}*{v}^2)"]


def typed_data(size: int) -> tuple[str, dict, np.ndarray]:
    terms, i = [], 0
    while sum(map(len, terms)) + 3 * len(terms) < size:
        t, y = 0.1 * i, 0.3 + 0.5 * np.exp(-0.01 * i)
        terms.append(f"({y:.4f} - (x[0] + x[1]*exp(-{t:.1f}*x[3]) + x[2]*exp(-{t:.1f}*x[4])))^2")
        i += 1
    return " + ".join(terms), {"x": 5}, np.array([0.5, 1.5, -1.0, 0.01, 0.02])


def mixed(size: int) -> tuple[str, dict, np.ndarray]:
    rng = random.Random(size)
    terms: list[str] = []
    while sum(map(len, terms)) + 3 * len(terms) < size:
        shape = rng.choice(SHAPES)
        terms.append(shape.format(c=f"{rng.uniform(0.1, 2):.3f}", u=rng.choice(NAMES),
                                  v=rng.choice(NAMES)))
    return " + ".join(terms), {}, np.full(len(NAMES), 0.3)


def measure(make, size: int) -> list[str]:
    text, dims, x0 = make(size)
    t0 = time.perf_counter()
    obj = parse(text, dims=dims)
    t1 = time.perf_counter()
    compiled = no.compile(obj, x0[:obj.size])
    t2 = time.perf_counter()
    compiled.hvp_at(x0[:obj.size], np.ones(obj.size))
    t3 = time.perf_counter()
    return [f"{len(text) / 1000:,.0f} KB", make.__name__.replace("_", " "),
            fmt_time(t1 - t0), fmt_time(t2 - t1), fmt_time(t3 - t2)]


def main() -> None:
    rows = [measure(make, size) for size in SIZES for make in (typed_data, mixed)]
    print(table(["text", "kind", "parse", "compile", "HVP code"], rows))


if __name__ == "__main__":
    main()
