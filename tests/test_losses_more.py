"""Dice, Tversky, CategoricalGeneralizedCrossEntropy and Circle: float64 references, Keras 3
agreement, finite-difference gradients, training, configs, save/load and bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

import pynncore
from pynncore import layers, losses
from _gradcheck import assert_grad_close, numeric_grad
from _keras_train import train_side_by_side

EPS = 1e-7


# float64 references ---------------------------------------------------------------------------


def ref_tversky_values(t, p, alpha, beta, axis):
    tp = np.sum(t * p, axis=axis)
    fp = np.sum(t * (1.0 - p), axis=axis)
    fn = np.sum((1.0 - t) * p, axis=axis)
    return 1.0 - tp / (tp + alpha * fp + beta * fn + EPS)


def ref_dice_values(t, p, axis):
    return 1.0 - 2.0 * np.sum(t * p, axis=axis) / (np.sum(t, axis=axis) + np.sum(p, axis=axis) + EPS)


def ref_cgce_values(labels, p, q):
    true_p = p[np.arange(labels.size), labels]
    return (1.0 - true_p ** q) / q


def ref_circle_values(labels, e, gamma, margin, remove_diagonal):
    n = labels.size
    out = np.zeros(n)
    for i in range(n):
        pos, neg = [], []
        for j in range(n):
            d = max(1.0 - float(e[i] @ e[j]), 0.0)
            if labels[i] == labels[j] and not (remove_diagonal and i == j):
                pos.append(-gamma * max(margin + d, 0.0) * (margin - d))
            elif labels[i] != labels[j]:
                neg.append(gamma * max(1.0 + margin - d, 0.0) * (1.0 - margin - d))
        if pos and neg:
            z = np.logaddexp.reduce(pos) + np.logaddexp.reduce(neg)
            out[i] = np.logaddexp(0.0, z)
    return out


def reduce_ref(values, weight, reduction, masked=False):
    """Keras's reduction of per-sample values ``(N,)`` (a scalar value is weighted per sample)."""
    values = np.asarray(values, dtype=np.float64)
    count = np.count_nonzero(values > 0) if masked else None  # Circle: samples with a loss above 0
    if weight is not None:
        values = values * weight
    if reduction == "none":
        return values
    if reduction == "sum":
        return values.sum()
    return values.sum() / (count if masked else values.size)


def _keras():
    pytest.importorskip("torch")
    return pytest.importorskip("keras")


def _unit_rows(rng, n, d):
    e = rng.standard_normal((n, d))
    return e / np.linalg.norm(e, axis=1, keepdims=True)


# cases: (loss, reference value function of (y_true, y_pred), data maker) -------------------------


def _binary(rng, shape):
    return (rng.random(shape) > 0.5).astype(np.float64), rng.uniform(0.05, 0.95, shape)


def _labels_and_probs(rng, n, c):
    p = rng.uniform(0.05, 1.0, (n, c))
    return rng.integers(0, c, n), p / p.sum(axis=1, keepdims=True)


CASES = [
    ("dice", lambda: losses.Dice(), lambda t, p: ref_dice_values(t, p, None),
     lambda rng: _binary(rng, (5, 4))),
    ("dice_axis", lambda: losses.Dice(axis=(1, 2)), lambda t, p: ref_dice_values(t, p, (1, 2)),
     lambda rng: _binary(rng, (4, 3, 5))),
    ("tversky", lambda: losses.Tversky(alpha=0.3, beta=0.7), lambda t, p: ref_tversky_values(t, p, 0.3, 0.7, None),
     lambda rng: _binary(rng, (6, 3))),
    ("tversky_axis", lambda: losses.Tversky(alpha=0.8, beta=0.1, axis=-1),
     lambda t, p: ref_tversky_values(t, p, 0.8, 0.1, -1), lambda rng: _binary(rng, (7, 5))),
    ("cgce", lambda: losses.CategoricalGeneralizedCrossEntropy(q=0.3), lambda t, p: ref_cgce_values(t, p, 0.3),
     lambda rng: _labels_and_probs(rng, 7, 4)),
    ("circle", lambda: losses.Circle(gamma=3.0, margin=0.25),
     lambda t, p: ref_circle_values(t, p, 3.0, 0.25, True),
     lambda rng: (rng.integers(0, 3, 9), _unit_rows(rng, 9, 4))),
    ("circle_diag", lambda: losses.Circle(gamma=2.0, margin=0.4, remove_diagonal=False),
     lambda t, p: ref_circle_values(t, p, 2.0, 0.4, False),
     lambda rng: (rng.integers(0, 2, 6), _unit_rows(rng, 6, 3))),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_values_match_the_reference(case, reduction, rng):
    _, make, ref, data = case
    t, p = data(rng)
    loss = make()
    loss.reduction = reduction
    w = rng.uniform(0.2, 2.0, p.shape[0])
    masked = isinstance(loss, losses.Circle)
    for weight in (None, w):
        got = loss(t, p.astype(np.float32), sample_weight=weight)
        want = reduce_ref(ref(t, p.astype(np.float32).astype(np.float64)), weight, reduction, masked)
        np.testing.assert_allclose(np.asarray(got, dtype=np.float64), want, rtol=2e-6, atol=1e-7)
        if reduction == "none":
            assert np.asarray(got).dtype == np.float32


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradient_matches_finite_differences(case, reduction, rng):
    _, make, ref, data = case
    t, p = data(rng)
    p = p.astype(np.float32).astype(np.float64)
    loss = make()
    loss.reduction = reduction
    w = rng.uniform(0.2, 2.0, p.shape[0])
    masked = isinstance(loss, losses.Circle)
    for weight in (None, w):
        value, grad = loss.value_and_grad(t, p.astype(np.float32), sample_weight=weight)
        assert grad.shape == p.shape and grad.dtype == np.float32
        want = numeric_grad(lambda x: float(reduce_ref(ref(t, x), weight, reduction, masked)), p)
        assert value == pytest.approx(float(reduce_ref(ref(t, p), weight, reduction, masked)), rel=1e-6, abs=1e-7)
        assert_grad_close(grad, want, what=f"{case[0]} {reduction}")


def test_mean_reduction_is_the_weighted_mean(rng):
    t, p = _binary(rng, (5, 3))
    w = rng.uniform(0.5, 1.5, 5)
    per = ref_dice_values(t, p, -1)
    loss = losses.Dice(axis=-1, reduction="mean")
    assert loss(t, p, sample_weight=w) == pytest.approx(float(np.sum(per * w) / w.sum()), rel=1e-6)
    _, grad = loss.value_and_grad(t, p, sample_weight=w)
    want = numeric_grad(lambda x: float(np.sum(ref_dice_values(t, x, -1) * w) / w.sum()), p.astype(np.float32))
    assert_grad_close(grad, want)


def test_circle_samples_without_pairs_have_no_loss_and_no_gradient():
    e = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], np.float32)
    loss = losses.Circle(gamma=4.0)
    per = losses.Circle(gamma=4.0, reduction="none")([0, 0, 1], e)
    assert per[2] == 0.0 and per[0] > 0 and per[1] > 0
    value, grad = loss.value_and_grad([0, 0, 1], e)
    assert value == pytest.approx(float(per[:2].mean()), rel=1e-6)
    # every label different: no positives, a loss of 0 everywhere
    value, grad = loss.value_and_grad([0, 1, 2], e)
    assert value == 0.0 and not grad.any()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_empty_batch_is_finite(case, rng):
    _, make, _, data = case
    t, p = data(rng)
    loss = make()
    value, grad = loss.value_and_grad(t[:0], p[:0].astype(np.float32))
    assert grad.shape == (0,) + p.shape[1:] and np.isfinite(value)
    whole_batch = isinstance(loss, (losses.Dice, losses.Tversky)) and loss.axis is None
    assert value == (1.0 if whole_batch else 0.0)  # 1 - 0 / epsilon for one value over no elements
    assert not grad.any()


def test_cgce_accepts_labels_of_shape_n_1_and_gradient_only_reaches_the_true_class(rng):
    labels, p = _labels_and_probs(rng, 5, 3)
    loss = losses.CategoricalGeneralizedCrossEntropy()
    assert loss(labels[:, None], p) == pytest.approx(loss(labels, p), rel=1e-7)
    _, grad = loss.value_and_grad(labels.astype(np.float64), p)
    mask = np.zeros_like(p, dtype=bool)
    mask[np.arange(5), labels] = True
    assert np.all(grad[~mask] == 0) and np.all(grad[mask] < 0)


# Keras ---------------------------------------------------------------------------------------

KERAS_CASES = [
    (losses.Dice, {}, "binary", (6, 4)),
    (losses.Dice, {"axis": (1, 2)}, "binary", (4, 3, 5)),
    (losses.Tversky, {"alpha": 0.2, "beta": 0.9}, "binary", (6, 4)),
    (losses.Tversky, {"axis": [1]}, "binary", (5, 7)),
    (losses.CategoricalGeneralizedCrossEntropy, {"q": 0.7}, "sparse", (8, 5)),
    (losses.Circle, {}, "embed", (10, 6)),
    (losses.Circle, {"gamma": 5.0, "margin": 0.1, "remove_diagonal": False}, "embed", (10, 6)),
]


def _keras_data(rng, kind, shape):
    if kind == "binary":
        t, p = _binary(rng, shape)
        return t.astype(np.float32), p.astype(np.float32)
    if kind == "sparse":
        t, p = _labels_and_probs(rng, *shape)
        return t, p.astype(np.float32)
    return rng.integers(0, 3, shape[0]), _unit_rows(rng, *shape).astype(np.float32)


@pytest.mark.parametrize("cls, config, kind, shape", KERAS_CASES,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(KERAS_CASES)])
def test_values_agree_with_keras(cls, config, kind, shape, rng):
    keras = _keras()
    for reduction in ("sum_over_batch_size", "sum", None):
        ours = cls(**config, reduction=reduction or "none")
        theirs = getattr(keras.losses, cls.__name__)(**config, reduction=reduction)
        for _ in range(3):
            t, p = _keras_data(rng, kind, shape)
            w = rng.uniform(0.1, 2.0, shape[0]).astype(np.float32)
            for weight in (None, w):
                want = np.asarray(theirs(t, p, sample_weight=weight), dtype=np.float64)
                got = np.asarray(ours(t, p, sample_weight=weight), dtype=np.float64)
                np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
@pytest.mark.parametrize("cls, config, kind, shape", KERAS_CASES[::2] + KERAS_CASES[5:6],
                         ids=lambda v: getattr(v, "__name__", None))
def test_trains_like_keras(cls, config, kind, shape, rng):
    keras = _keras()
    n, c = shape
    t, _ = _keras_data(rng, kind, shape)
    x = rng.standard_normal((n, 3)).astype(np.float32)
    act = {"binary": "sigmoid", "sparse": "softmax", "embed": None}[kind]

    def build(lib):
        out = [lib.layers.Dense(c, activation=act)]
        if kind == "embed":
            out.append(lib.layers.UnitNormalization())
        return lib.Sequential([lib.Input((3,)), *out])

    km, pm = build(keras), build(pynncore)
    pm.set_weights([np.asarray(v) for v in km.get_weights()])
    km.compile(optimizer=keras.optimizers.SGD(0.1), loss=getattr(keras.losses, cls.__name__)(**config))
    pm.compile(optimizer=pynncore.optimizers.SGD(0.1), loss=cls(**config))
    train_side_by_side(km, pm, x, t, steps=3)


# fit, configs, save/load -------------------------------------------------------------------


@pytest.mark.parametrize("loss", [losses.Dice(), losses.Tversky(alpha=0.7, beta=0.3, axis=-1),
                                  losses.CategoricalGeneralizedCrossEntropy(q=0.4), losses.Circle(gamma=8.0)],
                         ids=lambda v: type(v).__name__)
def test_fit_lowers_the_loss(loss, rng):
    n = 48
    x = rng.standard_normal((n, 5)).astype(np.float32)
    cls = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0)
    if isinstance(loss, (losses.Dice, losses.Tversky)):
        y, head = np.eye(3, dtype=np.float32)[cls], [layers.Dense(3, activation="sigmoid")]
    elif isinstance(loss, losses.Circle):
        y, head = cls, [layers.Dense(4), layers.UnitNormalization()]
    else:
        y, head = cls, [layers.Dense(3, activation="softmax")]
    model = pynncore.Sequential([pynncore.Input((5,)), layers.Dense(8, activation="tanh"), *head])
    model.compile(optimizer=pynncore.optimizers.Adam(0.02), loss=loss)
    history = model.fit(x, y, epochs=15, batch_size=16, verbose=0, shuffle=False)
    values = history.history["loss"]
    assert np.all(np.isfinite(values)) and values[-1] < 0.8 * values[0]


def test_aliases_configs_and_save_load(tmp_path, rng):
    for name, cls in (("dice", losses.Dice), ("tversky", losses.Tversky), ("circle", losses.Circle),
                      ("categorical_generalized_cross_entropy", losses.CategoricalGeneralizedCrossEntropy)):
        assert type(losses.get(name)) is cls and losses.get(name).name == name
        assert type(losses.get(cls.__name__)) is cls and cls.__name__ in losses.__all__
        assert getattr(pynncore.losses, cls.__name__) is cls
    configured = [
        losses.Dice(axis=(1, 2), reduction="sum", name="d"),
        losses.Tversky(alpha=0.1, beta=0.9, axis=-1, reduction="none"),
        losses.CategoricalGeneralizedCrossEntropy(q=0.25, reduction="mean"),
        losses.Circle(gamma=10, margin=0.2, remove_diagonal=False, name="c"),
    ]
    for loss in configured:
        config = loss.get_config()
        again = losses.get({"class_name": type(loss).__name__, "config": config})
        assert type(again) is type(loss) and again.get_config() == config
    assert configured[0].get_config() == {"name": "d", "reduction": "sum", "axis": [1, 2]}
    assert configured[3].get_config() == {"name": "c", "reduction": "sum_over_batch_size", "gamma": 10.0,
                                          "margin": 0.2, "remove_diagonal": False}
    assert losses.Dice().get_config() == {"name": "dice", "reduction": "sum_over_batch_size", "axis": None}
    for loss, y, head in (
        (losses.Tversky(alpha=0.6, beta=0.4, axis=-1), np.eye(3, dtype=np.float32)[rng.integers(0, 3, 8)],
         layers.Dense(3, activation="sigmoid")),
        (losses.Circle(gamma=16.0, margin=0.3), rng.integers(0, 2, 8), layers.Dense(3)),
        (losses.CategoricalGeneralizedCrossEntropy(q=0.6), rng.integers(0, 3, 8),
         layers.Dense(3, activation="softmax")),
    ):
        m = pynncore.Sequential([pynncore.Input((3,)), head])
        m.compile(optimizer="sgd", loss=loss)
        x = rng.standard_normal((8, 3)).astype(np.float32)
        m.fit(x, y, verbose=0)
        path = str(tmp_path / f"{type(loss).__name__}.safetensors")
        m.save(path)
        loaded = pynncore.load_model(path)
        assert type(loaded.loss) is type(loss) and loaded.loss.get_config() == loss.get_config()
        assert loaded.evaluate(x, y, verbose=0) == pytest.approx(m.evaluate(x, y, verbose=0), rel=1e-6)


def test_config_keys_and_defaults_match_keras():
    keras = _keras()
    for cls in (losses.Dice, losses.Tversky, losses.CategoricalGeneralizedCrossEntropy, losses.Circle):
        theirs = getattr(keras.losses, cls.__name__)().get_config()
        ours = cls().get_config()
        assert set(theirs) == set(ours)
        assert {k: v for k, v in theirs.items() if k != "name"} == {k: v for k, v in ours.items() if k != "name"}


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match=r"Dice: expected `axis` to be None, an integer or a tuple.*axis='1'"):
        losses.Dice(axis="1")
    with pytest.raises(ValueError, match=r"Tversky: expected `axis`.*axis=\(\)"):
        losses.Tversky(axis=())
    with pytest.raises(ValueError, match=r"expected `axis` entries in \[-2, 2\) for y_pred of rank 2.*axis=\(2,\)"):
        losses.Dice(axis=2)([[1.0]], [[0.5]])
    with pytest.raises(ValueError, match=r"repeats an axis"):
        losses.Dice(axis=(1, -1))([[1.0]], [[0.5]])
    with pytest.raises(ValueError, match=r"Tversky: expected `alpha` to be a finite number. Received: alpha=nan"):
        losses.Tversky(alpha=float("nan"))
    with pytest.raises(ValueError, match=r"Tversky: expected `beta`.*beta='x'"):
        losses.Tversky(beta="x")
    with pytest.raises(ValueError, match=r"dice: y_true and y_pred must have the same shape.*\(2, 3\).*\(2, 2\)"):
        losses.Dice()(np.zeros((2, 3)), np.zeros((2, 2)))
    with pytest.raises(TypeError, match=r"dice: y_pred must be real numbers"):
        losses.Dice()([[1.0]], [["a"]])
    with pytest.raises(ValueError, match=r"dice: sample_weight must have one value per sample \(2\)"):
        losses.Dice()(np.zeros((2, 3)), np.zeros((2, 3)), sample_weight=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"per-sample weights need values that keep the batch axis"):
        losses.Dice(axis=0)(np.zeros((2, 3)), np.zeros((2, 3)), sample_weight=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"expected `q` to be a number in the interval \(0, 1\). Received: q=1"):
        losses.CategoricalGeneralizedCrossEntropy(q=1)
    with pytest.raises(ValueError, match=r"q=True"):
        losses.CategoricalGeneralizedCrossEntropy(q=True)
    cgce = losses.CategoricalGeneralizedCrossEntropy()
    with pytest.raises(ValueError, match=r"expected labels in \[0, 2\). Received labels in \[0, 2\]"):
        cgce([0, 2], [[0.5, 0.5], [0.5, 0.5]])
    with pytest.raises(ValueError, match=r"expected integer labels of shape \(2,\) or \(2, 1\).*\(2, 2\)"):
        cgce([[0, 1], [1, 0]], [[0.5, 0.5], [0.5, 0.5]])
    with pytest.raises(ValueError, match=r"whole-number labels"):
        cgce([0.5, 1], [[0.5, 0.5], [0.5, 0.5]])
    with pytest.raises(ValueError, match=r"expected y_pred of shape \(N, C\)"):
        cgce([0], np.full((1, 2, 2), 0.5))
    with pytest.raises(ValueError, match=r"Circle: expected `gamma` to be a finite number. Received: gamma=inf"):
        losses.Circle(gamma=float("inf"))
    with pytest.raises(ValueError, match=r"Circle: expected `margin`.*margin=None"):
        losses.Circle(margin=None)
    with pytest.raises(ValueError, match=r"expected `remove_diagonal` to be a bool. Received: remove_diagonal=1"):
        losses.Circle(remove_diagonal=1)
    with pytest.raises(ValueError, match=r"circle: expected embeddings y_pred of shape \(N, D\)"):
        losses.Circle()([0, 1], [0.5, 0.5])
    with pytest.raises(ValueError, match=r"circle: expected integer labels of shape \(2,\)"):
        losses.Circle()([0, 1, 1], np.eye(2))
    with pytest.raises(ValueError, match=r"reduction must be one of"):
        losses.Circle(reduction="avg")
    with pytest.raises(ValueError, match=r"reduction='none' has no scalar gradient"):
        losses.Dice(reduction="none").value_and_grad([[1.0]], [[0.5]])


def test_functions_agree_with_keras(rng):
    keras = _keras()
    t, p = _binary(rng, (4, 3, 5))
    t, p = t.astype(np.float32), p.astype(np.float32)
    for axis in (None, (1, 2), -1):
        np.testing.assert_allclose(losses.dice(t, p, axis=axis), np.asarray(keras.losses.dice(t, p, axis=axis)),
                                   rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(losses.tversky(t, p, 0.2, 0.6, axis=axis),
                                   np.asarray(keras.losses.tversky(t, p, 0.2, 0.6, axis=axis)), rtol=1e-5, atol=1e-6)
    assert np.shape(losses.dice(t, p)) == ()
    np.testing.assert_allclose(losses.dice(t, p, axis=(1, 2)), ref_dice_values(t, p, (1, 2)), rtol=1e-6)
    labels, probs = _labels_and_probs(rng, 6, 4)
    probs = probs.astype(np.float32)
    np.testing.assert_allclose(losses.categorical_generalized_cross_entropy(labels, probs, 0.4),
                               np.asarray(keras.losses.categorical_generalized_cross_entropy(
                                   labels, keras.ops.convert_to_tensor(probs), 0.4)),
                               rtol=1e-5)
    y, e = rng.integers(0, 3, 8), _unit_rows(rng, 8, 4).astype(np.float32)
    ref_y, ref_e = rng.integers(0, 3, 5), _unit_rows(rng, 5, 4).astype(np.float32)
    for kwargs in ({}, {"ref_labels": ref_y, "ref_embeddings": ref_e}, {"ref_embeddings": e[::-1].copy()},
                   {"ref_labels": y[::-1].copy(), "remove_diagonal": False, "gamma": 4.0, "margin": 0.2}):
        np.testing.assert_allclose(losses.circle(y, e, **kwargs), np.asarray(keras.losses.circle(y, e, **kwargs)),
                                   rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(losses.circle(y, e, gamma=3.0), ref_circle_values(y, e, 3.0, 0.4, True), rtol=1e-5)
    for name in ("dice", "tversky", "categorical_generalized_cross_entropy", "circle"):
        assert name in losses.__all__
    with pytest.raises(ValueError, match=r"circle: expected ref_embeddings of shape \(M, 4\). Received: shape=\(5, 3\)"):
        losses.circle(y, e, ref_labels=ref_y, ref_embeddings=ref_e[:, :3])
    with pytest.raises(ValueError, match=r"circle: expected one reference label per reference embedding \(5\)"):
        losses.circle(y, e, ref_embeddings=ref_e)
    with pytest.raises(ValueError, match=r"circle: expected integer labels of shape \(5,\)"):
        losses.circle(y, e, ref_labels=ref_y[:4], ref_embeddings=ref_e)
