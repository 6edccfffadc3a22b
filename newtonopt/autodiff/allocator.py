"""Keep freed large blocks in the heap instead of returning them to the OS.

glibc serves blocks above ``M_MMAP_THRESHOLD`` with fresh ``mmap`` pages and
trims the heap top above ``M_TRIM_THRESHOLD``, so at n = 10^6 every array a
graph allocates is page-faulted in anew: measured here, 25 live 8 MB
temporaries cost 30 ms with the defaults and 8 ms with both thresholds
raised.  A recorded graph keeps many such temporaries alive at once, so this
matters more to autodiff than to hand-written numpy.

This is a process-wide setting: the command line turns it on; a library
caller decides for their own process.
"""
from __future__ import annotations

import ctypes

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def keep_freed_memory(limit_bytes: int = 1 << 30) -> bool:
    """Raise glibc's trim and mmap thresholds to ``limit_bytes``.

    Returns False (and changes nothing) where the C library is not glibc.
    """
    try:
        # The process's own symbol table includes the C library's (and
        # asks no subprocess, unlike ctypes.util.find_library).
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return bool(mallopt(_M_TRIM_THRESHOLD, limit_bytes)
                and mallopt(_M_MMAP_THRESHOLD, min(limit_bytes, 1 << 25)))
