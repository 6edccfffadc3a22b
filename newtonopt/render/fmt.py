"""Plain-text formatting shared by the table and quiet outputs (no rich)."""
from __future__ import annotations

import math
from typing import Any

_SPARKS = "▁▂▃▄▅▆▇█"


def num(value: Any, digits: int = 6) -> str:
    """A float in ``%.{digits}g`` style; None as a dash."""
    if value is None:
        return "—"
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return f"{value:.{digits}g}"


def sci(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    return f"{value:.{digits}e}"


def vector(values: Any, edge: int = 3) -> str:
    """A scalar, or a list shortened to its first and last entries with the size."""
    if not isinstance(values, list):
        return num(values, 10)
    if len(values) <= 2 * edge + 1:
        return "[" + ", ".join(num(v, 10) for v in values) + "]"
    head = ", ".join(num(v, 8) for v in values[:edge])
    tail = ", ".join(num(v, 8) for v in values[-edge:])
    return f"[{head}, …, {tail}] ({len(values)})"


def point(named: dict) -> str:
    return ", ".join(f"{k} = {vector(v)}" for k, v in named.items())


def sparkline(values: list[float], width: int = 24) -> str:
    """log10 of positive values as block characters, downsampled to width."""
    logs = [math.log10(v) if v and v > 0 and math.isfinite(v) else None for v in values]
    logs = [v for v in logs if v is not None] or [0.0]
    if len(logs) > width:
        step = (len(logs) - 1) / (width - 1)
        logs = [logs[round(i * step)] for i in range(width)]
    lo, hi = min(logs), max(logs)
    span = (hi - lo) or 1.0
    return "".join(_SPARKS[round((v - lo) / span * (len(_SPARKS) - 1))] for v in logs)


def counts(row: dict) -> str:
    return f"{row['nfev']}/{row['njev']}/{row['nhev']}/{row['nhvp']}"


def quiet_line(res) -> str:
    """The one line ``--quiet`` prints."""
    return f"{res.status}  f = {num(res.fun, 12)}  {point(res.named(res.x))}  nit = {res.nit}"
