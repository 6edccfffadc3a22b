"""Frozen configuration records that cost nothing to define.

``@dataclass(frozen=True)`` writes six methods as source and ``exec``s
them for every class: 0.3-1 ms a class, ~10 ms for the solver layer's 14
at every command's start (the headline command's wall time is ~1.3x a bare
``import numpy, click, rich``).  A subclass of ``Frozen`` keeps what the
API promises of them, ``dataclasses.fields`` and ``replace``, equality and hashing by
fields, the dataclass repr and ``FrozenInstanceError`` on assignment, with
the methods written once, in ``Frozen``.
"""
from __future__ import annotations

import dataclasses
import inspect
from typing import Any


class _Factory:
    """A default made per instance, shown as dataclasses show it."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


class Frozen:
    """Base of frozen configuration records.  Each subclass is made a
    dataclass (fields, defaults and ``__post_init__`` declared as for
    ``@dataclass(frozen=True)``) that keeps these methods: ``__init__`` by
    field order and name, defaults and factories, then ``__post_init__``;
    equal and hashed by the fields that compare; no assignment after
    ``__init__``; and the signature a dataclass's ``__init__`` would show
    (``help``, editors)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclasses.dataclass(init=False, repr=False, eq=False)(cls)   # in place
        cls.__signature__ = inspect.Signature([
            inspect.Parameter(f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                              annotation=f.type,
                              default=_FACTORY if f.default_factory is not dataclasses.MISSING
                              else f.default if f.default is not dataclasses.MISSING
                              else inspect.Parameter.empty)
            for f in dataclasses.fields(cls)])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        fields = dataclasses.fields(self)
        name = type(self).__name__
        if len(args) > len(fields):
            raise TypeError(f"{name}() takes {len(fields)} positional arguments "
                            f"but {len(args)} were given")
        values = dict(zip((f.name for f in fields), args))
        for key, value in kwargs.items():
            if key in values:
                raise TypeError(f"{name}() got multiple values for argument {key!r}")
            values[key] = value
        unknown = set(values) - {f.name for f in fields}
        if unknown:
            raise TypeError(f"{name}() got an unexpected keyword argument {sorted(unknown)[0]!r}")
        for f in fields:
            if f.name in values:
                value = values[f.name]
            elif f.default is not dataclasses.MISSING:
                value = f.default
            elif f.default_factory is not dataclasses.MISSING:
                value = f.default_factory()
            else:
                raise TypeError(f"{name}() missing required argument: {f.name!r}")
            object.__setattr__(self, f.name, value)
        post_init = getattr(self, "__post_init__", None)
        if post_init is not None:
            post_init()

    def _compared(self) -> tuple:
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self) if f.compare)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._compared() == other._compared()

    def __hash__(self) -> int:
        return hash(self._compared())

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}"
                          for f in dataclasses.fields(self) if f.repr)
        return f"{type(self).__qualname__}({shown})"

    def __setattr__(self, name: str, value: Any) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
