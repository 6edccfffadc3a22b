"""``minimize``: objective (text, Objective or callable) + method -> Result."""
from __future__ import annotations

import math
import time
from collections import OrderedDict
from typing import Any, Callable, Mapping

import numpy as np

from newtonopt.expr import Objective, ObjectiveError, parse, parse_point
from .budget import check_fits, estimate_bytes
from .evaluator import Evaluator
from .loop import Loop, check_curvature
from .method import PRESETS, Method, resolve
from .result import Result, Status

METHODS = tuple(PRESETS)


_DENSE_LIMIT_BYTES = 2 ** 31


def check_method(method: str | Method, n: int, vector_ops: int | None = None,
                 memory: int = 10) -> Method:
    """The Method a name (or Method) stands for; ValueError for an unknown
    name, a dense method too big for n, or a run whose estimated memory
    (``budget.estimate_bytes``; ``vector_ops`` from the parsed objective)
    exceeds what this machine has available."""
    config = resolve(method, memory=memory) if isinstance(method, str) else method
    name = config.name
    if config.dense and 8 * n * n > _DENSE_LIMIT_BYTES:
        raise ValueError(f"{name} keeps a dense {n}×{n} matrix ({8 * n * n / 2**30:.1f} GiB); "
                         "use lbfgs, cg, newton-cg or trust-ncg at this size")
    check_fits(f"{name} at n = {n:,}", estimate_bytes(config, n, vector_ops))
    return config


def as_objective(objective: Any, dims: Mapping[str, int] | None = None,
                 vars: list[str] | None = None, data: Mapping[str, Any] | None = None,
                 optional_data: Any = ()) -> Objective | Callable:
    if isinstance(objective, str):
        return parse(objective, dims, vars, data, optional_data)
    if data:
        raise TypeError("data= applies to objective text; a callable closes over its data")
    if callable(objective):
        return objective
    raise TypeError("objective must be text, an Objective or a callable on a Variable")


def start_point(obj, x0: Any, seed: int = 0) -> np.ndarray:
    """The flat start vector from None (default start), text, a dict or an array."""
    if isinstance(obj, Objective):
        if x0 is None:
            x = obj.default_start(seed)
        elif isinstance(x0, str):
            x = parse_point(x0, obj, default=obj.default_start(seed))
        elif isinstance(x0, Mapping):
            missing = [n for n in obj.names if n not in x0]
            base = obj.unpack(obj.default_start(seed)) if missing else {}
            x = obj.pack({**base, **x0})
        else:
            x = np.asarray(x0, dtype=np.float64).ravel()
            if x.size != obj.size:
                raise ObjectiveError(f"x0 has {x.size} values; the objective has {obj.size}")
    elif x0 is None:
        raise ValueError("x0 is required when the objective is a Python callable")
    else:
        x = np.asarray(x0, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ObjectiveError("start values must be finite")
    return np.array(x, dtype=np.float64)


_COMPILED: OrderedDict = OrderedDict()   # (Objective.key(), sign) -> Compiled or the error
_COMPILED_KEEP = 8


def compiler_for(obj: Any, f: Callable, sign: float, compile: bool | None):
    """What the Evaluator calls to compile f: None when not compiling.
    Parsed objectives compile by default, cached in-process by (text,
    shapes, data, sign); Python callables only with ``compile=True`` (they must
    not branch on values, like ``jax.jit``)."""
    parsed = isinstance(obj, Objective)
    if compile is False or (compile is None and not parsed):
        return None
    if not parsed:
        return lambda x: _compiled(f, x)

    def key() -> tuple:     # hashes the data: taken only when compiling is considered
        return (obj.key(), sign)

    def build(x: np.ndarray):
        k = key()
        if k not in _COMPILED:
            try:
                _COMPILED[k] = _compiled(f, x, branch_free=True)
            except Exception as exc:  # noqa: BLE001 - remembered, re-raised per run
                _COMPILED[k] = exc
            while len(_COMPILED) > _COMPILED_KEEP:
                _COMPILED.popitem(last=False)
        _COMPILED.move_to_end(k)
        found = _COMPILED[k]
        if isinstance(found, Exception):
            raise found
        return found

    build.cached = lambda: key() in _COMPILED     # compiled already: the note says so
    return build


def _compiled(f: Callable, x: np.ndarray, branch_free: bool = False):
    from newtonopt.autodiff.compiled import Compiled   # imported when first needed

    return Compiled(f, x, branch_free=branch_free)


def precompile(obj: Objective, x: np.ndarray, maximize: bool = False) -> None:
    """Compile a parsed objective into the in-process cache now (a batch
    does this before forking, so every worker inherits the code)."""
    sign = -1.0 if maximize else 1.0
    f = obj if sign > 0 else (lambda z: -obj(z))
    try:
        with np.errstate(all="ignore"):
            compiler_for(obj, f, sign, None)(np.asarray(x, dtype=np.float64))
    except Exception:  # noqa: BLE001 - remembered in the cache; the run reports it
        pass


def minimize(objective: Any, x0: Any = None, method: str | Method = "bfgs", *,
             gtol: float = 1e-8, maxiter: int = 1000, maximize: bool = False,
             callback: Callable[[dict], bool | None] | None = None,
             lr: float | None = None, memory: int = 10, radius: float = 1.0,
             seed: int = 0, dims: Mapping[str, int] | None = None,
             vars: list[str] | None = None, check_curvature_at_end: bool = True,
             keep_trace: bool = True, compile: bool | None = None,
             data: Mapping[str, Any] | None = None) -> Result:
    """Minimize (or, with ``maximize=True``, maximize) an objective.

    ``objective``: text in the objective language (or ``@problem``), an
    ``Objective``, or a callable mapping a Variable to a scalar Variable.
    ``x0``: None (the problem's standard start or a seeded random point),
    point text (``"x=1,y=2"``), a dict of named values, or an array.
    ``method``: a preset name (gd, newton, bfgs, lbfgs, cg, newton-cg,
    trust-ncg, trust-exact) or a ``Method(direction, search)``; ``lr``,
    ``memory`` and ``radius`` adjust a preset named by text.
    ``callback(record)`` receives each trace row; returning True stops.
    ``keep_trace``: hold the iteration rows (bounded: see ``loop.Trace``;
    ``trace_stride`` says how thinned); False keeps only the last.
    ``compile``: run the derivatives as generated code (default: for parsed
    objectives, from the first evaluation; a callable must opt in, must not
    branch on values, and switches after its first evaluation, which checks
    what it returns).  Results are the interpreter's.
    ``data``: names bound to constant arrays in objective text, e.g.
    ``minimize("sum((y - a*exp(-b*t))^2)", data={"t": t, "y": y})``.

    Returns a ``Result`` with scipy's field names plus ``nhvp``,
    ``grad_norm``, ``status`` (a ``Status``), ``curvature`` and ``trace``.
    """
    if not gtol >= 0 or not math.isfinite(gtol):
        raise ValueError("gtol must be a finite number >= 0")
    if maxiter < 0:
        raise ValueError("maxiter must be >= 0")
    obj = as_objective(objective, dims, vars, data)
    x_start = start_point(obj, x0, seed)
    config = check_method(resolve(method, lr, memory, radius), x_start.size,
                          getattr(obj, "vector_ops", None))
    glob = config.start(x_start.size)
    sign = -1.0 if maximize else 1.0
    f = obj if sign > 0 else (lambda z: -obj(z))

    ev = Evaluator(f, second_order=glob.second_order,
                   compiler=compiler_for(obj, f, sign, compile),
                   compile_after=0 if isinstance(obj, Objective) else 1)
    t0 = time.perf_counter()
    with np.errstate(all="ignore"):
        loop = Loop(ev, glob, gtol=gtol, maxiter=maxiter, callback=callback, sign=sign,
                    objective_f=f, check=check_curvature_at_end, keep_trace=keep_trace)
        run = loop.run(x_start)
        curv, check_counts = _final_curvature(run, f, check_curvature_at_end, ev.compiled)
    elapsed = time.perf_counter() - t0
    if sign < 0 and curv is not None:
        curv = curv.negated()

    if isinstance(obj, Objective):
        variables, vectors = obj.variables, [n for n, s in obj.shapes.items() if s]
        text = obj.text
    else:
        variables, vectors = {"x": x_start.size}, ["x"] if x_start.ndim else []
        text = getattr(objective, "__name__", repr(objective))
    return Result(
        objective=text, method=method if isinstance(method, str) else config.name,
        variables=variables, vectors=vectors,
        x=run.x, fun=sign * run.f, jac=sign * run.g, grad_norm=run.grad_norm,
        success=run.status is Status.CONVERGED, status=run.status, message=run.message,
        nit=run.nit, **ev.counts(), cg_iters=run.cg_iters, time_s=elapsed, x0=x_start,
        curvature=_curvature_dict(curv, check_counts), trace=run.trace.rows(),
        trace_stride=run.trace.stride, compile_note=_compile_note(ev),
    )


def _compile_note(ev: Evaluator) -> str | None:
    """The Evaluator's note, and which second-order function failed its
    check, if one did."""
    note = ev.compile_note
    dropped = getattr(ev.compiled, "second_order_note", None)
    return f"{note}; {dropped}" if dropped else note


def _final_curvature(run, f, enabled: bool, compiled):
    """The curvature verdict at the final point (reusing the loop's when it
    checked this very point), with the work the check did."""
    if not enabled or not np.all(np.isfinite(run.x)) or not math.isfinite(run.f):
        return None, {}
    if run.curvature is not None:
        return run.curvature, run.curvature_counts
    return check_curvature(f, run.x, compiled=compiled)


def _curvature_dict(curv, counts: dict) -> dict:
    if curv is None:
        return {"min_eigenvalue": None, "max_eigenvalue": None, "verdict": "not certified",
                "method": None}
    out = {"min_eigenvalue": curv.min_eigenvalue, "max_eigenvalue": curv.max_eigenvalue,
           "verdict": curv.verdict, "method": curv.method, **counts}
    if curv.reason:
        out["reason"] = curv.reason
    return out
