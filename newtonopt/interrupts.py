"""Ctrl-C and SIGTERM, handled at one point.

The command line calls ``install()`` once.  From then on SIGINT and SIGTERM
both record that a stop was asked for and raise ``KeyboardInterrupt``, so
every ``finally`` runs (temporary files are removed) and the command exits
130.  Code that must not be cut in the middle of a step (a batch appending
a result line) runs inside ``deferred()``: there a signal only sets the
flag, which that code polls with ``requested()`` between steps.  After the
command has finished, ``settle()`` keeps any late signal from raising during
interpreter shutdown, and the exit code still says 130.
"""
from __future__ import annotations

import contextlib
import signal
from typing import Iterator

_requested = False
_deferred = 0


def _handler(signum, frame) -> None:
    global _requested
    _requested = True
    if not _deferred:
        raise KeyboardInterrupt


def install() -> None:
    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)


def requested() -> bool:
    """Whether Ctrl-C or SIGTERM has arrived since ``install()``."""
    return _requested


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Inside, a signal only sets the flag (poll ``requested()``)."""
    global _deferred
    _deferred += 1
    try:
        yield
    finally:
        _deferred -= 1


def settle() -> None:
    """From now on signals only set the flag (the command is exiting)."""
    global _deferred
    _deferred += 1
