"""Pictures: convergence plots and performance profiles (``--plot FILE``).

matplotlib is the optional ``[plot]`` extra, imported only here and only
when a plot is asked for, with the non-interactive Agg backend (no display
needed) and matplotlib's object API (no pyplot global state).  The format
comes from the file's extension; the file is written like ``--out``
(atomically, never replacing a device).  Every plotted line carries a
unique SVG id ``series-<label>`` so a script (or a test) can find it.
"""
from __future__ import annotations

import io
import math
import os
from typing import Any

from newtonopt.outfile import write_bytes

from .fmt import note_names

FORMATS = ("png", "svg", "pdf")
_NOTE_MARKERS = {"neg-curv": ("v", "tab:purple"), "boundary": ("s", "tab:cyan"),
                 "escape": ("*", "tab:red")}


class PlotError(Exception):
    """--plot cannot be honoured: one sentence (exit 2)."""


def check(path: str) -> str:
    """The format of ``path``, after checking that matplotlib is there."""
    fmt = os.path.splitext(path)[1].lower().lstrip(".")
    if fmt not in FORMATS:
        raise PlotError(f"--plot {path}: the file must end in .png, .svg or .pdf")
    _figure_class()
    return fmt


def _figure_class():
    try:
        import matplotlib
    except ImportError:
        raise PlotError("--plot needs matplotlib: pip install 'newtonopt[plot]'") from None
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure


def _figure(panels: int):
    import matplotlib

    figure = _figure_class()(figsize=(6.4 * panels, 4.2), layout="constrained")
    return matplotlib, figure, figure.subplots(1, panels, squeeze=False)[0]


def _save(figure, path: str) -> None:
    import matplotlib

    fmt = check(path)
    buf = io.BytesIO()
    # unsimplified paths: every point of a series is in the file
    with matplotlib.rc_context({"path.simplify": False, "svg.hashsalt": "newtonopt"}):
        figure.savefig(buf, format=fmt, metadata={"Date": None} if fmt != "png" else None)
    write_bytes(path, buf.getvalue())


def _positive(values: list[Any]) -> list[float]:
    """Values for a log axis: NaN where not positive and finite (a gap)."""
    return [v if isinstance(v, (int, float)) and v > 0 and math.isfinite(v) else math.nan
            for v in values]


def convergence(res, path: str, fstar: float | None = None) -> None:
    """One run: f - f* (or f - f_best) and ||g||inf against iteration, log
    scale, with markers where the trace notes negative curvature, a
    trust-region boundary or an escape from a saddle."""
    _, figure, (left, right) = _figure(2)
    rows = res.trace
    its = [r["iter"] for r in rows]
    fs = [r["fun"] for r in rows]
    finite = [f for f in fs if isinstance(f, (int, float)) and math.isfinite(f)]
    best = fstar if fstar is not None else (min(finite) if finite else 0.0)
    gap = [abs(f - best) if isinstance(f, (int, float)) else math.nan for f in fs]
    label = "f − f*" if fstar is not None else "f − f_best"
    for ax, values, name in ((left, gap, label), (right, [r["grad_norm"] for r in rows], "‖g‖∞")):
        line, = ax.semilogy(its, _positive(values), label=name)
        line.set_gid(f"series-{name}")
        for note, (marker, color) in _NOTE_MARKERS.items():
            at = [(i, v) for i, v, r in zip(its, _positive(values), rows)
                  if note in note_names(r.get("notes"))]
            if at:
                ax.scatter(*zip(*at), marker=marker, color=color, label=note, zorder=3)
        ax.set_xlabel("iteration")
        ax.set_ylabel(name)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    figure.suptitle(f"{res.method}: {_short(res.objective)}")
    _save(figure, path)


def comparison(results: list, path: str) -> None:
    """Several methods: ||g||inf against iteration, and against evaluations
    (nfev + njev + nhev + nhvp, the performance profile's cost)."""
    _, figure, (left, right) = _figure(2)
    for res in results:
        rows = res.trace
        g = _positive([r["grad_norm"] for r in rows])
        cost = [r["nfev"] + r["njev"] + r["nhev"] + r["nhvp"] for r in rows]
        for ax, xs, suffix in ((left, [r["iter"] for r in rows], ""),
                               (right, cost, "-evaluations")):
            line, = ax.semilogy(xs, g, label=res.method)
            line.set_gid(f"series-{res.method}{suffix}")
    left.set_xlabel("iteration")
    right.set_xlabel("evaluations (f + g + H + Hv)")
    for ax in (left, right):
        ax.set_ylabel("‖g‖∞")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    if results:
        figure.suptitle(_short(results[0].objective))
    _save(figure, path)


def profile(ratios: dict[str, dict[str, list[float]]], problems: int, path: str) -> None:
    """Dolan-Moré performance profiles: for each measure, the share of
    problems a method solves within tau times the best method's cost, tau
    on a log2 axis, one step line per method.  ``ratios[measure][method]``
    are that method's cost ratios on the problems it solved."""
    _, figure, axes = _figure(len(ratios))
    for ax, (measure, by_method) in zip(axes, ratios.items()):
        top = max([max(r) for r in by_method.values() if r] + [2.0])
        for method, rs in by_method.items():
            taus = [1.0, *sorted(rs), top * 1.5]
            share = [sum(1 for q in rs if q <= t) / max(problems, 1) for t in taus]
            line, = ax.step(taus, share, where="post", label=method)
            line.set_gid(f"series-{method}-{measure}")
        ax.set_xscale("log", base=2)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("τ (within τ × the best method)")
        ax.set_ylabel("share of problems solved")
        ax.set_title(f"performance profile: {measure}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="lower right")
    _save(figure, path)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
