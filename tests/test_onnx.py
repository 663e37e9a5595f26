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

ACTS = sorted(activations._BY_NAME)
ACT_VARIANTS = [
    activations.leaky_relu.with_params(negative_slope=0.05),
    activations.elu.with_params(alpha=0.7),
    activations.gelu.with_params(approximate=True),
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
