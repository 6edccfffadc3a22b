"""Optimization methods: one loop, composable directions and globalizations."""
from .api import METHODS, minimize
from .result import Note, Result, Status

__all__ = ["METHODS", "minimize", "Note", "Result", "Status"]
