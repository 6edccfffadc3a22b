"""Optimization methods: one loop; a method is a direction composed with a
search (``method.Method``), the method names presets of it."""
from .api import METHODS, minimize
from .directions import (BFGS, LBFGS, ConjugateGradient, Direction, Newton, NewtonCG,
                         SteepestDescent)
from .linesearch import Backtracking, FixedStep, StrongWolfe
from .method import PRESETS, Method
from .result import Note, Result, Status
from .trust_region import MoreSorensen, Steihaug, TrustRegion

__all__ = ["METHODS", "PRESETS", "minimize", "Method", "Direction", "SteepestDescent",
           "Newton", "BFGS", "LBFGS", "NewtonCG", "ConjugateGradient", "StrongWolfe",
           "Backtracking", "FixedStep", "TrustRegion", "Steihaug", "MoreSorensen", "Note",
           "Result", "Status"]
