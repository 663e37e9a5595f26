"""GroupNormalization and the preprocessing layers CategoryEncoding, Discretization,
IntegerLookup, Resizing, CenterCrop and RandomFlip: float64 numpy references, finite
differences, Keras 3 (torch backend), adapt, configs, model save/load and bad input."""

from __future__ import annotations

import os

import numpy as np
import pytest
from _gradcheck import assert_grad_close, numeric_grad
from _ref import ref_resize

import pynncore
from pynncore import layers

os.environ.setdefault("KERAS_BACKEND", "torch")

# Keras's torch-backend variables implement numpy's old __array__ protocol; not our warning.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


def _np(t):
    keras = pytest.importorskip("keras")
    return np.asarray(keras.ops.convert_to_numpy(t))


# -- GroupNormalization ------------------------------------------------------------------------


def _ref_groupnorm(x, gamma, beta, groups, axis, eps):
    x = np.moveaxis(np.asarray(x, np.float64), axis, -1)
    n, c = x.shape[0], x.shape[-1]
    out = np.empty_like(x)
    size = c // groups
    for i in range(n):
        for g in range(groups):
            block = x[i, ..., g * size : (g + 1) * size]
            mean = block.mean()
            var = ((block - mean) ** 2).mean()
            out[i, ..., g * size : (g + 1) * size] = (block - mean) / np.sqrt(var + eps)
    out = out * gamma + beta
    return np.moveaxis(out, -1, axis)


@pytest.mark.parametrize(
    "shape, groups, axis",
    [((3, 6), 2, -1), ((2, 5, 6), 3, -1), ((2, 3, 4, 6), -1, -1), ((2, 4, 3, 5), 2, 1), ((1, 7, 4), 1, -1)],
    ids=str,
)
def test_group_normalization_reference_and_finite_differences(shape, groups, axis, rng):
    layer = layers.GroupNormalization(groups=groups, axis=axis, gamma_initializer="random_normal",
                                      beta_initializer="random_normal")
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(np.float32)
    layer(x)
    ax = axis % len(shape)
    c = shape[ax]
    g_count = c if groups == -1 else groups
    g, b = layer.gamma.value.astype(np.float64), layer.beta.value.astype(np.float64)
    y, ctx = layer.forward(x, training=True)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, _ref_groupnorm(x, g, b, g_count, ax, 1e-3), rtol=1e-5, atol=1e-5)
    w = rng.standard_normal(shape)
    for v in layer.weights:
        v.grad[...] = 0
    dx = layer.backward(ctx, w.astype(np.float32))

    def loss(xx, gg=g, bb=b):
        return float((_ref_groupnorm(xx, gg, bb, g_count, ax, 1e-3) * w).sum())

    x64 = x.astype(np.float64)
    assert_grad_close(dx, numeric_grad(loss, x64), what="dx")
    assert_grad_close(layer.gamma.grad, numeric_grad(lambda gg: loss(x64, gg, b), g.copy()), what="dgamma")
    assert_grad_close(layer.beta.grad, numeric_grad(lambda bb: loss(x64, g, bb), b.copy()), what="dbeta")


def test_group_normalization_without_center_and_scale(rng):
    x = rng.standard_normal((4, 3, 8)).astype(np.float32)
    layer = layers.GroupNormalization(groups=4, center=False, scale=False)
    y = layer(x)
    assert layer.weights == []
    np.testing.assert_allclose(y, _ref_groupnorm(x, 1.0, 0.0, 4, 2, 1e-3), rtol=1e-5, atol=1e-5)
    y, ctx = layer.forward(x, training=True)
    w = rng.standard_normal(x.shape)
    dx = layer.backward(ctx, w.astype(np.float32))
    assert_grad_close(dx, numeric_grad(lambda xx: float((_ref_groupnorm(xx, 1.0, 0.0, 4, 2, 1e-3) * w).sum()),
                                       x.astype(np.float64)), what="dx")


@pytest.mark.parametrize("groups, axis", [(2, -1), (3, -1), (-1, -1), (5, 1)])
def test_group_normalization_matches_keras(groups, axis, rng):
    keras = pytest.importorskip("keras")
    x = rng.standard_normal((3, 5, 4, 6)).astype(np.float32)
    k = keras.layers.GroupNormalization(groups=groups, axis=axis, gamma_initializer="random_normal",
                                        beta_initializer="random_normal")
    k.build(x.shape)
    p = layers.GroupNormalization(groups=groups, axis=axis)
    p(x)
    p.set_weights([np.asarray(w) for w in k.get_weights()])
    np.testing.assert_allclose(p(x), _np(k(x)), rtol=1e-5, atol=1e-5)


def test_group_normalization_training_matches_keras(rng):
    keras = pytest.importorskip("keras")
    kin = keras.Input((5, 6))
    kout = keras.layers.Dense(2)(keras.layers.Flatten()(keras.layers.GroupNormalization(groups=3)(
        keras.layers.Dense(6)(kin))))
    k = keras.Model(kin, kout)
    pin = pynncore.Input((5, 6))
    pout = layers.Dense(2)(layers.Flatten()(layers.GroupNormalization(groups=3)(layers.Dense(6)(pin))))
    p = pynncore.Model(pin, pout)
    p.set_weights([np.asarray(w) for w in k.get_weights()])
    k.compile(keras.optimizers.SGD(0.1), "mse")
    p.compile(pynncore.optimizers.SGD(0.1), "mse")
    x = rng.standard_normal((8, 5, 6)).astype(np.float32)
    y = rng.standard_normal((8, 2)).astype(np.float32)
    for _ in range(4):
        lk, lp = float(k.train_on_batch(x, y)), float(p.train_on_batch(x, y))
        np.testing.assert_allclose(lp, lk, rtol=1e-4, atol=1e-6)
    for a, b in zip(p.get_weights(), k.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_group_normalization_config_and_errors():
    layer = layers.GroupNormalization(groups=4, axis=1, epsilon=1e-5, center=False,
                                      gamma_regularizer="l2", gamma_constraint="non_neg")
    again = layers.GroupNormalization.from_config(layer.get_config())
    for key in ("groups", "axis", "epsilon", "center", "scale"):
        assert getattr(again, key) == getattr(layer, key)
    assert again.get_config() == layer.get_config()
    with pytest.raises(ValueError, match=r"GroupNormalization '.*': groups must divide the number of channels \(6\)\. Received: groups=4"):
        layers.GroupNormalization(groups=4)(np.ones((2, 6), np.float32))
    with pytest.raises(ValueError, match=r"groups must not exceed the number of channels \(6\)\. Received: groups=8"):
        layers.GroupNormalization(groups=8)(np.ones((2, 6), np.float32))
    with pytest.raises(ValueError, match="groups must be a positive integer or -1. Received: groups=0"):
        layers.GroupNormalization(groups=0)
    with pytest.raises(ValueError, match="epsilon must be a number > 0"):
        layers.GroupNormalization(epsilon=-1.0)
    with pytest.raises(TypeError, match="axis must be an integer. Received: axis='x'"):
        layers.GroupNormalization(axis="x")
    with pytest.raises(ValueError, match="axis must name non-batch axes of an input of rank 2"):
        layers.GroupNormalization(groups=1, axis=0)(np.ones((2, 6), np.float32))
    built = layers.GroupNormalization(groups=2)
    built(np.ones((2, 3, 6), np.float32))
    with pytest.raises(ValueError, match=r"expected an input of rank 3\. Received: shape=\(2, 6\)"):
        built.forward(np.ones((2, 6), np.float32))


# -- CategoryEncoding --------------------------------------------------------------------------


def _ref_encoding(ids, mode, depth, weights=None):
    ids = np.asarray(ids)
    if mode == "one_hot":
        if ids.ndim > 1 and ids.shape[-1] == 1:
            ids = ids[..., 0]
        return (ids[..., None] == np.arange(depth)).astype(np.float64)
    rows = ids.reshape(1, -1) if ids.ndim == 1 else ids
    w = np.ones(rows.shape) if weights is None else np.asarray(weights, np.float64).reshape(rows.shape)
    out = np.zeros((rows.shape[0], depth))
    for i in range(rows.shape[0]):
        for j in range(rows.shape[1]):
            out[i, rows[i, j]] += w[i, j]
    if mode == "multi_hot":
        out = (out > 0).astype(np.float64)
    return out[0] if ids.ndim == 1 else out


@pytest.mark.parametrize("mode", ["one_hot", "multi_hot", "count"])
@pytest.mark.parametrize("shape", [(7,), (5, 3), (4, 1), (3, 2, 4)], ids=str)
def test_category_encoding_reference_and_keras(mode, shape, rng):
    if mode != "one_hot" and len(shape) > 2:
        with pytest.raises(ValueError, match=r"CategoryEncoding '.*': output_mode='multi_hot' expects inputs of rank 1 or 2|"
                                             r"CategoryEncoding '.*': output_mode='count' expects inputs of rank 1 or 2"):
            layers.CategoryEncoding(6, output_mode=mode)(rng.integers(0, 6, shape))
        return
    ids = rng.integers(0, 6, shape)
    layer = layers.CategoryEncoding(6, output_mode=mode)
    y = layer(ids)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, _ref_encoding(ids, mode, 6))
    assert layer.compute_output_shape((None,) + shape[1:])[1:] == y.shape[1:] or len(shape) == 1
    keras = pytest.importorskip("keras")
    np.testing.assert_array_equal(y, _np(keras.layers.CategoryEncoding(6, output_mode=mode)(ids)))
    assert tuple(keras.layers.CategoryEncoding(6, output_mode=mode).compute_output_shape(shape)) == \
        layer.compute_output_shape(shape)


def test_category_encoding_count_weights_gradient_and_graph(rng):
    ids = rng.integers(0, 5, (4, 3))
    w = rng.random((4, 3)).astype(np.float32)
    layer = layers.CategoryEncoding(5, output_mode="count")
    y, ctx = layer.forward(ids, training=True, count_weights=w)
    np.testing.assert_allclose(y, _ref_encoding(ids, "count", 5, w), rtol=1e-6)
    keras = pytest.importorskip("keras")
    np.testing.assert_allclose(y, _np(keras.layers.CategoryEncoding(5, output_mode="count")(ids, count_weights=w)),
                               rtol=1e-6)
    dx = layer.backward(ctx, np.ones_like(y))
    assert dx.shape == ids.shape and not dx.any()  # ids are not differentiable
    assert layer.trainable_weights == [] and layers.CategoryEncoding(3)(pynncore.Input((4,))).shape == (None, 3)


def test_category_encoding_errors():
    with pytest.raises(ValueError, match=r"CategoryEncoding '.*': expected values in the range \[0, 4\)\. "
                                         r"Received: values between 0 and 4"):
        layers.CategoryEncoding(4)(np.array([[0, 4]]))
    with pytest.raises(ValueError, match=r"expected values in the range \[0, 4\)\. Received: values between -1"):
        layers.CategoryEncoding(4, output_mode="one_hot")(np.array([[-1, 2]]))
    with pytest.raises(ValueError, match="num_tokens must be an integer >= 1. Received: num_tokens=None"):
        layers.CategoryEncoding()
    with pytest.raises(ValueError, match="output_mode must be one of .*Received: output_mode='int'"):
        layers.CategoryEncoding(3, output_mode="int")
    with pytest.raises(ValueError, match="count_weights needs output_mode='count'. Received: output_mode='multi_hot'"):
        layers.CategoryEncoding(3)(np.array([[1]]), count_weights=np.ones((1, 1)))
    with pytest.raises(ValueError, match=r"count_weights must have the input's shape \(2, 2\)"):
        layers.CategoryEncoding(3, output_mode="count")(np.array([[1, 2], [0, 0]]), count_weights=np.ones((2, 3)))
    with pytest.raises(ValueError, match="only dense outputs are supported, expected sparse=False"):
        layers.CategoryEncoding(3, sparse=True)
    with pytest.raises(TypeError, match=r"CategoryEncoding '.*': expected a numeric input\. Received: dtype=<U1"):
        layers.CategoryEncoding(3)(np.array([["a"]]))
    layer = layers.CategoryEncoding(7, output_mode="binary")
    assert layer.output_mode == "multi_hot"
    again = layers.CategoryEncoding.from_config(layer.get_config())
    assert (again.num_tokens, again.output_mode) == (7, "multi_hot")


# -- Discretization ----------------------------------------------------------------------------


def _keras_boundaries(batches, num_bins, epsilon):
    """Keras 3's own quantile summary functions (pure numpy; its adapt() needs TensorFlow)."""
    pytest.importorskip("keras")
    from keras.src.layers.preprocessing import discretization as kd

    summary = np.array([[], []], dtype="float32")
    for b in batches:
        summary = kd.merge_summaries(kd.summarize(np.asarray(b, np.float32), epsilon), summary, epsilon)
    return np.asarray(kd.get_bin_boundaries(summary, num_bins))


@pytest.mark.parametrize("n, num_bins, epsilon, nbatch", [(1000, 5, 0.01, 1), (257, 7, 0.05, 1), (50, 4, 0.01, 1),
                                                          (600, 4, 0.01, 3), (3000, 10, 0.001, 2)])
def test_discretization_adapt_matches_keras_and_quantiles(n, num_bins, epsilon, nbatch, rng):
    data = rng.standard_normal(n).astype(np.float32)
    batches = np.array_split(data, nbatch)
    layer = layers.Discretization(num_bins=num_bins, epsilon=epsilon)
    layer.adapt(batches if nbatch > 1 else data)
    got = np.asarray(layer.bin_boundaries)
    assert got.shape == (num_bins - 1,) and np.all(np.diff(got) >= 0)
    np.testing.assert_allclose(got, _keras_boundaries(batches, num_bins, epsilon), rtol=1e-6, atol=1e-6)
    # An approximate quantile: within a few epsilon of the exact rank.
    ranks = np.searchsorted(np.sort(data), got) / n
    np.testing.assert_allclose(ranks, np.arange(1, num_bins) / num_bins, atol=max(3 * epsilon, 2.0 / n) + 0.02)


@pytest.mark.parametrize("mode", ["int", "one_hot", "multi_hot", "count"])
def test_discretization_output_modes_reference_and_keras(mode, rng):
    bounds = [-1.0, 0.0, 0.5, 2.0]
    x = rng.standard_normal((6, 3)).astype(np.float32) * 2
    x[0, :3] = [-1.0, 0.0, 2.0]  # values on the boundaries go to the upper bucket
    layer = layers.Discretization(bin_boundaries=bounds, output_mode=mode)
    y, ctx = layer.forward(x, training=True)
    idx = np.array([[sum(v >= b for b in bounds) for v in row] for row in x.astype(np.float64)])
    want = idx if mode == "int" else _ref_encoding(idx, mode, 5)
    np.testing.assert_array_equal(y, want)
    assert y.dtype == (np.int32 if mode == "int" else np.float32)
    assert layer.compute_output_shape((None, 3)) == {"int": (None, 3), "one_hot": (None, 3, 5)}.get(mode, (None, 5))
    assert not layer.backward(ctx, np.ones(y.shape, np.float32)).any()
    keras = pytest.importorskip("keras")
    np.testing.assert_array_equal(y, _np(keras.layers.Discretization(bin_boundaries=bounds, output_mode=mode)(x)))


def test_discretization_config_and_errors(rng):
    layer = layers.Discretization(num_bins=4, epsilon=0.02, output_mode="one_hot")
    layer.adapt(rng.standard_normal(200))
    again = layers.Discretization.from_config(layer.get_config())
    assert again.bin_boundaries == layer.bin_boundaries and again.num_bins == 4 and again.epsilon == 0.02
    x = rng.standard_normal((5, 1))
    np.testing.assert_array_equal(again(x), layer(x))
    with pytest.raises(ValueError, match=r"Discretization '.*': expected one of num_bins and bin_boundaries"):
        layers.Discretization(bin_boundaries=[0.0], num_bins=2)
    with pytest.raises(ValueError, match="expected num_bins .* or bin_boundaries. Received neither"):
        layers.Discretization()
    with pytest.raises(ValueError, match=r"bin_boundaries must be a sorted list of finite numbers. Received: bin_boundaries=\[1.0, 0.0\]"):
        layers.Discretization(bin_boundaries=[1.0, 0.0])
    with pytest.raises(ValueError, match="num_bins must be an integer >= 0. Received: num_bins=-1"):
        layers.Discretization(num_bins=-1)
    with pytest.raises(ValueError, match=r"no bin boundaries yet; call adapt\(\) first"):
        layers.Discretization(num_bins=3)(np.ones((2, 1)))
    with pytest.raises(ValueError, match="adapt needs num_bins; this layer was given bin_boundaries"):
        layers.Discretization(bin_boundaries=[0.0]).adapt(np.ones(4))
    with pytest.raises(ValueError, match="adapt data contains NaN or infinite values"):
        layers.Discretization(num_bins=2).adapt(np.array([1.0, np.nan]))
    with pytest.raises(TypeError, match="adapt expects numeric data. Received: dtype=<U1"):
        layers.Discretization(num_bins=2).adapt(np.array(["a"]))
    with pytest.raises(ValueError, match="output_mode must be one of .*Received: output_mode='tf_idf'"):
        layers.Discretization(num_bins=2, output_mode="tf_idf")


# -- IntegerLookup -----------------------------------------------------------------------------
# Keras 3's IntegerLookup needs TensorFlow (not installed here), so the expected values are the
# examples of Keras's IntegerLookup documentation plus a float64 numpy reference.

VOCAB = [12, 36, 1138, 42]


def _ref_lookup(x, vocab, num_oov=1, mask=None):
    start = num_oov + (mask is not None)
    table = {t: i + start for i, t in enumerate(vocab)}
    out = np.empty(np.shape(x), np.int64)
    for pos, v in np.ndenumerate(np.asarray(x)):
        if mask is not None and v == mask:
            out[pos] = 0
        elif v in table:
            out[pos] = table[v]
        else:
            out[pos] = (v % num_oov) + (mask is not None)
    return out


def test_integer_lookup_keras_documentation_examples():
    data = np.array([[12, 1138, 42], [42, 1000, 36]])
    np.testing.assert_array_equal(layers.IntegerLookup(vocabulary=VOCAB)(data), [[1, 3, 4], [4, 0, 2]])
    learned = layers.IntegerLookup()
    learned.adapt(data)
    assert learned.get_vocabulary() == [-1, 42, 1138, 1000, 36, 12]
    np.testing.assert_array_equal(learned(data), [[5, 2, 1], [1, 3, 4]])
    two_oov = layers.IntegerLookup(vocabulary=VOCAB, num_oov_indices=2)
    np.testing.assert_array_equal(two_oov(np.array([[12, 1138, 42], [37, 1000, 36]])), [[2, 4, 5], [1, 0, 3]])
    one_hot = layers.IntegerLookup(vocabulary=VOCAB, output_mode="one_hot")
    np.testing.assert_array_equal(one_hot(np.array([12, 36, 1138, 42, 7])), np.eye(5)[[1, 2, 3, 4, 0]])
    multi = np.array([[12, 1138, 42, 42], [42, 7, 36, 7]])
    np.testing.assert_array_equal(layers.IntegerLookup(vocabulary=VOCAB, output_mode="multi_hot")(multi),
                                  [[0, 1, 0, 1, 1], [1, 0, 1, 0, 1]])
    np.testing.assert_array_equal(layers.IntegerLookup(vocabulary=VOCAB, output_mode="count")(multi),
                                  [[0, 1, 0, 1, 2], [2, 0, 1, 0, 1]])
    inv = layers.IntegerLookup(vocabulary=VOCAB, invert=True)
    np.testing.assert_array_equal(inv(np.array([[1, 3, 4], [4, 0, 2]])), [[12, 1138, 42], [42, -1, 36]])


@pytest.mark.parametrize("num_oov, mask", [(1, None), (0, None), (3, None), (1, 0), (2, 7)])
def test_integer_lookup_reference(num_oov, mask, rng):
    vocab = [int(v) for v in rng.permutation(np.arange(1, 40))[:10] if v != 7]
    layer = layers.IntegerLookup(vocabulary=vocab, num_oov_indices=num_oov, mask_token=mask)
    x = rng.choice(vocab, (5, 4)) if num_oov == 0 else rng.integers(0, 45, (5, 4))
    if mask is not None:
        x[0, 0] = mask
    y, ctx = layer.forward(x, training=True)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, _ref_lookup(x, vocab, num_oov, mask))
    assert not layer.backward(ctx, np.ones(y.shape, np.float32)).any()
    assert layer.vocabulary_size() == len(vocab) + num_oov + (mask is not None)
    assert layer.get_vocabulary() == [mask] * (mask is not None) + [-1] * num_oov + vocab
    assert layer.get_vocabulary(include_special_tokens=False) == vocab
    # invert maps indices back to tokens (mask index -> mask token, OOV -> oov_token)
    inv = layers.IntegerLookup(vocabulary=vocab, num_oov_indices=num_oov, mask_token=mask, invert=True)
    back = inv(y)
    keep = np.isin(x, vocab) | (x == mask if mask is not None else False)
    np.testing.assert_array_equal(back[keep], x[keep])
    assert (back[~keep] == -1).all()
    # encodings: the mask token has no index there and adds nothing
    for mode in ("one_hot", "multi_hot", "count"):
        enc = layers.IntegerLookup(vocabulary=vocab, num_oov_indices=num_oov, mask_token=mask, output_mode=mode)
        idx = _ref_lookup(x, vocab, num_oov, None if mask is None else mask) - (mask is not None)
        depth = len(vocab) + num_oov
        want = _ref_encoding(np.where(idx < 0, 0, idx), mode, depth, weights=(idx >= 0).astype(float))
        if mode == "one_hot":
            want = want * (idx >= 0)[..., None]
        np.testing.assert_array_equal(enc(x), want)


def test_integer_lookup_adapt_order_max_tokens_and_specials(rng):
    data = np.array([5, 5, 5, 3, 3, 9, 9, 1, 0, 0, 0, 0, -1, -1, -1, -1, -1])
    layer = layers.IntegerLookup(mask_token=0, max_tokens=5)
    layer.adapt(data)
    # counts: 5x3, 3x2, 9x2, 1x1 (mask 0 and OOV -1 dropped); ties by decreasing token
    assert layer.get_vocabulary() == [0, -1, 5, 9, 3]
    assert layer.vocabulary_size() == 5
    batched = layers.IntegerLookup()
    batched.adapt([data[:6], data[6:]])
    assert batched.get_vocabulary(include_special_tokens=False) == [0, 5, 9, 3, 1]
    padded = layers.IntegerLookup(vocabulary=[4, 2], max_tokens=6, pad_to_max_tokens=True, output_mode="multi_hot")
    np.testing.assert_array_equal(padded(np.array([[2, 8]])), [[1, 0, 1, 0, 0, 0]])
    # a vocabulary that starts with the special tokens in index order is accepted as such
    layer2 = layers.IntegerLookup(vocabulary=[0, -1, 7, 8], mask_token=0)
    assert layer2.get_vocabulary() == [0, -1, 7, 8]
    np.testing.assert_array_equal(layer2(np.array([[8.0, 0.0, 3.0]], np.float32)), [[3, 0, 1]])


def test_integer_lookup_config_roundtrip_keeps_vocabulary(rng):
    import json

    layer = layers.IntegerLookup(mask_token=0, num_oov_indices=2, output_mode="count")
    layer.adapt(rng.integers(0, 20, 300))
    config = layer.get_config()
    json.dumps(config)
    assert config["vocabulary"] == layer.get_vocabulary(include_special_tokens=False)
    again = layers.IntegerLookup.from_config(config)
    assert again.get_vocabulary() == layer.get_vocabulary()
    x = rng.integers(0, 25, (4, 6))
    np.testing.assert_array_equal(again(x), layer(x))


def test_integer_lookup_errors():
    with pytest.raises(ValueError, match=r"IntegerLookup '.*': with num_oov_indices=0 every input must be in the "
                                         r"vocabulary\. Received: tokens \[5\] outside it"):
        layers.IntegerLookup(vocabulary=[1, 2], num_oov_indices=0)(np.array([[1, 5]]))
    with pytest.raises(ValueError, match=r"the vocabulary repeats tokens \[2\]"):
        layers.IntegerLookup(vocabulary=[1, 2, 2])
    with pytest.raises(ValueError, match="the mask token 0 may only appear at index 0 of the vocabulary"):
        layers.IntegerLookup(vocabulary=[1, 0], mask_token=0)
    with pytest.raises(ValueError, match=r"no vocabulary yet; pass vocabulary= or call adapt\(\) first"):
        layers.IntegerLookup()(np.array([[1]]))
    with pytest.raises(ValueError, match="invert=True needs output_mode='int'. Received: output_mode='count'"):
        layers.IntegerLookup(invert=True, output_mode="count")
    with pytest.raises(ValueError, match="max_tokens must be an integer > 1 or None. Received: max_tokens=1"):
        layers.IntegerLookup(max_tokens=1)
    with pytest.raises(ValueError, match="num_oov_indices must be an integer >= 0. Received: num_oov_indices=-1"):
        layers.IntegerLookup(num_oov_indices=-1)
    with pytest.raises(ValueError, match="vocabulary_dtype must be 'int64'. Received: vocabulary_dtype='string'"):
        layers.IntegerLookup(vocabulary_dtype="string")
    with pytest.raises(ValueError, match="more than max_tokens=3"):
        layers.IntegerLookup(vocabulary=[1, 2, 3], max_tokens=3)
    with pytest.raises(ValueError, match="expected integer tokens. Received: non-integer values of dtype float64"):
        layers.IntegerLookup(vocabulary=[1, 2])(np.array([[1.5]]))
    with pytest.raises(TypeError, match=r"expected a numeric input\. Received: dtype=<U1"):
        layers.IntegerLookup(vocabulary=[1, 2])(np.array([["a"]]))
    with pytest.raises(TypeError, match="mask_token must be an integer or None. Received: mask_token='x'"):
        layers.IntegerLookup(mask_token="x")
    with pytest.raises(ValueError, match="vocabulary must be a non-empty 1-D list of integers"):
        layers.IntegerLookup(vocabulary=[1.5, 2.0])
    with pytest.raises(ValueError, match="pad_to_max_tokens=True needs max_tokens"):
        layers.IntegerLookup(pad_to_max_tokens=True, output_mode="multi_hot")


# -- Resizing, CenterCrop, RandomFlip ----------------------------------------------------------


SIZES = [(3, 4), (14, 5), (7, 9), (10, 20), (1, 1), (5, 17)]


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
@pytest.mark.parametrize("crop", [False, True])
@pytest.mark.parametrize("size", SIZES, ids=str)
def test_resizing_reference_gradient_and_keras(size, interpolation, crop, rng):
    x = rng.standard_normal((2, 7, 9, 3)).astype(np.float32)
    layer = layers.Resizing(*size, interpolation=interpolation, crop_to_aspect_ratio=crop)
    y, ctx = layer.forward(x, training=True)
    assert y.shape == (2,) + size + (3,) and y.dtype == np.float32
    np.testing.assert_allclose(y, ref_resize(x, *size, interpolation, crop), rtol=1e-5, atol=1e-5)
    assert layer(pynncore.Input((7, 9, 3))).shape == (None,) + size + (3,)
    r = rng.standard_normal(y.shape)
    dx = layer.backward(ctx, r.astype(np.float32))
    small = x[:, :, :, :1].astype(np.float64)
    ys, cs = layer.forward(small.astype(np.float32), training=True)
    rs = r[..., :1]
    assert_grad_close(layer.backward(cs, rs.astype(np.float32)),
                      numeric_grad(lambda xx: float((ref_resize(xx, *size, interpolation, crop) * rs).sum()), small),
                      what="dx")
    assert dx.shape == x.shape
    keras = pytest.importorskip("keras")
    want = _np(keras.layers.Resizing(*size, interpolation=interpolation, crop_to_aspect_ratio=crop)(x))
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("size", [(3, 4), (7, 9), (8, 4), (2, 12), (1, 9)], ids=str)
def test_center_crop_reference_gradient_and_keras(size, rng):
    x = rng.standard_normal((2, 7, 9, 2)).astype(np.float32)
    layer = layers.CenterCrop(*size)
    y, ctx = layer.forward(x, training=True)
    h, w = size
    if h <= 7 and w <= 9:
        top, left = (7 - h) // 2, (9 - w) // 2
        want = x[:, top : top + h, left : left + w].astype(np.float64)
    else:
        want = ref_resize(x, h, w, "bilinear", crop=True)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
    r = rng.standard_normal(y.shape)

    def f(xx):
        if h <= 7 and w <= 9:
            return float((xx[:, top : top + h, left : left + w] * r).sum())
        return float((ref_resize(xx, h, w, "bilinear", crop=True) * r).sum())

    assert_grad_close(layer.backward(ctx, r.astype(np.float32)), numeric_grad(f, x.astype(np.float64)), what="dx")
    keras = pytest.importorskip("keras")
    np.testing.assert_allclose(y, _np(keras.layers.CenterCrop(*size)(x)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["horizontal", "vertical", "horizontal_and_vertical"])
def test_random_flip(mode, rng):
    x = rng.standard_normal((64, 3, 4, 2)).astype(np.float32)
    layer = layers.RandomFlip(mode, seed=5)
    np.testing.assert_array_equal(layer(x), x)  # inference: identity
    keras = pytest.importorskip("keras")
    np.testing.assert_array_equal(_np(keras.layers.RandomFlip(mode, seed=5)(x, training=False)), x)
    y, ctx = layer.forward(x, training=True)
    flips = {"horizontal": lambda a: a[:, ::-1], "vertical": lambda a: a[::-1],
             "horizontal_and_vertical": lambda a: a[::-1, ::-1]}[mode]
    # Keras in training: every image is either kept or flipped the same way (its draws differ).
    ky = _np(keras.layers.RandomFlip(mode, seed=5)(x, training=True))
    assert all(np.array_equal(ky[i], x[i]) or np.array_equal(ky[i], flips(x[i])) for i in range(64))
    flipped = np.array([not np.array_equal(y[i], x[i]) for i in range(64)])
    for i in range(64):
        np.testing.assert_array_equal(y[i], flips(x[i]) if flipped[i] else x[i])
    assert 10 < flipped.sum() < 54  # each image flipped with probability 1/2
    r = rng.standard_normal(y.shape).astype(np.float32)
    dx = layer.backward(ctx, r)
    # the flip is a permutation: <dx, x> = <r, y>
    np.testing.assert_allclose(float((dx.astype(np.float64) * x).sum()), float((r.astype(np.float64) * y).sum()),
                               rtol=1e-6)
    again = layers.RandomFlip(mode, seed=5)
    np.testing.assert_array_equal(again.forward(x, training=True)[0], y)  # the seed fixes the draws


def test_image_layer_configs_and_errors():
    for layer in (layers.Resizing(3, 5, interpolation="nearest", crop_to_aspect_ratio=True),
                  layers.CenterCrop(2, 3), layers.RandomFlip("vertical", seed=3)):
        again = type(layer).from_config(layer.get_config())
        assert again.get_config() == dict(layer.get_config(), name=again.name)
    with pytest.raises(ValueError, match=r"Resizing '.*': height must be a positive integer\. Received: height=0"):
        layers.Resizing(0, 3)
    with pytest.raises(ValueError, match=r"interpolation must be one of \['nearest', 'bilinear'\]\. Received: interpolation='bicubic'"):
        layers.Resizing(2, 3, interpolation="bicubic")
    with pytest.raises(ValueError, match="only antialias=False is supported. Received: antialias=True"):
        layers.Resizing(2, 3, antialias=True)
    with pytest.raises(ValueError, match="only data_format='channels_last' is supported"):
        layers.CenterCrop(2, 3, data_format="channels_first")
    with pytest.raises(ValueError, match=r"CenterCrop '.*': width must be a positive integer\. Received: width=2.5"):
        layers.CenterCrop(2, 2.5)
    with pytest.raises(ValueError, match=r"Resizing '.*': expected images of shape \(N, H, W, C\)\. Received: shape=\(2, 3, 4\)"):
        layers.Resizing(2, 2)(np.ones((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match=r"RandomFlip '.*': mode must be one of .*Received: mode='diagonal'"):
        layers.RandomFlip("diagonal")
    with pytest.raises(TypeError, match="RandomFlip '.*': seed must be an integer or None. Received: seed='a'"):
        layers.RandomFlip(seed="a")


# -- in models: graph training and save/load ---------------------------------------------------


def test_preprocessing_layers_in_a_trained_model(tmp_path, rng):
    inp = pynncore.Input((6, 8, 3))
    h = layers.RandomFlip("horizontal", seed=1)(inp)
    h = layers.Resizing(4, 4)(h)
    h = layers.CenterCrop(3, 3)(h)
    h = layers.GroupNormalization(groups=3)(h)
    out = layers.Dense(2)(layers.Flatten()(h))
    model = pynncore.Model(inp, out)
    model.compile(pynncore.optimizers.SGD(0.05), "mse")
    x = rng.standard_normal((4, 6, 8, 3)).astype(np.float32)
    y = np.full((4, 2), 3.0, np.float32)  # reachable through the Dense bias whatever the flips
    before = float(model.evaluate(x, y, verbose=0))
    for _ in range(30):
        model.train_on_batch(x, y)
    assert float(model.evaluate(x, y, verbose=0)) < 0.5 * before
    path = tmp_path / "m.pnc"
    model.save(str(path))
    loaded = pynncore.load_model(str(path))
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_adapted_lookup_and_discretization_survive_save_load(tmp_path, rng):
    lookup = layers.IntegerLookup(output_mode="multi_hot")
    lookup.adapt(rng.integers(0, 9, 100))
    disc = layers.Discretization(num_bins=3, output_mode="one_hot")
    disc.adapt(rng.standard_normal(100))
    a, b = pynncore.Input((4,)), pynncore.Input((1,))
    out = layers.Dense(2)(layers.Concatenate()([lookup(a), disc(b)]))
    model = pynncore.Model([a, b], out)
    model.compile("adam", "mse")
    xs = [rng.integers(0, 12, (5, 4)).astype(np.float32), rng.standard_normal((5, 1)).astype(np.float32)]
    model.train_on_batch(xs, np.zeros((5, 2), np.float32))
    path = tmp_path / "m.pnc"
    model.save(str(path))
    loaded = pynncore.load_model(str(path))
    np.testing.assert_array_equal(loaded.predict(xs, verbose=0), model.predict(xs, verbose=0))
    names = {type(l).__name__: l for l in loaded.layers}
    assert names["IntegerLookup"].get_vocabulary() == lookup.get_vocabulary()
    assert names["Discretization"].bin_boundaries == disc.bin_boundaries


def test_integer_lookup_tf_idf(rng):
    import math

    layer = layers.IntegerLookup(output_mode="tf_idf")
    layer.adapt(np.array([[1, 2, 2], [2, 3, 3], [3, 3, 5]]))
    assert layer.get_vocabulary() == [-1, 3, 2, 5, 1]
    # documents containing each token: 3 -> 2, 2 -> 2, 5 -> 1, 1 -> 1 (of 3)
    idf = [math.log(1 + 3 / 3), math.log(1 + 3 / 3), math.log(1 + 3 / 2), math.log(1 + 3 / 2)]
    want = np.array([[0, 0, 2, 0, 1], [1, 2, 0, 0, 0]]) * np.array([np.mean(idf)] + idf)
    np.testing.assert_allclose(layer(np.array([[2, 2, 1], [9, 3, 3]])), want, rtol=1e-6)
    given = layers.IntegerLookup(vocabulary=[7, 8], idf_weights=[0.5, 1.5], output_mode="tf_idf")
    np.testing.assert_allclose(given(np.array([[7, 9, 9]])), [[2.0, 0.5, 0.0]])
