"""glu, sparsemax and threshold: forward against float64 references on several shapes and axes,
backward against finite differences, Keras 3 on the same inputs, bad input, layers that take
them (and those that refuse them), training with fit, config and save/load round trips."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from _gradcheck import assert_grad_close, check_layer_against_reference, numeric_grad
from _keras_train import train_side_by_side

import pynncore
from pynncore import activations, layers, ops
from pynncore.models import Sequential


def _glu_ref(x, axis=-1):
    a, b = np.split(np.asarray(x, np.float64), 2, axis=axis)
    return a / (1.0 + np.exp(-b))


def _sparsemax_ref(x, axis=-1):
    """float64 sparsemax without sorting: entry i is in the support when
    1 + c_i x_i > s_i (c_i entries x_j >= x_i, s_i their sum)."""
    z = np.moveaxis(np.asarray(x, np.float64), axis, -1)
    ge = z[..., None, :] >= z[..., :, None]  # [..., i, j]: x_j >= x_i
    count = ge.sum(-1)
    total = (ge * z[..., None, :]).sum(-1)
    support = 1.0 + count * z > total
    tau = ((z * support).sum(-1, keepdims=True) - 1.0) / support.sum(-1, keepdims=True)
    return np.moveaxis(np.maximum(z - tau, 0.0), -1, axis)


def _threshold_ref(x, threshold, default_value):
    x = np.asarray(x, np.float64)
    return np.where(x > threshold, x, default_value)


# odd sizes beside the axis; the axis itself even (glu halves it)
SHAPES_AXES = [((8,), -1), ((3, 6), -1), ((4, 7), 0), ((3, 34), 1), ((5, 6, 3), 1), ((2, 3, 5, 4), -1),
               ((2, 5, 3, 1), 0), ((2, 1), -2), ((1, 2), -1)]  # fmt: skip


# -- forward ---------------------------------------------------------------------------------


@pytest.mark.parametrize("shape, axis", SHAPES_AXES)
def test_glu_forward_matches_float64(shape, axis, rng):
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    y = activations.glu(x, axis=axis)
    want = _glu_ref(x, axis)
    assert y.dtype == np.float32 and y.flags.c_contiguous and y.shape == want.shape
    np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(ops.glu(x, axis), y)
    assert activations.glu.with_params(axis=axis).compute_output_shape(shape) == want.shape


@pytest.mark.parametrize("shape, axis", SHAPES_AXES + [((1,), -1), ((3, 17), -1), ((33, 3), 0), ((2, 7, 3), -2)])
def test_sparsemax_forward_matches_float64(shape, axis, rng):
    x = (rng.standard_normal(shape) * 2).astype(np.float32)
    y = activations.sparsemax(x, axis=axis)
    assert y.dtype == np.float32 and y.flags.c_contiguous and y.shape == x.shape
    np.testing.assert_allclose(y, _sparsemax_ref(x, axis), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(y.sum(axis=axis), 1.0, rtol=1e-6)
    assert (y >= 0).all()
    np.testing.assert_array_equal(ops.sparsemax(x, axis), y)


def test_sparsemax_ties_large_values_and_edges():
    sm = activations.sparsemax
    np.testing.assert_allclose(sm(np.full((2, 5), 3.0)), np.full((2, 5), 0.2), rtol=1e-6)
    # ties at the top share the mass; ties below the threshold stay 0
    np.testing.assert_allclose(sm([[1.0, 1.0, -2.0, -2.0]]), [[0.5, 0.5, 0.0, 0.0]])
    np.testing.assert_allclose(sm([[0.3, 0.3, 0.3, 0.1]]), _sparsemax_ref([[0.3, 0.3, 0.3, 0.1]]), atol=1e-7)
    # one entry far above the others takes everything, at any magnitude
    np.testing.assert_array_equal(sm([[1e30, 0.0, -1e30], [5.0, 1.0, 2.0]]), [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    # a large common offset does not change the result (each slice is shifted by its maximum)
    x = np.array([[1e6 + 0.25, 1e6, 1e6 - 0.5, 1e6 + 0.125]], np.float32)
    np.testing.assert_allclose(sm(x), _sparsemax_ref(x - np.float32(1e6)), atol=1e-6)
    big = np.random.default_rng(3).standard_normal((4, 9)).astype(np.float32) * 1e4
    np.testing.assert_allclose(sm(big), _sparsemax_ref(big), atol=1e-6)
    assert sm(np.zeros((3, 0), np.float32)).shape == (3, 0)
    assert sm(np.zeros((0, 4), np.float32)).shape == (0, 4)
    np.testing.assert_array_equal(sm(np.array([7.0])), [1.0])


def test_threshold_forward_and_float32_comparison(rng):
    x = (rng.standard_normal((5, 7)) * 2).astype(np.float32)
    x[0, :3] = [0.25, -0.5, 0.2500001]
    y = activations.threshold(x, 0.25, -1.5)
    np.testing.assert_array_equal(y, _threshold_ref(x, 0.25, -1.5).astype(np.float32))
    assert y[0, 0] == -1.5 and y[0, 2] == np.float32(0.2500001)
    # positional, keyword and bound forms agree; ops takes the same arguments
    bound = activations.threshold.with_params(threshold=0.25, default_value=-1.5)
    np.testing.assert_array_equal(bound(x), y)
    np.testing.assert_array_equal(activations.threshold(x, threshold=0.25, default_value=-1.5), y)
    np.testing.assert_array_equal(ops.threshold(x, 0.25, -1.5), y)
    # the comparison is made in float32 (like Keras): float32(0.1) is not above 0.1 there
    assert activations.threshold(np.float32([0.1]), 0.1, 0.0)[0] == 0.0
    nan_in = activations.threshold(np.float32([np.nan, np.inf, -np.inf]), 0.0, 2.0)
    np.testing.assert_array_equal(nan_in, [2.0, np.inf, 2.0])


def test_out_arguments_are_written(rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    for fn, args, shape in ((ops.glu, (), (3, 2)), (ops.sparsemax, (), (3, 4)), (ops.threshold, (0.0, 1.0), (3, 4))):
        out = np.empty(shape, np.float32)
        assert fn(x, *args, out=out) is out
        np.testing.assert_array_equal(out, fn(x, *args))


# -- backward --------------------------------------------------------------------------------


def _layer_grad_check(fn, ref, x, rng):
    check_layer_against_reference(layers.Activation(fn), x, ref, rng)


@pytest.mark.parametrize("shape, axis", [((4, 6), -1), ((3, 4, 6), 1), ((2, 3, 4), 2), ((5, 2), 1)])
def test_glu_backward_matches_finite_differences(shape, axis, rng):
    x = (rng.standard_normal(shape) * 2).astype(np.float32)
    _layer_grad_check(activations.glu.with_params(axis=axis), lambda v: _glu_ref(v, axis), x, rng)


@pytest.mark.parametrize("shape, axis", [((4, 7), -1), ((3, 5, 4), 1), ((2, 3, 9), -1), ((6, 1), -1)])
def test_sparsemax_backward_matches_finite_differences(shape, axis, rng):
    x = (rng.standard_normal(shape) * 1.5).astype(np.float32)
    fn = activations.sparsemax.with_params(axis=axis)
    _layer_grad_check(fn, lambda v: _sparsemax_ref(v, axis), x, rng)
    # the Jacobian is symmetric and its rows sum to 0 over the axis (the output sums to 1)
    y = fn(x)
    dx = fn.backward(None, y, np.ones_like(y))
    np.testing.assert_allclose(dx, 0.0, atol=1e-6)


def test_threshold_backward_matches_finite_differences(rng):
    x = (rng.standard_normal((5, 6)) * 2).astype(np.float32)
    x[np.abs(x - 0.3) < 1e-3] = 1.0  # away from the step
    fn = activations.threshold.with_params(threshold=0.3, default_value=-0.7)
    _layer_grad_check(fn, lambda v: _threshold_ref(v, 0.3, -0.7), x, rng)


def test_backward_needs_the_array_it_reads():
    with pytest.raises(ValueError, match="needs x"):
        activations.glu.backward(None, np.ones((1, 1), np.float32), np.ones((1, 1), np.float32))
    with pytest.raises(ValueError, match="needs y"):
        activations.sparsemax.backward(np.ones((1, 2), np.float32), None, np.ones((1, 2), np.float32))


def test_dense_gradients_through_each(rng):
    """Dense with the activation inside: input, kernel and bias gradients against finite
    differences, on rank-3 inputs (the axis sees the output's own shape)."""
    cases = [
        (activations.glu, lambda z: _glu_ref(z, -1)),
        (activations.glu.with_params(axis=1), lambda z: _glu_ref(z, 1)),
        (activations.sparsemax, lambda z: _sparsemax_ref(z, -1)),
        (activations.sparsemax.with_params(axis=1), lambda z: _sparsemax_ref(z, 1)),
        (activations.threshold.with_params(threshold=0.1, default_value=0.5), lambda z: _threshold_ref(z, 0.1, 0.5)),
    ]
    for act, f in cases:
        layer = layers.Dense(6, activation=act)
        x = rng.standard_normal((3, 4, 5)).astype(np.float32)
        layer.build(x.shape)
        layer.bias.value[...] = rng.standard_normal(6).astype(np.float32)
        x64, w, b = x.astype(np.float64), layer.kernel.value.astype(np.float64), layer.bias.value.astype(np.float64)

        def ref(xv, wv, bv):
            return f(xv @ wv + bv)

        y, ctx = layer.forward(x, training=True)
        np.testing.assert_allclose(y, ref(x64, w, b), rtol=1e-5, atol=1e-6)
        assert y.shape == layer.compute_output_shape(x.shape)
        y_inf, _ = layer.forward(x, training=False)
        np.testing.assert_allclose(y_inf, y, rtol=1e-6, atol=1e-7)
        r = rng.standard_normal(y.shape)
        dx = layer.backward(ctx, r.astype(np.float32))
        what = repr(act)
        assert_grad_close(dx, numeric_grad(lambda v: float((ref(v, w, b) * r).sum()), x64), what=what + " dx")
        assert_grad_close(layer.kernel.grad, numeric_grad(lambda v: float((ref(x64, v, b) * r).sum()), w),
                          what=what + " dkernel")
        assert_grad_close(layer.bias.grad, numeric_grad(lambda v: float((ref(x64, w, v) * r).sum()), b),
                          what=what + " dbias")


# -- Keras 3 ---------------------------------------------------------------------------------


def _keras():
    keras = pytest.importorskip("keras")
    torch = pytest.importorskip("torch")
    return keras, lambda a: torch.from_numpy(np.ascontiguousarray(a)), lambda t: t.detach().cpu().numpy()


def _keras_ops_sparsemax(keras, v, axis=-1):
    """Sparsemax composed of keras.ops (sort, cumsum): tau from the sum of the sorted logits
    over the support. ``keras.activations.sparsemax`` up to Keras 3.15 sums their cumulative
    sums instead (keras-team/keras#23425, fixed by #23469), which is right only for a support of
    one entry."""
    kops = keras.ops
    z = kops.flip(kops.sort(kops.moveaxis(v, axis, -1), axis=-1), axis=-1)
    ranks = kops.arange(1, z.shape[-1] + 1, dtype="float32")
    support = kops.cast(1.0 + ranks * z > kops.cumsum(z, axis=-1), "float32")
    tau = (kops.sum(z * support, axis=-1, keepdims=True) - 1.0) / kops.sum(support, axis=-1, keepdims=True)
    return kops.relu(v - kops.moveaxis(tau, -1, axis))


def _assert_sparsemax_matches_keras(keras, to, back, x, axis, atol):
    ours = activations.sparsemax(x, axis)
    np.testing.assert_allclose(ours, back(_keras_ops_sparsemax(keras, to(x), axis)), rtol=1e-5, atol=atol)
    theirs = back(keras.activations.sparsemax(to(x), axis=axis))
    if np.allclose(theirs.sum(axis=axis), 1.0, atol=1e-4):  # a Keras with the fix: everywhere
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=atol)
    else:  # Keras 3.15: where the support has one entry
        single = np.broadcast_to(np.count_nonzero(ours, axis=axis, keepdims=True) == 1, x.shape)
        assert single.any()
        np.testing.assert_allclose(ours[single], theirs[single], rtol=1e-5, atol=atol)


@pytest.mark.parametrize("shape, axis", SHAPES_AXES)
def test_glu_and_sparsemax_match_keras(shape, axis, rng):
    keras, to, back = _keras()
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    np.testing.assert_allclose(activations.glu(x, axis), back(keras.activations.glu(to(x), axis=axis)),
                               rtol=1e-6, atol=1e-7)
    x.reshape(-1)[0] = 50.0  # at least one slice with a support of one entry
    _assert_sparsemax_matches_keras(keras, to, back, x, axis, 2e-6)


def test_sparsemax_ties_and_large_values_match_keras(rng):
    keras, to, back = _keras()
    x = np.round(rng.standard_normal((40, 9)) * 2).astype(np.float32)  # many ties
    x[:5] = 4.0
    x[5:10] *= 1e3
    _assert_sparsemax_matches_keras(keras, to, back, x, -1, 2e-6)


def test_threshold_matches_keras(rng):
    keras, to, back = _keras()
    x = (rng.standard_normal((6, 11)) * 2).astype(np.float32)
    x[0, :4] = [0.1, 0.0, -0.1, 0.10000001]
    for t, d in ((0.1, 0.0), (0.0, -2.5), (-1.0, 3.0), (1, 0)):
        np.testing.assert_array_equal(activations.threshold(x, t, d), back(keras.activations.threshold(to(x), t, d)))


def test_glu_odd_size_errors_like_keras():
    keras, to, _ = _keras()
    x = np.ones((2, 5), np.float32)
    with pytest.raises(ValueError, match="must be even"):
        activations.glu(x)
    with pytest.raises(ValueError, match="divisible by 2"):
        keras.ops.glu(keras.KerasTensor((2, 5)))
    with pytest.raises(ValueError, match=r"axis -1 must be even.*shape=\(None, 5\)"):
        layers.Activation("glu").compute_output_shape((None, 5))
    with pytest.raises(ValueError, match="must be even"):
        Sequential([layers.Input((4,)), layers.Dense(7, activation="glu")])
    with pytest.raises(ValueError, match="must be even"):
        activations.glu(np.ones((3, 2), np.float32), axis=0)


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
@pytest.mark.parametrize("case", ["glu", "sparsemax", "threshold"])
def test_dense_trains_like_keras(case, rng):
    keras, _, _ = _keras()
    x = rng.standard_normal((16, 5)).astype(np.float32)
    if case == "glu":
        # Keras's Dense reports units, not units / 2, as its symbolic output size: glu comes last
        kmodel = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="glu")])
        pmodel = Sequential([layers.Input((5,)), layers.Dense(8, activation="glu")])
        y = rng.standard_normal((16, 4)).astype(np.float32)
    else:
        if case == "sparsemax":
            kact, pact = (lambda v: _keras_ops_sparsemax(keras, v)), "sparsemax"
        else:
            kact = lambda v: keras.activations.threshold(v, 0.05, -0.2)  # noqa: E731
            pact = activations.threshold.with_params(threshold=0.05, default_value=-0.2)
        kmodel = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation=kact), keras.layers.Dense(3)])
        pmodel = Sequential([layers.Input((5,)), layers.Dense(8, activation=pact), layers.Dense(3)])
        y = rng.standard_normal((16, 3)).astype(np.float32)
    pmodel.set_weights([np.asarray(w) for w in kmodel.get_weights()])
    kmodel.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    pmodel.compile(optimizer=pynncore.optimizers.SGD(0.05), loss="mse")
    train_side_by_side(kmodel, pmodel, x, y, 3)


# -- layers, training, config, save/load -----------------------------------------------------


@pytest.mark.parametrize("act", ["glu", "sparsemax", activations.threshold.with_params(threshold=0.0, default_value=0.0)],
                         ids=repr)
def test_fit_lowers_the_loss(act, rng):
    x = rng.standard_normal((96, 6)).astype(np.float32)
    if act == "sparsemax":  # a classifier whose output is a sparse distribution
        labels = np.argmax(x[:, :3], axis=1)
        y = np.eye(3, dtype=np.float32)[labels]
        model = Sequential([layers.Input((6,)), layers.Dense(16, activation="relu"), layers.Dense(3, activation=act)])
    else:
        y = (x[:, :2] * 0.5).astype(np.float32)
        model = Sequential([layers.Input((6,)), layers.Dense(8, activation=act), layers.Dense(2)])
    model.compile(optimizer=pynncore.optimizers.Adam(0.02), loss="mse")
    history = model.fit(x, y, epochs=15, batch_size=16, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.7 * losses[0]
    assert model.predict(x[:4], verbose=0).shape == (4, y.shape[1])


def test_symbolic_shapes_and_functional_model(rng):
    inp = pynncore.Input((3, 8))
    h = layers.Dense(10, activation="glu")(inp)
    assert h.shape == (None, 3, 5)
    h2 = layers.Activation(activations.glu.with_params(axis=1))(layers.Dense(4)(pynncore.Input((6, 2))))
    assert h2.shape == (None, 3, 4)
    out = layers.Activation("sparsemax")(h)
    model = pynncore.Model(inp, out)
    y = model.predict(rng.standard_normal((2, 3, 8)).astype(np.float32), verbose=0)
    assert y.shape == (2, 3, 5)
    np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-6)


CONV_KINDS = {
    "Conv1D": (lambda a: layers.Conv1D(4, 3, padding="same", activation=a), (2, 6, 3)),
    "Conv2D": (lambda a: layers.Conv2D(4, 3, padding="same", activation=a), (2, 5, 5, 3)),
    "Conv2DTranspose": (lambda a: layers.Conv2DTranspose(4, 3, strides=2, activation=a), (2, 3, 4, 3)),
    "Conv3D": (lambda a: layers.Conv3D(4, 2, activation=a), (2, 3, 4, 3, 2)),
    "SeparableConv2D": (lambda a: layers.SeparableConv2D(4, 3, activation=a), (2, 5, 5, 3)),
    "DepthwiseConv2D": (lambda a: layers.DepthwiseConv2D(3, depth_multiplier=2, activation=a), (2, 5, 5, 3)),
    "EinsumDense": (lambda a: layers.EinsumDense("abc,cd->abd", (5, 4), bias_axes="d", activation=a), (2, 5, 3)),
}


@pytest.mark.parametrize("kind", sorted(CONV_KINDS))
@pytest.mark.parametrize("act", ["sparsemax", activations.threshold.with_params(threshold=0.0, default_value=-1.0)],
                         ids=repr)
def test_conv_and_einsum_layers_take_same_shape_ones(kind, act, rng):
    make, shape = CONV_KINDS[kind]
    x = rng.standard_normal(shape).astype(np.float32)
    layer, lin = make(act), make(None)
    layer.build(x.shape)
    lin.build(x.shape)
    weights = [(rng.standard_normal(w.shape) * 0.5).astype(np.float32) for w in layer.get_weights()]
    layer.set_weights(weights)
    lin.set_weights(weights)
    fn = activations.get(act)
    z = lin(x)
    y = layer(x)
    np.testing.assert_allclose(y, fn(z), rtol=1e-6, atol=1e-6)
    yt, ctx = layer.forward(x, training=True)
    np.testing.assert_allclose(yt, y, rtol=1e-6, atol=1e-6)
    r = rng.standard_normal(y.shape).astype(np.float32)
    _, lctx = lin.forward(x, training=True)
    # the layer's input gradient is the linear layer's, fed the activation's gradient
    dz = fn.backward(np.ascontiguousarray(z), np.ascontiguousarray(y), r.copy())
    np.testing.assert_allclose(layer.backward(ctx, r), lin.backward(lctx, dz), rtol=1e-5, atol=1e-6)


def test_layers_that_refuse_them():
    for make in (lambda: layers.Conv2D(4, 3, activation="glu"),
                 lambda: layers.DepthwiseConv2D(3, activation="glu"),
                 lambda: layers.EinsumDense("ab,bc->ac", 4, activation="glu")):
        with pytest.raises(ValueError, match="activation 'glu' halves an axis"):
            make()
    for act in ("sparsemax", "glu", activations.threshold.with_params(threshold=0.0, default_value=0.0)):
        with pytest.raises(ValueError, match="elementwise activation"):
            layers.SimpleRNN(3, activation=act)
        with pytest.raises(ValueError, match="elementwise activation"):
            layers.LSTM(3, recurrent_activation=act)
    with pytest.raises(ValueError, match="no native kernel"):
        ops.conv2d(np.ones((1, 4, 4, 3), np.float32), np.ones((3, 3, 3, 2), np.float32), activation="sparsemax")
    with pytest.raises(ValueError, match="activation 'glu' has no native kernel for recurrent cells"):
        ops.simple_rnn(np.ones((1, 3, 2), np.float32), np.ones((2, 4), np.float32), np.ones((4, 4), np.float32),
                       activation="glu")


def test_get_serialize_deserialize_and_layer_config():
    assert activations.get("glu") is activations.glu
    assert activations.get("sparsemax") is activations.sparsemax
    assert activations.serialize(activations.glu) == "glu"
    assert activations.serialize(activations.sparsemax.with_params(axis=-1)) == "sparsemax"
    variants = [
        activations.glu.with_params(axis=1),
        activations.sparsemax.with_params(axis=-2),
        activations.threshold.with_params(threshold=0.5, default_value=-1.0),
    ]
    for fn in variants:
        config = activations.serialize(fn)
        assert isinstance(config, dict) and config["name"] == fn.name
        assert activations.deserialize(config) == fn
        assert activations.get(config) == fn
        layer = layers.Activation(fn)
        again = layers.Activation.from_config(layer.get_config())
        assert again.activation == fn
    assert activations.threshold.with_params(threshold=1, default_value=0).params == {"threshold": 1.0, "default_value": 0.0}
    partial = functools.partial(activations.threshold, threshold=0.5, default_value=-1.0)
    assert activations.get(partial) == variants[2]
    assert activations.get(functools.partial(activations.threshold, 0.5, -1.0)) == variants[2]
    dense = layers.Dense(4, activation=partial)
    assert layers.Dense.from_config(dense.get_config()).activation == variants[2]


def test_save_load_round_trip(tmp_path, rng):
    model = Sequential([
        layers.Input((6,)),
        layers.Dense(8, activation="glu"),
        layers.Dense(6, activation=activations.threshold.with_params(threshold=0.1, default_value=-0.25)),
        layers.Activation(activations.glu.with_params(axis=-1)),
        layers.Dense(5, activation="sparsemax"),
        layers.Dense(4, activation=activations.sparsemax.with_params(axis=1)),
    ])
    assert model.output_shape == (None, 4)
    model.compile(optimizer="adam", loss="mse")
    x = rng.standard_normal((7, 6)).astype(np.float32)
    model.fit(x, rng.random((7, 4)).astype(np.float32), epochs=2, verbose=0)  # optimizer state saved too
    model.save(str(tmp_path / "model.pnc"))
    loaded = pynncore.load_model(str(tmp_path / "model.pnc"))
    assert [layer.activation for layer in loaded.layers] == [layer.activation for layer in model.layers]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("call, exc, match", [
    (lambda: activations.get("threshold"), ValueError, "needs the argument.*threshold, default_value"),
    (lambda: activations.threshold(np.ones(3)), ValueError, "needs the argument"),
    (lambda: activations.threshold(np.ones(3), 0.5), ValueError, "needs the argument.*default_value"),
    (lambda: layers.Dense(3, activation="threshold"), ValueError, "needs the argument"),
    (lambda: layers.Activation(activations.threshold), ValueError, "needs the argument"),
    (lambda: activations.threshold(np.ones(3), "a", 0.0), TypeError, "threshold must be a real number"),
    (lambda: activations.threshold(np.ones(3), 0.0, None), TypeError, "default_value must be a real number"),
    (lambda: activations.threshold(np.ones(3), np.nan, 0.0), ValueError, "threshold must not be NaN"),
    (lambda: activations.threshold(np.ones(3), True, 0.0), TypeError, "threshold must be a real number"),
    (lambda: activations.threshold(np.ones(3), 0.5, 0.0, 1.0), TypeError, "takes 2 positional"),
    (lambda: activations.threshold(np.ones(3), 0.5, threshold=0.5, default_value=0.0), TypeError, "two values"),
    (lambda: activations.glu.with_params(alpha=1.0), ValueError, "takes the argument.*axis.*unexpected alpha"),
    (lambda: activations.glu.with_params(axis=1.5), TypeError, "axis must be an integer"),
    (lambda: activations.sparsemax(np.ones((2, 3)), axis="0"), TypeError, "axis must be an integer"),
    (lambda: activations.sparsemax(np.ones((2, 3)), axis=2), ValueError, "axis 2 is out of range.*\\(2, 3\\)"),
    (lambda: activations.glu(np.ones((2, 4)), axis=-3), ValueError, "axis -3 is out of range"),
    (lambda: activations.sparsemax(np.float32(1.0)), ValueError, "at least 1 dimension"),
    (lambda: activations.glu(np.array(["a", "b"])), TypeError, "expected real numbers"),
    (lambda: ops.sparsemax(np.array([1 + 2j, 3j])), TypeError, "x must be a real numeric array"),
    (lambda: ops.glu(np.ones((2, 4)), out=np.empty((2, 4), np.float32)), ValueError, "out must have shape \\(2, 2\\)"),
    (lambda: ops.sparsemax(np.ones((2, 4)), out=np.empty((2, 4))), TypeError, "out must be a float32"),
    (lambda: activations.get("sparsmax"), ValueError, "Unknown activation 'sparsmax'.*sparsemax"),
    (lambda: activations.deserialize({"name": "threshold", "threshold": 0.5}), ValueError, "needs the argument.*default_value"),
    (lambda: activations.get(functools.partial(activations.glu, 0, 1)), TypeError, "takes 1 positional"),
], ids=lambda v: "" if callable(v) or isinstance(v, type) else v[:32])  # fmt: skip
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_layer_input_errors_name_the_activation():
    with pytest.raises(ValueError, match="glu: the size of axis -1 must be even"):
        layers.Activation("glu")(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="glu: axis 3 is out of range"):
        layers.Activation(activations.glu.with_params(axis=3)).compute_output_shape((None, 4))
