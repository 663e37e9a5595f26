"""Convolution layers: Conv1D, Conv2D, Conv3D, Conv1DTranspose, Conv2DTranspose, Conv3DTranspose,
DepthwiseConv1D/2D and SeparableConv1D/2D (channels-last, Keras 3 layouts).

All of them run on one native kernel (``_core.conv2d_forward`` / ``conv2d_backward``): Conv1D is
Conv2D with a height of 1, Conv3D is a sum over the kernel's depth of 2-D convolutions of depth
slices (all output depths of one kernel slice in one call, depth folded into the batch), the
forward pass of Conv2DTranspose is the input gradient of the
convolution it transposes (Conv1DTranspose is Conv2DTranspose with a height of 1; Conv3DTranspose
splits depth as Conv3D does and scatters each kernel slice's 2-D result to its output depths), a depthwise
convolution is a grouped convolution with one group per input channel, and a separable
convolution is a depthwise one followed by a 1x1 convolution. Bias and activation are applied
inside the kernel, tile by tile, while the output is still in cache.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from pynncore import _core, _memory
from pynncore import activations as _activations
from pynncore import constraints as _constraints
from pynncore import regularizers as _regularizers
from pynncore.layers.base import Layer, shape_str
from pynncore.layers.core import _serialize
from pynncore.ops import _conv_tuple, conv_output_size, conv_transpose_output_size

__all__ = [
    "Conv1D",
    "Conv1DTranspose",
    "Conv2D",
    "Conv2DTranspose",
    "Conv3D",
    "Conv3DTranspose",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
    "SeparableConv1D",
    "SeparableConv2D",
    "Convolution1D",
    "Convolution1DTranspose",
    "Convolution2D",
    "Convolution2DTranspose",
    "Convolution3D",
    "Convolution3DTranspose",
    "SeparableConvolution1D",
    "SeparableConvolution2D",
]


def _check_data_format(layer: str, data_format: Any) -> str:
    if data_format not in (None, "channels_last"):
        raise ValueError(
            f"{layer}: only data_format='channels_last' is supported (data (N, ..., C)). "
            f"Received: data_format={data_format!r}"
        )
    return "channels_last"


def _check_padding(layer: str, padding: Any, allowed: tuple) -> str:
    if not isinstance(padding, str) or padding.lower() not in allowed:
        names = ", ".join(repr(p) for p in allowed)
        raise ValueError(f"{layer}: padding must be one of {names}. Received: padding={padding!r}")
    return padding.lower()


def _positive_int(layer: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{layer}: {name} must be a positive integer. Received: {name}={value!r}")
    return int(value)


def conv_geometry(what: str, rank: int, kernel_size: Any, strides: Any, padding: Any, data_format: Any,
                  dilation_rate: Any, paddings: tuple) -> tuple:
    """The window arguments of a convolution layer, checked: ``(kernel_size, strides, padding,
    data_format, dilation_rate)`` with tuples of ``rank`` ints and ``padding`` one of ``paddings``."""
    return (
        _conv_tuple(kernel_size, rank, "kernel_size", what),
        _conv_tuple(strides, rank, "strides", what),
        _check_padding(what, padding, paddings),
        _check_data_format(what, data_format),
        _conv_tuple(dilation_rate, rank, "dilation_rate", what),
    )


def check_rank_and_channels(what: str, shape: tuple, ndim: int, desc: str, channels: Optional[int]) -> None:
    """Raises unless ``shape`` has ``ndim`` axes (laid out as ``desc``) and a known last axis
    equal to ``channels`` (any when None)."""
    if len(shape) != ndim:
        raise ValueError(f"{what}: expected input of rank {ndim} {desc}. Received: shape={shape_str(shape)}")
    if shape[-1] is None:
        raise ValueError(
            f"{what}: the channel dimension (last axis) of the input must be known. "
            f"Received: shape={shape_str(shape)}"
        )
    if channels is not None and shape[-1] != channels:
        raise ValueError(
            f"{what}: expected input with {channels} channels (last axis). Received: shape={shape_str(shape)}"
        )


def depth_plan(depth: int, out_depth: int, pad_front: int, k: int, s: int, d: int) -> list:
    """How a 3-D convolution splits into 2-D ones along depth (kernel depth ``k``, stride ``s``,
    dilation ``d``): ``(kd, o0, o1, i0)`` for each kernel depth index that reaches the input,
    where output depths ``o0 <= od < o1`` read input depth ``i0 + (od - o0) * s``."""
    plan = []
    for kd in range(k):
        shift = kd * d - pad_front
        o0 = max(0, -(shift // s))  # first od with od * s + shift >= 0
        o1 = min(out_depth, (depth - 1 - shift) // s + 1) if depth - 1 - shift >= 0 else 0
        if o1 > o0:
            plan.append((kd, o0, o1, o0 * s + shift))
    return plan


def depth_slab(x: np.ndarray, o0: int, o1: int, i0: int, s: int) -> np.ndarray:
    """Depths ``i0, i0 + s, ...`` of ``x`` ``(N, D, H, W, C)`` (one per output depth in
    ``[o0, o1)``) as a C-contiguous ``(N * (o1 - o0), H, W, C)`` batch."""
    part = x[:, i0 : i0 + (o1 - o0 - 1) * s + 1 : s]
    return np.ascontiguousarray(part).reshape((x.shape[0] * (o1 - o0),) + x.shape[2:])


class _DepthSplit:
    """The passes of Conv3D and Conv3DTranspose: ``_depth_pass`` runs 2-D convolutions of depth
    slices (one native call per kernel depth index, the depths it reaches folded into the
    batch), then bias and activation apply to the whole volume; ``_depth_backward`` takes the
    gradient before the activation."""

    def _geometry(self) -> tuple:
        return self.strides[1:], self.dilation_rate[1:]

    def _depth_pass(self, x: np.ndarray, sizes: tuple, pads: tuple) -> tuple:
        """``(y, plan)``: the float32 output volume before bias and activation, and the
        ``depth_plan`` it ran."""
        raise NotImplementedError

    def _depth_backward(self, x: np.ndarray, pads: tuple, plan: list, dz: np.ndarray, train: bool,
                        need_dx: bool) -> Optional[np.ndarray]:
        """Adds the kernel gradient (when ``train``); returns dL/dx when ``need_dx``."""
        raise NotImplementedError

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x = np.ascontiguousarray(x, dtype=np.float32)
        self._check_rank_and_channels(x.shape)
        sizes, pads = self._output_sizes(x.shape)
        y, plan = self._depth_pass(x, sizes, pads)
        act = self.activation
        bias = self.bias.value if self.use_bias else None
        z = None
        if not training or not act.backward_needs_x:
            act.forward(y, out=y, bias=bias)
        else:
            if bias is not None:
                y += bias
            z = y
            y = act.forward(z)
        return y, ((x, pads, plan, z, y) if training else None)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        x, pads, plan, z, y = ctx
        train = self.trainable and self.kernel.trainable
        if not need_dx and not train:
            return None
        dy = np.ascontiguousarray(dy, dtype=np.float32).reshape(y.shape)
        if self.activation.name == "linear":
            dz = dy
        else:
            dz = self.activation.backward(x=z, y=y, dy=dy, out=_memory.empty_f32(y.shape))
        if train and self.use_bias:
            self.bias.grad += dz.sum(axis=(0, 1, 2, 3), dtype=np.float32)
        return self._depth_backward(x, pads, plan, dz, train, need_dx)


class _ConvBase(Layer):
    """What Conv1D, Conv2D and Conv2DTranspose share: arguments, weights, config."""

    _rank = 2
    _transpose = False
    _paddings: tuple = ("valid", "same")

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        data_format: Optional[str] = None,
        dilation_rate: Any = 1,
        groups: int = 1,
        activation: Any = None,
        use_bias: bool = True,
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
        what = self._what
        self.filters = _positive_int(what, "filters", filters)
        self._init_geometry(kernel_size, strides, padding, data_format, dilation_rate)
        self.groups = _positive_int(what, "groups", groups)
        if self.filters % self.groups:
            raise ValueError(
                f"{what}: filters must be divisible by groups. Received: filters={self.filters}, "
                f"groups={self.groups}"
            )
        self.activation = _activations._get_same_shape(activation, what)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = _regularizers.get(kernel_regularizer)
        self.bias_regularizer = _regularizers.get(bias_regularizer)
        self.activity_regularizer = _regularizers.get(activity_regularizer)
        self.kernel_constraint = _constraints.get(kernel_constraint)
        self.bias_constraint = _constraints.get(bias_constraint)
        self.kernel = None
        self.bias = None

    def _init_geometry(self, kernel_size: Any, strides: Any, padding: Any, data_format: Any, dilation_rate: Any) -> None:
        """Validates and stores the window arguments shared by every convolution layer."""
        self.kernel_size, self.strides, self.padding, self.data_format, self.dilation_rate = conv_geometry(
            self._what, self._rank, kernel_size, strides, padding, data_format, dilation_rate, self._paddings
        )
        self._in_channels = None

    @property
    def _what(self) -> str:
        return f"{type(self).__name__} '{self.name}'"

    def _out_channels(self, in_channels: Optional[int]) -> int:
        return self.filters

    def _data_desc(self) -> str:
        return {1: "(N, L, C)", 2: "(N, H, W, C)", 3: "(N, D, H, W, C)"}[self._rank]

    def _check_rank_and_channels(self, shape: tuple) -> None:
        check_rank_and_channels(self._what, shape, self._rank + 2, self._data_desc(), self._in_channels)

    def _output_sizes(self, shape: tuple) -> tuple:
        """Output spatial sizes and padding before, per axis (None where the size is unknown)."""
        sizes, pads = [], []
        for i in range(self._rank):
            n = shape[1 + i]
            k, s, d = self.kernel_size[i], self.strides[i], self.dilation_rate[i]
            if n is None:
                sizes.append(None)
                pads.append(None)
                continue
            if self._transpose:
                op = None if self.output_padding is None else self.output_padding[i]
                o, p = conv_transpose_output_size(n, k, s, d, self.padding, op)
            else:
                o, p = conv_output_size(n, k, s, d, self.padding)
            if o < 1 or n < 1:
                keff = tuple((kk - 1) * dd + 1 for kk, dd in zip(self.kernel_size, self.dilation_rate))
                raise ValueError(
                    f"{self._what}: the kernel (size {self.kernel_size}, dilated {keff}) is larger "
                    f"than the input with padding='{self.padding}'; expected spatial sizes of at "
                    f"least {keff}. Received: shape={shape_str(shape)}"
                )
            sizes.append(o)
            pads.append(p)
        return tuple(sizes), tuple(pads)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        input_shape = tuple(input_shape)
        self._check_rank_and_channels(input_shape)
        sizes, _ = self._output_sizes(input_shape)
        return (input_shape[0],) + sizes + (self._out_channels(input_shape[-1]),)

    def _kernel_shape(self, in_channels: int) -> tuple:
        raise NotImplementedError

    def build(self, input_shape: tuple) -> None:
        input_shape = tuple(input_shape)
        self._check_rank_and_channels(input_shape)
        self._output_sizes(input_shape)
        c = int(input_shape[-1])
        if c % self.groups:
            raise ValueError(
                f"{self._what}: the input's channels must be divisible by groups={self.groups}. "
                f"Received: shape={shape_str(input_shape)}"
            )
        self._in_channels = c
        self.kernel = self.add_weight("kernel", self._kernel_shape(c), self.kernel_initializer, self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer, self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self.built = True

    def _prepare(self, x: np.ndarray) -> tuple:
        """x as C-contiguous float32 NHWC (H = 1 for Conv1D), the NHWC kernel view, output
        shapes and padding; raises ValueError for inputs that do not fit the layer."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        self._check_rank_and_channels(x.shape)
        sizes, pads = self._output_sizes(x.shape)
        kernel = self.kernel.value
        if self._rank == 1:
            x4 = x[:, None]
            kernel = kernel[None]
            sizes, pads = (1,) + sizes, (0,) + pads
        else:
            x4 = x
        return x, x4, kernel, sizes, pads

    def _geometry(self) -> tuple:
        if self._rank == 1:
            return (1,) + self.strides, (1,) + self.dilation_rate
        return self.strides, self.dilation_rate

    def _out_shape(self, x: np.ndarray, sizes: tuple) -> tuple:
        spatial = sizes[1:] if self._rank == 1 else sizes
        return (x.shape[0],) + tuple(spatial) + (self.filters,)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            strides=self.strides,
            padding=self.padding,
            data_format=self.data_format,
            dilation_rate=self.dilation_rate,
            activation=_activations.serialize(self.activation),
            use_bias=self.use_bias,
            kernel_initializer=_serialize(self.kernel_initializer),
            bias_initializer=_serialize(self.bias_initializer),
            kernel_regularizer=_serialize(self.kernel_regularizer),
            bias_regularizer=_serialize(self.bias_regularizer),
            activity_regularizer=_serialize(self.activity_regularizer),
            kernel_constraint=_constraints.config_of(self.kernel_constraint),
            bias_constraint=_constraints.config_of(self.bias_constraint),
        )
        if not self._transpose:
            config["groups"] = self.groups
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Layer":
        config = dict(config)
        for key in ("kernel_size", "strides", "dilation_rate", "output_padding"):
            if isinstance(config.get(key), list):
                config[key] = tuple(config[key])
        return cls(**config)


class _Conv(_ConvBase):
    """Conv1D / Conv2D: ``activation(conv(inputs, kernel) + bias)``."""

    def _kernel_shape(self, in_channels: int) -> tuple:
        return self.kernel_size + (in_channels // self.groups, self.filters)

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x, x4, kernel, sizes, pads = self._prepare(x)
        act = self.activation
        fused = act.native and (not training or not act.backward_needs_x)
        y4 = _memory.empty_f32((x.shape[0],) + sizes + (self.filters,))
        strides, dilation = self._geometry()
        bias = self.bias.value if self.use_bias else None
        name, kw = (act.name, act._kernel_kw) if fused else ("linear", {})
        _core.conv2d_forward(x4, kernel, bias, y4, strides, dilation, pads, name, **kw)
        z = None
        if fused:
            y = y4
        else:
            z = y4
            y = act.forward(z)
        out_shape = self._out_shape(x, sizes)
        ctx = (x4, pads, z, y, y4.shape) if training else None
        return y.reshape(out_shape), ctx

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        x4, pads, z, y, shape4 = ctx
        dy4 = np.ascontiguousarray(dy, dtype=np.float32).reshape(shape4)
        if self.activation.name == "linear":
            dz = dy4
        else:
            dz = self.activation.backward(x=z, y=y.reshape(shape4), dy=dy4, out=_memory.empty_f32(shape4))
        train = self.trainable and self.kernel.trainable
        dk = db = None
        if train:
            dk = self.kernel.grad[None] if self._rank == 1 else self.kernel.grad
            db = self.bias.grad if self.use_bias else None
        if not need_dx and not train:
            return None
        dx4 = _memory.empty_f32(x4.shape) if need_dx else None
        strides, dilation = self._geometry()
        kernel = self.kernel.value[None] if self._rank == 1 else self.kernel.value
        _core.conv2d_backward(x4, kernel, dz, dx4, dk, db, strides, dilation, pads, accumulate=True)
        if not need_dx:
            return None
        return dx4[:, 0] if self._rank == 1 else dx4


class Conv2D(_Conv):
    """2-D convolution over images ``(N, H, W, C)``: ``activation(conv2d(x, kernel) + bias)``.

    The kernel has Keras's layout ``(KH, KW, C / groups, filters)``. The native kernel works
    on NHWC directly as GEMMs over tiles of output pixels, with bias and activation applied
    to each tile as it is produced.

    Args:
        filters: number of output channels.
        kernel_size: int or ``(KH, KW)``.
        strides: int or pair, default 1.
        padding: ``"valid"`` (no padding) or ``"same"`` (output ``ceil(size / stride)``; the odd
            padding pixel goes to the bottom/right, as in Keras).
        data_format: None or ``"channels_last"`` (the only supported layout).
        dilation_rate: int or pair, default 1.
        groups: input and output channels are split into this many independent groups.
        activation: name, ``pynncore.activations`` function, or None (linear).
        use_bias: whether to add a bias vector.
        kernel_initializer, bias_initializer: initializers (names or objects).
        kernel_regularizer, bias_regularizer, activity_regularizer: regularizers or None.
        kernel_constraint, bias_constraint: projections applied after every optimizer step
            (``pynncore.constraints``).

    Call arguments:
        inputs: array ``(N, H, W, C)``.

    Returns:
        Array ``(N, OH, OW, filters)``.

    Raises:
        ValueError: bad arguments; an input of the wrong rank or channel count; a kernel larger
            than the (padded) input; channels or filters not divisible by groups.

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import Conv2D
        >>> Conv2D(8, 3, padding="same", activation="relu")(np.ones((2, 5, 5, 3))).shape
        (2, 5, 5, 8)
    """

    _rank = 2


class Conv1D(_Conv):
    """1-D convolution over sequences ``(N, L, C)``; runs as Conv2D with a height of 1.

    The kernel has Keras's layout ``(K, C / groups, filters)``. Arguments are Conv2D's (with
    ints or 1-tuples); ``padding`` may also be ``"causal"`` (all padding before the sequence,
    so output step t sees inputs up to t only).

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import Conv1D
        >>> Conv1D(4, 3, padding="causal")(np.ones((2, 10, 3))).shape
        (2, 10, 4)
    """

    _rank = 1
    _paddings = ("valid", "same", "causal")


class Conv3D(_DepthSplit, _Conv):
    """3-D convolution over volumes ``(N, D, H, W, C)``: ``activation(conv3d(x, kernel) + bias)``.

    The kernel has Keras's layout ``(KD, KH, KW, C / groups, filters)``. Output depth ``od`` is
    the sum over ``kd`` of the 2-D convolution of the input slice at depth
    ``od * stride_d + kd * dilation_d - pad_front`` with ``kernel[kd]`` (slices in the padding
    contribute nothing). For each ``kd`` every output depth it reaches runs in one native
    2-D convolution call, with depth folded into the batch; the backward pass sums the input
    and kernel gradients over ``kd`` the same way.

    Args:
        filters: number of output channels.
        kernel_size: int or ``(KD, KH, KW)``.
        strides: int or triple, default 1.
        padding: ``"valid"`` (no padding) or ``"same"`` (output ``ceil(size / stride)``; the odd
            padding slice goes to the back/bottom/right, as in Keras).
        dilation_rate: int or triple, default 1.
        data_format, groups, activation, use_bias, kernel_initializer, bias_initializer,
        kernel_regularizer, bias_regularizer, activity_regularizer, kernel_constraint,
        bias_constraint: as for Conv2D.

    Call arguments:
        inputs: array ``(N, D, H, W, C)``.

    Returns:
        Array ``(N, OD, OH, OW, filters)``.

    Raises:
        ValueError: bad arguments; an input of the wrong rank or channel count; a kernel larger
            than the (padded) input; channels or filters not divisible by groups.

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import Conv3D
        >>> Conv3D(4, 3, padding="same", activation="relu")(np.ones((2, 5, 6, 7, 3))).shape
        (2, 5, 6, 7, 4)
    """

    _rank = 3

    def _depth_slices(self, depth: int, out_depth: int, pad_front: int) -> list:
        return depth_plan(depth, out_depth, pad_front, self.kernel_size[0], self.strides[0], self.dilation_rate[0])

    def _slab(self, x: np.ndarray, o0: int, o1: int, i0: int) -> np.ndarray:
        return depth_slab(x, o0, o1, i0, self.strides[0])

    def _depth_pass(self, x: np.ndarray, sizes: tuple, pads: tuple) -> tuple:
        n, od = x.shape[0], sizes[0]
        strides, dilation = self._geometry()
        kernel = self.kernel.value
        plan = self._depth_slices(x.shape[1], od, pads[0])
        y = _memory.zeros_f32((n,) + sizes + (self.filters,))
        for kd, o0, o1, i0 in plan:
            full = o0 == 0 and o1 == od
            out = y if full and kd == plan[0][0] else _memory.empty_f32((n, o1 - o0) + y.shape[2:])
            _core.conv2d_forward(self._slab(x, o0, o1, i0), kernel[kd], None, out.reshape((n * (o1 - o0),) + y.shape[2:]),
                                 strides, dilation, pads[1:])
            if out is not y:
                y[:, o0:o1] += out
        return y, plan

    def _depth_backward(self, x: np.ndarray, pads: tuple, plan: list, dz: np.ndarray, train: bool,
                        need_dx: bool) -> Optional[np.ndarray]:
        strides, dilation = self._geometry()
        kernel = self.kernel.value
        s = self.strides[0]
        dx = _memory.zeros_f32(x.shape) if need_dx else None
        for kd, o0, o1, i0 in plan:
            xs = self._slab(x, o0, o1, i0)
            dzs = np.ascontiguousarray(dz[:, o0:o1]).reshape((x.shape[0] * (o1 - o0),) + dz.shape[2:])
            dxs = _memory.empty_f32(xs.shape) if need_dx else None
            dk = self.kernel.grad[kd] if train else None
            _core.conv2d_backward(xs, kernel[kd], dzs, dxs, dk, None, strides, dilation, pads[1:], accumulate=True)
            if need_dx:
                dx[:, i0 : i0 + (o1 - o0 - 1) * s + 1 : s] += dxs.reshape((x.shape[0], o1 - o0) + x.shape[2:])
        return dx


class _ConvTranspose(_ConvBase):
    """Conv1DTranspose / Conv2DTranspose / Conv3DTranspose: the gradient of a convolution with
    respect to its input, used as a layer; the 1-D layer runs as the 2-D one with a height of 1,
    the 3-D layer overrides the passes to split depth."""

    _transpose = True

    def __init__(self, filters: int, kernel_size: Any, strides: Any = 1, padding: str = "valid", output_padding: Any = None, **kwargs: Any):
        if "groups" in kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument 'groups'")
        super().__init__(filters, kernel_size, strides=strides, padding=padding, **kwargs)
        self.output_padding = (
            None
            if output_padding is None
            else _conv_tuple(output_padding, self._rank, "output_padding", self._what, minimum=0)
        )
        if self.output_padding is not None and any(p >= s for p, s in zip(self.output_padding, self.strides)):
            raise ValueError(
                f"{self._what}: output_padding must be smaller than strides. Received: "
                f"output_padding={self.output_padding}, strides={self.strides}"
            )

    def _kernel_shape(self, in_channels: int) -> tuple:
        return self.kernel_size + (self.filters, in_channels)

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x, x4, kernel, sizes, pads = self._prepare(x)
        strides, dilation = self._geometry()
        act = self.activation
        fused = act.native and (not training or not act.backward_needs_x)
        y4 = _memory.empty_f32((x.shape[0],) + sizes + (self.filters,))
        bias = self.bias.value if self.use_bias else None
        name, kw = (act.name, act._kernel_kw) if fused else ("linear", {})
        _core.conv2d_backward(None, kernel, x4, y4, None, None, strides, dilation, pads, bias_dx=bias, activation=name, **kw)
        z = None
        if not fused:
            z = y4
            y4 = act.forward(z)
        ctx = (x4, pads, z, y4) if training else None
        return y4.reshape(self._out_shape(x, sizes)), ctx

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        x4, pads, z, y4 = ctx
        dy = np.ascontiguousarray(dy, dtype=np.float32).reshape(y4.shape)
        if self.activation.name == "linear":
            dz = dy
        else:
            dz = self.activation.backward(x=z, y=y4, dy=dy, out=_memory.empty_f32(dy.shape))
        strides, dilation = self._geometry()
        if self.trainable and self.kernel.trainable:
            # The transposed layer's output is the convolution's input: dkernel pairs dz (as x)
            # with this layer's input (as the convolution's output gradient).
            dk = self.kernel.grad[None] if self._rank == 1 else self.kernel.grad
            _core.conv2d_backward(dz, None, x4, None, dk, None, strides, dilation, pads, accumulate=True)
            if self.use_bias:
                self.bias.grad += dz.sum(axis=(0, 1, 2), dtype=np.float32)
        if not need_dx:
            return None
        dx4 = _memory.empty_f32(x4.shape)
        kernel = self.kernel.value[None] if self._rank == 1 else self.kernel.value
        _core.conv2d_forward(dz, kernel, None, dx4, strides, dilation, pads)
        return dx4[:, 0] if self._rank == 1 else dx4

    def get_config(self) -> dict:
        config = super().get_config()
        config["output_padding"] = self.output_padding
        return config


class Conv2DTranspose(_ConvTranspose):
    """Transposed 2-D convolution (decoders, GAN generators): the gradient of a Conv2D with
    respect to its input, used as a layer that upsamples by ``strides``.

    The kernel has Keras's layout ``(KH, KW, filters, C)``. Output sizes follow Keras 3:
    ``H * stride`` for ``"same"``, ``(H - 1) * stride + max(KH_eff, stride)`` for ``"valid"``
    (plus ``output_padding`` rules when it is given).

    Args:
        filters, kernel_size, strides, padding, data_format, dilation_rate, activation,
        use_bias, initializers, regularizers, constraints: as for Conv2D.
        output_padding: None, an int or a pair: extra rows/columns at the end of the output.

    Call arguments:
        inputs: array ``(N, H, W, C)``.

    Returns:
        Array ``(N, OH, OW, filters)``.

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import Conv2DTranspose
        >>> Conv2DTranspose(4, 3, strides=2, padding="same")(np.ones((1, 4, 4, 2))).shape
        (1, 8, 8, 4)
    """

    _rank = 2


class Conv1DTranspose(_ConvTranspose):
    """Transposed 1-D convolution over sequences ``(N, L, C)``: the gradient of a Conv1D with
    respect to its input, used as a layer that upsamples by ``strides``; runs as
    Conv2DTranspose with a height of 1.

    The kernel has Keras's layout ``(K, filters, C)``. Output length follows Keras 3:
    ``L * stride`` for ``"same"``, ``(L - 1) * stride + max(K_eff, stride)`` for ``"valid"``
    (with ``output_padding``: ``(L - 1) * stride + K_eff - 2 * pad + output_padding``).

    Args:
        filters: number of output channels.
        kernel_size: int or 1-tuple.
        strides: int or 1-tuple, default 1.
        padding: ``"valid"`` or ``"same"``.
        output_padding: None or an int smaller than ``strides``: extra steps at the end of the
            output.
        data_format: None or ``"channels_last"`` (the only supported layout).
        dilation_rate: int or 1-tuple, default 1.
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint: as for
            Conv1D.

    Call arguments:
        inputs: array ``(N, L, C)``.

    Returns:
        Array ``(N, OL, filters)``.

    Raises:
        ValueError: bad arguments (``output_padding >= strides`` included), an input of the
            wrong rank or channel count.

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import Conv1DTranspose
        >>> Conv1DTranspose(4, 3, strides=2, padding="same")(np.ones((2, 5, 3))).shape
        (2, 10, 4)
    """

    _rank = 1


class Conv3DTranspose(_DepthSplit, _ConvTranspose):
    """Transposed 3-D convolution over volumes ``(N, D, H, W, C)``: the gradient of a Conv3D
    with respect to its input, used as a layer that upsamples by ``strides``.

    The kernel has Keras's layout ``(KD, KH, KW, filters, C)``. Input depth ``i`` scatters the
    2-D transposed convolution of ``x[:, i]`` with ``kernel[kd]`` to output depth
    ``i * stride_d + kd * dilation_d - pad_front`` (depths outside the output are dropped).
    For each ``kd`` every input depth that lands inside the output runs in one native call,
    with depth folded into the batch. Output sizes follow Keras 3 per axis, as for
    Conv2DTranspose.

    Args:
        filters: number of output channels.
        kernel_size: int or ``(KD, KH, KW)``.
        strides: int or triple, default 1.
        padding: ``"valid"`` or ``"same"``.
        output_padding: None, an int or a triple, each smaller than the stride along its axis:
            extra slices/rows/columns at the end of the output.
        data_format: None or ``"channels_last"`` (the only supported layout).
        dilation_rate: int or triple, default 1.
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint: as for
            Conv3D.

    Call arguments:
        inputs: array ``(N, D, H, W, C)``.

    Returns:
        Array ``(N, OD, OH, OW, filters)``.

    Raises:
        ValueError: bad arguments (``output_padding >= strides`` and
            ``data_format="channels_first"`` included), an input of the wrong rank or
            channel count.

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import Conv3DTranspose
        >>> Conv3DTranspose(4, 3, strides=2, padding="same")(np.ones((1, 2, 3, 4, 2))).shape
        (1, 4, 6, 8, 4)
    """

    _rank = 3

    def _depth_pass(self, x: np.ndarray, sizes: tuple, pads: tuple) -> tuple:
        n, depth = x.shape[0], x.shape[1]
        s = self.strides[0]
        strides, dilation = self._geometry()
        kernel = self.kernel.value
        # The convolution this layer transposes maps the output (depth sizes[0]) to the input.
        plan = depth_plan(sizes[0], depth, pads[0], self.kernel_size[0], s, self.dilation_rate[0])
        y = _memory.zeros_f32((n,) + sizes + (self.filters,))
        for kd, o0, o1, i0 in plan:
            m = o1 - o0
            xs = np.ascontiguousarray(x[:, o0:o1]).reshape((n * m,) + x.shape[2:])
            out = _memory.empty_f32((n * m,) + y.shape[2:])
            _core.conv2d_backward(None, kernel[kd], xs, out, None, None, strides, dilation, pads[1:])
            y[:, i0 : i0 + (m - 1) * s + 1 : s] += out.reshape((n, m) + y.shape[2:])
        return y, plan

    def _depth_backward(self, x: np.ndarray, pads: tuple, plan: list, dz: np.ndarray, train: bool,
                        need_dx: bool) -> Optional[np.ndarray]:
        n = x.shape[0]
        strides, dilation = self._geometry()
        kernel = self.kernel.value
        dx = _memory.zeros_f32(x.shape) if need_dx else None
        for kd, o0, o1, i0 in plan:
            m = o1 - o0
            dzs = depth_slab(dz, o0, o1, i0, self.strides[0])
            if train:
                # dkernel pairs dz (the transposed convolution's input) with x (its output gradient).
                xs = np.ascontiguousarray(x[:, o0:o1]).reshape((n * m,) + x.shape[2:])
                _core.conv2d_backward(dzs, None, xs, None, self.kernel.grad[kd], None, strides, dilation, pads[1:],
                                      accumulate=True)
            if need_dx:
                dxs = _memory.empty_f32((n * m,) + x.shape[2:])
                _core.conv2d_forward(dzs, kernel[kd], None, dxs, strides, dilation, pads[1:])
                dx[:, o0:o1] += dxs.reshape((n, m) + x.shape[2:])
        return dx


def _grouped_view(depthwise: np.ndarray) -> np.ndarray:
    """The depthwise array ``(k..., C, M)`` as the ``(KH, KW, 1, C * M)`` kernel of a grouped
    convolution with groups = C (KH = 1 for 1-D), sharing its memory: output channel
    ``c * M + m`` reads input channel c through ``depthwise[..., c, m]``."""
    k = depthwise.shape[:-2]
    shape = ((1,) if len(k) == 1 else ()) + k + (1, depthwise.shape[-2] * depthwise.shape[-1])
    return np.reshape(depthwise, shape, copy=False)


class _DepthwiseBase(_ConvBase):
    """What the depthwise and separable convolutions share: arguments, the depthwise weight
    and the depthwise pass run as a grouped convolution on a view of that weight."""

    _paddings = ("valid", "same")
    _depthwise_name = "kernel"

    def _init_depthwise(
        self,
        kernel_size: Any,
        strides: Any,
        padding: Any,
        depth_multiplier: Any,
        data_format: Any,
        dilation_rate: Any,
        activation: Any,
        use_bias: Any,
        depthwise_initializer: Any,
        bias_initializer: Any,
        depthwise_regularizer: Any,
        bias_regularizer: Any,
        activity_regularizer: Any,
        depthwise_constraint: Any,
        bias_constraint: Any,
    ) -> None:
        self.depth_multiplier = _positive_int(self._what, "depth_multiplier", depth_multiplier)
        self._init_geometry(kernel_size, strides, padding, data_format, dilation_rate)
        self.activation = _activations._get_same_shape(activation, self._what)
        self.use_bias = bool(use_bias)
        self.depthwise_initializer = depthwise_initializer
        self.bias_initializer = bias_initializer
        self.depthwise_regularizer = _regularizers.get(depthwise_regularizer)
        self.bias_regularizer = _regularizers.get(bias_regularizer)
        self.activity_regularizer = _regularizers.get(activity_regularizer)
        self.depthwise_constraint = _constraints.get(depthwise_constraint)
        self.bias_constraint = _constraints.get(bias_constraint)
        self.bias = None
        self._depthwise = None

    def _build_depthwise(self, input_shape: tuple) -> int:
        """Checks the input shape, creates the depthwise weight; returns the channel count."""
        input_shape = tuple(input_shape)
        self._check_rank_and_channels(input_shape)
        self._output_sizes(input_shape)
        c = int(input_shape[-1])
        self._in_channels = c
        self._depthwise = self.add_weight(
            self._depthwise_name,
            self.kernel_size + (c, self.depth_multiplier),
            self.depthwise_initializer,
            self.depthwise_regularizer,
            constraint=self.depthwise_constraint,
        )
        return c

    def _add_bias(self, size: int) -> None:
        if self.use_bias:
            self.bias = self.add_weight("bias", (size,), self.bias_initializer, self.bias_regularizer,
                                        constraint=self.bias_constraint)

    def _input4(self, x: np.ndarray) -> tuple:
        """x as C-contiguous float32 NHWC (H = 1 for 1-D), output sizes and padding (4-D)."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        self._check_rank_and_channels(x.shape)
        sizes, pads = self._output_sizes(x.shape)
        if self._rank == 1:
            return x, x[:, None], (1,) + sizes, (0,) + pads
        return x, x, sizes, pads

    def _activate(self, run: Any, shape4: tuple, bias: Optional[np.ndarray], training: bool) -> tuple:
        """Runs ``run(out, bias, activation_name, kernel_kw)`` into a new ``shape4`` array with the
        activation fused where the backward pass allows; returns ``(y, z)`` (z: the
        pre-activation, kept only when the activation's backward needs it)."""
        act = self.activation
        fused = act.native and (not training or not act.backward_needs_x)
        out = _memory.empty_f32(shape4)
        name, kw = (act.name, act._kernel_kw) if fused else ("linear", {})
        run(out, bias, name, kw)
        if fused:
            return out, None
        return act.forward(out), out

    def _pre_activation_grad(self, z: Optional[np.ndarray], y: np.ndarray, dy: np.ndarray) -> np.ndarray:
        dy = np.ascontiguousarray(dy, dtype=np.float32).reshape(y.shape)
        if self.activation.name == "linear":
            return dy
        return self.activation.backward(x=z, y=y, dy=dy, out=_memory.empty_f32(y.shape))

    def _depthwise_backward(self, x4: np.ndarray, pads: tuple, dz: np.ndarray, db: Optional[np.ndarray],
                            need_dx: bool) -> Optional[np.ndarray]:
        """Adds the depthwise weight's gradient (and ``db``'s, if given) from ``dz``; returns
        dL/dx4 when ``need_dx``."""
        dk = _grouped_view(self._depthwise.grad) if self.trainable and self._depthwise.trainable else None
        if dk is None and db is None and not need_dx:
            return None
        dx4 = _memory.empty_f32(x4.shape) if need_dx else None
        strides, dilation = self._geometry()
        _core.conv2d_backward(x4, _grouped_view(self._depthwise.value), dz, dx4, dk, db, strides, dilation, pads,
                              accumulate=True)
        return dx4

    def _output(self, y4: np.ndarray) -> np.ndarray:
        return y4[:, 0] if self._rank == 1 else y4

    def get_config(self) -> dict:
        config = Layer.get_config(self)
        config.update(
            depth_multiplier=self.depth_multiplier,
            kernel_size=self.kernel_size,
            strides=self.strides,
            padding=self.padding,
            data_format=self.data_format,
            dilation_rate=self.dilation_rate,
            activation=_activations.serialize(self.activation),
            use_bias=self.use_bias,
            depthwise_initializer=_serialize(self.depthwise_initializer),
            bias_initializer=_serialize(self.bias_initializer),
            depthwise_regularizer=_serialize(self.depthwise_regularizer),
            bias_regularizer=_serialize(self.bias_regularizer),
            activity_regularizer=_serialize(self.activity_regularizer),
            depthwise_constraint=_constraints.config_of(self.depthwise_constraint),
            bias_constraint=_constraints.config_of(self.bias_constraint),
        )
        return config


class _DepthwiseConv(_DepthwiseBase):
    """DepthwiseConv1D / DepthwiseConv2D: ``activation(depthwise_conv(inputs, kernel) + bias)``."""

    def __init__(
        self,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        depth_multiplier: int = 1,
        data_format: Optional[str] = None,
        dilation_rate: Any = 1,
        activation: Any = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        depthwise_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ):
        Layer.__init__(self, **kwargs)
        self._init_depthwise(kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate, activation,
                             use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer,
                             bias_regularizer, activity_regularizer, depthwise_constraint, bias_constraint)
        self.kernel = None

    @property
    def depthwise_kernel(self) -> Any:
        """The depthwise weight ``(k..., C, depth_multiplier)`` (Keras 3 names it ``kernel``)."""
        return self.kernel

    def _out_channels(self, in_channels: Optional[int]) -> Optional[int]:
        return None if in_channels is None else in_channels * self.depth_multiplier

    def build(self, input_shape: tuple) -> None:
        c = self._build_depthwise(input_shape)
        self.kernel = self._depthwise
        self._add_bias(c * self.depth_multiplier)
        self.built = True

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x, x4, sizes, pads = self._input4(x)
        strides, dilation = self._geometry()
        kernel = _grouped_view(self.kernel.value)

        def run(out, bias, name, kw):
            _core.conv2d_forward(x4, kernel, bias, out, strides, dilation, pads, name, **kw)

        shape4 = (x.shape[0],) + sizes + (kernel.shape[-1],)
        y4, z = self._activate(run, shape4, self.bias.value if self.use_bias else None, training)
        return self._output(y4), ((x4, pads, z, y4) if training else None)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        x4, pads, z, y4 = ctx
        dz = self._pre_activation_grad(z, y4, dy)
        train = self.trainable and self.kernel.trainable
        db = self.bias.grad if train and self.use_bias else None
        dx4 = self._depthwise_backward(x4, pads, dz, db, need_dx)
        return self._output(dx4) if need_dx else None


class _SeparableConv(_DepthwiseBase):
    """SeparableConv1D / SeparableConv2D: a depthwise convolution (no bias, no activation), then
    ``activation(conv1x1(., pointwise_kernel) + bias)``."""

    _depthwise_name = "depthwise_kernel"

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        data_format: Optional[str] = None,
        dilation_rate: Any = 1,
        depth_multiplier: int = 1,
        activation: Any = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        pointwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        pointwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        depthwise_constraint: Any = None,
        pointwise_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ):
        Layer.__init__(self, **kwargs)
        self.filters = _positive_int(self._what, "filters", filters)
        self._init_depthwise(kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate, activation,
                             use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer,
                             bias_regularizer, activity_regularizer, depthwise_constraint, bias_constraint)
        self.pointwise_initializer = pointwise_initializer
        self.pointwise_regularizer = _regularizers.get(pointwise_regularizer)
        self.pointwise_constraint = _constraints.get(pointwise_constraint)
        self.depthwise_kernel = None
        self.pointwise_kernel = None

    def build(self, input_shape: tuple) -> None:
        c = self._build_depthwise(input_shape)
        self.depthwise_kernel = self._depthwise
        self.pointwise_kernel = self.add_weight(
            "pointwise_kernel",
            (1,) * self._rank + (c * self.depth_multiplier, self.filters),
            self.pointwise_initializer,
            self.pointwise_regularizer,
            constraint=self.pointwise_constraint,
        )
        self._add_bias(self.filters)
        self.built = True

    def _pointwise4(self, value: np.ndarray) -> np.ndarray:
        """The pointwise array ``(1..., C * M, filters)`` as a 1x1 Conv2D kernel (same memory)."""
        return np.reshape(value, (1, 1) + value.shape[-2:], copy=False)

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x, x4, sizes, pads = self._input4(x)
        strides, dilation = self._geometry()
        kernel = _grouped_view(self.depthwise_kernel.value)
        t4 = _memory.empty_f32((x.shape[0],) + sizes + (kernel.shape[-1],))
        _core.conv2d_forward(x4, kernel, None, t4, strides, dilation, pads)
        pointwise = self._pointwise4(self.pointwise_kernel.value)

        def run(out, bias, name, kw):
            _core.conv2d_forward(t4, pointwise, bias, out, (1, 1), (1, 1), (0, 0), name, **kw)

        shape4 = t4.shape[:-1] + (self.filters,)
        y4, z = self._activate(run, shape4, self.bias.value if self.use_bias else None, training)
        return self._output(y4), ((x4, pads, t4, z, y4) if training else None)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        x4, pads, t4, z, y4 = ctx
        dz = self._pre_activation_grad(z, y4, dy)
        pointwise = self.pointwise_kernel
        train_pw = self.trainable and pointwise.trainable
        train_dw = self.trainable and self.depthwise_kernel.trainable
        dpw = self._pointwise4(pointwise.grad) if train_pw else None
        db = self.bias.grad if train_pw and self.use_bias else None
        need_dt = need_dx or train_dw
        dt4 = _memory.empty_f32(t4.shape) if need_dt else None
        if dpw is not None or need_dt:
            _core.conv2d_backward(t4, self._pointwise4(pointwise.value), dz, dt4, dpw, db, (1, 1), (1, 1), (0, 0),
                                  accumulate=True)
        if not need_dt:
            return None
        dx4 = self._depthwise_backward(x4, pads, dt4, None, need_dx)
        return self._output(dx4) if need_dx else None

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            filters=self.filters,
            pointwise_initializer=_serialize(self.pointwise_initializer),
            pointwise_regularizer=_serialize(self.pointwise_regularizer),
            pointwise_constraint=_constraints.config_of(self.pointwise_constraint),
        )
        return config


class DepthwiseConv2D(_DepthwiseConv):
    """Depthwise 2-D convolution over images ``(N, H, W, C)``: each input channel is convolved
    with its own ``depth_multiplier`` filters, and channels are not mixed.

    Output channel ``c * depth_multiplier + m`` is ``activation(conv(x[..., c],
    kernel[:, :, c, m]) + bias[c * depth_multiplier + m])``. The kernel has Keras 3's layout
    and name: ``kernel`` ``(KH, KW, C, depth_multiplier)`` (also reachable as
    ``depthwise_kernel``), then ``bias`` ``(C * depth_multiplier,)``. It runs as a grouped
    convolution with ``groups = C`` on the same memory viewed as ``(KH, KW, 1, C * M)``.

    Args:
        kernel_size: int or ``(KH, KW)``.
        strides: int or pair, default 1.
        padding: ``"valid"`` or ``"same"`` (the odd padding pixel at the bottom/right).
        depth_multiplier: output channels per input channel (positive integer).
        data_format: None or ``"channels_last"`` (the only supported layout).
        dilation_rate: int or pair, default 1.
        activation: name, ``pynncore.activations`` function, or None (linear).
        use_bias: whether to add a bias vector.
        depthwise_initializer, bias_initializer: initializers (names or objects).
        depthwise_regularizer, bias_regularizer, activity_regularizer: regularizers or None.
        depthwise_constraint, bias_constraint: projections applied after every optimizer step.

    Call arguments:
        inputs: array ``(N, H, W, C)``.

    Returns:
        Array ``(N, OH, OW, C * depth_multiplier)``.

    Raises:
        ValueError: bad arguments; an input of the wrong rank or another channel count than
            the layer was built for; a kernel larger than the (padded) input.

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import DepthwiseConv2D
        >>> DepthwiseConv2D(3, depth_multiplier=2, padding="same")(np.ones((2, 5, 5, 3))).shape
        (2, 5, 5, 6)
    """

    _rank = 2


class DepthwiseConv1D(_DepthwiseConv):
    """Depthwise 1-D convolution over sequences ``(N, L, C)``; runs as DepthwiseConv2D with a
    height of 1.

    The kernel has Keras 3's layout ``(K, C, depth_multiplier)``; arguments are
    DepthwiseConv2D's with ints or 1-tuples (padding ``"valid"`` or ``"same"``).

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import DepthwiseConv1D
        >>> DepthwiseConv1D(3, depth_multiplier=2)(np.ones((2, 10, 4))).shape
        (2, 8, 8)
    """

    _rank = 1


class SeparableConv2D(_SeparableConv):
    """Depthwise-separable 2-D convolution over images ``(N, H, W, C)``: a depthwise
    convolution (strides, padding and dilation apply to it; no bias), then a 1x1 convolution
    to ``filters`` channels with the bias and the activation.

    Weights in Keras 3's order and layouts: ``depthwise_kernel`` ``(KH, KW, C, M)``,
    ``pointwise_kernel`` ``(1, 1, C * M, filters)``, ``bias`` ``(filters,)``
    (M = ``depth_multiplier``).

    Args:
        filters: number of output channels.
        kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier: of the
            depthwise step, as for DepthwiseConv2D.
        activation: name, ``pynncore.activations`` function, or None (linear).
        use_bias: whether to add a bias vector after the pointwise step.
        depthwise_initializer, pointwise_initializer, bias_initializer: initializers.
        depthwise_regularizer, pointwise_regularizer, bias_regularizer, activity_regularizer:
            regularizers or None.
        depthwise_constraint, pointwise_constraint, bias_constraint: constraints or None.

    Call arguments:
        inputs: array ``(N, H, W, C)``.

    Returns:
        Array ``(N, OH, OW, filters)``.

    Raises:
        ValueError: bad arguments; an input of the wrong rank or another channel count than
            the layer was built for; a kernel larger than the (padded) input.

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import SeparableConv2D
        >>> SeparableConv2D(8, 3, padding="same", activation="relu")(np.ones((2, 5, 5, 3))).shape
        (2, 5, 5, 8)
    """

    _rank = 2


class SeparableConv1D(_SeparableConv):
    """Depthwise-separable 1-D convolution over sequences ``(N, L, C)``; runs as
    SeparableConv2D with a height of 1.

    Weights: ``depthwise_kernel`` ``(K, C, M)``, ``pointwise_kernel`` ``(1, C * M, filters)``,
    ``bias`` ``(filters,)``; arguments are SeparableConv2D's with ints or 1-tuples.

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import SeparableConv1D
        >>> SeparableConv1D(4, 3, padding="same")(np.ones((2, 10, 3))).shape
        (2, 10, 4)
    """

    _rank = 1


# Keras's long aliases.
Convolution1D = Conv1D
Convolution2D = Conv2D
Convolution3D = Conv3D
Convolution1DTranspose = Conv1DTranspose
Convolution2DTranspose = Conv2DTranspose
Convolution3DTranspose = Conv3DTranspose
SeparableConvolution1D = SeparableConv1D
SeparableConvolution2D = SeparableConv2D
