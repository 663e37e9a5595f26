"""Initializers: Keras fan rules, distribution statistics, seeds, configs and aliases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pynncore import initializers
from pynncore.initializers import (
    Constant,
    GlorotNormal,
    GlorotUniform,
    HeNormal,
    HeUniform,
    Identity,
    LecunNormal,
    LecunUniform,
    Ones,
    Orthogonal,
    RandomNormal,
    RandomUniform,
    TruncatedNormal,
    VarianceScaling,
    Zeros,
    compute_fans,
)
from pynncore.utils import set_random_seed

# Standard deviation of a unit normal truncated to [-2, 2].
TRUNC_STD = 0.8796256610342398

RANDOM_CLASSES = [
    RandomNormal,
    RandomUniform,
    TruncatedNormal,
    VarianceScaling,
    GlorotUniform,
    GlorotNormal,
    HeUniform,
    HeNormal,
    LecunUniform,
    LecunNormal,
    Orthogonal,
]


@pytest.mark.parametrize(
    "shape, fans",
    [
        ((), (1, 1)),
        ((7,), (7, 7)),
        ((64, 10), (64, 10)),  # Dense kernel (in, out)
        ((5, 8, 16), (40, 80)),  # Conv1D kernel (k, in, out)
        ((3, 3, 16, 32), (144, 288)),  # Conv2D kernel (kh, kw, in, out)
        ((2, 3, 4, 5, 6), (120, 144)),  # Conv3D kernel
    ],
)
def test_compute_fans_follows_keras_rules(shape, fans):
    assert compute_fans(shape) == fans


# (initializer, expected standard deviation as a function of (fan_in, fan_out), uniform?)
VS_CASES = [
    (GlorotUniform, lambda i, o: math.sqrt(2.0 / (i + o)), True),
    (GlorotNormal, lambda i, o: math.sqrt(2.0 / (i + o)), False),
    (HeUniform, lambda i, o: math.sqrt(2.0 / i), True),
    (HeNormal, lambda i, o: math.sqrt(2.0 / i), False),
    (LecunUniform, lambda i, o: math.sqrt(1.0 / i), True),
    (LecunNormal, lambda i, o: math.sqrt(1.0 / i), False),
]


@pytest.mark.parametrize("cls, std_fn, uniform", VS_CASES, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("shape", [(400, 300), (3, 3, 64, 48)], ids=["dense", "conv2d"])
def test_variance_scaling_presets_match_theory(cls, std_fn, uniform, shape):
    w = cls(seed=3)(shape)
    assert w.dtype == np.float32 and w.shape == shape and w.flags.c_contiguous
    fan_in, fan_out = compute_fans(shape)
    std = std_fn(fan_in, fan_out)
    assert abs(w.mean()) < 0.02 * std
    assert w.std() == pytest.approx(std, rel=0.02)
    if uniform:
        limit = math.sqrt(3.0) * std
        assert w.min() >= -limit and w.max() <= limit
        assert w.max() > 0.99 * limit  # fills the interval
    else:
        # Truncated at two standard deviations of the untruncated normal.
        assert np.abs(w).max() <= 2.0 * std / TRUNC_STD + 1e-6


@pytest.mark.parametrize(
    "mode, n_fn", [("fan_in", lambda i, o: i), ("fan_out", lambda i, o: o), ("fan_avg", lambda i, o: (i + o) / 2)]
)
@pytest.mark.parametrize("distribution", ["truncated_normal", "untruncated_normal", "uniform", "normal"])
def test_variance_scaling_modes_and_distributions(mode, n_fn, distribution):
    shape = (5, 5, 20, 12)
    w = VarianceScaling(scale=3.0, mode=mode, distribution=distribution, seed=11)(shape)
    std = math.sqrt(3.0 / n_fn(*compute_fans(shape)))
    assert w.std() == pytest.approx(std, rel=0.03)
    if distribution == "untruncated_normal":
        assert np.abs(w).max() > 2.5 * std  # tails are not cut
    elif distribution in ("truncated_normal", "normal"):
        assert np.abs(w).max() <= 2.0 * std / TRUNC_STD + 1e-6


def test_variance_scaling_fan_is_at_least_one():
    w = VarianceScaling(scale=1.0, mode="fan_in", distribution="uniform", seed=0)((0, 5))
    assert w.shape == (0, 5)
    w = VarianceScaling(scale=1.0, mode="fan_in", distribution="uniform", seed=0)(())
    assert w.shape == () and abs(float(w)) <= math.sqrt(3.0)


def test_random_normal_uniform_truncated_statistics():
    n = (200, 500)
    w = RandomNormal(mean=1.5, stddev=2.0, seed=1)(n)
    assert w.mean() == pytest.approx(1.5, abs=0.02) and w.std() == pytest.approx(2.0, rel=0.01)
    w = RandomUniform(minval=-1.0, maxval=3.0, seed=1)(n)
    assert w.min() >= -1.0 and w.max() < 3.0
    assert w.mean() == pytest.approx(1.0, abs=0.02) and w.var() == pytest.approx(16 / 12, rel=0.02)
    w = TruncatedNormal(mean=-1.0, stddev=0.5, seed=1)(n)
    assert w.min() >= -2.0 and w.max() <= 0.0
    assert w.mean() == pytest.approx(-1.0, abs=0.01) and w.std() == pytest.approx(0.5 * TRUNC_STD, rel=0.01)


def test_keras_default_arguments():
    assert RandomNormal().get_config() == {"seed": None, "mean": 0.0, "stddev": 0.05}
    assert RandomUniform().get_config() == {"seed": None, "minval": -0.05, "maxval": 0.05}
    assert TruncatedNormal().get_config() == {"seed": None, "mean": 0.0, "stddev": 0.05}
    assert VarianceScaling().get_config() == {
        "seed": None,
        "scale": 1.0,
        "mode": "fan_in",
        "distribution": "truncated_normal",
    }
    assert Orthogonal().get_config() == {"seed": None, "gain": 1.0}
    assert Constant().get_config() == {"value": 0.0}
    assert Identity().get_config() == {"gain": 1.0}


@pytest.mark.parametrize("shape", [(6, 6), (10, 4), (4, 10), (3, 3, 8, 16), (2, 3, 40)])
def test_orthogonal(shape):
    w = Orthogonal(gain=2.0, seed=5)(shape)
    assert w.shape == shape and w.dtype == np.float32
    m = w.reshape(-1, shape[-1]).astype(np.float64) / 2.0
    if m.shape[0] >= m.shape[1]:
        np.testing.assert_allclose(m.T @ m, np.eye(m.shape[1]), atol=1e-5)
    else:
        np.testing.assert_allclose(m @ m.T, np.eye(m.shape[0]), atol=1e-5)


def test_orthogonal_rejects_rank_below_two():
    with pytest.raises(ValueError, match=r"at least 2-D.*\(5,\)"):
        Orthogonal()((5,))


def test_constant_zeros_ones_identity():
    np.testing.assert_array_equal(Zeros()((2, 3)), np.zeros((2, 3), np.float32))
    np.testing.assert_array_equal(Ones()((4,)), np.ones(4, np.float32))
    assert Zeros()((2,)).dtype == np.float32
    np.testing.assert_array_equal(Constant(0.25)((2, 2)), np.full((2, 2), 0.25, np.float32))
    np.testing.assert_array_equal(Constant([1.0, 2.0])((3, 2)), np.tile([1.0, 2.0], (3, 1)).astype(np.float32))
    with pytest.raises(ValueError, match=r"cannot fill a weight of shape \(3, 3\)"):
        Constant([1.0, 2.0])((3, 3))
    np.testing.assert_array_equal(Identity(gain=3.0)((2, 3)), 3.0 * np.eye(2, 3, dtype=np.float32))
    with pytest.raises(ValueError, match=r"2-D.*rank 3"):
        Identity()((2, 2, 2))


@pytest.mark.parametrize("cls", RANDOM_CLASSES, ids=lambda c: c.__name__)
def test_seeded_initializer_is_repeatable(cls):
    a = cls(seed=42)((16, 8))
    b = cls(seed=42)((16, 8))
    c = cls(seed=43)((16, 8))
    init = cls(seed=42)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(init((16, 8)), init((16, 8)))  # Keras 3: a seeded instance repeats
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("cls", RANDOM_CLASSES, ids=lambda c: c.__name__)
def test_unseeded_initializer_follows_set_random_seed(cls):
    set_random_seed(7)
    first = [cls()((8, 8)), cls()((8, 8))]
    set_random_seed(7)
    second = [cls()((8, 8)), cls()((8, 8))]
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(first[0], first[1])  # successive draws differ


def test_dtype_argument():
    assert GlorotUniform(seed=0)((3, 3), dtype="float64").dtype == np.float64
    assert GlorotUniform(seed=0)((3, 3), dtype=None).dtype == np.float32
    with pytest.raises(ValueError, match="floating-point dtype.*int32"):
        GlorotUniform(seed=0)((3, 3), dtype="int32")


@pytest.mark.parametrize("bad", [(-1, 3), (2.5, 3), "ab", (True, 2)], ids=str)
def test_bad_shapes_are_rejected(bad):
    with pytest.raises((ValueError, TypeError), match="shape"):
        GlorotUniform(seed=0)(bad)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="scale"):
        VarianceScaling(scale=0.0)
    with pytest.raises(ValueError, match="mode.*'fan_bad'"):
        VarianceScaling(mode="fan_bad")
    with pytest.raises(ValueError, match="distribution.*'poisson'"):
        VarianceScaling(distribution="poisson")
    with pytest.raises(ValueError, match="seed"):
        GlorotUniform(seed=-1)
    with pytest.raises(ValueError, match="seed"):
        GlorotUniform(seed=1.5)
    with pytest.raises(ValueError, match="minval <= maxval"):
        RandomUniform(1.0, 0.0)
    with pytest.raises(ValueError, match="stddev"):
        RandomNormal(stddev=float("nan"))


@pytest.mark.parametrize(
    "cls",
    [Zeros, Ones, Constant, Identity, *RANDOM_CLASSES],
    ids=lambda c: c.__name__,
)
def test_config_round_trip(cls):
    init = cls()
    if cls in RANDOM_CLASSES:
        init = cls(seed=9)
    config = init.get_config()
    clone = cls.from_config(config)
    assert type(clone) is cls and clone.get_config() == config
    again = initializers.deserialize(initializers.serialize(init))
    assert type(again) is cls and again.get_config() == config
    if cls is not Identity:
        np.testing.assert_array_equal(init((4, 5)), again((4, 5)))


@pytest.mark.parametrize(
    "name, cls",
    [
        ("glorot_uniform", GlorotUniform),
        ("GlorotUniform", GlorotUniform),
        ("glorot_normal", GlorotNormal),
        ("he_normal", HeNormal),
        ("he_uniform", HeUniform),
        ("lecun_normal", LecunNormal),
        ("lecun_uniform", LecunUniform),
        ("zeros", Zeros),
        ("zero", Zeros),
        ("ones", Ones),
        ("one", Ones),
        ("constant", Constant),
        ("random_normal", RandomNormal),
        ("normal", RandomNormal),
        ("random_uniform", RandomUniform),
        ("uniform", RandomUniform),
        ("truncated_normal", TruncatedNormal),
        ("variance_scaling", VarianceScaling),
        ("orthogonal", Orthogonal),
        ("Orthogonal", Orthogonal),
        ("OrthogonalInitializer", Orthogonal),
        ("identity", Identity),
    ],
)
def test_get_resolves_keras_names(name, cls):
    a, b = initializers.get(name), initializers.get(name)
    assert type(a) is cls and a is not b


def test_get_other_identifiers():
    assert initializers.get(None) is None
    inst = HeNormal(seed=1)
    assert initializers.get(inst) is inst
    assert type(initializers.get(HeNormal)) is HeNormal
    got = initializers.get({"class_name": "RandomNormal", "config": {"stddev": 2.0, "seed": 3}})
    assert isinstance(got, RandomNormal) and got.stddev == 2.0 and got.seed == 3

    def fn(shape, dtype="float32"):
        return np.zeros(shape, dtype)

    assert initializers.get(fn) is fn


def test_get_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match=r"Unknown initializer: 'glorot_unifrom'.*glorot_uniform.*he_normal"):
        initializers.get("glorot_unifrom")
    with pytest.raises(ValueError, match="Could not interpret"):
        initializers.get(3)


def test_fan_rules_and_bounds_match_keras():
    keras = pytest.importorskip("keras")
    for shape in [(64, 10), (5, 8, 16), (3, 3, 16, 32)]:
        from keras.src.initializers.random_initializers import compute_fans as keras_fans

        assert compute_fans(shape) == keras_fans(shape)
        k = np.asarray(keras.initializers.GlorotUniform(seed=1)(shape))
        ours = GlorotUniform(seed=1)(shape)
        limit = math.sqrt(6.0 / sum(compute_fans(shape)))
        assert np.abs(k).max() <= limit and np.abs(ours).max() <= limit
