"""The autodiff core against DeZero's published outputs, finite differences
and closed forms."""
from __future__ import annotations

import gc
import tracemalloc
import weakref

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import newtonopt.functions as F
from newtonopt import (Variable, grad, hessian, hvp, make_hvp, no_grad,
                       value_and_grad)
from newtonopt.autodiff import Config, using_config

from helpers import fd_grad, fd_hvp

RNG = np.random.default_rng(1234)


# -- DeZero steps 33-36, with only the package name changed ----------------

def test_step36_double_backprop_prints_dezero_value(capsys):
    x = Variable(np.array(2.0))
    y = x ** 2
    y.backward(create_graph=True)
    gx = x.grad
    x.cleargrad()
    z = gx ** 3 + y
    z.backward()
    print(x.grad)
    # d/dx[(2x)^3 + x^2] = 24 x^2 + 2x = 100 at x = 2
    assert capsys.readouterr().out == "variable(100.0)\n"


def test_broadcast_add_repr_matches_dezero(capsys):
    x = Variable(np.array([[1, 2, 3], [4, 5, 6]]))
    print(x + Variable(np.array([[10, 20, 30], [40, 50, 60]])))
    assert capsys.readouterr().out == (
        "variable([[11 22 33]\n          [44 55 66]])\n")


def test_step33_newton_iterates_match_dezero():
    expected = [2.0, 1.4545454545454546, 1.1510467893775467,
                1.0253259289766978, 1.0009084519430513, 1.0000012353089454,
                1.000000000002289, 1.0]
    x = Variable(np.array(2.0))
    seen = []
    for _ in range(len(expected)):
        seen.append(float(x.data))
        y = x ** 4 - 2 * x ** 2
        x.cleargrad()
        y.backward(create_graph=True)
        gx = x.grad
        x.cleargrad()
        gx.backward()
        gx2 = x.grad
        x.data = x.data - gx.data / gx2.data
    np.testing.assert_allclose(seen, expected, rtol=0, atol=1e-12)


def test_step34_higher_derivatives_of_sin_cycle():
    xs = np.linspace(-7, 7, 200)
    x = Variable(xs)
    y = F.sin(x)
    y.backward(create_graph=True)
    derivs = [x.grad.data]
    for _ in range(3):
        gx = x.grad
        x.cleargrad()
        gx.backward(create_graph=True)
        derivs.append(x.grad.data)
    for got, want in zip(derivs, [np.cos(xs), -np.sin(xs), -np.cos(xs), np.sin(xs)]):
        np.testing.assert_allclose(got, want, atol=1e-12)


def test_step35_tanh_fourth_derivative_against_closed_form():
    xs = np.linspace(-2, 2, 9)
    x = Variable(xs, name="x")
    y = F.tanh(x)
    y.backward(create_graph=True)
    for _ in range(3):
        gx = x.grad
        x.cleargrad()
        gx.backward(create_graph=True)
    t = np.tanh(xs)
    # Closed form: for a polynomial q in t = tanh x, d/dx q(t) = q'(t)(1 - t^2).
    q = np.polynomial.Polynomial([0, 1])
    dt = np.polynomial.Polynomial([1, 0, -1])
    for _ in range(4):
        q = q.deriv() * dt
    np.testing.assert_allclose(x.grad.data, q(t), atol=1e-10)


# -- every op against finite differences -----------------------------------

W = {}


def weights(shape):
    """A fixed random weighting so sum(w * op(x)) exercises every entry."""
    if shape not in W:
        W[shape] = RNG.normal(size=shape)
    return W[shape]


def scalarize(y):
    return F.sum(y * weights(y.shape))


UNARY = {
    "exp": (F.exp, np.exp, (-1, 1)),
    "log": (F.log, np.log, (0.5, 2)),
    "sin": (F.sin, np.sin, (-3, 3)),
    "cos": (F.cos, np.cos, (-3, 3)),
    "tan": (F.tan, np.tan, (-1, 1)),
    "tanh": (F.tanh, np.tanh, (-2, 2)),
    "sinh": (F.sinh, np.sinh, (-2, 2)),
    "cosh": (F.cosh, np.cosh, (-2, 2)),
    "sqrt": (F.sqrt, np.sqrt, (0.5, 2)),
    "abs": (F.absolute, np.abs, (0.2, 1)),
    "neg": (lambda x: -x, np.negative, (-1, 1)),
    "square": (lambda x: x ** 2, np.square, (-2, 2)),
    "cube": (lambda x: x ** 3, lambda a: a ** 3, (-2, 2)),
    "pow_frac": (lambda x: x ** 2.5, lambda a: a ** 2.5, (0.5, 2)),
    "pow_neg": (lambda x: x ** -1.5, lambda a: a ** -1.5, (0.5, 2)),
    "rpow": (lambda x: 2.0 ** x, lambda a: 2.0 ** a, (-1, 1)),
    "rsub": (lambda x: 3.0 - x, lambda a: 3.0 - a, (-1, 1)),
    "rdiv": (lambda x: 3.0 / x, lambda a: 3.0 / a, (0.5, 2)),
    "sum_axis0": (lambda x: F.sum(x, axis=0), lambda a: a.sum(axis=0), (-1, 1)),
    "sum_keep": (lambda x: F.sum(x, axis=1, keepdims=True) * x,
                 lambda a: a.sum(axis=1, keepdims=True) * a, (-1, 1)),
    "mean": (lambda x: F.mean(x, axis=1) ** 2, lambda a: a.mean(axis=1) ** 2, (-1, 1)),
    "reshape": (lambda x: x.reshape(x.size) ** 2,
                lambda a: a.reshape(-1) ** 2, (-1, 1)),
    "transpose": (lambda x: x.T * x.T, lambda a: a.T * a.T, (-1, 1)),
    "slice": (lambda x: x[1:, ::2] ** 2, lambda a: a[1:, ::2] ** 2, (-1, 1)),
    "index_neg": (lambda x: x[-1] * x[0], lambda a: a[-1] * a[0], (-1, 1)),
    "fancy_index": (lambda x: x[[0, 0, 2]] ** 3, lambda a: a[[0, 0, 2]] ** 3, (-1, 1)),
    "matmul_self": (lambda x: x @ x.T, lambda a: a @ a.T, (-1, 1)),
    "broadcast_to": (lambda x: F.broadcast_to(F.sum(x, axis=0), (2, x.shape[1])) ** 2,
                     lambda a: np.broadcast_to(a.sum(axis=0), (2, a.shape[1])) ** 2, (-1, 1)),
    "maximum": (lambda x: F.maximum(x, x ** 2 - 0.3), lambda a: np.maximum(a, a ** 2 - 0.3), (-1, 1)),
    "minimum": (lambda x: F.minimum(x, 0.1 * x ** 3), lambda a: np.minimum(a, 0.1 * a ** 3), (-1, 1)),
}


def _check_op(op, ref, lo, hi, shape):
    x0 = RNG.uniform(lo, hi, size=shape)

    def f(x):
        return scalarize(op(x))

    def f_np(a):
        y = ref(a)
        return float(np.sum(y * weights(np.shape(y))))

    value, g = value_and_grad(f, x0)
    assert value == pytest.approx(f_np(x0), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(g, fd_grad(f_np, x0), rtol=1e-6, atol=1e-7)
    v = RNG.normal(size=shape)
    np.testing.assert_allclose(hvp(f, x0, v), fd_hvp(lambda a: grad(f, a), x0, v),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_op_grad_and_hvp_against_finite_differences(name):
    op, ref, (lo, hi) = UNARY[name]
    _check_op(op, ref, lo, hi, (3, 4))


BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / (b + 3.0), lambda a, b: a / (b + 3.0)),
    "pow_var": (lambda a, b: (a + 3.0) ** b, lambda a, b: (a + 3.0) ** b),
}


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(sorted(BINARY)),
       shapes=st.sampled_from([((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)),
                               ((2, 3, 1), (3, 4)), ((), (3,)), ((4,), ())]),
       seed=st.integers(0, 2**32 - 1))
def test_binary_ops_with_broadcasting(name, shapes, seed):
    """Both operands are variables: pack them in one flat vector.  (Points
    from the example's own seed: hypothesis runs a varying number of
    examples, which must not move the module's RNG under later tests.)"""
    rng = np.random.default_rng(seed)
    op, ref = BINARY[name]
    sa, sb = shapes
    na = int(np.prod(sa))

    def split(flat):
        return flat[:na].reshape(sa), flat[na:].reshape(sb)

    def f(z):
        a, b = F.reshape(z[:na], sa), F.reshape(z[na:], sb)
        return scalarize(op(a, b))

    def f_np(z):
        a, b = split(z)
        y = ref(a, b)
        return float(np.sum(y * weights(np.shape(y))))

    z0 = rng.uniform(-1, 1, size=na + int(np.prod(sb)))
    np.testing.assert_allclose(grad(f, z0), fd_grad(f_np, z0), rtol=1e-6, atol=1e-7)
    v = rng.normal(size=z0.shape)
    np.testing.assert_allclose(hvp(f, z0, v), fd_hvp(lambda a: grad(f, a), z0, v),
                               rtol=1e-5, atol=1e-6)


def test_matmul_matrix_vector_and_dot():
    a0 = RNG.normal(size=(3, 4))

    def f(z):
        a, b = F.reshape(z[:12], (3, 4)), z[12:]
        return F.sum((a @ b) ** 2) + F.dot(b, b) ** 2 + F.sum((b @ a.T) * 0.5)

    def f_np(z):
        a, b = z[:12].reshape(3, 4), z[12:]
        return float(np.sum((a @ b) ** 2) + (b @ b) ** 2 + np.sum((b @ a.T) * 0.5))

    z0 = np.concatenate([a0.ravel(), RNG.normal(size=4)])
    np.testing.assert_allclose(grad(f, z0), fd_grad(f_np, z0), rtol=1e-6, atol=1e-6)
    v = RNG.normal(size=z0.shape)
    np.testing.assert_allclose(hvp(f, z0, v), fd_hvp(lambda a: grad(f, a), z0, v),
                               rtol=1e-5, atol=1e-5)


def test_third_derivative_through_three_nested_backwards():
    x = Variable(np.array(0.7))
    y = F.sin(x)
    y.backward(create_graph=True)
    g1 = x.grad
    x.cleargrad()
    g1.backward(create_graph=True)
    g2 = x.grad
    x.cleargrad()
    g2.backward(create_graph=True)
    assert float(x.grad.data) == pytest.approx(-np.cos(0.7), abs=1e-15)


# -- functional API ----------------------------------------------------------

def rosen(x):
    return F.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def test_functional_api_matches_scipy_rosenbrock():
    from scipy.optimize import rosen as s_rosen, rosen_der, rosen_hess, rosen_hess_prod
    x = RNG.uniform(-1.5, 1.5, size=7)
    v = RNG.normal(size=7)
    value, g = value_and_grad(rosen, x)
    assert value == pytest.approx(s_rosen(x), rel=1e-14)
    np.testing.assert_allclose(g, rosen_der(x), rtol=1e-13)
    np.testing.assert_allclose(hvp(rosen, x, v), rosen_hess_prod(x, v), rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(hessian(rosen, x), rosen_hess(x), rtol=1e-13, atol=1e-10)


def test_hessian_columns_are_hvps_and_symmetric():
    def f(x):
        return F.sum(F.exp(x[:-1] * x[1:])) + F.sum(F.sin(x) * x ** 2) + F.norm(x) ** 3

    x = RNG.uniform(-1, 1, size=5)
    h = hessian(f, x)
    np.testing.assert_allclose(h, h.T, atol=1e-12)
    for i in range(5):
        np.testing.assert_allclose(h[:, i], hvp(f, x, np.eye(5)[i]), rtol=1e-12, atol=1e-12)
    hvp_fn, value, g = make_hvp(f, x)
    assert value == pytest.approx(value_and_grad(f, x)[0], rel=1e-15)
    np.testing.assert_allclose(g, grad(f, x), rtol=1e-15)
    for _ in range(3):
        v = RNG.normal(size=5)
        np.testing.assert_allclose(hvp_fn(v), hvp(f, x, v), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(hvp_fn(v), h @ v, rtol=1e-10, atol=1e-12)


def test_identically_zero_derivatives_are_zeros_not_none():
    x = np.array([1.0, -2.0, 3.0])
    np.testing.assert_array_equal(hvp(lambda v: F.sum(v) * 3.0, x, x), np.zeros(3))
    np.testing.assert_array_equal(hessian(lambda v: F.sum(v * 2.0), x), np.zeros((3, 3)))
    np.testing.assert_array_equal(grad(lambda v: F.sum(v[:1]) * 0 + 5.0, x), np.zeros(3))
    np.testing.assert_array_equal(grad(lambda v: F.sum(v[:1] ** 2), x), [2.0, 0.0, 0.0])


def test_dezero_faults_are_fixed():
    leaf = Variable(np.array([1.0, 2.0]))
    leaf.backward()                                # DeZero: AttributeError
    np.testing.assert_array_equal(leaf.grad.data, [1.0, 1.0])

    x = Variable(np.array(0.0))
    (x ** 0).backward()                            # DeZero: nan
    assert float(x.grad.data) == 0.0

    x32 = Variable(np.array([1.0, 2.0], dtype=np.float32))
    assert (x32 + 1.5).dtype == np.float32
    assert (2.5 * x32 - 1.0).dtype == np.float32
    assert (x32 / 3.0).dtype == np.float32


def test_no_grad_and_config_are_context_local():
    x = Variable(np.array(3.0))
    with no_grad():
        assert Config.enable_backprop is False
        y = x * 2
    assert y.creator is None
    assert Config.enable_backprop is True
    with using_config("train", False):
        assert Config.train is False
    assert Config.train is True


def test_grads_accumulate_out_of_place():
    x = Variable(np.array(1.5))
    y = x * x
    y.backward()
    first = x.grad
    (x * 3).backward()
    assert float(first.data) == 3.0            # the first grad object unchanged
    assert float(x.grad.data) == 6.0


# -- memory --------------------------------------------------------------------

def test_intermediate_is_freed_after_backward():
    x = Variable(np.ones(4))
    mid = F.exp(x)
    ref = weakref.ref(mid)
    y = F.sum(mid * 2)
    del mid
    y.backward()
    del y
    assert ref() is None


def test_newton_style_loop_does_not_grow_memory():
    x = np.array([0.3, -0.2])

    def f(v):
        return F.sum(v ** 4) - F.sum(v[:1] * v[1:])

    def run(k):
        for _ in range(k):
            hvp_fn, _, _ = make_hvp(f, x)
            hvp_fn(x)
            grad(f, x)

    run(200)
    gc.collect()
    tracemalloc.start()
    run(1000)
    gc.collect()
    base = tracemalloc.get_traced_memory()[0]
    run(9000)
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert grown < 64 * 1024, f"grew by {grown} bytes over 9000 evaluations"


def test_100000_node_chain_without_recursion_error():
    x = Variable(np.array(1.0))
    y = x
    for _ in range(100_000):
        y = y * 1.000001
    y.backward()
    assert float(x.grad.data) == pytest.approx(1.000001 ** 100_000, rel=1e-9)
    del y
    gc.collect()


def test_vector_output_seeds_ones_and_array_properties():
    assert repr(Variable(None)) == "variable(None)"
    x = Variable(np.arange(3.0))
    y = x * 2
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 2.0, 2.0])
    assert (len(x), x.ndim, x.size, x.shape) == (3, 1, 3, (3,))


def test_in_place_accumulation_of_slice_gradients_matches_closed_form():
    # Many overlapping slices of one leaf: the engine adds them in place.
    x0 = RNG.normal(size=9)
    w = RNG.normal(size=8)
    x = Variable(x0.copy())
    y = F.sum(x[1:] * w) + F.sum(x[:-1] ** 2) + F.sum(x[::2] * 3.0) + x[4] * x[4] + F.sum(x[[0, 0, 8]])
    y.backward(retain_grad=True)
    want = np.zeros(9)
    want[1:] += w
    want[:-1] += 2 * x0[:-1]
    want[::2] += 3.0
    want[4] += 2 * x0[4]
    want[0] += 2
    want[8] += 1
    # the engine adds the contributions in another order: a few ulps of the
    # largest (an entry where they cancel, -0.02 from w + 2x + 3, differed
    # by 1e-14 relative)
    scale = max(np.abs(w).max(), 2 * np.abs(x0).max(), 3.0)
    np.testing.assert_allclose(x.grad.data, want, rtol=1e-14, atol=8 * np.finfo(float).eps * scale)
    first = x.grad
    (F.sum(x[2:]) * 1.0).backward()               # a second pass: out of place
    np.testing.assert_allclose(first.data, want, rtol=1e-14)
    np.testing.assert_allclose(x.grad.data, want + np.r_[0, 0, np.ones(7)], rtol=1e-14)
