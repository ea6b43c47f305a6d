"""Asset metadata documents (``asset_metadata.v2``; a v1 document is a valid v2 one), both ways.

Metadata is read once at start-up from a file, so a bad document is an error (``ValueError``
naming the asset and the field), not a dead letter. Besides what the schema states, the reader
enforces the cross-field rules JSON Schema cannot express (pitch > ball diameter, band lo < hi,
distinct sensor channels).
"""

from __future__ import annotations

import math
from typing import Any

from flows.codec.errors import Reject, fail
from flows.codec.fields import (
    check_asset_id,
    check_integer,
    check_keys,
    check_number,
    check_positive,
    check_text,
)
from flows.codec.show import show_value
from twin_models.records import (
    MAX_ID_CHARS,
    MAX_UNIT_CHARS,
    AssetMetadata,
    BearingGeometry,
    FailureThreshold,
    SensorSpec,
)

__all__ = ["metadata_from_dict", "metadata_to_dict"]

_META = (
    frozenset({"asset_id"}),
    frozenset({"kind", "bearing", "nominal_speed_hz", "nominal_load_n", "sensors", "failure_threshold",
               "resonance_band_hz"}),
)
_BEARING = (
    frozenset({"n_elements", "ball_diameter_mm", "pitch_diameter_mm"}),
    frozenset({"contact_angle_deg"}),
)
_SENSOR = (frozenset({"channel", "kind"}),
           frozenset({"unit", "range", "limits", "cadence_s", "sample_rate_hz"}))  # v2: data quality
_THRESHOLD = frozenset({"feature", "value"}), frozenset[str]()


def _opt(x: float | None) -> float | None:
    """Optional number: None and non-finite -> None."""
    return None if x is None or not math.isfinite(x) else float(x)


def metadata_to_dict(m: AssetMetadata) -> dict[str, Any]:
    """AssetMetadata -> JSON-ready dict (``asset_metadata.v2``); absent parts are null."""
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
        "nominal_load_n": _opt(m.nominal_load_n),
        "sensors": [_sensor_dict(s) for s in m.sensors],
        "failure_threshold": None if ft is None else {"feature": ft.feature, "value": float(ft.value)},
        "resonance_band_hz": None if band is None else [float(band[0]), float(band[1])],
    }


def _sensor_dict(s: SensorSpec) -> dict[str, Any]:
    """One sensor; the data-quality fields (v2) only when declared (a v1 sensor stays v1)."""
    out: dict[str, Any] = {"channel": s.channel, "kind": s.kind, "unit": s.unit}
    for name in ("range", "limits"):
        pair = getattr(s, name)
        if pair is not None:
            out[name] = [float(pair[0]), float(pair[1])]
    for name in ("cadence_s", "sample_rate_hz"):
        if getattr(s, name) is not None:
            out[name] = float(getattr(s, name))
    return out


def _pair(name: str, v: Any) -> tuple[float, float] | None:
    """An optional [lo, hi] with lo < hi (a sensor's range or limits)."""
    if v is None:
        return None
    if type(v) is not list or len(v) != 2:
        fail("schema_violation", f"{name} must be [lo, hi], got {show_value(v)}")
    lo, hi = check_number(f"{name}[0]", v[0]), check_number(f"{name}[1]", v[1])
    if not lo < hi:
        fail("schema_violation", f"{name} must have lo < hi, got [{lo}, {hi}]")
    return lo, hi


def _bearing(d: Any) -> BearingGeometry:
    """The ``bearing`` object -> BearingGeometry (also checks pitch > ball)."""
    check_keys(d, *_BEARING, "bearing")
    ball = check_positive("bearing.ball_diameter_mm", d["ball_diameter_mm"])
    pitch = check_positive("bearing.pitch_diameter_mm", d["pitch_diameter_mm"])
    if pitch <= ball:
        msg = f"bearing.pitch_diameter_mm ({pitch}) must exceed ball_diameter_mm ({ball})"
        fail("schema_violation", msg)
    angle = check_number("bearing.contact_angle_deg", d.get("contact_angle_deg", 0.0))
    if not 0 <= angle < 90:
        msg = f"bearing.contact_angle_deg must be in [0, 90), got {angle!r}"
        fail("schema_violation", msg)
    n = check_integer("bearing.n_elements", d["n_elements"], 1)
    return BearingGeometry(n, ball, pitch, angle)


def _sensors(items: Any) -> tuple[SensorSpec, ...]:
    """The ``sensors`` array -> SensorSpecs with distinct channels."""
    if type(items) is not list:
        fail("schema_violation", f"sensors must be an array, got {show_value(items)}")
    out: list[SensorSpec] = []
    seen: set[str] = set()  # round 49: a scan of ``out`` per sensor took 100 s for 100,000 sensors
    for i, d in enumerate(items):
        check_keys(d, *_SENSOR, f"sensors[{i}]")
        channel = check_text(f"sensors[{i}].channel", d["channel"], 1, MAX_ID_CHARS)
        if d["kind"] not in ("waveform", "scalar"):
            msg = f"sensors[{i}].kind must be 'waveform' or 'scalar', got {show_value(d['kind'])}"
            fail("schema_violation", msg)
        if channel in seen:
            fail("schema_violation", f"sensors[{i}].channel {channel!r} is repeated")
        seen.add(channel)
        unit = check_text(f"sensors[{i}].unit", d.get("unit", ""), 0, MAX_UNIT_CHARS)
        cadence, rate = d.get("cadence_s"), d.get("sample_rate_hz")
        out.append(SensorSpec(
            channel, d["kind"], unit, _pair(f"sensors[{i}].range", d.get("range")),
            _pair(f"sensors[{i}].limits", d.get("limits")),
            None if cadence is None else check_positive(f"sensors[{i}].cadence_s", cadence),
            None if rate is None else check_positive(f"sensors[{i}].sample_rate_hz", rate)))
    return tuple(out)


def _band(v: Any) -> tuple[float, float]:
    """``resonance_band_hz`` [lo, hi] with 0 < lo < hi."""
    if type(v) is not list or len(v) != 2:
        fail("schema_violation", f"resonance_band_hz must be [lo, hi], got {show_value(v)}")
    lo = check_positive("resonance_band_hz[0]", v[0])
    hi = check_positive("resonance_band_hz[1]", v[1])
    if lo >= hi:
        fail("schema_violation", f"resonance_band_hz needs lo < hi, got [{lo}, {hi}]")
    return lo, hi


def _threshold(d: Any) -> FailureThreshold:
    """The ``failure_threshold`` object -> FailureThreshold."""
    check_keys(d, *_THRESHOLD, "failure_threshold")
    feature = check_text("failure_threshold.feature", d["feature"], 1, 256)
    return FailureThreshold(feature, check_number("failure_threshold.value", d["value"]))


def metadata_from_dict(d: dict[str, Any]) -> AssetMetadata:
    """A parsed metadata document (``asset_metadata.v2`` or v1) -> AssetMetadata.

    Raises ``ValueError`` whose message names the asset and the bad field.
    """
    try:
        check_keys(d, *_META, "document")
        asset_id = check_asset_id(d["asset_id"])
        speed, load = d.get("nominal_speed_hz"), d.get("nominal_load_n")
        return AssetMetadata(
            asset_id=asset_id,
            kind=check_text("kind", d.get("kind", "rotating_machine"), 1, MAX_ID_CHARS),
            bearing=None if d.get("bearing") is None else _bearing(d["bearing"]),
            nominal_speed_hz=None if speed is None else check_positive("nominal_speed_hz", speed),
            sensors=_sensors(d.get("sensors", [])),
            failure_threshold=None
            if d.get("failure_threshold") is None
            else _threshold(d["failure_threshold"]),
            resonance_band_hz=None if d.get("resonance_band_hz") is None else _band(d["resonance_band_hz"]),
            nominal_load_n=None if load is None else check_positive("nominal_load_n", load),
        )
    except Reject as rej:
        who = d.get("asset_id") if isinstance(d, dict) else None
        msg = f"asset metadata {who!r}: {rej}" if type(who) is str else f"asset metadata: {rej}"
        raise ValueError(msg) from None
