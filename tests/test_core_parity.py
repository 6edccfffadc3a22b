"""Autodiff core: regressions of wrong gradients, DeZero parity (steps 37-43
and the functions a DeZero user reaches for), graph export.

References: closed forms, central finite differences, and for the training
loops of steps 42-43 the same loop written in numpy with hand-derived
gradients.
"""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

import newtonopt.functions as F
from newtonopt import Config, Variable, grad, hessian, hvp, no_grad, parse
from newtonopt.autodiff import Compiled, core, value_and_grad
from newtonopt.utils import get_dot_graph, plot_dot_graph

from helpers import fd_grad, fd_hvp

RNG = np.random.default_rng(7)


# -- the bugs of the issue, each against its true value ------------------------

def test_retain_grad_does_not_alias_gradients():
    a, b = Variable(np.array(2.0)), Variable(np.array(3.0))
    t = a + b
    y = t * t + a * 2 * 3
    y.backward(retain_grad=True)
    # dy/da = 2t + 6 = 16, dy/db = 2t = 10, dy/dt = 2t = 10
    assert (float(a.grad.data), float(b.grad.data), float(t.grad.data)) == (16.0, 10.0, 10.0)


def test_transpose_with_negative_axes_has_gradient_of_input_shape():
    x0 = RNG.normal(size=(2, 3))
    x = Variable(x0)
    w = RNG.normal(size=(3, 2))
    F.sum(F.transpose(x, (-1, 0)) * w).backward()
    np.testing.assert_array_equal(x.grad.data, w.T)
    x3 = RNG.normal(size=(2, 3, 4))
    w3 = RNG.normal(size=(3, 4, 2))
    g = grad(lambda v: F.sum(F.transpose(v, (1, -1, 0)) * w3), x3)
    np.testing.assert_allclose(g, fd_grad(lambda a: np.sum(a.transpose(1, 2, 0) * w3), x3),
                               rtol=1e-8)


def test_config_assignment_takes_effect_like_dezero_step18():
    x = Variable(np.array(2.0))
    try:
        Config.enable_backprop = False
        assert (x * x).creator is None
        Config.enable_backprop = True
        assert (x * x).creator is not None
    finally:
        Config.enable_backprop = True


def test_reshape_accepts_ints_and_tuples():
    x = Variable(np.arange(6.0).reshape(2, 3))
    assert F.reshape(x, 6).shape == (6,)
    assert x.reshape(3, 2).shape == (3, 2)
    assert x.reshape((3, 2)).shape == (3, 2)
    y = F.reshape(x, 6)
    (y * np.arange(6.0)).backward()
    np.testing.assert_array_equal(x.grad.data, np.arange(6.0).reshape(2, 3))


@pytest.mark.parametrize("text", ["x^0", "(x^2)^0", "x^0.0", "(x^2+1)^0*x"])
def test_constant_power_has_zero_second_derivative_at_zero(text):
    obj = parse(text)
    h = hessian(obj, np.zeros(1))
    assert np.all(np.isfinite(h))
    assert float(h[0, 0]) == 0.0
    assert float(hvp(obj, np.zeros(1), np.ones(1))[0]) == 0.0


def test_derivative_in_the_exponent_at_base_zero():
    # f = 0^(1+y^2) is identically 0: every derivative is 0.
    g = grad(parse("0^(1+y^2)"), np.array([0.5]))
    np.testing.assert_array_equal(g, [0.0])
    # |x|^(1+y^2) at x = 0: f(0, y) = 0 for all y, and d/dx = 0 (exponent > 1).
    g = grad(parse("abs(x)^(1+y^2)"), np.array([0.0, 0.5]))
    np.testing.assert_array_equal(g, [0.0, 0.0])
    # x^(0*t) = x^0 = 1: its derivative in x is 0 even at x = 0.
    g = grad(lambda v: v[0] ** (v[1] * 0.0), np.array([0.0, 2.0]))
    np.testing.assert_array_equal(g, [0.0, 0.0])


def test_abs_convention_keeps_smooth_functions_right_at_zero():
    assert hessian(parse("abs(x)^2"), np.zeros(1))[0, 0] == 2.0    # x^2: 2
    assert hessian(parse("cosh(abs(x))"), np.zeros(1))[0, 0] == 1.0  # cosh: 1
    # and away from 0, abs is still +-1
    np.testing.assert_array_equal(grad(lambda v: F.sum(F.abs(v)), np.array([-2.0, 3.0])),
                                  [-1.0, 1.0])


def test_norm_has_the_zero_subgradient_at_zero():
    # ||x|| at 0: every vector of the unit ball is a subgradient; 0 is the one
    # (PyTorch's) that lets a minimizer at the kink read as converged.  The
    # Hessian there is 0 too, interpreted and compiled.
    obj = parse("norm(x - 1) + 2*norm(x)", dims={"x": 3})
    at_one = np.ones(3)
    want_g = 2 * at_one / np.sqrt(3.0)                    # only 2||x|| is smooth there
    want_h = 2 * (np.eye(3) - np.full((3, 3), 1 / 3)) / np.sqrt(3.0)
    compiled = Compiled(obj, at_one + 0.25)
    for g, h in ((grad(obj, at_one), hessian(obj, at_one)),
                 (compiled.value_and_grad(at_one)[1], compiled.hessian_at(at_one))):
        np.testing.assert_allclose(g, want_g, rtol=1e-15)
        np.testing.assert_allclose(h, want_h, rtol=1e-14, atol=1e-15)


def test_norm_away_from_zero_is_the_composite_bit_for_bit():
    x0 = RNG.normal(size=5)
    v = RNG.normal(size=5)

    def composite(x):
        return F.sqrt(F.sum(F.square(x * 1.5 - 0.25))) ** 3

    def ours(x):
        return F.norm(x * 1.5 - 0.25) ** 3

    np.testing.assert_array_equal(grad(ours, x0), grad(composite, x0))
    np.testing.assert_array_equal(hvp(ours, x0, v), hvp(composite, x0, v))
    np.testing.assert_allclose(hvp(ours, x0, v), fd_hvp(lambda z: grad(ours, z), x0, v),
                               rtol=1e-6)


# -- the ownership rule of in-place accumulation -----------------------------

class _Twice(core.Function):
    """A careless op: declares fresh gradients, returns one array twice."""

    fresh_grad = True

    def forward(self, a, b):
        return a + b

    def backward(self, gy):
        g = Variable(gy.data.copy())
        return g, g


def test_an_op_returning_one_array_twice_cannot_corrupt_gradients():
    a, b = Variable(np.array([1.0, 2.0])), Variable(np.array([3.0, 4.0]))
    t = _Twice()(a, b)
    y = F.sum(t * 1.0) + F.sum(a * 5.0)
    y.backward(retain_grad=True)
    np.testing.assert_array_equal(a.grad.data, [6.0, 6.0])
    np.testing.assert_array_equal(b.grad.data, [1.0, 1.0])


def test_aliasing_check_raises_on_a_broken_rule(monkeypatch):
    monkeypatch.setattr(core, "_CHECK_ALIASING", True)
    a, b = Variable(np.ones(2)), Variable(np.ones(2))
    owned = core._Owned(False, a)
    shared = Variable(np.zeros(2))
    a.grad = b.grad = shared
    owned.touched += [a, b]
    owned.by_var[id(a)] = shared   # what the rule forbids: a shared array owned
    with pytest.raises(AssertionError, match="ownership rule"):
        owned.check(a)


def test_a_grad_from_an_earlier_pass_is_never_written_into():
    x = Variable(np.arange(4.0))
    F.sum(x[1:] * 2.0).backward()
    first = x.grad
    kept = first.data.copy()
    F.sum(x[:2] * 3.0 + x[1:3]).backward()
    np.testing.assert_array_equal(first.data, kept)
    np.testing.assert_array_equal(x.grad.data, kept + [3.0, 4.0, 1.0, 0.0])


# -- DeZero parity: the functions ---------------------------------------------

def _check_to_second_order(f_var, f_np, x0, rtol=1e-6, atol=1e-7):
    """grad vs central differences of f, HVP vs differences of the grad."""
    g = grad(f_var, x0)
    np.testing.assert_allclose(g, fd_grad(f_np, x0), rtol=rtol, atol=atol)
    v = RNG.normal(size=x0.shape)
    np.testing.assert_allclose(hvp(f_var, x0, v), fd_hvp(lambda z: grad(f_var, z), x0, v),
                               rtol=1e-5, atol=1e-6)


W = RNG.normal(size=(3, 4))


def _softmax_np(a, axis):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


CASES = {
    "log1p": (lambda v: F.sum(F.log1p(v * v)), lambda a: np.sum(np.log1p(a * a))),
    "expm1": (lambda v: F.sum(F.expm1(v) * W), lambda a: np.sum(np.expm1(a) * W)),
    "sigmoid": (lambda v: F.sum(F.sigmoid(v) * W), lambda a: np.sum(W / (1 + np.exp(-a)))),
    "softplus": (lambda v: F.sum(F.softplus(v * 3) * W),
                 lambda a: np.sum(np.log1p(np.exp(3 * a)) * W)),
    "softmax": (lambda v: F.sum(F.softmax(v) * W), lambda a: np.sum(_softmax_np(a, 1) * W)),
    "log_softmax": (lambda v: F.sum(F.log_softmax(v, axis=0) * W),
                    lambda a: np.sum(np.log(_softmax_np(a, 0)) * W)),
    "logsumexp": (lambda v: F.sum(F.logsumexp(v, axis=1) * W[:, 0]),
                  lambda a: np.sum(np.log(np.exp(a).sum(axis=1)) * W[:, 0])),
    "logsumexp_all": (lambda v: F.logsumexp(v * 2.0),
                      lambda a: np.log(np.exp(2 * a).sum())),
    "max_axis": (lambda v: F.sum(F.max(v * v, axis=1, keepdims=True) * W[:, :1]),
                 lambda a: np.sum((a * a).max(axis=1, keepdims=True) * W[:, :1])),
    "min_axis": (lambda v: F.sum(F.min(F.sin(v), axis=0) * W[0]),
                 lambda a: np.sum(np.sin(a).min(axis=0) * W[0])),
    "clip": (lambda v: F.sum(F.clip(v, -0.5, 0.5) ** 2 * W),
             lambda a: np.sum(np.clip(a, -0.5, 0.5) ** 2 * W)),
    "relu": (lambda v: F.sum(F.relu(v) ** 3 * W), lambda a: np.sum(np.maximum(a, 0) ** 3 * W)),
    "expand_dims": (lambda v: F.sum(F.expand_dims(v, 1) ** 2 * W[:, None, :]),
                    lambda a: np.sum(a[:, None, :] ** 2 * W[:, None, :])),
    "flatten": (lambda v: F.sum(F.flatten(F.reshape(v, (3, 2, 2))) ** 2 * W),
                lambda a: np.sum(a.reshape(3, 4) ** 2 * W)),
    "average": (lambda v: F.sum(F.average(v * v, axis=0)), lambda a: np.sum((a * a).mean(0))),
    "linear": (lambda v: F.sum(F.linear(v, W.T, W[0, :3]) ** 2),
               lambda a: np.sum((a @ W.T + W[0, :3]) ** 2)),
    "matmul_method": (lambda v: F.sum(v.matmul(W.T) ** 2 + (v @ W.T) + v.dot(W.T)),
                      lambda a: np.sum((a @ W.T) ** 2 + 2 * (a @ W.T))),
    "T": (lambda v: F.sum(v.T ** 2 * W.T), lambda a: np.sum(a.T ** 2 * W.T)),
    "mse": (lambda v: F.mean_squared_error(v * v, W), lambda a: np.sum((a * a - W) ** 2) / 3),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_dezero_function_to_second_order(name):
    f_var, f_np = CASES[name]
    _check_to_second_order(f_var, f_np, RNG.normal(size=(3, 4)))


def test_max_tie_rule_and_stable_forms():
    x = Variable(np.array([1.0, 3.0, 3.0]))
    F.max(x).backward()
    # tied elements share the gradient, so it is a subgradient: along (0, 1, 1),
    # where max moves at slope 1, g.d = 1 (DeZero gave each tie 1: g.d = 2)
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.5, 0.5])
    big = np.array([1000.0, 1001.0])
    assert float(F.logsumexp(big).data) == pytest.approx(1001 + np.log1p(np.exp(-1.0)))
    assert float(F.sum(F.softplus(big)).data) == pytest.approx(2001.0)
    assert np.isfinite(float(F.sum(F.sigmoid(np.array([-1000.0, 1000.0]))).data))


@pytest.mark.parametrize("reduce", [F.max, F.min])
def test_ties_that_move_together_have_the_true_derivative(reduce):
    """Columns of three equal rows: max and min along the rows are the row
    itself, so f = sum(x^3) exactly, with gradient 3x^2 and Hessian 6x
    (DeZero's tie rule gave three times both)."""
    def f(x):
        rows = F.broadcast_to(F.reshape(x, (1, 4)), (3, 4))
        return F.sum(reduce(rows, axis=0) ** 3)

    x = np.array([0.5, -1.0, 2.0, 0.0])
    value, g = value_and_grad(f, x)
    assert value == pytest.approx(np.sum(x ** 3))
    np.testing.assert_allclose(g, 3 * x ** 2, rtol=1e-15)
    np.testing.assert_allclose(hessian(f, x), np.diag(6 * x), rtol=1e-15)
    c = Compiled(f, x)
    np.testing.assert_array_equal(c.value_and_grad(x)[1], g)


def test_unchain_and_as_variable():
    x = Variable(np.array(2.0))
    c = F.as_variable(np.array(3.0))                 # a plain array is a constant
    assert c.requires_grad is False
    y = x * x
    z = y * c
    z.unchain_backward()
    assert z.creator is not None and y.creator is None
    z.backward()
    assert x.grad is None                            # the link to x was cut
    y2 = x * 3
    y2.unchain()
    assert y2.creator is None


# -- DeZero steps 37-43, against numpy --------------------------------------

def test_steps_37_to_41_print_what_dezero_prints(capsys):
    x = Variable(np.array([[1, 2, 3], [4, 5, 6]]))
    c = Variable(np.array([[10, 20, 30], [40, 50, 60]]))
    t = x + c
    y = F.sum(t)
    y.backward(retain_grad=True)
    print(y.grad, t.grad, x.grad, c.grad, sep="\n")
    x = Variable(np.array([[0, 1, 2], [3, 4, 5]]))
    F.reshape(x, (6,)).backward(retain_grad=True)
    print(x.grad)
    x = Variable(np.array([[1, 2, 3], [4, 5, 6]]))
    F.sum(x, axis=0).backward()
    print(x.grad)
    x0, x1 = Variable(np.array([1, 2, 3])), Variable(np.array([10]))
    (x0 + x1).backward()
    print(x1.grad)
    ones = str(np.ones((2, 3), dtype=int)).replace("\n", "\n" + " " * 9)
    want = ["variable(1)", f"variable({ones})", f"variable({ones})", f"variable({ones})",
            f"variable({ones})", f"variable({ones})", "variable([3])"]
    assert capsys.readouterr().out.splitlines() == "\n".join(want).splitlines()


def test_step42_linear_regression_matches_numpy():
    np.random.seed(0)
    xd = np.random.rand(100, 1)
    yd = 5 + 2 * xd + np.random.rand(100, 1)
    x, y = Variable(xd), Variable(yd)
    W, b = Variable(np.zeros((1, 1))), Variable(np.zeros(1))
    Wn, bn = np.zeros((1, 1)), np.zeros(1)
    for _ in range(100):
        diff = y - (F.matmul(x, W) + b)
        loss = F.sum(diff ** 2) / len(diff)
        W.cleargrad()
        b.cleargrad()
        loss.backward()
        W.data -= 0.1 * W.grad.data
        b.data -= 0.1 * b.grad.data
        r = yd - (xd @ Wn + bn)                      # hand-derived gradient
        loss_n = np.sum(r ** 2) / len(r)
        Wn -= 0.1 * (xd.T @ (-2 * r / len(r)))
        bn -= 0.1 * np.sum(-2 * r / len(r), axis=0)
        assert float(loss.data) == pytest.approx(loss_n, rel=1e-12)
    np.testing.assert_allclose(W.data, Wn, rtol=1e-12)
    np.testing.assert_allclose(b.data, bn, rtol=1e-12)


def test_step43_two_layer_network_matches_numpy():
    np.random.seed(0)
    xd = np.random.rand(100, 1)
    yd = np.sin(2 * np.pi * xd) + np.random.rand(100, 1)
    W1, b1 = 0.01 * np.random.randn(1, 10), np.zeros(10)
    W2, b2 = 0.01 * np.random.randn(10, 1), np.zeros(1)
    params = [Variable(p.copy()) for p in (W1, b1, W2, b2)]
    ref = [p.copy() for p in (W1, b1, W2, b2)]
    for _ in range(300):
        h = F.sigmoid(F.linear(xd, params[0], params[1]))
        loss = F.mean_squared_error(yd, F.linear(h, params[2], params[3]))
        for p in params:
            p.cleargrad()
        loss.backward()
        for p in params:
            p.data -= 0.2 * p.grad.data
        # numpy: forward, then the chain rule by hand
        hn = 1 / (1 + np.exp(-(xd @ ref[0] + ref[1])))
        out = hn @ ref[2] + ref[3]
        loss_n = np.sum((yd - out) ** 2) / len(yd)
        d_out = -2 * (yd - out) / len(yd)
        d_h = d_out @ ref[2].T * hn * (1 - hn)
        grads = [xd.T @ d_h, d_h.sum(0), hn.T @ d_out, d_out.sum(0)]
        for p, gp in zip(ref, grads):
            p -= 0.2 * gp
        assert float(loss.data) == pytest.approx(loss_n, rel=1e-10)


# -- graph export ----------------------------------------------------------------

def test_step35_graph_of_tanh_second_derivative(tmp_path, monkeypatch, capsys):
    x = Variable(np.array(1.0))
    y = F.tanh(x)
    x.name, y.name = "x", "y"
    y.backward(create_graph=True)
    gx = x.grad
    x.cleargrad()
    gx.backward(create_graph=True)
    gx2 = x.grad
    gx2.name = "gx2"
    dot = get_dot_graph(gx2, verbose=False)
    assert dot.startswith("digraph g {") and dot.rstrip().endswith("}")
    labels = dot.count('label="')
    # every node once: the graph's functions and variables are distinct
    assert labels == len(set(line.split(" ")[0] for line in dot.splitlines()
                             if 'label="' in line))
    assert 'label="Tanh"' in dot and 'label="gx2"' in dot and 'label="x"' in dot
    monkeypatch.setenv("PATH", str(tmp_path))          # no Graphviz here
    out = plot_dot_graph(gx2, verbose=False, to_file=str(tmp_path / "tanh.png"))
    assert out == str(tmp_path / "tanh.dot")
    assert (tmp_path / "tanh.dot").read_text() == dot
    assert "not on PATH" in capsys.readouterr().err


def test_diff_graph_writes_the_derivative_graph(tmp_path):
    from click.testing import CliRunner

    from newtonopt.cli import cli

    target = tmp_path / "g.dot"
    res = CliRunner().invoke(cli, ["diff", "tanh(x)", "--at", "x=1", "--order", "2",
                                   "--graph", str(target), "--format", "json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    t = np.tanh(1.0)
    assert report["derivative"]["value"] == pytest.approx(-2 * t * (1 - t * t), rel=1e-12)
    dot = target.read_text()
    assert 'label="d^2f"' in dot and 'label="Tanh"' in dot
    res = CliRunner().invoke(cli, ["diff", "x*y", "--at", "x=1,y=2", "--order", "2",
                                   "--graph", str(tmp_path / "h.dot")])
    assert res.exit_code == 2 and not os.path.exists(tmp_path / "h.dot")


def test_no_grad_still_works_with_new_functions():
    with no_grad():
        y = F.softmax(Variable(RNG.normal(size=(2, 3))))
    assert y.creator is None
    np.testing.assert_allclose(y.data.sum(axis=1), [1.0, 1.0])
