"""celu, hard_silu (hard_swish), hard_tanh, log_sigmoid, hard_shrink, soft_shrink, sparse_plus,
sparse_sigmoid, squareplus and tanh_shrink: forward and backward against float64 references on
every CPU path, special values, Keras 3 with the same inputs, parameters and their errors."""

from __future__ import annotations

import numpy as np
import pytest
from _keras_train import train_side_by_side

import pynncore
from pynncore import activations, layers, ops
from pynncore.models import Sequential

inf, nan = np.inf, np.nan


def _f(name, z, p):
    """float64 reference of f(z)."""
    with np.errstate(all="ignore"):
        if name == "celu":
            a = p.get("alpha", 1.0)
            return np.where(z > 0, z, a * np.expm1(z / a))
        if name == "hard_silu":
            return np.where(z <= -3, 0.0, z * np.clip(z + 3, 0, 6) / 6)
        if name == "hard_tanh":
            return np.clip(z, -1, 1)
        if name == "log_sigmoid":
            return np.minimum(z, 0) - np.log1p(np.exp(-np.abs(z)))
        if name == "hard_shrink":
            t = p.get("threshold", 0.5)
            return np.where(np.abs(z) > t, z, 0.0)
        if name == "soft_shrink":
            t = p.get("threshold", 0.5)
            return np.where(z > t, z - t, np.where(z < -t, z + t, 0.0))
        if name == "sparse_plus":
            return np.where(z <= -1, 0.0, np.where(z >= 1, z, 0.25 * (z + 1) ** 2))
        if name == "sparse_sigmoid":
            return np.clip((z + 1) / 2, 0, 1)
        if name == "squareplus":  # the negative tail without cancellation
            b = p.get("b", 4.0)
            sq = np.sqrt(z * z + b)
            return np.where(z < 0, b / (sq - z) / 2, (z + sq) / 2)
        if name == "tanh_shrink":  # float64 cancels too for tiny z: its series there
            u = z * z
            return np.where(np.abs(z) < 1e-2, z * u * (1 / 3 - u * (2 / 15 - u * 17 / 315)), z - np.tanh(z))
    raise AssertionError(name)


def _df(name, z, p):
    """float64 reference of f'(z)."""
    with np.errstate(all="ignore"):
        if name == "celu":
            a = p.get("alpha", 1.0)
            return np.where(z > 0, 1.0, np.exp(z / a))
        if name == "hard_silu":
            return np.where(z < -3, 0.0, np.where(z > 3, 1.0, z / 3 + 0.5))
        if name == "hard_tanh":
            return np.where(np.abs(z) < 1, 1.0, 0.0)
        if name == "log_sigmoid":
            return 1 / (1 + np.exp(z))
        if name in ("hard_shrink", "soft_shrink"):
            return np.where(np.abs(z) > p.get("threshold", 0.5), 1.0, 0.0)
        if name == "sparse_plus":
            return np.where(z <= -1, 0.0, np.where(z >= 1, 1.0, (z + 1) / 2))
        if name == "sparse_sigmoid":
            return np.where(np.abs(z) < 1, 0.5, 0.0)
        if name == "squareplus":
            b = p.get("b", 4.0)
            sq = np.sqrt(z * z + b)
            return np.where(z < 0, b / (2 * sq * (sq - z)), (1 + z / sq) / 2)
        if name == "tanh_shrink":
            return np.tanh(z) ** 2
    raise AssertionError(name)


CASES = [
    ("celu", {}), ("celu", {"alpha": 0.5}), ("hard_silu", {}), ("hard_tanh", {}), ("log_sigmoid", {}),
    ("hard_shrink", {}), ("hard_shrink", {"threshold": 1.5}), ("soft_shrink", {}), ("soft_shrink", {"threshold": 0.0}),
    ("sparse_plus", {}), ("sparse_sigmoid", {}), ("squareplus", {}), ("squareplus", {"b": 0.5}), ("tanh_shrink", {}),
]  # fmt: skip
IDS = [n + "".join(f"-{k}={v}" for k, v in p.items()) for n, p in CASES]


def _inputs(rng, n=20011):
    z = np.concatenate([rng.standard_normal(n) * 3, rng.uniform(-1e-3, 1e-3, 200), rng.uniform(-40, 40, 500),
                        [0.0, -0.0, 1.0, -1.0, 3.0, -3.0, 0.5, -0.5, 1e-30, -1e-30, 1e30, -1e30]])
    return z.astype(np.float32)


@pytest.mark.parametrize("name, params", CASES, ids=IDS)
def test_forward_and_backward_match_float64(name, params, cpu_path, num_threads, rng):
    z = _inputs(rng)
    z64 = z.astype(np.float64)
    y = activations.get(name)(z, **params)
    ref = _f(name, z64, params)
    # a few ulp; z - tanh(z) loses up to 4 bits to cancellation just above |z| = 0.625
    np.testing.assert_allclose(y, ref, rtol=2e-6 if name == "tanh_shrink" else 4e-7, atol=1e-37)
    dy = rng.standard_normal(z.size).astype(np.float32)
    dx = ops.activation_grad(name, x=z, y=y, dy=dy, alpha=next(iter(params.values()), None))
    # Derivatives read from y (celu: y / alpha + 1) lose up to a few ulp of 1 where they are small.
    want = dy * _df(name, z64, params)
    err = np.abs(dx - want)
    bound = 1e-6 * np.abs(want) + 4 * 2.0**-24 * np.abs(dy) + 1e-37
    worst = int(np.argmax(err - bound))
    assert np.all(err <= bound), (name, float(z[worst]), float(dx[worst]), float(want[worst]))


@pytest.mark.parametrize("name, params", CASES, ids=IDS)
def test_reference_derivative_matches_finite_differences(name, params, rng):
    z = rng.uniform(-6, 6, 2000)
    # stay away from the kinks, where the one-sided slopes differ
    kinks = np.array([0.0, 1.0, -1.0, 3.0, -3.0, params.get("threshold", 0.5), -params.get("threshold", 0.5)])
    z = z[np.min(np.abs(z[:, None] - kinks[None, :]), axis=1) > 1e-3]
    h = 1e-6
    fd = (_f(name, z + h, params) - _f(name, z - h, params)) / (2 * h)
    np.testing.assert_allclose(_df(name, z, params), fd, rtol=1e-6, atol=1e-8)


SPECIAL = np.array([nan, inf, -inf], np.float32)
LIMITS = {
    "celu": [nan, inf, -1.0], "hard_silu": [nan, inf, 0.0], "hard_tanh": [nan, 1.0, -1.0],
    "log_sigmoid": [nan, 0.0, -inf], "hard_shrink": [nan, inf, -inf], "soft_shrink": [nan, inf, -inf],
    "sparse_plus": [nan, inf, 0.0], "sparse_sigmoid": [nan, 1.0, 0.0], "squareplus": [nan, inf, 0.0],
    "tanh_shrink": [nan, inf, -inf],
}  # fmt: skip
GRAD_LIMITS = {
    "celu": [nan, 1.0, 0.0], "hard_silu": [nan, 1.0, 0.0], "hard_tanh": [nan, 0.0, 0.0],
    "log_sigmoid": [nan, 0.0, 1.0], "hard_shrink": [nan, 1.0, 1.0], "soft_shrink": [nan, 1.0, 1.0],
    "sparse_plus": [nan, 1.0, 0.0], "sparse_sigmoid": [nan, 0.0, 0.0], "squareplus": [nan, 1.0, 0.0],
    "tanh_shrink": [nan, 1.0, 1.0],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(LIMITS))
def test_special_values(name, cpu_path):
    y = activations.get(name)(SPECIAL)
    np.testing.assert_array_equal(y, np.array(LIMITS[name], np.float32))
    dx = ops.activation_grad(name, x=SPECIAL, y=y, dy=np.ones(3, np.float32))
    np.testing.assert_array_equal(dx, np.array(GRAD_LIMITS[name], np.float32))


def test_small_inputs_keep_relative_accuracy():
    z = np.array([1e-3, -2e-4, 1e-10, 0.3, -0.6], np.float32)
    np.testing.assert_allclose(activations.tanh_shrink(z), _f("tanh_shrink", z.astype(np.float64), {}), rtol=3e-7)
    z = -np.logspace(0, 15, 16).astype(np.float32)  # squareplus's negative tail b / (s - z) / 2
    np.testing.assert_allclose(activations.squareplus(z), _f("squareplus", z.astype(np.float64), {}), rtol=3e-7)


@pytest.mark.parametrize("name, params", CASES, ids=IDS)
def test_matches_keras(name, params, rng):
    keras = pytest.importorskip("keras")
    z = _inputs(rng, 3000)[:3000]
    ours = activations.get(name)(z, **params)
    torch = pytest.importorskip("torch")
    theirs = getattr(keras.activations, name)(torch.from_numpy(z), **params).detach().cpu().numpy()
    # Keras computes z - tanh(z) and z + sqrt(z^2 + b) directly: compare at its accuracy there
    atol = 1e-6 if name in ("tanh_shrink", "squareplus") else 1e-7
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=atol)


def test_aliases_config_and_layers():
    assert activations.get("hard_swish") is activations.hard_silu
    assert ops.hard_swish is ops.hard_silu
    z = np.linspace(-4, 4, 33, dtype=np.float32)
    for name, params in CASES:  # the ops functions take Keras's parameter names
        np.testing.assert_array_equal(getattr(ops, name)(z, **params), activations.get(name)(z, **params))
    for name, params in CASES:
        fn = activations.get(name).with_params(**params) if params else activations.get(name)
        assert activations.deserialize(activations.serialize(fn)) == fn
        layer = layers.Activation(fn)
        again = layers.Activation.from_config(layer.get_config())
        z = np.linspace(-3, 3, 13, dtype=np.float32)
        np.testing.assert_array_equal(again(z), layer(z))


@pytest.mark.parametrize("bad", [
    ("celu", {"alpha": 0.0}, "celu needs alpha > 0"),
    ("celu", {"alpha": -1.0}, "alpha"),
    ("hard_shrink", {"threshold": -0.1}, "threshold >= 0"),
    ("soft_shrink", {"threshold": -2.0}, "threshold >= 0"),
    ("squareplus", {"b": -1.0}, "b >= 0"),
], ids=lambda b: b[0] if isinstance(b, tuple) else str(b))
def test_bad_parameters(bad):
    name, params, match = bad
    with pytest.raises(ValueError, match=match):
        activations.get(name)(np.ones(4, np.float32), **params)


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
@pytest.mark.parametrize("name", ["celu", "hard_silu", "log_sigmoid", "squareplus", "tanh_shrink", "soft_shrink"])
def test_dense_with_new_activation_trains_like_keras(name, rng):
    keras = pytest.importorskip("keras")
    x = rng.standard_normal((16, 5)).astype(np.float32)
    y = rng.standard_normal((16, 3)).astype(np.float32)
    kmodel = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation=name), keras.layers.Dense(3)])
    pmodel = Sequential([layers.Input((5,)), layers.Dense(8, activation=name), layers.Dense(3)])
    pmodel.set_weights([np.asarray(w) for w in kmodel.get_weights()])
    kmodel.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    pmodel.compile(optimizer=pynncore.optimizers.SGD(0.05), loss="mse")
    train_side_by_side(kmodel, pmodel, x, y, 3)
