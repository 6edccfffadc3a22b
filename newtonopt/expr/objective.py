"""``parse(text) -> Objective``: a compiled objective that knows its variables.

The solvers see one flat float64 vector z; the Objective splits it into the
named variables (scalars and ``--dim`` vectors, in order of first appearance
or as ``--vars`` says) and packs named values back into z.
"""
from __future__ import annotations

import random
import re
from typing import Any, Iterable, Mapping

import numpy as np

from newtonopt.autodiff import Variable, no_grad

from .errors import ObjectiveError
from .parser import CONSTANTS, FUNCTIONS, Compiler, parse_chunks

MAX_VECTOR = 10 ** 8
_PYTHON_RANDOM_LIMIT = 100_000  # above, numpy draws the random start (seconds faster)
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


class Objective:
    """f(z) for a flat vector z, evaluated with autodiff ops.

    ``names`` are the variables in order, ``shapes[name]`` is () or (n,),
    ``size`` the length of z.  For a built-in problem, ``problem`` is the
    ``Problem`` and ``params`` its parameters.  The grammar has no
    branches: the recorded graph is the same at every point
    (``branch_free``, which lets the compiler check itself more cheaply).
    """

    branch_free = True

    def __init__(self, text: str, names: list[str], shapes: dict[str, tuple],
                 evaluate, problem=None, params: dict | None = None,
                 vector_ops: int | None = None,
                 data: Mapping[str, np.ndarray] | None = None) -> None:
        self.text = text
        self.data = dict(data or {})   # the data the text uses, by name
        self._key: tuple | None = None
        self.vector_ops = vector_ops  # vector-valued operations (memory estimates)
        self.names = tuple(names)
        self.shapes = dict(shapes)
        self._evaluate = evaluate
        self.problem = problem
        self.params = params or {}
        self.slices: dict[str, slice] = {}
        offset = 0
        for name in self.names:
            n = int(np.prod(self.shapes[name], dtype=np.int64))
            self.slices[name] = slice(offset, offset + n)
            offset += n
        self.size = offset
        single = len(self.names) == 1
        self._whole = single and self.shapes[self.names[0]] != ()

    def __repr__(self) -> str:
        dims = ", ".join(f"{k}[{s[0]}]" if s else k for k, s in self.shapes.items())
        return f"Objective({self.text!r}; {dims})"

    def key(self) -> tuple:
        """What identifies the compiled code: the text, the shapes, and a
        digest of each data array's bytes (a caller may pass new values in
        the same arrays).  Computed once: data are constants while this
        Objective uses them.  SHA-256 is the fastest digest here (~1.3 GB/s)."""
        if self._key is None:
            self._key = (self.text, tuple(self.shapes.items()), _digests(self.data))
        return self._key

    def split(self, z: Variable) -> dict[str, Variable]:
        """Named views of the flat Variable z."""
        if self._whole:
            return {self.names[0]: z}
        return {name: z[sl.start] if self.shapes[name] == () else z[sl]
                for name, sl in self.slices.items()}

    def __call__(self, z: Variable) -> Variable:
        y = self._evaluate(self.split(z))
        return y if isinstance(y, Variable) else Variable(np.asarray(y, dtype=np.float64))

    def value(self, z: np.ndarray) -> float:
        """f(z) without recording a graph (line-search trial points)."""
        with no_grad():
            return float(self(Variable(np.asarray(z, dtype=np.float64))).data)

    # -- named <-> flat ---------------------------------------------------------
    def pack(self, values: Mapping[str, Any]) -> np.ndarray:
        """Flat float64 vector from ``{name: scalar or sequence}``; a scalar
        given for a vector variable is broadcast."""
        z = np.empty(self.size)
        for name, sl in self.slices.items():
            z[sl] = np.broadcast_to(np.asarray(values[name], dtype=np.float64),
                                    (sl.stop - sl.start,))
        return z

    def unpack(self, z: np.ndarray) -> dict[str, Any]:
        """``{name: float or list}`` (JSON-ready) from a flat vector."""
        z = np.asarray(z, dtype=np.float64)
        return {name: (float(z[sl.start]) if self.shapes[name] == () else z[sl].tolist())
                for name, sl in self.slices.items()}

    @property
    def variables(self) -> dict[str, int]:
        """Each name with its size (1 for a scalar), as in the JSON output."""
        return {name: sl.stop - sl.start for name, sl in self.slices.items()}

    def default_start(self, seed: int = 0) -> np.ndarray:
        """The problem's standard start, else uniform(-1, 1) from ``seed``."""
        if self.problem is not None:
            return np.asarray(self.problem.start(self.size), dtype=np.float64)
        if self.size > _PYTHON_RANDOM_LIMIT:
            return np.random.default_rng(seed).uniform(-1.0, 1.0, self.size)
        # Python's Mersenne Twister: reproducible across versions, and
        # cheaper to load than numpy.random for a one-line command.
        rng = random.Random(seed)
        return np.array([rng.uniform(-1.0, 1.0) for _ in range(self.size)])

    def random_start(self, seed: int) -> np.ndarray:
        """A seeded pseudo-random start for multi-start sweeps: uniform(-1, 1)
        added to a built-in problem's standard start (so it stays in the
        problem's region), or uniform(-1, 1) for a typed objective."""
        noise = np.random.default_rng(seed).uniform(-1.0, 1.0, self.size)
        return noise + (self.default_start() if self.problem is not None else 0.0)


def _parse_dims(dims: Mapping[str, int] | None) -> dict[str, int]:
    out = {}
    for name, n in (dims or {}).items():
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise ObjectiveError(f"--dim {name}={n!r}: the size must be a whole number")
        if not 0 < n <= MAX_VECTOR:
            raise ObjectiveError(
                f"--dim {name}={n}: a vector needs between 1 and {MAX_VECTOR:,} elements")
        out[name] = int(n)
    return out


def parse(text: str, dims: Mapping[str, int] | None = None,
          vars: Iterable[str] | None = None, data: Mapping[str, Any] | None = None,
          optional_data: Iterable[str] = ()) -> Objective:
    """Compile objective text (or ``@problem[:key=value,...]``).

    ``data`` binds names to constant arrays (numbers, vectors, matrices);
    each must be used by the text unless listed in ``optional_data`` (the
    columns of a whole file).  Raises ObjectiveError, with the column, for
    anything outside the language.
    """
    if not isinstance(text, str):
        raise ObjectiveError("the objective must be text")
    dims = _parse_dims(dims)
    if data:
        from .data import check_data

        data = check_data(data)
    data = data or {}
    if text.strip().startswith("@"):
        if data:
            raise ObjectiveError("--data does not apply to a built-in problem", text, 0)
        return _builtin(text.strip(), dims, vars)
    order = _check_vars(vars)
    for name in data:
        clash = ("a function" if name in FUNCTIONS else "a constant" if name in CONSTANTS
                 else "declared a variable by --dim" if name in dims
                 else "named a variable by --vars" if order and name in order else None)
        if clash:
            raise ObjectiveError(f"--data binds {name}, which is {clash}")
    objective = _compile(text, dims, order, constants=data)
    unused = [name for name in data
              if name not in objective.data and name not in set(optional_data)]
    if unused:
        raise ObjectiveError(f"--data binds {', '.join(unused)}, which the objective "
                             "does not use", text, None)
    return objective


def _check_vars(vars: Iterable[str] | None) -> list[str] | None:
    """--vars must name distinct variables; the objective must use each."""
    if vars is None:
        return None
    order = list(vars)
    for i, name in enumerate(order):
        if not isinstance(name, str) or not _NAME.match(name):
            raise ObjectiveError(f"--vars: {name!r} is not a variable name "
                                 "(a letter, then letters, digits or _)")
        if name in order[:i]:
            raise ObjectiveError(f"--vars names {name} twice")
    if not order:
        raise ObjectiveError("--vars is empty")
    return order


def _compile(text: str, dims: dict[str, int], order: list[str] | None,
             constants: dict | None = None, problem=None, params=None,
             shown: str | None = None) -> Objective:
    seen: list[str] = []

    def shape_of(name: str, column: int) -> tuple:
        if order is not None and name not in order:
            raise ObjectiveError(f"{name!r} is not among --vars {','.join(order)}",
                                 text, column)
        if name not in seen:
            seen.append(name)
        return (dims[name],) if name in dims else ()

    compiler = Compiler(text, shape_of, constants)
    node = compiler.compile(parse_chunks(text))
    shadowed = [name for name in compiler.locals if name in dims]
    if shadowed:
        raise ObjectiveError(f"--dim names {shadowed[0]}, which 'where' defines", text, None)
    if node.shape != ():
        raise ObjectiveError("the objective must be a scalar; did you mean sum(...)?",
                             text, 0)
    names = order if order is not None else seen
    if not names:
        raise ObjectiveError("the objective has no variables", text, 0)
    idle = [v for v in names if v not in seen]
    if idle:
        raise ObjectiveError(f"--vars names {', '.join(idle)}, which the objective does not "
                             "use", shown or text, None)
    unused = [d for d in dims if d not in names]
    if unused:
        raise ObjectiveError(f"--dim names {', '.join(unused)}, which the objective "
                             "does not use", shown or text, None)
    shapes = {name: ((dims[name],) if name in dims else ()) for name in names}
    data = {name: value for name, value in (constants or {}).items()    # in the order given
            if name in compiler.used_constants} if problem is None else None
    return Objective(shown or text, names, shapes, node.evaluator(), problem, params,
                     compiler.vector_ops, data)


def _builtin(text: str, dims: dict[str, int], vars) -> Objective:
    from newtonopt.problems import PROBLEMS

    name, _, rest = text[1:].partition(":")
    problem = PROBLEMS.get(name)
    if problem is None:
        raise ObjectiveError(f"unknown problem @{name}; known: "
                             + ", ".join("@" + p for p in PROBLEMS), text, 1)
    if vars is not None:
        raise ObjectiveError("--vars does not apply to a built-in problem", text, 0)
    params = dict(problem.params)
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, eq, value = item.partition("=")
        if key not in params or not eq:
            known = ", ".join(params) or "none"
            raise ObjectiveError(f"@{name} has no parameter {item!r} (parameters: {known})",
                                 text, text.index(item))
        try:
            params[key] = float(value)
        except ValueError:
            raise ObjectiveError(f"{key}={value!r} is not a number", text,
                                 text.index(item)) from None
        lo, hi = problem.param_ranges.get(key, (-np.inf, np.inf))
        if not (np.isfinite(params[key]) and lo <= params[key] <= hi):
            raise ObjectiveError(f"@{name}: {key} must be a number from {lo:g} to {hi:g}",
                                 text, text.index(item))
    if problem.is_vector:
        n = dims.get("x", problem.default_n)
        why = problem.check_n(n)
        if why:
            raise ObjectiveError(why, text, None)
        dims = {**dims, "x": n}
    constants = problem.constants(dims.get("x", 0), params) if problem.constants else None
    return _compile(problem.text, dims, None, constants, problem, params, shown=text)


def _digests(data: dict[str, np.ndarray]) -> tuple:
    """(name, shape, SHA-256 of the bytes) of each array, by name."""
    if not data:
        return ()
    import hashlib   # only a compiled run with data needs it (3 ms of start-up)

    return tuple((name, a.shape, hashlib.sha256(np.ascontiguousarray(a).data).hexdigest())
                 for name, a in sorted(data.items()))
