"""Batch specs (TOML) -> validated jobs.

    [defaults]                 # apply to every problem
    methods = ["newton", "bfgs"]
    gtol = 1e-8

    [[problem]]                # one per problem; its keys override defaults
    name = "rosen-1000"
    objective = "@rosenbrock"
    dim = { x = 1000 }
    starts = 3                 # three seeded pseudo-random starts

Everything is checked before any job runs: a bad spec raises ``SpecError``
naming the file, the line and what is wrong.
"""
from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
import sys
from dataclasses import dataclass
from typing import Any, Iterator

from newtonopt.expr import ObjectiveError, parse, parse_point
from newtonopt.expr.data import DataSource, load_all
from newtonopt.methods import METHODS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

MAX_STARTS = 1_000_000
MAX_SPEC_BYTES = 64 * 2 ** 20

# key -> (type check, what it should be)
_SOLVER_KEYS = {
    "methods": (lambda v: isinstance(v, list) and v and all(isinstance(m, str) for m in v),
                "a list of method names"),
    "gtol": (lambda v: _is_number(v) and v >= 0, "a number >= 0"),
    "maxiter": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
                "a whole number >= 0"),
    "seed": (lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2 ** 63,
             "a whole number >= 0"),
    "starts": (lambda v: isinstance(v, int) and not isinstance(v, bool)
               and 1 <= v <= MAX_STARTS, f"a whole number from 1 to {MAX_STARTS:,}"),
    "lr": (lambda v: _is_number(v) and v > 0, "a number > 0"),
    "memory": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
               "a whole number >= 1"),
    "radius": (lambda v: _is_number(v) and 0 < v <= 1000, "a number in (0, 1000]"),
    "maximize": (lambda v: isinstance(v, bool), "true or false"),
    "dim": (lambda v: isinstance(v, dict) and all(isinstance(n, int) for n in v.values()),
            "a table like { x = 1000 }"),
    "vars": (lambda v: isinstance(v, list) and all(isinstance(n, str) for n in v),
             "a list of names"),
    "x0": (lambda v: isinstance(v, str), 'point text like "x=1,y=2"'),
    "data": (lambda v: isinstance(v, str) or (isinstance(v, list) and all(
        isinstance(d, str) for d in v)) or (isinstance(v, dict) and all(
            isinstance(d, str) for d in v.values())),
        'a table like { t = "t.csv", y = "y.csv:col" }, a file name, or a list of them'),
}
_PROBLEM_KEYS = {
    "name": (lambda v: isinstance(v, str) and v.strip(), "a non-empty string"),
    "objective": (lambda v: isinstance(v, str), "objective text or @problem"),
    **_SOLVER_KEYS,
}
_OPTIONS = ("gtol", "maxiter", "lr", "memory", "radius", "maximize")
DEFAULTS = {"methods": ["bfgs"], "gtol": 1e-8, "maxiter": 1000, "seed": 0}


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


class SpecError(Exception):
    """A bad spec: ``path:line: message`` (and a caret block for objectives)."""

    def __init__(self, path: str, line: int | None, message: str, detail: str = "") -> None:
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {message}" + (f"\n{detail}" if detail else ""))


@dataclass
class Job:
    """One (problem, start, method) run; plain data, so it can cross
    processes.  The start point is rebuilt where the job runs (``start_point``)
    rather than carried: at n = 10^6 it would be megabytes per job."""

    job_id: str
    problem: str
    start: int
    method: str
    objective: str
    dims: dict
    vars: list | None
    x0: str | None
    seed: int
    random: bool
    options: dict
    data: tuple = ()    # --data items, paths made absolute


def job_objective(job: Job):
    """The job's parsed objective, its data loaded once per process (a
    batch parses each problem for every job; forked workers inherit it)."""
    data, optional = _load_data(job.data)
    return parse(job.objective, job.dims, job.vars, data, optional)


@functools.lru_cache(maxsize=4)
def _load_data(items: tuple) -> tuple[dict, set]:
    return load_all(DataSource.parse(item) for item in items)


def _data_items(value: Any, base: str) -> tuple:
    """A spec's ``data`` as --data items with paths from the spec's folder."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, dict):
        value = [f"{name}={item}" for name, item in value.items()]
    return tuple(_absolute(DataSource.parse(item, base)) for item in value)


def _absolute(source: DataSource) -> str:
    path = os.path.abspath(source.path)
    named = f"{source.name}=" if source.name else ""
    return named + path + (f":{source.column}" if source.column is not None else "")


def start_point(obj, job: Job):
    """Start k of a job: the given x0 (start 0) over the default or a seeded
    random start (seed + k when the problem asks for several starts)."""
    seed = job.seed + job.start
    base = obj.random_start(seed) if job.random else obj.default_start(seed)
    if job.x0 is not None and job.start == 0:
        base = parse_point(job.x0, obj, default=base)
    return base


class _Lines:
    """Where keys stand in the TOML text (tomllib keeps no positions)."""

    _HEADER = re.compile(r"^\s*\[\[?\s*([A-Za-z_][\w-]*)\s*\]\]?")
    _KEY = re.compile(r"^\s*([A-Za-z_][\w-]*)\s*=")

    def __init__(self, text: str) -> None:
        self.tables: list[tuple[str, int, dict[str, int]]] = [("", 1, {})]
        for number, line in enumerate(text.splitlines(), 1):
            header = self._HEADER.match(line)
            if header:
                self.tables.append((header.group(1), number, {}))
                continue
            key = self._KEY.match(line)
            if key:
                self.tables[-1][2].setdefault(key.group(1), number)

    def find(self, table: str, index: int, key: str | None = None) -> int | None:
        matches = [t for t in self.tables if t[0] == table]
        if index >= len(matches):
            return None
        _, header_line, keys = matches[index]
        return keys.get(key, header_line) if key else header_line


@dataclass
class Spec:
    """A checked spec: ``count`` jobs, made one at a time by ``jobs()`` (a
    sweep of a million starts is never held in memory at once)."""

    problems: list[dict]
    count: int

    def jobs(self) -> Iterator[Job]:
        for prob in self.problems:
            yield from _expand(prob)


def load(path: str) -> Spec:
    """Read and check a spec file; every problem is parsed and every start
    checked here, before any job runs."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecError(path, None, f"cannot read: {exc.strerror}") from None
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError(path, None, f"a spec is at most {MAX_SPEC_BYTES // 2 ** 20} MiB "
                        "(is this the right file?)")
    text = raw.decode("utf-8", errors="replace")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"line (\d+)", str(exc))
        line = int(found.group(1)) if found else len(text.rstrip("\n").splitlines()) or None
        raise SpecError(path, line, f"TOML syntax: {exc}") from None
    lines = _Lines(text)
    unknown = [k for k in doc if k not in ("defaults", "problem")]
    if unknown:
        raise SpecError(path, lines.find("", 0, unknown[0]) or lines.find(unknown[0], 0),
                        f"unknown top-level key {unknown[0]!r} (expected [defaults] and "
                        "[[problem]] tables)")
    defaults = doc.get("defaults", {})
    if not isinstance(defaults, dict):
        raise SpecError(path, lines.find("", 0, "defaults"), "defaults must be a table")
    _check_keys(path, lines, "defaults", 0, defaults, _SOLVER_KEYS)
    problems = doc.get("problem", [])
    if not isinstance(problems, list) or not problems:
        raise SpecError(path, None, "no [[problem]] tables: nothing to run")
    checked: list[dict] = []
    names: set[str] = set()
    for i, prob in enumerate(problems):
        _check_keys(path, lines, "problem", i, prob, _PROBLEM_KEYS)
        for required in ("name", "objective"):
            if required not in prob:
                raise SpecError(path, lines.find("problem", i), f"problem #{i + 1} has no "
                                f"{required!r}")
        if prob["name"] in names:
            raise SpecError(path, lines.find("problem", i, "name"),
                            f"problem name {prob['name']!r} is used twice")
        names.add(prob["name"])
        merged = {**DEFAULTS, **defaults, **prob}
        if "data" in merged:
            try:
                merged["data"] = _data_items(merged["data"], os.path.dirname(path))
            except ObjectiveError as exc:
                raise SpecError(path, lines.find("problem", i, "data")
                                or lines.find("defaults", 0, "data"), exc.message) from None
        _check_problem(path, lines, i, merged)
        checked.append(merged)
    return Spec(checked, sum(p.get("starts", 1) * len(p["methods"]) for p in checked))


def _check_keys(path: str, lines: _Lines, table: str, index: int, values: dict,
                allowed: dict) -> None:
    for key, value in values.items():
        if key not in allowed:
            raise SpecError(path, lines.find(table, index, key),
                            f"unknown key {key!r} in {table} (known: {', '.join(allowed)})")
        check, what = allowed[key]
        if not check(value):
            raise SpecError(path, lines.find(table, index, key),
                            f"{key} must be {what}, got {value!r}")
    for method in values.get("methods", []):
        if method not in METHODS:
            raise SpecError(path, lines.find(table, index, "methods"),
                            f"unknown method {method!r} (known: {', '.join(METHODS)})")


def _check_problem(path: str, lines: _Lines, index: int, prob: dict) -> None:
    """Parse the objective, size-check each method, build the given start."""
    def fail(key: str, exc: Exception) -> SpecError:
        detail = exc.render() if isinstance(exc, ObjectiveError) else ""
        message = exc.message if isinstance(exc, ObjectiveError) else str(exc)
        return SpecError(path, lines.find("problem", index, key), message, detail)

    try:
        obj = job_objective(next(_expand(prob)))
    except ObjectiveError as exc:
        key = "vars" if "--vars" in exc.message else \
            "data" if "data" in exc.message and "data" in prob else "objective"
        raise fail(key, exc) from None
    from newtonopt.solvers.api import check_method

    for method in prob["methods"]:
        try:
            check_method(method, obj.size, obj.vector_ops, prob.get("memory", 10))
        except ValueError as exc:
            raise SpecError(path, lines.find("problem", index, "methods")
                            or lines.find("defaults", 0, "methods"), str(exc)) from None
    if "x0" in prob:
        try:
            start_point(obj, next(_expand(prob)))
        except ObjectiveError as exc:
            raise fail("x0", exc) from None


def _expand(prob: dict) -> Iterator[Job]:
    """The (start, method) jobs of one checked problem, one at a time."""
    starts = prob.get("starts", 1)
    options = {k: prob[k] for k in _OPTIONS if k in prob}
    for k in range(starts):
        for method in prob["methods"]:
            ident = {"problem": prob["name"], "objective": prob["objective"],
                     "dims": prob.get("dim", {}), "vars": prob.get("vars"), "start": k,
                     "x0": prob.get("x0"), "seed": prob["seed"], "random": starts > 1,
                     "method": method, "options": options}
            if prob.get("data"):
                ident["data"] = prob["data"]
            digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()
            yield Job(digest[:16], prob["name"], k, method, prob["objective"],
                      prob.get("dim", {}), prob.get("vars"), prob.get("x0"),
                      prob["seed"], starts > 1, options, prob.get("data", ()))
