"""scikit-learn wrappers: Keras 3 style (SKLearnClassifier/Regressor) and classic (KerasClassifier)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.metrics import accuracy_score, r2_score  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import pynncore  # noqa: E402
from pynncore import layers  # noqa: E402
from pynncore.models import Sequential  # noqa: E402
from pynncore.wrappers import SKLearnClassifier, SKLearnRegressor  # noqa: E402
from pynncore.wrappers.scikit_learn import KerasClassifier, KerasRegressor  # noqa: E402

FIT = {"epochs": 5, "batch_size": 16, "verbose": 0}


# Builders live at module level so that joblib's worker processes can unpickle them.
def build_classifier(X, y, hidden=8, loss="categorical_crossentropy", learning_rate=0.02):
    model = Sequential([
        layers.Dense(hidden, activation="relu", input_shape=X.shape[1:]),
        layers.Dense(y.shape[1], activation="softmax"),
    ])
    model.compile(optimizer=pynncore.optimizers.Adam(learning_rate), loss=loss, metrics=["accuracy"])
    return model


def build_regressor(X, y, hidden=8):
    model = Sequential([layers.Dense(hidden, activation="tanh", input_shape=X.shape[1:]), layers.Dense(y.shape[1])])
    model.compile(optimizer=pynncore.optimizers.Adam(0.01), loss="mse")
    return model


def build_not_a_model(X, y):
    return "a string"


def create_model(optimizer="adam", units=16, n_in=4, n_out=3):
    model = Sequential([layers.Dense(units, activation="relu", input_dim=n_in), layers.Dense(n_out, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def create_regression_model(optimizer="adam", n_in=3, **kwargs):
    model = Sequential([layers.Dense(16, activation="tanh", input_dim=n_in), layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    return model


def _blobs(rng, n=150, k=3, d=4):
    centers = rng.standard_normal((k, d)) * 4
    y = rng.integers(0, k, n)
    return (centers[y] + rng.standard_normal((n, d))).astype(np.float32), y


# -- scikit-learn's own estimator checks -------------------------------------------------------


def seeded_classifier(X, y):
    # Seeding the library's generator here makes every fit reproducible (initial weights and
    # batch shuffling both draw from it), which the checks comparing two fits rely on.
    pynncore.utils.set_random_seed(0)
    return build_classifier(X, y)


def seeded_regressor(X, y):
    pynncore.utils.set_random_seed(0)
    return build_regressor(X, y)


EXPECTED_FAILED = {
    "SKLearnClassifier": {},
    "SKLearnRegressor": {},
}


def _check_instances():
    fit = {"epochs": 3, "batch_size": 32, "verbose": 0}
    return [
        SKLearnClassifier(seeded_classifier, fit_kwargs=fit),
        SKLearnRegressor(seeded_regressor, fit_kwargs=fit),
    ]


@parametrize_with_checks(_check_instances(), expected_failed_checks=lambda est: EXPECTED_FAILED[type(est).__name__])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# -- Keras 3 style -----------------------------------------------------------------------------


def test_classifier_string_labels_proba_and_score(rng):
    pynncore.utils.set_random_seed(1)
    X, yi = _blobs(rng)
    labels = np.array(["cat", "dog", "emu"])
    y = labels[yi]
    clf = SKLearnClassifier(build_classifier, model_kwargs={"hidden": 16}, fit_kwargs={"epochs": 30, "batch_size": 16, "verbose": 0})
    assert clf.fit(X, y) is clf
    np.testing.assert_array_equal(clf.classes_, labels)
    assert clf.n_features_in_ == 4 and clf.n_outputs_ == 1
    pred = clf.predict(X)
    assert pred.dtype == y.dtype and set(pred) <= set(labels)
    proba = clf.predict_proba(X)
    assert proba.shape == (150, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(pred, labels[np.argmax(proba, axis=1)])
    assert clf.score(X, y) == pytest.approx(accuracy_score(y, pred))
    assert clf.score(X, y) > 0.9
    assert len(clf.history_["loss"]) == 30 and clf.epoch_ == 30
    assert clf.model_.layers[0].units == 16  # model_kwargs reached the builder


def test_binary_single_sigmoid_unit_model_instance(rng):
    pynncore.utils.set_random_seed(1)
    X, yi = _blobs(rng, k=2)
    y = np.where(yi == 1, 7, -3)  # integer labels that are not 0/1
    model = Sequential([layers.Dense(1, activation="sigmoid", input_shape=(4,))])
    model.compile(pynncore.optimizers.Adam(0.05), "binary_crossentropy")
    before = model.get_weights()
    clf = SKLearnClassifier(model, fit_kwargs={"epochs": 20, "verbose": 0}).fit(X, y)
    assert clf.model_ is not model  # a clone was trained; the given model is untouched
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(clf.classes_, [-3, 7])
    proba = clf.predict_proba(X)
    assert proba.shape == (150, 2)
    p1 = clf.model_.predict(X)[:, 0]
    np.testing.assert_allclose(proba[:, 1], p1, rtol=1e-6)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.predict(X), np.where(p1 > 0.5, 7, -3))
    assert clf.score(X, y) > 0.9


def test_sparse_loss_gets_class_indices(rng):
    X, y = _blobs(rng)
    clf = SKLearnClassifier(build_classifier, model_kwargs={"loss": "sparse_categorical_crossentropy"}, fit_kwargs=FIT)
    clf.fit(X, y + 10)
    np.testing.assert_array_equal(clf.classes_, [10, 11, 12])
    assert clf.predict_proba(X).shape == (150, 3)


def test_regressor_1d_and_2d_targets(rng):
    pynncore.utils.set_random_seed(1)
    X = rng.standard_normal((120, 3)).astype(np.float32)
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3
    reg = SKLearnRegressor(build_regressor, fit_kwargs={"epochs": 60, "batch_size": 16, "verbose": 0}).fit(X, y)
    pred = reg.predict(X)
    assert pred.shape == (120,) and reg.n_outputs_ == 1 and reg.n_features_in_ == 3
    assert reg.score(X, y) == pytest.approx(r2_score(y, pred))
    assert reg.score(X, y) > 0.7
    y2 = np.stack([y, -y], axis=1)
    reg2 = SKLearnRegressor(build_regressor, fit_kwargs=FIT).fit(X, y2)
    assert reg2.predict(X).shape == (120, 2) and reg2.n_outputs_ == 2


def test_fit_kwargs_survive_clone_and_pipeline_and_call_kwargs_win(rng):
    X, y = _blobs(rng, n=60)
    fit_kwargs = {"epochs": 2, "verbose": 0}
    clf = SKLearnClassifier(build_classifier, fit_kwargs=fit_kwargs)
    c2 = clone(clf)
    assert c2.fit_kwargs == {"epochs": 2, "verbose": 0} and c2.fit_kwargs is not fit_kwargs
    assert c2.model is build_classifier
    c2.fit(X, y, epochs=3)
    assert len(c2.history_["loss"]) == 3
    assert fit_kwargs == {"epochs": 2, "verbose": 0}  # fit does not write into the parameter
    pipe = make_pipeline(StandardScaler(), clf)
    pipe.set_params(sklearnclassifier__fit_kwargs={"epochs": 4, "verbose": 0})
    pipe2 = clone(pipe)
    pipe2.fit(X, y)
    assert len(pipe2[-1].history_["loss"]) == 4
    assert pipe2.predict(X).shape == (60,)


def test_warm_start_continues_training(rng):
    X, y = _blobs(rng, n=60)
    clf = SKLearnClassifier(build_classifier, warm_start=True, fit_kwargs={"epochs": 1, "verbose": 0})
    clf.fit(X, y)
    first = clf.model_
    w = first.get_weights()
    clf.fit(X, y)
    assert clf.model_ is first
    assert any(not np.array_equal(a, b) for a, b in zip(w, first.get_weights()))
    cold = SKLearnClassifier(build_classifier, fit_kwargs={"epochs": 1, "verbose": 0}).fit(X, y)
    m = cold.model_
    cold.fit(X, y)
    assert cold.model_ is not m


def test_pickle_stores_models_in_pynncore_format(rng):
    X, y = _blobs(rng, n=60)
    model = build_classifier(X, np.eye(3)[y])
    for est in (SKLearnClassifier(build_classifier, fit_kwargs=FIT), SKLearnClassifier(model, fit_kwargs=FIT)):
        est.fit(X, y)
        data = pickle.dumps(est)
        # No layer or model object is in the pickle: only their description and weights.
        assert b"pynncore.layers" not in data and b"pynncore.models" not in data
        back = pickle.loads(data)
        np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))
        np.testing.assert_array_equal(back.classes_, est.classes_)
        back.fit(X, y)  # the restored model is compiled and trains again
    unfitted = pickle.loads(pickle.dumps(SKLearnClassifier(model, fit_kwargs=FIT)))
    assert unfitted.model.optimizer is not None
    np.testing.assert_array_equal(unfitted.model.get_weights()[0], model.get_weights()[0])


def test_joblib_parallel_cross_validation(rng):
    pynncore.utils.set_random_seed(1)
    X, y = _blobs(rng, n=90)
    clf = SKLearnClassifier(build_classifier, fit_kwargs={"epochs": 10, "verbose": 0})
    scores = cross_val_score(clf, X, y, cv=3, n_jobs=2)
    assert scores.shape == (3,) and np.all(scores > 0.5)


def test_errors(rng):
    X, y = _blobs(rng, n=30)
    with pytest.raises(TypeError, match="build_not_a_model.*must return a compiled pynncore Model.*str"):
        SKLearnClassifier(build_not_a_model).fit(X, y)
    with pytest.raises(TypeError, match="`model` must be a compiled pynncore Model or a callable.*int"):
        SKLearnRegressor(3).fit(X, y.astype(float))
    uncompiled = Sequential([layers.Dense(3, activation="softmax", input_shape=(4,))])
    with pytest.raises(ValueError, match="must be compiled"):
        SKLearnClassifier(uncompiled).fit(X, y)
    with pytest.raises(ValueError, match="Unknown label type"):
        SKLearnClassifier(build_classifier).fit(X, rng.standard_normal(30))
    with pytest.raises(ValueError, match="only one class"):
        SKLearnClassifier(build_classifier).fit(X, np.zeros(30))
    wrong = Sequential([layers.Dense(5, activation="softmax", input_shape=(4,))])
    wrong.compile("adam", "categorical_crossentropy")
    with pytest.raises(ValueError, match="5 output units, but y holds 3 classes"):
        SKLearnClassifier(wrong).fit(X, y)
    with pytest.raises(sklearn.exceptions.NotFittedError):
        SKLearnClassifier(build_classifier).predict(X)
    clf = SKLearnClassifier(build_classifier, fit_kwargs=FIT).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :3])


# -- classic wrapper ---------------------------------------------------------------------------


def test_classic_grid_search_over_optimizer_epochs_batch_size(rng):
    X, y = _blobs(rng, n=90)
    clf = KerasClassifier(build_fn=create_model, verbose=0)
    grid = GridSearchCV(clf, {"optimizer": ["adam", "sgd"], "epochs": [2, 4], "batch_size": [16, 32]}, cv=2)
    grid.fit(X, y)
    assert set(grid.best_params_) == {"optimizer", "epochs", "batch_size"}
    best = grid.best_estimator_
    assert best.model_.optimizer.__class__.__name__.lower() == best.optimizer
    assert len(best.history_["loss"]) == best.epochs
    assert grid.predict(X).shape == (90,)


def test_classic_routing_params_and_clone(rng):
    X, y = _blobs(rng, n=60)
    clf = KerasClassifier(build_fn=create_model, units=5, epochs=3, batch_size=8, verbose=0)
    assert clf.get_params() == {"build_fn": create_model, "units": 5, "epochs": 3, "batch_size": 8, "verbose": 0}
    assert clf.sk_params["units"] == 5 and clf.epochs == 3
    clf.fit(X, y)
    assert clf.model_.layers[0].units == 5  # build_fn argument
    assert len(clf.history_["loss"]) == 3  # fit argument
    c2 = clone(clf.set_params(units=7))
    assert c2.get_params()["units"] == 7 and not hasattr(c2, "model_")
    c2.fit(X, y, epochs=1)  # fit's own kwargs win
    assert c2.model_.layers[0].units == 7 and len(c2.history_["loss"]) == 1
    assert "units=7" in repr(c2)
    proba = c2.predict_proba(X)
    assert proba.shape == (60, 3)
    np.testing.assert_array_equal(c2.predict_proba(X, batch_size=7), proba)  # predict arguments, as before
    np.testing.assert_array_equal(c2.predict(X), np.argmax(proba, axis=1))
    back = pickle.loads(pickle.dumps(c2))
    np.testing.assert_array_equal(back.predict_proba(X), proba)


def test_classic_one_hot_targets_and_regressor(rng):
    pynncore.utils.set_random_seed(1)
    X, y = _blobs(rng, n=60)
    clf = KerasClassifier(create_model, epochs=2, verbose=0)
    onehot = np.eye(3)[y]
    clf.fit(X, onehot)
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    Xr = rng.standard_normal((80, 3)).astype(np.float32)
    yr = Xr.sum(axis=1)
    reg = KerasRegressor(build_fn=create_regression_model, epochs=80, batch_size=16, verbose=0)
    reg.fit(Xr, yr)
    assert reg.predict(Xr).shape == (80,)
    assert reg.score(Xr, yr) == pytest.approx(r2_score(yr, reg.predict(Xr)))
    assert reg.score(Xr, yr) > 0.8


def test_classic_subclass_call_as_build_fn(rng):
    class MyClassifier(KerasClassifier):
        def __call__(self, units=4):
            return create_model(units=units)

    X, y = _blobs(rng, n=40)
    clf = MyClassifier(units=6, epochs=1, verbose=0).fit(X, y)
    assert clf.model_.layers[0].units == 6


def test_classic_errors(rng):
    with pytest.raises(ValueError, match="'nonsense' is not a legal parameter"):
        KerasClassifier(build_fn=create_model, nonsense=1)
    with pytest.raises(ValueError, match="'nonsense' is not a legal parameter"):
        KerasClassifier(build_fn=create_model).set_params(nonsense=1)
    with pytest.raises(ValueError, match="'predict' cannot be used"):
        KerasClassifier(build_fn=create_model, predict=1)
    # a build_fn taking **kwargs accepts any name
    KerasRegressor(build_fn=create_regression_model, anything=1)
    X, y = _blobs(rng, n=20)
    with pytest.raises(TypeError, match="build_fn '_wrong_builder' must return a compiled pynncore Model.*str"):
        KerasClassifier(build_fn=_wrong_builder).fit(X, y)
    with pytest.raises(TypeError, match="build_fn must be a callable"):
        KerasClassifier(build_fn=5).fit(X, y)
    with pytest.raises(TypeError, match="defines no __call__"):
        KerasClassifier(epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="one-hot"):
        KerasClassifier(build_fn=create_model).fit(X, np.full((20, 3), 0.5))


def _wrong_builder():
    return build_not_a_model(None, None)


def test_functional_model_instance_and_image_shaped_inputs(rng):
    pynncore.utils.set_random_seed(1)
    X, y = _blobs(rng, n=60, d=8)
    X3 = X.reshape(60, 4, 2)  # samples of any rank reach the network unflattened
    inp = pynncore.Input(shape=(4, 2))
    h = layers.Flatten()(inp)
    out = layers.Dense(3, activation="softmax")(h)
    model = pynncore.Model(inp, out)
    model.compile(pynncore.optimizers.Adam(0.05), "categorical_crossentropy")
    clf = SKLearnClassifier(model, fit_kwargs={"epochs": 20, "verbose": 0}).fit(X3, y)
    assert clf.model_ is not model and clf.n_features_in_ == 4
    assert clf.predict_proba(X3).shape == (60, 3) and clf.score(X3, y) > 0.6  # chance: 1/3
    # Functional graphs pickle through the model file format, like Sequential models.
    blob = pickle.dumps(clf)
    assert b"pynncore.layers" not in blob and b"pynncore.models" not in blob
    restored = pickle.loads(blob)
    np.testing.assert_array_equal(restored.predict_proba(X3), clf.predict_proba(X3))


def test_warm_start_trains_the_given_instance(rng):
    X, y = _blobs(rng, n=40)
    model = create_model()
    w = model.get_weights()
    clf = SKLearnClassifier(model, warm_start=True, fit_kwargs={"epochs": 1, "verbose": 0}).fit(X, y)
    assert clf.model_ is model
    assert any(not np.array_equal(a, b) for a, b in zip(w, model.get_weights()))


def test_missing_sklearn_is_a_clear_import_error(monkeypatch):
    from pynncore.wrappers import scikit_learn

    monkeypatch.setattr(scikit_learn, "_SKLEARN_ERROR", "No module named 'sklearn'")
    with pytest.raises(ImportError, match="SKLearnClassifier needs scikit-learn.*pip install scikit-learn"):
        SKLearnClassifier(build_classifier)
    with pytest.raises(ImportError, match="KerasRegressor needs scikit-learn"):
        KerasRegressor(build_fn=create_regression_model)


def test_pickle_leaves_callbacks_models_out(rng):
    X, y = _blobs(rng, n=60)
    stop = pynncore.callbacks.TerminateOnNaN()
    clf = SKLearnClassifier(build_classifier, fit_kwargs={"epochs": 3, "verbose": 0, "callbacks": [stop]}).fit(X, y)
    classic = KerasClassifier(build_fn=create_model, epochs=2, verbose=0, callbacks=[stop]).fit(X, y)
    for est in (clf, classic):
        data = pickle.dumps(est)
        assert b"pynncore.layers" not in data and b"pynncore.models" not in data
        back = pickle.loads(data)
        np.testing.assert_array_equal(back.predict(X), est.predict(X))
        assert isinstance(back.get_params()["callbacks" if est is classic else "fit_kwargs"], (list, dict))


def test_classic_wrapper_in_pipeline_with_cross_validation(rng):
    pynncore.utils.set_random_seed(2)
    X, y = _blobs(rng, n=90)
    pipe = make_pipeline(StandardScaler(), KerasClassifier(build_fn=create_model, epochs=40, batch_size=8, verbose=0))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and np.all(scores > 0.5)  # chance: 1/3
    pipe.set_params(kerasclassifier__units=5)
    pipe.fit(X, y)
    assert pipe[-1].model_.layers[0].units == 5


def test_keras3_wrapper_grid_search_over_model_and_fit_kwargs(rng):
    X, y = _blobs(rng, n=90)
    clf = SKLearnClassifier(build_classifier, model_kwargs={"hidden": 4}, fit_kwargs={"epochs": 2, "verbose": 0})
    grid = GridSearchCV(
        clf,
        {"model_kwargs": [{"hidden": 4}, {"hidden": 12}], "fit_kwargs": [{"epochs": 1, "verbose": 0}, {"epochs": 3, "verbose": 0}]},
        cv=2,
    )
    grid.fit(X, y)
    best = grid.best_estimator_
    assert best.model_.layers[0].units == best.model_kwargs["hidden"]
    assert len(best.history_["loss"]) == best.fit_kwargs["epochs"]
    assert grid.predict(X).shape == (90,)
