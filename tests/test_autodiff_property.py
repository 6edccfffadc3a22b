"""Property test of the backward pass on random graphs.

Hypothesis builds small programs over three leaves with fan-out, shared
subexpressions, a value used twice in one op, overlapping slices, repeated
fancy indices, broadcasting and reductions.  Every leaf gradient, with
``retain_grad`` and ``create_graph`` on and off, must equal central finite
differences; every intermediate gradient kept by ``retain_grad`` must equal
the finite difference of the output with respect to that intermediate (the
program is re-run with the intermediate perturbed); and the double-backprop
Hessian-vector product must equal the difference of gradients.
"""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import newtonopt.functions as F
from newtonopt import Variable, hvp

N = 6
LEAVES = ((N,), (), (N,))
_VECTOR_OPS = ("add", "sub", "mul", "div", "sin", "exp", "square", "neg")
_SCALAR_OPS = ("sum", "mean", "slice_dot", "index", "take", "axis_sum")


@st.composite
def programs(draw):
    shapes = list(LEAVES)
    steps = []
    for _ in range(draw(st.integers(2, 9))):
        vectors = [i for i, s in enumerate(shapes) if s]
        kind = draw(st.sampled_from(_VECTOR_OPS + _SCALAR_OPS))
        if kind in ("add", "sub", "mul", "div"):
            i, j = draw(st.integers(0, len(shapes) - 1)), draw(st.integers(0, len(shapes) - 1))
            steps.append((kind, i, j))
            shapes.append(shapes[i] or shapes[j])
        elif kind in ("sin", "exp", "square", "neg"):
            steps.append((kind, draw(st.integers(0, len(shapes) - 1))))
            shapes.append(shapes[steps[-1][1]])
        else:
            i = draw(st.sampled_from(vectors))
            if kind == "slice_dot":
                a, b = draw(st.integers(0, 2)), draw(st.integers(1, 2))
                steps.append((kind, i, a, b))
            elif kind == "index":
                steps.append((kind, i, draw(st.integers(-N, N - 1))))
            elif kind == "take":
                steps.append((kind, i, tuple(draw(st.lists(st.integers(0, N - 1),
                                                           min_size=1, max_size=5)))))
            elif kind == "axis_sum":
                steps.append((kind, i, draw(st.integers(0, 1))))
            else:
                steps.append((kind, i))
            shapes.append(())
    weights = draw(st.lists(st.floats(-2, 2, allow_nan=False), min_size=len(shapes),
                            max_size=len(shapes)))
    return steps, weights


def run(program, leaves, lib, bump=None):
    """Evaluate with ``lib`` = F (Variables) or numpy; ``bump = (k, d)`` adds
    d to node k right after it is computed (for differences)."""
    steps, weights = program
    nodes = list(leaves)
    if bump is not None and bump[0] < len(nodes):
        nodes[bump[0]] = nodes[bump[0]] + bump[1]
    for step in steps:
        kind, a = step[0], nodes[step[1]]
        if kind == "add":
            y = a + nodes[step[2]]
        elif kind == "sub":
            y = a - nodes[step[2]]
        elif kind == "mul":
            y = a * nodes[step[2]]
        elif kind == "div":
            b = nodes[step[2]]
            y = a / (b * b + 1.5)
        elif kind == "sin":
            y = lib.sin(a)
        elif kind == "exp":
            y = lib.exp(a * 0.3)
        elif kind == "square":
            y = a * a                                     # one value, both operands
        elif kind == "neg":
            y = -a
        elif kind == "sum":
            y = lib.sum(a)
        elif kind == "mean":
            y = lib.mean(a)
        elif kind == "slice_dot":                         # overlapping slices
            lo, gap = step[2], step[3]
            y = lib.sum(a[lo + gap:] * a[lo:N - gap])
        elif kind == "index":
            y = a[step[2]]
        elif kind == "take":                              # repeated fancy indices
            y = lib.sum(a[np.array(step[2])] * 1.5)
        else:                                             # reduction along an axis
            m = lib.reshape(a, (2, 3)) if lib is F else a.reshape(2, 3)
            y = lib.sum(lib.sum(m, axis=step[2]) * np.arange(1.0, 4 - step[2]))
        nodes.append(y)
        if bump is not None and bump[0] == len(nodes) - 1:
            nodes[-1] = nodes[-1] + bump[1]
    total = 0.0
    for node, w in zip(nodes, weights):
        total = total + lib.sum(node * w)
    return total, nodes


def leaf_values(seed):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, size=s) for s in LEAVES]


def fd(program, leaves, k, shape, h=1e-6):
    """d(output)/d(node k) by central differences."""
    g = np.zeros(shape)
    for idx in np.ndindex(shape):
        e = np.zeros(shape)
        e[idx] = h
        up = run(program, leaves, np, (k, e))[0]
        down = run(program, leaves, np, (k, -e))[0]
        g[idx] = (up - down) / (2 * h)
    return g


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(), st.integers(0, 2 ** 16))
def test_random_graph_gradients(program, seed):
    leaves = leaf_values(seed)
    want = [fd(program, leaves, k, s.shape) for k, s in enumerate(leaves)]
    for retain in (False, True):
        for create in (False, True):
            xs = [Variable(v.copy()) for v in leaves]
            y, nodes = run(program, xs, F)
            y.backward(retain_grad=retain, create_graph=create)
            for x, w in zip(xs, want):
                got = np.zeros_like(x.data) if x.grad is None else x.grad.data
                np.testing.assert_allclose(got, w, rtol=1e-6, atol=1e-7)
            if retain:
                for k, node in enumerate(nodes[len(xs):], len(xs)):
                    if isinstance(node, Variable) and node.grad is not None:
                        np.testing.assert_allclose(
                            node.grad.data, fd(program, leaves, k, node.shape),
                            rtol=1e-6, atol=1e-7)


@settings(max_examples=25, deadline=None)
@given(programs(), st.integers(0, 2 ** 16))
def test_random_graph_hessian_vector_products(program, seed):
    leaves = leaf_values(seed)
    sizes = [v.size for v in leaves]
    cuts = np.cumsum(sizes)[:-1]

    def f(z):
        parts = [z[a:b] for a, b in zip([0, *cuts], [*cuts, z.size])]
        xs = [p if s else p[0] for p, s in zip(parts, (N, 0, N))]
        return run(program, xs, F)[0]

    def g_np(z):
        from newtonopt import grad
        return grad(f, z)

    z = np.concatenate([np.ravel(v) for v in leaves])
    v = np.random.default_rng(seed + 1).normal(size=z.size)
    h = 1e-5
    want = (g_np(z + h * v) - g_np(z - h * v)) / (2 * h)
    np.testing.assert_allclose(hvp(f, z, v), want, rtol=1e-5, atol=1e-6)
