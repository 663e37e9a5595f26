"""Regularizers: penalty values, gradients by finite differences, configs and aliases."""

from __future__ import annotations

import numpy as np
import pytest

from pynncore import regularizers
from pynncore.regularizers import L1, L1L2, L2, OrthogonalRegularizer


def numeric_gradient(fn, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    x = x.astype(np.float64)
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[idx] += eps
        minus[idx] -= eps
        grad[idx] = (fn(plus) - fn(minus)) / (2 * eps)
    return grad


def test_values_against_numpy(rng):
    x = rng.normal(size=(7, 5)).astype(np.float32)
    x64 = x.astype(np.float64)
    assert L1(0.3)(x) == pytest.approx(0.3 * np.abs(x64).sum(), rel=1e-12)
    assert L2(0.2)(x) == pytest.approx(0.2 * np.square(x64).sum(), rel=1e-12)
    assert L1L2(0.3, 0.2)(x) == pytest.approx(0.3 * np.abs(x64).sum() + 0.2 * np.square(x64).sum(), rel=1e-12)
    assert isinstance(L2()(x), float)


def test_keras_defaults():
    assert L1().l1 == 0.01
    assert L2().l2 == 0.01
    assert L1(None).l1 == 0.01
    assert (L1L2().l1, L1L2().l2) == (0.0, 0.0)
    assert L1L2()(np.ones(3)) == 0.0
    assert OrthogonalRegularizer().get_config() == {"factor": 0.01, "mode": "rows"}


@pytest.mark.parametrize(
    "reg",
    [L1(0.3), L2(0.2), L1L2(0.3, 0.2), OrthogonalRegularizer(0.7), OrthogonalRegularizer(0.7, mode="columns")],
    ids=repr,
)
@pytest.mark.parametrize("shape", [(6, 4), (3, 9)])
def test_gradient_matches_finite_differences(rng, reg, shape):
    x = rng.normal(size=shape)
    x[np.abs(x) < 1e-3] = 0.5  # keep away from the kink of |x|
    g = reg.gradient(x)
    assert g.dtype == np.float32 and g.shape == x.shape
    np.testing.assert_allclose(g, numeric_gradient(reg, x), rtol=1e-4, atol=1e-6)


def test_l1_gradient_is_sign():
    x = np.array([-2.0, 0.0, 3.0], np.float32)
    np.testing.assert_array_equal(L1(0.5).gradient(x), [-0.5, 0.0, 0.5])
    np.testing.assert_array_equal(L2(0.5).gradient(x), [-2.0, 0.0, 3.0])


def test_orthogonal_regularizer_values():
    reg = OrthogonalRegularizer(factor=2.0)
    assert reg(np.eye(3)) == 0.0
    # Rows (1, 0) and (1, 1)/sqrt(2): one pair, cosine 1/sqrt(2).
    assert reg([[1.0, 0.0], [3.0, 3.0]]) == pytest.approx(2.0 * 0.5 * 2 / np.sqrt(2) / 1.0)
    assert OrthogonalRegularizer(mode="columns")([[1.0, 0.0], [0.0, 5.0]]) == 0.0
    assert reg([[1.0, 2.0]]) == 0.0 and reg.gradient([[1.0, 2.0]]).tolist() == [[0.0, 0.0]]
    with pytest.raises(ValueError, match=r"2-D.*\(2, 2, 2\)"):
        reg(np.ones((2, 2, 2)))


@pytest.mark.parametrize("bad", [-0.1, float("inf"), float("nan"), "0.1", True])
def test_bad_factors_are_rejected(bad):
    with pytest.raises(ValueError, match="l2"):
        L2(bad)
    with pytest.raises(ValueError, match="factor"):
        OrthogonalRegularizer(bad)


def test_bad_mode_and_input():
    with pytest.raises(ValueError, match="mode.*'diag'"):
        OrthogonalRegularizer(mode="diag")
    with pytest.raises(TypeError, match="dtype"):
        L2()(np.array(["a"]))


@pytest.mark.parametrize("reg", [L1(0.2), L2(0.3), L1L2(0.1, 0.4), OrthogonalRegularizer(0.5, "columns")], ids=repr)
def test_config_round_trip(reg):
    config = reg.get_config()
    clone = type(reg).from_config(config)
    assert clone.get_config() == config
    again = regularizers.deserialize(regularizers.serialize(reg))
    assert type(again) is type(reg) and again.get_config() == config


@pytest.mark.parametrize(
    "name, cls, config",
    [
        ("l1", L1, {"l1": 0.01}),
        ("l2", L2, {"l2": 0.01}),
        ("l1_l2", L1L2, {"l1": 0.01, "l2": 0.01}),
        ("l1l2", L1L2, {"l1": 0.0, "l2": 0.0}),
        ("L2", L2, {"l2": 0.01}),
        ("orthogonal_regularizer", OrthogonalRegularizer, {"factor": 0.01, "mode": "rows"}),
    ],
)
def test_get_aliases(name, cls, config):
    reg = regularizers.get(name)
    assert type(reg) is cls and reg.get_config() == config


def test_get_other_identifiers():
    assert regularizers.get(None) is None
    reg = L2(0.5)
    assert regularizers.get(reg) is reg
    assert isinstance(regularizers.get(L1), L1)
    assert regularizers.get({"class_name": "L1L2", "config": {"l1": 0.5}}).l1 == 0.5
    with pytest.raises(ValueError, match=r"Unknown regularizer: 'l3'.*l1_l2"):
        regularizers.get("l3")
    with pytest.raises(ValueError, match="Could not interpret"):
        regularizers.get(0.5)
    with pytest.raises(ValueError, match="Unknown regularizer class"):
        regularizers.deserialize({"class_name": "Nope", "config": {}})


def test_matches_keras():
    keras = pytest.importorskip("keras")
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    assert L1L2(0.1, 0.2)(x) == pytest.approx(float(keras.regularizers.L1L2(0.1, 0.2)(x)), rel=1e-5)
    for mode in ("rows", "columns"):
        k = keras.regularizers.OrthogonalRegularizer(0.3, mode=mode)
        # Keras's numpy path loses axis=0 in its normalisation; give it a backend tensor.
        expected = float(k(keras.ops.convert_to_tensor(x)))
        assert OrthogonalRegularizer(0.3, mode)(x) == pytest.approx(expected, rel=1e-4)
