"""Dense Hessians from a few seeds: the sparsity pattern read off the trace,
and a colouring of the columns.

Columns j and k of H that share no nonzero row are *structurally
orthogonal*: one product H (e_j + e_k) holds both, each in its own rows.
Colour the columns so that no two of a colour share a row; then one
Hessian-vector product per colour gives every column (direct recovery:
Curtis, Powell & Reid 1974; for Hessians, Coleman & Moré 1984;
Gebremedhin, Manne & Pothen 2005, SIAM Review 47, §3).  A chained
Rosenbrock function of any n (tridiagonal H) needs 3 products instead of n.

The pattern must hold at *every* point, so it is structural: each element
of each value that depends on v carries the set of components of v it is
computed from (a boolean array, the component axis first as in a batch of
seeds), propagated op by op through the Hessian-vector graph.  A value that
does not depend on v may be anything, zero included, so it never removes
a dependence; a mask (the winner of a max, the sign in d|x|) is such a
value.  So P[i, j] is False only where (H v)_i is computed from no path out
of v_j, and the recovered Hessian is the one n unit seeds give, bit for
bit: a product's element depends on the seed components its paths start
from, no two of which share a colour where a row needs them (the rows
where column j has no path are read off the zero seed).
"""
from __future__ import annotations

import math

import numpy as np

from . import functions as Fn
from .codegen import (ELEMENTWISE, batched_sum_axes, batched_transpose_axes, broadcast_batched,
                      sum_to_batched)
from .trace import Trace

# Pattern elements (components x values) held at once: beyond it a dense
# Hessian is rare and the unit seeds serve.
_MAX_PATTERN = 20_000_000


class _Unknown(Exception):
    """An op whose pattern rule is not written here."""


def hessian_pattern(trace: Trace, vdep: list[bool]) -> np.ndarray | None:
    """Bool (n, n): [j, i] when (H v)_i may depend on v_j (H symmetric: also
    H_ij may be nonzero); ``vdep``: which nodes depend on v.  None when some
    op has no rule or the patterns would be too large."""
    nodes, n = trace.nodes, trace.n
    needed = [i for i in sorted(trace.ancestors([trace.hv])) if vdep[i]]
    if any(n * math.prod(nodes[i].shape) > _MAX_PATTERN for i in needed):
        return None
    last_use = {}
    for i in needed:
        for a in nodes[i].args:
            last_use[a] = i
    patterns: dict[int, np.ndarray] = {}
    try:
        for i in needed:
            node = nodes[i]
            if node.kind == "v":
                patterns[i] = np.eye(n, dtype=bool)
                continue
            args = [patterns.get(a) for a in node.args]
            shapes = [nodes[a].shape for a in node.args]
            patterns[i] = _propagate(node.op, args, shapes, node.shape, n)
            for a in node.args:           # free what no later op reads
                if last_use.get(a) == i and a != trace.hv:
                    patterns.pop(a, None)
    except _Unknown:
        return None
    if not vdep[trace.hv]:
        return np.zeros((n, n), dtype=bool)
    return np.broadcast_to(patterns[trace.hv], (n, n))


def _propagate(op, args: list, shapes: list, shape: tuple, n: int) -> np.ndarray:
    """The pattern of op's value from its arguments' (None: not on v)."""
    kind = type(op)
    if kind in ELEMENTWISE:
        out = np.zeros((n,) + tuple(shape), dtype=bool)
        for p, s in zip(args, shapes):
            if p is not None:
                out |= broadcast_batched(p, s, shape)
        return out
    p, in_shape = args[0], shapes[0]
    if kind is Fn.MatMul:               # (I, J) @ (J, K), either side on v
        out = np.zeros((n,) + tuple(shape), dtype=bool)
        if args[0] is not None:
            out |= args[0].any(axis=2, keepdims=True)
        if args[1] is not None:
            out |= args[1].any(axis=1, keepdims=True)
        return out
    if p is None:
        raise _Unknown(kind.__name__)
    if kind is Fn.GetItem:
        parts = op.index if isinstance(op.index, tuple) else (op.index,)
        return p[(slice(None),) + parts]
    if kind is Fn.GetItemGrad:
        parts = op.index if isinstance(op.index, tuple) else (op.index,)
        out = np.zeros((n,) + tuple(op.shape), dtype=bool)
        np.logical_or.at(out, (slice(None),) + parts, p)
        return out
    if kind is Fn.Sum:
        shifted = batched_sum_axes(in_shape, op.axis)
        return p.any(axis=shifted, keepdims=op.keepdims) if shifted else p
    if kind is Fn.SumTo:
        return sum_to_batched(p, tuple(op.shape)) > 0      # counts of paths: any
    if kind is Fn.BroadcastTo:
        return broadcast_batched(p, in_shape, tuple(op.shape))
    if kind is Fn.Reshape:
        return p.reshape((n,) + tuple(shape))
    if kind is Fn.Transpose:
        return np.transpose(p, batched_transpose_axes(in_shape, op.axes))
    if kind is Fn.MatVecConst and p.ndim == 2 and np.ndim(op.a) == 2:
        return (p.astype(np.float64) @ (op.a != 0).T.astype(np.float64)) > 0
    raise _Unknown(kind.__name__)


# Below this n, one batched pass over all n seeds costs no more than one over
# a colouring's (numpy's per-call cost dominates: chained Rosenbrock at n = 32,
# 84 us either way; n = 64, 339 against 103), and the analysis costs ~1 ms.
COLOR_FROM = 40


def coloring(trace: Trace, vdep: list[bool]) -> tuple[np.ndarray, np.ndarray] | None:
    """(colour of each column, pattern) for the trace's Hessian, or None
    when n < ``COLOR_FROM`` or colouring cannot save half the products."""
    if trace.n < COLOR_FROM:
        return None
    pattern = hessian_pattern(trace, vdep)
    colors = None if pattern is None else color_columns(pattern)
    return None if colors is None else (colors, pattern)


def color_columns(pattern: np.ndarray) -> np.ndarray | None:
    """A colour per column such that no two columns of a colour share a
    nonzero row (greedy, in column order: optimal for banded patterns);
    None when it would save less than half the products (a row with more
    than n/2 nonzeros already forces that many colours)."""
    n = pattern.shape[0]
    rows = pattern.T                        # rows[i, j]: H_ij may be nonzero
    if rows.sum(axis=1).max() > n // 2:
        return None
    colors = np.full(n, -1)
    for j in range(n):
        sharing = rows[pattern[j]].any(axis=0)   # columns with a row in common with j
        taken = np.zeros(n + 1, dtype=bool)
        taken[colors[sharing]] = True           # (-1, uncoloured, marks the spare slot)
        colors[j] = int(np.argmin(taken[:n]))
    return colors if colors.max() + 1 <= n // 2 else None
