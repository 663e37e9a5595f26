"""The per-model readers/writer lock behind pynncore's threading contract.

Inference (``predict``, ``model(x)``, ``predict_on_batch``, saving) only reads a model's
weights, so any number of threads may run it at once; the native kernels release the GIL and
keep their scratch memory per thread. Anything that writes weights or training state (``fit``,
``train_on_batch``, ``evaluate``, ``test_on_batch``, ``set_weights``, ``load_weights``,
``compile``, building the model on first use) takes the model exclusively: it waits until the
running readers are done, and readers that arrive meanwhile wait until it is done. Writers
are preferred, so a steady stream of predictions cannot starve ``fit``.

The lock is reentrant in the ways the library itself needs: the thread holding it
exclusively may read and write again (a callback calling ``model.predict`` or ``model.save``
during ``fit``), and a thread already reading may read again. A thread that reads and then
asks to write would wait for itself; that is reported as a ``RuntimeError`` instead.
See ``docs/threading.md``.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from typing import Iterator

__all__ = ["ModelLock"]


class ModelLock:
    """Readers/writer lock with writer preference and the reentrancy described above.

    Example:
        >>> lock = ModelLock()
        >>> with lock.reading():
        ...     pass
        >>> with lock.writing("fit"):
        ...     pass
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()  # guards the fields; the condition waits on it
        self._cond = threading.Condition(self._mutex)
        self._readers: dict = {}  # thread id -> nesting depth
        self._writer: int | None = None  # thread id of the exclusive holder
        self._writer_depth = 0
        self._writers_waiting = 0
        self._nested_reads = 0  # reads taken by the exclusive holder inside its hold
        _ALL_LOCKS.add(self)

    def _after_fork_in_child(self) -> None:
        # Only the forking thread exists in the child: drop what other threads held (their
        # operations will never finish there) and replace the mutex, which one of them may
        # have held at the moment of the fork.
        me = threading.get_ident()
        self._mutex = threading.Lock()
        self._cond = threading.Condition(self._mutex)
        self._readers = {t: d for t, d in self._readers.items() if t == me}
        if self._writer != me:
            self._writer, self._writer_depth, self._nested_reads = None, 0, 0
        self._writers_waiting = 0

    # A lock is never copied or pickled with its model: the copy gets a fresh one.
    def __deepcopy__(self, memo: dict) -> "ModelLock":
        return ModelLock()

    def __copy__(self) -> "ModelLock":
        return ModelLock()

    def __reduce__(self) -> tuple:
        return (ModelLock, ())

    def acquire_read(self) -> None:
        """Start holding the model shared; pair with :meth:`release_read` (try/finally)."""
        me = _get_ident()
        # Fast path, the common case of inference: nobody writes or waits to write. It holds
        # the raw mutex (a C-level context manager) instead of entering the condition.
        with self._mutex:
            if self._writer is None and not self._writers_waiting:
                readers = self._readers
                readers[me] = readers.get(me, 0) + 1
                return
        with self._cond:
            if self._writer == me:
                self._nested_reads += 1  # inside this thread's own exclusive hold
                return
            depth = self._readers.get(me)
            if depth:
                self._readers[me] = depth + 1
                return
            while self._writer is not None or self._writers_waiting:
                self._cond.wait()
            self._readers[me] = 1

    def release_read(self) -> None:
        me = _get_ident()
        with self._mutex:
            readers = self._readers
            if self._writer == me and me not in readers:
                self._nested_reads -= 1
                return
            depth = readers[me] - 1
            if depth:
                readers[me] = depth
            else:
                del readers[me]
                if not readers and self._writers_waiting:
                    self._cond.notify_all()  # the mutex is the condition's lock

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Hold the model shared (many readers at once)."""
        self.acquire_read()
        try:
            yield
        finally:
            self.release_read()

    @contextlib.contextmanager
    def writing(self, what: str) -> Iterator[None]:
        """Hold the model exclusively; `what` names the operation in errors."""
        me = threading.get_ident()
        with self._cond:
            if self._writer == me:
                self._writer_depth += 1
            else:
                if me in self._readers:
                    raise RuntimeError(
                        f"{what}: this thread is running inference on the model (for example a "
                        f"callback of predict); {what} cannot change the model from inside it"
                    )
                self._writers_waiting += 1
                try:
                    while self._writer is not None or self._readers:
                        self._cond.wait()
                finally:
                    self._writers_waiting -= 1
                    self._cond.notify_all()
                self._writer = me
                self._writer_depth = 1
        try:
            yield
        finally:
            with self._cond:
                self._writer_depth -= 1
                if self._writer_depth == 0:
                    self._writer = None
                    self._cond.notify_all()


_get_ident = threading.get_ident
_ALL_LOCKS: "weakref.WeakSet[ModelLock]" = weakref.WeakSet()


def _reset_locks_in_child() -> None:
    for lock in list(_ALL_LOCKS):
        lock._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_locks_in_child)
