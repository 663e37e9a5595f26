"""Export of pynncore models to ONNX (``model.export_onnx(path)``).

The graph has one float32 input ``"input"`` of shape ``(batch, ...)`` and one output
``"output"``; the batch dimension is symbolic, so the file runs on any batch size. Weights are
stored as initializers. Inference behaviour is exported: Dropout is the identity and
BatchNormalization uses its moving statistics (folded into one multiply and one add).

Supported: ``Sequential`` models and functional models with one input, made of

- ``Dense``, ``Activation``, ``Dropout``, ``Flatten``, ``Reshape``, ``BatchNormalization``;
- ``Conv1D``, ``Conv2D`` and ``Conv3D`` (strides, dilation, groups; padding ``"valid"``,
  ``"same"`` with the odd padding element at the end, ``"causal"`` for Conv1D) and
  ``Conv1DTranspose``, ``Conv2DTranspose``, ``Conv3DTranspose`` (``output_padding`` included;
  known spatial sizes only); ``DepthwiseConv1D/2D`` (``Conv`` with ``group`` = input channels)
  and ``SeparableConv1D/2D`` (that, then a 1x1 ``Conv``);
- ``MaxPooling1D/2D/3D`` and ``AveragePooling1D/2D/3D`` (``"valid"``, ``"same"``; the
  ``"same"`` average leaves the padding out), ``GlobalMaxPooling1D/2D/3D``,
  ``GlobalAveragePooling1D/2D/3D`` (``keepdims`` either way);
- ``AdaptiveMaxPooling1D/2D/3D`` and ``AdaptiveAveragePooling1D/2D/3D`` (one ``MaxPool`` /
  ``AveragePool`` when every input size is a multiple of the output size, else a ``Slice`` and
  a reduction per output cell, axis by axis; known input sizes, except along axes pooled to
  one cell);
- ``RandomCrop`` as at inference: the centered window with the target's aspect ratio,
  resized bilinearly (``Slice`` and one ``Einsum`` with the layer's interpolation matrices;
  known image sizes only); the other random augmentation layers are the identity;
- ``ZeroPadding1D/2D``, ``Cropping1D/2D``, ``UpSampling1D/2D`` (``"nearest"``, ``"bilinear"``),
  ``SpatialDropout1D/2D``, ``GaussianNoise``, ``GaussianDropout``, ``AlphaDropout`` and
  ``ActivityRegularization`` (the identity), ``UnitNormalization``;
- ``Embedding`` (the ids arrive as float32 in ``"input"`` and are cast to int64);
- ``SimpleRNN``, ``LSTM`` and ``GRU`` (both ``reset_after``) as ONNX ``RNN`` / ``LSTM`` /
  ``GRU`` with activations tanh, sigmoid or relu, ``return_sequences`` either way and
  ``go_backwards``, and ``Bidirectional`` over them (``merge_mode`` concat, sum, ave, mul);
- ``TimeDistributed`` over any exported layer (known per-step shapes);

with every activation in ``pynncore.activations`` (``sparsemax`` along the last axis only: an
``n x n`` comparison per row, no sort). Any other layer raises
``NotImplementedError`` naming it, unless an exporter is registered for its class, and so do
configurations with no single-output inference graph: ``Embedding(mask_zero=True)`` (masks are
not exported), ``stateful`` or ``return_state`` recurrent layers, ``Bidirectional`` with
``merge_mode=None``, and ``"same"`` convolutions that are both strided and dilated over axes of
unknown size (onnxruntime's ``auto_pad`` does not take dilation).

The file uses ONNX opset ``OPSET`` and IR version ``IR_VERSION`` (ONNX 1.12's pair), which
onnxruntime has read since version 1.13. It is written to a temporary file in the target
folder, fsync'ed and renamed, so a failed export never leaves a partial file.

Adding a layer: write a function ``exporter(layer, graph, x, input_shape) -> str`` that adds the
layer's nodes with ``graph.node(...)`` and its weights with ``graph.constant(...)``, and returns
the name of its output; register it for the layer's class (the exact class: subclasses are not
matched, since they may compute something else)::

    from pynncore import onnx_export

    @onnx_export.register_exporter(MyLayer)
    def _export_my_layer(layer, graph, x, input_shape):
        y = graph.node("MatMul", [x, graph.constant(layer.kernel.value, "kernel")])
        return onnx_export.export_activation(graph, layer.activation, y)

``x`` is the name of the layer's input tensor and ``input_shape`` its shape with ``None`` for
the batch. Layers in this package that run on channels-last data export in that layout
(insert ``Transpose`` nodes around ONNX operators that expect channels first, such as
``Conv`` and ``MaxPool``).
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, Callable, Optional, Sequence

import numpy as np

__all__ = [
    "IR_VERSION",
    "OPSET",
    "OnnxGraph",
    "export_activation",
    "export_onnx",
    "register_exporter",
    "to_onnx",
]

#: The ONNX operator set version the graphs use.
OPSET = 17
#: The ONNX IR version of the files (the one paired with opset 17 in ``onnx.helper.VERSION_TABLE``).
IR_VERSION = 8

_EXPORTERS: dict = {}


def _onnx() -> Any:
    try:
        import onnx
    except ImportError as exc:
        raise ImportError(
            "ONNX export needs the 'onnx' package, which could not be imported "
            f"({exc}). Install it with: pip install onnx  (or: pip install pynncore[onnx])"
        ) from None
    return onnx


def register_exporter(layer_class: type) -> Callable:
    """Decorator: registers ``fn(layer, graph, x, input_shape) -> output name`` for a class.

    A later registration for the same class replaces the earlier one.
    """
    if not isinstance(layer_class, type):
        raise TypeError(f"register_exporter: expected a layer class. Received: {layer_class!r}")

    def wrap(fn: Callable) -> Callable:
        _EXPORTERS[layer_class] = fn
        return fn

    return wrap


class OnnxGraph:
    """The graph being built: nodes, initializers and unique tensor names."""

    def __init__(self) -> None:
        self._onnx = _onnx()
        self.nodes: list = []
        self.initializers: list = []
        self._used: set = {"input", "output"}

    def name(self, base: str) -> str:
        """A tensor name not used yet, derived from ``base``."""
        base = "".join(c if c.isalnum() or c in "_./" else "_" for c in base) or "t"
        candidate, i = base, 1
        while candidate in self._used:
            candidate = f"{base}_{i}"
            i += 1
        self._used.add(candidate)
        return candidate

    def constant(self, value: Any, base: str = "const", dtype: Any = np.float32) -> str:
        """Adds ``value`` as an initializer; returns its name."""
        arr = np.ascontiguousarray(np.asarray(value, dtype=dtype))
        name = self.name(base)
        self.initializers.append(self._onnx.numpy_helper.from_array(arr, name))
        return name

    def node(self, op_type: str, inputs: Sequence[str], base: Optional[str] = None, output: Optional[str] = None, **attrs: Any) -> str:
        """Adds one node with one output; returns the output's name."""
        out = output if output is not None else self.name(base or op_type.lower())
        self.nodes.append(
            self._onnx.helper.make_node(op_type, list(inputs), [out], name=self.name("node_" + out), **attrs)
        )
        return out

    def split(self, x: str, axis: int, base: str) -> tuple:
        """Adds a Split of ``x`` into two equal halves along ``axis``; returns their names."""
        outs = [self.name(f"{base}_a"), self.name(f"{base}_b")]
        self.nodes.append(
            self._onnx.helper.make_node("Split", [x], outs, name=self.name(f"node_{base}_split"), axis=axis)
        )
        return outs[0], outs[1]


# -- activations -------------------------------------------------------------------------------


def _gelu(g: OnnxGraph, x: str, params: dict) -> str:
    half = g.constant(0.5, "half")
    one = g.constant(1.0, "one")
    if params.get("approximate", False):
        # 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
        cube = g.node("Mul", [g.node("Mul", [x, x]), x])
        inner = g.node("Add", [x, g.node("Mul", [cube, g.constant(0.044715, "gelu_c")])])
        t = g.node("Tanh", [g.node("Mul", [inner, g.constant(np.sqrt(2.0 / np.pi), "gelu_k")])])
    else:
        # 0.5 x (1 + erf(x / sqrt 2))
        t = g.node("Erf", [g.node("Mul", [x, g.constant(1.0 / np.sqrt(2.0), "inv_sqrt2")])])
    return g.node("Mul", [g.node("Mul", [x, half]), g.node("Add", [t, one])], base="gelu")


def _clip(lo: float, hi: float) -> Callable:
    def emit(g: OnnxGraph, x: str, params: dict) -> str:
        return g.node("Clip", [x, g.constant(lo, "clip_min"), g.constant(hi, "clip_max")])

    return emit


def _unary(op: str, **fixed: Any) -> Callable:
    def emit(g: OnnxGraph, x: str, params: dict) -> str:
        return g.node(op, [x], **fixed)

    return emit


def _sparse_plus(g: OnnxGraph, x: str, params: dict) -> str:
    # (clip(x, -1, 1) + 1)^2 / 4 + relu(x - 1): 0 below -1, the parabola between, x above 1
    u = g.node("Add", [g.node("Clip", [x, g.constant(-1.0, "clip_min"), g.constant(1.0, "clip_max")]),
                       g.constant(1.0, "one")])
    q = g.node("Mul", [g.node("Mul", [u, u]), g.constant(0.25, "quarter")])
    return g.node("Add", [q, g.node("Relu", [g.node("Sub", [x, g.constant(1.0, "one")])])], base="sparse_plus")


def _squareplus(g: OnnxGraph, x: str, params: dict) -> str:
    root = g.node("Sqrt", [g.node("Add", [g.node("Mul", [x, x]), g.constant(float(params.get("b", 4.0)), "b")])])
    return g.node("Mul", [g.node("Add", [x, root]), g.constant(0.5, "half")], base="squareplus")


def _glu(g: OnnxGraph, x: str, params: dict) -> str:
    a, b = g.split(x, int(params.get("axis", -1)), "glu")
    return g.node("Mul", [a, g.node("Sigmoid", [b])], base="glu")


def _threshold(g: OnnxGraph, x: str, params: dict) -> str:
    t = g.constant(float(params["threshold"]), "threshold")
    keep = g.node("Greater", [x, t])
    return g.node("Where", [keep, x, g.constant(float(params["default_value"]), "default_value")], base="threshold")


def _sparsemax(g: OnnxGraph, x: str, params: dict) -> str:
    # Sort-free: entry i is in the support when 1 + c_i x_i > s_i, with c_i the number of
    # entries x_j >= x_i and s_i their sum (an n x n comparison per row); then
    # tau = (sum of the support - 1) / its size and y = relu(x - tau).
    axis = int(params.get("axis", -1))
    if axis != -1:
        raise NotImplementedError(
            f"ONNX export: activation sparsemax along axis {axis} has no exporter (only axis=-1)"
        )
    last = g.constant([-1], "axes_last", dtype=np.int64)
    rows = g.node("Unsqueeze", [x, last])  # (..., n, 1): x_i
    cols = g.node("Unsqueeze", [x, g.constant([-2], "axes_m2", dtype=np.int64)])  # (..., 1, n): x_j
    ge = g.node("Cast", [g.node("GreaterOrEqual", [cols, rows])], to=1)  # [i, j]: x_j >= x_i
    count = g.node("ReduceSum", [ge, last], keepdims=0)
    total = g.node("ReduceSum", [g.node("Mul", [ge, cols]), last], keepdims=0)
    lhs = g.node("Add", [g.node("Mul", [count, x]), g.constant(1.0, "one")])
    support = g.node("Cast", [g.node("Greater", [lhs, total])], to=1)
    k = g.node("ReduceSum", [support, last], keepdims=1)
    mass = g.node("ReduceSum", [g.node("Mul", [support, x]), last], keepdims=1)
    tau = g.node("Div", [g.node("Sub", [mass, g.constant(1.0, "one")]), k])
    return g.node("Relu", [g.node("Sub", [x, tau])], base="sparsemax")


_ACTIVATIONS: dict = {
    "linear": lambda g, x, p: x,
    "relu": _unary("Relu"),
    "relu6": _clip(0.0, 6.0),
    "sigmoid": _unary("Sigmoid"),
    # Keras 3: relu6(x + 3) / 6 = clip(x / 6 + 0.5, 0, 1)
    "hard_sigmoid": _unary("HardSigmoid", alpha=1.0 / 6.0, beta=0.5),
    "tanh": _unary("Tanh"),
    "softmax": _unary("Softmax", axis=-1),
    "log_softmax": _unary("LogSoftmax", axis=-1),
    "leaky_relu": lambda g, x, p: g.node("LeakyRelu", [x], alpha=float(p.get("negative_slope", p.get("alpha", 0.2)))),
    "elu": lambda g, x, p: g.node("Elu", [x], alpha=float(p.get("alpha", 1.0))),
    "selu": _unary("Selu", alpha=1.67326324, gamma=1.05070098),
    "softplus": _unary("Softplus"),
    "softsign": _unary("Softsign"),
    "gelu": _gelu,
    "silu": lambda g, x, p: g.node("Mul", [x, g.node("Sigmoid", [x])], base="silu"),
    "exponential": _unary("Exp"),
    "mish": lambda g, x, p: g.node("Mul", [x, g.node("Tanh", [g.node("Softplus", [x])])], base="mish"),
    "celu": lambda g, x, p: g.node("Celu", [x], alpha=float(p.get("alpha", 1.0))),
    "hard_silu": _unary("HardSwish"),
    "hard_tanh": _clip(-1.0, 1.0),
    "log_sigmoid": lambda g, x, p: g.node("Neg", [g.node("Softplus", [g.node("Neg", [x])])], base="log_sigmoid"),
    "hard_shrink": lambda g, x, p: g.node("Shrink", [x], lambd=float(p.get("threshold", 0.5)), bias=0.0),
    "soft_shrink": lambda g, x, p: g.node("Shrink", [x], lambd=float(p.get("threshold", 0.5)),
                                          bias=float(p.get("threshold", 0.5))),
    "sparse_plus": _sparse_plus,
    # clip((x + 1) / 2, 0, 1)
    "sparse_sigmoid": _unary("HardSigmoid", alpha=0.5, beta=0.5),
    "squareplus": _squareplus,
    "tanh_shrink": lambda g, x, p: g.node("Sub", [x, g.node("Tanh", [x])], base="tanh_shrink"),
    "glu": _glu,
    "sparsemax": _sparsemax,
    "threshold": _threshold,
}


def export_activation(graph: OnnxGraph, activation: Any, x: str) -> str:
    """Adds the nodes of a ``pynncore.activations`` function applied to ``x``."""
    emit = _ACTIVATIONS.get(getattr(activation, "name", None))
    if emit is None:
        raise NotImplementedError(f"ONNX export: activation {activation!r} has no ONNX exporter")
    return emit(graph, x, dict(getattr(activation, "params", {})))


# -- layers ------------------------------------------------------------------------------------


_BUILTINS: dict = {}


def _register_builtin() -> None:
    """Registers the exporters of the core layers on first use (a class registered by the
    user before keeps the user's exporter). Done lazily so that layer modules can import this
    module to register their own exporters."""
    if _BUILTINS:
        return
    from pynncore.layers import Activation, BatchNormalization, Dense, Dropout, Flatten, Reshape

    def register_builtin(cls: type) -> Callable:
        def wrap(fn: Callable) -> Callable:
            _BUILTINS[cls] = fn
            _EXPORTERS.setdefault(cls, fn)
            return fn

        return wrap

    @register_builtin(Dense)
    def _dense(layer: Any, g: OnnxGraph, x: str, input_shape: tuple) -> str:
        y = g.node("MatMul", [x, g.constant(layer.kernel.value, f"{layer.name}/kernel")], base=f"{layer.name}/matmul")
        if layer.use_bias:
            y = g.node("Add", [y, g.constant(layer.bias.value, f"{layer.name}/bias")], base=f"{layer.name}/add")
        return export_activation(g, layer.activation, y)

    @register_builtin(Activation)
    def _activation(layer: Any, g: OnnxGraph, x: str, input_shape: tuple) -> str:
        return export_activation(g, layer.activation, x)

    @register_builtin(Dropout)
    def _dropout(layer: Any, g: OnnxGraph, x: str, input_shape: tuple) -> str:
        return x  # inference: identity

    @register_builtin(Flatten)
    def _flatten(layer: Any, g: OnnxGraph, x: str, input_shape: tuple) -> str:
        return g.node("Flatten", [x], base=layer.name, axis=1)

    @register_builtin(Reshape)
    def _reshape(layer: Any, g: OnnxGraph, x: str, input_shape: tuple) -> str:
        target = layer.compute_output_shape(tuple(input_shape))[1:]
        dims = [0] + [-1 if d is None else int(d) for d in target]  # 0 copies the batch size
        return g.node("Reshape", [x, g.constant(dims, f"{layer.name}/shape", dtype=np.int64)], base=layer.name)

    @register_builtin(BatchNormalization)
    def _batch_norm(layer: Any, g: OnnxGraph, x: str, input_shape: tuple) -> str:
        c = layer.moving_mean.shape[0]
        inv_std = 1.0 / np.sqrt(layer.moving_variance.value.astype(np.float64) + layer.epsilon)
        gamma = layer.gamma.value.astype(np.float64) if layer.scale else np.ones(c)
        beta = layer.beta.value.astype(np.float64) if layer.center else np.zeros(c)
        scale = gamma * inv_std
        shift = beta - layer.moving_mean.value.astype(np.float64) * scale
        # Broadcast along the channel axis: shape (C, 1, ..., 1) for the axes after it.
        bshape = (c,) + (1,) * (len(input_shape) - 1 - layer._axis)
        y = g.node("Mul", [x, g.constant(scale.reshape(bshape), f"{layer.name}/scale")], base=f"{layer.name}/mul")
        return g.node("Add", [y, g.constant(shift.reshape(bshape), f"{layer.name}/shift")], base=layer.name)

    from pynncore.layers import (
        GRU,
        LSTM,
        AdaptiveAveragePooling1D,
        AdaptiveAveragePooling2D,
        AdaptiveAveragePooling3D,
        AdaptiveMaxPooling1D,
        AdaptiveMaxPooling2D,
        AdaptiveMaxPooling3D,
        AveragePooling1D,
        AveragePooling2D,
        AveragePooling3D,
        Bidirectional,
        Conv1D,
        Conv1DTranspose,
        Conv2D,
        Conv2DTranspose,
        Conv3D,
        Conv3DTranspose,
        Cropping1D,
        Cropping2D,
        CutMix,
        DepthwiseConv1D,
        DepthwiseConv2D,
        Embedding,
        Equalization,
        GlobalAveragePooling1D,
        GlobalAveragePooling2D,
        GlobalAveragePooling3D,
        GlobalMaxPooling1D,
        GlobalMaxPooling2D,
        GlobalMaxPooling3D,
        MaxPooling1D,
        MaxPooling2D,
        MaxPooling3D,
        MixUp,
        SeparableConv1D,
        SeparableConv2D,
        SimpleRNN,
        EinsumDense,
        AugMix,
        RandAugment,
        RandomBrightness,
        RandomColorDegeneration,
        RandomColorJitter,
        RandomContrast,
        RandomCrop,
        RandomErasing,
        RandomFlip,
        RandomGaussianBlur,
        RandomGrayscale,
        RandomHue,
        RandomInvert,
        RandomPerspective,
        RandomPosterization,
        RandomRotation,
        RandomSaturation,
        RandomSharpness,
        RandomShear,
        RandomTranslation,
        RandomZoom,
        Solarization,
        RMSNormalization,
        SpatialDropout1D,
        SpatialDropout2D,
        SpatialDropout3D,
        TimeDistributed,
        UnitNormalization,
        UpSampling1D,
        UpSampling2D,
        ZeroPadding1D,
        ZeroPadding2D,
    )
    from pynncore.layers import regularization as reg

    table = [
        ((Conv1D, Conv2D, Conv3D), _conv),
        ((Conv1DTranspose, Conv2DTranspose, Conv3DTranspose), _conv_transpose),
        ((DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D, SeparableConv2D), _depthwise_conv),
        ((MaxPooling1D, MaxPooling2D, MaxPooling3D, AveragePooling1D, AveragePooling2D, AveragePooling3D), _pool),
        ((GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D, GlobalAveragePooling1D, GlobalAveragePooling2D,
          GlobalAveragePooling3D), _global_pool),
        ((AdaptiveMaxPooling1D, AdaptiveMaxPooling2D, AdaptiveMaxPooling3D, AdaptiveAveragePooling1D,
          AdaptiveAveragePooling2D, AdaptiveAveragePooling3D), _adaptive_pool),
        ((ZeroPadding1D, ZeroPadding2D), _zero_padding),
        ((Cropping1D, Cropping2D), _cropping),
        ((UpSampling1D, UpSampling2D), _upsampling),
        ((SpatialDropout1D, SpatialDropout2D, SpatialDropout3D), _dropout),
        # inference: the identity (random augmentation acts in training only)
        ((RandomFlip, RandomTranslation, RandomRotation, RandomZoom, RandomShear, RandomPerspective,
          RandomContrast, RandomBrightness, RandomGrayscale, RandomInvert, Solarization, RandomPosterization,
          RandomColorDegeneration, RandomColorJitter, RandomSaturation, RandomHue, RandomSharpness,
          RandomErasing, RandomGaussianBlur, Equalization, MixUp, CutMix, RandAugment, AugMix), _dropout),
        # inference: the centered crop to the target's aspect ratio, resized bilinearly
        ((RandomCrop,), _random_crop),
        ((RMSNormalization,), _rms_normalization),
        ((EinsumDense,), _einsum_dense),
        # inference: the identity (noise and activity penalties act in training only)
        ((reg.GaussianNoise, reg.GaussianDropout, reg.AlphaDropout, reg.ActivityRegularization), _dropout),
        ((UnitNormalization,), _unit_normalization),
        ((Embedding,), _embedding),
        ((SimpleRNN, LSTM, GRU), _recurrent),
        ((Bidirectional,), _bidirectional),
        ((TimeDistributed,), _time_distributed),
    ]
    for classes, fn in table:
        for cls in classes:
            register_builtin(cls)(fn)


# -- channels-last spatial layers --------------------------------------------------------------

_INT64_MAX = np.iinfo(np.int64).max
_INT64_MIN = np.iinfo(np.int64).min


def _what(layer: Any) -> str:
    return f"ONNX export: layer '{layer.name}' of class {type(layer).__name__}"


def _to_channels_first(g: OnnxGraph, x: str, nd: int, base: str) -> str:
    return g.node("Transpose", [x], base=f"{base}/to_nchw", perm=[0, nd + 1] + list(range(1, nd + 1)))


def _to_channels_last(g: OnnxGraph, x: str, nd: int, base: str) -> str:
    return g.node("Transpose", [x], base=f"{base}/to_nhwc", perm=[0] + list(range(2, nd + 2)) + [1])


def _window_pads(
    layer: Any,
    spatial: Sequence[Optional[int]],
    kernel: Sequence[int],
    strides: Sequence[int],
    dilation: Sequence[int],
) -> Optional[list]:
    """ONNX ``pads`` (begins, then ends) of a window op as pynncore computes them (Keras /
    TensorFlow: the odd padding element at the end for ``"same"``, all before for
    ``"causal"``); None for ``"same"`` along an axis of unknown size (``auto_pad`` does it)."""
    from pynncore.ops import conv_output_size

    begins, ends = [], []
    for n, k, s, d in zip(spatial, kernel, strides, dilation):
        if layer.padding == "valid":
            begins.append(0)
            ends.append(0)
            continue
        keff = (k - 1) * d + 1
        if n is None:
            if layer.padding == "causal":
                begins.append(keff - 1)
                ends.append(0)
                continue
            if s == 1:  # "same" pads keff - 1 whatever the size
                begins.append((keff - 1) // 2)
                ends.append(keff - 1 - (keff - 1) // 2)
                continue
            return None
        out, before = conv_output_size(int(n), k, s, d, layer.padding)
        begins.append(before)
        ends.append(max((out - 1) * s + keff - int(n) - before, 0))
    return begins + ends


def _pad_attrs(pads: Optional[list]) -> dict:
    return {"auto_pad": "SAME_UPPER"} if pads is None else {"pads": pads}


def _conv_inputs(layer: Any, g: OnnxGraph, x: str, kernel: np.ndarray, bias: Any, name: str) -> list:
    """``[x, W, (B)]`` of an ONNX ``Conv``; ``kernel`` in Keras's layout ``(k..., C / groups, F)``
    becomes ONNX's ``(F, C / groups, k...)``."""
    nd = kernel.ndim - 2
    w = np.transpose(kernel, (nd + 1, nd) + tuple(range(nd)))
    inputs = [x, g.constant(w, f"{layer.name}/{name}")]
    if bias is not None:
        inputs.append(g.constant(bias.value, f"{layer.name}/bias"))
    return inputs


def _windowed_conv(layer: Any, g: OnnxGraph, x: str, input_shape: tuple, kernel: np.ndarray, bias: Any, groups: int,
                   name: str = "kernel") -> str:
    """A channels-first ``Conv`` with the layer's kernel size, strides, dilation and padding."""
    nd = layer._rank
    pads = _window_pads(layer, input_shape[1 : 1 + nd], layer.kernel_size, layer.strides, layer.dilation_rate)
    if pads is None and max(layer.dilation_rate) > 1:
        raise NotImplementedError(
            f"{_what(layer)}: padding='same' with strides > 1 and dilation > 1 needs known spatial "
            f"sizes. Received: shape={input_shape}"
        )
    return g.node(
        "Conv",
        _conv_inputs(layer, g, x, kernel, bias, name),
        base=f"{layer.name}/conv",
        kernel_shape=list(layer.kernel_size),
        strides=list(layer.strides),
        dilations=list(layer.dilation_rate),
        group=int(groups),
        **_pad_attrs(pads),
    )


def _conv(layer: Any, g: OnnxGraph, x: str, input_shape: tuple) -> str:
    nd = layer._rank
    bias = layer.bias if layer.use_bias else None
    y = _windowed_conv(layer, g, _to_channels_first(g, x, nd, layer.name), input_shape, layer.kernel.value, bias,
                       layer.groups)
    return export_activation(g, layer.activation, _to_channels_last(g, y, nd, layer.name))


def _depthwise_conv(layer: Any, g: OnnxGraph, x: str, input_shape: tuple) -> str:
    """DepthwiseConv1D/2D as a ``Conv`` with ``group = C`` on the kernel ``(k..., 1, C * M)``;
    SeparableConv1D/2D adds a 1x1 ``Conv`` with the bias."""
    nd = layer._rank
    depthwise = layer._depthwise.value
    kernel = depthwise.reshape(depthwise.shape[:-2] + (1, depthwise.shape[-2] * depthwise.shape[-1]))
    pointwise = getattr(layer, "pointwise_kernel", None)
    bias = layer.bias if layer.use_bias else None
    x = _to_channels_first(g, x, nd, layer.name)
    y = _windowed_conv(layer, g, x, input_shape, kernel, None if pointwise else bias, depthwise.shape[-2],
                       name="depthwise_kernel")
    if pointwise is not None:
        inputs = _conv_inputs(layer, g, y, pointwise.value, bias, "pointwise_kernel")
        y = g.node("Conv", inputs, base=f"{layer.name}/pointwise", kernel_shape=[1] * nd)
    return export_activation(g, layer.activation, _to_channels_last(g, y, nd, layer.name))


def _conv_transpose(layer: Any, g: OnnxGraph, x: str, input_shape: tuple) -> str:
    from pynncore.ops import conv_transpose_output_size

    nd = layer._rank
    spatial = input_shape[1 : 1 + nd]
    if any(n is None for n in spatial):
        raise NotImplementedError(f"{_what(layer)}: needs known spatial input sizes. Received: shape={input_shape}")
    begins, ends, extra = [], [], []
    for i, n in enumerate(spatial):
        k, s, d = layer.kernel_size[i], layer.strides[i], layer.dilation_rate[i]
        op = None if layer.output_padding is None else layer.output_padding[i]
        out, before = conv_transpose_output_size(int(n), k, s, d, layer.padding, op)
        # ONNX: out = (n - 1) s + keff - begin - end + output_padding
        rest = (int(n) - 1) * s + (k - 1) * d + 1 - before - out
        begins.append(before)
        ends.append(max(rest, 0))
        extra.append(max(-rest, 0))
    # (k..., filters, C) -> (C, filters, k...)
    w = np.transpose(layer.kernel.value, (nd + 1, nd) + tuple(range(nd)))
    inputs = [_to_channels_first(g, x, nd, layer.name), g.constant(w, f"{layer.name}/kernel")]
    if layer.use_bias:
        inputs.append(g.constant(layer.bias.value, f"{layer.name}/bias"))
    y = g.node(
        "ConvTranspose",
        inputs,
        base=f"{layer.name}/conv_transpose",
        kernel_shape=list(layer.kernel_size),
        strides=list(layer.strides),
        dilations=list(layer.dilation_rate),
        pads=begins + ends,
        output_padding=extra,
    )
    return export_activation(g, layer.activation, _to_channels_last(g, y, nd, layer.name))


def _pool(layer: Any, g: OnnxGraph, x: str, input_shape: tuple) -> str:
    nd = layer._nd
    pads = _window_pads(layer, input_shape[1 : 1 + nd], layer.pool_size, layer.strides, (1,) * nd)
    attrs = dict(kernel_shape=list(layer.pool_size), strides=list(layer.strides), **_pad_attrs(pads))
    if layer._mode == "max":
        op = "MaxPool"
    else:
        op = "AveragePool"
        attrs["count_include_pad"] = 0  # "same": the mean of the window's pixels inside the input
    y = g.node(op, [_to_channels_first(g, x, nd, layer.name)], base=f"{layer.name}/pool", **attrs)
    return _to_channels_last(g, y, nd, layer.name)


def _global_pool(layer: Any, g: OnnxGraph, x: str, input_shape: tuple) -> str:
    op = "ReduceMax" if layer._mode == "max" else "ReduceMean"
    axes = list(range(1, layer._nd + 1))
    return g.node(op, [x], base=layer.name, axes=axes, keepdims=int(layer.keepdims))


def _adaptive_pool(layer: Any, g: OnnxGraph, x: str, input_shape: tuple) -> str:
    """Adaptive pooling with the layer's bins ``[floor(i L / O), ceil((i + 1) L / O))``: one
    ``MaxPool``/``AveragePool`` when every size divides evenly, else axis by axis (the bins of
    a box are the product of its axes' bins) a ``Slice`` and a reduction per cell and a
    ``Concat``."""
    from pynncore.layers.pool import adaptive_bins

    nd, name = layer._nd, layer.name
    spatial, sizes = input_shape[1 : 1 + nd], layer.output_size
    if any(n is None and o != 1 for n, o in zip(spatial, sizes)):
        raise NotImplementedError(
            f"{_what(layer)}: needs known spatial input sizes where output_size is not 1. "
            f"Received: shape={input_shape}, output_size={sizes}"
        )
    if all(n is not None and n % o == 0 for n, o in zip(spatial, sizes)):
        k = [n // o for n, o in zip(spatial, sizes)]
        op = "MaxPool" if layer._mode == "max" else "AveragePool"
        y = g.node(op, [_to_channels_first(g, x, nd, name)], base=f"{name}/pool", kernel_shape=k, strides=k)
        return _to_channels_last(g, y, nd, name)
    reduce = "ReduceMax" if layer._mode == "max" else "ReduceMean"
    for a, (n, o) in enumerate(zip(spatial, sizes), start=1):
        if o == 1:
            x = g.node(reduce, [x], base=f"{name}/axis{a}", axes=[a], keepdims=1)
        elif n != o:
            axis = g.constant([a], f"{name}/axis{a}", dtype=np.int64)
            cells = []
            for s, e in zip(*adaptive_bins(n, o)):
                inputs = [x, g.constant([s], f"{name}/start", dtype=np.int64),
                          g.constant([e], f"{name}/end", dtype=np.int64), axis]
                window = g.node("Slice", inputs, base=f"{name}/window")
                cells.append(g.node(reduce, [window], base=f"{name}/cell", axes=[a], keepdims=1))
            x = g.node("Concat", cells, base=f"{name}/axis{a}", axis=a)
    return x


def _random_crop(layer: Any, g: OnnxGraph, x: str, input_shape: tuple) -> str:
    """RandomCrop at inference: the centered window with the target's aspect ratio, resized
    bilinearly to the target with the layer's own per-axis interpolation matrices."""
    from pynncore.layers.preprocessing import _aspect_crop, _resize_matrix

    h, w = input_shape[1:3]
    if h is None or w is None:
        raise NotImplementedError(f"{_what(layer)}: needs known image sizes. Received: shape={input_shape}")
    top, left, ch, cw = _aspect_crop(int(h), int(w), layer.height, layer.width)
    inputs = [
        x,
        g.constant([top, left], f"{layer.name}/starts", dtype=np.int64),
        g.constant([top + ch, left + cw], f"{layer.name}/ends", dtype=np.int64),
        g.constant([1, 2], f"{layer.name}/axes", dtype=np.int64),
    ]
    window = g.node("Slice", inputs, base=f"{layer.name}/window")
    mh = g.constant(_resize_matrix(ch, layer.height, "bilinear"), f"{layer.name}/rows")
    mw = g.constant(_resize_matrix(cw, layer.width, "bilinear"), f"{layer.name}/columns")
    return g.node("Einsum", [mh, window, mw], base=layer.name, equation="oh,nhwc,pw->nopc")


def _unit_normalization(layer: Any, g: OnnxGraph, x: str, input_shape: tuple) -> str:
    # x / max(sqrt(sum(x * x over the axes)), epsilon)
    axes = g.constant(list(layer._axes(len(input_shape))), f"{layer.name}/axes", dtype=np.int64)
    sq = g.node("Mul", [x, x], base=f"{layer.name}/square")
    norm = g.node("Sqrt", [g.node("ReduceSum", [sq, axes], base=f"{layer.name}/sum", keepdims=1)], base=f"{layer.name}/norm")
    norm = g.node("Max", [norm, g.constant(layer.epsilon, f"{layer.name}/epsilon")], base=f"{layer.name}/clip")
    return g.node("Div", [x, norm], base=layer.name)


def _rms_normalization(layer: Any, g: OnnxGraph, x: str, input_shape: tuple) -> str:
    # x / sqrt(mean(x * x over the axes) + epsilon) * scale
    sq = g.node("Mul", [x, x], base=f"{layer.name}/square")
    ms = g.node("ReduceMean", [sq], base=f"{layer.name}/mean", axes=list(layer._axes), keepdims=1)
    rms = g.node("Sqrt", [g.node("Add", [ms, g.constant(layer.epsilon, f"{layer.name}/epsilon")])], base=f"{layer.name}/rms")
    shape = [1] * len(input_shape)
    for a, d in zip(layer._axes, layer.scale.shape):
        shape[a] = d
    scale = g.constant(layer.scale.value.reshape(shape), f"{layer.name}/scale")
    return g.node("Mul", [g.node("Div", [x, rms], base=f"{layer.name}/div"), scale], base=layer.name)


def _einsum_dense(layer: Any, g: OnnxGraph, x: str, input_shape: tuple) -> str:
    kernel = g.constant(layer.kernel.value, f"{layer.name}/kernel")
    y = g.node("Einsum", [x, kernel], base=f"{layer.name}/einsum", equation=layer.equation)
    if layer.bias is not None:
        y = g.node("Add", [y, g.constant(layer.bias.value, f"{layer.name}/bias")], base=f"{layer.name}/add")
    return export_activation(g, layer.activation, y)


def _zero_padding(layer: Any, g: OnnxGraph, x: str, input_shape: tuple) -> str:
    begins = [0] + [a for a, _ in layer.padding] + [0]
    ends = [0] + [b for _, b in layer.padding] + [0]
    pads = g.constant(begins + ends, f"{layer.name}/pads", dtype=np.int64)
    return g.node("Pad", [x, pads], base=layer.name, mode="constant")


def _cropping(layer: Any, g: OnnxGraph, x: str, input_shape: tuple) -> str:
    nd = len(layer.cropping)
    starts = [a for a, _ in layer.cropping]
    ends = [-b if b else _INT64_MAX for _, b in layer.cropping]
    inputs = [
        x,
        g.constant(starts, f"{layer.name}/starts", dtype=np.int64),
        g.constant(ends, f"{layer.name}/ends", dtype=np.int64),
        g.constant(list(range(1, nd + 1)), f"{layer.name}/axes", dtype=np.int64),
    ]
    return g.node("Slice", inputs, base=layer.name)


def _upsampling(layer: Any, g: OnnxGraph, x: str, input_shape: tuple) -> str:
    nd = len(layer._factors)
    interpolation = getattr(layer, "interpolation", "nearest")
    if interpolation == "nearest":
        # integer factors, asymmetric coordinates and floor: each pixel becomes a block
        scales = g.constant([1.0] + [float(f) for f in layer._factors] + [1.0], f"{layer.name}/scales")
        return g.node(
            "Resize",
            [x, "", scales],
            base=layer.name,
            mode="nearest",
            coordinate_transformation_mode="asymmetric",
            nearest_mode="floor",
        )
    # bilinear, half-pixel centres, edges clamped; resized on channels-first data
    scales = g.constant([1.0, 1.0] + [float(f) for f in layer._factors], f"{layer.name}/scales")
    y = g.node(
        "Resize",
        [_to_channels_first(g, x, nd, layer.name), "", scales],
        base=f"{layer.name}/resize",
        mode="linear",
        coordinate_transformation_mode="half_pixel",
    )
    return _to_channels_last(g, y, nd, layer.name)


def _dropout(layer: Any, g: OnnxGraph, x: str, input_shape: tuple) -> str:
    return x  # inference: identity


def _embedding(layer: Any, g: OnnxGraph, x: str, input_shape: tuple) -> str:
    if layer.mask_zero:
        raise NotImplementedError(f"{_what(layer)}: mask_zero=True (masks are not exported)")
    ids = g.node("Cast", [x], base=f"{layer.name}/ids", to=g._onnx.TensorProto.INT64)
    table = g.constant(layer.embeddings.value, f"{layer.name}/embeddings")
    return g.node("Gather", [table, ids], base=layer.name, axis=0)


# -- recurrent layers --------------------------------------------------------------------------

_RNN_ACTIVATIONS = {"tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "Relu"}
_RNN_OPS = {"simple_rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
_LSTM_GATES = (0, 3, 1, 2)  # Keras i, f, c, o -> ONNX i, o, f, c


def _rnn_activation(layer: Any, activation: Any) -> str:
    name = _RNN_ACTIVATIONS.get(getattr(activation, "name", None))
    if name is None:
        raise NotImplementedError(
            f"{_what(layer)}: activation {getattr(activation, 'name', activation)!r} is not exported "
            f"in recurrent layers (supported: {', '.join(sorted(_RNN_ACTIVATIONS))})"
        )
    return name


def _check_recurrent(layer: Any) -> None:
    if layer.stateful:
        raise NotImplementedError(f"{_what(layer)}: stateful=True is not exported")
    if layer.return_state:
        raise NotImplementedError(f"{_what(layer)}: return_state=True is not exported (one output)")


def _rnn_direction(layer: Any) -> tuple:
    """(W, R, B, activations, attributes) of one direction in ONNX layouts."""
    u = layer.units
    k = layer.kernel.value.astype(np.float32)
    r = layer.recurrent_kernel.value.astype(np.float32)
    cell = layer._cell
    n_gates = {"simple_rnn": 1, "lstm": 4, "gru": 3}[cell]
    b_in = np.zeros(n_gates * u, np.float32)
    b_rec = np.zeros(n_gates * u, np.float32)
    attrs: dict = {}
    if cell == "gru":
        attrs["linear_before_reset"] = int(layer.reset_after)
    if layer.use_bias:
        b = layer.bias.value.astype(np.float32)
        if cell == "gru" and layer.reset_after:
            b_in, b_rec = b[0], b[1]
        else:
            b_in = b
    if cell == "lstm":

        def order(m: np.ndarray) -> np.ndarray:
            return np.concatenate([m[..., j * u : (j + 1) * u] for j in _LSTM_GATES], axis=-1)

        k, r, b_in = order(k), order(r), order(b_in)
    act = _rnn_activation(layer, layer.activation)
    if cell == "simple_rnn":
        acts = [act]
    else:
        rec = _rnn_activation(layer, layer.recurrent_activation)
        acts = [rec, act, act] if cell == "lstm" else [rec, act]
    return k.T, r.T, np.concatenate([b_in, b_rec]), acts, attrs


def _rnn_node(g: OnnxGraph, directions: Sequence[Any], x_tnf: str, base: str, direction: str) -> tuple:
    """Adds one ONNX RNN/LSTM/GRU node; returns (Y, Y_h): (T, D, N, U) and (D, N, U)."""
    parts = [_rnn_direction(layer) for layer in directions]
    if len({p[4].get("linear_before_reset") for p in parts}) > 1:
        raise NotImplementedError(f"{_what(directions[0])}: both directions must share reset_after")
    w = g.constant(np.stack([p[0] for p in parts]), f"{base}/W")
    r = g.constant(np.stack([p[1] for p in parts]), f"{base}/R")
    b = g.constant(np.stack([p[2] for p in parts]), f"{base}/B")
    outs = [g.name(f"{base}/Y"), g.name(f"{base}/Y_h")]
    g.nodes.append(
        g._onnx.helper.make_node(
            _RNN_OPS[directions[0]._cell],
            [x_tnf, w, r, b],
            outs,
            name=g.name(f"node_{base}"),
            hidden_size=int(directions[0].units),
            direction=direction,
            activations=[a for p in parts for a in p[3]],
            **parts[0][4],
        )
    )
    return outs[0], outs[1]


def _time_major(g: OnnxGraph, x: str, base: str, reverse: bool) -> str:
    x = g.node("Transpose", [x], base=f"{base}/time_major", perm=[1, 0, 2])
    if reverse:
        x = g.node(
            "Slice",
            [
                x,
                g.constant([-1], f"{base}/starts", dtype=np.int64),
                g.constant([_INT64_MIN], f"{base}/ends", dtype=np.int64),
                g.constant([0], f"{base}/axes", dtype=np.int64),
                g.constant([-1], f"{base}/steps", dtype=np.int64),
            ],
            base=f"{base}/reversed",
        )
    return x


def _recurrent(layer: Any, g: OnnxGraph, x: str, input_shape: tuple) -> str:
    _check_recurrent(layer)
    # go_backwards: the layer reads the reversed sequence and returns its outputs in that
    # (processed) order, which is a forward run over the reversed input.
    y, y_h = _rnn_node(g, [layer], _time_major(g, x, layer.name, layer.go_backwards), layer.name, "forward")
    if layer.return_sequences:
        y = g.node("Squeeze", [y, g.constant([1], f"{layer.name}/axis1", dtype=np.int64)], base=f"{layer.name}/seq")
        return g.node("Transpose", [y], base=layer.name, perm=[1, 0, 2])
    return g.node("Squeeze", [y_h, g.constant([0], f"{layer.name}/axis0", dtype=np.int64)], base=layer.name)


def _bidirectional(layer: Any, g: OnnxGraph, x: str, input_shape: tuple) -> str:
    fwd, bwd = layer.forward_layer, layer.backward_layer
    if type(fwd) not in _recurrent_classes() or type(bwd) is not type(fwd):
        raise NotImplementedError(
            f"{_what(layer)}: wraps {type(fwd).__name__}; only SimpleRNN, LSTM and GRU are exported"
        )
    _check_recurrent(fwd)
    _check_recurrent(bwd)
    if layer.return_state or layer.merge_mode is None:
        raise NotImplementedError(f"{_what(layer)}: return_state=True or merge_mode=None is not exported (one output)")
    if fwd.go_backwards or not bwd.go_backwards or fwd.units != bwd.units:
        raise NotImplementedError(f"{_what(layer)}: the directions must be forward then backward with equal units")
    base = layer.name
    # ONNX's reverse direction returns its outputs in input time order, as Bidirectional does.
    y, y_h = _rnn_node(g, [fwd, bwd], _time_major(g, x, base, False), base, "bidirectional")
    mode = layer.merge_mode
    if layer.return_sequences:
        if mode == "concat":  # (T, 2, N, U) -> (N, T, 2, U) -> (N, T, 2U)
            y = g.node("Transpose", [y], base=f"{base}/batch_major", perm=[2, 0, 1, 3])
            return g.node("Reshape", [y, g.constant([0, 0, -1], f"{base}/shape", dtype=np.int64)], base=base)
        axis = 1
        src = y
    else:
        if mode == "concat":  # (2, N, U) -> (N, 2, U) -> (N, 2U)
            y = g.node("Transpose", [y_h], base=f"{base}/batch_major", perm=[1, 0, 2])
            return g.node("Reshape", [y, g.constant([0, -1], f"{base}/shape", dtype=np.int64)], base=base)
        axis = 0
        src = y_h
    if mode == "sum":
        axes = g.constant([axis], f"{base}/axes", dtype=np.int64)
        out = g.node("ReduceSum", [src, axes], base=f"{base}/merge", keepdims=0)
    elif mode == "ave":
        out = g.node("ReduceMean", [src], base=f"{base}/merge", axes=[axis], keepdims=0)
    else:  # mul
        out = g.node("ReduceProd", [src], base=f"{base}/merge", axes=[axis], keepdims=0)
    if layer.return_sequences:
        out = g.node("Transpose", [out], base=base, perm=[1, 0, 2])
    return out


def _recurrent_classes() -> tuple:
    from pynncore.layers import GRU, LSTM, SimpleRNN

    return (SimpleRNN, LSTM, GRU)


# -- the model ---------------------------------------------------------------------------------


def _value_info(onnx: Any, name: str, shape: Sequence[Optional[int]]) -> Any:
    dims = ["batch"] + [d if d is not None else f"{name}_dim{i + 1}" for i, d in enumerate(shape[1:])]
    return onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, dims)


def to_onnx(model: Any) -> Any:
    """The ONNX ``ModelProto`` of a built pynncore model (see the module description).

    Raises:
        ImportError: the ``onnx`` package is missing.
        ValueError: the model is not built, or has no layers.
        NotImplementedError: a layer (or activation) has no exporter; the message names it.
    """
    onnx = _onnx()
    from pynncore.layers.base import InputLayer
    from pynncore.models import Model

    if not isinstance(model, Model):
        raise TypeError(f"ONNX export: expected a pynncore Model. Received: {type(model).__name__}")
    if not model.built or not model._nodes:
        raise ValueError(
            f"ONNX export: model '{model.name}' is not built. Give it an input shape (input_shape=, "
            "pynncore.Input) or run it on data before exporting"
        )
    _register_builtin()
    g = OnnxGraph()
    names = {id(model._inputs[0]): "input"}
    for node in model._nodes:
        layer = node.layer
        if isinstance(layer, InputLayer):
            continue
        exporter = _EXPORTERS.get(type(layer))
        if exporter is None:
            raise NotImplementedError(
                f"ONNX export: layer '{layer.name}' of class {type(layer).__name__} has no ONNX "
                "exporter (register one with pynncore.onnx_export.register_exporter)"
            )
        tin = node.inputs[0]
        out = exporter(layer, g, names[id(tin)], tuple(tin.shape))
        names[id(node.outputs[0])] = out
    g.node("Identity", [names[id(model._outputs[0])]], output="output")
    graph = onnx.helper.make_graph(
        g.nodes,
        model.name,
        [_value_info(onnx, "input", model.input_shape)],
        [_value_info(onnx, "output", model.output_shape)],
        initializer=g.initializers,
    )
    proto = onnx.helper.make_model(
        graph,
        producer_name="pynncore",
        opset_imports=[onnx.helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
    )
    onnx.checker.check_model(proto)
    return proto


def export_onnx(model: Any, filepath: Any) -> None:
    """Writes ``model`` as an ONNX file at ``filepath`` (atomically: temp file, fsync, rename)."""
    data = to_onnx(model).SerializeToString()
    path = os.fspath(filepath)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


# -- wrappers ----------------------------------------------------------------------------------


def _time_distributed(layer: Any, g: OnnxGraph, x: str, input_shape: tuple) -> str:
    """(N, T, ...) -> (N * T, ...) -> the wrapped layer -> (N, T, ...)."""
    inner = layer.layer
    exporter = _EXPORTERS.get(type(inner))
    if exporter is None:
        raise NotImplementedError(
            f"{_what(layer)}: the wrapped layer '{inner.name}' of class {type(inner).__name__} has no ONNX exporter"
        )
    frame = tuple(input_shape[2:])
    if any(d is None for d in frame):
        raise NotImplementedError(f"{_what(layer)}: needs known per-step shapes. Received: shape={input_shape}")
    out_frame = tuple(inner.compute_output_shape((None,) + frame)[1:])
    base = layer.name
    flat = g.node("Reshape", [x, g.constant([-1, *frame], f"{base}/frames", dtype=np.int64)], base=f"{base}/frames")
    y = exporter(inner, g, flat, (None,) + frame)
    lead = g.node(
        "Slice",
        [
            g.node("Shape", [x], base=f"{base}/shape"),
            g.constant([0], f"{base}/zero", dtype=np.int64),
            g.constant([2], f"{base}/two", dtype=np.int64),
        ],
        base=f"{base}/batch_time",
    )
    frame_shape = g.constant(list(out_frame), f"{base}/frame_shape", dtype=np.int64)
    shape = g.node("Concat", [lead, frame_shape], base=f"{base}/out_shape", axis=0)
    return g.node("Reshape", [y, shape], base=base)
