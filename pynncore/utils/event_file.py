"""TensorBoard event files with scalar summaries, written without TensorFlow or TensorBoard.

An event file is a sequence of records::

    uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)

(little-endian), where ``data`` is a serialized ``tensorflow.Event`` protocol buffer. Only the
fields scalars need are written: ``wall_time`` (1, double), ``step`` (2, int64),
``file_version`` (3, string) in the first event, and ``summary`` (5) holding ``Value``
messages with ``tag`` (1, string) and ``simple_value`` (2, float). TensorBoard reads these
files as it reads TensorFlow's.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from typing import Iterator, Optional

__all__ = ["EventFileWriter", "crc32c", "read_scalars"]


def _crc32c_table() -> list:
    poly = 0x82F63B78  # Castagnoli, reflected
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``."""
    crc = 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # int64 values as two's complement, as protobuf does
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field_bytes(number: int, payload: bytes) -> bytes:
    return _varint((number << 3) | 2) + _varint(len(payload)) + payload


def _event(wall_time: float, step: int, file_version: Optional[str] = None, scalars: Optional[dict] = None) -> bytes:
    out = bytearray(_varint((1 << 3) | 1) + struct.pack("<d", wall_time))
    out += _varint((2 << 3) | 0) + _varint(int(step))
    if file_version is not None:
        out += _field_bytes(3, file_version.encode())
    if scalars:
        summary = bytearray()
        for tag, value in scalars.items():
            v = _field_bytes(1, str(tag).encode()) + _varint((2 << 3) | 5) + struct.pack("<f", float(value))
            summary += _field_bytes(1, v)
        out += _field_bytes(5, bytes(summary))
    return bytes(out)


def _record(data: bytes) -> bytes:
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", _masked_crc(header)) + data + struct.pack("<I", _masked_crc(data))


class EventFileWriter:
    """Appends scalar summaries to a new event file in ``log_dir`` (created when needed).

    Every write opens the file, appends one event and closes it, so TensorBoard sees progress
    while training runs, nothing is lost if the process stops, and no handle stays open.
    """

    def __init__(self, log_dir: str):
        os.makedirs(log_dir, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}.pynncore"
        self.path = os.path.join(log_dir, name)
        self._append(_event(time.time(), 0, file_version="brain.Event:2"))

    def _append(self, event: bytes) -> None:
        with open(self.path, "ab") as f:
            f.write(_record(event))

    def add_scalars(self, scalars: dict, step: int) -> None:
        """Writes ``{tag: value}`` at ``step``."""
        self._append(_event(time.time(), step, scalars=scalars))

    def close(self) -> None:
        """Nothing stays open between writes; kept for the writer protocol."""


# -- reading (for checks and tools) -----------------------------------------------------------------


def _read_varint(buf: bytes, i: int) -> tuple:
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple]:
    i = 0
    while i < len(buf):
        key, i = _read_varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _read_varint(buf, i)
        elif wire == 1:
            value, i = buf[i : i + 8], i + 8
        elif wire == 5:
            value, i = buf[i : i + 4], i + 4
        elif wire == 2:
            n, i = _read_varint(buf, i)
            value, i = buf[i : i + n], i + n
        else:
            raise ValueError(f"event file: unsupported protobuf wire type {wire}")
        yield number, wire, value


def read_scalars(path: str) -> list:
    """``(step, tag, value)`` for every scalar in an event file; every record's checksums are
    verified (ValueError when one does not match)."""
    out = []
    with open(path, "rb") as f:
        data = f.read()
    i = 0
    while i < len(data):
        if len(data) - i < 12:
            raise ValueError(f"{path}: truncated record header at byte {i}")
        header = data[i : i + 8]
        (n,) = struct.unpack("<Q", header)
        (hcrc,) = struct.unpack("<I", data[i + 8 : i + 12])
        if hcrc != _masked_crc(header):
            raise ValueError(f"{path}: bad length checksum at byte {i}")
        body = data[i + 12 : i + 12 + n]
        if len(body) != n or len(data) < i + 16 + n:
            raise ValueError(f"{path}: truncated record at byte {i}")
        (dcrc,) = struct.unpack("<I", data[i + 12 + n : i + 16 + n])
        if dcrc != _masked_crc(body):
            raise ValueError(f"{path}: bad data checksum at byte {i}")
        i += 16 + n
        step = 0
        for number, _, value in _fields(body):
            if number == 2:
                step = value
            elif number == 5:
                for vnum, _, v in _fields(value):
                    if vnum != 1:
                        continue
                    tag, scalar = None, None
                    for fnum, _, fv in _fields(v):
                        if fnum == 1:
                            tag = fv.decode()
                        elif fnum == 2:
                            (scalar,) = struct.unpack("<f", fv)
                    if tag is not None and scalar is not None:
                        out.append((step, tag, scalar))
    return out
