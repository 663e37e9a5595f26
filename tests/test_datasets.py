"""fit / evaluate / predict on data given batch by batch: PyDataset, generators, iterables."""

from __future__ import annotations

import os

import numpy as np
import pytest

import pynncore
from pynncore import layers
from pynncore.utils import PyDataset, Sequence


def _model(seed=0, metrics=None):
    pynncore.utils.set_random_seed(seed)
    m = pynncore.Sequential([pynncore.Input((5,)), layers.Dense(7, activation="tanh"), layers.Dense(3)])
    m.compile(optimizer=pynncore.optimizers.SGD(0.05, momentum=0.9), loss="mse", metrics=metrics)
    return m


class ArrayBatches(PyDataset):
    def __init__(self, x, y, batch_size, w=None):
        super().__init__()
        self.x, self.y, self.w, self.batch_size = x, y, w, batch_size
        self.epochs_begun = self.epochs_ended = 0

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i):
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return (self.x[s], self.y[s]) if self.w is None else (self.x[s], self.y[s], self.w[s])

    def on_epoch_begin(self):
        self.epochs_begun += 1

    def on_epoch_end(self):
        self.epochs_ended += 1


class Reiterable:
    """Like a PyTorch DataLoader: iter() starts a new pass; batches are lists [x, y]."""

    def __init__(self, x, y, batch_size):
        self.x, self.y, self.batch_size = x, y, batch_size

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __iter__(self):
        for s in range(0, len(self.x), self.batch_size):
            yield [self.x[s : s + self.batch_size], self.y[s : s + self.batch_size]]


@pytest.fixture
def data(rng):
    x = rng.standard_normal((23, 5)).astype(np.float32)
    y = rng.standard_normal((23, 3)).astype(np.float32)
    return x, y


def _same_weights(a, b):
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


@pytest.mark.parametrize("kind", ["pydataset", "generator", "iterable"])
def test_batch_sources_train_exactly_like_arrays(kind, data):
    x, y = data
    ref = _model()
    h_ref = ref.fit(x, y, batch_size=6, epochs=3, shuffle=False, verbose=0)
    m = _model()
    if kind == "pydataset":
        source, steps = ArrayBatches(x, y, 6), None
    elif kind == "generator":
        def gen():
            while True:
                for s in range(0, 23, 6):
                    yield x[s : s + 6], y[s : s + 6]
        source, steps = gen(), 4
    else:
        source, steps = Reiterable(x, y, 6), None
    h = m.fit(source, epochs=3, steps_per_epoch=steps, shuffle=False, verbose=0)
    _same_weights(m, ref)
    np.testing.assert_allclose(h.history["loss"], h_ref.history["loss"], rtol=1e-12)
    assert m.evaluate(ArrayBatches(x, y, 6), verbose=0) == pytest.approx(ref.evaluate(x, y, batch_size=6, verbose=0), rel=1e-6)
    np.testing.assert_allclose(m.predict(Reiterable(x, y, 5)), ref.predict(x, verbose=0), rtol=1e-6, atol=1e-7)


def test_pydataset_epoch_hooks_steps_and_sample_weights(data, rng):
    x, y = data
    w = rng.random(23).astype(np.float32)
    ds = ArrayBatches(x, y, 5, w)
    m, ref = _model(), _model()
    m.fit(ds, epochs=2, shuffle=False, verbose=0)
    ref.fit(x, y, sample_weight=w, batch_size=5, epochs=2, shuffle=False, verbose=0)
    _same_weights(m, ref)
    assert ds.epochs_begun == 2 and ds.epochs_ended == 2
    assert Sequence is PyDataset
    # steps_per_epoch reads only the first batches of the dataset
    m2, ref2 = _model(), _model()
    m2.fit(ArrayBatches(x, y, 5), epochs=1, steps_per_epoch=2, shuffle=False, verbose=0)
    ref2.fit(x[:10], y[:10], batch_size=5, epochs=1, shuffle=False, verbose=0)
    _same_weights(m2, ref2)


def test_shuffle_reorders_a_pydatasets_batches(data):
    x, y = data
    seen = []

    class Recording(ArrayBatches):
        def __getitem__(self, i):
            seen.append(i)
            return super().__getitem__(i)

    m = _model()
    m.fit(Recording(x, y, 3), epochs=3, verbose=0)  # shuffle=True by default, as in Keras
    epochs = [seen[i : i + 8] for i in range(0, 24, 8)]
    assert all(sorted(e) == list(range(8)) for e in epochs)
    assert any(e != list(range(8)) for e in epochs)
    seen.clear()
    m.fit(Recording(x, y, 3), epochs=1, shuffle=False, verbose=0)
    assert seen == list(range(8))

    class Endless(PyDataset):
        num_batches = None

        def __getitem__(self, i):
            return x[:4] + i, y[:4]

    m.fit(Endless(), steps_per_epoch=3, epochs=2, verbose=0)
    with pytest.raises(ValueError, match="no num_batches .* give steps_per_epoch"):
        m.fit(Endless(), epochs=1, verbose=0)


def test_class_weight_and_validation_from_generators(rng):
    pynncore.utils.set_random_seed(1)
    x = rng.standard_normal((20, 4)).astype(np.float32)
    y = rng.integers(0, 2, 20).astype(np.float32)

    def make():
        m = pynncore.Sequential([pynncore.Input((4,)), layers.Dense(1, activation="sigmoid")])
        m.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
        m.set_weights([np.full((4, 1), 0.1, np.float32), np.zeros(1, np.float32)])
        return m

    def gen():
        while True:
            for s in range(0, 20, 4):
                yield x[s : s + 4], y[s : s + 4]

    m, ref = make(), make()
    h = m.fit(gen(), steps_per_epoch=5, epochs=2, class_weight={0: 1.0, 1: 3.0},
              validation_data=gen(), validation_steps=5, verbose=0)
    h_ref = ref.fit(x, y, batch_size=4, epochs=2, shuffle=False, class_weight={0: 1.0, 1: 3.0},
                    validation_data=(x, y), verbose=0)
    _same_weights(m, ref)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(h.history[key], h_ref.history[key], rtol=1e-6)
    # a generator as validation_data beside array training data
    h2 = make().fit(x, y, batch_size=4, epochs=1, shuffle=False, class_weight={0: 1.0, 1: 3.0},
                    validation_data=gen(), validation_steps=5, verbose=0)
    np.testing.assert_allclose(h2.history["val_loss"], h_ref.history["val_loss"][:1], rtol=1e-6)


def test_generator_that_runs_out_ends_training_with_a_warning(data):
    x, y = data
    m = _model()

    def finite():
        for s in range(0, 23, 6):
            yield x[s : s + 6], y[s : s + 6]

    with pytest.warns(UserWarning, match="ran out of data"):
        h = m.fit(finite(), epochs=3, verbose=0)
    assert len(h.history["loss"]) == 1  # one pass, then nothing left
    with pytest.warns(UserWarning, match="ran out of data after 0 batch"):
        h = m.fit(iter([]), epochs=2, verbose=0)
    assert h.history == {}


def test_multi_input_batches_and_predict_ignores_targets(rng):
    a_in, b_in = pynncore.Input((3,), name="a"), pynncore.Input((2,), name="b")
    out = layers.Dense(2)(layers.Concatenate()([a_in, b_in]))
    m = pynncore.Model([a_in, b_in], out)
    m.compile(optimizer="adam", loss="mse")
    xa = rng.standard_normal((8, 3)).astype(np.float32)
    xb = rng.standard_normal((8, 2)).astype(np.float32)
    y = rng.standard_normal((8, 2)).astype(np.float32)
    batches = [([xa[s : s + 4], xb[s : s + 4]], y[s : s + 4]) for s in (0, 4)]
    m.fit(iter(batches), epochs=1, verbose=0)
    dict_batches = [({"a": xa[s : s + 4], "b": xb[s : s + 4]}, y[s : s + 4]) for s in (0, 4)]
    assert np.isfinite(m.evaluate(iter(dict_batches), verbose=0))
    want = m.predict([xa, xb], verbose=0)
    np.testing.assert_allclose(m.predict(iter(batches)), want, rtol=1e-6)
    np.testing.assert_allclose(m.predict(iter([(b[0],) for b in batches])), want, rtol=1e-6)
    np.testing.assert_allclose(m.predict(iter(batches), steps=1), want[:4], rtol=1e-6)


def test_bad_batch_sources(data):
    x, y = data
    m = _model()

    def gen():
        while True:
            yield x[:4], y[:4]

    with pytest.raises(ValueError, match="y and sample_weight come from the batches"):
        m.fit(gen(), y, steps_per_epoch=2, verbose=0)
    with pytest.raises(ValueError, match="validation_split needs arrays"):
        m.fit(gen(), steps_per_epoch=2, validation_split=0.2, verbose=0)
    with pytest.raises(ValueError, match="the number of steps must be a positive integer"):
        m.fit(gen(), steps_per_epoch=0, verbose=0)
    with pytest.raises(ValueError, match=r"a batch must be x, \(x,\), \(x, y\) or \(x, y, sample_weight\)"):
        m.fit(iter([(x, y, None, None)]), verbose=0)
    with pytest.raises(ValueError, match="expected targets y"):
        m.fit(iter([(x,)]), verbose=0)
    with pytest.raises(ValueError, match="contains 1 NaN"):
        bad = x.copy()
        bad[0, 0] = np.nan
        m.fit(iter([(bad, y)]), verbose=0)
    with pytest.raises(ValueError, match="the input gave no batches"):
        m.predict(iter([]))
    with pytest.raises(NotImplementedError, match="must implement __len__"):
        len(PyDataset())


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_pytorch_dataloader_and_keras_pydataset_agree(data):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    torch = pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    x, y = data
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
                                         batch_size=6, shuffle=False)

    class KerasBatches(keras.utils.PyDataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return x[i * 6 : (i + 1) * 6], y[i * 6 : (i + 1) * 6]

    km = keras.Sequential([keras.Input((5,)), keras.layers.Dense(7, activation="tanh"), keras.layers.Dense(3)])
    m = _model()
    km.set_weights(m.get_weights())
    km.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="mse")
    kh = km.fit(KerasBatches(), epochs=2, shuffle=False, verbose=0)
    h = m.fit(loader, epochs=2, verbose=0)
    np.testing.assert_allclose(h.history["loss"], kh.history["loss"], rtol=1e-4)
    for a, b in zip(m.get_weights(), km.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4, atol=1e-5)
