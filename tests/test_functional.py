"""Functional API: merge layers, multi-input/-output graphs, shared layers, nested models,
keyword tensor arguments, saving, graph errors, and agreement with Keras 3."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import pynncore
from pynncore import layers
from pynncore.models import Model, Sequential

from _gradcheck import assert_grad_close, numeric_grad


# -- merge layers: float64 references and finite differences ------------------------------------


def _normalize64(x, axis):
    return x / np.maximum(np.sqrt((x * x).sum(axis=axis, keepdims=True)), 1e-7)


def _dot64(a, b, a1, a2, normalize):
    if normalize:
        a, b = _normalize64(a, a1), _normalize64(b, a2)
    a = np.moveaxis(a, a1, -1)
    b = np.moveaxis(b, a2, 1)
    out = np.einsum("bpk,bkq->bpq", a.reshape(a.shape[0], -1, a.shape[-1]), b.reshape(b.shape[0], b.shape[1], -1))
    rest = a.shape[1:-1] + b.shape[2:]
    return out.reshape((a.shape[0],) + (rest if rest else (1,)))


MERGES = [
    ("add", lambda: layers.Add(), [(3, 5), (3, 5), (3, 5)], lambda xs: xs[0] + xs[1] + xs[2]),
    ("add_broadcast", lambda: layers.Add(), [(3, 5), (3, 1)], lambda xs: xs[0] + xs[1]),
    ("subtract", lambda: layers.Subtract(), [(3, 7), (3, 7)], lambda xs: xs[0] - xs[1]),
    ("multiply", lambda: layers.Multiply(), [(3, 5), (3, 5), (3, 5)], lambda xs: xs[0] * xs[1] * xs[2]),
    ("average", lambda: layers.Average(), [(2, 3, 5), (2, 3, 5)], lambda xs: (xs[0] + xs[1]) / 2),
    (
        "maximum",
        lambda: layers.Maximum(),
        [(3, 5), (3, 5), (3, 5)],
        lambda xs: np.maximum(np.maximum(xs[0], xs[1]), xs[2]),
    ),
    ("minimum", lambda: layers.Minimum(), [(3, 5), (3, 5)], lambda xs: np.minimum(xs[0], xs[1])),
    ("concat_last", lambda: layers.Concatenate(), [(3, 2), (3, 5), (3, 1)], lambda xs: np.concatenate(xs, axis=-1)),
    ("concat_axis1", lambda: layers.Concatenate(axis=1), [(2, 3, 4), (2, 1, 4)], lambda xs: np.concatenate(xs, axis=1)),
    ("dot_vectors", lambda: layers.Dot(axes=1), [(3, 7), (3, 7)], lambda xs: _dot64(xs[0], xs[1], 1, 1, False)),
    (
        "dot_cosine",
        lambda: layers.Dot(axes=-1, normalize=True),
        [(3, 5), (3, 5)],
        lambda xs: _dot64(xs[0], xs[1], 1, 1, True),
    ),
    (
        "dot_batch_matrix",
        lambda: layers.Dot(axes=(2, 1)),
        [(2, 3, 4), (2, 4, 5)],
        lambda xs: _dot64(xs[0], xs[1], 2, 1, False),
    ),
    (
        "dot_axes_1_1_rank3",
        lambda: layers.Dot(axes=(1, 1), normalize=True),
        [(2, 3, 4), (2, 3, 2)],
        lambda xs: _dot64(xs[0], xs[1], 1, 1, True),
    ),
]


@pytest.mark.parametrize("case, make, shapes, ref", MERGES, ids=[m[0] for m in MERGES])
def test_merge_layer_matches_float64_reference_and_finite_differences(case, make, shapes, ref, rng):
    xs64 = [rng.standard_normal(s) for s in shapes]
    layer = make()
    xs = [x.astype(np.float32) for x in xs64]
    y, ctx = layer.forward(xs, training=True)
    want = ref(xs64)
    assert y.dtype == np.float32 and y.shape == want.shape
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
    # the eager call and the symbolic output shape agree with the forward pass
    np.testing.assert_allclose(layer(xs), y, rtol=0, atol=0)
    sym = layer([pynncore.Input(s[1:]) for s in shapes])
    assert sym.shape == (None,) + want.shape[1:]
    r = rng.standard_normal(want.shape)
    grads = layer.backward(ctx, r.astype(np.float32))
    assert len(grads) == len(xs)
    for i in range(len(xs)):

        def f(v, i=i):
            args = list(xs64)
            args[i] = v
            return float((ref(args) * r).sum())

        assert_grad_close(grads[i], numeric_grad(f, xs64[i]), what=f"{case} input {i}")


def test_merge_layer_config_round_trip():
    for layer in (
        layers.Concatenate(axis=1, name="c"),
        layers.Dot(axes=(1, 2), normalize=True, name="d"),
        layers.Add(name="a"),
    ):
        clone = type(layer).from_config(layer.get_config())
        assert clone.get_config() == layer.get_config()


def test_merge_layer_errors():
    a, b, c = pynncore.Input((3,)), pynncore.Input((4,)), pynncore.Input((3,))
    with pytest.raises(ValueError, match="Subtract .*exactly 2 inputs"):
        layers.Subtract()([a, c, c])
    with pytest.raises(ValueError, match="Add .*same shape or shapes that broadcast"):
        layers.Add()([a, b])
    with pytest.raises(ValueError, match="Concatenate .*every axis but the concatenation axis"):
        layers.Concatenate(axis=1)([pynncore.Input((2, 3)), pynncore.Input((2, 4))])
    with pytest.raises(ValueError, match="Concatenate .*out of range"):
        layers.Concatenate(axis=0)([a, c])
    with pytest.raises(ValueError, match="Dot .*contracted dimensions differ"):
        layers.Dot(axes=1)([a, b])
    with pytest.raises(ValueError, match="Dot .*axes must be"):
        layers.Dot(axes="x")
    with pytest.raises(ValueError, match="Multiply .*list of tensors"):
        layers.Multiply().build((None, 3))
    with pytest.raises(ValueError, match="Maximum .*list of arrays"):
        layers.Maximum().forward(np.ones((2, 3), np.float32))


def test_merge_masks_are_combined():
    m1 = np.array([[True, True, False]])
    m2 = np.array([[True, False, True]])
    x = np.ones((1, 3, 2), np.float32)
    np.testing.assert_array_equal(layers.Add().compute_mask([x, x], [m1, m2]), [[True, False, False]])
    np.testing.assert_array_equal(layers.Multiply().compute_mask([x, x], [m1, None]), m1)
    assert layers.Add().compute_mask([x, x], [None, None]) is None
    np.testing.assert_array_equal(
        layers.Concatenate(axis=1).compute_mask([x, x], [m1, None]), [[True, True, False, True, True, True]]
    )


# -- graphs ---------------------------------------------------------------------------------------


def _two_in_two_out(seed_names=""):
    a = pynncore.Input((5,), name=f"{seed_names}in_a")
    b = pynncore.Input((3,), name=f"{seed_names}in_b")
    ha = layers.Dense(4, activation="relu", name=f"{seed_names}da")(a)
    hb = layers.Dense(4, activation="tanh", name=f"{seed_names}db")(b)
    cat = layers.Concatenate(name=f"{seed_names}cat")([ha, hb])
    out1 = layers.Dense(2, name=f"{seed_names}out1")(cat)
    out2 = layers.Dense(1, activation="sigmoid", name=f"{seed_names}out2")(
        layers.Add(name=f"{seed_names}add")([ha, hb])
    )
    return Model([a, b], [out1, out2], name=f"{seed_names}two")


def test_multi_input_multi_output_predict_lists_and_dicts(rng):
    model = _two_in_two_out()
    xa, xb = rng.standard_normal((7, 5)), rng.standard_normal((7, 3))
    y1, y2 = model.predict([xa, xb], verbose=0)
    assert y1.shape == (7, 2) and y2.shape == (7, 1)
    d1, d2 = model.predict({"in_a": xa, "in_b": xb}, verbose=0)
    np.testing.assert_array_equal(d1, y1)
    np.testing.assert_array_equal(d2, y2)
    assert model.output_names == ["out1", "out2"] and model.input_names == ["in_a", "in_b"]
    # the same numbers from the layers applied by hand
    w = {l.name: l for l in model.layers}
    ha = np.maximum(xa @ w["da"].kernel.value + w["da"].bias.value, 0)
    hb = np.tanh(xb @ w["db"].kernel.value + w["db"].bias.value)
    np.testing.assert_allclose(
        y1, np.concatenate([ha, hb], 1) @ w["out1"].kernel.value + w["out1"].bias.value, rtol=1e-5, atol=1e-6
    )
    z = (ha + hb) @ w["out2"].kernel.value + w["out2"].bias.value
    np.testing.assert_allclose(y2, 1 / (1 + np.exp(-z)), rtol=1e-5, atol=1e-6)
    # dict outputs come back as a dict
    dm = Model(model.inputs, {"first": model.outputs[0], "second": model.outputs[1]})
    out = dm.predict([xa, xb], verbose=0)
    assert sorted(out) == ["first", "second"]
    np.testing.assert_array_equal(out["first"], y1)
    assert isinstance(model([xa, xb]), list)
    assert model.predict([xa[:0], xb[:0]], verbose=0)[0].shape == (0, 2)


def test_multi_output_fit_logs_keras_names_and_weighted_total(rng):
    model = _two_in_two_out()
    model.compile(
        optimizer="sgd",
        loss={"out1": "mse", "out2": "binary_crossentropy"},
        loss_weights={"out1": 1.0, "out2": 0.5},
        metrics={"out2": ["accuracy"]},
    )
    xa, xb = rng.standard_normal((16, 5)), rng.standard_normal((16, 3))
    y1, y2 = rng.standard_normal((16, 2)), rng.integers(0, 2, (16, 1))
    logs = model.evaluate([xa, xb], {"out1": y1, "out2": y2}, return_dict=True, verbose=0)
    assert set(logs) == {"loss", "out1_loss", "out2_loss", "out2_accuracy"}
    assert logs["loss"] == pytest.approx(logs["out1_loss"] + 0.5 * logs["out2_loss"], rel=1e-5)
    p1, p2 = model.predict([xa, xb], verbose=0)
    assert logs["out1_loss"] == pytest.approx(float(((p1 - y1) ** 2).mean()), rel=1e-5)
    history = model.fit({"in_a": xa, "in_b": xb}, [y1, y2], epochs=2, batch_size=5, verbose=0, validation_split=0.25)
    assert {"loss", "out1_loss", "out2_loss", "out2_accuracy", "val_loss", "val_out1_loss"} <= set(history.history)
    res = model.train_on_batch([xa, xb], [y1, y2], return_dict=True)
    assert set(res) == {"loss", "out1_loss", "out2_loss", "out2_accuracy"}
    # a single loss applies to every output; metrics as a list with one entry per output
    model.compile(optimizer="sgd", loss="mse", metrics=[["mae"], ["mse"]])
    logs = model.evaluate([xa, xb], [y1, y2.astype(np.float32)], return_dict=True, verbose=0)
    assert set(logs) == {"loss", "out1_loss", "out2_loss", "out1_mae", "out2_mse"}


def test_output_without_loss_needs_no_target(rng):
    model = _two_in_two_out()
    model.compile(optimizer="sgd", loss={"out1": "mse"})
    xa, xb = rng.standard_normal((6, 5)), rng.standard_normal((6, 3))
    y1 = rng.standard_normal((6, 2))
    logs = model.train_on_batch([xa, xb], {"out1": y1}, return_dict=True)
    assert set(logs) == {"loss"}
    with pytest.raises(ValueError, match="no targets for output 'out1'"):
        model.train_on_batch([xa, xb], {"out2": y1[:, :1]})


def test_shared_layer_gradients_add_up(rng):
    """One Dense used on two inputs: its kernel gradient is the sum over both calls."""
    a, b = pynncore.Input((4,)), pynncore.Input((4,))
    shared = layers.Dense(3, activation="tanh", name="shared")
    out = layers.Multiply()([shared(a), shared(b)])
    model = Model([a, b], out)
    assert len(model.weights) == 2 and len(shared._inbound_nodes) == 2
    xa, xb = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    r = rng.standard_normal((5, 3))
    k64, b64 = shared.kernel.value.astype(np.float64), shared.bias.value.astype(np.float64)

    def f(k, bias=b64, xa=xa, xb=xb):
        return float((np.tanh(xa @ k + bias) * np.tanh(xb @ k + bias) * r).sum())

    y, ctx = model.forward([xa.astype(np.float32), xb.astype(np.float32)], training=True)
    np.testing.assert_allclose(y, np.tanh(xa @ k64 + b64) * np.tanh(xb @ k64 + b64), rtol=1e-5, atol=1e-6)
    shared.kernel.grad[...] = 0
    shared.bias.grad[...] = 0
    dxa, dxb = model.backward(ctx, r.astype(np.float32))
    assert_grad_close(shared.kernel.grad, numeric_grad(f, k64), what="shared kernel")
    assert_grad_close(shared.bias.grad, numeric_grad(lambda v: f(k64, v), b64), what="shared bias")
    assert_grad_close(dxa, numeric_grad(lambda v: f(k64, b64, xa=v), xa), what="dxa")
    assert_grad_close(dxb, numeric_grad(lambda v: f(k64, b64, xb=v), xb), what="dxb")


def test_tensor_used_twice_and_diamond_graph_gradients(rng):
    inp = pynncore.Input((3,))
    h = layers.Dense(4, activation="sigmoid", name="h")(inp)
    left = layers.Dense(2, name="left")(h)
    right = layers.Dense(2, name="right")(h)
    out = layers.Subtract()([layers.Add()([left, right]), left])  # = right, but through both branches
    model = Model(inp, out)
    x = rng.standard_normal((4, 3))
    r = rng.standard_normal((4, 2))
    hl = model.get_layer("h")
    W, c = hl.kernel.value.astype(np.float64), hl.bias.value.astype(np.float64)
    R, rb = (
        model.get_layer("right").kernel.value.astype(np.float64),
        model.get_layer("right").bias.value.astype(np.float64),
    )

    def f(w, x=x):
        return float(((1 / (1 + np.exp(-(x @ w + c)))) @ R + rb).__mul__(r).sum())

    _, ctx = model.forward(x.astype(np.float32), training=True)
    for w in model.weights:
        w.grad[...] = 0
    dx = model.backward(ctx, r.astype(np.float32))
    assert_grad_close(hl.kernel.grad, numeric_grad(f, W), what="h kernel")
    assert_grad_close(dx, numeric_grad(lambda v: f(W, v), x), what="dx")
    np.testing.assert_allclose(model.get_layer("left").kernel.grad, 0, atol=1e-6)


def test_nested_models_share_weights_once_and_train(rng):
    encoder = Sequential([layers.Dense(6, activation="relu", input_shape=(4,)), layers.Dense(3)], name="encoder")
    inner_in = pynncore.Input((3,))
    head = Model(inner_in, layers.Dense(2, name="head_dense")(inner_in), name="head")
    a, b = pynncore.Input((4,)), pynncore.Input((4,))
    ea, eb = encoder(a), encoder(b)  # the same Sequential twice
    out = head(layers.Average()([ea, eb]))
    model = Model([a, b], out, name="outer")
    assert len(model.weights) == 6
    xa, xb = rng.standard_normal((8, 4)), rng.standard_normal((8, 4))
    y = model.predict([xa, xb], verbose=0)
    np.testing.assert_allclose(
        y,
        head.predict((encoder.predict(xa, verbose=0) + encoder.predict(xb, verbose=0)) / 2, verbose=0),
        rtol=1e-5,
        atol=1e-6,
    )
    # finite differences through both nested models on the first encoder kernel
    r = rng.standard_normal((8, 2))
    k0 = encoder.layers[0].kernel
    base = [w.value.astype(np.float64) for w in model.weights]

    def f(k):
        w = list(base)
        w[0] = k

        def enc(x):
            return np.maximum(x @ w[0] + w[1], 0) @ w[2] + w[3]

        return float((((enc(xa) + enc(xb)) / 2 @ w[4] + w[5]) * r).sum())

    _, ctx = model.forward([xa.astype(np.float32), xb.astype(np.float32)], training=True)
    for w in model.weights:
        w.grad[...] = 0
    model.backward(ctx, r.astype(np.float32), need_dx=False)
    assert_grad_close(k0.grad, numeric_grad(f, base[0]), what="nested encoder kernel")
    model.compile(optimizer="adam", loss="mse")
    before = [w.copy() for w in model.get_weights()]
    model.fit([xa, xb], rng.standard_normal((8, 2)), epochs=1, batch_size=4, verbose=0)
    assert all(not np.array_equal(b, w) for b, w in zip(before, model.get_weights()))


class _AddState(layers.Layer):
    """y = x * scale + initial_state[0]; returns the state's gradient to the graph."""

    def forward(self, x, training=False, initial_state=None, scale=1.0):
        h = 0 if initial_state is None else initial_state[0]
        return x * np.float32(scale) + h, (scale if training else None)

    def backward(self, ctx, dy, need_dx=True):
        return dy * np.float32(ctx), {"initial_state": [dy.sum(axis=1, keepdims=True) * 0 + dy]}


class _Split(layers.Layer):
    """Two outputs: the first half of the features and the square of the second half."""

    def forward(self, x, training=False):
        k = x.shape[-1] // 2
        return [x[:, :k].copy(), x[:, k:] ** 2], (x if training else None)

    def backward(self, ctx, dy, need_dx=True):
        k = ctx.shape[-1] // 2
        return np.concatenate([dy[0], 2 * ctx[:, k:] * dy[1]], axis=1)

    def compute_output_shape(self, input_shape):
        k = input_shape[-1] // 2
        return (input_shape[:-1] + (k,), input_shape[:-1] + (input_shape[-1] - k,))


def test_keyword_tensor_arguments_are_graph_inputs_with_gradients(rng):
    x_in, h_in = pynncore.Input((3,)), pynncore.Input((3,))
    h = layers.Dense(3, name="state_proj")(h_in)
    y = _AddState(name="cell")(x_in, initial_state=[h], scale=2.0)
    model = Model([x_in, h_in], y)
    node = model.get_layer("cell")._inbound_nodes[0]
    assert len(node.inputs) == 2 and node.kwargs == {"scale": 2.0}
    xv, hv = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    proj = model.get_layer("state_proj")
    hp = hv @ proj.kernel.value + proj.bias.value
    np.testing.assert_allclose(model.predict([xv, hv], verbose=0), 2 * xv + hp, rtol=1e-5, atol=1e-6)
    r = rng.standard_normal((4, 3)).astype(np.float32)
    _, ctx = model.forward([xv.astype(np.float32), hv.astype(np.float32)], training=True)
    proj.kernel.grad[...] = 0
    dx, dh = model.backward(ctx, r)
    np.testing.assert_allclose(dx, 2 * r, rtol=1e-6)
    np.testing.assert_allclose(proj.kernel.grad, hv.T @ r, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dh, r @ proj.kernel.value.T, rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match="unexpected call argument"):
        layers.Dense(2)(x_in, initial_state=[h])


def test_layer_with_several_outputs(rng):
    inp = pynncore.Input((4,))
    first, second = _Split(name="split")(inp)
    assert first.shape == (None, 2) and second.shape == (None, 2)
    out = layers.Concatenate()([second, first])
    model = Model(inp, [out, first])
    x = rng.standard_normal((3, 4)).astype(np.float32)
    y, f = model.predict(x, verbose=0)
    np.testing.assert_allclose(y, np.concatenate([x[:, 2:] ** 2, x[:, :2]], 1), rtol=1e-6)
    r1, r2 = rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((3, 2)).astype(np.float32)
    _, ctx = model.forward(x, training=True)
    dx = model.backward(ctx, [r1, r2])
    want = np.concatenate([r1[:, 2:] + r2, 2 * x[:, 2:] * r1[:, :2]], 1)
    np.testing.assert_allclose(dx, want, rtol=1e-6)


def test_masks_pass_along_the_graph():
    class ZeroMask(layers.Layer):
        def forward(self, x, training=False):
            return x, None

        def compute_mask(self, x, mask=None):
            return np.any(x != 0, axis=-1)

    class Seen(layers.Layer):
        consumes_mask = True

        def forward(self, x, training=False, mask=None):
            self.mask = mask
            return x, None

    a, b = pynncore.Input((3, 2)), pynncore.Input((3, 2))
    seen = Seen()
    out = seen(layers.Add()([ZeroMask()(a), ZeroMask()(b)]))
    model = Model([a, b], out)
    xa = np.ones((1, 3, 2), np.float32)
    xb = np.ones((1, 3, 2), np.float32)
    xa[0, 1] = 0
    xb[0, 2] = 0
    model.predict([xa, xb], verbose=0)
    np.testing.assert_array_equal(seen.mask, [[True, False, False]])


# -- saving ---------------------------------------------------------------------------------------


def _complex_model():
    a, b = pynncore.Input((4,), name="a"), pynncore.Input((3,), name="b")
    shared = layers.Dense(5, activation="relu", name="shared")
    sub = Sequential(
        [layers.Dense(4, activation="tanh", input_shape=(5,), name="sub_d0"), layers.Dense(3, name="sub_d1")],
        name="sub",
    )
    pa = shared(layers.Concatenate(name="pad_a")([a, layers.Dense(1, name="one")(a)]))
    pb = shared(layers.Concatenate(name="pad_b")([b, layers.Dense(2, name="two")(b)]))
    mixed = layers.Dot(axes=1, normalize=True, name="cos")([pa, pb])
    inner_in = pynncore.Input((5,), name="inner_in")
    inner = Model(inner_in, [layers.Dense(2, name="inner_d")(inner_in), inner_in], name="inner")
    i1, i2 = inner(pa)
    out1 = layers.Concatenate(name="final")([sub(pb), mixed, i1])
    return Model({"a": a, "b": b}, {"main": out1, "aux": layers.Maximum(name="mx")([i2, pb])}, name="complex")


def test_save_load_round_trip_of_functional_graph_with_optimizer_state(tmp_path, rng):
    pynncore.utils.set_random_seed(3)
    model = _complex_model()
    model.compile(
        optimizer="adam",
        loss={"main": "mse", "aux": "mae"},
        loss_weights={"main": 1.0, "aux": 0.3},
        metrics={"main": ["mae"]},
    )
    xa, xb = rng.standard_normal((12, 4)), rng.standard_normal((12, 3))
    y = {"main": rng.standard_normal((12, 6)), "aux": rng.standard_normal((12, 5))}
    model.fit({"a": xa, "b": xb}, y, epochs=2, batch_size=4, verbose=0, shuffle=False)
    path = str(tmp_path / "complex.pnc")
    model.save(path)
    loaded = pynncore.load_model(path)
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]
    assert loaded.output_names == ["main", "aux"]
    for w0, w1 in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(w0, w1)
    p0, p1 = model.predict({"a": xa, "b": xb}, verbose=0), loaded.predict({"a": xa, "b": xb}, verbose=0)
    for k in ("main", "aux"):
        np.testing.assert_allclose(p0[k], p1[k], rtol=1e-6, atol=1e-7)
    # training continues identically (optimizer state and compile settings restored)
    r0 = model.train_on_batch({"a": xa, "b": xb}, y, return_dict=True)
    r1 = loaded.train_on_batch({"a": xa, "b": xb}, y, return_dict=True)
    assert r0.keys() == r1.keys()
    for k in r0:
        assert r0[k] == pytest.approx(r1[k], rel=1e-5)
    for w0, w1 in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(w0, w1, rtol=1e-5, atol=1e-6)
    # get_config / from_config too
    clone = Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(
        clone.predict({"a": xa, "b": xb}, verbose=0)["main"],
        model.predict({"a": xa, "b": xb}, verbose=0)["main"],
        rtol=1e-6,
    )


def test_keyword_tensor_call_survives_save(tmp_path, rng):
    pynncore.saving.register_serializable("Test")(_AddState)
    x_in, h_in = pynncore.Input((3,)), pynncore.Input((3,))
    y = _AddState(name="cell_s")(x_in, initial_state=[layers.Dense(3, name="proj_s")(h_in)], scale=3.0)
    model = Model([x_in, h_in], y)
    path = str(tmp_path / "kw.pnc")
    model.save(path)
    loaded = pynncore.load_model(path)
    xv, hv = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    np.testing.assert_allclose(loaded.predict([xv, hv], verbose=0), model.predict([xv, hv], verbose=0), rtol=1e-6)


def test_broken_model_files_are_clear_errors(tmp_path):
    model = _two_in_two_out("f_")
    cfg = model.get_config()
    bad = dict(cfg, layers=[dict(cfg["layers"][0], class_name="os.system")] + cfg["layers"][1:])
    with pytest.raises(ValueError, match="unknown layer class 'os.system'"):
        Model.from_config(bad)
    dangling = dict(cfg, output_layers=[["nowhere", 0, 0]])
    with pytest.raises(ValueError, match="unknown tensor"):
        Model.from_config(dangling)
    cycle = [dict(l) for l in cfg["layers"]]
    cycle[2] = dict(cycle[2], inbound_nodes=[{"args": [{"keras_history": ["f_out1", 0, 0]}], "kwargs": {}}])
    with pytest.raises(ValueError, match="never made"):
        Model.from_config(dict(cfg, layers=cycle))
    with pytest.raises(ValueError, match="tensor reference"):
        Model.from_config(dict(cfg, input_layers=[["f_in_a", "0", 0]]))
    hostile = [dict(l) for l in cfg["layers"]]
    node = dict(hostile[2]["inbound_nodes"][0], kwargs={"evil": "rm -rf"})
    hostile[2] = dict(hostile[2], inbound_nodes=[node])
    with pytest.raises(ValueError, match="unexpected call argument"):
        Model.from_config(dict(cfg, layers=hostile))
    called_input = [dict(cfg["layers"][0], inbound_nodes=[{"args": [{"keras_history": ["f_in_b", 0, 0]}]}])] + cfg["layers"][1:]
    with pytest.raises(ValueError, match="InputLayer 'f_in_a' cannot be called"):
        Model.from_config(dict(cfg, layers=called_input))
    # Keras names functional models "Functional"
    clone = pynncore.saving.deserialize_layer({"class_name": "Functional", "config": cfg})
    assert clone.output_names == model.output_names


# -- graph errors ---------------------------------------------------------------------------------


def test_graph_errors_are_clear():
    a = pynncore.Input((4,))
    dense = layers.Dense(3, name="g_dense")
    dense(a)
    with pytest.raises(ValueError, match="'g_dense' was built for inputs of shape \\(None, 4\\).*\\(None, 6\\)"):
        dense(pynncore.Input((6,)))
    other = pynncore.Input((4,))
    with pytest.raises(ValueError, match="not connected to the inputs"):
        Model(a, layers.Add()([layers.Dense(2)(a), layers.Dense(2)(other)]))
    with pytest.raises(ValueError, match="two different layers are named 'twin'"):
        Model(a, layers.Dense(2, name="twin")(layers.Dense(4, name="twin")(a)))
    with pytest.raises(ValueError, match="made by pynncore.Input"):
        Model(layers.Dense(2)(a), layers.Dense(2)(layers.Dense(2)(a)))
    with pytest.raises(TypeError, match="symbolic tensors"):
        Model(a, np.ones(3))
    inner = Model(a, layers.Dense(2)(a))
    with pytest.raises(ValueError, match="expects shape \\(None, 4\\)"):
        inner(pynncore.Input((5,)))


def test_wrong_number_of_input_arrays(rng):
    model = _two_in_two_out("n_")
    model.compile(optimizer="sgd", loss="mse")
    xa, xb = rng.standard_normal((4, 5)), rng.standard_normal((4, 3))
    with pytest.raises(ValueError, match="expects 2 input arrays.*Received: one ndarray"):
        model.predict(xa, verbose=0)
    with pytest.raises(ValueError, match="expects 2 input array.*Received: 3 arrays"):
        model.fit([xa, xb, xb], [xa[:, :2], xa[:, :1]], verbose=0)
    with pytest.raises(ValueError, match="missing: \\['n_in_b'\\]"):
        model.predict({"n_in_a": xa}, verbose=0)
    with pytest.raises(ValueError, match="2 outputs.*Received: one ndarray"):
        model.fit([xa, xb], xa, verbose=0)
    with pytest.raises(ValueError, match="same number of samples"):
        model.predict([xa, xb[:3]], verbose=0)
    with pytest.raises(ValueError, match="expected 2 losses"):
        model.compile(optimizer="sgd", loss=["mse"])
        model.train_on_batch([xa, xb], [xa[:, :2], xa[:, :1]])
    with pytest.raises(ValueError, match="loss keys \\['nope'\\]"):
        model.compile(optimizer="sgd", loss={"nope": "mse"})
        model.train_on_batch([xa, xb], [xa[:, :2], xa[:, :1]])


# -- Keras 3 agreement ----------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_two_input_two_output_training_matches_keras(rng):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")

    def build(L, inp):
        a = inp(shape=(5,), name="in_a")
        b = inp(shape=(3,), name="in_b")
        ha = L.Dense(4, activation="relu", name="da")(a)
        hb = L.Dense(4, activation="tanh", name="db")(b)
        o1 = L.Dense(2, name="out1")(L.Concatenate(name="cat")([ha, hb]))
        o2 = L.Dense(1, activation="sigmoid", name="out2")(L.Multiply(name="mul")([ha, hb]))
        return a, b, o1, o2

    ka, kb, k1, k2 = build(keras.layers, keras.Input)
    km = keras.Model([ka, kb], [k1, k2])
    pa, pb, p1, p2 = build(layers, pynncore.Input)
    pm = Model([pa, pb], [p1, p2])
    for name in ("da", "db", "out1", "out2"):
        pm.get_layer(name).set_weights([np.asarray(w) for w in km.get_layer(name).get_weights()])
    xa, xb = rng.standard_normal((9, 5)).astype(np.float32), rng.standard_normal((9, 3)).astype(np.float32)
    y1, y2 = rng.standard_normal((9, 2)).astype(np.float32), rng.integers(0, 2, (9, 1)).astype(np.float32)
    kp = km.predict([xa, xb], verbose=0)
    pp = pm.predict([xa, xb], verbose=0)
    for k, p in zip(kp, pp):
        np.testing.assert_allclose(p, np.asarray(k), rtol=1e-5, atol=1e-6)
    km.compile(optimizer=keras.optimizers.SGD(0.1), loss=["mse", "binary_crossentropy"], loss_weights=[1.0, 0.4])
    pm.compile(optimizer=pynncore.optimizers.SGD(0.1), loss=["mse", "binary_crossentropy"], loss_weights=[1.0, 0.4])
    for _ in range(3):
        kl = km.train_on_batch([xa, xb], [y1, y2], return_dict=True)
        pl = pm.train_on_batch([xa, xb], [y1, y2], return_dict=True)
    assert pl["loss"] == pytest.approx(float(kl["loss"]), rel=1e-4)
    for key in ("out1_loss", "out2_loss"):
        if key in kl:
            assert pl[key] == pytest.approx(float(kl[key]), rel=1e-4)
    for name in ("da", "db", "out1", "out2"):
        for w_p, w_k in zip(pm.get_layer(name).get_weights(), km.get_layer(name).get_weights()):
            np.testing.assert_allclose(w_p, np.asarray(w_k), rtol=1e-4, atol=1e-5)


# -- History.plot -----------------------------------------------------------------------------------


def test_history_plot_saves_png(tmp_path, rng):
    pytest.importorskip("matplotlib")
    model = Sequential([layers.Dense(1, input_shape=(2,))])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(rng.standard_normal((8, 2)), rng.standard_normal((8, 1)), epochs=3, verbose=0)
    path = tmp_path / "loss.png"
    history.plot(str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(KeyError, match="no values recorded for 'acc'"):
        history.plot(str(tmp_path / "x.png"), keys=["acc"])


def test_history_plot_without_matplotlib_is_clear_import_error(monkeypatch):
    h = pynncore.callbacks.History()
    h.history = {"loss": [1.0]}
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        h.plot("x.png")


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
@pytest.mark.parametrize(
    "cls, kwargs, shapes",
    [
        ("Add", {}, [(3, 5)] * 3),
        ("Subtract", {}, [(3, 5)] * 2),
        ("Multiply", {}, [(3, 5)] * 2),
        ("Average", {}, [(2, 3, 4)] * 3),
        ("Maximum", {}, [(3, 5)] * 2),
        ("Minimum", {}, [(3, 5)] * 3),
        ("Concatenate", {"axis": 1}, [(2, 3, 4), (2, 2, 4)]),
        ("Dot", {"axes": 1}, [(3, 5), (3, 5)]),
        ("Dot", {"axes": (2, 2), "normalize": True}, [(2, 3, 4), (2, 5, 4)]),
    ],
)
def test_merge_layers_match_keras(cls, kwargs, shapes, rng):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    xs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    want = np.asarray(keras.ops.convert_to_numpy(getattr(keras.layers, cls)(**kwargs)(xs)))
    got = getattr(layers, cls)(**kwargs)(xs)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


class _Spy(layers.Layer):
    """The identity, recording whether each backward call asks for the input gradient."""

    def __init__(self, calls, **kwargs):
        super().__init__(**kwargs)
        self.calls = calls

    def forward(self, x, training=False):
        return x, None

    def backward(self, ctx, dy, need_dx=True):
        self.calls.append((self.name, need_dx))
        return dy if need_dx else None


def test_backward_asks_for_input_gradients_only_below_trainable_weights(rng):
    calls = []
    a, b = pynncore.Input((3,)), pynncore.Input((3,))
    on_input = _Spy(calls, name="on_input")(a)
    after_dense = _Spy(calls, name="after_dense")(layers.Dense(3)(b))
    after_frozen = _Spy(calls, name="after_frozen")(layers.Dense(3, trainable=False)(a))
    out = layers.Dense(1)(layers.Concatenate()([on_input, after_dense, after_frozen]))
    model = Model([a, b], out)
    model.compile("sgd", "mse")
    xs = [rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal((4, 3)).astype(np.float32)]
    model.train_on_batch(xs, np.zeros((4, 1), np.float32))
    assert sorted(calls) == [("after_dense", True), ("after_frozen", False), ("on_input", False)]
    calls.clear()
    y, ctx = model.forward(xs, training=True)
    dxs = model.backward(ctx, np.ones_like(y), need_dx=True)
    assert sorted(calls) == [("after_dense", True), ("after_frozen", True), ("on_input", True)]
    assert [d.shape for d in dxs] == [(4, 3), (4, 3)]


def test_sequential_backward_stops_above_layers_without_trainable_weights(rng):
    calls = []
    frozen = layers.Dense(3, trainable=False)
    model = Sequential([pynncore.Input((3,)), _Spy(calls, name="s0"), frozen, _Spy(calls, name="s1"), layers.Dense(2)])
    model.compile("sgd", "mse")
    x, y = rng.standard_normal((4, 3)).astype(np.float32), np.zeros((4, 2), np.float32)
    model.train_on_batch(x, y)
    assert calls == []  # nothing below the last Dense trains: the pass stops at it
    calls.clear()
    frozen.trainable = True
    model.compile("sgd", "mse")
    before = frozen.get_weights()[0].copy()
    model.train_on_batch(x, y)
    assert calls == [("s1", True)]  # s0 sits below every trainable weight
    assert not np.array_equal(frozen.get_weights()[0], before)
    calls.clear()
    out, ctx = model.forward(x, training=True)
    assert model.backward(ctx, np.ones_like(out), need_dx=True).shape == x.shape
    assert calls == [("s1", True), ("s0", True)]
