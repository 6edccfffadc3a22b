"""What ``newtonopt diff`` reports: value, gradient, Hessian, H v, or the
k-th derivative of a one-variable objective, all by autodiff."""
from __future__ import annotations

from typing import Any

import numpy as np

from newtonopt.autodiff import hessian, hvp, nth_derivative, value_and_grad
from newtonopt.autodiff.functional import derivative_graph
from newtonopt.autodiff.graph import get_dot_graph
from newtonopt.expr import Objective, ObjectiveError, parse_point
from newtonopt.solvers.budget import check_fits, dense_hessian_bytes


MAX_ORDER = 10          # each order multiplies the recorded graph ~3x (order 12: seconds)
MAX_HESSIAN_SIZE = 5000  # n x n numbers printed; above, --hvp is the tool


def _check_limits(obj: Objective, with_hessian: bool, order: int | None) -> None:
    if order is not None and order > MAX_ORDER:
        raise ObjectiveError(f"--order {order}: at most {MAX_ORDER} (each order multiplies the "
                             "derivative's graph about threefold)")
    if with_hessian:
        if obj.size > MAX_HESSIAN_SIZE:
            raise ObjectiveError(f"--hessian at n = {obj.size:,} would print {obj.size ** 2:,} "
                                 f"numbers; it is limited to n <= {MAX_HESSIAN_SIZE:,} "
                                 "(use --hvp V for products)")
        try:
            check_fits(f"the dense Hessian at n = {obj.size:,}", dense_hessian_bytes(obj.size))
        except ValueError as exc:
            raise ObjectiveError(str(exc)) from None


def _labels(obj: Objective) -> list[str]:
    return [name if not obj.shapes[name] else f"{name}[{i}]"
            for name in obj.names for i in range(obj.variables[name])]


def derivative_report(obj: Objective, at: str, with_hessian: bool = False,
                      v: str | None = None, order: int | None = None) -> dict[str, Any]:
    """The derivatives of ``obj`` at the point text ``at`` (``v``: point text
    for the HVP direction)."""
    _check_limits(obj, with_hessian, order)
    x = parse_point(at, obj)
    with np.errstate(all="ignore"):
        value, g = value_and_grad(obj, x)
        report: dict[str, Any] = {"objective": obj.text, "at": obj.unpack(x), "value": value,
                                  "gradient": obj.unpack(g)}
        if with_hessian:
            report["hessian"] = hessian(obj, x).tolist()
            report["hessian_labels"] = _labels(obj)
        if v is not None:
            report["hvp"] = obj.unpack(hvp(obj, x, parse_point(v, obj)))
        if order is not None:
            if obj.size != 1:
                raise ObjectiveError(f"--order needs one scalar variable; the objective has "
                                     f"{', '.join(obj.names)}", obj.text, 0)
            report["derivative"] = {"order": order, "variable": obj.names[0],
                                    "value": nth_derivative(obj, x, order)}
    return report


def derivative_dot(obj: Objective, at: str, order: int = 1) -> str:
    """Graphviz DOT text of the graph that computes the ``order``-th
    derivative of ``obj`` at the point text ``at`` (0: f itself, 1: the
    gradient, k >= 2: one scalar variable only)."""
    _check_limits(obj, False, order)
    x = parse_point(at, obj)
    if order >= 2 and obj.size != 1:
        raise ObjectiveError(f"--order {order} needs one scalar variable; the objective has "
                             f"{', '.join(obj.names)}", obj.text, 0)
    with np.errstate(all="ignore"):
        y = derivative_graph(obj, x, order)
    y.name = {0: "f", 1: "grad f"}.get(order, f"d^{order}f")
    return get_dot_graph(y, verbose=False)


def derivative_code(obj: Objective, at: str) -> str:
    """The generated source of f, its gradient and its Hessian-vector
    product, traced at the point text ``at``."""
    from newtonopt.autodiff import Compiled

    x = parse_point(at, obj)
    with np.errstate(all="ignore"):
        return Compiled(obj, x, check=False).source
