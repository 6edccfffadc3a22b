"""Ctrl-C and SIGTERM, handled at one point.

The command line calls ``install()`` once.  From then on SIGINT and SIGTERM
both record that a stop was asked for and raise ``KeyboardInterrupt``, so
every ``finally`` runs (temporary files are removed) and the command exits
130.  Code that must not be cut in the middle of a step (a batch appending
a result line) runs inside ``deferred()``: there a signal only sets the
flag, which that code polls with ``requested()`` between steps.  After the
command has finished, ``settle()`` blocks both signals: Python restores the
default handlers while it shuts down, and a SIGTERM then would kill the
process with 143; blocked, it stays pending, ``requested()`` sees it, and the
exit code says 130.
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


_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def requested() -> bool:
    """Whether Ctrl-C or SIGTERM has arrived since ``install()`` (or is
    pending, blocked by ``settle()``)."""
    if _requested:
        return True
    return hasattr(signal, "sigpending") and bool(signal.sigpending() & _SIGNALS)


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
    """The command is exiting: from now on signals only set the flag, and
    then are held pending until the process has exited."""
    global _deferred
    _deferred += 1
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
