"""A method is a direction composed with a search (optimistix's descent x
search; Optim.jl's immutable method with the run state apart):

    Method(BFGS(scale_h0=True), StrongWolfe(c2=0.9))
    Method(LBFGS(memory=20), StrongWolfe())
    Method(NewtonCG(), TrustRegion(Steihaug(), radius=1.0))
    Method(Newton(), TrustRegion(MoreSorensen()))

Both parts are frozen dataclasses, so a Method is a value: it can run twice,
or in two threads at once; ``start(n)`` makes the state of one run.  The
method names of the command line are presets of this registry (``PRESETS``);
adding a method is one entry.
"""
from __future__ import annotations

import dataclasses
from typing import Union

from .directions import (BFGS, LBFGS, ConjugateGradient, Direction, Newton, NewtonCG,
                         SteepestDescent)
from .frozen import Frozen
from .globalization import LineSearchRun
from .linesearch import Backtracking, FixedStep, StrongWolfe
from .trust_region import MoreSorensen, Steihaug, TrustRegion, TrustRegionRun

Search = Union[StrongWolfe, Backtracking, FixedStep, TrustRegion]
_SEARCHES = (StrongWolfe, Backtracking, FixedStep, TrustRegion)


class Method(Frozen):
    """``direction`` (where to go) and ``search`` (how far: a line search,
    a fixed step, or a trust region around the direction's model)."""

    direction: Direction
    search: Search = dataclasses.field(default_factory=StrongWolfe)

    def __post_init__(self) -> None:
        if not isinstance(self.direction, Direction):
            raise TypeError(f"a Method's direction is one of SteepestDescent, Newton, BFGS, "
                            f"LBFGS, NewtonCG, ConjugateGradient; got {self.direction!r}")
        if not isinstance(self.search, _SEARCHES):
            raise TypeError(f"a Method's search is StrongWolfe, Backtracking, FixedStep or "
                            f"TrustRegion; got {self.search!r}")
        if isinstance(self.search, TrustRegion):
            name = type(self.direction).__name__
            if not self.direction.second_order:
                raise ValueError(f"a trust region needs a direction with a Hessian model "
                                 f"(Newton or NewtonCG); {name} has none")
            if isinstance(self.search.subproblem, MoreSorensen) and not self.direction.dense:
                raise ValueError("MoreSorensen factorizes the dense Hessian: pair it with "
                                 f"Newton(), not {name}()")

    @property
    def second_order(self) -> bool:
        return self.direction.second_order

    @property
    def dense(self) -> bool:
        """Holds an n x n matrix (a Hessian or a BFGS inverse)."""
        return self.direction.dense

    @property
    def name(self) -> str:
        """The preset's name, or the composition written out (only the
        settings that differ from the defaults)."""
        for key, preset in PRESETS.items():
            if preset == self:
                return key
        return f"{_short(self.direction)}+{_short(self.search)}"

    def start(self, n: int) -> LineSearchRun | TrustRegionRun:
        """The state of one run at n variables."""
        if isinstance(self.search, TrustRegion):
            return TrustRegionRun(self.search)
        return LineSearchRun(self.direction, self.search, n)


def _short(config) -> str:
    fields = [f"{f.name}={getattr(config, f.name)!r}" for f in dataclasses.fields(config)
              if f.init and getattr(config, f.name) != _default(config, f)]
    if isinstance(config, TrustRegion):
        fields = [_short(config.subproblem)] + [f for f in fields if not f.startswith("sub")]
    return f"{type(config).__name__}({', '.join(fields)})"


def _default(config, f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


PRESETS: dict[str, Method] = {
    "gd": Method(SteepestDescent(), Backtracking()),
    "newton": Method(Newton(), StrongWolfe()),
    "bfgs": Method(BFGS(), StrongWolfe()),
    "lbfgs": Method(LBFGS(), StrongWolfe()),
    "cg": Method(ConjugateGradient(), StrongWolfe(c2=0.2)),
    "newton-cg": Method(NewtonCG(), StrongWolfe()),
    "trust-ncg": Method(NewtonCG(), TrustRegion(Steihaug())),
    "trust-exact": Method(Newton(), TrustRegion(MoreSorensen())),
}


def resolve(method: str | Method, lr: float | None = None, memory: int = 10,
            radius: float = 1.0) -> Method:
    """A Method from a preset name and the command line's options (``lr``
    turns gd into fixed steps, ``memory`` sets L-BFGS's pairs, ``radius``
    the first trust radius), or a Method as given."""
    if isinstance(method, Method):
        if lr is not None or memory != 10 or radius != 1.0:
            raise ValueError("lr, memory and radius configure a preset by name; "
                             "a Method carries its own settings")
        return method
    if method not in PRESETS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(PRESETS)}")
    preset = PRESETS[method]
    if lr is not None and method == "gd":
        preset = dataclasses.replace(preset, search=FixedStep(lr))
    if isinstance(preset.direction, LBFGS):
        preset = dataclasses.replace(preset, direction=LBFGS(memory))
    if isinstance(preset.search, TrustRegion):
        preset = dataclasses.replace(preset, search=dataclasses.replace(preset.search,
                                                                        radius=radius))
    return preset
