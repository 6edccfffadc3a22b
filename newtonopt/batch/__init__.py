"""Batch runs: TOML specs -> jobs -> worker processes -> JSON lines."""
from .executor import Executor, ExecutorError, LocalExecutor
from .runner import (ResultsError, ResultsFile, job_runner, precompile_job, read_results,
                     run_batch)
from .spec import Job, Spec, SpecError, load
from .summary import slim, summarize

__all__ = ["Executor", "ExecutorError", "LocalExecutor", "ResultsError", "ResultsFile", "read_results",
           "run_batch", "job_runner", "precompile_job", "Job", "Spec", "SpecError", "load", "slim", "summarize"]
