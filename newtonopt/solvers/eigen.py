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

import numpy as np


def eigh(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ascending eigenvalues, eigenvectors as columns) of symmetric h."""
    try:
        return np.linalg.eigh(h)
    except np.linalg.LinAlgError:
        exponent = _exponent(h)
        lam, q = np.linalg.eigh(np.ldexp(h, -exponent))
        return np.ldexp(lam, exponent), q


def eigvalsh(h: np.ndarray) -> np.ndarray:
    """The ascending eigenvalues of symmetric h."""
    try:
        return np.linalg.eigvalsh(h)
    except np.linalg.LinAlgError:
        exponent = _exponent(h)
        return np.ldexp(np.linalg.eigvalsh(np.ldexp(h, -exponent)), exponent)


def _exponent(h: np.ndarray) -> int:
    """e with 2^(e-1) <= max |h_ij| < 2^e; a matrix that is not finite has
    no scale to take, and numpy's error stands."""
    top = float(np.max(np.abs(h))) if h.size else 0.0
    if not np.isfinite(top):
        raise np.linalg.LinAlgError("the matrix is not finite")
    return int(np.frexp(top)[1])
