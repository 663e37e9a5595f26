"""Reader and writer of the safetensors format, in numpy only.

Layout of a file::

    [ 8 bytes: N, unsigned little-endian ]
    [ N bytes: UTF-8 JSON header, padded with spaces ]
    [ tensor bytes: little-endian, C order, one tensor after another ]

The header maps each tensor name to ``{"dtype": "F32", "shape": [2, 3],
"data_offsets": [begin, end]}`` (offsets counted from the first tensor byte) and may hold
``"__metadata__": {str: str}``. Files written here can be read by the official
``safetensors`` package and the other way round.

Nothing in a file is trusted: the reader checks the header length against a 100 MB cap and
the file size, the JSON, every dtype, shape and offset, that the tensors tile the data
exactly (no gaps, no overlaps, nothing after the last one) and that each size is
``prod(shape) * itemsize``, before it makes a single array. Any problem is a ``ValueError``
that says what is wrong; the reader never allocates more than the file's own size.

The writer stores every tensor in C order (strided and Fortran-order arrays included), and
writes to a temporary file in the target folder (named ``.<name>.<random>.tmp``) that is
flushed, fsynced and then renamed over the target, after which the folder is fsynced too; on
any error the temporary file is removed, so a failure never leaves a partial file behind. A
process killed outright (SIGKILL, power loss) may leave such a temporary file; it is never
read and the next save of the same target does not depend on it.

With ``checksum=True`` the writer also stores, under the metadata key ``pynncore.crc32``, a
CRC-32 of the tensor data and of a canonical form of the rest of the header (every tensor's
name, dtype, shape and offsets, and the other metadata). The reader verifies it whenever it
is present, so a bit flip or an edit anywhere in the file is refused with a ``ValueError``
instead of loading wrong weights. Other safetensors readers ignore the key.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import zlib
from collections.abc import Mapping
from typing import Any, BinaryIO

import numpy as np

__all__ = ["CHECKSUM_KEY", "MAX_HEADER_SIZE", "load_bytes", "load_file", "save_bytes", "save_file"]

#: Largest header accepted, as in the official implementation (a guard against huge JSON).
MAX_HEADER_SIZE = 100_000_000

_METADATA_KEY = "__metadata__"

#: Metadata key of the optional checksum (``"crc32:<8 hex digits>"``).
CHECKSUM_KEY = "pynncore.crc32"

_DTYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype("bool"),
    "U8": np.dtype("<u1"),
    "I8": np.dtype("<i1"),
    "U16": np.dtype("<u2"),
    "I16": np.dtype("<i2"),
    "F16": np.dtype("<f2"),
    "U32": np.dtype("<u4"),
    "I32": np.dtype("<i4"),
    "F32": np.dtype("<f4"),
    "U64": np.dtype("<u8"),
    "I64": np.dtype("<i8"),
    "F64": np.dtype("<f8"),
}
# Valid in the format, but numpy has no such type.
_UNSUPPORTED = {"BF16", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2", "C64"}

_CODES: dict[tuple[str, int], str] = {(dt.kind, dt.itemsize): code for code, dt in _DTYPES.items()}


# ---------------------------------------------------------------------------------------------
# Writing


def _prepare(tensors: Mapping[str, Any]) -> list[tuple[str, str, np.ndarray]]:
    if not isinstance(tensors, Mapping):
        raise TypeError(f"safetensors: expected a dict of name -> array. Received: {type(tensors).__name__}")
    out = []
    for name, value in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"safetensors: tensor names must be strings. Received: {name!r}")
        if name == _METADATA_KEY:
            raise ValueError(f"safetensors: {_METADATA_KEY!r} is reserved and cannot name a tensor")
        arr = np.asarray(value)
        code = _CODES.get((arr.dtype.kind, arr.dtype.itemsize))
        if code is None:
            raise TypeError(
                f"safetensors: tensor {name!r} has dtype {arr.dtype}, which the format cannot store "
                f"(supported: bool, int8-64, uint8-64, float16/32/64)"
            )
        # C order and little-endian bytes, whatever the layout of the input (views, .T,
        # Fortran order, negative strides) -- np.asarray keeps 0-d arrays 0-d.
        arr = np.asarray(arr, dtype=_DTYPES[code], order="C")
        out.append((name, code, arr))
    # Larger items first, then by name: every tensor starts at a multiple of its item size.
    out.sort(key=lambda item: (-item[2].dtype.itemsize, item[0]))
    return out


def _describe(metadata: Mapping[str, str], tensors: list[tuple[str, str, list[int], int, int]]) -> bytes:
    """Canonical bytes of everything in a header except the checksum itself."""
    meta = {k: v for k, v in metadata.items() if k != CHECKSUM_KEY}
    return json.dumps(
        {"metadata": meta, "tensors": sorted([list(t) for t in tensors])}, sort_keys=True, separators=(",", ":")
    ).encode("ascii")


def _checksum(description: bytes, chunks: Any) -> str:
    crc = zlib.crc32(description)
    for chunk in chunks:
        crc = zlib.crc32(chunk, crc)
    return f"crc32:{crc & 0xFFFFFFFF:08x}"


def _header(
    entries: list[tuple[str, str, np.ndarray]], metadata: Mapping[str, str] | None, checksum: bool = False
) -> bytes:
    header: dict[str, Any] = {}
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            raise TypeError(f"safetensors: metadata must be a dict of str -> str. Received: {type(metadata).__name__}")
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError(f"safetensors: metadata must map str -> str. Received the entry {k!r}: {v!r}")
        header[_METADATA_KEY] = dict(metadata)
    if checksum:
        meta = {k: v for k, v in (metadata or {}).items() if k != CHECKSUM_KEY}
        described, offset = [], 0
        for name, code, arr in entries:
            described.append((name, code, list(arr.shape), offset, offset + arr.nbytes))
            offset += arr.nbytes
        chunks = (arr.reshape(-1).view(np.uint8) for _, _, arr in entries if arr.size)
        meta[CHECKSUM_KEY] = _checksum(_describe(meta, described), chunks)
        header[_METADATA_KEY] = meta
    offset = 0
    for name, code, arr in entries:
        header[name] = {"dtype": code, "shape": list(arr.shape), "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    raw += b" " * (-len(raw) % 8)  # tensor data starts 8-byte aligned
    if len(raw) > MAX_HEADER_SIZE:
        raise ValueError(
            f"safetensors: the header would be {len(raw)} bytes, more than the {MAX_HEADER_SIZE} byte limit"
        )
    return raw


def _write_payload(f: BinaryIO, header: bytes, entries: list[tuple[str, str, np.ndarray]]) -> None:
    f.write(len(header).to_bytes(8, "little"))
    f.write(header)
    for _, _, arr in entries:
        if arr.size:
            f.write(arr.reshape(-1).view(np.uint8))


def save_bytes(
    tensors: Mapping[str, Any], metadata: Mapping[str, str] | None = None, checksum: bool = False
) -> bytes:
    """Serialize `tensors` (and `metadata`) to safetensors bytes.

    Args:
        tensors: name -> array-like of bool, int8-64, uint8-64 or float16/32/64.
        metadata: optional str -> str pairs stored in the header.
        checksum: also store a CRC-32 of the content (see the module description).

    Returns:
        The file contents.

    Raises:
        TypeError: a name that is not a string, an unsupported dtype, or metadata that is
            not str -> str.
        ValueError: a tensor named ``"__metadata__"``.

    Example:
        >>> import numpy as np
        >>> data = save_bytes({"w": np.ones((2, 2), np.float32)}, {"format": "pt"})
        >>> load_bytes(data)[1]
        {'format': 'pt'}
    """
    import io

    entries = _prepare(tensors)
    header = _header(entries, metadata, checksum=checksum)
    buf = io.BytesIO()
    _write_payload(buf, header, entries)
    return buf.getvalue()


def save_file(
    tensors: Mapping[str, Any],
    path: str | os.PathLike[str],
    metadata: Mapping[str, str] | None = None,
    checksum: bool = False,
) -> None:
    """Write `tensors` to `path` atomically.

    The data go to a temporary file in the folder of `path`, which is flushed, fsynced and
    renamed over `path` only once complete (the folder is then fsynced so that the rename
    itself survives a crash); on any error the temporary file is removed and an existing
    `path` is left as it was.

    Args:
        tensors: name -> array-like (see :func:`save_bytes`).
        path: the target file.
        metadata: optional str -> str pairs stored in the header.
        checksum: also store a CRC-32 of the whole file's content (see the module
            description), verified by every load.

    Raises:
        TypeError, ValueError: as :func:`save_bytes`.
        OSError: the folder cannot be written, or the disk is full.
    """
    entries = _prepare(tensors)
    header = _header(entries, metadata, checksum=checksum)
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            _write_payload(f, header, entries)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(folder)


def _fsync_dir(folder: str) -> None:
    """Make the rename durable where the platform allows opening a directory."""
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


# ---------------------------------------------------------------------------------------------
# Reading


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"safetensors: the header repeats the key {key!r}")
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"safetensors: the header holds {name}, which is not valid JSON")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _parse_header_length(prefix: bytes, total: int) -> int:
    if total < 8:
        raise ValueError(f"safetensors: the data is {total} bytes, too short for the 8-byte header length")
    n = int.from_bytes(prefix[:8], "little")
    if n > MAX_HEADER_SIZE:
        raise ValueError(f"safetensors: header length {n} is larger than the {MAX_HEADER_SIZE} byte limit")
    if n > total - 8:
        raise ValueError(f"safetensors: header length {n} runs past the end of the data ({total} bytes)")
    if n < 2:
        raise ValueError(f"safetensors: header length {n} is too small for a JSON object")
    return n


def _parse_header(
    raw: bytes, data_size: int
) -> tuple[list[tuple[str, np.dtype, tuple[int, ...], int, int]], dict[str, str]]:
    """Validate the header against `data_size` bytes of tensor data; return the entries."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"safetensors: the header is not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    if not text.startswith("{"):
        raise ValueError("safetensors: the header must be a JSON object starting with '{'")
    try:
        header = json.loads(text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"safetensors: the header is not valid JSON: {exc.msg} at position {exc.pos}") from None
    except RecursionError:
        raise ValueError("safetensors: the header JSON is nested too deeply") from None
    if not isinstance(header, dict):
        raise ValueError("safetensors: the header must be a JSON object")

    metadata = header.pop(_METADATA_KEY, None)
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ValueError("safetensors: '__metadata__' must be an object of string values")

    entries = []
    for name, info in header.items():
        where = f"safetensors: tensor {name!r}"
        if not isinstance(info, dict):
            raise ValueError(f"{where}: expected an object with dtype, shape and data_offsets")
        if set(info) != {"dtype", "shape", "data_offsets"}:
            raise ValueError(f"{where}: expected exactly the keys dtype, shape, data_offsets. Received: {sorted(info)}")
        code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if code in _UNSUPPORTED:
            raise ValueError(f"{where}: dtype {code} has no numpy equivalent and is not supported")
        if not isinstance(code, str) or code not in _DTYPES:
            raise ValueError(f"{where}: unknown dtype {code!r}. Known: {', '.join(_DTYPES)}")
        if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
            raise ValueError(f"{where}: shape must be a list of non-negative integers. Received: {shape!r}")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(_is_int(o) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= data_size
        ):
            raise ValueError(
                f"{where}: data_offsets must be [begin, end] with 0 <= begin <= end <= {data_size}. "
                f"Received: {offsets!r}"
            )
        dtype = _DTYPES[code]
        expected = math.prod(shape) * dtype.itemsize
        if offsets[1] - offsets[0] != expected:
            raise ValueError(
                f"{where}: {offsets[1] - offsets[0]} bytes of data for dtype {code} and shape {shape}, "
                f"which need {expected}"
            )
        entries.append((name, dtype, tuple(shape), offsets[0], offsets[1]))

    position = 0
    for name, _, _, begin, end in sorted(entries, key=lambda e: (e[3], e[4])):
        if begin != position:
            problem = (
                "overlaps the previous tensor" if begin < position else f"leaves a gap of {begin - position} bytes"
            )
            raise ValueError(f"safetensors: tensor {name!r} at data_offsets [{begin}, {end}] {problem}")
        position = end
    if position != data_size:
        raise ValueError(
            f"safetensors: the tensors cover {position} bytes but the file has {data_size} bytes of data "
            f"({'trailing bytes' if data_size > position else 'truncated'})"
        )
    return entries, metadata


def _verify(metadata: dict[str, str], entries: list, data: Any) -> None:
    """Check the stored checksum, when there is one, against the header and `data`."""
    stored = metadata.get(CHECKSUM_KEY)
    if stored is None:
        return
    if not (isinstance(stored, str) and len(stored) == 14 and stored.startswith("crc32:")):
        raise ValueError(f"safetensors: the checksum entry {CHECKSUM_KEY!r} is malformed: {stored!r}")
    described = [
        (name, _CODES[(dtype.kind, dtype.itemsize)], list(shape), begin, end)
        for name, dtype, shape, begin, end in entries
    ]
    actual = _checksum(_describe(metadata, described), [data])
    if actual != stored.lower():
        raise ValueError(
            f"safetensors: checksum mismatch (stored {stored}, computed {actual}): the file is corrupt "
            "(damaged, truncated or edited after it was written)"
        )


def _arrays(
    buffer: Any, base: int, entries: list[tuple[str, np.dtype, tuple[int, ...], int, int]]
) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name, dtype, shape, begin, end in entries:
        count = (end - begin) // dtype.itemsize
        if count == 0:
            arr = np.zeros(shape, dtype=dtype.newbyteorder("="))
        else:
            arr = np.frombuffer(buffer, dtype=dtype, count=count, offset=base + begin).reshape(shape)
            if dtype.kind == "b" and np.frombuffer(buffer, dtype=np.uint8, count=count, offset=base + begin).max() > 1:
                raise ValueError(f"safetensors: tensor {name!r} of dtype BOOL holds bytes other than 0 and 1")
            arr = np.require(arr.astype(dtype.newbyteorder("="), copy=False), requirements=["A"])
        out[name] = arr
    return out


def load_bytes(data: bytes | bytearray | memoryview) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Parse safetensors bytes.

    Args:
        data: the whole file contents.

    Returns:
        ``(tensors, metadata)``: name -> array (native byte order, read-only views of
        `data` when it is immutable, writable for a ``bytearray``) and the header's
        metadata (``{}`` when absent).

    Raises:
        ValueError: any inconsistency in the data (see the module description).
    """
    view = memoryview(data).cast("B")
    total = view.nbytes
    n = _parse_header_length(bytes(view[:8]), total)
    entries, metadata = _parse_header(bytes(view[8 : 8 + n]), total - 8 - n)
    _verify(metadata, entries, view[8 + n :])
    return _arrays(data, 8 + n, entries), metadata


def load_file(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read a safetensors file.

    The header is read and checked first; the tensor data (exactly the size the file has,
    never a size claimed inside it) is read only if the header is valid.

    Args:
        path: the file.

    Returns:
        ``(tensors, metadata)``: name -> writable array in native byte order, and the
        header's metadata (``{}`` when absent).

    Raises:
        ValueError: a corrupt or inconsistent file (see the module description).
        OSError: the file cannot be read.

    Example:
        >>> import numpy as np, os, tempfile
        >>> p = os.path.join(tempfile.mkdtemp(), "w.safetensors")
        >>> save_file({"b": np.arange(3)}, p)
        >>> load_file(p)[0]["b"].tolist()
        [0, 1, 2]
    """
    with open(os.fspath(path), "rb") as f:
        total = os.fstat(f.fileno()).st_size
        prefix = f.read(8)
        n = _parse_header_length(prefix, max(total, len(prefix)))
        raw = f.read(n)
        if len(raw) != n:
            raise ValueError(f"safetensors: the file ended inside the header ({len(raw)} of {n} bytes)")
        data_size = total - 8 - n
        entries, metadata = _parse_header(raw, data_size)
        buffer = bytearray(data_size)
        got = f.readinto(buffer) if data_size else 0
        if got != data_size or f.read(1):
            raise ValueError("safetensors: the file changed size while it was read")
    _verify(metadata, entries, buffer)
    return _arrays(buffer, 0, entries), metadata
