"""How a run ended (``Status``) and what it found (``Result``).

Field names follow scipy's ``OptimizeResult`` (x, fun, jac, nit, nfev, njev,
nhev, status, success, message), with ``nhvp`` kept apart from ``nhev`` as
Optim.jl does, and a named status in the spirit of Optim's TerminationCode.
"""
from __future__ import annotations

import enum
import math
from typing import Any

import numpy as np


class Note(enum.Flag):
    """What happened in one iteration, as typed flags (the trace rows'
    ``notes``); only the render layer spells them as text."""

    NONE = 0
    NEG_CURV = enum.auto()      # negative curvature met (CG or the Hessian)
    BOUNDARY = enum.auto()      # the trust-region step reached the boundary
    H_MODIFIED = enum.auto()    # Newton: H was not positive definite
    H_SKIP = enum.auto()        # quasi-Newton update skipped (curvature condition)
    RESET = enum.auto()         # the direction did not descend: -g used
    ESCAPE = enum.auto()        # a step along negative curvature left a saddle
    REJECTED = enum.auto()      # trust region: the trial step was refused


class Outcome:
    """What one step did.  ``x`` is None when no acceptable step was found;
    ``accepted`` is False for a trust-region step that was tried and
    refused (x stays).  ``predicted`` is the decrease the local model
    promised, used to tell a real failure from the float64 floor.  (The
    run's records are plain classes: a dataclass costs ~0.3 ms of every
    command's start-up to create.)"""

    __slots__ = ("x", "f", "step", "predicted", "notes", "cg_iters", "accepted")

    def __init__(self, x: np.ndarray | None, f: float, step: float, predicted: float,
                 notes: Note = Note.NONE, cg_iters: int = 0, accepted: bool = True) -> None:
        self.x, self.f, self.step, self.predicted = x, f, step, predicted
        self.notes, self.cg_iters, self.accepted = notes, cg_iters, accepted


class NonFiniteCurvature(Exception):
    """The Hessian a method needs, or a product with it, is not finite (an
    infinite second derivative, as |x|^1.5 has at 0), or the curvature
    along a CG direction overflows (x run off on an unbounded f): no step
    can be built from it, and the loop ends the run ``non_finite`` saying
    ``what`` (and ``hint``, what to do about it)."""

    def __init__(self, what: str, hint: str = "") -> None:
        super().__init__(what)
        self.what, self.hint = what, hint


_SECOND_ORDER_HINT = "bfgs and lbfgs need no second derivatives"


def finite_curvature(value: float, hd: np.ndarray) -> float:
    """``value`` = d'Hd, or NonFiniteCurvature: a product with a nan or inf
    makes d'Hd nan or inf, so the scalar stands for the vector ``hd``,
    which is looked at only then, to tell the two causes apart."""
    if not math.isfinite(value):
        if np.isfinite(hd).all():
            # the loop's message asks whether f is unbounded where f fell far
            raise NonFiniteCurvature("the curvature d'Hd along a CG direction overflows")
        raise NonFiniteCurvature("a Hessian-vector product is not finite", _SECOND_ORDER_HINT)
    return value


def finite_hessian(h: np.ndarray) -> np.ndarray:
    """``h``, or NonFiniteCurvature (LAPACK's eigensolver fails on it, and
    Cholesky would factor an inf into a meaningless step)."""
    if not np.isfinite(h).all():
        raise NonFiniteCurvature("the Hessian is not finite", _SECOND_ORDER_HINT)
    return h


class Status(str, enum.Enum):
    CONVERGED = "converged"
    STATIONARY_NOT_MINIMUM = "stationary_not_minimum"
    MAXITER = "maxiter"
    LINE_SEARCH_FAILED = "line_search_failed"
    TRUST_REGION_COLLAPSED = "trust_region_collapsed"
    PRECISION_LIMITED = "precision_limited"
    NON_FINITE = "non_finite"
    CALLBACK = "callback"
    INTERRUPTED = "interrupted"
    ERROR = "error"
    TIMEOUT = "timeout"

    def __str__(self) -> str:
        return self.value


class Result(dict):
    """A scipy-like result: attribute and dict access to the same fields.

    ``x``, ``jac`` and ``x0`` are flat float64 arrays; ``variables`` maps
    each variable name to its size and ``vectors`` lists those that are
    vectors, so ``named(vector)`` gives the ``{"x": 1.0, "y": [..]}`` form
    the JSON output uses.
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __repr__(self) -> str:
        keys = ("method", "status", "fun", "grad_norm", "nit", "nfev", "njev", "nhev", "nhvp")
        inner = ", ".join(f"{k}={self[k]!r}" for k in keys if k in self)
        return f"Result({inner})"

    def named(self, vector: np.ndarray) -> dict[str, Any]:
        """A flat vector as ``{name: float or list}``."""
        out, offset = {}, 0
        vector = np.asarray(vector, dtype=float)
        for name, size in self["variables"].items():
            part = vector[offset:offset + size]
            out[name] = part.tolist() if name in self["vectors"] else float(part[0])
            offset += size
        return out
