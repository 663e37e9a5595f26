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

Models with several inputs and outputs take lists (or dicts keyed by input / output name) of
arrays; ``compile`` takes one loss for every output or a list / dict of losses,
``loss_weights`` and metrics per output, and logs ``loss`` (the weighted total) plus, with
several losses, ``<output>_loss`` (each unweighted) and ``<output>_<metric>`` (Keras 3 names).

Which weights train is fixed at ``compile`` (Keras semantics): the ``trainable`` flags of the
model and its layers are read then, and each train step runs with them, so a layer frozen
after compiling one model and before compiling another is trained by the first and left alone
by the second (the GAN recipe).
"""

from __future__ import annotations

import contextlib
import copy
import math
from typing import Any, Optional, Sequence

import numpy as np

from pynncore import _core
from pynncore import callbacks as _callbacks
from pynncore import losses as _losses
from pynncore import metrics as _metrics
from pynncore import _training
from pynncore import optimizers as _optimizers
from pynncore.utils import dataset as _dataset

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
    if arr.dtype.kind != "f":
        return
    if arr.dtype in (np.float32, np.float64) and arr.flags.c_contiguous:
        bad = _core.count_nonfinite(arr)  # one pass on every thread, no temporaries
    elif np.isfinite(arr).all():
        return
    else:
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
    if bad:
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
        self._loss_arg: Any = None
        self._loss_weights_arg: Any = None
        self._metric_ids: Any = []
        self._weighted_ids: Any = []
        self._losses: Optional[list] = None
        self._loss_weights: list = []
        self._output_trackers: list = []
        self._metric_slots: list = []
        self._snapshot: list = []

    # -- configuration ---------------------------------------------------------------------------

    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        metrics: Any = None,
        weighted_metrics: Any = None,
        loss_weights: Any = None,
    ) -> None:
        self.optimizer = _optimizers.get(optimizer)
        self._loss_arg = loss
        if isinstance(loss, dict):
            self.loss = {k: (None if v is None else _losses.get(v)) for k, v in loss.items()}
        elif isinstance(loss, (list, tuple)):
            self.loss = [None if v is None else _losses.get(v) for v in loss]
        else:
            self.loss = _losses.get(loss) if loss is not None else None
        if loss_weights is not None and not isinstance(loss_weights, (list, tuple, dict, int, float)):
            raise TypeError(
                f"compile: loss_weights must be a number, a list or a dict. Received: {type(loss_weights).__name__}"
            )
        self._loss_weights_arg = loss_weights
        self._metric_ids = metrics if isinstance(metrics, dict) else list(metrics or [])
        self._weighted_ids = weighted_metrics if isinstance(weighted_metrics, dict) else list(weighted_metrics or [])
        self.metrics = []
        self._metric_slots = []
        self._losses = None
        self._loss_tracker = _metrics.Mean(name="loss")
        self._built_for = None
        self._snapshot = _trainable_snapshot(self.model)
        self.model.optimizer = self.optimizer
        self.model.loss = self.loss

    def _output_names(self) -> list:
        names = list(getattr(self.model, "output_names", []) or [])
        return names or ["output"]

    def _build_losses(self) -> None:
        """Resolves losses, loss weights and metrics per output once the outputs are known."""
        if self._losses is not None:
            return
        names = self._output_names()
        n = len(names)
        loss = self.loss
        if isinstance(loss, dict):
            unknown = sorted(set(loss) - set(names))
            if unknown:
                raise ValueError(f"compile: loss keys {unknown} are not output names {names}")
            losses = [loss.get(k) for k in names]
        elif isinstance(loss, list):
            if len(loss) != n:
                raise ValueError(f"compile: expected {n} losses, one per output {names}. Received: {len(loss)}")
            losses = list(loss)
        else:
            losses = [loss] * n
        if all(l is None for l in losses):
            raise ValueError("compile: at least one output needs a loss")
        lw = self._loss_weights_arg
        if lw is None:
            weights = [1.0] * n
        elif isinstance(lw, dict):
            unknown = sorted(set(lw) - set(names))
            if unknown:
                raise ValueError(f"compile: loss_weights keys {unknown} are not output names {names}")
            weights = [float(lw.get(k, 1.0)) for k in names]
        elif isinstance(lw, (list, tuple)):
            if len(lw) != n:
                raise ValueError(f"compile: expected {n} loss_weights, one per output {names}. Received: {len(lw)}")
            weights = [float(w) for w in lw]
        else:
            weights = [float(lw)] * n
        self._losses, self._loss_weights = losses, weights
        multi = sum(l is not None for l in losses) > 1
        self._output_trackers = [
            _metrics.Mean(name=f"{k}_loss") if (multi and l is not None) else None for k, l in zip(names, losses)
        ]
        self._build_metrics()

    def _per_output(self, spec: Any, names: list, what: str) -> list:
        n = len(names)
        if isinstance(spec, dict):
            unknown = sorted(set(spec) - set(names))
            if unknown:
                raise ValueError(f"compile: {what} keys {unknown} are not output names {names}")
            per = [spec.get(k) for k in names]
        elif n == 1:
            per = [list(spec)]
        else:
            if not spec:
                per = [None] * n
            elif len(spec) != n:
                raise ValueError(
                    f"compile: for a model with {n} outputs {names}, {what} must be a list with one "
                    f"entry per output or a dict keyed by output name. Received: {spec!r}"
                )
            else:
                per = list(spec)
        return [[] if p is None else (list(p) if isinstance(p, (list, tuple)) else [p]) for p in per]

    def _build_metrics(self) -> None:
        names = self._output_names()
        multi = len(names) > 1
        self.metrics = []
        self._metric_slots = []
        used: set = set()
        for spec, weighted in ((self._metric_ids, False), (self._weighted_ids, True)):
            for i, ids in enumerate(self._per_output(spec, names, "weighted_metrics" if weighted else "metrics")):
                loss_name = getattr(self._losses[i], "name", None)
                for m in ids:
                    if not isinstance(m, str) and id(m) in used:
                        m = copy.deepcopy(m)
                    used.add(id(m))
                    metric = _metrics.get(m, loss_name=loss_name)
                    if multi:
                        metric.name = f"{names[i]}_{metric.name}"
                    self.metrics.append(metric)
                    self._metric_slots.append((i, weighted))

    def _trainable_variables(self) -> list:
        out, seen = [], set()
        for layer, flag in self._snapshot:
            if not flag or hasattr(layer, "_leaf_layers"):
                continue
            for w in layer.weights:
                if w.trainable and id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    @contextlib.contextmanager
    def _compiled_trainable(self):
        """Runs a train step with the ``trainable`` flags read at compile time."""
        saved = [(layer, layer._trainable) for layer, _ in self._snapshot]
        for layer, flag in self._snapshot:
            layer._trainable = flag
        try:
            yield
        finally:
            for layer, flag in saved:
                layer._trainable = flag

    def _build_optimizer(self) -> None:
        variables = self._trainable_variables()
        key = hash(tuple(id(v) for v in variables))
        if self._built_for != key:
            self.optimizer.build(variables)
            self._built_for = key
        else:
            _rebind(self.optimizer)

    def _prepare(self, xs: list) -> None:
        self.model._ensure_built(xs[0])
        if self.optimizer is not None:
            self._build_optimizer()
        if self._loss_arg is not None:
            self._build_losses()

    # -- data ------------------------------------------------------------------------------------

    def _inputs(self, x: Any, what: str) -> list:
        if x is None:
            raise ValueError(f"{what}: expected an array of inputs. Received: None")
        xs = self.model._structure_list(
            x, list(getattr(self.model, "input_names", []) or []), "input", what, lambda v: _as_input(v, what)
        )
        n = xs[0].shape[0]
        for a in xs:
            if a.shape[0] != n:
                raise ValueError(
                    f"{what}: all input arrays must have the same number of samples. "
                    f"Received: {[a.shape[0] for a in xs]}"
                )
        return xs

    def _targets(self, y: Any, n: int, what: str) -> list:
        names = self._output_names()
        if y is None:
            raise ValueError(f"{what}: expected targets y. Received: None")
        losses = self._losses
        if isinstance(y, dict):
            unknown = sorted(set(y) - set(names))
            if unknown:
                raise ValueError(f"{what}: y keys {unknown} are not output names {names}")
            out = []
            for i, k in enumerate(names):
                if k not in y:
                    if losses is not None and losses[i] is not None:
                        raise ValueError(f"{what}: y has no targets for output '{k}', which has a loss")
                    out.append(None)
                else:
                    out.append(_as_target(y[k], n, what))
            return out
        if len(names) > 1:
            if not isinstance(y, (list, tuple)) or len(y) != len(names):
                got = f"{len(y)} arrays" if isinstance(y, (list, tuple)) else f"one {type(y).__name__}"
                raise ValueError(
                    f"{what}: the model has {len(names)} outputs {names}; expected a list of "
                    f"{len(names)} target arrays or a dict. Received: {got}"
                )
            return [None if v is None else _as_target(v, n, what) for v in y]
        if isinstance(y, (list, tuple)) and len(y) == 1 and isinstance(y[0], np.ndarray):
            y = y[0]
        return [_as_target(y, n, what)]

    # -- one batch ---------------------------------------------------------------------------------

    def _regularization(self, variables: list) -> float:
        penalty = 0.0
        for var in variables:
            if var.regularizer is not None:
                penalty += float(var.regularizer(var.value))
                var.grad += var.regularizer.gradient(var.value)
        return penalty

    def _losses_and_grads(self, ys: list, preds: list, wb: Optional[np.ndarray], with_grad: bool) -> tuple:
        total, grads = 0.0, []
        for i, (fn, weight) in enumerate(zip(self._losses, self._loss_weights)):
            if fn is None or ys[i] is None:
                grads.append(None)
                continue
            if with_grad:
                value, grad = fn.value_and_grad(ys[i], preds[i], sample_weight=wb)
                grads.append(grad if weight == 1.0 else grad * np.float32(weight))
            else:
                value = float(fn(ys[i], preds[i], sample_weight=wb))
            tracker = self._output_trackers[i]
            if tracker is not None:
                tracker.update_state(value, sample_weight=preds[i].shape[0])
            total += weight * float(value)
        return total, grads

    def _update_metrics(self, ys: list, preds: list, wb: Optional[np.ndarray]) -> None:
        for m, (i, weighted) in zip(self.metrics, self._metric_slots):
            if ys[i] is not None:
                m.update_state(ys[i], preds[i], sample_weight=wb if weighted else None)

    def _train_batch(self, xb: list, yb: list, wb: Optional[np.ndarray]) -> float:
        model = self.model
        multi_out = len(self._losses) > 1
        if wb is None and len(xb) == 1 and not multi_out:
            loss = _training.train_step(self, xb[0], yb[0])  # chains of Dense layers: two native calls
            if loss is not None:
                return loss
        with self._compiled_trainable():
            y_pred, ctx = model.forward(xb if len(xb) > 1 else xb[0], training=True)
            preds = list(y_pred) if multi_out else [y_pred]
            loss, grads = self._losses_and_grads(yb, preds, wb, with_grad=True)
            loss += model.activity_penalty(ctx)
            self.optimizer.zero_grad()
            model.backward(ctx, grads if multi_out else grads[0], need_dx=False)
        return self._finish_train_batch(loss, yb, preds, wb, xb[0].shape[0])

    def _finish_train_batch(self, loss: float, yb: list, preds: list, wb: Optional[np.ndarray], n: int) -> float:
        """Regularization, the optimizer update, the loss tracker and the metrics of a step
        whose gradients are in place."""
        loss += self._regularization(self.optimizer.variables)
        if isinstance(self.optimizer, _optimizers.LossScaleOptimizer):
            # the gradients of the scaled loss (linear in the loss; exact for a power-of-two scale)
            self.optimizer._scale_grads()
        self.optimizer.apply()
        self._loss_tracker.update_state(loss, sample_weight=n)
        self._update_metrics(yb, preds, wb)
        return loss

    def _test_batch(self, xb: list, yb: list, wb: Optional[np.ndarray]) -> float:
        y_pred, _ = self.model.forward(xb if len(xb) > 1 else xb[0], training=False)
        preds = list(y_pred) if len(self._losses) > 1 else [y_pred]
        loss, _ = self._losses_and_grads(yb, preds, wb, with_grad=False)
        loss += sum(float(v.regularizer(v.value)) for v in self._trainable_variables() if v.regularizer is not None)
        self._loss_tracker.update_state(loss, sample_weight=xb[0].shape[0])
        self._update_metrics(yb, preds, wb)
        return loss

    def _logs(self, prefix: str = "") -> dict:
        logs = {prefix + "loss": float(self._loss_tracker.result())}
        for t in self._output_trackers:
            if t is not None:
                logs[prefix + t.name] = float(t.result())
        for m in self.metrics:
            logs[prefix + m.name] = _log_value(m.result())
        return logs

    def _reset_metrics(self) -> None:
        self._loss_tracker.reset_state()
        for t in self._output_trackers:
            if t is not None:
                t.reset_state()
        for m in self.metrics:
            m.reset_state()

    def _require_compiled(self, what: str) -> None:
        if self.optimizer is None or self._loss_arg is None:
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
        """Trains for ``epochs`` epochs; returns the ``History`` callback (Keras semantics).

        ``x`` may also be a ``pynncore.utils.PyDataset``, a generator or iterator, or another
        iterable of batches (a PyTorch ``DataLoader``): each batch is ``(x, y)`` or
        ``(x, y, sample_weight)``, ``y`` and ``sample_weight`` are not given separately, and
        ``steps_per_epoch`` limits the batches per epoch (see ``pynncore.utils.dataset``).
        """
        self._require_compiled("fit")
        if _dataset.is_batch_source(x):
            return self._fit_batches(
                x, y, sample_weight, epochs, verbose, callbacks, validation_split, validation_data,
                shuffle, class_weight, initial_epoch, steps_per_epoch, validation_steps,
                validation_batch_size, validation_freq,
            )
        xs = self._inputs(x, "fit")
        n = xs[0].shape[0]
        if n == 0:
            raise ValueError("fit: expected at least one sample. Received: an empty x")
        self._prepare(xs)
        ys = self._targets(y, n, "fit")
        for a in xs:
            _check_finite(a, "x")
        for a in ys:
            if a is not None:
                _check_finite(a, "y")
        sw = _as_weights(sample_weight, n, "fit")
        if class_weight is not None:
            if len(ys) != 1:
                raise ValueError("fit: class_weight is only supported for models with one output")
            cw = _class_weights_to_sample(class_weight, ys[0])
            sw = cw if sw is None else sw * cw
        batch_size = self._batch_size(batch_size, "fit")
        if not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"fit: epochs must be a non-negative integer. Received: {epochs!r}")

        val = self._validation_data(validation_data, validation_steps)
        if val is None and validation_split:
            if not 0.0 < float(validation_split) < 1.0:
                raise ValueError(f"fit: validation_split must be in (0, 1). Received: {validation_split}")
            split = int(n * (1.0 - float(validation_split)))
            if split == 0 or split == n:
                raise ValueError(f"fit: validation_split={validation_split} leaves no training or no validation samples out of {n}")
            val = (_take(xs, slice(split, None)), _take(ys, slice(split, None)), None if sw is None else sw[split:])
            xs, ys, sw = _take(xs, slice(None, split)), _take(ys, slice(None, split)), (None if sw is None else sw[:split])
            n = split

        steps = math.ceil(n / batch_size)
        if steps_per_epoch is not None:
            steps = min(steps, int(steps_per_epoch))
        rng = np.random.default_rng(_seed_from_global())

        def epoch_batches():
            order = rng.permutation(n) if shuffle else None
            for step in range(steps):
                sl = slice(step * batch_size, min(n, (step + 1) * batch_size))
                idx = order[sl] if order is not None else sl
                yield _take(xs, idx), _take(ys, idx), None if sw is None else sw[idx]

        return self._train_epochs(epoch_batches, steps, epochs, initial_epoch, verbose, callbacks, val,
                                  validation_batch_size or batch_size, validation_freq)

    def _train_epochs(self, epoch_batches: Any, steps: Optional[int], epochs: int, initial_epoch: int,
                      verbose: Any, callbacks: Any, val: Any, val_batch_size: int, validation_freq: int):
        """The epoch loop of ``fit`` over ``epoch_batches()`` (the ``(xs, ys, w)`` batches of one
        epoch); an epoch that gets no batch ends training (an iterator that ran out)."""
        model = self.model
        cbs = _callbacks.CallbackList(
            callbacks, add_history=True, add_progbar=verbose != 0, model=model, verbose=verbose,
            epochs=epochs, steps=steps,
        )
        history = cbs.history
        model.stop_training = False
        model.__dict__.pop("_initial_epoch", None)
        cbs.on_train_begin()
        # a callback that restored a backup (BackupAndRestore) says where training resumes
        initial_epoch = model.__dict__.pop("_initial_epoch", initial_epoch)
        logs: dict = {}
        for epoch in range(int(initial_epoch), int(epochs)):
            self._reset_metrics()
            cbs.on_epoch_begin(epoch)
            done = 0
            for step, (xb, yb, wb) in enumerate(epoch_batches()):
                cbs.on_train_batch_begin(step)
                self._train_batch(xb, yb, wb)
                logs = self._logs()
                cbs.on_train_batch_end(step, logs)
                done += 1
                if model.stop_training:
                    break
            if done == 0:
                break
            epoch_logs = dict(logs)
            if val is not None and (epoch + 1) % int(validation_freq) == 0:
                epoch_logs.update(self._validate(val, val_batch_size, cbs))
            cbs.on_epoch_end(epoch, epoch_logs)
            if model.stop_training:
                break
        opt = self.optimizer
        if int(epochs) > 0 and opt._params is not None:
            # Keras: with use_ema the weights end as their moving averages
            opt.finalize_variable_values(opt.variables)
        cbs.on_train_end(logs)
        model.history = history
        return history

    def _validation_data(self, validation_data: Any, validation_steps: Optional[int]) -> Any:
        """``validation_data`` as a batch source or checked ``(xs, ys, w)`` arrays (or None)."""
        if validation_data is None:
            return None
        if _dataset.is_batch_source(validation_data):
            return _dataset.Batches(validation_data, validation_steps, "fit(validation_data)")
        vd = tuple(validation_data)
        if len(vd) not in (2, 3):
            raise ValueError("fit: validation_data must be (x_val, y_val) or (x_val, y_val, sample_weight)")
        vx = self._inputs(vd[0], "fit(validation_data)")
        vy = self._targets(vd[1], vx[0].shape[0], "fit(validation_data)")
        vw = _as_weights(vd[2], vx[0].shape[0], "fit(validation_data)") if len(vd) == 3 else None
        return (vx, vy, vw)

    def _validate(self, val: Any, batch_size: int, cbs: Any) -> dict:
        """Validation logs (``val_`` names) between the callbacks' ``on_test_begin`` and
        ``on_test_end`` (which get the logs without the prefix), as in Keras's ``fit``."""
        cbs.on_test_begin()
        if isinstance(val, _dataset.Batches):
            logs = self._evaluate_batches(self._source_batches(val, "fit(validation_data)"))
        else:
            logs = self._evaluate_arrays(*val, batch_size=batch_size)
        cbs.on_test_end(dict(logs))
        return {"val_" + k: v for k, v in logs.items()}

    def _batch_arrays(self, batch: Any, what: str, class_weight: Optional[dict] = None, train: bool = False) -> tuple:
        """``(xs, ys, sample_weight)`` of one batch from a batch source, checked like arrays."""
        bx, by, bw = _dataset.split_batch(batch, what)
        xs = self._inputs(bx, what)
        n = xs[0].shape[0]
        if n == 0:
            raise ValueError(f"{what}: a batch holds no samples")
        self._prepare(xs)
        ys = self._targets(by, n, what)
        if train:
            for a in xs:
                _check_finite(a, "x")
            for a in ys:
                if a is not None:
                    _check_finite(a, "y")
        w = _as_weights(bw, n, what)
        if class_weight is not None:
            if len(ys) != 1:
                raise ValueError(f"{what}: class_weight is only supported for models with one output")
            cw = _class_weights_to_sample(class_weight, ys[0])
            w = cw if w is None else w * cw
        return xs, ys, w

    def _source_batches(self, batches: "_dataset.Batches", what: str):
        for batch in batches.epoch():
            yield self._batch_arrays(batch, what)

    def _fit_batches(
        self, source: Any, y: Any, sample_weight: Any, epochs: int, verbose: Any, callbacks: Any,
        validation_split: float, validation_data: Any, shuffle: bool, class_weight: Optional[dict], initial_epoch: int,
        steps_per_epoch: Optional[int], validation_steps: Optional[int], validation_batch_size: Optional[int],
        validation_freq: int,
    ):
        kind = type(source).__name__
        if y is not None or sample_weight is not None:
            raise ValueError(
                f"fit: y and sample_weight come from the batches when x is a {kind} "
                "(a dataset, generator or iterator). Received: y or sample_weight as well"
            )
        if validation_split:
            raise ValueError(
                f"fit: validation_split needs arrays; x is a {kind}. Pass validation_data instead"
            )
        if not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"fit: epochs must be a non-negative integer. Received: {epochs!r}")
        batches = _dataset.Batches(source, steps_per_epoch, "fit", warn_exhausted=True)
        rng = np.random.default_rng(_seed_from_global()) if shuffle else None
        val = self._validation_data(validation_data, validation_steps)

        def epoch_batches():
            for batch in batches.epoch(rng):
                yield self._batch_arrays(batch, "fit", class_weight, train=True)

        return self._train_epochs(epoch_batches, batches.steps, epochs, initial_epoch, verbose, callbacks, val,
                                  validation_batch_size or 32, validation_freq)

    def _batch_size(self, batch_size: Any, what: str) -> int:
        if batch_size is None:
            return 32
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"{what}: batch_size must be a positive integer. Received: {batch_size!r}")
        return int(batch_size)

    def _evaluate_arrays(self, xs: list, ys: list, w: Optional[np.ndarray], batch_size: int, prefix: str = "") -> dict:
        n = xs[0].shape[0]
        parts = (
            (_take(xs, sl), _take(ys, sl), None if w is None else w[sl])
            for sl in (slice(start, min(n, start + batch_size)) for start in range(0, n, batch_size))
        )
        return self._evaluate_batches(parts, prefix)

    def _evaluate_batches(self, parts: Any, prefix: str = "") -> dict:
        """Loss and metrics over ``(xs, ys, sample_weight)`` batches, with fresh trackers."""
        saved = (self._loss_tracker, [None if t is None else (t.name, t) for t in self._output_trackers])
        self._loss_tracker = _metrics.Mean(name="loss")
        self._output_trackers = [None if t is None else _metrics.Mean(name=t.name) for t in self._output_trackers]
        for m in self.metrics:
            m.reset_state()
        for xb, yb, wb in parts:
            self._test_batch(xb, yb, wb)
        logs = self._logs(prefix)
        self._loss_tracker = saved[0]
        self._output_trackers = [None if t is None else t[1] for t in saved[1]]
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
        """Returns the loss (and metrics) on the given data, as Keras does. ``x`` may be a
        dataset, generator or iterator of ``(x, y[, sample_weight])`` batches (``steps``
        limits how many are read). ``callbacks`` get ``on_test_begin`` before the first batch
        and ``on_test_end`` with the results."""
        self._require_compiled("evaluate")
        cbs = _callbacks.CallbackList(callbacks, model=self.model, verbose=verbose, steps=steps)
        if _dataset.is_batch_source(x):
            if y is not None or sample_weight is not None:
                raise ValueError(
                    f"evaluate: y and sample_weight come from the batches when x is a {type(x).__name__}"
                )
            cbs.on_test_begin()
            logs = self._evaluate_batches(self._source_batches(_dataset.Batches(x, steps, "evaluate"), "evaluate"))
            cbs.on_test_end(dict(logs))
            if return_dict:
                return logs
            values = list(logs.values())
            return values[0] if len(values) == 1 else values
        xs = self._inputs(x, "evaluate")
        n = xs[0].shape[0]
        if n == 0:
            raise ValueError("evaluate: expected at least one sample. Received: an empty x")
        self._prepare(xs)
        ys = self._targets(y, n, "evaluate")
        w = _as_weights(sample_weight, n, "evaluate")
        bs = self._batch_size(batch_size, "evaluate")
        cbs.on_test_begin()
        logs = self._evaluate_arrays(xs, ys, w, bs)
        cbs.on_test_end(dict(logs))
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x: Any, batch_size: Optional[int] = None, verbose: Any = "auto", callbacks: Any = None,
                steps: Optional[int] = None) -> Any:
        """Runs the model in inference mode over ``x`` in batches; returns float32 outputs
        (a list, or a dict when the model's outputs were given as a dict, for several).
        ``x`` may be a dataset, generator or iterator of batches (targets in them are
        ignored; ``steps`` limits how many are read)."""
        if _dataset.is_batch_source(x):
            return self._predict_batches(_dataset.Batches(x, steps, "predict"))
        xs = self._inputs(x, "predict")
        model = self.model
        model._ensure_built(xs[0] if xs[0].shape[0] else np.zeros((1,) + xs[0].shape[1:], np.float32))
        bs = self._batch_size(batch_size, "predict")
        n = xs[0].shape[0]
        n_out = len(model._outputs)
        if n == 0:
            outs = [np.zeros((0,) + tuple(d if d is not None else 0 for d in t.shape[1:]), np.float32) for t in model._outputs]
            return model._pack_outputs(outs)
        parts: list = [[] for _ in range(n_out)]
        for s in range(0, n, bs):
            xb = _take(xs, slice(s, s + bs))
            y = model._infer(xb if len(xb) > 1 else xb[0])
            for k, v in enumerate(y if n_out > 1 else [y]):
                parts[k].append(v)
        # Layers may hand back views of their inputs: the result is always a fresh array.
        outs = [np.array(p[0], dtype=np.float32) if len(p) == 1 else np.concatenate(p, axis=0).astype(np.float32, copy=False) for p in parts]
        return model._pack_outputs(outs)

    def _predict_batches(self, batches: "_dataset.Batches") -> Any:
        model = self.model
        n_out = len(model._outputs)
        parts: list = [[] for _ in range(n_out)]
        for batch in batches.epoch():
            bx, _, _ = _dataset.split_batch(batch, "predict")
            xs = self._inputs(bx, "predict")
            model._ensure_built(xs[0])
            y = model._infer(xs if len(xs) > 1 else xs[0])
            for k, v in enumerate(y if n_out > 1 else [y]):
                parts[k].append(np.asarray(v, dtype=np.float32))
        if not parts[0]:
            raise ValueError("predict: the input gave no batches")
        outs = [np.concatenate(p, axis=0) if len(p) > 1 else np.array(p[0], dtype=np.float32) for p in parts]
        return model._pack_outputs(outs)

    def train_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None, class_weight: Optional[dict] = None, return_dict: bool = False):
        """One optimizer step on one batch; returns the loss (and metrics) of that batch."""
        self._require_compiled("train_on_batch")
        xs = self._inputs(x, "train_on_batch")
        self._prepare(xs)
        ys = self._targets(y, xs[0].shape[0], "train_on_batch")
        for a in xs:
            _check_finite(a, "x")
        for a in ys:
            if a is not None:
                _check_finite(a, "y")
        w = _as_weights(sample_weight, xs[0].shape[0], "train_on_batch")
        if class_weight is not None:
            if len(ys) != 1:
                raise ValueError("train_on_batch: class_weight is only supported for models with one output")
            cw = _class_weights_to_sample(class_weight, ys[0])
            w = cw if w is None else w * cw
        self._reset_metrics()
        self._train_batch(xs, ys, w)
        return self._result(return_dict)

    def test_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None, return_dict: bool = False):
        self._require_compiled("test_on_batch")
        xs = self._inputs(x, "test_on_batch")
        self._prepare(xs)
        ys = self._targets(y, xs[0].shape[0], "test_on_batch")
        w = _as_weights(sample_weight, xs[0].shape[0], "test_on_batch")
        self._reset_metrics()
        self._test_batch(xs, ys, w)
        return self._result(return_dict)

    def _result(self, return_dict: bool):
        logs = self._logs()
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values


def _log_value(result: Any) -> Any:
    """A metric result as logged: a float, or an array for results with several values
    (``F1Score(average=None)``, ``Precision(thresholds=[...])``), as Keras logs them."""
    return float(result) if np.ndim(result) == 0 else np.asarray(result, dtype=np.float64)


def _take(arrays: list, idx: Any) -> list:
    return [None if a is None else a[idx] for a in arrays]


def _trainable_snapshot(model: Any) -> list:
    """``(layer, trainable)`` for the model and every layer in it, as training will see it:
    a layer inside a frozen model counts as frozen."""
    out: list = []
    seen: set = set()

    def walk(m: Any, enabled: bool) -> None:
        for layer in getattr(m, "layers", []):
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            flag = enabled and layer.trainable
            out.append((layer, flag))
            if hasattr(layer, "_leaf_layers"):
                walk(layer, flag)

    walk(model, bool(model.trainable))
    return out


def _rebind(optimizer: Any) -> None:
    """Points the optimizer's variables back at its flat buffers (another optimizer built over
    the same variables since) without touching the optimizer state."""
    if optimizer._params is None or optimizer._is_bound():
        return
    optimizer._bind_variables(copy_values=True)


def _seed_from_global() -> int:
    from pynncore.utils import rng as _rng

    return int(_rng.get_global_generator().integers(0, 2**63 - 1))
