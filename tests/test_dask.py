"""Batch on a Dask cluster: a real LocalCluster of separate worker processes,
on loopback only.  Same records as the local executor, crashes and timeouts
contained in one record each, SIGKILL of the coordinator then --resume, and
the missing-extra message."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("distributed")

from newtonopt import batch as b  # noqa: E402
from newtonopt.batch.dask_executor import DaskExecutor  # noqa: E402
from newtonopt.batch.runner import run_job  # noqa: E402

EXE = shutil.which("newtonopt")
SPEC = """
[defaults]
methods = ["bfgs", "newton", "lbfgs"]
[[problem]]
name = "rosen"
objective = "@rosenbrock"
dim = { x = 20 }
starts = 3
[[problem]]
name = "beale"
objective = "@beale"
"""


def lines(path) -> list[dict]:
    return [json.loads(x) for x in open(path).read().splitlines()]


def test_dask_gives_the_local_records(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC)
    for executor in ("local", "dask"):
        r = subprocess.run([EXE, "batch", str(spec), "--jobs", "2", "-q", "--executor",
                            executor, "--out", str(tmp_path / f"{executor}.jsonl")],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
    local = {r["job_id"]: r for r in lines(tmp_path / "local.jsonl")}
    remote = {r["job_id"]: r for r in lines(tmp_path / "dask.jsonl")}
    assert set(local) == set(remote) and len(local) == 12
    for job_id, rec in local.items():
        other = remote[job_id]
        for key in ("status", "x", "fun", "nit", "nfev", "njev", "nhev", "nhvp", "problem",
                    "start", "method"):
            assert rec[key] == other[key], (job_id, key)


def _special(job):
    """A job runner with two hostile problems (runs on the Dask workers)."""
    if job.problem == "killer":
        os._exit(3)
    if job.problem == "sleeper":
        time.sleep(600)
    return run_job(job)


def test_a_crash_and_an_overrun_are_one_record_each(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text('[defaults]\nmethods = ["bfgs"]\n'
                    '[[problem]]\nname = "killer"\nobjective = "x^2"\n'
                    '[[problem]]\nname = "sleeper"\nobjective = "x^2"\n'
                    '[[problem]]\nname = "fine"\nobjective = "@beale"\n')
    records = []
    executor = DaskExecutor(_special, timeout=2.0, workers=2)
    t0 = time.monotonic()
    interrupted = b.run_batch(b.load(str(spec)).jobs(), executor, 2, records.append)
    elapsed = time.monotonic() - t0
    assert not interrupted and len(records) == 3
    by = {r["problem"]: r for r in records}
    assert by["killer"]["status"] == "error" and "exited with code 3" in by["killer"]["message"]
    assert by["sleeper"]["status"] == "timeout" and elapsed < 2.0 + 5.0
    assert by["fine"]["status"] == "converged"


def test_sigkill_of_the_coordinator_then_resume_is_exactly_once(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC.replace("starts = 3", "starts = 12").replace(
        '["bfgs", "newton", "lbfgs"]', '["bfgs", "newton", "lbfgs"]\nmaxiter = 3000'))
    out = tmp_path / "r.jsonl"
    proc = subprocess.Popen([EXE, "batch", str(spec), "--executor", "dask", "--jobs", "2",
                             "--out", str(out), "-q"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 90
    while time.time() < deadline and (not out.exists() or len(lines(out)) < 4):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = out.read_text()
    assert 4 <= len(before.splitlines()) < 39
    _resume_runs_each_job_once(spec, out, before, 39, timeout=180)


def _resume_runs_each_job_once(spec, out, before: str, total: int, timeout: float) -> None:
    """--resume on a LocalCluster: earlier lines kept byte for byte, then
    every job recorded exactly once."""
    r = subprocess.run([EXE, "batch", str(spec), "--executor", "dask", "--jobs", "2",
                        "--out", str(out), "--resume", "-q"], capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, r.stderr
    assert out.read_text().startswith(before)
    recs = lines(out)
    assert len(recs) == len({x["job_id"] for x in recs}) == total


def test_without_the_extra_one_line_and_exit_2(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC)
    code = ("import sys; sys.modules['distributed'] = None; sys.argv = ['newtonopt', 'batch', "
            f"{str(spec)!r}, '--executor', 'dask']; "
            "from newtonopt.console import main; main()")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip() == ("error: --executor dask needs dask and distributed: "
                                   "pip install 'newtonopt[dask]'")
    r = subprocess.run([EXE, "batch", str(spec), "--scheduler", "tcp://127.0.0.1:1"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "--executor dask" in r.stderr


@pytest.mark.slow
def test_a_scheduler_that_goes_away_ends_the_batch_in_one_line_and_resume_finishes(tmp_path):
    dask = os.path.join(os.path.dirname(sys.executable), "dask")
    sched_file = tmp_path / "scheduler.json"
    spec = tmp_path / "s.toml"
    # jobs of a few seconds each, so the scheduler dies with some pending
    spec.write_text('[defaults]\nmethods = ["gd"]\nmaxiter = 20000\ngtol = 1e-30\n'
                    '[[problem]]\nname = "slow"\nobjective = "@rosenbrock"\n'
                    'dim = { x = 5000 }\nstarts = 6\n')
    out = tmp_path / "r.jsonl"
    scheduler = subprocess.Popen([dask, "scheduler", "--scheduler-file", str(sched_file),
                                  "--host", "127.0.0.1", "--port", "0", "--no-dashboard"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True)
    worker = None
    try:
        deadline = time.time() + 60
        while not sched_file.exists() and time.time() < deadline:
            time.sleep(0.1)
        worker = subprocess.Popen([dask, "worker", "--scheduler-file", str(sched_file),
                                   "--nworkers", "1", "--nthreads", "1", "--no-dashboard"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)
        batch = subprocess.Popen([EXE, "batch", str(spec), "--executor", "dask",
                                  "--scheduler-file", str(sched_file), "--jobs", "1",
                                  "--out", str(out), "-q"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        while time.time() < deadline + 60 and (not out.exists() or not out.read_text()):
            time.sleep(0.05)
        os.killpg(scheduler.pid, signal.SIGKILL)
        _, stderr = batch.communicate(timeout=60)
    finally:
        for proc in (scheduler, worker):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    assert batch.returncode == 1
    recorded = out.read_text()
    n = len(recorded.splitlines())
    assert 1 <= n < 6
    assert stderr.strip().splitlines() == [
        f"error: the Dask scheduler ({sched_file}) went away; {n} of 6 jobs are recorded; "
        "run again with --resume to continue"]
    # another cluster (a LocalCluster here) finishes the rest, each job once
    _resume_runs_each_job_once(spec, out, recorded, 6, timeout=300)
