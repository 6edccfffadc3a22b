"""Batch runs: TOML specs -> jobs -> worker processes -> JSON lines."""
from .executor import Executor, LocalExecutor
from .runner import ResultsFile, read_results, run_batch, job_runner
from .spec import Job, SpecError, load
from .summary import summarize

__all__ = ["Executor", "LocalExecutor", "ResultsFile", "read_results", "run_batch",
           "job_runner", "Job", "SpecError", "load", "summarize"]
