"""The double-backprop autodiff engine (imports numpy and nothing else)."""
from .compiled import Compiled, CompileError
from .compiled import compile_function as compile
from .config import Config, no_grad, using_config
from .core import Function, Parameter, Variable, as_array, as_variable
from .functional import (backprop, grad, hessian, hvp, make_hvp, nth_derivative,
                         value_and_grad)

__all__ = [
    "Compiled", "CompileError", "compile", "Config", "no_grad", "using_config", "Function", "Parameter", "Variable",
    "as_array", "as_variable", "backprop", "grad", "hessian", "hvp", "make_hvp", "nth_derivative",
    "value_and_grad",
]
