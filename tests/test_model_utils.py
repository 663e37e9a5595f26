"""to_json / model_from_json, clone_model, the custom-object registry,
timeseries_dataset_from_array and split_dataset."""

import builtins
import importlib
import json
import os
import random
import sys

import numpy as np
import pytest

import pynncore
from pynncore import layers, models, saving, utils
from pynncore.models import Model, Sequential, clone_model, model_from_json


@pytest.fixture
def rng():
    return np.random.default_rng(7)


# -- a custom layer implementing the Layer contract -------------------------------------------


class Scale(layers.Layer):
    """``y = x * gamma + offset`` with a trainable per-feature ``gamma``."""

    def __init__(self, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.offset = float(offset)

    def build(self, input_shape):
        self.gamma = self.add_weight("gamma", (input_shape[-1],), "random_normal")
        self.built = True

    def forward(self, x, training=False):
        return x * self.gamma.value + np.float32(self.offset), (x if training else None)

    def backward(self, ctx, dy, need_dx=True):
        if self.trainable:
            self.gamma.grad += (dy * ctx).reshape(-1, dy.shape[-1]).sum(axis=0)
        return dy * self.gamma.value if need_dx else None

    def get_config(self):
        config = super().get_config()
        config["offset"] = self.offset
        return config


RegisteredScale = saving.register_keras_serializable("model_utils_tests")(type("RegisteredScale", (Scale,), {}))


def _functional(prefix="f_"):
    a, b = pynncore.Input((3,), name=prefix + "a"), pynncore.Input((2,), name=prefix + "b")
    shared = layers.Dense(4, activation="tanh", name=prefix + "shared")
    h = layers.Concatenate(name=prefix + "cat")([shared(layers.Dense(3, name=prefix + "pa")(a)), shared(layers.Dense(3, name=prefix + "pb")(b))])
    inner = Sequential([layers.Dense(5, input_shape=(8,), activation="relu", name=prefix + "in1"), layers.Dense(2, name=prefix + "in2")], name=prefix + "inner")
    return Model({"a": a, "b": b}, {"y": inner(h), "z": layers.Dense(1, name=prefix + "z")(h)}, name=prefix + "model")


def _inputs(rng):
    return {"a": rng.standard_normal((6, 3)).astype(np.float32), "b": rng.standard_normal((6, 2)).astype(np.float32)}


def _assert_outputs_equal(m1, m2, x):
    p1, p2 = m1.predict(x, verbose=0), m2.predict(x, verbose=0)
    if isinstance(p1, dict):
        assert sorted(p1) == sorted(p2)
        for k in p1:
            np.testing.assert_array_equal(p1[k], p2[k])
    else:
        np.testing.assert_array_equal(p1, p2)


# -- to_json / model_from_json -------------------------------------------------------------------


def test_sequential_json_round_trip(rng):
    model = Sequential([layers.Dense(6, input_shape=(4,), activation="relu"), layers.Dropout(0.2), layers.Dense(3, activation="softmax")], name="seq")
    text = model.to_json()
    assert json.loads(text)["class_name"] == "Sequential"
    assert json.loads(model.to_json(indent=2)) == json.loads(text)  # kwargs go to json.dumps
    rebuilt = model_from_json(text)
    assert isinstance(rebuilt, Sequential) and rebuilt.name == "seq"
    assert [type(l) for l in rebuilt.layers] == [type(l) for l in model.layers]
    assert not any(np.array_equal(a, b) for a, b in zip(rebuilt.get_weights(), model.get_weights()) if a.ndim == 2)
    rebuilt.set_weights(model.get_weights())
    x = rng.standard_normal((5, 4)).astype(np.float32)
    _assert_outputs_equal(model, rebuilt, x)
    assert rebuilt.to_json() == text
    assert model_from_json(text.encode()).name == "seq"  # bytes are read as UTF-8 JSON


def test_functional_nested_shared_json_round_trip(rng):
    model = _functional()
    rebuilt = model_from_json(model.to_json())
    assert rebuilt.input_names == ["a", "b"] and rebuilt.output_names == ["y", "z"]
    assert len(rebuilt.get_layer("f_shared")._inbound_nodes) == 2  # still one shared layer
    assert isinstance(rebuilt.get_layer("f_inner"), Sequential)
    assert len(rebuilt.weights) == len(model.weights)
    rebuilt.set_weights(model.get_weights())
    _assert_outputs_equal(model, rebuilt, _inputs(rng))


def test_model_from_json_refuses_unknown_and_hostile_classes(monkeypatch):
    base = json.loads(Sequential([layers.Dense(2, input_shape=(3,))]).to_json())
    names = ["os.system", "subprocess.Popen", "builtins.eval", "pynncore_evil_module.Layer", "__import__", "Layer.__subclasses__"]
    imported = []
    real_import, real_import_module = builtins.__import__, importlib.import_module

    def spy_import(name, *args, **kwargs):
        imported.append(name)
        return real_import(name, *args, **kwargs)

    def spy_import_module(name, *args, **kwargs):
        imported.append(name)
        return real_import_module(name, *args, **kwargs)

    before = set(sys.modules)
    monkeypatch.setattr(builtins, "__import__", spy_import)
    monkeypatch.setattr(importlib, "import_module", spy_import_module)
    for name in names:
        spec = json.loads(json.dumps(base))
        spec["config"]["layers"][1]["class_name"] = name
        spec["config"]["layers"][1]["module"] = name.rsplit(".", 1)[0]
        with pytest.raises(ValueError, match=f"unknown layer class '{name}'.*not a registered class"):
            model_from_json(json.dumps(spec))
        top = {"module": "os", "class_name": name, "config": {}, "registered_name": name}
        with pytest.raises(ValueError, match="not a registered class"):
            model_from_json(json.dumps(top))
    monkeypatch.undo()
    named = {n.split(".")[0] for n in names} | {"os", "subprocess", "builtins", "pynncore_evil_module"}
    assert imported and not [m for m in imported if m.split(".")[0] in named], imported
    assert set(sys.modules) == before


@pytest.mark.parametrize(
    "text, match",
    [
        ("not json", "not valid JSON"),
        ('{"class_name": "Sequential", "config": {"layers": [{"class_name": "Dense", "config": {"units": NaN}}]}}', "NaN"),
        ("[" * 100000 + "]" * 100000, "nested too deeply|not valid JSON"),
        ('"Sequential"', "layer entry"),
        ('{"class_name": ["Sequential"], "config": {}}', "class names must be strings"),
        ('{"class_name": "Sequential", "config": []}', "must be an object"),
        ('{"class_name": "Sequential", "config": {"layers": [{"class_name": "Dense", "config": {"units": "many"}}]}}', "invalid model description|units"),
        ('{"class_name": "Sequential", "config": {"layers": [{"class_name": "Dense", "config": {"units": 2, "evil": 1}}]}}', "invalid model description"),
        ('{"class_name": "Model", "config": {"name": "m", "layers": {"x": 1}}}', "'layers' list"),
        ('{"class_name": "Dense", "config": {"units": 2}}', "not a model"),
        ('{"class_name": "Model", "config": {"name": "m", "layers": [{"class_name": "InputLayer", "name": "i", "config": {"name": "i", "batch_shape": [null, 2]}}], "input_layers": [["i", 0, 0]], "output_layers": [["j", 0, 0]]}}', "unknown tensor"),
    ],
)
def test_model_from_json_bad_input_is_value_error(text, match):
    with pytest.raises(ValueError, match=match):
        model_from_json(text)


def test_model_from_json_deeply_nested_models():
    def nested(depth):
        text = json.dumps({"class_name": "Dense", "config": {"units": 1}})
        for _ in range(depth):
            text = '{"class_name": "Sequential", "config": {"layers": [' + text + "]}}"
        return text

    assert isinstance(model_from_json(nested(50)).layers[0], Sequential)
    with pytest.raises(ValueError, match="nested too deeply"):
        model_from_json(nested(3000))


def test_model_from_json_bad_argument_types():
    with pytest.raises(TypeError, match="expected a JSON string"):
        model_from_json({"class_name": "Sequential"})
    text = Sequential([layers.Dense(1, input_shape=(2,))]).to_json()
    with pytest.raises(TypeError, match="custom_objects must be a dict"):
        model_from_json(text, custom_objects=[Scale])
    with pytest.raises(TypeError, match="keys must be strings"):
        model_from_json(text, custom_objects={Scale: Scale})


def test_custom_objects_must_be_layer_classes():
    text = Sequential([layers.Dense(1, input_shape=(2,)), Scale(name="s")]).to_json()
    with pytest.raises(ValueError, match="not a Layer class"):
        model_from_json(text, custom_objects={"Scale": os.system})


# -- clone_model -----------------------------------------------------------------------------------


def test_clone_sequential_fresh_weights_and_independent_training(rng):
    model = Sequential([layers.Dense(5, input_shape=(3,), activation="relu"), layers.Dense(1)], name="to_clone")
    model.compile("sgd", "mse", metrics=["mae"])
    clone = clone_model(model)
    assert isinstance(clone, Sequential) and clone.name == "to_clone"
    assert [l.get_config() for l in clone.layers] == [l.get_config() for l in model.layers]
    assert all(a is not b for a, b in zip(clone.layers, model.layers))
    assert not np.array_equal(clone.get_weights()[0], model.get_weights()[0])
    assert clone.compiled and type(clone.optimizer).__name__ == "SGD" and clone.optimizer is not model.optimizer
    before = model.get_weights()
    x, y = rng.standard_normal((16, 3)), rng.standard_normal((16, 1))
    clone.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    clone.set_weights(model.get_weights())
    _assert_outputs_equal(model, clone, x)


def test_clone_functional_keeps_structure_and_sharing(rng):
    model = _functional("c_")
    clone = clone_model(model)
    assert clone.input_names == model.input_names and clone.output_names == model.output_names
    assert [l.name for l in clone.layers] == [l.name for l in model.layers]
    assert not set(map(id, clone.layers)) & set(map(id, model.layers))
    shared = clone.get_layer("c_shared")
    assert len([n for n in shared._inbound_nodes if n.live]) == 2
    assert isinstance(clone.get_layer("c_inner"), Sequential) and clone.get_layer("c_inner") is not model.get_layer("c_inner")
    clone.set_weights(model.get_weights())
    _assert_outputs_equal(model, clone, _inputs(rng))


def test_clone_function_and_input_tensors(rng):
    a = pynncore.Input((4,), name="ct_in")
    model = Model(a, layers.Dense(2, name="ct_out")(layers.Dense(3, activation="relu", name="ct_h")(a)))
    seen = []

    def clone_fn(layer):
        seen.append(layer.name)
        config = layer.get_config()
        if isinstance(layer, layers.Dense) and layer.name == "ct_h":
            config["units"] = 7
        return type(layer).from_config(config)

    clone = clone_model(model, clone_function=clone_fn)
    assert seen == ["ct_h", "ct_out"]
    assert clone.get_layer("ct_h").units == 7 and clone.output_shape == (None, 2)
    same = clone_model(model, clone_function=lambda layer: layer)  # shares the layers: same weights
    x = rng.standard_normal((3, 4)).astype(np.float32)
    _assert_outputs_equal(model, same, x)
    new_in = pynncore.Input((4,), name="other_in")
    on_new = clone_model(model, input_tensors=new_in)
    assert on_new.inputs[0] is new_in
    seq = Sequential([layers.Dense(2, input_shape=(4,))])
    seq_clone = clone_model(seq, input_tensors=[pynncore.Input((4,))])
    assert seq_clone.output_shape == (None, 2)
    unbuilt = clone_model(Sequential([layers.Dense(2)]))
    assert not unbuilt.built and unbuilt.predict(x, verbose=0).shape == (3, 2)


def test_clone_model_bad_input():
    model = Sequential([layers.Dense(2, input_shape=(4,))])
    with pytest.raises(TypeError, match="expected a Sequential or functional Model"):
        clone_model(layers.Dense(2))
    with pytest.raises(TypeError, match="clone_function must be callable"):
        clone_model(model, clone_function=3)
    with pytest.raises(TypeError, match="must return a Layer"):
        clone_model(model, clone_function=lambda layer: None)
    with pytest.raises(ValueError, match="single input tensor"):
        clone_model(model, input_tensors=[pynncore.Input((4,)), pynncore.Input((4,))])
    with pytest.raises(TypeError, match="must come from pynncore.Input"):
        clone_model(model, input_tensors=np.zeros((1, 4)))
    with pytest.raises(ValueError, match=r"has shape \(None, 4\)"):
        clone_model(model, input_tensors=pynncore.Input((5,)))
    f = _functional("cb_")
    with pytest.raises(ValueError, match="2 input"):
        clone_model(f, input_tensors=[pynncore.Input((3,))])
    with pytest.raises(ValueError, match="structure"):
        clone_model(f, input_tensors={"a": pynncore.Input((3,)), "q": pynncore.Input((2,))})
    with pytest.raises(TypeError, match="symbolic"):
        clone_model(f, input_tensors=[pynncore.Input((3,)), np.zeros((1, 2))])


def test_clone_model_with_unregistered_custom_layer(rng):
    a = pynncore.Input((3,))
    model = Model(a, Scale(offset=0.5, name="scale_u")(layers.Dense(3)(a)))
    clone = clone_model(model)
    assert type(clone.get_layer("scale_u")) is Scale and clone.get_layer("scale_u").offset == 0.5
    clone.set_weights(model.get_weights())
    _assert_outputs_equal(model, clone, rng.standard_normal((4, 3)))
    wrapped = Sequential([layers.TimeDistributed(Scale(offset=2.0), input_shape=(5, 3))])
    wrapped_clone = clone_model(wrapped)
    assert type(wrapped_clone.layers[0].layer) is Scale and wrapped_clone.layers[0].layer.offset == 2.0


# -- custom objects ---------------------------------------------------------------------------------


def test_registry_functions():
    assert saving.get_registered_name(RegisteredScale) == "model_utils_tests>RegisteredScale"
    assert saving.get_registered_name(Scale) == "Scale"
    assert saving.get_registered_object("model_utils_tests>RegisteredScale") is RegisteredScale
    assert saving.get_registered_object("RegisteredScale") is None
    assert saving.get_registered_object("Scale") is None
    assert saving.get_registered_object("Scale", custom_objects={"Scale": Scale}) is Scale
    assert saving.get_registered_object("Scale", module_objects={"Scale": Scale}) is Scale
    assert saving.get_custom_objects()["model_utils_tests>RegisteredScale"] is RegisteredScale
    with saving.custom_object_scope({"Scale": Scale}):
        assert saving.get_registered_object("Scale") is Scale
        with utils.custom_object_scope({"Other": RegisteredScale}):
            assert saving.get_registered_object("Scale") is Scale
            assert saving.get_registered_object("Other") is RegisteredScale
        assert saving.get_registered_object("Other") is None
        assert "Scale" not in saving.get_custom_objects()
    assert saving.get_registered_object("Scale") is None
    for name in ("register_keras_serializable", "get_registered_name", "get_registered_object", "custom_object_scope",
                 "CustomObjectScope", "get_custom_objects"):
        assert getattr(utils, name) is getattr(saving, name)
    assert pynncore.register_serializable is saving.register_keras_serializable
    assert {"clone_model", "model_from_json"} <= set(models.__all__)
    assert {"timeseries_dataset_from_array", "split_dataset", "register_keras_serializable"} <= set(utils.__all__)

    named = saving.register_keras_serializable("pkg", name="Renamed")(type("Tmp", (Scale,), {}))
    assert saving.get_registered_name(named) == "pkg>Renamed"
    with pytest.raises(ValueError, match="no get_config"):
        saving.register_keras_serializable("pkg")(type("NoConfig", (), {}))
    with pytest.raises(TypeError, match="package must be a non-empty string"):
        saving.register_keras_serializable(3)
    with pytest.raises(TypeError, match="name must be"):
        saving.register_keras_serializable("pkg", name=5)
    with pytest.raises(TypeError, match="custom_objects must be a dict"):
        saving.custom_object_scope([Scale])


def test_registered_custom_layer_save_load_and_json(tmp_path, rng):
    model = Sequential([layers.Dense(3, input_shape=(2,)), RegisteredScale(offset=1.5, name="rs")])
    model.compile("adam", "mse")
    x, y = rng.standard_normal((8, 2)), rng.standard_normal((8, 3))
    model.fit(x, y, epochs=1, verbose=0)
    assert json.loads(model.to_json())["config"]["layers"][2]["class_name"] == "model_utils_tests>RegisteredScale"
    path = str(tmp_path / "custom.pnc")
    model.save(path)
    loaded = pynncore.load_model(path)
    assert type(loaded.layers[1]) is RegisteredScale and loaded.layers[1].offset == 1.5
    _assert_outputs_equal(model, loaded, x)
    loaded.fit(x, y, epochs=1, verbose=0)  # gradients flow through the custom layer
    rebuilt = model_from_json(model.to_json())
    rebuilt.set_weights(model.get_weights())
    _assert_outputs_equal(model, rebuilt, x)


def test_unregistered_custom_layer_needs_custom_objects(tmp_path, rng):
    model = Sequential([layers.Dense(3, input_shape=(2,)), Scale(offset=-1.0, name="us")])
    text = model.to_json()
    with pytest.raises(ValueError, match="unknown layer class 'Scale'"):
        model_from_json(text)
    rebuilt = model_from_json(text, custom_objects={"Scale": Scale})
    with saving.custom_object_scope({"Scale": Scale}):
        scoped = model_from_json(text)
    x = rng.standard_normal((4, 2))
    for m in (rebuilt, scoped):
        assert type(m.layers[1]) is Scale
        m.set_weights(model.get_weights())
        _assert_outputs_equal(model, m, x)
    path = str(tmp_path / "unreg.pnc")
    model.save(path)
    with pytest.raises(ValueError, match="unknown layer class 'Scale'"):
        pynncore.load_model(path)
    _assert_outputs_equal(model, pynncore.load_model(path, custom_objects={"Scale": Scale}), x)
    _assert_outputs_equal(model, pynncore.load_model(path, {"Scale": Scale}, False), x)  # Keras's argument order
    with saving.custom_object_scope({"Scale": Scale}):
        _assert_outputs_equal(model, pynncore.load_model(path), x)


def test_registered_custom_layer_loads_with_short_name_in_custom_objects(rng):
    model = Sequential([layers.Dense(2, input_shape=(2,)), RegisteredScale(name="rs2")])
    spec = json.loads(model.to_json())
    spec["config"]["layers"][2]["class_name"] = "other_pkg>LocalScale"
    m = model_from_json(json.dumps(spec), custom_objects={"LocalScale": Scale})
    assert type(m.layers[1]) is Scale


# -- timeseries_dataset_from_array -----------------------------------------------------------------


def _windows_ref(data, targets, length, stride, rate, start, end):
    """Every window of Keras 3's timeseries_dataset_from_array, written out in float64."""
    data = np.asarray(data, np.float64)
    start = 0 if start is None else start
    end = len(data) if end is None else end
    xs, ys = [], []
    p = start
    count = 0
    while p + (length - 1) * rate < end and (targets is None or count < len(targets) - start):
        xs.append(np.stack([data[p + k * rate] for k in range(length)]))
        if targets is not None:
            ys.append(np.float64(targets[p]))
        p += stride
        count += stride
    return xs, ys


@pytest.mark.parametrize(
    "length, stride, rate, start, end, batch",
    [(10, 3, 2, None, None, 5), (1, 1, 1, None, None, 128), (4, 1, 1, 3, 40, 7), (5, 2, 3, 2, None, 4), (3, 7, 1, None, 30, None)],
)
def test_timeseries_windows_match_reference(rng, length, stride, rate, start, end, batch):
    data = rng.standard_normal((50, 2))
    targets = rng.standard_normal(50)
    ds = utils.timeseries_dataset_from_array(data, targets, length, sequence_stride=stride, sampling_rate=rate,
                                             batch_size=batch, start_index=start, end_index=end)
    xs, ys = _windows_ref(data, targets, length, stride, rate, start, end)
    items = list(ds)
    assert len(items) == len(ds)
    if batch is None:
        got_x = [x for x, _ in items]
        got_y = [y for _, y in items]
    else:
        assert all(len(x) == batch for x, _ in items[:-1]) and 0 < len(items[-1][0]) <= batch
        got_x = [w for x, _ in items for w in x]
        got_y = [t for _, y in items for t in y]
    assert len(got_x) == len(xs)
    np.testing.assert_array_equal(np.array(got_x), np.array(xs))
    np.testing.assert_array_equal(np.array(got_y), np.array(ys))


def test_timeseries_keras_docstring_example():
    # Keras 3's own example: indices 0..98, sequence_length=10, sampling_rate=2, sequence_stride=3.
    ds = utils.timeseries_dataset_from_array(np.arange(99), None, 10, sequence_stride=3, sampling_rate=2, batch_size=1000)
    (x,) = list(ds)
    np.testing.assert_array_equal(x[0], np.arange(0, 20, 2))
    np.testing.assert_array_equal(x[1], np.arange(3, 23, 2))
    np.testing.assert_array_equal(x[-1], np.arange(78, 98, 2))
    # Keras 3's example 2: the past 10 steps predict the next one.
    data = np.arange(100.0)
    x0, y0 = utils.timeseries_dataset_from_array(data[:-10], data[10:], sequence_length=10)[0]
    np.testing.assert_array_equal(x0[0], data[:10])
    assert y0[0] == data[10] and x0.shape == (81, 10)


def test_timeseries_shuffle_with_seed(rng):
    data = np.arange(60.0)
    targets = np.arange(60.0) * 10
    a = [b for b in utils.timeseries_dataset_from_array(data, targets, 5, batch_size=8, shuffle=True, seed=3)]
    b = [b for b in utils.timeseries_dataset_from_array(data, targets, 5, batch_size=8, shuffle=True, seed=3)]
    c = [b for b in utils.timeseries_dataset_from_array(data, targets, 5, batch_size=8, shuffle=True, seed=4)]
    xa = np.concatenate([x for x, _ in a])
    ya = np.concatenate([y for _, y in a])
    for (x1, y1), (x2, y2) in zip(a, b):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(xa, np.concatenate([x for x, _ in c]))
    starts = np.arange(56)
    np.random.RandomState(3).shuffle(starts)  # Keras's first shuffle of the window starts
    np.testing.assert_array_equal(xa[:, 0], starts)
    np.testing.assert_array_equal(ya, xa[:, 0] * 10)  # each window keeps its own target
    np.testing.assert_array_equal(xa - xa[:, :1], np.tile(np.arange(5.0), (56, 1)))


def test_timeseries_in_fit_evaluate_predict(rng):
    t = np.arange(300, dtype=np.float32)
    series = np.sin(t / 8).astype(np.float32)[:, None]
    train = utils.timeseries_dataset_from_array(series[:-6], series[6:, 0], sequence_length=6, batch_size=32)
    model = Sequential([layers.Flatten(input_shape=(6, 1)), layers.Dense(8, activation="tanh"), layers.Dense(1)])
    model.compile("adam", "mse")
    history = model.fit(train, epochs=3, verbose=0)
    assert len(history.history["loss"]) == 3 and np.isfinite(history.history["loss"]).all()
    assert np.isfinite(model.evaluate(train, verbose=0))
    x_only = utils.timeseries_dataset_from_array(series, None, sequence_length=6, batch_size=50)
    pred = model.predict(x_only, verbose=0)
    assert pred.shape == (295, 1)
    windows = np.stack([series[i : i + 6] for i in range(295)])
    np.testing.assert_allclose(pred, model.predict(windows, verbose=0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"start_index": -1}, ValueError, "start_index must be 0 or greater"),
        ({"start_index": 20}, ValueError, "start_index must be lower than the length"),
        ({"start_index": 5, "end_index": 5}, ValueError, "end_index must be higher than start_index"),
        ({"end_index": 20}, ValueError, "end_index must be lower than the length"),
        ({"end_index": 0}, ValueError, "end_index must be 1 or greater"),
        ({"sampling_rate": 0}, ValueError, "sampling_rate must be 1 or greater"),
        ({"sampling_rate": 20}, ValueError, "sampling_rate must be lower than the length"),
        ({"sequence_stride": 0}, ValueError, "sequence_stride must be 1 or greater"),
        ({"sequence_stride": 25}, ValueError, "sequence_stride must be lower than the length"),
        ({"sequence_length": 0}, ValueError, "sequence_length must be 1 or greater"),
        ({"sequence_length": 2.5}, TypeError, "sequence_length must be an integer"),
        ({"batch_size": 0}, ValueError, "batch_size must be 1 or greater"),
        ({"batch_size": "8"}, TypeError, "batch_size must be an integer"),
        ({"shuffle": "yes"}, TypeError, "shuffle must be a bool"),
        ({"seed": 1.5}, TypeError, "seed must be an integer"),
    ],
)
def test_timeseries_bad_arguments(kwargs, exc, match):
    args = dict(sequence_length=3)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        utils.timeseries_dataset_from_array(np.zeros((20, 2)), None, **args)


def test_timeseries_bad_data_and_indexing():
    with pytest.raises(ValueError, match="time axis"):
        utils.timeseries_dataset_from_array(np.float32(3), None, 1)
    with pytest.raises(ValueError, match="targets must have at least 1 dimension"):
        utils.timeseries_dataset_from_array(np.zeros(5), 3.0, 1)
    ds = utils.timeseries_dataset_from_array(np.arange(10), None, 3, batch_size=4)
    assert len(ds) == 2 and np.array_equal(ds[-1], ds[1])
    with pytest.raises(IndexError, match="out of range"):
        ds[2]
    with pytest.raises(TypeError, match="index must be an integer"):
        ds["0"]
    assert len(utils.timeseries_dataset_from_array(np.arange(5), None, 9)) == 0  # windows longer than the data


# -- split_dataset ------------------------------------------------------------------------------------


def _keras_sizes(left, right, total):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("keras")
    from keras.src.utils.dataset_utils import _rescale_dataset_split_sizes

    return _rescale_dataset_split_sizes(left, right, total)


@pytest.mark.parametrize(
    "left, right",
    [(0.8, None), (None, 0.25), (3, None), (None, 4), (0.3, 0.3), (2, 5), (0.5, 3), (7, 0.2), (0.34, None), (0.25, None), (None, 0.35)],
)
def test_split_dataset_sizes_match_keras(left, right):
    x = np.arange(30).reshape(10, 3)
    y = np.arange(10) * 2
    n_left, n_right = _keras_sizes(left, right, 10)
    lx, rx = utils.split_dataset(x, left_size=left, right_size=right)
    assert isinstance(lx, np.ndarray) and (len(lx), len(rx)) == (n_left, n_right)
    np.testing.assert_array_equal(lx, x[:n_left])
    np.testing.assert_array_equal(rx, x[10 - n_right :])
    (l1, l2), (r1, r2) = utils.split_dataset((x, y), left_size=left, right_size=right)
    np.testing.assert_array_equal(l2, l1[:, 0] // 3 * 2)
    np.testing.assert_array_equal(r2, r1[:, 0] // 3 * 2)
    left_list, right_list = utils.split_dataset([x, y], left_size=left, right_size=right)
    assert isinstance(left_list, list) and isinstance(right_list, list)


def test_split_dataset_shuffle_matches_keras_order():
    x = np.arange(20)
    left, right = utils.split_dataset(x, left_size=0.75, shuffle=True, seed=11)
    ref = list(range(20))
    random.Random(11).shuffle(ref)  # Keras: random.seed(seed); random.shuffle(samples)
    np.testing.assert_array_equal(left, ref[:15])
    np.testing.assert_array_equal(right, ref[15:])
    state = random.getstate()
    (l1, l2), _ = utils.split_dataset((x, x * 3), left_size=5, shuffle=True, seed=11)
    assert random.getstate() == state  # the global random state is left alone
    np.testing.assert_array_equal(l2, l1 * 3)
    np.testing.assert_array_equal(l1, ref[:5])


@pytest.mark.parametrize(
    "dataset, kwargs, exc, match",
    [
        (np.arange(10), {}, ValueError, "give left_size or right_size"),
        (np.arange(10), {"left_size": "half"}, TypeError, "left_size must be an int, a float or None"),
        (np.arange(10), {"right_size": True}, TypeError, "right_size must be an int"),
        (np.arange(10), {"left_size": 0}, ValueError, "left_size must be a positive integer smaller than 10"),
        (np.arange(10), {"left_size": 10}, ValueError, "left_size must be a positive integer"),
        (np.arange(10), {"right_size": 1.0}, ValueError, r"right_size must be a float in \(0, 1\)"),
        (np.arange(10), {"left_size": -0.5}, ValueError, "left_size must be a float"),
        (np.arange(10), {"left_size": 0.6, "right_size": 0.6}, ValueError, "at most 1"),
        (np.arange(10), {"left_size": 6, "right_size": 5}, ValueError, "add up to 11 samples; the dataset has 10"),
        (np.arange(10), {"left_size": 0.01}, ValueError, "leave the left split empty"),
        (np.arange(10), {"left_size": 0.5, "shuffle": 1}, TypeError, "shuffle must be a bool"),
        (np.arange(10), {"left_size": 0.5, "seed": "1"}, TypeError, "seed must be an integer"),
        ((np.arange(10), np.arange(9)), {"left_size": 0.5}, ValueError, "same number of samples"),
        ((np.arange(10), [1, 2]), {"left_size": 0.5}, TypeError, "must hold numpy arrays"),
        ((), {"left_size": 0.5}, ValueError, "empty tuple"),
        ((np.array(1.0),), {"left_size": 0.5}, ValueError, "no sample axis"),
        ({"x": np.arange(10)}, {"left_size": 0.5}, TypeError, "numpy array or a tuple/list"),
        (np.zeros(0), {"left_size": 0.5}, ValueError, "leave the left split empty"),
    ],
)
def test_split_dataset_bad_input(dataset, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        utils.split_dataset(dataset, **kwargs)


def test_timeseries_matches_keras_when_tensorflow_is_there(rng):
    # Keras 3 builds this dataset with tf.data (or grain); compare every window where it can run.
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    pytest.importorskip("tensorflow")
    data = rng.standard_normal((60, 3)).astype(np.float32)
    targets = rng.standard_normal(60).astype(np.float32)
    for length, stride, rate, start, end, batch in [(10, 3, 2, None, None, 5), (4, 1, 1, 3, 40, 7), (5, 2, 3, 2, None, 4)]:
        kw = dict(sequence_stride=stride, sampling_rate=rate, batch_size=batch, start_index=start, end_index=end)
        ours = list(utils.timeseries_dataset_from_array(data, targets, length, **kw))
        theirs = [(np.asarray(x), np.asarray(y)) for x, y in keras.utils.timeseries_dataset_from_array(data, targets, length, **kw)]
        assert len(ours) == len(theirs)
        for (x1, y1), (x2, y2) in zip(ours, theirs):
            np.testing.assert_array_equal(x1, x2)
            np.testing.assert_array_equal(y1, y2)


def test_load_model_custom_objects_type(tmp_path):
    path = str(tmp_path / "m.pnc")
    Sequential([layers.Dense(1, input_shape=(2,))]).save(path)
    with pytest.raises(TypeError, match="load_model: custom_objects must be a dict"):
        pynncore.load_model(path, custom_objects=("Scale", Scale))


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_clone_model_matches_keras_semantics():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    k_in = keras.Input((4,), name="kc_in")
    k_shared = keras.layers.Dense(3, name="kc_shared")
    k_model = keras.Model(k_in, keras.layers.Add(name="kc_add")([k_shared(k_in), k_shared(k_in)]), name="kc")
    p_in = pynncore.Input((4,), name="kc_in")
    p_shared = layers.Dense(3, name="kc_shared")
    p_model = Model(p_in, layers.Add(name="kc_add")([p_shared(p_in), p_shared(p_in)]), name="kc")
    k_clone, p_clone = keras.models.clone_model(k_model), clone_model(p_model)
    assert [l.name for l in p_clone.layers] == [l.name for l in k_clone.layers]
    assert p_clone.name == k_clone.name == "kc"
    assert len(p_clone.weights) == len(k_clone.weights) == 2  # the shared layer stays one layer
    for orig, clone in ((k_model, k_clone), (p_model, p_clone)):
        assert not np.array_equal(np.asarray(orig.get_weights()[0]), np.asarray(clone.get_weights()[0]))
    k_seq = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="ks_d")], name="ks")
    p_seq = Sequential([pynncore.Input((4,)), layers.Dense(2, name="ks_d")], name="ks")
    k_sc, p_sc = keras.models.clone_model(k_seq), clone_model(p_seq)
    assert [l.name for l in p_sc.layers] == [l.name for l in k_sc.layers] and p_sc.name == k_sc.name
    assert tuple(p_sc.output_shape) == tuple(k_sc.output_shape)
