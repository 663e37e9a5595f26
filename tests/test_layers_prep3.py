"""HashedCrossing, Pipeline and STFTSpectrogram against float64 numpy references and Keras 3."""

from __future__ import annotations

import json

import numpy as np
import pytest

import pynncore
from pynncore import layers as L
from pynncore.saving import deserialize_layer, serialize_layer
from _gradcheck import assert_grad_close, check_layer_against_reference, numeric_grad

# -- HashedCrossing -------------------------------------------------------------------------

_U64 = np.uint64


def _ref_cross_ints(cols: list, num_bins: int) -> np.ndarray:
    """TensorFlow's cross_hashed of integer features, in wrapping numpy uint64 arithmetic."""
    mul = _U64(0xC6A4A7935BD1E995)

    def mix(v):
        return v ^ (v >> _U64(47))

    with np.errstate(over="ignore"):
        h = np.full(cols[0].shape, 0xDECAFCAFFE, dtype=np.uint64)
        for c in cols:
            v = c.astype(np.int64).view(np.uint64)
            r = h ^ mul
            r = r ^ (mix(v * mul) * mul)
            r = r * mul
            r = mix(r) * mul
            h = mix(r)
    return (h % _U64(num_bins)).astype(np.int64)


def test_hashed_crossing_matches_keras_documented_bins():
    # The outputs printed in Keras 3's HashedCrossing docstring (its layer needs TensorFlow).
    feat1 = np.array(["A", "B", "A", "B", "A"])
    feat2 = np.array([101, 101, 101, 102, 102])
    got = L.HashedCrossing(num_bins=5)((feat1, feat2))
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, [1, 4, 1, 1, 3])
    onehot = L.HashedCrossing(num_bins=5, output_mode="one_hot")((feat1, feat2))
    assert onehot.dtype == np.float32
    np.testing.assert_array_equal(onehot, np.eye(5, dtype=np.float32)[[1, 4, 1, 1, 3]])
    # bytes and object arrays hash like str
    got_b = L.HashedCrossing(num_bins=5)([np.array([b"A", b"B"], dtype=object), [101, 101]])
    np.testing.assert_array_equal(got_b, [1, 4])


@pytest.mark.parametrize("shape", [(7,), (7, 1)])
@pytest.mark.parametrize("n_features", [2, 3])
def test_hashed_crossing_ints_match_reference(shape, n_features, rng):
    cols = [rng.integers(-(2**40), 2**40, size=shape) for _ in range(n_features)]
    got = L.HashedCrossing(num_bins=13)(cols)
    np.testing.assert_array_equal(got, _ref_cross_ints(cols, 13))
    assert got.shape == shape
    onehot = L.HashedCrossing(num_bins=13, output_mode="one_hot")(cols)
    assert onehot.shape == (7, 13)
    np.testing.assert_array_equal(onehot, np.eye(13)[_ref_cross_ints(cols, 13).reshape(-1)])
    # integer-valued floats (a model's inputs) give the same bins
    np.testing.assert_array_equal(L.HashedCrossing(num_bins=13)([c.astype(np.float64) for c in cols]), got)
    # the cross depends on the order of the features
    swapped = L.HashedCrossing(num_bins=2**31 - 1)(cols[::-1])
    assert not np.array_equal(swapped, L.HashedCrossing(num_bins=2**31 - 1)(cols))


def test_hashed_crossing_scalar_features():
    assert L.HashedCrossing(5)(("A", 101)) == 1
    assert L.HashedCrossing(5)(("A", 101)).shape == ()
    np.testing.assert_array_equal(L.HashedCrossing(5, output_mode="one_hot")(("A", 101)), [0, 1, 0, 0, 0])
    layer = L.HashedCrossing(5, output_mode="one_hot")
    assert layer.compute_output_shape([(), ()]) == (5,)
    assert layer.compute_output_shape([(None, 1), (None, 1)]) == (None, 5)
    assert layer.compute_output_shape([(None,), (None,)]) == (None, 5)
    assert L.HashedCrossing(5).compute_output_shape([(None, 1), (None, 1)]) == (None, 1)


def test_hashed_crossing_against_keras_when_tensorflow_is_installed(rng):
    keras = pytest.importorskip("keras")
    pytest.importorskip("tensorflow")
    a = rng.integers(0, 50, size=(9, 1))
    b = np.array([[f"s{v}"] for v in rng.integers(0, 20, size=9)])
    for mode in ("int", "one_hot"):
        want = np.asarray(keras.layers.HashedCrossing(11, output_mode=mode)((a, b)))
        np.testing.assert_array_equal(L.HashedCrossing(11, output_mode=mode)((a, b)), want)


def test_hashed_crossing_config_roundtrip():
    layer = L.HashedCrossing(9, output_mode="one_hot", name="cross")
    config = layer.get_config()
    assert config["num_bins"] == 9 and config["output_mode"] == "one_hot" and config["sparse"] is False
    again = L.HashedCrossing.from_config(config)
    assert again.get_config() == config
    loaded = deserialize_layer(json.loads(json.dumps(serialize_layer(layer))))
    data = (np.array(["x", "y", "z"]), np.array([1, 2, 3]))
    np.testing.assert_array_equal(loaded(data), layer(data))


def test_hashed_crossing_in_model_save_load(tmp_path, rng):
    a, b = pynncore.Input((1,)), pynncore.Input((1,))
    model = pynncore.Model([a, b], L.Dense(2)(L.HashedCrossing(7, output_mode="one_hot")([a, b])))
    xs = [rng.integers(0, 20, size=(5, 1)).astype(np.float32) for _ in range(2)]
    bins = _ref_cross_ints([x.astype(np.int64) for x in xs], 7).reshape(-1)
    dense = model.layers[-1]
    want = np.eye(7)[bins] @ dense.kernel.value.astype(np.float64) + dense.bias.value
    before = model.predict(xs, verbose=0)
    np.testing.assert_allclose(before, want, rtol=1e-5, atol=1e-6)
    model.save(str(tmp_path / "m.pnc"))
    np.testing.assert_array_equal(pynncore.load_model(str(tmp_path / "m.pnc")).predict(xs, verbose=0), before)
    # training passes a zero gradient to the features
    model.compile(optimizer="sgd", loss="mse")
    model.train_on_batch(xs, np.zeros((5, 2), np.float32))


def test_hashed_crossing_bad_arguments():
    for bad in (0, -3, 2.5, True, None, "4"):
        with pytest.raises(ValueError, match="num_bins"):
            L.HashedCrossing(bad)
    with pytest.raises(ValueError, match="output_mode.*'count'"):
        L.HashedCrossing(4, output_mode="count")
    with pytest.raises(ValueError, match="sparse"):
        L.HashedCrossing(4, sparse=True)
    layer = L.HashedCrossing(4)
    with pytest.raises(ValueError, match="list or tuple of features"):
        layer.forward(np.array([1, 2]))
    with pytest.raises(ValueError, match="at least two features"):
        layer(([1, 2],))
    with pytest.raises(ValueError, match=r"equal shapes.*\(2,\) and \(3,\)"):
        layer(([1, 2], [1, 2, 3]))
    with pytest.raises(ValueError, match=r"shape \(\), \(batch_size,\) or \(batch_size, 1\)"):
        layer((np.zeros((2, 2), int), np.zeros((2, 2), int)))
    with pytest.raises(ValueError, match="feature 1 must hold integers"):
        layer(([1, 2], [0.5, 1.0]))
    with pytest.raises(TypeError, match="dtype=bool"):
        layer(([True, False], [1, 2]))
    with pytest.raises(TypeError, match="strings"):
        layer(([1, 2], np.array([1 + 2j, 3j])))


# -- Pipeline -------------------------------------------------------------------------------


def test_pipeline_matches_reference_and_gradients(rng):
    dense = L.Dense(3, activation="tanh")
    pipe = L.Pipeline([L.Rescaling(2.0, offset=-0.5), dense, L.Rescaling(0.5)])
    x = rng.standard_normal((4, 5)).astype(np.float32)
    pipe(x)
    w = dense.kernel.value.astype(np.float64)
    b = dense.bias.value.astype(np.float64)

    def ref(v, w=w, b=b):
        return 0.5 * np.tanh((2.0 * v - 0.5) @ w + b)

    check_layer_against_reference(pipe, x, ref, rng, rtol=1e-5, atol=1e-6)
    assert pipe.weights == [dense.kernel, dense.bias]
    # kernel and bias gradients reach the inner Dense
    y, ctx = pipe.forward(x, training=True)
    r = rng.standard_normal(y.shape)
    dense.kernel.grad[...] = 0.0
    dense.bias.grad[...] = 0.0
    assert pipe.backward(ctx, r.astype(np.float32), need_dx=False) is None
    x64 = x.astype(np.float64)
    assert_grad_close(dense.kernel.grad, numeric_grad(lambda v: float((ref(x64, v, b) * r).sum()), w), what="dkernel")
    assert_grad_close(dense.bias.grad, numeric_grad(lambda v: float((ref(x64, w, v) * r).sum()), b), what="dbias")


def _np(t) -> np.ndarray:
    """A Keras output (a torch tensor that may require grad) as a numpy array."""
    return np.asarray(t.detach().cpu().numpy() if hasattr(t, "detach") else t)


def test_pipeline_matches_keras(rng):
    keras = pytest.importorskip("keras")
    x = rng.standard_normal((4, 5)).astype(np.float32)
    ours = L.Pipeline([L.Dense(3, activation="relu"), L.Rescaling(0.25, offset=1.0), L.Dense(2)])
    ours(x)
    theirs = keras.layers.Pipeline([keras.layers.Dense(3, activation="relu"), keras.layers.Rescaling(0.25, offset=1.0), keras.layers.Dense(2)])
    theirs(x)
    theirs.layers[0].set_weights(ours.layers[0].get_weights())
    theirs.layers[2].set_weights(ours.layers[2].get_weights())
    np.testing.assert_allclose(ours(x), _np(theirs(x)), rtol=1e-5, atol=1e-6)
    assert ours.compute_output_shape((None, 5)) == (None, 2)
    # an empty pipeline returns its input (Keras's raises UnboundLocalError)
    np.testing.assert_array_equal(L.Pipeline([])(x), x)
    assert L.Pipeline([]).compute_output_shape((None, 5)) == (None, 5)


def test_pipeline_runs_in_training_mode_when_called_directly(rng):
    x = rng.standard_normal((6, 4, 5, 2)).astype(np.float32)
    pipe = L.Pipeline([L.RandomFlip("horizontal", seed=3)])
    np.testing.assert_array_equal(pipe(x, training=False), x)
    flipped = pipe(x)
    # every sample is either unchanged or flipped left-right, and not all are unchanged
    per_sample = [np.array_equal(f, s) or np.array_equal(f, s[:, ::-1]) for f, s in zip(flipped, x)]
    assert all(per_sample) and not np.array_equal(flipped, x)
    model = pynncore.Sequential([pynncore.Input((4, 5, 2)), pipe])
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)


def test_pipeline_config_roundtrip_and_trainable(rng):
    pipe = L.Pipeline([L.Dense(3), L.Rescaling(0.5)], name="prep")
    x = rng.standard_normal((2, 4)).astype(np.float32)
    y = pipe(x)
    config = pipe.get_config()
    assert [s["class_name"] for s in config["layers"]] == ["Dense", "Rescaling"]
    spec = json.loads(json.dumps(serialize_layer(pipe)))
    loaded = deserialize_layer(spec)
    assert isinstance(loaded, L.Pipeline) and loaded.name == "prep"
    assert [type(layer).__name__ for layer in loaded.layers] == ["Dense", "Rescaling"]
    loaded(x)
    loaded.set_weights(pipe.get_weights())
    np.testing.assert_array_equal(loaded(x), y)
    assert L.Pipeline.from_config(pipe.get_config()).get_config()["layers"][1] == config["layers"][1]
    pipe.trainable = False
    assert pipe.trainable_weights == [] and not pipe.layers[0].trainable
    assert len(pipe.non_trainable_weights) == 2


def test_pipeline_bad_arguments():
    with pytest.raises(ValueError, match="layers must be a list or tuple.*Dense"):
        L.Pipeline(L.Dense(2))
    with pytest.raises(ValueError, match="pynncore layers.*str at index 1"):
        L.Pipeline([L.Dense(2), "relu"])
    with pytest.raises(ValueError, match="'layers'"):
        L.Pipeline.from_config({"name": "p"})


# -- STFTSpectrogram ------------------------------------------------------------------------


def _ref_frames(x, frame_length, frame_step=None, padding="valid", data_format=None, **_):
    """float64 frames ``(N, C, T', frame_length)`` of the signals, zero padded as Keras's."""
    sig = np.asarray(x, np.float64)
    if data_format != "channels_first":
        sig = sig.transpose(0, 2, 1)
    step = frame_step or frame_length // 2
    length = sig.shape[-1]
    if padding == "same":
        frames = -(-length // step)
        pad = max((frames - 1) * step + frame_length - length, 0)
        sig = np.pad(sig, ((0, 0), (0, 0), (pad // 2, pad - pad // 2)))
    else:
        frames = (length - frame_length) // step + 1
    return np.stack([sig[..., i * step:i * step + frame_length] for i in range(frames)], axis=2)


def _ref_mode(re, im, mode, expand_dims=False, data_format=None, **_):
    """A spectrogram's output from the real and imaginary parts ``(N, C, T', F)``, in Keras's layouts."""
    if mode == "real":
        y = re
    elif mode == "imag":
        y = im
    elif mode == "angle":
        y = np.arctan2(im, re)
    elif mode == "stft":
        y = np.concatenate([re, im], axis=-1)
    else:
        p = re * re + im * im
        if mode == "psd":
            y = p.copy()
            y[..., 1:-1] *= 2
        else:
            y = np.sqrt(np.maximum(p, 1e-7))
            if mode == "log":
                y = np.log(y)
    n, c, t, b = y.shape
    if data_format == "channels_first":
        return y if expand_dims else y.transpose(0, 1, 3, 2).reshape(n, c * b, t)
    return y.transpose(0, 2, 3, 1) if expand_dims else y.transpose(0, 2, 1, 3).reshape(n, t, c * b)


def _ref_stft(x, mode, frame_length, fft_length=None, window="hann", periodic=False, scaling="density", **kw):
    """float64 STFT by numpy's rfft of each windowed frame."""
    nfft = fft_length or 2 ** int(np.ceil(np.log2(frame_length)))
    if window is None:
        w, scale = np.ones(frame_length), 1.0
    else:
        scipy_signal = pytest.importorskip("scipy.signal")
        w = scipy_signal.get_window(window, frame_length, fftbins=periodic) if isinstance(window, str) else np.asarray(window, np.float64)
        scale = {"density": np.sqrt((w * w).sum()), "spectrum": np.abs(w).sum(), None: 1.0}[scaling]
    spec = np.fft.rfft(_ref_frames(x, frame_length, **kw) * w / scale, n=nfft, axis=-1)
    return _ref_mode(spec.real, spec.imag, mode, **kw)


STFT_CASES = [
    dict(mode="log", frame_length=16, frame_step=5),
    dict(mode="magnitude", frame_length=15, frame_step=4, fft_length=32, window="hamming", periodic=True, padding="same"),
    dict(mode="psd", frame_length=8, scaling="spectrum"),
    dict(mode="angle", frame_length=8, window=None, frame_step=3),
    dict(mode="stft", frame_length=10, frame_step=3, padding="same", expand_dims=True),
    dict(mode="real", frame_length=8, data_format="channels_first", scaling=None),
    dict(mode="imag", frame_length=8, data_format="channels_first", expand_dims=True, window="blackman"),
    dict(mode="magnitude", frame_length=6, frame_step=6, window=[0.1, 0.5, 1.0, 1.0, 0.5, 0.1]),
]


def _stft_input(kw, rng, n=2, t=40, c=3):
    x = rng.standard_normal((n, t, c)).astype(np.float32)
    return np.ascontiguousarray(x.transpose(0, 2, 1)) if kw.get("data_format") == "channels_first" else x


def _same_angles(a, b, atol):
    # Angles of bins with zero imaginary part are +-pi depending on the sign of a zero.
    np.testing.assert_allclose(np.angle(np.exp(1j * (np.asarray(a, np.float64) - b))), 0.0, atol=atol)


@pytest.mark.parametrize("kw", STFT_CASES, ids=[c["mode"] + str(i) for i, c in enumerate(STFT_CASES)])
def test_stft_matches_reference_and_keras(kw, rng):
    keras = pytest.importorskip("keras")
    x = _stft_input(kw, rng)
    layer = L.STFTSpectrogram(**kw)
    got = layer(x)
    want = _ref_stft(x, **kw)
    assert got.dtype == np.float32 and got.shape == want.shape
    assert layer.compute_output_shape((None,) + x.shape[1:]) == (None,) + want.shape[1:]
    theirs = _np(keras.layers.STFTSpectrogram(**kw)(x))
    if kw["mode"] == "angle":
        _same_angles(got, want, 1e-4)
        _same_angles(got, theirs, 1e-4)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(got, theirs, rtol=1e-5, atol=2e-5)
    # the kernels equal Keras's STFT initializer
    klayer = keras.layers.STFTSpectrogram(**kw)
    klayer.build(x.shape)
    for name in ("real_kernel", "imag_kernel"):
        if getattr(layer, name) is not None:
            np.testing.assert_allclose(getattr(layer, name).value, _np(getattr(klayer, name).value), atol=2e-6)


@pytest.mark.parametrize("kw", [c for c in STFT_CASES if c["mode"] != "angle"] + [dict(mode="angle", frame_length=8, frame_step=3)],
                         ids=lambda c: c["mode"])
def test_stft_gradients(kw, rng):
    x = _stft_input(kw, rng, n=1, t=21, c=2)
    layer = L.STFTSpectrogram(**kw)
    layer(x)

    def ref(v):
        return _ref_stft(v, **kw)

    y, ctx = layer.forward(x, training=True)
    r = rng.standard_normal(y.shape)
    if kw["mode"] == "angle":
        bins = kw["frame_length"] // 2 + 1
        # the DC and Nyquist bins have a zero imaginary part: their angle jumps between 0 and +-pi
        r.reshape(-1, bins)[:, [0, bins - 1]] = 0.0
    for k in layer.weights:
        k.grad[...] = 0.0
    dx = layer.backward(ctx, r.astype(np.float32))
    assert dx.shape == x.shape and dx.dtype == np.float32
    assert_grad_close(dx, numeric_grad(lambda v: float((ref(v) * r).sum()), x.astype(np.float64)), what="dx")
    # kernel gradients against finite differences of the float64 output from the kernels
    seg = _ref_frames(x, **kw)
    kr = layer.real_kernel.value[:, 0].astype(np.float64) if layer.real_kernel is not None else None
    ki = layer.imag_kernel.value[:, 0].astype(np.float64) if layer.imag_kernel is not None else None
    zero = np.zeros(seg.shape[:3] + ((kr if kr is not None else ki).shape[1],))

    def out(a, b):
        return _ref_mode(seg @ a if a is not None else zero, seg @ b if b is not None else zero, **kw)

    if kr is not None:
        want = numeric_grad(lambda v: float((out(v, ki) * r).sum()), kr)
        assert_grad_close(layer.real_kernel.grad[:, 0], want, what="dreal_kernel")
    if ki is not None:
        want = numeric_grad(lambda v: float((out(kr, v) * r).sum()), ki)
        assert_grad_close(layer.imag_kernel.grad[:, 0], want, what="dimag_kernel")
    assert layer.backward(ctx, r.astype(np.float32), need_dx=False) is None


def test_stft_trainable_in_model_save_load(tmp_path, rng):
    model = pynncore.Sequential([pynncore.Input((32, 2)), L.STFTSpectrogram(mode="magnitude", frame_length=8), L.Flatten(), L.Dense(1)])
    assert len(model.trainable_weights) == 4
    model.compile(optimizer="sgd", loss="mse")
    x = rng.standard_normal((4, 32, 2)).astype(np.float32)
    before = model.layers[0].real_kernel.value.copy()
    model.train_on_batch(x, np.ones((4, 1), np.float32))
    assert not np.array_equal(model.layers[0].real_kernel.value, before)
    y = model.predict(x, verbose=0)
    model.save(str(tmp_path / "m.pnc"))
    np.testing.assert_array_equal(pynncore.load_model(str(tmp_path / "m.pnc")).predict(x, verbose=0), y)


def test_stft_config_roundtrip():
    layer = L.STFTSpectrogram(mode="psd", frame_length=12, frame_step=5, fft_length=16, window="hamming", periodic=True,
                              scaling="spectrum", padding="same", expand_dims=True, data_format="channels_first", name="spec")
    config = layer.get_config()
    for key, value in dict(mode="psd", frame_length=12, frame_step=5, fft_length=16, window="hamming", periodic=True,
                           scaling="spectrum", padding="same", expand_dims=True, data_format="channels_first").items():
        assert config[key] == value
    assert L.STFTSpectrogram.from_config(config).get_config() == config
    defaults = L.STFTSpectrogram().get_config()
    assert (defaults["mode"], defaults["frame_length"], defaults["frame_step"], defaults["fft_length"], defaults["window"],
            defaults["periodic"], defaults["scaling"], defaults["padding"], defaults["expand_dims"], defaults["data_format"]) == \
        ("log", 256, None, None, "hann", False, "density", "valid", False, "channels_last")
    listed = L.STFTSpectrogram(frame_length=3, window=[0.5, 1, 0.5])
    assert json.loads(json.dumps(listed.get_config()))["window"] == [0.5, 1.0, 0.5]


def test_stft_bad_arguments():
    cases = [
        (dict(mode="power"), "mode"),
        (dict(frame_length=0), "frame_length"),
        (dict(frame_length=8, frame_step=9), "frame_step"),
        (dict(frame_length=8, frame_step=0), "frame_step"),
        (dict(frame_length=8, fft_length=4), "fft_length"),
        (dict(window="kaiserish"), "window"),
        (dict(frame_length=4, window=[1, 2, 3]), "window"),
        (dict(scaling="log"), "scaling"),
        (dict(padding="causal"), "padding"),
        (dict(data_format="channels_middle"), "data_format"),
        (dict(periodic="yes"), "periodic"),
        (dict(expand_dims=1), "expand_dims"),
    ]
    for kwargs, arg in cases:
        with pytest.raises(ValueError, match=arg):
            L.STFTSpectrogram(**kwargs)
    layer = L.STFTSpectrogram(frame_length=4)
    with pytest.raises(TypeError, match="float"):
        layer(np.ones((2, 8, 1), np.int32))
    with pytest.raises(ValueError, match="rank 3"):
        layer(np.ones((2, 8), np.float32))


# -- MelSpectrogram -------------------------------------------------------------------------


def _ref_mel_matrix(num_mel_bins, bins, sampling_rate, lower, upper):
    """HTK-scale triangular filters of peak 1 written from their definition, one bin at a time."""

    def mel(f):
        return 1127.0 * np.log(1.0 + f / 700.0)

    edges = np.linspace(mel(lower), mel(upper), num_mel_bins + 2)
    out = np.zeros((bins, num_mel_bins))
    for k in range(1, bins):
        m = mel(k * (sampling_rate / 2.0) / (bins - 1))
        for j in range(num_mel_bins):
            lo, c, hi = edges[j], edges[j + 1], edges[j + 2]
            out[k, j] = max(0.0, min((m - lo) / (c - lo), (hi - m) / (hi - c)))
    return out


def _ref_mel(x, fft_length=2048, sequence_stride=512, sequence_length=None, window="hann", sampling_rate=16000,
             num_mel_bins=128, min_freq=20.0, max_freq=None, power_to_db=True, top_db=80.0, mag_exp=2.0,
             min_power=1e-10, ref_power=1.0):
    sig = np.atleast_2d(np.asarray(x, np.float64))
    seq = sequence_length or fft_length
    sig = np.pad(sig, ((0, 0), (fft_length // 2, fft_length // 2)), mode="reflect")
    if window is None:
        w = np.ones(seq)
    elif isinstance(window, str):
        w = pytest.importorskip("scipy.signal").get_window(window, seq, fftbins=True)
    else:
        w = np.asarray(window, np.float64)
    left = (fft_length - seq) // 2
    w = np.pad(w, (left, fft_length - seq - left))
    count = 1 + (sig.shape[1] - fft_length) // sequence_stride
    frames = np.stack([sig[:, i * sequence_stride:i * sequence_stride + fft_length] for i in range(count)], axis=1)
    spec = np.abs(np.fft.rfft(frames * w, axis=-1)) ** mag_exp
    m = spec @ _ref_mel_matrix(num_mel_bins, fft_length // 2 + 1, sampling_rate, min_freq, max_freq or int(sampling_rate / 2))
    if power_to_db:
        m = 10 * np.log10(np.maximum(m, min_power)) - 10 * np.log10(max(abs(ref_power), min_power))
        m = np.maximum(m, m.max() - top_db)
    out = np.swapaxes(m, -1, -2)
    return out[0] if np.ndim(x) == 1 else out


MEL_CASES = [
    dict(fft_length=64, sequence_stride=16, num_mel_bins=8),
    dict(fft_length=64, sequence_stride=10, sequence_length=40, window="hamming", num_mel_bins=12, sampling_rate=8000,
         min_freq=50.0, max_freq=3000.0, top_db=20.0, mag_exp=1.0, ref_power=2.0),
    dict(fft_length=32, sequence_stride=7, window=None, power_to_db=False, num_mel_bins=6),
    dict(fft_length=16, sequence_stride=5, sequence_length=10, window=[0.2, 0.5, 0.8, 1, 1, 1, 1, 0.8, 0.5, 0.2],
         num_mel_bins=4, sampling_rate=1000, min_freq=0.0, mag_exp=1.5, power_to_db=False),
]


@pytest.mark.parametrize("kw", MEL_CASES, ids=range(len(MEL_CASES)))
def test_mel_spectrogram_matches_reference_and_keras(kw, rng):
    keras = pytest.importorskip("keras")
    x = rng.standard_normal((3, 150)).astype(np.float32)
    layer = L.MelSpectrogram(**kw)
    got = layer(x)
    want = _ref_mel(x, **kw)
    assert got.dtype == np.float32 and got.shape == want.shape
    assert layer.compute_output_shape((None, 150)) == (None,) + want.shape[1:]
    scale = np.abs(want).max()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * scale)
    np.testing.assert_allclose(got, _np(keras.layers.MelSpectrogram(**kw)(x)), rtol=1e-4, atol=2e-6 * scale)
    # a single signal
    np.testing.assert_allclose(layer(x[1]), _ref_mel(x[1], **kw), rtol=1e-5, atol=1e-5 * np.abs(_ref_mel(x[1], **kw)).max())
    assert layer.compute_output_shape((150,)) == want.shape[1:]


@pytest.mark.parametrize("kw", [dict(fft_length=16, sequence_stride=5, num_mel_bins=4, sampling_rate=1000, power_to_db=False),
                                dict(fft_length=16, sequence_stride=6, sequence_length=12, window="hamming", num_mel_bins=5,
                                     sampling_rate=1000, mag_exp=1.0, top_db=200.0),
                                dict(fft_length=16, sequence_stride=4, num_mel_bins=4, sampling_rate=1000, top_db=6.0)],
                         ids=["power", "db", "db_floor"])
def test_mel_spectrogram_gradients(kw, rng):
    layer = L.MelSpectrogram(**kw)
    x = rng.standard_normal((2, 30)).astype(np.float32)
    check_layer_against_reference(layer, x, lambda v: _ref_mel(v, **kw), rng, rtol=1e-5, atol=1e-4)
    assert layer.backward(layer.forward(x, training=True)[1], np.ones(layer(x).shape, np.float32), need_dx=False) is None


def test_mel_spectrogram_in_model_save_load(tmp_path, rng):
    model = pynncore.Sequential([pynncore.Input((64,)), L.MelSpectrogram(fft_length=16, sequence_stride=8, num_mel_bins=4,
                                                                         sampling_rate=1000), L.Flatten(), L.Dense(1)])
    assert model.output_shape == (None, 1)
    x = rng.standard_normal((3, 64)).astype(np.float32)
    y = model.predict(x, verbose=0)
    model.save(str(tmp_path / "m.pnc"))
    np.testing.assert_array_equal(pynncore.load_model(str(tmp_path / "m.pnc")).predict(x, verbose=0), y)


def test_mel_spectrogram_config_roundtrip():
    defaults = L.MelSpectrogram().get_config()
    expected = dict(fft_length=2048, sequence_stride=512, sequence_length=2048, window="hann", sampling_rate=16000,
                    num_mel_bins=128, min_freq=20.0, max_freq=8000, power_to_db=True, top_db=80.0, mag_exp=2.0,
                    min_power=1e-10, ref_power=1.0)
    assert {k: defaults[k] for k in expected} == expected
    layer = L.MelSpectrogram(fft_length=32, sequence_stride=5, sequence_length=20, window=[1.0] * 20, sampling_rate=900,
                             num_mel_bins=7, min_freq=10.0, max_freq=400.0, power_to_db=False, top_db=30.0, mag_exp=1.0,
                             min_power=1e-6, ref_power=0.5, name="mel")
    config = json.loads(json.dumps(layer.get_config()))
    again = L.MelSpectrogram.from_config(config)
    assert again.get_config() == layer.get_config()
    x = np.random.default_rng(0).standard_normal((2, 50)).astype(np.float32)
    np.testing.assert_array_equal(again(x), layer(x))


def test_mel_spectrogram_bad_arguments():
    cases = [
        (dict(fft_length=0), "fft_length"),
        (dict(fft_length=16, sequence_length=32), "sequence_length"),
        (dict(sequence_stride=0), "sequence_stride"),
        (dict(window="blackman"), "window"),
        (dict(fft_length=16, window=[1.0] * 8), "window"),
        (dict(sampling_rate=0), "sampling_rate"),
        (dict(num_mel_bins=0), "num_mel_bins"),
        (dict(min_freq=-1.0), "min_freq"),
        (dict(min_freq=500.0, max_freq=400.0), "max_freq"),
        (dict(power_to_db="yes"), "power_to_db"),
        (dict(top_db=-1.0), "top_db"),
        (dict(mag_exp=0.0), "mag_exp"),
        (dict(min_power=0.0), "min_power"),
        (dict(ref_power=float("nan")), "ref_power"),
    ]
    for kwargs, arg in cases:
        with pytest.raises(ValueError, match=arg):
            L.MelSpectrogram(**kwargs)
    layer = L.MelSpectrogram(fft_length=16, sequence_stride=4, num_mel_bins=4, sampling_rate=1000)
    with pytest.raises(TypeError, match="float"):
        layer(np.ones((2, 32), np.int64))
    with pytest.raises(ValueError, match="rank 1 or 2"):
        layer(np.ones((2, 32, 1), np.float32))
