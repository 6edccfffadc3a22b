"""newtonopt: exact-derivative optimization from the shell and from Python.

Attributes are imported on first use (PEP 562), so ``import newtonopt`` and
``newtonopt --help`` stay cheap.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Variable": "newtonopt.autodiff",
    "Parameter": "newtonopt.autodiff",
    "Function": "newtonopt.autodiff",
    "Config": "newtonopt.autodiff",
    "no_grad": "newtonopt.autodiff",
    "using_config": "newtonopt.autodiff",
    "as_variable": "newtonopt.autodiff",
    "as_array": "newtonopt.autodiff",
    "grad": "newtonopt.autodiff",
    "value_and_grad": "newtonopt.autodiff",
    "hvp": "newtonopt.autodiff",
    "make_hvp": "newtonopt.autodiff",
    "hessian": "newtonopt.autodiff",
    "compile": "newtonopt.autodiff",
    "Compiled": "newtonopt.autodiff",
    "ObjectiveError": "newtonopt.expr",
    "Objective": "newtonopt.expr",
    "parse": "newtonopt.expr",
    "minimize": "newtonopt.solvers",
    "Result": "newtonopt.solvers",
    "Status": "newtonopt.solvers",
    "Note": "newtonopt.solvers",
    **{name: "newtonopt.solvers" for name in (
        "Method", "PRESETS", "SteepestDescent", "Newton", "BFGS", "LBFGS", "NewtonCG",
        "ConjugateGradient", "StrongWolfe", "Backtracking", "FixedStep", "TrustRegion",
        "Steihaug", "MoreSorensen")},
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'newtonopt' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
