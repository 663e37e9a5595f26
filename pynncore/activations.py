"""Activation functions (Keras 3 names and parameters) on native SIMD kernels.

Each activation is an ``ActivationFunction`` object: call it on an array
(``activations.relu(x)``, ``activations.leaky_relu(x, negative_slope=0.1)``) or hand it (or its
name) to a layer (``Dense(64, activation="relu")``). Layers use ``forward`` (with the Dense bias
fused into the same pass) and ``backward``.

``glu`` and ``sparsemax`` (along an ``axis``) and ``threshold`` (which needs its ``threshold``
and ``default_value``) run as float32 numpy functions of ``pynncore.ops`` instead of native
kernels. ``glu`` halves its axis, so only ``Dense`` and ``Activation`` take it. ``threshold``
goes to a layer with its arguments bound:
``Dense(8, activation=activations.threshold.with_params(threshold=0.5, default_value=0.0))``
(or ``functools.partial(activations.threshold, threshold=0.5, default_value=0.0)``).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple, Optional

import numpy as np

from pynncore import _core, ops

__all__ = [
    "ActivationFunction",
    "deserialize",
    "get",
    "serialize",
]


class ActivationFunction:
    """A named activation with fixed parameters, forward and backward on float32 arrays.

    Args:
        name: the kernel's name (``relu``, ``sigmoid``, ...).
        **params: the activation's parameters (``alpha``, ``approximate``, ...).
    """

    #: True for the activations that run as native kernels (layers may fuse them into theirs).
    native = True
    #: Names of the arguments that may be passed positionally after ``x``.
    _positional: tuple = ()

    def __init__(self, name: str, **params: Any):
        self.name = name
        self.params = params
        self.backward_needs_x = bool(_core.activation_backward_needs_x(name))
        # Keras's parameter names mapped to the kernel's (leaky_relu's slope is its alpha).
        kw: dict = {}
        if "negative_slope" in params:
            kw["alpha"] = float(params["negative_slope"])
        if "alpha" in params:
            kw["alpha"] = float(params["alpha"])
        if "threshold" in params:  # hard_shrink, soft_shrink
            kw["alpha"] = float(params["threshold"])
        if "b" in params:  # squareplus
            kw["alpha"] = float(params["b"])
        if "approximate" in params:
            kw["approximate"] = bool(params["approximate"])
        self._kernel_kw = kw

    def with_params(self, **params: Any) -> "ActivationFunction":
        merged = {**self.params, **params}
        return self if merged == self.params else type(self)(self.name, **merged)

    def bind(self, *args: Any, **params: Any) -> "ActivationFunction":
        """This activation with ``args`` (in the order of the Keras signature) and ``params``
        as its parameters."""
        if len(args) > len(self._positional):
            raise TypeError(
                f"activation '{self.name}' takes {len(self._positional)} positional argument(s) "
                f"after x ({', '.join(self._positional) or 'none'}). Received: {len(args)}"
            )
        for key, value in zip(self._positional, args):
            if key in params:
                raise TypeError(f"activation '{self.name}': got two values for argument '{key}'")
            params[key] = value
        return self.with_params(**params) if params else self

    def compute_output_shape(self, shape: tuple) -> tuple:
        """The shape of the output for an input of ``shape`` (None for unknown sizes)."""
        return tuple(shape)

    def check_complete(self) -> "ActivationFunction":
        """Returns self; raises ValueError when a required argument has no value."""
        return self

    def forward(self, x: np.ndarray, out: Optional[np.ndarray] = None, bias: Optional[np.ndarray] = None) -> np.ndarray:
        """``activation(x + bias)`` over float32 C-contiguous ``x``; ``out`` may be ``x``."""
        if out is None:
            out = np.empty_like(x)
        _core.activation_forward(self.name, x, out, bias, **self._kernel_kw)
        return out

    def backward(self, x: Optional[np.ndarray], y: Optional[np.ndarray], dy: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
        """``dy * activation'(x)`` using ``x`` and/or ``y`` as the kernel needs; may write ``dy``."""
        if out is None:
            out = dy
        _core.activation_backward(self.name, x, y, dy, out, **self._kernel_kw)
        return out

    def __call__(self, x: Any, *args: Any, **params: Any) -> np.ndarray:
        fn = self.bind(*args, **params).check_complete()
        arr = np.asarray(x)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"activation '{self.name}': expected real numbers. Received: dtype={arr.dtype}")
        arr = np.require(arr, dtype=np.float32, requirements=["C", "A"])
        return fn.forward(arr)

    def get_config(self) -> dict:
        return {"name": self.name, **self.params}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ActivationFunction) and (self.name, self.params) == (other.name, other.params)

    def __hash__(self) -> int:
        return hash((self.name, tuple(sorted(self.params.items()))))

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"<activation {self.name}{extra}>"


class _ArraySpec(NamedTuple):
    """How an activation without a native kernel runs: ``forward(x, **params)``,
    ``backward(x, y, dy, **params)`` (dL/dx), and its output shape."""

    arguments: tuple
    required: tuple
    backward_needs_x: bool
    forward: Callable
    backward: Callable
    output_shape: Optional[Callable] = None


def _glu_shape(shape: tuple, axis: int = -1) -> tuple:
    shape = list(shape)
    if not -len(shape) <= axis < len(shape):
        raise ValueError(f"glu: axis {axis} is out of range for inputs of shape {tuple(shape)}")
    size = shape[axis]
    if size is not None:
        if size % 2:
            raise ValueError(
                f"glu: the size of axis {axis} must be even (the input is split into two halves). "
                f"Received: shape={tuple(shape)}"
            )
        shape[axis] = size // 2
    return tuple(shape)


_ARRAY_SPECS = {
    "glu": _ArraySpec(("axis",), (), True, ops.glu, lambda x, y, dy, axis=-1: ops._glu_grad(x, dy, axis),
                      _glu_shape),
    "sparsemax": _ArraySpec(("axis",), (), False, ops.sparsemax,
                            lambda x, y, dy, axis=-1: ops._sparsemax_grad(y, dy, axis)),
    "threshold": _ArraySpec(("threshold", "default_value"), ("threshold", "default_value"), True, ops.threshold,
                            lambda x, y, dy, **p: ops._threshold_grad(x, dy, **p)),
}


class _ArrayActivation(ActivationFunction):
    """An activation computed by float32 numpy functions of ``pynncore.ops`` (row-wise along an
    axis, or with required arguments); layers never fuse it into their kernels.

    Args:
        name: ``glu``, ``sparsemax`` or ``threshold``.
        **params: its Keras arguments (``axis``; ``threshold`` and ``default_value``).

    Raises:
        ValueError: an argument the activation does not take, or a value out of range.
        TypeError: an argument of the wrong type.
    """

    native = False

    def __init__(self, name: str, **params: Any):
        spec = _ARRAY_SPECS[name]
        unknown = sorted(set(params) - set(spec.arguments))
        if unknown:
            raise ValueError(
                f"activation '{name}' takes the argument(s) {', '.join(spec.arguments)}. "
                f"Received: unexpected {', '.join(unknown)}"
            )
        for key, value in params.items():
            if key == "axis":
                if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                    raise TypeError(f"activation '{name}': axis must be an integer. Received: axis={value!r}")
            else:
                ops._real_scalar(value, key, f"activation '{name}'")
        self.name = name
        self.params = {k: (int(v) if k == "axis" else float(v)) for k, v in params.items()}
        self.backward_needs_x = spec.backward_needs_x
        self._kernel_kw = {}
        self._spec = spec
        self._positional = spec.arguments

    def check_complete(self) -> "ActivationFunction":
        missing = [k for k in self._spec.required if k not in self.params]
        if missing:
            raise ValueError(
                f"activation '{self.name}' needs the argument(s) {', '.join(missing)}: pass "
                f"activations.{self.name}.with_params({', '.join(f'{k}=...' for k in missing)}) "
                f"or call activations.{self.name}(x, {', '.join(self._spec.required)}). "
                f"Received: {self.params}"
            )
        return self

    def forward(self, x: np.ndarray, out: Optional[np.ndarray] = None, bias: Optional[np.ndarray] = None) -> np.ndarray:
        """``activation(x + bias)``; written into ``out`` when it has the output's shape."""
        self.check_complete()
        if bias is not None:
            x = x + bias
        y = self._spec.forward(x, **self.params)
        if out is not None and out.shape == y.shape:
            out[...] = y
            return out
        return y

    def backward(self, x: Optional[np.ndarray], y: Optional[np.ndarray], dy: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
        """dL/dx from ``x`` or ``y`` (``backward_needs_x`` says which); written into ``out``
        when it has the shape of ``x``."""
        what = "x" if self.backward_needs_x else "y"
        if (x if self.backward_needs_x else y) is None:
            raise ValueError(f"activation '{self.name}': the backward pass needs {what}. Received: {what}=None")
        dx = self._spec.backward(x, y, np.asarray(dy, dtype=np.float32), **self.params)
        if out is not None and out.shape == dx.shape:
            out[...] = dx
            return out
        return dx

    def compute_output_shape(self, shape: tuple) -> tuple:
        if self._spec.output_shape is None:
            return tuple(shape)
        return self._spec.output_shape(tuple(shape), **self.params)


linear = ActivationFunction("linear")
relu = ActivationFunction("relu")
relu6 = ActivationFunction("relu6")
sigmoid = ActivationFunction("sigmoid")
hard_sigmoid = ActivationFunction("hard_sigmoid")
tanh = ActivationFunction("tanh")
softmax = ActivationFunction("softmax")
log_softmax = ActivationFunction("log_softmax")
leaky_relu = ActivationFunction("leaky_relu", negative_slope=0.2)
elu = ActivationFunction("elu", alpha=1.0)
selu = ActivationFunction("selu")
softplus = ActivationFunction("softplus")
softsign = ActivationFunction("softsign")
gelu = ActivationFunction("gelu", approximate=False)
silu = ActivationFunction("silu")
swish = silu
exponential = ActivationFunction("exponential")
mish = ActivationFunction("mish")
celu = ActivationFunction("celu", alpha=1.0)
hard_silu = ActivationFunction("hard_silu")
hard_swish = hard_silu
hard_tanh = ActivationFunction("hard_tanh")
log_sigmoid = ActivationFunction("log_sigmoid")
hard_shrink = ActivationFunction("hard_shrink", threshold=0.5)
soft_shrink = ActivationFunction("soft_shrink", threshold=0.5)
sparse_plus = ActivationFunction("sparse_plus")
sparse_sigmoid = ActivationFunction("sparse_sigmoid")
squareplus = ActivationFunction("squareplus", b=4.0)
tanh_shrink = ActivationFunction("tanh_shrink")
glu = _ArrayActivation("glu", axis=-1)
sparsemax = _ArrayActivation("sparsemax", axis=-1)
threshold = _ArrayActivation("threshold")

_BY_NAME = {
    "linear": linear,
    "relu": relu,
    "relu6": relu6,
    "sigmoid": sigmoid,
    "hard_sigmoid": hard_sigmoid,
    "tanh": tanh,
    "softmax": softmax,
    "log_softmax": log_softmax,
    "leaky_relu": leaky_relu,
    "elu": elu,
    "selu": selu,
    "softplus": softplus,
    "softsign": softsign,
    "gelu": gelu,
    "silu": silu,
    "swish": swish,
    "exponential": exponential,
    "mish": mish,
    "celu": celu,
    "hard_silu": hard_silu,
    "hard_swish": hard_swish,
    "hard_tanh": hard_tanh,
    "log_sigmoid": log_sigmoid,
    "hard_shrink": hard_shrink,
    "soft_shrink": soft_shrink,
    "sparse_plus": sparse_plus,
    "sparse_sigmoid": sparse_sigmoid,
    "squareplus": squareplus,
    "tanh_shrink": tanh_shrink,
    "glu": glu,
    "sparsemax": sparsemax,
    "threshold": threshold,
}


def _lookup(name: Optional[str]) -> ActivationFunction:
    if name is None:
        return linear
    fn = _BY_NAME.get(name)
    if fn is None:
        raise ValueError(f"Unknown activation '{name}'. Valid names: {', '.join(sorted(_BY_NAME))}")
    return fn


def get(identifier: Any) -> ActivationFunction:
    """Resolves None (linear), a name, a config dict, an ``ActivationFunction`` or a
    ``functools.partial`` of one (``partial(activations.threshold, threshold=0.5,
    default_value=0.0)``).

    Raises:
        ValueError: an unknown name (the message lists the valid ones), or an activation whose
            required arguments have no value (``"threshold"``).
        TypeError: anything else (arbitrary Python callables have no native backward pass).
    """
    if identifier is None or isinstance(identifier, str):
        return _lookup(identifier).check_complete()
    if isinstance(identifier, ActivationFunction):
        return identifier.check_complete()
    if isinstance(identifier, functools.partial) and isinstance(identifier.func, ActivationFunction):
        return identifier.func.bind(*identifier.args, **identifier.keywords).check_complete()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise TypeError(
        "activation must be None, a name, or a pynncore.activations function. "
        f"Received: {identifier!r}"
    )


def _get_same_shape(identifier: Any, who: str) -> ActivationFunction:
    """``get(identifier)`` for a layer that needs the activation's output in the shape of its
    input; raises ValueError naming ``who`` for glu, which halves an axis."""
    fn = get(identifier)
    if fn.name == "glu":
        raise ValueError(
            f"{who}: activation 'glu' halves an axis of its input, which this layer does not "
            "support (use it in Dense or Activation). Received: activation='glu'"
        )
    return fn


def serialize(fn: ActivationFunction) -> Any:
    """A name when the parameters are the defaults, else a dict with the parameters."""
    base = _BY_NAME.get(fn.name)
    if base is not None and base.params == fn.params:
        return fn.name
    return fn.get_config()


def deserialize(config: Any) -> ActivationFunction:
    if isinstance(config, str):
        return get(config)
    config = dict(config)
    name = config.pop("name", None)
    return _lookup(name).with_params(**config).check_complete()
