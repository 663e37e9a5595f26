"""The numpy safetensors reader/writer: round trips, layouts, hostile files, atomic writes."""

from __future__ import annotations

import json
import os
import struct

import numpy as np
import pytest

from pynncore import _safetensors as st

ALL_DTYPES = [
    "bool",
    "uint8",
    "int8",
    "uint16",
    "int16",
    "float16",
    "uint32",
    "int32",
    "float32",
    "uint64",
    "int64",
    "float64",
]


def make(dtype: str, shape, rng) -> np.ndarray:
    if dtype == "bool":
        return rng.random(shape) > 0.5
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
    return rng.normal(size=shape).astype(dtype)


def raw_file(header: dict | bytes, data: bytes = b"", length: int | None = None) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data


def assert_same(loaded: dict, expected: dict) -> None:
    assert set(loaded) == set(expected)
    for k, v in expected.items():
        v = np.asarray(v)
        assert loaded[k].dtype == v.dtype.newbyteorder("=") and loaded[k].shape == v.shape, k
        np.testing.assert_array_equal(loaded[k], v)


# ---------------------------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_round_trip_every_dtype(tmp_path, rng, dtype):
    tensors = {"x": make(dtype, (3, 5), rng), "scalar": make(dtype, (), rng), "empty": make(dtype, (0, 4), rng)}
    path = tmp_path / "t.safetensors"
    st.save_file(tensors, path)
    loaded, metadata = st.load_file(path)
    assert_same(loaded, tensors)
    assert metadata == {}
    assert all(a.flags.writeable for a in loaded.values())
    assert_same(st.load_bytes(st.save_bytes(tensors))[0], tensors)


def test_strided_fortran_and_big_endian_inputs_are_stored_in_c_order(tmp_path):
    base = np.arange(60, dtype=np.float32).reshape(6, 10)
    tensors = {
        "transposed": base.T,
        "fortran": np.asfortranarray(base),
        "strided": base[::2, 1::3],
        "reversed": base[::-1, ::-1],
        "big_endian": base.astype(">f8"),
        "list": [[1.5, 2.5]],
    }
    path = tmp_path / "t.safetensors"
    st.save_file(tensors, path)
    loaded, _ = st.load_file(path)
    for name, value in tensors.items():
        np.testing.assert_array_equal(loaded[name], np.asarray(value), err_msg=name)
    assert loaded["big_endian"].dtype == np.dtype("float64")


def test_metadata_layout_and_alignment():
    data = st.save_bytes(
        {"b": np.zeros(3, np.int8), "a": np.ones(2, np.float64), "c": np.ones(1, np.float32)},
        metadata={"format": "pnc", "config": json.dumps({"units": 3})},
    )
    n = struct.unpack("<Q", data[:8])[0]
    assert n % 8 == 0  # tensor data starts 8-byte aligned
    header = json.loads(data[8 : 8 + n])
    assert list(header) == ["__metadata__", "a", "c", "b"]  # larger items first
    assert header["a"] == {"dtype": "F64", "shape": [2], "data_offsets": [0, 16]}
    assert header["c"]["data_offsets"] == [16, 20] and header["b"]["data_offsets"] == [20, 23]
    tensors, metadata = st.load_bytes(data)
    assert metadata == {"format": "pnc", "config": '{"units": 3}'}
    assert all(t.flags.aligned for t in tensors.values())


def test_empty_dict_and_unicode_names(tmp_path):
    path = tmp_path / "e.safetensors"
    st.save_file({}, path, metadata={"k": "v"})
    assert st.load_file(path) == ({}, {"k": "v"})
    tensors = {"dense/kernel:0": np.ones(2, np.float32), "übung": np.zeros(1, np.int32)}
    assert_same(st.load_bytes(st.save_bytes(tensors))[0], tensors)


@pytest.mark.parametrize(
    "tensors, metadata, exc, pattern",
    [
        ({"x": np.array(["a"])}, None, TypeError, "'x' has dtype <U1"),
        ({"x": np.ones(2, np.complex64)}, None, TypeError, "complex64"),
        ({1: np.ones(2)}, None, TypeError, "names must be strings"),
        ({"__metadata__": np.ones(2)}, None, ValueError, "reserved"),
        ({"x": np.ones(2)}, {"k": 1}, TypeError, "str -> str"),
        ({"x": np.ones(2)}, ["k"], TypeError, "metadata"),
    ],
)
def test_save_rejects_bad_input(tmp_path, tensors, metadata, exc, pattern):
    with pytest.raises(exc, match=pattern):
        st.save_file(tensors, tmp_path / "bad.safetensors", metadata)
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# Atomic writes


def test_failure_during_write_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    st.save_file({"w": np.ones(4, np.float32)}, path)
    before = path.read_bytes()

    real = st._write_payload

    def half_then_fail(f, header, entries):
        f.write(b"\x00" * 20)
        raise OSError("disk full")

    monkeypatch.setattr(st, "_write_payload", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        st.save_file({"w": np.zeros(1000, np.float32)}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.safetensors"]

    monkeypatch.setattr(st, "_write_payload", real)

    def no_fsync(fd):
        raise OSError("fsync failed")

    monkeypatch.setattr(st.os, "fsync", no_fsync)
    with pytest.raises(OSError, match="fsync failed"):
        st.save_file({"w": np.zeros(3, np.float32)}, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["model.safetensors"]


def test_save_replaces_existing_file(tmp_path):
    path = tmp_path / "m.safetensors"
    st.save_file({"w": np.ones(4, np.float32)}, path)
    st.save_file({"v": np.zeros(2, np.int64)}, str(path))
    assert_same(st.load_file(path)[0], {"v": np.zeros(2, np.int64)})
    assert os.listdir(tmp_path) == ["m.safetensors"]


# ---------------------------------------------------------------------------------------------
# Hostile and corrupt files


GOOD_HEADER = {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
GOOD_DATA = np.array([1.0, 2.0], "<f4").tobytes()

CORRUPT = {
    "empty": (b"", "too short"),
    "short length": (b"\x01\x00\x00", "too short"),
    "header too long": (raw_file(b"{}", length=1000), "runs past the end"),
    "header over the cap": (struct.pack("<Q", st.MAX_HEADER_SIZE + 1) + b"{}", "larger than the 100000000 byte limit"),
    "huge length": (b"\xff" * 8 + b"{}", "limit"),
    "not json": (raw_file(b"{not json}"), "not valid JSON"),
    "not utf-8": (raw_file(b'{"\xff": 1}'), "UTF-8"),
    "not an object": (raw_file(b"[1, 2]"), "starting with"),
    "duplicate key": (raw_file(b'{"a": {}, "a": {}}'), "repeats the key 'a'"),
    "NaN constant": (raw_file(b'{"a": NaN}'), "NaN"),
    "entry not an object": (raw_file({"w": 3}), "expected an object"),
    "extra key": (raw_file({"w": {**GOOD_HEADER["w"], "x": 1}}, GOOD_DATA), "exactly the keys"),
    "unknown dtype": (
        raw_file({"w": {"dtype": "F128", "shape": [2], "data_offsets": [0, 8]}}, GOOD_DATA),
        "unknown dtype 'F128'",
    ),
    "bf16": (
        raw_file({"w": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}, GOOD_DATA[:4]),
        "BF16 has no numpy",
    ),
    "negative dim": (
        raw_file({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, GOOD_DATA),
        "non-negative integers",
    ),
    "float dim": (
        raw_file({"w": {"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]}}, GOOD_DATA),
        "non-negative integers",
    ),
    "bool dim": (
        raw_file({"w": {"dtype": "F32", "shape": [True], "data_offsets": [0, 4]}}, GOOD_DATA[:4]),
        "non-negative",
    ),
    "offsets reversed": (
        raw_file({"w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}, GOOD_DATA),
        "begin <= end",
    ),
    "offsets past end": (
        raw_file({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, GOOD_DATA),
        "end <= 8",
    ),
    "offsets not a pair": (
        raw_file({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0]}}, GOOD_DATA),
        "data_offsets",
    ),
    "shape/size mismatch": (
        raw_file({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, GOOD_DATA),
        "need 12",
    ),
    "huge shape": (
        raw_file({"w": {"dtype": "F64", "shape": [2**40, 2**40], "data_offsets": [0, 8]}}, GOOD_DATA),
        "need",
    ),
    "overlap": (
        raw_file(
            {
                "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]},
            },
            GOOD_DATA,
        ),
        "overlaps",
    ),
    "gap": (raw_file({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, GOOD_DATA), "gap of 4 bytes"),
    "trailing garbage": (raw_file(GOOD_HEADER, GOOD_DATA + b"junk"), "trailing"),
    "truncated data": (raw_file(GOOD_HEADER, GOOD_DATA[:6]), "end <= 6"),
    "bad metadata": (raw_file({"__metadata__": {"k": 1}}), "string values"),
    "bad bool bytes": (
        raw_file({"w": {"dtype": "BOOL", "shape": [2], "data_offsets": [0, 2]}}, b"\x01\x07"),
        "other than 0 and 1",
    ),
}


@pytest.mark.parametrize("name", list(CORRUPT))
def test_corrupt_data_is_rejected(tmp_path, name):
    data, pattern = CORRUPT[name]
    with pytest.raises(ValueError, match=pattern):
        st.load_bytes(data)
    path = tmp_path / "bad.safetensors"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=pattern):
        st.load_file(path)


def test_every_truncation_of_a_valid_file_is_rejected(rng):
    data = st.save_bytes({"a": make("float32", (3, 3), rng), "b": make("int64", (2,), rng)}, {"k": "v"})
    for cut in range(len(data)):
        with pytest.raises(ValueError):
            st.load_bytes(data[:cut])


def test_random_byte_flips_never_crash(rng):
    data = bytearray(st.save_bytes({"a": make("float32", (4, 4), rng), "b": make("int16", (5,), rng)}))
    for _ in range(300):
        corrupted = bytearray(data)
        for pos in rng.integers(0, len(data), size=3):
            corrupted[pos] = int(rng.integers(0, 256))
        try:
            tensors, _ = st.load_bytes(bytes(corrupted))
        except ValueError:
            continue
        assert all(isinstance(t, np.ndarray) for t in tensors.values())


def test_hand_written_valid_file_with_zero_size_tensors():
    header = {
        "e1": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]},
        "w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "e2": {"dtype": "I64", "shape": [3, 0], "data_offsets": [8, 8]},
    }
    tensors, _ = st.load_bytes(raw_file(header, GOOD_DATA))
    assert tensors["w"].tolist() == [1.0, 2.0] and tensors["e2"].shape == (3, 0) and tensors["e1"].shape == (0,)


# ---------------------------------------------------------------------------------------------
# Interoperability with the official package


def test_official_package_reads_our_files(tmp_path, rng):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    from safetensors import safe_open

    tensors = {dt: make(dt, (3, 4), rng) for dt in ALL_DTYPES}
    tensors["fortran"] = np.asfortranarray(make("float32", (5, 3), rng))
    tensors["scalar"] = np.array(2.5)
    tensors["empty"] = np.zeros((0, 2), np.float32)
    path = tmp_path / "ours.safetensors"
    st.save_file(tensors, path, metadata={"format": "np"})
    assert_same(safetensors_numpy.load_file(str(path)), tensors)
    with safe_open(str(path), framework="np") as f:
        assert f.metadata() == {"format": "np"}


def test_we_read_official_files(tmp_path, rng):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    tensors = {dt: make(dt, (2, 3), rng) for dt in ALL_DTYPES}
    tensors["scalar"] = np.array(7, np.int32)
    path = tmp_path / "theirs.safetensors"
    safetensors_numpy.save_file(tensors, str(path), metadata={"a": "b"})
    loaded, metadata = st.load_file(path)
    assert_same(loaded, tensors)
    assert metadata == {"a": "b"}
    assert_same(st.load_bytes(safetensors_numpy.save(tensors))[0], tensors)
