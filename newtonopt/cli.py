"""The ``newtonopt`` command line.

Commands stay thin: parse options, call the library, hand the result to
``newtonopt.render``.  Nothing heavy is imported at module level, so
``newtonopt --help`` and ``newtonopt problems`` load no solver code, and
the thread settings below are in place before numpy is first imported.
"""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Callable, Iterator

import click

from newtonopt import __version__
from newtonopt.cli_types import ObjectiveCommand, Seconds, complete_objective
from newtonopt.methods import COMPARE_DEFAULT, METHODS

_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
_FORMATS = click.Choice(["table", "json", "csv"])


class UserError(Exception):
    """Bad input found after option parsing: message to stderr, exit 2."""


# -- option helpers ----------------------------------------------------------------

def _parse_dims(ctx, param, values) -> dict[str, int]:
    dims = {}
    for item in values:
        name, eq, size = item.partition("=")
        if not eq or not name.strip() or not size.strip().isdigit():
            raise click.BadParameter(f"{item!r}: expected NAME=N, like x=1000")
        dims[name.strip()] = int(size)
    return dims


def _parse_vars(ctx, param, value) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


def _parse_data(ctx, param, values) -> list:
    if not values:
        return []
    from newtonopt.expr.data import DataSource
    from newtonopt.expr.errors import ObjectiveError

    try:
        return [DataSource.parse(item) for item in values]
    except ObjectiveError as exc:
        raise click.BadParameter(exc.message) from None


def _common(f: Callable) -> Callable:
    """Options shared by minimize, compare and diff."""
    options = [
        click.option("--dim", "dims", multiple=True, callback=_parse_dims, metavar="NAME=N",
                     help="Make NAME a vector of N elements (repeatable)."),
        click.option("--vars", callback=_parse_vars, metavar="A,B,C",
                     help="Variable order (default: order of first appearance)."),
        click.option("--data", "data", multiple=True, callback=_parse_data,
                     metavar="NAME=FILE[:COL]",
                     help="Bind data: NAME=FILE (a vector, or a matrix of several "
                          "columns), NAME=FILE:COL (one column), or FILE (every column "
                          "by its header name). CSV, TSV, text or .npy (repeatable)."),
        click.option("--format", "fmt", type=_FORMATS, default="table", show_default=True,
                     help="table for people; json or csv for programs (stdout)."),
        click.option("--out", type=click.Path(dir_okay=False),
                     help="Write the output to FILE (atomically) instead of stdout."),
        click.option("--quiet", "-q", is_flag=True, help="Print only the result."),
        click.option("--debug", is_flag=True, help="Show tracebacks of internal errors."),
    ]
    return _apply(options, f)


def _apply(options: list[Callable], f: Callable) -> Callable:
    """Decorate f with click options, listed in the order --help shows them."""
    for option in reversed(options):
        f = option(f)
    return f


def _run_options(f: Callable) -> Callable:
    """Options of commands that run solvers."""
    options = [
        click.option("--x0", help="Start: x=2,y=-1 | 2,-1 | x=0.5 | x=[1,2,3]."),
        click.option("--seed", type=int, default=0, show_default=True,
                     help="Seed of the random start of a typed objective."),
        click.option("--gtol", type=click.FloatRange(min=0), default=1e-8, show_default=True,
                     help="Converged when the gradient's inf-norm is at most this."),
        click.option("--maxiter", type=click.IntRange(min=0), default=1000, show_default=True),
        click.option("--maximize", is_flag=True, help="Maximize instead."),
        click.option("--every", type=click.IntRange(min=1), default=1,
                     help="Show every N-th iteration (and the last)."),
        click.option("--lr", type=click.FloatRange(min=0, min_open=True),
                     help="gd: fixed step instead of a line search."),
        click.option("--memory", type=click.IntRange(min=1), default=10, show_default=True,
                     help="lbfgs: pairs kept."),
        click.option("--radius", type=click.FloatRange(min=0, max=1000, min_open=True),
                     default=1.0, show_default=True,
                     help="trust-ncg, trust-exact: the first trust radius."),
        _plot_option("Also draw convergence (‖g‖∞, f) to FILE (.png, .svg, .pdf)."),
    ]
    return _common(_apply(options, f))


def _plot_option(text: str) -> Callable:
    return click.option("--plot", metavar="FILE", type=click.Path(dir_okay=False),
                        help=text + " Needs newtonopt[plot].")


def _check_plot(path: str | None) -> None:
    """Before any work: a known format, matplotlib there, FILE writable."""
    if path is None:
        return
    from newtonopt.render.plots import PlotError, check

    try:
        check(path)
    except PlotError as exc:
        raise UserError(str(exc)) from None
    _check_output(path)


@contextlib.contextmanager
def _user_errors(debug: bool) -> Iterator[None]:
    """Bad input -> the compiler-style message and exit 2; anything else ->
    one line (the traceback with --debug) and exit 1; Ctrl-C -> 130."""
    from newtonopt.expr.errors import ObjectiveError
    from newtonopt.outfile import OutputError

    try:
        yield
    except ObjectiveError as exc:
        click.echo(exc.render(), err=True)
        sys.exit(2)
    except (UserError, OutputError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except BrokenPipeError:
        _stdout_gone()
        click.echo("error: the output pipe was closed before everything was written", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except (click.exceptions.Exit, click.ClickException, SystemExit):
        raise
    except Exception as exc:  # noqa: BLE001 - the one place that reports the unexpected
        if debug:
            raise
        click.echo(f"internal error: {type(exc).__name__}: {exc} "
                   "(run again with --debug for the traceback)", err=True)
        sys.exit(1)


def _write(text: str, out: str | None) -> None:
    """stdout, or FILE by ``newtonopt.outfile``'s policy (atomic for a
    regular file, written through for a device or pipe)."""
    if out is None:
        click.echo(text, nl=not text.endswith("\n"))
        sys.stdout.flush()
        return
    from newtonopt.outfile import write_text

    write_text(out, text)


def _check_output(out: str | None) -> None:
    """Before any work: --out must be writable, or stdout must be open."""
    if out is not None:
        from newtonopt.outfile import check_writable

        check_writable(out)
    elif sys.stdout is None:
        raise UserError("standard output is closed: give --out FILE")


def _stdout_gone() -> None:
    """After a broken pipe: point stdout at /dev/null so the exit flush is quiet."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _prepare(objective: str, methods: list[str], opts: dict):
    """Parse, check every method fits this size, then build the start (in
    that order: a start of 10^8 values is not made for a refused run)."""
    from newtonopt.solvers.api import check_method, start_point

    _check_output(opts["out"])
    _check_plot(opts["plot"])
    obj = _objective(objective, opts)
    for method in methods:
        try:
            check_method(method, obj.size, obj.vector_ops, opts["memory"])
        except ValueError as exc:
            raise UserError(str(exc)) from None
    return obj, start_point(obj, opts["x0"], opts["seed"])


def _objective(objective: str, opts: dict):
    """The parsed objective, with its --data files loaded."""
    from newtonopt.solvers.api import as_objective

    data, optional = {}, set()
    if opts["data"]:      # (the loader's module is ~1 ms of start-up)
        from newtonopt.expr.data import load_all

        data, optional = load_all(opts["data"])
    return as_objective(objective, opts["dims"], opts["vars"], data, optional)


def _solve(obj, x, method: str, opts: dict, callback=None, keep_trace: bool = True):
    from newtonopt.solvers import minimize

    res = minimize(obj, x, method=method, gtol=opts["gtol"], maxiter=opts["maxiter"],
                   maximize=opts["maximize"], lr=opts["lr"], memory=opts["memory"],
                   radius=opts["radius"],
                   callback=callback, keep_trace=keep_trace)
    if opts["debug"] and res.compile_note:
        click.echo(f"{method}: derivatives {res.compile_note}", err=True)
    return res


def _start_text(obj, x, x0: str | None, seed: int) -> str:
    from newtonopt.render import fmt

    origin = ("given" if x0 else "standard start" if obj.problem is not None
              else f"random, --seed {seed}")
    return f"{fmt.point(obj.unpack(x))} ({origin})"


def _data_shapes(obj) -> dict[str, tuple]:
    return {name: value.shape for name, value in getattr(obj, "data", {}).items()}


# -- commands ----------------------------------------------------------------------------

@click.group(context_settings={"help_option_names": ["-h", "--help"],
                               "max_content_width": 100})
@click.version_option(__version__, prog_name="newtonopt")
@click.option("--threads", type=click.IntRange(min=1),
              help="BLAS/OpenMP threads (default 1, or what the environment says).")
def cli(threads: int | None) -> None:
    """Minimize a symbolic objective with exact derivatives.

    \b
      newtonopt minimize "x**4 - 2*x**2" --method newton
      newtonopt compare "(1-x)^2 + 100*(y-x^2)^2" --x0 x=-1.2,y=1
      newtonopt diff "sin(x)*y" --at x=1,y=2 --hessian
      newtonopt problems
    """
    for var in _THREAD_VARS:
        if threads is not None:
            os.environ[var] = str(threads)
        else:
            os.environ.setdefault(var, "1")


@cli.command(cls=ObjectiveCommand)
@click.argument("objective", shell_complete=complete_objective)
@click.option("--method", "-m", type=click.Choice(list(METHODS)), default="bfgs",
              show_default=True)
@_run_options
def minimize(objective: str, method: str, **opts: Any) -> None:
    """Minimize OBJECTIVE: a live table of iterations, then a summary.

    OBJECTIVE is an expression like "x**4 - 2*x**2" or a built-in problem
    like @rosenbrock (see `newtonopt problems`).
    """
    with _user_errors(opts["debug"]):
        _keep_freed_memory()
        obj, x = _prepare(objective, [method], opts)
        fmt_, quiet = opts["fmt"], opts["quiet"]
        if quiet and fmt_ == "table":
            res = _solve(obj, x, method, opts, keep_trace=opts["plot"] is not None)
            from newtonopt.render.fmt import quiet_line
            _write(quiet_line(res), opts["out"])
        else:
            res = _minimize_shown(obj, x, method, opts)
        if opts["plot"]:
            from newtonopt.render.plots import convergence

            known = obj.problem.fmin if obj.problem is not None and not opts["maximize"] else None
            convergence(res, opts["plot"], known)
        sys.exit(_exit_code(res))


def _minimize_shown(obj, x, method: str, opts: dict):
    from newtonopt.render import data, tables

    console, show = _talk(opts)
    stream = None
    if show:
        tables.header(console, obj.text, method, _start_text(obj, x, opts["x0"], opts["seed"]),
                      _data_shapes(obj))
        label = "radius" if method == "trust-ncg" else "step"
        stream = tables.TraceStream(console, opts["every"], label)
    res = _solve(obj, x, method, opts, callback=stream)
    if stream is not None:
        stream.finish()
    if opts["fmt"] == "json":
        _write(data.dumps(data.result_dict(res)), opts["out"])
    elif opts["fmt"] == "csv":
        _write(data.trace_csv(res), opts["out"])
    elif opts["out"]:
        _write(tables.plain_text(lambda c: tables.summary(c, res, opts["gtol"])), opts["out"])
    else:
        console.print()
        tables.summary(console, res, opts["gtol"])
    return res


def _talk(opts: dict):
    """Where progress goes, and whether to show it: stdout for tables; with
    JSON/CSV on stdout, stderr and only when stderr is a terminal."""
    from newtonopt.render.tables import make_console

    data_out = opts["fmt"] != "table"
    console = make_console(stderr=data_out)
    return console, not opts["quiet"] and (not data_out or console.is_terminal)


def _exit_code(res) -> int:
    from newtonopt.solvers import Status

    if res.status is Status.INTERRUPTED:
        return 130
    return 0 if res.success else 1


def _keep_freed_memory() -> None:
    from newtonopt.autodiff.allocator import keep_freed_memory

    keep_freed_memory()


@cli.command(cls=ObjectiveCommand)
@click.argument("objective", shell_complete=complete_objective)
@click.option("--methods", default=",".join(COMPARE_DEFAULT), show_default=True,
              help="Comma-separated methods, or 'all'.")
@_run_options
def compare(objective: str, methods: str, **opts: Any) -> None:
    """Run several methods from the same start; one summary row each."""
    names = list(METHODS) if methods.strip() == "all" else [m.strip() for m in methods.split(",")]
    unknown = [m for m in names if m not in METHODS]
    if unknown or not names:
        raise click.BadParameter(f"unknown method(s) {', '.join(unknown) or '(none)'}; "
                                 f"choose from {', '.join(METHODS)} or all", param_hint="--methods")
    with _user_errors(opts["debug"]):
        _keep_freed_memory()
        from newtonopt.render import data, tables

        obj, x = _prepare(objective, names, opts)
        console, chatty = _talk(opts)
        if chatty:
            tables.header(console, obj.text, ", ".join(names),
                          _start_text(obj, x, opts["x0"], opts["seed"]), _data_shapes(obj))
        results, crashed = [], False
        width = max(map(len, names))
        for method in names:
            try:
                res = _solve(obj, x, method, opts)
            except UserError:
                raise
            except Exception as exc:  # noqa: BLE001 - one crashed method does not stop the rest
                if opts["debug"]:
                    raise
                click.echo(f"{method}: internal error: {type(exc).__name__}: {exc}", err=True)
                crashed = True
                continue
            results.append(res)
            if chatty:
                tables.line(console, f"  {method:<{width}} {res.status}  ({res.nit} iterations, "
                                     f"{res.time_s:.3g}s)")
            if _exit_code(res) == 130:
                break  # Ctrl-C stops the comparison, not just this method
        if opts["fmt"] == "json":
            _write(data.dumps([data.result_dict(r) for r in results]), opts["out"])
        elif opts["fmt"] == "csv":
            _write(data.summary_csv(data.summary_row(r) for r in results), opts["out"])
        elif opts["out"]:
            _write(tables.plain_text(lambda c: tables.compare_table(c, results)), opts["out"])
        elif results:
            tables.compare_table(console, results)
        if opts["plot"] and results:
            from newtonopt.render.plots import comparison

            comparison(results, opts["plot"])
        if results and _exit_code(results[-1]) == 130:
            sys.exit(130)
        sys.exit(1 if crashed else 0)


@cli.command(cls=ObjectiveCommand)
@click.argument("objective", shell_complete=complete_objective)
@click.option("--at", "at", required=True, help="The point: x=1,y=2 (as --x0).")
@click.option("--hessian", "with_hessian", is_flag=True, help="Also the dense Hessian.")
@click.option("--hvp", "v", metavar="V", help="Also H v for the direction V (a point).")
@click.option("--order", type=click.IntRange(min=0),
              help="The ORDER-th derivative of a one-variable objective.")
@click.option("--code", is_flag=True,
              help="Print the generated code of f, its gradient and its H·v (the chain "
                   "rule, made visible).")
@click.option("--graph", type=click.Path(dir_okay=False), metavar="FILE.dot",
              help="Write the graph of the ORDER-th derivative (default 1: the gradient) "
                   "as Graphviz DOT.")
@_common
def diff(objective: str, at: str, with_hessian: bool, v: str | None, order: int | None,
         code: bool, graph: str | None, **opts: Any) -> None:
    """Value and derivatives of OBJECTIVE at a point, by autodiff."""
    if opts["fmt"] == "csv":
        raise click.BadParameter("diff writes table or json", param_hint="--format")
    with _user_errors(opts["debug"]):
        from newtonopt.derivatives import derivative_report
        from newtonopt.render import data, tables

        _check_output(opts["out"])
        if graph is not None:
            _check_output(graph)
        obj = _objective(objective, opts)
        report = derivative_report(obj, at, with_hessian, v, order)
        if graph is not None:
            from newtonopt.derivatives import derivative_dot

            _write(derivative_dot(obj, at, 1 if order is None else order), graph)
        if code:
            from newtonopt.derivatives import derivative_code

            report["code"] = derivative_code(obj, at)
        if opts["fmt"] == "json":
            _write(data.dumps(report), opts["out"])
        elif opts["out"]:
            _write(tables.plain_text(lambda c: tables.diff_report(c, report)), opts["out"])
        else:
            tables.diff_report(tables.make_console(), report)


@cli.command()
@click.option("--format", "fmt", type=_FORMATS, default="table", show_default=True)
def problems(fmt: str) -> None:
    """List the built-in problems (use them as @name)."""
    from newtonopt.problems import PROBLEMS
    from newtonopt.render import data

    rows = []
    for p in PROBLEMS.values():
        n = p.default_n or 2
        rows.append({"name": p.name, "dimension": n, "start": p.start(n).tolist(),
                     "fmin": p.fmin, "minimizer": p.minimizers(n)[0].tolist(),
                     "description": p.description})
    if fmt == "json":
        click.echo(data.dumps(rows))
    elif fmt == "csv":
        import csv
        import io

        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["name", "dimension", "fmin", "description"])
        for r in rows:
            writer.writerow([r["name"], r["dimension"], r["fmin"], r["description"]])
        click.echo(buf.getvalue(), nl=False)
    else:
        from newtonopt.render.tables import make_console, problems_table

        problems_table(make_console(), rows)


@cli.command()
@click.argument("spec", required=False, type=click.Path(dir_okay=False))
@click.option("--jobs", "-j", "workers", type=click.IntRange(min=1), default=1,
              show_default=True, help="Worker processes (each uses one BLAS thread).")
@click.option("--out", type=click.Path(dir_okay=False),
              help="Append results to FILE (JSON lines) instead of stdout; locked while running.")
@click.option("--resume", is_flag=True, help="Skip jobs already in --out; repair a torn line.")
@click.option("--timeout", type=Seconds(),
              help="Seconds a job may run before it is stopped.")
@click.option("--trace", is_flag=True, help="Keep each run's iteration trace.")
@click.option("--format", "fmt", type=_FORMATS, default="table", show_default=True,
              help="The closing summary: table, json, or csv (one row per run).")
@click.option("--quiet", "-q", is_flag=True, help="No progress and no summary: only the lines.")
@click.option("--summarize", "results", type=click.Path(dir_okay=False),
              help="Summarize an existing results file; run nothing.")
@_plot_option("Also draw the performance profiles (evaluations, iterations) to FILE.")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local",
              show_default=True, help="local: forked workers here; dask: a Dask cluster "
                                      "(needs newtonopt[dask]).")
@click.option("--scheduler", metavar="ADDRESS",
              help="dask: the scheduler, e.g. tcp://host:8786 (default: DASK_SCHEDULER_ADDRESS,"
                   " else a LocalCluster of --jobs workers).")
@click.option("--scheduler-file", type=click.Path(dir_okay=False),
              help="dask: the scheduler's address from its --scheduler-file.")
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
def batch(spec: str | None, workers: int, out: str | None, resume: bool,
          timeout: float | None, trace: bool, fmt: str, quiet: bool, results: str | None,
          plot: str | None, executor: str, scheduler: str | None, scheduler_file: str | None,
          debug: bool) -> None:
    """Run every (problem, start, method) job of SPEC.toml.

    Each finished job is one JSON line (flushed and fsynced) in --out, or on
    stdout; a summary with a performance profile closes the run.
    """
    for var in _THREAD_VARS:      # workers never oversubscribe the cores
        os.environ[var] = "1"
    with _user_errors(debug):
        _keep_freed_memory()      # inherited by the forked workers
        from newtonopt import batch as b

        _check_plot(plot)
        if results is not None:
            try:
                records = b.read_results(results)
            except b.ResultsError as exc:
                raise UserError(str(exc)) from None
            _batch_summary(records, fmt, to_stdout=True)
            _profile_plot(records, plot)
            return
        if spec is None:
            raise click.UsageError("give a SPEC.toml, or --summarize FILE")
        if resume and out is None:
            raise click.UsageError("--resume needs --out FILE")
        if executor != "dask" and (scheduler or scheduler_file):
            raise click.UsageError("--scheduler and --scheduler-file go with --executor dask")
        _check_output(out)
        try:
            loaded = b.load(spec)
            sink = b.ResultsFile(out, resume) if out else None
        except (b.SpecError, b.ResultsError) as exc:
            raise UserError(str(exc)) from None
        try:
            runner = _executor(executor, b.job_runner(trace), timeout, scheduler,
                               scheduler_file, workers)
            _run_batch(loaded, sink, workers, runner, fmt, quiet, plot)
        finally:
            if sink is not None:
                sink.close()


def _executor(kind: str, run, timeout: float | None, scheduler: str | None,
              scheduler_file: str | None, workers: int):
    from newtonopt import batch as b

    if kind == "local":
        return b.LocalExecutor(run, timeout, prepare=b.precompile_job)
    from newtonopt.batch.dask_executor import DaskExecutor

    try:
        return DaskExecutor(run, timeout, scheduler, scheduler_file, workers)
    except b.ExecutorError as exc:
        raise UserError(str(exc)) from None


def _profile_plot(records: list[dict], path: str | None) -> None:
    if path is None or not records:
        return
    from newtonopt.batch.summary import iterations, performance_ratios, problem_count
    from newtonopt.render.plots import profile

    profile({"evaluations": performance_ratios(records),
             "iterations": performance_ratios(records, iterations)},
            problem_count(records), path)


def _run_batch(spec, sink, workers: int, executor, fmt: str, quiet: bool,
               plot: str | None) -> None:
    from newtonopt import batch as b
    from newtonopt.render import data, tables

    done = sink.done if sink else set()
    todo = (job for job in spec.jobs() if job.job_id not in done)
    total = spec.count - len(done)
    progress = tables.BatchProgress(tables.make_console(stderr=True), total, enabled=not quiet)
    fresh: list[dict] = []                 # this run's records, slim, when not in a file

    def on_result(record: dict) -> None:
        if sink is not None:
            sink.write(record)
        else:
            click.echo(data.dumps(record))
            sys.stdout.flush()
            fresh.append(b.slim(record))
        progress.advance(record)

    failure = None
    try:
        interrupted = b.run_batch(todo, executor, workers, on_result)
    except (b.ResultsError, b.ExecutorError) as exc:
        interrupted, failure = False, exc
    finally:
        progress.stop()
    records = sink.records if sink is not None else fresh
    recorded = sink.written if sink is not None else len(fresh)
    if not quiet:
        _batch_summary(records, fmt, to_stdout=sink is not None)
    _profile_plot(records, plot)
    if failure is not None:
        hint = "; run again with --resume to continue" if sink and sink.resumable else ""
        click.echo(f"error: {failure}; {recorded} of {total} jobs are recorded{hint}", err=True)
        sys.exit(1)
    if interrupted:
        click.echo(f"interrupted: {recorded} of {total} jobs finished and recorded", err=True)
        sys.exit(130)
    new = records[len(records) - recorded:]
    sys.exit(1 if any(r.get("status") in ("error", "timeout") for r in new) else 0)


def _batch_summary(records: list[dict], fmt: str, to_stdout: bool) -> None:
    from newtonopt.batch import summarize
    from newtonopt.render import data, tables

    if fmt == "json":
        click.echo(data.dumps(summarize(records)), err=not to_stdout)
    elif fmt == "csv":
        click.echo(data.summary_csv(records), err=not to_stdout, nl=False)
    elif records:
        tables.batch_summary(tables.make_console(stderr=not to_stdout), summarize(records))


def main() -> None:
    """The console script: signals handled at one point (``interrupts``),
    ASCII spellings on streams that cannot encode our symbols, and exit
    code 130 whenever Ctrl-C or SIGTERM arrived, wherever it landed."""
    from newtonopt import interrupts
    from newtonopt.render.ascii import protect

    interrupts.install()
    protect(sys.stdout)
    protect(sys.stderr)
    try:
        cli(prog_name="newtonopt")
        code = 0
    except SystemExit as exc:
        code = exc.code
    except KeyboardInterrupt:
        code = 130
    finally:
        interrupts.settle()
    if interrupts.requested() and code != 130:
        click.echo("interrupted", err=True)
        code = 130
    sys.exit(code)
