"""Named benchmark problems (``@rosenbrock`` ...), written in the objective
language itself.

Sources: Moré, Garbow & Hillstrom, "Testing unconstrained optimization
software", ACM TOMS 7 (1981) (MGH numbers below); scipy.optimize.rosen for
the chained Rosenbrock.  This module is data: it imports numpy only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Problem:
    """A built-in problem.

    Vector problems have one vector variable ``x`` whose length ``n`` is set
    by ``--dim x=N`` (a multiple of ``step``, at least ``min_n``); the others
    have fixed scalar variables.
    """

    name: str
    description: str
    text: str
    start: Callable[[int], np.ndarray]
    minimizers: Callable[[int], list[np.ndarray]]
    fmin: float = 0.0
    default_n: int | None = None          # None: fixed scalar variables
    min_n: int = 1
    step: int = 1
    fixed_n: bool = False
    params: dict[str, float] = field(default_factory=dict)
    param_ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    constants: Callable[[int, dict], dict] | None = None

    @property
    def is_vector(self) -> bool:
        return self.default_n is not None

    def check_n(self, n: int) -> str | None:
        """Why dimension n is not allowed, or None."""
        if self.fixed_n and n != self.default_n:
            return f"@{self.name} has dimension {self.default_n} only"
        if n < self.min_n or n % self.step:
            need = f"a multiple of {self.step}" if self.step > 1 else "a whole number"
            return f"@{self.name} needs x of dimension {need} >= {self.min_n}, got {n}"
        return None


def _alternating(n: int, a: float, b: float) -> np.ndarray:
    x = np.full(n, b)
    x[::2] = a
    return x


def _tiled(pattern: list[float]) -> Callable[[int], np.ndarray]:
    return lambda n: np.tile(pattern, n // len(pattern))


def _ones(n: int) -> list[np.ndarray]:
    return [np.ones(n)]


def _quadratic_constants(n: int, params: dict) -> dict:
    """Eigenvalues log-spaced from 1 to cond: cond(H) = cond exactly."""
    d = np.logspace(0.0, np.log10(params["cond"]), n) if n > 1 else np.ones(1)
    return {"d": d}


PROBLEMS: dict[str, Problem] = {p.name: p for p in [
    Problem(
        "rosenbrock",
        "chained Rosenbrock, sum 100(x[i+1]-x[i]^2)^2 + (1-x[i])^2 (as scipy.optimize.rosen)",
        "sum(100*(x[1:] - x[:-1]^2)^2 + (1 - x[:-1])^2)",
        start=lambda n: _alternating(n, -1.2, 1.0),
        minimizers=_ones, default_n=2, min_n=2),
    Problem(
        "ext-rosenbrock",
        "extended Rosenbrock, independent pairs (MGH 21); the large-scale test",
        "sum(100*(x[1::2] - x[::2]^2)^2 + (1 - x[::2])^2)",
        start=lambda n: _alternating(n, -1.2, 1.0),
        minimizers=_ones, default_n=100, min_n=2, step=2),
    Problem(
        "himmelblau",
        "Himmelblau's function: four minima with f = 0",
        "(x^2 + y - 11)^2 + (x + y^2 - 7)^2",
        start=lambda n: np.array([1.0, 1.0]),
        minimizers=lambda n: [np.array(p) for p in [
            (3.0, 2.0), (-2.805118086952745, 3.131312518250573),
            (-3.779310253377747, -3.283185991286170),
            (3.584428340330492, -1.848126526964404)]]),
    Problem(
        "beale",
        "Beale's function (MGH 5): narrow curved valley",
        "(1.5 - x + x*y)^2 + (2.25 - x + x*y^2)^2 + (2.625 - x + x*y^3)^2",
        start=lambda n: np.array([1.0, 1.0]),
        minimizers=lambda n: [np.array([3.0, 0.5])]),
    Problem(
        "booth",
        "Booth's function: a convex quadratic",
        "(x + 2*y - 7)^2 + (2*x + y - 5)^2",
        start=lambda n: np.array([0.0, 0.0]),
        minimizers=lambda n: [np.array([1.0, 3.0])]),
    Problem(
        "powell",
        "Powell's singular function (MGH 13, extended): Hessian singular at the minimum",
        "sum((x[::4] + 10*x[1::4])^2 + 5*(x[2::4] - x[3::4])^2"
        " + (x[1::4] - 2*x[2::4])^4 + 10*(x[::4] - x[3::4])^4)",
        start=_tiled([3.0, -1.0, 0.0, 1.0]),
        minimizers=lambda n: [np.zeros(n)], default_n=4, min_n=4, step=4),
    Problem(
        "wood",
        "Wood's function (MGH 14): four variables, a saddle-ridden valley",
        "100*(x[1] - x[0]^2)^2 + (1 - x[0])^2 + 90*(x[3] - x[2]^2)^2 + (1 - x[2])^2"
        " + 10.1*((x[1] - 1)^2 + (x[3] - 1)^2) + 19.8*(x[1] - 1)*(x[3] - 1)",
        start=lambda n: np.array([-3.0, -1.0, -3.0, -1.0]),
        minimizers=_ones, default_n=4, min_n=4, fixed_n=True),
    Problem(
        "quadratic",
        "ill-conditioned quadratic sum(d*x^2)/2, d log-spaced 1..cond (@quadratic:cond=1e6)",
        "sum(d*x^2)/2",
        start=lambda n: np.ones(n),
        minimizers=lambda n: [np.zeros(n)], default_n=10, min_n=1,
        params={"cond": 1e4}, param_ranges={"cond": (1.0, 1e16)},
        constants=_quadratic_constants),
]}
