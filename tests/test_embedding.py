"""Embedding and Masking: float64 references, gradients, masks, errors, config and Keras parity."""

from __future__ import annotations

import os

import numpy as np
import pytest

import pynncore
from pynncore import layers, ops
from pynncore.models import Sequential

from _gradcheck import assert_grad_close, numeric_grad


def _ref_scatter(v: int, d: int, ids: np.ndarray, dy: np.ndarray) -> np.ndarray:
    g = np.zeros((v, d), np.float64)
    np.add.at(g, ids.reshape(-1), dy.reshape(-1, d).astype(np.float64))
    return g


# -- Embedding forward -----------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5), (2, 3, 4), (0, 3)])
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.float32, np.float64])
def test_embedding_forward_gathers_rows(shape, dtype, rng):
    layer = layers.Embedding(13, 5)
    ids = rng.integers(0, 13, shape).astype(dtype)
    y = layer(ids)
    table = layer.get_weights()[0].astype(np.float64)
    want = table[ids.astype(np.int64)]
    assert y.shape == shape + (5,) and y.dtype == np.float32
    np.testing.assert_array_equal(y, want)


def test_embedding_default_initializer_is_uniform_005():
    w = layers.Embedding(200, 50).get_weights()[0]
    assert w.shape == (200, 50)
    assert -0.05 <= w.min() < -0.04 and 0.04 < w.max() < 0.05


def test_embedding_weights_argument_sets_the_matrix(rng):
    m = rng.standard_normal((6, 3)).astype(np.float32)
    layer = layers.Embedding(6, 3, weights=[m], trainable=False)
    np.testing.assert_array_equal(layer(np.array([[5, 0]])), m[[[5, 0]]])
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 1


# -- Embedding backward ----------------------------------------------------------------------


@pytest.mark.parametrize("v, d, shape", [(1, 1, (4,)), (7, 3, (5, 6)), (17, 33, (3, 4, 2)), (50, 8, (2, 3))])
def test_embedding_backward_matches_float64_scatter(v, d, shape, rng):
    layer = layers.Embedding(v, d)
    ids = rng.integers(0, v, shape)
    y, ctx = layer.forward(ids, training=True)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = layer.backward(ctx, dy)
    assert dx.shape == shape and not dx.any()
    np.testing.assert_allclose(layer.embeddings.grad, _ref_scatter(v, d, ids, dy), rtol=1e-5, atol=1e-5)


def test_embedding_backward_finite_differences(rng):
    v, d = 5, 3
    layer = layers.Embedding(v, d)
    ids = np.array([[0, 4, 4, 1], [4, 2, 0, 0]])  # repeated ids must accumulate
    w = rng.standard_normal(ids.shape + (d,))
    table = layer.get_weights()[0].astype(np.float64)

    def loss(t):
        return float((t[ids] ** 2 * w).sum())

    _, ctx = layer.forward(ids.astype(np.float32), training=True)
    dy = (2 * table[ids] * w).astype(np.float32)
    assert layer.backward(ctx, dy, need_dx=False) is None
    assert_grad_close(layer.embeddings.grad, numeric_grad(loss, table), what="embeddings")


def test_embedding_backward_accumulates_into_grad(rng):
    layer = layers.Embedding(4, 2)
    ids = np.array([[1, 1, 3]])
    _, ctx = layer.forward(ids, training=True)
    dy = np.ones((1, 3, 2), np.float32)
    layer.embeddings.grad[...] = 10.0
    layer.backward(ctx, dy, need_dx=False)
    np.testing.assert_array_equal(layer.embeddings.grad, [[10, 10], [12, 12], [10, 10], [11, 11]])


# n * d from tiny to past the threading threshold; d around the 16-column blocks.
@pytest.mark.parametrize("n, v, d", [(0, 3, 5), (1, 1, 1), (9, 100, 17), (1000, 7, 33), (513, 4096, 5), (4099, 50, 64), (2100, 3000, 130)])
@pytest.mark.parametrize("id_dtype", [np.int64, np.int32, np.float32, np.uint16, np.float64])
def test_ops_embedding_and_grad_match_float64(n, v, d, id_dtype, num_threads, rng):
    ids = rng.integers(0, v, n).astype(id_dtype)
    table = rng.standard_normal((v, d)).astype(np.float32)
    np.testing.assert_array_equal(ops.embedding(table, ids), table[ids.astype(np.int64)])
    dy = rng.standard_normal((n, d)).astype(np.float32)
    grad = rng.standard_normal((v, d)).astype(np.float32)
    want = grad.astype(np.float64) + _ref_scatter(v, d, ids.astype(np.int64), dy)
    assert ops.embedding_grad(grad, ids, dy) is grad
    np.testing.assert_allclose(grad, want, rtol=1e-5, atol=1e-5)


def test_ops_embedding_grad_same_on_any_thread_count(restore_num_threads, rng):
    ids = rng.integers(0, 30, 5000)
    dy = rng.standard_normal((5000, 96)).astype(np.float32)
    results = []
    for n in (1, 2):
        pynncore.set_num_threads(n)
        results.append(ops.embedding_grad(np.zeros((30, 96), np.float32), ids, dy))
    np.testing.assert_array_equal(results[0], results[1])


def test_ops_embedding_errors_write_nothing():
    table = np.ones((4, 3), np.float32)
    for bad, text in (([0, 4], "4 at flat position 1"), ([[1, -2]], "-2 at flat position 1"), (np.array([0.0, 2.5], np.float32), "2.5 at flat position 1"), (np.array([np.nan], np.float32), "nan at flat position 0"), (np.array([3, 2**64 - 1], np.uint64), "18446744073709551615"), (np.array([1e30]), "1000000000000000019884624838656")):
        with pytest.raises(ValueError, match=rf"embedding: expected integer ids in \[0, 4\)\. Received: {text}"):
            ops.embedding(table, bad)
        grad = np.zeros((4, 3), np.float32)
        with pytest.raises(ValueError, match=rf"embedding_grad: expected integer ids in \[0, 4\)\. Received: {text}"):
            ops.embedding_grad(grad, bad, np.ones((np.size(bad), 3), np.float32))
        assert not grad.any()
    with pytest.raises(TypeError, match="embedding: expected integer ids. Received: dtype=<U1"):
        ops.embedding(table, ["a"])
    with pytest.raises(ValueError, match="embedding: table must be 2-D"):
        ops.embedding(np.ones(3), [0])
    with pytest.raises(ValueError, match="embedding_grad: grad must be a C-contiguous float32"):
        ops.embedding_grad(np.zeros((4, 3)), [0], np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"embedding_grad: dy must have shape \(2, 3\)"):
        ops.embedding_grad(np.zeros((4, 3), np.float32), [0, 1], np.ones((2, 2)))


def test_core_embedding_checks_arrays():
    from pynncore import _core

    table = np.ones((4, 3), np.float32)
    ids = np.array([1, 2])
    with pytest.raises(ValueError, match=r"embedding_lookup: out must have shape \(2, 3\)"):
        _core.embedding_lookup(table, ids, np.empty((3, 3), np.float32))
    with pytest.raises(TypeError, match="embedding_lookup: ids must have dtype float32, int32 or int64"):
        _core.embedding_lookup(table, ids.astype(np.int16), np.empty((2, 3), np.float32))
    with pytest.raises(ValueError, match="embedding_lookup: out shares memory"):
        _core.embedding_lookup(table, ids, table[:2])
    with pytest.raises(ValueError, match="embedding_grad: grad is read-only"):
        ro = np.zeros((4, 3), np.float32)
        ro.flags.writeable = False
        _core.embedding_grad(ro, ids, np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="embedding_grad: dy must be C-contiguous"):
        _core.embedding_grad(np.zeros((4, 3), np.float32), ids, np.ones((3, 2), np.float32).T)
    with pytest.raises(TypeError, match="embedding_grad: grad must have dtype float32"):
        _core.embedding_grad(np.zeros((4, 3)), ids, np.ones((2, 3), np.float32))


def test_embedding_frozen_layer_leaves_grad_untouched():
    layer = layers.Embedding(4, 2, trainable=False)
    _, ctx = layer.forward(np.array([[1, 2]]), training=True)
    layer.backward(ctx, np.ones((1, 2, 2), np.float32))
    assert not layer.embeddings.grad.any()


# -- Embedding errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ids, match",
    [
        (np.array([[0, 5]]), r"Embedding 'emb': expected integer ids in \[0, 5\)\. Received: 5 at flat position 1 of ids with shape \(1, 2\)"),
        (np.array([[-1, 2]], np.int32), r"Embedding 'emb'.*\[0, 5\).*Received: -1 at"),
        (np.array([[1.5, 2.0]]), r"Embedding 'emb': expected integer ids.*Received: 1\.5 at"),
        (np.array([[2.0, 1.5]], np.float32), r"Embedding 'emb': expected integer ids.*Received: 1\.5 at flat position 1"),
        (np.array([[np.nan, 2.0]]), r"Embedding 'emb'.*Received: nan at"),
        (np.array([[np.inf]], np.float32), r"Embedding 'emb'.*Received: inf at"),
        (np.array([[2**40]]), r"Embedding 'emb'.*Received: 1099511627776 at"),
    ],
)
def test_embedding_rejects_bad_ids(ids, match):
    layer = layers.Embedding(5, 2, name="emb")
    with pytest.raises(ValueError, match=match):
        layer(ids)
    with pytest.raises(ValueError, match=match):
        layer.forward(ids, training=True)


def test_embedding_rejects_non_numeric_ids():
    with pytest.raises(TypeError, match="Embedding 'emb2': expected integer ids. Received: dtype=<U1"):
        layers.Embedding(5, 2, name="emb2")(np.array([["a"]]))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"input_dim": 0, "output_dim": 2}, "input_dim must be a positive integer"),
        ({"input_dim": 3, "output_dim": -1}, "output_dim must be a positive integer"),
        ({"input_dim": 2.5, "output_dim": 2}, "input_dim must be a positive integer"),
        ({"input_dim": 3, "output_dim": 2, "input_length": 0}, "input_length must be a positive integer"),
        ({"input_dim": 3, "output_dim": 2, "weights": [np.zeros((2, 2))]}, r"weights must be a list holding one matrix of shape \(3, 2\)"),
    ],
)
def test_embedding_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        layers.Embedding(**kwargs)


def test_embedding_in_model_rejects_out_of_range_ids():
    model = Sequential([layers.Embedding(4, 2, input_length=3, name="tok"), layers.Flatten(), layers.Dense(1)])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match=r"Embedding 'tok'.*\[0, 4\)\. Received: 4 at"):
        model.fit(np.array([[0, 1, 4]]), np.zeros((1, 1)), verbose=0)
    with pytest.raises(ValueError, match=r"Embedding 'tok': expected integer ids.*Received: 0\.5"):
        model.predict(np.array([[0, 1, 0.5]]), verbose=0)


# -- masks -------------------------------------------------------------------------------------


def test_embedding_mask_zero():
    ids = np.array([[3, 1, 0, 0], [2, 0, 1, 0]])
    assert layers.Embedding(4, 2).compute_mask(ids) is None
    np.testing.assert_array_equal(layers.Embedding(4, 2, mask_zero=True).compute_mask(ids), ids != 0)


def test_masking_mask_zeroes_and_gradient(rng):
    x = rng.standard_normal((3, 5, 4)).astype(np.float32)
    x[0, 3:] = 0.0
    x[1, 1] = 0.0
    x[2, 2, :2] = 0.0  # partly zero: kept
    layer = layers.Masking()
    keep = np.any(x != 0, axis=-1)
    np.testing.assert_array_equal(layer.compute_mask(x), keep)
    y, ctx = layer.forward(x, training=True)
    np.testing.assert_array_equal(y, x * keep[..., None])
    dy = rng.standard_normal(x.shape).astype(np.float32)
    np.testing.assert_array_equal(layer.backward(ctx, dy), dy * keep[..., None])
    assert layer.backward(ctx, dy, need_dx=False) is None


def test_masking_custom_value(rng):
    x = rng.standard_normal((2, 3, 2)).astype(np.float32)
    x[1, 2] = -1.0
    layer = layers.Masking(mask_value=-1.0)
    np.testing.assert_array_equal(layer.compute_mask(x), [[True] * 3, [True, True, False]])
    np.testing.assert_array_equal(layer(x)[1, 2], [0.0, 0.0])


def test_masking_errors():
    with pytest.raises(ValueError, match="Masking 'mk': mask_value must be a number"):
        layers.Masking("x", name="mk")
    with pytest.raises(ValueError, match=r"Masking 'mk1': expected an input of rank >= 2.*shape=\(3,\)"):
        layers.Masking(name="mk1")(np.ones(3))


class _MaskedSum(layers.Layer):
    """Sum over the unmasked timesteps of (N, T, F)."""

    consumes_mask = True

    def forward(self, x, training=False, mask=None):
        w = np.ones(x.shape[:2], np.float32) if mask is None else mask.astype(np.float32)
        return (x * w[..., None]).sum(1), (w if training else None)

    def backward(self, ctx, dy, need_dx=True):
        return np.repeat(dy[:, None, :], ctx.shape[1], axis=1) * ctx[..., None]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


@pytest.mark.parametrize("functional", [False, True])
def test_mask_zero_end_to_end_padded_equals_unpadded(functional, rng):
    emb = layers.Embedding(9, 3, mask_zero=True)
    if functional:
        inp = pynncore.Input((6,))
        model = pynncore.Model(inp, layers.Dense(2)(_MaskedSum()(emb(inp))))
    else:
        model = Sequential([pynncore.Input((6,)), emb, _MaskedSum(), layers.Dense(2)])
    seqs = [rng.integers(1, 9, n) for n in (6, 1, 4, 3)]
    padded = np.zeros((len(seqs), 6))
    for i, s in enumerate(seqs):
        padded[i, : len(s)] = s
    batch = model.predict(padded, verbose=0)
    table = emb.get_weights()[0].astype(np.float64)
    k, b = (w.astype(np.float64) for w in model.layers[-1].get_weights())
    for i, s in enumerate(seqs):
        np.testing.assert_allclose(batch[i], table[s].sum(0) @ k + b, rtol=1e-5, atol=1e-6)
    # Training through the masked path: padding rows of the table get no gradient.
    model.compile("sgd", "mse")
    before = emb.get_weights()[0].copy()
    model.fit(padded, rng.standard_normal((4, 2)), epochs=1, batch_size=4, verbose=0)
    after = emb.get_weights()[0]
    np.testing.assert_array_equal(after[0], before[0])
    assert not np.array_equal(after[1:], before[1:])


# -- training, config, saving ----------------------------------------------------------------


def test_embedding_regularizer_enters_the_loss(rng):
    model = Sequential([layers.Embedding(5, 2, embeddings_regularizer="l2", input_length=2), layers.Flatten(), layers.Dense(1, kernel_initializer="zeros")])
    model.compile("sgd", "mse")
    x, y = np.array([[1, 2]]), np.zeros((1, 1))
    table = model.layers[0].get_weights()[0].astype(np.float64)
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), 0.01 * (table**2).sum(), rtol=1e-5)


def test_embedding_model_learns_token_sums(rng):
    pynncore.utils.set_random_seed(3)
    x = rng.integers(0, 6, (256, 4))
    y = (x.sum(1, keepdims=True) / 10.0).astype(np.float32)
    model = Sequential([layers.Embedding(6, 4, input_length=4), layers.Flatten(), layers.Dense(1)])
    model.compile(pynncore.optimizers.Adam(0.05), "mse")
    hist = model.fit(x, y, epochs=30, batch_size=32, verbose=0)
    assert hist.history["loss"][-1] < 0.05 * hist.history["loss"][0]


def test_embedding_config_round_trip():
    layer = layers.Embedding(7, 3, mask_zero=True, embeddings_regularizer="l1", input_length=5, name="e7")
    cfg = layer.get_config()
    assert cfg["input_dim"] == 7 and cfg["output_dim"] == 3 and cfg["mask_zero"] is True
    assert cfg["batch_input_shape"] == [None, 5]
    clone = layers.Embedding.from_config(cfg)
    assert clone.get_config() == cfg
    assert clone._input_shape_arg == (5,)
    m = layers.Masking(mask_value=2.5, name="m7")
    assert layers.Masking.from_config(m.get_config()).get_config() == m.get_config()


def test_embedding_save_load_round_trip(tmp_path, rng):
    model = Sequential([layers.Embedding(11, 4, mask_zero=True, input_length=6), layers.Masking(), _MaskedSumRegistered(), layers.Dense(3)])
    model.compile("adam", "mse")
    x = rng.integers(0, 11, (8, 6))
    model.fit(x, rng.standard_normal((8, 3)), epochs=1, verbose=0)
    path = str(tmp_path / "emb.pnc")
    model.save(path)
    loaded = pynncore.load_model(path)
    assert [type(l).__name__ for l in loaded.layers] == ["Embedding", "Masking", "_MaskedSumRegistered", "Dense"]
    assert loaded.layers[0].mask_zero is True
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pynncore.saving.register_serializable("tests")
class _MaskedSumRegistered(_MaskedSum):
    pass


# -- Keras 3 parity ----------------------------------------------------------------------------


@pytest.fixture
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_embedding_and_masking_match_keras(keras, rng):
    ids = rng.integers(0, 10, (4, 7))
    ids[:, 5:] = 0
    k = keras.layers.Embedding(10, 6, mask_zero=True)
    k.build((None, 7))
    p = layers.Embedding(10, 6, mask_zero=True)
    p.set_weights([np.asarray(w) for w in k.get_weights()])
    ky = keras.ops.convert_to_numpy(k(ids))
    np.testing.assert_array_equal(p(ids), ky)
    np.testing.assert_array_equal(p.compute_mask(ids), keras.ops.convert_to_numpy(k.compute_mask(ids)))
    assert p.get_config()["embeddings_initializer"] == "uniform"
    x = rng.standard_normal((3, 5, 2)).astype(np.float32)
    x[0, 4] = 0.5
    km = keras.layers.Masking(mask_value=0.5)
    pm = layers.Masking(mask_value=0.5)
    np.testing.assert_array_equal(pm(x), keras.ops.convert_to_numpy(km(x)))
    np.testing.assert_array_equal(pm.compute_mask(x), keras.ops.convert_to_numpy(km.compute_mask(x)))
