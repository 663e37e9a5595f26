"""Activation functions (Keras 3 names and parameters) on native SIMD kernels.

Each activation is an ``ActivationFunction`` object: call it on an array
(``activations.relu(x)``, ``activations.leaky_relu(x, negative_slope=0.1)``) or hand it (or its
name) to a layer (``Dense(64, activation="relu")``). Layers use ``forward`` (with the Dense bias
fused into the same pass) and ``backward``.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from pynncore import _core

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
        return self if merged == self.params else ActivationFunction(self.name, **merged)

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

    def __call__(self, x: Any, **params: Any) -> np.ndarray:
        fn = self.with_params(**params) if params else self
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
}


def get(identifier: Any) -> ActivationFunction:
    """Resolves None (linear), a name, a config dict or an ``ActivationFunction``.

    Raises:
        ValueError: an unknown name (the message lists the valid ones).
        TypeError: anything else (arbitrary Python callables have no native backward pass).
    """
    if identifier is None:
        return linear
    if isinstance(identifier, ActivationFunction):
        return identifier
    if isinstance(identifier, str):
        fn = _BY_NAME.get(identifier)
        if fn is None:
            raise ValueError(
                f"Unknown activation '{identifier}'. Valid names: {', '.join(sorted(_BY_NAME))}"
            )
        return fn
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise TypeError(
        "activation must be None, a name, or a pynncore.activations function. "
        f"Received: {identifier!r}"
    )


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
    return get(name).with_params(**config)
