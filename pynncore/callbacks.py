"""Training callbacks with the Keras 3 API.

A callback receives the model (``set_model``), the run parameters (``set_params``: ``epochs``,
``steps``, ``verbose``) and a call at each stage of ``fit``, ``evaluate`` and ``predict``.
``logs`` is a dict of floats: the running loss and metrics at batch ends, the epoch's
results (with ``val_`` entries after validation) at epoch ends.

The model interface the built-in callbacks use is small, so any object that offers it can
be driven by them:

- ``model.stop_training`` (bool, read by the training loop after each batch and epoch);
- ``model.get_weights()`` / ``model.set_weights(list_of_arrays)``;
- ``model.save(path)`` and ``model.save_weights(path)``;
- ``model.optimizer.learning_rate``: a float attribute that may be assigned.

Example:
    >>> from pynncore.callbacks import EarlyStopping, History
    >>> stop = EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
"""

from __future__ import annotations

import csv
import inspect
import math
import numbers
import os
import sys
import warnings
from collections.abc import Iterable
from typing import Any, Callable

import numpy as np

from pynncore.utils.progbar import Progbar, resolve_verbose

__all__ = [
    "BackupAndRestore",
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "SwapEMAWeights",
    "TensorBoard",
    "TerminateOnNaN",
]

Logs = dict[str, Any]

_HOOKS = (
    "on_batch_begin",
    "on_batch_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_test_batch_begin",
    "on_test_batch_end",
    "on_predict_batch_begin",
    "on_predict_batch_end",
    "on_train_begin",
    "on_train_end",
    "on_test_begin",
    "on_test_end",
    "on_predict_begin",
    "on_predict_end",
)


def _print(message: str) -> None:
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


def _scalar(value: Any) -> Any:
    """A Python float for numpy scalars and 0-d arrays; anything else unchanged."""
    if isinstance(value, (np.generic, np.ndarray)) and np.ndim(value) == 0:
        return value.item()
    return value


class Callback:
    """Base class: every hook exists and does nothing.

    ``on_train_batch_begin`` / ``on_train_batch_end`` call ``on_batch_begin`` /
    ``on_batch_end`` by default, so callbacks written for either name work.

    Attributes:
        model: the model being trained (set by :meth:`set_model`).
        params: the run parameters (set by :meth:`set_params`): ``epochs``, ``steps``,
            ``verbose``.
    """

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}
        self._model: Any = None

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def set_model(self, model: Any) -> None:
        self._model = model

    @property
    def model(self) -> Any:
        return self._model

    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """A training batch starts (legacy name of ``on_train_batch_begin``)."""

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """A training batch ended (legacy name of ``on_train_batch_end``)."""

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        """An epoch starts (`epoch` counts from 0)."""

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        """An epoch ended; `logs` has the epoch's loss and metrics, and ``val_`` results."""

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self.on_batch_end(batch, logs)

    def on_test_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """An evaluation batch starts."""

    def on_test_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """An evaluation batch ended."""

    def on_predict_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """A prediction batch starts."""

    def on_predict_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """A prediction batch ended."""

    def on_train_begin(self, logs: Logs | None = None) -> None:
        """``fit`` starts."""

    def on_train_end(self, logs: Logs | None = None) -> None:
        """``fit`` ended (also after early stopping)."""

    def on_test_begin(self, logs: Logs | None = None) -> None:
        """Evaluation (``evaluate`` or validation in ``fit``) starts."""

    def on_test_end(self, logs: Logs | None = None) -> None:
        """Evaluation ended."""

    def on_predict_begin(self, logs: Logs | None = None) -> None:
        """``predict`` starts."""

    def on_predict_end(self, logs: Logs | None = None) -> None:
        """``predict`` ended."""


class CallbackList(Callback):
    """Calls every hook on each callback in order, with one shared ``logs`` dict.

    Sharing the dict lets a callback add entries that later ones see (``ReduceLROnPlateau``
    adds ``learning_rate``, which ``History`` then records). ``History`` and
    ``ProgbarLogger``, when added, go last.

    Args:
        callbacks: callbacks (nested lists are flattened).
        add_history: append a :class:`History` unless one is given.
        add_progbar: append a :class:`ProgbarLogger` unless one is given.
        model: passed to ``set_model`` of every callback.
        **params: passed to ``set_params`` of every callback (``epochs``, ``steps``,
            ``verbose``).

    Raises:
        TypeError: an element that is not a :class:`Callback`.
    """

    def __init__(
        self,
        callbacks: Iterable[Callback] | None = None,
        add_history: bool = False,
        add_progbar: bool = False,
        model: Any = None,
        **params: Any,
    ) -> None:
        super().__init__()
        self.callbacks: list[Callback] = []
        for cb in self._flatten(callbacks):
            self.append(cb)
        self.history: History | None = next((c for c in self.callbacks if isinstance(c, History)), None)
        self.progbar: ProgbarLogger | None = next((c for c in self.callbacks if isinstance(c, ProgbarLogger)), None)
        if add_history and self.history is None:
            self.history = History()
            self.callbacks.append(self.history)
        if add_progbar and self.progbar is None:
            self.progbar = ProgbarLogger()
            self.callbacks.append(self.progbar)
        if model is not None:
            self.set_model(model)
        if params:
            self.set_params(params)

    @staticmethod
    def _flatten(callbacks: Any) -> list[Any]:
        if callbacks is None:
            return []
        if isinstance(callbacks, (list, tuple)):
            out: list[Any] = []
            for c in callbacks:
                out.extend(CallbackList._flatten(c))
            return out
        return [callbacks]

    def append(self, callback: Callback) -> None:
        """Add a callback at the end."""
        if not isinstance(callback, Callback):
            raise TypeError(
                f"CallbackList: expected instances of pynncore.callbacks.Callback. Received: {callback!r} "
                f"of type {type(callback).__name__}"
            )
        self.callbacks.append(callback)
        if self._model is not None:
            callback.set_model(self._model)
        if self.params:
            callback.set_params(self.params)

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params
        for cb in self.callbacks:
            cb.set_params(params)

    def set_model(self, model: Any) -> None:
        self._model = model
        for cb in self.callbacks:
            cb.set_model(model)

    def __iter__(self):
        return iter(self.callbacks)

    def __len__(self) -> int:
        return len(self.callbacks)

    def _dispatch(self, hook: str, *args: Any, logs: Logs | None) -> None:
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            getattr(cb, hook)(*args, logs)

    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        self._dispatch("on_batch_begin", batch, logs=logs)

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._dispatch("on_batch_end", batch, logs=logs)

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._dispatch("on_epoch_begin", epoch, logs=logs)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self._dispatch("on_epoch_end", epoch, logs=logs)

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        self._dispatch("on_train_batch_begin", batch, logs=logs)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._dispatch("on_train_batch_end", batch, logs=logs)

    def on_test_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        self._dispatch("on_test_batch_begin", batch, logs=logs)

    def on_test_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._dispatch("on_test_batch_end", batch, logs=logs)

    def on_predict_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        self._dispatch("on_predict_batch_begin", batch, logs=logs)

    def on_predict_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._dispatch("on_predict_batch_end", batch, logs=logs)

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._dispatch("on_train_begin", logs=logs)

    def on_train_end(self, logs: Logs | None = None) -> None:
        self._dispatch("on_train_end", logs=logs)

    def on_test_begin(self, logs: Logs | None = None) -> None:
        self._dispatch("on_test_begin", logs=logs)

    def on_test_end(self, logs: Logs | None = None) -> None:
        self._dispatch("on_test_end", logs=logs)

    def on_predict_begin(self, logs: Logs | None = None) -> None:
        self._dispatch("on_predict_begin", logs=logs)

    def on_predict_end(self, logs: Logs | None = None) -> None:
        self._dispatch("on_predict_end", logs=logs)


class History(Callback):
    """Records the epoch logs; ``fit`` returns it.

    Attributes:
        history: ``{name: [value per epoch]}``, e.g. ``history["val_loss"]``.
        epoch: the epoch indices recorded.

    Example:
        >>> h = History()
        >>> h.on_train_begin()
        >>> h.on_epoch_end(0, {"loss": 0.5})
        >>> h.history
        {'loss': [0.5]}
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[Any]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.epoch = []

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(_scalar(value))
        if self._model is not None:
            try:
                self._model.history = self
            except AttributeError:
                pass

    def plot(self, path: Any = None, keys: Iterable[str] | None = None, ax: Any = None) -> Any:
        """Plot the recorded curves against the epoch with matplotlib (an optional extra:
        ``pip install pynncore[plot]``).

        Args:
            path: file to save the figure to (PNG by the extension ``.png``); None: don't save.
                A list of keys given here is taken as ``keys``.
            keys: which entries to draw; default all.
            ax: a matplotlib ``Axes``; default a new figure's.

        Returns:
            The ``Axes``.

        Raises:
            ImportError: matplotlib is not installed.
            KeyError: a key that was not recorded.
        """
        if isinstance(path, (list, tuple)):
            path, keys = None, path
        try:
            import matplotlib

            if ax is None and path is not None:
                matplotlib.use("Agg", force=False)
            import matplotlib.pyplot as plt
        except ImportError:
            raise ImportError(
                "History.plot needs matplotlib: pip install matplotlib (or pip install pynncore[plot])"
            ) from None
        names = list(self.history) if keys is None else list(keys)
        for name in names:
            if name not in self.history:
                raise KeyError(f"History.plot: no values recorded for {name!r}. Recorded: {', '.join(self.history)}")
        own_figure = ax is None
        if ax is None:
            _, ax = plt.subplots()
        epochs = [e + 1 for e in self.epoch]
        for name in names:
            values = self.history[name]
            ax.plot(
                epochs[-len(values) :] if len(values) <= len(epochs) else range(1, len(values) + 1), values, label=name
            )
        ax.set_xlabel("epoch")
        ax.legend()
        if path is not None:
            fig = ax.figure
            fig.savefig(path)
            if own_figure:
                plt.close(fig)
        return ax


class ProgbarLogger(Callback):
    """Shows a :class:`~pynncore.utils.Progbar` per epoch (and for evaluate / predict).

    Reads ``verbose``, ``epochs`` and ``steps`` from the params. ``verbose`` 0 is silent,
    1 draws a live bar, 2 prints one line per epoch, ``"auto"`` picks 1 on a terminal and 2
    otherwise. Validation inside ``fit`` is not shown separately: its ``val_`` results
    appear in the epoch line. Values in ``logs`` are shown as given (the training loop
    passes running means).
    """

    def __init__(self) -> None:
        super().__init__()
        self.seen = 0
        self.progbar: Progbar | None = None
        self.target: int | None = None
        self.verbose = 1
        self.epochs = 1
        self._called_in_fit = False

    def set_params(self, params: dict[str, Any]) -> None:
        super().set_params(params)
        self.verbose = resolve_verbose(params.get("verbose", 1))
        self.epochs = int(params.get("epochs") or 1)
        self.target = params.get("steps")

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._called_in_fit = True

    def on_train_end(self, logs: Logs | None = None) -> None:
        self._called_in_fit = False

    def on_test_begin(self, logs: Logs | None = None) -> None:
        if not self._called_in_fit:
            self._reset()

    def on_predict_begin(self, logs: Logs | None = None) -> None:
        self._reset()

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._reset()
        if self.verbose and self.epochs > 1:
            _print(f"Epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._update(batch, logs)

    def on_test_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if not self._called_in_fit:
            self._update(batch, logs)

    def on_predict_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._update(batch, None)  # predictions are not values to show

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self._finalize(logs)

    def on_test_end(self, logs: Logs | None = None) -> None:
        if not self._called_in_fit:
            self._finalize(logs)

    def on_predict_end(self, logs: Logs | None = None) -> None:
        self._finalize(None)

    def _reset(self) -> None:
        self.seen = 0
        self.progbar = None

    def _bar(self) -> Progbar:
        if self.progbar is None:
            self.progbar = Progbar(target=self.target, verbose=self.verbose, unit_name="step")
        return self.progbar

    def _update(self, batch: int, logs: Logs | None) -> None:
        bar = self._bar()
        self.seen = batch + 1
        if self.verbose == 1:
            items = [(k, _scalar(v)) for k, v in (logs or {}).items()]
            bar.stateful_metrics.update(k for k, _ in items)
            bar.update(self.seen, items, finalize=False)

    def _finalize(self, logs: Logs | None) -> None:
        bar = self._bar()
        if bar.target is None:
            bar.target = self.seen
        items = [(k, _scalar(v)) for k, v in (logs or {}).items()]
        bar.stateful_metrics.update(k for k, _ in items)
        bar.update(bar.target, items, finalize=True)


# ---------------------------------------------------------------------------------------------
# Callbacks that watch a monitored quantity


def _metric_direction(model: Any, name: str) -> str | None:
    """'up', 'down' or None for a logged name, from the model's metrics or the built-ins."""
    base = name[4:] if name.startswith("val_") else name
    if base == "loss" or base.endswith("_loss"):
        return "down"
    pending = list(getattr(model, "metrics", None) or [])
    while pending:
        m = pending.pop()
        inner = getattr(m, "metrics", None)
        if isinstance(inner, (list, tuple)):
            pending.extend(inner)
        if getattr(m, "name", None) == base and getattr(m, "_direction", None) in ("up", "down"):
            return m._direction
    from pynncore import metrics as metrics_module

    try:
        return getattr(metrics_module.get(base), "_direction", None)
    except (ValueError, TypeError):
        return None


class _MonitorCallback(Callback):
    """Shared logic: pick min/max for `monitor` and test a value for an improvement."""

    def __init__(
        self, monitor: str = "val_loss", mode: str = "auto", baseline: float | None = None, min_delta: float = 0.0
    ) -> None:
        super().__init__()
        who = type(self).__name__
        if not isinstance(monitor, str):
            raise TypeError(f"{who}: expected `monitor` to be a string. Received: monitor={monitor!r}")
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"{who} mode '{mode}' is unknown, fallback to auto mode.", stacklevel=3)
            mode = "auto"
        if isinstance(min_delta, bool) or not isinstance(min_delta, numbers.Real) or math.isnan(min_delta):
            raise ValueError(f"{who}: expected `min_delta` to be a number. Received: min_delta={min_delta!r}")
        self.monitor = monitor
        self.mode = mode
        self.best: float | None = baseline
        self.min_delta = abs(float(min_delta))
        self.monitor_op: Callable[[float, float], bool] | None = None

    def _set_monitor_op(self) -> None:
        if self.mode == "min":
            direction = "down"
        elif self.mode == "max":
            direction = "up"
        else:
            direction = _metric_direction(self._model, self.monitor)
            if direction is None:
                raise ValueError(
                    f"{type(self).__name__} callback received monitor={self.monitor!r}, but cannot tell whether "
                    "that metric should be maximized or minimized. Pass mode='max' to monitor the highest value "
                    "or mode='min' to monitor the lowest."
                )
        if direction == "down":
            self.monitor_op = lambda a, b: a < b
            self.min_delta = -abs(self.min_delta)
        else:
            self.monitor_op = lambda a, b: a > b
            self.min_delta = abs(self.min_delta)

    def _is_improvement(self, value: float, reference: float | None) -> bool:
        if reference is None:
            return True
        return bool(self.monitor_op(value - self.min_delta, reference))


class EarlyStopping(_MonitorCallback):
    """Stops training when `monitor` has stopped improving.

    Each epoch end (from `start_from_epoch` on) counts an epoch without improvement; an
    improvement (beating the best so far by more than `min_delta`) resets the count, unless
    a `baseline` is set and not beaten yet. Once the count reaches `patience`, the callback
    sets ``model.stop_training = True`` (never at the first epoch).

    Args:
        monitor: the ``logs`` entry to watch; default ``"val_loss"``.
        min_delta: the smallest change that counts as an improvement.
        patience: epochs without improvement before stopping.
        verbose: 1 prints when it stops and when it restores weights.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (losses and errors are minimised,
            accuracies, precision, recall and AUC maximised; anything else raises).
        baseline: a value the monitored quantity must beat for the count to reset.
        restore_best_weights: at the end of training, load the weights of the best epoch
            (``model.get_weights()`` / ``model.set_weights()``).
        start_from_epoch: epochs to wait before watching at all.

    Attributes:
        stopped_epoch: the epoch (from 0) at which training was stopped, or 0.
        best, best_epoch, best_weights, wait: the state described above.

    Example:
        >>> stop = EarlyStopping(monitor="loss", patience=3)
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__(monitor, mode, min_delta=min_delta)
        if isinstance(patience, bool) or not isinstance(patience, numbers.Integral) or patience < 0:
            raise ValueError(
                f"EarlyStopping: expected `patience` to be an integer >= 0. Received: patience={patience!r}"
            )
        self.patience = int(patience)
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = start_from_epoch
        self.wait = 0
        self.stopped_epoch = 0
        self.best_epoch = 0
        self.best_weights: list[np.ndarray] | None = None

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_epoch = 0
        self.best_weights = None

    def _snapshot(self) -> list[np.ndarray]:
        return [np.array(w, copy=True) for w in self._model.get_weights()]

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self.monitor_op is None:
            self._set_monitor_op()
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self._snapshot()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self._snapshot()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self._model.stop_training = True

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            _print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                _print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self._model.set_weights(self.best_weights)

    def get_monitor_value(self, logs: Logs | None) -> float | None:
        """The monitored value from `logs`, or None (with a warning naming what is there)."""
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(
                f"Early stopping conditioned on metric `{self.monitor}` which is not available. "
                f"Available metrics are: {','.join(logs)}",
                stacklevel=3,
            )
            return None
        return float(_scalar(value))


class ModelCheckpoint(_MonitorCallback):
    """Saves the model (or its weights) every epoch, every N batches, or when it improves.

    Args:
        filepath: where to save; may hold ``str.format`` fields filled from ``epoch``
            (from 1), ``batch`` (from 1, with an integer `save_freq`) and the ``logs``
            entries, e.g. ``"ckpt/{epoch:02d}-{val_loss:.2f}.pnc"``. Missing folders are made.
        monitor: the ``logs`` entry compared with `save_best_only`.
        verbose: 1 prints a line for each decision.
        save_best_only: save only when `monitor` improves on the best so far.
        save_weights_only: call ``model.save_weights(path)`` instead of ``model.save(path)``.
        mode: ``"auto"``, ``"min"`` or ``"max"`` (see :class:`EarlyStopping`).
        save_freq: ``"epoch"``, or an integer number of training batches between saves.
        initial_value_threshold: the "best" value to beat before the first save
            (with `save_best_only`).

    Raises:
        ValueError: a bad `save_freq`; (when saving) a `filepath` field with no value.

    Example:
        >>> ckpt = ModelCheckpoint("best.pnc", monitor="val_loss", save_best_only=True)
    """

    def __init__(
        self,
        filepath: str | os.PathLike[str],
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        save_freq: str | int = "epoch",
        initial_value_threshold: float | None = None,
    ) -> None:
        super().__init__(monitor, mode, baseline=initial_value_threshold)
        self.filepath = os.fspath(filepath)
        self.verbose = verbose
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        if save_freq != "epoch" and (
            isinstance(save_freq, bool) or not isinstance(save_freq, numbers.Integral) or save_freq < 1
        ):
            raise ValueError(
                f"ModelCheckpoint: unrecognized save_freq: {save_freq!r}. Expected 'epoch' or an integer >= 1"
            )
        self.save_freq = save_freq
        self._current_epoch = 0
        self._batches_since_save = 0
        self._last_batch = -1

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._current_epoch = epoch
        self._last_batch = -1

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if self.save_freq == "epoch":
            return
        self._batches_since_save += batch - self._last_batch if batch > self._last_batch else batch + 1
        self._last_batch = batch
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _file_path(self, epoch: int, batch: int | None, logs: Logs) -> str:
        fields = {k: _scalar(v) for k, v in logs.items()}
        fields["epoch"] = epoch + 1
        if batch is not None and "batch" not in logs:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except (KeyError, IndexError) as exc:
            raise ValueError(
                f"ModelCheckpoint: cannot fill the filepath {self.filepath!r}: no value for {exc}. "
                f"Available fields: {', '.join(fields)}"
            ) from None

    def _should_save(self, epoch: int, logs: Logs, path: str) -> bool:
        if not self.save_best_only:
            if self.verbose > 0:
                _print(f"\nEpoch {epoch + 1}: saving model to {path}")
            return True
        if self.monitor_op is None:
            self._set_monitor_op()
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=4)
            return True
        current = float(_scalar(current))
        best = "None" if self.best is None or math.isinf(self.best) else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                _print(
                    f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to {current:.5f}, saving model to {path}"
                )
            self.best = current
            return True
        if self.verbose > 0:
            _print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
        return False

    def _save(self, epoch: int, batch: int | None, logs: Logs | None) -> None:
        logs = logs or {}
        path = self._file_path(epoch, batch, logs)
        if not self._should_save(epoch, logs, path):
            return
        if os.path.isdir(path):
            raise ValueError(f"ModelCheckpoint: the filepath is an existing directory: {path!r}. Give a file name")
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self._model.save_weights(path)
        else:
            self._model.save(path)


class ReduceLROnPlateau(_MonitorCallback):
    """Multiplies the learning rate by `factor` when `monitor` stops improving.

    After `patience` epochs without an improvement larger than `min_delta`, the learning
    rate becomes ``max(lr * factor, min_lr)`` (if it is above `min_lr`), and then `cooldown`
    epochs pass before epochs without improvement are counted again. Every epoch end also
    adds the current ``learning_rate`` to ``logs`` (so it appears in ``History``).

    Args:
        monitor: the ``logs`` entry to watch.
        factor: the multiplier, < 1.
        patience: epochs without improvement before a reduction.
        verbose: 1 prints each reduction.
        mode: ``"auto"``, ``"min"`` or ``"max"``.
        min_delta: the smallest change that counts as an improvement.
        cooldown: epochs to wait after a reduction.
        min_lr: lower bound of the learning rate.

    Raises:
        ValueError: ``factor >= 1``.

    Example:
        >>> reduce = ReduceLROnPlateau(monitor="val_loss", factor=0.2, patience=5, min_lr=1e-4)
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(monitor, mode, min_delta=min_delta)
        if kwargs:
            raise TypeError(f"ReduceLROnPlateau: unexpected arguments: {', '.join(kwargs)}")
        if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor!r}")
        if factor <= 0:
            raise ValueError(f"ReduceLROnPlateau: expected 0 < factor < 1. Received factor={factor!r}")
        self.factor = float(factor)
        self.min_lr = float(min_lr)
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.cooldown_counter = 0
        self.wait = 0

    def _reset(self) -> None:
        self.best = None
        self.cooldown_counter = 0
        self.wait = 0

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._reset()

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self.monitor_op is None:
            self._set_monitor_op()
        logs = {} if logs is None else logs
        optimizer = self._model.optimizer
        logs["learning_rate"] = float(optimizer.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"Learning rate reduction is conditioned on metric `{self.monitor}` which is not available. "
                f"Available metrics are: {','.join(logs)}.",
                stacklevel=3,
            )
            return
        current = float(_scalar(current))
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = float(optimizer.learning_rate)
                # Compare at float32 precision, the precision optimizers keep rates in.
                if old_lr > float(np.float32(self.min_lr)):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    optimizer.learning_rate = new_lr
                    if self.verbose > 0:
                        _print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class LearningRateScheduler(Callback):
    """Sets the learning rate at each epoch start to ``schedule(epoch, lr)``.

    `schedule` receives the epoch (from 0) and the current learning rate and returns the
    new one; a one-argument ``schedule(epoch)`` is accepted too. The learning rate in use is
    added to the epoch's ``logs`` as ``learning_rate``.

    Args:
        schedule: the function.
        verbose: 1 prints each change.

    Raises:
        ValueError: (at epoch start) a schedule that returns something other than a finite
            number.

    Example:
        >>> sched = LearningRateScheduler(lambda epoch, lr: lr if epoch < 10 else lr * 0.9)
    """

    def __init__(self, schedule: Callable[..., float], verbose: int = 0) -> None:
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: expected a callable `schedule`. Received: {schedule!r}")
        self.schedule = schedule
        self.verbose = verbose
        self._takes_lr = self._accepts_two_arguments(schedule)

    @staticmethod
    def _accepts_two_arguments(fn: Callable[..., Any]) -> bool:
        try:
            inspect.signature(fn).bind(0, 0.1)
            return True
        except TypeError:
            return False
        except ValueError:  # no signature available (some builtins): assume the current API
            return True

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        optimizer = self._model.optimizer
        if not hasattr(optimizer, "learning_rate"):
            raise ValueError('LearningRateScheduler: the optimizer must have a "learning_rate" attribute.')
        lr = float(optimizer.learning_rate)
        new_lr = self.schedule(epoch, lr) if self._takes_lr else self.schedule(epoch)
        new_lr = _scalar(new_lr)
        if isinstance(new_lr, bool) or not isinstance(new_lr, numbers.Real) or not math.isfinite(new_lr):
            raise ValueError(f"The output of the `schedule` function should be a finite float. Got: {new_lr!r}")
        optimizer.learning_rate = float(new_lr)
        if self.verbose > 0:
            _print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(new_lr)}.")

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = float(self._model.optimizer.learning_rate)


class TerminateOnNaN(Callback):
    """Stops training when a batch's ``loss`` is NaN or infinite.

    The message names the batch (counted from 0 within the epoch, as Keras does) and the
    epoch, and gives the loss value, e.g. ``Batch 3: Invalid loss, terminating training
    (epoch 2, loss nan)``.

    Args:
        raise_error: raise ``RuntimeError`` at once instead of setting
            ``model.stop_training`` (then ``on_train_end`` of other callbacks does not run).

    Example:
        >>> guard = TerminateOnNaN(raise_error=True)
    """

    def __init__(self, raise_error: bool = False) -> None:
        super().__init__()
        self.raise_error = bool(raise_error)
        self._epoch = 0
        #: ``(epoch, batch)`` at which training was stopped, or None.
        self.stopped_at: tuple[int, int] | None = None

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._epoch = int(epoch)

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        value = np.asarray(loss, dtype=np.float64)
        if np.isfinite(value).all():
            return
        self.stopped_at = (self._epoch, int(batch))
        if self.raise_error:
            raise RuntimeError(
                f"NaN or Inf loss encountered at batch {batch} (epoch {self._epoch}). Loss value: {loss}. "
                "Terminating training immediately."
            )
        _print(f"Batch {batch}: Invalid loss, terminating training (epoch {self._epoch}, loss {loss})")
        self._model.stop_training = True


class CSVLogger(Callback):
    """Writes one CSV row per epoch: ``epoch`` then the ``logs`` entries in sorted order.

    The file is flushed after each row, so it can be read while training runs. When the
    model declares the names it will log (``model.metrics_names``), ``val_`` columns that
    the first epoch lacks are added and filled with ``NA``.

    Args:
        filename: path of the CSV file.
        separator: the field separator.
        append: append to an existing file (no second header) instead of replacing it.

    Example:
        >>> log = CSVLogger("training.csv", append=True)
    """

    def __init__(self, filename: str | os.PathLike[str], separator: str = ",", append: bool = False) -> None:
        super().__init__()
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"CSVLogger: expected a one-character `separator`. Received: separator={separator!r}")
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = bool(append)
        self.keys: list[str] | None = None
        self.writer: csv.DictWriter | None = None
        self.csv_file: Any = None
        self.append_header = True

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.append_header = True
        if self.append and os.path.exists(self.filename):
            with open(self.filename, encoding="utf-8") as f:
                self.append_header = not f.readline()
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, "a" if self.append else "w", newline="", encoding="utf-8")
        self.writer = None
        self.keys = None

    @staticmethod
    def _cell(value: Any) -> Any:
        value = _scalar(value)
        if isinstance(value, str):
            return value
        if isinstance(value, (list, tuple, np.ndarray)):
            return "[" + ", ".join(str(_scalar(v)) for v in value) + "]"
        return value

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self.csv_file is None or self.csv_file.closed:
            raise RuntimeError("CSVLogger: on_epoch_end called before on_train_begin opened the file")
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            for name in getattr(self._model, "metrics_names", None) or []:
                if isinstance(name, str) and name.startswith("val_") and name not in self.keys:
                    self.keys.append(name)
        if self.writer is None:
            self.writer = csv.DictWriter(
                self.csv_file,
                fieldnames=["epoch", *self.keys],
                delimiter=self.sep,
                lineterminator="\n",
                extrasaction="ignore",
            )
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((k, self._cell(logs.get(k, "NA"))) for k in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


class LambdaCallback(Callback):
    """A callback made of functions, one per hook.

    Args:
        on_epoch_begin, on_epoch_end: ``f(epoch, logs)``.
        on_train_begin, on_train_end: ``f(logs)``.
        on_train_batch_begin, on_train_batch_end: ``f(batch, logs)``.
        **kwargs: any other hook by name (``on_test_begin=...``, ``on_predict_batch_end=...``).

    Raises:
        ValueError: a keyword that is not a hook name.

    Example:
        >>> cb = LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))
    """

    def __init__(
        self,
        on_epoch_begin: Callable[..., Any] | None = None,
        on_epoch_end: Callable[..., Any] | None = None,
        on_train_begin: Callable[..., Any] | None = None,
        on_train_end: Callable[..., Any] | None = None,
        on_train_batch_begin: Callable[..., Any] | None = None,
        on_train_batch_end: Callable[..., Any] | None = None,
        **kwargs: Callable[..., Any],
    ) -> None:
        super().__init__()
        unknown = [k for k in kwargs if k not in _HOOKS]
        if unknown:
            raise ValueError(
                f"LambdaCallback: unknown hook names: {', '.join(unknown)}. Valid names are: {', '.join(_HOOKS)}"
            )
        hooks = dict(
            on_epoch_begin=on_epoch_begin,
            on_epoch_end=on_epoch_end,
            on_train_begin=on_train_begin,
            on_train_end=on_train_end,
            on_train_batch_begin=on_train_batch_begin,
            on_train_batch_end=on_train_batch_end,
            **kwargs,
        )
        for name, fn in hooks.items():
            if fn is None:
                continue
            if not callable(fn):
                raise TypeError(f"LambdaCallback: `{name}` must be callable. Received: {fn!r}")
            setattr(self, name, fn)


class SwapEMAWeights(Callback):
    """Puts the optimizer's moving averages of the weights (``use_ema=True``) into the model
    for evaluation and swaps the trained weights back after it (Keras 3 semantics).

    Validation inside ``fit`` and ``evaluate(callbacks=[...])`` then see the EMA weights. With
    ``swap_on_epoch=True`` the EMA weights are also in the model from this callback's
    ``on_epoch_end`` to the next ``on_epoch_begin``, so callbacks after it in the list (such
    as ``ModelCheckpoint``) see them; after the last epoch the averages are kept, so ``fit``
    ends with the EMA weights either way. The swap is in place (no copy of the model kept).

    Args:
        swap_on_epoch: also swap at the epoch boundaries.

    Raises:
        ValueError (at the first swap): the optimizer does not use EMA.

    Example:
        >>> cb = SwapEMAWeights(swap_on_epoch=True)   # with optimizers.SGD(use_ema=True)
    """

    def __init__(self, swap_on_epoch: bool = False) -> None:
        super().__init__()
        self.swap_on_epoch = bool(swap_on_epoch)
        self._ema_weights_in_model = False

    def _optimizer(self) -> Any:
        optimizer = getattr(self._model, "optimizer", None)
        if not getattr(optimizer, "use_ema", False):
            raise ValueError(
                "SwapEMAWeights must be used when `use_ema=True` is set on the optimizer. "
                f"Received: use_ema={getattr(optimizer, 'use_ema', None)}"
            )
        return optimizer

    def _swap(self, to_ema: bool) -> None:
        if self._ema_weights_in_model != to_ema:
            self._optimizer()._swap_average()
            self._ema_weights_in_model = to_ema

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        if self.swap_on_epoch:
            self._swap(False)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self.swap_on_epoch and not self._ema_weights_in_model:
            self._swap(True)
            if epoch == self.params.get("epochs", 0) - 1:
                # fit ends by writing the averages into the weights: keep them the EMA values
                optimizer = self._optimizer()
                np.copyto(optimizer._state["average"], optimizer._params)

    def on_test_begin(self, logs: Logs | None = None) -> None:
        self._swap(True)

    def on_test_end(self, logs: Logs | None = None) -> None:
        self._swap(False)

    def on_predict_begin(self, logs: Logs | None = None) -> None:
        self._swap(True)

    def on_predict_end(self, logs: Logs | None = None) -> None:
        self._swap(False)


class BackupAndRestore(Callback):
    """Makes an interrupted ``fit`` resumable: the weights, the optimizer state and the
    progress are saved to ``backup_dir`` after every epoch (or every ``save_freq`` batches), and
    a later ``fit`` with the same callback starts from there (Keras 3 semantics; the optimizer
    state is restored too, so the resumed run continues the same trajectory).

    Files are written atomically with a checksum; with ``double_checkpoint`` the previous
    backup is kept beside the latest and used if the latest cannot be read. The backup is
    removed when training finishes normally (``delete_checkpoint=True``).

    Args:
        backup_dir: directory for the backup (created when needed).
        save_freq: ``"epoch"``, or a number of batches between saves.
        double_checkpoint: keep the previous backup as well.
        delete_checkpoint: remove the backup at the end of a completed ``fit``.

    Example:
        >>> cb = BackupAndRestore("/tmp/run1")   # model.fit(x, y, epochs=10, callbacks=[cb])
    """

    def __init__(self, backup_dir: str, save_freq: Any = "epoch", double_checkpoint: bool = False,
                 delete_checkpoint: bool = True) -> None:
        super().__init__()
        if not backup_dir:
            raise ValueError(f"BackupAndRestore: backup_dir must be a directory path. Received: {backup_dir!r}")
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, numbers.Integral)
                                     or save_freq < 1):
            raise ValueError(
                f"BackupAndRestore: save_freq must be 'epoch' or a positive number of batches. Received: {save_freq!r}"
            )
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.double_checkpoint = bool(double_checkpoint)
        self.delete_checkpoint = bool(delete_checkpoint)
        self._path = os.path.join(self.backup_dir, "latest.safetensors")
        self._prev_path = self._path + ".bkp"
        self._epoch = 0
        self._batches = 0

    def on_train_begin(self, logs: Logs | None = None) -> None:
        from pynncore import saving

        model = self._model
        paths = [p for p in (self._path, self._prev_path) if os.path.exists(p)]
        if not paths:
            return
        if not model.built:
            raise ValueError(
                "BackupAndRestore: the model must be built before fit() to restore a backup "
                "(give it an Input, or call it on a batch first)"
            )
        error: Exception | None = None
        for path in paths:
            try:
                progress = saving.restore_training_state(model, path)
            except (ValueError, OSError) as exc:
                error = exc
                continue
            self._epoch = int(progress["epoch"])
            model._initial_epoch = self._epoch
            return
        raise ValueError(f"BackupAndRestore: the backup in {self.backup_dir!r} cannot be restored: {error}")

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._epoch = int(epoch)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if self.save_freq == "epoch":
            return
        self._batches += 1
        if self._batches % int(self.save_freq) == 0:
            self._save({"epoch": self._epoch, "batch": int(batch)})

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self.save_freq == "epoch":
            self._save({"epoch": int(epoch) + 1, "batch": 0})

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.delete_checkpoint:
            for path in (self._path, self._prev_path):
                if os.path.exists(path):
                    os.remove(path)

    def _save(self, progress: dict) -> None:
        from pynncore import saving

        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint and os.path.exists(self._path):
            os.replace(self._path, self._prev_path)
        saving.save_training_state(self._model, self._path, progress)


class TensorBoard(Callback):
    """Writes the training curves as TensorBoard scalars (``tensorboard --logdir logs``).

    As in Keras: ``log_dir/train`` gets ``epoch_<name>`` for each training log and
    ``epoch_learning_rate``, ``log_dir/validation`` gets ``epoch_<name>`` for each ``val_``
    log (prefix removed), both at step = epoch; with ``update_freq`` = ``"batch"`` or N, also
    ``batch_<name>`` every N batches at the global batch count. Event files are written
    natively (no TensorFlow needed) and flushed at every write.

    Args:
        log_dir: directory of the event files.
        update_freq: ``"epoch"``, ``"batch"`` or a number of batches.
        histogram_freq, write_graph, write_images, write_steps_per_second, profile_batch,
            embeddings_freq, embeddings_metadata: Keras's arguments. Only their defaults
            (nothing beyond scalars) and ``write_steps_per_second`` are supported; asking for
            histograms, images, profiling or embeddings raises ``ValueError``.
    """

    def __init__(self, log_dir: Any = "logs", histogram_freq: int = 0, write_graph: bool = True,
                 write_images: bool = False, write_steps_per_second: bool = False, update_freq: Any = "epoch",
                 profile_batch: Any = 0, embeddings_freq: int = 0, embeddings_metadata: Any = None) -> None:
        super().__init__()
        unsupported = {k: v for k, v in (("histogram_freq", histogram_freq), ("write_images", write_images),
                                         ("profile_batch", profile_batch), ("embeddings_freq", embeddings_freq),
                                         ("embeddings_metadata", embeddings_metadata)) if v}
        if unsupported:
            raise ValueError(
                f"TensorBoard: pynncore writes scalar summaries only; histograms, images, profiles and "
                f"embeddings are not supported. Received: {unsupported}"
            )
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and (isinstance(update_freq, bool) or not isinstance(update_freq, numbers.Integral)
                                       or update_freq < 1):
            raise ValueError(
                f"TensorBoard: update_freq must be 'epoch', 'batch' or a positive integer. Received: {update_freq!r}"
            )
        self.log_dir = os.fspath(log_dir)
        self.update_freq = update_freq
        self.write_graph = write_graph  # no graph is written; accepted as in Keras
        self.write_steps_per_second = bool(write_steps_per_second)
        self._writers: dict = {}
        self._global_batch = 0
        self._epoch_start = 0.0
        self._epoch_batches = 0

    def _writer(self, which: str) -> Any:
        from pynncore.utils.event_file import EventFileWriter

        if which not in self._writers:
            self._writers[which] = EventFileWriter(os.path.join(self.log_dir, which))
        return self._writers[which]

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._global_batch = 0

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        import time

        self._epoch_start = time.perf_counter()
        self._epoch_batches = 0

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._global_batch += 1
        self._epoch_batches += 1
        if self.update_freq == "epoch" or self._global_batch % int(self.update_freq):
            return
        scalars = {f"batch_{k}": _as_float(v) for k, v in (logs or {}).items() if _as_float(v) is not None}
        if scalars:
            self._writer("train").add_scalars(scalars, self._global_batch)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        import time

        logs = logs or {}
        values = {k: _as_float(v) for k, v in logs.items()}
        train = {f"epoch_{k}": v for k, v in values.items() if not k.startswith("val_") and v is not None}
        val = {f"epoch_{k[4:]}": v for k, v in values.items() if k.startswith("val_") and v is not None}
        optimizer = getattr(self._model, "optimizer", None)
        if optimizer is not None and "epoch_learning_rate" not in train:
            try:
                train["epoch_learning_rate"] = float(optimizer.learning_rate)
            except (TypeError, ValueError, AttributeError):
                pass
        if self.write_steps_per_second:
            seconds = time.perf_counter() - self._epoch_start
            train["epoch_steps_per_second"] = self._epoch_batches / seconds if seconds > 0 else 0.0
        if train:
            self._writer("train").add_scalars(train, int(epoch))
        if val:
            self._writer("validation").add_scalars(val, int(epoch))

    def on_train_end(self, logs: Logs | None = None) -> None:
        for w in self._writers.values():
            w.close()
        self._writers = {}


def _as_float(value: Any) -> float | None:
    """A log value as a float, or None for values that are not one number."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return float(arr.reshape(-1)[0]) if arr.size == 1 else None
