"""Label and array helpers: one-hot encoding and normalisation (numpy in, numpy out)."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

__all__ = ["normalize", "to_categorical"]


def to_categorical(x: Any, num_classes: int | None = None, dtype: Any = "float32") -> np.ndarray:
    """Convert integer class labels to one-hot rows.

    A trailing axis of size 1 is dropped first, as Keras does: labels of shape ``(N, 1)``
    give ``(N, num_classes)``, labels of shape ``(N,)`` give ``(N, num_classes)`` too, and
    labels of shape ``(N, T)`` give ``(N, T, num_classes)``.

    Args:
        x: array-like of integer labels in ``[0, num_classes)``. Floats are accepted only when
            every value is a whole number (``2.0``); booleans count as 0/1.
        num_classes: number of classes; default ``max(x) + 1``.
        dtype: dtype of the result (``float32`` by default).

    Returns:
        An array of shape ``x.shape + (num_classes,)`` (after dropping a trailing 1) with a
        single 1 in each row.

    Raises:
        TypeError: labels that are not numbers, or a `num_classes` that is not an integer.
        ValueError: negative labels, labels with a fractional part, NaN/inf, labels
            ``>= num_classes``, ``num_classes < 1``, or empty `x` without `num_classes`.

    Example:
        >>> to_categorical([0, 2, 1], num_classes=3)
        array([[1., 0., 0.],
               [0., 0., 1.],
               [0., 1., 0.]], dtype=float32)
    """
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"to_categorical: expected integer class labels. Received an array of dtype {arr.dtype}")
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr)
        if bad.any():
            raise ValueError(
                f"to_categorical: expected integer class labels. Received a non-finite label: {arr[bad].flat[0]}"
            )
        frac = arr != np.floor(arr)
        if frac.any():
            raise ValueError(
                f"to_categorical: expected integer class labels. Received a label with a fractional part: "
                f"{arr[frac].flat[0]}"
            )
    if arr.size and arr.min() < 0:
        raise ValueError(f"to_categorical: class labels must be >= 0. Received a label {arr.min()}")
    labels = arr.astype(np.int64)

    shape = labels.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    flat = labels.reshape(-1)

    if num_classes is None:
        if flat.size == 0:
            raise ValueError("to_categorical: cannot infer `num_classes` from empty labels; pass num_classes")
        num_classes = int(flat.max()) + 1
    else:
        if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral):
            raise TypeError(
                f"to_categorical: expected `num_classes` to be an integer. "
                f"Received: num_classes={num_classes!r} of type {type(num_classes).__name__}"
            )
        num_classes = int(num_classes)
        if num_classes < 1:
            raise ValueError(f"to_categorical: expected `num_classes` >= 1. Received: num_classes={num_classes}")
        if flat.size and int(flat.max()) >= num_classes:
            raise ValueError(
                f"to_categorical: class label {int(flat.max())} is out of range for num_classes={num_classes} "
                f"(labels must be in [0, {num_classes - 1}])"
            )

    out = np.zeros((flat.size, num_classes), dtype=dtype)
    out[np.arange(flat.size), flat] = 1
    return out.reshape(shape + (num_classes,))


def normalize(x: Any, axis: int = -1, order: int | float = 2) -> np.ndarray:
    """Divide `x` by its `order`-norm along `axis`; slices whose norm is 0 are left as they are.

    Args:
        x: array-like of real numbers.
        axis: the axis along which norms are taken.
        order: the norm order passed to :func:`numpy.linalg.norm` (2 for L2, 1 for L1).

    Returns:
        A floating-point array of the shape of `x` (float32 input stays float32; integer input
        gives float64, like numpy division).

    Raises:
        TypeError: `x` is not a real numeric array.
        ValueError: `axis` is out of range for `x`.

    Example:
        >>> normalize([[3.0, 4.0]])
        array([[0.6, 0.8]])
    """
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"normalize: expected a real numeric array. Received an array of dtype {arr.dtype}")
    if arr.ndim == 0:
        raise ValueError("normalize: expected an array with at least one axis. Received a 0-d value")
    if not -arr.ndim <= axis < arr.ndim:
        raise ValueError(f"normalize: axis={axis} is out of range for an array of shape {arr.shape}")
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    norms = np.linalg.norm(arr, ord=order, axis=axis, keepdims=True)
    norms = np.where(norms == 0, np.ones_like(norms), norms)
    return arr / norms
