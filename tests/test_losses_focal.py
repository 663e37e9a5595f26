"""BinaryFocalCrossentropy and CategoricalFocalCrossentropy: float64 references, gradients
against finite differences, saturated inputs, Keras 3 agreement (values and training steps),
configs, aliases and errors."""

from __future__ import annotations

import os

import numpy as np
import pytest
from _gradcheck import assert_grad_close, numeric_grad

import pynncore
from pynncore import layers, losses

EPS = 1e-7
HIGH = float(np.float32(1 - 1e-7))  # Keras clips float32 tensors, so 1 - 1e-7 rounds to float32

BINARY_CONFIGS = [
    {},
    {"gamma": 0.0},
    {"gamma": 1.5, "apply_class_balancing": True, "alpha": 0.3},
    {"gamma": 3.0, "label_smoothing": 0.2},
    {"from_logits": True},
    {"from_logits": True, "gamma": 0.5, "apply_class_balancing": True, "alpha": 0.7, "label_smoothing": 0.1},
]
CATEGORICAL_CONFIGS = [
    {},
    {"gamma": 0.0, "alpha": 1.0},
    {"gamma": 1.5, "alpha": [0.1, 0.2, 0.3, 0.4, 0.5]},
    {"gamma": 3.0, "label_smoothing": 0.2},
    {"from_logits": True},
    {"from_logits": True, "gamma": 0.5, "alpha": [1.0, 0.5, 2.0, 0.25, 1.5], "label_smoothing": 0.1},
]


def ref_binary(y, p, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0):
    """Per-sample binary focal cross-entropy in float64 (moderate logits only)."""
    y = np.asarray(y, np.float64)
    p = np.asarray(p, np.float64)
    t = y * (1 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        p = 1.0 / (1.0 + np.exp(-p))
    c = np.minimum(np.maximum(p, EPS), HIGH)
    bce = -(t * np.log(c) + (1 - t) * np.log(1 - c))
    p_t = t * p + (1 - t) * (1 - p)
    out = (1 - p_t) ** gamma * bce
    if apply_class_balancing:
        out = out * (t * alpha + (1 - t) * (1 - alpha))
    return out.mean(axis=-1)


def ref_categorical(y, p, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0):
    """Per-sample categorical focal cross-entropy in float64."""
    y = np.asarray(y, np.float64)
    p = np.asarray(p, np.float64)
    c = y.shape[-1]
    t = y * (1 - label_smoothing) + label_smoothing / c
    if from_logits:
        e = np.exp(p - p.max(axis=-1, keepdims=True))
        p = e / e.sum(axis=-1, keepdims=True)
    o = np.minimum(np.maximum(p / p.sum(axis=-1, keepdims=True), EPS), HIGH)
    return np.sum(np.asarray(alpha, np.float64) * (1 - o) ** gamma * -t * np.log(o), axis=-1)


def _binary_data(rng, config, shape=(7, 5)):
    y = rng.integers(0, 2, shape).astype(np.float32)
    if config.get("from_logits"):
        return y, (rng.standard_normal(shape) * 2).astype(np.float32)
    return y, (rng.random(shape) * 0.9 + 0.05).astype(np.float32)


def _categorical_data(rng, config, shape=(7, 5)):
    y = np.eye(shape[1], dtype=np.float32)[rng.integers(0, shape[1], shape[0])]
    if config.get("from_logits"):
        return y, (rng.standard_normal(shape) * 2).astype(np.float32)
    p = rng.random(shape) + 0.05
    return y, (p / p.sum(axis=1, keepdims=True) * rng.uniform(0.8, 1.2, (shape[0], 1))).astype(np.float32)


CASES = [(losses.BinaryFocalCrossentropy, ref_binary, _binary_data, c) for c in BINARY_CONFIGS] + [
    (losses.CategoricalFocalCrossentropy, ref_categorical, _categorical_data, c) for c in CATEGORICAL_CONFIGS
]
IDS = [f"{cls.__name__}-{i}" for i, (cls, _, _, _) in enumerate(CASES)]


@pytest.mark.parametrize("cls, ref, data, config", CASES, ids=IDS)
def test_values_and_gradient_match_the_reference(cls, ref, data, config, rng):
    y, p = data(rng, config)
    w = rng.random(7).astype(np.float32)
    per = cls(reduction="none", **config)(y, p)
    np.testing.assert_allclose(per, ref(y, p, **config), rtol=1e-6, atol=1e-7)
    for reduction in ("sum_over_batch_size", "sum", "mean"):
        loss = cls(reduction=reduction, **config)
        value, grad = loss.value_and_grad(y, p, sample_weight=w)
        denom = {"sum_over_batch_size": 7.0, "sum": 1.0, "mean": float(w.astype(np.float64).sum())}[reduction]

        def f(pp, denom=denom):
            return float(np.sum(w * ref(y, pp, **config)) / denom)

        assert value == pytest.approx(f(p.astype(np.float64)), rel=1e-6, abs=1e-7)
        assert loss(y, p, sample_weight=w) == pytest.approx(value, rel=1e-12)
        assert grad.shape == p.shape and grad.dtype == np.float32
        assert_grad_close(grad, numeric_grad(f, p.astype(np.float64)), what=f"{cls.__name__} {config} {reduction}")


@pytest.mark.parametrize("cls, ref, data, config", CASES, ids=IDS)
def test_odd_shapes_and_rank(cls, ref, data, config, rng):
    for shape in ((1, 3), (3, 1) if cls is losses.BinaryFocalCrossentropy else (3, 2), (17, 7)):
        y, p = data(rng, config, shape)
        np.testing.assert_allclose(cls(reduction="none", **{k: v for k, v in config.items() if k != "alpha"})(y, p),
                                   ref(y, p, **{k: v for k, v in config.items() if k != "alpha"}), rtol=1e-6,
                                   atol=1e-7)
    if cls is losses.BinaryFocalCrossentropy:
        y, p = data(rng, config, (4, 3, 2))  # rank 3: one value per (sample, step)
        per = losses.binary_focal_crossentropy(y, p, **config)
        assert per.shape == (4, 3)
        np.testing.assert_allclose(per, ref(y, p, **config), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(cls(reduction="none", **config)(y, p), per.reshape(-1), rtol=1e-7)
        value, grad = cls(**config).value_and_grad(y, p)
        assert grad.shape == (4, 3, 2)
        assert_grad_close(grad, numeric_grad(lambda pp: float(ref(y, pp, **config).mean()), p.astype(np.float64)))


@pytest.mark.parametrize("from_logits", [False, True])
def test_saturated_inputs_are_finite(from_logits):
    big = 1e30 if from_logits else 1.0
    low = -1e30 if from_logits else 0.0
    y = np.array([[1, 0, 1, 0], [0, 1, 1, 0]], np.float32)
    p = np.array([[big, low, low, big], [low, big, big, low]], np.float32)
    for cls, config in ((losses.BinaryFocalCrossentropy, {"apply_class_balancing": True}),
                        (losses.BinaryFocalCrossentropy, {"gamma": 0.5, "label_smoothing": 0.1}),
                        (losses.BinaryFocalCrossentropy, {"gamma": 0.0}),
                        (losses.CategoricalFocalCrossentropy, {}),
                        (losses.CategoricalFocalCrossentropy, {"gamma": 0.5, "label_smoothing": 0.1}),
                        (losses.CategoricalFocalCrossentropy, {"gamma": 0.0})):
        yy = y if cls is losses.BinaryFocalCrossentropy else np.array([[1, 0, 0, 0], [0, 0, 1, 0]], np.float32)
        value, grad = cls(from_logits=from_logits, **config).value_and_grad(yy, p)
        assert np.isfinite(value) and np.all(np.isfinite(grad)), (cls.__name__, config)
        assert np.isfinite(cls(from_logits=from_logits, reduction="none", **config)(yy, p)).all()
    # fully wrong confident predictions cost -log(clip), fully right ones almost nothing
    wrong = losses.BinaryFocalCrossentropy(gamma=0.0, from_logits=from_logits, reduction="none")([[1.0]], [[low]])
    assert wrong[0] == pytest.approx(-np.log(EPS), rel=1e-6)
    right = losses.BinaryFocalCrossentropy(from_logits=from_logits, reduction="none")([[1.0]], [[big]])
    assert 0.0 <= right[0] < 1e-12
    # a row of zero probabilities (NaN in Keras) stays finite
    value, grad = losses.CategoricalFocalCrossentropy().value_and_grad([[0, 1, 0]], [[0.0, 0.0, 0.0]])
    assert np.isfinite(value) and np.all(grad == 0)


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
@pytest.mark.parametrize("cls, ref, data, config", CASES, ids=IDS)
def test_values_agree_with_keras(cls, ref, data, config, rng):
    keras = _keras()
    y, p = data(rng, config)
    kfn = getattr(keras.losses, "binary_focal_crossentropy" if cls is losses.BinaryFocalCrossentropy
                  else "categorical_focal_crossentropy")
    ours_fn = getattr(losses, kfn.__name__)
    np.testing.assert_allclose(ours_fn(y, p, **config), np.asarray(kfn(y, p, **config)), rtol=2e-5, atol=1e-6)
    w = rng.random(7).astype(np.float32)
    for reduction in ("sum_over_batch_size", "sum", "none"):
        ours = cls(reduction=reduction, **config)
        theirs = getattr(keras.losses, cls.__name__)(reduction=reduction, **config)
        np.testing.assert_allclose(ours(y, p, sample_weight=w), np.asarray(theirs(y, p, sample_weight=w)),
                                   rtol=2e-5, atol=1e-6)
        assert ours.name == theirs.name


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_saturated_values_agree_with_keras():
    keras = _keras()
    y = np.array([[1, 0, 1, 0], [0, 1, 1, 0]], np.float32)
    yc = np.array([[1, 0, 0, 0], [0, 0, 1, 0]], np.float32)
    for big, low, logits in ((1.0, 0.0, False), (1e30, -1e30, True)):
        p = np.array([[big, low, low, big], [low, big, big, low]], np.float32)
        for name, yy in (("BinaryFocalCrossentropy", y), ("CategoricalFocalCrossentropy", yc)):
            ours = getattr(losses, name)(from_logits=logits, reduction="none")(yy, p)
            theirs = np.asarray(getattr(keras.losses, name)(from_logits=logits, reduction="none")(yy, p))
            np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-7)


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
@pytest.mark.parametrize("cls, ref, data, config", CASES, ids=IDS)
def test_trains_like_keras(cls, ref, data, config, rng):
    keras = _keras()
    y, _ = data(rng, config)
    x = rng.standard_normal((7, 4)).astype(np.float32)
    act = None if config.get("from_logits") else ("sigmoid" if cls is losses.BinaryFocalCrossentropy else "softmax")
    km = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, activation=act)])
    pm = pynncore.Sequential([pynncore.Input((4,)), layers.Dense(5, activation=act)])
    pm.set_weights([np.asarray(v) for v in km.get_weights()])
    km.compile(optimizer=keras.optimizers.SGD(0.5), loss=getattr(keras.losses, cls.__name__)(**config))
    pm.compile(optimizer=pynncore.optimizers.SGD(0.5), loss=cls(**config))
    w = rng.random(7).astype(np.float32)
    for _ in range(3):
        kl = km.train_on_batch(x, y, sample_weight=w)
        pl = pm.train_on_batch(x, y, sample_weight=w)
        assert pl == pytest.approx(float(kl), rel=1e-4, abs=1e-6)
    for a, b in zip(pm.get_weights(), km.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4, atol=1e-6)


def test_aliases_configs_and_save_load(tmp_path, rng):
    for name, cls in (("binary_focal_crossentropy", losses.BinaryFocalCrossentropy),
                      ("categorical_focal_crossentropy", losses.CategoricalFocalCrossentropy)):
        assert type(losses.get(name)) is cls and losses.get(name).name == name
        assert type(losses.get(cls.__name__)) is cls
        assert cls().name == name and cls().reduction == "sum_over_batch_size"
    configured = [
        losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.4, gamma=1.0, from_logits=True,
                                       label_smoothing=0.1, reduction="sum", name="bfc"),
        losses.CategoricalFocalCrossentropy(alpha=[0.5, 1.0], gamma=0.0, label_smoothing=0.3, reduction="none"),
        losses.CategoricalFocalCrossentropy(alpha=0.75, from_logits=True),
    ]
    for loss in configured:
        config = loss.get_config()
        again = losses.get({"class_name": type(loss).__name__, "config": config})
        assert type(again) is type(loss) and again.get_config() == config
        assert all(getattr(again, k) == v for k, v in config.items())
    assert configured[0].get_config() == {
        "name": "bfc", "reduction": "sum", "apply_class_balancing": True, "alpha": 0.4, "gamma": 1.0,
        "from_logits": True, "label_smoothing": 0.1, "axis": -1}
    m = pynncore.Sequential([pynncore.Input((3,)), layers.Dense(4, activation="softmax")])
    m.compile(optimizer="sgd", loss=losses.CategoricalFocalCrossentropy(alpha=[0.1, 0.2, 0.3, 0.4], gamma=1.0))
    y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 8)]
    m.fit(rng.standard_normal((8, 3)).astype(np.float32), y, verbose=0)
    path = str(tmp_path / "m.safetensors")
    m.save(path)
    loaded = pynncore.load_model(path)
    assert isinstance(loaded.loss, losses.CategoricalFocalCrossentropy)
    assert loaded.loss.get_config() == m.loss.get_config()


def test_bad_arguments_raise_clear_errors():
    B, C = losses.BinaryFocalCrossentropy, losses.CategoricalFocalCrossentropy
    with pytest.raises(ValueError, match=r"BinaryFocalCrossentropy: expected `alpha`.*\[0.0, 1.0\].*alpha=1.5"):
        B(alpha=1.5)
    with pytest.raises(ValueError, match=r"expected `gamma` to be a number >= 0.*gamma=-1"):
        B(gamma=-1)
    with pytest.raises(ValueError, match=r"expected `gamma`.*gamma=nan"):
        C(gamma=float("nan"))
    with pytest.raises(ValueError, match=r"expected `gamma`.*gamma='2'"):
        C(gamma="2")
    with pytest.raises(ValueError, match=r"expected `label_smoothing`.*label_smoothing=1.5"):
        C(label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"only axis=-1 is supported. Received: axis=1"):
        B(axis=1)
    with pytest.raises(ValueError, match=r"only axis=-1"):
        C(axis=0)
    with pytest.raises(TypeError, match=r"expected `from_logits` to be a bool. Received: from_logits='yes'"):
        C(from_logits="yes")
    with pytest.raises(TypeError, match=r"expected `apply_class_balancing` to be a bool"):
        B(apply_class_balancing=1)
    with pytest.raises(ValueError, match=r"CategoricalFocalCrossentropy: expected `alpha` to be a number >= 0"):
        C(alpha=[0.5, -1.0])
    with pytest.raises(ValueError, match=r"expected `alpha` to be a number or a non-empty list"):
        C(alpha=[])
    with pytest.raises(ValueError, match=r"expected `alpha`.*alpha=True"):
        C(alpha=True)
    with pytest.raises(ValueError, match=r"reduction must be one of"):
        B(reduction="avg")
    with pytest.raises(ValueError, match=r"expected one alpha per class \(3\). Received: 2 values"):
        C(alpha=[0.5, 0.5])([[0, 1, 0]], [[0.2, 0.5, 0.3]])
    with pytest.raises(ValueError, match=r"same shape.*y_true.shape=\(2, 2\), y_pred.shape=\(2, 3\)"):
        B()(np.zeros((2, 2)), np.full((2, 3), 0.5))
    with pytest.raises(TypeError, match=r"y_pred must be real numbers"):
        C()([[0, 1]], [["a", "b"]])
    with pytest.raises(ValueError, match=r"sample_weight must have one value per sample \(2\)"):
        B()(np.zeros((2, 2)), np.full((2, 2), 0.5), sample_weight=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"reduction='none' has no scalar gradient"):
        B(reduction="none").value_and_grad([[1.0]], [[0.5]])
    with pytest.raises(ValueError, match=r"Unknown loss 'focal'.*binary_focal_crossentropy"):
        losses.get("focal")
