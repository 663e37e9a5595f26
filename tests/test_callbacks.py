"""Callbacks driven by a small fake model that offers exactly the interface they may use."""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest

from pynncore.callbacks import (
    Callback,
    CallbackList,
    CSVLogger,
    EarlyStopping,
    History,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ProgbarLogger,
    ReduceLROnPlateau,
    TerminateOnNaN,
)


class FakeOptimizer:
    def __init__(self, learning_rate: float = 0.1) -> None:
        self.learning_rate = learning_rate


class FakeModel:
    """The model interface callbacks rely on, and nothing more."""

    def __init__(self, learning_rate: float = 0.1) -> None:
        self.stop_training = False
        self.optimizer = FakeOptimizer(learning_rate)
        self._weights = [np.zeros((2, 2), np.float32), np.zeros(2, np.float32)]
        self.saved: list[tuple[str, str]] = []

    def get_weights(self) -> list[np.ndarray]:
        return [w.copy() for w in self._weights]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        self._weights = [np.asarray(w, np.float32).copy() for w in weights]

    def save(self, path: str) -> None:
        self.saved.append(("model", path))
        with open(path, "w") as f:
            f.write("model")

    def save_weights(self, path: str) -> None:
        self.saved.append(("weights", path))
        with open(path, "w") as f:
            f.write("weights")


def fit(model: FakeModel, callbacks, epoch_logs: list[dict], steps: int = 2, verbose=0) -> History:
    """A training loop as the trainer runs it: weights become the epoch index each epoch."""
    cbs = CallbackList(callbacks, add_history=True, model=model, epochs=len(epoch_logs), steps=steps, verbose=verbose)
    model.stop_training = False
    cbs.on_train_begin()
    for epoch, logs in enumerate(epoch_logs):
        cbs.on_epoch_begin(epoch)
        for batch in range(steps):
            cbs.on_train_batch_begin(batch)
            model.set_weights([np.full((2, 2), epoch), np.full(2, epoch)])
            cbs.on_train_batch_end(batch, {"loss": logs.get("loss", 0.0)})
            if model.stop_training:
                break
        epoch_log = dict(logs)
        cbs.on_epoch_end(epoch, epoch_log)
        if model.stop_training:
            break
    cbs.on_train_end()
    return cbs.history


def losses(values, key="val_loss"):
    return [{key: v, "loss": v} for v in values]


# ---------------------------------------------------------------------------------------------
# Base, CallbackList, History


def test_base_callback_routes_train_batch_hooks_to_legacy_names():
    seen = []

    class Legacy(Callback):
        def on_batch_begin(self, batch, logs=None):
            seen.append(("begin", batch))

        def on_batch_end(self, batch, logs=None):
            seen.append(("end", batch, logs["loss"]))

    cb = Legacy()
    cb.on_train_batch_begin(3)
    cb.on_train_batch_end(3, {"loss": 1.5})
    assert seen == [("begin", 3), ("end", 3, 1.5)]
    for hook in (
        "on_test_begin",
        "on_test_end",
        "on_predict_begin",
        "on_predict_end",
        "on_train_begin",
        "on_train_end",
    ):
        getattr(cb, hook)({})  # every hook exists


def test_callback_list_order_shared_logs_and_defaults():
    order = []

    class Tag(Callback):
        def __init__(self, tag):
            super().__init__()
            self.tag = tag

        def on_epoch_end(self, epoch, logs=None):
            order.append(self.tag)
            logs[self.tag] = epoch

    model = FakeModel()
    cbs = CallbackList(
        [Tag("a"), [Tag("b")]], add_history=True, add_progbar=True, model=model, epochs=1, steps=1, verbose=0
    )
    assert [type(c).__name__ for c in cbs] == ["Tag", "Tag", "History", "ProgbarLogger"]
    assert all(c.model is model for c in cbs) and all(c.params["epochs"] == 1 for c in cbs)
    logs = {"loss": 1.0}
    cbs.on_train_begin()
    cbs.on_epoch_begin(0)
    cbs.on_epoch_end(0, logs)
    assert order == ["a", "b"]
    assert cbs.history.history == {"loss": [1.0], "a": [0], "b": [0]}  # History saw what earlier ones added
    given = History()
    assert CallbackList([given], add_history=True).history is given
    with pytest.raises(TypeError, match="Callback.*'not a callback'"):
        CallbackList(["not a callback"])


def test_history_records_epochs_and_converts_numpy_scalars():
    model = FakeModel()
    h = fit(model, [], [{"loss": np.float32(0.5), "acc": np.float64(0.25)}, {"loss": 0.4, "acc": 0.5}])
    assert h.epoch == [0, 1]
    assert h.history == {"loss": [0.5, 0.4], "acc": [0.25, 0.5]}
    assert type(h.history["loss"][0]) is float
    assert model.history is h


# ---------------------------------------------------------------------------------------------
# EarlyStopping


def test_early_stopping_patience():
    model = FakeModel()
    stop = EarlyStopping(monitor="val_loss", patience=2)
    h = fit(model, [stop], losses([1.0, 0.8, 0.9, 0.85, 0.7, 0.6]))
    # best at epoch 1; epochs 2 and 3 do not improve -> stop at epoch 3
    assert h.epoch == [0, 1, 2, 3]
    assert stop.stopped_epoch == 3 and stop.best == 0.8 and model.stop_training


def test_early_stopping_patience_zero_stops_at_first_non_improvement():
    stop = EarlyStopping(monitor="loss")
    h = fit(FakeModel(), [stop], losses([1.0, 0.9, 0.95, 0.5]))
    assert h.epoch == [0, 1, 2] and stop.stopped_epoch == 2


def test_early_stopping_restores_best_weights(capsys):
    model = FakeModel()
    stop = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True, verbose=1)
    fit(model, [stop], losses([1.0, 0.5, 0.7, 0.9, 0.1]))
    assert stop.best_epoch == 1
    np.testing.assert_array_equal(model.get_weights()[0], np.full((2, 2), 1.0))
    out = capsys.readouterr().out
    assert "Epoch 4: early stopping" in out and "best epoch: 2." in out


def test_early_stopping_without_restore_keeps_last_weights():
    model = FakeModel()
    fit(model, [EarlyStopping(monitor="val_loss", patience=1)], losses([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(model.get_weights()[1], np.full(2, 1.0))


def test_early_stopping_min_delta():
    stop = EarlyStopping(monitor="val_loss", patience=1, min_delta=0.1)
    h = fit(FakeModel(), [stop], losses([1.0, 0.95, 0.5]))
    assert h.epoch == [0, 1]  # 0.05 better is not an improvement


def test_early_stopping_baseline():
    # never beats the baseline 0.5: the count starts at the first epoch
    values = [0.9, 0.95, 0.92, 0.97, 0.99]
    stop = EarlyStopping(monitor="val_loss", patience=3, baseline=0.5)
    h = fit(FakeModel(), [stop], losses(values))
    assert h.epoch == [0, 1, 2] and stop.stopped_epoch == 2
    stop = EarlyStopping(monitor="val_loss", patience=3)  # without it, one epoch later
    assert fit(FakeModel(), [stop], losses(values)).epoch == [0, 1, 2, 3]
    # beating the baseline resets the count
    stop = EarlyStopping(monitor="val_loss", patience=2, baseline=0.5)
    h = fit(FakeModel(), [stop], losses([0.9, 0.4, 0.45, 0.46, 0.3]))
    assert h.epoch == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "monitor, mode, values, stop_at",
    [
        ("val_accuracy", "auto", [0.5, 0.6, 0.55, 0.7], 2),
        ("val_acc", "auto", [0.5, 0.6, 0.55, 0.7], 2),
        ("precision", "auto", [0.5, 0.6, 0.55, 0.7], 2),
        ("val_mse", "auto", [0.5, 0.4, 0.45, 0.3], 2),
        ("custom", "max", [0.5, 0.6, 0.55, 0.7], 2),
        ("custom", "min", [0.5, 0.4, 0.45, 0.3], 2),
    ],
)
def test_early_stopping_modes(monitor, mode, values, stop_at):
    stop = EarlyStopping(monitor=monitor, mode=mode)
    fit(FakeModel(), [stop], [{monitor: v} for v in values])
    assert stop.stopped_epoch == stop_at


def test_early_stopping_auto_uses_model_metrics_and_refuses_unknown():
    class Metric:
        name, _direction = "dice", "up"

    model = FakeModel()
    model.metrics = [Metric()]
    stop = EarlyStopping(monitor="val_dice")
    fit(model, [stop], [{"val_dice": v} for v in (0.1, 0.2, 0.15)])
    assert stop.stopped_epoch == 2
    with pytest.raises(ValueError, match="monitor='val_dice'.*mode='max'"):
        fit(FakeModel(), [EarlyStopping(monitor="val_dice")], [{"val_dice": 0.1}])


def test_early_stopping_start_from_epoch_and_unknown_mode():
    stop = EarlyStopping(monitor="loss", start_from_epoch=2)
    h = fit(FakeModel(), [stop], losses([1.0, 2.0, 3.0, 2.5, 2.6]))
    assert h.epoch == [0, 1, 2, 3, 4]
    with pytest.warns(UserWarning, match="mode 'best' is unknown"):
        EarlyStopping(mode="best")


def test_early_stopping_missing_monitor_warns_and_continues():
    stop = EarlyStopping(monitor="val_loss")
    with pytest.warns(UserWarning, match="`val_loss` which is not available. Available metrics are: loss"):
        h = fit(FakeModel(), [stop], [{"loss": 1.0}, {"loss": 2.0}])
    assert h.epoch == [0, 1] and stop.stopped_epoch == 0


def test_early_stopping_is_reusable():
    stop = EarlyStopping(monitor="loss", patience=1)
    fit(FakeModel(), [stop], losses([1.0, 2.0, 3.0]))
    h = fit(FakeModel(), [stop], losses([5.0, 4.0, 3.0]))
    assert h.epoch == [0, 1, 2] and stop.stopped_epoch == 0


# ---------------------------------------------------------------------------------------------
# ReduceLROnPlateau / LearningRateScheduler


def test_reduce_lr_on_plateau_factor_patience_min_lr():
    model = FakeModel(learning_rate=0.1)
    reduce = ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, min_lr=0.03, min_delta=0.0)
    h = fit(model, [reduce], losses([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]))
    # logs hold the rate the epoch ran with: reductions at the end of epochs 2 (-> 0.05)
    # and 4 (-> 0.03, clipped to min_lr); after that it stays at min_lr
    assert h.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.03, 0.03])
    assert model.optimizer.learning_rate == pytest.approx(0.03)


def test_reduce_lr_on_plateau_cooldown():
    model = FakeModel(learning_rate=1.0)
    reduce = ReduceLROnPlateau(monitor="loss", factor=0.1, patience=1, cooldown=2, min_delta=0.0)
    h = fit(model, [reduce], losses([1.0] * 7))
    # reduce at the end of epoch 1; the cooldown counter runs down at epochs 2 and 3, and
    # epoch 3 counts again (Keras's order), so the next reductions are at 3 and 5
    assert h.history["learning_rate"] == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.01, 0.01, 0.001])
    no_cooldown = fit(
        FakeModel(learning_rate=1.0), [ReduceLROnPlateau(monitor="loss", factor=0.1, patience=1)], losses([1.0] * 4)
    )
    assert no_cooldown.history["learning_rate"] == pytest.approx([1.0, 1.0, 0.1, 0.01])


def test_reduce_lr_on_plateau_improvement_resets_and_min_delta():
    model = FakeModel(learning_rate=1.0)
    reduce = ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, min_delta=0.01)
    fit(model, [reduce], losses([1.0, 0.995, 0.98, 0.9, 0.89]))
    # 0.995 is within min_delta (no improvement), 0.98 improves, 0.9 improves, 0.89 within
    assert model.optimizer.learning_rate == 1.0
    fit(model, [reduce], losses([1.0, 0.995, 0.992]))
    assert model.optimizer.learning_rate == 0.5


def test_reduce_lr_on_plateau_mode_max_and_errors():
    model = FakeModel(learning_rate=1.0)
    fit(
        model,
        [ReduceLROnPlateau(monitor="val_accuracy", factor=0.5, patience=1)],
        [{"val_accuracy": v} for v in (0.5, 0.6, 0.6)],
    )
    assert model.optimizer.learning_rate == 0.5
    with pytest.raises(ValueError, match="factor >= 1.0"):
        ReduceLROnPlateau(factor=1.0)
    with pytest.warns(UserWarning, match="`val_loss` which is not available"):
        fit(FakeModel(), [ReduceLROnPlateau()], [{"loss": 1.0}])


def test_learning_rate_scheduler_two_and_one_argument_forms():
    model = FakeModel(learning_rate=1.0)
    h = fit(model, [LearningRateScheduler(lambda epoch, lr: lr * 0.5)], losses([1.0, 1.0, 1.0]))
    assert h.history["learning_rate"] == [0.5, 0.25, 0.125]
    model = FakeModel()
    h = fit(model, [LearningRateScheduler(lambda epoch: 0.01 * (epoch + 1))], losses([1.0, 1.0]))
    assert h.history["learning_rate"] == pytest.approx([0.01, 0.02])


def test_learning_rate_scheduler_does_not_hide_type_errors_and_checks_output():
    def broken(epoch, lr):
        raise TypeError("bug inside the schedule")

    with pytest.raises(TypeError, match="bug inside"):
        fit(FakeModel(), [LearningRateScheduler(broken)], losses([1.0]))
    with pytest.raises(ValueError, match="should be a finite float. Got: 'x'"):
        fit(FakeModel(), [LearningRateScheduler(lambda e, lr: "x")], losses([1.0]))
    with pytest.raises(ValueError, match="finite float"):
        fit(FakeModel(), [LearningRateScheduler(lambda e, lr: float("nan"))], losses([1.0]))
    h = fit(FakeModel(), [LearningRateScheduler(lambda e, lr: np.float32(0.5))], losses([1.0]))
    assert h.history["learning_rate"] == [0.5]


# ---------------------------------------------------------------------------------------------
# ModelCheckpoint


def test_checkpoint_every_epoch_with_formatted_names(tmp_path):
    model = FakeModel()
    path = tmp_path / "ckpt" / "m-{epoch:02d}-{val_loss:.2f}.pnc"
    fit(model, [ModelCheckpoint(path)], losses([0.5, 0.25]))
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["m-01-0.50.pnc", "m-02-0.25.pnc"]
    assert [kind for kind, _ in model.saved] == ["model", "model"]


def test_checkpoint_save_best_only_and_weights_only(tmp_path, capsys):
    model = FakeModel()
    path = str(tmp_path / "w-{epoch}.weights")
    ckpt = ModelCheckpoint(path, monitor="val_loss", save_best_only=True, save_weights_only=True, verbose=1)
    fit(model, [ckpt], losses([0.5, 0.7, 0.4, 0.4]))
    assert model.saved == [("weights", path.format(epoch=1)), ("weights", path.format(epoch=3))]
    out = capsys.readouterr().out
    assert "val_loss improved from None to 0.50000" in out and "did not improve from 0.40000" in out


def test_checkpoint_mode_max_and_initial_threshold(tmp_path):
    model = FakeModel()
    ckpt = ModelCheckpoint(
        tmp_path / "best.pnc", monitor="val_accuracy", save_best_only=True, initial_value_threshold=0.6
    )
    fit(model, [ckpt], [{"val_accuracy": v} for v in (0.5, 0.7, 0.65, 0.8)])
    assert len(model.saved) == 2 and ckpt.best == 0.8
    model = FakeModel()
    fit(
        model,
        [ModelCheckpoint(tmp_path / "x.pnc", monitor="val_loss", mode="max", save_best_only=True)],
        losses([0.5, 0.7, 0.6]),
    )
    assert len(model.saved) == 2


def test_checkpoint_batch_frequency(tmp_path):
    model = FakeModel()
    ckpt = ModelCheckpoint(str(tmp_path / "e{epoch}-b{batch}.pnc"), save_freq=3)
    fit(model, [ckpt], losses([1.0, 1.0]), steps=4)
    # 8 batches: saves after the 3rd and 6th (epoch 1 batch 3, epoch 2 batch 2)
    assert [os.path.basename(p) for _, p in model.saved] == ["e1-b3.pnc", "e2-b2.pnc"]


def test_checkpoint_errors(tmp_path):
    with pytest.raises(ValueError, match="save_freq"):
        ModelCheckpoint("x.pnc", save_freq="batch")
    with pytest.raises(ValueError, match=r"no value for 'val_acc'.*epoch"):
        fit(FakeModel(), [ModelCheckpoint(str(tmp_path / "{val_acc:.2f}.pnc"))], losses([1.0]))
    (tmp_path / "adir").mkdir()
    with pytest.raises(ValueError, match="existing directory"):
        fit(FakeModel(), [ModelCheckpoint(str(tmp_path / "adir"))], losses([1.0]))
    with pytest.warns(UserWarning, match="only with val_acc available"):
        fit(
            FakeModel(),
            [ModelCheckpoint(str(tmp_path / "y.pnc"), monitor="val_acc", save_best_only=True)],
            losses([1.0]),
        )


# ---------------------------------------------------------------------------------------------
# TerminateOnNaN


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), np.float32("nan")])
def test_terminate_on_nan_stops(bad, capsys):
    model = FakeModel()
    h = fit(model, [TerminateOnNaN()], [{"loss": 1.0}, {"loss": bad}, {"loss": 1.0}])
    assert model.stop_training and h.epoch == [0, 1]
    assert "Batch 0: Invalid loss, terminating training" in capsys.readouterr().out


def test_terminate_on_nan_raise_error_and_finite_loss():
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 0"):
        fit(FakeModel(), [TerminateOnNaN(raise_error=True)], [{"loss": float("nan")}])
    model = FakeModel()
    h = fit(model, [TerminateOnNaN()], [{"loss": 1.0}, {"loss": 2.0}])
    assert not model.stop_training and h.epoch == [0, 1]
    TerminateOnNaN().on_batch_end(0, {})  # no loss: nothing to check


# ---------------------------------------------------------------------------------------------
# CSVLogger


def read_csv(path, sep=","):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=sep))


def test_csv_logger_writes_sorted_columns_and_flushes_each_epoch(tmp_path):
    path = tmp_path / "log.csv"
    logger = CSVLogger(path)
    model = FakeModel()
    cbs = CallbackList([logger], model=model)
    cbs.on_train_begin()
    cbs.on_epoch_end(0, {"loss": 0.5, "acc": np.float32(0.25)})
    assert read_csv(path) == [["epoch", "acc", "loss"], ["0", "0.25", "0.5"]]  # readable mid-run
    cbs.on_epoch_end(1, {"loss": 0.25, "acc": 0.5})
    cbs.on_train_end()
    assert read_csv(path) == [["epoch", "acc", "loss"], ["0", "0.25", "0.5"], ["1", "0.5", "0.25"]]
    assert logger.csv_file.closed


def test_csv_logger_append_separator_and_missing_values(tmp_path):
    path = tmp_path / "log.tsv"
    model = FakeModel()
    model.metrics_names = ["loss", "val_loss"]
    fit(model, [CSVLogger(path, separator="\t")], [{"loss": 1.0}])
    fit(model, [CSVLogger(path, separator="\t", append=True)], [{"loss": 2.0, "val_loss": 3.0}])
    assert read_csv(path, "\t") == [["epoch", "loss", "val_loss"], ["0", "1.0", "NA"], ["0", "2.0", "3.0"]]
    fit(model, [CSVLogger(path)], [{"loss": 4.0, "val_loss": 1.0}])  # no append: replaced
    assert read_csv(path) == [["epoch", "loss", "val_loss"], ["0", "4.0", "1.0"]]
    with pytest.raises(ValueError, match="separator"):
        CSVLogger(path, separator=";;")


# ---------------------------------------------------------------------------------------------
# LambdaCallback / ProgbarLogger


def test_lambda_callback():
    events = []
    cb = LambdaCallback(
        on_train_begin=lambda logs: events.append("train_begin"),
        on_epoch_end=lambda epoch, logs: events.append(("epoch", epoch, logs["loss"])),
        on_train_batch_end=lambda batch, logs: events.append(("batch", batch)),
        on_train_end=lambda logs: events.append("train_end"),
        on_test_begin=lambda logs: events.append("test_begin"),
    )
    fit(FakeModel(), [cb], [{"loss": 0.5}], steps=2)
    CallbackList([cb]).on_test_begin()
    assert events == ["train_begin", ("batch", 0), ("batch", 1), ("epoch", 0, 0.5), "train_end", "test_begin"]
    with pytest.raises(ValueError, match="unknown hook names: on_epoch_finish"):
        LambdaCallback(on_epoch_finish=print)


def test_progbar_logger_verbose2(capsys, monkeypatch):
    from pynncore.utils import progbar

    monkeypatch.setattr(progbar, "_now", lambda: 100.0)
    fit(
        FakeModel(),
        [ProgbarLogger()],
        [{"loss": 0.5, "val_loss": 0.75}, {"loss": 0.25, "val_loss": 0.5}],
        steps=3,
        verbose=2,
    )
    assert capsys.readouterr().out.splitlines() == [
        "Epoch 1/2",
        "3/3 - 0s - 0s/step - loss: 0.5000 - val_loss: 0.7500",
        "Epoch 2/2",
        "3/3 - 0s - 0s/step - loss: 0.2500 - val_loss: 0.5000",
    ]


def test_progbar_logger_verbose0_auto_and_evaluate(capsys):
    fit(FakeModel(), [ProgbarLogger()], [{"loss": 0.5}], verbose=0)
    assert capsys.readouterr().out == ""
    fit(FakeModel(), [ProgbarLogger()], [{"loss": 0.5}], verbose="auto")  # not a terminal: one line
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("2/2 - ") and out[0].endswith("loss: 0.5000")
    # evaluate() outside fit shows its own bar; predict() shows no values
    cbs = CallbackList([ProgbarLogger()], model=FakeModel(), epochs=1, steps=None, verbose=2)
    cbs.on_test_begin()
    for b in range(4):
        cbs.on_test_batch_end(b, {"loss": 0.1 * b})
    cbs.on_test_end({"loss": 0.15})
    out = capsys.readouterr().out
    assert out.startswith("4/4 - ") and out.endswith("loss: 0.1500\n")


def drive(callbacks, model, epoch_logs):
    """Run bare callbacks (any implementation) through epochs; return the logs seen."""
    for cb in callbacks:
        cb.set_model(model)
    for cb in callbacks:
        cb.on_train_begin({})
    seen = []
    for epoch, logs in enumerate(epoch_logs):
        logs = dict(logs)
        for cb in callbacks:
            cb.on_epoch_begin(epoch, logs)
        model.set_weights([np.full((2, 2), epoch), np.full(2, epoch)])
        for cb in callbacks:
            cb.on_epoch_end(epoch, logs)
        seen.append(logs)
        if model.stop_training:
            break
    for cb in callbacks:
        cb.on_train_end({})
    return seen


@pytest.mark.parametrize(
    "values",
    [[1.0, 0.9, 0.95, 0.97, 0.5, 0.6, 0.7, 0.8], [1.0] * 8, [0.9, 0.95, 0.92, 0.97, 0.99, 0.3, 0.4, 0.5]],
)
def test_matches_keras_early_stopping_and_reduce_lr(values):
    keras = pytest.importorskip("keras")
    configs = [
        dict(cls="EarlyStopping", monitor="val_loss", patience=2, restore_best_weights=True),
        dict(cls="EarlyStopping", monitor="val_loss", patience=3, baseline=0.5, min_delta=0.01),
        dict(cls="ReduceLROnPlateau", monitor="val_loss", factor=0.5, patience=1, cooldown=1, min_lr=0.01),
        dict(cls="ReduceLROnPlateau", monitor="val_loss", factor=0.1, patience=2, min_delta=0.05),
    ]
    for config in configs:
        config = dict(config)
        name = config.pop("cls")
        results = []
        for module in (keras.callbacks, __import__("pynncore.callbacks", fromlist=["x"])):
            model = FakeModel(learning_rate=1.0)
            cb = getattr(module, name)(**config)
            seen = drive([cb], model, losses(values))
            results.append(([s.get("learning_rate") for s in seen], len(seen), model.get_weights()[0][0, 0]))
        assert results[0][1:] == results[1][1:], name
        assert results[0][0] == pytest.approx(results[1][0]), name
