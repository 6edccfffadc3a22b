"""rich output for people: the live iteration table, the summary block, the
comparison table, the problem list and derivative reports.

Colors only where rich sees a terminal, never with NO_COLOR (rich reads it).
"""
from __future__ import annotations

import io
import os
from typing import Any, Callable

from rich.console import Console
from rich.table import Table
from rich.text import Text

from . import fmt

_NOTE_STYLE = {"neg-curv": "magenta", "H-modified": "yellow", "H-skip": "yellow",
               "boundary": "cyan", "escape": "bold magenta", "rejected": "red", "reset": "yellow"}
_STATUS_STYLE = {"converged": "bold green", "stationary_not_minimum": "bold yellow",
                 "precision_limited": "bold yellow",
                 "interrupted": "bold yellow"}


def make_console(stderr: bool = False) -> Console:
    """A console on stdout or stderr.  NO_COLOR turns off every escape code
    (rich alone would keep bold and dim); piped output is not wrapped."""
    plain = {"color_system": None} if os.environ.get("NO_COLOR") else {}
    console = Console(stderr=stderr, highlight=False, **plain)
    if not console.is_terminal:
        console = Console(stderr=stderr, highlight=False,
                          width=int(os.environ.get("COLUMNS", 160)), **plain)
    return console


def plain_text(draw: Callable[[Console], None]) -> str:
    """What ``draw(console)`` prints, as plain text (for --out files)."""
    buf = io.StringIO()
    draw(Console(file=buf, width=160, color_system=None, highlight=False))
    return buf.getvalue()


def line(console: Console, text: str) -> None:
    """Print text as it is (no markup: objectives contain brackets)."""
    console.print(Text(text))


def header(console: Console, objective: str, method: str, start: str,
           data: dict[str, tuple] | None = None) -> None:
    """The run's first lines; ``data``: the bound data's names and shapes."""
    out = Text()
    out.append("newtonopt ", style="bold")
    out.append(short(objective))
    out.append("   method ", style="dim")
    out.append(method, style="bold")
    out.append("\nstart: ", style="dim")
    out.append(start)
    if data:
        out.append("\ndata: ", style="dim")
        out.append(", ".join(f"{name}[{'×'.join(map(str, shape))}]" if shape else name
                             for name, shape in data.items()))
    console.print(out)


# -- the live iteration table ---------------------------------------------------

_COLUMNS = [("iter", 5), ("f", 15), ("‖g‖∞", 9), ("step", 9), ("‖Δx‖", 9), ("f/g/H/Hv", 15),
            ("notes", 0)]


class TraceStream:
    """Prints each trace row as the solver produces it (every ``every``-th
    and the last), under a header printed once."""

    def __init__(self, console: Console, every: int = 1, step_label: str = "step") -> None:
        self.console = console
        self.every = max(1, every)
        self.last_printed = -1
        self.pending: dict | None = None
        header = [(step_label if name == "step" else name, w) for name, w in _COLUMNS]
        self.console.print(Text(self._line([n for n, _ in header]), style="bold"))

    def _line(self, cells: list[str]) -> str:
        return " ".join(c.rjust(w) if w else c for c, (_, w) in zip(cells, _COLUMNS))

    def __call__(self, row: dict) -> None:
        if row["iter"] % self.every == 0:
            self._print(row)
        else:
            self.pending = row

    def _print(self, row: dict) -> None:
        cells = [str(row["iter"]), fmt.num(row["fun"], 9), fmt.sci(row["grad_norm"]),
                 fmt.sci(row["step"]), fmt.sci(row["dx_norm"]), fmt.counts(row), ""]
        text = Text(self._line(cells))
        for note in fmt.note_names(row["notes"]):
            text.append(" " + note, style=_NOTE_STYLE.get(note, ""))
        self.console.print(text)
        self.last_printed = row["iter"]
        self.pending = None

    def finish(self) -> None:
        if self.pending is not None and self.pending["iter"] != self.last_printed:
            self._print(self.pending)


# -- summary ---------------------------------------------------------------------

def _le(value: float | None, tol: float) -> str:
    if value is None:
        return "—"
    return f"{fmt.sci(value)} {'≤' if value <= tol else '≰'} {fmt.sci(tol)}"


def summary(console: Console, res, gtol: float) -> None:
    """Optim.jl's summary block, plus the curvature verdict."""
    status = str(res.status)
    out = Text()
    out.append(" * Status: ", style="bold")
    out.append(status, style=_STATUS_STYLE.get(status, "bold red"))
    out.append(f"  ({res.message})\n")
    out.append(" * Candidate solution\n", style="bold")
    out.append(f"    Final objective value:  {fmt.num(res.fun, 12)}\n")
    for name, value in res.named(res.x).items():
        out.append(f"    {name} = {fmt.vector(value)}\n")
    out.append(" * Found with\n", style="bold")
    out.append(f"    Algorithm:  {res.method}\n    Objective:  {short(res.objective)}\n")
    out.append(f"    Start:      {fmt.point(res.named(res.x0))}\n")
    out.append(" * Convergence measures\n", style="bold")
    out.append(f"    ‖g‖∞ = {_le(res.grad_norm, gtol)}\n")
    last_dx = res.trace[-1]["dx_norm"] if len(res.trace) > 1 else None
    out.append(f"    ‖Δx‖ (last step) = {fmt.sci(last_dx)}\n")
    out.append(" * Work counters\n", style="bold")
    out.append(f"    Seconds run:    {res.time_s:.3g}\n    Iterations:     {res.nit}\n"
               f"    f calls:        {res.nfev}\n    ∇f calls:       {res.njev}\n"
               f"    ∇²f calls:      {res.nhev}\n    ∇²f·v calls:    {res.nhvp}\n"
               f"    CG iterations:  {res.cg_iters}\n")
    out.append(" * Curvature\n", style="bold")
    c = res.curvature
    if c.get("min_eigenvalue") is None:
        out.append("    not checked\n")
    else:
        out.append(f"    λmin = {fmt.num(c['min_eigenvalue'])}, λmax = {fmt.num(c['max_eigenvalue'])}"
                   f" ({c['method']}): ")
        verdict = c["verdict"]
        out.append(verdict, style="green" if verdict in ("minimum", "maximum") else "yellow")
        out.append("\n")
    console.print(out, end="")


def short(text: str, limit: int = 70) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


# -- compare -----------------------------------------------------------------------

# (header, justify, cell) in the order they are dropped when space runs out:
# the last ones go first; method, status and the sparkline always stay.
def _compare_columns(fastest) -> list[tuple[str, str, Callable]]:
    return [
        ("method", "left", lambda r: r.method + (" ★" if r is fastest else "")),
        ("status", "left", lambda r: str(r.status)),
        ("iter", "right", lambda r: str(r.nit)),
        ("final f", "right", lambda r: fmt.num(r.fun, 4)),
        ("‖g‖∞", "right", lambda r: fmt.sci(r.grad_norm, 1)),
        ("time", "right", lambda r: fmt.seconds(r.time_s)),
        ("f/g/H/Hv", "right", fmt.counts),
        ("verdict", "left", lambda r: r.curvature.get("verdict", "") or ""),
    ]


_SPARK_MIN, _SPARK_MAX = 12, 24


def compare_table(console: Console, results: list) -> None:
    """One row per method; the fastest converged method is starred.

    Fits the console's width without cutting a cell: columns are dropped
    from the end of ``_compare_columns`` until the rest and a sparkline of at
    least 12 cells fit (a line says which were left out).  The sparkline is
    log10 ||g||inf over the whole run, resampled to the column, on one scale
    for every method (printed once)."""
    converged = [r for r in results if r.success]
    fastest = min(converged, key=lambda r: r.time_s) if converged else None
    columns = _compare_columns(fastest)
    cells = [[cell(r) for _, _, cell in columns] for r in results]
    widths = [max([len(name)] + [len(row[i]) for row in cells])
              for i, (name, _, _) in enumerate(columns)]
    keep = len(columns)
    while keep > 2 and sum(widths[:keep]) + 2 * keep + _SPARK_MIN > console.width:
        keep -= 1
    spark = max(_SPARK_MIN, min(_SPARK_MAX, console.width - sum(widths[:keep]) - 2 * keep))
    logs = [fmt.log_norms([t["grad_norm"] for t in r.trace]) for r in results]
    lo, hi = fmt.log_range(logs)
    table = Table(box=None, pad_edge=False, padding=(0, 2, 0, 0),
                  title=Text(short(results[0].objective, console.width)) if results else None,
                  title_justify="left")
    for name, justify, _ in columns[:keep]:
        table.add_column(name, justify=justify, no_wrap=True)
    table.add_column("‖g‖∞ trend", no_wrap=True, min_width=spark, max_width=spark)
    for r, row, run in zip(results, cells, logs):
        status = Text(row[1], style=_STATUS_STYLE.get(row[1], "red"))
        table.add_row(row[0], status, *row[2:keep], fmt.sparkline(run, spark, lo, hi))
    console.print(table)
    notes = [f"trend: log₁₀‖g‖∞ from 1e{hi} (█) to 1e{lo} (▁), whole run"]
    if keep < len(columns):
        left = ", ".join(name for name, _, _ in columns[keep:])
        notes.append(f"left out at this width: {left} (--format json has them)")
    if fastest is not None:
        notes.append(f"★ fastest converged: {fastest.method}")
    for note in notes:
        line(console, note)


# -- problems ------------------------------------------------------------------------

def problems_table(console: Console, rows: list[dict]) -> None:
    table = Table()
    for name in ("name", "dim", "start", "f*", "description"):
        table.add_column(name, overflow="fold")
    for r in rows:
        table.add_row(*map(Text, ["@" + r["name"], str(r["dimension"]),
                                  fmt.vector(r["start"], edge=2), fmt.num(r["fmin"]),
                                  r["description"]]))
    console.print(table)


# -- diff ------------------------------------------------------------------------------

def diff_report(console: Console, report: dict[str, Any]) -> None:
    console.print(Text(f"f = {fmt.num(report['value'], 15)}", style="bold"))
    if "gradient" in report:
        line(console, f"∇f = {fmt.point(report['gradient'])}")
    if "hvp" in report:
        line(console, f"H·v = {fmt.point(report['hvp'])}")
    if "derivative" in report:
        d = report["derivative"]
        line(console, f"d^{d['order']}f/d{d['variable']}^{d['order']} = {fmt.num(d['value'], 15)}")
    if "code" in report:
        line(console, "")
        line(console, report["code"].rstrip("\n"))
    if "hessian" in report:
        h = report["hessian"]
        names = report["hessian_labels"]
        if len(names) > 12:
            line(console, f"∇²f: {len(names)}×{len(names)} (use --format json for all entries)")
        table = Table(title="∇²f", show_header=True, title_justify="left")
        table.add_column("")
        for n in names[:12]:
            table.add_column(Text(n), justify="right")
        for n, row in list(zip(names, h))[:12]:
            table.add_row(Text(n), *[fmt.num(v, 8) for v in row[:12]])
        console.print(table)


# -- batch -------------------------------------------------------------------------------

def batch_summary(console: Console, summary: dict) -> None:
    """Per-method counts and medians, then the performance profile."""
    table = Table(title=Text(f"{summary['runs']} runs on {summary['problems']} "
                             "problem-starts"), title_justify="left")
    for name in ("method", "solved", "failed", "errors", "median iter", "median evals"):
        table.add_column(name, justify="left" if name == "method" else "right")
    for m in summary["methods"]:
        table.add_row(m["method"], str(m["solved"]), str(m["failed"]), str(m["errors"]),
                      fmt.num(m["median_nit"]), fmt.num(m["median_evaluations"]))
    console.print(table)
    profile = Table(title=Text("performance profile: share solved within τ × the best "
                               "method's evaluations"), title_justify="left")
    profile.add_column("method")
    taus = list(summary["methods"][0]["profile"]) if summary["methods"] else []
    for tau in taus:
        profile.add_column(f"τ={tau}", justify="right")
    for m in summary["methods"]:
        profile.add_row(m["method"], *[f"{m['profile'][t]:.2f}" for t in taus])
    console.print(profile)


class BatchProgress:
    """Progress of a batch on a terminal: a live bar (jobs done/total,
    failures, elapsed, ETA); with NO_COLOR, which forbids every escape code
    (the bar needs cursor movement), a plain line at most once a second
    instead.  Nothing when stderr is not a terminal or when disabled."""

    def __init__(self, console: Console, total: int, enabled: bool = True) -> None:
        import time

        self.failures = 0
        self.done = 0
        self.total = total
        self.console = console
        self.progress = None
        self.plain = False
        self._clock = time.monotonic
        self._shown = 0.0
        if not enabled or not console.is_terminal:
            return
        if os.environ.get("NO_COLOR"):
            self.plain = True
            return
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        self.progress = Progress(TextColumn("batch"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[failures]} failed"),
                                 TimeElapsedColumn(), TextColumn("ETA"),
                                 TimeRemainingColumn(), console=console)
        self.task = self.progress.add_task("batch", total=total, failures=0)
        self.progress.start()

    def advance(self, record: dict) -> None:
        self.done += 1
        if not record.get("success"):
            self.failures += 1
        if self.progress is not None:
            self.progress.update(self.task, advance=1, failures=self.failures)
        elif self.plain and (self._clock() - self._shown >= 1.0 or self.done == self.total):
            self._shown = self._clock()
            line(self.console, f"batch {self.done}/{self.total} done, {self.failures} failed")

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
