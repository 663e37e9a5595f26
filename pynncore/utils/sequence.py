"""Padding variable-length sequences to one length (Keras's ``pad_sequences``)."""

from __future__ import annotations

import numbers
from typing import Any, Optional

import numpy as np

__all__ = ["pad_sequences"]


def pad_sequences(
    sequences: Any,
    maxlen: Optional[int] = None,
    dtype: Any = "int32",
    padding: str = "pre",
    truncating: str = "pre",
    value: Any = 0.0,
) -> np.ndarray:
    """Pads (or truncates) each sequence to ``maxlen`` steps; returns ``(len(sequences), maxlen)``
    plus the steps' own shape.

    Args:
        sequences: a list of sequences (lists or arrays of equal trailing shape).
        maxlen: the length of the result; default the longest sequence.
        dtype: dtype of the result (``"int32"`` by default, as in Keras: pass ``"float32"``
            for real values).
        padding: ``"pre"`` (default) or ``"post"``: where the padding goes.
        truncating: ``"pre"`` (default) or ``"post"``: which end of a longer sequence is cut.
        value: the padding value.

    Raises:
        ValueError: a bad ``padding``/``truncating``/``maxlen``, or steps of different shapes.

    Example:
        >>> pad_sequences([[1, 2, 3], [4]], maxlen=2).tolist()
        [[2, 3], [0, 4]]
    """
    if padding not in ("pre", "post"):
        raise ValueError(f"pad_sequences: padding must be 'pre' or 'post'. Received: padding={padding!r}")
    if truncating not in ("pre", "post"):
        raise ValueError(f"pad_sequences: truncating must be 'pre' or 'post'. Received: truncating={truncating!r}")
    if not hasattr(sequences, "__len__"):
        raise ValueError(f"pad_sequences: sequences must be a list of sequences. Received: {type(sequences).__name__}")
    seqs = []
    for i, s in enumerate(sequences):
        if not hasattr(s, "__len__"):
            raise ValueError(
                f"pad_sequences: sequence {i} must be a list or array. Received: {type(s).__name__}"
            )
        seqs.append(np.asarray(s))
    if maxlen is None:
        maxlen = max((len(s) for s in seqs), default=0)
    elif isinstance(maxlen, bool) or not isinstance(maxlen, numbers.Integral) or maxlen < 0:
        raise ValueError(f"pad_sequences: maxlen must be None or an integer >= 0. Received: maxlen={maxlen!r}")
    sample_shape: tuple = ()
    for s in seqs:
        if len(s):
            sample_shape = s.shape[1:]
            break
    for i, s in enumerate(seqs):
        if len(s) and s.shape[1:] != sample_shape:
            raise ValueError(
                f"pad_sequences: the steps of sequence {i} have shape {s.shape[1:]}, unlike the others' "
                f"{sample_shape}"
            )
    out = np.full((len(seqs), int(maxlen)) + sample_shape, value, dtype=dtype)
    for i, s in enumerate(seqs):
        if not len(s) or not maxlen:
            continue
        cut = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        if padding == "post":
            out[i, : len(cut)] = cut
        else:
            out[i, -len(cut) :] = cut
    return out
