"""The training, evaluation and prediction loops.

``Trainer`` runs what ``model.compile``/``fit``/``evaluate``/``predict`` ask for (those methods
delegate here); it is public so the loops can be driven or subclassed directly:

    trainer = pynncore.Trainer(model)
    trainer.compile(optimizer="adam", loss="mse")
    history = trainer.fit(x, y, epochs=10)

Per training batch: forward pass with the layers' training behaviour, loss value and gradient
in one native call, backward pass through the layers (gradients accumulate in one flat buffer),
regularization penalties and their gradients, one fused native optimizer update over all
weights, then the metrics.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np

from pynncore import callbacks as _callbacks
from pynncore import losses as _losses
from pynncore import metrics as _metrics
from pynncore import optimizers as _optimizers

__all__ = ["Trainer"]


def _as_input(x: Any, what: str) -> np.ndarray:
    if x is None:
        raise ValueError(f"{what}: expected an array of inputs. Received: None")
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{what}: expected real numeric inputs. Received: dtype={arr.dtype}")
    if arr.ndim == 0:
        raise ValueError(f"{what}: expected an array with a batch dimension. Received: a scalar")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _as_target(y: Any, n: int, what: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{what}: expected real numeric targets. Received: dtype={arr.dtype}")
    if arr.ndim == 0 or arr.shape[0] != n:
        raise ValueError(
            f"{what}: x and y must have the same number of samples. "
            f"Received: {n} samples in x and shape={arr.shape} for y"
        )
    if arr.dtype.kind == "f":
        arr = np.ascontiguousarray(arr, dtype=np.float32)
    return arr


def _as_weights(w: Any, n: int, what: str) -> Optional[np.ndarray]:
    if w is None:
        return None
    arr = np.asarray(w, dtype=np.float64)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{what}: sample_weight must have shape ({n},). Received: shape={arr.shape}")
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise ValueError(f"{what}: sample_weight must be finite and non-negative")
    return arr.astype(np.float32)


def _check_finite(arr: np.ndarray, name: str) -> None:
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"fit: {name} contains {bad} NaN or infinite value(s)")


def _class_weights_to_sample(class_weight: dict, y: np.ndarray) -> np.ndarray:
    if y.ndim >= 2 and y.shape[-1] > 1:
        cls = np.argmax(y.reshape(y.shape[0], -1), axis=1)
    else:
        cls = np.rint(y.reshape(y.shape[0])).astype(np.int64)
    out = np.ones(y.shape[0], np.float32)
    for c, w in class_weight.items():
        out[cls == int(c)] = float(w)
    return out


class Trainer:
    """Runs training, evaluation and prediction for a model.

    Args:
        model: a ``pynncore.models.Model`` (``Sequential`` or functional).
    """

    def __init__(self, model: Any):
        self.model = model
        self.optimizer = None
        self.loss = None
        self.metrics: list = []
        self._loss_tracker = None
        self._built_for: Optional[int] = None

    # -- configuration ---------------------------------------------------------------------------

    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, metrics: Any = None, weighted_metrics: Any = None) -> None:
        self.optimizer = _optimizers.get(optimizer)
        self.loss = _losses.get(loss) if loss is not None else None
        self._metric_ids = list(metrics or [])
        self._weighted_ids = list(weighted_metrics or [])
        self.metrics = []
        self._loss_tracker = _metrics.Mean(name="loss")
        self._built_for = None
        self.model.optimizer = self.optimizer
        self.model.loss = self.loss

    def _build_metrics(self) -> None:
        if self.metrics or not (self._metric_ids or self._weighted_ids):
            return
        loss_name = getattr(self.loss, "name", None)
        self.metrics = [_metrics.get(m, loss_name=loss_name) for m in self._metric_ids]
        self._weighted = [False] * len(self.metrics)
        for m in self._weighted_ids:
            self.metrics.append(_metrics.get(m, loss_name=loss_name))
            self._weighted.append(True)

    def _prepare(self, x: np.ndarray) -> None:
        self.model._ensure_built(x)
        variables = self.model.trainable_weights
        key = hash(tuple(id(v) for v in variables))
        if self._built_for != key:
            self.optimizer.build(variables)
            self._built_for = key
        self._build_metrics()

    # -- one batch ---------------------------------------------------------------------------------

    def _regularization(self, variables: list) -> float:
        penalty = 0.0
        for var in variables:
            if var.regularizer is not None:
                penalty += float(var.regularizer(var.value))
                var.grad += var.regularizer.gradient(var.value)
        return penalty

    def _train_batch(self, xb: np.ndarray, yb: np.ndarray, wb: Optional[np.ndarray]) -> float:
        model = self.model
        y_pred, ctx = model.forward(xb, training=True)
        loss, grad = self.loss.value_and_grad(yb, y_pred, sample_weight=wb)
        loss += model.activity_penalty(ctx)
        self.optimizer.zero_grad()
        model.backward(ctx, grad, need_dx=False)
        loss += self._regularization(self.optimizer.variables)
        self.optimizer.apply()
        self._loss_tracker.update_state(loss, sample_weight=xb.shape[0])
        for m, weighted in zip(self.metrics, getattr(self, "_weighted", [])):
            m.update_state(yb, y_pred, sample_weight=wb if weighted else None)
        return loss

    def _test_batch(self, xb: np.ndarray, yb: np.ndarray, wb: Optional[np.ndarray]) -> float:
        y_pred, _ = self.model.forward(xb, training=False)
        loss = float(self.loss(yb, y_pred, sample_weight=wb))
        loss += sum(float(v.regularizer(v.value)) for v in self.model.trainable_weights if v.regularizer is not None)
        self._loss_tracker.update_state(loss, sample_weight=xb.shape[0])
        for m, weighted in zip(self.metrics, getattr(self, "_weighted", [])):
            m.update_state(yb, y_pred, sample_weight=wb if weighted else None)
        return loss

    def _logs(self, prefix: str = "") -> dict:
        logs = {prefix + "loss": float(self._loss_tracker.result())}
        for m in self.metrics:
            logs[prefix + m.name] = float(m.result())
        return logs

    def _reset_metrics(self) -> None:
        self._loss_tracker.reset_state()
        for m in self.metrics:
            m.reset_state()

    def _require_compiled(self, what: str) -> None:
        if self.optimizer is None or self.loss is None:
            raise RuntimeError(f"{what}: the model must be compiled with a loss first (model.compile(optimizer, loss))")

    # -- loops -----------------------------------------------------------------------------------

    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: Optional[int] = None,
        epochs: int = 1,
        verbose: Any = "auto",
        callbacks: Optional[Sequence[Any]] = None,
        validation_split: float = 0.0,
        validation_data: Any = None,
        shuffle: bool = True,
        class_weight: Optional[dict] = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
        steps_per_epoch: Optional[int] = None,
        validation_steps: Optional[int] = None,
        validation_batch_size: Optional[int] = None,
        validation_freq: int = 1,
    ):
        """Trains for ``epochs`` epochs; returns the ``History`` callback (Keras semantics)."""
        self._require_compiled("fit")
        x = _as_input(x, "fit")
        n = x.shape[0]
        if n == 0:
            raise ValueError("fit: expected at least one sample. Received: an empty x")
        if y is None:
            raise ValueError("fit: expected targets y. Received: None")
        y = _as_target(y, n, "fit")
        _check_finite(x, "x")
        _check_finite(y, "y")
        sw = _as_weights(sample_weight, n, "fit")
        if class_weight is not None:
            cw = _class_weights_to_sample(class_weight, y)
            sw = cw if sw is None else sw * cw
        batch_size = self._batch_size(batch_size, "fit")
        if not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"fit: epochs must be a non-negative integer. Received: {epochs!r}")

        val = None
        if validation_data is not None:
            vd = tuple(validation_data)
            if len(vd) not in (2, 3):
                raise ValueError("fit: validation_data must be (x_val, y_val) or (x_val, y_val, sample_weight)")
            vx = _as_input(vd[0], "fit(validation_data)")
            vy = _as_target(vd[1], vx.shape[0], "fit(validation_data)")
            vw = _as_weights(vd[2], vx.shape[0], "fit(validation_data)") if len(vd) == 3 else None
            val = (vx, vy, vw)
        elif validation_split:
            if not 0.0 < float(validation_split) < 1.0:
                raise ValueError(f"fit: validation_split must be in (0, 1). Received: {validation_split}")
            split = int(n * (1.0 - float(validation_split)))
            if split == 0 or split == n:
                raise ValueError(f"fit: validation_split={validation_split} leaves no training or no validation samples out of {n}")
            val = (x[split:], y[split:], None if sw is None else sw[split:])
            x, y, sw = x[:split], y[:split], (None if sw is None else sw[:split])
            n = split

        self._prepare(x)
        model = self.model
        steps = math.ceil(n / batch_size)
        if steps_per_epoch is not None:
            steps = min(steps, int(steps_per_epoch))
        cbs = _callbacks.CallbackList(
            callbacks,
            add_history=True,
            add_progbar=verbose != 0,
            model=model,
            verbose=verbose,
            epochs=epochs,
            steps=steps,
        )
        history = cbs.history
        model.stop_training = False
        rng = np.random.default_rng(_seed_from_global())
        cbs.on_train_begin()
        logs: dict = {}
        for epoch in range(int(initial_epoch), int(epochs)):
            self._reset_metrics()
            cbs.on_epoch_begin(epoch)
            order = rng.permutation(n) if shuffle else None
            for step in range(steps):
                cbs.on_train_batch_begin(step)
                sl = slice(step * batch_size, min(n, (step + 1) * batch_size))
                if order is not None:
                    idx = order[sl]
                    xb, yb = x[idx], y[idx]
                    wb = None if sw is None else sw[idx]
                else:
                    xb, yb = x[sl], y[sl]
                    wb = None if sw is None else sw[sl]
                self._train_batch(xb, yb, wb)
                logs = self._logs()
                cbs.on_train_batch_end(step, logs)
                if model.stop_training:
                    break
            epoch_logs = dict(logs)
            if val is not None and (epoch + 1) % int(validation_freq) == 0:
                epoch_logs.update(self._evaluate_arrays(*val, batch_size=validation_batch_size or batch_size, prefix="val_"))
            cbs.on_epoch_end(epoch, epoch_logs)
            if model.stop_training:
                break
        cbs.on_train_end(logs)
        model.history = history
        return history

    def _batch_size(self, batch_size: Any, what: str) -> int:
        if batch_size is None:
            return 32
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"{what}: batch_size must be a positive integer. Received: {batch_size!r}")
        return int(batch_size)

    def _evaluate_arrays(self, x: np.ndarray, y: np.ndarray, w: Optional[np.ndarray], batch_size: int, prefix: str = "") -> dict:
        saved_tracker = self._loss_tracker
        self._loss_tracker = _metrics.Mean(name="loss")
        for m in self.metrics:
            m.reset_state()
        n = x.shape[0]
        for start in range(0, n, batch_size):
            sl = slice(start, min(n, start + batch_size))
            self._test_batch(x[sl], y[sl], None if w is None else w[sl])
        logs = self._logs(prefix)
        self._loss_tracker = saved_tracker
        return logs

    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: Optional[int] = None,
        verbose: Any = "auto",
        sample_weight: Any = None,
        steps: Optional[int] = None,
        callbacks: Optional[Sequence[Any]] = None,
        return_dict: bool = False,
    ):
        """Returns the loss (and metrics) on the given data, as Keras does."""
        self._require_compiled("evaluate")
        x = _as_input(x, "evaluate")
        n = x.shape[0]
        if n == 0:
            raise ValueError("evaluate: expected at least one sample. Received: an empty x")
        y = _as_target(y, n, "evaluate")
        w = _as_weights(sample_weight, n, "evaluate")
        self._prepare(x)
        logs = self._evaluate_arrays(x, y, w, self._batch_size(batch_size, "evaluate"))
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x: Any, batch_size: Optional[int] = None, verbose: Any = "auto", callbacks: Any = None) -> np.ndarray:
        """Runs the model in inference mode over ``x`` in batches; returns float32 outputs."""
        x = _as_input(x, "predict")
        model = self.model
        model._ensure_built(x if x.shape[0] else np.zeros((1,) + x.shape[1:], np.float32))
        bs = self._batch_size(batch_size, "predict")
        n = x.shape[0]
        out_shape = tuple(d if d is not None else 0 for d in model.output_shape[1:])
        if n == 0:
            return np.zeros((0,) + out_shape, np.float32)
        parts = [model._infer(x[s : s + bs]) for s in range(0, n, bs)]
        # Layers may hand back views of their inputs: the result is always a fresh array.
        return np.array(parts[0], dtype=np.float32) if len(parts) == 1 else np.concatenate(parts, axis=0)

    def train_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None, class_weight: Optional[dict] = None, return_dict: bool = False):
        """One optimizer step on one batch; returns the loss (and metrics) of that batch."""
        self._require_compiled("train_on_batch")
        x = _as_input(x, "train_on_batch")
        y = _as_target(y, x.shape[0], "train_on_batch")
        _check_finite(x, "x")
        _check_finite(y, "y")
        w = _as_weights(sample_weight, x.shape[0], "train_on_batch")
        if class_weight is not None:
            cw = _class_weights_to_sample(class_weight, y)
            w = cw if w is None else w * cw
        self._prepare(x)
        self._reset_metrics()
        self._train_batch(x, y, w)
        return self._result(return_dict)

    def test_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None, return_dict: bool = False):
        self._require_compiled("test_on_batch")
        x = _as_input(x, "test_on_batch")
        y = _as_target(y, x.shape[0], "test_on_batch")
        w = _as_weights(sample_weight, x.shape[0], "test_on_batch")
        self._prepare(x)
        self._reset_metrics()
        self._test_batch(x, y, w)
        return self._result(return_dict)

    def _result(self, return_dict: bool):
        logs = self._logs()
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values


def _seed_from_global() -> int:
    from pynncore.utils import rng as _rng

    return int(_rng.get_global_generator().integers(0, 2**63 - 1))
