"""Cholesky factorizations and solves with the LAPACK numpy ships.

``numpy.linalg`` factors (``cholesky``) but has no triangular solve, so a
solve with the factor costs an LU factorization, O(n^3), where LAPACK's
``dpotrs`` and ``dtrtrs`` take O(n^2): at n = 100, 71 us against 15, and at
n = 1000, 19 ms against 0.8.  numpy's wheels bundle OpenBLAS with its LAPACK
symbols exported (``scipy_dpotrf_64_`` and so on: 64-bit integers, Fortran
order).  They are found through ctypes at the first factorization of an
n >= ``LAPACK_FROM`` matrix and checked once against numpy on a small
system; where they are missing or disagree (another BLAS, another
platform), numpy's own functions serve, as they always do below
``LAPACK_FROM`` (n = 3: an LU solve takes 4.4 us, the ctypes call 5.7).

H is symmetric, so its row-major copy reads as H in Fortran order too;
LAPACK's lower factor L (H = L L', "L" being the faster of the two: 36 us
against 50 at n = 100) then sits in the copy's upper triangle as numpy
sees it, and the other triangle keeps H's entries and is never read.
"""
from __future__ import annotations

from typing import Any

import numpy as np

LAPACK_FROM = 16

_UNSET = object()
_lapack: Any = _UNSET    # the _Lapack found, or None: numpy's functions


class Cholesky:
    """H = L L', from ``cholesky(h)``: solves with H and with L (``factor``
    holds L: numpy's lower triangular array, or LAPACK's layout above)."""

    __slots__ = ("h", "factor", "lapack")

    def __init__(self, h: np.ndarray | None, factor: np.ndarray, lapack: Any) -> None:
        self.h, self.factor, self.lapack = h, factor, lapack

    def solve(self, b: np.ndarray) -> np.ndarray:
        """H^{-1} b (with numpy, an LU solve of H: one O(n^3) instead of two).

        An H singular to working precision can still factor, its last pivot
        a rounding error above zero (the Hessian of norm(x - 1) at n = 3,
        rank 2, gave L_33 = 4e-3 beside 4e5), while LU meets an exact zero
        pivot; then the solve goes through L, as LAPACK's always does."""
        if self.lapack is None:
            try:
                return np.linalg.solve(self.h, b)
            except np.linalg.LinAlgError:
                return np.linalg.solve(self.factor.T, self.solve_lower(b))
        return self.lapack.potrs(self.factor, b)

    def solve_lower(self, b: np.ndarray) -> np.ndarray:
        """L^{-1} b."""
        if self.lapack is None:
            return np.linalg.solve(self.factor, b)
        return self.lapack.trtrs(self.factor, b)


def cholesky(h: np.ndarray, shift: float = 0.0) -> Cholesky | None:
    """The Cholesky factorization of H = h + shift I (h symmetric), or None
    when H is not positive definite (or not finite)."""
    n = h.shape[0]
    lapack = _find() if n >= LAPACK_FROM else None
    a = h
    if shift or lapack is not None:      # a copy: H + shift I, then (LAPACK) its factor
        a = np.array(h, dtype=np.float64, order="C")
        if shift:
            a.flat[::n + 1] += shift
    if lapack is not None:
        return Cholesky(None, a, lapack) if lapack.potrf(a) else None
    try:
        return Cholesky(a, np.linalg.cholesky(a), None)
    except np.linalg.LinAlgError:
        return None


def bundled_openblas() -> list[str]:
    """The OpenBLAS libraries numpy's wheel ships (Linux, then macOS layout)."""
    import glob
    import os

    here = os.path.dirname(np.__file__)
    return sorted(glob.glob(os.path.join(here, os.pardir, "numpy.libs", "*openblas*"))
                  + glob.glob(os.path.join(here, ".dylibs", "*openblas*")))


def _find():
    global _lapack
    if _lapack is _UNSET:
        try:
            _lapack = _Lapack.load()
        except Exception:  # noqa: BLE001 - any trouble loading it: numpy's functions
            _lapack = None
    return _lapack


class _Lapack:
    """dpotrf, dpotrs and dtrtrs of a library numpy bundles, by ctypes."""

    def __init__(self, potrf, potrs, trtrs) -> None:
        import ctypes

        pointer, size = ctypes.c_void_p, ctypes.c_size_t
        text = ctypes.c_char_p
        potrf.argtypes = [text, pointer, pointer, pointer, pointer, size]
        potrs.argtypes = [text, pointer, pointer, pointer, pointer, pointer, pointer,
                          pointer, size]
        trtrs.argtypes = [text, text, text, pointer, pointer, pointer, pointer, pointer,
                          pointer, pointer, size, size, size]
        for fn in (potrf, potrs, trtrs):
            fn.restype = None
        self._potrf, self._potrs, self._trtrs = potrf, potrs, trtrs

    @classmethod
    def load(cls) -> "_Lapack | None":
        import ctypes

        for path in bundled_openblas():
            lib = ctypes.CDLL(path)
            for prefix in ("scipy_", ""):
                names = [f"{prefix}{name}_64_" for name in ("dpotrf", "dpotrs", "dtrtrs")]
                if all(hasattr(lib, name) for name in names):
                    found = cls(*(getattr(lib, name) for name in names))
                    if found._agrees_with_numpy():
                        return found
        return None

    def _agrees_with_numpy(self) -> bool:
        h = np.array([[4.0, 2.0, 0.4], [2.0, 5.0, 1.0], [0.4, 1.0, 3.0]])
        b = np.array([1.0, -2.0, 0.5])
        factor = h.copy()
        return self.potrf(factor) and not self.potrf(np.array([[1.0, 2.0], [2.0, 1.0]])) \
            and np.allclose(self.potrs(factor, b), np.linalg.solve(h, b), rtol=1e-14) \
            and np.allclose(self.trtrs(factor, b),
                            np.linalg.solve(np.linalg.cholesky(h), b), rtol=1e-14)

    @staticmethod
    def _ints(*values: int) -> np.ndarray:
        return np.array(values, dtype=np.int64)   # passed by address, as Fortran does

    def potrf(self, a: np.ndarray) -> bool:
        """Factor the C-ordered float64 ``a`` in place; False where it is not
        positive definite (LAPACK's info > 0)."""
        ints = self._ints(a.shape[0], 0)              # n (also lda), info
        at = ints.ctypes.data
        self._potrf(b"L", at, a.ctypes.data, at, at + 8, 1)
        return ints[1] == 0

    def potrs(self, factor: np.ndarray, b: np.ndarray) -> np.ndarray:
        x = np.array(b, dtype=np.float64)
        ints = self._ints(factor.shape[0], 1, 0)      # n (also lda, ldb), nrhs, info
        at = ints.ctypes.data
        self._potrs(b"L", at, at + 8, factor.ctypes.data, at, x.ctypes.data, at, at + 16, 1)
        return x

    def trtrs(self, factor: np.ndarray, b: np.ndarray) -> np.ndarray:
        x = np.array(b, dtype=np.float64)
        ints = self._ints(factor.shape[0], 1, 0)
        at = ints.ctypes.data
        self._trtrs(b"L", b"N", b"N", at, at + 8, factor.ctypes.data, at, x.ctypes.data, at,
                    at + 16, 1, 1, 1)
        return x
