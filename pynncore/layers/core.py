"""Core layers: Dense, Activation, Dropout, Flatten, Reshape, Identity, Lambda."""

from __future__ import annotations

import inspect
from typing import Any, Optional, Sequence

import numpy as np

from pynncore import activations as _activations
from pynncore import constraints as _constraints
from pynncore import ops
from pynncore import regularizers as _regularizers
from pynncore.layers.base import Layer, shape_str

__all__ = ["Activation", "Dense", "Dropout", "Flatten", "Reshape", "Identity", "Lambda"]


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
        self.use_bias = bool(use_bias)
        _set_kernel_bias_args(self, activation, kernel_initializer, bias_initializer, kernel_regularizer,
                              bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint)

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
        return self.activation.compute_output_shape(tuple(input_shape[:-1]) + (self.units,))

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
        shape = x.shape[:-1] + (self.units,)
        if not act.native:  # an activation along an axis sees the output's own shape
            z = z.reshape(shape)
        if not training or not act.backward_needs_x:
            y = act.forward(z, out=z, bias=bias)  # one fused pass, in place
            ctx = (x2, None, y) if training else None
        else:
            if bias is not None:
                _activations.linear.forward(z, out=z, bias=bias)
            y = act.forward(z)
            ctx = (x2, z, y)
        return y.reshape(act.compute_output_shape(shape)), ctx

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        x2, z, y = ctx
        act = self.activation
        lead = dy.shape[:-1]
        dz = act.backward(x=z, y=y, dy=np.ascontiguousarray(dy, dtype=np.float32).reshape(y.shape))
        if not act.native:  # dz has the shape of z (glu's dy has a halved axis)
            lead = dz.shape[:-1]
        dz = _rows(dz, self.units)
        if self.kernel.trainable and self.trainable:
            ops.matmul(x2, dz, transpose_a=True, out=self.kernel.grad, beta=1.0)
            if self.use_bias:
                self.bias.grad += dz.sum(axis=0, dtype=np.float32)
        if not need_dx:
            return None
        dx = ops.matmul(dz, self.kernel.value, transpose_b=True)
        return dx.reshape(lead + (self.kernel.shape[0],))

    def get_config(self) -> dict:
        config = super().get_config()
        args = _kernel_bias_config(self)
        config.update(units=self.units, activation=args.pop("activation"), use_bias=self.use_bias, **args)
        return config


def _set_kernel_bias_args(
    layer: Layer,
    activation: Any,
    kernel_initializer: Any,
    bias_initializer: Any,
    kernel_regularizer: Any,
    bias_regularizer: Any,
    activity_regularizer: Any,
    kernel_constraint: Any,
    bias_constraint: Any,
) -> None:
    """Stores the activation, initializer, regularizer and constraint arguments of a layer
    with a ``kernel`` and a ``bias`` (Dense, EinsumDense); the weights start as None."""
    layer.activation = _activations.get(activation)
    layer.kernel_initializer = kernel_initializer
    layer.bias_initializer = bias_initializer
    layer.kernel_regularizer = _regularizers.get(kernel_regularizer)
    layer.bias_regularizer = _regularizers.get(bias_regularizer)
    layer.activity_regularizer = _regularizers.get(activity_regularizer)
    layer.kernel_constraint = _constraints.get(kernel_constraint)
    layer.bias_constraint = _constraints.get(bias_constraint)
    layer.kernel = None
    layer.bias = None


def _kernel_bias_config(layer: Layer) -> dict:
    """The config entries of the arguments that ``_set_kernel_bias_args`` stores."""
    return dict(
        activation=_activations.serialize(layer.activation),
        kernel_initializer=_serialize(layer.kernel_initializer),
        bias_initializer=_serialize(layer.bias_initializer),
        kernel_regularizer=_serialize(layer.kernel_regularizer),
        bias_regularizer=_serialize(layer.bias_regularizer),
        activity_regularizer=_serialize(layer.activity_regularizer),
        kernel_constraint=_constraints.config_of(layer.kernel_constraint),
        bias_constraint=_constraints.config_of(layer.bias_constraint),
    )


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

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return self.activation.compute_output_shape(tuple(input_shape))

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


def _is_shape(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(
        d is None or (isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 0) for d in value
    )


def _fn_params(fn: Any) -> set:
    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return set()


class Lambda(Layer):
    """Wraps a Python function of numpy arrays as a layer (forward only).

    ``function(inputs, **arguments)`` is called on float32 arrays: one array, or a list when
    the layer is called on a list of tensors; it returns an array or a list of arrays (several
    outputs), which are converted to float32. A function with a ``mask`` or ``training``
    parameter receives the input mask or the training flag, as in Keras.

    pynncore does not differentiate Python functions, so no gradient passes back through a
    Lambda: it may stand anywhere when the model only predicts, and in training wherever no
    layer before it has weights that training updates (the first layers of a model, or after
    layers without weights). Otherwise the first training step raises ``ValueError``; write
    the computation as a ``Layer`` subclass with ``forward`` and ``backward`` instead.

    Models holding a Lambda cannot be saved (``model.save``, ``to_json``): pynncore never
    stores or runs code from model files. Register a ``Layer`` subclass with
    ``pynncore.saving.register_keras_serializable`` to save a model with custom computation;
    ``save_weights`` works as usual.

    Args:
        function: the function; its first argument is the input.
        output_shape: the output shape without the batch dimension (a tuple, or a list of
            tuples for several outputs), or a function of the full input shape returning the
            full output shape. Default: inferred by calling ``function`` on zeros twice with
            different sizes for the unknown dimensions.
        mask: None (the output has no mask), a function ``mask(inputs, input_mask)``
            returning the output mask, or a fixed boolean array used as the output mask.
        arguments: a dict of keyword arguments passed to ``function``.

    Call arguments:
        inputs: an array ``(N, ...)`` or a list of arrays.
        training: passed to ``function`` when it has a ``training`` parameter.
        mask: passed to ``function`` when it has a ``mask`` parameter.

    Returns:
        ``function``'s result as float32, of the shape ``compute_output_shape`` gives.

    Raises:
        TypeError: ``function`` not callable, ``arguments`` not a dict with string keys, a
            result that is not numeric.
        ValueError: a bad ``output_shape``, an output shape that cannot be inferred, gradients
            that would have to pass back through the function.

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import Lambda
        >>> Lambda(lambda x, k: x * k, arguments={"k": 2.0})(np.ones((2, 3)))[0]
        array([2., 2., 2.], dtype=float32)
    """

    def __init__(self, function: Any, output_shape: Any = None, mask: Any = None, arguments: Optional[dict] = None, **kwargs: Any):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda '{self.name}': function must be callable. Received: function={function!r}")
        if output_shape is not None and not callable(output_shape):
            shapes = list(output_shape) if isinstance(output_shape, (list, tuple)) else None
            several = bool(shapes) and all(isinstance(x, (list, tuple)) for x in shapes)
            if shapes is None or not (all(_is_shape(x) for x in shapes) if several else _is_shape(shapes)):
                raise ValueError(
                    f"Lambda '{self.name}': output_shape must be None, a function, a tuple of non-negative "
                    f"sizes (or None) without the batch dimension, or a list of such tuples. "
                    f"Received: output_shape={output_shape!r}"
                )
            output_shape = [tuple(x) for x in shapes] if several else tuple(shapes)
        if arguments is not None and (not isinstance(arguments, dict) or not all(isinstance(k, str) for k in arguments)):
            raise TypeError(
                f"Lambda '{self.name}': arguments must be a dict of keyword arguments. Received: arguments={arguments!r}"
            )
        self.function = function
        self.output_shape = output_shape
        self.mask = mask
        self.arguments = dict(arguments or {})
        self.supports_masking = mask is not None
        params = _fn_params(function)
        self._fn_expects_mask = "mask" in params
        self._fn_expects_training = "training" in params
        self.consumes_mask = self._fn_expects_mask

    def _result(self, y: Any) -> Any:
        what = "result of the Lambda function"
        if isinstance(y, (list, tuple)):
            return [self._check_input(a, what) for a in y]
        return self._check_input(y, what)

    def _apply(self, x: Any, training: bool, mask: Any) -> Any:
        kwargs = dict(self.arguments)
        if self._fn_expects_mask:
            kwargs["mask"] = mask
        if self._fn_expects_training:
            kwargs["training"] = training
        return self._result(self.function(x, **kwargs))

    def forward(self, x: Any, training: bool = False, mask: Any = None) -> tuple:
        return self._apply(x, bool(training), mask), None

    def backward(self, ctx: Any, dy: Any, need_dx: bool = True) -> Optional[Any]:
        if not need_dx:
            return None
        raise ValueError(
            f"Lambda '{self.name}': gradients cannot pass back through its function (pynncore does not "
            "differentiate Python functions), but a layer before it has weights that training updates "
            "(or the gradient with respect to the model input was asked for). Place Lambda layers before "
            "every layer with trainable weights, or write the computation as a Layer subclass with "
            "forward and backward methods."
        )

    def compute_output_shape(self, input_shape: Any) -> Any:
        several_in = isinstance(input_shape, list) and all(isinstance(s, (list, tuple)) for s in input_shape)
        if callable(self.output_shape):
            out = self.output_shape(input_shape)
            return [tuple(s) for s in out] if isinstance(out, list) else tuple(out)
        if self.output_shape is not None:
            batch = (input_shape[0] if several_in else input_shape)[0]
            if isinstance(self.output_shape, list):
                return [(batch, *s) for s in self.output_shape]
            return (batch, *self.output_shape)
        return self._infer_shape(input_shape, several_in)

    def _infer_shape(self, input_shape: Any, several_in: bool) -> Any:
        def probe(fill: int) -> Any:
            def zeros(shape: Any) -> np.ndarray:
                return np.zeros(tuple(fill if d is None else d for d in shape), np.float32)

            x = [zeros(s) for s in input_shape] if several_in else zeros(input_shape)
            y = self._apply(x, False, None)
            return [a.shape for a in y] if isinstance(y, list) else y.shape

        try:
            a, b = probe(2), probe(3)
        except Exception as exc:  # the user's function: any error means the shape is unknown
            raise ValueError(
                f"Lambda '{self.name}': could not infer the output shape by calling the function on zeros "
                f"({type(exc).__name__}: {exc}); pass output_shape. Received: input shape={input_shape}"
            ) from exc

        def merge(sa: tuple, sb: tuple) -> tuple:
            if len(sa) != len(sb):
                raise ValueError(
                    f"Lambda '{self.name}': the rank of the output depends on the input sizes; pass "
                    f"output_shape. Received: input shape={input_shape}"
                )
            return tuple(p if p == q else None for p, q in zip(sa, sb))

        if isinstance(a, list) != isinstance(b, list) or (isinstance(a, list) and len(a) != len(b)):
            raise ValueError(f"Lambda '{self.name}': the number of outputs depends on the input sizes; pass output_shape")
        return [merge(p, q) for p, q in zip(a, b)] if isinstance(a, list) else merge(a, b)

    def compute_mask(self, x: Any, mask: Any = None) -> Any:
        if callable(self.mask):
            return self.mask(x, mask)
        return None if self.mask is None else np.asarray(self.mask, bool)

    def get_config(self) -> dict:
        """Keras's keys; ``function`` (and a function ``output_shape`` or ``mask``) are the
        Python objects themselves, so the config rebuilds the layer in this process only."""
        config = super().get_config()
        config["function"] = self.function
        if self.output_shape is not None:
            config["output_shape"] = self.output_shape
        if self.mask is not None:
            config["mask"] = self.mask
        config["arguments"] = dict(self.arguments)
        return config
