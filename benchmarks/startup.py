"""Whole-process wall time of the command line against the import floor.

    python benchmarks/startup.py

Median of 21 runs each, the three commands taken in turn, in one session: `newtonopt --help`, the headline
command with --quiet, and `python -c "import numpy, click, rich"` (the
floor: what any numpy+click+rich tool pays).  Target (issue 5): the
headline command <= 1.3x the floor.

The package's bytecode is compiled first, as `pip install .` does: with
PYTHONDONTWRITEBYTECODE set (as on our CI machines) an editable install
would otherwise recompile every module on every start, about 30 ms.
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import compile_bytecode, table  # noqa: E402

RUNS = 21


def walls(cmds: list[list[str]]) -> list[float]:
    """Median wall time of each command, the commands taken in turn in
    every round, so the machine's drift (this shared box's floor varies
    from 85 to 222 ms within a session) falls on all of them alike."""
    samples: list[list[float]] = [[] for _ in cmds]
    for _ in range(RUNS):
        for cmd, out in zip(cmds, samples):
            t0 = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            out.append(time.perf_counter() - t0)
    return [statistics.median(out) for out in samples]


def main() -> None:
    exe = shutil.which("newtonopt")
    if exe is None:
        sys.exit("install the package first (pip install .): the console script is measured")
    compile_bytecode()
    commands = [
        ("python -c \"import numpy, click, rich\"", [sys.executable, "-c", "import numpy, click, rich"]),
        ("newtonopt --help", [exe, "--help"]),
        ("newtonopt minimize \"x**4-2*x**2\" --method newton --quiet",
         [exe, "minimize", "x**4-2*x**2", "--method", "newton", "--quiet"]),
    ]
    times = walls([cmd for _, cmd in commands])
    floor = times[0]
    rows = [[label, f"{t * 1e3:.0f} ms", "1.00x" if i == 0 else f"**{t / floor:.2f}x**"]
            for i, ((label, _), t) in enumerate(zip(commands, times))]
    print(table(["command", "median wall time", "vs import floor"], rows))


if __name__ == "__main__":
    main()
