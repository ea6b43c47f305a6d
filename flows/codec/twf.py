"""TWF v1, the binary waveform frame (``schemas/waveform_frame.v1.binary.md``), both ways.

A fixed little-endian header (magic ``TWF``, version, int64 ns timestamp, rate, shaft speed with
NaN = absent, sample count), three uint16-length-prefixed UTF-8 strings (asset_id, channel,
unit), then float32 samples. The reader checks structure first (lengths), then content, and
hands back a zero-copy read-only view of the samples where alignment allows.
"""

from __future__ import annotations

import math
import struct
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from flows.codec.errors import fail
from flows.codec.fields import (
    check_finite,
    check_sample_rate,
    check_shaft_speed,
    check_text,
    finite_samples,
    not_future,
)
from flows.codec.show import show_value
from twin_models.records import EPOCH, MAX_ID_CHARS, MAX_UNIT_CHARS, WaveformFrame, ensure_utc

__all__ = ["MAGIC", "VERSION", "decode_binary", "encode_waveform"]

MAGIC = b"TWF"
VERSION = 1
_HEADER = struct.Struct("<3sBqddI")  # magic, version, ts ns, rate, shaft (NaN=absent), n
_STRLEN = struct.Struct("<H")
_I64 = (-(2**63), 2**63 - 1)
_US = timedelta(microseconds=1)


def _split_binary(raw: bytes) -> tuple[tuple[Any, ...], list[bytes], int]:
    """Structure only: header fields, the three raw strings, the samples' offset."""
    if len(raw) < 4:
        fail("truncated", f"{len(raw)}-byte payload ends inside the TWF magic/version")
    if raw[3] != VERSION:
        msg = f"TWF version byte {raw[3]} is unknown (this reader knows {VERSION})"
        fail("unknown_version", msg)
    if len(raw) < _HEADER.size:
        fail("truncated", f"{len(raw)}-byte payload ends inside the {_HEADER.size}-byte header")
    header = _HEADER.unpack_from(raw)
    pos, strings = _HEADER.size, []
    for name in ("asset_id", "channel", "unit"):
        if pos + _STRLEN.size > len(raw):
            fail("truncated", f"payload ends before the length of {name}")
        (n,) = _STRLEN.unpack_from(raw, pos)
        pos += _STRLEN.size
        if pos + n > len(raw):
            fail("truncated", f"payload ends inside {name} ({n} bytes declared)")
        strings.append(raw[pos : pos + n])
        pos += n
    end = pos + 4 * header[5]
    if len(raw) != end:
        word = "short" if len(raw) < end else "long (trailing bytes)"
        msg = f"{header[5]} samples need {end} bytes, payload has {len(raw)}: too {word}"
        fail("truncated", msg)
    return header, strings, pos


def _utf8(name: str, data: bytes, hi: int, lo: int = 0) -> str:
    """Raw string bytes of a binary frame -> checked text."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        fail("schema_violation", f"{name} is not valid UTF-8: {show_value(data)}")
    return check_text(name, text, lo, hi)


def _binary_samples(raw: bytes, offset: int, n: int) -> npt.NDArray[np.float32]:
    """Zero-copy read-only view of the samples; an owned copy if unaligned or big-endian host."""
    arr = np.frombuffer(raw, dtype="<f4", count=n, offset=offset)
    if arr.dtype != np.float32 or not arr.flags.aligned:
        arr = arr.astype(np.float32)
    return finite_samples(arr)


def decode_binary(raw: bytes, limit: datetime) -> WaveformFrame:
    """TWF v1 bytes -> WaveformFrame: structure first, then content; fails with a reason code."""
    (_, _, ts_ns, rate, shaft, n), strings, offset = _split_binary(raw)
    asset_id = _utf8("asset_id", strings[0], MAX_ID_CHARS, lo=1)
    channel = _utf8("channel", strings[1], MAX_ID_CHARS, lo=1)
    unit = _utf8("unit", strings[2], MAX_UNIT_CHARS)
    if n == 0:
        fail("empty_frame", f"frame of {asset_id!r}/{channel!r} has 0 samples")
    rate = check_sample_rate(rate)
    shaft_hz = None if math.isnan(shaft) else check_shaft_speed(shaft)
    timestamp = not_future(EPOCH + timedelta(microseconds=ts_ns // 1000), limit)
    samples = _binary_samples(raw, offset, n)
    return WaveformFrame(asset_id, channel, timestamp, rate, samples, shaft_hz, unit)


def _ns(ts: datetime) -> int:
    """Aware datetime -> int64 nanoseconds since the epoch, exactly (no float rounding)."""
    ns = (ensure_utc(ts) - EPOCH) // _US * 1000
    if not _I64[0] <= ns <= _I64[1]:
        msg = f"timestamp {ts.isoformat()} is outside the int64-nanosecond range (1677..2262)"
        raise ValueError(msg)
    return ns


def _lp(name: str, text: str, hi: int, lo: int = 0) -> bytes:
    """A checked string as uint16 length + UTF-8 bytes."""
    data = check_text(name, text, lo, hi).encode("utf-8")
    if len(data) > 0xFFFF:
        msg = f"{name} is {len(data)} bytes of UTF-8; the uint16 length prefix allows 65535"
        raise ValueError(msg)
    return _STRLEN.pack(len(data)) + data


def encode_waveform(f: WaveformFrame) -> bytes:
    """WaveformFrame -> TWF v1 binary (``schemas/waveform_frame.v1.binary.md``).

    Raises ``ValueError`` (naming the field) for a frame the decoder would refuse.
    """
    samples = np.asarray(f.samples)
    if samples.ndim != 1 or samples.size == 0:
        msg = f"frame of {f.asset_id!r} needs a non-empty 1-D samples array, got {samples.shape}"
        raise ValueError(msg)
    samples = np.ascontiguousarray(samples, dtype="<f4")
    check_finite(samples)
    shaft = check_shaft_speed(f.shaft_speed_hz)
    header = _HEADER.pack(
        MAGIC,
        VERSION,
        _ns(f.timestamp),
        check_sample_rate(f.sample_rate_hz),
        math.nan if shaft is None else shaft,
        samples.size,
    )
    strings = (
        _lp("asset_id", f.asset_id, MAX_ID_CHARS, lo=1)
        + _lp("channel", f.channel, MAX_ID_CHARS, lo=1)
        + _lp("unit", f.unit, MAX_UNIT_CHARS)
    )
    return header + strings + samples.tobytes()
