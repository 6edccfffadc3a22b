"""Run a batch: jobs through an executor, each finished record appended to a
JSON-lines file (flushed and fsynced before it counts as done), resumable.
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
from collections import deque
from typing import Callable, Iterable, Iterator

from .executor import Executor
from .spec import Job, start_point


def run_job(job: Job, trace: bool = False) -> dict:
    """One job, start to finish, as its JSON-lines record (in the worker)."""
    import numpy as np

    from newtonopt.expr import parse
    from newtonopt.render.data import result_dict
    from newtonopt.solvers import minimize

    obj = parse(job.objective, job.dims, job.vars)
    with np.errstate(all="ignore"):
        res = minimize(obj, start_point(obj, job), method=job.method, **job.options)
    return result_dict(res, trace=trace, problem=job.problem, start=job.start,
                       job_id=job.job_id)


def job_runner(trace: bool) -> Callable[[Job], dict]:
    return functools.partial(run_job, trace=trace)


class ResultsFile:
    """Append-only JSON lines.  On resume a torn last line (a kill in
    mid-write) is cut off, and the recorded job ids are known."""

    def __init__(self, path: str, resume: bool) -> None:
        self.path = path
        self.records: list[dict] = read_results(path, repair=True) if resume else []
        self._fh = open(path, "a" if resume else "w", encoding="utf-8")

    @property
    def done(self) -> set[str]:
        return {r.get("job_id") for r in self.records}

    def write(self, record: dict) -> None:
        from newtonopt.render.data import dumps

        self._fh.write(dumps(record) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()


class BadResults(Exception):
    pass


def read_results(path: str, repair: bool = False) -> list[dict]:
    """The records of a results file.  Each record is written as one line
    with its newline in one call, so bytes after the last newline are a
    line torn by a kill: ignored, and with ``repair`` truncated away."""
    with open(path, "rb") as fh:
        raw = fh.read()
    complete = raw.rfind(b"\n") + 1
    records = []
    for number, line in enumerate(raw[:complete].split(b"\n")[:-1], 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except ValueError:
                raise BadResults(f"{path}:{number}: not a JSON line") from None
    if repair and complete < len(raw):
        with open(path, "r+b") as fh:
            fh.truncate(complete)
    return records


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    def handler(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_batch(jobs: Iterable[Job], executor: Executor, workers: int,
              on_result: Callable[[dict], None]) -> tuple[list[dict], bool]:
    """Run jobs, at most ``workers`` at once; ``on_result`` gets each record
    the moment it exists.  Returns the records and whether Ctrl-C or
    SIGTERM stopped the run (then nothing new starts and running jobs are
    stopped; every finished record has already been handed on)."""
    queue = deque(jobs)
    finished: list[dict] = []
    with _sigterm_as_interrupt():
        try:
            while queue or executor.running:
                while queue and executor.running < workers:
                    executor.submit(queue.popleft())
                _, record = executor.wait()
                on_result(record)
                finished.append(record)
        except KeyboardInterrupt:
            return finished, True
        finally:
            executor.close()
    return finished, False
