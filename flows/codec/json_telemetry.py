"""JSON telemetry, both ways: ``scalar_sample.v1``, ``asset_event.v1`` and the JSON form of
``waveform_frame.v1``, told apart by their ``"type"`` field.

The reader checks by hand (required fields, types, ranges) what the schema files state;
``tests/contract/test_schemas.py`` proves that it accepts exactly what the schemas accept. The
writers (``*_dict``) run the same checks, so nothing is written that would not be read back.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from flows.codec.errors import fail
from flows.codec.fields import (
    check_asset_id,
    check_finite,
    check_keys,
    check_number,
    check_sample_rate,
    check_shaft_speed,
    check_text,
    finite_samples,
    format_timestamp,
    not_future,
    parse_timestamp,
)
from flows.codec.show import show_value
from twin_models.records import (
    EVENT_KINDS,
    MAX_ID_CHARS,
    MAX_NOTE_CHARS,
    MAX_UNIT_CHARS,
    AssetEvent,
    ScalarSample,
    Telemetry,
    WaveformFrame,
)

__all__ = ["decode_json", "decode_json_dict", "event_dict", "scalar_dict", "wave_dict"]

_SCALAR = frozenset({"type", "asset_id", "channel", "timestamp", "value"}), frozenset({"unit"})
_EVENT = frozenset({"type", "asset_id", "timestamp", "kind"}), frozenset({"note"})
_WAVE = (
    frozenset({"type", "asset_id", "channel", "timestamp", "sample_rate_hz", "samples"}),
    frozenset({"shaft_speed_hz", "unit"}),
)


def _scalar_from(obj: dict[str, Any], limit: datetime) -> ScalarSample:
    """A ``scalar_sample.v1`` object -> ScalarSample."""
    check_keys(obj, *_SCALAR, "scalar sample")
    return ScalarSample(
        asset_id=check_asset_id(obj["asset_id"]),
        channel=check_text("channel", obj["channel"], 1, MAX_ID_CHARS),
        timestamp=not_future(parse_timestamp(obj["timestamp"]), limit),
        value=check_number("value", obj["value"]),
        unit=check_text("unit", obj.get("unit", ""), 0, MAX_UNIT_CHARS),
    )


def _event_from(obj: dict[str, Any], limit: datetime) -> AssetEvent:
    """An ``asset_event.v1`` object -> AssetEvent."""
    check_keys(obj, *_EVENT, "asset event")
    kind = obj["kind"]
    if type(kind) is not str:
        fail("schema_violation", f"kind must be a string, got {show_value(kind)}")
    if kind not in EVENT_KINDS:
        fail("unknown_kind", f"event kind must be one of {EVENT_KINDS}, got {show_value(kind)}")
    return AssetEvent(
        asset_id=check_asset_id(obj["asset_id"]),
        timestamp=not_future(parse_timestamp(obj["timestamp"]), limit),
        kind=kind,  # type: ignore[arg-type]  # checked against EVENT_KINDS above
        note=check_text("note", obj.get("note", ""), 0, MAX_NOTE_CHARS),
    )


def _json_samples(value: Any) -> npt.NDArray[np.float32]:
    """A non-empty list of JSON numbers -> read-only float32 array (finite after the cast)."""
    if type(value) is not list:
        fail("schema_violation", f"samples must be an array, got {show_value(value)}")
    if not value:
        fail("empty_frame", "samples is empty: a waveform frame needs >= 1 sample")
    if not {type(x) for x in value} <= {float, int}:
        bad = next(x for x in value if type(x) is not float and type(x) is not int)
        fail("schema_violation", f"samples must all be numbers, found {show_value(bad)}")
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            arr = np.array(value, dtype=np.float64).astype(np.float32)
    except OverflowError:  # an integer beyond float64
        fail("non_finite", "samples holds an integer too large for float32")
    return finite_samples(arr)


def _wave_from(obj: dict[str, Any], limit: datetime) -> WaveformFrame:
    """A ``waveform_frame.v1`` JSON object -> WaveformFrame."""
    check_keys(obj, *_WAVE, "waveform frame")
    asset_id = check_asset_id(obj["asset_id"])
    channel = check_text("channel", obj["channel"], 1, MAX_ID_CHARS)
    unit = check_text("unit", obj.get("unit", "g"), 0, MAX_UNIT_CHARS)
    timestamp = not_future(parse_timestamp(obj["timestamp"]), limit)
    rate = check_sample_rate(obj["sample_rate_hz"])
    shaft = check_shaft_speed(obj.get("shaft_speed_hz"))
    samples = _json_samples(obj["samples"])
    return WaveformFrame(asset_id, channel, timestamp, rate, samples, shaft, unit)


_JSON_TYPES: dict[str, Callable[[dict[str, Any], datetime], Telemetry]] = {
    "scalar": _scalar_from,
    "waveform": _wave_from,
    "event": _event_from,
}


def decode_json(raw: bytes, limit: datetime) -> Telemetry:
    """JSON telemetry -> record, dispatched on its ``"type"``; fails with a reason code."""
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        fail("invalid_json", f"not valid UTF-8 JSON: {exc}")
    if not isinstance(obj, dict):
        fail("invalid_json", f"JSON payload must be an object, got {show_value(obj)}")
    if "type" not in obj:
        fail("schema_violation", "JSON record is missing field 'type'")
    kind = obj["type"]
    build = _JSON_TYPES.get(kind) if type(kind) is str else None
    if build is None:
        msg = f"type must be one of {tuple(_JSON_TYPES)}, got {show_value(kind)}"
        fail("unknown_kind", msg)
    return build(obj, limit)


def decode_json_dict(obj: dict[str, Any], limit: datetime) -> Telemetry:
    """A JSON telemetry object as ``json.loads`` gives it -> record (the checks of :func:`decode_json`).

    Replay sources pass the writer's dict of a record they hold (:func:`flows.codec.decode_record`),
    which is exactly the object ``json.loads`` would give back from its bytes: strings, finite
    floats and ints round-trip through JSON unchanged.
    """
    return _JSON_TYPES[obj["type"]](obj, limit)


def scalar_dict(s: ScalarSample) -> dict[str, Any]:
    """ScalarSample -> ``scalar_sample.v1`` dict."""
    return {
        "type": "scalar",
        "asset_id": check_asset_id(s.asset_id),
        "channel": check_text("channel", s.channel, 1, MAX_ID_CHARS),
        "timestamp": format_timestamp(s.timestamp),
        "value": check_number("value", s.value),
        "unit": check_text("unit", s.unit, 0, MAX_UNIT_CHARS),
    }


def event_dict(e: AssetEvent) -> dict[str, Any]:
    """AssetEvent -> ``asset_event.v1`` dict."""
    if e.kind not in EVENT_KINDS:
        msg = f"event kind must be one of {EVENT_KINDS}, got {e.kind!r}"
        raise ValueError(msg)
    return {
        "type": "event",
        "asset_id": check_asset_id(e.asset_id),
        "timestamp": format_timestamp(e.timestamp),
        "kind": e.kind,
        "note": check_text("note", e.note, 0, MAX_NOTE_CHARS),
    }


def wave_dict(f: WaveformFrame) -> dict[str, Any]:
    """WaveformFrame -> ``waveform_frame.v1`` JSON-form dict (samples as a list)."""
    samples = np.asarray(f.samples, dtype=np.float32)
    check_finite(samples)
    return {
        "type": "waveform",
        "asset_id": check_asset_id(f.asset_id),
        "channel": check_text("channel", f.channel, 1, MAX_ID_CHARS),
        "timestamp": format_timestamp(f.timestamp),
        "sample_rate_hz": check_sample_rate(f.sample_rate_hz),
        "shaft_speed_hz": check_shaft_speed(f.shaft_speed_hz),
        "unit": check_text("unit", f.unit, 0, MAX_UNIT_CHARS),
        "samples": samples.tolist(),
    }
