"""Recurrent layers: SimpleRNN, LSTM and GRU with Keras 3 arguments, weights and semantics.

Each layer runs a whole sequence in one native call (``pynncore.ops.simple_rnn`` / ``lstm`` /
``gru``): the input projection of all timesteps is one GEMM, the recurrence runs in C++ with
the batch split across threads, and the backward pass through time is one further call whose
weight gradients are GEMMs over all timesteps.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from pynncore import activations as _activations
from pynncore import constraints as _constraints
from pynncore import initializers as _initializers
from pynncore import ops
from pynncore import regularizers as _regularizers
from pynncore.layers.base import KerasTensor, Layer, shape_str
from pynncore.layers.core import _serialize

__all__ = ["GRU", "LSTM", "SimpleRNN"]

def _rate(value: Any, what: str, who: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{who}: {what} must be a float in [0, 1). Received: {what}={value!r}")
    v = float(value)
    if not 0.0 <= v < 1.0:
        raise ValueError(f"{who}: {what} must be a float in [0, 1). Received: {what}={value!r}")
    return v


def _stateful_batch(who: str, input_shape: tuple, batch_size: Optional[int]) -> int:
    """A stateful layer's batch size: from the input shape, else the batch_size argument."""
    batch = input_shape[0] if input_shape[0] is not None else batch_size
    if batch is None:
        raise ValueError(
            f"{who}: stateful=True needs a fixed batch size (pass batch_size= or "
            f"batch_input_shape=). Received: input shape {shape_str(input_shape)}"
        )
    return int(batch)


def _fits(shape: tuple, want: tuple) -> bool:
    """Whether ``shape`` matches ``want``, where None in either stands for any size."""
    return len(shape) == len(want) and all(a is None or w is None or a == w for a, w in zip(shape, want))


def _forget_bias_initializer(bias_initializer: Any, units: int) -> Any:
    """The ``(4 units,)`` LSTM bias initializer with the forget gate's part set to ones."""
    base = _initializers.get(bias_initializer)

    def init(shape: tuple, dtype: Any = "float32") -> np.ndarray:
        return np.concatenate(
            [base((units,), dtype=dtype), np.ones((units,), dtype=dtype), base((2 * units,), dtype=dtype)]
        )

    return init


class _RNNContext:
    """Backward context of one recurrent layer call; ``initial_state_grads`` is filled by
    ``backward`` with the gradients of the initial states."""

    __slots__ = ("op", "go_backwards", "dropout_mask", "n_states", "initial_state_grads", "shape", "given_states")

    def __init__(self, op: Any, go_backwards: bool, dropout_mask: Any, n_states: int, shape: tuple,
                 given_states: bool = False):
        self.op = op
        self.go_backwards = go_backwards
        self.dropout_mask = dropout_mask
        self.n_states = n_states
        self.initial_state_grads = None
        self.shape = shape
        self.given_states = given_states  # the call passed initial_state


class _RNN(Layer):
    """Shared implementation of the recurrent layers (one native kernel, three cells)."""

    _cell = "simple_rnn"
    _gates = 1
    _input_ndim = 3  # (batch, timesteps, features)
    supports_masking = True
    consumes_mask = True

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: Optional[int] = None,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        who = f"{type(self).__name__} '{self.name}'"
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"{who}: units must be a positive integer. Received: units={units!r}")
        self.units = int(units)
        self.activation = _activations.get(activation)
        self.recurrent_activation = _activations.get(recurrent_activation)
        for what, act in (("activation", self.activation), ("recurrent_activation", self.recurrent_activation)):
            if not act.native or act.name in ("softmax", "log_softmax") or (act.backward_needs_x and act.name != "linear"):
                raise ValueError(
                    f"{who}: {what} must be an elementwise activation whose derivative follows "
                    f"from its output (tanh, sigmoid, relu, hard_sigmoid, linear, elu, ...). "
                    f"Received: {what}={act.name!r}"
                )
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.recurrent_initializer = recurrent_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = _regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = _regularizers.get(recurrent_regularizer)
        self.bias_regularizer = _regularizers.get(bias_regularizer)
        self.activity_regularizer = _regularizers.get(activity_regularizer)
        self.kernel_constraint = _constraints.get(kernel_constraint)
        self.recurrent_constraint = _constraints.get(recurrent_constraint)
        self.bias_constraint = _constraints.get(bias_constraint)
        self.dropout = _rate(dropout, "dropout", who)
        self.recurrent_dropout = _rate(recurrent_dropout, "recurrent_dropout", who)
        self.seed = seed
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.kernel = None
        self.recurrent_kernel = None
        self.bias = None
        self.states = None
        self._features = None
        self._rng = None
        if seed is not None:
            from pynncore.utils import rng as _rng

            self._rng = _rng.make_generator(seed)

    # -- helpers ---------------------------------------------------------------------------

    @property
    def _who(self) -> str:
        return f"{type(self).__name__} '{self.name}'"

    @property
    def _n_states(self) -> int:
        return 2 if self._cell == "lstm" else 1

    @property
    def state_size(self) -> Any:
        return [self.units, self.units] if self._cell == "lstm" else self.units

    def _bias_shape(self) -> tuple:
        return (self._gates * self.units,)

    def _bias_initial(self) -> Any:
        return self.bias_initializer

    def _generator(self) -> np.random.Generator:
        if self._rng is not None:
            return self._rng
        from pynncore.utils import rng as _rng

        return _rng.get_global_generator()

    # -- building --------------------------------------------------------------------------

    def _fix_stateful_batch(self, input_shape: tuple) -> None:
        if self.stateful:
            self._batch_size_arg = _stateful_batch(self._who, input_shape, self._batch_size_arg)

    def build(self, input_shape: tuple) -> None:
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                f"{self._who}: expected an input of shape (batch, timesteps, features) with a known "
                f"feature count. Received: shape={shape_str(input_shape)}"
            )
        self._fix_stateful_batch(input_shape)
        f = int(input_shape[-1])
        g = self._gates * self.units
        self._features = f
        self.kernel = self.add_weight("kernel", (f, g), self.kernel_initializer, self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel", (self.units, g), self.recurrent_initializer, self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight("bias", self._bias_shape(), self._bias_initial(), self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> Any:
        n = input_shape[0]
        out = (n, input_shape[1], self.units) if self.return_sequences else (n, self.units)
        if self.return_state:
            return [out] + [(n, self.units)] * self._n_states
        return out

    def compute_mask(self, x: Any, mask: Optional[np.ndarray] = None) -> Any:
        out = mask if self.return_sequences else None
        if self.return_state:  # the states carry no mask
            return [out] + [None] * self._n_states
        return out

    # -- running ---------------------------------------------------------------------------

    def _check_x(self, x: Any) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype.kind not in "biuf":
            raise TypeError(f"{self._who}: expected a real numeric input. Received: dtype={x.dtype}")
        if x.ndim != 3:
            raise ValueError(
                f"{self._who}: expected an input of shape (batch, timesteps, features). "
                f"Received: shape={x.shape}"
            )
        if self._features is not None and x.shape[2] != self._features:
            raise ValueError(
                f"{self._who}: expected input with {self._features} features in the last axis. "
                f"Received: shape={x.shape}"
            )
        return np.ascontiguousarray(x, dtype=np.float32)

    def _state_shape(self, n: Any, sizes: Optional[tuple] = None) -> tuple:
        """The shape of each state for batch size ``n`` (entries may be None: any size)."""
        return (n, self.units)

    def _check_states(self, initial_state: Any, n: int, sizes: Optional[tuple] = None) -> list:
        want = self._state_shape(n, sizes)
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        if len(states) != self._n_states:
            raise ValueError(
                f"{self._who}: expected {self._n_states} initial state array(s) of shape "
                f"{shape_str(want)}. Received: {len(states)} arrays"
            )
        out = []
        for s in states:
            arr = np.asarray(s)
            if arr.dtype.kind not in "biuf" or not _fits(arr.shape, want):
                raise ValueError(
                    f"{self._who}: expected initial states of shape {shape_str(want)}. "
                    f"Received: shape={arr.shape}, dtype={arr.dtype}"
                )
            out.append(np.ascontiguousarray(arr, dtype=np.float32))
        return out

    def _check_symbolic_states(self, inputs: KerasTensor, initial_state: Any) -> None:
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        want = "(" + ", ".join(["batch"] + [str(d) for d in self._state_shape(None)[1:]]) + ")"
        if len(states) != self._n_states or not all(isinstance(s, KerasTensor) for s in states):
            raise ValueError(
                f"{self._who}: initial_state must be {self._n_states} symbolic tensor(s) of shape "
                f"{want} when the layer is called on a symbolic input. "
                f"Received: {[type(v).__name__ for v in states]}"
            )
        for s in states:
            if not _fits(s.shape, self._state_shape(None)):
                raise ValueError(
                    f"{self._who}: expected initial states of shape {want}. Received: shape={tuple(s.shape)}"
                )

    def _check_mask(self, mask: Any, n: int, t: int) -> Optional[np.ndarray]:
        if mask is None:
            return None
        m = np.asarray(mask)
        if m.shape != (n, t):
            raise ValueError(
                f"{self._who}: expected a mask of shape ({n}, {t}) (batch, timesteps). "
                f"Received: shape={m.shape}"
            )
        m = np.ascontiguousarray(m.astype(bool, copy=False))
        return None if m.all() else m

    def reset_states(self, states: Any = None) -> None:
        """Stateful layers: sets the carried states to zeros, or to ``states``."""
        if not self.stateful:
            raise ValueError(f"{self._who}: reset_states() applies to stateful layers only")
        if states is None:
            self.states = None
        else:
            self.states = self._check_states(states, int(self._batch_size_arg))

    def reset_state(self, states: Any = None) -> None:
        """Keras 3 spelling of ``reset_states``."""
        self.reset_states(states)

    def _run(self, x: np.ndarray, h0: Any, c0: Any, mask: Any, rec_mask: Any, training: bool) -> tuple:
        args = dict(
            mask=mask,
            activation=self.activation,
            return_sequences=self.return_sequences,
            training=training,
            recurrent_dropout_mask=rec_mask,
        )
        b = self.bias.value if self.use_bias else None
        if self._cell == "lstm":
            init = None if h0 is None else [h0, c0]
            y, h, c, ctx = ops.lstm(x, self.kernel.value, self.recurrent_kernel.value, b, init,
                                    recurrent_activation=self.recurrent_activation, **args)
            return y, [h, c], ctx
        if self._cell == "gru":
            y, h, ctx = ops.gru(x, self.kernel.value, self.recurrent_kernel.value, b, h0,
                                recurrent_activation=self.recurrent_activation,
                                reset_after=self.reset_after, **args)
            return y, [h], ctx
        y, h, ctx = ops.simple_rnn(x, self.kernel.value, self.recurrent_kernel.value, b, h0, **args)
        return y, [h], ctx

    def forward(self, x: Any, training: bool = False, mask: Any = None, initial_state: Any = None) -> tuple:
        x = self._check_x(x)
        if not self.built:
            self._maybe_build((None,) + x.shape[1:])
        n, t, _ = x.shape
        if self.stateful and n != self._batch_size_arg:
            raise ValueError(
                f"{self._who}: stateful layer built for batch size {self._batch_size_arg}. "
                f"Received: shape={x.shape}"
            )
        mask = self._check_mask(mask, n, t)
        states = None
        if initial_state is not None:
            states = self._check_states(initial_state, n)
        elif self.stateful and self.states is not None:
            states = self.states
        if self.go_backwards:
            x = np.ascontiguousarray(x[:, ::-1])
            if mask is not None:
                mask = np.ascontiguousarray(mask[:, ::-1])
        dmask = None
        rmask = None
        if training and self.dropout > 0.0:
            gen = self._generator()
            keep = gen.random((n, 1, x.shape[2]), dtype=np.float32) >= self.dropout
            dmask = keep.astype(np.float32) * np.float32(1.0 / (1.0 - self.dropout))
            x = x * dmask
        if training and self.recurrent_dropout > 0.0:
            gen = self._generator()
            keep = gen.random((n, self.units), dtype=np.float32) >= self.recurrent_dropout
            rmask = keep.astype(np.float32) * np.float32(1.0 / (1.0 - self.recurrent_dropout))
        h0 = states[0] if states is not None else None
        c0 = states[1] if states is not None and self._cell == "lstm" else None
        if self._cell == "lstm" and h0 is not None and c0 is None:
            c0 = np.zeros_like(h0)
        y, final, op_ctx = self._run(x, h0, c0, mask, rmask, bool(training))
        if self.stateful:
            self.states = [s.copy() for s in final]
        out = [y] + final if self.return_state else y
        ctx = None
        if training:
            ctx = _RNNContext(op_ctx, self.go_backwards, dmask, self._n_states, x.shape,
                              given_states=initial_state is not None)
        return out, ctx

    def backward(self, ctx: Any, dy: Any, need_dx: bool = True) -> Optional[np.ndarray]:
        if self.return_state:
            parts = list(dy) if isinstance(dy, (list, tuple)) else [dy]
            parts += [None] * (1 + self._n_states - len(parts))
            d_out, d_states = parts[0], parts[1:]
        else:
            d_out, d_states = dy, [None] * self._n_states
        train = self.trainable
        dk = self.kernel.grad if train and self.kernel.trainable else None
        drk = self.recurrent_kernel.grad if train and self.recurrent_kernel.trainable else None
        db = None
        if self.use_bias and train and self.bias.trainable:
            db = self.bias.grad
        op = ctx.op
        if self._cell == "lstm":
            dx, dh0, dc0, *_ = ops.lstm_backward(op, d_out, d_states[0], d_states[1], dk, drk, db, need_dx)
            ctx.initial_state_grads = [dh0, dc0]
        elif self._cell == "gru":
            dx, dh0, *_ = ops.gru_backward(op, d_out, d_states[0], dk, drk, db, need_dx)
            ctx.initial_state_grads = [dh0]
        else:
            dx, dh0, *_ = ops.simple_rnn_backward(op, d_out, d_states[0], dk, drk, db, need_dx)
            ctx.initial_state_grads = [dh0]
        if need_dx:
            if ctx.dropout_mask is not None:
                dx *= ctx.dropout_mask
            if ctx.go_backwards:
                dx = np.ascontiguousarray(dx[:, ::-1])
        else:
            dx = None
        if ctx.given_states:  # the gradients reach the tensors passed as initial_state
            return dx, {"initial_state": list(ctx.initial_state_grads)}
        return dx

    def __call__(self, inputs: Any, training: Optional[bool] = None, initial_state: Any = None,
                 mask: Any = None, **kwargs: Any) -> Any:
        if isinstance(inputs, KerasTensor):
            if mask is not None:
                raise ValueError(
                    f"{self._who}: mask= is supported when the layer is called on arrays; in a "
                    "model, masks come from a Masking or Embedding layer"
                )
            if initial_state is not None:
                self._check_symbolic_states(inputs, initial_state)
                kwargs["initial_state"] = initial_state
            return super().__call__(inputs, training=training, **kwargs)
        if kwargs:
            raise TypeError(f"Layer '{self.name}': unexpected call argument(s) {sorted(kwargs)}")
        x = self._check_x(inputs)
        self._maybe_build((None,) + x.shape[1:])
        y, _ = self.forward(x, training=bool(training), mask=mask, initial_state=initial_state)
        return y

    # -- config ----------------------------------------------------------------------------

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            units=self.units,
            activation=_activations.serialize(self.activation),
            use_bias=self.use_bias,
            kernel_initializer=_serialize(self.kernel_initializer),
            recurrent_initializer=_serialize(self.recurrent_initializer),
            bias_initializer=_serialize(self.bias_initializer),
            kernel_regularizer=_serialize(self.kernel_regularizer),
            recurrent_regularizer=_serialize(self.recurrent_regularizer),
            bias_regularizer=_serialize(self.bias_regularizer),
            activity_regularizer=_serialize(self.activity_regularizer),
            kernel_constraint=_constraints.config_of(self.kernel_constraint),
            recurrent_constraint=_constraints.config_of(self.recurrent_constraint),
            bias_constraint=_constraints.config_of(self.bias_constraint),
            dropout=self.dropout,
            recurrent_dropout=self.recurrent_dropout,
            seed=self.seed,
            return_sequences=self.return_sequences,
            return_state=self.return_state,
            go_backwards=self.go_backwards,
            stateful=self.stateful,
            unroll=self.unroll,
        )
        if self._cell != "simple_rnn":
            config["recurrent_activation"] = _activations.serialize(self.recurrent_activation)
        return config


class SimpleRNN(_RNN):
    """Fully-connected RNN: ``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)``.

    Args:
        units: positive integer, the state size.
        activation: default ``"tanh"``.
        use_bias, kernel_initializer, recurrent_initializer (default ``"orthogonal"``),
        bias_initializer, kernel_regularizer, recurrent_regularizer, bias_regularizer,
        activity_regularizer: as in Keras. Constraints are accepted and not applied.
        dropout: fraction of the input features dropped in training (one mask per sequence).
        recurrent_dropout: fraction of the state units dropped before the recurrent product
            in training (one mask per sequence).
        seed: seed of the dropout masks.
        return_sequences: output ``(N, T, units)`` instead of the last step ``(N, units)``.
        return_state: also return the final state: ``[output, h]``.
        go_backwards: process the sequence in reverse (the output sequence stays reversed).
        stateful: carry the final state of each batch into the next call (needs a fixed batch
            size); ``reset_states()`` clears it.
        unroll: accepted for compatibility; the loop always runs natively.

    Call arguments:
        inputs: ``(N, T, F)``; T may change from call to call.
        mask: optional boolean ``(N, T)``: masked steps keep the state and repeat the previous
            output.
        training: enables dropout.
        initial_state: optional ``(N, units)`` array (a list of one).

    Returns:
        The output, or ``[output, h]`` with ``return_state``.

    Raises:
        ValueError: bad arguments, an input that is not 3-D, a changed feature count, a wrong
            initial state shape, stateful use without a fixed batch size.

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import SimpleRNN
        >>> SimpleRNN(4)(np.ones((2, 5, 3))).shape
        (2, 4)
    """

    _cell = "simple_rnn"
    _gates = 1

    def __init__(self, units: int, activation: Any = "tanh", use_bias: bool = True, **kwargs: Any):
        if "recurrent_activation" in kwargs:
            raise TypeError(f"SimpleRNN: unexpected keyword argument(s) ['recurrent_activation']")
        super().__init__(units, activation=activation, use_bias=use_bias, **kwargs)


class LSTM(_RNN):
    """Long Short-Term Memory (Hochreiter & Schmidhuber, 1997) with Keras 3 layouts.

    Weights: kernel ``(F, 4 units)``, recurrent_kernel ``(units, 4 units)``, bias
    ``(4 units,)``, gates in the order i, f, c, o. With ``unit_forget_bias`` (default) the
    forget gate's bias starts at 1. Other arguments, call arguments and errors as
    ``SimpleRNN``, plus ``recurrent_activation`` (default ``"sigmoid"``).

    Returns:
        The output, or ``[output, h, c]`` with ``return_state``; ``initial_state=[h, c]``.

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import LSTM
        >>> out, h, c = LSTM(4, return_sequences=True, return_state=True)(np.ones((2, 5, 3)))
        >>> out.shape, h.shape, c.shape
        ((2, 5, 4), (2, 4), (2, 4))
    """

    _cell = "lstm"
    _gates = 4

    def __init__(self, units: int, activation: Any = "tanh", recurrent_activation: Any = "sigmoid",
                 use_bias: bool = True, unit_forget_bias: bool = True, **kwargs: Any):
        self.unit_forget_bias = bool(unit_forget_bias)
        super().__init__(units, activation=activation, recurrent_activation=recurrent_activation,
                         use_bias=use_bias, **kwargs)

    def _bias_initial(self) -> Any:
        if not self.unit_forget_bias:
            return self.bias_initializer
        return _forget_bias_initializer(self.bias_initializer, self.units)

    def get_config(self) -> dict:
        config = super().get_config()
        config["unit_forget_bias"] = self.unit_forget_bias
        return config


class GRU(_RNN):
    """Gated Recurrent Unit (Cho et al., 2014) with Keras 3 layouts.

    Weights: kernel ``(F, 3 units)``, recurrent_kernel ``(units, 3 units)``, gates in the order
    z, r, h. ``reset_after=True`` (Keras 3 default, cuDNN/PyTorch compatible) applies the reset
    gate after the recurrent product and has a bias ``(2, 3 units)`` (input and recurrent
    biases); ``reset_after=False`` applies it before and has a bias ``(3 units,)``. Other
    arguments, call arguments and errors as ``LSTM``.

    Returns:
        The output, or ``[output, h]`` with ``return_state``.

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import GRU
        >>> GRU(4, return_sequences=True)(np.ones((2, 5, 3))).shape
        (2, 5, 4)
    """

    _cell = "gru"
    _gates = 3

    def __init__(self, units: int, activation: Any = "tanh", recurrent_activation: Any = "sigmoid",
                 use_bias: bool = True, reset_after: bool = True, **kwargs: Any):
        self.reset_after = bool(reset_after)
        super().__init__(units, activation=activation, recurrent_activation=recurrent_activation,
                         use_bias=use_bias, **kwargs)

    def _bias_shape(self) -> tuple:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def get_config(self) -> dict:
        config = super().get_config()
        config["reset_after"] = self.reset_after
        return config
