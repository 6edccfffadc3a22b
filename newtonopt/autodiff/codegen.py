"""A ``Trace`` as straight-line Python: f, grad f, H v and the dense Hessian.

Four generated functions share the work the way an optimizer needs it:

    forward(x)              -> f, saved        every trial point
    backward(x, saved)      -> g               first-order methods
    backward2(x, saved)     -> g, cache        second-order methods
    hvp(x, v, cache)        -> H v             each CG step: only what
                                               depends on v is computed
    hessian(x, V, cache)    -> rows H e_i      all seeds at once (V = I)

Each trace node becomes one line.  Scalars are Python floats with ``math``
(tens of nanoseconds an operation instead of about a microsecond for a 0-d
numpy array); vectors are numpy arrays.  Integer powers are products
(``x**4`` is ``(x*x)*(x*x)``).  A gradient accumulated from scalar uses of
``x[i]`` is kept as one float per component and assembled once, instead of
a zero vector per use.  Ops without a template run their own ``forward``
on arrays, so every op the core has is supported.

``math`` raises where numpy returns inf or nan (``math.exp(1000)``,
``1/0.0``); the caller catches ``ArithmeticError`` and ``ValueError`` and
recomputes that call with the interpreter, so results keep numpy's IEEE
semantics.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import core, functions as Fn, nn
from .functional import fresh_array
from .trace import Node, Trace

_LIST_LIMIT = 1000   # vectors up to this size are unpacked with .tolist()

_MATH = {Fn.Exp: "exp", Fn.Log: "log", Fn.Sin: "sin", Fn.Cos: "cos", Fn.Tan: "tan",
         Fn.Tanh: "tanh", Fn.Sinh: "sinh", Fn.Cosh: "cosh", Fn.Sqrt: "sqrt", Fn.NormRoot: "sqrt",
         Fn.Log1p: "log1p", Fn.Expm1: "expm1", Fn.Atan: "arctan"}
# the same function on a Python float, where ``math`` spells it differently
_MATH_SCALAR = {**_MATH, Fn.Atan: "atan"}
_INFIX = {core.Add: "+", core.Sub: "-", core.Mul: "*", core.Div: "/"}
_CONST_RIGHT = {core.AddConst: "+", core.MulConst: "*", core.DivConst: "/"}
_CONST_LEFT = {core.RSubConst: "-", core.RDivConst: "/"}
# ops that act elementwise (with broadcasting): safe on a batch of seeds
ELEMENTWISE = (set(_MATH) | set(_INFIX) | set(_CONST_RIGHT) | set(_CONST_LEFT)
                | {core.Neg, core.PowConst, core.PowConstGrad, core.Pow, core.RPowConst,
                   Fn.Erf, Fn.Abs, Fn.Maximum, Fn.Clip, Fn.NonNegSign, Fn.IsZero, Fn.BothZero,
                   Fn.Positive, Fn.InRange, Fn.TieWeight, nn.ReLU, nn.Sigmoid, nn.Softplus})


_UFUNC = {core.Add: "add", core.Sub: "subtract", core.Mul: "multiply", core.Div: "divide",
          core.AddConst: "add", core.MulConst: "multiply", core.DivConst: "divide",
          core.RSubConst: "subtract", core.RDivConst: "divide", core.Neg: "negative",
          **{k: v for k, v in _MATH.items()}}
# ops whose generated expression makes a new array (when it is not an alias)
_FRESH = (set(_MATH) | set(_INFIX) | set(_CONST_RIGHT) | set(_CONST_LEFT)
          | {core.Neg, core.PowConst, core.PowConstGrad, Fn.Abs, Fn.Erf, Fn.MatMul,
             Fn.MatVecConst})
_IN_PLACE_SIZE = 4096
_INLINE_DEPTH = 12
_SCALAR_MASKS = {Fn.NonNegSign: "(1.0 if {0} >= 0 else -1.0)", Fn.IsZero: "(1.0 if {0} == 0 else 0.0)",
                 Fn.Positive: "(1.0 if {0} > 0 else 0.0)",
                 Fn.BothZero: "(1.0 if {0} == 0 and {1} == 0 else 0.0)"}  # below, a fresh allocation costs no more than out=


class Unsupported(Exception):
    """The trace has an op this generator cannot batch (dense Hessian)."""


def batched_sum_axes(in_shape: tuple, axis: Any) -> tuple:
    """The axes ``Sum(axis)`` reduces, on a batch of seeds (axis 0)."""
    if not in_shape:
        return ()
    axes = range(len(in_shape)) if axis is None else ((axis,) if np.ndim(axis) == 0 else axis)
    return tuple(ax % len(in_shape) + 1 for ax in axes)


def batched_transpose_axes(in_shape: tuple, axes: Any) -> tuple:
    """``Transpose(axes)``'s permutation on a batch of seeds (axis 0 stays)."""
    order = tuple(range(len(in_shape)))[::-1] if axes is None else \
        tuple(ax % len(in_shape) for ax in axes)
    return (0,) + tuple(ax + 1 for ax in order)


def sum_to_batched(a: np.ndarray, shape: tuple) -> np.ndarray:
    """``functions._sum_to`` on each seed of a batch (axis 0)."""
    lead = a.ndim - 1 - len(shape)
    axes = tuple(range(1, 1 + lead)) + tuple(
        1 + lead + i for i, n in enumerate(shape) if n == 1 and a.shape[1 + lead + i] != 1)
    y = a.sum(axes, keepdims=True) if axes else a
    return y.reshape((a.shape[0],) + tuple(shape))


def broadcast_batched(a: np.ndarray, in_shape: tuple, shape: tuple) -> np.ndarray:
    """Each seed's value of ``in_shape`` broadcast to ``shape`` as numpy
    broadcasts it (axis 0 stays the seed's)."""
    a = np.asarray(a)
    pad = (1,) * (len(shape) - len(in_shape))
    return np.broadcast_to(a.reshape((a.shape[0],) + pad + tuple(in_shape)),
                           (a.shape[0],) + tuple(shape))


def _scatter(gy: Any, index: Any, shape: tuple) -> np.ndarray:
    """zeros(shape) with gy added at a basic index (a view: no repeats)."""
    out = np.zeros(shape)
    out[index] += gy      # += as the interpreter: 0.0 + -0.0 is 0.0
    return out


def _scatter_range(gy: Any, index: slice, shape: tuple) -> np.ndarray:
    """The same for a long vector and a slice of step 1: gy + 0.0 written
    into the range (the same bits as 0.0 + gy) and zeros only around it,
    two passes over memory fewer than zeros(n) and a += (at n = 10^6, two of
    the ~39 a chained Rosenbrock value and gradient make)."""
    start, stop, _ = index.indices(shape[0])
    out = np.empty(shape)
    out[:start] = 0.0
    out[max(start, stop):] = 0.0
    np.add(gy, 0.0, out=out[start:stop])
    return out


def _scatter_at(gy: Any, index: Any, shape: tuple) -> np.ndarray:
    """The same at an index array, whose entries may repeat."""
    out = np.zeros(shape)
    np.add.at(out, index, gy)
    return out


def _scatter_batched(gy: np.ndarray, index: Any, shape: tuple) -> np.ndarray:
    gy = np.asarray(gy)
    out = np.zeros((gy.shape[0],) + tuple(shape))
    parts = index if isinstance(index, tuple) else (index,)
    Fn._scatter_add(out, (slice(None),) + parts, gy)
    return out


BASE_NAMESPACE = {"math": math, "np": np, "inf": math.inf, "nan": math.nan,
                  "_sum_to": Fn._sum_to, "_sum_to_batched": sum_to_batched,
                  "_broadcast_batched": broadcast_batched, "_scatter": _scatter,
                  "_scatter_at": _scatter_at, "_scatter_range": _scatter_range,
                  "_scatter_batched": _scatter_batched, "_erf": Fn.erf_array}


def _pow0d(base: float, exponent: float) -> float:
    """numpy's power on 0-d arrays, for Python floats (see ``Generator._pow``)."""
    return math.sqrt(base) if exponent == 0.5 else math.pow(base, exponent)


BASE_NAMESPACE["_pow0d"] = _pow0d


def _literal_value(text: str) -> float | None:
    """The number a literal written by ``_literal`` stands for, else None."""
    try:
        return float(text.strip("()"))
    except ValueError:
        return None


def _doubled(g: str) -> str | None:
    """The literal 2g for a literal g with 1 <= |g| and 2g finite, else None.
    Then (x * 2) * g, the gradient of g x^2 as the core computes it, is
    x * (2g) to the bit, one operation fewer: x * 2 is exact, both round the
    same real number once, and where x * 2 overflows so does x * (2g)."""
    value = _literal_value(g)
    if value is None or not 1.0 <= abs(value) or not math.isfinite(2.0 * value):
        return None
    return _literal(2.0 * value)


def _square_gradient(x: str, g: str, negated: bool) -> tuple[str, str]:
    """(factor, seed) for the gradient of x^2 seeded with g, (x * 2) * g,
    written factor * seed (factor alone where seed is "1.0"): with g a
    literal of _doubled's kind, x * (2g); with g = -b read through
    (``negated``, g holding b), (x * -2) * b."""
    if negated:
        return f"({x} * -2.0)", g
    doubled = _doubled(g)
    if doubled is not None:
        return f"({x} * {doubled})", "1.0"
    return f"({x} * 2.0)", g


def _scatterer(index: Any, shape: tuple) -> str:
    """The function that scatters a gradient into zeros at this index."""
    if not Fn._is_basic_index(index):
        return "_scatter_at"
    if type(index) is slice and index.step in (None, 1) and len(shape) == 1 \
            and shape[0] >= _IN_PLACE_SIZE:
        return "_scatter_range"
    return "_scatter"


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _literal(value: Any) -> str | None:
    """Source for a scalar float, or None when it is not one."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (float, np.floating)) or _is_int(value):
        text = repr(float(value))
        return f"({text})" if text.startswith("-") else text
    return None


def _power(base: str, c: Any) -> str | None:
    """base ** c as products for a small whole c (``core.power``'s recipe),
    "1.0" for c = 0, else None."""
    if np.ndim(c) == 0 and c == 0:
        return "1.0"
    if not core.is_small_whole(c):
        return None
    chain = core.by_squaring(base, int(abs(c)), lambda a, b: f"({a} * {b})")
    return chain if c > 0 else f"(1.0 / {chain})"


def _uniform_literal(c: Any, operand: tuple) -> str | None:
    """The literal of an array constant holding one value throughout, if
    broadcasting it changes nothing but the value (else None)."""
    if not isinstance(c, np.ndarray) or c.size == 0 or c.dtype.kind != "f":
        return None
    if np.broadcast_shapes(c.shape, operand) != tuple(operand):
        return None
    first = c.flat[0]
    if not ((c == first) & (np.signbit(c) == np.signbit(first))).all():
        return None         # (-0.0 == 0.0, but 1/-0.0 is -inf)
    return _literal(first)


def _param_literal(c: Any, operand: tuple | None) -> str | None:
    """How a constant parameter is written when it is a literal: a scalar,
    or (given the operand's shape) an array of one repeated value that does
    not widen the result; None when it is bound as an array."""
    text = _literal(c)
    if text is None and operand is not None:
        text = _uniform_literal(c, operand)
    return text


class _Function:
    """The lines of one generated function."""

    def __init__(self, gen: "Generator", name: str, params: list[str], batched: bool) -> None:
        self.gen = gen
        self.name = name
        self.params = params
        self.batched = batched
        self.lines: list[str] = []
        self.names: dict[int, str] = {}
        self.lists: dict[int, str] = {}
        self.sparse: dict[int, dict[int, str]] = {}
        # scatters not yet made: gradient, index, shape, the function to make one
        self.deferred: dict[int, tuple[str, str, tuple, str]] = {}
        self.fresh: set[int] = set()   # arrays made here that nothing else holds
        self.negated: set[int] = set()  # negations read through (``_negations_read_through``)
        self.temps = 0
        # scalar expressions written into their one user instead of a line,
        # with their nesting depth (Python's parser allows ~200 levels)
        self.inlined: dict[str, int] = {}
        self.computed: set[int] = set()     # the nodes this function computes
        self.outputs: set[int] = set()      # ... and those it returns

    def line(self, text: str) -> None:
        self.lines.append("    " + text)

    def temp(self) -> str:
        self.temps += 1
        return f"s{self.temps}"

    def value(self, i: int) -> str:
        """The expression of node i, materializing a sparse vector."""
        if i in self.sparse:
            parts = self.sparse.pop(i)
            n = self.gen.trace.nodes[i].shape[0]
            if 2 * len(parts) >= n:
                self.line(f"t{i} = np.array([{', '.join(parts.get(k, '0.0') for k in range(n))}])")
            else:   # mostly zeros (x[-1] of a long x): no n-element literal per call
                self.line(f"t{i} = np.zeros({n})")
                for k, part in sorted(parts.items()):
                    self.line(f"t{i}[{k}] = {part}")
            self.names[i] = f"t{i}"
            self.fresh.add(i)
        elif i in self.deferred:
            gy, index, shape, scatterer = self.deferred.pop(i)
            self.line(f"t{i} = {scatterer}({gy}, {index}, {shape!r})")
            self.names[i] = f"t{i}"
            self.fresh.add(i)
        return self.names[i]

    def component(self, i: int, k: int) -> str:
        """x[k] of vector node i as a Python float."""
        if i in self.sparse:
            return self.sparse[i].get(k, "0.0")
        node = self.gen.trace.nodes[i]
        if node.shape[0] > _LIST_LIMIT:
            return f"float({self.value(i)}[{k}])"
        if i not in self.lists:
            self.lists[i] = f"{self.value(i)}_l"
            self.line(f"{self.lists[i]} = {self.value(i)}.tolist()")
        return f"{self.lists[i]}[{k}]"

    def source(self, returns: str) -> str:
        body = self.lines or ["    pass"]
        return f"def {self.name}({', '.join(self.params)}):\n" + "\n".join(body) + \
            f"\n    return {returns}\n"


class Generator:
    """Writes the five functions for one trace."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.namespace: dict[str, Any] = dict(BASE_NAMESPACE)
        self.vdep = trace.depends_on_v()
        self.negations = [n.index for n in trace.nodes if type(n.op) is core.Neg]

    # -- names for constants and ops ------------------------------------------
    def const(self, node: Node) -> str:
        text = _literal(node.value) if node.shape == () else None
        if text is not None and np.asarray(node.value).dtype.kind == "f":
            return text
        name = f"k{node.index}"
        self.namespace[name] = node.value
        return name

    def bind(self, prefix: str, index: int, value: Any) -> str:
        name = f"{prefix}{index}"
        self.namespace[name] = value
        return name

    # -- one node ---------------------------------------------------------------
    def emit(self, fn: _Function, i: int) -> None:
        node = self.trace.nodes[i]
        op = node.op
        batched = fn.batched and self.vdep[i]
        scalar = node.shape == () and not batched
        kind = type(op)
        if i in fn.negated:
            fn.names[i] = fn.value(node.args[0])     # its users write the sign
            return
        if not batched and (self._emit_sparse(fn, node) or self._emit_in_place(fn, node)):
            return
        if not batched and kind is Fn.BroadcastTo and self._needless_broadcast(node):
            fn.names[i] = fn.value(node.args[0])     # numpy broadcasts the scalar itself
            return
        if batched and kind not in ELEMENTWISE:
            expr = self._batched_shape_op(fn, node)
            args = []
        else:
            args = [self._arg(fn, a, node, batched) for a in node.args]
            expr = self._expr(node, args, scalar, batched, fn.negated)
        if expr in args and (expr not in fn.inlined or self._single_use(fn, node)):
            fn.names[i] = expr       # x * 1.0, 1 * g: no new value
            return
        if scalar and self._single_use(fn, node):
            depth = 1 + max([fn.inlined.get(a, 0) for a in args] or [0])
            if depth <= _INLINE_DEPTH and all(self.trace.nodes[a].shape == () for a in node.args):
                fn.names[i] = expr           # one operand already: infix forms are
                fn.inlined[expr] = depth     # parenthesized, the rest are calls or names
                return
        fn.names[i] = f"t{i}"
        fn.line(f"t{i} = {expr}")
        if not batched and node.shape != () and kind in _FRESH:
            fn.fresh.add(i)

    def _single_use(self, fn: _Function, node: Node) -> bool:
        """Is node's value read once, by a scalar op later in this function?
        (Then its expression may stand in that op's: pure float arithmetic,
        so the values are the same bits; fewer lines to compile and run.)"""
        if len(node.users) != 1 or node.index in fn.outputs:
            return False
        user = node.users[0]
        return user in fn.computed and self.trace.nodes[user].shape == ()

    def _needless_broadcast(self, node: Node) -> bool:
        """A scalar broadcast only into +, -, *, / with an operand of the
        full shape (a seed component times a vector of data): the scalar
        itself gives the same array, without np.broadcast_to's call.  That
        operand must be written as an array itself: not another broadcast
        of a scalar, nor a constant of one repeated value (a literal) — the
        gradient of sum(x)^2 + exp(sum(x)) is two broadcasts added, and
        eliding both made it one float."""
        nodes, t = self.trace.nodes, self.trace
        if nodes[node.args[0]].shape != () or not node.users \
                or node.index in (t.f, t.g, t.hv):    # a function's result stays an array
            return False
        for u in node.users:
            user = nodes[u]
            if user.shape != node.shape:
                return False
            if type(user.op) in _CONST_RIGHT or type(user.op) in _CONST_LEFT:
                if not self._array_parameter(user.op.c, node.shape):
                    return False
                continue
            others = [a for a in user.args if a != node.index]
            if type(user.op) not in _INFIX or len(others) != 1 \
                    or nodes[others[0]].shape != node.shape \
                    or self._may_be_scalar(nodes[others[0]]):
                return False
        return True

    @staticmethod
    def _array_parameter(c: Any, shape: tuple) -> bool:
        """Is the constant c of an op on an operand of this shape written as
        an array of that shape?  (Then a scalar operand gives the same
        array: Osborne's v_3 * t_i, 33 times.)  ``_param`` writes a
        literal for a scalar or a uniform array, which would not widen."""
        return isinstance(c, np.ndarray) and c.shape == shape and _param_literal(c, shape) is None

    def _may_be_scalar(self, node: Node) -> bool:
        """Might this node of a vector shape be written as a scalar?"""
        if type(node.op) is Fn.BroadcastTo:
            return self.trace.nodes[node.args[0]].shape == ()
        return node.kind == "const" and _uniform_literal(node.value, node.shape) is not None

    def _owned(self, fn: _Function, j: int, node: Node) -> bool:
        """May node j's array be overwritten to make ``node``?  Only an
        array this function made, used once, of the result's shape."""
        other = self.trace.nodes[j]
        return j in fn.fresh and len(other.users) == 1 and other.shape == node.shape

    def _emit_in_place(self, fn: _Function, node: Node) -> bool:
        """A slice's gradient is added into the array it joins (``gx[index]
        += gy``, as the interpreter's ``accumulate_grad``) instead of zeros(n)
        plus a full add, at any size; for large vectors, an elementwise
        result also reuses an operand's array (``out=``) when nothing else
        needs it (below ``_IN_PLACE_SIZE`` the keyword costs more than the
        allocation)."""
        op, kind = node.op, type(node.op)
        if isinstance(op, Fn.GetItemGrad) and len(node.users) == 1:
            gy = fn.value(node.args[0])
            fn.deferred[node.index] = (gy, self.bind("i", node.index, op.index), op.shape,
                                       _scatterer(op.index, op.shape))
            return True
        if kind is core.Add:
            a, b = node.args
            nodes = self.trace.nodes
            for d, sparse in ((a, b), (b, a)):
                # components of x[k] added into a scatter's zeros: in place, one
                # float each, not zeros(n) and a full add (a scatter into zeros
                # holds no -0, so its other entries are what adding 0.0 gives)
                if d in fn.deferred and sparse in fn.sparse and len(nodes[sparse].users) == 1 \
                        and nodes[d].shape == nodes[sparse].shape == node.shape:
                    into = fn.value(d)
                    for k, part in sorted(fn.sparse.pop(sparse).items()):
                        fn.line(f"{into}[{k}] += {part}")
                    fn.names[node.index] = into
                    fn.fresh.add(node.index)
                    return True
            if a in fn.deferred and b in fn.deferred:
                fn.value(a)                       # make one, add the other into it
            for d, other in ((a, b), (b, a)):
                if d in fn.deferred and self._owned(fn, other, node):
                    gy, index, _, scatterer = fn.deferred.pop(d)
                    into = fn.value(other)
                    fn.line(f"np.add.at({into}, {index}, {gy})" if scatterer == "_scatter_at"
                            else f"{into}[{index}] += {gy}")
                    fn.names[node.index] = fn.names[other]
                    fn.fresh.add(node.index)
                    return True
        if math.prod(node.shape) < _IN_PLACE_SIZE:
            return False
        if kind is core.PowConstGrad and op.c not in (0, 1) \
                and self.trace.nodes[node.args[0]].shape == node.shape:
            x, g = (self._uniform(node, j, fn.value(j)) for j in node.args)  # (c x**(c-1)) *= g
            if op.c == 2:
                factor, g = _square_gradient(x, g, node.args[1] in fn.negated)
            else:
                factor = f"({_power(x, op.c - 1) or self._pow(x, self._param(node, op.c - 1), False)}" \
                         f" * {self._param(node, op.c)})"
            fn.line(f"t{node.index} = {factor}")
            if g != "1.0":
                fn.line(f"t{node.index} = np.multiply(t{node.index}, {g}, out=t{node.index})")
            fn.names[node.index] = f"t{node.index}"
            fn.fresh.add(node.index)
            return True
        ufunc = _UFUNC.get(kind)
        if ufunc is None or kind is core.MulConst and \
                self._param(node, op.c, node.shape) == "1.0":
            return False
        for target in node.args:
            if target not in fn.deferred and target not in fn.sparse \
                    and self._owned(fn, target, node):
                operands = [self._uniform(node, j, fn.value(j)) for j in node.args]
                if kind in _CONST_RIGHT:
                    operands.append(self._param(node, op.c, node.shape))
                elif kind in _CONST_LEFT:
                    operands.insert(0, self._param(node, op.c, node.shape))
                fn.line(f"t{node.index} = np.{ufunc}({', '.join(operands)}, "
                        f"out={fn.value(target)})")
                fn.names[node.index] = f"t{node.index}"
                fn.fresh.add(node.index)
                return True
        return False

    def _arg(self, fn: _Function, a: int, node: Node, batched: bool) -> str:
        """An argument; in a batch, padded so the seed axis stays leading."""
        text = fn.value(a)
        if batched and self.vdep[a]:
            missing = len(node.shape) - len(self.trace.nodes[a].shape)
            if missing > 0:
                text = f"np.asarray({text}).reshape((-1,) + {(1,) * missing!r} + " \
                       f"{self.trace.nodes[a].shape!r})"
        return text

    def _emit_sparse(self, fn: _Function, node: Node) -> bool:
        """Gradients of scalar uses of x[k]: one float per component."""
        op = node.op
        if isinstance(op, Fn.GetItemGrad) and _is_int(op.index) and len(node.shape) == 1 \
                and self.trace.nodes[node.args[0]].shape == ():
            # 0.0 + gy, as the interpreter's scatter into zeros: -0.0 becomes 0.0
            k = int(op.index) % node.shape[0]
            fn.sparse[node.index] = {k: f"({fn.value(node.args[0])} + 0.0)"}
            return True
        if isinstance(op, core.Add) and all(a in fn.sparse for a in node.args) \
                and self.trace.nodes[node.args[0]].shape == node.shape \
                and self.trace.nodes[node.args[1]].shape == node.shape:
            left, right = (fn.sparse[a] for a in node.args)
            merged = dict(left)
            for k, expr in right.items():
                if k in merged:
                    name = fn.temp()
                    fn.line(f"{name} = {merged[k]} + {expr}")
                    merged[k] = name
                else:
                    merged[k] = expr
            fn.sparse[node.index] = merged
            return True
        if isinstance(op, Fn.GetItem) and _is_int(op.index) and node.shape == () \
                and len(self.trace.nodes[node.args[0]].shape) == 1:
            fn.names[node.index] = fn.component(node.args[0], int(op.index)
                                                % self.trace.nodes[node.args[0]].shape[0])
            return True
        return False

    def _expr(self, node: Node, a: list[str], scalar: bool, batched: bool = False,
              negated: set[int] = frozenset()) -> str:
        op, kind = node.op, type(node.op)
        if kind in _INFIX:
            a = [self._uniform(node, j, text) for j, text in zip(node.args, a)]
            if kind is core.Mul and "1.0" in a:
                return a[1] if a[0] == "1.0" else a[0]
            return f"({a[0]} {_INFIX[kind]} {a[1]})"
        if kind in _CONST_RIGHT or kind in _CONST_LEFT:
            c = self._param(node, op.c, self.trace.nodes[node.args[0]].shape)
            if kind is core.MulConst and c == "1.0":
                return a[0]
            if kind in _CONST_RIGHT:
                return f"({a[0]} {_CONST_RIGHT[kind]} {c})"
            return f"({c} {_CONST_LEFT[kind]} {a[0]})"
        if kind is core.Neg:
            return f"(-{a[0]})"
        if kind is core.PowConst:
            chain = _power(a[0], op.c)
            if chain is not None and chain != "1.0":
                return chain
            return self._pow(a[0], self._param(node, op.c), scalar)
        if kind is core.PowConstGrad:
            return self._pow_grad(node, a, scalar, batched, node.args[1] in negated)
        if kind is core.Pow:
            return self._pow(a[0], a[1], scalar)
        if kind is core.RPowConst:
            return self._pow(self._param(node, op.c), a[0], scalar)
        if kind in _MATH:
            return f"math.{_MATH_SCALAR[kind]}({a[0]})" if scalar else f"np.{_MATH[kind]}({a[0]})"
        if kind is Fn.Erf:
            return f"math.erf({a[0]})" if scalar else f"_erf({a[0]})"
        if kind is Fn.Abs:
            return f"abs({a[0]})" if scalar else f"np.abs({a[0]})"
        if scalar and kind in _SCALAR_MASKS:
            return _SCALAR_MASKS[kind].format(*a)
        if kind is Fn.Sum and self.trace.nodes[node.args[0]].shape == ():
            return a[0]
        expr = self._array_expr(node, a)
        return f"float({expr})" if scalar else expr

    def _array_expr(self, node: Node, a: list[str]) -> str:
        """Shape ops, and any other op by its own ``forward``: numpy results."""
        op, kind = node.op, type(node.op)
        if kind is Fn.Sum:
            return f"{a[0]}.sum(axis={op.axis!r}, keepdims={op.keepdims!r})"
        if kind is Fn.MatMul:
            return f"({a[0]} @ {a[1]})"
        if kind is Fn.MatVecConst:
            return f"({self.bind('c', node.index, op.a)} @ {a[0]})"
        if kind is Fn.GetItem:
            return f"{a[0]}[{self.bind('i', node.index, op.index)}]"
        if kind is Fn.GetItemGrad:
            return f"{_scatterer(op.index, op.shape)}({a[0]}, " \
                   f"{self.bind('i', node.index, op.index)}, {op.shape!r})"
        if kind is Fn.Reshape:
            return f"np.reshape({a[0]}, {op.shape!r})"
        if kind is Fn.BroadcastTo:
            return f"np.broadcast_to({a[0]}, {op.shape!r})"
        if kind is Fn.SumTo:
            if op.shape == () and len(self.trace.nodes[node.args[0]].shape) == 1:
                return f"{a[0]}.sum()"   # what _sum_to does here, minus its generic steps
            return f"_sum_to(np.asarray({a[0]}), {op.shape!r})"
        return f"{self.bind('op', node.index, op)}.forward({', '.join(a)})"

    def _param(self, node: Node, c: Any, operand: tuple | None = None) -> str:
        """A constant parameter: a literal for a scalar, or for an array of
        one repeated value that does not widen the result (the ones a
        seed broadcasts to); else a bound name."""
        text = _param_literal(c, operand)
        return text if text is not None else self.bind("c", node.index, c)

    def _uniform(self, node: Node, j: int, text: str) -> str:
        arg = self.trace.nodes[j]
        if arg.kind == "const" and arg.shape != ():
            other = [self.trace.nodes[k].shape for k in node.args if k != j]
            literal = _uniform_literal(arg.value, other[0] if other else node.shape)
            if literal is not None and (not other or other[0] == node.shape):
                return literal
        return text

    @staticmethod
    def _pow(base: str, exponent: str, scalar: bool) -> str:
        """base ** exponent as numpy computes it.  The interpreter's scalars
        are 0-d arrays, and there numpy's power with exponent 0.5 is sqrt
        (nan at -inf, -0.0 at -0.0, where C's pow gives inf and 0.0)."""
        if not scalar:
            return f"np.power({base}, {exponent})"
        if exponent == "0.5":
            return f"math.sqrt({base})"
        if _literal_value(exponent) is not None:
            return f"math.pow({base}, {exponent})"
        return f"_pow0d({base}, {exponent})"

    def _pow_grad(self, node: Node, a: list[str], scalar: bool, batched: bool,
                  negated: bool = False) -> str:
        """g * c * x**(c-1), as ``PowConstGrad.forward`` computes it
        (``negated``: g is -b, read through, and ``a`` holds b)."""
        c = node.op.c
        x, g = a[0], self._uniform(node, node.args[1], a[1])
        if c == 0:
            if batched:                                   # one zero row per seed
                seeded = next(t for j, t in zip(node.args, a) if self.vdep[j])
                return f"np.zeros(np.shape({seeded})[:1] + {node.shape!r})"
            return "0.0" if node.shape == () else f"np.zeros({node.shape!r})"
        if c == 2:
            factor, seed = _square_gradient(x, g, negated)
            return factor if seed == "1.0" else f"({factor} * {seed})"
        if c == 1 and self.trace.nodes[node.args[0]].shape == node.shape:
            return g                                  # 1 * g
        chain = _power(x, c - 1)
        factor = chain if chain is not None else self._pow(x, self._param(node, c - 1), scalar)
        if factor == "1.0" and self.trace.nodes[node.args[0]].shape != node.shape:
            factor = f"np.ones({node.shape!r})"
        product = f"({factor} * {self._param(node, c)})"
        return product if g == "1.0" else f"({product} * {g})"

    def _batched_shape_op(self, fn: _Function, node: Node) -> str:
        """Shape ops on a batch of seeds (axis 0 is the seed)."""
        op, kind = node.op, type(node.op)
        a = [fn.value(x) for x in node.args]
        in_shape = self.trace.nodes[node.args[0]].shape
        if not self.vdep[node.args[0]] and kind is not Fn.MatMul:
            raise Unsupported(f"{kind.__name__} of a constant in a batch")
        if kind is Fn.Sum:
            shifted = batched_sum_axes(in_shape, op.axis)
            if not shifted:
                return a[0]
            return f"{a[0]}.sum(axis={shifted!r}, keepdims={op.keepdims!r})"
        if kind is Fn.GetItem:
            parts = op.index if isinstance(op.index, tuple) else (op.index,)
            return f"{a[0]}[{self.bind('ib', node.index, (slice(None),) + parts)}]"
        if kind is Fn.GetItemGrad:
            return f"_scatter_batched({a[0]}, {self.bind('i', node.index, op.index)}, " \
                   f"{op.shape!r})"
        if kind is Fn.Reshape:
            return f"np.reshape({a[0]}, (-1,) + {tuple(op.shape)!r})"
        if kind is Fn.Transpose:
            return f"np.transpose({a[0]}, {batched_transpose_axes(in_shape, op.axes)!r})"
        if kind is Fn.BroadcastTo:
            return f"_broadcast_batched({a[0]}, {in_shape!r}, {tuple(op.shape)!r})"
        if kind is Fn.SumTo:
            return f"_sum_to_batched(np.asarray({a[0]}), {tuple(op.shape)!r})"
        if kind is Fn.MatMul:
            return f"({a[0]} @ {a[1]})"
        if kind is Fn.MatVecConst:      # each seed's row times A^T
            return f"({a[0]} @ {self.bind('ct', node.index, op.a.T)})"
        raise Unsupported(f"{kind.__name__} on a batch of seeds")

    # -- the functions ------------------------------------------------------------
    def function(self, name: str, params: list[str], nodes: list[int], inputs: list[int],
                 returns: list[str], batched: bool = False) -> str:
        """Source of one function: unpack ``inputs``, compute ``nodes``,
        return ``returns`` (templates over node indices: "{f}", "({c})")."""
        fn = _Function(self, name, params, batched)
        fn.computed = set(nodes)
        fn.outputs = {i for _, indices in returns for i in indices}
        fn.negated = self.negations_read_through(fn.computed, fn.outputs)
        for i in inputs:
            fn.names[i] = f"t{i}"
        if inputs:                       # the last parameter: saved or cache
            fn.line(f"{', '.join(f't{i}' for i in inputs)}, = {params[-1]}")
        for node in self.trace.nodes:
            if node.kind == "x":
                fn.names[node.index] = "x"
            elif node.kind == "v":
                fn.names[node.index] = "v"
            elif node.kind == "const":
                fn.names[node.index] = self.const(node)
        for i in nodes:
            self.emit(fn, i)
        return fn.source(", ".join(self._returned(fn, r) for r in returns))

    def negations_read_through(self, computed: set[int], outputs: set[int]) -> set[int]:
        """The negations -b this function reads only as the seed of x^2's
        gradient: (x * 2) * (-b) is written (x * -2) * b, the same number to
        the bit (negation is exact and rounding symmetric in sign), and -b is
        not computed.  (Backward passes make one for every a - x^2; at
        n = 10^6 each is a pass over 8 MB.  Kept where the function returns
        it, as backward2 does for the HVP.)"""
        trace = self.trace.nodes
        read: set[int] = set()
        for i in self.negations:
            node = trace[i]
            if i not in computed or i in outputs or trace[node.args[0]].kind == "const":
                continue
            users = [trace[u] for u in node.users if u in computed]
            if users and all(type(u.op) is core.PowConstGrad and np.ndim(u.op.c) == 0
                             and u.op.c == 2 and u.args == (u.args[0], i) and u.args[0] != i
                             for u in users):
                read.add(i)
        return read

    def _returned(self, fn: _Function, spec: tuple[str, list[int]]) -> str:
        how, indices = spec
        if how == "float":
            if self.trace.nodes[indices[0]].shape == ():
                return fn.value(indices[0])          # already a Python float
            return f"float(np.reshape({fn.value(indices[0])}, ()))"
        if how == "array":
            return f"_fresh({fn.value(indices[0])})"
        return "(" + "".join(f"{fn.value(i)}, " for i in indices) + ")"


BASE_NAMESPACE["_fresh"] = fresh_array


class Program:
    """The plan of the generated functions; each is written on first use
    (``source(name)``), so a first-order run never pays for the HVP code."""

    def __init__(self, trace: Trace) -> None:
        nodes = trace.nodes
        self.trace = trace
        self.gen = Generator(trace)
        self.namespace = self.gen.namespace
        vdep = self.gen.vdep

        def ops(indices) -> list[int]:
            return sorted(i for i in indices if nodes[i].kind == "op")

        in_f = trace.ancestors([trace.f])
        in_g = trace.ancestors([trace.g])
        in_h = trace.ancestors([trace.hv])
        forward = ops(in_f)
        backward = ops(in_g - in_f)
        extra = ops({i for i in in_h if not vdep[i]} - in_f - in_g)
        hvp = ops(i for i in in_h if vdep[i])

        def used(stage: list[int], outputs: list[int], among: set[int]) -> list[int]:
            need = {a for i in stage for a in nodes[i].args} | set(outputs)
            return ops(i for i in need if i in among)

        cache = used(hvp, [trace.hv], in_f | in_g | set(extra))
        saved = sorted(set(used(backward + extra, [trace.g], in_f)) | (set(cache) & in_f))
        self._plans = {
            "forward": (["x"], forward, [], [("float", [trace.f]), ("tuple", saved)], False),
            "backward": (["x", "saved"], backward, saved, [("array", [trace.g])], False),
            "backward2": (["x", "saved"], backward + extra, saved,
                          [("array", [trace.g]), ("tuple", cache)], False),
            "hvp": (["x", "v", "cache"], hvp, cache, [("array", [trace.hv])], False),
            "hessian": (["x", "v", "cache"], hvp, cache, [("array", [trace.hv])], True),
        }
        # "extra": what backward2 computes and backward does not: the HVP
        # cache's own ops, and the long negations backward reads through but
        # backward2 returns (for short ones a second function to write costs
        # more than it saves)
        kept = self.gen.negations_read_through(set(backward), {trace.g}) - \
            self.gen.negations_read_through(set(backward + extra), {trace.g, *cache})
        long_kept = [i for i in kept if math.prod(nodes[i].shape) >= _IN_PLACE_SIZE]
        self.counts = {"forward": len(forward), "backward": len(backward),
                       "extra": len(extra) + len(long_kept), "hvp": len(hvp),
                       "traced": len(nodes)}
        # the largest value one seed's H v pass holds: a batch of k seeds
        # holds k times it
        self.hvp_width = max([math.prod(nodes[i].shape) for i in hvp] or [1])

    def source(self, name: str) -> str:
        """The source of one function; Unsupported for a Hessian that cannot
        be batched."""
        return self.gen.function(name, *self._plans[name])


def generate(trace: Trace) -> Program:
    """Plan the stages of a trace (the functions are written on demand)."""
    return Program(trace)
