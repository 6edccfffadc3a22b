"""Variables, Functions and the backward pass, in the lineage of DeZero.

A ``Variable`` wraps an ndarray.  Calling a ``Function`` on Variables runs its
``forward`` on the arrays and, when recording is on, links the output to the
function (``creator``) so ``backward`` can walk the graph in reverse.  Every
``backward`` is written with these same operations on Variables, so with
``create_graph=True`` the backward pass is itself recorded and a gradient can
be differentiated again (double backpropagation, Pearlmutter's Hessian-vector
product).

Two departures from DeZero keep higher-order graphs small:

* ``requires_grad``: seeds of a backward pass and wrapped constants do not
  require a gradient, and an operation none of whose inputs requires one
  records nothing.  So the gradient graph holds only what depends on ``x``.
* Arithmetic with a constant operand uses a one-input op (``x * 3`` is
  ``MulConst``), so no gradient is computed for the constant.
"""
from __future__ import annotations

import heapq
import itertools
import operator
import os
import weakref
from typing import Any

import numpy as np

from .config import backprop_enabled, using_config

_CHECK_ALIASING = os.environ.get("NEWTONOPT_CHECK_ALIASING", "") not in ("", "0")


def as_array(x: Any) -> np.ndarray:
    return x if isinstance(x, np.ndarray) else np.asarray(x)


class Variable:
    """A node of the graph: ``data`` (ndarray), ``grad`` (Variable or None)."""

    __slots__ = ("data", "name", "grad", "creator", "generation",
                 "requires_grad", "__weakref__")
    __array_priority__ = 200

    def __init__(self, data: Any, name: str | None = None,
                 requires_grad: bool = True) -> None:
        if data is not None and not isinstance(data, np.ndarray):
            if not isinstance(data, (int, float, complex, np.generic)):
                raise TypeError(f"{type(data)} is not supported")
            data = np.asarray(data)
        self.data = data
        self.name = name
        self.grad: Variable | None = None
        self.creator: Function | None = None
        self.generation = 0
        self.requires_grad = requires_grad

    # -- array-like properties -------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        if self.data is None:
            return "variable(None)"
        return "variable(" + str(self.data).replace("\n", "\n" + " " * 9) + ")"

    # -- graph -------------------------------------------------------------
    def cleargrad(self) -> None:
        self.grad = None

    def backward(self, retain_grad: bool = False,
                 create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``grad``.

        The seed is ``self.grad`` if already set (a vector for a
        vector-Jacobian product), else ones.  Functions are visited in
        decreasing generation from a heap, so each runs once, after all of
        its outputs' gradients are complete.  With ``create_graph`` the
        operations of the backward pass are recorded.  Intermediate grads
        are dropped unless ``retain_grad``.
        """
        if self.grad is None:
            self.grad = Variable(np.ones_like(self.data), requires_grad=False)
        if self.creator is None:
            return
        heap: list = []
        seen: set[int] = set()
        order = itertools.count()

        def push(f: Function) -> None:
            if id(f) not in seen:
                seen.add(id(f))
                heapq.heappush(heap, (-f.generation, next(order), f))

        push(self.creator)
        owned = _Owned(create_graph, self)
        with using_config("enable_backprop", create_graph):
            while heap:
                f = heapq.heappop(heap)[2]
                outputs = [ref() for ref in f.outputs]
                gys = [y.grad for y in outputs]
                x0 = f.inputs[0]
                if owned.by_var and hasattr(f, "accumulate_grad") and owned.holds(x0):
                    owned.check(x0)
                    f.accumulate_grad(x0.grad.data, gys[0].data)
                    if x0.creator is not None:
                        push(x0.creator)
                else:
                    gxs = f.backward(*gys)
                    if not isinstance(gxs, tuple):
                        gxs = (gxs,)
                    for x, gx in zip(f.inputs, gxs):
                        if gx is None or not x.requires_grad:
                            continue
                        owned.accumulate(x, gx, f.fresh_grad)
                        if x.creator is not None:
                            push(x.creator)
                if not retain_grad:
                    for y in outputs:
                        owned.release(y)
                        y.grad = None

    def unchain(self) -> None:
        """Cut this Variable from the function that made it (it becomes a leaf)."""
        self.creator = None

    def unchain_backward(self) -> None:
        """Cut every link upstream of this Variable's creator (as DeZero: the
        creator itself stays), so earlier functions and values can be freed
        (truncated backpropagation)."""
        stack = [self.creator] if self.creator is not None else []
        seen: set[int] = set()
        while stack:
            f = stack.pop()
            if id(f) in seen:
                continue
            seen.add(id(f))
            for x in f.inputs:
                if x.creator is not None:
                    stack.append(x.creator)
                    x.unchain()

    # -- operators ---------------------------------------------------------
    def __add__(self, other):
        return add(self, other)

    __radd__ = __add__

    def __mul__(self, other):
        return mul(self, other)

    __rmul__ = __mul__

    def __sub__(self, other):
        return sub(self, other)

    def __rsub__(self, other):
        return sub(other, self)

    def __truediv__(self, other):
        return div(self, other)

    def __rtruediv__(self, other):
        return div(other, self)

    def __neg__(self):
        return neg(self)

    def __pos__(self):
        return self

    def __pow__(self, other):
        return pow(self, other)

    def __rpow__(self, other):
        return pow(other, self)

    def __matmul__(self, other):
        return F.matmul(self, other)

    def __rmatmul__(self, other):
        return F.matmul(other, self)

    def __getitem__(self, index):
        return F.get_item(self, index)

    def __abs__(self):
        return F.absolute(self)

    # -- array methods -----------------------------------------------------
    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        return F.reshape(self, shape)

    def transpose(self, *axes):
        if not axes:
            axes = None
        elif len(axes) == 1 and isinstance(axes[0], (tuple, list)) or axes == (None,):
            axes = axes[0]
        return F.transpose(self, axes)

    @property
    def T(self):
        return F.transpose(self)

    def matmul(self, other):
        return F.matmul(self, other)

    dot = matmul

    def sum(self, axis=None, keepdims=False):
        return F.sum(self, axis, keepdims)


class _Owned:
    """The one rule behind in-place gradient accumulation.

    Without ``create_graph`` a backward pass may add a contribution into a
    Variable's ``grad`` in place, instead of allocating ``grad + gx``, only
    when that grad's array is *owned*: the pass allocated it itself (its
    own sum, or the output of an op whose class declares ``fresh_grad``)
    and handed it to exactly one Variable, this one.  Ownership is keyed by
    the Variable, not by the array, so an op that returns the same object
    twice (``Add.backward`` returns ``gy, gy``) or a view of its input
    gives two Variables one array, and neither owns it: the next
    contribution to either allocates anew.  Grads from an earlier pass or
    given by the user are never owned.

    ``NEWTONOPT_CHECK_ALIASING=1`` verifies the rule before every in-place
    add with ``np.shares_memory`` against every other grad of the pass and
    raises ``AssertionError`` on a violation (slow; for tests).
    """

    __slots__ = ("enabled", "by_var", "arrays", "touched")

    def __init__(self, create_graph: bool, output: Variable) -> None:
        self.enabled = not create_graph
        self.by_var: dict[int, Variable] = {}   # id(x) -> the grad x owns
        self.arrays: dict[int, int] = {}        # id(grad array) -> id(its owner)
        self.touched: list[Variable] | None = [output] if _CHECK_ALIASING else None

    def holds(self, x: Variable) -> bool:
        g = x.grad
        return g is not None and self.by_var.get(id(x)) is g

    def _own(self, x: Variable) -> None:
        if not self.enabled:
            return
        key = id(x.grad.data)
        other = self.arrays.get(key)
        if other is not None and other != id(x):
            # One array handed to two Variables: neither may add into it.
            self.by_var.pop(other, None)
            del self.arrays[key]
            return
        self.by_var[id(x)] = x.grad
        self.arrays[key] = id(x)

    def release(self, x: Variable) -> None:
        g = self.by_var.pop(id(x), None)
        if g is not None:
            self.arrays.pop(id(g.data), None)

    def accumulate(self, x: Variable, gx: Variable, fresh: bool) -> None:
        """x.grad += gx: in place into a grad x owns, else out of place."""
        if self.touched is not None:
            self.touched.append(x)
        g = x.grad
        if g is None:
            x.grad = gx
            if fresh and gx.data.base is None:  # never a view
                self._own(x)
        elif self.holds(x) and g.shape == gx.shape and g.dtype == gx.dtype:
            self.check(x)
            g.data += gx.data
        else:
            self.release(x)
            x.grad = g + gx
            self._own(x)

    def check(self, x: Variable) -> None:
        """With NEWTONOPT_CHECK_ALIASING: no other grad shares x.grad's memory."""
        if self.touched is None:
            return
        target = x.grad.data
        for other in self.touched:
            if other is not x and other.grad is not None and \
                    np.shares_memory(other.grad.data, target):
                raise AssertionError(
                    "in-place gradient accumulation into an array another "
                    "Variable's grad shares (an op's backward broke the "
                    "ownership rule of autodiff.core._Owned)")


class Parameter(Variable):
    """A Variable that is a model parameter (kept for DeZero programs)."""

    __slots__ = ()


def as_variable(obj: Any) -> Variable:
    """Wrap a non-Variable as a constant (it requires no gradient)."""
    if isinstance(obj, Variable):
        return obj
    return Variable(as_array(obj), requires_grad=False)


def _is_constant(obj: Any) -> bool:
    return not isinstance(obj, Variable) or not obj.requires_grad


def _raw(obj: Any) -> Any:
    return obj.data if isinstance(obj, Variable) else obj


class Function:
    """An operation: ``forward`` on ndarrays, ``backward`` on Variables.

    Subclasses implement ``forward(*arrays)`` and ``backward(*grad_outputs)``
    returning one gradient per input (a Variable of the input's shape;
    zeros where the derivative vanishes).  None is allowed only for an
    input that does not require a gradient, to skip work nobody reads.
    """

    generation = 0
    # True when backward (without create_graph) returns newly allocated
    # arrays that nothing else references; the engine may then add into them.
    fresh_grad = False

    def __call__(self, *inputs: Any):
        # The hot path of every evaluation: kept free of helper calls.
        inputs = [x if type(x) is Variable else as_variable(x) for x in inputs]
        ys = self.forward(*[x.data for x in inputs])
        if type(ys) is not tuple:
            ys = (ys,)
        record = backprop_enabled()
        needs = not record
        for x in inputs:
            needs = needs or x.requires_grad
        outputs = [Variable(y if type(y) is np.ndarray else np.asarray(y), requires_grad=needs)
                   for y in ys]
        if record and needs:
            self.generation = generation = max([x.generation for x in inputs])
            for y in outputs:
                y.creator = self
                y.generation = generation + 1
            self.inputs = inputs
            self.outputs = [weakref.ref(y) for y in outputs]
        return outputs[0] if len(outputs) == 1 else outputs

    def forward(self, *xs: np.ndarray):
        raise NotImplementedError

    def backward(self, *gys: Variable):
        raise NotImplementedError


# -- arithmetic -------------------------------------------------------------
# Each binary op has a Variable-Variable form and, when one side is a
# constant, a one-input form that closes over the constant's array.


def _unbroadcast(gx: Variable, shape: tuple) -> Variable:
    return gx if gx.shape == shape else F.sum_to(gx, shape)


class Add(Function):
    def forward(self, x0, x1):
        return x0 + x1

    def backward(self, gy):
        x0, x1 = self.inputs
        return _unbroadcast(gy, x0.shape), _unbroadcast(gy, x1.shape)


class AddConst(Function):
    def __init__(self, c):
        self.c = c

    def forward(self, x):
        return x + self.c

    def backward(self, gy):
        return _unbroadcast(gy, self.inputs[0].shape)


class Sub(Function):
    def forward(self, x0, x1):
        return x0 - x1

    def backward(self, gy):
        x0, x1 = self.inputs
        return _unbroadcast(gy, x0.shape), _unbroadcast(-gy, x1.shape)


class Mul(Function):
    def forward(self, x0, x1):
        return x0 * x1

    def backward(self, gy):
        x0, x1 = self.inputs
        return _unbroadcast(gy * x1, x0.shape), _unbroadcast(gy * x0, x1.shape)


class MulConst(Function):
    def __init__(self, c):
        self.c = c

    def forward(self, x):
        return x * self.c

    def backward(self, gy):
        return _unbroadcast(gy * self.c, self.inputs[0].shape)


class RSubConst(Function):
    """c - x."""

    def __init__(self, c):
        self.c = c

    def forward(self, x):
        return self.c - x

    def backward(self, gy):
        return _unbroadcast(-gy, self.inputs[0].shape)


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class Div(Function):
    def forward(self, x0, x1):
        return x0 / x1

    def backward(self, gy):
        x0, x1 = self.inputs
        gx0 = gy / x1
        gx1 = -gx0 * x0 / x1
        return _unbroadcast(gx0, x0.shape), _unbroadcast(gx1, x1.shape)


class DivConst(Function):
    """x / c."""

    def __init__(self, c):
        self.c = c

    def forward(self, x):
        return x / self.c

    def backward(self, gy):
        return _unbroadcast(gy / self.c, self.inputs[0].shape)


class RDivConst(Function):
    """c / x;  d/dx = -c / x**2 = -y / x."""

    def __init__(self, c):
        self.c = c

    def forward(self, x):
        return self.c / x

    def backward(self, gy):
        x, y = self.inputs[0], self.outputs[0]()
        return _unbroadcast(-gy * y / x, x.shape)


MAX_CHAIN = 8  # whole powers up to this are products


def by_squaring(base: Any, k: int, mul: Any) -> Any:
    """base**k for a whole k >= 1 by repeated squaring with ``mul``: the
    one recipe both the interpreter (numbers) and the code generator
    (source text) follow, so both round alike (x**4 is (x*x)*(x*x))."""
    result, square = None, base
    while k:
        if k & 1:
            result = square if result is None else mul(result, square)
        k >>= 1
        if k:
            square = mul(square, square)
    return result


def is_small_whole(c: Any) -> bool:
    return np.ndim(c) == 0 and float(c).is_integer() and 1 <= abs(c) <= MAX_CHAIN


def power(x: np.ndarray, c: Any) -> np.ndarray:
    """x ** c: a small whole c by products (numpy's pow costs ~40 multiplies
    an element on negative bases), otherwise numpy's ``**``."""
    if not is_small_whole(c):
        return x ** c
    result = by_squaring(x, int(abs(c)), operator.mul)
    if c < 0:
        return 1.0 / result
    return result.copy() if result is x else result


class PowConst(Function):
    """x ** c for a constant c."""

    def __init__(self, c):
        self.c = c

    def forward(self, x):
        return power(x, self.c)

    def backward(self, gy):
        x, c = self.inputs[0], self.c
        if np.ndim(c) == 0:
            return PowConstGrad(c)(x, gy)
        # c = 0 entries would give 0 * x**-1 = nan at x = 0.
        return _unbroadcast(gy * x ** np.where(c == 0, 1, c - 1) * c, x.shape)


class PowConstGrad(Function):
    """g * c * x**(c-1), the backward of x**c, fused into one allocation
    (at large n a fresh array costs more than the arithmetic).  Exactly 0
    for c = 0, so x**0 has gradient 0 at x = 0.

    Its own derivatives are the same op again: d/dx = PowConstGrad(c-1)(x,
    g) * c and d/dg = PowConstGrad(c)(x, 1).
    """

    def __init__(self, c):
        self.c = c

    def forward(self, x, g):
        c = self.c
        if c == 0:
            return np.zeros(np.broadcast_shapes(x.shape, g.shape),
                            np.result_type(x, g))
        out = x * c if c == 2 else power(x, c - 1) * c
        if out.shape == np.broadcast_shapes(out.shape, g.shape):
            out *= g
            return out
        return out * g

    def backward(self, gout):
        x, g = self.inputs
        if self.c == 0:  # the output is identically zero, so is every derivative
            return F.zeros_like(x), F.zeros_like(g) if g.requires_grad else None
        gx = PowConstGrad(self.c - 1)(x, gout * g) * self.c
        gg = PowConstGrad(self.c)(x, gout) if g.requires_grad else None
        return gx, gg


class Pow(Function):
    """x ** y, both Variables: d/dx = y x**(y-1), d/dy = log(x) x**y.

    Where x = 0 the factor log(x) x**y is taken as its limit 0 (x**y = 0
    for y > 0), and where x = y = 0 the exponent of x**(y-1) is taken as
    0 (y x**(y-1) = 0 there): so ``0**(1+t**2)`` and ``x**(0*t)`` have the
    derivatives of the functions they equal, not nan.
    """

    def forward(self, x, y):
        return x ** y

    def backward(self, gz):
        x, y = self.inputs
        z = self.outputs[0]()
        at_zero = F.IsZero()(x)
        exponent = (y - 1) + F.BothZero()(x, y)
        gy = gz * F.log(x + at_zero) * z
        gx = gz * y * x ** exponent
        return _unbroadcast(gx, x.shape), _unbroadcast(gy, y.shape)


class RPowConst(Function):
    """c ** x for a constant c;  d/dx = log(c) c**x, taken as 0 where c = 0
    (0**x = 0 for x > 0)."""

    def __init__(self, c):
        self.c = c
        self.log_c = np.log(np.where(np.asarray(c) == 0, 1, c))

    def forward(self, x):
        return self.c ** x

    def backward(self, gy):
        x, y = self.inputs[0], self.outputs[0]()
        return _unbroadcast(gy * y * self.log_c, x.shape)


def _constant(c: Any) -> Any:
    """A constant as an array; a Python number stays a number so that numpy
    keeps the Variable's dtype (float32 + 1.0 stays float32)."""
    c = _raw(c)
    return c if isinstance(c, (int, float)) else as_array(c)


def _binary(x0, x1, both, right_const, left_const, plain):
    """Dispatch a binary op on which operands require a gradient."""
    c0, c1 = _is_constant(x0), _is_constant(x1)
    if c0 and c1:
        return Variable(as_array(plain(_raw(x0), _raw(x1))),
                        requires_grad=not backprop_enabled())
    if c1:
        return right_const(_constant(x1))(x0)
    if c0:
        return left_const(_constant(x0))(x1)
    return both()(x0, x1)


def add(x0, x1):
    return _binary(x0, x1, Add, AddConst, AddConst, np.add)


def mul(x0, x1):
    return _binary(x0, x1, Mul, MulConst, MulConst, np.multiply)


def sub(x0, x1):
    return _binary(x0, x1, Sub, lambda c: AddConst(-c), RSubConst, np.subtract)


def div(x0, x1):
    return _binary(x0, x1, Div, DivConst, RDivConst, np.true_divide)


def neg(x):
    return Neg()(x)


def pow(x0, x1):
    return _binary(x0, x1, Pow, PowConst, RPowConst, np.power)


from . import functions as F  # noqa: E402  (functions imports this module)
