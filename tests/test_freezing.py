"""Freezing: ``trainable`` flags read at compile time (Keras semantics) and the GAN recipe."""

from __future__ import annotations

import numpy as np
import pytest

import pynncore
from pynncore import layers
from pynncore.models import Model, Sequential


def _weights(model):
    return [w.copy() for w in model.get_weights()]


def _changed(before, after):
    return [not np.array_equal(b, a) for b, a in zip(before, after)]


def test_frozen_layer_is_not_trained_and_counts_as_non_trainable(rng):
    frozen = layers.Dense(4, activation="tanh", input_shape=(3,), trainable=False)
    model = Sequential([frozen, layers.Dense(1)])
    assert frozen.trainable_weights == [] and len(frozen.non_trainable_weights) == 2
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2
    model.compile(optimizer="sgd", loss="mse")
    before = _weights(model)
    model.fit(rng.standard_normal((16, 3)), rng.standard_normal((16, 1)), epochs=2, batch_size=4, verbose=0)
    assert _changed(before, model.get_weights()) == [False, False, True, True]


def test_model_trainable_sets_every_layer_including_nested():
    inner = Sequential([layers.Dense(2, input_shape=(3,)), layers.Dense(2)])
    inp = pynncore.Input((3,))
    outer = Model(inp, layers.Dense(1)(inner(inp)))
    outer.trainable = False
    assert all(not l.trainable for l in inner.layers) and not inner.trainable
    assert outer.trainable_weights == []
    outer.trainable = True
    assert all(l.trainable for l in inner.layers)
    assert len(outer.trainable_weights) == 6


def test_trainable_is_read_at_compile_time(rng):
    model = Sequential([layers.Dense(3, input_shape=(2,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = rng.standard_normal((8, 2)), rng.standard_normal((8, 1))
    model.layers[0].trainable = False  # no effect before the next compile
    before = _weights(model)
    model.train_on_batch(x, y)
    assert all(_changed(before, model.get_weights()))
    assert model.layers[0].trainable is False  # the flag itself is left as set
    model.compile(optimizer="sgd", loss="mse")
    before = _weights(model)
    model.train_on_batch(x, y)
    assert _changed(before, model.get_weights()) == [False, False, True, True]


def _gan(rng):
    latent, dim = 3, 2
    generator = Sequential([layers.Dense(8, activation="relu", input_shape=(latent,)), layers.Dense(dim)], name="gen")
    discriminator = Sequential(
        [layers.Dense(8, activation="relu", input_shape=(dim,)), layers.Dense(1, activation="sigmoid")], name="disc"
    )
    discriminator.compile(optimizer=pynncore.optimizers.Adam(1e-2), loss="binary_crossentropy")
    discriminator.trainable = False
    z = pynncore.Input((latent,))
    combined = Model(z, discriminator(generator(z)), name="gan")
    combined.compile(optimizer=pynncore.optimizers.Adam(1e-2), loss="binary_crossentropy")
    return generator, discriminator, combined


def test_gan_recipe_combined_step_leaves_discriminator_untouched(rng):
    generator, discriminator, combined = _gan(rng)
    z = rng.standard_normal((16, 3))
    real = rng.standard_normal((16, 2)) + 3
    d_before, g_before = _weights(discriminator), _weights(generator)
    combined.train_on_batch(z, np.ones((16, 1)))
    assert not any(_changed(d_before, discriminator.get_weights()))
    assert all(_changed(g_before, generator.get_weights()))
    # the discriminator's own step still trains it, although its flag is now False
    fake = generator.predict(z, verbose=0)
    d_before, g_before = _weights(discriminator), _weights(generator)
    discriminator.train_on_batch(np.concatenate([real, fake]), np.concatenate([np.ones((16, 1)), np.zeros((16, 1))]))
    assert all(_changed(d_before, discriminator.get_weights()))
    assert not any(_changed(g_before, generator.get_weights()))
    # and alternating steps keep both behaviours (buffers are not lost between optimizers)
    for _ in range(3):
        d_before = _weights(discriminator)
        combined.train_on_batch(z, np.ones((16, 1)))
        assert not any(_changed(d_before, discriminator.get_weights()))
        discriminator.train_on_batch(real, np.ones((16, 1)))
        assert all(_changed(d_before, discriminator.get_weights()))
    assert discriminator.trainable is False


def test_gan_combined_gradient_reaches_generator_through_frozen_discriminator(rng):
    generator, discriminator, combined = _gan(rng)
    z = rng.standard_normal((5, 3)).astype(np.float32)
    # reference: the generator gradient from a model where the discriminator is trainable
    gen_only = [w.copy() for w in generator.get_weights()]
    combined.train_on_batch(z, np.ones((5, 1)))
    step_frozen = [a - b for a, b in zip(generator.get_weights(), gen_only)]
    generator.set_weights(gen_only)
    discriminator.trainable = True
    ref = Model(combined.inputs, combined.outputs)
    ref.compile(optimizer=pynncore.optimizers.Adam(1e-2), loss="binary_crossentropy")
    ref.train_on_batch(z, np.ones((5, 1)))
    step_ref = [a - b for a, b in zip(generator.get_weights(), gen_only)]
    for a, b in zip(step_frozen, step_ref):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_models_sharing_trainable_weights_both_train(rng):
    shared = layers.Dense(3, name="shared_w")
    a = pynncore.Input((2,))
    m1 = Model(a, layers.Dense(1, name="h1")(shared(a)))
    m2 = Model(a, layers.Dense(1, name="h2")(shared(a)))
    m1.compile(optimizer="sgd", loss="mse")
    m2.compile(optimizer="sgd", loss="mse")
    x, y = rng.standard_normal((8, 2)), rng.standard_normal((8, 1))
    for model in (m1, m2, m1, m2):
        before = shared.kernel.numpy()
        model.train_on_batch(x, y)
        assert not np.array_equal(before, shared.kernel.numpy())
        # the value the model computes with is the updated one
        np.testing.assert_array_equal(shared.get_weights()[0], shared.kernel.value)


def test_frozen_nested_model_in_trainable_model(rng):
    inner = Sequential([layers.Dense(4, activation="relu", input_shape=(3,))], name="frozen_inner")
    inner.trainable = False
    inp = pynncore.Input((3,))
    model = Model(inp, layers.Dense(1)(inner(inp)))
    model.compile(optimizer="adam", loss="mse")
    before_inner = _weights(inner)
    model.fit(rng.standard_normal((8, 3)), rng.standard_normal((8, 1)), epochs=1, verbose=0)
    assert not any(_changed(before_inner, inner.get_weights()))


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_frozen_layer_matches_keras(rng):
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    km = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(2)])
    km.layers[0].trainable = False
    pm = Sequential([layers.Dense(4, activation="tanh", input_shape=(3,)), layers.Dense(2)])
    pm.layers[0].trainable = False
    pm.set_weights([np.asarray(w) for w in km.get_weights()])
    km.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    pm.compile(optimizer=pynncore.optimizers.SGD(0.1), loss="mse")
    x, y = rng.standard_normal((6, 3)).astype(np.float32), rng.standard_normal((6, 2)).astype(np.float32)
    for _ in range(2):
        km.train_on_batch(x, y)
        pm.train_on_batch(x, y)
    for a, b in zip(pm.get_weights(), km.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-5, atol=1e-6)


def test_sequential_of_models_gan_and_frozen_flags_survive_saving(tmp_path, rng):
    g = Sequential([layers.Dense(4, activation="relu", input_shape=(3,)), layers.Dense(2)], name="g_seq")
    d = Sequential([layers.Dense(4, activation="relu", input_shape=(2,)), layers.Dense(1, activation="sigmoid")], name="d_seq")
    d.compile(optimizer="adam", loss="binary_crossentropy")
    d.trainable = False
    gan = Sequential([g, d], name="gan_seq")
    gan.compile(optimizer="adam", loss="binary_crossentropy")
    z, ones = rng.standard_normal((6, 3)), np.ones((6, 1))
    d_before, g_before = _weights(d), _weights(g)
    gan.train_on_batch(z, ones)
    assert not any(_changed(d_before, d.get_weights())) and all(_changed(g_before, g.get_weights()))
    path = str(tmp_path / "gan.pnc")
    gan.save(path)
    loaded = pynncore.load_model(path)
    np.testing.assert_allclose(loaded.predict(z, verbose=0), gan.predict(z, verbose=0), rtol=1e-6)
    inner_d = loaded.layers[1]
    assert not inner_d.trainable and all(not l.trainable for l in inner_d.layers)
    d_before, g_before = _weights(inner_d), _weights(loaded.layers[0])
    loaded.train_on_batch(z, ones)
    assert not any(_changed(d_before, inner_d.get_weights()))
    assert all(_changed(g_before, loaded.layers[0].get_weights()))
