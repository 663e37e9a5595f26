"""ONNX export: onnxruntime's outputs equal model.predict for every supported layer/activation."""

from __future__ import annotations

import os

import numpy as np
import pytest

import pynncore
from pynncore import activations, layers, onnx_export
from pynncore.models import Model, Sequential



@pytest.fixture
def onnx():
    return pytest.importorskip("onnx")


@pytest.fixture
def ort(onnx):
    return pytest.importorskip("onnxruntime")

# glu halves the features and threshold needs its arguments: both come as variants below
ACTS = sorted(set(activations._BY_NAME) - {"glu", "threshold"})
ACT_VARIANTS = [
    activations.threshold.with_params(threshold=0.1, default_value=-0.3),
    activations.leaky_relu.with_params(negative_slope=0.05),
    activations.elu.with_params(alpha=0.7),
    activations.gelu.with_params(approximate=True),
    activations.celu.with_params(alpha=0.6),
    activations.soft_shrink.with_params(threshold=0.2),
    activations.hard_shrink.with_params(threshold=1.1),
    activations.squareplus.with_params(b=1.5),
]


def _run(ort, path: str, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x.astype(np.float32)})[0]


def _check(ort, model, x, tmp_path, rtol=1e-5, atol=1e-5):
    path = str(tmp_path / "m.onnx")
    model.export_onnx(path)
    got = _run(ort, path, x)
    want = model.predict(x, verbose=0)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    return path


def _randomize(model, rng):
    """Random weights everywhere (positive variances for BatchNormalization)."""
    ws = []
    for w in model.weights:
        v = rng.standard_normal(w.shape) * 0.5
        if w.name == "moving_variance":
            v = rng.random(w.shape) + 0.2
        ws.append(v.astype(np.float32))
    model.set_weights(ws)


@pytest.mark.parametrize("act", ACTS + ACT_VARIANTS, ids=lambda a: a if isinstance(a, str) else repr(a))
def test_dense_with_each_activation(ort, act, tmp_path, rng):
    model = Sequential([
        layers.Dense(9, activation=act, input_shape=(7,)),
        layers.Activation(act),
        layers.Dense(5, activation=act),
    ])
    _randomize(model, rng)
    x = (rng.standard_normal((13, 7)) * 2).astype(np.float32)
    # exponential of exponentials grows: compare relative to the values' size
    _check(ort, model, x, tmp_path, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("act", ["glu", activations.glu.with_params(axis=1),
                                 activations.sparsemax.with_params(axis=-1)], ids=repr)
def test_glu_and_sparsemax_halving_and_ties(ort, act, tmp_path, rng):
    model = Sequential([layers.Dense(12, activation=act, input_shape=(7,)), layers.Dense(4)])
    _randomize(model, rng)
    x = (rng.standard_normal((13, 7)) * 3).astype(np.float32)
    x[:3] = 0.0  # rows of equal pre-activations (the bias only): ties in sparsemax
    _check(ort, model, x, tmp_path)


def test_sparsemax_off_the_last_axis_is_named(onnx, tmp_path):
    model = Sequential([layers.Activation(activations.sparsemax.with_params(axis=1), input_shape=(3, 4))])
    with pytest.raises(NotImplementedError, match="sparsemax along axis 1"):
        model.export_onnx(str(tmp_path / "m.onnx"))


def test_every_layer_kind_sequential(ort, tmp_path, rng):
    model = Sequential([
        layers.Reshape((3, 4), input_shape=(12,)),
        layers.Dense(5, activation="relu"),
        layers.BatchNormalization(),
        layers.Dropout(0.3),
        layers.Flatten(),
        layers.Dense(6, use_bias=False, activation="tanh"),
        layers.BatchNormalization(center=False, scale=False, epsilon=0.01),
        layers.Reshape((-1, 2)),
        layers.Flatten(),
        layers.Dense(3, activation="softmax"),
    ])
    _randomize(model, rng)
    for n in (1, 3, 17):  # dynamic batch dimension: one file, every batch size
        x = rng.standard_normal((n, 12)).astype(np.float32)
        _check(ort, model, x, tmp_path)


def test_batch_norm_on_a_middle_axis_and_rank3_dense(ort, tmp_path, rng):
    model = Sequential([
        layers.Reshape((4, 3, 2), input_shape=(24,)),
        layers.BatchNormalization(axis=1),
        layers.Dense(3, activation="gelu"),
        layers.BatchNormalization(axis=2),
        layers.Flatten(),
    ])
    _randomize(model, rng)
    _check(ort, model, rng.standard_normal((5, 24)).astype(np.float32), tmp_path)


def test_functional_model_and_trained_model(ort, tmp_path, rng):
    inp = pynncore.Input(shape=(6,))
    h = layers.Dense(8, activation="selu")(inp)
    h = layers.Dropout(0.5)(h)
    h = layers.BatchNormalization()(h)
    out = layers.Dense(2, activation="log_softmax")(h)
    model = Model(inp, out)
    x = rng.standard_normal((40, 6)).astype(np.float32)
    y = rng.integers(0, 2, 40)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, verbose=0)  # moving statistics move away from 0/1
    _check(ort, model, x, tmp_path)


def test_graph_metadata_and_dynamic_batch(onnx, tmp_path, rng):
    model = Sequential([layers.Dense(2, input_shape=(3,))])
    path = str(tmp_path / "m.onnx")
    model.export_onnx(path)
    proto = onnx.load(path)
    onnx.checker.check_model(proto)
    assert proto.ir_version == onnx_export.IR_VERSION
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", onnx_export.OPSET)]
    # the pinned pair is one that ONNX itself pairs (onnx.helper.VERSION_TABLE)
    assert any(r[1] == onnx_export.IR_VERSION and r[2] == onnx_export.OPSET for r in onnx.helper.VERSION_TABLE)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and dims[1].dim_value == 3
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert [p.name for p in proto.graph.initializer]  # weights are stored in the file
    assert not [f for f in os.listdir(tmp_path) if f != "m.onnx"]  # no temporary file left


def test_unsupported_layer_names_it(onnx, tmp_path):
    class Doubler(layers.Layer):
        def forward(self, x, training=False):
            return x * 2, None

    model = Sequential([layers.Dense(3, input_shape=(2,)), Doubler(name="my_doubler")])
    path = tmp_path / "m.onnx"
    with pytest.raises(NotImplementedError, match="my_doubler.*Doubler"):
        model.export_onnx(str(path))
    assert not os.listdir(tmp_path)  # nothing written

    # nested models are layers without an exporter too
    inner = Sequential([layers.Dense(2, input_shape=(3,))], name="inner")
    outer = Sequential([layers.Dense(3, input_shape=(4,)), inner])
    with pytest.raises(NotImplementedError, match="inner.*Sequential"):
        outer.export_onnx(str(path))


def test_registered_exporter_plugs_in(ort, tmp_path, rng):
    class Scale(layers.Layer):
        def forward(self, x, training=False):
            return x * 3.0, None

    @onnx_export.register_exporter(Scale)
    def _scale(layer, graph, x, input_shape):
        return graph.node("Mul", [x, graph.constant(3.0, "three")])

    try:
        model = Sequential([layers.Dense(4, input_shape=(5,)), Scale(), layers.Dense(2)])
        _check(ort, model, rng.standard_normal((3, 5)).astype(np.float32), tmp_path)
    finally:
        onnx_export._EXPORTERS.pop(Scale, None)


def test_errors(onnx, tmp_path):
    with pytest.raises(ValueError, match="not built"):
        Sequential([layers.Dense(2)]).export_onnx(str(tmp_path / "m.onnx"))
    with pytest.raises(TypeError, match="expected a pynncore Model"):
        onnx_export.to_onnx(layers.Dense(2))
    with pytest.raises(TypeError, match="layer class"):
        onnx_export.register_exporter("Dense")
    with pytest.raises(NotImplementedError, match="activation"):
        onnx_export.export_activation(onnx_export.OnnxGraph(), object(), "x")


def test_missing_onnx_is_a_clear_import_error(monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "onnx" or name.startswith("onnx."):
            raise ImportError("No module named 'onnx'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    model = Sequential([layers.Dense(2, input_shape=(3,))])
    with pytest.raises(ImportError, match="pip install onnx"):
        model.export_onnx(str(tmp_path / "m.onnx"))


# -- channels-last spatial layers --------------------------------------------------------------


def _check_batches(ort, model, shape, tmp_path, rng, rtol=1e-4, atol=1e-4, batches=(1, 2, 5)):
    """One exported file, several batch sizes, compared with model.predict."""
    path = str(tmp_path / "m.onnx")
    model.export_onnx(path)
    for n in batches:
        x = rng.standard_normal((n,) + tuple(shape)).astype(np.float32)
        got = _run(ort, path, x)
        want = model.predict(x, verbose=0)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides,dilation", [(1, 1), (2, 1), (3, 1), (1, 2)])
def test_conv2d(ort, padding, strides, dilation, tmp_path, rng):
    model = Sequential([
        layers.Conv2D(5, (3, 2), strides=strides, dilation_rate=dilation, padding=padding,
                      activation="relu", input_shape=(9, 7, 3)),
        layers.Conv2D(4, 1, use_bias=False, activation="softmax"),
    ])
    _randomize(model, rng)
    _check_batches(ort, model, (9, 7, 3), tmp_path, rng)


def test_conv2d_groups_and_even_kernel_same(ort, tmp_path, rng):
    model = Sequential([
        layers.Conv2D(6, (4, 2), strides=(2, 3), padding="same", groups=2, input_shape=(8, 11, 4)),
        layers.Conv2D(3, 2, padding="same", groups=3, activation="tanh"),
    ])
    _randomize(model, rng)
    _check_batches(ort, model, (8, 11, 4), tmp_path, rng)


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
@pytest.mark.parametrize("strides,dilation", [(1, 1), (2, 1), (1, 3)])
def test_conv1d(ort, padding, strides, dilation, tmp_path, rng):
    model = Sequential([
        layers.Conv1D(5, 3, strides=strides, dilation_rate=dilation, padding=padding,
                      activation="gelu", input_shape=(13, 3)),
        layers.Conv1D(4, 2, padding=padding, groups=1),
    ])
    _randomize(model, rng)
    _check_batches(ort, model, (13, 3), tmp_path, rng)


@pytest.mark.parametrize("padding", ["same", "causal"])
def test_conv1d_variable_length(ort, padding, tmp_path, rng):
    model = Sequential([
        layers.Conv1D(4, 4, strides=2, padding=padding, input_shape=(None, 3)),
        layers.Conv1D(3, 3, dilation_rate=2, padding=padding),
        layers.MaxPooling1D(3, strides=2, padding="same"),
        layers.AveragePooling1D(2, padding="same"),
        layers.GlobalAveragePooling1D(),
    ])
    _randomize(model, rng)
    path = str(tmp_path / "m.onnx")
    model.export_onnx(path)
    for t in (4, 8, 13):
        x = rng.standard_normal((2, t, 3)).astype(np.float32)
        np.testing.assert_allclose(_run(ort, path, x), model.predict(x, verbose=0), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides,dilation,multiplier", [(1, 1, 1), (2, 1, 2), (1, 2, 3), ((2, 1), 1, 2)])
def test_depthwise_and_separable_conv2d(ort, padding, strides, dilation, multiplier, tmp_path, rng):
    model = Sequential([
        layers.DepthwiseConv2D(3, strides=strides, padding=padding, dilation_rate=dilation,
                               depth_multiplier=multiplier, activation="relu", input_shape=(11, 12, 3)),
        layers.SeparableConv2D(4, (2, 3), padding=padding, depth_multiplier=multiplier, activation="tanh"),
        layers.SeparableConv2D(2, 2, strides=strides, padding=padding, use_bias=False),
        layers.DepthwiseConv2D(1, use_bias=False),
    ])
    _randomize(model, rng)
    _check_batches(ort, model, (11, 12, 3), tmp_path, rng)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_depthwise_and_separable_conv1d(ort, padding, tmp_path, rng):
    model = Sequential([
        layers.DepthwiseConv1D(3, strides=2, padding=padding, depth_multiplier=2, input_shape=(11, 3)),
        layers.SeparableConv1D(4, 2, dilation_rate=2, padding=padding, activation="elu"),
    ])
    _randomize(model, rng)
    _check_batches(ort, model, (11, 3), tmp_path, rng)
    # Variable length: "same" with stride 1 pads by the kernel alone.
    model = Sequential([layers.SeparableConv1D(3, 3, padding=padding, depth_multiplier=2, input_shape=(None, 2))])
    _randomize(model, rng)
    path = str(tmp_path / "v.onnx")
    model.export_onnx(path)
    for t in (4, 9):
        x = rng.standard_normal((2, t, 2)).astype(np.float32)
        np.testing.assert_allclose(_run(ort, path, x), model.predict(x, verbose=0), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides,kernel,output_padding", [(1, 3, None), (2, 3, None), (2, (4, 3), None), (3, 2, (1, 2))])
def test_conv2d_transpose(ort, padding, strides, kernel, output_padding, tmp_path, rng):
    model = Sequential([
        layers.Conv2DTranspose(4, kernel, strides=strides, padding=padding, output_padding=output_padding,
                               activation="relu", input_shape=(5, 3, 2)),
    ])
    _randomize(model, rng)
    _check_batches(ort, model, (5, 3, 2), tmp_path, rng)


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("pool,strides", [(2, None), (3, 2), ((3, 2), (1, 2)), (2, 3)])
def test_pooling2d(ort, padding, pool, strides, tmp_path, rng):
    model = Sequential([
        layers.MaxPooling2D(pool, strides=strides, padding=padding, input_shape=(9, 7, 3)),
        layers.AveragePooling2D(pool, strides=strides, padding=padding),
    ])
    _check_batches(ort, model, (9, 7, 3), tmp_path, rng)


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("pool,strides", [(2, None), (3, 2), (4, 3)])
def test_pooling1d(ort, padding, pool, strides, tmp_path, rng):
    model = Sequential([
        layers.AveragePooling1D(pool, strides=strides, padding=padding, input_shape=(17, 3)),
        layers.MaxPooling1D(pool, strides=strides, padding=padding),
    ])
    _check_batches(ort, model, (17, 3), tmp_path, rng)


@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling(ort, keepdims, tmp_path, rng):
    for cls in (layers.GlobalAveragePooling2D, layers.GlobalMaxPooling2D):
        model = Sequential([cls(keepdims=keepdims, input_shape=(5, 3, 4))])
        _check_batches(ort, model, (5, 3, 4), tmp_path, rng)
    for cls in (layers.GlobalAveragePooling1D, layers.GlobalMaxPooling1D):
        model = Sequential([cls(keepdims=keepdims, input_shape=(7, 3))])
        _check_batches(ort, model, (7, 3), tmp_path, rng)


def test_padding_cropping_upsampling_spatial_dropout(ort, tmp_path, rng):
    model = Sequential([
        layers.ZeroPadding2D(((1, 2), (0, 3)), input_shape=(5, 4, 3)),
        layers.Cropping2D(((2, 0), (1, 1))),
        layers.UpSampling2D((2, 3)),
        layers.SpatialDropout2D(0.4),
        layers.Conv2D(2, 3, padding="same"),
        layers.Cropping2D(1),
    ])
    _randomize(model, rng)
    _check_batches(ort, model, (5, 4, 3), tmp_path, rng)
    model = Sequential([
        layers.ZeroPadding1D((2, 1), input_shape=(7, 3)),
        layers.Cropping1D((0, 3)),
        layers.UpSampling1D(3),
        layers.SpatialDropout1D(0.5),
        layers.Cropping1D((1, 0)),
        layers.ZeroPadding1D(1),
    ])
    _check_batches(ort, model, (7, 3), tmp_path, rng)


def test_embedding(ort, tmp_path, rng):
    model = Sequential([
        layers.Embedding(11, 5, input_shape=(7,)),
        layers.Conv1D(3, 3, padding="same"),
        layers.Flatten(),
    ])
    _randomize(model, rng)
    path = str(tmp_path / "m.onnx")
    model.export_onnx(path)
    for n in (1, 4):
        x = rng.integers(0, 11, (n, 7)).astype(np.float32)
        np.testing.assert_allclose(_run(ort, path, x), model.predict(x, verbose=0), rtol=1e-4, atol=1e-5)


# -- recurrent layers --------------------------------------------------------------------------


def _rnn(kind, units, **kw):
    return {"simple": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}[kind](units, **kw)


RNN_KINDS = ["simple", "lstm", "gru"]


@pytest.mark.parametrize("kind", RNN_KINDS)
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_recurrent(ort, kind, return_sequences, go_backwards, tmp_path, rng):
    model = Sequential([
        _rnn(kind, 5, return_sequences=return_sequences, go_backwards=go_backwards, input_shape=(6, 3)),
    ])
    _randomize(model, rng)
    _check_batches(ort, model, (6, 3), tmp_path, rng)


def test_recurrent_variants(ort, tmp_path, rng):
    model = Sequential([
        layers.GRU(4, reset_after=False, return_sequences=True, input_shape=(None, 3)),
        layers.LSTM(3, activation="relu", use_bias=False, return_sequences=True),
        layers.SimpleRNN(5, activation="sigmoid", dropout=0.3),
        layers.Dense(2),
    ])
    _randomize(model, rng)
    path = str(tmp_path / "m.onnx")
    model.export_onnx(path)
    for n, t in ((1, 1), (3, 7), (2, 4)):
        x = rng.standard_normal((n, t, 3)).astype(np.float32)
        np.testing.assert_allclose(_run(ort, path, x), model.predict(x, verbose=0), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", RNN_KINDS)
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "ave", "mul"])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional(ort, kind, merge_mode, return_sequences, tmp_path, rng):
    model = Sequential([
        layers.Bidirectional(_rnn(kind, 4, return_sequences=return_sequences), merge_mode=merge_mode,
                             input_shape=(5, 3)),
    ])
    _randomize(model, rng)
    _check_batches(ort, model, (5, 3), tmp_path, rng)


def test_unsupported_configurations_raise(onnx, tmp_path):
    path = str(tmp_path / "m.onnx")
    cases = [
        ([layers.Embedding(5, 2, mask_zero=True, input_shape=(3,))], "mask_zero"),
        ([layers.SimpleRNN(2, activation="elu", input_shape=(3, 2))], "activation 'elu'"),
        ([layers.GRU(2, recurrent_activation="hard_sigmoid", input_shape=(3, 2))], "hard_sigmoid"),
        ([layers.TimeDistributed(layers.Conv1D(2, 2), input_shape=(3, None, 2))], "per-step shapes"),
        ([layers.TimeDistributed(layers.Masking(), input_shape=(3, 2))], "Masking has no ONNX exporter"),
        ([layers.Conv2DTranspose(2, 3, input_shape=(None, None, 1))], "spatial input sizes"),
        ([layers.Conv2D(2, 3, strides=2, dilation_rate=2, padding="same", input_shape=(None, 5, 1))], "known spatial"),
        ([layers.DepthwiseConv2D(3, strides=2, dilation_rate=2, padding="same", input_shape=(5, None, 1))], "known spatial"),
        ([layers.LSTM(2, stateful=True, batch_size=2, input_shape=(3, 2))], "stateful"),
        ([layers.Bidirectional(layers.GRU(2, go_backwards=True), input_shape=(3, 2))], "forward then backward"),
        ([layers.Bidirectional(layers.GRU(2, activation="linear"), input_shape=(3, 2))], "activation .linear."),
    ]
    for stack, match in cases:
        with pytest.raises(NotImplementedError, match=match):
            Sequential(stack).export_onnx(path)
    assert not os.listdir(tmp_path)
    # layers with several outputs do not fit in a model's graph: call their exporters directly
    onnx_export._register_builtin()
    for layer, match in [
        (layers.LSTM(2, return_state=True), "return_state"),
        (layers.Bidirectional(layers.GRU(2), merge_mode=None), "merge_mode=None"),
    ]:
        layer.build((None, 3, 2))
        with pytest.raises(NotImplementedError, match=match):
            onnx_export._EXPORTERS[type(layer)](layer, onnx_export.OnnxGraph(), "input", (None, 3, 2))


def test_bilinear_upsampling(ort, tmp_path, rng):
    model = Sequential([layers.UpSampling2D((2, 3), interpolation="bilinear", input_shape=(4, 5, 3))])
    _check_batches(ort, model, (4, 5, 3), tmp_path, rng)


def test_time_distributed(ort, tmp_path, rng):
    model = Sequential([
        layers.TimeDistributed(layers.Conv2D(4, 3, strides=2, padding="same", activation="relu"), input_shape=(3, 7, 5, 2)),
        layers.TimeDistributed(layers.MaxPooling2D(2, padding="same")),
        layers.TimeDistributed(layers.Flatten()),
        layers.TimeDistributed(layers.Dense(5, activation="tanh")),
        layers.LSTM(3),
    ])
    _randomize(model, rng)
    _check_batches(ort, model, (3, 7, 5, 2), tmp_path, rng)
    model = Sequential([layers.TimeDistributed(layers.Dense(4), input_shape=(None, 6))])
    _randomize(model, rng)
    path = str(tmp_path / "m.onnx")
    model.export_onnx(path)
    for n, t in ((1, 1), (3, 5)):
        x = rng.standard_normal((n, t, 6)).astype(np.float32)
        np.testing.assert_allclose(_run(ort, path, x), model.predict(x, verbose=0), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_dilated_conv2d_transpose_and_unknown_image_size(ort, padding, tmp_path, rng):
    model = Sequential([layers.Conv2DTranspose(3, (3, 2), dilation_rate=2, padding=padding, input_shape=(4, 5, 2))])
    _randomize(model, rng)
    _check_batches(ort, model, (4, 5, 2), tmp_path, rng)
    model = Sequential([
        layers.Conv2D(3, 3, strides=2, padding=padding, input_shape=(None, None, 2)),
        layers.MaxPooling2D(2, strides=(2, 1), padding=padding),
        layers.GlobalMaxPooling2D(),
    ])
    _randomize(model, rng)
    path = str(tmp_path / "m.onnx")
    model.export_onnx(path)
    for h, w in ((5, 6), (8, 7)):
        x = rng.standard_normal((2, h, w, 2)).astype(np.float32)
        np.testing.assert_allclose(_run(ort, path, x), model.predict(x, verbose=0), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("equation, output_shape, bias_axes", [
    ("ab,bc->ac", 6, "c"),
    ("abc,cd->abd", (4, 6), "d"),
    ("abc,cde->abde", (4, 2, 3), "de"),
    ("...b,bc->...c", 5, None),
], ids=str)
def test_einsum_dense_and_rms_normalization(ort, equation, output_shape, bias_axes, tmp_path, rng):
    shape = (7,) if equation.startswith("ab,") or equation.startswith("...") else (4, 7)
    model = Sequential([
        layers.Input(shape),
        layers.RMSNormalization(),
        layers.EinsumDense(equation, output_shape=output_shape, bias_axes=bias_axes, activation="tanh"),
        layers.RMSNormalization(axis=-1, epsilon=1e-3),
    ])
    _randomize(model, rng)
    _check_batches(ort, model, shape, tmp_path, rng, rtol=1e-5, atol=1e-5)


def test_augmentation_and_spatial_dropout_are_the_identity_at_inference(ort, tmp_path, rng):
    model = Sequential([
        layers.Input((6, 5, 3)),
        layers.RandomFlip(seed=1),
        layers.RandomTranslation(0.2, 0.2, seed=2),
        layers.RandomRotation(0.1, seed=3),
        layers.RandomZoom(0.2, seed=4),
        layers.RandomShear(0.2, 0.1, seed=19),
        layers.RandomPerspective(0.5, 0.3, seed=20),
        layers.RandomColorJitter(brightness_factor=0.2, hue_factor=0.3, seed=21),
        layers.RandAugment(seed=22),
        layers.AugMix(seed=23),
        layers.RandomContrast(0.3, seed=5),
        layers.RandomBrightness(0.2, seed=6),
        layers.RandomGrayscale(0.5, seed=7),
        layers.RandomInvert(seed=8),
        layers.Solarization(0.2, seed=9),
        layers.RandomPosterization(4, seed=10),
        layers.RandomColorDegeneration(0.5, seed=11),
        layers.RandomSharpness(0.5, seed=12),
        layers.RandomSaturation(0.5, seed=13),
        layers.RandomHue(0.5, seed=14),
        layers.RandomErasing(seed=15),
        layers.RandomGaussianBlur(seed=16),
        layers.Equalization(),
        layers.MixUp(seed=17),
        layers.CutMix(seed=18),
        layers.Conv2D(4, 3, padding="same"),
        layers.Reshape((6, 5, 4, 1)),
        layers.SpatialDropout3D(0.4),
        layers.Flatten(),
    ])
    _randomize(model, rng)
    _check_batches(ort, model, (6, 5, 3), tmp_path, rng, rtol=1e-5, atol=1e-5)
