"""Sequential/functional models and the Trainer: Keras semantics end to end."""

from __future__ import annotations

import numpy as np
import pytest

import pynncore
from pynncore import _core, callbacks, layers, losses, optimizers
from pynncore.models import Model, Sequential


def _blobs(rng, n=600, classes=3, dim=4):
    centers = rng.standard_normal((classes, dim)) * 3
    y = rng.integers(0, classes, n)
    x = centers[y] + rng.standard_normal((n, dim))
    return x.astype(np.float32), y


def test_sequential_builds_from_input_dim_and_counts_params(capsys):
    model = Sequential([layers.Dense(10, input_dim=8, activation="relu"), layers.Dense(1, activation="sigmoid")])
    assert model.built
    assert [w.shape for w in model.get_weights()] == [(8, 10), (10,), (10, 1), (1,)]
    assert model.count_params() == 8 * 10 + 10 + 10 + 1
    model.summary()
    out = capsys.readouterr().out
    assert "Total params: 101" in out and "dense" in out


def test_sequential_add_and_input(rng):
    model = Sequential()
    model.add(pynncore.Input(shape=(5,)))
    model.add(layers.Dense(3))
    assert model.built and model.output_shape == (None, 3)
    lazy = Sequential([layers.Dense(2)])
    assert not lazy.built
    assert lazy.predict(rng.standard_normal((4, 7))).shape == (4, 2)
    assert lazy.built


def test_functional_model_matches_sequential(rng):
    inp = pynncore.Input(shape=(6,))
    h = layers.Dense(8, activation="tanh")(inp)
    out = layers.Dense(2)(h)
    fmodel = Model(inp, out)
    smodel = Sequential([layers.Dense(8, activation="tanh", input_shape=(6,)), layers.Dense(2)])
    smodel.set_weights(fmodel.get_weights())
    x = rng.standard_normal((5, 6))
    np.testing.assert_allclose(fmodel.predict(x), smodel.predict(x), rtol=1e-6)
    np.testing.assert_allclose(fmodel(x), smodel(x), rtol=1e-6)


@pytest.mark.parametrize("opt", ["sgd", "rmsprop", "adam", "adamw", "adagrad", "adamax", "nadam"])
def test_fit_learns_blobs(opt, rng):
    pynncore.utils.set_random_seed(1)
    x, y = _blobs(rng)
    model = Sequential([layers.Dense(16, activation="relu", input_shape=(4,)), layers.Dense(3, activation="softmax")])
    lr = {"sgd": 0.1, "adagrad": 0.1}.get(opt, 0.01)
    model.compile(optimizer=optimizers.get(opt).__class__(learning_rate=lr), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    assert set(history.history) == {"loss", "accuracy"}
    assert len(history.history["loss"]) == 15
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss, acc = model.evaluate(x, y, verbose=0)
    assert acc > 0.9, (opt, acc)


def test_fit_validation_split_and_batch_extremes(rng):
    x, y = _blobs(rng, n=100)
    model = Sequential([layers.Dense(3, activation="softmax", input_shape=(4,))])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    h = model.fit(x, y, epochs=2, batch_size=len(x), validation_split=0.2, verbose=0)
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    h = model.fit(x[:10], y[:10], epochs=1, batch_size=1, verbose=0)  # stochastic
    assert len(h.history["loss"]) == 1


def test_evaluate_matches_manual_loss(rng):
    x, y = _blobs(rng, n=50)
    model = Sequential([layers.Dense(3, activation="softmax", input_shape=(4,))])
    model.compile("sgd", "sparse_categorical_crossentropy")
    p = model.predict(x).astype(np.float64)
    manual = -np.mean(np.log(np.clip(p[np.arange(50), y], 1e-7, 1 - 1e-7)))
    assert model.evaluate(x, y, batch_size=7, verbose=0) == pytest.approx(manual, rel=1e-5)


def test_train_on_batch_and_predict_on_batch(rng):
    x, y = _blobs(rng, n=64)
    model = Sequential([layers.Dense(3, activation="softmax", input_shape=(4,))])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    before = model.get_weights()
    loss, acc = model.train_on_batch(x, y)
    assert np.isfinite(loss) and 0 <= acc <= 1
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    np.testing.assert_allclose(model.predict_on_batch(x), model.predict(x), rtol=1e-6)
    assert model.predict(np.zeros((0, 4))).shape == (0, 3)


def test_early_stopping_restores_best(rng):
    x, y = _blobs(rng, n=200)
    model = Sequential([layers.Dense(3, activation="softmax", input_shape=(4,))])
    model.compile(optimizers.SGD(learning_rate=0.0), "sparse_categorical_crossentropy")
    es = callbacks.EarlyStopping(monitor="loss", patience=2, restore_best_weights=True)
    h = model.fit(x, y, epochs=20, verbose=0, callbacks=[es])
    assert len(h.history["loss"]) == 3  # no improvement with lr=0


def test_save_and_load_model_roundtrip(tmp_path, rng):
    x, y = _blobs(rng, n=120)
    model = Sequential([
        layers.Dense(8, activation="relu", input_shape=(4,)),
        layers.BatchNormalization(),
        layers.Dropout(0.1),
        layers.Dense(3, activation="softmax"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, verbose=0)
    path = str(tmp_path / "m.pnc")
    model.save(path)
    loaded = pynncore.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.optimizer.iterations == model.optimizer.iterations
    # training resumes identically from the saved optimizer state
    pynncore.utils.set_random_seed(5)
    model.fit(x, y, epochs=1, verbose=0, shuffle=False)
    pynncore.utils.set_random_seed(5)
    loaded.fit(x, y, epochs=1, verbose=0, shuffle=False)
    np.testing.assert_allclose(loaded.predict(x), model.predict(x), rtol=1e-5, atol=1e-6)


def test_load_rejects_unknown_class_and_garbage(tmp_path):
    bad = tmp_path / "bad.pnc"
    bad.write_bytes(b"not a model at all")
    with pytest.raises(ValueError):
        pynncore.load_model(str(bad))


def test_fit_bad_input_errors(rng):
    model = Sequential([layers.Dense(1, input_shape=(3,))])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="same number of samples"):
        model.fit(np.ones((5, 3)), np.ones(4), verbose=0)
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.fit(np.array([[1, 2, np.nan]] * 2), np.ones(2), verbose=0)
    with pytest.raises(ValueError, match="expected input with 3 features"):
        model.fit(np.ones((5, 4)), np.ones(5), verbose=0)
    with pytest.raises(ValueError, match="empty"):
        model.fit(np.ones((0, 3)), np.ones(0), verbose=0)
    with pytest.raises(ValueError, match="Unknown loss 'msee'.*mse"):
        model.compile("sgd", "msee")
    with pytest.raises(ValueError, match="Unknown optimizer 'adamm'.*adam"):
        model.compile("adamm", "mse")
    clf = Sequential([layers.Dense(3, activation="softmax", input_shape=(3,))])
    clf.compile("sgd", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="label"):
        clf.fit(np.ones((2, 3)), np.array([0, 3]), verbose=0)


def test_same_seed_same_results(rng):
    x, y = _blobs(rng, n=96)
    runs = []
    for _ in range(2):
        pynncore.utils.set_random_seed(123)
        model = Sequential([layers.Dense(8, activation="relu", input_shape=(4,)), layers.Dropout(0.3), layers.Dense(3, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy")
        h = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
        runs.append((h.history["loss"], model.get_weights()))
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)


def test_class_weight_and_sample_weight_scale_the_loss(rng):
    x, y = _blobs(rng, n=40)
    model = Sequential([layers.Dense(3, activation="softmax", input_shape=(4,))])
    model.compile("sgd", "sparse_categorical_crossentropy")
    w = np.where(y == 0, 2.0, 1.0)
    a = model.test_on_batch(x, y, sample_weight=w)
    ref = model.test_on_batch(x, y, sample_weight=np.ones(40))
    assert a != pytest.approx(ref)
    before = model.get_weights()
    model.train_on_batch(x, y, class_weight={0: 2.0, 1: 1.0, 2: 1.0})
    after_cw = model.get_weights()
    model.set_weights(before)
    model.train_on_batch(x, y, sample_weight=w)
    for p, q in zip(after_cw, model.get_weights()):
        np.testing.assert_allclose(p, q, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_count_nonfinite_counts_every_nan_and_inf(dtype, rng):
    # large enough to be split between threads; the bad values sit at both ends and in between
    x = rng.standard_normal(300_001).astype(dtype)
    assert _core.count_nonfinite(x) == 0
    x[[0, 17, 150_000, 300_000]] = [np.nan, np.inf, -np.inf, np.nan]
    x[5] = np.finfo(dtype).max  # largest finite value: not counted
    x[6] = -np.finfo(dtype).tiny / 2  # subnormal: not counted
    assert _core.count_nonfinite(x) == 4
    assert _core.count_nonfinite(x.reshape(1, -1)) == 4
    assert _core.count_nonfinite(x[:0]) == 0
    with pytest.raises(TypeError, match="C-contiguous float32 or float64"):
        _core.count_nonfinite(x[::2])
    with pytest.raises(TypeError, match="C-contiguous float32 or float64"):
        _core.count_nonfinite(np.zeros(3, np.float16))


def test_fit_reports_nonfinite_values_in_any_layout():
    model = Sequential([layers.Dense(1, input_shape=(3,))])
    model.compile("sgd", "mse")
    x = np.ones((4, 3), np.float32)
    x[2, 1] = np.inf
    for bad in (x, np.asfortranarray(x), x.astype(np.float64), x.astype(np.float16), x.astype(">f4")):
        with pytest.raises(ValueError, match="x contains 1 NaN or infinite"):
            model.fit(bad, np.ones(4), verbose=0)
    y = np.ones(4)
    y[3] = np.nan
    with pytest.raises(ValueError, match="y contains 1 NaN or infinite"):
        model.fit(np.ones((4, 3)), y, verbose=0)
