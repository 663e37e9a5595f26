"""Probabilistic, hinge and cosine metrics and the IoU family: float64 references, Keras 3
agreement over several batches, use in compile/fit/save, configs, aliases and errors."""

from __future__ import annotations

import os

import numpy as np
import pytest

import pynncore
from pynncore import layers, metrics

EPS = 1e-7

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


# ---------------------------------------------------------------------------------------------
# float64 references: one value per sample, reduced over the last axis


def _softmax_log(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def ref_bce(y, p, from_logits=False, label_smoothing=0.0):
    y = y * (1 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        v = np.maximum(p, 0) - p * y + np.log1p(np.exp(-np.abs(p)))
    else:
        q = np.clip(p, EPS, 1 - EPS)
        v = -(y * np.log(q) + (1 - y) * np.log(1 - q))
    return v.mean(axis=-1)


def ref_cce(y, p, from_logits=False, label_smoothing=0.0):
    c = p.shape[-1]
    y = y * (1 - label_smoothing) + label_smoothing / c
    if from_logits:
        log_q = _softmax_log(p)
    else:
        log_q = np.log(np.clip(p / p.sum(axis=-1, keepdims=True), EPS, 1 - EPS))
    return -(y * log_q).sum(axis=-1)


def ref_scce(labels, p, from_logits=False):
    return ref_cce(np.eye(p.shape[-1])[labels], p, from_logits)


def ref_kld(y, p):
    y, p = np.clip(y, EPS, 1), np.clip(p, EPS, 1)
    return (y * np.log(y / p)).sum(axis=-1)


def ref_poisson(y, p):
    return (p - y * np.log(p + EPS)).mean(axis=-1)


def _signed(y):
    return 2 * y - 1 if np.isin(y, (0, 1)).all() else y


def ref_hinge(y, p):
    return np.maximum(1 - _signed(y) * p, 0).mean(axis=-1)


def ref_squared_hinge(y, p):
    return (np.maximum(1 - _signed(y) * p, 0) ** 2).mean(axis=-1)


def ref_categorical_hinge(y, p):
    return np.maximum(((1 - y) * p).max(axis=-1) - (y * p).sum(axis=-1) + 1, 0)


def ref_cosine(y, p):
    def unit(v):
        return v / np.maximum(np.sqrt((v * v).sum(axis=-1, keepdims=True)), EPS)

    return (unit(y) * unit(p)).sum(axis=-1)


def ref_mean(values, w=None):
    values = np.asarray(values, np.float64)
    if w is None:
        return float(values.mean())
    return float((values * w).sum() / w.sum())


# ---------------------------------------------------------------------------------------------
# data: (y_true, y_pred) of 17 samples


def _binary(rng):
    return rng.integers(0, 2, (17, 3)).astype(np.float32), rng.uniform(0.01, 0.99, (17, 3)).astype(np.float32)


def _binary_logits(rng):
    return rng.integers(0, 2, (17, 3)).astype(np.float32), (3 * rng.standard_normal((17, 3))).astype(np.float32)


def _onehot(rng, c=4):
    y = np.eye(c, dtype=np.float32)[rng.integers(0, c, 17)]
    p = rng.random((17, c)).astype(np.float32) + 0.05
    return y, (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


def _onehot_logits(rng, c=4):
    return np.eye(c, dtype=np.float32)[rng.integers(0, c, 17)], (2 * rng.standard_normal((17, c))).astype(np.float32)


def _probabilities(rng):
    y = rng.random((17, 4)) + 0.01
    p = rng.random((17, 4)) + 0.01
    return (y / y.sum(1, keepdims=True)).astype(np.float32), (p / p.sum(1, keepdims=True)).astype(np.float32)


def _counts(rng):
    return rng.poisson(2.0, (17, 3)).astype(np.float32), rng.uniform(0.1, 4.0, (17, 3)).astype(np.float32)


def _signed_labels(rng):
    return (2 * rng.integers(0, 2, (17, 3)) - 1).astype(np.float32), rng.standard_normal((17, 3)).astype(np.float32)


def _normal(rng):
    return rng.standard_normal((17, 5)).astype(np.float32), rng.standard_normal((17, 5)).astype(np.float32)


# (our class, Keras class name, kwargs, data, reference, rtol against the reference)
# The cross-entropies run in the float32 native kernel, the others in float64.
CASES = [
    ("BinaryCrossentropy", {}, _binary, ref_bce, 2e-6),
    ("BinaryCrossentropy", {"label_smoothing": 0.2}, _binary, lambda y, p: ref_bce(y, p, label_smoothing=0.2), 2e-6),
    ("BinaryCrossentropy", {"from_logits": True}, _binary_logits, lambda y, p: ref_bce(y, p, True), 2e-6),
    ("CategoricalCrossentropy", {}, _onehot, ref_cce, 2e-6),
    ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, _onehot_logits,
     lambda y, p: ref_cce(y, p, True, 0.1), 2e-6),
    ("KLDivergence", {}, _probabilities, ref_kld, 1e-10),
    ("Poisson", {}, _counts, ref_poisson, 1e-10),
    ("Hinge", {}, _binary_logits, ref_hinge, 1e-10),
    ("Hinge", {}, _signed_labels, ref_hinge, 1e-10),
    ("SquaredHinge", {}, _binary_logits, ref_squared_hinge, 1e-10),
    ("SquaredHinge", {}, _signed_labels, ref_squared_hinge, 1e-10),
    ("CategoricalHinge", {}, _onehot_logits, ref_categorical_hinge, 1e-10),
    ("CosineSimilarity", {}, _normal, ref_cosine, 1e-10),
]
BATCHES = (slice(0, 5), slice(5, 6), slice(6, 17))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name, kwargs, data, ref, rtol", CASES)
def test_loss_metrics_match_reference_and_keras(name, kwargs, data, ref, rtol, weighted, rng):
    keras = _keras()
    y, p = data(rng)
    w = rng.random(17).astype(np.float32) if weighted else None
    ours, theirs = getattr(metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)
    for sl in BATCHES:
        sw = None if w is None else w[sl]
        ours.update_state(y[sl], p[sl], sample_weight=sw)
        theirs.update_state(y[sl], p[sl], sample_weight=sw)
    want = ref_mean(ref(y.astype(np.float64), p.astype(np.float64)), None if w is None else w.astype(np.float64))
    got = ours.result()
    assert isinstance(got, float)
    assert got == pytest.approx(want, rel=rtol, abs=1e-12)
    assert got == pytest.approx(float(theirs.result()), rel=2e-5, abs=1e-6)
    assert ours.name == theirs.name
    assert ours._direction == theirs._direction
    ours.reset_state()
    theirs.reset_state()
    assert ours.result() == float(theirs.result()) == 0.0
    ours.update_state(y[:3], p[:3])
    assert ours.result() == pytest.approx(ref_mean(ref(y[:3].astype(np.float64), p[:3].astype(np.float64))), rel=rtol)


def test_sparse_categorical_crossentropy_matches_reference_and_keras(rng):
    keras = _keras()
    labels = rng.integers(0, 4, 17)
    _, p = _onehot(rng)
    _, z = _onehot_logits(rng)
    w = rng.random(17).astype(np.float32)
    for kwargs, scores, shaped in (({}, p, labels), ({}, p, labels[:, None].astype(np.float32)),
                                   ({"from_logits": True}, z, labels)):
        for sw in (None, w):
            ours = metrics.SparseCategoricalCrossentropy(**kwargs)
            theirs = keras.metrics.SparseCategoricalCrossentropy(**kwargs)
            for sl in BATCHES:
                ours.update_state(shaped[sl], scores[sl], sample_weight=None if sw is None else sw[sl])
                theirs.update_state(shaped[sl], scores[sl], sample_weight=None if sw is None else sw[sl])
            want = ref_mean(ref_scce(labels, scores.astype(np.float64), **kwargs), None if sw is None else sw)
            assert ours.result() == pytest.approx(want, rel=2e-6)
            assert ours.result() == pytest.approx(float(theirs.result()), rel=2e-5)
            assert ours.name == theirs.name == "sparse_categorical_crossentropy"


def test_sparse_ignore_class_follows_keras(rng):
    keras = _keras()
    labels = rng.integers(0, 4, 17)
    labels[[1, 4, 9]] = 2
    _, p = _onehot(rng)
    w = rng.random(17).astype(np.float32)
    keep = labels != 2
    values = np.where(keep, ref_scce(np.where(keep, labels, 0), p.astype(np.float64)), 0.0)
    for sw, want in ((None, values.mean()), (w, (values * w * keep).sum() / (w * keep).sum())):
        ours = metrics.SparseCategoricalCrossentropy(ignore_class=2)
        theirs = keras.metrics.SparseCategoricalCrossentropy(ignore_class=2)
        for sl in BATCHES:
            ours.update_state(labels[sl], p[sl], sample_weight=None if sw is None else sw[sl])
            theirs.update_state(labels[sl], p[sl], sample_weight=None if sw is None else sw[sl])
        assert ours.result() == pytest.approx(float(want), rel=2e-6)
        assert ours.result() == pytest.approx(float(theirs.result()), rel=2e-5)
    # an ignored label may lie outside the classes (a "void" label)
    m = metrics.SparseCategoricalCrossentropy(ignore_class=-1)
    m.update_state([0, -1], [[0.5, 0.5], [0.9, 0.1]], sample_weight=[1.0, 1.0])
    assert m.result() == pytest.approx(np.log(2), rel=1e-6)


def test_class_axis_and_higher_rank_inputs(rng):
    keras = _keras()
    y = np.moveaxis(np.eye(3, dtype=np.float32)[rng.integers(0, 3, (6, 4))], -1, 1)  # (6, 3, 4), classes on axis 1
    p = rng.random((6, 3, 4)).astype(np.float32) + 0.05
    p = p / p.sum(axis=1, keepdims=True)
    w = rng.random(6).astype(np.float32)
    per_position = ref_cce(np.moveaxis(y, 1, -1).astype(np.float64), np.moveaxis(p, 1, -1).astype(np.float64))
    for ours, theirs, values in (
        (metrics.CategoricalCrossentropy(axis=1), keras.metrics.CategoricalCrossentropy(axis=1), per_position),
        (metrics.CosineSimilarity(axis=1), keras.metrics.CosineSimilarity(axis=1),
         ref_cosine(np.moveaxis(y, 1, -1).astype(np.float64), np.moveaxis(p, 1, -1).astype(np.float64))),
    ):
        ours.update_state(y[:2], p[:2], sample_weight=w[:2])
        ours.update_state(y[2:], p[2:], sample_weight=w[2:])
        theirs.update_state(y[:2], p[:2], sample_weight=w[:2])
        theirs.update_state(y[2:], p[2:], sample_weight=w[2:])
        want = (values.mean(axis=1) * w).sum() / w.sum()  # each sample's positions averaged, then weighted
        assert ours.result() == pytest.approx(float(want), rel=2e-6)
        assert ours.result() == pytest.approx(float(theirs.result()), rel=2e-5)
    # sparse labels on a (N, T) sequence with per-sample weights
    labels = rng.integers(0, 3, (6, 4))
    scores = np.moveaxis(p, 1, -1)
    ours = metrics.SparseCategoricalCrossentropy()
    theirs = keras.metrics.SparseCategoricalCrossentropy()
    ours.update_state(labels, scores, sample_weight=w)
    theirs.update_state(labels, scores, sample_weight=w)
    want = (ref_scce(labels, scores.astype(np.float64)).mean(axis=1) * w).sum() / w.sum()
    assert ours.result() == pytest.approx(float(want), rel=2e-6)
    assert ours.result() == pytest.approx(float(theirs.result()), rel=2e-5)


def test_empty_batches_change_nothing(rng):
    y, p = _onehot(rng)
    for m in (metrics.CategoricalCrossentropy(), metrics.Hinge(), metrics.SparseCategoricalCrossentropy(),
              metrics.MeanIoU(4, sparse_y_true=False, sparse_y_pred=False)):
        labels = y.argmax(1) if isinstance(m, metrics.SparseCategoricalCrossentropy) else y
        m.update_state(labels, p)
        before = m.result()
        m.update_state(labels[:0], p[:0], sample_weight=np.zeros(0))
        assert m.result() == before


def test_call_updates_and_returns_and_rank_matching():
    m = metrics.BinaryCrossentropy()
    first = m([1.0, 0.0], [[0.8], [0.3]])  # (N,) labels against (N, 1)
    assert first == pytest.approx(float(ref_bce(np.array([[1.0], [0.0]]), np.array([[0.8], [0.3]])).mean()), rel=1e-6)
    assert m.update_state([[1.0]], [[0.5]]) is None
    assert m.result() == pytest.approx((2 * first + np.log(2)) / 3, rel=1e-6)


# ---------------------------------------------------------------------------------------------
# compile / fit


def _twin_models(keras, rng, units, activation, loss, ours_metrics, theirs_metrics):
    km = keras.Sequential([keras.Input((5,)), keras.layers.Dense(units, activation=activation)])
    pm = pynncore.Sequential([pynncore.Input((5,)), layers.Dense(units, activation=activation)])
    pm.set_weights([np.asarray(v) for v in km.get_weights()])
    km.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss, metrics=theirs_metrics)
    pm.compile(optimizer=pynncore.optimizers.SGD(0.1), loss=loss, metrics=ours_metrics)
    return km, pm


def _compare_histories(km, pm, x, y, keys):
    kh = km.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0, validation_split=0.25).history
    ph = pm.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0, validation_split=0.25).history
    assert set(ph) == set(kh) == set(keys) | {f"val_{k}" for k in keys}
    for key in kh:
        np.testing.assert_allclose(ph[key], np.asarray(kh[key], np.float64), rtol=2e-4, atol=1e-5, err_msg=key)
    ours = pm.evaluate(x, y, verbose=0, return_dict=True)
    theirs = km.evaluate(x, y, verbose=0, return_dict=True)
    assert set(ours) == set(theirs)
    for key in theirs:
        np.testing.assert_allclose(ours[key], float(theirs[key]), rtol=2e-4, atol=1e-5, err_msg=key)


def test_binary_metrics_in_compile_fit_like_keras(rng):
    keras = _keras()
    names = ["binary_crossentropy", "bce", "BCE", "kl_divergence", "poisson", "hinge", "squared_hinge",
             "cosine_similarity", "BinaryCrossentropy"]
    km, pm = _twin_models(
        keras, rng, 3, "sigmoid", "binary_crossentropy",
        names + [metrics.BinaryCrossentropy(from_logits=False, label_smoothing=0.1, name="bce_smooth"),
                 metrics.BinaryIoU(target_class_ids=[1], threshold=0.4, name="biou")],
        names + [keras.metrics.BinaryCrossentropy(label_smoothing=0.1, name="bce_smooth"),
                 keras.metrics.BinaryIoU(target_class_ids=[1], threshold=0.4, name="biou")],
    )
    x = rng.standard_normal((32, 5)).astype(np.float32)
    y = rng.integers(0, 2, (32, 3)).astype(np.float32)
    _compare_histories(km, pm, x, y, ["loss", *names, "bce_smooth", "biou"])


def test_categorical_metrics_in_compile_fit_like_keras(rng):
    keras = _keras()
    names = ["categorical_crossentropy", "categorical_hinge", "CategoricalCrossentropy", "kl_divergence"]
    km, pm = _twin_models(
        keras, rng, 3, "softmax", "categorical_crossentropy",
        names + [metrics.OneHotMeanIoU(3, name="oh_miou"), metrics.OneHotIoU(3, [0, 2], name="oh_iou"),
                 metrics.CosineSimilarity(name="cos")],
        names + [keras.metrics.OneHotMeanIoU(3, name="oh_miou"), keras.metrics.OneHotIoU(3, [0, 2], name="oh_iou"),
                 keras.metrics.CosineSimilarity(name="cos")],
    )
    x = rng.standard_normal((32, 5)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 32)]
    _compare_histories(km, pm, x, y, ["loss", *names, "oh_miou", "oh_iou", "cos"])


def test_sparse_metrics_in_compile_fit_like_keras(rng):
    keras = _keras()
    names = ["sparse_categorical_crossentropy", "SparseCategoricalCrossentropy"]
    km, pm = _twin_models(
        keras, rng, 3, "softmax", "sparse_categorical_crossentropy",
        names + [metrics.MeanIoU(3, sparse_y_pred=False, name="miou"),
                 metrics.IoU(3, [1], sparse_y_pred=False, name="iou1")],
        names + [keras.metrics.MeanIoU(3, sparse_y_pred=False, name="miou"),
                 keras.metrics.IoU(3, [1], sparse_y_pred=False, name="iou1")],
    )
    x = rng.standard_normal((32, 5)).astype(np.float32)
    y = rng.integers(0, 3, (32, 1))
    _compare_histories(km, pm, x, y, ["loss", *names, "miou", "iou1"])


# ---------------------------------------------------------------------------------------------
# IoU family


def ref_confusion(t, p, c, w=None):
    cm = np.zeros((c, c))
    w = np.ones(len(t)) if w is None else w
    for a, b, v in zip(t, p, w):
        cm[a, b] += v
    return cm


def ref_iou(cm, ids):
    ious, valid = [], 0
    for i in ids:
        tp = cm[i, i]
        denominator = cm[i, :].sum() + cm[:, i].sum() - tp
        if denominator > 1e-9:
            ious.append(tp / (denominator + EPS))
            valid += 1
    return sum(ious) / (valid + EPS)


@pytest.mark.parametrize("weights", [None, "int", "float"])
def test_iou_metrics_match_reference_and_keras(weights, rng):
    keras = _keras()
    c = 4
    t = rng.integers(0, c, (23, 3))
    p = rng.integers(0, c, (23, 3))
    scores = rng.random((23, 3, c)).astype(np.float32)
    w = {None: None, "int": rng.integers(0, 3, (23, 3)), "float": rng.random((23, 3)).astype(np.float32)}[weights]
    # Keras's default int dtype truncates float weights; float32 keeps them as ours always does
    dtype = "float32" if weights == "float" else None
    flat_w = None if w is None else w.reshape(-1).astype(np.float64)
    dense_p = scores.argmax(-1)
    onehot_t = np.eye(c, dtype=np.float32)[t]
    cases = [
        ("IoU", dict(num_classes=c, target_class_ids=[0, 2]), t, p, p, [0, 2]),
        ("IoU", dict(num_classes=c, target_class_ids=[3], sparse_y_pred=False), t, scores, dense_p, [3]),
        ("IoU", dict(num_classes=c, target_class_ids=[1, 3], sparse_y_true=False, sparse_y_pred=False),
         onehot_t, scores, dense_p, [1, 3]),
        ("MeanIoU", dict(num_classes=c), t, p, p, range(c)),
        ("MeanIoU", dict(num_classes=c, sparse_y_pred=False), t, scores, dense_p, range(c)),
        ("OneHotIoU", dict(num_classes=c, target_class_ids=[0, 1, 2]), onehot_t, scores, dense_p, [0, 1, 2]),
        ("OneHotMeanIoU", dict(num_classes=c), onehot_t, scores, dense_p, range(c)),
        ("OneHotMeanIoU", dict(num_classes=c, sparse_y_pred=True), onehot_t, p, p, range(c)),
    ]
    for name, kwargs, yt, yp, pred_ids, ids in cases:
        ours = getattr(metrics, name)(**kwargs, name="m")
        theirs = getattr(keras.metrics, name)(**kwargs, name="m", dtype=dtype)
        for sl in (slice(0, 9), slice(9, 10), slice(10, 23)):
            sw = None if w is None else w[sl]
            ours.update_state(yt[sl], yp[sl], sample_weight=sw)
            theirs.update_state(yt[sl], yp[sl], sample_weight=sw)
        cm = ref_confusion(t.reshape(-1), pred_ids.reshape(-1), c, flat_w)
        np.testing.assert_allclose(ours.total_cm, cm, rtol=1e-12, err_msg=name)
        assert ours.result() == pytest.approx(ref_iou(cm, ids), rel=1e-12), name
        assert ours.result() == pytest.approx(float(theirs.result()), rel=1e-5, abs=1e-7), name
        np.testing.assert_allclose(ours.total_cm, np.asarray(theirs.total_cm, np.float64), rtol=1e-5)
        ours.reset_state()
        theirs.reset_state()
        assert ours.result() == float(theirs.result()) == 0.0
        assert ours.total_cm.shape == (c, c) and not ours.total_cm.any()


def test_binary_iou_and_ignore_class_match_reference_and_keras(rng):
    keras = _keras()
    y = rng.integers(0, 2, (19, 2))
    s = rng.random((19, 2)).astype(np.float32)
    w = rng.integers(0, 4, 19 * 2).reshape(19, 2)
    for ids, threshold in (((0, 1), 0.5), ([0], 0.3), ([1], 0.8)):
        ours = metrics.BinaryIoU(target_class_ids=ids, threshold=threshold)
        theirs = keras.metrics.BinaryIoU(target_class_ids=ids, threshold=threshold)
        for sl in (slice(0, 7), slice(7, 19)):
            ours.update_state(y[sl], s[sl], sample_weight=w[sl])
            theirs.update_state(y[sl], s[sl], sample_weight=w[sl])
        cm = ref_confusion(y.reshape(-1), (s >= threshold).astype(int).reshape(-1), 2, w.reshape(-1))
        assert ours.result() == pytest.approx(ref_iou(cm, ids), rel=1e-12)
        assert ours.result() == pytest.approx(float(theirs.result()), rel=1e-5)
    assert metrics.BinaryIoU().name == "binary_io_u"
    # ignore_class: a "void" label (inside or outside the classes) leaves its positions out
    t = rng.integers(0, 3, 30)
    p = rng.integers(0, 3, 30)
    t_void = np.where(rng.random(30) < 0.3, 255, t)
    for ignore, labels in ((1, t), (255, t_void)):
        ours = metrics.MeanIoU(3, ignore_class=ignore)
        theirs = keras.metrics.MeanIoU(3, ignore_class=ignore)
        ours.update_state(labels, p)
        theirs.update_state(labels, p)
        keep = labels != ignore
        cm = ref_confusion(labels[keep], p[keep], 3)
        assert ours.result() == pytest.approx(ref_iou(cm, range(3)), rel=1e-12)
        assert ours.result() == pytest.approx(float(theirs.result()), rel=1e-5)


def test_iou_scalar_weights_float_labels_and_empty_classes():
    m = metrics.IoU(num_classes=3, target_class_ids=[0, 1, 2])
    m.update_state(np.array([0.0, 1.0, 1.0]), np.array([0.0, 1.0, 0.0]), sample_weight=2.0)
    np.testing.assert_allclose(m.total_cm, [[2, 0, 0], [2, 2, 0], [0, 0, 0]])
    # class 2 never appears: left out of the mean
    assert m.result() == pytest.approx((2 / (4 + EPS) + 2 / (4 + EPS)) / (2 + EPS), rel=1e-12)
    assert metrics.MeanIoU(2).result() == 0.0
    assert m([[1]], [[1]]) == pytest.approx(ref_iou(m.total_cm, range(3)), rel=1e-12)


# ---------------------------------------------------------------------------------------------
# configs, aliases, save/load


ALL_NEW = [
    metrics.BinaryCrossentropy(from_logits=True, label_smoothing=0.25, name="b"),
    metrics.BinaryCrossentropy(),
    metrics.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1, axis=1),
    metrics.CategoricalCrossentropy(),
    metrics.SparseCategoricalCrossentropy(from_logits=True, ignore_class=255, axis=1),
    metrics.SparseCategoricalCrossentropy(),
    metrics.KLDivergence(name="kl"),
    metrics.Poisson(),
    metrics.Hinge(),
    metrics.SquaredHinge(),
    metrics.CategoricalHinge(),
    metrics.CosineSimilarity(axis=-2, name="cos"),
    metrics.IoU(5, [1, 4], name="iou", ignore_class=0, sparse_y_true=False, sparse_y_pred=False, axis=1),
    metrics.MeanIoU(3, ignore_class=-1, sparse_y_pred=False),
    metrics.BinaryIoU(target_class_ids=[1], threshold=0.25),
    metrics.OneHotIoU(4, [2], sparse_y_pred=True),
    metrics.OneHotMeanIoU(2, ignore_class=1, axis=-2),
]


@pytest.mark.parametrize("metric", ALL_NEW, ids=lambda m: f"{type(m).__name__}-{m.name}")
def test_config_round_trip_and_keras_config(metric):
    keras = _keras()
    config = metric.get_config()
    clone = metrics.deserialize(metrics.serialize(metric))
    assert type(clone) is type(metric) and clone.get_config() == config and clone.name == metric.name
    assert type(metric).from_config(config).get_config() == config
    theirs = getattr(keras.metrics, type(metric).__name__).from_config(config)
    their_config = theirs.get_config()
    shared = set(config) - {"dtype"}
    if type(metric).__name__ == "CosineSimilarity":  # Keras leaves `axis` out of the config
        shared.discard("axis")
    assert shared <= set(their_config)
    assert {k: config[k] for k in shared} == {k: their_config[k] for k in shared}
    assert set(their_config) - {"dtype"} <= set(config)


def test_default_names_aliases_and_directions():
    keras = _keras()
    for cls in ("BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "KLDivergence",
                "Poisson", "Hinge", "SquaredHinge", "CategoricalHinge", "CosineSimilarity"):
        ours, theirs = getattr(metrics, cls)(), getattr(keras.metrics, cls)()
        assert ours.name == theirs.name
        assert metrics.get(cls).name == cls and type(metrics.get(cls)) is type(ours)
        assert type(metrics.get(ours.name)) is type(ours) and metrics.get(ours.name).name == ours.name
        assert type(keras.metrics.get(ours.name)).__name__ == cls
    for alias in ("bce", "BCE"):
        m = metrics.get(alias)
        assert type(m) is metrics.BinaryCrossentropy and m.name == alias
    assert metrics.CosineSimilarity()._direction == "up" and metrics.Hinge()._direction == "down"
    for cls, name in (("IoU", "io_u"), ("MeanIoU", "mean_io_u"), ("BinaryIoU", "binary_io_u"),
                      ("OneHotIoU", "one_hot_io_u"), ("OneHotMeanIoU", "one_hot_mean_io_u")):
        ours = getattr(metrics, cls)(2, [0]) if "IoU" in cls and "Mean" not in cls and cls != "BinaryIoU" else (
            metrics.BinaryIoU() if cls == "BinaryIoU" else getattr(metrics, cls)(2))
        assert ours.name == name and ours._direction == "up"
        assert getattr(keras.metrics, cls).__name__ == cls
        if cls == "BinaryIoU":
            assert type(metrics.get(name)) is metrics.BinaryIoU
        else:  # Keras cannot build these from a name either (num_classes is required)
            with pytest.raises(ValueError, match=rf"Metric '{name}' needs arguments \({cls}: .*num_classes"):
                metrics.get(name)
    for cls in ("KLDivergence", "MeanIoU", "CategoricalHinge"):
        assert cls in metrics.__all__ and getattr(pynncore.metrics, cls) is getattr(metrics, cls)


def test_save_load_keeps_configured_metrics(tmp_path, rng):
    model = pynncore.Sequential([pynncore.Input((4,)), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                  metrics=["sparse_categorical_crossentropy", metrics.MeanIoU(3, sparse_y_pred=False),
                           metrics.IoU(3, [2], sparse_y_pred=False, name="iou2"),
                           metrics.SparseCategoricalCrossentropy(ignore_class=1, name="scce_ign")])
    x = rng.standard_normal((20, 4)).astype(np.float32)
    y = rng.integers(0, 3, 20)
    model.fit(x, y, verbose=0)
    model.save(str(tmp_path / "iou.safetensors"))
    before, after = (m.evaluate(x, y, verbose=0, return_dict=True)
                     for m in (model, pynncore.load_model(str(tmp_path / "iou.safetensors"))))
    assert set(after) == set(before) == {"loss", "sparse_categorical_crossentropy", "mean_io_u", "iou2", "scce_ign"}
    for key in before:
        assert after[key] == pytest.approx(before[key], rel=1e-6), key
    probs = model.predict(x, verbose=0)
    cm = ref_confusion(y, probs.argmax(1), 3)
    assert after["mean_io_u"] == pytest.approx(ref_iou(cm, range(3)), rel=1e-6)
    assert after["iou2"] == pytest.approx(ref_iou(cm, [2]), rel=1e-6)
    assert after["sparse_categorical_crossentropy"] == pytest.approx(ref_scce(y, probs.astype(np.float64)).mean(),
                                                                     rel=1e-5)
    ignored = np.where(y == 1, 0.0, ref_scce(y, probs.astype(np.float64)))
    assert after["scce_ign"] == pytest.approx(ignored.mean(), rel=1e-5)  # no weights: ignored labels count as 0


# ---------------------------------------------------------------------------------------------
# bad input


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match=r"BinaryCrossentropy: expected `label_smoothing` to be a number \[0.0, 1.0\]"
                                         r". Received: label_smoothing=1.5"):
        metrics.BinaryCrossentropy(label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"CategoricalCrossentropy: expected `label_smoothing`.*label_smoothing=-0.1"):
        metrics.CategoricalCrossentropy(label_smoothing=-0.1)
    with pytest.raises(ValueError, match=r"BinaryCrossentropy: expected `from_logits` to be a bool. "
                                         r"Received: from_logits='yes'"):
        metrics.BinaryCrossentropy(from_logits="yes")
    with pytest.raises(ValueError, match=r"CategoricalCrossentropy: expected `axis` to be an integer. "
                                         r"Received: axis=1.5"):
        metrics.CategoricalCrossentropy(axis=1.5)
    with pytest.raises(ValueError, match=r"CosineSimilarity: expected `axis` to be an integer. Received: axis=None"):
        metrics.CosineSimilarity(axis=None)
    with pytest.raises(ValueError, match=r"SparseCategoricalCrossentropy: expected `ignore_class` to be None or an "
                                         r"integer. Received: ignore_class=0.5"):
        metrics.SparseCategoricalCrossentropy(ignore_class=0.5)
    for bad in (0, -2, 2.0, True, None):
        with pytest.raises(ValueError, match=rf"MeanIoU: expected `num_classes` to be an integer >= 1. "
                                             rf"Received: num_classes={bad!r}"):
            metrics.MeanIoU(bad)
    with pytest.raises(ValueError, match=r"IoU: expected `num_classes` to be an integer >= 1. Received: num_classes=0"):
        metrics.IoU(0, [0])
    with pytest.raises(ValueError, match=r"IoU: expected `target_class_ids` to be a non-empty list of integers in "
                                         r"\[0, 3\). Received: target_class_ids=\[0, 3\]"):
        metrics.IoU(3, [0, 3])
    for ids in ([], [-1], [0.5], 1):
        with pytest.raises(ValueError, match=r"OneHotIoU: expected `target_class_ids`"):
            metrics.OneHotIoU(3, ids)
    with pytest.raises(ValueError, match=r"BinaryIoU: expected `target_class_ids`.*\[0, 2\).*target_class_ids=\[2\]"):
        metrics.BinaryIoU(target_class_ids=[2])
    with pytest.raises(ValueError, match=r"BinaryIoU: expected `threshold` to be a number. Received: threshold='0.5'"):
        metrics.BinaryIoU(threshold="0.5")
    with pytest.raises(ValueError, match=r"MeanIoU: expected `ignore_class` to be None or an integer"):
        metrics.MeanIoU(3, ignore_class="void")
    with pytest.raises(ValueError, match=r"IoU: expected `sparse_y_true` to be a bool. Received: sparse_y_true=1"):
        metrics.IoU(3, [0], sparse_y_true=1)
    with pytest.raises(TypeError, match=r"expected `name` to be a string"):
        metrics.Poisson(name=3)


def test_bad_inputs_raise_clear_errors():
    m = metrics.CategoricalCrossentropy()
    with pytest.raises(ValueError, match=r"CategoricalCrossentropy 'categorical_crossentropy': y_true and y_pred have "
                                         r"incompatible shapes: y_true.shape=\(2, 3\), y_pred.shape=\(2, 4\)"):
        m.update_state(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"CategoricalCrossentropy 'categorical_crossentropy': expected `axis` in "
                                         r"\[-2, 2\) for y_pred of rank 2. Received: axis=2"):
        metrics.CategoricalCrossentropy(axis=2).update_state(np.eye(2), np.eye(2))
    with pytest.raises(ValueError, match=r"Hinge 'h': expected a non-empty axis -1 to reduce. "
                                         r"Received: y_pred.shape=\(3, 0\)"):
        metrics.Hinge(name="h").update_state(np.zeros((3, 0)), np.zeros((3, 0)))
    with pytest.raises(TypeError, match=r"KLDivergence 'kl_divergence': expected y_pred to be a real numeric array"):
        metrics.KLDivergence().update_state([[1.0]], [["a"]])
    with pytest.raises(ValueError, match=r"Poisson 'poisson': sample_weight of shape \(3,\) does not broadcast"):
        metrics.Poisson().update_state(np.ones((2, 2)), np.ones((2, 2)), sample_weight=[1.0, 2.0, 3.0])
    s = metrics.SparseCategoricalCrossentropy()
    probs = np.full((2, 3), 1 / 3)
    with pytest.raises(ValueError, match=r"SparseCategoricalCrossentropy 'sparse_categorical_crossentropy': expected "
                                         r"labels in \[0, 3\) \(the size of the class axis of y_pred\). "
                                         r"Received labels in \[0, 3\]"):
        s.update_state([0, 3], probs)
    with pytest.raises(ValueError, match=r"Received labels in \[-1, 1\]"):
        s.update_state([-1, 1], probs)
    with pytest.raises(ValueError, match=r"expected y_true to hold integer class ids. Received: 1.5"):
        s.update_state([1.5, 1.0], probs)
    with pytest.raises(ValueError, match=r"expected integer labels of shape \(2,\) for y_pred of shape \(2, 3\) "
                                         r"\(class axis -1\). Received: y_true.shape=\(3,\)"):
        s.update_state([0, 1, 2], probs)
    with pytest.raises(ValueError, match=r"expected y_pred with a class axis. Received: y_pred.shape=\(\)"):
        s.update_state(1, 0.5)
    with pytest.raises(ValueError, match=r"'s_ign': sample_weight of shape \(3,\) does not broadcast to the labels "
                                         r"of shape \(2,\)"):
        metrics.SparseCategoricalCrossentropy(ignore_class=0, name="s_ign").update_state(
            [0, 1], probs, sample_weight=[1.0, 1.0, 1.0])
    assert s.result() == 0.0  # nothing was counted by the failed updates

    iou = metrics.MeanIoU(3, name="miou")
    with pytest.raises(ValueError, match=r"MeanIoU 'miou': expected y_true class ids in \[0, 3\) \(num_classes=3\). "
                                         r"Received class ids in \[0, 3\]"):
        iou.update_state([0, 3], [0, 1])
    with pytest.raises(ValueError, match=r"MeanIoU 'miou': expected y_pred class ids in \[0, 3\).*"
                                         r"Received class ids in \[-1, 1\]"):
        iou.update_state([0, 1], [-1, 1])
    with pytest.raises(ValueError, match=r"MeanIoU 'miou': expected as many class ids in y_pred as in y_true \(2\). "
                                         r"Received: y_true.shape=\(2,\), y_pred.shape=\(3,\) \(3 class ids\)"):
        iou.update_state([0, 1], [0, 1, 2])
    with pytest.raises(ValueError, match=r"MeanIoU 'miou': expected a scalar sample_weight or one weight per class id "
                                         r"\(2\). Received: sample_weight.shape=\(3,\)"):
        iou.update_state([0, 1], [0, 1], sample_weight=[1, 2, 3])
    with pytest.raises(ValueError, match=r"MeanIoU 'miou': expected y_true to hold integer class ids. Received: 0.5"):
        iou.update_state([0.5, 1.0], [0, 1])
    with pytest.raises(ValueError, match=r"expected y_pred to hold integer class ids. Received: nan"):
        iou.update_state([0, 1], [np.nan, 1.0])
    assert not iou.total_cm.any()
    dense = metrics.OneHotMeanIoU(3, name="oh")
    with pytest.raises(ValueError, match=r"OneHotMeanIoU 'oh': expected dense y_true with a non-empty class axis -1. "
                                         r"Received: y_true.shape=\(\)"):
        dense.update_state(1, [0.2, 0.3, 0.5])
    with pytest.raises(ValueError, match=r"OneHotMeanIoU 'oh': expected y_true class ids in \[0, 3\)"):
        dense.update_state(np.eye(4), np.eye(4))
    with pytest.raises(ValueError, match=r"OneHotMeanIoU 'oh': expected y_pred class ids in \[0, 3\)"):
        dense.update_state(np.eye(4)[:, :3], np.eye(4))
    with pytest.raises(ValueError, match=r"OneHotMeanIoU 'oh': expected `axis` in \[-2, 2\) for y_true of rank 2"):
        metrics.OneHotMeanIoU(3, axis=2, name="oh").update_state(np.eye(3), np.eye(3))
    with pytest.raises(ValueError, match=r"BinaryIoU 'binary_io_u': expected y_true class ids in \[0, 2\).*\[0, 2\]"):
        metrics.BinaryIoU().update_state([0, 2], [0.2, 0.9])
