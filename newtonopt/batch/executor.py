"""Where jobs run: one small interface, so a distributed engine can replace
the local one without touching the runner.

    executor.submit(job)          start a job
    executor.wait() -> (job, rec) block until some job has a result record
    executor.running              how many jobs are in flight
    executor.close()              stop whatever still runs

``LocalExecutor`` runs each job in a forked process of its own: a job that
raises, overruns ``timeout`` or kills its process (segfault, OOM, SIGKILL)
becomes an ``error`` or ``timeout`` record and nothing else is disturbed;
the next job simply gets a fresh process.
"""
from __future__ import annotations

import multiprocessing
import signal
import time
from multiprocessing.connection import wait as wait_any
from typing import Callable, Protocol

from .spec import Job


class Executor(Protocol):
    running: int

    def submit(self, job: Job) -> None: ...

    def wait(self) -> tuple[Job, dict]: ...

    def close(self) -> None: ...


def failure(job: Job, status: str, message: str) -> dict:
    """The record of a job that produced no result."""
    return {"problem": job.problem, "start": job.start, "method": job.method,
            "job_id": job.job_id, "objective": job.objective, "status": status,
            "success": False, "message": message}


def _child(run: Callable[[Job], dict], job: Job, conn) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # the parent decides about Ctrl-C
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        record = run(job)
    except BaseException as exc:  # noqa: BLE001 - every failure becomes a record
        record = failure(job, "error", f"{type(exc).__name__}: {exc}")
    conn.send(record)
    conn.close()


class LocalExecutor:
    """Forked worker processes, one per job, each killed at its deadline."""

    def __init__(self, run: Callable[[Job], dict], timeout: float | None = None) -> None:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        self._ctx = multiprocessing.get_context(method)
        self._run = run
        self._timeout = timeout
        self._live: dict = {}  # connection -> (job, process, deadline)

    @property
    def running(self) -> int:
        return len(self._live)

    def submit(self, job: Job) -> None:
        receiver, sender = self._ctx.Pipe(duplex=False)
        proc = self._ctx.Process(target=_child, args=(self._run, job, sender), daemon=True)
        proc.start()
        sender.close()
        deadline = time.monotonic() + self._timeout if self._timeout else None
        self._live[receiver] = (job, proc, deadline)

    def wait(self) -> tuple[Job, dict]:
        while True:
            deadlines = [d for _, _, d in self._live.values() if d is not None]
            timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            ready = wait_any(list(self._live), timeout=timeout)
            for conn in ready:
                job, proc, _ = self._live.pop(conn)
                try:
                    record = conn.recv()
                except (EOFError, OSError):
                    proc.join()
                    record = failure(job, "error", _death(proc.exitcode))
                conn.close()
                proc.join()
                return job, record
            now = time.monotonic()
            for conn, (job, proc, deadline) in list(self._live.items()):
                if deadline is not None and now >= deadline:
                    del self._live[conn]
                    proc.kill()
                    proc.join()
                    conn.close()
                    return job, failure(job, "timeout",
                                        f"stopped after the --timeout of {self._timeout:g} s")

    def close(self) -> None:
        for conn, (_, proc, _) in list(self._live.items()):
            proc.kill()
            proc.join()
            conn.close()
        self._live.clear()


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"the worker process died ({name})"
    return f"the worker process exited with code {exitcode} and no result"
