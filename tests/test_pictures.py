"""Pictures and the compare table: what a person sees.

The compare table at 80, 100 and 160 columns (no cell cut, whole-run
sparklines on one scale), --plot files (each format parses, the SVG holds
one series per method with one point per trace row), the missing-extra
message, batch --quiet, and shell completion.
"""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest
from click.testing import CliRunner
from rich.console import Console

import newtonopt as no
from newtonopt.cli import cli
from newtonopt.methods import METHODS
from newtonopt.render import fmt, tables

EXE = [sys.executable, "-m", "newtonopt"]
SPARKS = "▁▂▃▄▅▆▇█"


@pytest.fixture(scope="module")
def results():
    return [no.minimize("@rosenbrock", method=m, maxiter=1000) for m in METHODS]


@pytest.mark.parametrize("width", [80, 100, 160])
def test_compare_table_fits_without_cutting_a_cell(results, width):
    buf = io.StringIO()
    tables.compare_table(Console(file=buf, width=width, color_system=None), results)
    text = buf.getvalue()
    lines = text.splitlines()
    assert "…" not in text and max(len(line.rstrip()) for line in lines) <= width
    rows = [line for line in lines if line.split() and line.split()[0] in METHODS]
    assert [r.split()[0] for r in rows] == list(METHODS)
    for row, res in zip(rows, results):
        assert str(res.status) in row.split()            # never cut
        spark = row.split()[-1]
        assert set(spark) <= set(SPARKS) and 12 <= len(spark) <= 24
    # every sparkline ends on its run's last value, on the shared scale
    logs = [fmt.log_norms([t["grad_norm"] for t in r.trace]) for r in results]
    lo, hi = fmt.log_range(logs)
    for row, run in zip(rows, logs):
        assert row.split()[-1][-1] == fmt.sparkline(run[-1:], 1, lo, hi)
    assert f"from 1e{hi} (" in text and f"to 1e{lo} (" in text
    finite = [v for run in logs for v in run if np.isfinite(v)]
    assert lo <= min(finite) < lo + 1 and hi - 1 < max(finite) <= hi     # whole decades
    if width == 80:
        assert "left out at this width: f/g/H/Hv, verdict" in text
    else:
        assert "left out" not in text and "minimum" in text


def test_a_run_that_jumps_to_zero_has_a_decade_of_scale():
    # ‖g‖∞ from 1 (and rounding noise below it) to exactly 0: the scale is
    # 1e0 .. 1e-1, the noise stays at the top and the 0 at the bottom
    logs = [fmt.log_norms([1.0, 0.99, 1.0, 0.0])]
    assert fmt.log_range(logs) == (-1, 0)
    assert fmt.sparkline(logs[0], 4, -1, 0) == "███▁"


def test_resample_covers_the_whole_run():
    assert fmt.resample(list(range(100)), 10) == [9, 19, 29, 39, 49, 59, 69, 79, 89, 99]
    assert fmt.resample([1, 2, 3], 6) == [1, 1, 2, 2, 3, 3]
    assert fmt.sparkline([2.0, -np.inf], 2, -8.0, 2.0) == "█▁"   # ‖g‖ = 0 at the bottom


def _svg_series(path: Path) -> dict[str, int]:
    """id -> number of points of the path drawn under <g id="series-...">."""
    text = path.read_text()
    found = {}
    for gid, body in re.findall(r'<g id="series-([^"]+)">(.*?)</g>', text, re.S):
        d = re.search(r' d="([^"]+)"', body).group(1)
        found[gid] = len(re.findall(r"[ML]", d))
    return found


def test_compare_plot_has_one_series_per_method_with_every_point(tmp_path, results):
    target = tmp_path / "cmp.svg"
    res = CliRunner().invoke(cli, ["compare", "@rosenbrock", "--methods", "bfgs,newton,gd",
                                   "--plot", str(target), "--format", "json"])
    assert res.exit_code == 0, res.output
    runs = {r["method"]: r for r in json.loads(res.output)}
    series = _svg_series(target)
    assert set(series) == set(runs) | {m + "-evaluations" for m in runs}
    for method, run in runs.items():       # against iterations, and evaluations
        assert series[method] == series[method + "-evaluations"] == len(run["trace"])


@pytest.mark.parametrize("ext, magic", [("png", b"\x89PNG\r\n\x1a\n"), ("pdf", b"%PDF-"),
                                        ("svg", b"<?xml")])
def test_minimize_plot_in_each_format(tmp_path, ext, magic):
    target = tmp_path / f"conv.{ext}"
    res = CliRunner().invoke(cli, ["minimize", "@rosenbrock", "-m", "trust-ncg", "-q",
                                   "--plot", str(target)])
    assert res.exit_code == 0, res.output
    data = target.read_bytes()
    assert data.startswith(magic)
    if ext == "svg":
        root = ElementTree.fromstring(data)
        assert root.tag.endswith("svg") and len(list(root.iter())) > 50
    elif ext == "pdf":
        assert data.rstrip().endswith(b"%%EOF")
    else:
        assert data[12:16] == b"IHDR" and data.endswith(b"IEND\xaeB`\x82")
    assert not list(tmp_path.glob(".newtonopt-*"))


def test_profile_plot_from_a_results_file(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text('[defaults]\nmethods = ["bfgs", "newton", "gd"]\nmaxiter = 300\n'
                    '[[problem]]\nname = "beale"\nobjective = "@beale"\n'
                    '[[problem]]\nname = "rosen"\nobjective = "@rosenbrock"\n')
    out, plot = tmp_path / "r.jsonl", tmp_path / "profile.svg"
    res = CliRunner().invoke(cli, ["batch", str(spec), "--out", str(out), "--quiet"])
    assert res.exit_code == 0 and res.output == ""          # --quiet: only the lines
    assert len(out.read_text().splitlines()) == 6
    res = CliRunner().invoke(cli, ["batch", "--summarize", str(out), "--plot", str(plot)])
    assert res.exit_code == 0, res.output
    series = _svg_series(plot)
    assert set(series) == {f"{m}-{k}" for m in ("bfgs", "newton", "gd")
                           for k in ("evaluations", "iterations")}
    text = plot.read_text()
    assert "performance profile: evaluations" in text and "iterations" in text


def test_bad_plot_requests_are_usage_errors(tmp_path):
    res = CliRunner().invoke(cli, ["minimize", "x^2", "--plot", str(tmp_path / "a.jpg")])
    assert res.exit_code == 2 and ".png, .svg or .pdf" in res.output
    code = ("import sys; sys.modules['matplotlib'] = None; sys.argv = ['newtonopt', "
            f"'minimize', 'x^2', '--plot', {str(tmp_path / 'a.png')!r}]; "
            "from newtonopt.console import main; main()")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: --plot needs matplotlib: pip install 'newtonopt[plot]'"
    assert not (tmp_path / "a.png").exists()


def test_plotting_is_not_imported_without_plot():
    code = ("import sys; sys.argv = ['newtonopt', 'minimize', 'x^2', '-q']\n"
            "from newtonopt.console import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('matplotlib' in sys.modules, 'newtonopt.render.plots' in sys.modules, "
            "file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stderr.strip().endswith("False False")


def test_shell_completion_knows_problems_and_methods():
    env = {**os.environ, "_NEWTONOPT_COMPLETE": "bash_complete"}
    done = subprocess.run(EXE, env={**env, "COMP_WORDS": "newtonopt minimize @ro",
                                    "COMP_CWORD": "2"}, capture_output=True, text=True)
    assert done.stdout.split() == ["plain,@rosenbrock"]
    done = subprocess.run(EXE, env={**env, "COMP_WORDS": "newtonopt minimize x -m newton",
                                    "COMP_CWORD": "4"}, capture_output=True, text=True)
    assert done.stdout.split() == ["plain,newton", "plain,newton-cg"]
    done = subprocess.run(EXE, env={**os.environ, "_NEWTONOPT_COMPLETE": "zsh_source"},
                          capture_output=True, text=True)
    assert "compdef" in done.stdout
