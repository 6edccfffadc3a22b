"""Compiled derivatives: trace once, run straight-line code from then on.

``Compiled(f, x0)`` traces f at x0 (``trace.py``), generates the functions
of ``codegen.py`` and ``compile()``s them once.  The double-backprop core
derived every derivative; the generated code is a faster way to run what it
recorded.  Two safety nets keep the answers the interpreter's:

* per call: a ``math`` function that raises where numpy returns inf or nan
  (``math.exp(1000)``, ``math.log(0)``, ``1/0.0``) sends that call to the
  interpreter, so results keep numpy's IEEE semantics;
* once: after generating, value, gradient and one Hessian-vector product
  are compared with the interpreter's at a second point; a difference means
  the trace froze something that depends on the point (a Python ``if`` on
  values in a callable), and ``CompileError`` is raised so the caller keeps
  the interpreter.  Like ``jax.jit``, a compiled callable may not branch on
  values.  An f that cannot (``branch_free``: a parsed objective) is traced
  at that second point instead, and the trace's own interpreted values are
  the reference: the same check, without interpreting f again.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Any, Callable

import numpy as np

from .codegen import Unsupported, generate
from .config import no_grad
from .core import Variable
from .functional import dense_hessian, make_hvp, value_and_grad
from .sparsity import coloring
from .trace import trace

_FALLBACK = (ArithmeticError, ValueError)
_CHECK_RTOL = 1e-9
# Seeds x elements of the widest value per batched Hessian pass: 20 MB an
# intermediate.  Past that a batch only adds cache misses (at 10^6 data
# points, 3 seeds in one pass took 121 ms where three single passes take
# 63), while below it batching pays, most through matrix products (a
# 10^5 x 20 logistic fit: 20 seeds in one pass, 30 ms; in pairs, 50 ms).
_BATCH_ELEMENTS = 2_500_000
# Up to this n, n products by a written HVP cost less than writing the
# batched one (Osborne 1, n = 5: 0.25 ms against 1.5).
_FEW_PRODUCTS = 16


_UNSET, _FIRST_HESSIAN = object(), object()


class CompileError(Exception):
    """The compiled code does not reproduce the interpreter; keep the latter."""


class _Interpreted:
    """State of a point handled by the interpreter (a fallback call)."""

    __slots__ = ("replay",)

    def __init__(self, replay=None) -> None:
        self.replay = replay


class Compiled:
    """f: Variable -> scalar Variable, compiled for flat float64 points of
    size n.  ``source`` is the generated Python."""

    def __init__(self, f: Callable[[Variable], Variable], x0: np.ndarray,
                 check: bool = True, branch_free: bool = False) -> None:
        self._sources: dict[str, str] = {}
        self.f = f
        x0 = np.asarray(x0, dtype=np.float64).ravel()
        self.n = x0.size
        self._check = check
        self._probe = _probe_point(x0) if check else None
        # f that cannot branch on values (a parsed objective) records the same
        # graph at any point: traced at the probe, the interpreter's values
        # there come with the trace and the check costs no interpreted run.
        reference = None
        self._reference_hv = None
        with _gc_paused():
            if check and branch_free:
                with np.errstate(all="ignore"):
                    recorded = trace(f, self._probe, _probe_direction(self.n))
                reference, self._reference_hv = recorded.values[:2], recorded.values[2]
            else:
                recorded = trace(f, x0)
            self._program = generate(recorded)
            del recorded
            self.counts = self._program.counts
            self._functions: dict[str, Callable | None] = {}
            self._colors: Any = _UNSET
            self.second_order_note: str | None = None
            self._forward = self._function("forward")
            self._backward = self._gradient_function()
            if check:
                self._verify_gradient(reference)

    def _function(self, name: str) -> Callable | None:
        """Write and compile one generated function on first use."""
        if name not in self._functions:
            try:
                source = self._program.source(name)
            except Unsupported:
                self._functions[name] = None
                return None
            namespace = self._program.namespace
            exec(compile(source, f"<newtonopt-{name}>", "exec"), namespace)  # noqa: S102
            self._functions[name] = namespace[name]
            self._sources[name] = source
        return self._functions[name]

    def _gradient_function(self) -> Callable:
        """backward(x, saved) -> g.  Where backward2 does no work that
        backward does not (``counts["extra"]``: every built-in problem at its
        own size), backward2 is backward returning more names: one function
        written, not two, and first-order runs pay nothing for their final
        curvature check's gradient."""
        if self.counts["extra"]:
            return self._function("backward")
        both = self._function("backward2")
        return lambda x, saved: both(x, saved)[0]

    @property
    def source(self) -> str:
        """The generated gradient and HVP source (all stages)."""
        for name in ("forward", "backward", "backward2", "hvp"):
            self._function(name)
        return "\n".join(self._sources[k] for k in ("forward", "backward", "backward2", "hvp"))

    @property
    def _backward2(self) -> Callable:
        if "backward2" not in self._functions:
            with _gc_paused():
                self._function("backward2")
        return self._functions["backward2"]

    @property
    def _hvp(self) -> Callable:
        return self._checked("hvp")

    @property
    def _hessian(self) -> Callable | None:
        """The batched HVP (None where it cannot be written); a dense-
        Hessian run never writes the single-vector one."""
        return self._checked("hessian")

    def _checked(self, name: str) -> Callable | None:
        """A second-order function, written and checked at the probe on
        first use; one that fails the check is dropped (None: the
        interpreter, or the other function, takes its products) and
        ``second_order_note`` says why."""
        if name not in self._functions:
            with _gc_paused():
                fn = self._function(name)
                if fn is not None and self._check:
                    try:
                        self._verify_product(name)
                    except CompileError as exc:
                        self._functions[name] = None
                        self.second_order_note = f"{name} interpreted: {exc}"
        return self._functions[name]

    # -- stages (what the Evaluator calls) ------------------------------------
    def forward(self, x: np.ndarray) -> tuple[float, Any]:
        """f(x) and the state the gradient continues from."""
        try:
            return self._forward(x)
        except _FALLBACK:
            with no_grad():
                return float(self.f(Variable(np.array(x))).data), _Interpreted()

    def gradient(self, x: np.ndarray, state: Any) -> np.ndarray:
        if not isinstance(state, _Interpreted):
            try:
                return self._backward(x, state)
            except _FALLBACK:
                pass
        return value_and_grad(self.f, x)[1]

    def second_order(self, x: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        """The gradient and the state Hessian-vector products continue from
        (the interpreter's graph once the HVP code has failed its check)."""
        if not isinstance(state, _Interpreted) and self._functions.get("hvp", True) is not None:
            try:
                return self._backward2(x, state)
            except _FALLBACK:
                pass
        replay, _, g = make_hvp(self.f, x)
        return g, _Interpreted(replay)

    def hvp(self, x: np.ndarray, state: Any, v: np.ndarray) -> np.ndarray:
        if not isinstance(state, _Interpreted):
            try:
                if self._hvp is not None:
                    return self._hvp(x, v, state)
            except _FALLBACK:
                pass
            state = _Interpreted(make_hvp(self.f, x)[0])
        return state.replay(v)

    def hessian(self, x: np.ndarray, state: Any) -> np.ndarray:
        """Dense, symmetrized.  Compiled: one product per colour of a column
        colouring when the Hessian is sparse enough (``sparsity``: 3 for a
        chained Rosenbrock function of any n), else the unit seeds in
        batched passes of bounded size; interpreted (or where the code has
        no batched form), or at small n while only the single-vector HVP is
        written (a trust-ncg run's final curvature check): n products."""
        block = _BATCH_ELEMENTS // self._program.hvp_width   # seeds per pass
        few = self.n <= _FEW_PRODUCTS and "hessian" not in self._functions \
            and self._functions.get("hvp") is not None
        if not few and block >= 2 and not isinstance(state, _Interpreted) \
                and self._hessian is not None:
            try:
                coloring = self._coloring()
                if coloring is not None and coloring[0].max() + 2 <= block:
                    rows = self._colored_rows(x, state, *coloring)
                else:
                    rows = np.empty((self.n, self.n))
                    for start in range(0, self.n, block):
                        stop = min(start + block, self.n)
                        seeds = np.zeros((stop - start, self.n))   # rows start..stop of I
                        seeds[np.arange(stop - start), np.arange(start, stop)] = 1.0
                        rows[start:stop] = self._products(x, seeds, state)
                return (rows + rows.T) / 2
            except _FALLBACK:
                pass
        return dense_hessian(lambda v: self.hvp(x, state, v), self.n)

    def _coloring(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(colour of each column, pattern), found once, at the second dense
        Hessian; None: no gain, or this is the first.  A single Hessian (a
        first-order run's final check) costs less with all seeds than the
        analysis does (chained Rosenbrock, n = 100: 0.85 ms against 2.6)."""
        if self._colors is _UNSET:
            self._colors = _FIRST_HESSIAN
            return None
        if self._colors is _FIRST_HESSIAN:
            self._colors = coloring(self._program.trace, self._program.gen.vdep)
        return self._colors

    def _products(self, x: np.ndarray, seeds: np.ndarray, state: Any) -> np.ndarray:
        """H s for each row s of ``seeds``, one row each.  Where H v does not
        depend on v (a piecewise-linear f: the product is its masks times
        zero, or nan) the batched code returns that one vector."""
        return np.broadcast_to(self._hessian(x, seeds, state), seeds.shape)

    def _colored_rows(self, x: np.ndarray, state: Any, colors: np.ndarray,
                      pattern: np.ndarray) -> np.ndarray:
        """Rows H e_j from one product per colour: row j is its colour's
        product where column j has a path, the zero seed's elsewhere (so
        every entry is what e_j itself gives, signed zeros and nan included)."""
        k = int(colors.max()) + 1
        seeds = np.zeros((k + 1, self.n))       # the last one is the zero seed
        seeds[colors, np.arange(self.n)] = 1.0
        products = self._products(x, seeds, state)
        return np.where(pattern, products[colors], products[k])

    # -- the functional API ------------------------------------------------------
    def value(self, x: np.ndarray) -> float:
        return self.forward(np.asarray(x, dtype=np.float64))[0]

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        x = np.asarray(x, dtype=np.float64)
        value, state = self.forward(x)
        return value, self.gradient(x, state)

    def hvp_at(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        _, state = self.forward(x)
        return self.hvp(x, self.second_order(x, state)[1], np.asarray(v, dtype=np.float64))

    def hessian_at(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        _, state = self.forward(x)
        return self.hessian(x, self.second_order(x, state)[1])

    # -- the check ----------------------------------------------------------------
    def _verify_gradient(self, reference: tuple | None) -> None:
        """Compiled f and g at the probe against the interpreter's
        (``reference``, when the trace brought them)."""
        x = self._probe
        with np.errstate(all="ignore"):
            want_f, want_g = reference or value_and_grad(self.f, x)
            got_f, got_g = self.value_and_grad(x)
        _same(got_f, want_f, "f")
        _same(got_g, want_g, "gradient")

    def _verify_product(self, name: str) -> None:
        """H v at the probe by the function ``name`` ("hvp", or "hessian"
        on a batch of one) against the trace's value, else a checked "hvp",
        else the interpreter.  The trace's value is kept until "hvp" is
        checked (n floats: a dense-Hessian run's n is small)."""
        x, v = self._probe, _probe_direction(self.n)
        with np.errstate(all="ignore"):
            _, state = self.forward(x)
            cache = self._backward2(x, state)[1]
            if self._reference_hv is not None:
                want = self._reference_hv
            elif name != "hvp" and self._functions.get("hvp") is not None:
                want = self._functions["hvp"](x, v, cache)
            else:
                want = make_hvp(self.f, x)[0](v)
            got = self._functions["hvp"](x, v, cache) if name == "hvp" \
                else self._products(x, v[None, :], cache)[0]
        if name == "hvp":
            self._reference_hv = None
        _same(got, want, "Hessian-vector product")


def _probe_point(x0: np.ndarray) -> np.ndarray:
    """A second point near x0, where the check compares with the interpreter
    (an irregular pattern, without loading numpy.random: ~15 ms)."""
    return x0 + 1e-3 * (1.0 + np.abs(x0)) * np.sin(np.arange(x0.size) * 1.7 + 0.3)


def _probe_direction(n: int) -> np.ndarray:
    """The v of the check's Hessian-vector product."""
    return np.cos(np.arange(n) * 2.3 + 0.7)


@contextmanager
def _gc_paused():
    """No cyclic collection while a trace builds its many small objects
    (nothing in it is garbage yet; a 100 KB objective compiled 40 % faster)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _same(got: Any, want: Any, what: str) -> None:
    """Equal to the check's tolerance, and of the same shape (allclose
    broadcasts: a float would pass for a gradient of equal components)."""
    if np.shape(got) != np.shape(want) or not (   # equal bits, the usual case, cost
            np.array_equal(got, want)                 # a tenth of allclose
            or np.allclose(got, want, rtol=_CHECK_RTOL, atol=1e-300, equal_nan=True)):
        raise CompileError(f"the compiled {what} differs from the interpreter's at a second "
                           "point (does f branch on values?)")


def compile_function(f: Callable[[Variable], Variable], x: np.ndarray) -> Compiled:
    """``newtonopt.compile(f, x)``: f compiled for points shaped like x
    (an f with ``branch_free = True`` promises not to branch on values)."""
    return Compiled(f, x, branch_free=getattr(f, "branch_free", False))
