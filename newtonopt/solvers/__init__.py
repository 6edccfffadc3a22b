"""Optimization methods: one loop, composable directions and globalizations."""
from .api import METHODS, minimize
from .result import Result, Status

__all__ = ["METHODS", "minimize", "Result", "Status"]
