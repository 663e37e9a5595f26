"""EinsumDense: a dense layer whose product with the kernel is an einsum equation."""

from __future__ import annotations

import re
import string
from typing import Any, Optional, Sequence

import numpy as np

from pynncore import activations as _activations
from pynncore import initializers as _initializers
from pynncore import ops
from pynncore.layers.base import Layer, shape_str
from pynncore.layers.core import _kernel_bias_config, _set_kernel_bias_args

__all__ = ["EinsumDense"]

_LETTERS = "[a-zA-Z]"


def _parse_equation(equation: Any, who: str) -> tuple:
    """``(input_spec, weight_spec, output_spec, elided)`` with ``elided`` None, ``"left"``
    (``...ab,bc->...ac``) or ``"right"`` (``ab...,bc->ac...``): the forms Keras accepts."""
    if not isinstance(equation, str):
        raise TypeError(f"{who}: equation must be a string. Received: equation={equation!r}")
    eq = equation.replace(" ", "")
    forms = (
        (rf"({_LETTERS}+),({_LETTERS}+)->({_LETTERS}+)", None),
        (rf"\.\.\.({_LETTERS}+),({_LETTERS}+)->\.\.\.({_LETTERS}+)", "left"),
        (rf"({_LETTERS}{{2,}})\.\.\.,({_LETTERS}+)->({_LETTERS}+)\.\.\.", "right"),
    )
    for pattern, elided in forms:
        m = re.fullmatch(pattern, eq)
        if m:
            specs = m.groups()
            for spec in specs:
                if len(set(spec)) != len(spec):
                    raise ValueError(
                        f"{who}: each operand of the equation must name an axis at most once. "
                        f"Received: equation={equation!r}"
                    )
            return specs + (elided,)
    raise ValueError(
        f"{who}: invalid einsum equation {equation!r}; expected the form 'ab,bc->ac', "
        "'...ab,bc->...ac' or 'ab...,bc->ac...'"
    )


class EinsumDense(Layer):
    """A dense layer whose product of the input with the kernel is an einsum ``equation``
    (Keras 3 ``EinsumDense``): ``activation(einsum(equation, inputs, kernel) + bias)``.

    The equation is ``"<input>,<kernel>-><output>"`` with one letter per axis, optionally with
    an ellipsis standing for the leading (``"...b,bc->...c"``) or trailing
    (``"ab...,bc->ac..."``) input axes not named. ``output_shape`` gives the output's sizes
    without its first axis (the batch); entries may be None where the size comes from the input.
    The kernel has one axis per kernel letter, sized from the input (letters it shares with
    the input only) or from ``output_shape``; the bias has the sizes of the ``bias_axes``
    letters and 1 on the other output axes from the first bias letter to the end, so it
    broadcasts against the output as in Keras.

    Equations in which every letter is either a free input axis, a contracted axis or a kernel
    output axis (the common ``ab,bc->ac``, ``abc,cd->abd``, ``abc,cde->abde``,
    ``abcd,cde->abe`` and their ellipsis forms) run as one native GEMM after transposes, also in
    the backward pass; other equations (an axis shared by input, kernel and output, or an input
    axis summed away) run through ``numpy.einsum``. Variance-scaling initializers use Keras's
    fans for einsum kernels: ``fan_in`` is the product of the kernel axes shared with the input
    only, ``fan_out`` of those shared with the output.

    Args:
        equation: the einsum equation, e.g. ``"abc,cd->abd"``.
        output_shape: an integer or a tuple of integers (or None), the output's shape without
            the batch axis (and without the axes the ellipsis stands for).
        activation: name, callable from ``pynncore.activations``, or None (linear).
        bias_axes: a string of output letters that get a bias, or None for no bias.
        kernel_initializer, bias_initializer: initializers (names or objects).
        kernel_regularizer, bias_regularizer, activity_regularizer: regularizers or None.
        kernel_constraint, bias_constraint: constraints applied after every optimizer step.

    Call arguments:
        inputs: array with the rank the equation (and its ellipsis) names.

    Returns:
        Array of shape ``compute_output_shape(inputs.shape)``.

    Raises:
        TypeError: ``equation`` is not a string.
        ValueError: an equation of another form, a kernel or output letter found nowhere
            else, a bias letter not in the output, an ``output_shape`` of the wrong length or
            disagreeing with the input on a shared axis, or an input of another rank or size.

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import EinsumDense
        >>> layer = EinsumDense("abc,cde->abde", output_shape=(None, 2, 4), bias_axes="de")
        >>> layer(np.ones((3, 5, 6))).shape, layer.kernel.shape, layer.bias.shape
        ((3, 5, 2, 4), (6, 2, 4), (2, 4))
    """

    def __init__(
        self,
        equation: str,
        output_shape: Any,
        activation: Any = None,
        bias_axes: Optional[str] = None,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        who = f"EinsumDense '{self.name}'"
        self._specs = _parse_equation(equation, who)
        self.equation = equation
        in_spec, w_spec, out_spec, _ = self._specs
        if isinstance(output_shape, (int, np.integer)) and not isinstance(output_shape, bool):
            partial: tuple = (int(output_shape),)
        elif isinstance(output_shape, (list, tuple)) and all(
            d is None or (isinstance(d, (int, np.integer)) and not isinstance(d, bool)) for d in output_shape
        ):
            partial = tuple(None if d is None else int(d) for d in output_shape)
        else:
            raise TypeError(
                f"{who}: output_shape must be an integer or a tuple of integers and None. "
                f"Received: output_shape={output_shape!r}"
            )
        if any(d is not None and d <= 0 for d in partial):
            raise ValueError(f"{who}: output_shape sizes must be positive. Received: output_shape={output_shape!r}")
        self.output_shape = partial
        for ch in w_spec:
            if ch not in in_spec and ch not in out_spec:
                raise ValueError(
                    f"{who}: kernel axis '{ch}' of equation {equation!r} is in neither the input "
                    f"'{in_spec}' nor the output '{out_spec}'; the kernel must be fully specified"
                )
        for ch in out_spec:
            if ch not in in_spec and ch not in w_spec:
                raise ValueError(
                    f"{who}: output axis '{ch}' of equation {equation!r} is in neither the input "
                    f"'{in_spec}' nor the kernel '{w_spec}'"
                )
        if bias_axes is not None:
            if not isinstance(bias_axes, str) or not bias_axes:
                raise ValueError(
                    f"{who}: bias_axes must be a non-empty string of output letters or None. "
                    f"Received: bias_axes={bias_axes!r}"
                )
            for ch in bias_axes:
                if ch not in out_spec:
                    raise ValueError(
                        f"{who}: bias axis '{ch}' is not part of the output spec '{out_spec}'. "
                        f"Received: bias_axes={bias_axes!r}"
                    )
        self.bias_axes = bias_axes
        _set_kernel_bias_args(self, activation, kernel_initializer, bias_initializer, kernel_regularizer,
                              bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint)
        self.activation = _activations._get_same_shape(self.activation, who)

    # -- shapes ------------------------------------------------------------------------------

    def _analyze(self, input_shape: tuple) -> tuple:
        """``(explicit input, kernel and output specs, full output shape, kernel shape, bias
        shape or None, fan_in, fan_out)`` for an input of ``input_shape``."""
        who = f"EinsumDense '{self.name}'"
        in_spec, w_spec, out_spec, elided_side = self._specs
        shape = tuple(input_shape)
        n_elided = len(shape) - len(in_spec)
        if n_elided < 0 or (elided_side is None and n_elided != 0) or len(shape) < 2:
            want = f"{len(in_spec)}" if elided_side is None else f"at least {max(len(in_spec), 2)}"
            raise ValueError(
                f"{who}: equation {self.equation!r} expects an input of rank {want}. "
                f"Received: shape={shape_str(shape)}"
            )
        used = set(in_spec + w_spec + out_spec)
        extra = "".join(ch for ch in string.ascii_letters if ch not in used)[:n_elided]
        partial = list(self.output_shape)
        if elided_side == "left":
            # The elided axes lead the output, the batch axis first; without them the batch
            # axis is the first output letter.
            in_x, out_x = extra + in_spec, extra + out_spec
            full = list(shape[:n_elided] if n_elided else shape[:1]) + partial
        elif elided_side == "right":
            in_x, out_x = in_spec + extra, out_spec + extra
            full = [shape[0]] + partial + list(shape[len(shape) - n_elided:])
        else:
            in_x, out_x = in_spec, out_spec
            full = [shape[0]] + partial
        if len(full) != len(out_x):
            raise ValueError(
                f"{who}: output_shape {self.output_shape} does not fit equation {self.equation!r}: "
                f"expected {len(out_x) - len(full) + len(partial)} entries for the output "
                f"'{out_spec}' after the batch axis. Received: output_shape={self.output_shape}"
            )
        in_dims = dict(zip(in_x, shape))
        for i, ch in enumerate(out_x):
            if ch in in_dims:
                d = in_dims[ch]
                if full[i] is not None and d is not None and full[i] != d:
                    raise ValueError(
                        f"{who}: input and output sizes differ on the shared axis '{ch}' of "
                        f"equation {self.equation!r}: the input has {d}, output_shape gives "
                        f"{full[i]}. Received: shape={shape_str(shape)}"
                    )
                if full[i] is None:
                    full[i] = d
        out_dims = dict(zip(out_x, full))
        kernel_shape, fan_in, fan_out = [], 1, 1
        for ch in w_spec:
            d = out_dims[ch] if ch in out_dims else in_dims[ch]
            if d is None:
                raise ValueError(
                    f"{who}: the size of kernel axis '{ch}' of equation {self.equation!r} is not "
                    f"known; give it in output_shape or in the input shape. Received: "
                    f"shape={shape_str(shape)}, output_shape={self.output_shape}"
                )
            kernel_shape.append(int(d))
            if ch in out_dims:
                fan_out *= int(d)
            else:
                fan_in *= int(d)
        bias_shape = None
        if self.bias_axes is not None:
            first = min(out_spec.index(ch) for ch in self.bias_axes)
            bias_shape = []
            for ch in out_spec[first:]:
                d = out_dims[ch] if ch in self.bias_axes else 1
                if d is None:
                    raise ValueError(
                        f"{who}: the size of bias axis '{ch}' is not known. Received: "
                        f"shape={shape_str(shape)}, output_shape={self.output_shape}"
                    )
                bias_shape.append(int(d))
            if elided_side == "right":
                bias_shape += [1] * n_elided
            bias_shape = tuple(bias_shape)
        return in_x, w_spec, out_x, tuple(full), tuple(kernel_shape), bias_shape, fan_in, fan_out

    def build(self, input_shape: tuple) -> None:
        in_x, w_spec, out_x, _, kernel_shape, bias_shape, fan_in, fan_out = self._analyze(input_shape)
        init = _initializers.get(self.kernel_initializer)
        if isinstance(init, _initializers.VarianceScaling):
            # Keras's fans for einsum kernels: draw as a (fan_in, fan_out) matrix (i.i.d.
            # entries, so the layout does not matter) and give it the kernel's shape.
            base = init

            def init(shape: tuple, dtype: Any = "float32") -> np.ndarray:
                return np.asarray(base((fan_in, fan_out), dtype=dtype)).reshape(shape)

        self.kernel = self.add_weight("kernel", kernel_shape, init, self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        if bias_shape is not None:
            self.bias = self.add_weight("bias", bias_shape, self.bias_initializer, self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self._plan = _Plan(in_x, w_spec, out_x)
        self._ndim = len(input_shape)
        # Input axes shared with the kernel keep their size; the others may change (as in Keras).
        self._in_sizes = {ch: d for ch, d in zip(w_spec, kernel_shape) if ch in in_x}
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return self._analyze(tuple(input_shape))[3]

    # -- running -------------------------------------------------------------------------------

    def _check(self, x: np.ndarray) -> None:
        spec = self._plan.in_spec
        bad = x.ndim != self._ndim or any(
            i > 0 and x.shape[i] != self._in_sizes.get(ch, x.shape[i]) for i, ch in enumerate(spec)
        )
        if bad:
            want = tuple(self._in_sizes.get(ch) if i else None for i, ch in enumerate(spec))
            raise ValueError(
                f"EinsumDense '{self.name}': expected an input of shape {shape_str(want)} for equation "
                f"{self.equation!r}. Received: shape={x.shape}"
            )

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x = np.ascontiguousarray(x, dtype=np.float32)
        self._check(x)
        z = self._plan.forward(x, self.kernel.value)
        if self.bias is not None:
            z += self.bias.value
        act = self.activation
        last = z.shape[-1] if z.ndim else 1
        z2 = z.reshape(-1, last) if act.native else z  # an activation along an axis sees the full shape
        y2 = act.forward(z2)
        ctx = (x, z2 if act.backward_needs_x else None, y2) if training else None
        return y2.reshape(z.shape), ctx

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        x, z2, y2 = ctx
        shape = dy.shape
        dz = self.activation.backward(
            x=z2, y=y2, dy=np.array(dy, dtype=np.float32, order="C").reshape(y2.shape)
        ).reshape(shape)
        if self.trainable and self.kernel.trainable:
            self.kernel.grad += self._plan.kernel_grad(x, dz)
        if self.trainable and self.bias is not None and self.bias.trainable:
            b = self.bias.shape
            lead = dz.ndim - len(b)
            axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(b) if d == 1)
            self.bias.grad += dz.sum(axis=axes, dtype=np.float64).reshape(b).astype(np.float32)
        if not need_dx:
            return None
        return self._plan.input_grad(dz, self.kernel.value, x.shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(equation=self.equation, output_shape=list(self.output_shape), bias_axes=self.bias_axes,
                      **_kernel_bias_config(self))
        return config


def _prod(dims: Sequence[int]) -> int:
    return int(np.prod(dims, dtype=np.int64))


class _Plan:
    """How to evaluate ``einsum(in,w->out)`` and its two gradients.

    When every input letter is in the kernel or the output but not both (free axes F and
    contracted axes K) and every kernel letter is in the input or the output but not both
    (contracted axes K and kernel output axes O), the product is the GEMM
    ``X[F, K] @ W[K, O] = Y[F, O]`` after transposing X and W, and the output is ``Y``
    transposed to the equation's output order; the gradients are ``dY @ W.T`` and
    ``X.T @ dY``. Other equations use ``numpy.einsum`` in float64.
    """

    def __init__(self, in_spec: str, w_spec: str, out_spec: str):
        self.in_spec, self.w_spec, self.out_spec = in_spec, w_spec, out_spec
        free = [c for c in in_spec if c in out_spec and c not in w_spec]
        contracted = [c for c in in_spec if c in w_spec and c not in out_spec]
        wout = [c for c in w_spec if c in out_spec and c not in in_spec]
        self.gemm = len(free) + len(contracted) == len(in_spec) and len(contracted) + len(wout) == len(w_spec)
        if self.gemm:
            self.free, self.contracted, self.wout = free, contracted, wout
            self.x_perm = [in_spec.index(c) for c in free + contracted]
            self.w_perm = [w_spec.index(c) for c in contracted + wout]
            fo = free + wout
            self.y_perm = [fo.index(c) for c in out_spec]  # (free, wout) -> output order
        # Input letters summed away (in neither kernel nor output): their gradient broadcasts.
        self.summed = [c for c in in_spec if c not in w_spec and c not in out_spec]

    @staticmethod
    def _einsum(eq: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.einsum(eq, a.astype(np.float64), b.astype(np.float64)).astype(np.float32)

    def _x_matrix(self, x: np.ndarray) -> tuple:
        """``x`` in (free, contracted) order as an ``(M, K)`` matrix, with the free and the
        contracted sizes."""
        xt = x.transpose(self.x_perm)
        fshape, kshape = xt.shape[: len(self.free)], xt.shape[len(self.free) :]
        return np.ascontiguousarray(xt).reshape(_prod(fshape), _prod(kshape)), fshape, kshape

    def forward(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        if not self.gemm:
            return self._einsum(f"{self.in_spec},{self.w_spec}->{self.out_spec}", x, w)
        x2, fshape, kshape = self._x_matrix(x)
        wt = w.transpose(self.w_perm)
        oshape = wt.shape[len(self.contracted):]
        y = ops.matmul(x2, np.ascontiguousarray(wt).reshape(x2.shape[1], _prod(oshape)))
        return np.ascontiguousarray(y.reshape(fshape + oshape).transpose(self.y_perm))

    def _dy_matrix(self, dy: np.ndarray) -> np.ndarray:
        """``dy`` in (free, wout) order as an ``(M, N)`` matrix."""
        inv = np.argsort(self.y_perm)
        dyt = np.ascontiguousarray(dy.transpose(inv))
        nf = len(self.free)
        return dyt.reshape(_prod(dyt.shape[:nf]), _prod(dyt.shape[nf:]))

    def kernel_grad(self, x: np.ndarray, dy: np.ndarray) -> np.ndarray:
        if not self.gemm:
            return self._einsum(f"{self.in_spec},{self.out_spec}->{self.w_spec}", x, dy)
        x2, _, kshape = self._x_matrix(x)
        g = ops.matmul(x2, self._dy_matrix(dy), transpose_a=True)  # (K, N) in (contracted, wout) order
        oshape = tuple(dy.shape[self.out_spec.index(c)] for c in self.wout)
        return g.reshape(kshape + oshape).transpose(np.argsort(self.w_perm))

    def input_grad(self, dy: np.ndarray, w: np.ndarray, x_shape: tuple) -> np.ndarray:
        if not self.gemm:
            kept = "".join(c for c in self.in_spec if c not in self.summed)
            g = self._einsum(f"{self.out_spec},{self.w_spec}->{kept}", dy, w)
            for i, c in enumerate(self.in_spec):
                if c in self.summed:
                    g = np.expand_dims(g, i)
            return np.ascontiguousarray(np.broadcast_to(g, x_shape))
        wt = np.ascontiguousarray(w.transpose(self.w_perm))
        nk = len(self.contracted)
        dx = ops.matmul(self._dy_matrix(dy), wt.reshape(_prod(wt.shape[:nk]), _prod(wt.shape[nk:])), transpose_b=True)
        xt_shape = tuple(x_shape[i] for i in self.x_perm)
        return np.ascontiguousarray(dx.reshape(xt_shape).transpose(np.argsort(self.x_perm)))
