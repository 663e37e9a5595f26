"""GroupQueryAttention: float64 reference, Keras 3 parity (outputs, scores, masks, causal mask,
training), finite-difference gradients, config and save/load round trips, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import pynncore
from pynncore import layers as L
from test_attention import _check_grads, _mask, _np, _softmax64


def ref_gqa(q, v, k, weights, hq, hkv, hd, *, use_bias=True, keep=None, drop=None):
    """Keras's GroupQueryAttention in float64: key/value heads repeated ``hq // hkv`` times;
    ``keep`` a boolean (N, T, S) or None, ``drop`` a dropout multiplier (N, Hq, T, S) or None."""
    w = [np.asarray(a, np.float64) for a in weights]
    if use_bias:
        wq, bq, wk, bk, wv, bv, wo, bo = w
    else:
        (wq, wk, wv, wo), bq, bk, bv, bo = w, 0.0, 0.0, 0.0, 0.0
    q, v = np.asarray(q, np.float64), np.asarray(v, np.float64)
    k = v if k is None else np.asarray(k, np.float64)
    Q = np.einsum("btm,muh->btuh", q, wq) + bq
    K = np.repeat(np.einsum("bsm,mvh->bsvh", k, wk) + bk, hq // hkv, axis=2)
    V = np.repeat(np.einsum("bsm,mvh->bsvh", v, wv) + bv, hq // hkv, axis=2)
    s = np.einsum("btuh,bsuh->buts", Q / np.sqrt(hd), K)
    if keep is not None:
        s = np.where(keep[:, None], s, -1e9)
    p = _softmax64(s)
    if keep is not None:
        p = np.where(keep[:, None], p, 0.0)
    c = np.einsum("buts,bsuh->btuh", p if drop is None else p * drop, V)
    return np.einsum("btuh,uhm->btm", c, wo) + bo, p


CASES = [
    {"head_dim": 3, "num_query_heads": 4, "num_key_value_heads": 2},
    {"head_dim": 2, "num_query_heads": 3, "num_key_value_heads": 1, "use_bias": False},
    {"head_dim": 2, "num_query_heads": 2, "num_key_value_heads": 2},
    {"head_dim": 1, "num_query_heads": 6, "num_key_value_heads": 3, "sliding_window": 2},
]


def _build(cfg, q, v, k, rng):
    layer = L.GroupQueryAttention(**cfg)
    layer(q, v, key=k)
    weights = [rng.standard_normal(w.shape).astype(np.float32) * 0.5 for w in layer.get_weights()]
    layer.set_weights(weights)
    return layer, weights


def _band(t, s, w):
    return np.abs(np.arange(t)[:, None] - np.arange(s)[None, :]) < w


@pytest.mark.parametrize("with_key", [False, True])
@pytest.mark.parametrize("masks", ["none", "query_value", "key", "attention", "causal", "all"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_matches_reference_and_keras(case, masks, with_key, rng):
    keras = pytest.importorskip("keras")
    cfg = CASES[case]
    n, t, s, d = 2, 4, 5 if masks != "causal" else 4, 6
    q = rng.standard_normal((n, t, d)).astype(np.float32)
    v = rng.standard_normal((n, s, d)).astype(np.float32)
    k = rng.standard_normal((n, s, 3)).astype(np.float32) if with_key else None
    layer, weights = _build(cfg, q, v, k, rng)
    call: dict = {"return_attention_scores": True}
    keep = np.ones((n, t, s), bool)
    if masks in ("query_value", "all"):
        call["query_mask"], call["value_mask"] = _mask(rng, n, t), _mask(rng, n, s)
        keep &= call["query_mask"][:, :, None] & call["value_mask"][:, None, :]
    if masks == "key" and with_key:
        call["key_mask"] = _mask(rng, n, s)
        keep &= call["key_mask"][:, None, :]
    if masks in ("attention", "all"):
        am = rng.random((n, t, s)) > 0.3
        am[:, :, 0] = True
        call["attention_mask"] = am
        keep &= am
    if masks in ("causal", "all"):
        call["use_causal_mask"] = True
        keep &= np.tril(np.ones((t, s), bool))[None]
    if "sliding_window" in cfg:
        keep &= _band(t, s, cfg["sliding_window"])[None]
    out, scores = layer(q, v, key=k, **call)
    hq, hkv, hd = cfg["num_query_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    want, want_p = ref_gqa(q, v, k, weights, hq, hkv, hd, use_bias=cfg.get("use_bias", True), keep=keep)
    assert out.shape == (n, t, d) and scores.shape == (n, hq, t, s)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(scores, want_p, rtol=1e-4, atol=1e-6)

    klayer = keras.layers.GroupQueryAttention(**cfg)
    klayer(q, v, key=k)
    klayer.set_weights(weights)
    kout, kscores = klayer(q, v, key=k, **call)
    np.testing.assert_allclose(out, _np(kout), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(scores, _np(kscores), rtol=1e-4, atol=1e-6)
    # without the scores Keras takes its fused path; the output is the same
    call.pop("return_attention_scores")
    if "query_mask" not in call:
        np.testing.assert_allclose(layer(q, v, key=k, **call), _np(klayer(q, v, key=k, **call)), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("with_key", [False, True])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_gradients(case, with_key, rng):
    cfg = CASES[case]
    n, t, s = 2, 3, 4
    inputs = [rng.standard_normal((n, t, 4)).astype(np.float32), rng.standard_normal((n, s, 3)).astype(np.float32)]
    if with_key:
        inputs.append(rng.standard_normal((n, s, 2)).astype(np.float32))
    layer = L.GroupQueryAttention(**cfg, bias_initializer="random_normal")
    layer(inputs[0], inputs[1], key=inputs[2] if with_key else None)
    qm, vm = _mask(rng, n, t), _mask(rng, n, s)
    keep = qm[:, :, None] & vm[:, None, :] & np.tril(np.ones((t, s), bool))[None]
    if "sliding_window" in cfg:
        keep &= _band(t, s, cfg["sliding_window"])[None]
    hq, hkv, hd = cfg["num_query_heads"], cfg["num_key_value_heads"], cfg["head_dim"]

    def ref_of(xs, ws):
        return ref_gqa(xs[0], xs[1], xs[2] if len(xs) > 2 else None, ws, hq, hkv, hd,
                       use_bias=cfg.get("use_bias", True), keep=keep)

    _check_grads(layer, inputs, ref_of, {"mask": [qm, vm], "use_causal_mask": True}, rng)


def test_gradients_through_dropout(rng):
    n, t, s = 2, 3, 4
    inputs = [rng.standard_normal((n, t, 4)).astype(np.float32), rng.standard_normal((n, s, 4)).astype(np.float32)]
    held: dict = {}
    layer = L.GroupQueryAttention(2, 4, 2, dropout=0.3, seed=5, bias_initializer="random_normal")
    layer(inputs[0], inputs[1])
    _check_grads(
        layer, inputs,
        lambda xs, ws: ref_gqa(xs[0], xs[1], None, ws, 4, 2, 2, drop=held["drop"]),
        {}, rng, on_ctx=lambda ctx: held.update(drop=ctx[5].reshape(n, 4, t, s).astype(np.float64)),
    )
    assert (held["drop"] == 0).any()


def test_dropout_training_only_and_seeded(rng):
    q, v = rng.standard_normal((2, 3, 4)).astype(np.float32), rng.standard_normal((2, 5, 4)).astype(np.float32)
    a, b = L.GroupQueryAttention(3, 2, 1, dropout=0.5, seed=7), L.GroupQueryAttention(3, 2, 1, dropout=0.5, seed=7)
    a(q, v)
    b(q, v)
    b.set_weights(a.get_weights())
    np.testing.assert_array_equal(a(q, v), a(q, v, training=False))
    (ya, pa), _ = a.forward([q, v], training=True, return_attention_scores=True)
    (yb, _), _ = b.forward([q, v], training=True, return_attention_scores=True)
    np.testing.assert_array_equal(ya, yb)
    _, p_eval = a(q, v, return_attention_scores=True)
    np.testing.assert_allclose(pa, p_eval, rtol=1e-6)  # scores are returned before dropout
    assert not np.allclose(ya, a(q, v))


def test_train_on_batch_matches_keras(rng):
    keras = pytest.importorskip("keras")

    def build(lib):
        a = lib.Input((5, 4))
        b = lib.Input((3, 6))
        x = lib.layers.Dense(6)(a)
        x = lib.layers.GroupQueryAttention(3, 4, 2)(x, b, use_causal_mask=True)
        x = lib.layers.GlobalAveragePooling1D()(x)
        out = lib.layers.Dense(2)(x)
        model = lib.Model([a, b], out)
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse")
        return model

    ours, theirs = build(pynncore), build(keras)
    theirs.set_weights(ours.get_weights())
    xs = [rng.standard_normal((4, 5, 4)).astype(np.float32), rng.standard_normal((4, 3, 6)).astype(np.float32)]
    y = rng.standard_normal((4, 2)).astype(np.float32)
    np.testing.assert_allclose(ours.predict(xs, verbose=0), _np(theirs(xs)), rtol=1e-5, atol=1e-6)
    for _ in range(3):
        ours.train_on_batch(xs, y)
        theirs.train_on_batch(xs, y)
    for a, b in zip(ours.get_weights(), [_np(v.value) for v in theirs.weights]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_embedding_mask_in_model_matches_keras(rng):
    keras = pytest.importorskip("keras")

    def build(lib):
        tokens = lib.Input((6,))
        x = lib.layers.Embedding(10, 4, mask_zero=True)(tokens)
        x = lib.layers.GroupQueryAttention(2, 2, 1)(x, x, return_attention_scores=False)
        x = lib.layers.GlobalAveragePooling1D()(x)
        return lib.Model(tokens, lib.layers.Dense(2)(x))

    ours = build(pynncore)
    x = rng.integers(1, 10, size=(3, 6))
    x[1, 2:] = 0
    x = x.astype(np.float32)
    with warnings.catch_warnings():
        # Keras warns that its inner EinsumDense drops the query's mask; the mask is consumed first.
        warnings.filterwarnings("ignore", message=".*does not support masking", category=UserWarning)
        theirs = build(keras)
        theirs.set_weights(ours.get_weights())
        want = _np(theirs(x))
    np.testing.assert_allclose(ours.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)


def test_symbolic_shapes_and_flash_attention():
    q, v = pynncore.Input((4, 6)), pynncore.Input((5, 6))
    out, scores = L.GroupQueryAttention(2, 4, 2)(q, v, return_attention_scores=True)
    assert out.shape == (None, 4, 6) and scores.shape == (None, 4, 4, 5)
    x = np.ones((2, 4, 6), np.float32)
    for flash in (None, True, False):
        layer = L.GroupQueryAttention(2, 4, 2, flash_attention=flash, seed=1)
        assert layer(x, x).shape == (2, 4, 6)
        assert layer.get_config()["flash_attention"] is flash
    with pytest.raises(ValueError, match="dropout is not supported with flash_attention"):
        L.GroupQueryAttention(2, 4, 2, dropout=0.1, flash_attention=True)
    with pytest.raises(ValueError, match="return_attention_scores is not supported"):
        L.GroupQueryAttention(2, 4, 2, flash_attention=True)(x, x, return_attention_scores=True)


def test_config_round_trip():
    layer = L.GroupQueryAttention(
        3, 4, 2, dropout=0.1, use_bias=False, sliding_window=3, flash_attention=False,
        kernel_initializer="he_normal", kernel_regularizer="l2", bias_constraint="non_neg", seed=4, name="gqa",
    )
    config = layer.get_config()
    assert config["head_dim"] == 3 and config["num_query_heads"] == 4 and config["num_key_value_heads"] == 2
    again = L.GroupQueryAttention.from_config(config)
    assert again.get_config() == config
    assert L.GroupedQueryAttention is L.GroupQueryAttention
    from pynncore.saving import deserialize_layer

    # Keras writes the class name GroupedQueryAttention
    loaded = deserialize_layer({"class_name": "GroupedQueryAttention", "config": dict(config)})
    assert type(loaded) is L.GroupQueryAttention and loaded.get_config() == config


def test_save_load_round_trip(tmp_path, rng):
    q, v = pynncore.Input((4, 3)), pynncore.Input((5, 3))
    x = L.GroupQueryAttention(2, 4, 1, sliding_window=2)(L.Dense(3)(q), v, use_causal_mask=True)
    model = pynncore.Model([q, v], L.Dense(2)(L.GlobalAveragePooling1D()(x)))
    model.compile(optimizer="adam", loss="mse")
    xs = [rng.standard_normal((3, 4, 3)).astype(np.float32), rng.standard_normal((3, 5, 3)).astype(np.float32)]
    model.train_on_batch(xs, np.zeros((3, 2), np.float32))
    path = tmp_path / "m.pnc"
    model.save(str(path))
    loaded = pynncore.load_model(str(path))
    np.testing.assert_array_equal(loaded.predict(xs, verbose=0), model.predict(xs, verbose=0))
    layer = next(l for l in loaded.layers if isinstance(l, L.GroupQueryAttention))
    assert layer.sliding_window == 2 and layer.num_key_value_heads == 1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"head_dim": 2, "num_query_heads": 3, "num_key_value_heads": 2}, "num_query_heads must be divisible by num_key_value_heads"),
        ({"head_dim": 0, "num_query_heads": 2, "num_key_value_heads": 1}, "head_dim must be a positive integer"),
        ({"head_dim": 2, "num_query_heads": "4", "num_key_value_heads": 1}, "num_query_heads must be a positive integer"),
        ({"head_dim": 2, "num_query_heads": 2, "num_key_value_heads": 0}, "num_key_value_heads must be a positive integer"),
        ({"head_dim": 2, "num_query_heads": 2, "num_key_value_heads": 1, "dropout": 1.0}, "dropout must be a number"),
        ({"head_dim": 2, "num_query_heads": 2, "num_key_value_heads": 1, "sliding_window": 0}, "sliding_window must be"),
        ({"head_dim": 2, "num_query_heads": 2, "num_key_value_heads": 1, "flash_attention": "yes"}, "flash_attention must be"),
        ({"head_dim": 2, "num_query_heads": 2, "num_key_value_heads": 1, "seed": -1}, "seed must be"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        L.GroupQueryAttention(**kwargs)


def test_bad_call_inputs(rng):
    layer = L.GroupQueryAttention(2, 2, 1, name="gqa_bad")
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    with pytest.raises(ValueError, match="expected query of rank 3 .*Received: shape=\\(None, 4\\)"):
        layer(x[:, 0], x)
    with pytest.raises(ValueError, match="expected value of rank 3"):
        layer(x, x[None])
    with pytest.raises(ValueError, match="expected a `value` input"):
        layer(x)
    layer(x, x)
    with pytest.raises(ValueError, match="was built for query with 4 features. Received: shape=\\(2, 3, 5\\)"):
        layer(np.ones((2, 3, 5), np.float32), x)
    with pytest.raises(ValueError, match="value and key must have the same number of timesteps"):
        layer(x, x, key=np.ones((2, 5, 4), np.float32))
    with pytest.raises(ValueError, match="same batch size"):
        layer(x, x[:1])
    with pytest.raises(ValueError, match="expected attention_mask of shape \\(2, 3, 3\\). Received: shape=\\(3, 3\\)"):
        layer(x, x, attention_mask=np.ones((3, 3), bool))
    with pytest.raises(ValueError, match="expected query mask of shape \\(2, 3\\)"):
        layer(x, x, query_mask=np.ones((2, 4), bool))
    with pytest.raises(ValueError, match="last dimension of query and value must be equal"):
        L.GroupQueryAttention(2, 2, 1)(pynncore.Input((3, 4)), pynncore.Input((3, 5)))
    with pytest.raises(TypeError, match="real numeric"):
        layer(np.array([["a"]]), x)
