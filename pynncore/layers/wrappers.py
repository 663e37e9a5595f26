"""Layer wrappers: Wrapper, TimeDistributed, Bidirectional and SpectralNormalization.

``Wrapper(layer)`` is the base of the wrappers of one layer (as in Keras 3, ``TimeDistributed``
and ``SpectralNormalization``): it holds ``layer``, builds it, owns its weights and writes it
into its config.

``TimeDistributed(layer)`` applies one layer to every timestep of ``(N, T, ...)``: the input is
viewed as ``(N * T, ...)``, the inner layer runs once on that batch, and its output is viewed
back as ``(N, T, ...)``. The backward pass does the same with the gradient.

``Bidirectional(rnn)`` runs a copy of a recurrent layer forward in time and another copy (made
from its config with ``go_backwards`` flipped) backward in time, then merges the two outputs.
When sequences are returned, the backward copy's output comes in reversed time order and is
flipped back before merging, so step ``t`` of both halves describes input step ``t``; with a
mask, the masked steps of both halves are zero (as in Keras).
Weights are the forward layer's followed by the backward layer's.

``SpectralNormalization(layer)`` divides the wrapped layer's ``kernel`` (or ``embeddings``) by
an estimate of its largest singular value at every training call, so that the layer's
Lipschitz constant stays near 1. With ``W`` seen as the matrix ``(prod(shape[:-1]), shape[-1])``
and the stored unit row ``u (1, shape[-1])``, each of ``power_iterations`` steps computes

    v = normalize(u @ W.T),    u = normalize(v @ W),

then ``sigma = v @ W @ u.T`` and the kernel becomes ``W / sigma``; ``u`` is kept for the next
call. As in Keras, the normalized kernel is written into the kernel itself, so the gradient
of a training step is the wrapped layer's gradient at the normalized kernel, with no gradient
through ``sigma`` or ``u``.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from pynncore import initializers as _initializers
from pynncore.layers.base import InputSpec, KerasTensor, Layer, Variable, shape_str

__all__ = ["Bidirectional", "SpectralNormalization", "TimeDistributed", "Wrapper"]

_INPUT_SHAPE_KWARGS = ("input_shape", "input_dim", "batch_input_shape")


class _Wrapper(Layer):
    """Shared weight bookkeeping: a wrapper's weights are those of the layers it wraps."""

    def _inner_layers(self) -> list:
        raise NotImplementedError

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        # Freezing or unfreezing a wrapper does the same to the layers it wraps (as in Keras).
        self._trainable = bool(value)
        try:
            inner = self._inner_layers()
        except AttributeError:  # during __init__, before the wrapped layers are set
            return
        for layer in inner:
            layer.trainable = self._trainable

    def _sync_weights(self) -> None:
        self._weights = [w for layer in self._inner_layers() for w in layer.weights]

    @property
    def trainable_weights(self) -> list:
        if not self.trainable:
            return []
        return [w for layer in self._inner_layers() for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self) -> list:
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]


def _pop_wrapped_layer(cls: type, config: dict) -> tuple:
    """``(wrapped layer, rest of the config)`` from a wrapper's config."""
    from pynncore.saving import deserialize_layer

    config = dict(config)
    if "layer" not in config:
        raise ValueError(f"{cls.__name__}: config has no 'layer' entry")
    return deserialize_layer(config.pop("layer")), config


def _removeprefix(name: str, prefix: str) -> str:
    return name[len(prefix):] if name.startswith(prefix) else name


class Wrapper(_Wrapper):
    """Base class of layers that wrap one layer, Keras 3 ``keras.layers.Wrapper``.

    The wrapped layer is ``self.layer``; it is built by the wrapper's ``build`` on the same
    input shape, its weights are the wrapper's weights, freezing the wrapper freezes it, and
    its activity regularizer applies to the wrapper's output. The config holds the wrapped
    layer's serialized config under ``"layer"``. Like Keras's, the class does not compute
    anything itself: subclasses implement ``forward`` and ``backward`` (``TimeDistributed``,
    ``SpectralNormalization``).

    Args:
        layer: the layer to wrap.

    Raises:
        ValueError: ``layer`` is not a pynncore ``Layer``.

    Example:
        >>> from pynncore.layers import Dense, TimeDistributed, Wrapper
        >>> wrapper = TimeDistributed(Dense(4))
        >>> isinstance(wrapper, Wrapper), wrapper.layer.units
        (True, 4)
    """

    def __init__(self, layer: Layer, **kwargs: Any):
        if not isinstance(layer, Layer):
            raise ValueError(
                f"{type(self).__name__}: expected a pynncore Layer to wrap. Received: {type(layer).__name__}"
            )
        super().__init__(**kwargs)
        self.layer = layer
        if not self.trainable:
            layer.trainable = False
        self.activity_regularizer = layer.activity_regularizer
        if layer.built:
            self._sync_weights()

    def _inner_layers(self) -> list:
        return [self.layer]

    def build(self, input_shape: Any) -> None:
        self.layer._maybe_build(input_shape)
        self._sync_weights()
        self.built = True

    def get_config(self) -> dict:
        from pynncore.saving import serialize_layer

        config = super().get_config()
        config["layer"] = serialize_layer(self.layer)
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Wrapper":
        layer, config = _pop_wrapped_layer(cls, config)
        return cls(layer, **config)


class TimeDistributed(Wrapper):
    """Applies a layer to every timestep of a sequence.

    Input ``(N, T, ...)`` is reshaped to ``(N * T, ...)``, the wrapped layer runs on it once, and
    its output ``(N * T, ...)`` is reshaped to ``(N, T, ...)``. Any layer works (``Dense``,
    convolutions and pooling for per-frame image features, ``Flatten``, ...). Masks pass
    through unchanged.

    Args:
        layer: the layer applied to each timestep.

    Call arguments:
        inputs: array ``(N, T, ...)``.

    Returns:
        Array ``(N, T, ...)``: the wrapped layer's output for each timestep.

    Raises:
        ValueError: ``layer`` is not a layer, or inputs of rank < 3.

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import Dense, TimeDistributed
        >>> TimeDistributed(Dense(4))(np.ones((2, 5, 3))).shape
        (2, 5, 4)
    """

    supports_masking = True

    def _child_shape(self, input_shape: Sequence[Optional[int]]) -> tuple:
        input_shape = tuple(input_shape)
        if len(input_shape) < 3:
            raise ValueError(
                f"TimeDistributed '{self.name}': expected an input of rank >= 3 (N, T, ...). "
                f"Received: shape={shape_str(input_shape)}"
            )
        n, t = input_shape[0], input_shape[1]
        return (None if n is None or t is None else n * t,) + input_shape[2:]

    def build(self, input_shape: tuple) -> None:
        self.layer._maybe_build(self._child_shape(input_shape))
        self._sync_weights()
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        inner = self.layer.compute_output_shape(self._child_shape(input_shape))
        return (input_shape[0], input_shape[1]) + tuple(inner[1:])

    def _check_input(self, x: Any) -> np.ndarray:
        return self.layer._check_input(x)

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x = np.asarray(x)
        self._child_shape(x.shape)
        n, t = x.shape[0], x.shape[1]
        y2, ctx = self.layer.forward(x.reshape((n * t,) + x.shape[2:]), training=training)
        y = y2.reshape((n, t) + y2.shape[1:])
        return y, ((ctx, x.shape) if training else None)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        inner_ctx, x_shape = ctx
        dy = np.asarray(dy)
        n, t = x_shape[0], x_shape[1]
        if dy.ndim < 2 or dy.shape[:2] != (n, t):
            raise ValueError(
                f"TimeDistributed '{self.name}': expected an output gradient starting with "
                f"({n}, {t}). Received: shape={dy.shape}"
            )
        dx2 = self.layer.backward(inner_ctx, dy.reshape((n * t,) + dy.shape[2:]), need_dx=need_dx)
        return None if dx2 is None else dx2.reshape(x_shape)


_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class Bidirectional(_Wrapper):
    """Runs a recurrent layer in both directions and merges the results.

    The forward layer is a copy of ``layer`` named ``forward_<name>``; the backward layer is
    ``backward_layer`` if given, else a copy of ``layer`` named ``backward_<name>`` with
    ``go_backwards`` flipped. Both copies are made from ``layer.get_config()``, so ``layer``
    itself is not used (its weights are not shared). When ``return_sequences`` is true the
    backward layer's output is flipped in time before merging.

    Args:
        layer: a recurrent layer (``SimpleRNN``, ``LSTM``, ``GRU``, ``ConvLSTM1D/2D/3D``, or any layer with
            ``go_backwards``, ``return_sequences``, ``return_state`` and get_config/from_config).
        merge_mode: ``"concat"`` (default), ``"sum"``, ``"mul"``, ``"ave"`` or None (the two
            outputs are returned as a list).
        weights: optional initial weights: the forward layer's followed by the backward layer's.
        backward_layer: optional layer for the backward direction; it must have the opposite
            ``go_backwards`` and the same ``return_sequences``, ``return_state`` and ``stateful``.

    Call arguments:
        inputs: array ``(N, T, F)`` (``(N, T, *S, C)`` for a convolutional LSTM).
        mask: optional boolean ``(N, T)``; False marks padding steps.
        initial_state: optional list of states: the forward layer's then the backward layer's.
        training: training mode.

    Returns:
        The merged output (``(N, T, 2 * units)`` for concat with sequences, ``(N, 2 * units)``
        without); with ``merge_mode=None`` the list ``[forward, backward]``; with
        ``return_state`` the list ``[output(s)..., *forward_states, *backward_states]``.

    Raises:
        ValueError: a bad ``merge_mode``, a layer without the recurrent attributes, or a
            ``backward_layer`` that does not match ``layer``.

    Example:
        >>> from pynncore.layers import Bidirectional, LSTM
        >>> bi = Bidirectional(LSTM(8, return_sequences=True))  # output (N, T, 16)
    """

    supports_masking = True
    consumes_mask = True

    def __init__(
        self,
        layer: Layer,
        merge_mode: Optional[str] = "concat",
        weights: Any = None,
        backward_layer: Optional[Layer] = None,
        **kwargs: Any,
    ):
        for what, obj in (("layer", layer), ("backward_layer", backward_layer)):
            if obj is None and what == "backward_layer":
                continue
            if not isinstance(obj, Layer):
                raise ValueError(
                    f"Bidirectional: `{what}` must be a pynncore Layer. Received: {type(obj).__name__}"
                )
            missing = [a for a in ("go_backwards", "return_sequences", "return_state") if not hasattr(obj, a)]
            if missing:
                raise ValueError(
                    f"Bidirectional: `{what}` must be a recurrent layer with attributes "
                    f"go_backwards, return_sequences and return_state. Received: "
                    f"{type(obj).__name__} '{obj.name}' without {missing}"
                )
        if merge_mode not in _MERGE_MODES:
            raise ValueError(
                f"Bidirectional: merge_mode must be one of 'concat', 'sum', 'mul', 'ave' or None. "
                f"Received: merge_mode={merge_mode!r}"
            )
        if not any(k in kwargs for k in _INPUT_SHAPE_KWARGS) and layer._input_shape_arg is not None:
            kwargs["input_shape"] = layer._input_shape_arg
            kwargs.setdefault("batch_size", layer._batch_size_arg)
        super().__init__(**kwargs)

        config = layer.get_config()
        config["name"] = "forward_" + _removeprefix(layer.name, "forward_")
        self.forward_layer = type(layer).from_config(config)
        if backward_layer is None:
            config = layer.get_config()
            config["name"] = "backward_" + _removeprefix(layer.name, "backward_")
            config["go_backwards"] = not layer.go_backwards
            self.backward_layer = type(layer).from_config(config)
        else:
            self.backward_layer = backward_layer
        self._verify_layers()
        if not self.trainable:
            self.trainable = False
        for inner in (self.forward_layer, self.backward_layer):
            if getattr(inner, "zero_output_for_mask", None) is not None:
                inner.zero_output_for_mask = inner.return_sequences
        self.merge_mode = merge_mode
        self.stateful = getattr(layer, "stateful", False)
        self.return_sequences = bool(layer.return_sequences)
        self.return_state = bool(layer.return_state)
        self._initial_weights = list(weights) if weights else None

    def _verify_layers(self) -> None:
        f, b = self.forward_layer, self.backward_layer
        if bool(f.go_backwards) == bool(b.go_backwards):
            raise ValueError(
                f"Bidirectional '{self.name}': the forward and backward layers must have different "
                f"go_backwards values. Received: forward_layer.go_backwards={f.go_backwards}, "
                f"backward_layer.go_backwards={b.go_backwards}"
            )
        for attr in ("stateful", "return_sequences", "return_state"):
            fv, bv = getattr(f, attr, False), getattr(b, attr, False)
            if fv != bv:
                raise ValueError(
                    f"Bidirectional '{self.name}': the forward and backward layers must have the same "
                    f"{attr}. Received: {fv} for the forward layer and {bv} for the backward layer"
                )

    def _inner_layers(self) -> list:
        return [self.forward_layer, self.backward_layer]

    # -- building and shapes ---------------------------------------------------------------

    def _check_rank(self, shape: tuple) -> None:
        """Raises unless ``shape`` has the wrapped layer's input rank (3: ``(N, T, F)``; a
        convolutional recurrent layer's is higher)."""
        ndim = getattr(self.forward_layer, "_input_ndim", 3)
        if len(shape) != ndim:
            desc = "(N, T, F)" if ndim == 3 else "(N, T, " + "S, " * (ndim - 3) + "C)"
            raise ValueError(
                f"Bidirectional '{self.name}': expected an input of rank {ndim} {desc}. "
                f"Received: shape={shape_str(shape)}"
            )

    def build(self, input_shape: tuple) -> None:
        input_shape = tuple(input_shape)
        self._check_rank(input_shape)
        self.forward_layer._maybe_build(input_shape)
        self.backward_layer._maybe_build(input_shape)
        self._sync_weights()
        self.built = True
        if self._initial_weights is not None:
            weights, self._initial_weights = self._initial_weights, None
            self.set_weights(weights)

    def _inner_shapes(self, layer: Layer, input_shape: tuple) -> tuple:
        """(output shape, [state shapes]) of one direction."""
        shape = layer.compute_output_shape(tuple(input_shape))
        if self.return_state:
            shapes = list(shape)
            return tuple(shapes[0]), [tuple(s) for s in shapes[1:]]
        return tuple(shape), []

    def compute_output_shape(self, input_shape: tuple) -> Any:
        out_f, states_f = self._inner_shapes(self.forward_layer, input_shape)
        out_b, states_b = self._inner_shapes(self.backward_layer, input_shape)
        if self.merge_mode == "concat":
            last = None if out_f[-1] is None or out_b[-1] is None else out_f[-1] + out_b[-1]
            outs = [out_f[:-1] + (last,)]
        elif self.merge_mode is None:
            outs = [out_f, out_b]
        else:
            outs = [out_f]
        if not self.return_state and len(outs) == 1:
            return outs[0]
        return outs + states_f + states_b

    def compute_mask(self, x: Any, mask: Optional[np.ndarray] = None) -> Optional[np.ndarray]:
        if self.return_sequences and self.merge_mode is not None:
            return mask
        return None

    # -- running ---------------------------------------------------------------------------

    def __call__(
        self,
        inputs: Any,
        training: Optional[bool] = None,
        mask: Any = None,
        initial_state: Any = None,
        **kwargs: Any,
    ) -> Any:
        if isinstance(inputs, KerasTensor):
            if mask is not None or initial_state is not None:
                raise ValueError(
                    f"Bidirectional '{self.name}': mask and initial_state are taken only by eager "
                    "calls on arrays; in a model, masks come from Embedding(mask_zero=True) or Masking"
                )
            if self.return_state or self.merge_mode is None:
                raise ValueError(
                    f"Bidirectional '{self.name}': a model layer has one output, so return_state=True "
                    "and merge_mode=None are available only in eager calls on arrays"
                )
            return super().__call__(inputs, training=training, **kwargs)
        if kwargs:
            raise TypeError(f"Layer '{self.name}': unexpected call argument(s) {sorted(kwargs)}")
        x = self._check_input(inputs)
        self._maybe_build((None,) + x.shape[1:])
        y, _ = self.forward(x, training=bool(training), mask=mask, initial_state=initial_state)
        return y

    def _check_mask(self, x: np.ndarray, mask: Any) -> Optional[np.ndarray]:
        if mask is None:
            return None
        m = np.asarray(mask)
        if m.shape != x.shape[:2]:
            raise ValueError(
                f"Bidirectional '{self.name}': expected a mask of shape {x.shape[:2]} (N, T). "
                f"Received: shape={m.shape}"
            )
        return m.astype(bool, copy=False)

    @staticmethod
    def _run(layer: Layer, x: np.ndarray, training: bool, mask: Any, state: Any) -> tuple:
        kwargs = {}
        if mask is not None and getattr(layer, "consumes_mask", False):
            kwargs["mask"] = mask
        if state is not None:
            kwargs["initial_state"] = state
        return layer.forward(x, training=training, **kwargs)

    def forward(
        self, x: np.ndarray, training: bool = False, mask: Any = None, initial_state: Any = None
    ) -> tuple:
        x = np.asarray(x)
        self._check_rank(x.shape)
        mask = self._check_mask(x, mask)
        state_f = state_b = None
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            if len(states) % 2:
                raise ValueError(
                    f"Bidirectional '{self.name}': initial_state must hold the forward layer's states "
                    f"followed by the backward layer's (an even count). Received: {len(states)} states"
                )
            half = len(states) // 2
            state_f, state_b = states[:half], states[half:]
        yf, ctx_f = self._run(self.forward_layer, x, training, mask, state_f)
        yb, ctx_b = self._run(self.backward_layer, x, training, mask, state_b)
        if self.return_state:
            out_f, st_f = yf[0], list(yf[1:])
            out_b, st_b = yb[0], list(yb[1:])
        else:
            out_f, out_b, st_f, st_b = yf, yb, [], []
        keep = None
        if self.return_sequences:
            out_b = np.ascontiguousarray(out_b[:, ::-1])
            if mask is not None:
                # Keras zeroes the masked steps of both directions' output sequences.
                keep = mask.reshape(mask.shape + (1,) * (out_f.ndim - 2)).astype(np.float32)
                out_f, out_b = out_f * keep, out_b * keep
        mode = self.merge_mode
        if mode == "concat":
            outs = [np.concatenate([out_f, out_b], axis=-1)]
        elif mode == "sum":
            outs = [out_f + out_b]
        elif mode == "ave":
            outs = [(out_f + out_b) * np.float32(0.5)]
        elif mode == "mul":
            outs = [out_f * out_b]
        else:
            outs = [out_f, out_b]
        if self.return_state or mode is None:
            y = outs + st_f + st_b
        else:
            y = outs[0]
        ctx = (ctx_f, ctx_b, out_f, out_b, len(st_f), keep) if training else None
        return y, ctx

    def backward(self, ctx: Any, dy: Any, need_dx: bool = True) -> Optional[np.ndarray]:
        ctx_f, ctx_b, out_f, out_b, n_states, keep = ctx
        mode = self.merge_mode
        if self.return_state or mode is None:
            dys = list(dy)
            n_out = 2 if mode is None else 1
            if len(dys) != n_out + 2 * n_states:
                raise ValueError(
                    f"Bidirectional '{self.name}': expected {n_out + 2 * n_states} output gradients "
                    f"(outputs, then the forward and backward states). Received: {len(dys)}"
                )
            d_outs, d_states = dys[:n_out], dys[n_out:]
        else:
            d_outs, d_states = [dy], []
        if mode is None:
            d_f, d_b = d_outs
        else:
            d = np.asarray(d_outs[0], dtype=np.float32)
            if mode == "concat":
                units = out_f.shape[-1]
                d_f, d_b = d[..., :units], d[..., units:]
            elif mode == "sum":
                d_f = d_b = d
            elif mode == "ave":
                d_f = d_b = d * np.float32(0.5)
            else:  # mul
                d_f, d_b = d * out_b, d * out_f
        if keep is not None:
            d_f, d_b = d_f * keep, d_b * keep
        if self.return_sequences:
            d_b = np.asarray(d_b)[:, ::-1]
        d_f = np.ascontiguousarray(d_f, dtype=np.float32)
        d_b = np.ascontiguousarray(d_b, dtype=np.float32)
        if self.return_state:
            dy_f = [d_f] + d_states[:n_states]
            dy_b = [d_b] + d_states[n_states:]
        else:
            dy_f, dy_b = d_f, d_b
        # Each direction also returns its initial states' gradients when it was given states;
        # eager calls with initial_state have no tensors to send them to.
        dx_f = _main_grad(self.forward_layer.backward(ctx_f, dy_f, need_dx=need_dx))
        dx_b = _main_grad(self.backward_layer.backward(ctx_b, dy_b, need_dx=need_dx))
        if not need_dx:
            return None
        return dx_f + dx_b

    def reset_states(self) -> None:
        """Resets the states of both directions (stateful layers)."""
        for layer in self._inner_layers():
            reset = getattr(layer, "reset_states", None) or getattr(layer, "reset_state", None)
            if reset is not None:
                reset()

    reset_state = reset_states

    # -- config ----------------------------------------------------------------------------

    def get_config(self) -> dict:
        from pynncore.saving import serialize_layer

        config = super().get_config()
        config["merge_mode"] = self.merge_mode
        config["layer"] = serialize_layer(self.forward_layer)
        config["backward_layer"] = serialize_layer(self.backward_layer)
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Bidirectional":
        from pynncore.saving import deserialize_layer

        layer, config = _pop_wrapped_layer(cls, config)
        backward = config.pop("backward_layer", None)
        if backward is not None:
            backward = deserialize_layer(backward)
        return cls(layer, backward_layer=backward, **config)


_NORM_EPSILON = 1e-7  # Keras's backend epsilon, the floor of a norm in ``normalize``


def _normalize(v: np.ndarray) -> np.ndarray:
    """``v / max(||v||, 1e-7)`` over all entries (Keras's ``normalize(v, axis=None)``)."""
    return v / max(float(np.sqrt(np.sum(v * v))), _NORM_EPSILON)


class SpectralNormalization(Wrapper):
    """Normalizes a layer's kernel by its spectral norm, estimated by power iteration.

    At every training call the wrapped layer's ``kernel`` (``embeddings`` for an
    ``Embedding``), seen as the matrix ``W (prod(shape[:-1]), shape[-1])``, is replaced by
    ``W / sigma`` with ``sigma`` its largest singular value estimated from the non-trainable
    weight ``vector_u (1, shape[-1])``: ``power_iterations`` times ``v = normalize(u @ W.T)``,
    ``u = normalize(v @ W)``, then ``sigma = v @ W @ u.T``; the new ``u`` is stored. Then the
    wrapped layer runs. A kernel that is all zeros is left as it is. Outside training nothing
    changes and the wrapped layer runs on the kernel as stored. As in Keras the normalized
    value is written into the kernel, so training differentiates the wrapped layer at the
    normalized kernel and no gradient passes through ``sigma`` or ``u``. This keeps the
    layer's Lipschitz constant near 1, which stabilizes the training of GAN discriminators.

    Weights: the kernel, ``vector_u``, then the wrapped layer's other weights (Keras's order).

    Args:
        layer: a layer with a ``kernel`` (``Dense``, ``Conv2D``, ...) or an ``embeddings``
            weight (``Embedding``).
        power_iterations: positive integer, the power-iteration steps per training call.

    Call arguments:
        inputs: the wrapped layer's input.
        training: normalize the kernel before running the wrapped layer.

    Returns:
        The wrapped layer's output.

    Raises:
        ValueError: ``layer`` is not a layer, ``power_iterations`` is not a positive integer,
            the wrapped layer has neither a ``kernel`` nor an ``embeddings`` weight (at build),
            an input whose last axis differs from the one the layer was built for, or a
            singular value estimate of zero (``vector_u`` zero or orthogonal to the kernel).

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import Conv2D, SpectralNormalization
        >>> SpectralNormalization(Conv2D(2, 2))(np.ones((1, 10, 10, 1))).shape
        (1, 9, 9, 2)
    """

    def __init__(self, layer: Layer, power_iterations: int = 1, **kwargs: Any):
        super().__init__(layer, **kwargs)
        if (
            isinstance(power_iterations, bool)
            or not isinstance(power_iterations, (int, np.integer))
            or power_iterations <= 0
        ):
            raise ValueError(
                f"SpectralNormalization '{self.name}': power_iterations must be an integer greater than zero. "
                f"Received: power_iterations={power_iterations!r}"
            )
        self.power_iterations = int(power_iterations)
        self.kernel: Optional[Variable] = None
        self.vector_u: Optional[Variable] = None

    def _sync_weights(self) -> None:
        inner = self.layer.weights
        if self.__dict__.get("vector_u") is None:
            self._weights = list(inner)
            return
        self._weights = [self.kernel, self.vector_u] + [w for w in inner if w is not self.kernel]

    def build(self, input_shape: Any) -> None:
        super().build(input_shape)
        self.input_spec = InputSpec(min_ndim=1, axes={-1: input_shape[-1]})
        kernel = getattr(self.layer, "kernel", None)
        if not isinstance(kernel, Variable):
            kernel = getattr(self.layer, "embeddings", None)
        if not isinstance(kernel, Variable):
            raise ValueError(
                f"SpectralNormalization '{self.name}': the wrapped layer must have a 'kernel' or an "
                f"'embeddings' weight. Received: {type(self.layer).__name__} '{self.layer.name}' with neither"
            )
        self.kernel = kernel
        self.vector_u = self.add_weight(
            "vector_u", (1, kernel.shape[-1]), _initializers.TruncatedNormal(stddev=0.02), trainable=False
        )
        self._sync_weights()
        self.built = True

    @property
    def kernel_shape(self) -> Optional[tuple]:
        return None if self.kernel is None else self.kernel.shape

    def compute_output_shape(self, input_shape: Any) -> Any:
        return self.layer.compute_output_shape(input_shape)

    def _check_input(self, x: Any) -> np.ndarray:
        return self.layer._check_input(x)

    def normalized_weights(self) -> tuple:
        """``(vector_u, kernel)``: the next ``u`` and the kernel divided by its estimated
        spectral norm, as float32 arrays (the weights themselves are not changed)."""
        w = self.kernel.value.astype(np.float64).reshape(-1, self.kernel.shape[-1])
        u = self.vector_u.value.astype(np.float64)
        for _ in range(self.power_iterations):
            v = _normalize(u @ w.T)
            u = _normalize(v @ w)
        sigma = float((v @ w @ u.T)[0, 0])
        if sigma == 0.0 or not np.isfinite(sigma):
            raise ValueError(
                f"SpectralNormalization '{self.name}': the estimate of the kernel's largest singular value "
                f"is {sigma} (vector_u is zero or orthogonal to the kernel), so the kernel cannot be "
                "normalized. Received: vector_u with norm "
                f"{float(np.linalg.norm(self.vector_u.value))}"
            )
        kernel = (self.kernel.value.astype(np.float64) / sigma).astype(np.float32)
        return u.astype(np.float32), kernel

    def forward(self, x: Any, training: bool = False) -> tuple:
        if training and np.any(self.kernel.value):
            u, kernel = self.normalized_weights()
            self.vector_u.value[...] = u
            self.kernel.value[...] = kernel
        return self.layer.forward(x, training=training)

    def backward(self, ctx: Any, dy: Any, need_dx: bool = True) -> Optional[np.ndarray]:
        return self.layer.backward(ctx, dy, need_dx=need_dx)

    def get_config(self) -> dict:
        config = super().get_config()
        config["power_iterations"] = self.power_iterations
        return config


def _main_grad(res: Any) -> Any:
    """The input gradient of a backward result that may also carry keyword-input gradients."""
    return res[0] if isinstance(res, tuple) else res
