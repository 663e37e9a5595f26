"""Weight constraints, pynncore.backend, utils.pad_sequences and layer/model input/output tensors."""

from __future__ import annotations

import os

import numpy as np
import pytest

import pynncore
from pynncore import backend, constraints, layers
from pynncore.utils import pad_sequences

# -- constraints ----------------------------------------------------------------------------------


def _ref_norms(w, axis):
    return np.sqrt((w.astype(np.float64) ** 2).sum(axis=axis, keepdims=True))


@pytest.mark.parametrize("axis", [0, 1, [0, 1]])
def test_constraint_formulas(axis, rng):
    w = (rng.standard_normal((6, 4)) * 3).astype(np.float32)
    ax = tuple(axis) if isinstance(axis, list) else axis
    n = _ref_norms(w, ax)
    np.testing.assert_allclose(constraints.MaxNorm(2.0, axis)(w), w * (np.clip(n, 0, 2.0) / (1e-7 + n)), rtol=1e-6)
    np.testing.assert_allclose(constraints.UnitNorm(axis)(w), w / (1e-7 + n), rtol=1e-6)
    desired = 0.5 * np.clip(n, 1.0, 2.5) + 0.5 * n
    np.testing.assert_allclose(constraints.MinMaxNorm(1.0, 2.5, 0.5, axis)(w), w * desired / (1e-7 + n), rtol=1e-6)
    np.testing.assert_array_equal(constraints.NonNeg()(w), np.maximum(w, 0))
    out = constraints.MaxNorm(2.0, axis)(w)
    assert out.dtype == np.float32 and np.all(_ref_norms(out, ax) <= 2.0 + 1e-5)


def test_constraint_lookup_and_config():
    assert isinstance(constraints.get("max_norm"), constraints.MaxNorm)
    assert isinstance(constraints.get("NonNeg"), constraints.NonNeg)
    c = constraints.MinMaxNorm(0.5, 2.0, rate=0.3, axis=[0, 1])
    again = constraints.get(constraints.serialize(c))
    assert type(again) is constraints.MinMaxNorm and again.get_config() == c.get_config()
    assert constraints.max_norm(3).max_value == 3.0
    with pytest.raises(ValueError, match="Unknown constraint: 'maxnorm'. Valid names are: .*max_norm"):
        constraints.get("maxnorm")
    with pytest.raises(ValueError, match=r"MaxNorm: max_value must be a finite number >= 0. Received: max_value=-1"):
        constraints.MaxNorm(-1)
    with pytest.raises(ValueError, match="MinMaxNorm: max_value must be >= min_value"):
        constraints.MinMaxNorm(2.0, 1.0)
    with pytest.raises(ValueError, match="Unknown constraint class: 'Evil'"):
        constraints.deserialize({"class_name": "Evil", "config": {}})


def test_constraints_are_applied_after_every_step_and_saved(tmp_path, rng):
    m = pynncore.Sequential([
        pynncore.Input((5,)),
        layers.Dense(8, kernel_constraint=constraints.MaxNorm(0.5), bias_constraint="non_neg"),
        layers.Dense(1),
    ])
    m.compile(optimizer=pynncore.optimizers.SGD(0.5), loss="mse")
    x = rng.standard_normal((32, 5)).astype(np.float32) * 3
    y = rng.standard_normal((32, 1)).astype(np.float32) * 10
    for _ in range(3):
        m.train_on_batch(x, y)
        k, b = m.layers[0].get_weights()
        assert np.all(np.linalg.norm(k.astype(np.float64), axis=0) <= 0.5 + 1e-5)
        assert np.all(b >= 0)
    path = str(tmp_path / "c.safetensors")
    m.save(path)
    again = pynncore.load_model(path)
    assert isinstance(again.layers[0].kernel_constraint, constraints.MaxNorm)
    assert again.layers[0].kernel_constraint.max_value == 0.5
    assert isinstance(again.layers[0].bias_constraint, constraints.NonNeg)


@pytest.mark.parametrize(
    "make",
    [
        lambda c: layers.LSTM(3, kernel_constraint=c, recurrent_constraint=c, bias_constraint=c),
        lambda c: layers.Embedding(10, 4, embeddings_constraint=c),
        lambda c: layers.BatchNormalization(beta_constraint=c, gamma_constraint=c),
        lambda c: layers.Conv1D(3, 2, kernel_constraint=c, bias_constraint=c),
    ],
    ids=["LSTM", "Embedding", "BatchNormalization", "Conv1D"],
)
def test_other_layers_apply_their_constraints(make, rng):
    layer = make(constraints.NonNeg())
    if isinstance(layer, layers.Embedding):
        m = pynncore.Sequential([pynncore.Input((3,)), layer, layers.Flatten(), layers.Dense(1)])
        x = rng.integers(0, 10, (16, 3))
    elif isinstance(layer, (layers.LSTM, layers.Conv1D)):
        tail = [layers.Flatten()] if isinstance(layer, layers.Conv1D) else []
        m = pynncore.Sequential([pynncore.Input((4, 2)), layer, *tail, layers.Dense(1)])
        x = rng.standard_normal((16, 4, 2)).astype(np.float32)
    else:
        m = pynncore.Sequential([pynncore.Input((3,)), layer, layers.Dense(1)])
        x = rng.standard_normal((16, 3)).astype(np.float32)
    m.compile(optimizer=pynncore.optimizers.SGD(1.0), loss="mse")
    m.fit(x, rng.standard_normal((16, 1)).astype(np.float32) * 5, epochs=3, verbose=0)
    for w in layer.trainable_weights:
        assert np.all(w.value >= 0), w.name
    assert layer.get_config()[next(k for k in layer.get_config() if k.endswith("_constraint"))]["class_name"] == "NonNeg"


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_max_norm_training_matches_keras(rng):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    km = keras.Sequential([keras.Input((5,)), keras.layers.Dense(6, activation="relu",
                           kernel_constraint=keras.constraints.MaxNorm(0.7)), keras.layers.Dense(2)])
    pm = pynncore.Sequential([pynncore.Input((5,)), layers.Dense(6, activation="relu",
                              kernel_constraint=constraints.MaxNorm(0.7)), layers.Dense(2)])
    pm.set_weights([np.asarray(w) for w in km.get_weights()])
    km.compile(optimizer=keras.optimizers.SGD(0.3), loss="mse")
    pm.compile(optimizer=pynncore.optimizers.SGD(0.3), loss="mse")
    x = rng.standard_normal((10, 5)).astype(np.float32) * 2
    y = rng.standard_normal((10, 2)).astype(np.float32) * 3
    for _ in range(4):
        km.train_on_batch(x, y)
        pm.train_on_batch(x, y)
    for a, b in zip(pm.get_weights(), km.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4, atol=1e-5)


# -- backend -------------------------------------------------------------------------------------


def test_backend_settings_and_clear_session():
    assert backend.floatx() == "float32" and backend.epsilon() == 1e-7
    assert backend.image_data_format() == "channels_last"
    backend.set_floatx("float32")
    backend.set_image_data_format("channels_last")
    with pytest.raises(ValueError, match="float32 only. Received: 'float64'"):
        backend.set_floatx("float64")
    with pytest.raises(ValueError, match="channels-last .* Received: 'channels_first'"):
        backend.set_image_data_format("channels_first")
    before = pynncore.Sequential([pynncore.Input((2,)), layers.Dense(1)])
    backend.clear_session()
    assert layers.Dense(3).name == "dense"
    assert layers.Dense(3).name == "dense_1"
    assert before.predict(np.ones((1, 2), np.float32), verbose=0).shape == (1, 1)


# -- pad_sequences ---------------------------------------------------------------------------------


def test_pad_sequences_matches_the_keras_rules():
    seqs = [[1, 2, 3], [4], [], [5, 6, 7, 8, 9]]
    np.testing.assert_array_equal(pad_sequences(seqs), [[0, 0, 1, 2, 3], [0, 0, 0, 0, 4], [0] * 5, [5, 6, 7, 8, 9]])
    np.testing.assert_array_equal(
        pad_sequences(seqs, maxlen=3, padding="post", truncating="post", value=-1),
        [[1, 2, 3], [4, -1, -1], [-1, -1, -1], [5, 6, 7]],
    )
    np.testing.assert_array_equal(pad_sequences(seqs, maxlen=2), [[2, 3], [0, 4], [0, 0], [8, 9]])
    assert pad_sequences(seqs).dtype == np.int32
    out = pad_sequences([np.ones((2, 3)), np.zeros((1, 3))], dtype="float32", value=0.5)
    assert out.shape == (2, 2, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out[1, 0], 0.5)
    assert pad_sequences([[1]], maxlen=0).shape == (1, 0)
    with pytest.raises(ValueError, match="padding must be 'pre' or 'post'. Received: padding='mid'"):
        pad_sequences(seqs, padding="mid")
    with pytest.raises(ValueError, match="maxlen must be None or an integer >= 0"):
        pad_sequences(seqs, maxlen=-1)
    with pytest.raises(ValueError, match="the steps of sequence 1 have shape"):
        pad_sequences([np.ones((2, 3)), np.ones((2, 4))])
    with pytest.raises(ValueError, match="sequence 0 must be a list or array"):
        pad_sequences([3])


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_pad_sequences_agrees_with_keras(rng):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    seqs = [list(rng.integers(1, 9, rng.integers(0, 8))) for _ in range(12)]
    for kw in ({}, {"maxlen": 4}, {"maxlen": 5, "padding": "post"}, {"maxlen": 3, "truncating": "post", "value": 7}):
        np.testing.assert_array_equal(pad_sequences(seqs, **kw), keras.utils.pad_sequences(seqs, **kw))


# -- input / output tensors -------------------------------------------------------------------------


def test_feature_extractor_from_a_sequential(rng):
    m = pynncore.Sequential([pynncore.Input((6,)), layers.Dense(5, activation="relu", name="h1"),
                             layers.Dense(4, activation="tanh", name="h2"), layers.Dense(2)])
    x = rng.standard_normal((3, 6)).astype(np.float32)
    assert m.input is m.inputs[0] and m.output is m.outputs[0]
    features = pynncore.Model(inputs=m.input, outputs=m.get_layer("h2").output)
    np.testing.assert_allclose(features.predict(x, verbose=0), m.layers[1](m.layers[0](x)), rtol=1e-6)
    assert m.get_layer("h2").input is m.get_layer("h1").output
    # both intermediate outputs at once, and a new head on the features (transfer learning)
    both = pynncore.Model(m.input, [m.get_layer("h1").output, m.get_layer("h2").output])
    assert [a.shape for a in both.predict(x, verbose=0)] == [(3, 5), (3, 4)]
    head = pynncore.Model(m.input, layers.Dense(3, name="new_head")(m.get_layer("h2").output))
    assert head.predict(x, verbose=0).shape == (3, 3)
    # adding a layer rebuilds the graph: the new output is the new layer's
    m.add(layers.Dense(7, name="more"))
    m.build((None, 6))
    assert m.output.shape == (None, 7) and m.get_layer("h2").output.shape == (None, 4)


def test_input_output_errors():
    lone = layers.Dense(3, name="lone")
    with pytest.raises(AttributeError, match="'lone' has never been called on a symbolic input"):
        lone.output
    shared = layers.Dense(2, name="shared")
    a, b = pynncore.Input((3,)), pynncore.Input((3,))
    shared(a)
    shared(b)
    with pytest.raises(AttributeError, match="'shared' has been called 2 times"):
        shared.output
    with pytest.raises(AttributeError, match="has no input yet"):
        pynncore.Sequential([layers.Dense(1)]).input
