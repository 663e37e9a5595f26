"""Property tests (Hypothesis): shapes, dtypes and strides through ops.matmul, activations,
losses, Dense/Sequential predict and save -> load, each against a float64 numpy reference;
and a fuzzer for the model loader on mutated files (only clean ValueErrors come out).

Few examples by default; ``PYNNCORE_FUZZ_EXAMPLES=N`` runs N per property (see conftest.py).
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import pynncore  # noqa: E402
from pynncore import layers, ops  # noqa: E402

DTYPES = [np.float32, np.float64, np.float16, np.int32, np.int8, np.uint8, np.bool_]
dims = st.integers(0, 37)
pos_dims = st.integers(1, 29)


def _array(data, shape, dtype, layout: str, lo: float = -3.0, hi: float = 3.0) -> np.ndarray:
    """A random array of `shape` in one of several memory layouts."""
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    base = rng.uniform(lo, hi, shape)
    if np.dtype(dtype).kind in "iub":
        base = np.rint(base).clip(0 if np.dtype(dtype).kind in "ub" else -100, 1 if dtype is np.bool_ else 100)
    arr = base.astype(dtype)
    if layout == "fortran":
        return np.asfortranarray(arr)
    if layout == "strided" and arr.ndim:
        big = np.zeros(tuple(2 * s for s in shape), dtype)
        view = big[tuple(slice(None, None, 2) for _ in shape)]
        view[...] = arr
        return view
    if layout == "reversed" and arr.ndim:
        return np.ascontiguousarray(arr[::-1])[::-1]
    return arr


layouts = st.sampled_from(["c", "fortran", "strided", "reversed"])


@given(data=st.data(), m=dims, n=dims, k=dims, ta=st.booleans(), tb=st.booleans(), dtype=st.sampled_from(DTYPES), layout=layouts, threads=st.sampled_from([1, 2]))
def test_fuzz_matmul(data, m, n, k, ta, tb, dtype, layout, threads):
    a = _array(data, (k, m) if ta else (m, k), dtype, layout)
    b = _array(data, (n, k) if tb else (k, n), dtype, layout)
    previous = pynncore.get_num_threads()
    pynncore.set_num_threads(threads)
    try:
        c = ops.matmul(a, b, transpose_a=ta, transpose_b=tb)
    finally:
        pynncore.set_num_threads(previous)
    a64 = a.astype(np.float32).astype(np.float64)
    b64 = b.astype(np.float32).astype(np.float64)
    ref = (a64.T if ta else a64) @ (b64.T if tb else b64)
    assert c.dtype == np.float32 and c.shape == (m, n)
    np.testing.assert_allclose(c, ref, rtol=1e-5, atol=1e-5 * max(k, 1) * 9)


_REF = {
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
    "softplus": lambda x: np.logaddexp(0, x),
    "softsign": lambda x: x / (1 + np.abs(x)),
    "silu": lambda x: x / (1 + np.exp(-x)),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "linear": lambda x: x,
}


@given(data=st.data(), shape=st.lists(st.integers(0, 9), min_size=1, max_size=4), name=st.sampled_from(sorted(_REF)), dtype=st.sampled_from([np.float32, np.float64, np.float16]), layout=layouts, scale=st.sampled_from([1.0, 30.0, 1e4]))
def test_fuzz_activation(data, shape, name, dtype, layout, scale):
    x = _array(data, tuple(shape), dtype, layout, -scale, scale)
    y = ops.activation(name, x)
    assert y.shape == x.shape and y.dtype == np.float32
    with np.errstate(over="ignore"):
        ref = _REF[name](x.astype(np.float32).astype(np.float64))
    np.testing.assert_allclose(y, ref, rtol=2e-5, atol=2e-6)


@given(data=st.data(), rows=st.integers(1, 13), cols=st.integers(1, 9), axis_last=st.booleans(), scale=st.sampled_from([1.0, 100.0, 1e4]))
def test_fuzz_softmax(data, rows, cols, axis_last, scale):
    x = _array(data, (rows, cols), np.float32, "c", -scale, scale)
    axis = -1 if axis_last else 0
    y = ops.softmax(x, axis=axis)
    z = x.astype(np.float64) - x.max(axis=axis, keepdims=True)
    ref = np.exp(z) / np.exp(z).sum(axis=axis, keepdims=True)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)


@given(data=st.data(), n=st.integers(0, 17), c=st.integers(1, 7), name=st.sampled_from(["mean_squared_error", "mean_absolute_error", "huber", "binary_crossentropy", "categorical_crossentropy"]), from_logits=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]))
def test_fuzz_losses(data, n, c, name, from_logits, dtype):
    if from_logits and "crossentropy" not in name:
        from_logits = False
    y_pred = _array(data, (n, c), dtype, "c", -20 if from_logits else 0.0, 20 if from_logits else 1.0)
    y_true = _array(data, (n, c), dtype, "c", 0.0, 1.0)
    per, grad = ops.loss_and_grad(name, y_true, y_pred, from_logits=from_logits)
    assert per.shape == (n,) and grad.shape == (n, c)
    assert np.isfinite(per).all() and np.isfinite(grad).all()
    t, p = y_true.astype(np.float32).astype(np.float64), y_pred.astype(np.float32).astype(np.float64)
    if name == "mean_squared_error":
        np.testing.assert_allclose(per, np.mean((p - t) ** 2, axis=1), rtol=1e-5, atol=1e-6)
    elif name == "mean_absolute_error":
        np.testing.assert_allclose(per, np.mean(np.abs(p - t), axis=1), rtol=1e-5, atol=1e-6)
    elif name == "binary_crossentropy" and from_logits:
        ref = np.mean(np.maximum(p, 0) - p * t + np.log1p(np.exp(-np.abs(p))), axis=1)
        np.testing.assert_allclose(per, ref, rtol=1e-4, atol=1e-5)


@given(data=st.data(), n=st.integers(0, 20), d_in=pos_dims, widths=st.lists(st.integers(1, 24), min_size=1, max_size=3), act=st.sampled_from(["relu", "tanh", "sigmoid", "linear", "softmax"]), dtype=st.sampled_from([np.float32, np.float64, np.int32]), batch_size=st.integers(1, 40))
def test_fuzz_sequential_predict(data, n, d_in, widths, act, dtype, batch_size):
    pynncore.utils.set_random_seed(data.draw(st.integers(0, 1000), label="model_seed"))
    model = pynncore.Sequential([layers.Dense(w, activation=act) for w in widths])
    x = _array(data, (n, d_in), dtype, data.draw(layouts, label="layout"))
    y = model.predict(x, batch_size=batch_size, verbose=0)
    assert y.shape == (n, widths[-1]) and y.dtype == np.float32
    ref = x.astype(np.float32).astype(np.float64)
    fns = {"relu": lambda z: np.maximum(z, 0), "tanh": np.tanh, "sigmoid": lambda z: 1 / (1 + np.exp(-z)), "linear": lambda z: z}
    for layer in model.layers:
        z = ref @ layer.kernel.value.astype(np.float64) + layer.bias.value
        if act == "softmax":
            e = np.exp(z - z.max(axis=1, keepdims=True)) if len(z) else z
            ref = e / e.sum(axis=1, keepdims=True) if len(z) else z
        else:
            ref = fns[act](z)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)


@given(data=st.data(), d_in=pos_dims, widths=st.lists(st.integers(1, 16), min_size=1, max_size=3), compiled=st.booleans(), trained=st.booleans())
def test_fuzz_save_load_roundtrip(data, d_in, widths, compiled, trained):
    pynncore.utils.set_random_seed(data.draw(st.integers(0, 1000), label="model_seed"))
    model = pynncore.Sequential([layers.Dense(w, activation="tanh", input_dim=d_in if i == 0 else None) if i == 0 else layers.Dense(w, activation="tanh") for i, w in enumerate(widths)])
    x = _array(data, (5, d_in), np.float32, "c")
    if compiled:
        model.compile(optimizer="adam", loss="mse")
        if trained:
            model.fit(x, np.zeros((5, widths[-1]), np.float32), epochs=1, verbose=0)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.pnc")
        model.save(path)
        again = pynncore.load_model(path)
        np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
        assert os.listdir(d) == ["m.pnc"]


_SAVED: dict = {}


def _saved_model_bytes() -> bytes:
    if "data" not in _SAVED:
        pynncore.utils.set_random_seed(0)
        model = pynncore.Sequential([layers.Dense(6, activation="relu", input_dim=4), layers.Dense(2, activation="softmax")])
        model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
        model.fit(np.ones((4, 4), np.float32), np.eye(2, dtype=np.float32)[[0, 1, 0, 1]], epochs=1, verbose=0)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.pnc")
            model.save(path)
            with open(path, "rb") as f:
                _SAVED["data"] = f.read()
    return _SAVED["data"]


def mutate(data: bytes, draw) -> bytes:
    """One random mutation of a file: bit flips, truncation, byte runs, header edits."""
    buf = bytearray(data)
    n = int.from_bytes(buf[:8], "little")
    kind = draw(st.sampled_from(["flip", "flips", "truncate", "insert", "delete", "length", "header_text", "zero_run"]))
    if kind == "flip":
        pos = draw(st.integers(0, len(buf) - 1))
        buf[pos] ^= 1 << draw(st.integers(0, 7))
    elif kind == "flips":
        for pos in draw(st.lists(st.integers(0, len(buf) - 1), min_size=2, max_size=20)):
            buf[pos] ^= draw(st.integers(1, 255))
    elif kind == "truncate":
        del buf[draw(st.integers(0, len(buf) - 1)) :]
    elif kind == "insert":
        pos = draw(st.integers(0, len(buf)))
        buf[pos:pos] = draw(st.binary(min_size=1, max_size=16))
    elif kind == "delete":
        pos = draw(st.integers(0, len(buf) - 1))
        del buf[pos : pos + draw(st.integers(1, 16))]
    elif kind == "length":
        buf[:8] = draw(st.sampled_from([0, 1, n - 1, n + 1, n + 8, 2**31, 2**63, 2**64 - 1])).to_bytes(8, "little")
    elif kind == "header_text":
        header = bytes(buf[8 : 8 + n]).decode("utf-8")
        old = draw(st.sampled_from(['"F32"', '"Dense"', '"units\\": ', '"data_offsets":[', '"shape":[', '"format"', "crc32:", '"relu"']))
        new = draw(st.sampled_from(['"F64"', '"os.system"', '"units\\": -', '"data_offsets":[1,', '"shape":[99999999999,', '"fmt"', "crc32:0", "NaN", '"eval"']))
        header = header.replace(old, new, 1).encode()
        buf = bytearray(len(header).to_bytes(8, "little") + header + bytes(buf[8 + n :]))
    else:
        pos = draw(st.integers(8, len(buf) - 1))
        buf[pos : pos + 32] = b"\0" * len(buf[pos : pos + 32])
    return bytes(buf)


@given(data=st.data())
def test_fuzz_loader_on_mutated_files(data):
    original = _saved_model_bytes()
    mutated = mutate(original, data.draw)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.pnc")
        with open(path, "wb") as f:
            f.write(mutated)
        try:
            pynncore.load_model(path)
        except ValueError as exc:
            assert str(exc)
        else:
            assert mutated == original, "a damaged file loaded"
