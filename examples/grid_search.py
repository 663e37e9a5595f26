"""Grid search over optimizer, epochs and batch size on scikit-learn's handwritten digits.

Code written for the classic Keras scikit-learn wrapper, with only the import changed:
``KerasClassifier(build_fn=create_model, ...)`` takes the arguments of ``create_model``
(``optimizer``) and of ``model.fit`` (``epochs``, ``batch_size``, ``verbose``) by name, so
``GridSearchCV`` can search over both. The candidates are cross-validated in parallel
(``n_jobs=-1``): each worker process gets a pickled copy of the estimator. The best setting is
then refitted and scored on held-out data, and the winning network is exported to ONNX when
the ``onnx`` package is installed.

Run:  pip install scikit-learn && python examples/grid_search.py
"""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, train_test_split

import pynncore
from pynncore.layers import Dense, Dropout
from pynncore.models import Sequential
from pynncore.wrappers.scikit_learn import KerasClassifier


def create_model(optimizer: str = "adam", units: int = 64) -> Sequential:
    """A small MLP for 8x8 digit images; the wrapper calls it once per fit."""
    model = Sequential([
        Dense(units, activation="relu", input_shape=(64,)),
        Dropout(0.1),
        Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def main() -> None:
    pynncore.utils.set_random_seed(0)
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)  # (1797, 64), pixels scaled to [0, 1]
    y = digits.target
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)

    clf = KerasClassifier(build_fn=create_model, verbose=0)
    grid = {"optimizer": ["adam", "rmsprop", "sgd"], "epochs": [10, 20], "batch_size": [32, 64]}
    search = GridSearchCV(clf, grid, cv=3, n_jobs=-1)

    t0 = time.perf_counter()
    search.fit(x_train, y_train)
    seconds = time.perf_counter() - t0

    results = search.cv_results_
    for params, mean, std in zip(results["params"], results["mean_test_score"], results["std_test_score"]):
        print(f"{mean:.4f} (+/- {std:.4f})  {params}")
    print(f"searched {len(results['params'])} settings x 3 folds in {seconds:.1f} s")
    print(f"best: {search.best_params_}  cross-validated accuracy {search.best_score_:.4f}")
    print(f"held-out accuracy of the refitted best model: {search.score(x_test, y_test):.4f}")

    try:
        import onnx  # noqa: F401
    except ImportError:
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "digits.onnx")
        search.best_estimator_.model_.export_onnx(path)
        print(f"exported the best network to ONNX ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
