"""Run a batch: jobs through an executor, each finished record appended to a
JSON-lines file (flushed and fsynced before it counts as done), resumable.
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
from typing import Callable, Iterable

from .executor import Executor
from .spec import Job, job_objective, start_point


def run_job(job: Job, trace: bool = False) -> dict:
    """One job, start to finish, as its JSON-lines record (in the worker)."""
    import numpy as np

    from newtonopt.render.data import result_dict
    from newtonopt.solvers import minimize

    obj = job_objective(job)
    with np.errstate(all="ignore"):
        res = minimize(obj, start_point(obj, job), method=job.method, keep_trace=trace,
                       **job.options)
    return result_dict(res, trace=trace, problem=job.problem, start=job.start,
                       job_id=job.job_id)


def job_runner(trace: bool) -> Callable[[Job], dict]:
    return functools.partial(run_job, trace=trace)


_PRECOMPILE_LIMIT = 100_000   # characters of text, and variables


def precompile_job(job: Job) -> None:
    """Compile a job's objective in this process, once per objective and
    shapes, before the job's worker is forked: the worker inherits the code
    instead of tracing the objective again (~5-50 ms a job).  Large
    objectives are left to their jobs, where --timeout applies."""
    from newtonopt.expr import ObjectiveError
    from newtonopt.solvers.api import precompile

    if len(job.objective) > _PRECOMPILE_LIMIT:
        return    # tracing it here would hold up the batch (no --timeout applies)
    try:
        obj = job_objective(job)
        if obj.size <= _PRECOMPILE_LIMIT:
            precompile(obj, start_point(obj, job), bool(job.options.get("maximize")))
    except (ObjectiveError, ValueError):
        pass    # the job itself reports it


_LOCK_WAIT = 2.0


class ResultsError(Exception):
    """The results file cannot be used or written: one sentence for the user."""


class ResultsFile:
    """Append-only JSON lines, one per finished job, each flushed and
    fsynced before it counts as done.

    A regular file (or a new path) is locked with ``flock`` for the whole
    run, so two runs on one file cannot both append (the second is told
    which process holds it).  Without ``resume`` the file must not exist
    yet (it is created exclusively).  With ``resume`` the recorded lines
    are streamed (one line in memory at a time); a torn last line (a kill
    in mid-write) is cut off.  A device or pipe (``/dev/stdout``) is
    written through, unlocked, and cannot be resumed.

    Only ``summary.slim`` of each record is kept in memory: the file holds
    the rest.
    """

    def __init__(self, path: str, resume: bool) -> None:
        from newtonopt.outfile import OutputError, is_special

        self.path = path
        self.records: list[dict] = []     # slim: what the summary needs
        self.done: set[str] = set()
        self.written = 0
        try:
            special = is_special(path)
        except OutputError as exc:
            raise ResultsError(str(exc)) from None
        if special:
            if resume:
                raise ResultsError(f"--resume needs a regular file; {path} is a device or pipe")
            self._fd = self._open(path, os.O_WRONLY)
            self._size = None
            return
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | (0 if resume else os.O_EXCL)
        self._fd = self._open(path, flags)
        self._lock()
        if resume:
            self._read_back()
        self._size = os.fstat(self._fd).st_size

    @staticmethod
    def _open(path: str, flags: int) -> int:
        try:
            return os.open(path, flags, 0o666)
        except FileExistsError:
            raise ResultsError(f"{path} exists: add --resume to run only the missing jobs, "
                               "or choose another file") from None
        except OSError as exc:
            raise ResultsError(f"cannot open {path}: {exc.strerror}") from None

    def _lock(self) -> None:
        """Exclusive flock, waiting up to ``_LOCK_WAIT`` s: the workers of a
        batch that was just killed hold the file until they have exited."""
        import fcntl
        import time

        give_up = time.monotonic() + _LOCK_WAIT
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() < give_up:
                    time.sleep(0.05)
                    continue
            os.close(self._fd)
            holder = _lock_holder(self.path)
            who = f"process {holder}" if holder else "another process"
            raise ResultsError(f"{self.path} is in use by {who} (another newtonopt batch?); "
                               "wait for it or choose another file")

    def _read_back(self) -> None:
        from .summary import slim

        hint = "; fix or remove that line, then --resume again"
        complete = 0
        with os.fdopen(os.dup(self._fd), "rb") as fh:
            fh.seek(0)
            for number, record, complete in _whole_lines(fh, self.path, hint):
                if record is None:
                    continue
                if not isinstance(record, dict) or not isinstance(record.get("job_id"), str):
                    raise ResultsError(f"{self.path}:{number}: not a newtonopt result (a JSON "
                                       f"object with a job_id){hint}")
                self.done.add(record["job_id"])
                self.records.append(slim(record))
        os.ftruncate(self._fd, complete)       # cuts a torn last line

    def write(self, record: dict) -> None:
        """Append one record as one line; on failure (disk full) the file is
        cut back to its last whole line and ResultsError says why."""
        from newtonopt.render.data import dumps

        from .summary import slim

        data = (dumps(record) + "\n").encode("utf-8")
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
            if self._size is not None:
                os.fsync(self._fd)
        except OSError as exc:
            if self._size is not None:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, self._size)
            raise ResultsError(f"cannot write {self.path}: {exc.strerror}") from None
        if self._size is not None:
            self._size += len(data)
        self.written += 1
        self.records.append(slim(record))

    @property
    def resumable(self) -> bool:
        """A regular file, which --resume can continue (not a device or pipe)."""
        return self._size is not None

    def close(self) -> None:
        os.close(self._fd)


def _lock_holder(path: str) -> int | None:
    """The pid holding a lock on ``path``, from /proc/locks (Linux)."""
    try:
        st = os.stat(path)
        key = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
        with open("/proc/locks", encoding="ascii") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) > 5 and parts[5] == key and parts[4].isdigit():
                    return int(parts[4])
    except OSError:
        pass
    return None


def _whole_lines(fh, path: str, hint: str = ""):
    """(line number, parsed JSON or None for a blank line, bytes up to the
    end of the line) for each complete line; bytes after the last newline
    are a line torn by a kill and end the walk."""
    whole = 0
    for number, line in enumerate(fh, 1):
        if not line.endswith(b"\n"):
            return
        whole += len(line)
        record = None
        if line.strip():
            try:
                record = json.loads(line)
            except ValueError:
                raise ResultsError(f"{path}:{number}: not a JSON line{hint}") from None
        yield number, record, whole


def read_results(path: str) -> list[dict]:
    """The records of a results file, streamed and slimmed for a summary;
    a torn last line is ignored."""
    from .summary import slim

    records = []
    try:
        with open(path, "rb") as fh:
            for number, record, _ in _whole_lines(fh, path):
                if record is None:
                    continue
                if not isinstance(record, dict):
                    raise ResultsError(f"{path}:{number}: not a JSON object")
                records.append(slim(record))
    except OSError as exc:
        raise ResultsError(f"cannot read {path}: {exc.strerror}") from None
    return records


def run_batch(jobs: Iterable[Job], executor: Executor, workers: int,
              on_result: Callable[[dict], None], poll: float = 0.2) -> bool:
    """Run jobs, at most ``workers`` at once (times the executor's
    ``queue_depth`` in flight), taking them from the iterable
    only as slots free up; ``on_result`` gets each record the moment it
    exists.  Returns whether Ctrl-C or SIGTERM stopped the run: then nothing
    new starts and running jobs are stopped.  Signals are only looked at
    between records (``interrupts.deferred``), so a record is either handed
    on whole or not at all."""
    from newtonopt import interrupts

    pending = iter(jobs)
    more = True
    limit = workers * executor.queue_depth
    with interrupts.deferred():
        try:
            while not interrupts.requested():
                while more and executor.running < limit:
                    job = next(pending, None)
                    if job is None:
                        more = False
                    else:
                        executor.submit(job)
                if not executor.running:
                    return False
                done = executor.wait(poll)
                if done is not None:
                    on_result(done[1])
            return True
        except KeyboardInterrupt:      # a caller that did not install our handlers
            return True
        finally:
            executor.close()
