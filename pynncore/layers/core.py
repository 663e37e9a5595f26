"""Core layers: Dense, Activation, Dropout, Flatten, Reshape."""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from pynncore import activations as _activations
from pynncore import constraints as _constraints
from pynncore import ops
from pynncore import regularizers as _regularizers
from pynncore.layers.base import Layer, shape_str

__all__ = ["Activation", "Dense", "Dropout", "Flatten", "Reshape", "Identity"]


def _rows(x: np.ndarray, features: int) -> np.ndarray:
    """``x`` as a C-contiguous float32 ``(rows, features)`` matrix (a view when possible)."""
    return np.ascontiguousarray(x, dtype=np.float32).reshape(-1, features)


class Dense(Layer):
    """Densely connected layer: ``activation(inputs @ kernel + bias)``.

    The kernel has Keras's layout ``(input_dim, units)``. Inputs of any rank are accepted; the
    product runs over the last axis, so ``(N, T, F)`` gives ``(N, T, units)``. The product is one
    native GEMM; bias and activation are applied in one further pass over the output.

    Args:
        units: positive integer, the output size.
        activation: name, callable from ``pynncore.activations``, or None (linear).
        use_bias: whether to add a bias vector.
        kernel_initializer, bias_initializer: initializers (names or objects).
        kernel_regularizer, bias_regularizer, activity_regularizer: regularizers or None.
        kernel_constraint, bias_constraint: projections applied after every optimizer step
            (``pynncore.constraints``).

    Call arguments:
        inputs: array ``(..., input_dim)``.

    Returns:
        Array ``(..., units)``.

    Raises:
        ValueError: non-positive units, or inputs whose last dimension is not ``input_dim``.

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import Dense
        >>> Dense(4, activation="relu")(np.ones((2, 3))).shape
        (2, 4)
    """

    supports_masking = True

    def __init__(
        self,
        units: int,
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
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(
                f"Dense '{self.name}': units must be a positive integer. Received: units={units!r}"
            )
        self.units = int(units)
        self.activation = _activations.get(activation)
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

    def build(self, input_shape: tuple) -> None:
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(
                f"Dense '{self.name}': expected an input of rank >= 2 with a known last dimension. "
                f"Received: shape={shape_str(input_shape)}"
            )
        in_dim = int(input_shape[-1])
        self.kernel = self.add_weight(
            "kernel", (in_dim, self.units), self.kernel_initializer, self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), self.bias_initializer, self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape[:-1]) + (self.units,)

    def _input_rows(self, x: np.ndarray) -> np.ndarray:
        in_dim = self.kernel.shape[0]
        if x.ndim < 2 or x.shape[-1] != in_dim:
            raise ValueError(
                f"Dense '{self.name}': expected input with {in_dim} features in the last axis. "
                f"Received: shape={x.shape}"
            )
        return _rows(x, in_dim)

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x2 = self._input_rows(x)
        z = ops.matmul(x2, self.kernel.value)
        bias = self.bias.value if self.use_bias else None
        act = self.activation
        if not training or not act.backward_needs_x:
            y = act.forward(z, out=z, bias=bias)  # one fused pass, in place
            ctx = (x2, None, y) if training else None
        else:
            if bias is not None:
                _activations.linear.forward(z, out=z, bias=bias)
            y = act.forward(z)
            ctx = (x2, z, y)
        return y.reshape(x.shape[:-1] + (self.units,)), ctx

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        x2, z, y = ctx
        dz = self.activation.backward(x=z, y=y, dy=_rows(dy, self.units))
        if self.kernel.trainable and self.trainable:
            ops.matmul(x2, dz, transpose_a=True, out=self.kernel.grad, beta=1.0)
            if self.use_bias:
                self.bias.grad += dz.sum(axis=0, dtype=np.float32)
        if not need_dx:
            return None
        dx = ops.matmul(dz, self.kernel.value, transpose_b=True)
        return dx.reshape(dy.shape[:-1] + (self.kernel.shape[0],))

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            units=self.units,
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
        return config


def _serialize(obj: Any) -> Any:
    """Initializers/regularizers as config: strings and configs stay, objects become
    {class_name, config}."""
    if obj is None or isinstance(obj, (str, int, float, dict)):
        return obj
    if hasattr(obj, "get_config"):
        return {"class_name": type(obj).__name__, "config": obj.get_config()}
    raise ValueError(f"cannot serialize {obj!r}: it has no get_config()")


class Activation(Layer):
    """Applies an activation function: ``Activation('relu')``."""

    supports_masking = True

    def __init__(self, activation: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.activation = _activations.get(activation)

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x = np.ascontiguousarray(x, dtype=np.float32)
        y = self.activation.forward(x)
        if not training:
            return y, None
        return y, (x if self.activation.backward_needs_x else None, y)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        if not need_dx:
            return None
        x, y = ctx
        return self.activation.backward(x=x, y=y, dy=np.ascontiguousarray(dy, dtype=np.float32))

    def get_config(self) -> dict:
        config = super().get_config()
        config["activation"] = _activations.serialize(self.activation)
        return config


class Dropout(Layer):
    """Inverted dropout: in training, zeroes a fraction ``rate`` of inputs and scales the rest
    by ``1 / (1 - rate)``; at inference it is the identity.

    Args:
        rate: float in [0, 1).
        noise_shape: shape of the binary mask, broadcast over the input (None: full shape;
            ``None`` entries take the input's size).
        seed: integer seed for this layer's mask generator.
    """

    supports_masking = True

    def __init__(self, rate: float, noise_shape: Optional[Sequence[Optional[int]]] = None, seed: Optional[int] = None, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating, np.integer)) or not 0.0 <= float(rate) < 1.0:
            raise ValueError(
                f"Dropout '{self.name}': rate must be a float in [0, 1). Received: rate={rate!r}"
            )
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        from pynncore.utils import rng as _rng

        # A seeded layer owns its generator; an unseeded one draws from the global generator
        # (pynncore.utils.set_random_seed makes it reproducible).
        self._rng = _rng.make_generator(seed) if seed is not None else None

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if not training or self.rate == 0.0:
            return x, None
        shape = x.shape
        if self.noise_shape is not None:
            shape = tuple(x.shape[i] if d is None else d for i, d in enumerate(self.noise_shape))
        if self._rng is not None:
            gen = self._rng
        else:
            from pynncore.utils import rng as _rng

            gen = _rng.get_global_generator()
        keep = gen.random(shape, dtype=np.float32) >= self.rate
        mask = keep.astype(np.float32) * np.float32(1.0 / (1.0 - self.rate))
        return x * mask, mask

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        if not need_dx:
            return None
        return dy if ctx is None else dy * ctx

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(rate=self.rate, noise_shape=self.noise_shape, seed=self.seed)
        return config


class Flatten(Layer):
    """Flattens each sample: ``(N, d1, d2, ...)`` to ``(N, d1 * d2 * ...)``."""

    def __init__(self, data_format: Optional[str] = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.data_format = data_format

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else int(np.prod(rest, dtype=np.int64))
        return (input_shape[0], size)

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        return x.reshape(x.shape[0], -1), (x.shape if training else None)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        return dy.reshape(ctx) if need_dx else None

    def get_config(self) -> dict:
        config = super().get_config()
        config["data_format"] = self.data_format
        return config


class Reshape(Layer):
    """Reshapes each sample to ``target_shape`` (one entry may be -1)."""

    def __init__(self, target_shape: Sequence[int], **kwargs: Any):
        super().__init__(**kwargs)
        target = tuple(int(d) for d in target_shape)
        if sum(d == -1 for d in target) > 1 or any(d < -1 or d == 0 for d in target):
            raise ValueError(
                f"Reshape '{self.name}': target_shape must hold positive sizes and at most one -1. "
                f"Received: target_shape={target_shape}"
            )
        self.target_shape = target

    def _resolve(self, sample_shape: tuple) -> tuple:
        if any(d is None for d in sample_shape):
            return tuple(None if d == -1 else d for d in self.target_shape)
        size = int(np.prod(sample_shape, dtype=np.int64))
        known = int(np.prod([d for d in self.target_shape if d != -1], dtype=np.int64))
        if -1 in self.target_shape:
            if known == 0 or size % known:
                raise ValueError(
                    f"Reshape '{self.name}': cannot reshape a sample of shape {sample_shape} "
                    f"({size} values) to {self.target_shape}"
                )
            return tuple(size // known if d == -1 else d for d in self.target_shape)
        if known != size:
            raise ValueError(
                f"Reshape '{self.name}': cannot reshape a sample of shape {sample_shape} "
                f"({size} values) to {self.target_shape} ({known} values)"
            )
        return self.target_shape

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0],) + self._resolve(tuple(input_shape[1:]))

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        target = self._resolve(x.shape[1:])
        return x.reshape((x.shape[0],) + target), (x.shape if training else None)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        return dy.reshape(ctx) if need_dx else None

    def get_config(self) -> dict:
        config = super().get_config()
        config["target_shape"] = list(self.target_shape)
        return config


class Identity(Layer):
    """Returns its input unchanged (masks pass through)."""

    supports_masking = True

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        return x, None

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        return dy if need_dx else None
