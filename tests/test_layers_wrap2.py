"""InputSpec, Wrapper, SpectralNormalization and ReversibleEmbedding: float64 references,
finite-difference gradients, bad input, config and saving, and Keras 3 parity."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from _gradcheck import assert_grad_close, numeric_grad
from _keras_train import train_side_by_side

import pynncore
from pynncore import layers as L
from pynncore.saving import deserialize_layer, serialize_layer

os.environ.setdefault("KERAS_BACKEND", "torch")

# Keras's torch-backend variables implement numpy's old __array__ protocol; not our warning.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


def _np(keras, t):
    return np.asarray(keras.ops.convert_to_numpy(t))


def _json_roundtrip(layer):
    return deserialize_layer(json.loads(json.dumps(serialize_layer(layer))))


# -- InputSpec --------------------------------------------------------------------------------


class _Spec(L.Layer):
    """Identity layer that checks its input against the spec it is given."""

    def __init__(self, spec, **kwargs):
        super().__init__(**kwargs)
        self.input_spec = spec

    def forward(self, x, training=False):
        return x, None

    def backward(self, ctx, dy, need_dx=True):
        return dy


SPEC_CASES = [
    # (spec arguments, input shape, dtype, accepted?)
    (dict(ndim=3), (2, 4, 5), np.float32, True),
    (dict(ndim=3), (2, 4), np.float32, False),
    (dict(min_ndim=3), (2, 4, 5, 1), np.float32, True),
    (dict(min_ndim=3), (2, 4), np.float32, False),
    (dict(max_ndim=2), (2, 4), np.float32, True),
    (dict(max_ndim=2), (2, 4, 5), np.float32, False),
    (dict(min_ndim=2, axes={-1: 4}), (3, 4), np.float32, True),
    (dict(min_ndim=2, axes={-1: 4}), (3, 5), np.float32, False),
    (dict(ndim=3, axes={1: 6}), (3, 6, 2), np.float32, True),
    (dict(ndim=3, axes={1: 6}), (3, 5, 2), np.float32, False),
    (dict(axes={-1: None}), (3, 5), np.float32, True),
    (dict(shape=(None, 3, 4)), (7, 3, 4), np.float32, True),
    (dict(shape=(None, 3, 4)), (7, 4, 3), np.float32, False),
    (dict(shape=(None, 3, 1), allow_last_axis_squeeze=True), (7, 3), np.float32, True),
    (dict(shape=(None, 3), allow_last_axis_squeeze=True), (7, 3, 1), np.float32, True),
    (dict(shape=(None, 3), allow_last_axis_squeeze=True), (7, 4, 1), np.float32, False),
    (dict(dtype="float32"), (2, 3), np.float64, True),  # floats compute in float32
    (dict(dtype="int32"), (2, 3), np.int32, True),
    (dict(dtype="int32"), (2, 3), np.float32, False),
]


@pytest.mark.parametrize("args,shape,dtype,ok", SPEC_CASES)
def test_input_spec_checks_eager_and_symbolic_calls(args, shape, dtype, ok):
    layer = _Spec(L.InputSpec(**args))
    x = np.zeros(shape, dtype)
    if ok:
        assert layer(x).shape == shape
    else:
        with pytest.raises(ValueError, match=f"layer '{layer.name}' is incompatible with the layer: expected"):
            layer(x)
    if dtype == np.float32:  # model tensors are float32
        t = pynncore.Input(shape[1:], batch_size=shape[0])
        if ok:
            assert layer(t).shape == shape
        else:
            with pytest.raises(ValueError, match="is incompatible with the layer"):
                layer(t)


@pytest.mark.parametrize("args,shape,dtype,ok", SPEC_CASES)
def test_input_spec_agrees_with_keras(args, shape, dtype, ok, keras):
    from keras.src.layers.input_spec import assert_input_compatibility as keras_check

    spec = keras.layers.InputSpec(**args)
    x = keras.ops.convert_to_tensor(np.zeros(shape, dtype))  # Keras casts floats to float32 first
    if np.dtype(dtype).kind == "f":
        x = keras.ops.cast(x, "float32")
    try:
        keras_check(spec, x, "k")
        keras_ok = True
    except ValueError:
        keras_ok = False
    assert keras_ok == ok
    assert repr(L.InputSpec(**args)) == repr(spec)
    assert L.InputSpec(**args).get_config() == spec.get_config()


def test_input_spec_messages_name_what_was_expected_and_received():
    layer = _Spec(L.InputSpec(ndim=3), name="needs3")
    with pytest.raises(ValueError, match=r"layer 'needs3' .*expected ndim=3, found ndim=2. Full shape received: \(2, 4\)"):
        layer(np.zeros((2, 4), np.float32))
    layer = _Spec(L.InputSpec(min_ndim=3), name="atleast3")
    with pytest.raises(ValueError, match=r"expected min_ndim=3, found ndim=2"):
        layer(np.zeros((2, 4), np.float32))
    layer = _Spec(L.InputSpec(axes={-1: 8}), name="eight")
    with pytest.raises(ValueError, match=r"expected axis -1 of input shape to have value 8, but received input with shape \(2, 4\)"):
        layer(np.zeros((2, 4), np.float32))
    layer = _Spec(L.InputSpec(axes={3: 8}), name="rank")
    with pytest.raises(ValueError, match=r"expected axis 3 .*which has no axis 3"):
        layer(np.zeros((2, 4), np.float32))


def test_input_spec_lists_and_optional_inputs():
    layer = _Spec([L.InputSpec(ndim=2), None, L.InputSpec(ndim=3, optional=True)], name="three")
    a, b, c = np.zeros((2, 3), np.float32), np.zeros((2, 3, 4, 5), np.float32), np.zeros((2, 3, 4), np.float32)
    from pynncore.layers.base import assert_input_compatibility

    assert_input_compatibility(layer.input_spec, [a, b, c], "three")
    assert_input_compatibility(layer.input_spec, [a, b, None], "three")
    with pytest.raises(ValueError, match="Layer 'three' expects 3 input\\(s\\), but it received 2 input tensors"):
        assert_input_compatibility(layer.input_spec, [a, b], "three")
    with pytest.raises(ValueError, match="Input 2 .*expected ndim=3, found ndim=2"):
        assert_input_compatibility(layer.input_spec, [a, b, a], "three")
    with pytest.raises(ValueError, match="inputs to a layer should be tensors or arrays"):
        assert_input_compatibility(L.InputSpec(ndim=2), L.Dense(2), "x")
    with pytest.raises(TypeError, match="input_spec must hold InputSpec objects"):
        assert_input_compatibility(["ndim=2"], a, "x")


def test_input_spec_is_checked_by_sequential_build():
    model = pynncore.Sequential([_Spec(L.InputSpec(ndim=3), name="seq_spec")])
    with pytest.raises(ValueError, match="layer 'seq_spec' is incompatible with the layer: expected ndim=3"):
        model.build((None, 4))
    ok = pynncore.Sequential([pynncore.Input((2, 4)), _Spec(L.InputSpec(ndim=3))])
    assert ok.output_shape == (None, 2, 4)


def test_input_spec_bad_arguments():
    with pytest.raises(TypeError, match="axes must be a dict with integer keys. Received: axes={'a': 1}"):
        L.InputSpec(axes={"a": 1})
    with pytest.raises(TypeError, match="axes must be a dict"):
        L.InputSpec(axes=[1, 2])
    with pytest.raises(ValueError, match="axis 3 in axes is greater than the maximum allowed value 1"):
        L.InputSpec(ndim=2, axes={3: 4})
    with pytest.raises(ValueError, match="axis 2 in axes is greater than the maximum allowed value 1"):
        L.InputSpec(max_ndim=2, axes={2: 4})
    with pytest.raises(TypeError, match="ndim must be a non-negative integer or None. Received: ndim=2.5"):
        L.InputSpec(ndim=2.5)
    with pytest.raises(ValueError, match="min_ndim must be a non-negative integer or None. Received: min_ndim=-1"):
        L.InputSpec(min_ndim=-1)
    with pytest.raises(ValueError, match="shape entry must be a non-negative integer"):
        L.InputSpec(shape=(None, -3))
    with pytest.raises(TypeError, match="shape must be a tuple"):
        L.InputSpec(shape=3)
    with pytest.raises(TypeError, match="axes\\[1\\] must be a non-negative integer"):
        L.InputSpec(axes={1: "4"})
    with pytest.raises(ValueError, match="dtype must be a dtype or None. Received: dtype='nope'"):
        L.InputSpec(dtype="nope")


def test_input_spec_config_roundtrip_and_exports():
    spec = L.InputSpec(dtype="float32", shape=(None, 3), min_ndim=1, axes={-1: 3}, optional=True)
    again = L.InputSpec.from_config(spec.get_config())
    assert again.get_config() == spec.get_config()
    assert again.ndim == 2 and again.axes == {-1: 3} and again.optional
    assert pynncore.InputSpec is L.InputSpec
    assert L.Dense(2).input_spec is None  # layers without a spec are not checked


# -- Wrapper ----------------------------------------------------------------------------------


class _Scale(L.Wrapper):
    """Multiplies the wrapped layer's output by ``factor``."""

    def __init__(self, layer, factor=2.0, **kwargs):
        super().__init__(layer, **kwargs)
        self.factor = factor

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def forward(self, x, training=False):
        y, ctx = self.layer.forward(x, training=training)
        return y * np.float32(self.factor), ctx

    def backward(self, ctx, dy, need_dx=True):
        return self.layer.backward(ctx, dy * np.float32(self.factor), need_dx=need_dx)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def test_wrapper_is_the_base_of_single_layer_wrappers(keras):
    assert isinstance(L.TimeDistributed(L.Dense(2)), L.Wrapper)
    assert isinstance(L.SpectralNormalization(L.Dense(2)), L.Wrapper)
    # As in Keras 3, Bidirectional holds two layers and is not a Wrapper.
    assert not isinstance(L.Bidirectional(L.LSTM(2)), L.Wrapper)
    assert not isinstance(keras.layers.Bidirectional(keras.layers.LSTM(2)), keras.layers.Wrapper)


def test_wrapper_builds_trains_and_round_trips(rng):
    inner = L.Dense(3, name="wrapped_dense")
    w = _Scale(inner, factor=3.0)
    assert w.layer is inner and not inner.built
    x = rng.standard_normal((4, 5)).astype(np.float32)
    y = w(x)
    assert inner.built and w.built
    np.testing.assert_allclose(y, 3.0 * (x @ inner.kernel.value + inner.bias.value), rtol=1e-5, atol=1e-6)
    assert [v.path for v in w.weights] == ["wrapped_dense/kernel", "wrapped_dense/bias"]
    assert w.get_weights()[0].shape == (5, 3)
    w.trainable = False
    assert not inner.trainable and w.trainable_weights == [] and len(w.non_trainable_weights) == 2
    w.trainable = True
    config = w.get_config()
    assert config["layer"]["class_name"] == "Dense" and config["factor"] == 3.0
    again = _Scale.from_config(config)
    assert isinstance(again.layer, L.Dense) and again.layer.units == 3 and again.factor == 3.0
    # the wrapper trains its layer's weights inside a model
    model = pynncore.Sequential([pynncore.Input((5,)), w])
    model.compile(optimizer="sgd", loss="mse")
    before = inner.kernel.value.copy()
    model.train_on_batch(x, np.zeros((4, 3), np.float32))
    assert not np.array_equal(before, inner.kernel.value)


def test_wrapper_of_a_built_layer_owns_its_weights():
    inner = L.Dense(2)
    inner(np.ones((1, 3), np.float32))
    assert len(_Scale(inner).weights) == 2


def test_wrapper_bad_input():
    with pytest.raises(ValueError, match="_Scale: expected a pynncore Layer to wrap. Received: str"):
        _Scale("dense")
    with pytest.raises(ValueError, match="SpectralNormalization: expected a pynncore Layer to wrap. Received: int"):
        L.SpectralNormalization(3)
    with pytest.raises(ValueError, match="_Scale: config has no 'layer' entry"):
        _Scale.from_config({"name": "s"})


def test_wrapper_alone_does_not_compute():
    w = L.Wrapper(L.Dense(2))
    with pytest.raises(NotImplementedError):
        w(np.ones((1, 3), np.float32))


# -- SpectralNormalization --------------------------------------------------------------------


def _ref_normalize(v):
    return v / max(np.sqrt(np.sum(v * v)), 1e-7)


def _ref_spectral(kernel, u, iterations):
    """Float64 power iteration: (new u, normalized kernel)."""
    w = np.asarray(kernel, np.float64).reshape(-1, kernel.shape[-1])
    u = np.asarray(u, np.float64)
    for _ in range(iterations):
        v = _ref_normalize(u @ w.T)
        u = _ref_normalize(v @ w)
    sigma = (v @ w @ u.T)[0, 0]
    return u, np.asarray(kernel, np.float64) / sigma


def _ref_conv2d_valid(x, k, b):
    kh, kw = k.shape[:2]
    n, h, w, _ = x.shape
    out = np.zeros((n, h - kh + 1, w - kw + 1, k.shape[-1]))
    for i in range(h - kh + 1):
        for j in range(w - kw + 1):
            out[:, i, j] = np.einsum("nabc,abcf->nf", x[:, i:i + kh, j:j + kw], k)
    return out + b


@pytest.mark.parametrize("iterations", [1, 3])
@pytest.mark.parametrize("kind", ["dense", "conv2d", "embedding"])
def test_spectral_normalization_matches_float64_reference(kind, iterations, rng):
    if kind == "dense":
        sn = L.SpectralNormalization(L.Dense(5, bias_initializer="random_normal"), power_iterations=iterations)
        x = rng.standard_normal((3, 7)).astype(np.float32)

        def ref(x, k, b):
            return x @ k + b
    elif kind == "conv2d":
        sn = L.SpectralNormalization(L.Conv2D(3, (2, 3), bias_initializer="random_normal"), power_iterations=iterations)
        x = rng.standard_normal((2, 5, 6, 2)).astype(np.float32)
        ref = _ref_conv2d_valid
    else:
        sn = L.SpectralNormalization(L.Embedding(9, 4), power_iterations=iterations)
        x = rng.integers(0, 9, (3, 5)).astype(np.float32)

        def ref(x, k, b):
            return k[x.astype(np.int64)]
    sn.build((None,) + x.shape[1:])
    assert sn.vector_u.shape == (1, sn.kernel.shape[-1]) and not sn.vector_u.trainable
    bias = getattr(sn.layer, "bias", None)
    b = None if bias is None else bias.value.astype(np.float64)
    k0, u0 = sn.kernel.value.copy(), sn.vector_u.value.copy()
    # inference: nothing changes
    np.testing.assert_allclose(sn(x), ref(x.astype(np.float64), k0.astype(np.float64), b), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(sn.kernel.value, k0)
    np.testing.assert_array_equal(sn.vector_u.value, u0)
    # training: the kernel is normalized first, u is stored
    want_u, want_k = _ref_spectral(k0, u0, iterations)
    y, _ = sn.forward(x, training=True)
    np.testing.assert_allclose(sn.vector_u.value, want_u, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sn.kernel.value, want_k, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y, ref(x.astype(np.float64), want_k, b), rtol=1e-5, atol=1e-5)
    assert sn.compute_output_shape((None,) + x.shape[1:]) == (None,) + y.shape[1:]
    assert sn(pynncore.Input(x.shape[1:])).shape == (None,) + y.shape[1:]


def test_spectral_normalization_converges_to_unit_spectral_norm(rng):
    sn = L.SpectralNormalization(L.Dense(6, kernel_initializer="random_normal"), power_iterations=2)
    x = rng.standard_normal((2, 8)).astype(np.float32)
    sn(x)
    for _ in range(30):
        sn.forward(x, training=True)
    assert np.linalg.svd(sn.kernel.value.astype(np.float64), compute_uv=False)[0] == pytest.approx(1.0, abs=1e-4)


def test_spectral_normalization_leaves_a_zero_kernel(rng):
    sn = L.SpectralNormalization(L.Dense(3, kernel_initializer="zeros"))
    x = rng.standard_normal((2, 4)).astype(np.float32)
    sn(x)
    u0 = sn.vector_u.value.copy()
    y, _ = sn.forward(x, training=True)
    assert not sn.kernel.value.any()
    np.testing.assert_array_equal(sn.vector_u.value, u0)
    np.testing.assert_array_equal(y, np.zeros((2, 3), np.float32))


def test_spectral_normalization_gradients_are_the_layers_at_the_normalized_kernel(rng):
    """As in Keras, the kernel is assigned its normalized value, so the gradients are the wrapped
    layer's at that value (no gradient through sigma or u): checked against finite differences
    of the float64 layer with the normalized kernel held fixed."""
    sn = L.SpectralNormalization(L.Dense(4, activation="tanh", bias_initializer="random_normal"), power_iterations=2)
    x = rng.standard_normal((3, 5)).astype(np.float32)
    sn(x)
    y, ctx = sn.forward(x, training=True)
    k = sn.kernel.value.astype(np.float64)
    b = sn.layer.bias.value.astype(np.float64)
    x64 = x.astype(np.float64)

    def ref(x, k, b):
        return np.tanh(x @ k + b)

    r = rng.standard_normal(y.shape)
    sn.kernel.grad[...] = 0.0
    sn.layer.bias.grad[...] = 0.0
    dx = sn.backward(ctx, r.astype(np.float32))
    assert_grad_close(dx, numeric_grad(lambda v: float((ref(v, k, b) * r).sum()), x64), what="dx")
    assert_grad_close(sn.kernel.grad, numeric_grad(lambda v: float((ref(x64, v, b) * r).sum()), k), what="dkernel")
    assert_grad_close(sn.layer.bias.grad, numeric_grad(lambda v: float((ref(x64, k, v) * r).sum()), b), what="dbias")
    assert sn.vector_u.grad is None
    assert sn.backward(ctx, r.astype(np.float32), need_dx=False) is None


def test_spectral_normalization_weights_order_and_trainability():
    sn = L.SpectralNormalization(L.Dense(3, name="d"), name="sn")
    sn.build((None, 4))
    assert [w.path for w in sn.weights] == ["d/kernel", "sn/vector_u", "d/bias"]
    assert [w.path for w in sn.trainable_weights] == ["d/kernel", "d/bias"]
    assert [w.path for w in sn.non_trainable_weights] == ["sn/vector_u"]
    frozen = L.SpectralNormalization(L.Dense(3), trainable=False)
    frozen.build((None, 4))
    assert frozen.trainable_weights == [] and len(frozen.non_trainable_weights) == 3
    k0 = frozen.kernel.value.copy()
    frozen.forward(np.ones((1, 4), np.float32), training=True)  # Keras normalizes frozen layers too
    assert not np.array_equal(k0, frozen.kernel.value)


def test_spectral_normalization_bad_input(rng):
    for bad in (0, -2, 1.5, True, "2", None):
        with pytest.raises(ValueError, match=f"power_iterations must be an integer greater than zero. Received: power_iterations={bad!r}"):
            L.SpectralNormalization(L.Dense(2), power_iterations=bad)
    no_kernel = L.SpectralNormalization(L.Flatten())
    with pytest.raises(ValueError, match="must have a 'kernel' or an 'embeddings' weight. Received: Flatten"):
        no_kernel(np.ones((2, 3, 4), np.float32))
    sn = L.SpectralNormalization(L.Dense(2))
    sn(np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 4, but received input with shape \\(2, 5\\)"):
        sn(np.ones((2, 5), np.float32))
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 4"):
        sn(pynncore.Input((3,)))
    sn.vector_u.assign(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="largest singular value is 0.0 .*Received: vector_u with norm 0.0"):
        sn.forward(np.ones((2, 4), np.float32), training=True)


def test_spectral_normalization_config_roundtrip(keras):
    sn = L.SpectralNormalization(L.Conv2D(3, 2, name="c"), power_iterations=4, name="sn2")
    config = sn.get_config()
    assert config["power_iterations"] == 4 and config["layer"]["class_name"] == "Conv2D"
    again = L.SpectralNormalization.from_config(config)
    assert again.get_config() == config
    assert _json_roundtrip(sn).get_config() == config
    kconfig = keras.layers.SpectralNormalization(keras.layers.Dense(2), power_iterations=4).get_config()
    assert set(kconfig) == set(config)


def _keras_sn(keras, inner_keras, p_layer, x):
    """A Keras SpectralNormalization built on ``x`` and holding ``p_layer``'s weights."""
    k = keras.layers.SpectralNormalization(inner_keras, power_iterations=p_layer.power_iterations)
    k(x)
    k.set_weights(p_layer.get_weights())
    return k


@pytest.mark.parametrize("kind", ["dense", "conv2d", "embedding"])
def test_spectral_normalization_matches_keras(kind, keras, rng):
    if kind == "dense":
        p = L.SpectralNormalization(L.Dense(4, bias_initializer="random_normal"), power_iterations=2)
        kin = keras.layers.Dense(4)
        x = rng.standard_normal((3, 6)).astype(np.float32)
    elif kind == "conv2d":
        p = L.SpectralNormalization(L.Conv2D(3, 2, padding="same"))
        kin = keras.layers.Conv2D(3, 2, padding="same")
        x = rng.standard_normal((2, 5, 4, 2)).astype(np.float32)
    else:
        p = L.SpectralNormalization(L.Embedding(7, 3), power_iterations=3)
        kin = keras.layers.Embedding(7, 3)
        # float ids: Keras casts the wrapper's output to the input's dtype
        x = rng.integers(0, 7, (2, 5)).astype(np.float32)
    p(x)
    p.vector_u.assign(rng.standard_normal((1, p.kernel.shape[-1])))
    k = _keras_sn(keras, kin, p, x)
    assert [w.shape for w in p.weights] == [tuple(w.shape) for w in k.weights]
    np.testing.assert_allclose(p(x), _np(keras, k(x)), rtol=1e-5, atol=1e-6)
    for _ in range(2):
        np.testing.assert_allclose(p(x, training=True), _np(keras, k(x, training=True)), rtol=1e-5, atol=1e-6)
        for wp, wk in zip(p.get_weights(), k.get_weights()):
            np.testing.assert_allclose(wp, _np(keras, wk), rtol=1e-5, atol=1e-6)


def test_spectral_normalization_trains_like_keras(keras, rng):
    x = rng.standard_normal((8, 5)).astype(np.float32)
    y = rng.standard_normal((8, 2)).astype(np.float32)
    kmodel = keras.Sequential([
        keras.Input((5,)),
        keras.layers.SpectralNormalization(keras.layers.Dense(6, activation="tanh"), power_iterations=2),
        keras.layers.SpectralNormalization(keras.layers.Dense(2)),
    ])
    pmodel = pynncore.Sequential([
        pynncore.Input((5,)),
        L.SpectralNormalization(L.Dense(6, activation="tanh"), power_iterations=2),
        L.SpectralNormalization(L.Dense(2)),
    ])
    pmodel.set_weights([_np(keras, w) for w in kmodel.get_weights()])
    kmodel.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    pmodel.compile(optimizer=pynncore.optimizers.SGD(0.1), loss="mse")
    train_side_by_side(kmodel, pmodel, x, y, steps=4)
    np.testing.assert_allclose(pmodel.predict(x, verbose=0), _np(keras, kmodel.predict(x, verbose=0)), rtol=1e-4, atol=1e-5)


def test_spectral_normalization_saves_and_loads(tmp_path, rng):
    model = pynncore.Sequential([pynncore.Input((4, 4, 1)), L.SpectralNormalization(L.Conv2D(2, 2), power_iterations=2), L.Flatten()])
    model.compile(optimizer="adam", loss="mse")
    x = rng.standard_normal((3, 4, 4, 1)).astype(np.float32)
    model.train_on_batch(x, np.zeros((3, 18), np.float32))
    path = str(tmp_path / "sn.pnc")
    model.save(path)
    loaded = pynncore.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    sn = loaded.layers[0]
    assert isinstance(sn, L.SpectralNormalization) and sn.power_iterations == 2
    np.testing.assert_array_equal(sn.vector_u.value, model.layers[0].vector_u.value)


# -- ReversibleEmbedding ------------------------------------------------------------------------


def _ref_reverse(h, w, r, cap):
    z = np.asarray(h, np.float64) @ (np.asarray(w, np.float64).T if r is None else np.asarray(r, np.float64))
    return z if cap is None else cap * np.tanh(z / cap)


@pytest.mark.parametrize("tie", [True, False])
@pytest.mark.parametrize("cap", [None, 2.5])
def test_reversible_embedding_matches_float64_reference(tie, cap, rng):
    layer = L.ReversibleEmbedding(11, 4, tie_weights=tie, logit_soft_cap=cap, embeddings_initializer="random_normal")
    assert [w.name for w in layer.weights] == (["embeddings"] if tie else ["embeddings", "reverse_embeddings"])
    ids = rng.integers(0, 11, (3, 5))
    np.testing.assert_array_equal(layer(ids), layer.embeddings.value[ids])
    h = rng.standard_normal((3, 5, 4)).astype(np.float32)
    r = None if tie else layer.reverse_embeddings.value
    want = _ref_reverse(h, layer.embeddings.value, r, cap)
    got = layer(h, reverse=True)
    assert got.shape == (3, 5, 11) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert layer.compute_output_shape((None, 5, 4), reverse=True) == (None, 5, 11)
    assert layer.compute_output_shape((None, 5)) == (None, 5, 4)
    assert layer(pynncore.Input((5, 4)), reverse=True).shape == (None, 5, 11)
    assert layer(pynncore.Input((5,))).shape == (None, 5, 4)


@pytest.mark.parametrize("tie", [True, False])
@pytest.mark.parametrize("cap", [None, 1.5])
def test_reversible_embedding_reverse_gradients(tie, cap, rng):
    layer = L.ReversibleEmbedding(7, 3, tie_weights=tie, logit_soft_cap=cap, embeddings_initializer="random_normal")
    w = layer.embeddings.value.astype(np.float64)
    rv = None if tie else layer.reverse_embeddings.value.astype(np.float64)
    h = rng.standard_normal((2, 4, 3)).astype(np.float32)
    y, ctx = layer.forward(h, training=True, reverse=True)
    r = rng.standard_normal(y.shape)
    for v in layer.weights:
        v.grad[...] = 0.25
    dx = layer.backward(ctx, r.astype(np.float32))
    h64 = h.astype(np.float64)
    assert_grad_close(dx, numeric_grad(lambda v: float((_ref_reverse(v, w, rv, cap) * r).sum()), h64), what="dh")
    if tie:
        want = numeric_grad(lambda v: float((_ref_reverse(h64, v, None, cap) * r).sum()), w)
        assert_grad_close(layer.embeddings.grad - 0.25, want, what="dembeddings")
    else:
        want = numeric_grad(lambda v: float((_ref_reverse(h64, w, v, cap) * r).sum()), rv)
        assert_grad_close(layer.reverse_embeddings.grad - 0.25, want, what="dreverse")
        np.testing.assert_array_equal(layer.embeddings.grad, 0.25)
    assert layer.backward(ctx, r.astype(np.float32), need_dx=False) is None


def test_reversible_embedding_gradients_of_both_directions_add_up(rng):
    """Embedding then reverse projection with tied weights: the matrix gradient is the sum of
    the lookup's and the projection's, checked against finite differences."""
    layer = L.ReversibleEmbedding(6, 3, logit_soft_cap=3.0, embeddings_initializer="random_normal")
    ids = rng.integers(0, 6, (2, 4))
    h, ctx1 = layer.forward(ids, training=True)
    y, ctx2 = layer.forward(h, training=True, reverse=True)
    r = rng.standard_normal(y.shape)
    layer.embeddings.grad[...] = 0.0
    dh = layer.backward(ctx2, r.astype(np.float32))
    dids = layer.backward(ctx1, dh)
    np.testing.assert_array_equal(dids, np.zeros(ids.shape, np.float32))
    want = numeric_grad(lambda v: float((_ref_reverse(v[ids], v, None, 3.0) * r).sum()), layer.embeddings.value.astype(np.float64))
    assert_grad_close(layer.embeddings.grad, want, what="dembeddings")


def test_reversible_embedding_masks(rng):
    layer = L.ReversibleEmbedding(5, 2, mask_zero=True)
    ids = np.array([[1, 0, 3]])
    np.testing.assert_array_equal(layer.compute_mask(ids), [[True, False, True]])
    assert layer.compute_mask(np.ones((1, 3, 2), np.float32), reverse=True) is None
    # In a model the reverse call passes on no mask, so pooling averages every step (as in Keras).
    inp = pynncore.Input((3,))
    logits = layer(layer(inp), reverse=True)
    model = pynncore.Model(inp, L.GlobalAveragePooling1D()(logits))
    w = layer.embeddings.value.astype(np.float64)
    np.testing.assert_allclose(model.predict(ids.astype(np.float32), verbose=0), (w[ids] @ w.T).mean(axis=1), rtol=1e-5, atol=1e-6)


def test_reversible_embedding_bad_input():
    layer = L.ReversibleEmbedding(5, 3, name="rev")
    with pytest.raises(ValueError, match=r"ReversibleEmbedding 'rev': with reverse=True, expected hidden states of rank >= 2 with 3 features in the last axis. Received: shape=\(2, 4\)"):
        layer(np.ones((2, 4), np.float32), reverse=True)
    with pytest.raises(ValueError, match="expected hidden states"):
        layer(np.ones((3,), np.float32), reverse=True)
    with pytest.raises(TypeError, match="reverse must be a boolean. Received: reverse='yes'"):
        layer(np.ones((2, 3), np.float32), reverse="yes")
    with pytest.raises(TypeError, match="expected integer ids, or real hidden states with reverse=True. Received: dtype=complex"):
        layer(np.ones((2, 3), np.complex64), reverse=True)
    with pytest.raises(ValueError, match="expected an output gradient of shape \\(2, 5\\)"):
        _, ctx = layer.forward(np.ones((2, 3), np.float32), training=True, reverse=True)
        layer.backward(ctx, np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match="ids"):
        layer(np.array([[7]]))
    for bad in (0, -1.0, float("nan"), "2", True):
        with pytest.raises(ValueError, match=f"logit_soft_cap must be None or a positive number. Received: logit_soft_cap={bad!r}"):
            L.ReversibleEmbedding(5, 3, logit_soft_cap=bad)
    with pytest.raises(ValueError, match="only reverse_dtype=None or 'float32' is supported. Received: reverse_dtype='float16'"):
        L.ReversibleEmbedding(5, 3, reverse_dtype="float16")
    with pytest.raises(ValueError, match="expected 2 weight arrays"):
        L.ReversibleEmbedding(5, 3, tie_weights=False, weights=[np.zeros((5, 3))])
    with pytest.raises(ValueError, match="input_dim must be a positive integer"):
        L.ReversibleEmbedding(0, 3)


def test_reversible_embedding_weights_argument_and_config(keras, rng):
    w, r = rng.standard_normal((5, 3)), rng.standard_normal((3, 5))
    layer = L.ReversibleEmbedding(5, 3, tie_weights=False, logit_soft_cap=4.0, reverse_dtype="float32", weights=[w, r], name="re")
    np.testing.assert_allclose(layer.reverse_embeddings.value, r, rtol=1e-6)
    config = layer.get_config()
    assert config["tie_weights"] is False and config["logit_soft_cap"] == 4.0 and config["reverse_dtype"] == "float32"
    again = L.ReversibleEmbedding.from_config(config)
    assert again.get_config() == config and len(again.weights) == 2
    assert _json_roundtrip(layer).get_config() == config
    kconfig = keras.layers.ReversibleEmbedding(5, 3).get_config()
    assert set(kconfig) - {"quantization_config"} == set(config)


@pytest.mark.parametrize("tie,cap", [(True, None), (False, 3.0)])
def test_reversible_embedding_matches_keras(tie, cap, keras, rng):
    p = L.ReversibleEmbedding(9, 4, tie_weights=tie, logit_soft_cap=cap, embeddings_initializer="random_normal")
    k = keras.layers.ReversibleEmbedding(9, 4, tie_weights=tie, logit_soft_cap=cap)
    k.build()
    k.set_weights(p.get_weights())
    ids = rng.integers(0, 9, (2, 6)).astype(np.int32)
    np.testing.assert_allclose(p(ids), _np(keras, k(ids)), rtol=1e-6)
    h = rng.standard_normal((2, 6, 4)).astype(np.float32)
    np.testing.assert_allclose(p(h, reverse=True), _np(keras, k(h, reverse=True)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("tie", [True, False])
def test_reversible_embedding_trains_like_keras(tie, keras, rng):
    """Ids -> embedding -> Dense -> the same layer in reverse (logits), trained side by side."""

    def build(lib, Input, Model):
        inp = Input((5,))
        emb = lib.ReversibleEmbedding(10, 4, tie_weights=tie, logit_soft_cap=2.0)
        h = lib.Dense(4, activation="tanh")(emb(inp))
        return Model(inp, emb(h, reverse=True))

    kmodel = build(keras.layers, keras.Input, keras.Model)
    pmodel = build(L, pynncore.Input, pynncore.Model)
    pmodel.set_weights([_np(keras, w) for w in kmodel.get_weights()])
    x = rng.integers(0, 10, (6, 5)).astype(np.float32)
    y = rng.standard_normal((6, 5, 10)).astype(np.float32)
    kmodel.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    pmodel.compile(optimizer=pynncore.optimizers.SGD(0.5), loss="mse")
    train_side_by_side(kmodel, pmodel, x, y, steps=4)
    np.testing.assert_allclose(pmodel.predict(x, verbose=0), _np(keras, kmodel.predict(x, verbose=0)), rtol=1e-4, atol=1e-5)


def test_reversible_embedding_model_with_both_directions_saves_and_loads(tmp_path, rng):
    inp = pynncore.Input((5,))
    emb = L.ReversibleEmbedding(10, 4, tie_weights=False, logit_soft_cap=2.0, mask_zero=True)
    out = emb(L.Dense(4)(emb(inp)), reverse=True)
    model = pynncore.Model(inp, out)
    model.compile(optimizer="adam", loss="mse")
    x = rng.integers(0, 10, (3, 5)).astype(np.float32)
    model.train_on_batch(x, np.zeros((3, 5, 10), np.float32))
    path = str(tmp_path / "rev.pnc")
    model.save(path)
    loaded = pynncore.load_model(path)
    assert loaded.output_shape == (None, 5, 10)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
