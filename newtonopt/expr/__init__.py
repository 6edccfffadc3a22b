"""The safe objective language: text -> Objective, points, errors."""
from .errors import ObjectiveError
from .objective import Objective, parse
from .points import parse_point

__all__ = ["ObjectiveError", "Objective", "parse", "parse_point"]
