"""Attention, AdditiveAttention and MultiHeadAttention: float64 references, Keras 3 parity,
finite-difference gradients, training parity, config and save/load round trips, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import pynncore
from pynncore import layers as L
from _gradcheck import assert_grad_close, numeric_grad

# -- float64 references ----------------------------------------------------------------------


def _softmax64(s):
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def ref_dense_attention(q, v, k=None, *, mode="dot", scale=None, concat_w=None, add_scale=None,
                        q_mask=None, v_mask=None, causal=False, drop=None):
    """Keras's Attention (mode dot/concat) and AdditiveAttention (mode additive) in float64."""
    q, v = np.asarray(q, np.float64), np.asarray(v, np.float64)
    k = v if k is None else np.asarray(k, np.float64)
    if mode == "dot":
        s = np.einsum("bid,bjd->bij", q, k)
        if scale is not None:
            s = s * scale
    elif mode == "concat":
        u = q[:, :, None, :] + k[:, None, :, :]
        s = concat_w * np.tanh(u * (1.0 if scale is None else scale)).sum(-1)
    else:
        t = np.tanh(q[:, :, None, :] + k[:, None, :, :])
        s = (t * add_scale).sum(-1) if add_scale is not None else t.sum(-1)
    keep = np.ones(s.shape, bool)
    if v_mask is not None:
        keep &= np.asarray(v_mask, bool)[:, None, :]
    if causal:
        keep &= np.tril(np.ones(s.shape[1:], bool))[None]
    s = np.where(keep, s, s - 1e9)
    p = _softmax64(s)
    out = np.einsum("bij,bjd->bid", p if drop is None else p * drop, v)
    if drop is not None:
        p = p * drop
    if q_mask is not None:
        out = out * np.asarray(q_mask, bool)[:, :, None]
    return out, p


def _mha_weights64(weights, use_bias):
    """``(wq, bq, wk, bk, wv, bv, wo, bo)`` in float64, zero biases without ``use_bias``."""
    w = [np.asarray(a, np.float64) for a in weights]
    if use_bias:
        return tuple(w)
    wq, wk, wv, wo = w
    return wq, 0.0, wk, 0.0, wv, 0.0, wo, 0.0


def ref_mha(q, v, k, weights, num_heads, key_dim, *, use_bias=True, mask=None, drop=None):
    """Keras's MultiHeadAttention in float64; ``mask`` is a boolean (N, T, S) or None,
    ``drop`` a fixed dropout multiplier (N, H, T, S) or None."""
    wq, bq, wk, bk, wv, bv, wo, bo = _mha_weights64(weights, use_bias)
    k = v if k is None else k
    Q = np.einsum("btd,dhk->bthk", q, wq) + bq
    K = np.einsum("bsd,dhk->bshk", k, wk) + bk
    V = np.einsum("bsd,dhk->bshk", v, wv) + bv
    s = np.einsum("bthk,bshk->bhts", Q / np.sqrt(key_dim), K)
    if mask is not None:
        s = np.where(np.asarray(mask, bool)[:, None], s, -1e9)
    p = _softmax64(s)
    if mask is not None:
        p = np.where(np.asarray(mask, bool)[:, None], p, 0.0)
    c = np.einsum("bhts,bshk->bthk", p if drop is None else p * drop, V)
    return np.einsum("bthk,hko->bto", c, wo) + bo, p


def _np(t):
    """A Keras (torch backend) output as a numpy array."""
    return t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)


def _mask(rng, n, t):
    m = rng.random((n, t)) > 0.3
    m[:, 0] = True
    return m


# -- forward against the references and Keras -------------------------------------------------

DENSE_CASES = [
    ("dot", {}),
    ("dot", {"use_scale": True}),
    ("concat", {"score_mode": "concat"}),
    ("concat", {"score_mode": "concat", "use_scale": True}),
    ("additive", {"use_scale": True}),
    ("additive", {"use_scale": False}),
]


def _make_dense(mode, kwargs):
    return L.AdditiveAttention(**kwargs) if mode == "additive" else L.Attention(**kwargs)


def _ref_kwargs(layer, mode):
    if mode == "additive":
        return {"mode": mode, "add_scale": None if layer.scale is None else layer.scale.value.astype(np.float64)}
    kw = {"mode": mode, "scale": None if layer.scale is None else float(layer.scale.value)}
    if mode == "concat":
        kw["concat_w"] = float(layer.concat_score_weight.value)
    return kw


def _randomize(layer, rng):
    layer.set_weights([rng.uniform(0.5, 1.5, size=w.shape).astype(np.float32) for w in layer.get_weights()])


@pytest.mark.parametrize("with_key", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("case", range(len(DENSE_CASES)))
def test_dense_attention_matches_reference_and_keras(case, causal, masked, with_key, rng):
    keras = pytest.importorskip("keras")
    mode, kwargs = DENSE_CASES[case]
    n, tq, tv, d, dv = 3, 4, 5, 3, 2
    q = rng.standard_normal((n, tq, d)).astype(np.float32)
    v = rng.standard_normal((n, tv, dv if with_key else d)).astype(np.float32)
    k = rng.standard_normal((n, tv, d)).astype(np.float32) if with_key else None
    inputs = [q, v] + ([k] if with_key else [])
    layer = _make_dense(mode, kwargs)
    layer(inputs)
    _randomize(layer, rng)
    mask = [_mask(rng, n, tq), _mask(rng, n, tv)] if masked else None
    call = {"return_attention_scores": True, "use_causal_mask": causal}
    if mask is not None:
        call["mask"] = mask
    out, scores = layer(inputs, **call)
    want, want_p = ref_dense_attention(q, v, k, q_mask=mask[0] if masked else None,
                                       v_mask=mask[1] if masked else None, causal=causal,
                                       **_ref_kwargs(layer, mode))
    assert out.dtype == np.float32 and out.shape == want.shape
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(scores, want_p, rtol=1e-5, atol=1e-6)

    kcls = keras.layers.AdditiveAttention if mode == "additive" else keras.layers.Attention
    klayer = kcls(**kwargs)
    klayer(inputs)
    klayer.set_weights(layer.get_weights())
    kout, kscores = klayer(inputs, **call)
    np.testing.assert_allclose(out, _np(kout), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(scores, _np(kscores), rtol=1e-5, atol=1e-6)


MHA_CASES = [
    dict(num_heads=2, key_dim=3),
    dict(num_heads=3, key_dim=2, value_dim=4, output_shape=5),
    dict(num_heads=1, key_dim=4, use_bias=False),
]


@pytest.mark.parametrize("with_key", [False, True])
@pytest.mark.parametrize("masks", ["none", "query_value", "attention", "causal", "all"])
@pytest.mark.parametrize("case", range(len(MHA_CASES)))
def test_mha_matches_reference_and_keras(case, masks, with_key, rng):
    keras = pytest.importorskip("keras")
    cfg = MHA_CASES[case]
    n, t, s = 2, 4, 5 if masks != "causal" else 4
    q = rng.standard_normal((n, t, 6)).astype(np.float32)
    v = rng.standard_normal((n, s, 3)).astype(np.float32)
    k = rng.standard_normal((n, s, 7)).astype(np.float32) if with_key else None
    layer = L.MultiHeadAttention(**cfg)
    layer(q, v, key=k)
    weights = [rng.standard_normal(w.shape).astype(np.float32) * 0.5 for w in layer.get_weights()]
    layer.set_weights(weights)
    call: dict = {"return_attention_scores": True}
    kcall: dict = {"return_attention_scores": True}
    full = np.ones((n, t, s), bool)
    if masks in ("query_value", "all"):
        qm, vm = _mask(rng, n, t), _mask(rng, n, s)
        call["mask"] = [qm, vm]
        kcall.update(value_mask=vm)
        full &= qm[:, :, None] & vm[:, None, :]
    if masks in ("attention", "all"):
        am = rng.random((n, t, s)) > 0.3
        am[:, :, 0] = True
        call["attention_mask"] = kcall["attention_mask"] = am
        full &= am
    if masks in ("causal", "all"):
        call["use_causal_mask"] = kcall["use_causal_mask"] = True
        full &= np.tril(np.ones((t, s), bool))[None]
    out, scores = layer(q, v, key=k, **call)
    want, want_p = ref_mha(q, v, k, weights, cfg["num_heads"], cfg["key_dim"], use_bias=cfg.get("use_bias", True),
                           mask=None if masks == "none" else full)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(scores, want_p, rtol=1e-4, atol=1e-6)

    klayer = keras.layers.MultiHeadAttention(**cfg)
    klayer(q, v, key=k)
    klayer.set_weights(weights)
    kq = keras.ops.convert_to_tensor(q)
    if "mask" in call:
        # Keras reads the query mask from the query tensor, not from a call argument.
        from keras.src import backend as kbackend

        kbackend.set_keras_mask(kq, keras.ops.convert_to_tensor(call["mask"][0]))
    kout, kscores = klayer(kq, v, key=k, **kcall)
    np.testing.assert_allclose(out, _np(kout), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(scores, _np(kscores), rtol=1e-4, atol=1e-6)


# -- gradients ---------------------------------------------------------------------------------


def _check_grads(layer, inputs, ref_of, call, rng, on_ctx=None):
    """Input and weight gradients of ``sum(out * r) + sum(scores * r2)`` against finite
    differences of the float64 reference ``ref_of(inputs, weights) -> (out, scores)``;
    ``on_ctx(ctx)`` sees the training context first (to read a dropout mask)."""
    y, ctx = layer.forward(inputs, training=True, return_attention_scores=True, **call)
    if on_ctx is not None:
        on_ctx(ctx)
    r = [rng.standard_normal(a.shape) for a in y]
    for w in layer.weights:
        w.grad[...] = 0
    dxs = layer.backward(ctx, [a.astype(np.float32) for a in r])
    w64 = [w.value.astype(np.float64) for w in layer.weights]
    x64 = [np.asarray(a, np.float64) for a in inputs]

    def loss(xs, ws):
        outs = ref_of(xs, ws)
        return float(sum((o * ri).sum() for o, ri in zip(outs, r)))

    # every input, then every weight: (what, gradient from backward, position in x64 + w64)
    params = x64 + w64
    got = list(dxs) + [w.grad for w in layer.weights]
    names = [f"input {i}" for i in range(len(x64))] + [w.name for w in layer.weights]
    for i, (what, grad) in enumerate(zip(names, got)):
        def f(value, i=i):
            ps = list(params)
            ps[i] = value
            return loss(ps[: len(x64)], ps[len(x64):])

        assert_grad_close(grad, numeric_grad(f, params[i]), what=what)


@pytest.mark.parametrize("with_key", [False, True])
@pytest.mark.parametrize("case", range(len(DENSE_CASES)))
def test_dense_attention_gradients(case, with_key, rng):
    mode, kwargs = DENSE_CASES[case]
    n, tq, tv, d = 2, 3, 4, 3
    inputs = [rng.standard_normal((n, tq, d)).astype(np.float32), rng.standard_normal((n, tv, d)).astype(np.float32)]
    if with_key:
        inputs.append(rng.standard_normal((n, tv, d)).astype(np.float32))
    layer = _make_dense(mode, kwargs)
    layer(inputs)
    _randomize(layer, rng)
    mask = [_mask(rng, n, tq), _mask(rng, n, tv)]

    def ref_of(xs, ws):
        kw: dict = {"mode": mode}
        names = [w.name for w in layer.weights]
        if mode == "additive":
            kw["add_scale"] = ws[0] if ws else None
        else:
            kw["scale"] = ws[names.index("scale")] if "scale" in names else None
            kw["concat_w"] = ws[names.index("concat_score_weight")] if "concat_score_weight" in names else None
        return ref_dense_attention(xs[0], xs[1], xs[2] if len(xs) > 2 else None, q_mask=mask[0], v_mask=mask[1],
                                   causal=True, **kw)

    _check_grads(layer, inputs, ref_of, {"mask": mask, "use_causal_mask": True}, rng)


@pytest.mark.parametrize("with_key", [False, True])
@pytest.mark.parametrize("case", range(len(MHA_CASES)))
def test_mha_gradients(case, with_key, rng):
    cfg = MHA_CASES[case]
    n, t, s = 2, 3, 4
    inputs = [rng.standard_normal((n, t, 4)).astype(np.float32), rng.standard_normal((n, s, 3)).astype(np.float32)]
    if with_key:
        inputs.append(rng.standard_normal((n, s, 2)).astype(np.float32))
    layer = L.MultiHeadAttention(**cfg, bias_initializer="random_normal")
    layer(inputs[0], inputs[1], key=inputs[2] if with_key else None)
    qm, vm = _mask(rng, n, t), _mask(rng, n, s)
    full = qm[:, :, None] & vm[:, None, :] & np.tril(np.ones((t, s), bool))[None]

    def ref_of(xs, ws):
        return ref_mha(xs[0], xs[1], xs[2] if len(xs) > 2 else None, ws, cfg["num_heads"], cfg["key_dim"],
                       use_bias=cfg.get("use_bias", True), mask=full)

    _check_grads(layer, inputs, ref_of, {"mask": [qm, vm], "use_causal_mask": True}, rng)


# -- dropout -------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda: L.Attention(dropout=0.4, seed=3), lambda: L.AdditiveAttention(dropout=0.4, seed=3)])
def test_dense_attention_dropout_training_only_and_seeded(make, rng):
    q, v = rng.standard_normal((2, 3, 4)).astype(np.float32), rng.standard_normal((2, 5, 4)).astype(np.float32)
    a, b = make(), make()
    a([q, v])
    b([q, v])
    b.set_weights(a.get_weights())
    infer, p = a([q, v], return_attention_scores=True)
    ref, ref_p = a.forward([q, v], training=False, return_attention_scores=True)[0]
    np.testing.assert_array_equal(infer, ref)
    (ya, wa), ctx = a.forward([q, v], training=True, return_attention_scores=True)
    (yb, wb), _ = b.forward([q, v], training=True, return_attention_scores=True)
    np.testing.assert_array_equal(ya, yb)
    dropped = wa == 0
    assert dropped.any() and not dropped.all()
    np.testing.assert_allclose(wa[~dropped], p[~dropped] / 0.6, rtol=1e-6)
    np.testing.assert_allclose(ya, np.matmul(wa, v), rtol=1e-5, atol=1e-6)
    dq, dv = a.backward(ctx, [np.ones_like(ya), np.zeros_like(wa)])
    assert dq.shape == q.shape and dv.shape == v.shape


def test_mha_dropout_training_only_and_seeded(rng):
    q, v = rng.standard_normal((2, 3, 4)).astype(np.float32), rng.standard_normal((2, 5, 4)).astype(np.float32)
    a, b = L.MultiHeadAttention(2, 3, dropout=0.5, seed=7), L.MultiHeadAttention(2, 3, dropout=0.5, seed=7)
    a(q, v)
    b(q, v)
    b.set_weights(a.get_weights())
    np.testing.assert_array_equal(a(q, v), a(q, v, training=False))
    (ya, pa), ctx = a.forward([q, v], training=True, return_attention_scores=True)
    (yb, _), _ = b.forward([q, v], training=True, return_attention_scores=True)
    np.testing.assert_array_equal(ya, yb)
    _, p_eval = a(q, v, return_attention_scores=True)
    np.testing.assert_allclose(pa, p_eval, rtol=1e-6)  # scores are returned before dropout
    assert not np.allclose(ya, a(q, v))
    # the dropped backward matches finite differences through the fixed dropout mask
    drop = ctx[5]
    assert drop is not None and (drop == 0).any()


def test_gradients_through_dropout(rng):
    n, t, s = 2, 3, 4
    inputs = [rng.standard_normal((n, t, 4)).astype(np.float32), rng.standard_normal((n, s, 3)).astype(np.float32)]
    held: dict = {}
    mha = L.MultiHeadAttention(2, 2, dropout=0.3, seed=5, bias_initializer="random_normal")
    mha(inputs[0], inputs[1])
    _check_grads(
        mha, inputs,
        lambda xs, ws: ref_mha(xs[0], xs[1], None, ws, 2, 2, drop=held["drop"]),
        {}, rng, on_ctx=lambda ctx: held.update(drop=ctx[5]),
    )
    inputs[1] = rng.standard_normal((n, s, 4)).astype(np.float32)
    for layer, kw in ((L.Attention(use_scale=True, dropout=0.3, seed=5), {"mode": "dot"}),
                      (L.AdditiveAttention(dropout=0.3, seed=5), {"mode": "additive"})):
        layer(inputs)
        _randomize(layer, rng)

        def ref_of(xs, ws, kw=kw):
            extra = {"scale": ws[0]} if kw["mode"] == "dot" else {"add_scale": ws[0]}
            return ref_dense_attention(xs[0], xs[1], drop=held["drop"], **kw, **extra)

        _check_grads(layer, inputs, ref_of, {}, rng, on_ctx=lambda ctx: held.update(drop=ctx[2]))


# -- training parity with Keras ------------------------------------------------------------------


def _assert_same_training(ours, theirs, xs, y, steps=3):
    """``steps`` train_on_batch calls of both models leave the same weights."""
    for _ in range(steps):
        ours.train_on_batch(xs, y)
        theirs.train_on_batch(xs, y)
    for a, b in zip(ours.get_weights(), [_np(v.value) for v in theirs.weights]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "cls, kwargs",
    [("Attention", {"use_scale": True}), ("Attention", {"score_mode": "concat"}), ("AdditiveAttention", {})],
)
def test_train_on_batch_matches_keras_attention_model(cls, kwargs, rng):
    keras = pytest.importorskip("keras")

    def build(lib):
        tokens = lib.Input((6,))
        x = lib.layers.Embedding(12, 5, mask_zero=True)(tokens)
        x = lib.layers.LSTM(4, return_sequences=True)(x)
        x = getattr(lib.layers, cls)(**kwargs)([x, x])
        x = lib.layers.GlobalAveragePooling1D()(x)
        out = lib.layers.Dense(3, activation="softmax")(x)
        model = lib.Model(tokens, out)
        model.compile(optimizer=lib.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
        return model

    ours, theirs = build(pynncore), build(keras)
    theirs.set_weights(ours.get_weights())
    x = rng.integers(1, 12, size=(4, 6))
    x[0, 4:] = 0
    x[2, 3:] = 0
    x = x.astype(np.float32)
    y = rng.integers(0, 3, size=(4,)).astype(np.float32)
    np.testing.assert_allclose(ours.predict(x, verbose=0), _np(theirs(x)), rtol=1e-5, atol=1e-6)
    _assert_same_training(ours, theirs, x, y)


def test_train_on_batch_matches_keras_mha_model(rng):
    keras = pytest.importorskip("keras")

    def build(lib):
        a = lib.Input((5, 4))
        b = lib.Input((3, 2))
        x = lib.layers.Dense(6)(a)
        x = lib.layers.MultiHeadAttention(2, 3, value_dim=2)(x, b, use_causal_mask=False)
        x = lib.layers.GlobalAveragePooling1D()(x)
        out = lib.layers.Dense(2)(x)
        model = lib.Model([a, b], out)
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse")
        return model

    ours, theirs = build(pynncore), build(keras)
    theirs.set_weights(ours.get_weights())
    xs = [rng.standard_normal((4, 5, 4)).astype(np.float32), rng.standard_normal((4, 3, 2)).astype(np.float32)]
    y = rng.standard_normal((4, 2)).astype(np.float32)
    _assert_same_training(ours, theirs, xs, y)


def test_mha_self_attention_with_embedding_mask_in_model(rng):
    keras = pytest.importorskip("keras")

    def build(lib):
        tokens = lib.Input((6,))
        x = lib.layers.Embedding(10, 4, mask_zero=True)(tokens)
        x = lib.layers.MultiHeadAttention(2, 2)(x, x, use_causal_mask=True)
        x = lib.layers.GlobalAveragePooling1D()(x)
        return lib.Model(tokens, lib.layers.Dense(2)(x))

    ours, theirs = build(pynncore), build(keras)
    theirs.set_weights(ours.get_weights())
    x = rng.integers(1, 10, size=(3, 6))
    x[1, 2:] = 0
    x = x.astype(np.float32)
    np.testing.assert_allclose(ours.predict(x, verbose=0), _np(theirs(x)), rtol=1e-5, atol=1e-6)


# -- symbolic calls, config, save/load ------------------------------------------------------------


def test_symbolic_shapes_and_scores_output():
    q, v = pynncore.Input((4, 3)), pynncore.Input((5, 2))
    k = pynncore.Input((5, 3))
    out, scores = L.Attention()([q, v, k], return_attention_scores=True)
    assert out.shape == (None, 4, 2) and scores.shape == (None, 4, 5)
    out, scores = L.MultiHeadAttention(2, 3, output_shape=7)(q, v, return_attention_scores=True)
    assert out.shape == (None, 4, 7) and scores.shape == (None, 2, 4, 5)


@pytest.mark.parametrize(
    "make",
    [
        lambda: L.Attention(use_scale=True, score_mode="concat", dropout=0.2, seed=4, name="att"),
        lambda: L.AdditiveAttention(use_scale=False, dropout=0.1),
        lambda: L.MultiHeadAttention(3, 2, value_dim=4, dropout=0.1, use_bias=False, output_shape=(5,),
                                     kernel_initializer="he_normal", kernel_regularizer="l2",
                                     bias_constraint="non_neg", seed=2),
    ],
)
def test_get_config_round_trip(make):
    layer = make()
    config = layer.get_config()
    again = type(layer).from_config(config)
    assert again.get_config() == config


def test_save_load_round_trip(tmp_path, rng):
    tokens = pynncore.Input((6,))
    other = pynncore.Input((4, 3))
    x = L.Embedding(12, 3, mask_zero=True)(tokens)
    a = L.Attention(score_mode="concat", use_scale=True)([x, other])
    b = L.AdditiveAttention()([x, x, x])
    c, _ = L.MultiHeadAttention(2, 3, output_shape=4)(x, other, return_attention_scores=True)
    am = pynncore.Input((6, 6))
    d = L.MultiHeadAttention(1, 2)(x, x, attention_mask=am, use_causal_mask=True)
    merged = L.Concatenate()([a, b, c, d])
    out = L.Dense(2)(L.GlobalAveragePooling1D()(merged))
    model = pynncore.Model([tokens, other, am], out)
    model.compile(optimizer="adam", loss="mse")
    xt = rng.integers(0, 12, size=(3, 6)).astype(np.float32)
    xo = rng.standard_normal((3, 4, 3)).astype(np.float32)
    xm = (rng.random((3, 6, 6)) > 0.3).astype(np.float32)
    xs = [xt, xo, xm]
    model.train_on_batch(xs, np.zeros((3, 2), np.float32))
    before = model.predict(xs, verbose=0)
    xm2 = xm.copy()
    xm2[:, :, 0] = 1 - xm2[:, :, 0]
    assert not np.allclose(model.predict([xt, xo, xm2], verbose=0), before)  # the mask input is used
    path = tmp_path / "model.pnc"
    model.save(str(path))
    loaded = pynncore.load_model(str(path))
    np.testing.assert_array_equal(loaded.predict(xs, verbose=0), before)
    assert [type(l).__name__ for l in loaded.layers] == [type(l).__name__ for l in model.layers]


# -- bad input ---------------------------------------------------------------------------------


def test_bad_arguments():
    with pytest.raises(ValueError, match="score_mode"):
        L.Attention(score_mode="add")
    with pytest.raises(ValueError, match="dropout"):
        L.AdditiveAttention(dropout=1.5)
    with pytest.raises(ValueError, match="num_heads"):
        L.MultiHeadAttention(0, 2)
    with pytest.raises(ValueError, match="key_dim"):
        L.MultiHeadAttention(2, "a")
    with pytest.raises(ValueError, match="value_dim"):
        L.MultiHeadAttention(2, 2, value_dim=-1)
    with pytest.raises(ValueError, match="output_shape"):
        L.MultiHeadAttention(2, 2, output_shape=(2, 3))
    for bad in ("a", (), (1, 1), True, (1.0,), [2, None]):
        with pytest.raises(ValueError, match="attention_axes"):
            L.MultiHeadAttention(2, 2, attention_axes=bad)


@pytest.mark.parametrize("cls", [L.Attention, L.AdditiveAttention])
def test_dense_attention_bad_input(cls, rng):
    q, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))
    layer = cls(name="att_bad")
    with pytest.raises(ValueError, match="att_bad.*list"):
        layer(q)
    with pytest.raises(ValueError, match="att_bad.*2 or 3"):
        layer([q])
    with pytest.raises(ValueError, match="att_bad.*rank 3"):
        layer([q[0], v])
    with pytest.raises(ValueError, match="att_bad.*last dimension"):
        layer([q, v, rng.standard_normal((2, 5, 2))])
    with pytest.raises(ValueError, match="att_bad.*timesteps"):
        layer([q, v, rng.standard_normal((2, 4, 4))])
    with pytest.raises(ValueError, match="att_bad.*value_mask.*\\(2, 5\\)"):
        layer([q, v], mask=[None, np.ones((2, 4), bool)])
    with pytest.raises(ValueError, match="att_bad.*query_mask"):
        layer([q, v], mask=[np.ones((3, 3), bool), None])
    with pytest.raises(ValueError, match="att_bad.*mask must be a list"):
        layer([q, v], mask=np.ones((2, 5), bool))
    with pytest.raises(ValueError, match="att_bad.*batch size"):
        layer([q, rng.standard_normal((3, 5, 4))])


def test_mha_bad_input(rng):
    q, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))
    layer = L.MultiHeadAttention(2, 2, name="mha_bad")
    with pytest.raises(ValueError, match="mha_bad.*value"):
        layer(q)
    with pytest.raises(ValueError, match="mha_bad.*rank 3"):
        layer(q[0], v)
    with pytest.raises(ValueError, match="mha_bad.*value and key must have the same number of timesteps"):
        layer(q, v, key=rng.standard_normal((2, 4, 4)))
    layer(q, v)
    with pytest.raises(ValueError, match="mha_bad.*built for query with 4 features"):
        layer(rng.standard_normal((2, 3, 6)), v)
    with pytest.raises(ValueError, match="mha_bad.*attention_mask.*\\(2, 3, 5\\)"):
        layer(q, v, attention_mask=np.ones((2, 5, 3), bool))
    with pytest.raises(ValueError, match="mha_bad.*value mask"):
        layer(q, v, mask=[None, np.ones((2, 3), bool)])
    with pytest.raises(ValueError, match="mha_bad.*built for"):
        layer(pynncore.Input((3, 5)), pynncore.Input((5, 4)))


# -- attention_axes: inputs of rank above 3 ---------------------------------------------------


def ref_mha_axes(q, v, k, weights, num_heads, key_dim, axes, *, use_bias=True, mask=None, drop=None):
    """Keras's MultiHeadAttention with ``attention_axes`` in float64, one (sample, unattended
    position, head) at a time. ``axes`` are normalized input axes (None: all but batch and
    features); ``mask`` has the scores' shape without the heads axis; the scores come back in
    Keras's order (N, unattended axes, heads, query attention axes, key attention axes)."""
    wq, bq, wk, bk, wv, bv, wo, bo = _mha_weights64(weights, use_bias)
    q, v = np.asarray(q, np.float64), np.asarray(v, np.float64)
    k = v if k is None else np.asarray(k, np.float64)
    rank = q.ndim
    axes = tuple(range(1, rank - 1)) if axes is None else tuple(axes)
    others = [i for i in range(1, rank - 1) if i not in axes]
    Q = np.tensordot(q, wq, axes=([-1], [0])) + bq  # (N, ..., H, kd)
    K = np.tensordot(k, wk, axes=([-1], [0])) + bk
    V = np.tensordot(v, wv, axes=([-1], [0])) + bv
    tq = [q.shape[a] for a in axes]
    ts = [v.shape[a] for a in axes]
    lead = [q.shape[0]] + [q.shape[i] for i in others]
    scores = np.zeros(lead + [num_heads] + tq + ts)
    ctx = np.zeros(Q.shape[:-1] + (wv.shape[-1],))
    # a slice of a projected tensor holds the attention axes in input order: put them in the
    # order given (Keras's order of the scores) and back
    order = [sorted(axes).index(a) for a in axes] + [len(axes)]
    back = list(np.argsort(order))
    for b in np.ndindex(*lead):
        index = [b[0]] + [slice(None)] * (rank - 2)
        for i, o in enumerate(others):
            index[o] = b[i + 1]
        for h in range(num_heads):
            at = tuple(index) + (h,)  # -> (attention axes in input order, channels)
            qs, ks, vs = (np.transpose(t[at], order) for t in (Q, K, V))
            s = qs.reshape(-1, key_dim) @ ks.reshape(-1, key_dim).T / np.sqrt(key_dim)
            if mask is not None:
                m = np.asarray(mask, bool)[b].reshape(s.shape)
                s = np.where(m, s, -1e9)
            p = _softmax64(s)
            if mask is not None:
                p = np.where(m, p, 0.0)
            scores[b + (h,)] = p.reshape(tq + ts)
            pd = p if drop is None else p * np.asarray(drop)[b + (h,)].reshape(p.shape)
            c = (pd @ vs.reshape(-1, vs.shape[-1])).reshape(qs.shape[:-1] + (vs.shape[-1],))
            ctx[at] = np.transpose(c, back)
    out = np.tensordot(ctx, wo, axes=([-2, -1], [0, 1])) + bo
    return out, scores


AXES_CASES = [
    # (query shape, value shape, attention_axes, normalized axes)
    ((2, 3, 4, 5), (2, 2, 3, 4), (1, 2), (1, 2)),
    ((2, 3, 4, 5), (2, 3, 2, 4), (2,), (2,)),
    ((2, 3, 4, 5), (2, 2, 4, 4), 1, (1,)),
    ((2, 3, 4, 5), (2, 3, 2, 4), -2, (2,)),
    ((2, 3, 4, 5), (2, 2, 3, 4), (2, 1), (2, 1)),
    ((2, 3, 4, 5), (2, 2, 3, 4), None, None),
    ((2, 2, 3, 2, 4), (2, 4, 3, 3, 3), (1, 3), (1, 3)),
    ((2, 3, 4), (2, 5, 3), (1,), (1,)),
]


def _scores_shape_of(qs, vs, heads, axes):
    rank = len(qs)
    axes = tuple(range(1, rank - 1)) if axes is None else axes
    others = [i for i in range(1, rank - 1) if i not in axes]
    return (qs[0], *[qs[i] for i in others], heads, *[qs[a] for a in axes], *[vs[a] for a in axes])


@pytest.mark.parametrize("with_key", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("case", range(len(AXES_CASES)))
def test_mha_attention_axes_matches_reference_and_keras(case, masked, with_key, rng):
    keras = pytest.importorskip("keras")
    qs, vs, axes, norm = AXES_CASES[case]
    q = rng.standard_normal(qs).astype(np.float32)
    v = rng.standard_normal(vs).astype(np.float32)
    k = rng.standard_normal(vs[:-1] + (2,)).astype(np.float32) if with_key else None
    cfg = dict(num_heads=2, key_dim=3, value_dim=2, attention_axes=axes)
    layer = L.MultiHeadAttention(**cfg)
    layer(q, v, key=k)
    weights = [rng.standard_normal(w.shape).astype(np.float32) * 0.5 for w in layer.get_weights()]
    layer.set_weights(weights)
    sshape = _scores_shape_of(qs, vs, 2, norm)
    call: dict = {"return_attention_scores": True}
    am = None
    if masked:
        nb = len(qs) - len(norm if norm is not None else range(1, len(qs) - 1))  # batch axes of the scores
        am = rng.random(sshape[: nb - 1] + sshape[nb:]) > 0.3  # the scores' shape without the heads
        call["attention_mask"] = am
    out, scores = layer(q, v, key=k, **call)
    assert scores.shape == sshape
    want, want_p = ref_mha_axes(q, v, k, weights, 2, 3, norm, mask=am)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(scores, want_p, rtol=1e-4, atol=1e-6)
    sym = layer(pynncore.Input(qs[1:]), pynncore.Input(vs[1:]), key=None if k is None else pynncore.Input(k.shape[1:]),
                return_attention_scores=True)
    assert sym[0].shape == (None,) + out.shape[1:] and sym[1].shape == (None,) + sshape[1:]

    klayer = keras.layers.MultiHeadAttention(**cfg)
    klayer(q, v, key=k)
    klayer.set_weights(weights)
    kout, kscores = klayer(q, v, key=k, **call)
    np.testing.assert_allclose(out, _np(kout), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(scores, _np(kscores), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(layer(q, v, key=k, attention_mask=am), _np(klayer(q, v, key=k, attention_mask=am)),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dropout", [0.0, 0.3])
@pytest.mark.parametrize("case", [0, 1, 4, 6])
def test_mha_attention_axes_gradients(case, dropout, rng):
    qs, vs, axes, norm = AXES_CASES[case]
    qs, vs = (2,) + tuple(min(d, 3) for d in qs[1:-1]) + (3,), (2,) + tuple(min(d, 3) for d in vs[1:-1]) + (2,)
    if case == 1:
        vs = (2, 3, 2, 2)
    inputs = [rng.standard_normal(qs).astype(np.float32), rng.standard_normal(vs).astype(np.float32),
              rng.standard_normal(vs[:-1] + (3,)).astype(np.float32)]
    layer = L.MultiHeadAttention(2, 2, value_dim=3, attention_axes=axes, dropout=dropout, seed=3,
                                 bias_initializer="random_normal")
    layer(inputs[0], inputs[1], key=inputs[2])
    sshape = _scores_shape_of(qs, vs, 2, norm)
    nb = len(qs) - len(norm)  # batch axes of the scores, heads included
    am = rng.random(sshape[: nb - 1] + sshape[nb:]) > 0.25
    held: dict = {}

    def ref_of(xs, ws):
        return ref_mha_axes(xs[0], xs[1], xs[2], ws, 2, 2, norm, mask=am, drop=held.get("drop"))

    _check_grads(layer, inputs, ref_of, {"attention_mask": am}, rng,
                 on_ctx=lambda ctx: held.update(drop=ctx[5]))
    if dropout:
        assert held["drop"].shape == sshape and (held["drop"] == 0).any()


@pytest.mark.parametrize("axes", [(1, 2), (2,)])
def test_train_on_batch_matches_keras_mha_attention_axes(axes, rng):
    keras = pytest.importorskip("keras")

    def build(lib):
        a = lib.Input((3, 4, 2))
        x = lib.layers.Dense(5)(a)
        x = lib.layers.MultiHeadAttention(2, 3, value_dim=2, attention_axes=axes)(x, x)
        x = lib.layers.GlobalAveragePooling2D()(x)
        out = lib.layers.Dense(2)(x)
        model = lib.Model(a, out)
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse")
        return model

    ours, theirs = build(pynncore), build(keras)
    theirs.set_weights(ours.get_weights())
    x = rng.standard_normal((4, 3, 4, 2)).astype(np.float32)
    y = rng.standard_normal((4, 2)).astype(np.float32)
    np.testing.assert_allclose(ours.predict(x, verbose=0), _np(theirs(x)), rtol=1e-5, atol=1e-6)
    _assert_same_training(ours, theirs, x, y)


def test_mha_attention_axes_config_and_save_load(tmp_path, rng):
    layer = L.MultiHeadAttention(2, 3, attention_axes=(2, 1), name="mha_axes")
    config = layer.get_config()
    assert config["attention_axes"] == (2, 1)
    assert L.MultiHeadAttention.from_config(config).get_config() == config
    assert L.MultiHeadAttention(2, 3, attention_axes=-2).attention_axes == (-2,)
    inp = pynncore.Input((3, 4, 5))
    x = L.MultiHeadAttention(2, 3, attention_axes=(2,))(inp, inp)
    x = L.MultiHeadAttention(1, 2, attention_axes=(1, 2), output_shape=3)(x, x)
    model = pynncore.Model(inp, L.Dense(2)(L.GlobalAveragePooling2D()(x)))
    model.compile(optimizer="adam", loss="mse")
    xs = rng.standard_normal((3, 3, 4, 5)).astype(np.float32)
    model.train_on_batch(xs, np.zeros((3, 2), np.float32))
    before = model.predict(xs, verbose=0)
    path = tmp_path / "axes.pnc"
    model.save(str(path))
    loaded = pynncore.load_model(str(path))
    np.testing.assert_array_equal(loaded.predict(xs, verbose=0), before)
    axes = [l.attention_axes for l in loaded.layers if isinstance(l, L.MultiHeadAttention)]
    assert axes == [(2,), (1, 2)]


def test_mha_attention_axes_bad_input(rng):
    q = rng.standard_normal((2, 3, 4, 5))
    for axes in ((0,), (3,), -1, (1, -3), (-4,)):
        with pytest.raises(ValueError, match="mha_ax.*attention_axes must name distinct axes.*rank-4.*1 to 2"):
            L.MultiHeadAttention(2, 2, attention_axes=axes, name="mha_ax")(q, q)
    layer = L.MultiHeadAttention(2, 2, attention_axes=(2,), name="mha_ax2")
    with pytest.raises(ValueError, match="mha_ax2.*query and value must agree.*axis 1"):
        layer(q, rng.standard_normal((2, 2, 4, 5)))
    with pytest.raises(ValueError, match="mha_ax2.*rank of query"):
        layer(q, rng.standard_normal((2, 4, 5)))
    with pytest.raises(ValueError, match="mha_ax2.*value and key must have the same"):
        layer(q, q, key=rng.standard_normal((2, 3, 3, 5)))
    layer(q, q)
    with pytest.raises(ValueError, match="mha_ax2.*attention_mask.*\\(2, 3, 4, 4\\)"):
        layer(q, q, attention_mask=np.ones((2, 4, 4), bool))
    with pytest.raises(ValueError, match="mha_ax2.*use_causal_mask.*rank-3.*\\(2, 3, 4, 4\\)"):
        layer(q, q, use_causal_mask=True)
    with pytest.raises(ValueError, match="mha_ax2.*masks of the inputs"):
        layer.forward([q, q], mask=[np.ones((2, 3), bool), None])
    with pytest.raises(ValueError, match="mha_ax2.*rank 3 or more"):
        layer(q[:, 0, 0], q[:, 0, 0])
