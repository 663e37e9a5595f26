"""F1Score, FBetaScore and R2Score: float64 references, scikit-learn and Keras 3 agreement,
state and result shapes, use in compile/fit/save, configs, aliases and errors."""

from __future__ import annotations

import os

import numpy as np
import pytest

import pynncore
from pynncore import layers, metrics

EPS = 1e-7


def ref_fbeta(y, p, average=None, beta=1.0, threshold=None, w=None):
    """F-beta from per-class weighted counts, in float64, as Keras defines it."""
    y = np.asarray(y, np.float64)
    p = np.asarray(p, np.float64)
    if threshold is None:
        pred = (p == p.max(axis=1, keepdims=True)) & (np.abs(p) > 1e-9)
    else:
        pred = p > threshold
    w = np.ones(len(y)) if w is None else np.asarray(w, np.float64).reshape(-1)
    pos, lab = pred.astype(np.float64), y
    tp = (w[:, None] * pos * lab).sum(0)
    fp = (w[:, None] * pos * (1 - lab)).sum(0)
    fn = (w[:, None] * (1 - pos) * lab).sum(0)
    support = (w[:, None] * lab).sum(0)
    if average == "micro":
        tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
    prec, rec = tp / (tp + fp + EPS), tp / (tp + fn + EPS)
    f = (1 + beta**2) * prec * rec / (beta**2 * prec + rec + EPS)
    if average is None:
        return f
    if average == "weighted":
        return float((f * support / (support.sum() + EPS)).sum())
    return float(np.mean(f))


def ref_r2(y, p, w=None, aggregation="uniform_average", k=0):
    y = np.asarray(y, np.float64)
    p = np.asarray(p, np.float64)
    w = np.ones(y.shape) if w is None else np.broadcast_to(np.asarray(w, np.float64).reshape(len(y), -1), y.shape)
    mean = (w * y).sum(0) / w.sum(0)
    total = (w * (y - mean) ** 2).sum(0)
    raw = 1 - (w * (y - p) ** 2).sum(0) / total
    if aggregation == "uniform_average":
        score = raw.mean()
    elif aggregation == "variance_weighted_average":
        score = (total * raw).sum() / total.sum()
    else:
        score = raw
    if k:
        n = y.size
        score = 1 - (1 - score) * (n - 1) / (n - k - 1)
    return score


def _scores(rng, n=30, c=4):
    return rng.integers(0, 2, (n, c)).astype(np.float32), rng.random((n, c)).astype(np.float32)


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
@pytest.mark.parametrize("beta, threshold", [(1.0, None), (1.0, 0.5), (2.0, 0.3), (0.5, None)])
def test_fbeta_matches_reference_over_batches(average, beta, threshold, rng):
    y, p = _scores(rng)
    w = rng.random(30)
    m = metrics.FBetaScore(average=average, beta=beta, threshold=threshold)
    for sl in (slice(0, 7), slice(7, 8), slice(8, 30)):
        m.update_state(y[sl], p[sl], sample_weight=w[sl])
    want = ref_fbeta(y, p, average, beta, threshold, w)
    got = m.result()
    if average is None:
        assert isinstance(got, np.ndarray) and got.shape == (4,)
    else:
        assert isinstance(got, float)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    if beta == 1.0:
        f1 = metrics.F1Score(average=average, threshold=threshold)
        f1.update_state(y, p, sample_weight=w)
        np.testing.assert_allclose(f1.result(), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
def test_fbeta_matches_scikit_learn(average, rng):
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    y, p = _scores(rng, 50, 5)
    w = rng.random(50)
    m = metrics.FBetaScore(average=average, beta=2.0, threshold=0.5)
    m.update_state(y, p, sample_weight=w)
    want = sklearn_metrics.fbeta_score(y, (p > 0.5).astype(int), beta=2.0, average=average, sample_weight=w,
                                       zero_division=0)
    np.testing.assert_allclose(m.result(), want, rtol=1e-5, atol=1e-6)  # Keras adds 1e-7 to denominators
    labels = rng.integers(0, 5, 50)
    m = metrics.F1Score(average=average)  # threshold None: the argmax of each row
    m.update_state(np.eye(5)[labels], p, sample_weight=w)
    want = sklearn_metrics.f1_score(labels, p.argmax(1), average=average, sample_weight=w, labels=range(5),
                                    zero_division=0)
    np.testing.assert_allclose(m.result(), want, rtol=1e-5, atol=1e-6)


def test_argmax_threshold_ties_zero_rows_reset_and_shapes():
    m = metrics.F1Score()
    assert m.result().shape == (0,)  # nothing seen: no classes yet
    # a tie marks both classes; an all-zero row marks none
    m.update_state([[1, 0, 0], [0, 1, 0], [0, 0, 1]], [[0.5, 0.5, 0.0], [0.0, 0.0, 0.0], [0.1, 0.2, 0.7]])
    np.testing.assert_allclose(m.true_positives, [1, 0, 1])
    np.testing.assert_allclose(m.false_positives, [0, 1, 0])
    np.testing.assert_allclose(m.false_negatives, [0, 1, 0])
    m.reset_state()
    assert m.true_positives.shape == (3,) and not m.true_positives.any()
    np.testing.assert_allclose(m.result(), [0, 0, 0])
    micro = metrics.F1Score(average="micro")
    assert micro.result() == 0.0
    micro.update_state([[1, 0]], [[0.9, 0.1]], sample_weight=2.0)  # a scalar weight
    assert micro.result() == pytest.approx(1.0, abs=1e-6)
    assert micro([[0, 1]], [[0.9, 0.1]]) == pytest.approx(2 / 3, abs=1e-6)  # __call__ updates and returns
    weighted_rows = metrics.F1Score(threshold=0.5)
    weighted_rows.update_state([[1, 0], [1, 1]], [[0.9, 0.1], [0.2, 0.8]], sample_weight=[[0.0], [1.0]])
    np.testing.assert_allclose(weighted_rows.true_positives, [0, 1])
    np.testing.assert_allclose(weighted_rows.false_negatives, [1, 0])


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
def test_fscores_agree_with_keras(average, rng):
    keras = _keras()
    y, p = _scores(rng, 40, 3)
    w = rng.random(40).astype(np.float32)
    pairs = [
        (metrics.F1Score(average=average), keras.metrics.F1Score(average=average)),
        (metrics.F1Score(average=average, threshold=0.4), keras.metrics.F1Score(average=average, threshold=0.4)),
        (metrics.FBetaScore(average=average, beta=2.0, threshold=0.6),
         keras.metrics.FBetaScore(average=average, beta=2.0, threshold=0.6)),
        (metrics.FBetaScore(average=average, beta=0.5), keras.metrics.FBetaScore(average=average, beta=0.5)),
    ]
    for ours, theirs in pairs:
        for sl in (slice(0, 13), slice(13, 40)):
            ours.update_state(y[sl], p[sl], sample_weight=w[sl])
            theirs.update_state(y[sl], p[sl], sample_weight=w[sl])
        np.testing.assert_allclose(ours.result(), np.asarray(theirs.result()), rtol=1e-5, atol=1e-6)
        assert np.shape(ours.result()) == tuple(np.shape(theirs.result()))
        assert ours.name == theirs.name
        assert {k: v for k, v in ours.get_config().items() if k != "dtype"} == {
            k: theirs.get_config()[k] for k in ours.get_config() if k != "dtype"}
        ours.reset_state()
        theirs.reset_state()
        np.testing.assert_allclose(ours.result(), np.asarray(theirs.result()), atol=0)


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:.*R2 score.*:UserWarning")
@pytest.mark.parametrize("aggregation", ["uniform_average", "variance_weighted_average", None])
def test_r2_agrees_with_keras_scikit_learn_and_reference(aggregation, rng):
    keras = _keras()
    y = rng.standard_normal((25, 3)).astype(np.float32)
    p = (y + 0.5 * rng.standard_normal((25, 3))).astype(np.float32)
    w = rng.random(25).astype(np.float32)
    for k in (0, 3):
        ours = metrics.R2Score(class_aggregation=aggregation, num_regressors=k)
        theirs = keras.metrics.R2Score(class_aggregation=aggregation, num_regressors=k)
        for sl in (slice(0, 10), slice(10, 25)):
            ours.update_state(y[sl], p[sl], sample_weight=w[sl])
            theirs.update_state(y[sl], p[sl], sample_weight=w[sl])
        want = ref_r2(y, p, w, aggregation, k)
        np.testing.assert_allclose(ours.result(), want, rtol=1e-9)
        np.testing.assert_allclose(ours.result(), np.asarray(theirs.result()), rtol=1e-4, atol=1e-6)
        assert ours.name == theirs.name == "r2_score"
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    multioutput = {"uniform_average": "uniform_average", "variance_weighted_average": "variance_weighted",
                   None: "raw_values"}[aggregation]
    m = metrics.R2Score(class_aggregation=aggregation)
    m.update_state(y, p, sample_weight=w)
    np.testing.assert_allclose(m.result(), sklearn_metrics.r2_score(y, p, sample_weight=w, multioutput=multioutput),
                               rtol=1e-5)


def test_r2_shapes_weights_constant_columns_and_warnings():
    m = metrics.R2Score()
    assert m.result() == 0.0
    m.update_state([1.0, 4.0, 3.0], [[2.0], [4.0], [4.0]])  # (N,) targets against (N, 1)
    assert m.result() == pytest.approx(1 - 2 / (14 / 3), rel=1e-12)
    m.reset_state()
    assert m.sum.shape == (1,) and m.num_samples == 0
    per_entry = metrics.R2Score(class_aggregation=None)
    y = np.array([[1.0, 5.0], [2.0, 5.0], [4.0, 5.0]])
    p = np.array([[1.5, 4.0], [2.0, 5.0], [3.0, 5.0]])
    per_entry.update_state(y, p, sample_weight=np.array([[1.0, 1.0], [0.5, 1.0], [2.0, 1.0]]))
    got = per_entry.result()
    assert got.shape == (2,)
    assert got[1] == 0.0  # a constant column with residuals scores 0, as in Keras
    assert got[0] == pytest.approx(ref_r2(y[:, :1], p[:, :1], np.array([1.0, 0.5, 2.0]), None)[0], rel=1e-12)
    adjusted = metrics.R2Score(num_regressors=3)
    adjusted.update_state([[1.0], [2.0], [4.0]], [[1.5], [2.0], [3.0]])
    with pytest.warns(UserWarning, match="more independent predictors than data points"):
        plain = adjusted.result()
    assert plain == pytest.approx(ref_r2([[1.0], [2.0], [4.0]], [[1.5], [2.0], [3.0]]), rel=1e-12)
    adjusted = metrics.R2Score(num_regressors=2)
    adjusted.update_state([[1.0], [2.0], [4.0]], [[1.5], [2.0], [3.0]])
    with pytest.warns(UserWarning, match="division by zero"):
        adjusted.result()


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_in_compile_fit_evaluate_like_keras(rng):
    keras = _keras()
    x = rng.standard_normal((24, 5)).astype(np.float32)
    labels = rng.integers(0, 3, 24)
    y = np.eye(3, dtype=np.float32)[labels]
    km = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, activation="softmax")])
    pm = pynncore.Sequential([pynncore.Input((5,)), layers.Dense(3, activation="softmax")])
    pm.set_weights([np.asarray(v) for v in km.get_weights()])
    km.compile(optimizer=keras.optimizers.SGD(0.1), loss="categorical_crossentropy",
               metrics=["f1_score", keras.metrics.FBetaScore(average="macro", beta=2.0, threshold=0.3), "r2_score"])
    pm.compile(optimizer=pynncore.optimizers.SGD(0.1), loss="categorical_crossentropy",
               metrics=["f1_score", metrics.FBetaScore(average="macro", beta=2.0, threshold=0.3), "r2_score"])
    kh = km.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0, validation_split=0.25).history
    ph = pm.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0, validation_split=0.25).history
    assert set(ph) == set(kh) == {"loss", "f1_score", "fbeta_score", "r2_score", "val_loss", "val_f1_score",
                                  "val_fbeta_score", "val_r2_score"}
    for key in kh:
        for ours, theirs in zip(ph[key], kh[key]):
            assert np.shape(ours) == np.shape(theirs), key
            np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-4, atol=1e-5, err_msg=key)
    ours = pm.evaluate(x, y, verbose=0, return_dict=True)
    theirs = km.evaluate(x, y, verbose=0, return_dict=True)
    for key in theirs:
        np.testing.assert_allclose(ours[key], np.asarray(theirs[key]), rtol=1e-4, atol=1e-5, err_msg=key)


def test_aliases_configs_and_save_load(tmp_path, rng):
    for identifier, cls in (("f1_score", metrics.F1Score), ("F1Score", metrics.F1Score),
                            ("f_beta_score", metrics.FBetaScore), ("fbeta_score", metrics.FBetaScore),
                            ("FBetaScore", metrics.FBetaScore), ("r2_score", metrics.R2Score),
                            ("R2Score", metrics.R2Score)):
        m = metrics.get(identifier)
        assert type(m) is cls and m.name == identifier
    assert metrics.F1Score().name == "f1_score" and metrics.FBetaScore().name == "fbeta_score"
    assert metrics.R2Score().name == "r2_score"
    for m in (metrics.F1Score(average="weighted", threshold=0.4, name="f1w"),
              metrics.FBetaScore(average="micro", beta=0.5, threshold=1.0),
              metrics.FBetaScore(),
              metrics.R2Score(class_aggregation=None, num_regressors=2, name="r2")):
        config = m.get_config()
        clone = metrics.deserialize(metrics.serialize(m))
        assert type(clone) is type(m) and clone.get_config() == config and clone.name == m.name
    assert metrics.F1Score(average="macro").get_config() == {
        "name": "f1_score", "dtype": None, "average": "macro", "threshold": None}
    assert metrics.R2Score().get_config() == {
        "name": "r2_score", "dtype": None, "class_aggregation": "uniform_average", "num_regressors": 0}
    model = pynncore.Sequential([pynncore.Input((3,)), layers.Dense(2, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy",
                  metrics=["f1_score", metrics.FBetaScore(average="micro", threshold=0.5), "r2_score"])
    x = rng.standard_normal((10, 3)).astype(np.float32)
    y = rng.integers(0, 2, (10, 2)).astype(np.float32)
    model.fit(x, y, verbose=0)
    path = str(tmp_path / "m.safetensors")
    model.save(path)
    loaded = pynncore.load_model(path)
    before = model.evaluate(x, y, verbose=0, return_dict=True)
    after = loaded.evaluate(x, y, verbose=0, return_dict=True)
    assert set(after) == {"loss", "f1_score", "fbeta_score", "r2_score"}
    np.testing.assert_allclose(after["f1_score"], before["f1_score"], rtol=1e-6)
    assert after["r2_score"] == pytest.approx(before["r2_score"], rel=1e-6)


def test_bad_arguments_and_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match=r"FBetaScore: expected `average` to be one of None, 'micro'.*average='mean'"):
        metrics.FBetaScore(average="mean")
    with pytest.raises(ValueError, match=r"F1Score: expected `average`.*average=1"):
        metrics.F1Score(average=1)
    with pytest.raises(ValueError, match=r"expected `beta` to be a number > 0. Received: beta=0"):
        metrics.FBetaScore(beta=0)
    with pytest.raises(ValueError, match=r"expected `beta`.*beta=True"):
        metrics.FBetaScore(beta=True)
    with pytest.raises(ValueError, match=r"expected `threshold` to be None or a number in \(0, 1\].*threshold=0.0"):
        metrics.F1Score(threshold=0.0)
    with pytest.raises(ValueError, match=r"threshold=1.5"):
        metrics.FBetaScore(threshold=1.5)
    with pytest.raises(ValueError, match=r"threshold='0.5'"):
        metrics.F1Score(threshold="0.5")
    with pytest.raises(TypeError, match=r"expected `name` to be a string"):
        metrics.F1Score(name=3)
    m = metrics.F1Score()
    with pytest.raises(ValueError, match=r"expected 2D inputs.*y_true.shape=\(3,\), y_pred.shape=\(3,\)"):
        m.update_state([1, 0, 1], [0.2, 0.3, 0.9])
    with pytest.raises(ValueError, match=r"same shape.*y_true.shape=\(2, 3\), y_pred.shape=\(2, 2\)"):
        m.update_state(np.zeros((2, 3)), np.zeros((2, 2)))
    m.update_state(np.eye(3), np.eye(3))
    with pytest.raises(ValueError, match=r"expected 3 classes, as in the first update. Received: y_pred.shape=\(2, 4\)"):
        m.update_state(np.zeros((2, 4)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"sample_weight of shape \(3,\).*Received: sample_weight.shape=\(3, 3\)"):
        m.update_state(np.eye(3), np.eye(3), sample_weight=np.ones((3, 3)))
    with pytest.raises(TypeError, match=r"y_pred to be a real numeric array"):
        m.update_state(np.eye(2), [["a", "b"], ["c", "d"]])
    with pytest.raises(ValueError, match=r"R2Score: expected `class_aggregation` to be one of.*'mean'"):
        metrics.R2Score(class_aggregation="mean")
    with pytest.raises(ValueError, match=r"expected `num_regressors` to be an integer >= 0. Received: num_regressors=-1"):
        metrics.R2Score(num_regressors=-1)
    with pytest.raises(ValueError, match=r"num_regressors=1.5"):
        metrics.R2Score(num_regressors=1.5)
    r2 = metrics.R2Score()
    with pytest.raises(ValueError, match=r"expected 2D inputs.*y_true.shape=\(2, 2, 1\)"):
        r2.update_state(np.zeros((2, 2, 1)), np.zeros((2, 2, 1)))
    with pytest.raises(ValueError, match=r"same shape.*y_pred.shape=\(2, 3\)"):
        r2.update_state(np.zeros((2, 2)), np.zeros((2, 3)))
    r2.update_state(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"expected 2 output columns, as in the first update"):
        r2.update_state(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"sample_weight of shape \(3,\) does not broadcast to y_pred of shape \(2, 2\)"):
        r2.update_state(np.zeros((2, 2)), np.zeros((2, 2)), sample_weight=[1.0, 2.0, 3.0])


def test_results_with_several_values_are_logged_as_arrays(rng):
    model = pynncore.Sequential([pynncore.Input((3,)), layers.Dense(2, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy",
                  metrics=[metrics.F1Score(threshold=0.5), metrics.Precision(thresholds=[0.3, 0.7])])
    x = rng.standard_normal((12, 3)).astype(np.float32)
    y = rng.integers(0, 2, (12, 2)).astype(np.float32)
    history = model.fit(x, y, epochs=2, verbose=0).history
    assert [np.shape(v) for v in history["f1_score"]] == [(2,), (2,)]
    assert [np.shape(v) for v in history["precision"]] == [(2,), (2,)]
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert isinstance(logs["loss"], float) and logs["f1_score"].dtype == np.float64
    want = ref_fbeta(y, model.predict(x, verbose=0), threshold=0.5)
    np.testing.assert_allclose(logs["f1_score"], want, rtol=1e-6, atol=1e-7)
