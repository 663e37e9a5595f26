"""Image augmentation layer AugMix: a float64 numpy reference of the chains and their mixing,
Keras 3 (torch backend) fed the same transformation, finite differences, the random draws,
Keras's defaults, config round trips and bad input."""

from __future__ import annotations

import os

import numpy as np
import pytest
from _gradcheck import assert_grad_close, numeric_grad
from _ref import ref_affine_transform
from test_layers_augment import _np
from test_layers_augment3 import _shear_matrices

from pynncore import layers

os.environ.setdefault("KERAS_BACKEND", "torch")

pytestmark = pytest.mark.filterwarnings(  # Keras's torch-backend variables, not our warning
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)
ALL_OPS = ["random_shear", "random_translation", "random_rotation", "random_posterization", "solarization",
           "auto_contrast", "equalization", "random_brightness", "random_color_degeneration", "random_contrast",
           "random_sharpness"]
FIXED = ("auto_contrast", "equalization")  # no random draw


def _ref_step(y, name, part, interpolation, value_range):
    """Float64 shear, translation (reflect fill), brightness or contrast of a batch."""
    lo, hi = value_range
    if name == "random_shear":
        return ref_affine_transform(y, _shear_matrices(part["shear_factor"]), interpolation, "reflect")
    if name == "random_translation":
        m = [[1, 0, -dx, 0, 1, -dy] for dx, dy in np.asarray(part["translations"], np.float64)]
        return ref_affine_transform(y, m, interpolation, "reflect")
    if name == "random_brightness":
        return np.clip(y + np.asarray(part["rgb_delta"], np.float64).reshape(-1, 1, 1, 1), lo, hi)
    assert name == "random_contrast"
    c = np.asarray(part["contrast_factor"], np.float64).reshape(-1, 1, 1, 1)
    mean = y.mean(axis=(1, 2), keepdims=True)
    return np.clip((y - mean) * c + mean, lo, hi)


def _ref_aug_mix(x, t, interpolation="bilinear", value_range=(0, 255)):
    x = np.asarray(x, np.float64)
    mixed = np.zeros_like(x)
    for w, chain in zip(np.asarray(t["chain_mixing_weights"], np.float64), t["chain_transforms"]):
        y = x
        for step in chain:
            y = _ref_step(y, step["layer_name"], step["transformation"], interpolation, value_range)
        mixed += w * y
    m = float(t["weight_sample"])
    return np.clip(m * x + (1 - m) * mixed, *value_range)


def _pinned(layer, x, names_per_chain):
    """A transformation of ``layer`` whose chains run ``names_per_chain``, each operation
    with its own draw."""
    t = layer.get_random_transformation(x)
    rng = np.random.default_rng(5)
    t["chain_transforms"] = [
        [{"layer_name": n, "transformation": None if n in FIXED else layer._ops[n]._draw(x.shape, rng)} for n in names]
        for names in names_per_chain
    ]
    return t


CHAINS = [
    [["random_shear"], ["random_translation", "random_brightness"], []],
    [["random_contrast", "random_shear", "random_contrast"], ["random_brightness"], ["random_translation"]],
]


@pytest.mark.parametrize("chains", CHAINS)
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_aug_mix_reference(chains, interpolation, rng):
    x = (rng.random((4, 6, 7, 3)) * 255).astype(np.float32)
    layer = layers.AugMix(factor=(0.2, 0.6), interpolation=interpolation, seed=1)
    t = _pinned(layer, x, chains)
    y = layer.transform_images(x, t)
    assert y.shape == x.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, _ref_aug_mix(x, t, interpolation), rtol=1e-4, atol=2e-3)
    np.testing.assert_array_equal(layer(x), x)  # inference: identity
    np.testing.assert_array_equal(layer.transform_images(x, t, training=False), x)


def test_aug_mix_value_range_and_clipping(rng):
    x = rng.random((3, 5, 6, 3)).astype(np.float32)
    layer = layers.AugMix((0, 1), num_chains=2, factor=(0.5, 0.9), seed=2)
    t = _pinned(layer, x, [["random_brightness"], ["random_brightness", "random_contrast"]])
    t["weight_sample"] = np.float32(0.1)
    y = layer.transform_images(x, t)
    assert y.min() >= 0 and y.max() <= 1
    np.testing.assert_allclose(y, _ref_aug_mix(x, t, value_range=(0, 1)), rtol=1e-5, atol=1e-5)
    # weight_sample 1 keeps the images; empty chains mix to the images themselves
    np.testing.assert_allclose(layer.transform_images(x, dict(t, weight_sample=1.0)), x, atol=1e-6)
    empty = dict(t, chain_transforms=[[], []])
    np.testing.assert_allclose(layer.transform_images(x, empty), x, atol=1e-6)


# Keras's torch-backend count_nonzero (in Equalization) uses Tensor.T on 0-d tensors; not ours.
@pytest.mark.filterwarnings("ignore:Tensor.T is deprecated:UserWarning")
@pytest.mark.parametrize("start", range(0, 11, 2))
def test_aug_mix_against_keras(start, rng):
    keras = pytest.importorskip("keras")
    x = (rng.random((4, 6, 7, 3)) * 255).astype(np.float32)
    layer = layers.AugMix(factor=(0.2, 0.6), alpha=0.7, seed=3)
    chains = [[ALL_OPS[start], ALL_OPS[(start + 3) % 11]], [ALL_OPS[(start + 1) % 11]], []]
    t = _pinned(layer, x, chains)
    y = layer.transform_images(x, t)
    kl = keras.layers.AugMix(factor=(0.2, 0.6), alpha=0.7)

    def conv(part):
        if part is None:
            return None
        return {k: keras.ops.convert_to_tensor(np.array(v, copy=True)) for k, v in part.items()}

    kt = {
        "chain_mixing_weights": keras.ops.convert_to_tensor(t["chain_mixing_weights"].copy()),
        "weight_sample": keras.ops.convert_to_tensor(np.float32(t["weight_sample"])),
        "chain_transforms": [
            [{"layer_name": s["layer_name"], "transformation": conv(s["transformation"])} for s in chain]
            for chain in t["chain_transforms"]
        ],
    }
    z = kl.transform_images(keras.ops.convert_to_tensor(x.copy()), kt, training=True)
    np.testing.assert_allclose(y, _np(z), rtol=1e-4, atol=2e-3)


def test_aug_mix_gradient(rng):
    x = 60 + 120 * rng.random((2, 4, 5, 3))
    layer = layers.AugMix(num_chains=2, factor=(0.1, 0.3), seed=3)
    t = _pinned(layer, x, [["random_shear", "random_contrast"], ["random_translation"]])
    layer._draw = lambda shape, gen: t  # replay in forward
    y, ctx = layer.forward(x.astype(np.float32), training=True)
    r = rng.standard_normal(y.shape)
    want = numeric_grad(lambda xx: float((_ref_aug_mix(xx, t) * r).sum()), x)
    assert_grad_close(layer.backward(ctx, r.astype(np.float32)), want, what="AugMix dx")
    _, ctx0 = layer.forward(x.astype(np.float32), training=False)
    np.testing.assert_array_equal(layer.backward(ctx0, r.astype(np.float32)), r.astype(np.float32))


def test_aug_mix_random_draws(rng):
    x = (rng.random((3, 5, 5, 3)) * 255).astype(np.float32)
    layer = layers.AugMix(num_chains=4, chain_depth=3, alpha=2.0, seed=4)
    assert layer.get_random_transformation(x, training=False) is None
    t = layer.get_random_transformation(x)
    assert t["chain_mixing_weights"].shape == (4,) and np.ndim(t["weight_sample"]) == 0
    assert len(t["chain_transforms"]) == 4 and all(len(c) <= 3 for c in t["chain_transforms"])
    again = layers.AugMix(num_chains=4, chain_depth=3, alpha=2.0, seed=4).get_random_transformation(x)
    np.testing.assert_array_equal(t["chain_mixing_weights"], again["chain_mixing_weights"])  # the seed fixes the draws
    assert [[s["layer_name"] for s in c] for c in t["chain_transforms"]] == \
        [[s["layer_name"] for s in c] for c in again["chain_transforms"]]
    draws = [layer.get_random_transformation(x) for _ in range(1000)]
    weights = np.stack([d["chain_mixing_weights"] for d in draws])
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-5)
    # Dirichlet(2, 2, 2, 2): mean 1/4, variance (1/4)(3/4)/9
    assert abs(weights.mean() - 0.25) < 0.01 and abs(weights[:, 0].var() - 3 / 144) < 0.004
    m = np.array([d["weight_sample"] for d in draws], np.float64)
    assert abs(m.mean() - 0.5) < 0.02 and abs(m.var() - 0.05) < 0.008  # Beta(2, 2): variance 1/20
    names = [s["layer_name"] for d in draws for c in d["chain_transforms"] for s in c]
    counts = np.array([names.count(n) for n in ALL_OPS])
    # each of 12 choices (11 operations or none) with probability 1/12 at each of 12000 steps
    assert len(names) == counts.sum() and abs(len(names) - 11000) < 250 and counts.min() > 850 and counts.max() < 1150
    few = layers.AugMix(all_ops=False, seed=5)
    few_names = {s["layer_name"] for _ in range(200) for c in few.get_random_transformation(x)["chain_transforms"]
                 for s in c}
    assert few_names == set(ALL_OPS[:7])
    assert layers.AugMix(factor=0.8)._ops["random_posterization"].factor == 6
    y1, _ = layer.forward(x, training=True)
    y2, _ = layer.forward(x, training=True)
    assert y1.shape == x.shape and not np.array_equal(y1, y2)  # every call draws again
    np.testing.assert_allclose(layers.AugMix(chain_depth=0, seed=1).forward(x, training=True)[0], x, rtol=1e-6)


def test_aug_mix_config_and_keras_defaults():
    layer = layers.AugMix((0, 1), num_chains=2, chain_depth=4, factor=(0.1, 0.4), alpha=0.5, all_ops=False,
                          interpolation="nearest", seed=7)
    config = layer.get_config()
    again = layers.AugMix.from_config(config)
    assert again.get_config() == config
    assert config["num_chains"] == 2 and config["chain_depth"] == 4 and config["alpha"] == 0.5
    assert config["all_ops"] is False and sorted(again._ops) == sorted(ALL_OPS[:7])
    keras = pytest.importorskip("keras")
    ours, theirs = layers.AugMix().get_config(), keras.layers.AugMix().get_config()
    for key in ("num_chains", "chain_depth", "alpha", "all_ops", "interpolation", "seed", "data_format"):
        assert ours[key] == theirs[key], key
    assert tuple(ours["value_range"]) == tuple(theirs["value_range"])
    built = layers.AugMix.from_config({k: v for k, v in theirs.items() if k != "dtype"})
    assert tuple(built.get_config()["factor"]) == tuple(theirs["factor"]) == (0.0, 0.3) and ours["factor"] == 0.3


BAD_AUG_MIX = [
    (lambda: layers.AugMix(factor=1.5),
     r"AugMix '.*': factor must be a number or a pair of numbers in \[0.0, 1.0\]\. Received: factor=1.5"),
    (lambda: layers.AugMix(num_chains=0), r"AugMix '.*': num_chains must be an integer >= 1\. Received: num_chains=0"),
    (lambda: layers.AugMix(num_chains=2.0), r"num_chains must be an integer >= 1\. Received: num_chains=2.0"),
    (lambda: layers.AugMix(chain_depth=-1), r"AugMix '.*': chain_depth must be an integer >= 0\. Received: chain_depth=-1"),
    (lambda: layers.AugMix(chain_depth=True), r"chain_depth must be an integer >= 0\. Received: chain_depth=True"),
    (lambda: layers.AugMix(alpha=0.0), r"AugMix '.*': alpha must be a finite number > 0\. Received: alpha=0.0"),
    (lambda: layers.AugMix(alpha="1"), r"alpha must be a finite number > 0\. Received: alpha='1'"),
    (lambda: layers.AugMix(all_ops=1), r"AugMix '.*': all_ops must be a bool\. Received: all_ops=1"),
    (lambda: layers.AugMix(interpolation="bicubic"),
     r"AugMix '.*': interpolation must be one of .*Received: interpolation='bicubic'"),
    (lambda: layers.AugMix((0, 1, 2)), r"AugMix '.*': value_range must be a pair of numbers"),
    (lambda: layers.AugMix(data_format="channels_first"), r"only data_format='channels_last'"),
]


@pytest.mark.parametrize("make, pattern", BAD_AUG_MIX)
def test_bad_arguments(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


def test_aug_mix_bad_inputs_and_transformations():
    x = np.ones((2, 3, 3, 3), np.float32)
    layer = layers.AugMix(seed=1)
    t = layer.get_random_transformation(x)
    with pytest.raises(ValueError, match=r"must each hold 3 entries \(num_chains\)\. Received: 2 and 3"):
        layer.transform_images(x, dict(t, chain_mixing_weights=np.array([0.5, 0.5])))
    with pytest.raises(ValueError, match=r"must each hold 3 entries \(num_chains\)\. Received: 3 and 1"):
        layer.transform_images(x, dict(t, chain_transforms=[[]]))
    with pytest.raises(ValueError, match=r"transformation\['weight_sample'\] must be a scalar\. Received: shape=\(2,\)"):
        layer.transform_images(x, dict(t, weight_sample=np.array([0.1, 0.2])))
    bad = dict(t, chain_transforms=[[{"layer_name": "random_zoom", "transformation": None}], [], []])
    with pytest.raises(ValueError, match=r"layer_name must be one of \[.*\]\. Received: 'random_zoom'"):
        layer.transform_images(x, bad)
    few = layers.AugMix(all_ops=False, seed=1)
    bad = dict(t, chain_transforms=[[{"layer_name": "random_contrast", "transformation": None}], [], []])
    with pytest.raises(ValueError, match=r"Received: 'random_contrast'"):
        few.transform_images(x, bad)
    with pytest.raises(ValueError, match=r"AugMix '.*'"):
        layer(np.ones((3, 3, 3), np.float32))
