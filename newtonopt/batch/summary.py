"""What a batch found: per method counts and medians, and the Dolan-Moré
performance profile (Math. Program. 91 (2002) 201-213).

The cost of a run is its total number of evaluations, nfev + njev + nhev +
nhvp.  A "problem" of the profile is a (problem, start) pair; rho_m(tau) is
the share of them method m solves (status converged) at a cost within tau
times the cheapest method that solved it.
"""
from __future__ import annotations

import statistics
from collections import defaultdict

TAUS = (1, 2, 4, 8, 16)
_KEPT = ("problem", "start", "method", "job_id", "status", "success", "nit", "nfev", "njev",
         "nhev", "nhvp", "fun", "grad_norm", "time_s")


def slim(rec: dict) -> dict:
    """What a summary (and the summary CSV) needs of a record: no x, no
    trace, so a parent holding many records holds little."""
    out = {k: rec.get(k) for k in _KEPT}
    curvature = rec.get("curvature")
    out["verdict"] = curvature.get("verdict") if isinstance(curvature, dict) else None
    return out


def cost(rec: dict) -> int:
    return sum(int(rec.get(k) or 0) for k in ("nfev", "njev", "nhev", "nhvp"))


def iterations(rec: dict) -> int:
    return int(rec.get("nit") or 0)


def performance_ratios(records: list[dict], measure=cost) -> dict[str, list[float]]:
    """For each method, measure(run) / the smallest measure any method
    needed, over the (problem, start) pairs it solved (Dolan-Moré's r_p,m)."""
    best: dict[tuple, int] = {}
    for rec in records:
        if rec.get("success"):
            key = _problem(rec)
            best[key] = min(best.get(key, measure(rec)), measure(rec))
    ratios: dict[str, list[float]] = defaultdict(list)
    for rec in records:
        ratios[str(rec.get("method"))]  # every method gets an entry, solved or not
        if rec.get("success"):
            ratios[str(rec.get("method"))].append(measure(rec) / max(best[_problem(rec)], 1))
    return dict(ratios)


def problem_count(records: list[dict]) -> int:
    return len({_problem(r) for r in records})


def summarize(records: list[dict]) -> dict:
    by_method: dict[str, list[dict]] = defaultdict(list)
    for rec in records:
        by_method[str(rec.get("method"))].append(rec)
    ratios = performance_ratios(records)
    problems = problem_count(records)
    methods = []
    for method, recs in by_method.items():
        solved = [r for r in recs if r.get("success")]
        crashed = [r for r in recs if r.get("status") in ("error", "timeout")]
        methods.append({
            "method": method, "runs": len(recs), "solved": len(solved),
            "failed": len(recs) - len(solved) - len(crashed), "errors": len(crashed),
            "median_nit": _median([r.get("nit") for r in solved]),
            "median_evaluations": _median([cost(r) for r in solved]),
            "profile": {str(t): (sum(1 for q in ratios[method] if q <= t) / problems
                                 if problems else 0.0) for t in TAUS},
        })
    return {"problems": problems, "runs": len(records), "methods": methods}


def _problem(rec: dict) -> tuple:
    return (rec.get("problem"), rec.get("start") or 0)


def _median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None
