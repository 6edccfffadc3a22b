"""The command line through click's CliRunner, plus the installed script."""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from newtonopt.cli import cli

ROOT = Path(__file__).resolve().parent.parent
SPEC_FIELDS = {"objective", "method", "variables", "x", "fun", "jac", "grad_norm", "success",
               "status", "message", "nit", "nfev", "njev", "nhev", "nhvp", "time_s", "x0",
               "trace", "curvature"}


def run(*args, env=None):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_headline_command_converges_with_one_row_per_iteration():
    r = run("minimize", "x**4 - 2*x**2", "--method", "newton")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    head = next(i for i, l in enumerate(lines) if l.split()[:2] == ["iter", "f"])
    rows = []
    for line in lines[head + 1:]:
        if not line.strip():
            break
        rows.append(line)
    assert [int(l.split()[0]) for l in rows] == list(range(len(rows)))
    status = next(l for l in lines if "Status:" in l)
    assert "converged" in status
    iterations = int(next(l for l in lines if "Iterations:" in l).split()[-1])
    assert len(rows) == iterations + 1
    x_line = next(l.strip() for l in lines if l.strip().startswith("x = "))
    assert abs(float(x_line.split("=")[1])) == pytest.approx(1.0, abs=1e-12)
    assert "Final objective value:  -1" in r.output


def test_json_carries_every_spec_field_with_consistent_counts():
    r = run("minimize", "x**4 - 2*x**2", "--method", "newton", "--x0", "x=2", "--format", "json")
    assert r.exit_code == 0
    res = json.loads(r.output)
    assert SPEC_FIELDS <= set(res)
    assert res["variables"] == {"x": 1} and res["x0"] == {"x": 2.0}
    assert res["x"]["x"] == pytest.approx(1.0, abs=1e-11) and res["fun"] == pytest.approx(-1.0)
    assert res["status"] == "converged" and res["success"] is True
    assert len(res["trace"]) == res["nit"] + 1
    last = res["trace"][-1]
    assert (last["nfev"], last["njev"], last["nhev"], last["nhvp"]) == \
        (res["nfev"], res["njev"], res["nhev"], res["nhvp"])
    assert res["nhev"] == res["nit"]          # one Hessian per Newton step
    assert res["trace"][0] == {**res["trace"][0], "iter": 0, "fun": 8.0, "grad_norm": 24.0}
    assert res["curvature"]["verdict"] == "minimum"
    assert res["curvature"]["min_eigenvalue"] == pytest.approx(8.0)   # f'' = 12x^2 - 4


def test_csv_trace_parses():
    r = run("minimize", "@rosenbrock", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(r.output)))
    assert list(rows[0]) == ["iter", "fun", "grad_norm", "step", "dx_norm", "nfev", "njev",
                             "nhev", "nhvp", "notes"]
    assert [int(row["iter"]) for row in rows] == list(range(len(rows)))
    assert float(rows[-1]["grad_norm"]) <= 1e-8 and r.exit_code == 0


def test_vector_output_is_named_lists():
    r = run("minimize", "sum((x - 2)^2) + (y + 1)^2", "--dim", "x=3", "--format", "json")
    res = json.loads(r.output)
    assert res["variables"] == {"x": 3, "y": 1}
    np.testing.assert_allclose(res["x"]["x"], [2, 2, 2], atol=1e-9)
    assert res["x"]["y"] == pytest.approx(-1.0)


def test_compare_default_and_all():
    r = run("compare", "@rosenbrock")
    assert r.exit_code == 0
    table_rows = [line.split()[0] for line in r.output.splitlines()
                  if line and not line.startswith(" ")]
    for method in ("gd", "newton", "bfgs", "newton-cg"):
        assert method in table_rows
    assert "★ fastest converged" in r.output
    r = run("compare", "@rosenbrock", "--methods", "all", "--format", "json")
    results = json.loads(r.output)
    assert [x["method"] for x in results] == ["gd", "newton", "bfgs", "lbfgs", "cg",
                                              "newton-cg", "trust-ncg", "trust-exact"]
    assert all(SPEC_FIELDS <= set(x) for x in results)
    assert {tuple(x["x0"]["x"]) for x in results} == {(-1.2, 1.0)}
    r = run("compare", "@booth", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(r.output)))
    assert [row["method"] for row in rows] == ["gd", "newton", "bfgs", "newton-cg"]
    assert rows[0]["problem"] == "" and rows[1]["status"] == "converged"


def test_diff_against_closed_forms():
    # f = x^2 y + sin(y): grad = (2xy, x^2 + cos y), H = [[2y, 2x], [2x, -sin y]]
    r = run("diff", "x^2*y + sin(y)", "--at", "x=1.5,y=0.5", "--hessian", "--hvp", "x=1,y=-2",
            "--format", "json")
    rep = json.loads(r.output)
    x, y = 1.5, 0.5
    assert rep["value"] == pytest.approx(x * x * y + np.sin(y), rel=1e-15)
    assert rep["gradient"] == pytest.approx({"x": 2 * x * y, "y": x * x + np.cos(y)}, rel=1e-15)
    h = np.array([[2 * y, 2 * x], [2 * x, -np.sin(y)]])
    np.testing.assert_allclose(rep["hessian"], h, rtol=1e-15)
    hv = h @ [1.0, -2.0]
    assert rep["hvp"] == pytest.approx({"x": hv[0], "y": hv[1]}, rel=1e-14)


def test_diff_third_derivative_of_sin_is_minus_one():
    r = run("diff", "sin(x)", "--at", "x=0", "--order", "3", "--format", "json")
    assert json.loads(r.output)["derivative"]["value"] == -1.0
    r = run("diff", "sin(x)", "--at", "x=0", "--order", "3")
    assert "d^3f/dx^3 = -1" in r.output


BAD = ["x.__class__", "__import__('os').system('touch /tmp/newtonopt_cli_pwned')", "foo(x)",
       "sin(x, y)", "x +", "x²", "lambda: x", "[a for a in b]", "x < 1", "_x + 1", "x // 2",
       "x[0]", "2 + 3", "'abc'"]


@pytest.mark.parametrize("text", BAD)
def test_bad_objective_exits_2_with_a_caret_and_no_traceback(text):
    r = CliRunner().invoke(cli, ["minimize", text])
    assert r.exit_code == 2
    err = r.stderr if hasattr(r, "stderr") else r.output
    lines = err.strip().splitlines()
    assert len(lines) == 3 and lines[1].strip() == "^" and lines[2].startswith("error: ")
    assert "Traceback" not in r.output
    assert not os.path.exists("/tmp/newtonopt_cli_pwned")


@pytest.mark.parametrize("args", [
    ["minimize", "x+y", "--x0", "x=1,z=2"],
    ["minimize", "x^2", "--x0", "x=nan"],
    ["minimize", "sum(x)", "--dim", "x=abc"],
    ["minimize", "x^2", "--method", "simplex"],
    ["compare", "x^2", "--methods", "bfgs,simplex"],
    ["diff", "x^2"],
])
def test_bad_options_exit_2(args):
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_maxiter_exit_code_and_quiet_line():
    r = run("minimize", "@rosenbrock", "--maxiter", "2", "--quiet")
    assert r.exit_code == 1
    assert r.output.startswith("maxiter  f = ") and len(r.output.splitlines()) == 1


def test_no_color_removes_escape_codes():
    forced = run("minimize", "x^2", "--method", "newton", env={"FORCE_COLOR": "1"})
    assert "\x1b[" in forced.output            # the check below can fail
    plain = run("minimize", "x^2", "--method", "newton",
                env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert "\x1b[" not in plain.output and "converged" in plain.output


def test_out_writes_the_file_atomically(tmp_path):
    out = tmp_path / "res.json"
    r = run("minimize", "@booth", "--format", "json", "--out", str(out))
    assert r.exit_code == 0 and r.output == ""
    assert json.loads(out.read_text())["x"] == pytest.approx({"x": 1.0, "y": 3.0})
    assert [p.name for p in tmp_path.iterdir()] == ["res.json"]


def test_problems_lists_every_builtin():
    from newtonopt.problems import PROBLEMS
    r = run("problems", "--format", "json")
    assert [p["name"] for p in json.loads(r.output)] == list(PROBLEMS)
    assert "@ext-rosenbrock" in run("problems").output


def test_help_and_problems_import_no_solver_code():
    code = ("import sys\nfrom click.testing import CliRunner\nfrom newtonopt.cli import cli\n"
            "for args in (['--help'], ['problems']):\n"
            "    assert CliRunner().invoke(cli, args).exit_code == 0\n"
            "print(sorted(m for m in sys.modules if m.startswith('newtonopt.solvers')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_installed_script_module_and_shim():
    exe = shutil.which("newtonopt")
    assert exe is not None, "the console script is not installed"
    out = subprocess.run([exe, "minimize", "x**4-2*x**2", "--method", "newton", "--format",
                          "json"], capture_output=True, text=True)
    assert out.returncode == 0 and json.loads(out.stdout)["fun"] == -1.0
    assert out.stderr == ""                     # stdout is data; nothing else is said
    version = subprocess.run([sys.executable, "-m", "newtonopt", "--version"],
                             capture_output=True, text=True, check=True)
    import newtonopt
    assert newtonopt.__version__ in version.stdout
    shim = subprocess.run([sys.executable, str(ROOT / "cli.py"), "--help"],
                          capture_output=True, text=True, check=True, cwd=ROOT)
    assert "minimize" in shim.stdout


def test_ctrl_c_prints_the_best_point_and_exits_130():
    exe = shutil.which("newtonopt")
    proc = subprocess.Popen([exe, "minimize", "@rosenbrock", "--dim", "x=100000", "--method",
                             "gd", "--maxiter", "1000000", "--every", "1000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in out and "x = [" in out


@pytest.mark.parametrize("script", ["headline.sh", "rosenbrock_compare.sh", "api.py"])
def test_examples_run_as_they_stand(script):
    path = ROOT / "examples" / script
    cmd = [sys.executable, str(path)] if script.endswith(".py") else ["bash", str(path)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "converged" in out.stdout


def test_internal_error_is_one_line_pointing_at_debug(monkeypatch):
    import newtonopt.solvers

    def broken(*args, **kwargs):
        raise ZeroDivisionError("simulated bug")

    monkeypatch.setattr(newtonopt.solvers, "minimize", broken)
    r = CliRunner().invoke(cli, ["minimize", "x^2"])
    assert r.exit_code == 1
    assert r.output.strip().splitlines()[-1] == (
        "internal error: ZeroDivisionError: simulated bug (run again with --debug for the "
        "traceback)")
    assert "Traceback" not in r.output
    r = CliRunner().invoke(cli, ["minimize", "x^2", "--debug"])
    assert isinstance(r.exception, ZeroDivisionError)


def test_threads_option_sets_the_blas_variables(monkeypatch):
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    assert run("problems").exit_code == 0
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1"          # the default
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    run("problems")
    assert os.environ["OMP_NUM_THREADS"] == "4"               # the user's setting stands
    run("--threads", "3", "problems")
    assert {os.environ[v] for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                    "MKL_NUM_THREADS")} == {"3"}


def test_objective_may_start_with_a_minus():
    r = run("minimize", "-(x-1)^2 - (y+2)^2", "--maximize", "--format", "json")
    res = json.loads(r.output)
    assert r.exit_code == 0 and res["fun"] == pytest.approx(0.0, abs=1e-20)
    assert res["x"] == pytest.approx({"x": 1.0, "y": -2.0}, abs=1e-10)
    r = CliRunner().invoke(cli, ["minimize", "x^2", "--maxitr", "3"])
    assert r.exit_code == 2 and "--maxitr" in r.output     # a misspelt option still fails


def test_radius_reaches_the_trust_regions_from_the_cli_and_specs(tmp_path):
    # the first step of trust-exact from (-1.2, 1) is capped by the radius
    r = run("minimize", "@rosenbrock", "--method", "trust-exact", "--radius", "0.01",
            "--format", "json")
    assert r.exit_code == 0, r.output
    first = json.loads(r.output)["trace"][1]
    assert first["step"] == pytest.approx(0.01) and first["dx_norm"] <= 0.01 * (1 + 1e-12)
    spec = tmp_path / "s.toml"
    spec.write_text('[[problem]]\nname = "r"\nobjective = "@rosenbrock"\n'
                    'methods = ["trust-ncg"]\nradius = 0.01\n')
    out = tmp_path / "r.jsonl"
    r = run("batch", str(spec), "--out", str(out), "--trace", "-q")
    assert r.exit_code == 0, r.output
    record = json.loads(out.read_text())
    assert record["status"] == "converged" and record["trace"][1]["step"] == pytest.approx(0.01)
    spec.write_text('[[problem]]\nname = "r"\nobjective = "@rosenbrock"\nradius = 0\n')
    r = run("batch", str(spec), "--out", str(tmp_path / "x.jsonl"))
    assert r.exit_code == 2 and "radius must be a number in (0, 1000]" in r.output
