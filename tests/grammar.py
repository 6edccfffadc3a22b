"""Hypothesis strategies: objectives over the whole grammar (every function,
slices with negative steps, ``index(x)``, powers with a variable exponent,
``logsumexp``, min/max, a data vector and a data matrix both ways, ``where``
names), for the compiled-code and solver property tests."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

import newtonopt as no

N = 5
# Data the objectives may use (bound as optional, so a text need not): a
# vector and a matrix, and the matrix's transpose for X' X v.
_DATA = {"t": np.linspace(0.1, 2.0, N), "X": np.random.default_rng(3).normal(size=(4, N))}
_DATA["Xt"] = _DATA["X"].T.copy()
_UNARY = ["sin", "cos", "exp", "tanh", "sinh", "cosh", "abs", "atan", "erf", "sigmoid",
          "softplus", "expm1", "tan_safe", "log1p_safe", "sqrt_safe", "log_safe"]
_SAFE = {"tan_safe": "tan(sin({}))", "log1p_safe": "log1p(({})^2)",
         "sqrt_safe": "sqrt(1 + ({})^2)", "log_safe": "log(abs({}) + 0.5)"}


def parse_generated(text):
    return no.parse(text, dims={"x": N}, data=_DATA, optional_data=list(_DATA))


@st.composite
def vector_expr(draw, depth=0):
    leaf = st.sampled_from(["x", "x*y", "(x - y)", "2.5*x", "x/(1+y^2)", "x[::-1]", "t*x",
                            "index(x)*x", "u"])
    if depth >= 3:
        return draw(leaf)
    kind = draw(st.sampled_from(["leaf", "unary", "binary", "pow", "minmax", "scalar",
                                 "matrix"]))
    if kind == "leaf":
        return draw(leaf)
    if kind == "unary":
        fn = draw(st.sampled_from(_UNARY))
        return _SAFE.get(fn, fn + "({})").format(draw(vector_expr(depth + 1)))
    if kind == "binary":
        op = draw(st.sampled_from(["+", "-", "*", "/"]))
        right = draw(vector_expr(depth + 1))
        if op == "/":
            right = f"(1.5 + ({right})^2)"
        return f"({draw(vector_expr(depth + 1))} {op} {right})"
    if kind == "pow":
        exponent = draw(st.sampled_from(["2", "3", "4", "-2", "0", "0.5", "1.5", "7", "-1",
                                         "y"]))
        base = draw(vector_expr(depth + 1))
        if exponent in ("0.5", "1.5", "-2", "-1", "y"):
            base = f"(1 + ({base})^2)"
        return f"{base}^{exponent}"
    if kind == "minmax":
        return f"{draw(st.sampled_from(['min', 'max']))}({draw(vector_expr(depth + 1))}, " \
               f"{draw(vector_expr(depth + 1))})"
    if kind == "matrix":
        return f"(Xt @ (X @ ({draw(vector_expr(depth + 1))})))"
    return f"({draw(scalar_expr(depth + 1))} * {draw(vector_expr(depth + 1))})"


@st.composite
def scalar_expr(draw, depth=0):
    if depth >= 3:
        return draw(st.sampled_from(["y", "x[0]", "x[-1]", "y^2", "s"]))
    kind = draw(st.sampled_from(["reduce", "index", "dot", "norm", "slices", "scalar",
                                 "square", "logsumexp"]))
    if kind == "reduce":
        return f"{draw(st.sampled_from(['sum', 'mean']))}({draw(vector_expr(depth + 1))})"
    if kind == "index":
        return f"x[{draw(st.integers(-N, N - 1))}]"
    if kind == "dot":
        return f"dot({draw(vector_expr(depth + 1))}, {draw(vector_expr(depth + 1))})"
    if kind == "norm":
        return f"norm({draw(vector_expr(depth + 1))})"
    if kind == "logsumexp":
        return f"logsumexp({draw(vector_expr(depth + 1))})"
    if kind == "slices":
        a, b = draw(st.sampled_from([("x[1:]", "x[:-1]"), ("x[::2]", "x[::2]"),
                                     ("x[1:-1]", "x[2:]"), ("x[-3:]", "x[:3]"),
                                     ("x[1::2]", "x[:-1:2]"), ("x[::-2]", "x[::2]")]))
        return f"sum({a}*{b})"
    if kind == "square":      # a function of a reduction: its gradient is a broadcast
        return f"({draw(scalar_expr(depth + 1))})^2"
    return f"exp(-y^2) * {draw(scalar_expr(depth + 1))}"


@st.composite
def objectives(draw):
    """A sum of up to three terms over x (a vector of N), y, the data and
    two local names (``where``), each used at least once."""
    terms = draw(st.lists(st.one_of(scalar_expr(), vector_expr().map(lambda e: f"sum({e})")),
                          min_size=1, max_size=3))
    return " + ".join(terms) + " + 0*y + 0*sum(x) + 0*s + 0*sum(u)" \
        " where u = sin(x)*y + t, s = x[1]*y"
