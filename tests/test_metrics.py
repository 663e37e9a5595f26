"""Metrics: values against float64 numpy computed here, weights, accumulation and naming."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pynncore import metrics
from pynncore.metrics import (
    AUC,
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    Mean,
    MeanAbsoluteError,
    MeanMetricWrapper,
    MeanSquaredError,
    Precision,
    Recall,
    RootMeanSquaredError,
    SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    Sum,
    TopKCategoricalAccuracy,
)


def wmean(values, weights=None) -> float:
    values = np.asarray(values, np.float64)
    if weights is None:
        return float(values.mean())
    weights = np.asarray(weights, np.float64)
    return float((values * weights).sum() / weights.sum())


# ---------------------------------------------------------------------------------------------
# Mean / Sum


def test_mean_plain_weighted_and_accumulated():
    m = Mean()
    m.update_state([1, 3, 5, 7])
    assert m.result() == 4.0
    m.update_state([10.0])
    assert m.result() == pytest.approx(26 / 5)
    m.reset_state()
    assert m.result() == 0.0  # no data: 0, not NaN
    m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    assert m.result() == 2.0
    assert isinstance(m.result(), float)


def test_mean_reduces_extra_axes_per_sample():
    m = Mean()
    values = np.array([[1.0, 3.0], [5.0, 9.0]])
    m.update_state(values, sample_weight=[1.0, 3.0])
    assert m.result() == pytest.approx((2.0 * 1 + 7.0 * 3) / 4)
    m.reset_state()
    m.update_state(values, sample_weight=[[1.0], [3.0]])  # (N, 1) weights broadcast the same way
    assert m.result() == pytest.approx((2.0 * 1 + 7.0 * 3) / 4)


def test_mean_scalar_values_and_scalar_weight():
    m = Mean()
    m.update_state(2.0)
    m.update_state(4.0, sample_weight=3)
    assert m.result() == pytest.approx((2.0 + 12.0) / 4)
    m.reset_state()
    m.update_state([1.0, 2.0, 3.0], sample_weight=2.0)  # a scalar weight weighs the batch mean once
    assert (m.total, m.count) == (4.0, 2.0)


def test_mean_accumulates_in_float64():
    m = Mean()
    for _ in range(1000):
        m.update_state(np.full(1000, 0.1, np.float32))
    assert m.result() == pytest.approx(float(np.float32(0.1)), rel=1e-12)


def test_mean_rejects_bad_input():
    with pytest.raises(ValueError, match=r"sample_weight of shape \(3,\) does not broadcast"):
        Mean().update_state([1.0, 2.0], sample_weight=[1, 1, 1])
    with pytest.raises(TypeError, match="values.*dtype"):
        Mean(name="loss").update_state(["a"])


def test_sum():
    m = Sum()
    m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    m.update_state([[1.0, 2.0]])
    assert m.result() == 7.0


# ---------------------------------------------------------------------------------------------
# Accuracies


def test_accuracy_keras_examples():
    m = Accuracy()
    m.update_state([[1], [2], [3], [4]], [[0], [2], [3], [4]])
    assert m.result() == 0.75
    m.reset_state()
    m.update_state([[1], [2], [3], [4]], [[0], [2], [3], [4]], sample_weight=[1, 1, 0, 0])
    assert m.result() == 0.5


def test_binary_accuracy(rng):
    y = rng.integers(0, 2, size=(50, 1)).astype(np.float32)
    p = rng.random((50, 1)).astype(np.float32)
    w = rng.random(50)
    m = BinaryAccuracy()
    m.update_state(y[:20], p[:20], sample_weight=w[:20])
    m.update_state(y[20:], p[20:], sample_weight=w[20:])
    hits = (y[:, 0] == (p[:, 0] > 0.5)).astype(np.float64)
    assert m.result() == pytest.approx(wmean(hits, w), rel=1e-12)
    m2 = BinaryAccuracy(threshold=0.8)
    m2.update_state(y[:, 0], p)  # (N,) labels against (N, 1) predictions
    assert m2.result() == pytest.approx(wmean(y[:, 0] == (p[:, 0] > 0.8)))


def test_binary_accuracy_multilabel_is_mean_over_labels():
    m = BinaryAccuracy()
    m.update_state([[1, 0, 1], [0, 0, 1]], [[0.9, 0.2, 0.4], [0.1, 0.7, 0.6]])
    assert m.result() == pytest.approx((2 / 3 + 2 / 3) / 2)


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.5, "0.5"])
def test_binary_accuracy_threshold_must_be_in_open_interval(bad):
    with pytest.raises(ValueError, match="threshold"):
        BinaryAccuracy(threshold=bad)


def test_categorical_accuracy(rng):
    labels = rng.integers(0, 4, size=30)
    y = np.eye(4)[labels]
    p = rng.random((30, 4))
    w = rng.random(30)
    m = CategoricalAccuracy()
    for sl in (slice(0, 7), slice(7, 30)):
        m.update_state(y[sl], p[sl], sample_weight=w[sl])
    assert m.result() == pytest.approx(wmean(labels == p.argmax(1), w), rel=1e-12)
    with pytest.raises(ValueError, match=r"one-hot.*\(30,\).*\(30, 4\)"):
        m.update_state(labels, p)


@pytest.mark.parametrize("label_shape", [(30,), (30, 1)])
def test_sparse_categorical_accuracy(rng, label_shape):
    labels = rng.integers(0, 5, size=30)
    p = rng.random((30, 5))
    m = SparseCategoricalAccuracy()
    m.update_state(labels.reshape(label_shape).astype(np.float32), p, sample_weight=np.arange(30))
    assert m.result() == pytest.approx(wmean(labels == p.argmax(1), np.arange(30)), rel=1e-12)
    with pytest.raises(ValueError, match="sparse_categorical_accuracy"):
        m.update_state(labels[:10], p)


def test_top_k_accuracies():
    y_true = [[0, 0, 1], [0, 1, 0]]
    y_pred = [[0.1, 0.9, 0.8], [0.05, 0.95, 0]]
    m = TopKCategoricalAccuracy(k=1)
    m.update_state(y_true, y_pred)
    assert m.result() == 0.5
    m.reset_state()
    m.update_state(y_true, y_pred, sample_weight=[0.7, 0.3])
    assert m.result() == pytest.approx(0.3)
    m = TopKCategoricalAccuracy(k=2)
    m.update_state(y_true, y_pred)
    assert m.result() == 1.0
    s = SparseTopKCategoricalAccuracy(k=1)
    s.update_state([2, 1], y_pred)
    assert s.result() == 0.5
    assert TopKCategoricalAccuracy().k == 5 and TopKCategoricalAccuracy().name == "top_k_categorical_accuracy"


def test_top_k_ties_count_as_in():
    s = SparseTopKCategoricalAccuracy(k=1)
    s.update_state([1], [[0.5, 0.5, 0.0]])
    assert s.result() == 1.0
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        s.update_state([3], [[0.5, 0.5, 0.0]])
    with pytest.raises(ValueError, match="k"):
        TopKCategoricalAccuracy(k=0)


# ---------------------------------------------------------------------------------------------
# Regression


def test_mse_mae_rmse(rng):
    y = rng.normal(size=(40, 3))
    p = rng.normal(size=(40, 3))
    w = rng.random(40)
    mse, mae, rmse = MeanSquaredError(), MeanAbsoluteError(), RootMeanSquaredError()
    for sl in (slice(0, 13), slice(13, 40)):
        for m in (mse, mae, rmse):
            m.update_state(y[sl], p[sl], sample_weight=w[sl])
    per_sample_se = ((y - p) ** 2).mean(axis=1)
    assert mse.result() == pytest.approx(wmean(per_sample_se, w), rel=1e-12)
    assert mae.result() == pytest.approx(wmean(np.abs(y - p).mean(axis=1), w), rel=1e-12)
    assert rmse.result() == pytest.approx(math.sqrt(wmean(per_sample_se, w)), rel=1e-12)


def test_regression_rank_matching_and_errors():
    m = MeanSquaredError()
    m.update_state([1.0, 2.0], [[1.0], [4.0]])  # (N,) vs (N, 1)
    assert m.result() == 2.0
    with pytest.raises(ValueError, match=r"incompatible shapes.*\(2, 3\).*\(2, 2\)"):
        m.update_state(np.zeros((2, 3)), np.zeros((2, 2)))


# ---------------------------------------------------------------------------------------------
# Precision / Recall / AUC


def confusion(y, p, w, t):
    y = np.asarray(y).reshape(-1) != 0
    pos = np.asarray(p).reshape(-1) > t
    w = np.broadcast_to(np.asarray(w, np.float64), np.shape(p)).reshape(-1)
    return (w * (y & pos)).sum(), (w * (~y & pos)).sum(), (w * (y & ~pos)).sum(), (w * (~y & ~pos)).sum()


def test_precision_recall_keras_examples():
    p = Precision()
    p.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    assert p.result() == pytest.approx(2 / 3)
    p.reset_state()
    p.update_state([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0])
    assert p.result() == 1.0
    r = Recall()
    r.update_state([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0])
    assert r.result() == 1.0
    assert Precision().name == "precision" and Recall().name == "recall"
    assert Precision().result() == 0.0  # nothing seen: 0, not NaN


def test_precision_recall_against_numpy(rng):
    y = rng.integers(0, 2, size=(60, 3))
    p = rng.random((60, 3))
    w = rng.random(60)
    prec, rec = Precision(thresholds=[0.3, 0.7]), Recall(thresholds=0.4)
    for sl in (slice(0, 25), slice(25, 60)):
        prec.update_state(y[sl], p[sl], sample_weight=w[sl])
        rec.update_state(y[sl], p[sl], sample_weight=w[sl])
    expected = []
    for t in (0.3, 0.7):
        tp, fp, _, _ = confusion(y, p, w[:, None], t)
        expected.append(tp / (tp + fp))
    assert prec.result() == pytest.approx(expected, rel=1e-12)
    tp, _, fn, _ = confusion(y, p, w[:, None], 0.4)
    assert rec.result() == pytest.approx(tp / (tp + fn), rel=1e-12)
    assert isinstance(rec.result(), float) and isinstance(prec.result(), list)


def test_precision_class_id_and_top_k():
    y = [[0, 1, 1], [1, 0, 1]]
    p = [[0.9, 0.8, 0.7], [0.6, 0.2, 0.9]]
    m = Precision(class_id=2)
    m.update_state(y, p)
    assert m.result() == 1.0
    m = Precision(top_k=1)  # only the best of each row counts as predicted
    m.update_state(y, p)
    assert m.result() == 0.5  # row 0 picks class 0 (wrong), row 1 picks class 2 (right)


def test_confusion_argument_errors():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        Precision(thresholds=1.5)
    with pytest.raises(ValueError, match="same shape"):
        Recall().update_state([[1, 0]], [[0.5, 0.5, 0.5]])
    with pytest.raises(ValueError, match="class_id"):
        Precision(class_id=5).update_state([[1, 0]], [[0.5, 0.5]])


def roc_auc_exact(y, p):
    y, p = np.asarray(y).reshape(-1), np.asarray(p).reshape(-1)
    pos, neg = p[y == 1], p[y == 0]
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return greater / (len(pos) * len(neg))


def test_auc_roc_close_to_exact(rng):
    y = rng.integers(0, 2, size=2000)
    p = np.clip(0.3 * y + rng.random(2000) * 0.7, 0, 1)
    m = AUC(num_thresholds=1000)
    m.update_state(y[:700], p[:700])
    m.update_state(y[700:], p[700:])
    assert m.result() == pytest.approx(roc_auc_exact(y, p), abs=2e-3)


def test_auc_small_cases_and_pr():
    m = AUC(num_thresholds=3)
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    assert m.result() == 0.75
    perfect = AUC(curve="PR")
    perfect.update_state([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert perfect.result() == pytest.approx(1.0, abs=1e-6)
    lo, hi = AUC(summation_method="minoring"), AUC(summation_method="majoring")
    for m in (lo, hi):
        m.update_state([0, 1, 0, 1, 1], [0.2, 0.4, 0.6, 0.7, 0.9])
    assert lo.result() <= hi.result()
    logits = AUC(from_logits=True)
    logits.update_state([0, 1], [-3.0, 3.0])
    assert logits.result() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="curve"):
        AUC(curve="DET")
    with pytest.raises(ValueError, match="num_thresholds"):
        AUC(num_thresholds=1)


# ---------------------------------------------------------------------------------------------
# Resolution and naming


@pytest.mark.parametrize(
    "identifier, loss, y_true_shape, y_pred_shape, expected_fn",
    [
        ("accuracy", "binary_crossentropy", (4, 1), (4, 1), "binary_accuracy"),
        ("accuracy", "BinaryCrossentropy", (4, 3), (4, 3), "binary_accuracy"),
        ("acc", "sparse_categorical_crossentropy", (4,), (4, 3), "sparse_categorical_accuracy"),
        ("accuracy", "categorical_crossentropy", (4, 3), (4, 3), "categorical_accuracy"),
        ("accuracy", None, (4, 1), (4, 1), "binary_accuracy"),
        ("accuracy", "mse", (4,), (4, 1), "binary_accuracy"),
        ("accuracy", None, (4,), (4, 3), "sparse_categorical_accuracy"),
        ("accuracy", None, (4, 1), (4, 3), "sparse_categorical_accuracy"),
        ("accuracy", None, (4, 3), (4, 3), "categorical_accuracy"),
        ("Accuracy", None, (4, 3), (4, 3), "categorical_accuracy"),
    ],
)
def test_accuracy_resolution(identifier, loss, y_true_shape, y_pred_shape, expected_fn, rng):
    m = metrics.get(identifier, loss_name=loss)
    assert m.name == identifier
    assert m._direction == "up"
    y_pred = rng.random(y_pred_shape)
    if expected_fn == "sparse_categorical_accuracy":
        y_true = rng.integers(0, y_pred_shape[-1], size=y_true_shape)
    elif expected_fn == "categorical_accuracy":
        y_true = np.eye(y_pred_shape[-1])[rng.integers(0, y_pred_shape[-1], size=y_true_shape[0])]
    else:
        y_true = rng.integers(0, 2, size=y_true_shape)
    m.update_state(y_true, y_pred)
    assert m.chosen_function.__name__ == expected_fn
    assert m.result() == pytest.approx(float(np.mean(getattr(metrics, expected_fn)(y_true, y_pred))))


@pytest.mark.parametrize(
    "identifier, cls",
    [
        ("mse", MeanSquaredError),
        ("MSE", MeanSquaredError),
        ("mae", MeanAbsoluteError),
        ("mean_squared_error", MeanSquaredError),
        ("MeanSquaredError", MeanSquaredError),
        ("root_mean_squared_error", RootMeanSquaredError),
        ("binary_accuracy", BinaryAccuracy),
        ("categorical_accuracy", CategoricalAccuracy),
        ("sparse_categorical_accuracy", SparseCategoricalAccuracy),
        ("top_k_categorical_accuracy", TopKCategoricalAccuracy),
        ("precision", Precision),
        ("Recall", Recall),
        ("auc", AUC),
        ("AUC", AUC),
    ],
)
def test_string_identifiers_keep_their_name(identifier, cls):
    m = metrics.get(identifier)
    assert type(m) is cls
    assert m.name == identifier  # Keras 3: metrics=['mse'] logs 'mse'


def test_get_other_identifiers():
    assert metrics.get(None) is None
    inst = Precision(name="p50")
    assert metrics.get(inst) is inst and inst.name == "p50"
    assert metrics.get(Recall).name == "recall"

    def my_metric(y_true, y_pred):
        return np.abs(np.asarray(y_true) - np.asarray(y_pred))

    wrapped = metrics.get(my_metric)
    assert isinstance(wrapped, MeanMetricWrapper) and wrapped.name == "my_metric"
    wrapped.update_state([[1.0, 2.0]], [[1.0, 4.0]])
    assert wrapped.result() == 1.0
    with pytest.raises(ValueError, match=r"Unknown metric: 'acuracy'.*binary_accuracy"):
        metrics.get("acuracy")
    with pytest.raises(ValueError, match="Could not interpret"):
        metrics.get(42)


@pytest.mark.parametrize(
    "metric",
    [
        Mean(name="loss"),
        Sum(),
        Accuracy(),
        BinaryAccuracy(threshold=0.3),
        CategoricalAccuracy(name="cat"),
        SparseCategoricalAccuracy(),
        TopKCategoricalAccuracy(k=2),
        SparseTopKCategoricalAccuracy(k=3),
        MeanSquaredError(),
        MeanAbsoluteError(),
        RootMeanSquaredError(),
        Precision(thresholds=[0.2, 0.6]),
        Recall(class_id=1),
        AUC(num_thresholds=50, curve="PR"),
        AUC(thresholds=[0.25, 0.5]),
        MeanMetricWrapper(metrics.mean_absolute_error, name="mae"),
        metrics.get("acc", loss_name="binary_crossentropy"),
    ],
    ids=lambda m: f"{type(m).__name__}-{m.name}",
)
def test_config_round_trip(metric):
    config = metric.get_config()
    clone = metrics.deserialize(metrics.serialize(metric))
    assert type(clone) is type(metric) and clone.get_config() == config and clone.name == metric.name


def test_call_updates_and_returns_result():
    m = Mean()
    assert m([1.0, 3.0]) == 2.0
    assert m([5.0]) == 3.0


def test_matches_keras():
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(0)
    y_bin = rng.integers(0, 2, size=(64, 1)).astype("float32")
    p_bin = rng.random((64, 1)).astype("float32")
    labels = rng.integers(0, 5, size=64)
    p_cat = rng.random((64, 5)).astype("float32")
    y_reg, p_reg = rng.normal(size=(64, 3)).astype("float32"), rng.normal(size=(64, 3)).astype("float32")
    w = rng.random(64).astype("float32")
    cases = [
        (BinaryAccuracy(), keras.metrics.BinaryAccuracy(), y_bin, p_bin),
        (Precision(), keras.metrics.Precision(), y_bin, p_bin),
        (Recall(), keras.metrics.Recall(), y_bin, p_bin),
        (AUC(), keras.metrics.AUC(), y_bin, p_bin),
        (AUC(curve="PR"), keras.metrics.AUC(curve="PR"), y_bin, p_bin),
        (SparseCategoricalAccuracy(), keras.metrics.SparseCategoricalAccuracy(), labels, p_cat),
        (CategoricalAccuracy(), keras.metrics.CategoricalAccuracy(), np.eye(5)[labels], p_cat),
        (TopKCategoricalAccuracy(k=2), keras.metrics.TopKCategoricalAccuracy(k=2), np.eye(5)[labels], p_cat),
        (MeanSquaredError(), keras.metrics.MeanSquaredError(), y_reg, p_reg),
        (MeanAbsoluteError(), keras.metrics.MeanAbsoluteError(), y_reg, p_reg),
        (RootMeanSquaredError(), keras.metrics.RootMeanSquaredError(), y_reg, p_reg),
    ]
    for ours, theirs, y, p in cases:
        for sl in (slice(0, 20), slice(20, 64)):
            ours.update_state(y[sl], p[sl], sample_weight=w[sl])
            theirs.update_state(y[sl], p[sl], sample_weight=w[sl])
        assert ours.result() == pytest.approx(float(theirs.result()), rel=1e-4, abs=1e-6), ours.name
        assert theirs.name.startswith(ours.name)  # Keras numbers repeated names: auc, auc_1
