"""Run a batch's jobs on a Dask cluster (the optional ``[dask]`` extra).

The same ``Executor`` interface as the local one: the runner submits at
most ``--jobs`` jobs at a time (a spec of 10^5 jobs is never 10^5 futures),
waits for whichever finishes first, and writes each record itself.

Each Dask task runs its job through a ``LocalExecutor`` of its own, in a
process forked on the worker: a job that raises, calls ``os._exit`` or is
killed becomes one ``error`` record, a job past ``--timeout`` is killed
there and becomes a ``timeout`` record, and the Dask worker itself never
dies of a job, so Dask never retries one (no job runs twice).  Objective
texts longer than ``_SHIP_ONCE`` characters are scattered to the cluster
once and referenced by every job of their problem.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import os
from typing import Callable, Iterator

from newtonopt.autodiff.allocator import keep_freed_memory

from .executor import ExecutorError, LocalExecutor, failure
from .runner import precompile_job
from .spec import Job

_SHIP_ONCE = 10_000


@contextlib.contextmanager
def _children_allowed() -> Iterator[None]:
    """Dask worker processes are daemonic, and multiprocessing refuses
    children to daemons.  The job's process dies with the worker anyway
    (``PR_SET_PDEATHSIG``), which is all the daemon flag would ensure."""
    config = multiprocessing.current_process()._config
    daemon = config.get("daemon")
    config["daemon"] = False
    try:
        yield
    finally:
        config["daemon"] = daemon


def run_on_worker(run: Callable[[Job], dict], job: Job, timeout: float | None,
                  objective: str | None = None) -> dict:
    """The Dask task: one job in a forked process on the worker."""
    if objective is not None:
        job = dataclasses.replace(job, objective=objective)
    # As the command line does for its own workers: freed blocks are reused
    # instead of mmap'ed and page-faulted anew (half the run time at n = 10^4).
    keep_freed_memory()
    # the worker process lives on between tasks: compiled code made here is
    # inherited by every later job's fork of the same objective
    local = LocalExecutor(run, timeout, prepare=precompile_job)
    with _children_allowed():
        local.submit(job)
    try:
        return local.wait()[1]
    finally:
        local.close()


class DaskExecutor:
    """Jobs as Dask tasks on a scheduler (``address``, ``scheduler_file``, or
    Dask's ``DASK_SCHEDULER_ADDRESS``), else on a ``LocalCluster`` of
    ``workers`` single-threaded worker processes started here."""

    def __init__(self, run: Callable[[Job], dict], timeout: float | None = None,
                 address: str | None = None, scheduler_file: str | None = None,
                 workers: int = 1) -> None:
        try:
            import distributed
        except ImportError:
            raise ExecutorError("--executor dask needs dask and distributed: "
                                "pip install 'newtonopt[dask]'") from None
        self._distributed = distributed
        self._run, self._timeout = run, timeout
        self._cluster = None
        remote = address or scheduler_file or os.environ.get("DASK_SCHEDULER_ADDRESS")
        try:
            if remote:
                self._client = distributed.Client(address=address, scheduler_file=scheduler_file,
                                                  timeout="10s")
            else:
                import dask

                # a worker that dies is not a reason to run its job again
                dask.config.set({"distributed.scheduler.allowed-failures": 0})
                self._cluster = distributed.LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True,
                    dashboard_address=None, silence_logs=50)
                self._client = distributed.Client(self._cluster)
        except (OSError, TimeoutError) as exc:
            raise ExecutorError(f"cannot reach the Dask scheduler {remote}: {exc}") from None
        # distributed logs a lost scheduler as a traceback (its loggers are
        # configured when the client starts); the batch says it in one line
        for name in ("distributed", "distributed.client", "distributed.utils"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        self.where = remote or f"a LocalCluster of {workers} workers"
        self._live: dict = {}      # future -> job
        self._texts: dict = {}     # objective text -> its scattered future

    # Two tasks a worker: the next is on the worker before the last one's
    # record has made the round trip to this process (throughput on the
    # 40-job benchmark: 0.70 of local with one, 0.88 with two).
    queue_depth = 2

    @property
    def running(self) -> int:
        return len(self._live)

    def submit(self, job: Job) -> None:
        shipped, text = job, None
        if len(job.objective) > _SHIP_ONCE:
            if job.objective not in self._texts:
                self._texts[job.objective] = self._client.scatter(job.objective)
            text = self._texts[job.objective]
            shipped = dataclasses.replace(job, objective="")
        future = self._client.submit(run_on_worker, self._run, shipped, self._timeout, text,
                                     key=f"newtonopt-{job.job_id}", pure=False, retries=0)
        self._live[future] = job

    def wait(self, timeout: float | None = None) -> tuple[Job, dict] | None:
        if self._client.status not in ("running", "connecting"):
            raise ExecutorError(f"the Dask scheduler ({self.where}) went away")
        try:
            done, _ = self._distributed.wait(list(self._live), timeout=timeout,
                                             return_when="FIRST_COMPLETED")
        except TimeoutError:
            return None
        except (OSError, self._distributed.client.FuturesCancelledError,
                self._distributed.client.CancelledError):
            raise ExecutorError(f"the Dask scheduler ({self.where}) went away") from None
        future = next(iter(done))
        job = self._live.pop(future)
        if future.status == "finished":
            return job, future.result()
        try:
            error = future.exception()
            why = f"{type(error).__name__}: {error}"
        except Exception as exc:  # noqa: BLE001 - a lost or cancelled task says so itself
            why = f"{type(exc).__name__}: {exc}"
        return job, failure(job, "error", f"the Dask task failed ({why})")

    def close(self) -> None:
        for future in list(self._live):
            future.cancel()
        self._live.clear()
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()
