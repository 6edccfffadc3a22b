"""Hostile and unlucky input: one regression test per reproduction of the
hardening issue.  Special files are made with mknod/mkfifo in a temporary
directory, never the real /dev/null; CI runs as root, as these do."""
from __future__ import annotations

import json
import os
import random
import resource
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import newtonopt as no
import newtonopt.functions as F
from newtonopt.cli import cli

EXE = shutil.which("newtonopt")


def run(*args, env=None, **kw):
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})}, **kw)


def write_spec(tmp_path: Path, text: str) -> str:
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return str(path)


SMALL_SPEC = """
[defaults]
methods = ["gd", "lbfgs"]
maxiter = 400
[[problem]]
name = "rosen"
objective = "@rosenbrock"
dim = { x = 40 }
starts = 4
"""


# -- 1. --out and special files -------------------------------------------------

@pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root (CI runs as root)")
def test_out_writes_through_a_character_device(tmp_path):
    dev = tmp_path / "null"
    os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    r = run("minimize", "x^2", "-q", "--out", str(dev))
    assert r.returncode == 0, r.stderr
    assert stat.S_ISCHR(os.stat(dev).st_mode)          # still the device node
    assert not list(tmp_path.glob(".newtonopt-*"))


def test_out_writes_through_a_fifo_and_stdout(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE, text=True)
    r = run("minimize", "(x-1)^2", "-q", "--out", str(fifo))
    assert r.returncode == 0 and reader.communicate(timeout=30)[0].startswith("converged")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    r = run("minimize", "(x-1)^2", "-q", "--out", "/dev/stdout")
    assert r.returncode == 0 and r.stdout.startswith("converged  f = 0")


def test_out_follows_a_symlink_and_keeps_modes(tmp_path):
    link = tmp_path / "link"
    link.symlink_to("target.txt")
    assert run("minimize", "x^2", "-q", "--out", str(link)).returncode == 0
    assert link.is_symlink() and (tmp_path / "target.txt").read_text().startswith("converged")
    kept = tmp_path / "kept.txt"
    kept.write_text("old\n")
    kept.chmod(0o640)
    assert run("minimize", "x^2", "-q", "--out", str(kept)).returncode == 0
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640 and "converged" in kept.read_text()
    fresh = tmp_path / "fresh.txt"
    r = subprocess.run(f"umask 027; {EXE} minimize x^2 -q --out {fresh}", shell=True)
    assert r.returncode == 0 and stat.S_IMODE(fresh.stat().st_mode) == 0o640


def test_out_problems_are_usage_errors_before_solving(tmp_path):
    r = run("minimize", "x^2", "-q", "--out", str(tmp_path / "missing" / "f.txt"))
    assert r.returncode == 2 and "does not exist" in r.stderr and "Traceback" not in r.stderr
    r = run("minimize", "x^2", "-q", "--out", str(tmp_path))
    assert r.returncode == 2


# -- 2. --vars -----------------------------------------------------------------

@pytest.mark.parametrize("names, message", [("x,x", "twice"), ("x,y", "does not use"),
                                            ("x,os.system", "not a variable name")])
def test_bad_vars_are_usage_errors(names, message):
    r = run("minimize", "(x-3)^2", "--vars", names, "--x0", "x=10", "-q")
    assert r.returncode == 2 and message in r.stderr, r.stderr


def test_spec_vars_are_checked_with_a_line(tmp_path):
    spec = write_spec(tmp_path, '[[problem]]\nname = "a"\nobjective = "x^2"\n'
                                'vars = ["x", "os.system"]\n')
    r = run("batch", spec)
    assert r.returncode == 2 and f"{spec}:4" in r.stderr


# -- 3. detached objectives ------------------------------------------------------

def test_an_objective_that_bypasses_the_graph_is_refused():
    with pytest.raises(TypeError, match="numpy"):
        no.minimize(lambda x: no.Variable(np.sum(x.data ** 2)) * 2.0, x0=np.ones(2))
    with pytest.raises(TypeError, match="returned float"):
        no.minimize(lambda x: np.sum(x.data ** 2), x0=np.ones(2))
    with pytest.raises(TypeError, match="returned None"):
        no.minimize(lambda x: None, x0=np.ones(2))
    # a genuine objective still works
    assert no.minimize(lambda x: F.sum((x - 2.0) ** 2), x0=np.ones(2)).success


# -- 4. numerical failure in the curvature check ---------------------------------

def test_a_root_of_zero_is_not_bad_input():
    # sqrt's slope at 0 is infinite: the gradient and Hessian of sqrt(sum(x^2))
    # at 0 are nan, and the check says so instead of failing on them.
    r = run("minimize", "sqrt(sum(x^2))", "--dim", "x=3", "--x0", "x=0", "--format", "json")
    assert r.returncode == 1, r.stderr
    res = json.loads(r.stdout)
    assert res["status"] == "non_finite"
    assert res["curvature"]["verdict"] == "not certified"
    assert "not finite" in res["curvature"]["reason"]


def test_norm_at_zero_is_its_minimum():
    # norm(x), the same function, takes the zero subgradient and Hessian at 0:
    # the start is the minimum; a zero Hessian certifies no strict minimum.
    r = run("minimize", "norm(x)", "--dim", "x=3", "--x0", "x=0", "--format", "json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["status"] == "converged" and res["fun"] == 0.0 and res["nit"] == 0
    assert res["curvature"]["verdict"] == "not certified"
    assert res["curvature"]["min_eigenvalue"] == res["curvature"]["max_eigenvalue"] == 0.0


# -- 5. workers die with the batch -------------------------------------------------

def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                         text=True).stdout
    return [int(p) for p in out.split()]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


def test_sigkill_of_the_parent_alone_leaves_no_worker(tmp_path):
    spec = write_spec(tmp_path, """
[defaults]
methods = ["gd"]
maxiter = 100000000
gtol = 0
[[problem]]
name = "slow"
objective = "@rosenbrock"
dim = { x = 2000 }
starts = 4
""")
    proc = subprocess.Popen([EXE, "batch", spec, "--jobs", "2", "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    workers = []
    while time.time() < deadline and len(workers) < 2:
        workers = _children(proc.pid)
        time.sleep(0.1)
    assert workers
    os.kill(proc.pid, signal.SIGKILL)              # the parent only, not its group
    proc.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers)


# -- 6. the results file is locked ------------------------------------------------

def test_a_second_run_on_one_file_is_refused_naming_the_holder(tmp_path):
    spec = write_spec(tmp_path, SMALL_SPEC.replace("maxiter = 400",
                                                   "maxiter = 100000000\ngtol = 0"))
    out = tmp_path / "r.jsonl"
    first = subprocess.Popen([EXE, "batch", spec, "--out", str(out), "-q"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline and not out.exists():
        time.sleep(0.02)
    second = run("batch", spec, "--out", str(out), "--resume")
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=60) == 130
    assert second.returncode == 2 and f"process {first.pid}" in second.stderr
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(recs) == len({r["job_id"] for r in recs})


# -- 7. I/O conditions --------------------------------------------------------------

def test_disk_full_is_a_one_line_error_and_resume_continues(tmp_path):
    spec = write_spec(tmp_path, SMALL_SPEC)
    r = run("batch", spec, "--out", "/dev/full")
    assert r.returncode == 1 and "No space left on device" in r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    out = tmp_path / "r.jsonl"

    def small_file_limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (12_000, 12_000))

    r = subprocess.run([EXE, "batch", spec, "--out", str(out)], capture_output=True,
                       text=True, preexec_fn=small_file_limit, timeout=120)
    assert r.returncode == 1 and "--resume" in r.stderr, r.stderr
    kept = out.read_text()
    assert kept.endswith("\n")                       # no torn line left behind
    n_kept = len(kept.splitlines())
    assert 0 < n_kept < 8 and f"{n_kept} of 8 jobs are recorded" in r.stderr
    r = run("batch", spec, "--out", str(out), "--resume", "-q")
    assert r.returncode == 0
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    assert out.read_text().startswith(kept) and len({x["job_id"] for x in recs}) == 8


def test_unusable_out_and_bad_lines_are_usage_errors(tmp_path):
    spec = write_spec(tmp_path, SMALL_SPEC)
    r = run("batch", spec, "--out", str(tmp_path / "no" / "r.jsonl"))
    assert r.returncode == 2 and "does not exist" in r.stderr
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.geteuid() != 0:   # root may write anyway
        assert run("batch", spec, "--out", str(ro / "r.jsonl")).returncode == 2
    for bad, why in [("not json\n", "not a JSON line"), ("[1, 2]\n", "not a newtonopt result")]:
        out = tmp_path / "bad.jsonl"
        out.write_text(bad)
        r = run("batch", spec, "--out", str(out), "--resume")
        assert r.returncode == 2 and f"{out}:1: {why}" in r.stderr and "internal" not in r.stderr


def test_broken_pipe_and_closed_stdout(tmp_path):
    spec = write_spec(tmp_path, SMALL_SPEC)
    r = subprocess.run(f"{EXE} batch {spec} | head -c 10 > /dev/null; "
                       "echo ${PIPESTATUS[0]}", shell=True, executable="/bin/bash",
                       capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "1" and "Traceback" not in r.stderr
    r = subprocess.run(f"{EXE} batch {spec} >&-", shell=True, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "standard output is closed" in r.stderr


# -- 8. signals at random times ---------------------------------------------------------

def _wait_for_handlers(pid: int) -> None:
    """Until the process catches SIGTERM (its console entry has run)."""
    deadline = time.time() + 30
    while time.time() < deadline:
        with open(f"/proc/{pid}/status") as fh:
            caught = next(int(line.split()[1], 16) for line in fh if line.startswith("SigCgt"))
        if caught & (1 << (signal.SIGTERM - 1)):
            return
        time.sleep(0.005)


@pytest.mark.slow
def test_signals_at_random_times_exit_130_and_counts_match_the_file(tmp_path):
    spec = write_spec(tmp_path, SMALL_SPEC.replace("starts = 4", "starts = 10")
                      .replace("maxiter = 400", "maxiter = 3000"))
    rng = random.Random(5)
    for i in range(12):
        out = tmp_path / f"r{i}.jsonl"
        sig = signal.SIGINT if i % 2 else signal.SIGTERM
        proc = subprocess.Popen([EXE, "batch", spec, "--out", str(out), "--jobs", "2"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        _wait_for_handlers(proc.pid)   # Python itself must have started
        time.sleep(rng.uniform(0.0, 2.0))         # then: imports, validation, jobs, summary
        proc.send_signal(sig)
        err = proc.communicate(timeout=60)[1]
        if proc.returncode == 0:
            continue                                  # the batch finished first
        assert proc.returncode == 130, (sig, err)
        assert "Exception ignored" not in err and "Traceback" not in err
        if out.exists() and "of 20 jobs" in err:
            n = len(out.read_text().splitlines())
            assert f"interrupted: {n} of 20 jobs" in err
            assert out.read_text() == "" or out.read_text().endswith("\n")


# -- 9. --timeout -------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["inf", "nan", "-1", "0"])
def test_timeout_must_be_positive_and_finite(tmp_path, value):
    spec = write_spec(tmp_path, SMALL_SPEC)
    out = tmp_path / "r.jsonl"
    r = run("batch", spec, "--timeout", value, "--out", str(out))
    assert r.returncode == 2 and not out.exists()


# -- 10. spec validation -----------------------------------------------------------------

@pytest.mark.parametrize("text, line, message", [
    ('[[problem]]\nname = "a"\nobjective = "x^2"\nseed = -1\n', 4, "seed must be"),
    ('[[problem]]\nname = "a"\nobjective = "@quadratic:cond=-1"\n', 3, "cond must be"),
    ('[[problem]]\nname = "a"\nobjective = "x^2"\nstarts = 1000000000\n', 4, "starts must be"),
])
def test_spec_holes_fail_validation_with_a_line(tmp_path, text, line, message):
    spec = write_spec(tmp_path, text)
    r = run("batch", spec)
    assert r.returncode == 2 and f"{spec}:{line}" in r.stderr and message in r.stderr
    assert "Warning" not in r.stderr


def test_a_million_starts_are_not_materialised(tmp_path):
    spec = write_spec(tmp_path, '[defaults]\nmethods = ["bfgs", "newton"]\n'
                                '[[problem]]\nname = "a"\nobjective = "(x-1)^2"\n'
                                'starts = 1000000\n')
    from newtonopt import batch as b

    t0 = time.perf_counter()
    loaded = b.load(spec)
    jobs = loaded.jobs()
    first = [next(jobs) for _ in range(3)]
    assert loaded.count == 2_000_000 and time.perf_counter() - t0 < 2.0
    assert [j.start for j in first] == [0, 0, 1]


def test_a_spec_that_never_ends_is_refused():
    r = run("batch", "/dev/zero")
    assert r.returncode == 2 and "at most 64 MiB" in r.stderr


# -- 11. the parent holds no finished records -------------------------------------------

def test_resume_streams_and_keeps_only_what_the_summary_needs(tmp_path):
    from newtonopt.batch import ResultsFile

    out = tmp_path / "r.jsonl"
    big = {"job_id": "a", "problem": "p", "method": "bfgs", "status": "converged",
           "success": True, "nfev": 3, "x": {"x": list(range(100_000))},
           "curvature": {"verdict": "minimum"}}
    out.write_text(json.dumps(big) + "\n" + json.dumps({**big, "job_id": "b"}) + "\n{\"tor")
    sink = ResultsFile(str(out), resume=True)
    sink.close()
    assert sink.done == {"a", "b"}
    assert all("x" not in r and r["verdict"] == "minimum" for r in sink.records)
    assert out.read_text().endswith("}\n")           # the torn line was cut


# -- 12. memory estimates ---------------------------------------------------------------------

@pytest.mark.parametrize("method", ["lbfgs", "newton-cg", "newton"])
def test_a_run_that_cannot_fit_is_refused_at_once(method):
    t0 = time.perf_counter()
    r = run("minimize", "@rosenbrock", "--dim", "x=100000000", "-m", method, "-q")
    assert r.returncode == 2 and "GiB" in r.stderr
    assert time.perf_counter() - t0 < 10


def test_diff_limits():
    r = run("diff", "sum(x^2)", "--dim", "x=20000", "--at", "x=1", "--hessian")
    assert r.returncode == 2 and "--hvp" in r.stderr
    r = run("diff", "sin(x)", "--at", "x=1", "--order", "14")
    assert r.returncode == 2 and "at most 10" in r.stderr
    r = run("diff", "sin(x)", "--at", "x=1", "--order", "10", "--format", "json")
    assert json.loads(r.stdout)["derivative"]["value"] == pytest.approx(-np.sin(1.0), rel=1e-12)


# -- 13. a bounded trace ------------------------------------------------------------------------

def test_trace_is_bounded_and_thinned(monkeypatch):
    from newtonopt.solvers import loop

    monkeypatch.setattr(loop, "TRACE_CAP", 100)
    res = no.minimize("@rosenbrock", method="gd", maxiter=1000, gtol=0)
    iters = [row["iter"] for row in res.trace]
    assert len(iters) <= 101 and iters[0] == 0 and iters[-1] == res.nit == 1000
    assert res.trace_stride == 16 and all(i % 16 == 0 for i in iters[:-1])
    quiet = no.minimize("@rosenbrock", method="gd", maxiter=50, keep_trace=False)
    assert [row["iter"] for row in quiet.trace] == [50]


# -- 14, 15, 16. terminals -------------------------------------------------------------------

@pytest.mark.parametrize("args", [["problems"], ["minimize", "x^2"], ["compare", "@beale"],
                                  ["diff", "sin(x)", "--at", "x=1", "--hessian"]])
def test_ascii_streams_get_ascii_spellings(args):
    r = run(*args, env={"PYTHONIOENCODING": "ascii"})
    assert r.returncode == 0 and "Traceback" not in r.stderr
    r.stdout.encode("ascii")
    if args[0] == "minimize":
        assert "||g||inf" in r.stdout


def test_no_color_batch_progress_has_no_escape_codes(tmp_path):
    import pty

    spec = write_spec(tmp_path, SMALL_SPEC)
    pid, fd = pty.fork()
    if pid == 0:                                      # the child: stderr is a terminal
        os.environ["NO_COLOR"] = "1"
        os.execv(EXE, [EXE, "batch", spec, "--out", str(tmp_path / "r.jsonl")])
    seen = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.waitpid(pid, 0)
    assert b"\x1b" not in seen and b"batch 8/8 done" in seen


def test_control_characters_are_escaped_with_the_caret_in_place():
    r = run("minimize", "x^2+\x1b]0;PWNED\x07")
    assert r.returncode == 2 and "\x1b" not in r.stderr and "\x07" not in r.stderr
    text, caret = r.stderr.splitlines()[:2]
    assert text.strip() == "x^2+\\x1b]0;PWNED\\x07"
    assert text[caret.index("^"):].startswith("\\x1b")


# -- 17. no temporary file survives SIGTERM --------------------------------------------------

def test_sigterm_during_out_leaves_no_temporary_file(tmp_path):
    out = tmp_path / "o.json"
    for delay in (0.3, 0.6, 0.9):
        proc = subprocess.Popen([EXE, "minimize", "@rosenbrock", "--dim", "x=3000",
                                 "-m", "gd", "--maxiter", "100000000", "--gtol", "0",
                                 "--format", "json", "--out", str(out)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for_handlers(proc.pid)
        time.sleep(delay)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 130
        assert not list(tmp_path.glob(".newtonopt-*"))


# -- 18, 19. objective text -------------------------------------------------------------

def test_objectives_starting_with_a_minus_are_objectives():
    r = run("diff", "-sinh(x)", "--at", "x=1", "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["value"] == pytest.approx(-np.sinh(1))
    r = run("minimize", "-sqrt(1+x^2)", "--maximize", "-q")
    assert r.returncode == 0 and "f = -1" in r.stdout
    r = run("minimize", "x^2", "--methd", "bfgs")
    assert r.returncode == 2
    r = run("minimize", "-m", "newton", "--", "-(x-1)^2", "--maximize")
    assert r.returncode == 2 or "x = 1" in r.stdout


@pytest.mark.parametrize("text", [" x^2", "\tx^2", "x^2 ", "\n x^2 +\n  0*x\n", "  (x-1)^2"])
def test_surrounding_and_inner_whitespace_is_accepted(text):
    res = CliRunner().invoke(cli, ["diff", text, "--at", "x=3", "--format", "json"])
    assert res.exit_code == 0, res.output
    value = json.loads(res.output)["value"]
    assert value == (4.0 if "x-1" in text else 9.0)


def test_python_api_still_raises_objective_error_for_control_characters():
    with pytest.raises(no.ObjectiveError):
        no.parse("x\x00+1")
    assert sys.getrecursionlimit() > 0
