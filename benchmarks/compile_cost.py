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

Each time is the median over ``VARIANTS[size]`` different texts of that size
and kind (other numbers, other terms), each parsed and compiled once: the
in-process cache would answer a repeated text, and one sample of a 20 ms
compile swings by 1.5x on a shared machine.
"""
from __future__ import annotations

import os
import random
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import fmt_time, table  # noqa: E402

import newtonopt as no  # noqa: E402
from newtonopt.expr import parse  # noqa: E402

SIZES = [1_000, 10_000, 100_000, 990_000]
VARIANTS = {1_000: 15, 10_000: 5, 100_000: 1, 990_000: 1}
NAMES = [chr(ord("a") + i) for i in range(20)]
SHAPES = ["{c}*{u}*{v}", "sin({u} + {c})", "({u} - {c})^2", "exp({c}*{u})*{v}",
          "log(1 + {c}*{u}^2)", "{u}/(1 + {c}*{v}^2)"]


def typed_data(size: int, variant: int) -> tuple[str, dict, np.ndarray]:
    terms, i = [], 0
    while sum(map(len, terms)) + 3 * len(terms) < size:
        t, y = 0.1 * (i + variant), 0.3 + 0.5 * np.exp(-0.01 * i)
        terms.append(f"({y:.4f} - (x[0] + x[1]*exp(-{t:.1f}*x[3]) + x[2]*exp(-{t:.1f}*x[4])))^2")
        i += 1
    return " + ".join(terms), {"x": 5}, np.array([0.5, 1.5, -1.0, 0.01, 0.02])


def mixed(size: int, variant: int) -> tuple[str, dict, np.ndarray]:
    rng = random.Random(size * 1000 + variant)
    terms: list[str] = []
    while sum(map(len, terms)) + 3 * len(terms) < size:
        shape = rng.choice(SHAPES)
        terms.append(shape.format(c=f"{rng.uniform(0.1, 2):.3f}", u=rng.choice(NAMES),
                                  v=rng.choice(NAMES)))
    return " + ".join(terms), {}, np.full(len(NAMES), 0.3)


def measure(make, size: int) -> list[str]:
    parse_s, compile_s, hvp_s = [], [], []
    for variant in range(VARIANTS[size]):
        text, dims, x0 = make(size, variant)
        t0 = time.perf_counter()
        obj = parse(text, dims=dims)
        t1 = time.perf_counter()
        compiled = no.compile(obj, x0[:obj.size])
        t2 = time.perf_counter()
        compiled.hvp_at(x0[:obj.size], np.ones(obj.size))
        t3 = time.perf_counter()
        parse_s.append(t1 - t0)
        compile_s.append(t2 - t1)
        hvp_s.append(t3 - t2)
    return [f"{len(text) / 1000:,.0f} KB", make.__name__.replace("_", " "),
            str(VARIANTS[size]), *(fmt_time(statistics.median(t))
                                   for t in (parse_s, compile_s, hvp_s))]


def main() -> None:
    rows = [measure(make, size) for size in SIZES for make in (typed_data, mixed)]
    print(table(["text", "kind", "texts", "parse", "compile", "HVP code"], rows))


if __name__ == "__main__":
    main()
