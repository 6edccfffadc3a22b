"""``import newtonopt.functions as F`` as ``dezero.functions``."""
from newtonopt.autodiff.functions import *  # noqa: F401,F403
from newtonopt.autodiff.functions import __all__  # noqa: F401
