"""Embedding and Masking layers.

``Embedding`` maps integer token ids ``(N, ...)`` to rows of a trainable matrix
``embeddings (input_dim, output_dim)``: ``y[n, t] = embeddings[x[n, t]]``. Its backward pass adds
each row of the output gradient into the row of ``embeddings.grad`` it was read from, repeated
ids accumulating. Both directions are one native call each (``ops.embedding`` /
``ops.embedding_grad``), which checks every id before reading or writing anything.

``Masking`` marks the timesteps of ``(N, T, F)`` whose features all equal ``mask_value`` as
padding: its output mask is ``any(x != mask_value, axis=-1)`` and those steps are zeroed.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from pynncore import constraints as _constraints
from pynncore import ops
from pynncore import regularizers as _regularizers
from pynncore.layers.base import Layer
from pynncore.layers.core import _serialize

__all__ = ["Embedding", "Masking"]


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
