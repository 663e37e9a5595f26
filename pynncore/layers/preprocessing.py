"""Preprocessing layers that are part of a model.

Numeric: Rescaling and Normalization (with ``adapt``). Categorical: CategoryEncoding,
Discretization (``adapt`` learns quantile boundaries) and IntegerLookup (``adapt`` learns a
vocabulary). Pipeline applies a list of layers one after another. Audio ``(N, T, C)``:
STFTSpectrogram (short-time Fourier transform as a strided product with DFT kernels) and
MelSpectrogram (mel filter bank energies, optionally in decibels).
Images ``(N, H, W, C)``: Resizing, CenterCrop and RandomFlip (the other random augmentations
are in ``augment.py``).

The image layers and the spectrograms pass gradients back; the layers that
produce indices or counts of indices are not differentiable and return a zero input gradient
(as ``Embedding`` does for its ids).
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from pynncore.layers.base import Layer, shape_str
from pynncore.layers.wrappers import _Wrapper

__all__ = [
    "CategoryEncoding",
    "CenterCrop",
    "Discretization",
    "IntegerLookup",
    "MelSpectrogram",
    "Normalization",
    "Pipeline",
    "RandomFlip",
    "Rescaling",
    "Resizing",
    "STFTSpectrogram",
]

_EPSILON = 1e-7  # Keras's backend.epsilon(), the smallest standard deviation Normalization divides by


class Rescaling(Layer):
    """``y = x * scale + offset`` (e.g. ``Rescaling(1 / 255)`` for 8-bit images)."""

    supports_masking = True

    def __init__(self, scale: float, offset: float = 0.0, **kwargs: Any):
        super().__init__(**kwargs)
        for name, v in (("scale", scale), ("offset", offset)):
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not np.isfinite(v):
                raise ValueError(f"Rescaling '{self.name}': {name} must be a finite number. Received: {name}={v!r}")
        self.scale = float(scale)
        self.offset = float(offset)

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x = np.asarray(x, dtype=np.float32)
        return (x * np.float32(self.scale) + np.float32(self.offset)).astype(np.float32), None

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        return (np.asarray(dy, dtype=np.float32) * np.float32(self.scale)) if need_dx else None

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(scale=self.scale, offset=self.offset)
        return config


class Normalization(Layer):
    """Standardizes features with a mean and variance given or learned from data by
    ``adapt`` (Keras 3 ``Normalization``):

        y = (x - mean) / max(sqrt(variance), 1e-7)        (invert=True: the inverse map)

    The statistics are per index of ``axis`` (the last by default; ``None`` for one scalar
    mean and variance) and are saved with the model as non-trainable weights.

    Args:
        axis: an integer, a tuple of integers, or None.
        mean, variance: statistics to use instead of ``adapt`` (broadcast to the axis).
        invert: apply the inverse transformation.
    """

    supports_masking = True

    def __init__(self, axis: Any = -1, mean: Any = None, variance: Any = None, invert: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        if (mean is None) != (variance is None):
            raise ValueError(
                f"Normalization '{self.name}': give both mean and variance, or neither (and call adapt). "
                f"Received: mean={mean!r}, variance={variance!r}"
            )
        if axis is None:
            self.axis: tuple = ()
        elif isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
            self.axis = (int(axis),)
        else:
            self.axis = tuple(int(a) for a in axis)
        self.invert = bool(invert)
        self._init_mean = None if mean is None else np.asarray(mean, dtype=np.float64)
        self._init_variance = None if variance is None else np.asarray(variance, dtype=np.float64)
        self.adapt_mean = self.adapt_variance = None
        self._ndim: Optional[int] = None

    def _stat_shape(self, shape: tuple) -> tuple:
        ndim = len(shape)
        axes = []
        for a in self.axis:
            if not -ndim <= a < ndim or a % ndim == 0:
                raise ValueError(
                    f"Normalization '{self.name}': axis must name non-batch axes of an input of rank {ndim}. "
                    f"Received: axis={self.axis}"
                )
            axes.append(a % ndim)
        self._axes = tuple(sorted(axes))
        dims = tuple(shape[a] for a in self._axes)
        if any(d is None for d in dims):
            raise ValueError(f"Normalization '{self.name}': the axis sizes must be known. Received: shape={shape_str(shape)}")
        return dims

    def build(self, input_shape: Any) -> None:
        shape = tuple(input_shape)
        dims = self._stat_shape(shape)
        self._ndim = len(shape)
        self.adapt_mean = self.add_weight("mean", dims, "zeros", trainable=False)
        self.adapt_variance = self.add_weight("variance", dims, "ones", trainable=False)
        if self._init_mean is not None:
            self.adapt_mean.value[...] = np.broadcast_to(self._init_mean, dims)
            self.adapt_variance.value[...] = np.broadcast_to(self._init_variance, dims)
        self.built = True

    def adapt(self, data: Any, batch_size: Any = None, steps: Any = None) -> None:
        """Sets the mean and variance to those of ``data`` (an array, or an iterable of array
        batches), over every axis but ``axis``."""
        if isinstance(data, np.ndarray) or not hasattr(data, "__iter__"):
            batches = [np.asarray(data, dtype=np.float64)]
        else:
            batches = [np.asarray(b[0] if isinstance(b, tuple) else b, dtype=np.float64) for b in data]
        if not batches or any(b.ndim == 0 for b in batches):
            raise ValueError(f"Normalization '{self.name}': adapt needs data with a batch axis")
        if not self.built:
            self.build((None,) + batches[0].shape[1:])
        count = 0
        total = None
        for b in batches:
            if b.ndim != self._ndim:
                raise ValueError(
                    f"Normalization '{self.name}': expected data of rank {self._ndim}. Received: shape={b.shape}"
                )
            if not np.isfinite(b).all():
                raise ValueError(f"Normalization '{self.name}': adapt data contains NaN or infinite values")
            red = tuple(i for i in range(b.ndim) if i not in self._axes)
            n = int(np.prod([b.shape[i] for i in red]))
            s1, s2 = b.sum(axis=red), (b * b).sum(axis=red)
            total = (s1, s2) if total is None else (total[0] + s1, total[1] + s2)
            count += n
        mean = total[0] / count
        var = np.maximum(total[1] / count - mean * mean, 0.0)
        self.adapt_mean.value[...] = np.asarray(mean).reshape(self.adapt_mean.shape)
        self.adapt_variance.value[...] = np.asarray(var).reshape(self.adapt_variance.shape)

    def _stats(self, x: np.ndarray) -> tuple:
        shape = tuple(x.shape[i] if i in self._axes else 1 for i in range(x.ndim))
        mean = self.adapt_mean.value.reshape(shape)
        std = np.maximum(np.sqrt(self.adapt_variance.value), np.float32(_EPSILON)).reshape(shape)
        return mean, std

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != self._ndim:
            raise ValueError(f"Normalization '{self.name}': expected an input of rank {self._ndim}. Received: shape={x.shape}")
        mean, std = self._stats(x)
        y = mean + x * std if self.invert else (x - mean) / std
        return y.astype(np.float32), (std if training else None)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        if not need_dx:
            return None
        dy = np.asarray(dy, dtype=np.float32)
        return (dy * ctx if self.invert else dy / ctx).astype(np.float32)

    def get_config(self) -> dict:
        config = super().get_config()
        axis: Any = None if not self.axis else (self.axis[0] if len(self.axis) == 1 else list(self.axis))
        config.update(axis=axis, invert=self.invert)
        if self._init_mean is not None:
            config.update(mean=self._init_mean.tolist(), variance=self._init_variance.tolist())
        return config


# -- categorical encodings --------------------------------------------------------------------

_ENCODE_MODES = ("one_hot", "multi_hot", "count")


def _check_mode(who: str, output_mode: Any, allowed: tuple) -> str:
    if output_mode == "binary":
        output_mode = "multi_hot"
    if output_mode not in allowed:
        raise ValueError(f"{who}: output_mode must be one of {list(allowed)}. Received: output_mode={output_mode!r}")
    return output_mode


def _check_sparse(who: str, sparse: Any) -> None:
    if sparse:
        raise ValueError(f"{who}: only dense outputs are supported, expected sparse=False. Received: sparse={sparse!r}")


def _encode(ids: np.ndarray, output_mode: str, depth: int, who: str, count_weights: Any = None) -> np.ndarray:
    """One-hot, multi-hot or count encoding of integer ``ids`` in ``[0, depth)`` (Keras's
    ``encode_categorical_inputs``): one_hot adds an axis of size ``depth`` (replacing a
    trailing axis of size 1); multi_hot and count reduce axis 1 of a rank-2 input (or axis 0
    of a rank-1 input) to ``depth`` entries."""
    ids = np.asarray(ids)
    if ids.ndim == 0:
        ids = ids.reshape(1)
    if ids.size and (ids.min() < 0 or ids.max() >= depth):
        raise ValueError(
            f"{who}: expected values in the range [0, {depth}). "
            f"Received: values between {ids.min()} and {ids.max()}"
        )
    ids = ids.astype(np.int64)
    if output_mode == "one_hot":
        if ids.ndim > 1 and ids.shape[-1] == 1:
            ids = ids.reshape(ids.shape[:-1])
        out = np.zeros(ids.shape + (depth,), np.float32)
        np.put_along_axis(out, ids[..., None], 1.0, axis=-1)
        return out
    if ids.ndim > 2:
        raise ValueError(
            f"{who}: output_mode={output_mode!r} expects inputs of rank 1 or 2. Received: shape={ids.shape}"
        )
    rows = ids.reshape(1, -1) if ids.ndim == 1 else ids
    out = np.zeros((rows.shape[0], depth), np.float64)
    r = np.repeat(np.arange(rows.shape[0]), rows.shape[1])
    if output_mode == "multi_hot":
        out[r, rows.reshape(-1)] = 1.0
    else:
        if count_weights is None:
            w = np.ones(rows.size)
        else:
            w = np.asarray(count_weights, dtype=np.float64)
            if w.shape != ids.shape:
                raise ValueError(f"{who}: count_weights must have the input's shape {ids.shape}. Received: shape={w.shape}")
            w = w.reshape(-1)
        np.add.at(out, (r, rows.reshape(-1)), w)
    out = out.astype(np.float32)
    return out[0] if ids.ndim == 1 else out


def _encoded_shape(input_shape: tuple, output_mode: str, depth: int) -> tuple:
    shape = tuple(input_shape)
    if not shape:
        return (depth,)
    if output_mode == "one_hot":
        if shape[-1] != 1 or len(shape) == 1:
            return shape + (depth,)
    return shape[:-1] + (depth,)


class _IndexLayer(Layer):
    """Base of the layers whose outputs are indices (or encodings of indices): inputs keep
    their numeric type, the layer has no weights to train and the input gradient is zero."""

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)

    def _check_input(self, x: Any) -> np.ndarray:
        arr = np.asarray(x)
        if arr.dtype.kind not in "biuf":
            raise TypeError(
                f"{type(self).__name__} '{self.name}': expected a numeric input. Received: dtype={arr.dtype}"
            )
        return arr

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        # Indices are not differentiable: the gradient with respect to the input is zero.
        return np.zeros(ctx, np.float32) if need_dx else None


class CategoryEncoding(_IndexLayer):
    """Encodes integer category ids in ``[0, num_tokens)`` as one-hot, multi-hot or count
    vectors (Keras 3 ``CategoryEncoding``).

    Args:
        num_tokens: the number of categories (required, >= 1).
        output_mode: ``"one_hot"`` (one vector per id; a trailing axis of size 1 is
            replaced), ``"multi_hot"`` (one vector per sample with 1 where an id occurs; the
            alias ``"binary"`` is accepted) or ``"count"`` (how often each id occurs).
        sparse: only False (dense outputs) is supported.

    Call arguments:
        inputs: integer ids, ``(N,)`` or ``(N, K)`` (any rank for one_hot).
        count_weights: with ``output_mode="count"``, weights of the input's shape summed
            instead of counts (constants: no gradient flows to them).

    Returns:
        float32 array ``(N, num_tokens)`` (one_hot: ``(N, K, num_tokens)`` for K > 1).

    Raises:
        ValueError: for an id outside ``[0, num_tokens)``, or count_weights with another mode.

    Example:
        >>> CategoryEncoding(4, output_mode="count")(np.array([[0, 1, 1], [3, 3, 2]]))
    """

    def __init__(self, num_tokens: Optional[int] = None, output_mode: str = "multi_hot", sparse: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        who = f"CategoryEncoding '{self.name}'"
        if num_tokens is None or isinstance(num_tokens, bool) or not isinstance(num_tokens, (int, np.integer)) or num_tokens < 1:
            raise ValueError(f"{who}: num_tokens must be an integer >= 1. Received: num_tokens={num_tokens!r}")
        self.num_tokens = int(num_tokens)
        self.output_mode = _check_mode(who, output_mode, _ENCODE_MODES)
        _check_sparse(who, sparse)
        self.sparse = False

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return _encoded_shape(input_shape, self.output_mode, self.num_tokens)

    def forward(self, x: Any, training: bool = False, count_weights: Any = None) -> tuple:
        who = f"CategoryEncoding '{self.name}'"
        x = self._check_input(x)
        if count_weights is not None and self.output_mode != "count":
            raise ValueError(
                f"{who}: count_weights needs output_mode='count'. Received: output_mode={self.output_mode!r}"
            )
        return _encode(x, self.output_mode, self.num_tokens, who, count_weights), x.shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(num_tokens=self.num_tokens, output_mode=self.output_mode, sparse=self.sparse)
        return config


class Discretization(_IndexLayer):
    """Buckets numbers into ranges given by ``bin_boundaries`` or learned as quantiles by
    ``adapt`` (Keras 3 ``Discretization``).

    With boundaries ``[b0, b1, ..., bk-1]`` a value ``v`` goes to bucket ``i`` with
    ``b[i-1] <= v < b[i]`` (``numpy.digitize``), so there are ``k + 1`` buckets. ``adapt``
    builds an approximate quantile summary of the data as Keras does (every
    ``epsilon * n``-th sorted value, merged over batches) and takes ``num_bins - 1``
    boundaries at evenly spaced cumulative weights from it.

    Args:
        bin_boundaries: sorted list of boundaries (leave None to use ``adapt``).
        num_bins: number of buckets ``adapt`` learns.
        epsilon: precision of the quantile summary (smaller: more exact, more memory).
        output_mode: ``"int"`` (bucket index), ``"one_hot"``, ``"multi_hot"`` or ``"count"``.
        sparse: only False is supported.

    Call arguments:
        inputs: array of numbers of any shape (rank <= 2 for multi_hot and count).

    Returns:
        int32 bucket indices of the input's shape, or a float32 encoding.

    Raises:
        ValueError: for both or neither of bin_boundaries and num_bins, unsorted boundaries,
            or a call before adapt.

    Example:
        >>> Discretization(bin_boundaries=[0.0, 1.0])(np.array([[-1.0, 0.5, 2.0]]))
        array([[0, 1, 2]], dtype=int32)
    """

    def __init__(
        self,
        bin_boundaries: Any = None,
        num_bins: Optional[int] = None,
        epsilon: float = 0.01,
        output_mode: str = "int",
        sparse: bool = False,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        who = f"Discretization '{self.name}'"
        if num_bins is not None and (isinstance(num_bins, bool) or not isinstance(num_bins, (int, np.integer)) or num_bins < 0):
            raise ValueError(f"{who}: num_bins must be an integer >= 0. Received: num_bins={num_bins!r}")
        if num_bins is not None and bin_boundaries is not None:
            raise ValueError(
                f"{who}: expected one of num_bins and bin_boundaries. "
                f"Received: num_bins={num_bins!r} and bin_boundaries={bin_boundaries!r}"
            )
        if num_bins is None and bin_boundaries is None:
            raise ValueError(f"{who}: expected num_bins (and adapt) or bin_boundaries. Received neither")
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not 0 < epsilon <= 1:
            raise ValueError(f"{who}: epsilon must be a number in (0, 1]. Received: epsilon={epsilon!r}")
        self.output_mode = _check_mode(who, output_mode, ("int",) + _ENCODE_MODES)
        _check_sparse(who, sparse)
        self.sparse = False
        self.num_bins = None if num_bins is None else int(num_bins)
        self.epsilon = float(epsilon)
        self.bin_boundaries = None if bin_boundaries is None else self._boundaries(bin_boundaries)

    def _boundaries(self, values: Any) -> list:
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim != 1 or not np.isfinite(arr).all() or np.any(np.diff(arr) < 0):
            raise ValueError(
                f"Discretization '{self.name}': bin_boundaries must be a sorted list of finite numbers. "
                f"Received: bin_boundaries={values!r}"
            )
        return [float(v) for v in arr]

    def _depth(self) -> Optional[int]:
        if self.bin_boundaries is not None:
            return len(self.bin_boundaries) + 1
        return self.num_bins

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        if self.output_mode == "int":
            return tuple(input_shape)
        return _encoded_shape(input_shape, self.output_mode, self._depth())

    def adapt(self, data: Any, batch_size: Any = None, steps: Optional[int] = None) -> None:
        """Learns ``num_bins - 1`` quantile boundaries from ``data`` (an array, or an iterable
        of array batches, of which ``steps`` are read)."""
        who = f"Discretization '{self.name}'"
        if self.num_bins is None:
            raise ValueError(f"{who}: adapt needs num_bins; this layer was given bin_boundaries")
        if isinstance(data, np.ndarray) or not hasattr(data, "__iter__"):
            batches = [data]
        else:
            batches = [b[0] if isinstance(b, tuple) else b for i, b in enumerate(data) if steps is None or i < steps]
        summary = np.zeros((2, 0), np.float32)
        for b in batches:
            arr = np.asarray(b)
            if arr.dtype.kind not in "biuf":
                raise TypeError(f"{who}: adapt expects numeric data. Received: dtype={arr.dtype}")
            arr = arr.astype(np.float32).reshape(-1)
            if not np.isfinite(arr).all():
                raise ValueError(f"{who}: adapt data contains NaN or infinite values")
            summary = _merge_summaries(_summarize(arr, self.epsilon), summary, self.epsilon)
        if summary.shape[1] == 0:
            raise ValueError(f"{who}: adapt needs at least one value. Received: empty data")
        self.bin_boundaries = [float(v) for v in _compress_summary(summary, 1.0 / self.num_bins)[0, :-1]]

    def forward(self, x: Any, training: bool = False) -> tuple:
        x = self._check_input(x)
        if self.bin_boundaries is None:
            raise ValueError(f"Discretization '{self.name}': no bin boundaries yet; call adapt() first")
        idx = np.digitize(x.astype(np.float32), np.asarray(self.bin_boundaries, np.float32)).astype(np.int32)
        if self.output_mode == "int":
            return idx, x.shape
        return _encode(idx, self.output_mode, self._depth(), f"Discretization '{self.name}'"), x.shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            bin_boundaries=None if self.bin_boundaries is None else list(self.bin_boundaries),
            num_bins=self.num_bins,
            epsilon=self.epsilon,
            output_mode=self.output_mode,
            sparse=self.sparse,
        )
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Discretization":
        config = dict(config)
        if config.get("bin_boundaries") is not None and config.get("num_bins") is not None:
            boundaries = config.pop("bin_boundaries")
            layer = cls(**config)
            layer.bin_boundaries = layer._boundaries(boundaries)
            return layer
        return cls(**config)



_LOOKUP_MODES = ("int",) + _ENCODE_MODES + ("tf_idf",)


def _integer_values(who: str, x: np.ndarray, what: str) -> np.ndarray:
    """``x`` as int64, for integer input or floats holding whole numbers."""
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{who}: expected {what}. Received: dtype={x.dtype}")
    if x.dtype.kind == "f":
        if not np.isfinite(x).all() or (x != np.round(x)).any():
            raise ValueError(f"{who}: expected {what}. Received: non-integer values of dtype {x.dtype}")
    return x.astype(np.int64)


def _document_rows(arr: np.ndarray, top_level: bool) -> np.ndarray:
    """``adapt`` data as a 2-D array whose rows are documents (Keras: a rank-1 array passed
    whole is one document per element, a rank-1 batch of an iterable is one document)."""
    if arr.ndim == 0:
        return arr.reshape(1, 1)
    if arr.ndim == 1:
        return arr.reshape(-1, 1) if top_level else arr.reshape(1, -1)
    return arr.reshape(arr.shape[0], -1)


class _IndexLookup(_IndexLayer):
    """Vocabulary lookup shared by IntegerLookup and StringLookup (Keras's ``IndexLookup``).

    Index layout (``output_mode="int"``): ``0`` is the mask token when ``mask_token`` is set,
    then ``num_oov_indices`` out-of-vocabulary indices, then the vocabulary in order. In the
    encoding modes the mask token has no index and contributes nothing. ``adapt`` orders
    tokens by decreasing count, ties by decreasing token, and keeps at most ``max_tokens``
    indices in all; with ``output_mode="tf_idf"`` it also learns
    ``idf = log(1 + documents / (1 + documents containing the token))``, and the OOV
    indices get the mean idf of the vocabulary. Subclasses give the token type.
    """

    _no_token: Any = None  # what invert=True returns for an OOV index when oov_token is None
    _token_kind = "tokens"  # what the tokens are, in messages
    _vocabulary_kinds = ""  # numpy dtype kinds a vocabulary may have

    def __init__(
        self,
        max_tokens: Optional[int],
        num_oov_indices: int,
        mask_token: Any,
        oov_token: Any,
        vocabulary: Any,
        idf_weights: Any,
        invert: bool,
        output_mode: str,
        sparse: bool,
        pad_to_max_tokens: bool,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        who = self._who()
        if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, (int, np.integer)) or max_tokens <= 1):
            raise ValueError(f"{who}: max_tokens must be an integer > 1 or None. Received: max_tokens={max_tokens!r}")
        if isinstance(num_oov_indices, bool) or not isinstance(num_oov_indices, (int, np.integer)) or num_oov_indices < 0:
            raise ValueError(f"{who}: num_oov_indices must be an integer >= 0. Received: num_oov_indices={num_oov_indices!r}")
        self.mask_token = self._special_token("mask_token", mask_token)
        self.oov_token = self._special_token("oov_token", oov_token)
        if output_mode == "tf-idf":
            output_mode = "tf_idf"
        self.output_mode = _check_mode(who, output_mode, _LOOKUP_MODES)
        if idf_weights is not None and self.output_mode != "tf_idf":
            raise ValueError(
                f"{who}: idf_weights are only used with output_mode='tf_idf'. Received: output_mode={output_mode!r}"
            )
        if self.output_mode == "tf_idf" and vocabulary is not None and idf_weights is None:
            raise ValueError(f"{who}: output_mode='tf_idf' with a vocabulary needs idf_weights. Received: idf_weights=None")
        if invert and self.output_mode != "int":
            raise ValueError(f"{who}: invert=True needs output_mode='int'. Received: output_mode={output_mode!r}")
        _check_sparse(who, sparse)
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError(f"{who}: pad_to_max_tokens=True needs max_tokens. Received: max_tokens=None")
        self.max_tokens = None if max_tokens is None else int(max_tokens)
        self.num_oov_indices = int(num_oov_indices)
        self.invert = bool(invert)
        self.sparse = False
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        self._tokens: Optional[np.ndarray] = None
        self._idf_front: Optional[np.ndarray] = None  # idf of the OOV indices
        self._idf_tokens: Optional[np.ndarray] = None  # idf of the vocabulary tokens
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)

    # -- token-type hooks ----------------------------------------------------------------------

    def _special_token(self, name: str, token: Any) -> Any:
        raise NotImplementedError

    def _as_tokens(self, x: Any) -> np.ndarray:
        """Input or vocabulary values as a numpy array of tokens (raises on a wrong type)."""
        raise NotImplementedError

    def _python_token(self, token: Any) -> Any:
        raise NotImplementedError

    def _oov_index(self, x: np.ndarray) -> np.ndarray:
        """The OOV bucket (in ``[0, num_oov_indices)``) of each input."""
        raise NotImplementedError

    def _adapt_batches(self, data: Any, steps: Optional[int]) -> list:
        """``adapt`` data as a list of ``(array, passed_whole)``."""
        raise NotImplementedError

    # -- vocabulary ----------------------------------------------------------------------------

    def _who(self) -> str:
        return f"{type(self).__name__} '{self.name}'"

    def _oov_start(self) -> int:
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start(self) -> int:
        return self._oov_start() + self.num_oov_indices

    def _special_tokens(self) -> list:
        return [self.mask_token] * self._oov_start() + [self.oov_token] * self.num_oov_indices

    def set_vocabulary(self, vocabulary: Any, idf_weights: Any = None) -> None:
        """Sets the vocabulary: a list of distinct tokens, optionally starting with the
        special tokens in index order (mask token, then the OOV tokens). With
        ``output_mode="tf_idf"``, ``idf_weights`` gives one weight per entry of
        ``vocabulary``; without the special tokens, they get the mean weight."""
        who = self._who()
        if idf_weights is not None and self.output_mode != "tf_idf":
            raise ValueError(f"{who}: idf_weights are only used with output_mode='tf_idf'. Received: output_mode={self.output_mode!r}")
        if idf_weights is None and self.output_mode == "tf_idf":
            raise ValueError(f"{who}: output_mode='tf_idf' needs idf_weights with the vocabulary. Received: idf_weights=None")
        bad = ValueError(f"{who}: vocabulary must be a non-empty 1-D list of {self._token_kind}. Received: vocabulary={vocabulary!r}")
        try:
            raw = np.asarray(vocabulary)
        except ValueError:
            raise bad from None
        if raw.ndim != 1 or raw.size == 0 or raw.dtype.kind not in self._vocabulary_kinds:
            raise bad
        try:
            arr = self._as_tokens(raw)
        except TypeError:
            raise bad from None
        start = self._token_start()
        found = arr.size >= start and [self._python_token(t) for t in arr[:start]] == self._special_tokens()
        tokens = arr[start:] if found else arr
        uniq, counts = np.unique(tokens, return_counts=True)
        if (counts > 1).any():
            raise ValueError(f"{who}: the vocabulary repeats tokens {[self._python_token(t) for t in uniq[counts > 1]]}")
        if self.mask_token is not None and (tokens == self.mask_token).any():
            raise ValueError(
                f"{who}: the mask token {self.mask_token!r} may only appear at index 0 of the vocabulary. "
                f"Received: it at index {int(np.flatnonzero(arr == self.mask_token)[-1])}"
            )
        if self.invert and self.oov_token is not None and (tokens == self.oov_token).any():
            raise ValueError(f"{who}: with invert=True the OOV token {self.oov_token!r} may not be in the vocabulary")
        if self.max_tokens is not None and tokens.size + start > self.max_tokens:
            raise ValueError(
                f"{who}: the vocabulary has {tokens.size + start} entries (special tokens included), "
                f"more than max_tokens={self.max_tokens}"
            )
        if idf_weights is not None:
            w = np.asarray(idf_weights, dtype=np.float64)
            if w.shape != (arr.size,) or not np.isfinite(w).all():
                raise ValueError(
                    f"{who}: idf_weights must be finite numbers, one per vocabulary entry ({arr.size}). "
                    f"Received: shape={w.shape}"
                )
            self._idf_front = w[:start] if found else np.full(start, w.mean())
            self._idf_tokens = w[start:] if found else w
        self._tokens = tokens

    def adapt(self, data: Any, batch_size: Any = None, steps: Optional[int] = None) -> None:
        """Learns the vocabulary (and with ``output_mode="tf_idf"`` the idf weights) from
        ``data``: tokens by decreasing count, ties by decreasing token, mask and OOV tokens
        left out."""
        self._learn([_document_rows(self._as_tokens(b), whole) for b, whole in self._adapt_batches(data, steps)])

    def _learn(self, docs: list) -> None:
        """Sets the vocabulary from 2-D token arrays whose rows are documents."""
        who = self._who()
        flat = [d.reshape(-1) for d in docs]
        tokens, counts = np.unique(np.concatenate(flat) if flat else np.zeros(0), return_counts=True)
        keep = np.ones(tokens.shape, bool)
        for special in (self.mask_token, self.oov_token):
            if special is not None:
                keep &= tokens != special
        tokens, counts = tokens[keep], counts[keep]
        if tokens.size == 0:
            raise ValueError(f"{who}: adapt found no tokens besides the mask and OOV tokens")
        order = np.lexsort((tokens, counts))[::-1]
        if self.max_tokens is not None:
            order = order[: max(self.max_tokens - self._token_start(), 0)]
        self._tokens = tokens[order]
        if self.output_mode == "tf_idf":
            present = []
            for d in docs:
                s = np.sort(d, axis=1)
                first = np.ones(s.shape, bool)
                first[:, 1:] = s[:, 1:] != s[:, :-1]
                present.append(s[first])
            doc_tokens, doc_counts = np.unique(np.concatenate(present), return_counts=True)
            num_docs = sum(d.shape[0] for d in docs)
            n = doc_counts[np.searchsorted(doc_tokens, self._tokens)].astype(np.float64)
            self._idf_tokens = np.log(1.0 + num_docs / (1.0 + n))
            self._idf_front = np.full(self._token_start(), self._idf_tokens.mean())

    def get_vocabulary(self, include_special_tokens: bool = True) -> list:
        """The tokens in index order (with the mask and OOV tokens first unless
        ``include_special_tokens=False``)."""
        tokens = [] if self._tokens is None else [self._python_token(t) for t in self._tokens]
        return self._special_tokens() + tokens if include_special_tokens else tokens

    def vocabulary_size(self) -> int:
        """Number of indices: the vocabulary plus the mask and OOV indices."""
        return (0 if self._tokens is None else int(self._tokens.size)) + self._token_start()

    def _depth(self) -> int:
        return self.max_tokens if self.pad_to_max_tokens else self.vocabulary_size()

    def _idf_vector(self) -> np.ndarray:
        """The idf weight of each output entry (zeros past the vocabulary when padded)."""
        w = np.concatenate((self._idf_front, self._idf_tokens))
        return np.pad(w, (0, self._depth() - w.size))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        if self.output_mode == "int":
            return tuple(input_shape)
        if self._tokens is None and not self.pad_to_max_tokens:
            raise ValueError(f"{self._who()}: the output size is unknown until the vocabulary is set or adapted")
        return _encoded_shape(input_shape, "count" if self.output_mode == "tf_idf" else self.output_mode, self._depth())

    def _lookup(self, x: np.ndarray) -> np.ndarray:
        order = np.argsort(self._tokens, kind="stable")
        sorted_tokens = self._tokens[order]
        pos = np.clip(np.searchsorted(sorted_tokens, x), 0, sorted_tokens.size - 1)
        found = sorted_tokens[pos] == x
        idx = np.where(found, order[pos] + self._token_start(), -1)
        oov = ~found
        if self.mask_token is not None:
            oov &= x != self.mask_token
        if oov.any():
            if self.num_oov_indices == 0:
                shown = [self._python_token(t) for t in np.unique(x[oov])[:10]]
                raise ValueError(
                    f"{self._who()}: with num_oov_indices=0 every input must be in the vocabulary. "
                    f"Received: tokens {shown} outside it"
                )
            idx = np.array(idx, dtype=np.int64)
            idx[oov] = self._oov_index(x[oov]) + self._oov_start()
        return idx

    def _invert(self, x: Any) -> tuple:
        arr = _integer_values(self._who(), np.asarray(x), "integer indices")
        fill = self.oov_token if self.oov_token is not None else self._no_token
        vocab = self.get_vocabulary()
        table = np.asarray([fill if v is None else v for v in vocab])
        inside = (arr >= 0) & (arr < table.size)
        out = np.where(inside, table[np.clip(arr, 0, table.size - 1)], fill)
        if self.mask_token is not None:
            out = np.where(arr == 0, self.mask_token, out)
        return out, arr.shape

    def forward(self, x: Any, training: bool = False) -> tuple:
        who = self._who()
        if self._tokens is None:
            raise ValueError(f"{who}: no vocabulary yet; pass vocabulary= or call adapt() first")
        if self.invert:
            return self._invert(x)
        arr = self._as_tokens(x)
        idx = self._lookup(arr)
        if self.output_mode == "int":
            if self.mask_token is not None:
                idx = np.where(arr == self.mask_token, 0, idx)
            return idx.astype(np.int64), arr.shape
        depth = self._depth()
        # The mask token has no index in the encodings: it adds nothing.
        keep = np.ones(arr.shape, np.float64) if self.mask_token is None else (arr != self.mask_token).astype(np.float64)
        idx = np.where(keep > 0, idx, 0)
        if self.output_mode == "one_hot":
            enc = _encode(idx, "one_hot", depth, who)
            k = keep.reshape(enc.shape[:-1] + (1,))
            return (enc * k).astype(np.float32), arr.shape
        counts = _encode(idx, "count", depth, who, keep)
        if self.output_mode == "count":
            return counts, arr.shape
        if self.output_mode == "tf_idf":
            return (counts * self._idf_vector()).astype(np.float32), arr.shape
        return np.minimum(counts, 1.0).astype(np.float32), arr.shape

    def _vocabulary_config(self) -> tuple:
        """``(vocabulary, idf_weights)`` for the config: the tokens without the special
        tokens (and their idf weights), or with them when their idf is not the mean."""
        if self._tokens is None:
            return None, None
        tokens = self.get_vocabulary(include_special_tokens=False)
        if self.output_mode != "tf_idf":
            return tokens, None
        idf = [float(v) for v in self._idf_tokens]
        if np.array_equal(self._idf_front, np.full(self._token_start(), self._idf_tokens.mean())):
            return tokens, idf
        return self._special_tokens() + tokens, [float(v) for v in self._idf_front] + idf

    def get_config(self) -> dict:
        config = super().get_config()
        vocabulary, idf_weights = self._vocabulary_config()
        config.update(
            max_tokens=self.max_tokens,
            num_oov_indices=self.num_oov_indices,
            mask_token=self.mask_token,
            oov_token=self.oov_token,
            vocabulary=vocabulary,
            idf_weights=idf_weights,
            invert=self.invert,
            output_mode=self.output_mode,
            sparse=self.sparse,
            pad_to_max_tokens=self.pad_to_max_tokens,
        )
        return config


class IntegerLookup(_IndexLookup):
    """Maps integer tokens to contiguous indices in a vocabulary given or learned by
    ``adapt`` (Keras 3 ``IntegerLookup``), or indices back to tokens (``invert=True``).

    Index layout (``output_mode="int"``): ``0`` is the mask token when ``mask_token`` is
    set, then ``num_oov_indices`` out-of-vocabulary indices, then the vocabulary in order.
    A token outside the vocabulary goes to the OOV index ``token mod num_oov_indices`` (one
    OOV index: always that one; none: a ValueError). In the encoding modes the mask token
    has no index and contributes nothing. ``adapt`` orders tokens by decreasing frequency,
    ties by decreasing token, and keeps at most ``max_tokens`` indices in all. The
    vocabulary is saved in the layer's config.

    Args:
        max_tokens: maximum vocabulary size, mask and OOV indices included (None: no limit).
        num_oov_indices: number of OOV indices (>= 0).
        mask_token: token that stands for padding (None: no mask).
        oov_token: token returned by ``invert=True`` for an OOV index.
        vocabulary: list of tokens (optionally starting with the mask and OOV tokens).
        vocabulary_dtype: only ``"int64"``.
        idf_weights: with ``output_mode="tf_idf"`` and a vocabulary, one weight per entry.
        invert: map indices to tokens (``output_mode="int"`` only).
        output_mode: ``"int"``, ``"one_hot"``, ``"multi_hot"``, ``"count"`` or ``"tf_idf"``.
        sparse: only False.
        pad_to_max_tokens: encodings have ``max_tokens`` entries instead of the vocabulary size.

    Call arguments:
        inputs: integer tokens (or indices for ``invert``), any shape (rank <= 2 for
            multi_hot, count and tf_idf).

    Returns:
        int64 indices (tokens for ``invert``) of the input's shape, or a float32 encoding.

    Raises:
        ValueError: for a repeated token, a misplaced mask/OOV token, non-integer input, an
            OOV token with ``num_oov_indices=0``, or a call with no vocabulary.

    Example:
        >>> IntegerLookup(vocabulary=[12, 36, 1138])(np.array([[12, 1138, 42]]))
        array([[1, 3, 0]])
    """

    _no_token = -1
    _token_kind = "integers"
    _vocabulary_kinds = "iu"

    def __init__(
        self,
        max_tokens: Optional[int] = None,
        num_oov_indices: int = 1,
        mask_token: Optional[int] = None,
        oov_token: int = -1,
        vocabulary: Any = None,
        vocabulary_dtype: str = "int64",
        idf_weights: Any = None,
        invert: bool = False,
        output_mode: str = "int",
        sparse: bool = False,
        pad_to_max_tokens: bool = False,
        **kwargs: Any,
    ):
        super().__init__(
            max_tokens, num_oov_indices, mask_token, oov_token, vocabulary, idf_weights,
            invert, output_mode, sparse, pad_to_max_tokens, **kwargs,
        )
        if vocabulary_dtype != "int64":
            raise ValueError(f"{self._who()}: vocabulary_dtype must be 'int64'. Received: vocabulary_dtype={vocabulary_dtype!r}")
        self.vocabulary_dtype = "int64"

    def _special_token(self, name: str, token: Any) -> Optional[int]:
        if token is not None and (isinstance(token, bool) or not isinstance(token, (int, np.integer))):
            raise TypeError(f"{self._who()}: {name} must be an integer or None. Received: {name}={token!r}")
        return None if token is None else int(token)

    def _as_tokens(self, x: Any) -> np.ndarray:
        arr = np.asarray(x)
        if arr.size == 0 and arr.dtype.kind == "f":
            return arr.astype(np.int64)
        return _integer_values(self._who(), arr, "integer tokens")

    def _python_token(self, token: Any) -> Any:
        return None if token is None else int(token)

    def _oov_index(self, x: np.ndarray) -> np.ndarray:
        return np.mod(x, max(self.num_oov_indices, 1))

    def _adapt_batches(self, data: Any, steps: Optional[int]) -> list:
        if isinstance(data, np.ndarray) or not hasattr(data, "__iter__"):
            return [(data, True)]
        return [(b[0] if isinstance(b, tuple) else b, False) for i, b in enumerate(data) if steps is None or i < steps]

    def get_config(self) -> dict:
        config = super().get_config()
        config["vocabulary_dtype"] = self.vocabulary_dtype
        return config


def _summarize(values: np.ndarray, epsilon: float) -> np.ndarray:
    """``(2, m)`` summary of a batch: every ``step``-th sorted value (step = n * epsilon, at
    least 1) with the weight ``step`` each."""
    values = np.sort(values)
    step = max(values.size / (1.0 / epsilon), 1.0)
    picked = values[int(step - 1) :: int(step)]
    return np.stack([picked, np.full(picked.shape, step, dtype=np.float32)])


def _merge_summaries(a: np.ndarray, b: np.ndarray, epsilon: float) -> np.ndarray:
    merged = np.concatenate((a, b), axis=1)
    return _compress_summary(merged[:, np.argsort(merged[0], kind="stable")], epsilon)


def _compress_summary(summary: np.ndarray, epsilon: float) -> np.ndarray:
    """Resamples a summary at cumulative-weight fractions ``epsilon, 2 epsilon, ..., 1`` by
    linear interpolation (values and cumulative weights), keeping it about ``1 / epsilon``
    entries long."""
    if summary.shape[1] * epsilon < 1:
        return summary
    targets = epsilon + np.arange(0.0, 1.0, epsilon)
    cum = summary[1].cumsum()
    frac = cum / cum[-1]
    values = np.interp(targets, frac, summary[0])
    cum_new = np.interp(targets, frac, cum)
    weights = np.diff(cum_new, prepend=0.0)
    return np.stack((values, weights)).astype(np.float32)


# -- images ------------------------------------------------------------------------------------

_INTERPOLATIONS = ("nearest", "bilinear")


def _check_size(who: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{who}: {name} must be a positive integer. Received: {name}={value!r}")
    return int(value)


def _check_data_format(who: str, data_format: Any) -> str:
    if data_format not in (None, "channels_last"):
        raise ValueError(f"{who}: only data_format='channels_last' is supported. Received: data_format={data_format!r}")
    return "channels_last"


class _TargetSizeLayer(Layer):
    """Base of the image layers with an output size ``(height, width)``."""

    def __init__(self, height: int, width: int, data_format: Optional[str] = None, **kwargs: Any):
        super().__init__(**kwargs)
        who = f"{type(self).__name__} '{self.name}'"
        self.height = _check_size(who, "height", height)
        self.width = _check_size(who, "width", width)
        self.data_format = _check_data_format(who, data_format)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], self.height, self.width) + tuple(input_shape[3:])

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(height=self.height, width=self.width, data_format=self.data_format)
        return config


def _check_images(who: str, x: np.ndarray) -> None:
    if x.ndim != 4:
        raise ValueError(f"{who}: expected images of shape (N, H, W, C). Received: shape={x.shape}")


def _resize_matrix(n_in: int, n_out: int, interpolation: str) -> np.ndarray:
    """``(n_out, n_in)`` matrix of one axis of ``torch.nn.functional.interpolate`` with
    ``align_corners=False``: nearest ("nearest-exact") takes ``floor((i + 0.5) * n_in / n_out)``;
    bilinear samples at
    ``(i + 0.5) * n_in / n_out - 0.5`` (clamped at 0) between its two neighbours."""
    m = np.zeros((n_out, n_in), np.float64)
    rows = np.arange(n_out)
    scale = np.float32(n_in / n_out)
    if interpolation == "nearest":
        src = np.minimum(np.floor((rows.astype(np.float32) + np.float32(0.5)) * scale).astype(np.int64), n_in - 1)
        m[rows, src] = 1.0
        return m
    pos = np.maximum((rows.astype(np.float32) + np.float32(0.5)) * scale - np.float32(0.5), np.float32(0.0))
    i0 = np.minimum(np.floor(pos).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    lam = (pos - i0).astype(np.float64)
    np.add.at(m, (rows, i0), 1.0 - lam)
    np.add.at(m, (rows, i1), lam)
    return m


def _aspect_crop(h: int, w: int, th: int, tw: int) -> tuple:
    """``(top, left, height, width)`` of the centered window of ``(h, w)`` with the target's
    aspect ratio ``th : tw``."""
    ch = max(min(h, int(float(w * th) / tw)), 1)
    cw = max(min(w, int(float(h * tw) / th)), 1)
    return int(float(h - ch) / 2), int(float(w - cw) / 2), ch, cw


def _resize(x: np.ndarray, height: int, width: int, interpolation: str, crop: bool) -> tuple:
    """Resized images and ``(window, mh, mw)``: the cropped window and the two axis matrices
    (the backward pass applies their transposes and pads the window back)."""
    h, w = x.shape[1], x.shape[2]
    window = _aspect_crop(h, w, height, width) if crop else (0, 0, h, w)
    top, left, ch, cw = window
    xs = x[:, top : top + ch, left : left + cw, :].astype(np.float64)
    mh = _resize_matrix(ch, height, interpolation)
    mw = _resize_matrix(cw, width, interpolation)
    y = np.einsum("oh,nhwc,pw->nopc", mh, xs, mw, optimize=True)
    return y.astype(np.float32), (window, mh, mw, x.shape)


def _resize_backward(ctx: tuple, dy: np.ndarray) -> np.ndarray:
    (top, left, ch, cw), mh, mw, shape = ctx
    dx = np.zeros(shape, np.float64)
    dx[:, top : top + ch, left : left + cw, :] = np.einsum(
        "oh,nopc,pw->nhwc", mh, np.asarray(dy, dtype=np.float64), mw, optimize=True
    )
    return dx.astype(np.float32)


class Resizing(_TargetSizeLayer):
    """Resizes images ``(N, H, W, C)`` to ``(N, height, width, C)`` (Keras 3 ``Resizing``,
    the numbers of its torch backend with ``antialias=False``).

    ``"nearest"`` picks source pixel ``floor((i + 0.5) * H / height)``; ``"bilinear"`` interpolates
    at the half-pixel centres ``(i + 0.5) * H / height - 0.5`` (``align_corners=False``).
    With ``crop_to_aspect_ratio=True`` the largest centered window with the target's aspect
    ratio is cut out first. The map is linear, so the backward pass is its transpose.

    Args:
        height, width: output size.
        interpolation: ``"bilinear"`` or ``"nearest"``.
        crop_to_aspect_ratio: crop to the target aspect ratio instead of distorting.
        pad_to_aspect_ratio: only False is supported.
        data_format: only ``"channels_last"`` (or None) is supported.
        antialias: only False is supported.

    Call arguments:
        inputs: float images ``(N, H, W, C)``.

    Returns:
        float32 array ``(N, height, width, C)``.

    Raises:
        ValueError: for non-positive sizes, an unknown interpolation or inputs of rank != 4.

    Example:
        >>> Resizing(2, 3, interpolation="nearest")(np.ones((1, 4, 6, 1), np.float32)).shape
        (1, 2, 3, 1)
    """

    def __init__(
        self,
        height: int,
        width: int,
        interpolation: str = "bilinear",
        crop_to_aspect_ratio: bool = False,
        pad_to_aspect_ratio: bool = False,
        fill_mode: str = "constant",
        fill_value: float = 0.0,
        antialias: bool = False,
        data_format: Optional[str] = None,
        **kwargs: Any,
    ):
        super().__init__(height, width, data_format, **kwargs)
        who = f"Resizing '{self.name}'"
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(
                f"{who}: interpolation must be one of {list(_INTERPOLATIONS)}. Received: interpolation={interpolation!r}"
            )
        for name, value in (("pad_to_aspect_ratio", pad_to_aspect_ratio), ("antialias", antialias)):
            if value:
                raise ValueError(f"{who}: only {name}=False is supported. Received: {name}={value!r}")
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = False
        self.fill_mode = fill_mode
        self.fill_value = float(fill_value)
        self.antialias = False

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x = np.asarray(x, dtype=np.float32)
        _check_images(f"Resizing '{self.name}'", x)
        y, ctx = _resize(x, self.height, self.width, self.interpolation, self.crop_to_aspect_ratio)
        return y, (ctx if training else None)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        return _resize_backward(ctx, dy) if need_dx else None

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            interpolation=self.interpolation,
            crop_to_aspect_ratio=self.crop_to_aspect_ratio,
            pad_to_aspect_ratio=self.pad_to_aspect_ratio,
            fill_mode=self.fill_mode,
            fill_value=self.fill_value,
            antialias=self.antialias,
        )
        return config


class CenterCrop(_TargetSizeLayer):
    """Cuts the centered ``(height, width)`` window out of images ``(N, H, W, C)`` (Keras 3
    ``CenterCrop``): the window starts at ``((H - height) // 2, (W - width) // 2)``. An image
    smaller than the target in either dimension is instead resized bilinearly to it after
    cropping to the target's aspect ratio, as in Keras. The backward pass puts the output
    gradient back into the window (zeros elsewhere).

    Args:
        height, width: output size.
        data_format: only ``"channels_last"`` (or None) is supported.

    Call arguments:
        inputs: images ``(N, H, W, C)``.

    Returns:
        float32 array ``(N, height, width, C)``.

    Example:
        >>> CenterCrop(2, 2)(np.ones((1, 4, 5, 3), np.float32)).shape
        (1, 2, 2, 3)
    """

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x = np.asarray(x, dtype=np.float32)
        _check_images(f"CenterCrop '{self.name}'", x)
        h, w = x.shape[1], x.shape[2]
        if h < self.height or w < self.width:
            y, ctx = _resize(x, self.height, self.width, "bilinear", True)
            return y, (ctx if training else None)
        top, left = (h - self.height) // 2, (w - self.width) // 2
        y = np.ascontiguousarray(x[:, top : top + self.height, left : left + self.width, :])
        ctx = ((top, left, self.height, self.width), None, None, x.shape)
        return y, (ctx if training else None)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        return _crop_backward(ctx, dy) if need_dx else None


def _crop_backward(ctx: tuple, dy: np.ndarray) -> np.ndarray:
    """Input gradient of a crop (the gradient put back into the window) or, when the context
    holds resize matrices, of a crop-and-resize."""
    (top, left, ch, cw), mh, _, shape = ctx
    if mh is not None:
        return _resize_backward(ctx, dy)
    dx = np.zeros(shape, np.float32)
    dx[:, top : top + ch, left : left + cw, :] = dy
    return dx


_FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


class RandomFlip(Layer):
    """Flips each image of a batch ``(N, H, W, C)`` at random in training, left-right
    (``"horizontal"``), top-bottom (``"vertical"``) or both at once, with probability 1/2
    per image (Keras 3 ``RandomFlip``: one draw per image); the identity at inference. The
    backward pass flips the output gradient the same way.

    Args:
        mode: ``"horizontal"``, ``"vertical"`` or ``"horizontal_and_vertical"``.
        seed: integer seed of the layer's random generator (None: nondeterministic).
        data_format: only ``"channels_last"`` (or None) is supported.

    Call arguments:
        inputs: images ``(N, H, W, C)``.
        training: flip only when True.

    Returns:
        float32 array of the input's shape.

    Example:
        >>> RandomFlip("horizontal", seed=1)(np.ones((2, 3, 3, 1), np.float32), training=True).shape
        (2, 3, 3, 1)
    """

    supports_masking = False

    def __init__(self, mode: str = "horizontal_and_vertical", seed: Optional[int] = None, data_format: Optional[str] = None, **kwargs: Any):
        super().__init__(**kwargs)
        who = f"RandomFlip '{self.name}'"
        if mode not in _FLIP_MODES:
            raise ValueError(f"{who}: mode must be one of {list(_FLIP_MODES)}. Received: mode={mode!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise TypeError(f"{who}: seed must be an integer or None. Received: seed={seed!r}")
        self.mode = mode
        self.seed = None if seed is None else int(seed)
        self.data_format = _check_data_format(who, data_format)
        self._rng = np.random.default_rng(self.seed)

    def _flip(self, x: np.ndarray, flips: tuple) -> np.ndarray:
        rows, cols = flips
        y = np.array(x, dtype=np.float32, copy=True)
        y[rows] = y[rows, ::-1]
        y[cols] = y[cols][:, :, ::-1]
        return y

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x = np.asarray(x, dtype=np.float32)
        _check_images(f"RandomFlip '{self.name}'", x)
        if not training:
            return x, None
        flips = self._rng.random(x.shape[0]) <= 0.5
        none = np.zeros_like(flips)
        cols = flips if self.mode != "vertical" else none
        rows = flips if self.mode != "horizontal" else none
        return self._flip(x, (rows, cols)), (rows, cols)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        if not need_dx:
            return None
        if ctx is None:
            return np.asarray(dy, dtype=np.float32)
        return self._flip(dy, ctx)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(mode=self.mode, seed=self.seed, data_format=self.data_format)
        return config


class Pipeline(_Wrapper):
    """Applies a list of layers one after another (Keras 3 ``Pipeline``), e.g. a chain of
    preprocessing or data augmentation layers.

    Unlike a ``Sequential`` model it is a plain layer: it can sit in a model, its weights are
    those of its layers, and the gradient flows back through them in reverse order. Called
    directly on data without ``training``, it runs in training mode (random augmentations
    apply), as Keras's ``Pipeline`` does; in ``predict`` and ``evaluate`` it runs in
    inference mode.

    Args:
        layers: a list or tuple of layers (may be empty: the input is returned).

    Call arguments:
        inputs: the first layer's input.

    Returns:
        The last layer's output.

    Raises:
        ValueError: layers is not a list or tuple of pynncore layers.

    Example:
        >>> Pipeline([Rescaling(2.0), Rescaling(1.0, offset=1.0)])(np.ones((2, 3)))
        array([[3., 3., 3.],
               [3., 3., 3.]], dtype=float32)
    """

    def __init__(self, layers: Any, **kwargs: Any):
        who = "Pipeline"
        if not isinstance(layers, (list, tuple)):
            raise ValueError(f"{who}: layers must be a list or tuple of layers. Received: layers of type {type(layers).__name__}")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise ValueError(f"{who}: layers must all be pynncore layers. Received: {type(layer).__name__} at index {i}")
        self._pipeline_layers = list(layers)
        super().__init__(**kwargs)
        if not self.trainable:
            self.trainable = False
        if all(layer.built for layer in self._pipeline_layers):
            self._sync_weights()

    @property
    def layers(self) -> list:
        return list(self._pipeline_layers)

    def _inner_layers(self) -> list:
        return self._pipeline_layers

    def build(self, input_shape: Any) -> None:
        shape = input_shape
        for layer in self._pipeline_layers:
            layer._maybe_build(shape)
            shape = layer.compute_output_shape(shape)
        self._sync_weights()
        self.built = True

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = input_shape
        for layer in self._pipeline_layers:
            shape = layer.compute_output_shape(shape)
        return shape

    def _check_input(self, x: Any, what: str = "input") -> Any:
        # The first layer checks (and converts) its own input.
        return self._pipeline_layers[0]._check_input(x) if self._pipeline_layers else super()._check_input(x, what)

    def __call__(self, inputs: Any, training: Optional[bool] = None, **kwargs: Any) -> Any:
        return super().__call__(inputs, training=True if training is None else training, **kwargs)

    def forward(self, x: Any, training: bool = False) -> tuple:
        ctxs = []
        for layer in self._pipeline_layers:
            x, ctx = layer.forward(x, training=training)
            ctxs.append(ctx)
        return x, ctxs

    def backward(self, ctx: Any, dy: Any, need_dx: bool = True) -> Any:
        n = len(self._pipeline_layers)
        for i in range(n - 1, -1, -1):
            dy = self._pipeline_layers[i].backward(ctx[i], dy, need_dx=need_dx or i > 0)
        return dy if need_dx else None

    def get_config(self) -> dict:
        from pynncore.saving import serialize_layer

        config = super().get_config()
        config["layers"] = [serialize_layer(layer) for layer in self._pipeline_layers]
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Pipeline":
        from pynncore.saving import deserialize_layer

        config = dict(config)
        layers = config.pop("layers", None)
        if not isinstance(layers, (list, tuple)):
            raise ValueError(f"Pipeline: config must hold a list of serialized layers under 'layers'. Received: layers={layers!r}")
        return cls([deserialize_layer(spec) for spec in layers], **config)


# -- spectrograms ---------------------------------------------------------------------------

_STFT_MODES = ("log", "magnitude", "psd", "real", "imag", "angle", "stft")
_WINDOWS = ("hann", "hamming", "blackman", "boxcar")
_WINDOW_ALIASES = {"hanning": "hann", "ones": "boxcar", "rect": "boxcar", "rectangular": "boxcar"}


def _check_window(who: str, window: Any, names: tuple, length: int, length_name: str) -> Any:
    """A window argument: one of ``names`` (or an alias of one), None, or ``length`` finite
    numbers (returned as a list of floats)."""
    if isinstance(window, str):
        window = _WINDOW_ALIASES.get(window, window)
        if window not in names:
            raise ValueError(f"{who}: window must be one of {list(names)}, a list of numbers or None. Received: window={window!r}")
        return window
    if window is None:
        return None
    w = np.asarray(window)
    if w.dtype.kind not in "iuf" or w.shape != (length,) or not np.isfinite(w).all():
        raise ValueError(
            f"{who}: window must be a name, None or {length} finite numbers ({length_name}). "
            f"Received: window of shape {w.shape} and dtype {w.dtype}"
        )
    return [float(v) for v in w]


def _window(name: str, length: int, periodic: bool) -> np.ndarray:
    """The named window of ``length`` samples (symmetric, or periodic: the first ``length``
    samples of the symmetric window of ``length + 1``), as ``scipy.signal.get_window``."""
    if name == "boxcar" or length == 1:
        return np.ones(length)
    m = length + 1 if periodic else length
    phase = 2.0 * np.pi * np.arange(m) / (m - 1)
    if name == "hann":
        w = 0.5 - 0.5 * np.cos(phase)
    elif name == "hamming":
        w = 0.54 - 0.46 * np.cos(phase)
    else:  # blackman
        w = 0.42 - 0.5 * np.cos(phase) + 0.08 * np.cos(2.0 * phase)
    return w[:length]


def _stft_kernels(frame_length: int, fft_length: int, window: Any, scaling: Optional[str], periodic: bool) -> tuple:
    """Keras's STFT initializer: ``(real, imag)`` kernels ``(frame_length, 1, fft_length//2 + 1)``
    with ``real[t, f] = cos(-2 pi t f / fft_length) w[t] / s`` and ``imag`` with ``sin``,
    ``s`` = the window's L2 norm (density), its L1 norm (spectrum) or 1."""
    bins = fft_length // 2 + 1
    arg = -2.0 * np.pi * np.outer(np.arange(frame_length), np.arange(bins)) / ((bins - 1) * 2)
    real, imag = np.cos(arg), np.sin(arg)
    if window is not None:
        w = _window(window, frame_length, periodic) if isinstance(window, str) else np.asarray(window, np.float64)
        scale = 1.0
        if scaling == "density":
            scale = np.sqrt(np.sum(w * w))
        elif scaling == "spectrum":
            scale = np.sum(np.abs(w))
        real, imag = real * w[:, None] / scale, imag * w[:, None] / scale
    return real.reshape(frame_length, 1, bins), imag.reshape(frame_length, 1, bins)


class STFTSpectrogram(Layer):
    """Short-time Fourier transform of 1D signals as a layer (Keras 3 ``STFTSpectrogram``).

    Each channel is cut into frames of ``frame_length`` samples every ``frame_step`` samples;
    each frame is multiplied by the window and transformed by the real DFT of size
    ``fft_length`` (``F = fft_length // 2 + 1`` bins), held in the weights ``real_kernel`` and
    ``imag_kernel`` ``(frame_length, 1, F)``, trainable as in Keras. With the real part ``R``
    and imaginary part ``I`` of the transform, ``mode`` gives ``R`` ("real"), ``I``
    ("imag"), ``atan2(I, R)`` ("angle"), ``[R, I]`` along the frequency axis ("stft", 2F
    bins), ``R^2 + I^2`` with the bins other than the first and last doubled ("psd"),
    ``sqrt(max(R^2 + I^2, 1e-7))`` ("magnitude") or its logarithm ("log").

    Args:
        mode: one of "log", "magnitude", "psd", "real", "imag", "angle", "stft".
        frame_length: samples per frame (window length).
        frame_step: samples between frames, in ``[1, frame_length]``; default ``frame_length // 2``.
        fft_length: DFT size, >= frame_length; default the next power of two.
        window: "hann", "hamming", "blackman", "boxcar", a list of ``frame_length``
            numbers, or None (no window).
        periodic: periodic instead of symmetric named window.
        scaling: "density" (divide by the window's L2 norm), "spectrum" (by its L1 norm) or None.
        padding: "valid" or "same" (zero padding as a strided convolution's).
        expand_dims: keep frequency and channels as separate axes.
        data_format: "channels_last" ``(N, T, C)`` or "channels_first" ``(N, C, T)``.

    Call arguments:
        inputs: float array ``(N, T, C)`` (channels_last) or ``(N, C, T)``.

    Returns:
        float32 ``(N, T', C * F)`` (channels_last), ``(N, C * F, T')`` (channels_first), or
        with expand_dims ``(N, T', F, C)`` / ``(N, C, T', F)``.

    Raises:
        ValueError: an argument outside the values above, inputs not of rank 3.
        TypeError: inputs that are not floating point.

    Example:
        >>> STFTSpectrogram(mode="magnitude", frame_length=8, frame_step=4)(np.ones((2, 32, 1))).shape
        (2, 7, 5)
    """

    def __init__(
        self,
        mode: str = "log",
        frame_length: int = 256,
        frame_step: Optional[int] = None,
        fft_length: Optional[int] = None,
        window: Any = "hann",
        periodic: bool = False,
        scaling: Optional[str] = "density",
        padding: str = "valid",
        expand_dims: bool = False,
        data_format: Optional[str] = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        who = f"STFTSpectrogram '{self.name}'"
        if mode not in _STFT_MODES:
            raise ValueError(f"{who}: mode must be one of {list(_STFT_MODES)}. Received: mode={mode!r}")
        frame_length = _check_size(who, "frame_length", frame_length)
        if frame_step is not None:
            frame_step = _check_size(who, "frame_step", frame_step)
            if frame_step > frame_length:
                raise ValueError(
                    f"{who}: frame_step must be a positive integer not greater than frame_length={frame_length}. "
                    f"Received: frame_step={frame_step}"
                )
        if fft_length is not None:
            fft_length = _check_size(who, "fft_length", fft_length)
            if fft_length < frame_length:
                raise ValueError(
                    f"{who}: fft_length must be >= frame_length={frame_length}. Received: fft_length={fft_length}"
                )
        window = _check_window(who, window, _WINDOWS, frame_length, "frame_length")
        if scaling not in (None, "density", "spectrum"):
            raise ValueError(f"{who}: scaling must be None, 'density' or 'spectrum'. Received: scaling={scaling!r}")
        if padding not in ("valid", "same"):
            raise ValueError(f"{who}: padding must be 'valid' or 'same'. Received: padding={padding!r}")
        if data_format is None:
            data_format = "channels_last"
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(
                f"{who}: data_format must be 'channels_last' or 'channels_first'. Received: data_format={data_format!r}"
            )
        for name, flag in (("periodic", periodic), ("expand_dims", expand_dims)):
            if not isinstance(flag, (bool, np.bool_)):
                raise ValueError(f"{who}: {name} must be a bool. Received: {name}={flag!r}")
        self.mode = mode
        self.frame_length = frame_length
        self.frame_step = frame_step
        self._frame_step = frame_step or frame_length // 2 or 1
        self.fft_length = fft_length
        self._fft_length = fft_length or 2 ** int(np.ceil(np.log2(frame_length)))
        self.window = window
        self.periodic = bool(periodic)
        self.scaling = scaling
        self.padding = padding
        self.expand_dims = bool(expand_dims)
        self.data_format = data_format
        self.real_kernel = None
        self.imag_kernel = None

    def build(self, input_shape: tuple) -> None:
        if len(input_shape) != 3:
            raise ValueError(
                f"STFTSpectrogram '{self.name}': expected inputs of rank 3. Received: shape={shape_str(input_shape)}"
            )
        real, imag = _stft_kernels(self.frame_length, self._fft_length, self.window, self.scaling, self.periodic)
        shape = real.shape
        if self.mode != "imag":
            self.real_kernel = self.add_weight("real_kernel", shape, initializer="zeros")
            self.real_kernel.value[...] = real
        if self.mode != "real":
            self.imag_kernel = self.add_weight("imag_kernel", shape, initializer="zeros")
            self.imag_kernel.value[...] = imag
        self.built = True

    def _frames_count(self, length: Optional[int]) -> Optional[int]:
        if length is None:
            return None
        if self.padding == "same":
            return -(-length // self._frame_step)
        return max((length - self.frame_length) // self._frame_step + 1, 0)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        n = input_shape[0]
        if self.data_format == "channels_last":
            length, channels = input_shape[1], input_shape[2]
        else:
            channels, length = input_shape[1], input_shape[2]
        bins = (self._fft_length // 2 + 1) * (2 if self.mode == "stft" else 1)
        frames = self._frames_count(length)
        if self.expand_dims:
            return (n, frames, bins, channels) if self.data_format == "channels_last" else (n, channels, frames, bins)
        flat = None if channels is None else channels * bins
        return (n, frames, flat) if self.data_format == "channels_last" else (n, flat, frames)

    def _check_input(self, x: Any, what: str = "input") -> np.ndarray:
        arr = np.asarray(x)
        if arr.dtype.kind != "f":
            raise TypeError(
                f"STFTSpectrogram '{self.name}': expected float16, float32 or float64 inputs. Received: dtype={arr.dtype}"
            )
        return np.ascontiguousarray(arr, dtype=np.float32)

    def _frame_index(self, length: int) -> tuple:
        """``(left padding, padded length, frame starts)`` for signals of ``length`` samples."""
        frames = self._frames_count(length)
        left, total = 0, length
        if self.padding == "same":
            pad = max((frames - 1) * self._frame_step + self.frame_length - length, 0)
            left, total = pad // 2, length + pad
        return left, total, np.arange(frames) * self._frame_step

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x = self._check_input(x)
        if x.ndim != 3:
            raise ValueError(f"STFTSpectrogram '{self.name}': expected inputs of rank 3. Received: shape={x.shape}")
        signal = x.transpose(0, 2, 1) if self.data_format == "channels_last" else x  # (N, C, T)
        n, c, length = signal.shape
        left, total, starts = self._frame_index(length)
        padded = np.zeros((n, c, total), np.float64)
        padded[:, :, left:left + length] = signal
        frames = padded[:, :, starts[:, None] + np.arange(self.frame_length)]  # (N, C, T', L)
        real = frames @ self.real_kernel.value[:, 0, :].astype(np.float64) if self.real_kernel is not None else None
        imag = frames @ self.imag_kernel.value[:, 0, :].astype(np.float64) if self.imag_kernel is not None else None
        if self.mode == "real":
            out = real
        elif self.mode == "imag":
            out = imag
        elif self.mode == "angle":
            out = np.arctan2(imag, real)
        elif self.mode == "stft":
            out = np.concatenate([real, imag], axis=-1)
        else:
            power = real * real + imag * imag
            if self.mode == "psd":
                out = power * self._psd_weights(power.shape[-1])
            else:
                out = np.sqrt(np.maximum(power, _EPSILON))
                if self.mode == "log":
                    out = np.log(np.maximum(out, _EPSILON))
        ctx = (x.shape, left, starts, frames, real, imag) if training else None
        return self._to_output(out).astype(np.float32), ctx

    @staticmethod
    def _psd_weights(bins: int) -> np.ndarray:
        w = np.full(bins, 2.0)
        w[0] = 1.0
        w[-1] = 1.0
        return w

    def _to_output(self, y: np.ndarray) -> np.ndarray:
        """``(N, C, T', B)`` to the output layout."""
        n, c, t, b = y.shape
        if self.data_format == "channels_last":
            if self.expand_dims:
                return np.ascontiguousarray(y.transpose(0, 2, 3, 1))
            return np.ascontiguousarray(y.transpose(0, 2, 1, 3)).reshape(n, t, c * b)
        if self.expand_dims:
            return np.ascontiguousarray(y)
        return np.ascontiguousarray(y.transpose(0, 1, 3, 2)).reshape(n, c * b, t)

    def _from_output(self, dy: np.ndarray, shape: tuple) -> np.ndarray:
        """The inverse of ``_to_output``: a gradient in the output layout as ``(N, C, T', B)``."""
        n, c, t, b = shape
        if self.data_format == "channels_last":
            if self.expand_dims:
                return dy.transpose(0, 3, 1, 2)
            return dy.reshape(n, t, c, b).transpose(0, 2, 1, 3)
        if self.expand_dims:
            return dy
        return dy.reshape(n, c, b, t).transpose(0, 1, 3, 2)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        x_shape, left, starts, frames, real, imag = ctx
        some = real if real is not None else imag
        bins = some.shape[-1] * (2 if self.mode == "stft" else 1)
        g = self._from_output(np.asarray(dy, np.float64), some.shape[:3] + (bins,))
        d_real = d_imag = None
        if self.mode == "real":
            d_real = g
        elif self.mode == "imag":
            d_imag = g
        elif self.mode == "stft":
            d_real, d_imag = g[..., : bins // 2], g[..., bins // 2:]
        elif self.mode == "angle":
            power = real * real + imag * imag
            safe = np.where(power > 0, power, 1.0)
            d_real = np.where(power > 0, -g * imag / safe, 0.0)
            d_imag = np.where(power > 0, g * real / safe, 0.0)
        else:
            power = real * real + imag * imag
            if self.mode == "psd":
                d_power = g * self._psd_weights(power.shape[-1])
            else:
                mag = np.sqrt(np.maximum(power, _EPSILON))
                if self.mode == "log":
                    g = g / mag
                d_power = np.where(power > _EPSILON, g / (2.0 * mag), 0.0)
            d_real, d_imag = 2.0 * real * d_power, 2.0 * imag * d_power
        d_frames = 0.0
        for kernel, d in ((self.real_kernel, d_real), (self.imag_kernel, d_imag)):
            if kernel is None or d is None:
                continue
            if kernel.trainable and self.trainable:
                kernel.grad[:, 0, :] += np.einsum("nctl,nctb->lb", frames, d).astype(np.float32)
            if need_dx:
                d_frames = d_frames + d @ kernel.value[:, 0, :].astype(np.float64).T
        if not need_dx:
            return None
        n = x_shape[0]
        length = x_shape[1] if self.data_format == "channels_last" else x_shape[2]
        channels = x_shape[2] if self.data_format == "channels_last" else x_shape[1]
        end = starts[-1] + self.frame_length if len(starts) else 0
        padded = np.zeros((n, channels, max(left + length, end)))
        if np.ndim(d_frames):
            for j in range(self.frame_length):
                padded[:, :, starts + j] += d_frames[..., j]
        dx = padded[:, :, left:left + length]
        if self.data_format == "channels_last":
            dx = dx.transpose(0, 2, 1)
        return np.ascontiguousarray(dx, dtype=np.float32)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            mode=self.mode, frame_length=self.frame_length, frame_step=self.frame_step, fft_length=self.fft_length,
            window=self.window, periodic=self.periodic, scaling=self.scaling, padding=self.padding,
            data_format=self.data_format, expand_dims=self.expand_dims,
        )
        return config


_MEL_BREAK_HZ = 700.0
_MEL_HIGH_Q = 1127.0  # HTK mel scale: mel(f) = 1127 ln(1 + f / 700)


def _hertz_to_mel(f: Any) -> Any:
    return _MEL_HIGH_Q * np.log(1.0 + np.asarray(f, np.float64) / _MEL_BREAK_HZ)


def _mel_matrix(num_mel_bins: int, num_spectrogram_bins: int, sampling_rate: float, lower: float, upper: float) -> np.ndarray:
    """Keras's ``linear_to_mel_weight_matrix`` ``(num_spectrogram_bins, num_mel_bins)``:
    triangular filters of peak 1, evenly spaced on the HTK mel scale between ``lower`` and
    ``upper`` hertz; the DC bin gets no weight."""
    freqs = np.linspace(0.0, sampling_rate / 2.0, num_spectrogram_bins)[1:]
    mel = _hertz_to_mel(freqs)[:, None]
    edges = np.linspace(_hertz_to_mel(lower), _hertz_to_mel(upper), num_mel_bins + 2)
    lo, center, hi = edges[None, :-2], edges[None, 1:-1], edges[None, 2:]
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = np.maximum(0.0, np.minimum((mel - lo) / (center - lo), (hi - mel) / (hi - center)))
    return np.concatenate([np.zeros((1, num_mel_bins)), weights], axis=0)


def _check_positive_number(who: str, name: str, value: Any, allow_zero: bool = False) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating)) and np.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        expected = "a finite number >= 0" if allow_zero else "a finite number > 0"
        raise ValueError(f"{who}: {name} must be {expected}. Received: {name}={value!r}")
    return value


class MelSpectrogram(Layer):
    """Mel-scaled spectrogram of 1D signals (Keras 3 ``MelSpectrogram``).

    The signal is padded by ``fft_length // 2`` samples on each side by reflection, cut into
    frames of ``fft_length`` samples every ``sequence_stride`` samples, multiplied by the
    periodic window of ``sequence_length`` samples (centred in the frame, zeros around it) and
    transformed by the real DFT; ``|X| ** mag_exp`` is mapped onto ``num_mel_bins`` HTK mel
    filters between ``min_freq`` and ``max_freq`` hertz. With ``power_to_db`` the result is
    ``10 log10(max(m, min_power)) - 10 log10(max(|ref_power|, min_power))``, floored at the
    largest value of the whole batch minus ``top_db`` (as in Keras, the floor depends on
    every sample of the batch).

    Args:
        fft_length: DFT size and frame length (>= 1).
        sequence_stride: samples between frames (>= 1).
        sequence_length: window length, <= fft_length; default fft_length.
        window: "hann", "hamming", a list of ``sequence_length`` numbers, or None.
        sampling_rate: samples per second of the signal (> 0).
        num_mel_bins: number of mel filters (>= 1).
        min_freq: lower edge of the lowest filter in hertz (>= 0).
        max_freq: upper edge of the highest filter in hertz; default ``int(sampling_rate / 2)``.
        power_to_db: convert to decibels.
        top_db: dynamic range kept by power_to_db (>= 0).
        mag_exp: exponent of the magnitude (1 magnitude, 2 power; > 0).
        min_power: smallest power before the logarithm (> 0).
        ref_power: power that maps to 0 dB.

    Call arguments:
        inputs: float array ``(N, T)`` or ``(T,)``.

    Returns:
        float32 ``(N, num_mel_bins, 1 + T // sequence_stride)`` (without N for ``(T,)``
        inputs; the frame count is ``1 + (T + 2 (fft_length // 2) - fft_length) // sequence_stride``).

    Raises:
        ValueError: an argument outside the values above, inputs not of rank 1 or 2.
        TypeError: inputs that are not floating point.

    Example:
        >>> MelSpectrogram(fft_length=64, sequence_stride=16, num_mel_bins=8)(np.ones((2, 128))).shape
        (2, 8, 9)
    """

    def __init__(
        self,
        fft_length: int = 2048,
        sequence_stride: int = 512,
        sequence_length: Optional[int] = None,
        window: Any = "hann",
        sampling_rate: float = 16000,
        num_mel_bins: int = 128,
        min_freq: float = 20.0,
        max_freq: Optional[float] = None,
        power_to_db: bool = True,
        top_db: float = 80.0,
        mag_exp: float = 2.0,
        min_power: float = 1e-10,
        ref_power: float = 1.0,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        who = f"MelSpectrogram '{self.name}'"
        fft_length = _check_size(who, "fft_length", fft_length)
        sequence_stride = _check_size(who, "sequence_stride", sequence_stride)
        sequence_length = fft_length if sequence_length is None else _check_size(who, "sequence_length", sequence_length)
        if sequence_length > fft_length:
            raise ValueError(
                f"{who}: fft_length must be >= sequence_length. Received: sequence_length={sequence_length}, "
                f"fft_length={fft_length}"
            )
        window = _check_window(who, window, ("hann", "hamming"), sequence_length, "sequence_length")
        sampling_rate = _check_positive_number(who, "sampling_rate", sampling_rate)
        num_mel_bins = _check_size(who, "num_mel_bins", num_mel_bins)
        min_freq = _check_positive_number(who, "min_freq", min_freq, allow_zero=True)
        max_freq = int(sampling_rate / 2) if max_freq is None else _check_positive_number(who, "max_freq", max_freq)
        if max_freq <= min_freq:
            raise ValueError(f"{who}: max_freq must be greater than min_freq={min_freq}. Received: max_freq={max_freq!r}")
        if not isinstance(power_to_db, (bool, np.bool_)):
            raise ValueError(f"{who}: power_to_db must be a bool. Received: power_to_db={power_to_db!r}")
        self.fft_length = fft_length
        self.sequence_stride = sequence_stride
        self.sequence_length = sequence_length
        self.window = window
        self.sampling_rate = sampling_rate
        self.num_mel_bins = num_mel_bins
        self.min_freq = min_freq
        self.max_freq = max_freq
        self.power_to_db = bool(power_to_db)
        self.top_db = _check_positive_number(who, "top_db", top_db, allow_zero=True)
        self.mag_exp = _check_positive_number(who, "mag_exp", mag_exp)
        self.min_power = _check_positive_number(who, "min_power", min_power)
        if isinstance(ref_power, bool) or not isinstance(ref_power, (int, float, np.integer, np.floating)) or not np.isfinite(ref_power):
            raise ValueError(f"{who}: ref_power must be a finite number. Received: ref_power={ref_power!r}")
        self.ref_power = ref_power
        self._tables = None

    def _frames_count(self, length: Optional[int]) -> Optional[int]:
        if length is None:
            return None
        half = self.fft_length // 2
        return 1 + (length + 2 * half - self.fft_length) // self.sequence_stride

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        if len(input_shape) == 1:
            return (self.num_mel_bins, self._frames_count(input_shape[0]))
        return (input_shape[0], self.num_mel_bins, self._frames_count(input_shape[1]))

    def _check_input(self, x: Any, what: str = "input") -> np.ndarray:
        arr = np.asarray(x)
        if arr.dtype.kind != "f":
            raise TypeError(f"MelSpectrogram '{self.name}': expected float32 or float64 inputs. Received: dtype={arr.dtype}")
        return np.ascontiguousarray(arr, dtype=np.float32)

    def _get_tables(self) -> tuple:
        """``(cos, -sin, mel)``: the real-DFT matrices ``(fft_length, F)`` with the window
        folded in, and the mel matrix ``(F, num_mel_bins)``."""
        if self._tables is None:
            n = self.fft_length
            bins = n // 2 + 1
            if self.window is None:
                w = np.ones(self.sequence_length)
            elif isinstance(self.window, str):
                w = _window(self.window, self.sequence_length, periodic=True)
            else:
                w = np.asarray(self.window, np.float64)
            left = (n - self.sequence_length) // 2
            full = np.zeros(n)
            full[left:left + self.sequence_length] = w
            arg = 2.0 * np.pi * np.outer(np.arange(n), np.arange(bins)) / n
            mel = _mel_matrix(self.num_mel_bins, bins, float(self.sampling_rate), float(self.min_freq), float(self.max_freq))
            self._tables = (np.cos(arg) * full[:, None], -np.sin(arg) * full[:, None], mel)
        return self._tables

    def _padded_index(self, length: int) -> np.ndarray:
        """Index into the signal of each sample of the reflection-padded signal."""
        half = self.fft_length // 2
        idx = np.arange(-half, length + half)
        period = 2 * (length - 1)
        if period == 0:
            return np.zeros_like(idx)
        idx = np.abs(idx) % period
        return np.where(idx >= length, period - idx, idx)

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        who = f"MelSpectrogram '{self.name}'"
        x = self._check_input(x)
        if x.ndim not in (1, 2):
            raise ValueError(f"{who}: expected inputs of rank 1 or 2. Received: shape={x.shape}")
        sig = x.astype(np.float64).reshape(-1, x.shape[-1])
        length = sig.shape[1]
        frames_n = self._frames_count(length)
        if length < 1 or frames_n < 1:
            raise ValueError(f"{who}: expected signals of at least {self.fft_length // 2 + 1} samples. Received: shape={x.shape}")
        cos, sin, mel = self._get_tables()
        index = self._padded_index(length)[np.arange(frames_n)[:, None] * self.sequence_stride + np.arange(self.fft_length)]
        frames = sig[:, index]  # (N, frames, fft_length)
        re, im = frames @ cos, frames @ sin
        mag = np.sqrt(re * re + im * im)
        spec = mag ** self.mag_exp
        m = spec @ mel
        out = m
        keep = None
        if self.power_to_db:
            ref = max(abs(float(self.ref_power)), self.min_power)
            db = 10.0 * np.log10(np.maximum(m, self.min_power)) - 10.0 * np.log10(ref)
            floor = db.max() - self.top_db
            keep = db >= floor
            out = np.where(keep, db, floor)
        y = np.swapaxes(out, -1, -2).astype(np.float32)
        if x.ndim == 1:
            y = y[0]
        ctx = (x.shape, index, re, im, mag, m, keep) if training else None
        return np.ascontiguousarray(y), ctx

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        if not need_dx:
            return None
        x_shape, index, re, im, mag, m, keep = ctx
        cos, sin, mel = self._get_tables()
        g = np.swapaxes(np.asarray(dy, np.float64).reshape((-1,) + dy.shape[-2:]), -1, -2)  # (N, frames, mel)
        if keep is not None:
            clamped = float(np.where(keep, 0.0, g).sum())
            g = np.where(keep, g, 0.0)
            # the floor follows the batch's largest value
            top = np.unravel_index(np.argmax(np.where(keep, 10.0 * np.log10(np.maximum(m, self.min_power)), -np.inf)), m.shape)
            g[top] += clamped
            g = np.where(m > self.min_power, g * 10.0 / (np.log(10.0) * np.where(m > 0, m, 1.0)), 0.0)
        d_spec = g @ mel.T
        safe = np.where(mag > 0, mag, 1.0)
        d_mag = np.where(mag > 0, d_spec * self.mag_exp * safe ** (self.mag_exp - 1.0), 0.0)
        d_re, d_im = d_mag * re / safe, d_mag * im / safe
        d_frames = d_re @ cos.T + d_im @ sin.T  # (N, frames, fft_length)
        length = x_shape[-1]
        dx = np.zeros((d_frames.shape[0], length))
        np.add.at(dx, (slice(None), index.reshape(-1)), d_frames.reshape(d_frames.shape[0], -1))
        return dx.reshape(x_shape).astype(np.float32)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            fft_length=self.fft_length, sequence_stride=self.sequence_stride, sequence_length=self.sequence_length,
            window=self.window, sampling_rate=self.sampling_rate, num_mel_bins=self.num_mel_bins, min_freq=self.min_freq,
            max_freq=self.max_freq, power_to_db=self.power_to_db, top_db=self.top_db, mag_exp=self.mag_exp,
            min_power=self.min_power, ref_power=self.ref_power,
        )
        return config
