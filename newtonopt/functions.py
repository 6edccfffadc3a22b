"""``import newtonopt.functions as F`` as ``dezero.functions``."""
from newtonopt.autodiff.functions import *  # noqa: F401,F403
from newtonopt.autodiff.functions import __all__ as _ops
from newtonopt.autodiff.nn import *  # noqa: F401,F403
from newtonopt.autodiff.nn import __all__ as _nn

__all__ = [*_ops, *_nn]
