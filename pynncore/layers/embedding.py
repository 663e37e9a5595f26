"""Embedding and Masking layers.

``Embedding`` maps integer token ids ``(N, ...)`` to rows of a trainable matrix
``embeddings (input_dim, output_dim)``: ``y[n, t] = embeddings[x[n, t]]``. Its backward pass adds
each row of the output gradient into the row of ``embeddings.grad`` it was read from, repeated
ids accumulating. Both directions are one native call each (``ops.embedding`` /
``ops.embedding_grad``), which checks every id before reading or writing anything.

``ReversibleEmbedding`` is an ``Embedding`` that can also run in reverse for language models:
``layer(h, reverse=True)`` maps hidden states ``(N, ..., output_dim)`` to vocabulary logits
``(N, ..., input_dim)`` by ``h @ embeddings.T`` (tied weights) or ``h @ reverse_embeddings``, and
optionally soft-caps them: ``c * tanh(logits / c)``.

``Masking`` marks the timesteps of ``(N, T, F)`` whose features all equal ``mask_value`` as
padding: its output mask is ``any(x != mask_value, axis=-1)`` and those steps are zeroed.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from pynncore import constraints as _constraints
from pynncore import ops
from pynncore import regularizers as _regularizers
from pynncore.layers.base import Layer, shape_str
from pynncore.layers.core import _serialize

__all__ = ["Embedding", "Masking", "ReversibleEmbedding"]


class Embedding(Layer):
    """Turns non-negative integer ids into dense vectors of a fixed size.

    ``Embedding(1000, 64)`` maps an input ``(N, T)`` of ids in ``[0, 1000)`` to ``(N, T, 64)``.
    Inputs may be integer arrays or floats holding integer values (models feed float32);
    ids outside ``[0, input_dim)`` or non-integer values raise ``ValueError``.

    Args:
        input_dim: vocabulary size (largest id + 1), positive.
        output_dim: size of each vector, positive.
        embeddings_initializer: initializer of the ``(input_dim, output_dim)`` matrix
            (default ``"uniform"``: uniform on [-0.05, 0.05)).
        embeddings_regularizer: regularizer of the matrix, or None.
        embeddings_constraint: a projection applied after every optimizer step
            (``pynncore.constraints``).
        activity_regularizer: regularizer of the output, or None.
        mask_zero: whether id 0 is padding; the output mask is then ``x != 0``.
        weights: optional list holding one initial ``(input_dim, output_dim)`` matrix.
        input_length: Keras 2 argument: the sequence length, used as the input shape
            ``(input_length,)`` when no other input shape is given.

    Call arguments:
        inputs: ids ``(N, ...)``.

    Returns:
        Array ``(N, ..., output_dim)``.

    Raises:
        ValueError: non-positive sizes, ids out of range or not integers.

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import Embedding
        >>> Embedding(10, 3)(np.array([[1, 2, 0]])).shape
        (1, 3, 3)
    """

    supports_masking = True

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer: Any = "uniform",
        embeddings_regularizer: Any = None,
        embeddings_constraint: Any = None,
        activity_regularizer: Any = None,
        mask_zero: bool = False,
        weights: Any = None,
        input_length: Optional[int] = None,
        **kwargs: Any,
    ):
        if input_length is not None and not any(
            k in kwargs for k in ("input_shape", "input_dim", "batch_input_shape")
        ):
            if isinstance(input_length, bool) or not isinstance(input_length, (int, np.integer)) or input_length <= 0:
                raise ValueError(
                    f"Embedding: input_length must be a positive integer or None. Received: input_length={input_length!r}"
                )
            kwargs["input_shape"] = (int(input_length),)
        super().__init__(**kwargs)
        for arg, value in (("input_dim", input_dim), ("output_dim", output_dim)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(
                    f"Embedding '{self.name}': {arg} must be a positive integer. Received: {arg}={value!r}"
                )
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        self.embeddings_initializer = embeddings_initializer
        self.embeddings_regularizer = _regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = _constraints.get(embeddings_constraint)
        self.activity_regularizer = _regularizers.get(activity_regularizer)
        self.mask_zero = bool(mask_zero)
        self.input_length = None if input_length is None else int(input_length)
        self.embeddings = None
        self._initial_weights = None
        if weights is not None:
            weights = list(weights)
            if len(weights) != 1 or np.shape(weights[0]) != (self.input_dim, self.output_dim):
                raise ValueError(
                    f"Embedding '{self.name}': weights must be a list holding one matrix of shape "
                    f"({self.input_dim}, {self.output_dim}). Received: "
                    f"{[np.shape(w) for w in weights]}"
                )
            self._initial_weights = weights
        # The matrix shape does not depend on the input, so build now (Keras does the same).
        self.build(None)

    def build(self, input_shape: Any) -> None:
        if self.embeddings is None:
            self.embeddings = self.add_weight(
                "embeddings",
                (self.input_dim, self.output_dim),
                self.embeddings_initializer,
                self.embeddings_regularizer,
                constraint=self.embeddings_constraint,
            )
            if self._initial_weights is not None:
                self.set_weights(self._initial_weights)
                self._initial_weights = None
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape) + (self.output_dim,)

    def _check_input(self, x: Any) -> np.ndarray:
        arr = np.asarray(x)
        if arr.dtype.kind not in "biuf":
            raise TypeError(
                f"Embedding '{self.name}': expected integer ids. Received: dtype={arr.dtype}"
            )
        return arr

    def _who(self) -> str:
        return f"Embedding '{self.name}'"

    def forward(self, x: Any, training: bool = False) -> tuple:
        ids = ops._embedding_ids(self._check_input(x), self.input_dim, self._who())
        y = ops._embedding_lookup(self.embeddings.value, ids, self._who())
        return y, (ids if training else None)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        ids = ctx
        if self.trainable and self.embeddings.trainable:
            dy = np.asarray(dy)
            if dy.shape != ids.shape + (self.output_dim,):
                raise ValueError(
                    f"{self._who()}: expected an output gradient of shape "
                    f"{ids.shape + (self.output_dim,)}. Received: shape={dy.shape}"
                )
            d2 = np.ascontiguousarray(dy, dtype=np.float32).reshape(ids.size, self.output_dim)
            ops._embedding_grad(self.embeddings.grad, ids, d2, self._who())
        # Ids are not differentiable: their gradient is zero.
        return np.zeros(ids.shape, np.float32) if need_dx else None

    def compute_mask(self, x: Any, mask: Optional[np.ndarray] = None) -> Optional[np.ndarray]:
        if not self.mask_zero:
            return None
        return np.asarray(x) != 0

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            input_dim=self.input_dim,
            output_dim=self.output_dim,
            embeddings_initializer=_serialize(self.embeddings_initializer),
            embeddings_regularizer=_serialize(self.embeddings_regularizer),
            activity_regularizer=_serialize(self.activity_regularizer),
            embeddings_constraint=_constraints.config_of(self.embeddings_constraint),
            mask_zero=self.mask_zero,
        )
        if self.input_length is not None and "batch_input_shape" not in config:
            config["input_length"] = self.input_length
        return config


class ReversibleEmbedding(Embedding):
    """An ``Embedding`` that can also project hidden states back to vocabulary logits.

    Called as usual it is an ``Embedding``. Called with ``reverse=True`` on hidden states
    ``h (N, ..., output_dim)`` it returns the logits ``h @ embeddings.T`` of shape
    ``(N, ..., input_dim)`` (the weights are tied), or ``h @ reverse_embeddings`` with a separate
    trainable ``(output_dim, input_dim)`` matrix when ``tie_weights=False``. With
    ``logit_soft_cap=c`` the logits become ``c * tanh(logits / c)``. There is no bias. One
    layer may be called both ways in a model (embedding at the input, logits at the output);
    the gradients of both calls add up in the shared matrix.

    Args:
        input_dim: vocabulary size (largest id + 1), positive.
        output_dim: size of each vector, positive.
        tie_weights: whether the reverse projection uses the transposed ``embeddings``;
            if False a separate ``reverse_embeddings (output_dim, input_dim)`` weight is
            created with ``embeddings_initializer``.
        embeddings_initializer, embeddings_regularizer, embeddings_constraint,
            activity_regularizer, mask_zero, weights: as for ``Embedding`` (``weights``
            holds ``embeddings``, then ``reverse_embeddings`` when the weights are not tied).
        reverse_dtype: dtype of the reverse projection; only None or ``"float32"``.
        logit_soft_cap: None, or a positive number ``c`` that soft-caps reverse outputs.

    Call arguments:
        inputs: ids ``(N, ...)``, or hidden states ``(N, ..., output_dim)`` when reversing.
        reverse: project hidden states to logits instead of looking up ids.

    Returns:
        ``(N, ..., output_dim)`` vectors, or ``(N, ..., input_dim)`` logits with ``reverse``.

    Raises:
        ValueError: bad sizes, ids out of range, hidden states whose last axis is not
            ``output_dim``, a ``logit_soft_cap`` that is not a positive number, a
            ``reverse_dtype`` other than float32.
        TypeError: ``reverse`` that is not a boolean.

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import ReversibleEmbedding
        >>> emb = ReversibleEmbedding(100, 8)
        >>> hidden = emb(np.array([[3, 1, 4]]))
        >>> emb(hidden, reverse=True).shape
        (1, 3, 100)
    """

    mask_uses_call_args = True

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        tie_weights: bool = True,
        embeddings_initializer: Any = "uniform",
        embeddings_regularizer: Any = None,
        embeddings_constraint: Any = None,
        mask_zero: bool = False,
        reverse_dtype: Any = None,
        logit_soft_cap: Optional[float] = None,
        weights: Any = None,
        **kwargs: Any,
    ):
        super().__init__(
            input_dim,
            output_dim,
            embeddings_initializer=embeddings_initializer,
            embeddings_regularizer=embeddings_regularizer,
            embeddings_constraint=embeddings_constraint,
            mask_zero=mask_zero,
            **kwargs,
        )
        if reverse_dtype is not None and np.dtype(reverse_dtype) != np.float32:
            raise ValueError(
                f"ReversibleEmbedding '{self.name}': only reverse_dtype=None or 'float32' is supported. "
                f"Received: reverse_dtype={reverse_dtype!r}"
            )
        if logit_soft_cap is not None and (
            isinstance(logit_soft_cap, bool)
            or not isinstance(logit_soft_cap, (int, float, np.integer, np.floating))
            or not np.isfinite(logit_soft_cap)
            or logit_soft_cap <= 0
        ):
            raise ValueError(
                f"ReversibleEmbedding '{self.name}': logit_soft_cap must be None or a positive number. "
                f"Received: logit_soft_cap={logit_soft_cap!r}"
            )
        self.tie_weights = bool(tie_weights)
        self.reverse_dtype = None if reverse_dtype is None else "float32"
        self.logit_soft_cap = None if logit_soft_cap is None else float(logit_soft_cap)
        self.reverse_embeddings = None
        if not self.tie_weights:
            self.reverse_embeddings = self.add_weight(
                "reverse_embeddings", (self.output_dim, self.input_dim), self.embeddings_initializer
            )
        if weights is not None:
            self.set_weights(list(weights))
        self._reverse_call = False

    def _who(self) -> str:
        return f"ReversibleEmbedding '{self.name}'"

    def _check_input(self, x: Any) -> np.ndarray:
        arr = np.asarray(x)
        if arr.dtype.kind not in "biuf":
            raise TypeError(
                f"{self._who()}: expected integer ids, or real hidden states with reverse=True. "
                f"Received: dtype={arr.dtype}"
            )
        return arr

    def __call__(self, inputs: Any, reverse: bool = False, training: Optional[bool] = None, **kwargs: Any) -> Any:
        if not isinstance(reverse, (bool, np.bool_)):
            raise TypeError(f"{self._who()}: reverse must be a boolean. Received: reverse={reverse!r}")
        if not reverse:
            return super().__call__(inputs, training=training, **kwargs)
        self._reverse_call = True
        try:
            return super().__call__(inputs, training=training, reverse=True, **kwargs)
        finally:
            self._reverse_call = False

    def compute_output_shape(self, input_shape: tuple, reverse: bool = False) -> tuple:
        if reverse or self._reverse_call:
            return tuple(input_shape[:-1]) + (self.input_dim,)
        return super().compute_output_shape(input_shape)

    def compute_mask(self, x: Any, mask: Optional[np.ndarray] = None, reverse: bool = False) -> Optional[np.ndarray]:
        return None if reverse else super().compute_mask(x, mask)

    def _hidden_rows(self, x: Any) -> np.ndarray:
        arr = np.asarray(x)
        if arr.ndim < 2 or arr.shape[-1] != self.output_dim:
            raise ValueError(
                f"{self._who()}: with reverse=True, expected hidden states of rank >= 2 with "
                f"{self.output_dim} features in the last axis. Received: shape={shape_str(arr.shape)}"
            )
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{self._who()}: expected real hidden states. Received: dtype={arr.dtype}")
        return np.ascontiguousarray(arr, dtype=np.float32).reshape(-1, self.output_dim)

    def forward(self, x: Any, training: bool = False, reverse: bool = False) -> tuple:
        if not reverse:
            y, ids = super().forward(x, training=training)
            return y, ((False, ids) if training else None)
        h = self._hidden_rows(x)
        if self.tie_weights:
            z = ops.matmul(h, self.embeddings.value, transpose_b=True)
        else:
            z = ops.matmul(h, self.reverse_embeddings.value)
        t = None
        if self.logit_soft_cap is not None:
            cap = np.float32(self.logit_soft_cap)
            t = np.tanh(z / cap)
            z = t * cap
        y = z.reshape(np.shape(x)[:-1] + (self.input_dim,))
        return y, ((True, h, t, np.shape(x)) if training else None)

    def backward(self, ctx: Any, dy: Any, need_dx: bool = True) -> Optional[np.ndarray]:
        if not ctx[0]:
            return super().backward(ctx[1], dy, need_dx=need_dx)
        _, h, t, x_shape = ctx
        dy = np.asarray(dy)
        want = tuple(x_shape[:-1]) + (self.input_dim,)
        if dy.shape != want:
            raise ValueError(
                f"{self._who()}: expected an output gradient of shape {want}. Received: shape={dy.shape}"
            )
        dz = np.ascontiguousarray(dy, dtype=np.float32).reshape(-1, self.input_dim)
        if t is not None:
            dz = dz * (np.float32(1.0) - t * t)
        if self.tie_weights:
            if self.trainable and self.embeddings.trainable:
                ops.matmul(dz, h, transpose_a=True, out=self.embeddings.grad, beta=1.0)
        elif self.trainable and self.reverse_embeddings.trainable:
            ops.matmul(h, dz, transpose_a=True, out=self.reverse_embeddings.grad, beta=1.0)
        if not need_dx:
            return None
        if self.tie_weights:
            dx = ops.matmul(dz, self.embeddings.value)
        else:
            dx = ops.matmul(dz, self.reverse_embeddings.value, transpose_b=True)
        return dx.reshape(x_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            tie_weights=self.tie_weights,
            reverse_dtype=self.reverse_dtype,
            logit_soft_cap=self.logit_soft_cap,
        )
        return config


class Masking(Layer):
    """Masks timesteps whose features all equal ``mask_value``.

    For input ``(N, T, F)`` the output mask is ``any(x != mask_value, axis=-1)`` of shape
    ``(N, T)``; masked timesteps are set to zero in the output, and layers downstream that
    use masks (recurrent layers, ``Bidirectional``) skip them.

    Args:
        mask_value: the padding value.

    Call arguments:
        inputs: array ``(N, T, ...)``.

    Returns:
        Array of the input's shape.

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import Masking
        >>> x = np.array([[[1.0, 2.0], [0.0, 0.0]]])
        >>> Masking(0.0).compute_mask(x).tolist()
        [[True, False]]
    """

    supports_masking = True

    def __init__(self, mask_value: float = 0.0, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(mask_value, bool) or not isinstance(mask_value, (int, float, np.integer, np.floating)):
            raise ValueError(
                f"Masking '{self.name}': mask_value must be a number. Received: mask_value={mask_value!r}"
            )
        self.mask_value = float(mask_value)

    def _keep(self, x: np.ndarray) -> np.ndarray:
        if x.ndim < 2:
            raise ValueError(
                f"Masking '{self.name}': expected an input of rank >= 2 (N, T, ...). "
                f"Received: shape={x.shape}"
            )
        return np.any(x != np.float32(self.mask_value), axis=-1)

    def compute_mask(self, x: Any, mask: Optional[np.ndarray] = None) -> Optional[np.ndarray]:
        return self._keep(np.asarray(x, dtype=np.float32))

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x = np.ascontiguousarray(x, dtype=np.float32)
        keep = self._keep(x)[..., None]
        y = x * keep
        return y, (keep if training else None)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        if not need_dx:
            return None
        return dy * ctx

    def get_config(self) -> dict:
        config = super().get_config()
        config["mask_value"] = self.mask_value
        return config
