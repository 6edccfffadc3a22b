"""Compiled derivatives against the interpreter, their oracle.

Bit for bit on the built-in problems (the op order is the same), to 1e-13
relative on hypothesis-generated objectives over the whole grammar, the same
inf/nan where the interpreter gives them, and the same counts, statuses and
iterates for every method on every built-in problem.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import newtonopt as no
import newtonopt.functions as F
from newtonopt.autodiff import (CompileError, Compiled, core, hessian, hvp, sparsity,
                                value_and_grad)
from newtonopt.cli import cli
from newtonopt.methods import METHODS
from newtonopt.problems import PROBLEMS

from grammar import N, objectives, parse_generated

RNG = np.random.default_rng(11)


def interpreted(f, x, v):
    value, g = value_and_grad(f, x)
    return value, g, hvp(f, x, v), hessian(f, x)


def compiled(c, x, v):
    value, g = c.value_and_grad(x)
    return value, g, c.hvp_at(x, v), c.hessian_at(x)


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_builtins_bit_for_bit(name):
    obj = no.parse("@" + name)
    c = Compiled(obj, obj.default_start())
    for x in (obj.default_start(), RNG.uniform(-2, 2, obj.size)):
        v = RNG.normal(size=obj.size)
        for got, want in zip(compiled(c, x, v), interpreted(obj, x, v)):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_every_method_runs_the_same_compiled(name):
    for method in METHODS:
        a = no.minimize("@" + name, method=method, compile=False)
        b = no.minimize("@" + name, method=method)
        assert b.compile_note.startswith(("compiled ", "interpreted: the run ended"))
        assert (a.status, a.nit, a.nfev, a.njev, a.nhev, a.nhvp) == \
            (b.status, b.nit, b.nfev, b.njev, b.nhev, b.nhvp), method
        np.testing.assert_array_equal(a.x, b.x)


def test_large_vectors_in_place_code_matches():
    obj = no.parse("@rosenbrock", dims={"x": 20000})
    x, v = RNG.uniform(-1, 1, 20000), RNG.normal(size=20000)
    c = Compiled(obj, x)
    np.testing.assert_array_equal(c.value_and_grad(x)[1], value_and_grad(obj, x)[1])
    np.testing.assert_array_equal(c.hvp_at(x, v), hvp(obj, x, v))
    assert "out=" in c.source and "] += " in c.source   # a slice's gradient added in place


@pytest.mark.parametrize("index", ["1:", ":-1", "2:-3", "4000:"])
def test_a_long_range_scatter_keeps_the_interpreters_bits(index):
    """A slice's gradient at n >= 4096 is written into its range and zeros
    around it (``_scatter_range``), not added into zeros: the same numbers
    and zeros' signs (0.0 + -0.0 is 0.0 in the interpreter's scatter), in
    the gradient and the HVP."""
    n = 5000
    obj = no.parse(f"sum(x[{index}]^2)", dims={"x": n})   # the scatter is the result
    x = np.resize([-0.0, 1.5, -2.0, 0.0, 1e-310], n)
    v = np.resize([1.0, -0.0, 0.5], n)
    c = Compiled(obj, RNG.uniform(-1, 1, n))
    assert "_scatter_range(" in c.source
    for got, want in ((c.value_and_grad(x)[1], value_and_grad(obj, x)[1]),
                      (c.hvp_at(x, v), hvp(obj, x, v))):
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
        zeros = want == 0     # -0.0 came in (x or v); 0.0 comes out
        assert zeros.any() and not np.signbit(want[zeros]).any()


@pytest.mark.parametrize("n", [3, 5000])      # written as an expression, and in place
def test_the_negation_seeding_a_squares_gradient_is_read_through(n):
    """The gradient of a - x^2 seeds x^2's gradient with -b: (x * 2) * (-b)
    is written (x * -2) * b and -b is not computed (in the gradient and in
    the HVP).  The same numbers and zeros' signs as the interpreter's at
    -0, subnormals, values whose double overflows, inf and nan."""
    obj = no.parse("@rosenbrock", dims={"x": n})
    special = [-0.0, 0.0, 5e-324, -2.5e-310, 1e308, -9e307, np.inf, -np.inf, np.nan, 1.5, -2.0]
    x = np.resize(special, n)
    v = np.resize(special[::-1], n)
    c = Compiled(obj, RNG.uniform(-1, 1, n))
    gradient = c._sources["backward" if c.counts["extra"] else "backward2"]
    hvp_code = c.source.split("def hvp")[1]
    assert "* -2.0)" in hvp_code and "(-t" not in hvp_code
    assert ("(-t" in gradient) is (gradient.startswith("def backward2"))   # returned for the HVP
    assert c.counts["extra"] == (n >= 4096)      # a long one: a backward of its own
    with np.errstate(all="ignore"):
        for got, want in ((c.value_and_grad(x)[1], value_and_grad(obj, x)[1]),
                          (c.hvp_at(x, v), hvp(obj, x, v))):
            np.testing.assert_array_equal(got, want)
            numbers = ~np.isnan(want)            # a nan's sign is numpy's choice
            np.testing.assert_array_equal(np.signbit(got[numbers]), np.signbit(want[numbers]))


@pytest.mark.parametrize("n", [6, 5000])
@pytest.mark.parametrize("text", [
    "sum((x[:-4]^2 + 2*x[1:-3]^2 + 5*x[-1]^2)^2)",          # BDQRTIC's shape
    "sum(x[1:]^2) + x[0]^3 - x[-1]*x[0]"])
def test_scalar_components_are_added_into_the_scatter_in_place(text, n):
    """The gradient of x[k]'s scalar uses joins the slices' scatter as
    ``g[k] += part``, not as zeros(n) plus a full add: the same numbers and
    zeros' signs, since a scatter into zeros holds no -0 (its other entries
    are what adding 0.0 would give)."""
    obj = no.parse(text, dims={"x": n})
    special = [-0.0, 0.0, 5e-324, -2.5e-310, 1e200, -3e154, np.inf, -np.inf, np.nan, 1.5, -2.0]
    c = Compiled(obj, RNG.uniform(-1, 1, n))
    gradient = c.source.split("def hvp")[0]
    assert "np.zeros(" not in gradient and "] += (" in gradient
    with np.errstate(all="ignore"):
        for x in (np.resize(special, n), np.resize(special[::-1], n), np.full(n, -0.0)):
            v = np.resize(special[3:], n)
            for got, want in ((c.value_and_grad(x)[1], value_and_grad(obj, x)[1]),
                              (c.hvp_at(x, v), hvp(obj, x, v))):
                np.testing.assert_array_equal(got, want)
                numbers = ~np.isnan(want)
                np.testing.assert_array_equal(np.signbit(got[numbers]),
                                              np.signbit(want[numbers]))

# -- hypothesis: objectives over the whole grammar (tests/grammar.py) ----------------

def _close(got, want):
    got, want = np.asarray(got, float), np.asarray(want, float)
    assert got.shape == want.shape      # (a float standing for a uniform gradient is wrong)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    zeros = (want == 0) & (got == 0)
    assert np.array_equal(np.signbit(got[zeros]), np.signbit(want[zeros]))
    finite = np.isfinite(want)
    assert np.array_equal(got[~finite & ~np.isnan(want)], want[~finite & ~np.isnan(want)])
    scale = np.max(np.abs(want[finite]), initial=1.0)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-13, atol=1e-13 * scale)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(objectives(), st.integers(0, 2 ** 16), st.sampled_from([0.5, 2.0, 800.0]))
def test_generated_objectives_agree_with_the_interpreter(text, seed, scale):
    obj = parse_generated(text)
    rng = np.random.default_rng(seed)
    x0 = rng.uniform(-1, 1, obj.size)
    with np.errstate(all="ignore"):
        c = Compiled(obj, x0, check=False)
        for x in (x0, rng.uniform(-scale, scale, obj.size)):
            v = rng.normal(size=obj.size)
            for got, want in zip(compiled(c, x, v), interpreted(obj, x, v)):
                _close(got, want)


@st.composite
def functions_of_reductions(draw):
    """Objectives of x alone (the whole point: no scatter into a larger
    gradient) made of functions of reductions, whose gradients are
    broadcasts of scalars: where two meet, the sum is still a vector."""
    def term():
        outer = draw(st.sampled_from(["({})^2", "exp({}/10)", "sin({})", "log(1 + ({})^2)",
                                      "({})^3"]))
        reduce = draw(st.sampled_from(["sum", "mean", "norm"]))
        inner = draw(st.sampled_from(["x", "x^2", "sin(x)", "x[1:]*x[:-1]", "exp(x/4)"]))
        return outer.format(f"{reduce}({inner})")
    return " + ".join(term() for _ in range(draw(st.integers(1, 3))))


@settings(max_examples=100, deadline=None)
@given(functions_of_reductions(), st.integers(0, 2 ** 16))
def test_functions_of_reductions_agree_with_the_interpreter(text, seed):
    obj = no.parse(text, dims={"x": N})
    rng = np.random.default_rng(seed)
    x, v = rng.uniform(-1, 1, N), rng.normal(size=N)
    with np.errstate(all="ignore"):
        c = Compiled(obj, x, check=False)
        for got, want in zip(compiled(c, x, v), interpreted(obj, x, v)):
            _close(got, want)


# Where IEEE arithmetic has its corner cases: signed zeros, subnormals, the
# largest floats, infinities and nan; and terms whose value turns on them
# (each once compiled differently from the interpreter).
_SPECIAL = [-0.0, 0.0, 0.5, -1.0, 2.0, 1e308, -1e308, 5e-324, 1e-320, np.inf, -np.inf, np.nan]
_SIGN_SENSITIVE = [
    "sum(atan(1/(-(x - x[::-1]))))",                       # -(a - b) is not b - a at a = b
    "sum(atan(1/(x*0.0))) + 2*sum(atan(1/(x*(-0.0))))",    # 0.0 and -0.0: two constants
    "sum(atan(1/(x*[0.0, -0.0, 0.0, -0.0, 0.0])))",        # ... also inside an array
    "y^1.5 + y^x[0]",                                      # numpy's 0-d power(., 0.5) is sqrt
    "exp(min(y, 1e-320))^1.5",                             # a gradient component 0.0 + -0.0
    "sum(max(max(x[1:], x[:-1]*0.0), -index(x)[:4]))",     # H v independent of v
]


@settings(max_examples=60, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(objectives(), st.sampled_from(_SIGN_SENSITIVE),
       st.lists(st.lists(st.sampled_from(_SPECIAL), min_size=N + 1, max_size=N + 1),
                min_size=2, max_size=2))
def test_generated_objectives_agree_at_special_points(colour_small, text, term, points):
    """Compiled against the interpreter where IEEE has corner cases: the
    same nan and inf, zeros of the same sign, the rest to 1e-13; the
    second dense Hessian coloured."""
    obj = parse_generated(f"{text} + {term}")
    with np.errstate(all="ignore"):
        c = Compiled(obj, np.full(obj.size, 0.7), check=False)
        for point in points:
            x, v = np.array(point), np.cos(np.arange(obj.size) + 0.5)
            for got, want in zip(compiled(c, x, v), interpreted(obj, x, v)):
                _close(got, want)


@pytest.mark.parametrize("text, point", [
    ("exp(x)", [1000.0]), ("log(x)", [0.0]), ("log(x)", [-1.0]), ("1/x", [0.0]),
    ("sqrt(x)", [-1.0]), ("x^1.5", [-2.0]), ("cosh(x) + sinh(x)", [800.0]),
    ("sin(x)", [np.inf]), ("x^(-1)", [0.0]), ("abs(x)^0.5", [0.0]),
    # numpy's ** on a 0-d array with exponent 0.5 is sqrt (nan at -inf,
    # -0.0 at -0.0), where C's pow gives inf and 0.0
    ("x^y", [-np.inf, 0.5]), ("x^1.5", [-np.inf]), ("atan(1/x^y)", [-0.0, 0.5]),
    # a component's H v of -0.0 is 0.0 + -0.0 = 0.0 once scattered into zeros
    ("exp(min(x, 1e-320))^1.5 + 0*y", [1.0, 0.5]),
])
def test_inf_and_nan_are_numpys(text, point):
    obj = no.parse(text)
    c = Compiled(obj, np.full(obj.size, 0.7))
    x, v = np.array(point), np.ones(obj.size)
    with np.errstate(all="ignore"):
        want = interpreted(obj, x, v)
        got = compiled(c, x, v)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(np.signbit(a), np.signbit(b))


@pytest.mark.parametrize("text, value", [
    ("sum(atan(1/(x*0.0))) + 2*sum(atan(1/(x*(-0.0))))", 3 * np.pi / 2 - 2 * 3 * np.pi / 2),
    ("sum(1/(x*[0.0, -0.0, 0.0]))", np.nan),
    ("sum(atan(1/(-(x[1:] - x[:-1]))))", np.arctan(-np.inf) + np.arctan(-1.0)),
])
def test_signed_zero_constants_are_not_merged(text, value):
    """0.0 and -0.0 compare equal but are different constants: 1/(x*0.0) is
    +inf where 1/(x*(-0.0)) is -inf.  Merged as one subexpression, the
    first compiled value was -9 pi/2 where the interpreter's is -3 pi/2; an
    array of zeros with one -0.0 written as the literal 0.0 gave inf, not
    inf - inf + inf = nan; and -(a - b) rewritten as b - a is +0.0, not
    -0.0, where a = b."""
    obj = no.parse(text, dims={"x": 3})
    x = np.array([1.0, 1.0, 2.0])
    with np.errstate(all="ignore"):
        c = Compiled(obj, x, check=False)
        got, want = c.value_and_grad(x), value_and_grad(obj, x)
    np.testing.assert_array_equal(want[0], value)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("text", [
    "sum(x)^2 + exp(sum(x)/10)",             # two broadcasts of scalars added
    "mean(x)^2 + sum(x)^3",
    "log(1 + sum(x)^2) + sin(mean(x))",
    "-(-(sum(x^2)))",                         # f itself a double negation
    "-(-(-(-(sum(sin(x))))))",
])
def test_uniform_gradients_stay_vectors_and_double_negations_compile(text):
    """The gradient of sum(x)^2 + exp(sum(x)/10) is the broadcast of one
    number: the compiled code returned that number as a float, and the
    check let it pass (allclose broadcasts), so gd, bfgs and newton then
    failed on its shape.  f = -(-a) compiled to nothing: the rewrite that
    drops -(-a) dropped a too (IndexError; the run stayed interpreted)."""
    obj = no.parse(text, dims={"x": 3})
    x, v = np.array([0.1, 0.2, 0.3, 0.7])[:obj.size], np.array([1.0, -2.0, 0.5, 0.25])[:obj.size]
    c = Compiled(obj, x, branch_free=True)
    for got, want in zip(compiled(c, x, v), interpreted(obj, x, v)):
        _close(got, want)       # shapes too (math.exp and numpy's may differ by an ulp)


def test_a_uniform_gradient_is_an_ordinary_array_on_both_paths():
    """The interpreter's gradient of mean(x)^2 was a broadcast view (stride
    0, read only): BLAS rounded products with it differently, and trust-exact,
    whose subproblem is singular there, took another step than the compiled
    run (x differed by 0.9).  Both now give the same iterates, and the
    gradient is the caller's to write to."""
    obj = no.parse("mean(x)^2", dims={"x": 3})
    x0 = np.array([-2.663, 1.224, -1.583])
    g = no.grad(obj, x0)
    np.testing.assert_allclose(g, np.full(3, 2 * x0.mean() / 3), rtol=1e-15)
    assert g.flags.writeable and g.strides == (8,)
    runs = [no.minimize(obj, x0=x0, method="trust-exact", compile=c) for c in (False, True)]
    assert runs[1].compile_note.startswith("compiled")
    assert (runs[0].nit, runs[0].nfev) == (runs[1].nit, runs[1].nfev)
    np.testing.assert_array_equal(runs[0].x, runs[1].x)


@pytest.mark.parametrize("n", [3, 5000])      # written as an expression, and in place
@pytest.mark.parametrize("w", ["100", "-3", "0.01", "1e300", "1e308"])
def test_the_gradient_of_a_weighted_square_keeps_the_interpreters_bits(n, w):
    """d(w x^2) = (x * 2) * w in the core; the code writes x * (2w) where
    that is the same number (|w| >= 1, 2w finite), also where x * 2
    overflows (x = 1e308), for subnormal x and for -0; |w| < 1 keeps both
    steps."""
    obj = no.parse(f"sum({w}*x^2)", dims={"x": n})
    x = np.resize([1e308, -9e307, 5e-324, -2.5e-310, 1.5, 1e-300, -0.0], n)
    with np.errstate(all="ignore"):      # f overflows at the first points
        c = Compiled(obj, np.zeros(n))
        np.testing.assert_array_equal(c.value_and_grad(x)[1], value_and_grad(obj, x)[1])
        gradient_code = c.source.split("def hvp")[0]
    folded = 1 <= abs(float(w)) and np.isfinite(2 * float(w))
    assert ("* 2.0)" not in gradient_code) == folded


def test_the_check_refuses_a_float_for_a_vector():
    from newtonopt.autodiff.compiled import _same

    _same(np.ones(3), np.ones(3), "gradient")
    with pytest.raises(CompileError):
        _same(1.0, np.ones(3), "gradient")


# -- Python callables ---------------------------------------------------------------

def test_a_broadcast_beside_a_uniform_constant_stays_a_vector():
    """A callable adding a constant of ones (a node of its own) to a scalar
    broadcast: both were written as floats, and summing the float raised
    AttributeError in the generated code."""
    ones = no.Variable(np.ones(3))

    def f(x):
        y = core.Add()(F.broadcast_to(F.sum(x), (3,)), ones)
        return F.sum(y * y)

    x, v = np.array([0.1, 0.2, 0.3]), np.array([1.0, -2.0, 0.5])
    s = x.sum()
    c = Compiled(f, x)
    value, g = c.value_and_grad(x)
    assert value == pytest.approx(3 * (s + 1) ** 2, rel=1e-15)     # f = 3 (s + 1)^2
    np.testing.assert_allclose(g, np.full(3, 6 * (s + 1)), rtol=1e-15)
    np.testing.assert_allclose(c.hvp_at(x, v), np.full(3, 6 * v.sum()), rtol=1e-15)


@pytest.mark.parametrize("constant", [np.array([1.0, -2.0, 0.5]), np.full(3, 2.0)])
def test_a_broadcast_into_ops_with_array_constants(constant):
    """s = x0 x1 broadcast into ops with a constant array c (Osborne 1's
    v_3 t_i): written as the scalar times c, the result is still a vector;
    a uniform c is written as a literal, and then the broadcast must stay."""
    def f(x):
        b = F.broadcast_to(x[0] * x[1], (3,))
        return F.sum(F.exp(b * constant) + 1.0 / (b + constant))

    x, v = np.array([0.3, 0.7]), np.array([1.5, -0.4])
    s, c = x[0] * x[1], constant
    ds = np.sum(c * np.exp(s * c) - 1 / (s + c) ** 2)          # df/ds
    dss = np.sum(c * c * np.exp(s * c) + 2 / (s + c) ** 3)     # d2f/ds2
    ds_dx = np.array([x[1], x[0]])
    compiled_f = Compiled(f, x)
    value, g = compiled_f.value_and_grad(x)
    assert value == pytest.approx(np.sum(np.exp(s * c) + 1 / (s + c)), rel=1e-14)
    np.testing.assert_allclose(g, ds * ds_dx, rtol=1e-14)
    want_hv = dss * ds_dx * (ds_dx @ v) + ds * v[::-1]
    hv = compiled_f.hvp_at(x, v)
    assert hv.shape == (2,)
    np.testing.assert_allclose(hv, want_hv, rtol=1e-13)
    uniform = bool((c == c[0]).all())
    assert ("broadcast_to" in compiled_f.source) == uniform


def test_callables_opt_in_and_branches_are_caught():
    def rosen(x):
        return F.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)

    res = no.minimize(rosen, x0=np.zeros(10), method="newton-cg", compile=True)
    ref = no.minimize(rosen, x0=np.zeros(10), method="newton-cg")
    assert res.compile_note.startswith("compiled after 1 f evaluation interpreted")
    assert ref.compile_note is None
    assert (res.nit, res.nhvp) == (ref.nit, ref.nhvp)
    np.testing.assert_array_equal(res.x, ref.x)

    def branching(x):           # a Python branch on values the trace cannot see
        return F.sum(x ** 2) if float(x.data[0]) < 0.5 else F.sum(x ** 4)

    with pytest.raises(CompileError, match="branch"):
        no.compile(branching, np.full(3, 0.49999))  # the second point crosses 0.5
    calls = []

    def drifting(x):            # not even a function of x alone
        calls.append(1)
        return F.sum((x - 1.0) ** 2) * (1.0 + 0.01 * (len(calls) % 2))

    res = no.minimize(drifting, x0=np.zeros(3), method="bfgs", compile=True, maxiter=50)
    assert res.compile_note.startswith("interpreted: CompileError")


@pytest.mark.parametrize("stage, text", [
    ("backward2", "@rosenbrock"),          # its HVP cache costs nothing: g comes from backward2
    ("backward", "sum(sin(x) * x^2)"),     # its cache needs sin(x): g has a function of its own
    ("hvp", "@rosenbrock"), ("hessian", "@rosenbrock")])
def test_a_parsed_objective_checks_itself_against_its_own_trace(monkeypatch, stage, text):
    """A parsed objective cannot branch, so it is traced at the check's
    point and the trace's interpreted values are the reference: a wrong
    generated gradient, HVP or batched HVP (a fault planted here, 1e-7
    relative) is caught without running the interpreter again.  A wrong
    gradient keeps the whole objective interpreted (CompileError); a wrong
    second-order function is dropped and its products come from the
    interpreter, still right."""
    import newtonopt.autodiff.codegen as codegen
    import newtonopt.autodiff.compiled as compiled_module

    def planted(self, name):
        text = original(self, name)
        return text.replace("return _fresh(", "return 1.0000001 * _fresh(") \
            if name == stage else text

    def no_interpreter(*args, **kwargs):
        raise AssertionError("the check ran the interpreter")

    original = codegen.Program.source
    n = 20     # above _FEW_PRODUCTS: the Hessian is the batched function's, not n HVPs
    obj = no.parse(text, dims={"x": n})
    x0, v = obj.default_start() + 0.5, np.ones(n)
    with monkeypatch.context() as patch:
        patch.setattr(compiled_module, "value_and_grad", no_interpreter)
        patch.setattr(compiled_module, "make_hvp", no_interpreter)
        c = no.compile(obj, x0)            # unplanted: passes with no interpreted run
        np.testing.assert_array_equal(c.hvp_at(x0, v), hvp(obj, x0, v))
        np.testing.assert_array_equal(c.hessian_at(x0), hessian(obj, x0))
        assert c.second_order_note is None
    monkeypatch.setattr(codegen.Program, "source", planted)
    if stage.startswith("backward"):
        with pytest.raises(CompileError, match="differs"):
            no.compile(obj, x0)
        return
    c = no.compile(obj, x0)
    np.testing.assert_allclose(c.hvp_at(x0, v), hvp(obj, x0, v), rtol=1e-15)
    np.testing.assert_allclose(c.hessian_at(x0), hessian(obj, x0), rtol=1e-15)
    assert c.second_order_note.startswith(f"{stage} interpreted") and "differs" in c.second_order_note
    # a state taken before the drop serves both products still (the batched
    # HVP's check must not call a dropped single-vector one)
    c = no.compile(obj, x0)
    state = c.second_order(x0, c.forward(x0)[1])[1]
    np.testing.assert_allclose(c.hvp(x0, state, v), hvp(obj, x0, v), rtol=1e-15)
    np.testing.assert_allclose(c.hessian(x0, state), hessian(obj, x0), rtol=1e-15)


def test_long_chains_of_scalar_operations_compile_with_bounded_nesting():
    """A single-use scalar is written into its user's expression, but a
    chain of 600 operations must not nest 600 parentheses deep (Python's
    parser stops at 200): the values stay the interpreter's bits."""
    def chain(x):
        y = x[0] * x[1]
        for k in range(300):
            y = F.sin(y * 1.001 + 0.01 * k)
        return y + F.sum(x ** 2)

    x = np.array([0.3, -0.7, 1.1])
    c = Compiled(chain, x)
    got, want = compiled(c, x, np.ones(3)), interpreted(chain, x, np.ones(3))
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)

    def nesting(line):
        depth = deepest = 0
        for ch in line:
            depth += {"(": 1, ")": -1}.get(ch, 0)
            deepest = max(deepest, depth)
        return deepest

    assert 6 <= max(map(nesting, c.source.splitlines())) < 100


# -- sparse Hessians: one product per colour ------------------------------------------

@pytest.fixture
def colour_small(monkeypatch):
    """Colouring from n = 4, so that its rules are tested on small problems
    (by default it starts where it pays, ``sparsity.COLOR_FROM``)."""
    monkeypatch.setattr(sparsity, "COLOR_FROM", 4)


def test_below_color_from_the_hessian_takes_all_seeds_in_one_pass():
    n = sparsity.COLOR_FROM - 1
    obj = no.parse("@rosenbrock", dims={"x": n})
    x = RNG.uniform(-1.5, 1.5, n)
    c = Compiled(obj, x)
    for h in _unit_then_colored(c, x):
        np.testing.assert_array_equal(h, hessian(obj, x))
    assert c._colors is None


def test_a_written_hvp_serves_a_small_dense_hessian():
    """At n <= 16 with the single-vector HVP already written (a trust-ncg
    run's final check), the dense Hessian is n of its products: the
    batched function is never written, and the answer is the interpreter's."""
    obj = no.parse("exp(x[0]*x[1]) + sum(x^4) - x[2]*x[4]", dims={"x": 5})
    x = RNG.uniform(-1, 1, 5)
    c = Compiled(obj, x)
    c.hvp_at(x, np.ones(5))
    np.testing.assert_allclose(c.hessian_at(x), hessian(obj, x), rtol=1e-13, atol=1e-15)
    assert "hessian" not in c._functions


def _unit_then_colored(c, x):
    """The first dense Hessian of a Compiled takes every unit seed; the
    colouring is found at the second, which uses it."""
    unit = c.hessian_at(x)
    assert not isinstance(c._colors, tuple)      # no analysis for a single Hessian
    return unit, c.hessian_at(x)


@pytest.mark.parametrize("n", [100, 1000])
def test_a_tridiagonal_hessian_takes_three_products(n):
    from scipy.optimize import rosen_hess

    obj = no.parse("@rosenbrock", dims={"x": n})
    x = RNG.uniform(-1.5, 1.5, n)
    c = Compiled(obj, x)
    unit, h = _unit_then_colored(c, x)
    assert c._colors[0].max() + 1 == 3          # a band of width 3: 3 colours, no fewer
    np.testing.assert_allclose(h, rosen_hess(x), rtol=1e-14, atol=1e-12)
    np.testing.assert_array_equal(h, unit)
    if n == 100:
        np.testing.assert_array_equal(h, hessian(obj, x))


def test_a_product_that_does_not_depend_on_v_fills_every_row():
    """Piecewise linear f: H v is its masks times zero, the same vector for
    every v (nan where x is).  The batched code returns that one vector;
    the coloured Hessian put its entry for the zero seed in every cell."""
    obj = no.parse("sum(max(max(x[1:], x[:-1]*0.0), -index(x)[:49]))", dims={"x": 50})
    x = np.linspace(-1, 1, 50)
    x[7], x[20] = np.nan, np.inf
    with np.errstate(all="ignore"):
        c = Compiled(obj, np.full(50, 0.7))
        unit, colored = _unit_then_colored(c, x)
        want = hessian(obj, x)
    assert isinstance(c._colors, tuple)
    assert np.isnan(want).any() and not np.isnan(want).all()
    np.testing.assert_array_equal(unit, want)
    np.testing.assert_array_equal(colored, want)


def test_the_pattern_holds_whichever_branch_wins(colour_small):
    """The pattern is structural: a max couples x0 x1 at one point and x2 x3
    at another, and the colouring (found at the second) serves both."""
    obj = no.parse("sum(x^2) + max(x[0]*x[1], x[2]*x[3]) + sum(x[4:]*x[4:]^3)",
                   dims={"x": 10})
    first, second = np.linspace(1, 2, 10), np.linspace(1, 2, 10)[::-1].copy()
    c = Compiled(obj, first)
    for x in (first, second):
        np.testing.assert_array_equal(c.hessian_at(x), hessian(obj, x))
    assert c._colors is not None
    np.testing.assert_array_equal(c.hessian_at(first)[:4, :4],    # x2*x3 wins
                                  [[2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 2, 1], [0, 0, 1, 2]])
    np.testing.assert_array_equal(c.hessian_at(second)[:4, :4],   # x0*x1 wins
                                  [[2, 1, 0, 0], [1, 2, 0, 0], [0, 0, 2, 0], [0, 0, 0, 2]])


def test_data_matrices_give_the_pattern_of_their_nonzeros(colour_small):
    n = 12
    a = np.eye(n) + np.diag(RNG.uniform(1, 2, n - 1), 1)    # bidiagonal: A'A tridiagonal
    obj = no.parse("sum((A @ x)^2) + sum(x^4)", dims={"x": n}, data={"A": a})
    x = RNG.uniform(-1, 1, n)
    c = Compiled(obj, x)
    unit, h = _unit_then_colored(c, x)
    assert c._colors[0].max() + 1 == 3
    np.testing.assert_array_equal(h, unit)
    np.testing.assert_allclose(h, 2 * a.T @ a + np.diag(12 * x ** 2), rtol=1e-14, atol=1e-14)


def test_a_block_of_matrix_products_colours_as_a_dense_block():
    """x[:12] enter through a 2x3 @ 3x2 product (all twelve coupled), the
    other 28 separately: 12 colours, no fewer, and the interpreter's
    Hessian bit for bit (reshape and matmul rules)."""
    def f(x):
        a, b = F.reshape(x[:6], (2, 3)), F.reshape(x[6:12], (3, 2))
        return F.sum(F.matmul(a, b) ** 2) + F.sum(x[12:] ** 4)

    x = RNG.uniform(-1, 1, 40)
    c = Compiled(f, x)
    _, h = _unit_then_colored(c, x)
    assert c._colors[0].max() + 1 == 12
    np.testing.assert_array_equal(h, hessian(f, x))
    assert np.count_nonzero(h[:12, 12:]) == 0 and np.count_nonzero(h[:12, :12]) > 100


@settings(max_examples=60, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(objectives(), st.integers(0, 2 ** 16), st.sampled_from([1.0, 800.0]))
def test_colored_hessians_are_the_unit_seeds_bit_for_bit(colour_small, text, seed, scale):
    obj = parse_generated(text)
    rng = np.random.default_rng(seed)
    with np.errstate(all="ignore"):
        c = Compiled(obj, rng.uniform(-1, 1, obj.size), check=False)
        x = rng.uniform(-scale, scale, obj.size)      # 800: inf and nan in places
        np.testing.assert_array_equal(*_unit_then_colored(c, x))


def test_diff_code_prints_the_chain_rule():
    res = CliRunner().invoke(cli, ["diff", "x^3*y", "--at", "x=2,y=1", "--code",
                                   "--format", "json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert report["gradient"] == {"x": 12.0, "y": 8.0}
    code = report["code"]
    assert "def backward(x, saved):" in code and "def hvp(x, v, cache):" in code
    assert "**" not in code and "pow" not in code           # x^3 is products


def test_the_compile_note_says_when_and_at_what_cost():
    """Parsed text compiles before its first evaluation, and a second run
    of the same text finds the code cached; a callable that opts in
    switches after its first evaluation, and a run that ends there stays
    interpreted and says so."""
    text = "sum(100*(x[1:] - x[:-1]^2)^2 + (1 - x[:-1])^2) + 0.375"   # not compiled before
    first = no.minimize(text, dims={"x": 50}, method="lbfgs")
    assert first.compile_note.startswith("compiled at once: compiling took ")
    again = no.minimize(text, dims={"x": 50}, method="lbfgs")
    assert again.compile_note == "compiled at once: the code was cached"
    assert (again.nit, again.nfev, again.njev) == (first.nit, first.nfev, first.njev)
    np.testing.assert_array_equal(again.x, first.x)

    def sphere(x):
        return F.sum(x ** 2)

    at_minimum = no.minimize(sphere, x0=np.zeros(3), compile=True)
    assert (at_minimum.nit, at_minimum.nfev) == (0, 1)
    assert at_minimum.compile_note == "interpreted: the run ended before compiling (1 f evaluation)"


@pytest.mark.parametrize("n", [2, 30])
def test_a_callables_first_hessian_is_compiled_not_replayed(n):
    # A callable's first Hessian comes after its first (interpreted) f: it
    # compiles there rather than take n interpreted replays.
    from scipy.optimize import rosen_hess

    from newtonopt.solvers.evaluator import Evaluator

    obj = no.parse("@rosenbrock", dims={"x": n})
    built = []

    def compiler(x):
        built.append(x.copy())
        return Compiled(obj, x)

    ev = Evaluator(obj, second_order=True, compiler=compiler, compile_after=1)
    x = obj.default_start()
    ev.f_and_grad(x)
    assert ev.compiled is None
    h = ev.hessian(x)
    assert len(built) == 1 and ev.compiled is not None
    np.testing.assert_array_equal(built[0], x)
    assert (ev.nfev, ev.njev, ev.nhev) == (1, 1, 1)
    np.testing.assert_allclose(h, rosen_hess(x), rtol=1e-12, atol=1e-12)


