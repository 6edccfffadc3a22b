"""JSON and CSV forms of results (SPEC §7): what scripts read."""
from __future__ import annotations

import csv
import enum
import io
import json
import math
from typing import Any, Iterable

from .fmt import note_names

TRACE_COLUMNS = ["iter", "fun", "grad_norm", "step", "dx_norm", "nfev", "njev", "nhev",
                 "nhvp", "notes"]
SUMMARY_COLUMNS = ["problem", "method", "status", "success", "nit", "nfev", "njev", "nhev",
                   "nhvp", "fun", "grad_norm", "time_s", "verdict"]


def _clean(value: Any) -> Any:
    """JSON has no NaN or infinity: they become null (the status says why);
    a trace row's notes flags become their words, comma-separated."""
    if isinstance(value, enum.Flag):
        return ",".join(note_names(value))
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return _clean(value.item())
    return value


def result_dict(res, trace: bool = True, **extra: Any) -> dict:
    """The SPEC §7 object for one result (``extra`` fields first, as batch's
    ``problem``)."""
    out = {**extra,
           "objective": res.objective, "method": res.method, "variables": res.variables,
           "x": res.named(res.x), "fun": res.fun, "jac": res.named(res.jac),
           "grad_norm": res.grad_norm, "success": res.success, "status": str(res.status),
           "message": res.message, "nit": res.nit, "nfev": res.nfev, "njev": res.njev,
           "nhev": res.nhev, "nhvp": res.nhvp, "cg_iters": res.cg_iters,
           "time_s": res.time_s, "x0": res.named(res.x0), "curvature": res.curvature}
    if trace:
        out["trace"] = res.trace
        out["trace_stride"] = res.get("trace_stride", 1)
    return _clean(out)


def dumps(obj: Any) -> str:
    return json.dumps(_clean(obj), allow_nan=False)


def _csv(rows: Iterable[dict], columns: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in _clean(row).items()})
    return buf.getvalue()


def trace_csv(res) -> str:
    """``minimize``'s CSV: one row per iteration."""
    return _csv(res.trace, TRACE_COLUMNS)


def summary_row(res, problem: str = "") -> dict:
    return {"problem": problem, "method": res.method, "status": str(res.status),
            "success": res.success, "nit": res.nit, "nfev": res.nfev, "njev": res.njev,
            "nhev": res.nhev, "nhvp": res.nhvp, "fun": res.fun, "grad_norm": res.grad_norm,
            "time_s": res.time_s, "verdict": res.curvature.get("verdict")}


def summary_csv(rows: Iterable[dict]) -> str:
    """``compare``'s and ``batch``'s CSV: one row per run."""
    return _csv(rows, SUMMARY_COLUMNS)
