"""Checks every optimizer's tests share: resuming from saved state, save/load of a model in
mid-training, and learning an easy task."""

from __future__ import annotations

import numpy as np

import pynncore
from pynncore import layers
from pynncore.layers.base import Variable
from pynncore.models import Sequential


def take_random_steps(opt, vs, rng, steps: int) -> None:
    """``steps`` updates of ``opt`` with standard normal gradients of the variables ``vs``."""
    for _ in range(steps):
        for v in vs:
            v.grad[...] = rng.standard_normal(v.value.shape)
        opt.apply()


def step_with_reference(opt, vs, ref, rng, steps: int) -> None:
    """``steps`` updates of ``opt`` over the variables ``vs`` and of the float64 reference
    ``ref`` (``ref.step(grads)``) with the same gradients, standard normal times 0.5."""
    for _ in range(steps):
        grads = [rng.standard_normal(v.value.shape) * 0.5 for v in vs]
        for v, g in zip(vs, grads):
            v.grad[...] = g
        opt.apply()
        ref.step(grads)


def steps_beside_reference(opt, make_ref, shapes, rng, steps: int, names=None) -> tuple:
    """Variables of ``shapes`` with standard normal values (named ``names``, else w0, w1, ...),
    ``opt`` built over them and the reference ``make_ref(values)`` take ``steps`` steps on the
    same gradients (:func:`step_with_reference`); returns the variables and the reference."""
    values = [rng.standard_normal(s) for s in shapes]
    vs = [Variable(x, name) for x, name in zip(values, names or [f"w{i}" for i in range(len(shapes))])]
    opt.build(vs)
    ref = make_ref(values)
    step_with_reference(opt, vs, ref, rng, steps)
    return vs, ref


def assert_resumes_identically(opt, again, vs, ws, rng, steps: int = 2) -> None:
    """``opt`` over the variables ``vs`` and ``again`` (restored from ``opt``'s state) over
    copies ``ws`` take ``steps`` steps on the same gradients and end with equal weights."""
    for _ in range(steps):
        for v, w in zip(vs, ws):
            v.grad[...] = w.grad[...] = rng.standard_normal(v.value.shape)
        opt.apply()
        again.apply()
    for v, w in zip(vs, ws):
        np.testing.assert_array_equal(v.value, w.value)


def assert_save_load_resumes(model, x, y, path: str, batch_size: int, iterations: int) -> None:
    """A compiled ``model`` trained two epochs, saved and loaded, trains on as the original does."""
    model.fit(x, y, epochs=2, batch_size=batch_size, verbose=0, shuffle=False)
    model.save(path)
    loaded = pynncore.load_model(path)
    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer.iterations == model.optimizer.iterations == iterations
    for key, arr in model.optimizer.get_state().items():
        np.testing.assert_array_equal(loaded.optimizer.get_state()[key], arr)
    model.fit(x, y, epochs=2, batch_size=batch_size, verbose=0, shuffle=False)
    loaded.fit(x, y, epochs=2, batch_size=batch_size, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def assert_fit_learns(optimizer, rng) -> None:
    """Ten epochs with ``optimizer`` lower the loss and separate three well-apart clusters."""
    pynncore.utils.set_random_seed(1)
    centers = np.array([[2.0, 0, 0, 0], [0, 2.0, 0, 0], [0, 0, 2.0, 0]])
    y = rng.integers(0, 3, 300)
    x = (centers[y] + rng.standard_normal((300, 4)) * 0.5).astype(np.float32)
    model = Sequential([layers.Dense(16, activation="relu", input_shape=(4,)), layers.Dense(3, activation="softmax")])
    model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
    h = model.fit(x, y, epochs=10, batch_size=32, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]
    assert model.evaluate(x, y, verbose=0)[1] > 0.9
