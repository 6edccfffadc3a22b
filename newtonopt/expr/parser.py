"""Objective text -> compiled evaluator, by a whitelisted walk of Python's AST.

Never ``eval``/``exec``/``compile``: the text is parsed with ``ast.parse``
(mode ``eval``) and each node is checked against a whitelist and turned,
once, into a closure that evaluates with autodiff ops.  Shapes are inferred
while compiling (every value is a scalar ``()`` or a vector ``(n,)``), so
indexing, broadcasting and arity errors are caught before anything runs,
and constant subexpressions are folded.

Long sums are the common shape of real objectives (several KB of literal
data), and CPython's AST construction recurses once per term.  So the text
is cut at top-level ``+``/``-`` into chunks of at most ``_CHUNK_TERMS``
terms, each parsed on its own, and additive chains are evaluated as one
flat left-to-right sum (the same order, the same rounding as Python's).
"""
from __future__ import annotations

import ast
import bisect
import io
import operator
import tokenize
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

import newtonopt.autodiff.functions as F

from .errors import ObjectiveError

MAX_LENGTH = 1_000_000
MAX_DEPTH = 100
_CHUNK_TERMS = 200

Shape = tuple
Env = dict  # variable name -> Variable


@dataclass(frozen=True)
class Node:
    """A compiled subexpression: ``fn(env)`` evaluates it; ``const`` holds
    its value when it depends on no variable; ``shape`` is () or (n,)."""

    fn: Callable[[Env], Any] | None
    shape: Shape
    const: Any = None

    @property
    def is_const(self) -> bool:
        return self.fn is None

    def evaluator(self) -> Callable[[Env], Any]:
        if self.fn is not None:
            return self.fn
        value = self.const
        return lambda env: value


def _const(value: Any) -> Node:
    """A folded constant: np.float64 for a scalar (so float64 overflow
    gives inf rather than Python's OverflowError), else a float64 array."""
    if isinstance(value, float):
        return Node(None, (), np.float64(value))
    value = np.asarray(value, dtype=np.float64)
    return Node(None, value.shape, value[()] if value.ndim == 0 else value)


# name -> (arity, autodiff op, numpy op, result shape from argument shapes)
def _elementwise(shapes):
    return shapes[0]


def _reduce(shapes):
    return ()


FUNCTIONS: dict[str, tuple[int, Callable, Callable, Callable]] = {
    "sin": (1, F.sin, np.sin, _elementwise),
    "cos": (1, F.cos, np.cos, _elementwise),
    "tan": (1, F.tan, np.tan, _elementwise),
    "exp": (1, F.exp, np.exp, _elementwise),
    "log": (1, F.log, np.log, _elementwise),
    "sqrt": (1, F.sqrt, np.sqrt, _elementwise),
    "tanh": (1, F.tanh, np.tanh, _elementwise),
    "sinh": (1, F.sinh, np.sinh, _elementwise),
    "cosh": (1, F.cosh, np.cosh, _elementwise),
    "abs": (1, F.absolute, np.abs, _elementwise),
    "sum": (1, F.sum, np.sum, _reduce),
    "mean": (1, F.mean, np.mean, _reduce),
    "norm": (1, F.norm, np.linalg.norm, _reduce),
    "dot": (2, F.dot, np.dot, _reduce),
    "min": (2, F.minimum, np.minimum, None),
    "max": (2, F.maximum, np.maximum, None),
}

CONSTANTS = {"pi": np.pi, "e": np.e}

_DISALLOWED = {
    ast.Attribute: "attribute access is",
    ast.Compare: "comparisons are",
    ast.BoolOp: "boolean operators are",
    ast.Lambda: "lambda is",
    ast.IfExp: "conditional expressions are",
    ast.ListComp: "comprehensions are",
    ast.SetComp: "comprehensions are",
    ast.DictComp: "comprehensions are",
    ast.GeneratorExp: "comprehensions are",
    ast.Starred: "starred expressions are",
    ast.NamedExpr: "assignment expressions are",
    ast.List: "list literals are",
    ast.Tuple: "tuples are",
    ast.Dict: "dict literals are",
    ast.Set: "set literals are",
    ast.JoinedStr: "strings are",
    ast.Await: "await is",
    ast.Yield: "yield is",
    ast.YieldFrom: "yield is",
}

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}


# -- text -> chunks of AST -----------------------------------------------------

@dataclass
class _Chunk:
    """One parsed piece of the text: ``tree`` came from ``source``, which is
    the original text from ``start`` with each ``^`` written as ``**``."""

    tree: ast.expr | None
    start: int
    carets: list[int]  # positions in ``source`` of the inserted '*'

    def column(self, node: ast.AST) -> int:
        """Column in the original text of an AST node (for an attribute,
        of its dot)."""
        if isinstance(node, ast.Attribute):
            col = node.value.end_col_offset
        else:
            col = getattr(node, "col_offset", 0)
        return self.original(col)

    def original(self, col: int) -> int:
        return self.start + col - bisect.bisect_right(self.carets, col)


def _check_characters(text: str) -> None:
    for i, ch in enumerate(text):
        if not ch.isprintable() and ch != " " and ch.isascii():
            raise ObjectiveError(f"control character {ch!r} is not allowed in an objective",
                                 text, i)
        if not ch.isascii():
            raise ObjectiveError(
                f"{ch!r} is not allowed: names and operators are ASCII "
                "(write ** or ^ for powers, - for minus)", text, i)
        if ch in "\"'":
            raise ObjectiveError("strings are not allowed in an objective", text, i)
        if ch in "#;\\`$":
            raise ObjectiveError(f"{ch!r} is not allowed in an objective", text, i)


def _tokens(text: str) -> list[tokenize.TokenInfo]:
    try:
        return list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return []  # let ast.parse of the whole text say what is wrong


def _split_points(tokens: list[tokenize.TokenInfo]) -> list[int]:
    """Offsets of top-level binary +/- where the text may be cut."""
    cuts, depth, prev, terms = [], 0, None, 0
    for tok in tokens:
        s = tok.string
        if s in "([":
            depth += 1
        elif s in ")]":
            depth -= 1
        elif depth == 0 and s in "+-" and tok.type == tokenize.OP and prev is not None \
                and (prev.type in (tokenize.NAME, tokenize.NUMBER) or prev.string in ")]"):
            terms += 1
            if terms % _CHUNK_TERMS == 0:
                cuts.append(tok.start[1])
        if tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                            tokenize.DEDENT, tokenize.ENDMARKER):
            prev = tok
    return cuts


def _parse_chunk(text: str, start: int, end: int, carets: list[int]) -> _Chunk:
    """Parse text[start:end] with each '^' (at the absolute ``carets``)
    written as '**'.  Leading blanks are skipped (Python would read them
    as an indent)."""
    while start < end and text[start] == " ":
        start += 1
    pieces, last, inserted = [], start, []
    for pos in carets:
        pieces.append(text[last:pos])
        pieces.append("**")
        inserted.append(pos - start + len(inserted) + 1)
        last = pos + 1
    pieces.append(text[last:end])
    chunk = _Chunk(None, start, inserted)
    try:
        chunk.tree = ast.parse("".join(pieces), mode="eval").body
    except SyntaxError as exc:
        # offset 0 means "at the end" (e.g. a dangling operator).
        col = chunk.original(exc.offset - 1) if exc.offset else end
        msg = "invalid syntax" if exc.msg.startswith("invalid syntax") else exc.msg
        raise ObjectiveError(msg, text, col) from None
    except (RecursionError, MemoryError):
        raise ObjectiveError("the objective is nested too deeply", text, start) from None
    return chunk


def parse_chunks(text: str) -> list[_Chunk]:
    """Check and parse the text, cut into chunks at top-level +/-."""
    if not isinstance(text, str):
        raise ObjectiveError("the objective must be text")
    if len(text) > MAX_LENGTH:
        raise ObjectiveError(
            f"the objective is {len(text):,} characters; at most {MAX_LENGTH:,} are accepted",
            text[:200], 0)
    text = text.replace("\n", " ").replace("\r", " ").replace("\t", " ")
    _check_characters(text)
    if not text.strip():
        raise ObjectiveError("the objective is empty", text, 0)
    tokens = _tokens(text)
    bounds = [0, *_split_points(tokens), len(text)]
    # Strings and comments are rejected above, so every '^' is the operator.
    carets = [i for i, ch in enumerate(text) if ch == "^"]
    chunks = []
    for a, b in zip(bounds, bounds[1:]):
        lo, hi = bisect.bisect_left(carets, a), bisect.bisect_left(carets, b)
        chunks.append(_parse_chunk(text, a, b, carets[lo:hi]))
    return chunks


# -- AST -> Node ----------------------------------------------------------------

class Compiler:
    """Walks the whitelisted AST of each chunk into one ``Node``.

    ``lookup(name)`` returns the shape of a variable (and records its first
    use); ``constants`` binds extra array-valued names (built-in problems).
    """

    def __init__(self, text: str, shape_of: Callable[[str, int], Shape],
                 constants: dict[str, np.ndarray] | None = None) -> None:
        self.text = text
        self.shape_of = shape_of
        self.constants = constants or {}
        self.chunk: _Chunk | None = None
        self.vector_ops = 0  # vector-valued operations: what a graph will hold

    def _node(self, fn: Callable[[Env], Any], shape: Shape, ops: int = 1) -> Node:
        if shape != ():
            self.vector_ops += ops
        return Node(fn, shape)

    def error(self, message: str, node: ast.AST) -> ObjectiveError:
        return ObjectiveError(message, self.text, self.chunk.column(node))

    def compile(self, chunks: list[_Chunk]) -> Node:
        terms: list[tuple[str, Node, ast.AST]] = []
        for chunk in chunks:
            self.chunk = chunk
            terms.extend(self._additive_terms(chunk.tree, 0))
        return self._sum(terms)

    # Additive chains are flattened iteratively, so a sum of 10^5 terms
    # never recurses 10^5 deep.
    def _additive_terms(self, node: ast.AST, depth: int):
        ops = []
        while isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
            ops.append((node.op, node.right))
            node = node.left
        terms = [("+", self.visit(node, depth + 1), node)]
        for op, right in reversed(ops):
            terms.append(("+" if isinstance(op, ast.Add) else "-",
                          self.visit(right, depth + 1), right))
        return terms

    def _sum(self, terms) -> Node:
        shape = ()
        for _, node, ast_node in terms:
            shape = self._broadcast(shape, node.shape, ast_node)
        if len(terms) == 1:
            return terms[0][1]
        if all(node.is_const for _, node, _ in terms):
            value = terms[0][1].const
            with np.errstate(all="ignore"):
                for sign, node, _ in terms[1:]:
                    value = value + node.const if sign == "+" else value - node.const
            return _const(value)
        first = terms[0][1].evaluator()
        rest = [(sign == "+", node.evaluator()) for sign, node, _ in terms[1:]]

        def total(env):
            acc = first(env)
            for plus, fn in rest:
                acc = acc + fn(env) if plus else acc - fn(env)
            return acc

        return self._node(total, shape, len(terms) - 1)

    def _broadcast(self, a: Shape, b: Shape, node: ast.AST) -> Shape:
        if a == () or a == b:
            return b
        if b == ():
            return a
        raise self.error(
            f"a vector of length {a[0]} and one of length {b[0]} cannot be combined", node)

    def visit(self, node: ast.AST, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise self.error(f"the objective is nested more than {MAX_DEPTH} levels deep", node)
        kind = type(node)
        if kind is ast.BinOp:
            return self._binop(node, depth)
        if kind is ast.UnaryOp:
            return self._unary(node, depth)
        if kind is ast.Constant:
            return self._number(node)
        if kind is ast.Name:
            return self._name(node)
        if kind is ast.Call:
            return self._call(node, depth)
        if kind is ast.Subscript:
            return self._subscript(node, depth)
        what = _DISALLOWED.get(kind, f"'{kind.__name__}' is")
        raise self.error(f"{what} not allowed in an objective", node)

    def _number(self, node: ast.Constant) -> Node:
        value = node.value
        if isinstance(value, (str, bytes)):
            raise self.error("strings are not allowed in an objective", node)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(f"{value!r} is not a real number", node)
        try:
            return _const(float(value))
        except OverflowError:
            raise self.error("this number is too large for float64", node) from None

    def _name(self, node: ast.Name) -> Node:
        name = node.id
        if name.startswith("_"):
            raise self.error(f"names may not start with '_': {name!r}", node)
        if name in FUNCTIONS:
            raise self.error(f"{name} is a function: call it as {name}(...)", node)
        if name in self.constants:
            return _const(self.constants[name])
        if name in CONSTANTS:
            return _const(CONSTANTS[name])
        shape = self.shape_of(name, self.chunk.column(node))
        return self._node(lambda env: env[name], shape, 0)

    def _binop(self, node: ast.BinOp, depth: int) -> Node:
        if isinstance(node.op, (ast.Add, ast.Sub)):
            return self._sum(self._additive_terms(node, depth))
        symbol = _BINOPS.get(type(node.op))
        if symbol is None:
            raise self.error(f"operator {_op_text(node.op)} is not allowed "
                             "(use + - * / ** or ^)", node)
        left, right = self.visit(node.left, depth + 1), self.visit(node.right, depth + 1)
        shape = self._broadcast(left.shape, right.shape, node)
        op = _ARITHMETIC[symbol]
        if left.is_const and right.is_const:
            with np.errstate(all="ignore"):
                return _const(op(left.const, right.const))
        lf, rf = left.evaluator(), right.evaluator()
        return self._node(lambda env: op(lf(env), rf(env)), shape)

    def _unary(self, node: ast.UnaryOp, depth: int) -> Node:
        if not isinstance(node.op, (ast.USub, ast.UAdd)):
            raise self.error(f"operator {_op_text(node.op)} is not allowed", node)
        inner = self.visit(node.operand, depth + 1)
        if isinstance(node.op, ast.UAdd):
            return inner
        if inner.is_const:
            return _const(-inner.const)
        fn = inner.evaluator()
        return self._node(lambda env: -fn(env), inner.shape)

    def _call(self, node: ast.Call, depth: int) -> Node:
        if not isinstance(node.func, ast.Name):
            raise self.error("only the listed functions may be called "
                             f"({', '.join(FUNCTIONS)})", node)
        name = node.func.id
        if name not in FUNCTIONS:
            raise self.error(f"unknown function {name!r}; known: {', '.join(FUNCTIONS)}", node)
        if node.keywords:
            raise self.error(f"{name}() takes no keyword arguments", node.keywords[0].value)
        arity, op, np_op, shape_rule = FUNCTIONS[name]
        if len(node.args) != arity:
            plural = "argument" if arity == 1 else "arguments"
            raise self.error(f"{name}() takes {arity} {plural}, got {len(node.args)}", node)
        args = [self.visit(a, depth + 1) for a in node.args]
        shapes = [a.shape for a in args]
        if name == "dot":
            if len(shapes[0]) != 1 or shapes[0] != shapes[1]:
                raise self.error("dot() takes two vectors of the same length", node)
        if shape_rule is None:
            shape = self._broadcast(shapes[0], shapes[1], node)
        else:
            shape = shape_rule(shapes)
        if all(a.is_const for a in args):
            with np.errstate(all="ignore"):
                return _const(np_op(*[a.const for a in args]))
        fns = [a.evaluator() for a in args]
        if arity == 1:
            f0 = fns[0]
            return self._node(lambda env: op(f0(env)), shape)
        f0, f1 = fns
        return self._node(lambda env: op(f0(env), f1(env)), shape)

    def _subscript(self, node: ast.Subscript, depth: int) -> Node:
        base = self.visit(node.value, depth + 1)
        if base.shape == ():
            raise self.error("a scalar cannot be indexed; declare a vector with --dim NAME=N",
                             node)
        index = self._index(node.slice)
        n = base.shape[0]
        if isinstance(index, int):
            if not -n <= index < n:
                raise self.error(f"index {index} is out of range for a vector of length {n}",
                                 node.slice)
            shape = ()
        else:
            shape = (len(range(*index.indices(n))),)
            if shape == (0,):
                raise self.error(f"this slice selects no element of a vector of length {n}",
                                 node.slice)
        if base.is_const:
            return _const(base.const[index])
        fn = base.evaluator()
        return self._node(lambda env: fn(env)[index], shape)

    def _index(self, node: ast.AST) -> int | slice:
        if isinstance(node, ast.Slice):
            parts = [None if p is None else self._integer(p)
                     for p in (node.lower, node.upper, node.step)]
            if parts[2] == 0:
                raise self.error("slice step cannot be zero", node.step)
            return slice(*parts)
        if isinstance(node, ast.Tuple):
            raise self.error("vectors have one index: write x[i] or x[a:b:c]", node)
        return self._integer(node)

    def _integer(self, node: ast.AST) -> int:
        sign = 1
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            sign, node = -1, node.operand
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return sign * node.value
        raise self.error("an index must be a whole number, like x[0], x[-1] or x[1:]", node)


def _op_text(op: ast.AST) -> str:
    return {"FloorDiv": "'//'", "Mod": "'%'", "MatMult": "'@'", "LShift": "'<<'",
            "RShift": "'>>'", "BitOr": "'|'", "BitAnd": "'&'", "BitXor": "'^'",
            "Invert": "'~'", "Not": "'not'"}.get(type(op).__name__, type(op).__name__)


_ARITHMETIC = {"*": operator.mul, "/": operator.truediv, "**": operator.pow}
