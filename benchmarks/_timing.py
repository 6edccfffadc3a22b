"""Shared timing helpers for the benchmark scripts."""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from typing import Callable


def compile_bytecode() -> None:
    """Compile newtonopt's bytecode first, as ``pip install .`` does: with
    PYTHONDONTWRITEBYTECODE set (our CI machines) a run would otherwise
    compile the modules it imports inside its timing.  Forced: compileall
    calls a .pyc fresh when the source's mtime matches in whole seconds,
    while the importer also compares sizes, so a file rewritten within the
    second of its last compile (a git checkout) kept a stale .pyc that every
    import recompiled in memory (measured: the solver modules' import went
    from 7 to 20 ms, the headline command from 1.3x to 1.4x the floor)."""
    import newtonopt

    subprocess.run([sys.executable, "-m", "compileall", "-q", "-f",
                    os.path.dirname(newtonopt.__file__)], check=True)


def median_time(fn: Callable[[], object], budget: float = 0.5, repeats: int = 7) -> float:
    """Median seconds per call over ``repeats`` batches sized to ``budget``."""
    fn()  # warm caches and lazy imports
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    number = max(1, int(budget / repeats / once))
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - t0) / number)
    return statistics.median(samples)


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table (what the README shows)."""
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)
