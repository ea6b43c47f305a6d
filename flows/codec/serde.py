"""Bytes <-> records: the wire and archive codec for the contracts in ``schemas/``.

Telemetry arrives as JSON (scalars, events, the JSON form of a waveform) or as a binary
waveform frame (``schemas/waveform_frame.v1.binary.md``). :func:`decode_telemetry` never raises
on bad input: it returns the record or a :class:`DecodeError` whose ``reason`` is a short machine
code (see :data:`REASONS`) and whose ``detail`` names the field and the value.

JSON records are checked by hand (required fields, types, ranges), mirroring the schema files;
``tests/contract/test_schemas.py`` proves the two agree. Encoders raise ``ValueError`` for a
record the decoder would refuse, so the engine never writes what it would not read back.

>>> from datetime import UTC, datetime
>>> s = ScalarSample("pump-1", "temperature", datetime(2024, 5, 1, tzinfo=UTC), 41.5, "degC")
>>> decode_telemetry(encode_scalar(s), now=datetime(2024, 5, 1, tzinfo=UTC)) == s
True
"""

from __future__ import annotations

import base64
import json
import math
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import numpy as np
import numpy.typing as npt

from flows.codec.show import show_value
from twin_models.records import (
    EPOCH,
    EVENT_KINDS,
    MAX_ID_CHARS,
    MAX_NOTE_CHARS,
    MAX_UNIT_CHARS,
    Alert,
    AssetEvent,
    AssetMetadata,
    BearingGeometry,
    FailureThreshold,
    FeatureVector,
    ScalarSample,
    SensorSpec,
    Telemetry,
    TwinSnapshot,
    WaveformFrame,
    ensure_utc,
)

__all__ = [
    "MAGIC",
    "REASONS",
    "VERSION",
    "DecodeError",
    "Decoded",
    "Telemetry",
    "dead_letter",
    "decode_telemetry",
    "encode_event",
    "encode_json",
    "encode_scalar",
    "encode_waveform",
    "format_timestamp",
    "metadata_from_dict",
    "metadata_to_dict",
    "parse_timestamp",
    "to_json_dict",
]

MAGIC = b"TWF"
VERSION = 1
_HEADER = struct.Struct("<3sBqddI")  # magic, version, ts ns, rate, shaft (NaN=absent), n
_STRLEN = struct.Struct("<H")
_I64 = (-(2**63), 2**63 - 1)

MIN_RATE_HZ, MAX_RATE_HZ = 1.0, 1e6
_US = timedelta(microseconds=1)
_TS_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]{1,9}))?(?:Z|\+00:00)"
)

REASONS: tuple[str, ...] = (
    "invalid_json",  # not UTF-8 JSON, or not an object
    "schema_violation",  # missing/unexpected field, wrong type, string length, bad UTF-8
    "non_finite",  # NaN/inf (or a float32 overflow) where a finite number is required
    "empty_frame",  # a waveform with no samples
    "truncated",  # payload shorter or longer than its binary header says
    "unknown_version",  # neither TWF v1 binary nor a JSON object
    "bad_sample_rate",  # sample rate outside [1, 1e6] Hz
    "future_timestamp",  # later than now + max_future_s
    "bad_timestamp",  # not an RFC 3339 UTC string
    "unknown_kind",  # unknown "type" or event "kind"
    "internal_error",  # a decoder bug; the payload still goes to the dead letters
)


@dataclass(frozen=True, slots=True)
class DecodeError:
    """Why a payload could not be decoded: a machine ``reason``, human ``detail``, the bytes."""

    reason: str
    detail: str
    raw: bytes


Decoded = ScalarSample | WaveformFrame | AssetEvent | DecodeError
Record = Telemetry | FeatureVector | TwinSnapshot | Alert | AssetMetadata


class _Reject(ValueError):
    """A check failed; ``reason`` is the :data:`REASONS` code, the message is the detail."""

    def __init__(self, reason: str, detail: str) -> None:
        """Keep the reason code beside the detail message."""
        super().__init__(detail)
        self.reason = reason


def _fail(reason: str, detail: str) -> NoReturn:
    """Reject the payload being checked with a :data:`REASONS` code and a detail."""
    raise _Reject(reason, detail)


# --------------------------------------------------------------------------- field checks


def _text(name: str, value: Any, lo: int, hi: int) -> str:
    """A string of ``lo``..``hi`` characters that can be written as UTF-8."""
    if type(value) is not str:
        _fail("schema_violation", f"{name} must be a string, got {show_value(value)}")
    if not lo <= len(value) <= hi:
        msg = f"{name} must have {lo}..{hi} characters, got {len(value)}: {show_value(value)}"
        _fail("schema_violation", msg)
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            msg = f"{name} is not valid Unicode (lone surrogate): {show_value(value)}"
            _fail("schema_violation", msg)
    return value


def _asset_id(value: Any) -> str:
    """asset_id: a string of 1..128 characters."""
    return _text("asset_id", value, 1, MAX_ID_CHARS)


def _number(name: str, value: Any) -> float:
    """A finite JSON number (int or float, never bool) as float."""
    if type(value) is not float and type(value) is not int:
        _fail("schema_violation", f"{name} must be a number, got {show_value(value)}")
    try:
        out = float(value)
    except OverflowError:
        out = math.inf
    if not math.isfinite(out):
        _fail("non_finite", f"{name} must be finite, got {show_value(value)}")
    return out


def _positive(name: str, value: Any) -> float:
    """A finite number > 0."""
    out = _number(name, value)
    if out <= 0:
        _fail("schema_violation", f"{name} must be > 0, got {show_value(value)}")
    return out


def _integer(name: str, value: Any, lo: int) -> int:
    """An integer >= lo; like JSON Schema, a float with no fraction (``9.0``) counts."""
    if type(value) is float and value.is_integer():
        value = int(value)
    if type(value) is not int or value < lo:
        _fail("schema_violation", f"{name} must be an integer >= {lo}, got {show_value(value)}")
    return value


def _sample_rate(value: Any) -> float:
    """A sample rate in [1, 1e6] Hz (NaN included in ``bad_sample_rate``)."""
    if type(value) is not float and type(value) is not int:
        msg = f"sample_rate_hz must be a number, got {show_value(value)}"
        _fail("schema_violation", msg)
    if not MIN_RATE_HZ <= value <= MAX_RATE_HZ:
        msg = f"sample_rate_hz must be in [{MIN_RATE_HZ:g}, {MAX_RATE_HZ:g}] Hz, got {value!r}"
        _fail("bad_sample_rate", msg)
    return float(value)


def _shaft_speed(value: Any) -> float | None:
    """``None`` (JSON null; NaN in the binary header) means absent; else a finite speed >= 0."""
    if value is None:
        return None
    out = _number("shaft_speed_hz", value)
    if out < 0:
        _fail("schema_violation", f"shaft_speed_hz must be >= 0, got {out!r}")
    return out


def parse_timestamp(value: Any, name: str = "timestamp") -> datetime:
    """An RFC 3339 UTC string (``Z`` or ``+00:00``, up to ns digits, floored to us) -> datetime.

    Raises ``ValueError`` (reason ``bad_timestamp``) for anything else, naive times included.
    """
    m = _TS_RE.fullmatch(value) if type(value) is str else None
    if m is None:
        msg = f"{name} must be an RFC 3339 UTC string (...T12:00:00.5Z), got {show_value(value)}"
        _fail("bad_timestamp", msg)
    y, mo, d, h, mi, s, frac = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    try:
        return datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micro, tzinfo=UTC)
    except ValueError as exc:
        _fail("bad_timestamp", f"{name} {value!r} is not a valid time: {exc}")


def format_timestamp(ts: datetime) -> str:
    """Aware datetime -> ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (fixed width, sorts as text)."""
    return ensure_utc(ts).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _not_future(ts: datetime, limit: datetime) -> datetime:
    """``ts`` unless it is later than ``limit`` (now + max_future_s)."""
    if ts > limit:
        limit_s = format_timestamp(limit)
        msg = f"timestamp {format_timestamp(ts)} is later than now + max_future_s ({limit_s})"
        _fail("future_timestamp", msg)
    return ts


def _keys(obj: Any, required: frozenset[str], optional: frozenset[str], what: str) -> None:
    """Every required key present and no key outside required | optional."""
    if not isinstance(obj, dict):
        _fail("schema_violation", f"{what} must be an object, got {show_value(obj)}")
    keys = obj.keys()
    if missing := required - keys:
        _fail("schema_violation", f"{what} is missing field {min(missing)!r}")
    if extra := keys - required - optional:
        _fail("schema_violation", f"{what} has unexpected field {show_value(min(extra))}")


# --------------------------------------------------------------------------- JSON telemetry

_SCALAR = frozenset({"type", "asset_id", "channel", "timestamp", "value"}), frozenset({"unit"})
_EVENT = frozenset({"type", "asset_id", "timestamp", "kind"}), frozenset({"note"})
_WAVE = (
    frozenset({"type", "asset_id", "channel", "timestamp", "sample_rate_hz", "samples"}),
    frozenset({"shaft_speed_hz", "unit"}),
)


def _scalar_from(obj: dict[str, Any], limit: datetime) -> ScalarSample:
    """A ``scalar_sample.v1`` object -> ScalarSample."""
    _keys(obj, *_SCALAR, "scalar sample")
    return ScalarSample(
        asset_id=_asset_id(obj["asset_id"]),
        channel=_text("channel", obj["channel"], 1, MAX_ID_CHARS),
        timestamp=_not_future(parse_timestamp(obj["timestamp"]), limit),
        value=_number("value", obj["value"]),
        unit=_text("unit", obj.get("unit", ""), 0, MAX_UNIT_CHARS),
    )


def _event_from(obj: dict[str, Any], limit: datetime) -> AssetEvent:
    """An ``asset_event.v1`` object -> AssetEvent."""
    _keys(obj, *_EVENT, "asset event")
    kind = obj["kind"]
    if type(kind) is not str:
        _fail("schema_violation", f"kind must be a string, got {show_value(kind)}")
    if kind not in EVENT_KINDS:
        _fail("unknown_kind", f"event kind must be one of {EVENT_KINDS}, got {show_value(kind)}")
    return AssetEvent(
        asset_id=_asset_id(obj["asset_id"]),
        timestamp=_not_future(parse_timestamp(obj["timestamp"]), limit),
        kind=kind,  # type: ignore[arg-type]  # checked against EVENT_KINDS above
        note=_text("note", obj.get("note", ""), 0, MAX_NOTE_CHARS),
    )


def _json_samples(value: Any) -> npt.NDArray[np.float32]:
    """A non-empty list of JSON numbers -> read-only float32 array (finite after the cast)."""
    if type(value) is not list:
        _fail("schema_violation", f"samples must be an array, got {show_value(value)}")
    if not value:
        _fail("empty_frame", "samples is empty: a waveform frame needs >= 1 sample")
    if not {type(x) for x in value} <= {float, int}:
        bad = next(x for x in value if type(x) is not float and type(x) is not int)
        _fail("schema_violation", f"samples must all be numbers, found {show_value(bad)}")
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            arr = np.array(value, dtype=np.float64).astype(np.float32)
    except OverflowError:  # an integer beyond float64
        _fail("non_finite", "samples holds an integer too large for float32")
    return _finite_samples(arr)


def _wave_from(obj: dict[str, Any], limit: datetime) -> WaveformFrame:
    """A ``waveform_frame.v1`` JSON object -> WaveformFrame."""
    _keys(obj, *_WAVE, "waveform frame")
    asset_id = _asset_id(obj["asset_id"])
    channel = _text("channel", obj["channel"], 1, MAX_ID_CHARS)
    unit = _text("unit", obj.get("unit", "g"), 0, MAX_UNIT_CHARS)
    timestamp = _not_future(parse_timestamp(obj["timestamp"]), limit)
    rate = _sample_rate(obj["sample_rate_hz"])
    shaft = _shaft_speed(obj.get("shaft_speed_hz"))
    samples = _json_samples(obj["samples"])
    return WaveformFrame(asset_id, channel, timestamp, rate, samples, shaft, unit)


_JSON_TYPES: dict[str, Callable[[dict[str, Any], datetime], Telemetry]] = {
    "scalar": _scalar_from,
    "waveform": _wave_from,
    "event": _event_from,
}


def _decode_json(raw: bytes, limit: datetime) -> Telemetry:
    """JSON telemetry -> record, dispatched on its ``"type"``."""
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        _fail("invalid_json", f"not valid UTF-8 JSON: {exc}")
    if not isinstance(obj, dict):
        _fail("invalid_json", f"JSON payload must be an object, got {show_value(obj)}")
    if "type" not in obj:
        _fail("schema_violation", "JSON record is missing field 'type'")
    kind = obj["type"]
    build = _JSON_TYPES.get(kind) if type(kind) is str else None
    if build is None:
        msg = f"type must be one of {tuple(_JSON_TYPES)}, got {show_value(kind)}"
        _fail("unknown_kind", msg)
    return build(obj, limit)


# --------------------------------------------------------------------------- binary waveform


def _split_binary(raw: bytes) -> tuple[tuple[Any, ...], list[bytes], int]:
    """Structure only: header fields, the three raw strings, the samples' offset."""
    if len(raw) < 4:
        _fail("truncated", f"{len(raw)}-byte payload ends inside the TWF magic/version")
    if raw[3] != VERSION:
        msg = f"TWF version byte {raw[3]} is unknown (this reader knows {VERSION})"
        _fail("unknown_version", msg)
    if len(raw) < _HEADER.size:
        _fail("truncated", f"{len(raw)}-byte payload ends inside the {_HEADER.size}-byte header")
    header = _HEADER.unpack_from(raw)
    pos, strings = _HEADER.size, []
    for name in ("asset_id", "channel", "unit"):
        if pos + _STRLEN.size > len(raw):
            _fail("truncated", f"payload ends before the length of {name}")
        (n,) = _STRLEN.unpack_from(raw, pos)
        pos += _STRLEN.size
        if pos + n > len(raw):
            _fail("truncated", f"payload ends inside {name} ({n} bytes declared)")
        strings.append(raw[pos : pos + n])
        pos += n
    end = pos + 4 * header[5]
    if len(raw) != end:
        word = "short" if len(raw) < end else "long (trailing bytes)"
        msg = f"{header[5]} samples need {end} bytes, payload has {len(raw)}: too {word}"
        _fail("truncated", msg)
    return header, strings, pos


def _utf8(name: str, data: bytes, hi: int, lo: int = 0) -> str:
    """Raw string bytes of a binary frame -> checked text."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        _fail("schema_violation", f"{name} is not valid UTF-8: {show_value(data)}")
    return _text(name, text, lo, hi)


def _check_finite(arr: npt.NDArray[np.float32]) -> None:
    """Reject NaN/inf samples, naming the first one."""
    finite = np.isfinite(arr)
    if not finite.all():
        i = int(np.argmin(finite))
        msg = f"samples[{i}] is {float(arr[i])!r}; samples must be finite"
        _fail("non_finite", msg)


def _finite_samples(arr: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Reject NaN/inf; return the (decoder-owned) array read-only."""
    _check_finite(arr)
    arr.flags.writeable = False
    return arr


def _binary_samples(raw: bytes, offset: int, n: int) -> npt.NDArray[np.float32]:
    """Zero-copy read-only view of the samples; an owned copy if unaligned or big-endian host."""
    arr = np.frombuffer(raw, dtype="<f4", count=n, offset=offset)
    if arr.dtype != np.float32 or not arr.flags.aligned:
        arr = arr.astype(np.float32)
    return _finite_samples(arr)


def _decode_binary(raw: bytes, limit: datetime) -> WaveformFrame:
    """TWF v1 bytes -> WaveformFrame: structure first, then content."""
    (_, _, ts_ns, rate, shaft, n), strings, offset = _split_binary(raw)
    asset_id = _utf8("asset_id", strings[0], MAX_ID_CHARS, lo=1)
    channel = _utf8("channel", strings[1], MAX_ID_CHARS, lo=1)
    unit = _utf8("unit", strings[2], MAX_UNIT_CHARS)
    if n == 0:
        _fail("empty_frame", f"frame of {asset_id!r}/{channel!r} has 0 samples")
    rate = _sample_rate(rate)
    shaft_hz = None if math.isnan(shaft) else _shaft_speed(shaft)
    timestamp = _not_future(EPOCH + timedelta(microseconds=ts_ns // 1000), limit)
    samples = _binary_samples(raw, offset, n)
    return WaveformFrame(asset_id, channel, timestamp, rate, samples, shaft_hz, unit)


def _future_limit(now: datetime, max_future_s: float) -> datetime:
    """``now + max_future_s``, saturated at the largest datetime (a huge setting means no limit)."""
    try:
        return now + timedelta(seconds=max_future_s)
    except (OverflowError, ValueError):  # past year 9999, or beyond timedelta, or NaN
        return datetime.max.replace(tzinfo=UTC)


def decode_telemetry(raw: bytes, *, now: datetime, max_future_s: float = 86400.0) -> Decoded:
    """Bytes -> ScalarSample | WaveformFrame | AssetEvent, or a DecodeError; never raises.

    ``TWF`` magic -> binary waveform v1; a JSON object -> told apart by its ``"type"`` field.
    Records stamped later than ``now + max_future_s`` are refused (``future_timestamp``).
    """
    limit = _future_limit(ensure_utc(now, what="now"), max_future_s)
    try:
        data = b"" if raw is None else raw if type(raw) is bytes else memoryview(raw).tobytes()
    except TypeError:
        msg = f"payload must be bytes, got {type(raw).__name__}"
        return DecodeError("unknown_version", msg, b"")
    try:
        if data.startswith(MAGIC):
            return _decode_binary(data, limit)
        if data[:1] == b"{" or data.lstrip()[:1] == b"{":
            return _decode_json(data, limit)
        if MAGIC.startswith(data):
            _fail("truncated", f"{len(data)}-byte payload ends inside the TWF magic")
        msg = f"payload starts with {show_value(data[:8])}: neither TWF v1 binary nor a JSON object"
        _fail("unknown_version", msg)
    except _Reject as rej:
        return DecodeError(rej.reason, str(rej), data)
    except Exception as exc:  # noqa: BLE001 - the contract: bad input never raises
        return DecodeError("internal_error", f"decoder bug: {type(exc).__name__}: {exc}", data)


# --------------------------------------------------------------------------- encoders


def _ns(ts: datetime) -> int:
    """Aware datetime -> int64 nanoseconds since the epoch, exactly (no float rounding)."""
    ns = (ensure_utc(ts) - EPOCH) // _US * 1000
    if not _I64[0] <= ns <= _I64[1]:
        msg = f"timestamp {ts.isoformat()} is outside the int64-nanosecond range (1677..2262)"
        raise ValueError(msg)
    return ns


def _lp(name: str, text: str, hi: int, lo: int = 0) -> bytes:
    """A checked string as uint16 length + UTF-8 bytes."""
    data = _text(name, text, lo, hi).encode("utf-8")
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
    _check_finite(samples)
    shaft = _shaft_speed(f.shaft_speed_hz)
    header = _HEADER.pack(
        MAGIC,
        VERSION,
        _ns(f.timestamp),
        _sample_rate(f.sample_rate_hz),
        math.nan if shaft is None else shaft,
        samples.size,
    )
    strings = (
        _lp("asset_id", f.asset_id, MAX_ID_CHARS, lo=1)
        + _lp("channel", f.channel, MAX_ID_CHARS, lo=1)
        + _lp("unit", f.unit, MAX_UNIT_CHARS)
    )
    return header + strings + samples.tobytes()


def _dumps(obj: dict[str, Any]) -> bytes:
    """Compact JSON bytes; NaN/inf never reach here (``allow_nan=False`` as a guard)."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode("utf-8")


def encode_scalar(s: ScalarSample) -> bytes:
    """ScalarSample -> JSON (``scalar_sample.v1``) bytes; ``ValueError`` if not decodable."""
    return _dumps(_scalar_dict(s))


def encode_event(e: AssetEvent) -> bytes:
    """AssetEvent -> JSON (``asset_event.v1``) bytes; ``ValueError`` if not decodable."""
    return _dumps(_event_dict(e))


def encode_json(record: Record) -> bytes:
    """Any record -> compact JSON bytes of :func:`to_json_dict` (valid against its schema)."""
    return _dumps(to_json_dict(record))


# --------------------------------------------------------------------------- JSON dicts


def _opt(x: float | None) -> float | None:
    """Optional number: None and non-finite (no estimate, infinite RUL) -> None."""
    return None if x is None or not math.isfinite(x) else float(x)


def _req(name: str, x: float, owner: str) -> float:
    """Required number: must be finite."""
    if not math.isfinite(x):
        msg = f"{name} of {owner} must be finite to be written, got {x!r}"
        raise ValueError(msg)
    return float(x)


def _scalar_dict(s: ScalarSample) -> dict[str, Any]:
    """ScalarSample -> ``scalar_sample.v1`` dict."""
    return {
        "type": "scalar",
        "asset_id": _asset_id(s.asset_id),
        "channel": _text("channel", s.channel, 1, MAX_ID_CHARS),
        "timestamp": format_timestamp(s.timestamp),
        "value": _number("value", s.value),
        "unit": _text("unit", s.unit, 0, MAX_UNIT_CHARS),
    }


def _event_dict(e: AssetEvent) -> dict[str, Any]:
    """AssetEvent -> ``asset_event.v1`` dict."""
    if e.kind not in EVENT_KINDS:
        msg = f"event kind must be one of {EVENT_KINDS}, got {e.kind!r}"
        raise ValueError(msg)
    return {
        "type": "event",
        "asset_id": _asset_id(e.asset_id),
        "timestamp": format_timestamp(e.timestamp),
        "kind": e.kind,
        "note": _text("note", e.note, 0, MAX_NOTE_CHARS),
    }


def _wave_dict(f: WaveformFrame) -> dict[str, Any]:
    """WaveformFrame -> ``waveform_frame.v1`` JSON-form dict (samples as a list)."""
    samples = np.asarray(f.samples, dtype=np.float32)
    _check_finite(samples)
    return {
        "type": "waveform",
        "asset_id": _asset_id(f.asset_id),
        "channel": _text("channel", f.channel, 1, MAX_ID_CHARS),
        "timestamp": format_timestamp(f.timestamp),
        "sample_rate_hz": _sample_rate(f.sample_rate_hz),
        "shaft_speed_hz": _shaft_speed(f.shaft_speed_hz),
        "unit": _text("unit", f.unit, 0, MAX_UNIT_CHARS),
        "samples": samples.tolist(),
    }


def _named(pairs: tuple[tuple[str, float], ...]) -> list[list[Any]]:
    """``(name, z)`` pairs -> ``[name, z]`` lists, non-finite z as null."""
    return [[str(name), _opt(z)] for name, z in pairs]


def _feature_dict(fv: FeatureVector) -> dict[str, Any]:
    """FeatureVector -> ``feature_vector.v1`` dict."""
    return {
        "asset_id": _asset_id(fv.asset_id),
        "window_start": format_timestamp(fv.window_start),
        "window_end": format_timestamp(fv.window_end),
        "features": {str(k): _opt(v) for k, v in fv.features.items()},
        "n_records": int(fv.n_records),
        "events": [_event_dict(e) for e in fv.events],
    }


def _snapshot_dict(s: TwinSnapshot) -> dict[str, Any]:
    """TwinSnapshot -> ``twin_snapshot.v1`` dict."""
    owner = f"twin snapshot of {s.asset_id!r}"
    return {
        "asset_id": _asset_id(s.asset_id),
        "timestamp": format_timestamp(s.timestamp),
        "window_start": format_timestamp(s.window_start),
        "condition": s.condition,
        "anomaly_score": _req("anomaly_score", s.anomaly_score, owner),
        "health_index": _req("health_index", s.health_index, owner),
        "rul_s": _opt(s.rul_s),
        "rul_lower_s": _opt(s.rul_lower_s),
        "rul_upper_s": _opt(s.rul_upper_s),
        "drift": bool(s.drift),
        "n_windows": int(s.n_windows),
        "life_id": int(s.life_id),
        "degradation": _req("degradation", s.degradation, owner),
        "rul_source": s.rul_source,
        "defect": s.defect,
        "evidence": s.evidence,
        "top_features": _named(s.top_features),
        "context": {str(k): _opt(v) for k, v in s.context.items()},
    }


def _alert_dict(a: Alert) -> dict[str, Any]:
    """Alert -> ``alert.v1`` dict."""
    owner = f"alert {a.alert_id!r}"
    return {
        "alert_id": a.alert_id,
        "asset_id": _asset_id(a.asset_id),
        "kind": a.kind,
        "severity": a.severity,
        "status": a.status,
        "started_at": format_timestamp(a.started_at),
        "timestamp": format_timestamp(a.timestamp),
        "explanation": a.explanation,
        "anomaly_score": _req("anomaly_score", a.anomaly_score, owner),
        "health_index": _req("health_index", a.health_index, owner),
        "rul_s": _opt(a.rul_s),
        "top_features": _named(a.top_features),
        "defect": a.defect,
        "sequence": int(a.sequence),
    }


def metadata_to_dict(m: AssetMetadata) -> dict[str, Any]:
    """AssetMetadata -> JSON-ready dict (``asset_metadata.v1``); absent parts are null."""
    b, ft, band = m.bearing, m.failure_threshold, m.resonance_band_hz
    return {
        "asset_id": m.asset_id,
        "kind": m.kind,
        "bearing": None
        if b is None
        else {
            "n_elements": int(b.n_elements),
            "ball_diameter_mm": float(b.ball_diameter_mm),
            "pitch_diameter_mm": float(b.pitch_diameter_mm),
            "contact_angle_deg": float(b.contact_angle_deg),
        },
        "nominal_speed_hz": _opt(m.nominal_speed_hz),
        "sensors": [{"channel": s.channel, "kind": s.kind, "unit": s.unit} for s in m.sensors],
        "failure_threshold": None if ft is None else {"feature": ft.feature, "value": float(ft.value)},
        "resonance_band_hz": None if band is None else [float(band[0]), float(band[1])],
    }


_TO_DICT: dict[type, Callable[[Any], dict[str, Any]]] = {
    ScalarSample: _scalar_dict,
    AssetEvent: _event_dict,
    WaveformFrame: _wave_dict,
    FeatureVector: _feature_dict,
    TwinSnapshot: _snapshot_dict,
    Alert: _alert_dict,
    AssetMetadata: metadata_to_dict,
}


def to_json_dict(record: Record) -> dict[str, Any]:
    """A record -> JSON-ready dict valid against its schema (datetimes as RFC 3339 ``Z``).

    Optional numbers that are not finite (an undefined feature, an infinite RUL) become null;
    a non-finite required number raises ``ValueError`` naming it.
    """
    convert = _TO_DICT.get(type(record))
    if convert is None:
        msg = f"no JSON contract for {type(record).__name__}"
        raise TypeError(msg)
    return convert(record)


# --------------------------------------------------------------------------- metadata files

_META = (
    frozenset({"asset_id"}),
    frozenset({"kind", "bearing", "nominal_speed_hz", "sensors", "failure_threshold", "resonance_band_hz"}),
)
_BEARING = (
    frozenset({"n_elements", "ball_diameter_mm", "pitch_diameter_mm"}),
    frozenset({"contact_angle_deg"}),
)
_SENSOR = frozenset({"channel", "kind"}), frozenset({"unit"})
_THRESHOLD = frozenset({"feature", "value"}), frozenset[str]()


def _bearing(d: Any) -> BearingGeometry:
    """The ``bearing`` object -> BearingGeometry (also checks pitch > ball)."""
    _keys(d, *_BEARING, "bearing")
    ball = _positive("bearing.ball_diameter_mm", d["ball_diameter_mm"])
    pitch = _positive("bearing.pitch_diameter_mm", d["pitch_diameter_mm"])
    if pitch <= ball:
        msg = f"bearing.pitch_diameter_mm ({pitch}) must exceed ball_diameter_mm ({ball})"
        _fail("schema_violation", msg)
    angle = _number("bearing.contact_angle_deg", d.get("contact_angle_deg", 0.0))
    if not 0 <= angle < 90:
        msg = f"bearing.contact_angle_deg must be in [0, 90), got {angle!r}"
        _fail("schema_violation", msg)
    n = _integer("bearing.n_elements", d["n_elements"], 1)
    return BearingGeometry(n, ball, pitch, angle)


def _sensors(items: Any) -> tuple[SensorSpec, ...]:
    """The ``sensors`` array -> SensorSpecs with distinct channels."""
    if type(items) is not list:
        _fail("schema_violation", f"sensors must be an array, got {show_value(items)}")
    out: list[SensorSpec] = []
    for i, d in enumerate(items):
        _keys(d, *_SENSOR, f"sensors[{i}]")
        channel = _text(f"sensors[{i}].channel", d["channel"], 1, MAX_ID_CHARS)
        if d["kind"] not in ("waveform", "scalar"):
            msg = f"sensors[{i}].kind must be 'waveform' or 'scalar', got {show_value(d['kind'])}"
            _fail("schema_violation", msg)
        if any(s.channel == channel for s in out):
            _fail("schema_violation", f"sensors[{i}].channel {channel!r} is repeated")
        unit = _text(f"sensors[{i}].unit", d.get("unit", ""), 0, MAX_UNIT_CHARS)
        out.append(SensorSpec(channel, d["kind"], unit))
    return tuple(out)


def _band(v: Any) -> tuple[float, float]:
    """``resonance_band_hz`` [lo, hi] with 0 < lo < hi."""
    if type(v) is not list or len(v) != 2:
        _fail("schema_violation", f"resonance_band_hz must be [lo, hi], got {show_value(v)}")
    lo = _positive("resonance_band_hz[0]", v[0])
    hi = _positive("resonance_band_hz[1]", v[1])
    if lo >= hi:
        _fail("schema_violation", f"resonance_band_hz needs lo < hi, got [{lo}, {hi}]")
    return lo, hi


def _threshold(d: Any) -> FailureThreshold:
    """The ``failure_threshold`` object -> FailureThreshold."""
    _keys(d, *_THRESHOLD, "failure_threshold")
    feature = _text("failure_threshold.feature", d["feature"], 1, 256)
    return FailureThreshold(feature, _number("failure_threshold.value", d["value"]))


def metadata_from_dict(d: dict[str, Any]) -> AssetMetadata:
    """A parsed metadata document (``asset_metadata.v1``) -> AssetMetadata.

    Raises ``ValueError`` whose message names the asset and the bad field.
    """
    try:
        _keys(d, *_META, "document")
        asset_id = _asset_id(d["asset_id"])
        speed = d.get("nominal_speed_hz")
        return AssetMetadata(
            asset_id=asset_id,
            kind=_text("kind", d.get("kind", "rotating_machine"), 1, MAX_ID_CHARS),
            bearing=None if d.get("bearing") is None else _bearing(d["bearing"]),
            nominal_speed_hz=None if speed is None else _positive("nominal_speed_hz", speed),
            sensors=_sensors(d.get("sensors", [])),
            failure_threshold=None
            if d.get("failure_threshold") is None
            else _threshold(d["failure_threshold"]),
            resonance_band_hz=None if d.get("resonance_band_hz") is None else _band(d["resonance_band_hz"]),
        )
    except _Reject as rej:
        who = d.get("asset_id") if isinstance(d, dict) else None
        msg = f"asset metadata {who!r}: {rej}" if type(who) is str else f"asset metadata: {rej}"
        raise ValueError(msg) from None


# --------------------------------------------------------------------------- dead letters


def dead_letter(err: DecodeError, *, source: str, timestamp: datetime) -> bytes:
    """A DecodeError -> JSON (``dead_letter.v1``) carrying the raw payload as base64."""
    doc = {
        "reason": err.reason,
        "detail": err.detail,
        "source": source,
        "timestamp": format_timestamp(timestamp),
        "raw_size": len(err.raw),
        "raw_base64": base64.b64encode(err.raw).decode("ascii"),
    }
    return _dumps(doc)
