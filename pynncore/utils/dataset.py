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

__all__ = ["PyDataset", "Sequence", "is_batch_source"]


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
