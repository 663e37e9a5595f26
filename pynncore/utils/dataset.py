"""Data given batch by batch: ``PyDataset`` (Keras 3; ``Sequence`` is its Keras 2 name),
Python generators and iterators, and re-iterable objects such as a PyTorch ``DataLoader``.

``fit``, ``evaluate`` and ``predict`` accept any of them in place of arrays. Each batch is
``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``, where ``x`` and ``y`` are whatever the
array form of the call accepts (an array, a list or a dict of arrays). Batches are produced in
the calling thread; ``workers``, ``use_multiprocessing`` and ``max_queue_size`` are accepted for
compatibility and do not start threads or processes.
"""

from __future__ import annotations

import itertools
import warnings
from typing import Any, Iterator, Optional

import numpy as np

__all__ = ["PyDataset", "Sequence", "is_batch_source", "split_dataset"]


class PyDataset:
    """Base class for datasets read batch by batch (Keras 3 ``keras.utils.PyDataset``).

    Subclasses implement ``__getitem__(index)`` returning batch ``index`` and ``__len__``
    returning the number of batches in an epoch; ``on_epoch_begin`` / ``on_epoch_end`` run
    before and after every epoch (shuffle there, for example).

    Example:
        >>> import numpy as np
        >>> class Batches(PyDataset):
        ...     def __init__(self, x, y, batch_size):
        ...         super().__init__()
        ...         self.x, self.y, self.batch_size = x, y, batch_size
        ...     def __len__(self):
        ...         return -(-len(self.x) // self.batch_size)
        ...     def __getitem__(self, i):
        ...         s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        ...         return self.x[s], self.y[s]
        >>> len(Batches(np.zeros((10, 2)), np.zeros(10), 4))
        3
    """

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10):
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__(index)")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__()")

    @property
    def num_batches(self) -> Optional[int]:
        """The number of batches in an epoch (``len(self)``)."""
        return len(self)

    def on_epoch_begin(self) -> None:
        pass

    def on_epoch_end(self) -> None:
        pass


Sequence = PyDataset


_ARRAY_LIKE = (np.ndarray, list, tuple, dict, str, bytes, int, float, complex, bool)


def is_batch_source(x: Any) -> bool:
    """True for objects that give batches rather than samples: a ``PyDataset``, an iterator or
    generator, or an iterable that is not an array (a ``DataLoader``)."""
    if x is None or isinstance(x, _ARRAY_LIKE) or hasattr(x, "__array__") or hasattr(x, "__array_interface__"):
        return False
    if isinstance(x, PyDataset):
        return True
    return hasattr(x, "__next__") or hasattr(x, "__iter__")


def split_batch(batch: Any, what: str) -> tuple:
    """``(x, y, sample_weight)`` of one batch (missing parts are None). A list is read as a
    tuple, as Keras does (a PyTorch ``DataLoader`` gives ``[x, y]``); several inputs go in a
    nested list or dict: ``([x1, x2], y)``."""
    if isinstance(batch, list):
        batch = tuple(batch)
    if isinstance(batch, tuple):
        if not 1 <= len(batch) <= 3:
            raise ValueError(
                f"{what}: a batch must be x, (x,), (x, y) or (x, y, sample_weight). "
                f"Received: a tuple of {len(batch)} items"
            )
        parts = tuple(batch) + (None,) * (3 - len(batch))
        return parts[0], parts[1], parts[2]
    return batch, None, None


class Batches:
    """Epochs of batches from one source.

    Args:
        source: a ``PyDataset``, an iterator/generator, or a re-iterable object.
        steps: batches per epoch; None reads a ``PyDataset`` whole, and other sources until
            they end.
        what: the calling function's name, for messages.
    """

    def __init__(self, source: Any, steps: Optional[int], what: str, warn_exhausted: bool = False):
        if steps is not None:
            if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
                raise ValueError(f"{what}: the number of steps must be a positive integer. Received: {steps!r}")
            steps = int(steps)
        self.source = source
        self.what = what
        self.is_dataset = isinstance(source, PyDataset) or (
            hasattr(source, "__getitem__") and hasattr(source, "__len__") and not hasattr(source, "__iter__")
        )
        self.one_shot = not self.is_dataset and hasattr(source, "__next__")
        self._iter: Optional[Iterator] = iter(source) if self.one_shot else None
        self.warn_exhausted = warn_exhausted
        known = None
        if self.is_dataset:
            known = source.num_batches if isinstance(source, PyDataset) else len(source)
            if known is None and steps is None:
                raise ValueError(
                    f"{what}: {type(source).__name__} has no num_batches (an endless dataset); "
                    "give steps_per_epoch (or steps)"
                )
        elif not self.one_shot and hasattr(source, "__len__"):
            try:
                known = len(source)
            except TypeError:
                known = None
        self.steps = steps if steps is not None else known
        if self.is_dataset and steps is not None:
            self.steps = min(steps, known) if known is not None else steps
        self.exhausted = False

    def epoch(self, rng: Optional[np.random.Generator] = None) -> Iterator[Any]:
        """The batches of one epoch; with ``rng``, a finite dataset's batches come in a random
        order (``fit(shuffle=True)``, as Keras does; other sources are read in their order)."""
        if self.is_dataset:
            begin = getattr(self.source, "on_epoch_begin", None)
            if callable(begin):
                begin()
            order = np.arange(self.steps)
            if rng is not None and (not isinstance(self.source, PyDataset) or self.source.num_batches is not None):
                order = rng.permutation(self.steps)
            for i in order:
                yield self.source[int(i)]
            end = getattr(self.source, "on_epoch_end", None)
            if callable(end):
                end()
            return
        it = self._iter if self.one_shot else iter(self.source)
        count = 0
        for batch in itertools.islice(it, self.steps) if self.steps is not None else it:
            count += 1
            yield batch
        if self.one_shot and (count == 0 or (self.steps is not None and count < self.steps)):
            if self.warn_exhausted and not self.exhausted:
                warnings.warn(
                    f"{self.what}: the input ran out of data after {count} batch(es) of this epoch; "
                    "give steps_per_epoch (or steps) so that every epoch has that many batches",
                    UserWarning,
                    stacklevel=4,
                )
            self.exhausted = True


def _split_sizes(left_size: Any, right_size: Any, total: int) -> tuple:
    """``(left, right)`` sample counts from ints (counts) or floats (fractions), by Keras 3's
    rules: each given size in ``(0, total)`` or ``(0, 1)``, the missing one the complement,
    neither side empty, together at most ``total``."""
    kinds = {}
    for name, value in (("left_size", left_size), ("right_size", right_size)):
        if value is None:
            kinds[name] = None
        elif isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
            kinds[name] = int
        elif isinstance(value, (float, np.floating)):
            kinds[name] = float
        else:
            raise TypeError(
                f"split_dataset: {name} must be an int, a float or None. Received: {name}={value!r} "
                f"of type {type(value).__name__}"
            )
    if left_size is None and right_size is None:
        raise ValueError("split_dataset: give left_size or right_size (or both). Received: left_size=None and right_size=None")
    sizes = {}
    for name, value in (("left_size", left_size), ("right_size", right_size)):
        kind = kinds[name]
        if kind is int and not 0 < value < total:
            raise ValueError(
                f"split_dataset: {name} must be a positive integer smaller than {total} (the number of samples) "
                f"or a float in (0, 1). Received: {name}={value}"
            )
        if kind is float and not 0 < value < 1:
            raise ValueError(
                f"split_dataset: {name} must be a float in (0, 1) or a positive integer smaller than {total}. "
                f"Received: {name}={value}"
            )
        sizes[name] = None if kind is None else (int(value) if kind is int else round(float(value) * total))
    if kinds["left_size"] is float and kinds["right_size"] is float and left_size + right_size > 1:
        raise ValueError(
            f"split_dataset: left_size + right_size must be at most 1. Received: {left_size} + {right_size}"
        )
    left, right = sizes["left_size"], sizes["right_size"]
    if left is None:
        left = total - right
    elif right is None:
        right = total - left
    if left + right > total:
        raise ValueError(
            f"split_dataset: left_size and right_size add up to {left + right} samples; the dataset has {total}"
        )
    for side, size in (("left", left), ("right", right)):
        if size == 0:
            raise ValueError(
                f"split_dataset: with {total} samples, left_size={left_size} and right_size={right_size} "
                f"leave the {side} split empty"
            )
    return left, right


def split_dataset(
    dataset: Any,
    left_size: Any = None,
    right_size: Any = None,
    shuffle: bool = False,
    seed: Optional[int] = None,
) -> tuple:
    """Splits arrays into a left part and a right part (train / test), by samples (axis 0).

    The left part is the first ``left_size`` samples and the right part the last
    ``right_size`` (Keras 3's rule: samples between them are in neither when the sizes add up
    to less than the whole). With ``shuffle`` the samples are first put in the order of
    ``random.Random(seed).shuffle`` (the order Keras's ``random.seed(seed)`` and
    ``random.shuffle`` give), without touching the global random state.

    Args:
        dataset: a numpy array, or a tuple or list of numpy arrays with the same number of
            samples (``(x, y)``).
        left_size: int (number of samples) or float in (0, 1) (fraction, rounded); None for
            the complement of ``right_size``.
        right_size: the same for the right part; None for the complement of ``left_size``.
        shuffle: whether to shuffle the samples before splitting.
        seed: seed for ``shuffle`` (None: a random one).

    Returns:
        ``(left, right)``, each of the type of ``dataset`` (an array, or a tuple/list of arrays).

    Raises:
        TypeError: ``dataset`` is not an array or a tuple/list of arrays, or a size of the
            wrong type.
        ValueError: arrays with different numbers of samples, an empty dataset, or sizes out
            of range, adding up to more than the dataset, or leaving a side empty.

    Example:
        >>> import numpy as np
        >>> left, right = split_dataset(np.arange(10), left_size=0.8)
        >>> left.shape, right.shape
        ((8,), (2,))
    """
    if isinstance(dataset, np.ndarray):
        arrays, kind = [dataset], None
    elif isinstance(dataset, (tuple, list)):
        arrays, kind = list(dataset), type(dataset)
        if not arrays:
            raise ValueError(f"split_dataset: dataset is an empty {kind.__name__}; give arrays with the same number of samples")
        for i, a in enumerate(arrays):
            if not isinstance(a, np.ndarray):
                raise TypeError(
                    f"split_dataset: dataset must hold numpy arrays. Received: {type(a).__name__} at index {i}"
                )
    else:
        raise TypeError(
            f"split_dataset: dataset must be a numpy array or a tuple/list of numpy arrays. Received: {type(dataset).__name__}"
        )
    for i, a in enumerate(arrays):
        if a.ndim == 0:
            raise ValueError(f"split_dataset: array {i} has no sample axis (it is a scalar)")
        if len(a) != len(arrays[0]):
            raise ValueError(
                f"split_dataset: the arrays must have the same number of samples. Received: {len(arrays[0])} "
                f"samples in array 0 and {len(a)} in array {i}"
            )
    if not isinstance(shuffle, (bool, np.bool_)):
        raise TypeError(f"split_dataset: shuffle must be a bool. Received: shuffle={shuffle!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise TypeError(f"split_dataset: seed must be an integer or None. Received: seed={seed!r}")
    total = len(arrays[0])
    left, right = _split_sizes(left_size, right_size, total)
    order = list(range(total))
    if shuffle:
        import random

        random.Random(random.randint(0, 1_000_000) if seed is None else int(seed)).shuffle(order)
    idx = np.asarray(order, dtype=np.int64)
    left_idx, right_idx = idx[:left], idx[total - right :]
    lefts = [a[left_idx] for a in arrays]
    rights = [a[right_idx] for a in arrays]
    if kind is None:
        return lefts[0], rights[0]
    return kind(lefts), kind(rights)
