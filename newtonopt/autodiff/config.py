"""Context-local configuration: whether operations record a graph.

DeZero keeps this in a mutable class attribute; here each setting is a
``contextvars.ContextVar`` so threads and asyncio tasks each see their own.
"""
from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Iterator

_SETTINGS: dict[str, contextvars.ContextVar] = {
    "enable_backprop": contextvars.ContextVar("enable_backprop", default=True),
    "train": contextvars.ContextVar("train", default=True),
}


class _Config:
    """The settings as attributes: ``Config.enable_backprop``.

    Assigning (``Config.enable_backprop = False``, as DeZero programs do)
    sets the value for the current context from here on; ``using_config``
    and ``no_grad`` set it for a ``with`` block only.
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return _SETTINGS[name].get()
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in _SETTINGS:
            _SETTINGS[name] = contextvars.ContextVar(name)
        _SETTINGS[name].set(value)


Config = _Config()


@contextlib.contextmanager
def using_config(name: str, value: Any) -> Iterator[None]:
    """Set configuration ``name`` to ``value`` inside a ``with`` block."""
    if name not in _SETTINGS:
        _SETTINGS[name] = contextvars.ContextVar(name)
    token = _SETTINGS[name].set(value)
    try:
        yield
    finally:
        _SETTINGS[name].reset(token)


def no_grad() -> contextlib.AbstractContextManager:
    """Evaluate without recording a graph (DeZero's ``no_grad``)."""
    return using_config("enable_backprop", False)


# Read on every operation: bind the getter once.
backprop_enabled = _SETTINGS["enable_backprop"].get
