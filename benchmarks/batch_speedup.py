"""Batch machinery: --jobs 2 against --jobs 1, and the per-job overhead
against calling minimize in a loop, on 40 jobs of mid-sized problems.

    python benchmarks/batch_speedup.py
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import table  # noqa: E402

SPEC = """
[defaults]
methods = ["bfgs", "lbfgs", "newton-cg", "trust-ncg"]
maxiter = 5000

[[problem]]
name = "rosenbrock-100"
objective = "@rosenbrock"
dim = { x = 100 }
starts = 7

[[problem]]
name = "ext-rosenbrock-20000"
objective = "@ext-rosenbrock"
dim = { x = 20000 }
starts = 4
methods = ["lbfgs", "newton-cg", "trust-ncg"]
"""


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    from newtonopt.batch import load
    from newtonopt.batch.runner import run_job

    exe = shutil.which("newtonopt")
    with tempfile.TemporaryDirectory() as tmp:
        spec = os.path.join(tmp, "spec.toml")
        with open(spec, "w") as fh:
            fh.write(SPEC)
        jobs = list(load(spec).jobs())
        assert len(jobs) == 40
        t0 = time.perf_counter()
        for job in jobs:
            run_job(job)
        loop = time.perf_counter() - t0
        one = timed([exe, "batch", spec, "--jobs", "1", "--out", os.path.join(tmp, "1.jsonl")])
        two = timed([exe, "batch", spec, "--jobs", "2", "--out", os.path.join(tmp, "2.jsonl")])
    rows = [["minimize in a loop (one process)", f"{loop:.2f} s", "—"],
            ["newtonopt batch --jobs 1", f"{one:.2f} s",
             f"overhead {(one - loop) / len(jobs) * 1e3:.0f} ms/job"],
            ["newtonopt batch --jobs 2", f"{two:.2f} s", f"**speed-up {one / two:.2f}x**"]]
    print(table(["40 jobs", "wall time", ""], rows))


if __name__ == "__main__":
    main()
