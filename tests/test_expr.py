"""The objective language: Python's precedence, numpy's values, finite-difference
gradients, and a whitelist that nothing gets around."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import newtonopt as no
from newtonopt import grad, hessian, value_and_grad
from newtonopt.expr import ObjectiveError, parse, parse_point
from newtonopt.problems import PROBLEMS

from helpers import fd_grad


def value(text, point, **kw):
    return parse(text, **kw).value(np.atleast_1d(np.asarray(point, dtype=float)))


# -- precedence and associativity, exactly Python's --------------------------

@pytest.mark.parametrize("text, python", [
    ("-x**2", lambda x: -x ** 2),
    ("-x^2", lambda x: -x ** 2),
    ("2^3^2 + 0*x", lambda x: 2 ** 3 ** 2),
    ("x/2/4", lambda x: x / 2 / 4),
    ("-2**-1 + 0*x", lambda x: -2 ** -1),
    ("x - 1 - 2", lambda x: x - 1 - 2),
    ("2*x**3/4 - -x", lambda x: 2 * x ** 3 / 4 - -x),
    ("(x + 1)^-2", lambda x: (x + 1) ** -2),
    ("x**0.5**2", lambda x: x ** 0.5 ** 2),
    ("+x - +1e-3", lambda x: +x - +1e-3),
])
def test_precedence_matches_python(text, python):
    assert value(text, 1.7) == pytest.approx(python(1.7), rel=1e-15)


def test_two_pow_three_pow_two_is_512():
    assert value("2^3^2 + 0*x", 0.0) == 512.0


def test_division_chain_is_left_associative():
    assert value("x/y/z", [8.0, 2.0, 4.0]) == 1.0


# -- every function against numpy, gradients against finite differences -----

FUNCS = {
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "exp": np.exp, "log": np.log,
    "sqrt": np.sqrt, "tanh": np.tanh, "sinh": np.sinh, "cosh": np.cosh, "abs": np.abs,
}


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_function_value_and_gradient(name):
    obj = parse(f"sum({name}(x) * w)", dims={"x": 4, "w": 4})
    rng = np.random.default_rng(7)
    x = rng.uniform(0.3, 1.2, 4) * np.array([1, -1, 1, -1] if name not in ("log", "sqrt") else 1)
    w = rng.normal(size=4)
    z = np.concatenate([x, w])
    f_np = lambda zz: float(np.sum(FUNCS[name](zz[:4]) * zz[4:]))
    v, g = value_and_grad(obj, z)
    assert v == pytest.approx(f_np(z), rel=1e-14)
    np.testing.assert_allclose(g, fd_grad(f_np, z), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("text, f_np", [
    ("sum(x^2)", lambda x, y: np.sum(x ** 2)),
    ("mean(x^3)", lambda x, y: np.mean(x ** 3)),
    ("norm(x)", lambda x, y: np.linalg.norm(x)),
    ("dot(x, y)", lambda x, y: np.dot(x, y)),
    ("sum(min(x, y))", lambda x, y: np.sum(np.minimum(x, y))),
    ("sum(max(x, y^2))", lambda x, y: np.sum(np.maximum(x, y ** 2))),
    ("sum(x[1:] * x[:-1]) + x[-1]*y[0]", lambda x, y: np.sum(x[1:] * x[:-1]) + x[-1] * y[0]),
    ("sum(x[::2]^2) - sum((x*y)[1::2])", lambda x, y: np.sum(x[::2] ** 2) - np.sum((x * y)[1::2])),
    ("sum(exp(x)[::-1] * y)", lambda x, y: np.sum(np.exp(x)[::-1] * y)),
    ("sum(x) * pi + e", lambda x, y: np.sum(x) * np.pi + np.e + 0 * np.sum(y)),
])
def test_reductions_indexing_and_constants(text, f_np):
    obj = parse(text + " + 0*sum(y)", dims={"x": 5, "y": 5})
    rng = np.random.default_rng(3)
    z = rng.uniform(-1, 1, 10)
    split = lambda zz: (zz[:5], zz[5:])
    v, g = value_and_grad(obj, z)
    assert v == pytest.approx(f_np(*split(z)), rel=1e-14)
    np.testing.assert_allclose(g, fd_grad(lambda zz: f_np(*split(zz)), z), rtol=1e-6, atol=1e-8)


def test_variable_order_and_vars_option():
    assert parse("y + x*z").names == ("y", "x", "z")
    assert parse("y + x*z", vars=["x", "y", "z"]).names == ("x", "y", "z")
    with pytest.raises(ObjectiveError, match="not among --vars"):
        parse("y + q", vars=["y"])


def test_pack_unpack_roundtrip():
    obj = parse("sum(x^2) + y", dims={"x": 3})
    z = obj.pack({"x": [1, 2, 3], "y": 4})
    np.testing.assert_array_equal(z, [1, 2, 3, 4])
    assert obj.unpack(z) == {"x": [1.0, 2.0, 3.0], "y": 4.0}
    assert obj.variables == {"x": 3, "y": 1}


# -- points ------------------------------------------------------------------

def test_points_by_name_position_broadcast_and_list():
    obj = parse("sum(x^2) + y", dims={"x": 3})
    np.testing.assert_array_equal(parse_point("x=2,y=-1", obj), [2, 2, 2, -1])
    np.testing.assert_array_equal(parse_point("[1,2,3], -1", obj), [1, 2, 3, -1])
    np.testing.assert_array_equal(parse_point("x=[1, 2, 3], y=1e-3", obj), [1, 2, 3, 1e-3])
    np.testing.assert_array_equal(parse_point("y=5", obj, default=np.zeros(4)), [0, 0, 0, 5])


@pytest.mark.parametrize("text, message", [
    ("q=1", "no variable 'q'"),
    ("x=[1,2],y=0", "3 element"),
    ("x=nan,y=1", "finite"),
    ("x=inf,y=1", "finite"),
    ("x=1", "no value for y"),
    ("x=1,2", "by name or none"),
    ("x=abc,y=1", "not a number"),
    ("1,2,3", "3 values for 2 variables"),
])
def test_bad_points(text, message):
    obj = parse("sum(x^2) + y", dims={"x": 3})
    with pytest.raises(ObjectiveError, match=message):
        parse_point(text, obj)


def test_default_start_is_reproducible_and_seeded():
    obj = parse("x^2 + y^2")
    np.testing.assert_array_equal(obj.default_start(0), obj.default_start(0))
    assert not np.array_equal(obj.default_start(0), obj.default_start(1))
    assert np.all(np.abs(obj.default_start(5)) <= 1)


# -- rejection ---------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "x.real", "().__class__.__bases__[0].__subclasses__()", "__import__('os').system('touch /tmp/newtonopt_pwned')",
    "eval('1')", "open('/etc/passwd')", "lambda: x", "[x for x in y]", "{x: 1}", "(x, y)",
    "'abc'", "b'abc'", "*x", "sin(x=1)", "(y := 2)", "x < 1", "x == y", "x and y", "not x",
    "_x + 1", "x if y else 1", "x[0]", "sin(x, y)", "sum()", "x // 2", "x % 2", "x @ y",
    "~x", "x | y", "x & y", "x << 1", "1j * x", "True * x", "None", "x;import os", "x # c",
    "x²", "α + 1", "x − 1", "", "   ", "2 + 3", "sin", "x[1.5]", "x[y]", "x[::0]", "x[0, 1]",
    "(" * 300 + "x" + ")" * 300, "x" + "**x" * 5000,
])
def test_rejected_with_objective_error_and_never_executed(text):
    before = set(sys.modules)
    with pytest.raises(ObjectiveError) as info:
        parse(text, dims={"y": 2} if "y" in text and "x[y]" not in text and "y :=" not in text else None)
    assert isinstance(info.value, ValueError)
    assert set(sys.modules) == before
    assert not os.path.exists("/tmp/newtonopt_pwned")
    rendered = info.value.render()
    assert rendered.splitlines()[-1].startswith("error: ")
    assert len(rendered.splitlines()) <= 3


def test_error_caret_points_at_the_column():
    with pytest.raises(ObjectiveError) as info:
        parse("x^2 + foo(y)")
    lines = info.value.render().splitlines()
    assert lines[0].strip() == "x^2 + foo(y)"
    assert lines[1].index("^") - lines[0].index("x") == 6
    assert "unknown function 'foo'" in lines[2]


def test_long_objective_shows_a_window_around_the_column():
    text = " + ".join(f"(x - {i})^2" for i in range(2000)) + " + bad(x)"
    with pytest.raises(ObjectiveError) as info:
        parse(text)
    shown, caret, message = info.value.render().splitlines()
    assert len(shown) < 100 and shown.strip().startswith("…")
    assert shown[caret.index("^"):].startswith("bad(")


def test_non_scalar_objective_says_sum():
    with pytest.raises(ObjectiveError, match=r"did you mean sum"):
        parse("x^2", dims={"x": 3})


def test_size_limits():
    with pytest.raises(ObjectiveError, match="at most"):
        parse("x" + "+x" * 600_000)
    with pytest.raises(ObjectiveError, match="between 1 and"):
        parse("sum(x)", dims={"x": 10 ** 8 + 1})
    with pytest.raises(ObjectiveError, match="between 1 and"):
        parse("sum(x)", dims={"x": 0})


def test_overflow_is_inf_not_a_hang_or_an_error():
    assert value("9**9**9**9 + x", 1.0) == np.inf
    with np.errstate(over="ignore"):
        assert value("x * 1e308 * 10", 1.0) == np.inf


def test_long_sum_of_literal_data():
    """Real test-set objectives are several KB of literal data."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=3000), rng.normal(size=3000)
    text = " + ".join(f"({ai!r}*x - {bi!r}*y + 1)^2" for ai, bi in zip(a.tolist(), b.tolist()))
    assert len(text) > 100_000
    obj = parse(text)
    z = np.array([0.3, -0.7])
    want = float(np.sum((a * z[0] - b * z[1] + 1) ** 2))
    assert obj.value(z) == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(grad(obj, z),
                               [np.sum(2 * (a * z[0] - b * z[1] + 1) * a),
                                np.sum(-2 * (a * z[0] - b * z[1] + 1) * b)], rtol=1e-10)


# -- fuzzing -----------------------------------------------------------------

ATOMS = st.sampled_from(["x", "y", "1", "2.5", "1e-3", "pi", "e", "0", "x[0]", "x[1:]",
                         "_a", "q", "1e400", "sin", "()", "[]"])
UNARY = st.sampled_from(["sin", "cos", "tan", "exp", "log", "sqrt", "tanh", "sinh", "cosh",
                         "abs", "sum", "mean", "norm", "foo", "print", "__import__"])
BINARY = st.sampled_from(["+", "-", "*", "/", "**", "^", "//", "%", "@", "<", " and ", ".", ","])


def _expressions():
    return st.recursive(
        ATOMS,
        lambda inner: st.one_of(
            st.tuples(inner, BINARY, inner).map(lambda t: f"({t[0]}{t[1]}{t[2]})"),
            st.tuples(UNARY, inner).map(lambda t: f"{t[0]}({t[1]})"),
            st.tuples(st.sampled_from(["dot", "min", "max"]), inner, inner).map(
                lambda t: f"{t[0]}({t[1]}, {t[2]})"),
            inner.map(lambda s: f"-{s}"),
            inner.map(lambda s: f"{s}[::2]"),
        ),
        max_leaves=12)


@settings(max_examples=300, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
@given(_expressions())
def test_random_expressions_only_raise_objective_error(text):
    try:
        obj = parse(text, dims={"x": 3} if "x[" in text or "x)" in text else None)
    except ObjectiveError:
        return
    with np.errstate(all="ignore"):
        z = obj.default_start(0)
        obj.value(z)
        grad(obj, z)


@settings(max_examples=300, deadline=1000)
@given(st.text(max_size=60))
def test_random_text_only_raises_objective_error(text):
    try:
        obj = parse(text)
    except ObjectiveError:
        return
    with np.errstate(all="ignore"):
        obj.value(obj.default_start(0))


# -- built-in problems -------------------------------------------------------

def test_rosenbrock_matches_scipy_small_and_at_a_million():
    from scipy.optimize import rosen, rosen_der
    z2 = np.array([-1.2, 1.0])
    assert value("@rosenbrock", z2) == pytest.approx(rosen(z2), rel=1e-15)
    n = 10 ** 6
    obj = parse("@rosenbrock", dims={"x": n})
    z = np.random.default_rng(1).uniform(-2, 2, n)
    assert obj.value(z) == pytest.approx(rosen(z), rel=1e-13)
    np.testing.assert_allclose(grad(obj, z), rosen_der(z), rtol=1e-12, atol=1e-9)


def test_ext_rosenbrock_is_the_pairwise_form():
    z = np.random.default_rng(2).uniform(-2, 2, 10)
    pairs = z.reshape(-1, 2)
    want = np.sum(100 * (pairs[:, 1] - pairs[:, 0] ** 2) ** 2 + (1 - pairs[:, 0]) ** 2)
    assert parse("@ext-rosenbrock", dims={"x": 10}).value(z) == pytest.approx(want, rel=1e-15)
    with pytest.raises(ObjectiveError, match="multiple of 2"):
        parse("@ext-rosenbrock", dims={"x": 7})


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_builtin_minimum_is_attained_at_listed_minimizers(name):
    problem = PROBLEMS[name]
    obj = parse("@" + name)
    assert obj.size == (problem.default_n or len(obj.names))
    assert obj.default_start().shape == (obj.size,)
    for xmin in problem.minimizers(obj.size):
        assert obj.value(xmin) == pytest.approx(problem.fmin, abs=1e-20)
        assert np.max(np.abs(grad(obj, xmin))) < 1e-9


def test_quadratic_condition_number_is_settable():
    obj = parse("@quadratic:cond=1e6", dims={"x": 20})
    eig = np.linalg.eigvalsh(hessian(obj, np.zeros(20)))
    assert eig.max() / eig.min() == pytest.approx(1e6, rel=1e-10)
    with pytest.raises(ObjectiveError, match="no parameter"):
        parse("@quadratic:kappa=3")
    with pytest.raises(ObjectiveError, match="unknown problem"):
        parse("@nosuch")


# -- terms that differ only in their numbers ------------------------------------

def test_typed_in_data_is_evaluated_as_vectors_with_the_same_value_and_gradient():
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks"))
    try:
        import _osborne
    finally:
        sys.path.pop(0)
    obj = parse(_osborne.text(), dims={"x": 5})
    assert obj.vector_ops < 30            # 33 terms of ~15 operations each, grouped
    x = np.array([0.4, 1.8, -1.5, 0.012, 0.025])
    assert obj.value(x) == pytest.approx(_osborne.f(x), rel=1e-14)
    np.testing.assert_allclose(no.grad(obj, x), _osborne.grad(x), rtol=1e-12)
    np.testing.assert_allclose(no.hvp(obj, x, np.ones(5)), _osborne.hess_prod(x, np.ones(5)),
                               rtol=1e-10)


def test_grouped_terms_keep_indices_and_vary_exponents():
    # indices are structure (x[0] and x[1] are two groups); exponents vary
    text = " + ".join(f"{k + 1}*(x[{k % 2}] - {k / 10})^{k % 3 + 1}" for k in range(24))
    obj = parse(text, dims={"x": 2})
    x = np.array([0.7, -0.4])

    def f(z):
        return sum((k + 1) * (z[k % 2] - k / 10) ** (k % 3 + 1) for k in range(24))

    assert obj.value(x) == pytest.approx(f(x), rel=1e-13)
    e = 1e-6
    fd = [(f(x + e * np.eye(2)[i]) - f(x - e * np.eye(2)[i])) / (2 * e) for i in range(2)]
    np.testing.assert_allclose(no.grad(obj, x), fd, rtol=1e-8)
    h = no.hessian(obj, x)
    assert h[0, 1] == 0.0
    assert h[0, 0] == pytest.approx(sum((k + 1) * (k % 3 + 1) * (k % 3) * (x[0] - k / 10)
                                        ** (k % 3 - 1) for k in range(0, 24, 2)), rel=1e-12)


def test_a_bad_term_in_a_group_is_reported_at_its_own_column():
    text = " + ".join(f"(x - {k})^2" for k in range(10)) + " + sin(x, 2)"
    with pytest.raises(ObjectiveError, match="sin\\(\\) takes 1 argument") as info:
        parse(text)
    assert info.value.column == text.index("sin(x, 2)")


def test_a_long_typed_sum_is_grouped_by_text_and_gives_the_written_value():
    # > 256 terms: groups are found on the text, parsed once, checked
    # against their own AST (hex literals fail that check and go the
    # ordinary way), and every term keeps its sign
    rng = np.random.default_rng(5)
    c = rng.uniform(0.1, 2.0, 400)
    parts, reference = ["-x[0]^2"], [lambda z: -z[0] ** 2]
    for k in range(400):
        if k % 4 == 0:
            parts.append(f"- {c[k]:.6f}*exp(-{c[k]:.6f}*x[1])")
            reference.append(lambda z, k=k: -float(f"{c[k]:.6f}") * np.exp(-float(f"{c[k]:.6f}") * z[1]))
        elif k % 4 == 1:
            parts.append(f"+ ({c[k]:.6f} - x[2])^2")
            reference.append(lambda z, k=k: (float(f"{c[k]:.6f}") - z[2]) ** 2)
        elif k % 4 == 2:
            parts.append(f"+ 0x{k:x}*x[0]*1e-3")
            reference.append(lambda z, k=k: k * z[0] * 1e-3)
        else:
            parts.append(f"+ sin(x[{k % 3}] + {k})")
            reference.append(lambda z, k=k: np.sin(z[k % 3] + k))
    text = " ".join(parts)
    obj = parse(text, dims={"x": 3})
    z = np.array([0.3, -0.7, 1.1])
    want = sum(f(z) for f in reference)
    assert obj.value(z) == pytest.approx(want, rel=1e-12)
    e = 1e-6
    fd = [(sum(f(z + e * np.eye(3)[i]) for f in reference)
           - sum(f(z - e * np.eye(3)[i]) for f in reference)) / (2 * e) for i in range(3)]
    np.testing.assert_allclose(no.grad(obj, z), fd, rtol=1e-7)
    assert obj.vector_ops < 60          # 401 terms, a handful of templates


@pytest.mark.parametrize("terms", [10, 300])
def test_a_placeholder_name_in_a_grouped_term_is_still_refused(terms):
    text = " + ".join(f"({k}.5 - x)^2*_k0" for k in range(terms))
    with pytest.raises(ObjectiveError, match="names may not start with '_'") as info:
        parse(text)
    assert info.value.column == text.index("_k0")
