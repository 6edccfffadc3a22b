"""Eigenvalues (and eigenvectors) of a symmetric matrix of any finite scale.

numpy's LAPACK driver (``dsyevd``) can fail to converge on a finite matrix
whose entries span hundreds of decades, as a runaway run's Hessian does (1
beside 9e281 on an objective without a minimum: ``LinAlgError: Eigenvalues
did not converge``), where other drivers converge.  The same matrix times
2^-e, its largest entry brought near 1, converges; the scaling is exact, so
the eigenvectors are the matrix's and the eigenvalues scale back by 2^e.
Only a failed call is retried: every other matrix gets numpy's answer to
the bit.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def eigh(h: np.ndarray, vectors: bool = True) -> Any:
    """(ascending eigenvalues, eigenvectors as columns) of symmetric h, or
    with ``vectors=False`` the eigenvalues alone (``eigvalsh``: half the
    cost)."""
    solve = np.linalg.eigh if vectors else np.linalg.eigvalsh
    try:
        return solve(h)
    except np.linalg.LinAlgError:
        top = float(np.max(np.abs(h)))
        if not np.isfinite(top):        # no scale to take: numpy's error stands
            raise
        exponent = int(np.frexp(top)[1])
        found = solve(np.ldexp(h, -exponent))
        if vectors:
            return np.ldexp(found[0], exponent), found[1]
        return np.ldexp(found, exponent)
