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


def log_norms(values: list[float]) -> list[float]:
    """log10 of each value: 0 is -inf (drawn at the bottom); NaN, inf and
    None have no place on a log scale and are left out."""
    return [math.log10(v) if v > 0 else -math.inf
            for v in values if v is not None and v >= 0 and math.isfinite(v)]


def log_range(runs: list[list[float]]) -> tuple[float, float]:
    """The finite extremes of several runs' logs (a shared scale), whole
    decades at least one apart: runs that jump from ‖g‖ = 1 to exactly 0
    would otherwise draw rounding noise at full height, on a scale
    printed as "from 1e0 to 1e-0"."""
    finite = [v for run in runs for v in run if math.isfinite(v)] or [0.0]
    hi = math.ceil(max(finite))
    return min(math.floor(min(finite)), hi - 1), hi


def resample(values: list[float], width: int) -> list[float]:
    """``width`` samples covering the whole list: sample j is the last value
    of the j-th of ``width`` equal stretches, so the last sample is the
    last value (a short list is stretched)."""
    if not values:
        return []
    n = len(values)
    return [values[max(0, math.ceil((j + 1) * n / width) - 1)] for j in range(width)]


def sparkline(logs: list[float], width: int, lo: float, hi: float) -> str:
    """Block characters for ``logs`` resampled to ``width`` cells, on the
    shared scale lo..hi (so several runs compare cell by cell)."""
    span = (hi - lo) or 1.0
    top = len(_SPARKS) - 1
    return "".join(_SPARKS[0] if v == -math.inf else
                   _SPARKS[min(top, max(0, round((v - lo) / span * top)))]
                   for v in resample(logs, width))


def seconds(value: float) -> str:
    """A duration in the fewest characters: 850µs, 8.5ms, 1.2s, 3m05s."""
    if value < 1e-3:
        return f"{value * 1e6:.0f}µs"
    if value < 1:
        return f"{value * 1e3:.3g}ms"
    if value < 60:
        return f"{value:.3g}s"
    return f"{int(value // 60)}m{int(value % 60):02d}s"


NOTE_NAMES = {"NEG_CURV": "neg-curv", "BOUNDARY": "boundary", "H_MODIFIED": "H-modified",
              "H_SKIP": "H-skip", "RESET": "reset", "ESCAPE": "escape", "REJECTED": "rejected"}


def note_names(notes: Any) -> list[str]:
    """A trace row's notes as words: from the solvers' ``Note`` flags, or
    from the comma-separated text a results file holds."""
    if notes is None:
        return []
    if isinstance(notes, str):
        return [n for n in notes.split(",") if n]
    return [NOTE_NAMES[flag.name] for flag in type(notes) if flag.value and flag in notes]


def counts(row: dict) -> str:
    return f"{row['nfev']}/{row['njev']}/{row['nhev']}/{row['nhvp']}"


def quiet_line(res) -> str:
    """The one line ``--quiet`` prints."""
    return f"{res.status}  f = {num(res.fun, 12)}  {point(res.named(res.x))}  nit = {res.nit}"
