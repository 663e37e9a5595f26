"""Concurrent inference: many threads predicting at once get the serial answer, and writes
(set_weights, load_weights, fit) never interleave with a prediction (no torn weights)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import pynncore
from pynncore import callbacks, layers
from pynncore._threading import ModelLock


def _model(seed: int = 0, width: int = 96) -> pynncore.Sequential:
    pynncore.utils.set_random_seed(seed)
    model = pynncore.Sequential(
        [
            layers.Dense(width, activation="relu", input_dim=33),
            layers.BatchNormalization(),
            layers.Dropout(0.2),
            layers.Dense(width, activation="tanh"),
            layers.Dense(5, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    return model


def _run_threads(fn, n: int) -> list:
    errors: list = []

    def wrap(i: int) -> None:
        try:
            fn(i)
        except BaseException as exc:  # noqa: BLE001 -- reported below
            errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread did not finish"
    return errors


def _outputs_under(model, x, wa, wb) -> tuple:
    """Predictions for x under weights wa and wb; leaves the model holding wa."""
    model.set_weights(wb)
    yb = model.predict(x, verbose=0)
    model.set_weights(wa)
    return model.predict(x, verbose=0), yb


def _assert_reads_never_tear(write, read, allowed, readers: int, reads: int) -> None:
    """`readers` threads call read(r) `reads` times each while another thread keeps calling
    write(i); every read must equal one of `allowed` (the outputs of whole weight sets)."""
    stop = threading.Event()
    torn = []

    def writer() -> None:
        i = 0
        while not stop.is_set():
            write(i)
            i += 1
            time.sleep(0.0005)  # writers are preferred: give the readers room between writes

    def reader(_: int) -> None:
        for r in range(reads):
            y = read(r)
            if not any(np.array_equal(y, a) for a in allowed):
                torn.append(y)

    w = threading.Thread(target=writer)
    w.start()
    try:
        errors = _run_threads(reader, readers)
    finally:
        stop.set()
        w.join()
    assert errors == [] and torn == []


@pytest.mark.parametrize("threads", [1, 2])
def test_concurrent_predict_matches_serial(threads, restore_num_threads):
    pynncore.set_num_threads(threads)
    model = _model()
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal((n, 33)).astype(np.float32) for n in (1, 7, 64, 300)]
    expected = [model.predict(x, verbose=0) for x in inputs]
    mismatches = []

    def work(i: int) -> None:
        for r in range(12):
            k = (i + r) % len(inputs)
            y = model.predict(inputs[k], verbose=0) if r % 2 else model(inputs[k])
            if not np.array_equal(y, expected[k]):
                mismatches.append((i, r, k))

    assert _run_threads(work, 8) == []
    assert mismatches == []


def test_set_weights_during_predict_never_tears():
    model = _model(width=128)
    x = np.random.default_rng(2).standard_normal((200, 33)).astype(np.float32)
    wa = model.get_weights()
    wb = [w * np.float32(0.5) + np.float32(0.01) for w in wa]  # moving variances stay positive
    ya, yb = _outputs_under(model, x, wa, wb)
    assert not np.array_equal(ya, yb)
    _assert_reads_never_tear(
        lambda i: model.set_weights(wb if i % 2 else wa),
        lambda r: model.predict(x, verbose=0),
        (ya, yb),
        readers=4,
        reads=25,
    )

def test_load_weights_during_predict_never_tears(tmp_path):
    model = _model()
    x = np.random.default_rng(3).standard_normal((50, 33)).astype(np.float32)
    pa, pb = str(tmp_path / "a.weights.safetensors"), str(tmp_path / "b.weights.safetensors")
    model.save_weights(pa)
    ya = model.predict(x, verbose=0)
    model.set_weights([w + np.float32(0.25) for w in model.get_weights()])
    model.save_weights(pb)
    yb = model.predict(x, verbose=0)
    _assert_reads_never_tear(
        lambda i: model.load_weights(pa if i % 2 else pb),
        lambda r: model(x),
        (ya, yb),
        readers=3,
        reads=30,
    )

def test_fit_while_predicting_waits_and_predictions_are_consistent():
    model = _model()
    rng = np.random.default_rng(4)
    x = rng.standard_normal((256, 33)).astype(np.float32)
    y = np.eye(5, dtype=np.float32)[rng.integers(0, 5, 256)]
    xq = x[:16]
    before = model.predict(xq, verbose=0)
    results = []
    started = threading.Event()

    def trainer() -> None:
        started.set()
        model.fit(x, y, epochs=3, batch_size=32, verbose=0)

    def reader(_: int) -> None:
        started.wait()
        for _ in range(20):
            results.append(model.predict(xq, verbose=0))

    t = threading.Thread(target=trainer)
    t.start()
    errors = _run_threads(reader, 3)
    t.join()
    assert errors == []
    after = model.predict(xq, verbose=0)
    # Every prediction saw the weights before or after the whole fit: fit holds the model.
    for r in results:
        assert np.array_equal(r, before) or np.array_equal(r, after)


def test_callbacks_may_predict_and_save_during_fit(tmp_path):
    model = _model()
    rng = np.random.default_rng(5)
    x = rng.standard_normal((64, 33)).astype(np.float32)
    y = np.eye(5, dtype=np.float32)[rng.integers(0, 5, 64)]
    seen = []
    probe = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(model.predict(x[:2], verbose=0)))
    ckpt = callbacks.ModelCheckpoint(str(tmp_path / "m.pnc"))
    stop = callbacks.EarlyStopping(monitor="loss", patience=0, restore_best_weights=True)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[probe, ckpt, stop])
    assert len(seen) == 2
    assert pynncore.load_model(str(tmp_path / "m.pnc")).predict(x[:2], verbose=0).shape == (2, 5)


def test_first_call_builds_once_under_concurrency():
    pynncore.utils.set_random_seed(6)
    model = pynncore.Sequential([layers.Dense(8, activation="relu"), layers.Dense(2)])
    x = np.ones((4, 5), np.float32)
    outs = []
    assert _run_threads(lambda i: outs.append(model.predict(x, verbose=0)), 6) == []
    assert len(model.weights) == 4
    assert all(np.array_equal(o, outs[0]) for o in outs)


def test_model_lock_reentrancy_and_errors():
    lock = ModelLock()
    with lock.writing("fit"):
        with lock.writing("set_weights"), lock.reading():
            pass
    with lock.reading(), lock.reading():
        with pytest.raises(RuntimeError, match="set_weights: this thread is running inference"):
            with lock.writing("set_weights"):
                pass
    # released: another thread can write now

    def write(_: int) -> None:
        with lock.writing("fit"):
            pass

    assert _run_threads(write, 1) == []


def test_model_lock_writer_waits_for_readers():
    lock = ModelLock()
    order = []
    reading = threading.Event()
    release = threading.Event()

    def reader() -> None:
        with lock.reading():
            reading.set()
            release.wait(10)
            order.append("read done")

    def writer() -> None:
        reading.wait(10)
        with lock.writing("fit"):
            order.append("write")

    tr, tw = threading.Thread(target=reader), threading.Thread(target=writer)
    tr.start()
    tw.start()
    reading.wait(10)
    release.set()
    tr.join(10)
    tw.join(10)
    assert order == ["read done", "write"]


def test_models_copy_with_a_fresh_lock():
    import copy

    model = _model()
    clone = copy.deepcopy(model)
    assert clone._lock is not model._lock
    x = np.ones((2, 33), np.float32)
    np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))


def test_set_weights_during_fast_path_predict_never_tears():
    """Dense chains with small batches run in one native call (pynncore._inference); that
    path reads the weights under the same lock."""
    pynncore.utils.set_random_seed(8)
    model = pynncore.Sequential([layers.Dense(256, activation="relu", input_dim=64), layers.Dense(256, activation="tanh"), layers.Dense(4)])
    x = np.random.default_rng(8).standard_normal((16, 64)).astype(np.float32)
    wa = model.get_weights()
    wb = [w * np.float32(-1.5) for w in wa]
    ya, yb = _outputs_under(model, x, wa, wb)
    _assert_reads_never_tear(
        lambda i: model.set_weights(wb if i % 2 else wa),
        lambda r: model.predict(x, verbose=0) if r % 2 else model(x),
        (ya, yb),
        readers=4,
        reads=60,
    )

def test_model_lock_explicit_acquire_release():
    lock = ModelLock()
    lock.acquire_read()
    lock.acquire_read()
    lock.release_read()
    lock.release_read()
    with lock.writing("fit"):
        lock.acquire_read()  # the exclusive holder may read
        lock.release_read()
    assert lock._readers == {} and lock._writer is None and lock._nested_reads == 0


def test_call_in_training_mode_is_exclusive():
    model = _model()
    x = np.ones((8, 33), np.float32)
    lock = model._lock
    with lock.reading():
        with pytest.raises(RuntimeError, match=r"call\(training=True\): this thread is running inference"):
            model(x, training=True)
    assert model(x, training=True).shape == (8, 5)
