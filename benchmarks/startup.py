"""Whole-process wall time of the command line against the import floor.

    python benchmarks/startup.py

Median of 15 runs each, in one session: `newtonopt --help`, the headline
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
from _timing import table  # noqa: E402

RUNS = 15


def wall(cmd: list[str]) -> float:
    samples = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> None:
    exe = shutil.which("newtonopt")
    if exe is None:
        sys.exit("install the package first (pip install .): the console script is measured")
    import newtonopt
    subprocess.run([sys.executable, "-m", "compileall", "-q",
                    os.path.dirname(newtonopt.__file__)], check=True)
    floor = wall([sys.executable, "-c", "import numpy, click, rich"])
    rows = [["python -c \"import numpy, click, rich\"", f"{floor * 1e3:.0f} ms", "1.00x"]]
    for label, cmd in [
        ("newtonopt --help", [exe, "--help"]),
        ("newtonopt minimize \"x**4-2*x**2\" --method newton --quiet",
         [exe, "minimize", "x**4-2*x**2", "--method", "newton", "--quiet"]),
    ]:
        t = wall(cmd)
        rows.append([label, f"{t * 1e3:.0f} ms", f"**{t / floor:.2f}x**"])
    print(table(["command", "median wall time", "vs import floor"], rows))


if __name__ == "__main__":
    main()
