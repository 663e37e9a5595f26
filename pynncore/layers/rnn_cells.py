"""Recurrent cells and the generic ``RNN`` layer with Keras 3 names, arguments and weights.

``SimpleRNNCell``, ``LSTMCell`` and ``GRUCell`` describe one step of a recurrence and own its
weights (``cell.kernel``, ``cell.recurrent_kernel``, ``cell.bias`` in Keras's layouts).
``RNN(cell)`` never loops over timesteps in Python: it runs the cell's whole sequence on the
fused kernel of the matching layer (``SimpleRNN`` / ``LSTM`` / ``GRU``), which shares the cell's
weight variables, so ``RNN(LSTMCell(u, ...))`` computes exactly what ``LSTM(u, ...)`` computes.
``StackedRNNCells([c0, c1, ...])`` applies its cells one after another at each step; in ``RNN``
it runs as the equivalent stack of fused layers (every one but the last returning sequences).
Cells of other classes (Python subclasses with their own ``call``) are not supported.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from pynncore.layers.base import KerasTensor, Layer, shape_str
from pynncore.layers.rnn import GRU, LSTM, SimpleRNN, _RNN, _stateful_batch
from pynncore.layers.wrappers import _Wrapper

__all__ = ["GRUCell", "LSTMCell", "RNN", "SimpleRNNCell", "StackedRNNCells"]

# Arguments shared by every cell, in Keras's get_config order.
_COMMON_ARGS = (
    "units",
    "activation",
    "use_bias",
    "kernel_initializer",
    "recurrent_initializer",
    "bias_initializer",
    "kernel_regularizer",
    "recurrent_regularizer",
    "bias_regularizer",
    "kernel_constraint",
    "recurrent_constraint",
    "bias_constraint",
    "dropout",
    "recurrent_dropout",
    "seed",
)


class _Cell(Layer):
    """Shared implementation of the three cells: the arguments of the fused layer ``_fused``
    without its sequence options, and the weights that layer would create."""

    _fused: type = SimpleRNN
    _extra_args: tuple = ()

    def __init__(self, units: int, **kwargs: Any):
        kwargs.pop("implementation", None)  # Keras accepts it; every implementation computes the same
        args = {k: kwargs.pop(k) for k in _COMMON_ARGS[1:] + self._extra_args if k in kwargs}
        super().__init__(**kwargs)
        # A fused layer made from the arguments validates them, gives the defaults (the same as
        # the layer's), and supplies the weights' shapes and initial values; it is never called.
        self._proto = self._fused(units, name=self.name, **args)
        for key in _COMMON_ARGS + self._extra_args:
            setattr(self, key, getattr(self._proto, key))
        self.kernel = None
        self.recurrent_kernel = None
        self.bias = None
        self._step_layer = None

    @property
    def state_size(self) -> Any:
        """``units``, or ``[units, units]`` for the two LSTM states ``h`` and ``c``."""
        return self._proto.state_size

    @property
    def output_size(self) -> int:
        return self.units

    def get_initial_state(self, batch_size: int = 1) -> list:
        """Zero states: ``[h]`` (``[h, c]`` for LSTMCell), each ``(batch_size, units)``."""
        return [np.zeros((int(batch_size), self.units), np.float32) for _ in range(self._proto._n_states)]

    def _fused_args(self) -> dict:
        config = self.get_config()
        for key in ("name", "trainable", "dtype", "batch_input_shape"):
            config.pop(key, None)
        return config

    def build(self, input_shape: tuple) -> None:
        input_shape = tuple(input_shape)
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': expected a step input of shape (batch, features) "
                f"with a known feature count. Received: shape={shape_str(input_shape)}"
            )
        proto = self._proto
        proto._maybe_build((None, None, int(input_shape[-1])))
        self.kernel, self.recurrent_kernel, self.bias = proto.kernel, proto.recurrent_kernel, proto.bias
        self._weights = list(proto.weights)
        self.built = True

    def _share_weights(self, layer: Layer) -> None:
        """Makes the fused ``layer`` compute with this cell's weight variables."""
        layer.kernel, layer.recurrent_kernel, layer.bias = self.kernel, self.recurrent_kernel, self.bias
        layer._weights = list(self._weights)
        layer._features = int(self.kernel.shape[0])
        layer.built = True
        layer._build_input_shape = (None, None, layer._features)

    def forward(self, x: Any, training: bool = False, states: Any = None) -> tuple:
        raise NotImplementedError(
            f"{type(self).__name__} '{self.name}': a cell runs inside a layer; wrap it in "
            f"pynncore.layers.RNN (RNN({type(self).__name__}(...)))"
        )

    def __call__(self, inputs: Any, states: Any = None, training: Optional[bool] = None) -> tuple:
        """One step: ``output, new_states = cell(x_t, states)`` with ``x_t`` of shape ``(N, F)``
        and ``states`` as ``state_size`` describes (arrays only)."""
        who = f"{type(self).__name__} '{self.name}'"
        if isinstance(inputs, KerasTensor) or _has_tensor(states):
            raise NotImplementedError(
                f"{who}: calling a cell on symbolic tensors is not supported; wrap it in "
                f"pynncore.layers.RNN"
            )
        x = self._check_input(inputs)
        if x.ndim != 2:
            raise ValueError(f"{who}: expected a step input of shape (batch, features). Received: shape={x.shape}")
        self._maybe_build((None, x.shape[1]))
        if self._step_layer is None:
            self._step_layer = self._fused(**self._fused_args(), return_state=True, name=self.name)
        self._share_weights(self._step_layer)
        single = not isinstance(states, (list, tuple))
        given = None if states is None else ([states] if single else list(states))
        out, _ = self._step_layer.forward(x[:, None, :], training=bool(training), initial_state=given)
        new_states = out[1:]
        if single and len(new_states) == 1:
            return out[0], new_states[0]
        return out[0], new_states

    def get_config(self) -> dict:
        config = super().get_config()
        proto = self._proto.get_config()
        for key in _COMMON_ARGS + self._extra_args:
            config[key] = proto[key]
        return config


def _has_tensor(value: Any) -> bool:
    if isinstance(value, KerasTensor):
        return True
    return isinstance(value, (list, tuple)) and any(_has_tensor(v) for v in value)


class SimpleRNNCell(_Cell):
    """Cell of a fully-connected RNN: ``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)``.

    Args:
        units: positive integer, the state size.
        activation: default ``"tanh"``.
        use_bias, kernel_initializer (default ``"glorot_uniform"``), recurrent_initializer
        (default ``"orthogonal"``), bias_initializer (default ``"zeros"``), kernel_regularizer,
        recurrent_regularizer, bias_regularizer, kernel_constraint, recurrent_constraint,
        bias_constraint: as in Keras.
        dropout, recurrent_dropout: fractions in ``[0, 1)`` dropped in training (one mask per
            sequence for the inputs and one for the states).
        seed: seed of the dropout masks.

    Weights (after ``build((N, F))``): kernel ``(F, units)``, recurrent_kernel
    ``(units, units)``, bias ``(units,)``; ``state_size == output_size == units``.

    Call arguments:
        inputs: ``(N, F)``, one step; states: ``(N, units)`` (or a list of one).

    Returns:
        ``(output, new_state)``; the same structure as the states passed.

    Raises:
        ValueError: bad arguments (as for ``SimpleRNN``).

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import RNN, SimpleRNNCell
        >>> RNN(SimpleRNNCell(4))(np.ones((2, 5, 3))).shape
        (2, 4)
    """

    _fused = SimpleRNN

    def __init__(self, units: int, activation: Any = "tanh", use_bias: bool = True, **kwargs: Any):
        super().__init__(units, activation=activation, use_bias=use_bias, **kwargs)


class LSTMCell(_Cell):
    """Cell of a Long Short-Term Memory layer, Keras 3 layouts.

    Weights: kernel ``(F, 4 units)``, recurrent_kernel ``(units, 4 units)``, bias
    ``(4 units,)``, gates in the order i, f, c, o; ``state_size == [units, units]`` (h, c).

    Args:
        units, activation, use_bias, initializers, regularizers, constraints, dropout,
        recurrent_dropout, seed: as for ``SimpleRNNCell``.
        recurrent_activation: default ``"sigmoid"``.
        unit_forget_bias: start the forget gate's bias at 1 (default True).

    Call arguments:
        inputs: ``(N, F)``; states: ``[h, c]``, each ``(N, units)``.

    Returns:
        ``(output, [h, c])``.

    Raises:
        ValueError: bad arguments (as for ``LSTM``).

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import RNN, LSTMCell
        >>> RNN(LSTMCell(4), return_sequences=True)(np.ones((2, 5, 3))).shape
        (2, 5, 4)
    """

    _fused = LSTM
    _extra_args = ("recurrent_activation", "unit_forget_bias")

    def __init__(self, units: int, activation: Any = "tanh", recurrent_activation: Any = "sigmoid",
                 use_bias: bool = True, unit_forget_bias: bool = True, **kwargs: Any):
        super().__init__(units, activation=activation, use_bias=use_bias,
                         recurrent_activation=recurrent_activation, unit_forget_bias=unit_forget_bias, **kwargs)


class GRUCell(_Cell):
    """Cell of a Gated Recurrent Unit layer, Keras 3 layouts.

    Weights: kernel ``(F, 3 units)``, recurrent_kernel ``(units, 3 units)``, gates in the order
    z, r, h; bias ``(2, 3 units)`` with ``reset_after=True`` (default), ``(3 units,)`` without.
    ``state_size == units``.

    Args:
        units, activation, recurrent_activation, use_bias, initializers, regularizers,
        constraints, dropout, recurrent_dropout, seed: as for ``LSTMCell``.
        reset_after: apply the reset gate after the recurrent product (default True).

    Call arguments:
        inputs: ``(N, F)``; states: ``(N, units)`` (or a list of one).

    Returns:
        ``(output, new_state)``; the same structure as the states passed.

    Raises:
        ValueError: bad arguments (as for ``GRU``).

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import RNN, GRUCell
        >>> RNN(GRUCell(4))(np.ones((2, 5, 3))).shape
        (2, 4)
    """

    _fused = GRU
    _extra_args = ("recurrent_activation", "reset_after")

    def __init__(self, units: int, activation: Any = "tanh", recurrent_activation: Any = "sigmoid",
                 use_bias: bool = True, reset_after: bool = True, **kwargs: Any):
        super().__init__(units, activation=activation, use_bias=use_bias,
                         recurrent_activation=recurrent_activation, reset_after=reset_after, **kwargs)


_CELL_CLASSES = (SimpleRNNCell, LSTMCell, GRUCell)


def _check_cell(cell: Any, who: str) -> None:
    """Raises unless ``cell`` is one of the three built-in cells (exact class)."""
    if type(cell) in _CELL_CLASSES or type(cell) is StackedRNNCells:
        return
    if isinstance(cell, _RNN):
        raise ValueError(
            f"{who}: expected an RNN cell (SimpleRNNCell, LSTMCell, GRUCell or StackedRNNCells), not "
            f"the recurrent layer {type(cell).__name__} '{cell.name}'. Received: {cell!r}"
        )
    if callable(getattr(cell, "call", None)) and hasattr(cell, "state_size"):
        raise NotImplementedError(
            f"{who}: custom cell class {type(cell).__name__} is not supported: pynncore runs "
            "recurrences on fused kernels, so the cell must be SimpleRNNCell, LSTMCell or GRUCell "
            "(or a StackedRNNCells of them)"
        )
    raise ValueError(
        f"{who}: expected an RNN cell (SimpleRNNCell, LSTMCell, GRUCell or StackedRNNCells) or a "
        f"list of cells. Received: {type(cell).__name__} {cell!r}"
    )


class StackedRNNCells(Layer):
    """Cells applied one after another at each step: cell ``i`` reads the output of cell ``i-1``.

    Args:
        cells: a non-empty list of ``SimpleRNNCell``, ``LSTMCell`` or ``GRUCell``.

    ``state_size`` is the list of the cells' state sizes and ``output_size`` the last cell's.
    Weights are the cells' weights in order. In ``RNN``, the final states come back as a list of
    each cell's states (``[h, c]`` for an LSTM cell, ``h`` for the others).

    Raises:
        ValueError: ``cells`` is not a non-empty list of cells.
        NotImplementedError: a cell of a custom class.

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import GRUCell, LSTMCell, RNN, StackedRNNCells
        >>> RNN(StackedRNNCells([LSTMCell(8), GRUCell(4)]))(np.ones((2, 5, 3))).shape
        (2, 4)
    """

    def __init__(self, cells: Any, **kwargs: Any):
        if not isinstance(cells, (list, tuple)) or not cells:
            raise ValueError(
                f"StackedRNNCells: `cells` must be a non-empty list of RNN cells. Received: cells={cells!r}"
            )
        for cell in cells:
            if type(cell) is StackedRNNCells:
                raise ValueError("StackedRNNCells: `cells` must not contain another StackedRNNCells")
            _check_cell(cell, "StackedRNNCells")
        super().__init__(**kwargs)
        self.cells = list(cells)

    @property
    def state_size(self) -> list:
        return [c.state_size for c in self.cells]

    @property
    def output_size(self) -> int:
        return self.cells[-1].output_size

    def build(self, input_shape: tuple) -> None:
        features = tuple(input_shape)[-1]
        for cell in self.cells:
            cell._maybe_build((None, features))
            features = cell.units
        self.built = True

    @property
    def weights(self) -> list:
        return [w for c in self.cells for w in c.weights]

    def forward(self, x: Any, training: bool = False) -> tuple:
        raise NotImplementedError(
            f"StackedRNNCells '{self.name}': cells run inside a layer; wrap them in pynncore.layers.RNN"
        )

    def get_config(self) -> dict:
        from pynncore.saving import serialize_layer

        config = super().get_config()
        config["cells"] = [serialize_layer(c) for c in self.cells]
        return config

    @classmethod
    def from_config(cls, config: dict) -> "StackedRNNCells":
        from pynncore.saving import deserialize_layer

        config = dict(config)
        cells = config.pop("cells", None)
        if not isinstance(cells, list):
            raise ValueError(f"StackedRNNCells: config entry 'cells' must be a list. Received: {cells!r}")
        return cls([deserialize_layer(c) for c in cells], **config)


def _flatten(value: Any) -> list:
    if isinstance(value, (list, tuple)):
        return [v for item in value for v in _flatten(item)]
    return [value]


class RNN(_Wrapper):
    """Runs a recurrent cell over whole sequences, Keras 3 ``keras.layers.RNN``.

    The recurrence runs on the fused kernel of the matching layer: ``RNN(LSTMCell(u, **args))``
    computes exactly ``LSTM(u, **args)`` (and so for ``GRUCell``/``GRU`` and
    ``SimpleRNNCell``/``SimpleRNN``), with the cell's weights. A ``StackedRNNCells`` (or a list
    of cells) runs as a stack of those layers. Cells of other classes raise
    ``NotImplementedError``.

    Args:
        cell: ``SimpleRNNCell``, ``LSTMCell``, ``GRUCell``, ``StackedRNNCells`` or a list of cells.
        return_sequences: output ``(N, T, units)`` instead of the last step ``(N, units)``.
        return_state: also return the final states.
        go_backwards: process the sequence in reverse (the output sequence stays reversed).
        stateful: carry the final states of each batch into the next call (needs a fixed batch
            size); ``reset_states()`` clears them.
        unroll: accepted for compatibility; the loop always runs natively.
        zero_output_for_mask: with a mask, masked steps output zeros instead of repeating the
            previous output.

    Call arguments:
        inputs: ``(N, T, F)``.
        mask: optional boolean ``(N, T)``: masked steps keep the states.
        training: enables the cells' dropout.
        initial_state: the cell's states (``[h, c]`` for an LSTM cell); for stacked cells a list of
            each cell's states (nested or flat).

    Returns:
        The output; with ``return_state`` the list ``[output, *states]`` where ``states`` is the
        cell's states (``h, c`` for LSTM) or, for stacked cells, one list of states per cell (as
        in Keras, a bare array for a one-state cell whose initial state was given as one).

    Raises:
        ValueError: a ``cell`` that is not a cell, a bad input or initial state shape, stateful
            use without a fixed batch size.
        NotImplementedError: a cell of a custom class.

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import LSTMCell, RNN
        >>> RNN(LSTMCell(8), return_sequences=True)(np.ones((2, 5, 3))).shape
        (2, 5, 8)
    """

    supports_masking = True
    consumes_mask = True

    def __init__(
        self,
        cell: Any,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        **kwargs: Any,
    ):
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        _check_cell(cell, "RNN")
        super().__init__(**kwargs)
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self._cells = list(cell.cells) if isinstance(cell, StackedRNNCells) else [cell]
        last = len(self._cells) - 1
        # The stacked layers run forward in time on a sequence the RNN has already reversed.
        self._layers = [
            c._fused(**c._fused_args(), return_sequences=self.return_sequences or i < last,
                     return_state=True, stateful=self.stateful, name=c.name)
            for i, c in enumerate(self._cells)
        ]
        if not self.trainable:
            self.trainable = False
        for cell, layer in zip(self._cells, self._layers):  # a frozen cell keeps its weights
            layer.trainable = self.trainable and cell.trainable

    def _inner_layers(self) -> list:
        return self._layers

    def _set_trainable(self, value: bool) -> None:
        # Freezing or unfreezing the layer does the same to its cells (as in Keras).
        _Wrapper.trainable.fset(self, value)
        for cell in getattr(self, "_cells", []):
            cell.trainable = self._trainable

    trainable = property(_Wrapper.trainable.fget, _set_trainable, doc=_Wrapper.trainable.__doc__)

    @property
    def state_size(self) -> Any:
        return self.cell.state_size

    @property
    def _n_flat_states(self) -> int:
        return sum(layer._n_states for layer in self._layers)

    # -- building and shapes ---------------------------------------------------------------

    def build(self, input_shape: tuple) -> None:
        input_shape = tuple(input_shape)
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                f"RNN '{self.name}': expected an input of shape (batch, timesteps, features) with a "
                f"known feature count. Received: shape={shape_str(input_shape)}"
            )
        batch = None
        if self.stateful:
            batch = self._batch_size_arg = _stateful_batch(f"RNN '{self.name}'", input_shape, self._batch_size_arg)
        features = input_shape[-1]
        for cell, layer in zip(self._cells, self._layers):
            cell._maybe_build((None, features))
            cell._share_weights(layer)
            if batch is not None:
                layer._batch_size_arg = int(batch)
            features = cell.units
        self.cell.built = True
        self._sync_weights()
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> Any:
        n, units = input_shape[0], self._cells[-1].units
        out = (n, input_shape[1], units) if self.return_sequences else (n, units)
        if not self.return_state:
            return out
        return [out] + [(n, layer.units) for layer in self._layers for _ in range(layer._n_states)]

    def compute_mask(self, x: Any, mask: Optional[np.ndarray] = None) -> Any:
        out = mask if self.return_sequences else None
        if self.return_state:
            return [out] + [None] * self._n_flat_states
        return out

    # -- states ----------------------------------------------------------------------------

    def _nest(self, flat: list, like: Any = None) -> list:
        """Keras's structure of the final states: the cell's states, or for stacked cells a list
        of each cell's states, a bare array where ``like`` (the initial states) gave one."""
        if not isinstance(self.cell, StackedRNNCells):
            return list(flat)
        given = list(like) if isinstance(like, (list, tuple)) and len(like) == len(self._layers) else None
        out, i = [], 0
        for j, layer in enumerate(self._layers):
            k = layer._n_states
            bare = k == 1 and given is not None and not isinstance(given[j], (list, tuple))
            out.append(flat[i] if bare else list(flat[i:i + k]))
            i += k
        return out

    def _split(self, flat: Optional[list]) -> list:
        if flat is None:
            return [None] * len(self._layers)
        out, i = [], 0
        for layer in self._layers:
            out.append(flat[i:i + layer._n_states])
            i += layer._n_states
        return out

    def _flat_states(self, initial_state: Any) -> list:
        flat = _flatten(initial_state)
        if len(flat) != self._n_flat_states:
            sizes = [layer.units for layer in self._layers for _ in range(layer._n_states)]
            raise ValueError(
                f"RNN '{self.name}': expected {len(sizes)} initial state(s) with units {sizes} "
                f"(state_size={self.state_size}). Received: {len(flat)} state(s)"
            )
        return flat

    @property
    def states(self) -> Any:
        """The carried states of a stateful layer (None before the first call)."""
        flat = [s for layer in self._layers for s in (layer.states or [])]
        return self._nest(flat) if flat else None

    def reset_states(self, states: Any = None) -> None:
        """Stateful layers: sets the carried states to zeros, or to ``states``."""
        if not self.stateful:
            raise ValueError(f"RNN '{self.name}': reset_states() applies to stateful layers only")
        parts = self._split(None if states is None else self._flat_states(states))
        for layer, part in zip(self._layers, parts):
            layer.reset_states(part)

    def reset_state(self, states: Any = None) -> None:
        """Keras 3 spelling of ``reset_states``."""
        self.reset_states(states)

    # -- running ---------------------------------------------------------------------------

    def _check_x(self, x: Any) -> np.ndarray:
        arr = np.asarray(x)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"RNN '{self.name}': expected a real numeric input. Received: dtype={arr.dtype}")
        if arr.ndim != 3:
            raise ValueError(
                f"RNN '{self.name}': expected an input of shape (batch, timesteps, features). "
                f"Received: shape={arr.shape}"
            )
        return np.ascontiguousarray(arr, dtype=np.float32)

    def forward(self, x: Any, training: bool = False, mask: Any = None, initial_state: Any = None) -> tuple:
        x = self._check_x(x)
        self._maybe_build((None,) + x.shape[1:])
        n, t, _ = x.shape
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape != (n, t):
                raise ValueError(
                    f"RNN '{self.name}': expected a mask of shape ({n}, {t}) (batch, timesteps). "
                    f"Received: shape={mask.shape}"
                )
            mask = mask.astype(bool, copy=False)
        parts = self._split(None if initial_state is None else self._flat_states(initial_state))
        if self.go_backwards:
            x = np.ascontiguousarray(x[:, ::-1])
            if mask is not None:
                mask = np.ascontiguousarray(mask[:, ::-1])
        h, finals, ctxs = x, [], []
        for layer, part in zip(self._layers, parts):
            out, ctx = layer.forward(h, training=training, mask=mask, initial_state=part)
            h = out[0]
            finals.extend(out[1:])
            ctxs.append(ctx)
        zmask = None
        if self.zero_output_for_mask and mask is not None:
            keep = mask[:, :, None] if self.return_sequences else mask[:, -1:]
            zmask = keep.astype(np.float32)
            h = h * zmask
        y = [h] + finals if self.return_state else h
        return y, ((ctxs, zmask, initial_state is not None) if training else None)

    def backward(self, ctx: Any, dy: Any, need_dx: bool = True) -> Any:
        ctxs, zmask, given = ctx
        if self.return_state:
            parts = list(dy) if isinstance(dy, (list, tuple)) else [dy]
            parts += [None] * (1 + self._n_flat_states - len(parts))
            d, d_states = parts[0], parts[1:]
        else:
            d, d_states = dy, [None] * self._n_flat_states
        if zmask is not None:
            d = np.asarray(d, dtype=np.float32) * zmask
        state_grads: list = []
        for i in reversed(range(len(self._layers))):
            layer = self._layers[i]
            start = sum(lay._n_states for lay in self._layers[:i])
            ds = d_states[start:start + layer._n_states]
            res = layer.backward(ctxs[i], [d, *ds], need_dx=need_dx or i > 0)
            d = res[0] if isinstance(res, tuple) else res
            state_grads = list(ctxs[i].initial_state_grads) + state_grads
        if d is not None and self.go_backwards:
            d = np.ascontiguousarray(d[:, ::-1])
        if given:
            return d, {"initial_state": state_grads}
        return d

    def __call__(self, inputs: Any, training: Optional[bool] = None, initial_state: Any = None,
                 mask: Any = None, **kwargs: Any) -> Any:
        if isinstance(inputs, KerasTensor):
            if mask is not None:
                raise ValueError(
                    f"RNN '{self.name}': mask= is supported when the layer is called on arrays; in a "
                    "model, masks come from a Masking or Embedding layer"
                )
            if initial_state is not None:
                flat = self._flat_states(initial_state)
                for s, layer in zip(flat, [lay for lay in self._layers for _ in range(lay._n_states)]):
                    if not isinstance(s, KerasTensor) or len(s.shape) != 2 or s.shape[1] not in (None, layer.units):
                        raise ValueError(
                            f"RNN '{self.name}': initial_state must hold symbolic tensors of shape "
                            f"(batch, {layer.units}) when the layer is called on a symbolic input. "
                            f"Received: {s!r}"
                        )
                kwargs["initial_state"] = flat
            out = super().__call__(inputs, training=training, **kwargs)
        else:
            if kwargs:
                raise TypeError(f"Layer '{self.name}': unexpected call argument(s) {sorted(kwargs)}")
            x = self._check_x(inputs)
            self._maybe_build((None,) + x.shape[1:])
            out, _ = self.forward(x, training=bool(training), mask=mask, initial_state=initial_state)
        if self.return_state:
            return [out[0]] + self._nest(list(out[1:]), initial_state)
        return out

    # -- config ----------------------------------------------------------------------------

    def get_config(self) -> dict:
        from pynncore.saving import serialize_layer

        config = super().get_config()
        config.update(
            cell=serialize_layer(self.cell),
            return_sequences=self.return_sequences,
            return_state=self.return_state,
            go_backwards=self.go_backwards,
            stateful=self.stateful,
            unroll=self.unroll,
            zero_output_for_mask=self.zero_output_for_mask,
        )
        return config

    @classmethod
    def from_config(cls, config: dict) -> "RNN":
        from pynncore.saving import deserialize_layer

        config = dict(config)
        if "cell" not in config:
            raise ValueError("RNN: config has no 'cell' entry")
        return cls(deserialize_layer(config.pop("cell")), **config)
