"""Data and structure in objectives: --data files, array literals, @,
index()/len(), constant slice bounds, 'where' local names, and the fitting
functions; each value against numpy, each derivative against central
differences, each fit against scipy or the generating parameters."""
from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import newtonopt as no
from newtonopt.autodiff import Variable
from newtonopt.cli import cli as main
from newtonopt.expr import ObjectiveError, parse
from newtonopt.expr.data import DataSource, load_all, read_table

EXAMPLES = os.path.join(os.path.dirname(__file__), os.pardir, "examples")
DATA = os.path.join(EXAMPLES, "data")


def _grad_hess(obj, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and dense Hessian by the interpreter (double backprop)."""
    x = Variable(z.copy())
    y = obj(x)
    y.backward(create_graph=True)
    g = x.grad
    rows = []
    for i in range(z.size):
        x.grad = None
        gi = g[i]
        gi.backward()
        rows.append(x.grad.data.copy())
    return g.data.copy(), np.array(rows)


def _fd_grad(f, z: np.ndarray, h: float = 1e-6) -> np.ndarray:
    e = np.eye(z.size)
    return np.array([(f(z + h * e[i]) - f(z - h * e[i])) / (2 * h) for i in range(z.size)])


def _check_derivatives(obj, z: np.ndarray, rtol: float = 1e-6) -> None:
    """Gradient vs central differences of f; Hessian vs central
    differences of the gradient; the compiled code vs the interpreter."""
    g, H = _grad_hess(obj, z)
    np.testing.assert_allclose(g, _fd_grad(obj.value, z), rtol=rtol, atol=1e-7)
    fd_h = np.array([_fd_grad(lambda u: _grad_hess(obj, u)[0][i], z) for i in range(z.size)])
    np.testing.assert_allclose(H, fd_h, rtol=1e-5, atol=1e-6)
    compiled = no.compile(obj, z)
    f_c, g_c = compiled.value_and_grad(z)
    assert f_c == pytest.approx(obj.value(z), rel=1e-14)
    np.testing.assert_allclose(g_c, g, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(compiled.hessian_at(z), H, rtol=1e-12, atol=1e-13)


# -- reading files -------------------------------------------------------------

def test_csv_with_header_binds_each_column(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("# a comment line\nt, y\n0, 1.5\n1, 2.5\n2, 3.5\n")
    data, optional = load_all([DataSource.parse(str(path))])
    np.testing.assert_array_equal(data["t"], [0, 1, 2])
    np.testing.assert_array_equal(data["y"], [1.5, 2.5, 3.5])
    assert optional == {"t", "y"}


@pytest.mark.parametrize("column", ["y", "1", "-1"])
def test_one_column_by_name_or_index(tmp_path, column):
    path = tmp_path / "d.tsv"
    path.write_text("t\ty\n0\t1.5\n1\t2.5\n")
    data, optional = load_all([DataSource.parse(f"obs={path}:{column}")])
    np.testing.assert_array_equal(data["obs"], [1.5, 2.5])
    assert optional == set()


def test_whitespace_text_without_header_is_a_matrix(tmp_path):
    path = tmp_path / "m.txt"
    path.write_text("1 2 3\n4 5 6\n")
    table, header = read_table(str(path))
    assert header is None
    np.testing.assert_array_equal(table, [[1, 2, 3], [4, 5, 6]])
    data, _ = load_all([DataSource.parse(f"M={path}")])
    assert data["M"].shape == (2, 3)


def test_npy_vector_and_matrix(tmp_path):
    np.save(tmp_path / "v.npy", np.arange(4))
    np.save(tmp_path / "m.npy", np.arange(6.0).reshape(3, 2))
    data, _ = load_all([DataSource.parse(f"v={tmp_path / 'v.npy'}"),
                        DataSource.parse(f"m={tmp_path / 'm.npy'}"),
                        DataSource.parse(f"c={tmp_path / 'm.npy'}:1")])
    np.testing.assert_array_equal(data["v"], [0, 1, 2, 3])
    assert data["m"].shape == (3, 2)
    np.testing.assert_array_equal(data["c"], [1, 3, 5])


@pytest.mark.parametrize("content, item, message", [
    (None, "t=missing.csv", "does not exist"),
    ("t,y\n1,2\n", "t=FILE:z", r"no column 'z' \(columns: t, y\)"),
    ("t,y\n1,2\n3,abc\n", "FILE", r"d.csv:3:2: 'abc' is not a number"),
    ("t,y\n1,2\n3,nan\n", "FILE", r"d.csv:3:2: nan in data"),
    ("t,y\n1,2\n3,inf\n", "FILE", r"d.csv:3:2: inf in data"),
    ("t,y\n1,2\n3\n", "FILE", r"d.csv:3: 1 values where the header has 2"),
    ("1,2\n3,4\n", "FILE", "no header row"),
    ("t,y\n", "FILE", "no rows"),
    ("t,t\n1,2\n", "FILE", "names column t twice"),
])
def test_bad_files_say_where(tmp_path, content, item, message):
    path = tmp_path / "d.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ObjectiveError, match=message):
        load_all([DataSource.parse(item.replace("FILE", str(path)), str(tmp_path))])


def test_relative_paths_follow_the_base(tmp_path):
    (tmp_path / "d.csv").write_text("t\n1\n")
    assert DataSource.parse("t=d.csv", str(tmp_path)).path == os.path.join(str(tmp_path),
                                                                          "d.csv")


# -- the language ----------------------------------------------------------------

def test_data_broadcasts_with_parameters_and_is_not_copied():
    t = np.linspace(0, 1, 7)
    obj = parse("sum((y - a*exp(-b*t))^2)", data={"t": t, "y": 2 * t})
    assert obj.data["t"] is t          # shared, not copied
    z = np.array([1.3, 0.4])
    expected = np.sum((2 * t - 1.3 * np.exp(-0.4 * t)) ** 2)
    assert obj.value(z) == pytest.approx(expected, rel=1e-15)
    _check_derivatives(obj, z)


def test_matrix_vector_products():
    rng = np.random.default_rng(3)
    X, u = rng.normal(size=(6, 3)), rng.normal(size=6)
    obj = parse("sum(sin(X @ w)^2) + dot(u @ X, w) + u @ u", dims={"w": 3},
                data={"X": X, "u": u})
    w = np.array([0.3, -0.7, 1.1])
    expected = np.sum(np.sin(X @ w) ** 2) + (u @ X) @ w + u @ u
    assert obj.value(w) == pytest.approx(expected, rel=1e-14)
    _check_derivatives(obj, w)
    g, H = _grad_hess(obj, w)
    s = X @ w   # closed forms: d/dw sum sin^2(Xw) = X' sin(2s); H = X' diag(2 cos 2s) X
    np.testing.assert_allclose(g, X.T @ np.sin(2 * s) + u @ X, rtol=1e-13)
    np.testing.assert_allclose(H, X.T @ (2 * np.cos(2 * s)[:, None] * X), rtol=1e-12)


def test_array_literals():
    obj = parse("dot([1, 2.5, -3], x) + sum([[1, 2], [3, 4]] @ [1, -1]) + [2, pi][1]",
                dims={"x": 3})
    x = np.array([1.0, 2.0, 3.0])
    assert obj.value(x) == pytest.approx(1 + 5 - 9 + (-1 - 1) + math.pi, rel=1e-15)


def test_index_len_and_slices_that_follow_n():
    n = 9
    x = np.linspace(-1, 2, n)
    tridia = parse("(x[0] - 1)^2 + sum(index(x)[1:] * (2*x[1:] - x[:-1])^2)", dims={"x": n})
    i = np.arange(2, n + 1)
    assert tridia.value(x) == pytest.approx((x[0] - 1) ** 2 + np.sum(i * (2 * x[1:] - x[:-1]) ** 2),
                                            rel=1e-14)
    thirds = parse("sum(x[:len(x)//3]^2) + sum(x[len(x)//3 : 2*len(x)/3]) + len(x)",
                   dims={"x": n})
    assert thirds.value(x) == pytest.approx(np.sum(x[:3] ** 2) + np.sum(x[3:6]) + n, rel=1e-14)
    # every slice form the README lists
    for text, pick in [("x[1:-3]", x[1:-3]), ("x[2::4]", x[2::4]), ("x[::-1]", x[::-1]),
                       ("x[-4:]", x[-4:]), ("x[:5:2]", x[:5:2]), ("x[-1]", x[-1])]:
        obj = parse(f"sum(index(x) * x) + sum({text})", dims={"x": n})
        assert obj.value(x) == pytest.approx(np.sum(np.arange(1, n + 1) * x) + np.sum(pick))


def test_where_names_are_computed_once_and_equal_the_inlined_text():
    n = 8
    x = np.random.default_rng(0).normal(size=n)
    local = parse("sum(100*(b - a^2)^2 + (1 - a)^2) where a = x[::2], b = x[1::2]",
                  dims={"x": n})
    inlined = parse("sum(100*(x[1::2] - x[::2]^2)^2 + (1 - x[::2])^2)", dims={"x": n})
    assert local.value(x) == inlined.value(x)
    np.testing.assert_array_equal(_grad_hess(local, x)[0], _grad_hess(inlined, x)[0])
    chained = parse("s * (1 + s) where r = x - 1, s = sum(r^2)", dims={"x": n})
    s = np.sum((x - 1) ** 2)
    assert chained.value(x) == pytest.approx(s * (1 + s), rel=1e-14)
    _check_derivatives(chained, x)
    # a local name used four times is computed once: one Sum in the graph
    y = parse("q + q*q + sin(q) where q = sum(x^2)", dims={"x": n})(Variable(x.copy()))
    ops, stack, seen = [], [y], set()
    while stack:
        v = stack.pop()
        if id(v) in seen or v.creator is None:
            continue
        seen.add(id(v))
        ops.append(type(v.creator).__name__)
        stack.extend(v.creator.inputs)
    assert ops.count("Sum") == 1


@pytest.mark.parametrize("name, numpy_f", [
    ("log1p", np.log1p), ("expm1", np.expm1), ("atan", np.arctan),
    ("erf", np.vectorize(math.erf)),
    ("softplus", lambda z: np.log1p(np.exp(z))),
    ("sigmoid", lambda z: 1 / (1 + np.exp(-z))),
])
def test_fitting_functions_value_and_two_derivatives(name, numpy_f):
    x = np.array([-0.7, -0.2, 0.4, 0.9])
    obj = parse(f"sum({name}(x) * [1, 2, 3, 4]) + {name}(x[0]*x[1])", dims={"x": 4})
    expected = np.sum(numpy_f(x) * [1, 2, 3, 4]) + numpy_f(x[0] * x[1])
    assert obj.value(x) == pytest.approx(float(expected), rel=1e-14)
    _check_derivatives(obj, x)


def test_logsumexp_is_stable_and_twice_differentiable():
    x = np.array([700.0, 702.0, 699.5])
    obj = parse("logsumexp(x)", dims={"x": 3})
    m = x.max()
    assert obj.value(x) == pytest.approx(m + math.log(np.sum(np.exp(x - m))), rel=1e-15)
    g, H = _grad_hess(obj, x)
    p = np.exp(x - m) / np.sum(np.exp(x - m))
    np.testing.assert_allclose(g, p, rtol=1e-13)
    np.testing.assert_allclose(H, np.diag(p) - np.outer(p, p), atol=1e-14)
    _check_derivatives(parse("logsumexp(x)", dims={"x": 3}), np.array([0.1, -0.4, 0.3]))


def test_softplus_does_not_overflow():
    obj = parse("softplus(x) + softplus(-x)")
    assert obj.value(np.array([800.0])) == pytest.approx(800.0, rel=1e-15)


@pytest.mark.parametrize("text, dims, data, message, column", [
    ("sum(t*x)", {"x": 3}, {"t": np.ones(5)}, "vector of length 5 and a vector of length 3",
     5),
    ("sum(X @ x)", {"x": 3}, {"X": np.ones((4, 2))}, r"the sizes do not match \(2 != 3\)", 6),
    ("X[0]", {}, {"X": np.ones((4, 2))}, "a matrix cannot be indexed", 0),
    ("sum(x[:len(x)/2])", {"x": 3}, {}, "whole number; this is 1.5", 13),
    ("sum(x[:y])", {"x": 3}, {}, "constant whole number", 7),
    ("sum(x//2)", {"x": 3}, {}, "// rounds constants only", 5),
    ("[x, 1]", {"x": 3}, {}, "list elements must be constants", 1),
    ("sum(a) where a = b, b = x", {"x": 2}, {}, "used before its definition", 17),
    ("sum(a) where a = a + x", {"x": 2}, {}, "in terms of itself", 17),
    ("sum(x) where a = 2", {"x": 2}, {}, "a is defined but not used", 13),
    ("sum(x) where sin = 2", {"x": 2}, {}, "sin is a function", 13),
    ("sum(x) where t = 2", {"x": 2}, {"t": np.ones(2)}, "t is bound by --data", 13),
    ("sum(x) where a = 1, a = 2", {"x": 2}, {}, "a is defined twice", 20),
    ("sum(x) where", {"x": 2}, {}, "a definition is missing", 12),
    ("sum(x) where a", {"x": 2}, {}, "expected 'name = expression'", 13),
    ("sum(x) where x = 1", {"x": 2}, {}, "--dim names x, which 'where' defines", None),
])
def test_bad_structure_points_at_the_problem(text, dims, data, message, column):
    with pytest.raises(ObjectiveError, match=message) as info:
        parse(text, dims=dims, data=data)
    assert info.value.column == column


@pytest.mark.parametrize("data, dims, vars, message", [
    ({"x": [1.0]}, {"x": 2}, None, "declared a variable by --dim"),
    ({"x": [1.0]}, {}, ["x", "a"], "named a variable by --vars"),
    ({"exp": [1.0]}, {}, None, "is a function"),
    ({"pi": [1.0]}, {}, None, "is a constant"),
    ({"q": [1.0]}, {}, None, "binds q, which the objective does not use"),
    ({"t": [1.0, float("nan")]}, {}, None, "NaN or inf"),
    ({"t": np.ones((2, 2, 2))}, {}, None, "a number, a vector or a matrix"),
])
def test_bad_data_bindings(data, dims, vars, message):
    with pytest.raises(ObjectiveError, match=message):
        parse("sum(a*x) + a", dims=dims, vars=vars, data=data)


def test_compiled_code_depends_on_the_data_not_only_the_text():
    t = np.linspace(0, 1, 5)
    first = no.minimize("sum((y - a*t)^2)", "a=0", data={"t": t, "y": 2 * t})
    second = no.minimize("sum((y - a*t)^2)", "a=0", data={"t": t, "y": 3 * t})
    assert first.x[0] == pytest.approx(2.0, rel=1e-10)
    assert second.x[0] == pytest.approx(3.0, rel=1e-10)


# -- the shipped examples ----------------------------------------------------------

def test_decay_fit_recovers_the_generating_parameters_within_their_standard_error():
    data, _ = load_all([DataSource.parse(os.path.join(DATA, "decay.csv"))])
    t = data["t"]
    res = no.minimize("sum((y - a*exp(-b*t) - c)^2)", "a=1,b=1,c=0", method="newton",
                      data=data)
    assert res.status == "converged"
    a, b, c = res.x
    # Gauss's standard errors: s^2 (J'J)^-1 with s^2 = SSR / (n - p)
    jac = np.column_stack([np.exp(-b * t), -a * t * np.exp(-b * t), np.ones_like(t)])
    s2 = res.fun / (t.size - 3)
    se = np.sqrt(np.diag(s2 * np.linalg.inv(jac.T @ jac)))
    assert np.all(np.abs(res.x - [2.5, 1.3, 0.5]) <= se)


def test_logistic_regression_matches_scipy_lbfgsb():
    scipy_optimize = pytest.importorskip("scipy.optimize")
    data, _ = load_all([DataSource.parse("X=" + os.path.join(DATA, "logistic_X.csv")),
                        DataSource.parse(os.path.join(DATA, "logistic_y.csv"))])
    X, y, lam = data["X"], data["y"], 0.1

    def f_and_g(w):   # hand-coded: sum log(1 + exp(-y Xw)) + lam/2 |w|^2
        m = -y * (X @ w)
        return np.sum(np.logaddexp(0, m)) + 0.5 * lam * w @ w, \
            X.T @ (-y / (1 + np.exp(-m))) + lam * w

    ref = scipy_optimize.minimize(f_and_g, np.zeros(5), jac=True, method="L-BFGS-B",
                                  options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 1000})
    for method in ("newton", "lbfgs", "trust-ncg"):
        res = no.minimize("sum(softplus(-y * (X @ w))) + 0.5*lam*sum(w^2) where lam = 0.1",
                          "w=0", method=method, dims={"w": 5}, data=data)
        assert res.status == "converged", method
        np.testing.assert_allclose(res.x, ref.x, rtol=1e-6, atol=1e-8)


def test_osborne1_from_data_has_the_minimizer_of_the_written_out_text():
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks"))
    try:
        import _osborne
    finally:
        sys.path.pop(0)
    data, _ = load_all([DataSource.parse(os.path.join(DATA, "osborne1.csv"))])
    with_data = no.minimize("sum((y - (x[0] + x[1]*exp(-t*x[3]) + x[2]*exp(-t*x[4])))^2)",
                            _osborne.X0, method="newton", dims={"x": 5}, data=data)
    written = no.minimize(_osborne.text(), _osborne.X0, method="newton", dims={"x": 5})
    assert with_data.status == "converged"
    assert with_data.fun == pytest.approx(5.46489e-5, rel=1e-5)   # MGH's published f*
    np.testing.assert_allclose(with_data.x, written.x, rtol=1e-7)


def test_cli_data_options_and_errors(tmp_path):
    runner = CliRunner()
    out = runner.invoke(main, ["minimize", "sum((y - a*exp(-b*t) - c)^2)", "--data",
                               os.path.join(DATA, "decay.csv"), "--x0", "a=1,b=1,c=0",
                               "--method", "newton", "--format", "json"])
    assert out.exit_code == 0, out.output
    assert '"status": "converged"' in out.output
    bad = tmp_path / "bad.csv"
    bad.write_text("t,y\n1,2\n2,x\n")
    for args, message in [
        (["--data", str(bad)], "bad.csv:3:2: 'x' is not a number"),
        (["--data", f"t={os.path.join(DATA, 'decay.csv')}:nope"], "no column 'nope'"),
        (["--data", os.path.join(DATA, "decay.csv"), "--dim", "t=3"], "--dim"),
    ]:
        result = runner.invoke(main, ["minimize", "sum((y - a*t)^2)", *args])
        assert result.exit_code == 2, result.output
        assert message in result.output
        assert "Traceback" not in result.output


def test_example_scripts_run(tmp_path):
    for script, expect in [("fit_decay.sh", "a = 2.51355"), ("logistic.sh", "converged")]:
        run = subprocess.run(["bash", os.path.join(EXAMPLES, script)], capture_output=True,
                             text=True, env={**os.environ, "NO_COLOR": "1"}, timeout=120)
        assert run.returncode == 0, run.stderr
        assert expect in run.stdout


def test_batch_spec_binds_data_relative_to_the_spec(tmp_path):
    from newtonopt.batch.spec import load

    (tmp_path / "sub").mkdir()
    t = np.linspace(0, 2, 11)
    np.savetxt(tmp_path / "sub" / "d.csv", np.column_stack([t, 3 * t + 1]), delimiter=",",
               header="t,y", comments="")
    spec = tmp_path / "sub" / "s.toml"
    spec.write_text('[[problem]]\nname = "line"\nobjective = "sum((y - a*t - b)^2)"\n'
                    'data = "d.csv"\nmethods = ["newton"]\n')
    out = tmp_path / "r.jsonl"
    result = CliRunner().invoke(main, ["batch", str(spec), "--out", str(out), "--jobs", "1"])
    assert result.exit_code == 0, result.output
    import json

    record = json.loads(out.read_text())
    assert record["x"]["a"] == pytest.approx(3.0, rel=1e-10)
    assert record["x"]["b"] == pytest.approx(1.0, rel=1e-10)
    assert [job.data for job in load(str(spec)).jobs()][0][0].startswith("/")
    spec.write_text('[[problem]]\nname = "line"\nobjective = "sum((y - a*t)^2)"\n'
                    'data = { t = "missing.csv" }\n')
    result = CliRunner().invoke(main, ["batch", str(spec), "--out", str(out) + "2"])
    assert result.exit_code == 2
    assert "s.toml:4" in result.output and "does not exist" in result.output


def test_the_run_header_names_the_data_and_their_shapes():
    result = CliRunner().invoke(main, [
        "minimize", "sum(softplus(-y * (X @ w)))", "--dim", "w=5", "--x0", "w=0",
        "--data", "X=" + os.path.join(DATA, "logistic_X.csv"),
        "--data", os.path.join(DATA, "logistic_y.csv"), "--maxiter", "2"],
        env={"NO_COLOR": "1"})
    assert "data: X[400×5], y[400]" in result.output     # in the order bound
