"""ONNX export of Conv3D, Conv1D/3DTranspose, 3-D and adaptive pooling and RandomCrop: onnxruntime's
outputs equal model.predict (and, for adaptive pooling and RandomCrop, float64 numpy
references of the bins and of the inference crop)."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

import pynncore
from pynncore import layers
from pynncore.models import Sequential
from test_onnx import _check_batches, _randomize, _run, onnx, ort  # noqa: F401  (onnx and ort are fixtures)


def _check(ort, model, shapes, tmp_path, rng, rtol=1e-5, atol=1e-5):
    """The exported model run on inputs of each shape in ``shapes`` (batch included) equals
    model.predict; returns the file's path."""
    for shape in shapes:
        _check_batches(ort, model, shape[1:], tmp_path, rng, rtol=rtol, atol=atol, batches=shape[:1])
    return str(tmp_path / "m.onnx")


def _op_types(onnx, path):
    return {n.op_type for n in onnx.load(path).graph.node}


# -- Conv3D and Conv3DTranspose ----------------------------------------------------------------


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides,dilation", [(1, 1), (2, 1), ((1, 2, 3), 1), (1, 2), (1, (2, 1, 1))])
def test_conv3d(ort, padding, strides, dilation, tmp_path, rng):
    shape = (7, 6, 9, 3)
    model = Sequential([
        layers.Input(shape),
        layers.Conv3D(5, (3, 2, 3), strides=strides, dilation_rate=dilation, padding=padding, activation="relu"),
        layers.Conv3D(4, 1, use_bias=False, activation="tanh"),
    ])
    _randomize(model, rng)
    _check(ort, model, [(n,) + shape for n in (1, 2, 5)], tmp_path, rng)


def test_conv3d_groups_and_even_kernel_same(ort, tmp_path, rng):
    model = Sequential([
        layers.Input((5, 8, 7, 4)),
        layers.Conv3D(6, (2, 4, 2), strides=(1, 2, 3), padding="same", groups=2),
        layers.Conv3D(3, 2, padding="same", groups=3, activation="gelu"),
    ])
    _randomize(model, rng)
    _check(ort, model, [(3, 5, 8, 7, 4)], tmp_path, rng)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv3d_unknown_volume_size(ort, padding, tmp_path, rng):
    # "same" with strides on axes of unknown size runs through auto_pad SAME_UPPER
    model = Sequential([
        layers.Input((None, None, None, 2)),
        layers.Conv3D(3, 3, strides=2, padding=padding),
        layers.Conv3D(2, 2, dilation_rate=2, padding=padding),
    ])
    _randomize(model, rng)
    _check(ort, model, [(2, 7, 8, 9, 2), (1, 9, 11, 8, 2)], tmp_path, rng)


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides,kernel,dilation,output_padding", [
    (1, 3, 1, None),
    (2, 3, 1, None),
    ((2, 1, 3), (2, 3, 4), 1, None),
    (3, 2, 1, (1, 0, 2)),
    (1, (3, 2, 2), (2, 1, 3), None),
    (2, 3, 1, 1),
])
def test_conv3d_transpose(ort, padding, strides, kernel, dilation, output_padding, tmp_path, rng):
    shape = (3, 4, 5, 2)
    model = Sequential([
        layers.Input(shape),
        layers.Conv3DTranspose(4, kernel, strides=strides, padding=padding, dilation_rate=dilation,
                               output_padding=output_padding, activation="relu"),
        layers.Conv3DTranspose(3, 1, use_bias=False),
    ])
    _randomize(model, rng)
    _check(ort, model, [(n,) + shape for n in (1, 2, 4)], tmp_path, rng)


def test_conv3d_autoencoder(ort, tmp_path, rng):
    model = Sequential([
        layers.Input((6, 5, 7, 2)),
        layers.Conv3D(4, 3, strides=2, padding="same", activation="relu"),
        layers.Conv3DTranspose(2, 3, strides=2, padding="same", activation="sigmoid"),
        layers.Flatten(),
    ])
    _randomize(model, rng)
    _check(ort, model, [(3, 6, 5, 7, 2)], tmp_path, rng)


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides,kernel,dilation,output_padding", [
    (1, 3, 1, None), (2, 3, 1, None), (3, 4, 1, 2), (1, 3, 2, None), (2, 2, 1, 1),
])
def test_conv1d_transpose(ort, padding, strides, kernel, dilation, output_padding, tmp_path, rng):
    model = Sequential([
        layers.Input((7, 3)),
        layers.Conv1DTranspose(4, kernel, strides=strides, padding=padding, dilation_rate=dilation,
                               output_padding=output_padding, activation="elu"),
    ])
    _randomize(model, rng)
    _check(ort, model, [(n, 7, 3) for n in (1, 3)], tmp_path, rng)


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("pool,strides", [(2, None), (3, 2), ((3, 2, 1), (1, 2, 3)), (2, 3)])
def test_pooling3d_and_global_pooling3d(ort, padding, pool, strides, tmp_path, rng):
    model = Sequential([
        layers.Input((9, 11, 8, 3)),
        layers.MaxPooling3D(pool, strides=strides, padding=padding),
        layers.AveragePooling3D(pool, strides=strides, padding=padding),
    ])
    _check(ort, model, [(n, 9, 11, 8, 3) for n in (1, 3)], tmp_path, rng)
    for cls in (layers.GlobalMaxPooling3D, layers.GlobalAveragePooling3D):
        for keepdims in (False, True):
            model = Sequential([layers.Input((None, 5, 4, 2)), cls(keepdims=keepdims)])
            _check(ort, model, [(2, 3, 5, 4, 2), (1, 6, 5, 4, 2)], tmp_path, rng)


# -- adaptive pooling --------------------------------------------------------------------------


def _adaptive_reference(x, output_size, mode):
    """float64 loop over output cells: the box of cell i along an axis of size L with O cells is
    [floor(i L / O), ceil((i + 1) L / O))."""
    x = x.astype(np.float64)
    spatial = x.shape[1:-1]
    out = np.empty((x.shape[0],) + tuple(output_size) + (x.shape[-1],))
    for cell in np.ndindex(*output_size):
        box = tuple(slice(i * n // o, -(-(i + 1) * n // o)) for i, n, o in zip(cell, spatial, output_size))
        window = x[(slice(None),) + box + (slice(None),)]
        axes = tuple(range(1, 1 + len(spatial)))
        out[(slice(None),) + cell + (slice(None),)] = window.max(axis=axes) if mode == "max" else window.mean(axis=axes)
    return out


ADAPTIVE_CASES = [
    # (spatial input size, output_size, exported as one pooling op)
    ((7,), 3, False),
    ((9,), 3, True),
    ((5,), 8, False),  # more cells than positions: positions repeat
    ((6,), 1, True),
    ((7, 5), (3, 2), False),
    ((6, 4), (3, 2), True),
    ((5, 3), (7, 1), False),
    ((4, 6), (4, 5), False),
    ((5, 6, 4), (2, 3, 3), False),
    ((4, 6, 3), (2, 3, 1), True),
    ((3, 7, 5), 2, False),
]


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("spatial,output_size,pooled", ADAPTIVE_CASES, ids=str)
def test_adaptive_pooling(onnx, ort, mode, spatial, output_size, pooled, tmp_path, rng):
    nd = len(spatial)
    cls = getattr(layers, f"Adaptive{'Max' if mode == 'max' else 'Average'}Pooling{nd}D")
    layer = cls(output_size)
    model = Sequential([layers.Input(spatial + (3,)), layer])
    path = _check(ort, model, [(n,) + spatial + (3,) for n in (1, 4)], tmp_path, rng)
    x = rng.standard_normal((2,) + spatial + (3,)).astype(np.float32)
    np.testing.assert_allclose(_run(ort, path, x), _adaptive_reference(x, layer.output_size, mode), rtol=1e-5,
                               atol=1e-6)
    ops = _op_types(onnx, path)
    if pooled:
        assert ("MaxPool" if mode == "max" else "AveragePool") in ops and "Slice" not in ops
    else:
        assert "Slice" in ops and ("ReduceMax" if mode == "max" else "ReduceMean") in ops


def test_adaptive_pooling_after_convolutions(ort, tmp_path, rng):
    model = Sequential([
        layers.Input((11, 9, 2)),
        layers.Conv2D(4, 3, activation="relu"),
        layers.AdaptiveAveragePooling2D((4, 3)),
        layers.Reshape((12, 4)),
        layers.AdaptiveMaxPooling1D(5),
        layers.Flatten(),
        layers.Dense(3),
    ])
    _randomize(model, rng)
    _check(ort, model, [(n, 11, 9, 2) for n in (1, 3)], tmp_path, rng)


@pytest.mark.parametrize("mode", ["Max", "Average"])
def test_adaptive_pooling_unknown_size_with_one_cell(ort, mode, tmp_path, rng):
    # an axis pooled to one cell reduces the whole axis, whatever its size
    model = Sequential([layers.Input((None, 5, 2)), getattr(layers, f"Adaptive{mode}Pooling2D")((1, 3))])
    _check(ort, model, [(2, 4, 5, 2), (1, 9, 5, 2)], tmp_path, rng)


# -- RandomCrop --------------------------------------------------------------------------------


def _bilinear_matrix(n_in, n_out):
    """(n_out, n_in) half-pixel bilinear interpolation, source clamped at 0 and n_in - 1."""
    m = np.zeros((n_out, n_in))
    for i in range(n_out):
        pos = max((i + 0.5) * n_in / n_out - 0.5, 0.0)
        i0 = min(int(np.floor(pos)), n_in - 1)
        i1 = min(i0 + 1, n_in - 1)
        lam = pos - i0
        m[i, i0] += 1.0 - lam
        m[i, i1] += lam
    return m


def _center_crop_resize_reference(x, th, tw):
    """The largest centered window with aspect ratio th : tw, resized bilinearly to (th, tw)."""
    h, w = x.shape[1:3]
    ch = max(min(h, int(w * th / tw)), 1)
    cw = max(min(w, int(h * tw / th)), 1)
    top, left = (h - ch) // 2, (w - cw) // 2
    window = x[:, top : top + ch, left : left + cw].astype(np.float64)
    return np.einsum("oh,nhwc,pw->nopc", _bilinear_matrix(ch, th), window, _bilinear_matrix(cw, tw))


@pytest.mark.parametrize("image,target", [
    ((7, 9), (3, 4)),
    ((5, 5), (8, 6)),  # smaller than the target: upsampled
    ((9, 4), (2, 7)),
    ((6, 10), (6, 10)),  # same size: the identity
    ((13, 11), (5, 5)),
], ids=str)
def test_random_crop_at_inference(ort, image, target, tmp_path, rng):
    model = Sequential([layers.Input(image + (3,)), layers.RandomCrop(*target, seed=3)])
    path = _check(ort, model, [(n,) + image + (3,) for n in (1, 4)], tmp_path, rng)
    x = rng.standard_normal((2,) + image + (3,)).astype(np.float32)
    np.testing.assert_allclose(_run(ort, path, x), _center_crop_resize_reference(x, *target), rtol=1e-5, atol=1e-5)
    if image == target:
        np.testing.assert_allclose(_run(ort, path, x), x, rtol=1e-6, atol=1e-6)


def test_random_crop_in_a_model(ort, tmp_path, rng):
    model = Sequential([
        layers.Input((12, 10, 3)),
        layers.RandomCrop(8, 8, seed=1),
        layers.Conv2D(4, 3, padding="same", activation="relu"),
        layers.GlobalAveragePooling2D(),
        layers.Dense(2),
    ])
    _randomize(model, rng)
    _check(ort, model, [(n, 12, 10, 3) for n in (1, 3)], tmp_path, rng)


# -- what is not exported ----------------------------------------------------------------------


def test_unsupported_configurations_raise(onnx, tmp_path):
    path = str(tmp_path / "m.onnx")
    cases = [
        ([layers.Input((None, 5, 4, 1)), layers.Conv3DTranspose(2, 3)], "Conv3DTranspose: needs known spatial input sizes"),
        ([layers.Input((5, 6, None, 1)), layers.Conv3D(2, 3, strides=2, dilation_rate=2, padding="same")],
         "Conv3D: padding='same' with strides > 1 and dilation > 1 needs known spatial sizes"),
        ([layers.Input((None, 4, 2)), layers.AdaptiveMaxPooling2D((2, 2))],
         "AdaptiveMaxPooling2D: needs known spatial input sizes where output_size is not 1"),
        ([layers.Input((6, None, 2, 2)), layers.AdaptiveAveragePooling3D((1, 2, 1))],
         "AdaptiveAveragePooling3D: needs known spatial input sizes where output_size is not 1"),
        ([layers.Input((None, 8, 3)), layers.RandomCrop(4, 4)], "RandomCrop: needs known image sizes"),
    ]
    for stack, match in cases:
        with pytest.raises(NotImplementedError, match=re.escape(match)) as info:
            Sequential(stack).export_onnx(path)
        assert "ONNX export: layer '" in str(info.value) and "Received: shape=" in str(info.value)
    assert not os.listdir(tmp_path)


def test_exporters_are_registered_for_the_exact_classes(onnx):
    from pynncore import onnx_export

    onnx_export._register_builtin()
    names = ["Conv3D", "Conv1DTranspose", "Conv3DTranspose", "RandomCrop", "MaxPooling3D", "AveragePooling3D",
             "GlobalMaxPooling3D", "GlobalAveragePooling3D"] + [
        f"Adaptive{kind}Pooling{nd}D" for kind in ("Max", "Average") for nd in (1, 2, 3)
    ]
    for name in names:
        assert getattr(pynncore.layers, name) in onnx_export._BUILTINS, name
