"""Convolutional LSTM layers: ConvLSTM1D, ConvLSTM2D and ConvLSTM3D (Keras 3 arguments, weights
and semantics, channels-last).

An LSTM whose input and recurrent transformations are convolutions. For inputs
``x_t`` ``(N, *S, C)`` and states ``h, c`` ``(N, *S', filters)``:

    z = conv(x_t, kernel, strides, padding, dilation_rate) + bias + conv(h, recurrent_kernel, "same")
    i, f, o = recurrent_activation(z_i, z_f, z_o);  g = activation(z_c)
    c = f * c + i * g;  h = o * activation(c)

with the gates in the order i, f, c, o along the last axis of ``kernel`` ``(*K, C, 4 filters)``,
``recurrent_kernel`` ``(*K, filters, 4 filters)`` and ``bias`` ``(4 filters,)``. The recurrent
convolution always has stride 1, no dilation and ``"same"`` padding.

The input convolution of every timestep runs as one native convolution call (time folded into
the batch); the recurrence makes one native convolution call per timestep. The backward pass
through time applies the gate derivatives step by step, takes the recurrent kernel's gradient
and the state gradient from one native call per step, and the input and kernel gradients of
all timesteps from one call at the end. ConvLSTM1D runs as the 2-D case with a height of 1;
ConvLSTM3D splits each 3-D convolution into 2-D ones along depth (as ``Conv3D`` does).
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from pynncore import _core
from pynncore.layers.base import KerasTensor, shape_str
from pynncore.layers.conv import (
    _positive_int,
    check_rank_and_channels,
    conv_geometry,
    depth_plan,
    depth_slab,
)
from pynncore.layers.rnn import _RNN, _forget_bias_initializer, _RNNContext
from pynncore.ops import conv_output_size

__all__ = ["ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"]


# -- convolutions of rank 1, 2 and 3 on channels-last arrays ----------------------------------------
# A geometry is (strides, dilation, padding before, output spatial sizes), one entry per axis.


def _conv_forward(x: np.ndarray, kernel: np.ndarray, bias: Optional[np.ndarray], geo: tuple) -> np.ndarray:
    """``conv(x, kernel) + bias`` for C-contiguous ``x`` ``(B, *S, C)`` and ``kernel``
    ``(*K, C, F)``; returns ``(B, *S', F)``."""
    strides, dilation, pads, sizes = geo
    b, f = x.shape[0], kernel.shape[-1]
    rank = x.ndim - 2
    if rank == 3:
        y = np.zeros((b,) + sizes + (f,), np.float32)
        for kd, o0, o1, i0 in depth_plan(x.shape[1], sizes[0], pads[0], kernel.shape[0], strides[0], dilation[0]):
            part = np.empty((b * (o1 - o0),) + y.shape[2:], np.float32)
            _core.conv2d_forward(depth_slab(x, o0, o1, i0, strides[0]), kernel[kd], None, part,
                                 strides[1:], dilation[1:], pads[1:])
            y[:, o0:o1] += part.reshape((b, o1 - o0) + y.shape[2:])
        if bias is not None:
            y += bias
        return y
    y = np.empty((b,) + sizes + (f,), np.float32)
    if rank == 1:
        _core.conv2d_forward(x[:, None], kernel[None], bias, y[:, None], (1,) + strides, (1,) + dilation, (0,) + pads)
    else:
        _core.conv2d_forward(x, kernel, bias, y, strides, dilation, pads)
    return y


def _conv_backward(x: np.ndarray, kernel: np.ndarray, dz: np.ndarray, dk: Optional[np.ndarray],
                   db: Optional[np.ndarray], geo: tuple, need_dx: bool) -> Optional[np.ndarray]:
    """Gradients of ``_conv_forward`` for the output gradient ``dz``: adds the kernel's to ``dk``
    and the bias's to ``db`` (either may be None) and returns the input's (None unless
    ``need_dx``)."""
    strides, dilation, pads, _ = geo
    rank = x.ndim - 2
    if rank == 3:
        s, b = strides[0], x.shape[0]
        dx = np.zeros_like(x) if need_dx else None
        for kd, o0, o1, i0 in depth_plan(x.shape[1], dz.shape[1], pads[0], kernel.shape[0], s, dilation[0]):
            xs = depth_slab(x, o0, o1, i0, s)
            dzs = np.ascontiguousarray(dz[:, o0:o1]).reshape((b * (o1 - o0),) + dz.shape[2:])
            dxs = np.empty_like(xs) if need_dx else None
            _core.conv2d_backward(xs, kernel[kd], dzs, dxs, None if dk is None else dk[kd], None,
                                  strides[1:], dilation[1:], pads[1:], accumulate=True)
            if need_dx:
                dx[:, i0 : i0 + (o1 - o0 - 1) * s + 1 : s] += dxs.reshape((b, o1 - o0) + x.shape[2:])
        if db is not None:
            db += dz.sum(axis=tuple(range(dz.ndim - 1)), dtype=np.float32)
        return dx
    dx = np.empty_like(x) if need_dx else None
    if rank == 1:
        _core.conv2d_backward(x[:, None], kernel[None], dz[:, None], None if dx is None else dx[:, None],
                              None if dk is None else dk[None], db, (1,) + strides, (1,) + dilation, (0,) + pads,
                              accumulate=True)
    else:
        _core.conv2d_backward(x, kernel, dz, dx, dk, db, strides, dilation, pads, accumulate=True)
    return dx


def _batch(a: np.ndarray, rank: int) -> np.ndarray:
    """``a`` ``(*lead, *S, C)`` as a C-contiguous ``(prod(lead), *S, C)`` batch."""
    return np.ascontiguousarray(a).reshape((-1,) + a.shape[a.ndim - rank - 1 :])


def _gates_forward(x: np.ndarray, kernel: np.ndarray, bias: Optional[np.ndarray], masks: Optional[list],
                   geo: tuple) -> np.ndarray:
    """The four gates' convolutions of ``x`` ``(*lead, *S, C)``: ``(*lead, *S', 4 F)``.

    ``masks`` (dropout): None, or four arrays broadcasting against ``x``; gate ``g`` then reads
    ``x * masks[g]`` through its quarter of ``kernel``.
    """
    rank = kernel.ndim - 2
    lead = x.shape[: x.ndim - rank - 1]
    if masks is None:
        z = _conv_forward(_batch(x, rank), kernel, bias, geo)
    else:
        f = kernel.shape[-1] // 4
        parts = [
            _conv_forward(_batch(x * m, rank), np.ascontiguousarray(kernel[..., g * f : (g + 1) * f]),
                          None if bias is None else bias[g * f : (g + 1) * f], geo)
            for g, m in enumerate(masks)
        ]
        z = np.concatenate(parts, axis=-1)
    return z.reshape(lead + z.shape[1:])


def _gates_backward(x: np.ndarray, kernel: np.ndarray, dz: np.ndarray, masks: Optional[list],
                    dk: Optional[np.ndarray], db: Optional[np.ndarray], geo: tuple, need_dx: bool) -> Optional[np.ndarray]:
    """Gradients of ``_gates_forward``: adds into ``dk`` and ``db``, returns dx (or None)."""
    rank = kernel.ndim - 2
    if masks is None:
        dx = _conv_backward(_batch(x, rank), kernel, _batch(dz, rank), dk, db, geo, need_dx)
        return None if dx is None else dx.reshape(x.shape)
    f = kernel.shape[-1] // 4
    dx = np.zeros(x.shape, np.float32) if need_dx else None
    for g, m in enumerate(masks):
        part = slice(g * f, (g + 1) * f)
        kg = np.ascontiguousarray(kernel[..., part])
        dkg = None if dk is None else np.zeros(kg.shape, np.float32)
        dxg = _conv_backward(_batch(x * m, rank), kg, _batch(dz[..., part], rank), dkg,
                             None if db is None else db[part], geo, need_dx)
        if dk is not None:
            dk[..., part] += dkg
        if need_dx:
            dx += dxg.reshape(x.shape) * m
    return dx


_INPUT_DESC = {
    1: "(batch, timesteps, length, channels)",
    2: "(batch, timesteps, rows, cols, channels)",
    3: "(batch, timesteps, depth, rows, cols, channels)",
}


class _ConvLSTM(_RNN):
    """What ConvLSTM1D, ConvLSTM2D and ConvLSTM3D share; ``_rank`` is the convolution's rank.

    Arguments, dropout, masks, stateful use and initial states follow ``LSTM``
    (``pynncore.layers.rnn``); the states are feature maps ``(N, *S', filters)``. The layers
    also run inside ``Bidirectional``.
    """

    _cell = "lstm"
    _gates = 4
    _rank = 2
    supports_masking = True
    consumes_mask = True

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        data_format: Optional[str] = None,
        dilation_rate: Any = 1,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        unit_forget_bias: bool = True,
        **kwargs: Any,
    ):
        if "units" in kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) ['units']")
        filters = _positive_int(type(self).__name__, "filters", filters)
        self.unit_forget_bias = bool(unit_forget_bias)
        super().__init__(
            filters,
            activation=activation,
            recurrent_activation=recurrent_activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            **kwargs,
        )
        who = self._who
        self.filters = filters
        self.kernel_size, self.strides, self.padding, self.data_format, self.dilation_rate = conv_geometry(
            who, self._rank, kernel_size, strides, padding, data_format, dilation_rate, ("valid", "same")
        )
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"{who}: strides > 1 is not compatible with dilation_rate > 1. Received: "
                f"strides={self.strides} and dilation_rate={self.dilation_rate}"
            )
        self._channels = None
        self._state_sizes = None

    @property
    def _input_ndim(self) -> int:
        return self._rank + 3

    @property
    def state_size(self) -> Any:
        return [self.filters, self.filters]

    def _bias_initial(self) -> Any:
        if not self.unit_forget_bias:
            return self.bias_initializer
        return _forget_bias_initializer(self.bias_initializer, self.filters)

    # -- shapes ----------------------------------------------------------------------------

    def _check_shape(self, shape: tuple) -> None:
        check_rank_and_channels(self._who, shape, self._rank + 3, _INPUT_DESC[self._rank], self._channels)

    def _input_geometry(self, spatial: tuple) -> tuple:
        """``(strides, dilation, padding before, output sizes)`` of the input convolution; sizes
        and padding are None along axes of unknown size."""
        sizes, pads = [], []
        for n, k, s, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate):
            if n is None:
                sizes.append(None)
                pads.append(None)
                continue
            o, p = conv_output_size(n, k, s, d, self.padding)
            if o < 1 or n < 1:
                keff = tuple((kk - 1) * dd + 1 for kk, dd in zip(self.kernel_size, self.dilation_rate))
                raise ValueError(
                    f"{self._who}: the kernel (size {self.kernel_size}, dilated {keff}) is larger "
                    f"than the input's spatial sizes {shape_str(spatial)} with padding='{self.padding}'"
                )
            sizes.append(o)
            pads.append(p)
        return self.strides, self.dilation_rate, tuple(pads), tuple(sizes)

    def _recurrent_geometry(self, sizes: tuple) -> tuple:
        ones = (1,) * self._rank
        pads = tuple(conv_output_size(n, k, 1, 1, "same")[1] for n, k in zip(sizes, self.kernel_size))
        return ones, ones, pads, sizes

    def compute_output_shape(self, input_shape: tuple) -> Any:
        input_shape = tuple(input_shape)
        self._check_shape(input_shape)
        n, t = input_shape[:2]
        sizes = self._input_geometry(input_shape[2:-1])[3]
        state = (n,) + sizes + (self.filters,)
        out = (n, t) + sizes + (self.filters,) if self.return_sequences else state
        return [out, state, state] if self.return_state else out

    def build(self, input_shape: tuple) -> None:
        input_shape = tuple(input_shape)
        self._check_shape(input_shape)
        self._state_sizes = self._input_geometry(input_shape[2:-1])[3]
        self._fix_stateful_batch(input_shape)
        c, f = int(input_shape[-1]), self.filters
        self._channels = c
        self._features = c
        self.kernel = self.add_weight("kernel", self.kernel_size + (c, 4 * f), self.kernel_initializer,
                                      self.kernel_regularizer, constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel", self.kernel_size + (f, 4 * f), self.recurrent_initializer,
            self.recurrent_regularizer, constraint=self.recurrent_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight("bias", (4 * f,), self._bias_initial(), self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self.built = True

    # -- checks ----------------------------------------------------------------------------

    def _check_x(self, x: Any) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype.kind not in "biuf":
            raise TypeError(f"{self._who}: expected a real numeric input. Received: dtype={x.dtype}")
        self._check_shape(x.shape)
        if x.shape[1] < 1:
            raise ValueError(f"{self._who}: expected at least one timestep. Received: shape={x.shape}")
        return np.ascontiguousarray(x, dtype=np.float32)

    def _state_shape(self, n: Any, sizes: Optional[tuple] = None) -> tuple:
        sizes = self._state_sizes if sizes is None else sizes
        return (n,) + tuple(sizes) + (self.filters,)

    def _check_symbolic_states(self, inputs: KerasTensor, initial_state: Any) -> None:
        self._maybe_build(inputs.shape)  # the states' spatial sizes follow from the input's
        super()._check_symbolic_states(inputs, initial_state)

    # -- running ---------------------------------------------------------------------------

    def _dropout_masks(self, rate: float, shape: tuple) -> list:
        """Four inverted-dropout masks of ``shape`` (one per gate, as in Keras)."""
        gen = self._generator()
        scale = np.float32(1.0 / (1.0 - rate))
        return [(gen.random(shape, dtype=np.float32) >= rate).astype(np.float32) * scale for _ in range(4)]

    def forward(self, x: Any, training: bool = False, mask: Any = None, initial_state: Any = None) -> tuple:
        x = self._check_x(x)
        if not self.built:
            self._maybe_build((None,) + x.shape[1:])
        n, t = x.shape[:2]
        mask = self._check_mask(mask, n, t)
        if self.stateful and n != self._batch_size_arg:
            raise ValueError(
                f"{self._who}: stateful layer built for batch size {self._batch_size_arg}. "
                f"Received: shape={x.shape}"
            )
        in_geo = self._input_geometry(x.shape[2:-1])
        sizes = in_geo[3]
        rec_geo = self._recurrent_geometry(sizes)
        state_shape = (n,) + sizes + (self.filters,)
        states = None
        if initial_state is not None:
            states = self._check_states(initial_state, n, sizes)
        elif self.stateful and self.states is not None:
            states = self.states
            if states[0].shape != state_shape:
                raise ValueError(
                    f"{self._who}: the carried states have shape {states[0].shape}, this input gives "
                    f"states of shape {state_shape}; call reset_states() first. Received: shape={x.shape}"
                )
        if self.go_backwards:
            x = np.ascontiguousarray(x[:, ::-1])
            if mask is not None:
                mask = mask[:, ::-1]
        masks = rmasks = None
        if training and self.dropout > 0.0:
            masks = self._dropout_masks(self.dropout, (n, 1) + x.shape[2:])
        if training and self.recurrent_dropout > 0.0:
            rmasks = self._dropout_masks(self.recurrent_dropout, state_shape)

        f = self.filters
        act, ract = self.activation, self.recurrent_activation
        rk = self.recurrent_kernel.value
        zx = _gates_forward(x, self.kernel.value, self.bias.value if self.use_bias else None, masks, in_geo)
        h = None if states is None else states[0]
        c = np.zeros(state_shape, np.float32) if states is None else states[1]
        seq = np.empty((n, t) + state_shape[1:], np.float32) if self.return_sequences else None
        last = np.zeros(state_shape, np.float32)  # output of the last step not masked
        steps = []
        for s in range(t):
            z = zx[:, s] + _gates_forward(h, rk, None, rmasks, rec_geo) if h is not None else np.ascontiguousarray(zx[:, s])
            sig = ract.forward(z)  # i, f and o (the c quarter is not used)
            g = act.forward(np.ascontiguousarray(z[..., 2 * f : 3 * f]))
            c_new = sig[..., f : 2 * f] * c + sig[..., :f] * g
            ac = act.forward(c_new)
            h_new = sig[..., 3 * f :] * ac
            keep = None
            if mask is not None:  # masked samples keep their states and repeat their output
                keep = mask[:, s].reshape((n,) + (1,) * (x.ndim - 2))
                last = np.where(keep, h_new, last)
                h_new = np.where(keep, h_new, np.float32(0.0) if h is None else h)
                c_new = np.where(keep, c_new, c)
            else:
                last = h_new
            if training:
                steps.append((h, c, sig, g, ac, keep))
            h, c = h_new, c_new
            if seq is not None:
                seq[:, s] = last
        if self.stateful:
            self.states = [h.copy(), c.copy()]
        y = seq if seq is not None else last
        out = [y, h, c] if self.return_state else y
        ctx = None
        if training:
            record = (x, steps, masks, rmasks, in_geo, rec_geo)
            ctx = _RNNContext(record, self.go_backwards, None, 2, x.shape, given_states=initial_state is not None)
        return out, ctx

    def backward(self, ctx: Any, dy: Any, need_dx: bool = True) -> Any:
        if self.return_state:
            parts = list(dy) if isinstance(dy, (list, tuple)) else [dy]
            parts += [None] * (3 - len(parts))
            d_out, dh, dc = parts
        else:
            d_out, dh, dc = dy, None, None
        x, steps, masks, rmasks, in_geo, rec_geo = ctx.op
        n, t = x.shape[:2]
        f = self.filters
        state_shape = (n,) + in_geo[3] + (f,)
        train = self.trainable
        dk = self.kernel.grad if train and self.kernel.trainable else None
        drk = self.recurrent_kernel.grad if train and self.recurrent_kernel.trainable else None
        db = self.bias.grad if self.use_bias and train and self.bias.trainable else None
        act, ract = self.activation, self.recurrent_activation
        rk = self.recurrent_kernel.value
        dh = np.zeros(state_shape, np.float32) if dh is None else np.array(dh, dtype=np.float32).reshape(state_shape)
        dc = np.zeros(state_shape, np.float32) if dc is None else np.array(dc, dtype=np.float32).reshape(state_shape)
        masked = steps[0][5] is not None
        # With a mask the output (that of the last step not masked) and the state h differ:
        # ``dlast`` carries the output's gradient back step by step; without a mask it is dh.
        dlast = np.zeros(state_shape, np.float32) if masked else dh
        if d_out is not None:
            d_out = np.asarray(d_out, dtype=np.float32)
            if not self.return_sequences:
                dlast += d_out.reshape(state_shape)
        dz_all = np.empty((n, t) + state_shape[1:-1] + (4 * f,), np.float32)
        for s in range(t - 1, -1, -1):
            h_prev, c_prev, sig, g, ac, keep = steps[s]
            if self.return_sequences and d_out is not None:
                dlast += d_out[:, s]
            if keep is not None:
                skip_h, skip_c = np.where(keep, 0.0, dh), np.where(keep, 0.0, dc)
                dh = np.where(keep, dh + dlast, 0.0).astype(np.float32)
                dc = np.where(keep, dc, 0.0).astype(np.float32)
                dlast = np.where(keep, 0.0, dlast).astype(np.float32)
            dsig = np.empty_like(sig)
            dsig[..., 2 * f : 3 * f] = 0.0
            dsig[..., 3 * f :] = dh * ac
            dc += act.backward(None, ac, dh * sig[..., 3 * f :])
            dsig[..., :f] = dc * g
            dsig[..., f : 2 * f] = dc * c_prev
            dg = dc * sig[..., :f]
            dc *= sig[..., f : 2 * f]
            dz = ract.backward(None, sig, dsig)
            dz[..., 2 * f : 3 * f] = act.backward(None, g, dg)
            dz_all[:, s] = dz
            if h_prev is not None:
                dh = _gates_backward(h_prev, rk, dz, rmasks, drk, None, rec_geo, True)
            else:
                dh = None
            if keep is not None:
                dh = skip_h if dh is None else dh + skip_h
                dc += skip_c
            elif dh is not None:
                dlast = dh
        ctx.initial_state_grads = [dh, dc] if dh is not None else [np.zeros(state_shape, np.float32), dc]
        dx = None
        if need_dx or dk is not None or db is not None:
            dx = _gates_backward(x, self.kernel.value, dz_all, masks, dk, db, in_geo, need_dx)
        if need_dx and self.go_backwards:
            dx = np.ascontiguousarray(dx[:, ::-1])
        if not need_dx:
            dx = None
        if ctx.given_states:
            return dx, {"initial_state": list(ctx.initial_state_grads)}
        return dx

    # -- config ----------------------------------------------------------------------------

    def get_config(self) -> dict:
        config = super().get_config()
        del config["units"]
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            strides=self.strides,
            padding=self.padding,
            data_format=self.data_format,
            dilation_rate=self.dilation_rate,
            unit_forget_bias=self.unit_forget_bias,
        )
        return config


_ARGS_DOC = """
    Args:
        filters: number of output channels (the state's channels).
        kernel_size: int or tuple of {rank} ints, the window of both convolutions.
        strides: int or tuple of {rank} ints, of the input convolution only (default 1);
            ``strides > 1`` is incompatible with ``dilation_rate > 1``.
        padding: ``"valid"`` or ``"same"`` for the input convolution (the recurrent one is
            always ``"same"``).
        data_format: None or ``"channels_last"`` (the only supported layout).
        dilation_rate: int or tuple of {rank} ints, of the input convolution only.
        activation: default ``"tanh"``; recurrent_activation: default ``"sigmoid"`` (both must be
            elementwise with a derivative that follows from the output).
        use_bias: whether to add the ``(4 filters,)`` bias.
        kernel_initializer, recurrent_initializer (default ``"orthogonal"``), bias_initializer.
        unit_forget_bias: start the forget gate's bias at 1 (default True).
        kernel_regularizer, recurrent_regularizer, bias_regularizer, activity_regularizer,
        kernel_constraint, recurrent_constraint, bias_constraint: as in Keras.
        dropout: fraction of the input dropped in training (four masks, one per gate, each
            shared by all timesteps).
        recurrent_dropout: fraction of the state dropped before the recurrent convolution in
            training (four masks as for ``dropout``).
        seed: seed of the dropout masks.
        return_sequences: output every step ``(N, T, *S', filters)`` instead of the last one.
        return_state: also return the final states: ``[output, h, c]``.
        go_backwards: process the sequence in reverse (the output sequence stays reversed).
        stateful: carry the final states into the next call (needs a fixed batch size);
            ``reset_states()`` clears them.
        unroll: accepted for compatibility.

    Call arguments:
        inputs: {shape}; T and the spatial sizes may change from call to call.
        mask: optional boolean ``(N, T)``: masked steps keep the states and repeat the previous
            output (zeros before the first step not masked), as in Keras.
        training: enables dropout.
        initial_state: optional ``[h, c]``, each ``(N, *S', filters)``.

    Returns:
        The output, or ``[output, h, c]`` with ``return_state``. ``S'`` are the sizes of the
        input convolution's output.

    Raises:
        ValueError: bad arguments (``data_format="channels_first"`` included), an input of
            another rank, a changed channel count, a kernel larger than the input with
            ``"valid"`` padding, wrong initial states or mask, stateful use without a fixed
            batch size.
"""


def _doc(summary: str, rank: int, shape: str, example: str) -> str:
    return f"{summary}\n{_ARGS_DOC.format(rank=rank, shape=shape)}\n    Example:\n{example}    "


class ConvLSTM1D(_ConvLSTM):
    __doc__ = _doc(
        """1-D convolutional LSTM over sequences of 1-D signals ``(N, T, L, C)``.

    Kernel ``(K, C, 4 filters)``, recurrent kernel ``(K, filters, 4 filters)``, bias
    ``(4 filters,)``, gates i, f, c, o (see ``pynncore.layers.conv_lstm``).""",
        1,
        "``(N, T, L, C)``",
        """        >>> import numpy as np
        >>> from pynncore.layers import ConvLSTM1D
        >>> ConvLSTM1D(4, 3, padding="same")(np.ones((2, 5, 8, 3))).shape
        (2, 8, 4)
""",
    )

    _rank = 1


class ConvLSTM2D(_ConvLSTM):
    __doc__ = _doc(
        """2-D convolutional LSTM (Shi et al., 2015) over sequences of images ``(N, T, H, W, C)``.

    Kernel ``(KH, KW, C, 4 filters)``, recurrent kernel ``(KH, KW, filters, 4 filters)``, bias
    ``(4 filters,)``, gates i, f, c, o (see ``pynncore.layers.conv_lstm``).""",
        2,
        "``(N, T, H, W, C)``",
        """        >>> import numpy as np
        >>> from pynncore.layers import ConvLSTM2D
        >>> ConvLSTM2D(4, 3, padding="same", return_sequences=True)(np.ones((2, 5, 6, 6, 3))).shape
        (2, 5, 6, 6, 4)
""",
    )

    _rank = 2


class ConvLSTM3D(_ConvLSTM):
    __doc__ = _doc(
        """3-D convolutional LSTM over sequences of volumes ``(N, T, D, H, W, C)``.

    Kernel ``(KD, KH, KW, C, 4 filters)``, recurrent kernel ``(KD, KH, KW, filters,
    4 filters)``, bias ``(4 filters,)``, gates i, f, c, o (see ``pynncore.layers.conv_lstm``).""",
        3,
        "``(N, T, D, H, W, C)``",
        """        >>> import numpy as np
        >>> from pynncore.layers import ConvLSTM3D
        >>> ConvLSTM3D(2, 3, padding="same")(np.ones((1, 3, 4, 4, 4, 2))).shape
        (1, 4, 4, 4, 2)
""",
    )

    _rank = 3
