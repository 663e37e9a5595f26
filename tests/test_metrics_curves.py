"""PrecisionAtRecall, RecallAtPrecision, SensitivityAtSpecificity, SpecificityAtSensitivity,
PearsonCorrelation and ConcordanceCorrelation: float64 references, Keras 3 agreement over several
weighted updates, History values in fit, configs, save/load and bad arguments."""

from __future__ import annotations

import re

import numpy as np
import pytest

import pynncore
from pynncore import layers, metrics

CURVES = {
    "PrecisionAtRecall": ("recall", "precision_at_recall"),
    "RecallAtPrecision": ("precision", "recall_at_precision"),
    "SensitivityAtSpecificity": ("specificity", "sensitivity_at_specificity"),
    "SpecificityAtSensitivity": ("sensitivity", "specificity_at_sensitivity"),
}


def _keras():
    pytest.importorskip("torch")
    return pytest.importorskip("keras")


# float64 references ---------------------------------------------------------------------------


def ref_counts(batches, num_thresholds, class_id):
    """tp, fp, tn, fn at Keras's thresholds over a list of (y_true, y_pred, sample_weight)."""
    n = num_thresholds
    thresholds = np.array([0.5]) if n == 1 else np.linspace(0.0, 1.0, n)
    tp, fp, tn, fn = (np.zeros(len(thresholds)) for _ in range(4))
    for t, p, w in batches:
        t, p = np.asarray(t, np.float64), np.asarray(p, np.float64)
        w = np.ones(p.shape[0]) if w is None else np.asarray(w, np.float64)
        w = np.broadcast_to(w.reshape((-1,) + (1,) * (p.ndim - 1)), p.shape)
        if class_id is not None:
            t, p, w = t[:, class_id], p[:, class_id], w[:, class_id]
        t, p, w = t.ravel() != 0, np.clip(p.ravel(), 0.0, 1.0), w.ravel()
        for k, th in enumerate(thresholds):
            pos = p > th
            tp[k] += np.sum(w * (pos & t))
            fp[k] += np.sum(w * (pos & ~t))
            fn[k] += np.sum(w * (~pos & t))
            tn[k] += np.sum(w * (~pos & ~t))
    return tp, fp, tn, fn


def _ratio(a, b):
    return np.array([x / (x + y) if x + y > 0 else 0.0 for x, y in zip(a, b)])


def ref_curve(name, value, batches, num_thresholds=200, class_id=None):
    tp, fp, tn, fn = ref_counts(batches, num_thresholds, class_id)
    recall, precision, specificity = _ratio(tp, fn), _ratio(tp, fp), _ratio(tn, fp)
    constrained, dependent = {
        "PrecisionAtRecall": (recall, precision),
        "RecallAtPrecision": (precision, recall),
        "SensitivityAtSpecificity": (specificity, recall),
        "SpecificityAtSensitivity": (recall, specificity),
    }[name]
    best = 0.0
    for c, d in zip(constrained, dependent):
        if c >= value:
            best = max(best, d)
    return best


def ref_pearson(t, p, axis):
    t, p = np.asarray(t, np.float64), np.asarray(p, np.float64)
    tc, pc = t - t.mean(axis=axis, keepdims=True), p - p.mean(axis=axis, keepdims=True)
    num = np.sum(tc * pc, axis=axis)
    return num / np.sqrt(np.sum(tc * tc, axis=axis) * np.sum(pc * pc, axis=axis))


def ref_concordance(t, p, axis):
    t, p = np.asarray(t, np.float64), np.asarray(p, np.float64)
    mt, mp = t.mean(axis=axis, keepdims=True), p.mean(axis=axis, keepdims=True)
    vt, vp = ((t - mt) ** 2).mean(axis=axis, keepdims=True), ((p - mp) ** 2).mean(axis=axis, keepdims=True)
    # Keras 3 centres y_true on the mean of y_pred in the cross term
    return np.mean(2.0 * (t - mp) * (p - mp) / (vt + vp + (mt - mp) ** 2 + 1e-7), axis=axis)


def ref_weighted_mean(batches, fn):
    total = count = 0.0
    for t, p, w in batches:
        v = fn(t, p)
        v = v.reshape(v.shape[0], -1).mean(axis=1) if v.ndim > 1 else v
        w = np.ones(v.shape[0]) if w is None else np.asarray(w, np.float64)
        total += float(np.sum(v * w))
        count += float(np.sum(w))
    return total / count


def _scored_batch(rng, n, c, signal=1.5):
    t = (rng.random((n, c)) > 0.5).astype(np.float32)
    p = 1.0 / (1.0 + np.exp(-(signal * (2 * t - 1) + rng.standard_normal((n, c)))))
    p[rng.random((n, c)) < 0.05] += 0.4  # a few predictions above 1 (clipped, as Keras does)
    return t, p.astype(np.float32), rng.uniform(0.2, 2.0, n).astype(np.float32)


CURVE_CASES = [
    (name, value, extra)
    for name, value in (("PrecisionAtRecall", 0.7), ("RecallAtPrecision", 0.8),
                        ("SensitivityAtSpecificity", 0.6), ("SpecificityAtSensitivity", 0.75))
    for extra in ({}, {"num_thresholds": 9}, {"class_id": 2}, {"num_thresholds": 1}, {"num_thresholds": 2})
]


@pytest.mark.parametrize("name, value, extra", CURVE_CASES, ids=[f"{c[0]}-{c[2]}" for c in CURVE_CASES])
def test_curve_metrics_match_the_reference(name, value, extra, rng):
    m = getattr(metrics, name)(value, **extra)
    batches = []
    for size in (13, 7, 21):
        t, p, w = _scored_batch(rng, size, 3)
        batches.append((t, p, w))
        m.update_state(t, p, sample_weight=w)
        want = ref_curve(name, value, batches, extra.get("num_thresholds", 200), extra.get("class_id"))
        assert m.result() == pytest.approx(want, rel=1e-9, abs=1e-12)
    assert isinstance(m.result(), float) and 0.0 <= m.result() <= 1.0
    m.reset_state()
    assert m.result() == 0.0 and not m.true_positives.any()


@pytest.mark.parametrize("name, value, extra", CURVE_CASES, ids=[f"{c[0]}-{c[2]}" for c in CURVE_CASES])
def test_curve_metrics_agree_with_keras(name, value, extra, rng):
    keras = _keras()
    ours, theirs = getattr(metrics, name)(value, **extra), getattr(keras.metrics, name)(value, **extra)
    for size in (16, 9, 30):
        t, p, w = _scored_batch(rng, size, 4)
        weight = None if size == 9 else w
        ours.update_state(t, p, sample_weight=weight)
        theirs.update_state(t, p, sample_weight=weight)
        assert ours.result() == pytest.approx(float(theirs.result()), rel=1e-5, abs=1e-7)
    for count in ("true_positives", "false_positives", "true_negatives", "false_negatives"):
        np.testing.assert_allclose(getattr(ours, count), np.asarray(getattr(theirs, count).value), rtol=1e-5,
                                   atol=1e-4)


def test_curve_metrics_on_rank_one_inputs_and_edge_values(rng):
    keras = _keras()
    t = np.array([0, 0, 1, 1, 1, 0, 1], np.float32)
    p = np.array([0.0, 1.0, 1.0, 0.5, -0.3, 0.25, 1.7], np.float32)  # exact thresholds and out of range
    for name, (target, _) in CURVES.items():
        for value in (0.0, 0.5, 1.0):
            ours = getattr(metrics, name)(value, num_thresholds=5)
            theirs = getattr(keras.metrics, name)(value, num_thresholds=5)
            ours.update_state(t, p)
            theirs.update_state(t, p)
            assert ours.result() == pytest.approx(float(theirs.result()), abs=1e-7), (name, value)
            assert ours.result() == pytest.approx(ref_curve(name, value, [(t, p, None)], 5), abs=1e-12)


CORRELATIONS = [
    ("PearsonCorrelation", ref_pearson, metrics.pearson_correlation),
    ("ConcordanceCorrelation", ref_concordance, metrics.concordance_correlation),
]


@pytest.mark.parametrize("name, ref, fn", CORRELATIONS, ids=[c[0] for c in CORRELATIONS])
@pytest.mark.parametrize("axis, shape", [(-1, (6, 5)), (1, (5, 4, 3)), ((1, 2), (4, 3, 5)), (0, (7,))])
def test_correlations_match_the_reference_and_keras(name, ref, fn, axis, shape, rng):
    keras = _keras()
    ours = getattr(metrics, name)(axis=axis)
    theirs = getattr(keras.metrics, name)(axis=axis)
    batches = []
    for i in range(3):
        t = rng.standard_normal(shape).astype(np.float32)
        p = (0.6 * t + 0.5 * rng.standard_normal(shape) + 0.2).astype(np.float32)
        w = None if i == 1 or len(shape) == 1 else rng.uniform(0.2, 2.0, shape[0]).astype(np.float32)
        np.testing.assert_allclose(fn(t, p, axis=axis), ref(t, p, axis), rtol=1e-10, atol=1e-12)
        ours.update_state(t, p, sample_weight=w)
        theirs.update_state(t, p, sample_weight=w)
        batches.append((t, p, w))
        if len(shape) > 1:
            assert ours.result() == pytest.approx(ref_weighted_mean(batches, lambda a, b: ref(a, b, axis)), rel=1e-9)
        assert ours.result() == pytest.approx(float(theirs.result()), rel=1e-4, abs=1e-6)
        assert np.asarray(getattr(keras.metrics, fn.__name__)(t, p, axis=axis)) == pytest.approx(
            fn(t, p, axis=axis), rel=1e-4, abs=1e-5)


def test_correlation_of_a_constant_row_is_nan_as_in_keras():
    keras = _keras()
    t = np.array([[1.0, 1.0, 1.0], [0.0, 1.0, 2.0]], np.float32)
    p = np.array([[0.0, 1.0, 2.0], [0.0, 1.0, 2.0]], np.float32)
    got = metrics.pearson_correlation(t, p)
    want = np.asarray(keras.metrics.pearson_correlation(t, p))
    assert np.isnan(got[0]) and np.isnan(want[0]) and got[1] == pytest.approx(1.0)
    # the concordance keeps its epsilon: finite
    np.testing.assert_allclose(metrics.concordance_correlation(t, p),
                               np.asarray(keras.metrics.concordance_correlation(t, p)), rtol=1e-5)


# compile and fit ------------------------------------------------------------------------------


def _curve_metric_set():
    return [metrics.PrecisionAtRecall(0.6, name="par"), metrics.RecallAtPrecision(0.7, num_thresholds=50),
            metrics.SensitivityAtSpecificity(0.5, class_id=1), metrics.SpecificityAtSensitivity(0.8)]


def _history_against_keras(model, x, y, xv, yv, chosen, keras):
    """Trains one epoch on a single batch: the training value is the metric of the predictions
    before the step, the validation value that of the predictions after it."""
    before = model.predict(x, verbose=0)
    history = model.fit(x, y, batch_size=x.shape[0], epochs=1, verbose=0, shuffle=False,
                        validation_data=(xv, yv)).history
    after = model.predict(xv, verbose=0)
    for metric in chosen:
        config = {k: v for k, v in metric.get_config().items() if k not in ("name", "dtype")}
        for key, yy, pred in ((metric.name, y, before), (f"val_{metric.name}", yv, after)):
            theirs = getattr(keras.metrics, type(metric).__name__)(**config)
            theirs.update_state(yy, pred)
            assert history[key][0] == pytest.approx(float(theirs.result()), rel=1e-5, abs=1e-6), key


def test_fit_reports_curve_metrics_as_keras_computes_them(rng):
    keras = _keras()
    x = rng.standard_normal((64, 5)).astype(np.float32)
    y = (x[:, :3] + 0.5 * rng.standard_normal((64, 3)) > 0).astype(np.float32)
    xv = rng.standard_normal((40, 5)).astype(np.float32)
    yv = (xv[:, :3] > 0).astype(np.float32)
    chosen = _curve_metric_set()
    model = pynncore.Sequential([pynncore.Input((5,)), layers.Dense(3, activation="sigmoid")])
    model.compile(optimizer=pynncore.optimizers.SGD(0.5), loss="binary_crossentropy", metrics=chosen)
    _history_against_keras(model, x, y, xv, yv, chosen, keras)
    history = model.fit(x, y, epochs=5, batch_size=16, verbose=0).history
    assert set(history) == {"loss", "par", "recall_at_precision", "sensitivity_at_specificity",
                            "specificity_at_sensitivity"}
    assert all(0.0 <= v <= 1.0 for key in history if key != "loss" for v in history[key])


def test_fit_reports_correlations_as_keras_computes_them(rng):
    keras = _keras()
    x = rng.standard_normal((50, 4)).astype(np.float32)
    y = (x @ rng.standard_normal((4, 3)) + 0.3 * rng.standard_normal((50, 3))).astype(np.float32)
    xv = rng.standard_normal((20, 4)).astype(np.float32)
    yv = (xv @ rng.standard_normal((4, 3))).astype(np.float32)
    chosen = [metrics.PearsonCorrelation(), metrics.ConcordanceCorrelation(name="ccc")]
    model = pynncore.Sequential([pynncore.Input((4,)), layers.Dense(3)])
    model.compile(optimizer=pynncore.optimizers.SGD(0.05), loss="mse", metrics=chosen)
    _history_against_keras(model, x, y, xv, yv, chosen, keras)
    history = model.fit(x, y, epochs=30, batch_size=10, verbose=0).history
    assert history["ccc"][-1] > history["ccc"][0]
    model.compile(optimizer="sgd", loss="mse", metrics=["pearson_correlation", "concordance_correlation"])
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert logs["pearson_correlation"] == pytest.approx(float(np.mean(ref_pearson(y, model.predict(x, verbose=0), -1))),
                                                       rel=1e-5)


# configs, names, save/load --------------------------------------------------------------------


def test_configs_round_trip_and_match_keras():
    keras = _keras()
    configured = [
        metrics.PrecisionAtRecall(0.25, num_thresholds=10, class_id=3, name="p"),
        metrics.RecallAtPrecision(1.0, num_thresholds=1),
        metrics.SensitivityAtSpecificity(0.0),
        metrics.SpecificityAtSensitivity(0.5, class_id=0),
        metrics.PearsonCorrelation(axis=(1, 2)),
        metrics.ConcordanceCorrelation(axis=0, name="ccc"),
    ]
    for metric in configured:
        config = metric.get_config()
        clone = metrics.deserialize(metrics.serialize(metric))
        assert type(clone) is type(metric) and clone.get_config() == config
        assert type(metric).from_config(config).get_config() == config
        theirs = getattr(keras.metrics, type(metric).__name__).from_config(config).get_config()
        assert {k: v for k, v in theirs.items() if k != "dtype"} == {k: v for k, v in config.items() if k != "dtype"}
    assert configured[0].get_config() == {"name": "p", "dtype": None, "class_id": 3, "num_thresholds": 10,
                                          "recall": 0.25}
    assert configured[4].get_config() == {"name": "pearson_correlation", "dtype": None, "axis": [1, 2]}
    assert configured[0].recall == 0.25 and configured[3].sensitivity == 0.5
    assert configured[1].precision == 1.0 and configured[2].specificity == 0.0


def test_names_registry_and_exports():
    keras = _keras()
    for cls, (target, name) in CURVES.items():
        ours, theirs = getattr(metrics, cls)(0.5), getattr(keras.metrics, cls)(0.5)
        assert ours.name == name and re.fullmatch(rf"{name}(_\d+)?", theirs.name) and ours._direction == "up"
        assert cls in metrics.__all__ and getattr(pynncore.metrics, cls) is getattr(metrics, cls)
        with pytest.raises(ValueError, match=rf"Metric '{name}' needs arguments \({cls}: .*{target}"):
            metrics.get(name)
        assert type(metrics.get({"class_name": cls, "config": {target: 0.3}})) is getattr(metrics, cls)
    for cls, name in (("PearsonCorrelation", "pearson_correlation"),
                      ("ConcordanceCorrelation", "concordance_correlation")):
        ours = metrics.get(name)
        assert type(ours) is getattr(metrics, cls) and ours.name == name and ours._direction == "up"
        assert type(metrics.get(cls)) is getattr(metrics, cls) and cls in metrics.__all__
        assert re.fullmatch(rf"{name}(_\d+)?", getattr(keras.metrics, cls)().name)
        assert name in metrics.__all__ and getattr(metrics, name) is metrics._FUNCTIONS[name]
    wrapped = metrics.MeanMetricWrapper(metrics.pearson_correlation, name="pc", axis=0)
    again = metrics.MeanMetricWrapper.from_config(wrapped.get_config())
    assert again._fn is metrics.pearson_correlation and again._fn_kwargs == {"axis": 0}


def test_save_load_keeps_the_compiled_metrics(tmp_path, rng):
    model = pynncore.Sequential([pynncore.Input((4,)), layers.Dense(3, activation="sigmoid")])
    chosen = _curve_metric_set() + [metrics.PearsonCorrelation(axis=0, name="pc0"), "concordance_correlation"]
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=chosen)
    x = rng.standard_normal((24, 4)).astype(np.float32)
    y = (x[:, :3] > 0).astype(np.float32)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    path = str(tmp_path / "m.safetensors")
    model.save(path)
    loaded = pynncore.load_model(path)
    want = model.evaluate(x, y, verbose=0, return_dict=True)
    got = loaded.evaluate(x, y, verbose=0, return_dict=True)
    assert set(got) == set(want) and "pc0" in got and "concordance_correlation" in got
    for key in want:
        assert got[key] == pytest.approx(want[key], rel=1e-6, abs=1e-9), key
    by_name = {m.name: m for m in loaded._trainer.metrics}
    for metric in chosen[:5]:
        assert by_name[metric.name].get_config() == metric.get_config()
        assert type(by_name[metric.name]) is type(metric)


def test_bad_arguments_raise_clear_errors():
    for cls, (target, _) in CURVES.items():
        metric_cls = getattr(metrics, cls)
        with pytest.raises(ValueError, match=rf"{cls}: expected `{target}` to be a number in \[0, 1\]. "
                                             rf"Received: {target}=1.5"):
            metric_cls(1.5)
        with pytest.raises(ValueError, match=rf"{cls}: expected `{target}`.*{target}='0.5'"):
            metric_cls("0.5")
        with pytest.raises(ValueError, match=rf"{cls}: expected `num_thresholds` to be an integer > 0. "
                                             r"Received: num_thresholds=0"):
            metric_cls(0.5, num_thresholds=0)
        with pytest.raises(ValueError, match=r"num_thresholds=2.5"):
            metric_cls(0.5, num_thresholds=2.5)
        with pytest.raises(ValueError, match=r"expected `class_id` to be None or an integer >= 0.*class_id=-1"):
            metric_cls(0.5, class_id=-1)
    m = metrics.PrecisionAtRecall(0.5, class_id=3)
    with pytest.raises(ValueError, match=r"class_id=3 needs y_pred of shape \(N, C\) with C > class_id.*\(4, 2\)"):
        m.update_state(np.zeros((4, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"y_true and y_pred must have the same shape.*\(4, 3\).*\(4, 2\)"):
        metrics.RecallAtPrecision(0.5).update_state(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(TypeError, match=r"expected y_pred to be a real numeric array"):
        metrics.SpecificityAtSensitivity(0.5).update_state([1, 0], ["a", "b"])
    with pytest.raises(ValueError, match=r"sample_weight of shape \(3,\) does not broadcast"):
        metrics.SensitivityAtSpecificity(0.5).update_state(np.zeros((4, 2)), np.zeros((4, 2)), sample_weight=[1, 2, 3])
    with pytest.raises(ValueError, match=r"PearsonCorrelation: expected `axis` to be an integer or a tuple.*axis='x'"):
        metrics.PearsonCorrelation(axis="x")
    with pytest.raises(ValueError, match=r"ConcordanceCorrelation: expected `axis`.*axis=\(\)"):
        metrics.ConcordanceCorrelation(axis=())
    with pytest.raises(ValueError, match=r"pearson_correlation: expected `axis` in \[-2, 2\) for y_pred of rank 2"):
        metrics.PearsonCorrelation(axis=2).update_state(np.zeros((3, 2)), np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"concordance_correlation: `axis` repeats an axis"):
        metrics.concordance_correlation(np.zeros((3, 2)), np.ones((3, 2)), axis=(1, -1))
    with pytest.raises(ValueError, match=r"pearson_correlation: y_true and y_pred have incompatible shapes"):
        metrics.pearson_correlation(np.zeros((3, 2)), np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"expected a non-empty axis"):
        metrics.pearson_correlation(np.zeros((3, 0)), np.ones((3, 0)))
    with pytest.raises(ValueError, match=r"expected arrays of rank >= 1"):
        metrics.pearson_correlation(1.0, 2.0)
    with pytest.raises(TypeError, match=r"concordance_correlation: expected y_true to be a real numeric array"):
        metrics.concordance_correlation([["a"]], [[1.0]])
