"""Will a run fit in memory?  Estimated from n and the method before any
work, so a hopeless size is refused in a moment with the numbers, instead of
running for minutes into the OOM killer.

The estimate counts float64 vectors of length n:

* the recorded graph: an objective with k vector-valued operations keeps
  about k vectors for its forward pass, and a recorded gradient graph plus
  one Hessian-vector replay about five times as many: second-order methods
  need that every iteration, and every method once, for the curvature
  verdict at the end;
* the method's own state: a dense n x n matrix for newton (three, with the
  factorization and the modified-Hessian fallback) and bfgs, 2m + 4
  vectors for lbfgs, about ten for the CG-based methods.

It is deliberately rough and errs high (measured at n = 10^6 on
@rosenbrock: 1.3-1.6x the peak RSS); the point is to refuse 10^8
variables at once, not to squeeze the last gigabyte.
"""
from __future__ import annotations

_FLOAT = 8
_GRAPH_FACTOR = 6
_DENSE_STATE_VECTORS = 8
_CG_STATE_VECTORS = 10
_UNKNOWN_GRAPH = 4  # vector operations assumed for a Python callable


def estimate_bytes(method, n: int, vector_ops: int | None) -> int:
    """Rough peak bytes of one run of ``method`` (a ``Method``) at n
    variables."""
    from .directions import LBFGS, Newton, SteepestDescent

    ops = _UNKNOWN_GRAPH if vector_ops is None else max(vector_ops, 1)
    graph = ops * _GRAPH_FACTOR
    direction = method.direction
    if isinstance(direction, LBFGS):
        state = 2 * direction.memory + 4
    elif isinstance(direction, SteepestDescent):
        state = 4
    else:
        state = _DENSE_STATE_VECTORS if method.dense else _CG_STATE_VECTORS
    matrices = (3 if isinstance(direction, Newton) else 1) if method.dense else 0
    return _FLOAT * (n * (graph + state) + matrices * n * n)


def dense_hessian_bytes(n: int) -> int:
    """The n x n Hessian and the two copies its symmetrization makes."""
    return 3 * _FLOAT * n * n


def available_bytes() -> int | None:
    """Memory this process may still use: MemAvailable, capped by a cgroup
    limit when there is one; None where neither can be read."""
    found = []
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    for path, usage in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                        ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                         "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            with open(path, encoding="ascii") as fh:
                limit = fh.read().strip()
            with open(usage, encoding="ascii") as fh:
                used = int(fh.read().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 2 ** 60:
            found.append(int(limit) - used)
    return min(found) if found else None


# Below this the question is not asked: reading /proc and the cgroup files
# costs ~0.1 ms, a visible part of a 5 ms run at n = 2.
_SURELY_FITS = 64 * 2 ** 20


def check_fits(what: str, need: int) -> None:
    """Raise ValueError (a usage error: this size cannot run here) with both
    numbers when ``need`` bytes cannot fit."""
    if need <= _SURELY_FITS:
        return
    have = available_bytes()
    if have is not None and need > have:
        raise ValueError(f"{what} needs about {_gib(need)} of memory; "
                          f"{_gib(have)} is available on this machine")


def _gib(nbytes: int) -> str:
    return f"{nbytes / 2 ** 30:.1f} GiB"

