"""Export of pynncore models to ONNX (``model.export_onnx(path)``).

The graph has one float32 input ``"input"`` of shape ``(batch, ...)`` and one output
``"output"``; the batch dimension is symbolic, so the file runs on any batch size. Weights are
stored as initializers. Inference behaviour is exported: Dropout is the identity and
BatchNormalization uses its moving statistics (folded into one multiply and one add).

Supported: ``Sequential`` models and functional models with one input, made of ``Dense``,
``Activation``, ``Dropout``, ``Flatten``, ``Reshape`` and ``BatchNormalization``, with every
activation in ``pynncore.activations``. Any other layer raises ``NotImplementedError`` naming
it, unless an exporter is registered for its class.

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
