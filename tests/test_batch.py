"""Batch runs: parallel equals serial, failures stay contained, kills lose
nothing, bad specs stop before anything runs."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import newtonopt.batch as b
from newtonopt.batch.executor import LocalExecutor
from newtonopt.batch.summary import summarize
from newtonopt.cli import cli

SPEC_20 = """
[defaults]
methods = ["newton", "bfgs", "lbfgs", "newton-cg", "trust-ncg"]
maxiter = 500

[[problem]]
name = "quartic"
objective = "x**4 - 2*x**2"
x0 = "x=2"

[[problem]]
name = "himmelblau"
objective = "@himmelblau"
starts = 2

[[problem]]
name = "beale"
objective = "@beale"
"""


def write(tmp_path: Path, text: str, name: str = "spec.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def lines(path) -> list[dict]:
    return [json.loads(l) for l in Path(path).read_text().splitlines() if l.strip()]


def invoke(*args):
    return CliRunner().invoke(cli, ["batch", *args], catch_exceptions=False)


def test_twenty_jobs_two_workers_equal_one_worker(tmp_path):
    spec = write(tmp_path, SPEC_20)
    r1 = invoke(spec, "--jobs", "1", "--out", str(tmp_path / "one.jsonl"))
    r2 = invoke(spec, "--jobs", "2", "--out", str(tmp_path / "two.jsonl"))
    assert r1.exit_code == 0 and r2.exit_code == 0, r2.output
    one, two = lines(tmp_path / "one.jsonl"), lines(tmp_path / "two.jsonl")
    assert len(one) == len(two) == 20
    assert len({r["job_id"] for r in two}) == 20
    key = lambda r: r["job_id"]
    for a, c in zip(sorted(one, key=key), sorted(two, key=key)):
        assert (a["problem"], a["start"], a["method"]) == (c["problem"], c["start"], c["method"])
        assert a["x"] == c["x"] and a["fun"] == c["fun"] and a["nit"] == c["nit"]
        assert a["status"] == c["status"] and "trace" not in a
    # Every record carries the SPEC fields plus problem, start, job_id.
    assert {"problem", "start", "method", "job_id", "x", "fun", "status", "nfev"} <= set(one[0])


def test_results_to_stdout_and_trace_flag(tmp_path):
    spec = write(tmp_path, '[[problem]]\nname = "b"\nobjective = "@booth"\n')
    r = invoke(spec, "--trace")
    records = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
    assert len(records) == 1 and records[0]["trace"][0]["iter"] == 0
    assert records[0]["x"] == pytest.approx({"x": 1.0, "y": 3.0})


def test_nan_and_timeout_jobs_are_lines_and_others_unaffected(tmp_path):
    spec = write(tmp_path, """
[defaults]
methods = ["bfgs"]

[[problem]]
name = "nan"
objective = "sqrt(-1 - x^2)"

[[problem]]
name = "slow"
objective = "@rosenbrock"
dim = { x = 200000 }
methods = ["gd"]
maxiter = 100000000

[[problem]]
name = "fine"
objective = "@booth"
""")
    out = tmp_path / "r.jsonl"
    r = invoke(spec, "--jobs", "2", "--timeout", "3", "--out", str(out))
    assert r.exit_code == 1                     # a job timed out
    recs = {x["problem"]: x for x in lines(out)}
    assert recs["nan"]["status"] == "non_finite"
    assert recs["slow"]["status"] == "timeout" and "--timeout" in recs["slow"]["message"]
    assert recs["fine"]["status"] == "converged"
    assert recs["fine"]["x"] == pytest.approx({"x": 1.0, "y": 3.0})


def _run_or_die(job):
    if job.problem == "killer":
        os.kill(os.getpid(), signal.SIGKILL)
    if job.problem == "raiser":
        raise RuntimeError("boom")
    return b.runner.run_job(job)


def test_a_killed_worker_becomes_an_error_line(tmp_path):
    spec = write(tmp_path, """
[defaults]
methods = ["bfgs", "newton"]
[[problem]]
name = "killer"
objective = "x^2"
[[problem]]
name = "raiser"
objective = "x^2"
[[problem]]
name = "fine"
objective = "@beale"
""")
    jobs = b.load(spec).jobs()
    records = []
    interrupted = b.run_batch(jobs, LocalExecutor(_run_or_die), 2, records.append)
    assert not interrupted and len(records) == 6
    by = {(r["problem"], r["method"]): r for r in records}
    for method in ("bfgs", "newton"):
        assert by[("killer", method)]["status"] == "error"
        assert "SIGKILL" in by[("killer", method)]["message"]
        assert by[("raiser", method)]["status"] == "error"
        assert "RuntimeError: boom" in by[("raiser", method)]["message"]
        assert by[("fine", method)]["status"] == "converged"


def test_sigkill_then_resume_runs_every_job_exactly_once(tmp_path):
    spec = write(tmp_path, """
[defaults]
methods = ["gd", "bfgs", "lbfgs", "newton-cg"]
maxiter = 3000

[[problem]]
name = "rosen"
objective = "@rosenbrock"
dim = { x = 50 }
starts = 4
""")
    out = tmp_path / "r.jsonl"
    exe = shutil.which("newtonopt")
    proc = subprocess.Popen([exe, "batch", spec, "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline and (not out.exists() or len(lines(out)) < 3):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)        # the batch and its workers, mid-run
    proc.wait()
    before = out.read_text()
    assert 3 <= len(lines(out)) < 16
    with open(out, "a") as fh:                 # what a kill in mid-write leaves
        fh.write('{"problem": "rosen", "start": 1, "job_id": "tor')
    r = invoke(spec, "--out", str(out), "--resume")
    assert r.exit_code == 0, r.output
    after = out.read_text()
    assert after.startswith(before)            # earlier lines unchanged, torn line gone
    recs = lines(out)
    assert len(recs) == 16 and len({x["job_id"] for x in recs}) == 16
    jobs = b.load(spec).jobs()
    assert {x["job_id"] for x in recs} == {j.job_id for j in jobs}


@pytest.mark.parametrize("text, line, message", [
    ("[[problem]]\nname = 'a'\nobjective = 'x^2'\nmethods = ['bfgs'\n", 4, "TOML syntax"),
    ("[[problem]]\nname = 'a'\nobjective = 'x^2'\ntolerance = 1\n", 4, "unknown key 'tolerance'"),
    ("[[problem]]\nname = 'a'\n\nobjective = 'x^2 + foo(x)'\n", 4, "unknown function 'foo'"),
    ("[defaults]\nmethods = ['bfgs', 'simplex']\n[[problem]]\nname = 'a'\nobjective = 'x'\n",
     2, "unknown method 'simplex'"),
    ("[[problem]]\nname = 'a'\nobjective = 'x^2'\nx0 = 'z=1'\n", 4, "no variable 'z'"),
    ("[[problem]]\nname = 'a'\nobjective = 'x^2'\nmaxiter = -3\n", 4, "maxiter must be"),
])
def test_malformed_spec_exits_2_with_file_and_line_and_touches_nothing(tmp_path, text, line,
                                                                       message):
    spec = write(tmp_path, text)
    out = tmp_path / "r.jsonl"
    r = CliRunner().invoke(cli, ["batch", spec, "--out", str(out)])
    assert r.exit_code == 2
    assert f"{spec}:{line}" in r.output and message in r.output
    assert "Traceback" not in r.output
    assert not out.exists()
    out.write_text("kept\n")
    r = CliRunner().invoke(cli, ["batch", spec, "--out", str(out), "--resume"])
    assert r.exit_code == 2 and out.read_text() == "kept\n"


def test_existing_output_needs_resume(tmp_path):
    spec = write(tmp_path, '[[problem]]\nname = "b"\nobjective = "@booth"\n')
    out = tmp_path / "r.jsonl"
    out.write_text("")
    r = CliRunner().invoke(cli, ["batch", spec, "--out", str(out)])
    assert r.exit_code == 2 and "--resume" in r.output


def test_summary_and_performance_profile_by_hand():
    recs = [
        {"problem": "p", "start": 0, "method": "a", "success": True, "status": "converged",
         "nit": 5, "nfev": 10, "njev": 10, "nhev": 0, "nhvp": 0},
        {"problem": "p", "start": 0, "method": "b", "success": True, "status": "converged",
         "nit": 3, "nfev": 30, "njev": 30, "nhev": 0, "nhvp": 0},
        {"problem": "q", "start": 0, "method": "a", "success": False, "status": "maxiter",
         "nit": 9, "nfev": 9, "njev": 9, "nhev": 0, "nhvp": 0},
        {"problem": "q", "start": 0, "method": "b", "success": True, "status": "converged",
         "nit": 4, "nfev": 5, "njev": 5, "nhev": 2, "nhvp": 0},
        {"problem": "q", "start": 0, "method": "c", "status": "timeout", "success": False},
    ]
    s = summarize(recs)
    by = {m["method"]: m for m in s["methods"]}
    assert s["problems"] == 2 and s["runs"] == 5
    # a: solves p at the best cost (20) and fails q.
    assert by["a"]["profile"] == {"1": 0.5, "2": 0.5, "4": 0.5, "8": 0.5, "16": 0.5}
    # b: p at 60 = 3x the best, q at 12 = the best.
    assert by["b"]["profile"] == {"1": 0.5, "2": 0.5, "4": 1.0, "8": 1.0, "16": 1.0}
    assert (by["b"]["solved"], by["a"]["failed"], by["c"]["errors"]) == (2, 1, 1)
    assert by["b"]["median_nit"] == 3.5


def test_summarize_an_existing_file(tmp_path):
    spec = write(tmp_path, SPEC_20)
    out = tmp_path / "r.jsonl"
    invoke(spec, "--jobs", "2", "--out", str(out))
    r = invoke("--summarize", str(out), "--format", "json")
    s = json.loads(r.stdout)
    assert s["runs"] == 20 and s["problems"] == 4
    assert {m["method"] for m in s["methods"]} == {"newton", "bfgs", "lbfgs", "newton-cg",
                                                   "trust-ncg"}
    r = invoke("--summarize", str(out), "--format", "csv")
    assert r.stdout.splitlines()[0].startswith("problem,method,status,success,nit")
    assert len(r.stdout.splitlines()) == 21


def test_example_sweep_spec_is_valid():
    spec = b.load(str(Path(__file__).resolve().parent.parent / "examples" / "sweep.toml"))
    jobs = list(spec.jobs())
    assert spec.count == len(jobs) == len({j.job_id for j in jobs}) > 40


def test_sigterm_keeps_every_finished_line_and_exits_130(tmp_path):
    spec = write(tmp_path, """
[defaults]
methods = ["gd", "lbfgs"]
maxiter = 4000

[[problem]]
name = "rosen"
objective = "@rosenbrock"
dim = { x = 60 }
starts = 6
""")
    out = tmp_path / "r.jsonl"
    proc = subprocess.Popen([shutil.which("newtonopt"), "batch", spec, "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and (not out.exists() or len(lines(out)) < 2):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    recs = lines(out)                          # every line whole and valid JSON
    assert 2 <= len(recs) < 12 and out.read_text().endswith("\n")
    assert "interrupted" in stderr and "performance profile" in stdout
    r = invoke(spec, "--out", str(out), "--resume")
    assert r.exit_code == 0 and len({x["job_id"] for x in lines(out)}) == len(lines(out)) == 12
