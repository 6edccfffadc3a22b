"""Where jobs run: one small interface, so a distributed engine can replace
the local one without touching the runner.

    executor.submit(job)          start a job
    executor.wait(timeout)        (job, record) of a finished job, or None when
                                  none finished within ``timeout`` seconds
    executor.running              how many jobs are in flight
    executor.close()              stop whatever still runs

``LocalExecutor`` runs each job in a forked process of its own: a job that
raises, overruns ``timeout`` or kills its process (segfault, OOM, SIGKILL)
becomes an ``error`` or ``timeout`` record and nothing else is disturbed;
the next job simply gets a fresh process.  Workers die with the batch: each
asks the kernel for SIGKILL when its parent dies (``PR_SET_PDEATHSIG``), so
a ``kill -9`` of the batch alone leaves no orphan computing on.
"""
from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import time
from multiprocessing.connection import wait as wait_any
from typing import Callable, Protocol

from .spec import Job


class ExecutorError(Exception):
    """The executor cannot be used or went away: one sentence for the user."""


class Executor(Protocol):
    running: int
    # jobs in flight per worker: a remote executor keeps the next job queued
    # on the cluster, so a worker never waits a round trip for it
    queue_depth: int

    def submit(self, job: Job) -> None: ...

    def wait(self, timeout: float | None = None) -> tuple[Job, dict] | None: ...

    def close(self) -> None: ...


def failure(job: Job, status: str, message: str) -> dict:
    """The record of a job that produced no result."""
    return {"problem": job.problem, "start": job.start, "method": job.method,
            "job_id": job.job_id, "objective": job.objective, "status": status,
            "success": False, "message": message}


_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux);
    exit now if the parent is already gone (it died before the request)."""
    try:
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError, TypeError):
        pass
    if os.getppid() != parent:
        os._exit(1)


def _child(run: Callable[[Job], dict], job: Job, conn, parent: int) -> None:
    die_with_parent(parent)
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

    queue_depth = 1

    def __init__(self, run: Callable[[Job], dict], timeout: float | None = None,
                 prepare: Callable[[Job], None] | None = None) -> None:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        self._ctx = multiprocessing.get_context(method)
        self._run = run
        self._timeout = timeout
        self._prepare = prepare   # run here before each fork (e.g. warm a cache)
        self._live: dict = {}  # connection -> (job, process, deadline)

    @property
    def running(self) -> int:
        return len(self._live)

    def submit(self, job: Job) -> None:
        if self._prepare is not None:
            self._prepare(job)
        receiver, sender = self._ctx.Pipe(duplex=False)
        proc = self._ctx.Process(target=_child, args=(self._run, job, sender, os.getpid()),
                                 daemon=True)
        proc.start()
        sender.close()
        deadline = time.monotonic() + self._timeout if self._timeout else None
        self._live[receiver] = (job, proc, deadline)

    def wait(self, timeout: float | None = None) -> tuple[Job, dict] | None:
        give_up = None if timeout is None else time.monotonic() + timeout
        while True:
            ends = [d for _, _, d in self._live.values() if d is not None]
            if give_up is not None:
                ends.append(give_up)
            left = max(0.0, min(ends) - time.monotonic()) if ends else None
            ready = wait_any(list(self._live), timeout=left)
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
            if give_up is not None and now >= give_up:
                return None

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
