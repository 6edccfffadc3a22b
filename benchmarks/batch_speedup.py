"""Batch machinery: --jobs 2 against --jobs 1, and the per-job overhead
against calling minimize in a loop, on 40 jobs of mid-sized problems; then
(with newtonopt[dask]) the Dask executor on a 2-worker LocalCluster against
the local --jobs 2, on those 40 medium jobs and on 200 small ones, and the
coordinator's peak memory as the number of jobs grows.

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


SMALL = """
[defaults]
methods = ["bfgs", "newton", "lbfgs", "trust-ncg"]
[[problem]]
name = "beale"
objective = "@beale"
starts = 25
[[problem]]
name = "himmelblau"
objective = "@himmelblau"
starts = 25
"""

TINY = """
[defaults]
methods = ["bfgs"]
maxiter = 5
[[problem]]
name = "quadratic"
objective = "(x-1)^2 + y^2"
starts = {starts}
"""


def coordinator_mb(exe_args: list[str], stop_after: float | None = None) -> float:
    """Peak RSS of the batch process itself (its workers are other
    processes); ``stop_after`` seconds, it is sent SIGINT, as Ctrl-C."""
    stop = "" if stop_after is None else (
        "import os, signal, threading\n"
        f"threading.Timer({stop_after}, lambda: os.kill(os.getpid(), signal.SIGINT)).start()\n")
    code = ("import resource, sys; sys.argv = " + repr(["newtonopt", *exe_args]) + "\n"
            + stop + "from newtonopt.console import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return float(done.stderr.strip().splitlines()[-1])


def dask_rows(tmp: str, exe: str) -> list[list[str]]:
    """Throughput is jobs per second once the cluster is up: the fixed cost
    of starting and stopping a LocalCluster (a one-job batch's extra time)
    is measured apart and taken off."""
    one = os.path.join(tmp, "one.toml")
    with open(one, "w") as fh:
        fh.write('[[problem]]\nname = "q"\nobjective = "x^2"\n')
    startup = (timed([exe, "batch", one, "-q", "--executor", "dask", "--out",
                      os.path.join(tmp, "one-d.jsonl")])
               - timed([exe, "batch", one, "-q", "--out", os.path.join(tmp, "one-l.jsonl")]))
    rows = [["LocalCluster start + stop", "—", f"{startup:.2f} s", "—", "—"]]
    for name, text, n in (("40 medium jobs", SPEC, 40), ("200 small jobs", SMALL, 200)):
        spec = os.path.join(tmp, f"{n}.toml")
        with open(spec, "w") as fh:
            fh.write(text)
        local = timed([exe, "batch", spec, "--jobs", "2", "-q", "--out",
                       os.path.join(tmp, f"l{n}.jsonl")])
        dask = timed([exe, "batch", spec, "--jobs", "2", "-q", "--executor", "dask", "--out",
                      os.path.join(tmp, f"d{n}.jsonl")])
        rows.append([name, f"{local:.2f} s", f"{dask:.2f} s",
                     f"**{local / max(dask - startup, 1e-9):.2f}**",
                     f"{(dask - startup - local) / n * 1e3:+.0f} ms/job"])
    for starts in (500, 2000):
        spec = os.path.join(tmp, f"tiny{starts}.toml")
        with open(spec, "w") as fh:
            fh.write(TINY.format(starts=starts))
        mb = coordinator_mb(["batch", spec, "--jobs", "2", "-q", "--executor", "dask",
                             "--out", os.path.join(tmp, f"t{starts}.jsonl")])
        rows.append([f"{starts:,} tiny jobs: coordinator peak", "—", f"{mb:.0f} MB", "—", "—"])
    # 10^5 jobs take over half an hour here; the first 40 s show whether the
    # spec is streamed (memory as at 500 jobs) or materialized
    spec = os.path.join(tmp, "tiny100000.toml")
    with open(spec, "w") as fh:
        fh.write(TINY.format(starts=100_000))
    out = os.path.join(tmp, "t100000.jsonl")
    mb = coordinator_mb(["batch", spec, "--jobs", "2", "-q", "--executor", "dask",
                         "--out", out], stop_after=40.0)
    with open(out) as fh:
        done = sum(1 for _ in fh)
    rows.append([f"100,000 tiny jobs: coordinator peak (stopped after 40 s, {done:,} done)",
                 "—", f"{mb:.0f} MB", "—", "—"])
    return rows


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
        try:
            import distributed  # noqa: F401
        except ImportError:
            dask = None
        else:
            dask = dask_rows(tmp, exe)
    rows = [["minimize in a loop (one process)", f"{loop:.2f} s", "—"],
            ["newtonopt batch --jobs 1", f"{one:.2f} s",
             f"overhead {(one - loop) / len(jobs) * 1e3:.0f} ms/job"],
            ["newtonopt batch --jobs 2", f"{two:.2f} s", f"**speed-up {one / two:.2f}x**"]]
    print(table(["40 jobs", "wall time", ""], rows))
    if dask:
        print()
        print(table(["Dask (2-worker LocalCluster)", "local --jobs 2", "dask (wall)",
                     "throughput dask/local", "overhead a job"], dask))


if __name__ == "__main__":
    main()
