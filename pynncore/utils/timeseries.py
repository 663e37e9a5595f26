"""Sliding windows over a timeseries, as batches for ``fit`` / ``evaluate`` / ``predict``
(Keras 3 ``keras.utils.timeseries_dataset_from_array``)."""

from __future__ import annotations

from typing import Any, Iterator, Optional

import numpy as np

from pynncore.utils.dataset import PyDataset

__all__ = ["TimeseriesDataset", "timeseries_dataset_from_array"]


def _int_arg(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"timeseries_dataset_from_array: {name} must be an integer. Received: {name}={value!r}")
    if value < minimum:
        raise ValueError(
            f"timeseries_dataset_from_array: {name} must be {minimum} or greater. Received: {name}={value}"
        )
    return int(value)


class TimeseriesDataset(PyDataset):
    """Batches of windows ``data[start + p + k * sampling_rate]``, ``k < sequence_length``,
    for the window starts ``p`` (relative to ``start``), with ``targets[start + p]`` when
    there are targets. Made by :func:`timeseries_dataset_from_array`.

    ``len(ds)`` is the number of batches, ``ds[i]`` batch ``i`` (``x`` or ``(x, y)``), and
    iterating gives the batches in order. With ``batch_size=None`` each item is one window.
    """

    def __init__(
        self,
        data: np.ndarray,
        targets: Optional[np.ndarray],
        positions: np.ndarray,
        start: int,
        sequence_length: int,
        sampling_rate: int,
        batch_size: Optional[int],
    ):
        super().__init__()
        self.data, self.targets, self.positions, self.start = data, targets, positions, start
        self.sequence_length, self.sampling_rate, self.batch_size = sequence_length, sampling_rate, batch_size
        self._offsets = np.arange(sequence_length, dtype=np.int64) * sampling_rate

    def __len__(self) -> int:
        n = len(self.positions)
        return n if self.batch_size is None else -(-n // self.batch_size)

    def __getitem__(self, index: int) -> Any:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"TimeseriesDataset: index must be an integer. Received: {index!r}")
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"TimeseriesDataset: batch index {index} out of range for {n} batches")
        if self.batch_size is None:
            starts = self.start + self.positions[index]
            x = self.data[starts + self._offsets]
            return x if self.targets is None else (x, self.targets[starts])
        starts = self.start + self.positions[index * self.batch_size : (index + 1) * self.batch_size]
        x = self.data[starts[:, None] + self._offsets[None, :]]
        return x if self.targets is None else (x, self.targets[starts])

    def __iter__(self) -> Iterator[Any]:
        for i in range(len(self)):
            yield self[i]


def timeseries_dataset_from_array(
    data: Any,
    targets: Any,
    sequence_length: int,
    sequence_stride: int = 1,
    sampling_rate: int = 1,
    batch_size: Optional[int] = 128,
    shuffle: bool = False,
    seed: Optional[int] = None,
    start_index: Optional[int] = None,
    end_index: Optional[int] = None,
) -> TimeseriesDataset:
    """Sliding windows over a timeseries, batched for ``fit`` / ``evaluate`` / ``predict``.

    Window ``i`` starts at ``p_i = start_index + i * sequence_stride`` and holds the steps
    ``data[p_i], data[p_i + sampling_rate], ...`` (``sequence_length`` of them), all before
    ``end_index``; its target is ``targets[p_i]``. The number of windows is at most
    ``len(targets)``. These are Keras 3's windows. With ``shuffle`` the window starts are
    permuted once by ``np.random.RandomState(seed).shuffle``, as Keras does before it
    shuffles again inside a buffer; that second shuffle (TensorFlow's) is not reproduced.

    Args:
        data: array of the timesteps, time on axis 0: ``(T, ...)``.
        targets: array with ``targets[i]`` the target of the window starting at step ``i``,
            or None for inputs only.
        sequence_length: steps in a window.
        sequence_stride: steps between the starts of successive windows.
        sampling_rate: steps between successive samples of a window.
        batch_size: windows per batch (the last may be smaller); None yields single windows.
        shuffle: whether to draw the windows in random order instead of in time order.
        seed: seed for ``shuffle`` (None: a random one).
        start_index: first step used (default 0).
        end_index: steps from this one on are not used (default ``len(data)``).

    Returns:
        A :class:`TimeseriesDataset` of ``(x, y)`` batches, ``x`` of shape
        ``(batch, sequence_length, ...)``; only ``x`` when ``targets`` is None.

    Raises:
        TypeError: an argument of the wrong type.
        ValueError: ``start_index``/``end_index`` outside the data or out of order,
            ``sampling_rate``/``sequence_stride`` not in ``[1, len(data))``, non-positive
            ``sequence_length`` or ``batch_size``, or data without a time axis.

    Example:
        >>> import numpy as np
        >>> ds = timeseries_dataset_from_array(np.arange(10), None, sequence_length=3, batch_size=4)
        >>> ds[0]
        array([[0, 1, 2],
               [1, 2, 3],
               [2, 3, 4],
               [3, 4, 5]])
    """
    what = "timeseries_dataset_from_array"
    data = np.asarray(data)
    if data.ndim < 1:
        raise ValueError(f"{what}: data must have a time axis (at least 1 dimension). Received: shape={data.shape}")
    n = len(data)
    if targets is not None:
        targets = np.asarray(targets)
        if targets.ndim < 1:
            raise ValueError(f"{what}: targets must have at least 1 dimension. Received: shape={targets.shape}")
    sequence_length = _int_arg(sequence_length, "sequence_length", 1)
    sequence_stride = _int_arg(sequence_stride, "sequence_stride", 1)
    sampling_rate = _int_arg(sampling_rate, "sampling_rate", 1)
    if batch_size is not None:
        batch_size = _int_arg(batch_size, "batch_size", 1)
    if not isinstance(shuffle, (bool, np.bool_)):
        raise TypeError(f"{what}: shuffle must be a bool. Received: shuffle={shuffle!r}")
    if seed is not None:
        seed = _int_arg(seed, "seed", 0)
    if start_index is not None:
        start_index = _int_arg(start_index, "start_index", 0)
        if start_index >= n:
            raise ValueError(
                f"{what}: start_index must be lower than the length of the data. "
                f"Received: start_index={start_index}, for data of length {n}"
            )
    if end_index is not None:
        end_index = _int_arg(end_index, "end_index", 1)
        if start_index and end_index <= start_index:
            raise ValueError(
                f"{what}: end_index must be higher than start_index. "
                f"Received: start_index={start_index}, and end_index={end_index}"
            )
        if end_index >= n:
            raise ValueError(
                f"{what}: end_index must be lower than the length of the data. "
                f"Received: end_index={end_index}, for data of length {n}"
            )
    for name, value in (("sampling_rate", sampling_rate), ("sequence_stride", sequence_stride)):
        if value >= n:
            raise ValueError(
                f"{what}: {name} must be lower than the length of the data. "
                f"Received: {name}={value}, for data of length {n}"
            )
    start = 0 if start_index is None else start_index
    end = n if end_index is None else end_index
    num_seqs = end - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        num_seqs = min(num_seqs, len(targets) - start)
    positions = np.arange(0, max(num_seqs, 0), sequence_stride, dtype=np.int64)
    if shuffle:
        if seed is None:
            seed = int(np.random.randint(1_000_000))
        np.random.RandomState(seed).shuffle(positions)
    return TimeseriesDataset(data, targets, positions, start, sequence_length, sampling_rate, batch_size)
