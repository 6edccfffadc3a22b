"""Point text for ``--x0`` / ``--at``: ``x=2,y=-1``, ``2,-1``, ``x=0.5``
(broadcast over a vector) or ``x=[1,2,3]``."""
from __future__ import annotations

import math
import re

import numpy as np

from .errors import ObjectiveError
from .objective import Objective

_ITEM = re.compile(r"\s*(?:([A-Za-z][A-Za-z0-9_]*)\s*=)?\s*(\[[^\]]*\]?|[^,\[\]]*)\s*(,|$)")


def _number(text: str, point: str, column: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ObjectiveError(f"{text.strip()!r} is not a number", point, column) from None
    if not math.isfinite(value):
        raise ObjectiveError(f"start values must be finite, got {text.strip()}", point, column)
    return value


def _values(text: str, point: str, column: int) -> list[float] | float:
    if text.startswith("["):
        if not text.endswith("]"):
            raise ObjectiveError("missing ']'", point, column + len(text))
        inner = text[1:-1]
        values, offset = [], column + 1
        for part in inner.split(","):
            values.append(_number(part, point, offset))
            offset += len(part) + 1
        return values
    return _number(text, point, column)


def parse_point(text: str, objective: Objective,
                default: np.ndarray | None = None) -> np.ndarray:
    """The flat vector a point text names; names it leaves out come from
    ``default`` (an error when there is none)."""
    items: list[tuple[str | None, object, int]] = []
    pos = 0
    while pos < len(text):
        m = _ITEM.match(text, pos)
        if m is None or m.end() == pos:
            raise ObjectiveError("expected name=value, a number or [list]", text, pos)
        name, value = m.group(1), m.group(2).strip()
        if not value:
            raise ObjectiveError("a value is missing here", text, m.start(2))
        items.append((name, _values(value, text, m.start(2)), m.start()))
        pos = m.end()
    if not items:
        raise ObjectiveError("the point is empty", text, 0)

    named = [i for i in items if i[0] is not None]
    if named and len(named) != len(items):
        raise ObjectiveError("give every value by name or none", text,
                             next(c for n, _, c in items if n is None))
    if not named:
        if len(items) != len(objective.names):
            raise ObjectiveError(
                f"{len(items)} values for {len(objective.names)} variables "
                f"({', '.join(objective.names)})", text, 0)
        items = [(n, v, c) for n, (_, v, c) in zip(objective.names, items)]

    values: dict[str, object] = {}
    for name, value, col in items:
        if name not in objective.slices:
            raise ObjectiveError(f"the objective has no variable {name!r} "
                                 f"(it has {', '.join(objective.names)})", text, col)
        if name in values:
            raise ObjectiveError(f"{name} is given twice", text, col)
        size = objective.variables[name]
        if isinstance(value, list) and len(value) != size:
            raise ObjectiveError(f"{name} has {size} element(s), got {len(value)}", text, col)
        values[name] = value
    missing = [n for n in objective.names if n not in values]
    if missing and default is None:
        raise ObjectiveError(f"no value for {', '.join(missing)}", text, len(text))
    base = objective.unpack(default) if missing else {}
    return objective.pack({**base, **values})
