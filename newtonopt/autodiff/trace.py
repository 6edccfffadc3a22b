"""Record f, its gradient and its Hessian-vector product once, as a graph.

The double-backprop core is the tracer: at a point x0 it runs f, then
``backward(create_graph=True)`` (the gradient g, itself a graph), then a
backward through g seeded with a symbolic vector v (H v, a graph in x and
v).  ``trace`` walks the three graphs from their outputs into one list of
``Node``s in dependency order, merging common subexpressions (an op with
the same parameters on the same inputs is one node; f, g and H v share
most of their work) and constants with equal values.  Constants folded by
the core (an op on constants records nothing) stay folded.

Every shape in the trace is static.  Values that depend on the data (the
sign in d|x|, the winner of a max) are ``Mask`` ops in the graph, so they
are recomputed wherever the trace is replayed; ``codegen`` turns the nodes
into straight-line Python.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .core import Add, Function, MulConst, Neg, PowConstGrad, Sub, Variable


class Node:
    """One value of the trace: the input ``x`` or ``v``, a constant, or the
    output of ``op`` applied to the nodes ``args`` (indices into the list)."""

    __slots__ = ("index", "kind", "shape", "op", "args", "value", "users")

    def __init__(self, index: int, kind: str, shape: tuple, op: Function | None = None,
                 args: tuple[int, ...] = (), value: Any = None) -> None:
        self.index = index
        self.kind = kind              # "x", "v", "const" or "op"
        self.shape = shape
        self.op = op
        self.args = args
        self.value = value            # the constant's value
        self.users: list[int] = []


class Trace:
    """The nodes, which of them are f(x), grad f(x) and H(x) v, the size n
    of x, and ``values``: f, g and H v as the interpreter computed them at
    the traced point.  (A plain class: a dataclass costs ~0.7 ms to import,
    paid by the first compile of every command-line run.)"""

    def __init__(self, nodes: list[Node], f: int, g: int, hv: int, n: int,
                 values: tuple = ()) -> None:
        self.nodes, self.f, self.g, self.hv, self.n = nodes, f, g, hv, n
        self.values = values

    def ancestors(self, roots: list[int]) -> set[int]:
        """The nodes ``roots`` are computed from (themselves included)."""
        seen, stack = set(), list(roots)
        while stack:
            i = stack.pop()
            if i not in seen:
                seen.add(i)
                stack.extend(self.nodes[i].args)
        return seen

    def depends_on_v(self) -> list[bool]:
        out = []
        for node in self.nodes:
            depends = node.kind == "v"
            for a in node.args:
                if out[a]:
                    depends = True
                    break
            out.append(depends)
        return out


def _freeze(value: Any) -> Any:
    """A hashable stand-in for an op parameter (None: not comparable).
    A float is keyed by its bits: 0.0 == -0.0, but 1/(x*0.0) is not
    1/(x*(-0.0)); and nan != nan, though one nan parameter is another."""
    if isinstance(value, (float, np.floating)):
        return (type(value).__name__, float(value).hex())
    if isinstance(value, (int, str, bool, type(None), np.integer)):
        return (type(value).__name__, value)
    if isinstance(value, slice):
        return ("slice", value.start, value.stop, value.step)
    if isinstance(value, (tuple, list)):
        items = tuple(_freeze(v) for v in value)
        return None if None in items else ("seq", items)
    if isinstance(value, np.ndarray):
        if value.size > _HASHED_SIZE:     # large: merged only when the same object
            return ("object", id(value))
        return ("array", value.shape, value.dtype.str, value.tobytes())
    return None


_GRAPH_ATTRS = {"inputs", "outputs", "generation"}
_HASHED_SIZE = 4096


def _op_key(op: Function, args: tuple[int, ...]) -> tuple[tuple | None, dict]:
    """The key that merges equal ops on equal arguments (None: never
    merged), and the op's parameters."""
    attrs = op.__dict__
    if len(attrs) == len(_GRAPH_ATTRS):    # most ops: Add, Mul, Sin, ... (no parameters)
        return (type(op), (), args), _NO_PARAMS
    params = {k: v for k, v in attrs.items() if k not in _GRAPH_ATTRS}
    # In the order __init__ set them (one order per class, so no sort): an
    # op that set them otherwise would only miss a merge.
    frozen = tuple([(k, _freeze(v)) for k, v in params.items()])
    for _, p in frozen:
        if p is None:
            return None, params
    return (type(op), frozen, args), params


_NO_PARAMS: dict = {}


class _Builder:
    def __init__(self, x: Variable, v: Variable) -> None:
        self.nodes: list[Node] = []
        # Keyed by the Variable itself (identity: Variable defines no __eq__),
        # which also keeps it alive while its node is looked up.
        self.of_var: dict[Variable, int] = {}
        self.by_key: dict[tuple, int] = {}
        self.x, self.v = x, v

    def _add(self, var: Variable, node_key: tuple | None, kind: str, op: Function | None = None,
             args: tuple[int, ...] = (), value: Any = None, params: dict | None = None) -> int:
        index = self.by_key.get(node_key) if node_key is not None else None
        if index is None:
            index = len(self.nodes)
            if op is not None:
                op = _parameters_of(op, params)          # only for a new node
            self.nodes.append(Node(index, kind, var.data.shape, op, args, value))
            for a in args:
                self.nodes[a].users.append(index)
            if node_key is not None:
                self.by_key[node_key] = index
        self.of_var[var] = index
        return index

    def leaf(self, var: Variable) -> int:
        if var is self.x:
            return self._add(var, ("x",), "x")
        if var is self.v:
            return self._add(var, ("v",), "v")
        return self._add(var, ("const", _freeze(var.data)), "const", value=var.data)

    def visit(self, root: Variable) -> int:
        """Add root and everything it is computed from, inputs first,
        without recursion (graphs can be 10^5 ops deep)."""
        of_var = self.of_var
        stack = [root]
        while stack:
            var = stack[-1]
            if var in of_var:
                stack.pop()
                continue
            f = var.creator
            if f is None:
                stack.pop()
                self.leaf(var)
                continue
            pending = [x for x in f.inputs if x not in of_var]
            if pending:              # inputs first; var is met again after them
                stack += pending
                continue
            stack.pop()
            if len(f.outputs) != 1:
                raise NotImplementedError(f"{type(f).__name__} has several outputs")
            args = tuple([of_var[x] for x in f.inputs])
            key, params = _op_key(f, args)
            self._add(var, key, "op", f, args, params=params)
        return of_var[root]


def _parameters_of(f: Function, params: dict) -> Function:
    """The op with its parameters only: the trace must not keep the
    recorded graph (and its arrays, 8 MB each at n = 10^6) alive.  Ops
    without parameters are stateless: one instance per class serves."""
    kind = type(f)
    if not params:
        if kind not in _BARE:
            _BARE[kind] = object.__new__(kind)
        return _BARE[kind]
    clone = object.__new__(kind)
    clone.__dict__.update(params)
    return clone


_BARE: dict[type, Function] = {}


def trace(f: Callable[[Variable], Variable], x0: np.ndarray,
          v0: np.ndarray | None = None) -> Trace:
    """Record f, grad f and H v at x0 (a flat float64 vector) as one Trace,
    v taking the value v0 (ones by default) while recording."""
    x0 = np.asarray(x0, dtype=np.float64).ravel()
    x = Variable(x0.copy())
    y = f(x)
    if not isinstance(y, Variable) or y.size != 1:
        raise TypeError("f must return a scalar Variable")
    y.backward(create_graph=True)
    g, x.grad = x.grad, None
    if g is None:
        g = Variable(np.zeros_like(x0), requires_grad=False)
    v = Variable(np.ones_like(x0) if v0 is None else np.array(v0, dtype=np.float64))
    g.grad = v
    g.backward(create_graph=True)
    hv, x.grad = x.grad, None
    if hv is None:
        hv = Variable(np.zeros_like(x0), requires_grad=False)
    b = _Builder(x, v)
    b.leaf(x)
    b.leaf(v)
    fi, gi, hi = b.visit(y), b.visit(g), b.visit(hv)
    values = (float(y.data), g.data, hv.data)
    return _fold_negations(Trace(b.nodes, fi, gi, hi, x0.size, values))


def _fold_negations(t: Trace) -> Trace:
    """Absorb the negations backward passes are full of into a neighbour,
    by rewrites that are exact in IEEE arithmetic (so the compiled values
    stay the interpreter's to the bit):

        -(-a) = a          -(a*c) = a*(-c)      (-a)*c = a*(-c)
        a + (-b) = a - b   (-b) + a = a - b     a - (-b) = a + b

    (after ``_normalize``), each only where the absorbed node has no other user, so a vector
    operation disappears (in a Rosenbrock HVP, 3 of 15).  Not -(a - b) = b - a:
    at a = b it is -0.0 against +0.0, and 1/-0.0 is -inf."""
    nodes = t.nodes
    alias: dict[int, int] = {}
    outputs = (t.f, t.g, t.hv)
    for i in outputs:            # the program's outputs are users too
        nodes[i].users.append(-1)

    def only_user(j: int, i: int) -> bool:
        return nodes[j].kind == "op" and nodes[j].users == [i]

    def rewire(node: Node, op: Function, args: tuple[int, ...]) -> None:
        old, node.op, node.args = node.args, op, args
        for a in args:                 # new uses first: a kept argument never looks dead
            nodes[a].users.append(node.index)
        for a in old:
            nodes[a].users.remove(node.index)
            _drop_if_dead(nodes, a)

    def absorb(node: Node) -> bool:
        """One rewrite at this node, if one applies."""
        if type(node.op) not in _REWRITTEN:
            return False
        _normalize(node, nodes, rewire)
        kind, args = type(node.op), node.args
        if kind is PowConstGrad and node.op.c == 1 and nodes[args[1]].shape == node.shape:
            alias[node.index] = args[1]          # 1 * x**0 * g is g
            return False
        inner = [nodes[a] if only_user(a, node.index) else None for a in args]
        kinds = [type(n.op) if n is not None else None for n in inner]
        if kind is Neg and kinds[0] is Neg:
            alias[node.index] = inner[0].args[0]
            return False
        if kind is Neg and kinds[0] is MulConst:
            rewire(node, MulConst(-inner[0].op.c), inner[0].args)
        elif kind is MulConst and kinds[0] is Neg:
            rewire(node, MulConst(-node.op.c), inner[0].args)
        elif kind is Add and Neg in kinds:
            k = kinds.index(Neg)
            rewire(node, Sub(), (args[1 - k], inner[k].args[0]))
        elif kind is Sub and kinds[1] is Neg:
            rewire(node, Add(), (args[0], inner[1].args[0]))
        else:
            return False
        return True

    for node in nodes:
        if node.kind != "op":
            continue
        if alias and any(a in alias for a in node.args):
            rewire(node, node.op, tuple(alias.get(a, a) for a in node.args))
        while node.index not in alias and absorb(node):
            pass
    kept = tuple(alias.get(i, i) for i in outputs)
    for i in outputs:            # the outputs move to what they alias, which must
        nodes[i].users.remove(-1)   # outlive the aliases dropped below (f = -(-a):
    for i in kept:                  # dropping -(-a) and -a left a without arguments)
        nodes[i].users.append(-1)
    for i in alias:
        _drop_if_dead(nodes, i)
    for i in kept:
        nodes[i].users.remove(-1)
    t.f, t.g, t.hv = kept
    return t


# The ops a rewrite (or _normalize) can start from.
_REWRITTEN = frozenset((Neg, MulConst, Add, Sub, PowConstGrad))


def _normalize(node: Node, nodes: list[Node], rewire) -> None:
    """Spell two exact identities as the ops the rewrites match: a*(-1) is
    -a, and the gradient of x**2 seeded with ones, (x*2)*1, is x*2."""
    op, same_shape = node.op, node.shape == nodes[node.args[0]].shape
    if type(op) is MulConst and same_shape and _all_equal(op.c, -1.0):
        rewire(node, Neg(), node.args)
    elif type(op) is PowConstGrad and same_shape and np.ndim(op.c) == 0 and op.c == 2:
        seed = nodes[node.args[1]]
        if seed.kind == "const" and _all_equal(seed.value, 1.0):
            rewire(node, MulConst(2.0), node.args[:1])


def _all_equal(c: Any, value: float) -> bool:
    """Is every entry of the constant c equal to value?  (Scalars without
    np.all's dispatch: most constants are.)"""
    if getattr(c, "ndim", 0) == 0:
        return bool(c == value)
    return bool((c == value).all())


def _drop_if_dead(nodes: list[Node], i: int) -> None:
    """A node nothing uses any more stops counting as a user of its
    arguments (use counts decide where arrays may be overwritten)."""
    stack = [i]
    while stack:
        node = nodes[stack.pop()]
        if node.users or node.kind != "op":
            continue
        for a in node.args:
            if node.index in nodes[a].users:
                nodes[a].users.remove(node.index)
                stack.append(a)
        node.args = ()
