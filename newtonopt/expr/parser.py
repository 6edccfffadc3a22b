"""Objective text -> compiled evaluator, by a whitelisted walk of Python's AST.

Never ``eval``/``exec``/``compile``: the text is parsed with ``ast.parse``
(mode ``eval``) and each node is checked against a whitelist and turned,
once, into a closure that evaluates with autodiff ops.  Shapes are inferred
while compiling (a scalar ``()``, a vector ``(n,)``, or a data matrix
``(rows, columns)``), so indexing, broadcasting and arity errors are caught
before anything runs, and constant subexpressions are folded.

Local names (``sum(a*b) where a = x[::2], b = x[1::2]``) are split off at
the top-level word ``where`` and each definition is parsed on its own; a
name is computed once per evaluation, before the expression that uses it.

Long sums are the common shape of real objectives (several KB of literal
data), and CPython's AST construction recurses once per term.  So the text
is cut at top-level ``+``/``-`` into chunks of at most ``_CHUNK_TERMS``
terms, each parsed on its own, and additive chains are evaluated as one
flat left-to-right sum (the same order, the same rounding as Python's).
"""
from __future__ import annotations

import ast
import bisect
import copy
import operator
import re
from typing import Any, Callable

import numpy as np

import newtonopt.autodiff.functions as F
import newtonopt.autodiff.nn as nn
from newtonopt.autodiff import Variable, no_grad

from .errors import ObjectiveError

MAX_LENGTH = 1_000_000
MAX_DEPTH = 100
_CHUNK_TERMS = 200

Shape = tuple
Env = dict  # variable name -> Variable


class Node:
    """A compiled subexpression: ``fn(env)`` evaluates it; ``const`` holds
    its value when it depends on no variable; ``shape`` is () or (n,).
    (This module's records are plain classes: a dataclass costs ~0.3-0.5
    ms of every command's start-up to create.)"""

    __slots__ = ("fn", "shape", "const")

    def __init__(self, fn: Callable[[Env], Any] | None, shape: Shape, const: Any = None) -> None:
        self.fn, self.shape, self.const = fn, shape, const

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


# name -> (arity, autodiff op, result shape from argument shapes); a call on
# constants is folded by running the same op without recording.
def _elementwise(shapes):
    return shapes[0]


def _reduce(shapes):
    return ()


FUNCTIONS: dict[str, tuple[int, Callable, Callable | None]] = {
    "sin": (1, F.sin, _elementwise),
    "cos": (1, F.cos, _elementwise),
    "tan": (1, F.tan, _elementwise),
    "atan": (1, F.atan, _elementwise),
    "exp": (1, F.exp, _elementwise),
    "expm1": (1, F.expm1, _elementwise),
    "log": (1, F.log, _elementwise),
    "log1p": (1, F.log1p, _elementwise),
    "sqrt": (1, F.sqrt, _elementwise),
    "tanh": (1, F.tanh, _elementwise),
    "sinh": (1, F.sinh, _elementwise),
    "cosh": (1, F.cosh, _elementwise),
    "abs": (1, F.absolute, _elementwise),
    "erf": (1, F.erf, _elementwise),
    "sigmoid": (1, nn.sigmoid, _elementwise),
    "softplus": (1, nn.softplus, _elementwise),
    "sum": (1, F.sum, _reduce),
    "mean": (1, F.mean, _reduce),
    "norm": (1, F.norm, _reduce),
    "logsumexp": (1, nn.logsumexp, _reduce),
    "dot": (2, F.dot, _reduce),
    "min": (2, F.minimum, None),
    "max": (2, F.maximum, None),
    # shape functions, evaluated while compiling (see Compiler._shape_call)
    "len": (1, None, None),
    "index": (1, None, None),
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
    ast.Tuple: "tuples are",
    ast.Dict: "dict literals are",
    ast.Set: "set literals are",
    ast.JoinedStr: "strings are",
    ast.Await: "await is",
    ast.Yield: "yield is",
    ast.YieldFrom: "yield is",
}

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**",
           ast.FloorDiv: "//", ast.MatMult: "@"}


# -- text -> chunks of AST -----------------------------------------------------

class _Chunk:
    """One parsed piece of the text: ``tree`` came from ``source``, which is
    the original text from ``start`` with each ``^`` written as ``**``
    (``carets``: the positions in ``source`` of the inserted '*')."""

    __slots__ = ("tree", "start", "carets")

    def __init__(self, tree: ast.expr | None, start: int, carets: list[int]) -> None:
        self.tree, self.start, self.carets = tree, start, carets

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


_BAD_CHARACTER = re.compile(r"[^\x20-\x7e]|[\"'#;\\`$]")


def _check_characters(text: str) -> None:
    found = _BAD_CHARACTER.search(text)     # one C-speed pass; details for the first
    if found is None:
        return
    i, ch = found.start(), found.group()
    if not ch.isascii():
        raise ObjectiveError(
            f"{ch!r} is not allowed: names and operators are ASCII "
            "(write ** or ^ for powers, - for minus)", text, i)
    if ch in "\"'":
        raise ObjectiveError("strings are not allowed in an objective", text, i)
    if ch in "#;\\`$":
        raise ObjectiveError(f"{ch!r} is not allowed in an objective", text, i)
    raise ObjectiveError(f"control character {ch!r} is not allowed in an objective", text, i)


# Brackets, commas, +/- and the word 'where': all the splitter needs to
# see (a scan of these alone, not a tokenizer: 1 MB of objective in ~0.1 s).
_MARK = re.compile(r"[()\[\],]|[+-]|\bwhere\b")


def _top_level(text: str, start: int, end: int) -> list[tuple[int, str]]:
    """(offset, mark) of the marks outside all brackets in text[start:end];
    a + or - only where it is a binary operator (after an operand, and not
    the sign of a number's exponent, as in 1e-3)."""
    found, depth = [], 0
    for m in _MARK.finditer(text, start, end):
        mark = m.group()
        if mark in "([":
            depth += 1
        elif mark in ")]":
            depth -= 1
        elif depth == 0 and (mark not in "+-" or _binary(text, m.start())):
            found.append((m.start(), mark))
    return found


def _binary(text: str, i: int) -> bool:
    j = i - 1
    while j >= 0 and text[j] == " ":
        j -= 1
    if j < 0 or not (text[j].isalnum() or text[j] in "_.)]"):
        return False
    if j == i - 1 and text[j] in "eE":
        # part of a number (1e-3, 2.5E+4) when the word holding the e starts
        # with a digit or a point; else a name ending in e (x1e - 3)
        k = j
        while k > 0 and (text[k - 1].isalnum() or text[k - 1] in "_."):
            k -= 1
        return not (text[k].isdigit() or text[k] == ".")
    return True


def _split_points(marks: list[tuple[int, str]]) -> list[int]:
    """Offsets of every ``_CHUNK_TERMS``-th top-level binary +/-, where
    the text may be cut."""
    ops = [pos for pos, mark in marks if mark in "+-"]
    return ops[_CHUNK_TERMS - 1::_CHUNK_TERMS]


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


class TextGroup:
    """Terms of a long sum whose texts differ only in their numbers: one
    parsed representative, the numbers of every member (terms x numbers,
    in source order), and how to parse every member if the
    representative's numbers do not check out."""

    __slots__ = ("sign", "chunk", "numbers", "members")

    def __init__(self, sign: str, chunk: _Chunk, numbers: list[list[float]],
                 members: Callable[[], list[_Chunk]]) -> None:
        self.sign, self.chunk, self.numbers, self.members = sign, chunk, numbers, members


class Parsed:
    """The objective's expression, and its local names in order
    (``... where a = x[::2], b = x[1::2]``): name, column, expression.
    ``groups``: the body's terms set apart by ``_text_groups``."""

    __slots__ = ("body", "definitions", "groups")

    def __init__(self, body: list[_Chunk], definitions: list[tuple[str, int, list[_Chunk]]],
                 groups: list[TextGroup] | None = None) -> None:
        self.body, self.definitions, self.groups = body, definitions, groups or []


def parse_chunks(text: str) -> Parsed:
    """Check and parse the text; each expression is cut into chunks at
    top-level +/-."""
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
    # Strings and comments are rejected above, so every '^' is the operator.
    carets = [m.start() for m in re.finditer(r"\^", text)]
    marks = _top_level(text, 0, len(text))
    where = next((pos for pos, mark in marks if mark == "where"), None)
    end = len(text) if where is None else where
    if not text[:end].strip():
        raise ObjectiveError("the objective is empty before 'where'", text, 0)
    body_marks = [m for m in marks if m[0] < end]
    body, groups = _text_groups(text, body_marks, end, carets)
    definitions = [] if where is None else \
        _definitions(text, [m for m in marks if m[0] > where], where + 5, carets)
    return Parsed(body, definitions, groups)


def _chunks(text: str, marks: list[tuple[int, str]], start: int, end: int,
            carets: list[int]) -> list[_Chunk]:
    bounds = [start, *_split_points(marks), end]
    chunks = []
    for a, b in zip(bounds, bounds[1:]):
        lo, hi = bisect.bisect_left(carets, a), bisect.bisect_left(carets, b)
        chunks.append(_parse_chunk(text, a, b, carets[lo:hi]))
    return chunks


# A number outside an index (an index's numbers are structure); an index
# group without nested brackets is matched whole so that its numbers are not.
_FREE_NUMBER = re.compile(r"(\[[^\[\]]*\])|(?<![\w.])((?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)"
                          r"(?:[eE][+-]?\d[\d_]*)?)(?![\w.])")
_TEXT_GROUPS_FROM = 256   # terms in a sum before its texts are grouped


def _text_groups(text: str, marks: list[tuple[int, str]], end: int,
                 carets: list[int]) -> tuple[list[_Chunk], list[TextGroup]]:
    """A long sum's terms grouped by their text with the free numbers taken
    out (data typed in: 1 MB of Osborne-like residuals is ~15,000 terms
    and a handful of shapes).  Each group of ``_GROUP`` or more is parsed
    once, the others' numbers read by a regular expression, which saves
    CPython's parser ~85 % of the text; the remaining terms are parsed in
    chunks as ever.  ``Compiler`` checks each representative's numbers
    against its own AST before trusting a group."""
    ops = [(pos, mark) for pos, mark in marks if mark in "+-"]
    if len(ops) + 1 < _TEXT_GROUPS_FROM:
        return _chunks(text, marks, 0, end, carets), []
    starts = [0, *(pos + 1 for pos, _ in ops)]
    stops = [*(pos for pos, _ in ops), end]
    signs = ["+", *(mark for _, mark in ops)]
    keyed: dict[tuple, list[int]] = {}
    numbers: list[list[float] | None] = []
    for i, (a, b) in enumerate(zip(starts, stops)):
        found, pieces, last = [], [], a      # one pass: the numbers and the key
        for m in _FREE_NUMBER.finditer(text, a, b):
            pieces.append(text[last:m.start()])
            pieces.append(m.group(1) or "#")
            last = m.end()
            if m.group(2) is not None:
                try:
                    found.append(float(m.group(2)))
                except ValueError:       # not a float literal: the ordinary road
                    found = None
                    break
        numbers.append(found)
        if found is not None:
            pieces.append(text[last:b])
            keyed.setdefault((signs[i], "".join(pieces).replace(" ", "")), []).append(i)
    grouped: set[int] = set()
    groups = []
    for (sign, _), members in keyed.items():
        if len(members) < _GROUP:
            continue
        grouped.update(members)
        first = members[0]

        def parse_members(members=members):
            return [_term_chunk(text, starts[j], stops[j], signs[j], carets) for j in members]

        groups.append(TextGroup(sign, _term_chunk(text, starts[first], stops[first], "+", carets),
                                [numbers[j] for j in members], parse_members))
    chunks = []
    run: list[int] = []
    positions = [pos for pos, _ in marks]
    for i in range(len(starts) + 1):
        if i < len(starts) and i not in grouped:
            run.append(i)
            continue
        if run:   # a run of ungrouped terms, from its operator (its sign) on
            a, b = (starts[run[0]] - 1 if run[0] else 0), stops[run[-1]]
            inside = marks[bisect.bisect_right(positions, a):bisect.bisect_left(positions, b)]
            chunks.extend(_chunks(text, inside, a, b, carets))
            run = []
    return chunks, groups


def _term_chunk(text: str, a: int, b: int, sign: str, carets: list[int]) -> _Chunk:
    """One term parsed on its own (with its sign when that is '-')."""
    if sign == "-":
        a -= 1
    lo, hi = bisect.bisect_left(carets, a), bisect.bisect_left(carets, b)
    return _parse_chunk(text, a, b, carets[lo:hi])


_DEFINITION = re.compile(r" *([A-Za-z_]\w*) *=(?!=)")


def _definitions(text: str, marks: list[tuple[int, str]], start: int,
                 carets: list[int]) -> list[tuple[str, int, list[_Chunk]]]:
    """``where name = expr, name = expr, ...``: each a name and its chunks."""
    commas = [pos for pos, mark in marks if mark == ","]
    out = []
    for a, b in zip([start, *(c + 1 for c in commas)], [*commas, len(text)]):
        if not text[a:b].strip():
            raise ObjectiveError("a definition is missing: write 'where name = expression'",
                                 text, b)
        head = _DEFINITION.match(text, a, b)
        if head is None:
            raise ObjectiveError("expected 'name = expression' after 'where'",
                                 text, a + len(text[a:b]) - len(text[a:b].lstrip()))
        name, equals = head.group(1), head.end()
        if not text[equals:b].strip():
            raise ObjectiveError(f"{name} = what? the expression is missing", text, b)
        inside = [m for m in marks if equals <= m[0] < b]
        out.append((name, head.start(1), _chunks(text, inside, equals, b, carets)))
    return out


# -- AST -> Node ----------------------------------------------------------------

class Compiler:
    """Walks the whitelisted AST of each chunk into one ``Node``.

    ``shape_of(name, column)`` returns the shape of a variable (and records
    its first use); ``constants`` binds array-valued names (data, and the
    built-in problems' parameters).  Shapes are () for a scalar, (n,) for a
    vector and (rows, columns) for a matrix (data only).
    """

    def __init__(self, text: str, shape_of: Callable[[str, int], Shape],
                 constants: dict[str, np.ndarray] | None = None) -> None:
        self.text = text
        self.shape_of = shape_of
        self.constants = constants or {}
        self.used_constants: set[str] = set()
        self.locals: dict[str, Node] = {}
        self.pending: dict[str, int] = {}     # local names not yet defined -> column
        self.unused: dict[str, int] = {}      # defined local names not yet used
        self.placeholders: dict[str, Node] = {}  # a vectorized template's numbers
        self.defining: str | None = None
        self.chunk: _Chunk | None = None
        self.vector_ops = 0  # vector-valued operations: what a graph will hold

    def _node(self, fn: Callable[[Env], Any], shape: Shape, ops: int = 1) -> Node:
        if shape != ():
            self.vector_ops += ops
        return Node(fn, shape)

    def error(self, message: str, node: ast.AST) -> ObjectiveError:
        """The error with a caret under ``node`` (under the operator of a
        binary operation: what failed is the operation)."""
        column = self.chunk.column(node)
        if isinstance(node, ast.BinOp):
            column = self.chunk.original(node.left.end_col_offset)
            while column < len(self.text) and self.text[column] in " )":
                column += 1
        return ObjectiveError(message, self.text, column)

    def compile(self, parsed: Parsed) -> Node:
        """The body, with each local name computed once per evaluation
        before it (in the order written)."""
        for name, column, _ in parsed.definitions:
            self._check_local(name, column)
            self.pending[name] = column
        bindings = []
        for name, column, chunks in parsed.definitions:
            self.defining = name
            node = self._expression(chunks)
            del self.pending[name]
            self.unused[name] = column
            if node.is_const:
                self.locals[name] = node
            else:
                bindings.append((name, node.evaluator()))
                self.locals[name] = Node(lambda env, name=name: env[name], node.shape)
        self.defining = None
        body = self._expression(parsed.body, parsed.groups)
        for name, column in self.unused.items():
            raise ObjectiveError(f"{name} is defined but not used", self.text, column)
        if not bindings or body.is_const:
            return body
        run = body.evaluator()

        def with_locals(env):
            env = dict(env)
            for name, fn in bindings:
                env[name] = fn(env)
            return run(env)

        return Node(with_locals, body.shape)

    def _check_local(self, name: str, column: int) -> None:
        taken = ("a function" if name in FUNCTIONS else "a constant" if name in CONSTANTS
                 else "bound by --data" if name in self.constants else
                 "defined twice" if name in self.pending else None)
        if name.startswith("_"):
            taken = "not a name here (names may not start with '_')"
        if taken:
            raise ObjectiveError(f"{name} is {taken}; choose another local name",
                                 self.text, column)

    def _expression(self, chunks: list[_Chunk], text_groups: list[TextGroup] = ()) -> Node:
        """A top-level sum; its terms that differ only in their numbers are
        evaluated together (``_vectorized``)."""
        visited: list[tuple[str, Node, ast.AST]] = []
        chunks = list(chunks)
        for group in text_groups:
            node = group.chunk.tree
            self.chunk = group.chunk
            shape = _template(node)
            ops = self.vector_ops
            trusted = shape is not None and shape[1] == group.numbers[0] and \
                self.visit(node, 1).shape == () and self.vector_ops == ops
            if trusted:
                visited.append((group.sign, self._vectorized(node, group.chunk, group.numbers),
                                node))
            else:   # its terms take the ordinary road
                chunks.extend(group.members())
        terms: list[tuple[str, ast.AST, _Chunk]] = []
        for chunk in chunks:
            terms.extend((sign, node, chunk) for sign, node in _additive_asts(chunk.tree))
        groups: dict[tuple, list[int]] = {}
        shapes = [_template(node) for _, node, _ in terms]
        for i, (sign, _, _) in enumerate(terms):
            if shapes[i] is not None:
                groups.setdefault((sign, shapes[i][0]), []).append(i)
        done: set[int] = set()
        shape: Shape = ()
        for i, (sign, node, chunk) in enumerate(terms):
            if i in done:
                continue
            self.chunk = chunk
            ops = self.vector_ops
            first = self.visit(node, 1)
            members = groups.get((sign, shapes[i][0]), []) if shapes[i] is not None else []
            if len(members) >= _GROUP and first.shape == () and self.vector_ops == ops:
                visited.append((sign, self._vectorized(
                    node, chunk, [shapes[j][1] for j in members]), node))
                done.update(members)
            else:
                visited.append((sign, first, node))
            self.chunk = chunk    # a caret in this term's chunk
            shape = self._broadcast(shape, visited[-1][1].shape, node)
        return self._sum(visited)

    def _vectorized(self, node: ast.AST, chunk: _Chunk, numbers: list[list[float]]) -> Node:
        """sum(T(c)) for terms T(c_1), ..., T(c_m) that share one template T
        and hold scalars only: each number that varies becomes a constant
        vector over the terms, so the m terms are one chain of vector
        operations (a 33-term Osborne 1 is 15 operations, not 500)."""
        self.chunk = chunk
        values = np.array(numbers, dtype=np.float64)      # terms x numbers
        self.placeholders = {
            f"_k{j}": _const(values[0, j] if np.all(values[:, j] == values[0, j])
                             else values[:, j]) for j in range(values.shape[1])}
        template = _with_placeholders(node)
        try:
            body = self.visit(template, 1)
        finally:
            self.placeholders = {}
        if body.is_const:
            return _const(np.sum(body.const) if body.shape else body.const * len(numbers))
        fn = body.evaluator()
        return self._node(lambda env: F.sum(fn(env)), ())

    def _additive_terms(self, node: ast.AST, depth: int):
        return [(sign, self.visit(term, depth + 1), term)
                for sign, term in _additive_asts(node)]

    def _sum(self, terms) -> Node:
        shape = ()
        for _, node, ast_node in terms:
            shape = self._broadcast(shape, node.shape, ast_node)
        if terms[0][0] == "-":     # a group set apart with its sign may come first
            sign, node, ast_node = terms[0]
            negated = _const(-node.const) if node.is_const else \
                self._node(lambda env, fn=node.evaluator(): -fn(env), node.shape)
            terms = [("+", negated, ast_node), *terms[1:]]
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
        raise self.error(f"{_describe(a)} and {_describe(b)} cannot be combined", node)

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
        if kind is ast.List:
            return self._array(node, depth)
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

    def _array(self, node: ast.List, depth: int) -> Node:
        """``[1, 2.5, 3]``: a constant vector (a list of equal lists, a matrix)."""
        if not node.elts:
            raise self.error("an empty list is not a vector", node)
        items = [self.visit(e, depth + 1) for e in node.elts]
        for item, elt in zip(items, node.elts):
            if not item.is_const:
                raise self.error("list elements must be constants "
                                 "(a vector of variables is --dim NAME=N)", elt)
            if item.shape != items[0].shape or len(item.shape) > 1:
                raise self.error("a list holds numbers, or lists of equal length", elt)
        return _const(np.array([item.const for item in items], dtype=np.float64))

    def _name(self, node: ast.Name) -> Node:
        name = node.id
        if name in self.placeholders:
            return self.placeholders[name]
        if name.startswith("_"):
            raise self.error(f"names may not start with '_': {name!r}", node)
        if name in FUNCTIONS:
            raise self.error(f"{name} is a function: call it as {name}(...)", node)
        if name in self.locals:
            self.unused.pop(name, None)
            return self.locals[name]
        if name in self.pending:
            if name == self.defining:
                raise self.error(f"{name} is defined in terms of itself", node)
            raise self.error(f"{name} is used before its definition; define it earlier "
                             "in the 'where' list", node)
        if name in self.constants:
            self.used_constants.add(name)
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
                             "(use + - * / ** ^ or @)", node)
        left, right = self.visit(node.left, depth + 1), self.visit(node.right, depth + 1)
        if symbol == "@":
            return self._matmul(left, right, node)
        if symbol == "//" and not (left.is_const and right.is_const):
            raise self.error("// rounds constants only (sizes and slice bounds, "
                             "like len(x)//3)", node)
        shape = self._broadcast(left.shape, right.shape, node)
        op = _ARITHMETIC[symbol]
        if left.is_const and right.is_const:
            with np.errstate(all="ignore"):
                return _const(op(left.const, right.const))
        lf, rf = left.evaluator(), right.evaluator()
        return self._node(lambda env: op(lf(env), rf(env)), shape)

    def _matmul(self, left: Node, right: Node, node: ast.BinOp) -> Node:
        """``A @ w`` (matrix x vector), ``w @ A`` and ``u @ w`` (dot); a
        matrix is data, so it is constant."""
        a, b = left.shape, right.shape
        if a == () or b == () or len(a) + len(b) > 3:
            raise self.error(f"@ multiplies a matrix and a vector (or two vectors); got "
                             f"{_describe(a)} @ {_describe(b)}", node)
        if a[-1] != b[0]:
            raise self.error(f"{_describe(a)} @ {_describe(b)}: the sizes do not match "
                             f"({a[-1]} != {b[0]})", node)
        if left.is_const and right.is_const:
            return _const(left.const @ right.const)
        if len(a) == len(b):
            lf, rf = left.evaluator(), right.evaluator()
            return self._node(lambda env: F.dot(lf(env), rf(env)), ())
        matrix = left.const if len(a) == 2 else right.const.T
        fn = (right if len(a) == 2 else left).evaluator()
        shape = (matrix.shape[0],)
        return self._node(lambda env: F.matvec(matrix, fn(env)), shape)

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
        arity, op, shape_rule = FUNCTIONS[name]
        if len(node.args) != arity:
            plural = "argument" if arity == 1 else "arguments"
            raise self.error(f"{name}() takes {arity} {plural}, got {len(node.args)}", node)
        args = [self.visit(a, depth + 1) for a in node.args]
        shapes = [a.shape for a in args]
        if op is None:
            return self._shape_call(name, shapes[0], node)
        if name == "dot":
            if len(shapes[0]) != 1 or shapes[0] != shapes[1]:
                raise self.error("dot() takes two vectors of the same length", node)
        if shape_rule is None:
            shape = self._broadcast(shapes[0], shapes[1], node)
        else:
            shape = shape_rule(shapes)
        if all(a.is_const for a in args):
            with np.errstate(all="ignore"), no_grad():
                return _const(op(*[Variable(np.asarray(a.const)) for a in args]).data)
        fns = [a.evaluator() for a in args]
        if arity == 1:
            f0 = fns[0]
            return self._node(lambda env: op(f0(env)), shape)
        f0, f1 = fns
        return self._node(lambda env: op(f0(env), f1(env)), shape)

    def _shape_call(self, name: str, shape: Shape, node: ast.Call) -> Node:
        """``len(x)``: x's length (rows for a matrix); ``index(x)``: the
        vector 1, 2, ..., len(x), as the papers' i."""
        if shape == ():
            raise self.error(f"{name}() takes a vector; this is a scalar", node.args[0])
        if name == "len":
            return _const(float(shape[0]))
        if len(shape) != 1:
            raise self.error("index() takes a vector; this is a matrix", node.args[0])
        return _const(np.arange(1.0, shape[0] + 1.0))

    def _subscript(self, node: ast.Subscript, depth: int) -> Node:
        base = self.visit(node.value, depth + 1)
        if base.shape == ():
            raise self.error("a scalar cannot be indexed; declare a vector with --dim NAME=N",
                             node)
        if len(base.shape) != 1:
            raise self.error("a matrix cannot be indexed; bind one column with "
                             "--data NAME=FILE:COLUMN", node)
        index = self._index(node.slice, depth)
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

    def _index(self, node: ast.AST, depth: int) -> int | slice:
        if isinstance(node, ast.Slice):
            parts = [None if p is None else self._integer(p, depth)
                     for p in (node.lower, node.upper, node.step)]
            if parts[2] == 0:
                raise self.error("slice step cannot be zero", node.step)
            return slice(*parts)
        if isinstance(node, ast.Tuple):
            raise self.error("vectors have one index: write x[i] or x[a:b:c]", node)
        return self._integer(node, depth)

    def _integer(self, node: ast.AST, depth: int) -> int:
        """An index or slice bound: a constant whole number, such as 2,
        -1, len(x)//3 or a local name bound to one."""
        value = self.visit(node, depth + 1)
        if not value.is_const or value.shape != ():
            raise self.error("an index must be a constant whole number, like x[0], x[-1], "
                             "x[1:] or x[:len(x)//2]", node)
        number = float(value.const)
        if not number.is_integer() or abs(number) > 2 ** 53:
            raise self.error(f"an index must be a whole number; this is {number:g} "
                             "(// rounds down)", node)
        return int(number)


def _describe(shape: Shape) -> str:
    if shape == ():
        return "a scalar"
    if len(shape) == 1:
        return f"a vector of length {shape[0]}"
    return f"a {shape[0]} x {shape[1]} matrix"


def _op_text(op: ast.AST) -> str:
    return {"FloorDiv": "'//'", "Mod": "'%'", "MatMult": "'@'", "LShift": "'<<'",
            "RShift": "'>>'", "BitOr": "'|'", "BitAnd": "'&'", "BitXor": "'^'",
            "Invert": "'~'", "Not": "'not'"}.get(type(op).__name__, type(op).__name__)


_ARITHMETIC = {"*": operator.mul, "/": operator.truediv, "**": operator.pow,
               "//": operator.floordiv}


# -- terms that differ only in their numbers ---------------------------------------

_GROUP = 8    # terms of one template evaluated together from this many on
_NOT_ELEMENTWISE = {"sum", "mean", "norm", "logsumexp", "dot", "len", "index"}


def _additive_asts(node: ast.AST) -> list[tuple[str, ast.AST]]:
    """The terms of an additive chain with their signs, flattened
    iteratively, so a sum of 10^5 terms never recurses 10^5 deep."""
    ops = []
    while isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        ops.append((node.op, node.right))
        node = node.left
    terms = [("+", node)]
    terms.extend(("+" if isinstance(op, ast.Add) else "-", right)
                 for op, right in reversed(ops))
    return terms


def _template(node: ast.AST) -> tuple[tuple, list[float]] | None:
    """The shape of a term with its free numbers taken out, and those
    numbers in source order; None for a term that cannot be evaluated
    elementwise over many copies (reductions, lists, @, //) or holds
    anything unusual (the ordinary walk then says what).  Numbers inside
    an index or slice stay in the shape: they decide structure.  A walk
    specialized to the node types of arithmetic (4x faster than a generic
    one: 16,000 terms of 1 MB in 0.3 s)."""
    numbers: list[float] = []
    append = numbers.append

    def walk(n: ast.AST):
        kind = type(n)
        if kind is ast.Name:
            if n.id.startswith("_"):        # the placeholders' names: users' are refused
                raise _NotElementwise
            return n.id
        if kind is ast.Constant:
            value = n.value
            if type(value) in (int, float):
                append(float(value))
                return "#"
            raise _NotElementwise
        if kind is ast.BinOp:
            if type(n.op) in (ast.MatMult, ast.FloorDiv):
                raise _NotElementwise
            return (type(n.op), walk(n.left), walk(n.right))
        if kind is ast.UnaryOp:
            return (type(n.op), walk(n.operand))
        if kind is ast.Call:
            name = getattr(n.func, "id", None)
            if name is None or name in _NOT_ELEMENTWISE or n.keywords:
                raise _NotElementwise
            return (name, *[walk(a) for a in n.args])
        if kind is ast.Subscript:
            return ("[]", walk(n.value), _index_shape(n.slice))
        raise _NotElementwise

    try:
        shape = walk(node)
    except (_NotElementwise, RecursionError):
        return None
    return shape, numbers


def _index_shape(n: ast.AST):
    """An index or slice, numbers and all (they are structure there)."""
    if type(n) is ast.Slice:
        return ("slice", *[None if p is None else _index_shape(p)
                           for p in (n.lower, n.upper, n.step)])
    if type(n) is ast.Constant:
        return ("const", n.value)
    if type(n) is ast.UnaryOp:
        return (type(n.op), _index_shape(n.operand))
    return ("expr", ast.dump(n))


class _NotElementwise(Exception):
    pass


def _with_placeholders(node: ast.AST) -> ast.AST:
    """A copy of the term with its free numbers (in ``_template``'s order:
    the source's) replaced by the names _k0, _k1, ... (names users cannot
    write).  An exponent becomes a placeholder too: one shared by every
    term is a scalar constant again (``x**2`` stays a product), one that
    varies a vector of exponents."""
    count = iter(range(1 << 30))

    class Replace(ast.NodeTransformer):
        def visit_Constant(self, n):
            if isinstance(n.value, (int, float)) and not isinstance(n.value, bool):
                return ast.copy_location(ast.Name(id=f"_k{next(count)}", ctx=ast.Load()), n)
            return n

        def visit_Subscript(self, n):
            n.value = self.visit(n.value)
            return n                       # indices stay numbers

    return Replace().visit(copy.deepcopy(node))
