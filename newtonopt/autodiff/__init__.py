"""The double-backprop autodiff engine (imports numpy and nothing else).

The compiler (``compile``, ``Compiled``, ``CompileError``) is loaded on
first use (PEP 562): a run too short to compile never pays its import."""
from typing import Any

from .config import Config, no_grad, using_config
from .core import Function, Parameter, Variable, as_array, as_variable
from .functional import (backprop, grad, hessian, hvp, make_hvp, nth_derivative,
                         value_and_grad)

__all__ = [
    "Compiled", "CompileError", "compile", "Config", "no_grad", "using_config", "Function", "Parameter", "Variable",
    "as_array", "as_variable", "backprop", "grad", "hessian", "hvp", "make_hvp", "nth_derivative",
    "value_and_grad",
]

_COMPILER = {"Compiled": "Compiled", "CompileError": "CompileError",
             "compile": "compile_function"}


def __getattr__(name: str) -> Any:
    if name in _COMPILER:
        from . import compiled

        value = getattr(compiled, _COMPILER[name])
        globals()[name] = value
        return value
    raise AttributeError(f"module 'newtonopt.autodiff' has no attribute {name!r}")
