"""What the features need: the run-time admission rules applied after the wire contract.

:func:`flows.codec.decode_telemetry` accepts exactly what ``schemas/*.v1.json`` accept. Some
schema-valid records still cannot be featurised: a frame of 5 samples, a shaft turning at 1e308 Hz,
a metadata resonance band above the Nyquist frequency of a 2 kHz frame. :func:`admit` refuses
those with a reason code (:data:`REASONS`) and a detail naming the asset, field and value, so the
``decode`` step dead-letters them instead of letting the ``featurize_frames`` step raise.
:func:`check_metadata` applies the same physical ranges to asset metadata when it is loaded.

Like ``future_timestamp``, these are engine rules, not wire-contract rules: the schemas keep their
v1 meaning, and a producer learns of a refusal from the dead-letter topic.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from twin_models.diagnosis.bearings import defect_multipliers
from twin_models.features.envelope import band_bins
from twin_models.records import AssetMetadata, ScalarSample, WaveformFrame

__all__ = [
    "MAX_ABS_SCALAR",
    "MAX_DEFECT_MULTIPLIER",
    "MAX_FRAME_SAMPLES",
    "MAX_SHAFT_HZ",
    "MAX_TIMESTAMP",
    "MIN_DEFECT_MULTIPLIER",
    "MIN_FRAME_SAMPLES",
    "MIN_SHAFT_HZ",
    "MIN_TIMESTAMP",
    "REASONS",
    "admit",
    "asset_id_problem",
    "check_metadata",
    "name_problem",
]

MIN_FRAME_SAMPLES = 64
"""Shortest frame featurised. The spectra need 8 samples to run at all, but the envelope band
scan needs a candidate band of 16 DFT bins (``MIN_BAND_BINS``): its fallback band spans
0.3 x the frame's bins, so below 54 samples the scan never runs; and the kurtosis of fewer than 64
samples has a standard error above 0.6 (sqrt(24/n)), too noisy to compare with a baseline.
64 is the next power of two; real frames hold 1024..65536 samples."""

MAX_FRAME_SAMPLES = 1 << 20
"""Longest frame featurised (4 MiB of float32, 41 s at 25.6 kHz): bounds one item's cost (several
FFTs of the frame) and memory. A Kafka message with its default 1 MB limit holds ~262k samples."""

MIN_SHAFT_HZ = 1e-3
"""Slowest shaft speed used (0.06 rpm; kilns turn at ~0.02 Hz). Below it (down to denormals) the
defect-line frequencies round to 0 and the line search has no frequency to look at.
A speed of 0 (or absent) means "no tachometer reading": the asset's nominal speed is used."""

MAX_SHAFT_HZ = 10_000.0
"""Fastest shaft speed used (600,000 rpm, above turbochargers and dental drills): beyond it the
defect-line frequencies overflow for absurd values such as 1e308."""

MAX_ABS_SCALAR = 1e38
"""Largest scalar magnitude (float32's range, like the waveform samples). A window's statistics
and the twin's squared baseline deviations of values near 1e150 overflow to inf, which would
make the asset's degradation infinite for the rest of its life."""

MIN_TIMESTAMP = datetime(1677, 9, 22, tzinfo=UTC)
MAX_TIMESTAMP = datetime(2262, 4, 11, tzinfo=UTC)
"""Telemetry times are inside the int64-nanosecond range of the binary frame (1677..2262):
a window ending past year 9999 makes Bytewax's window operator panic, out of any step's reach."""

MIN_DEFECT_MULTIPLIER, MAX_DEFECT_MULTIPLIER = 1e-3, 1e3
"""Bearing defect frequencies as multiples of the shaft speed must lie in this range (real
bearings: cage ~0.4x, ball pass 3-12x). A ball diameter equal to the pitch within rounding gives
0 (no line), a needle of 1e-9 mm gives 1e9 (overflow at speed)."""

MAX_BEARING_ELEMENTS = 1000
"""Most rolling elements in one bearing row; an integer of 400 digits would not fit a float."""

REASONS: tuple[str, ...] = (
    "bad_asset_id",  # an asset id with a non-printable character or a path separator, or "." / ".."
    "bad_channel",  # a channel name breaking the same rule (name_problem)
    "frame_too_short",  # fewer than MIN_FRAME_SAMPLES samples
    "frame_too_long",  # more than MAX_FRAME_SAMPLES samples
    "bad_shaft_speed",  # shaft speed outside [MIN_SHAFT_HZ, MAX_SHAFT_HZ] (0 = absent is fine)
    "band_outside_frame",  # the asset's resonance band holds < 2 DFT bins below this frame's Nyquist
    "value_out_of_range",  # |scalar value| > MAX_ABS_SCALAR
    "timestamp_out_of_range",  # outside MIN_TIMESTAMP..MAX_TIMESTAMP
    "key_asset_mismatch",  # a Kafka key that is not the payload's asset id (key_problem)
)

Problem = tuple[str, str]
"""``(reason, detail)`` of a refused record."""


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name an asset or a channel, or None.

    An asset id is a Kafka key, a Prometheus label, a value in alert texts, log lines and terminal
    output, and (in archives written before issue 10) a folder name. A channel name is a Parquet
    column name (``<channel>.<feature>``), a Prometheus label, a DuckDB identifier and text in
    alerts. The wire contract allows any 1..128 characters; the engine refuses those that are
    unsafe in these places: a character that is not printable (control characters such as a
    newline, which forges log lines, or an escape, which drives the terminal; bidirectional
    overrides, which make a name read as another; any other format or separator character), a
    path separator (``/`` or ``\\``), and the folder names ``.`` and ``..``."""
    if not name.isprintable():
        bad = next(c for c in name if not c.isprintable())
        return f"holds the non-printable character U+{ord(bad):04X}"
    if "/" in name or "\\" in name:
        return "holds a path separator ('/' or '\\')"
    if name in (".", ".."):
        return "is a relative folder name"
    return None


asset_id_problem = name_problem
"""The rule for asset ids (the name round 13 gave it): :func:`name_problem`."""


def key_matches(key: bytes | None, asset_id: str) -> bool:
    """The key rule of :func:`key_problem` alone (the fast decode paths test it without building a
    detail): a null or empty key claims no asset; any other must be the asset id's UTF-8 bytes."""
    return not key or key == asset_id.encode()


def key_problem(key: bytes | None, asset_id: str) -> Problem | None:
    """``key_asset_mismatch`` when a Kafka message's key is not its payload's asset id (UTF-8), else None.

    Telemetry topics are keyed by asset id, so that an asset's records share one partition: the
    merge orders them by event time there and one source partition holds the asset's whole stream. A
    record keyed ``pump-1`` whose payload says ``pump-2`` sits in pump-1's partition: processed under
    pump-2, pump-2's records would come from two partitions (two merges, two event-time orders). It
    names a producer bug (or a forged record); the careful answer is a dead letter. A null key is
    allowed (no partition affinity was claimed; such a record is processed under its payload's id), and
    so is an empty one (``kcat -K:`` with nothing before the ':'): librdkafka partitions it like a null
    key, it names no asset. With ``kafka.partitioning = "any"`` (gateways keying by their own id) the Kafka
    source passes no key on, so nothing is checked here."""
    if not key or key_matches(key, asset_id):  # (not key: for the type checker; key_matches says it too)
        return None
    shown = key[:64].decode("utf-8", "backslashreplace")
    more = f" (first 64 of {len(key)} bytes)" if len(key) > 64 else ""
    detail = (f"Kafka key {shown!r}{more} is not the payload's asset_id {asset_id!r} (telemetry is keyed by "
              "asset id: the record sits in another asset's partition)")
    return "key_asset_mismatch", detail


def _timestamp(record: object, asset_id: str) -> Problem | None:
    ts: datetime = record.timestamp  # type: ignore[attr-defined]
    if MIN_TIMESTAMP <= ts <= MAX_TIMESTAMP:
        return None
    detail = (f"timestamp {ts.isoformat()} of asset {asset_id!r} is outside "
              f"{MIN_TIMESTAMP.year}..{MAX_TIMESTAMP.year} (the int64-nanosecond range)")
    return "timestamp_out_of_range", detail


def _frame(f: WaveformFrame, meta: AssetMetadata | None) -> Problem | None:
    n = f.samples.size
    who = f"frame of asset {f.asset_id!r} channel {f.channel!r}"
    if n < MIN_FRAME_SAMPLES:
        return "frame_too_short", f"{who} has {n} samples; features need >= {MIN_FRAME_SAMPLES}"
    if n > MAX_FRAME_SAMPLES:
        return "frame_too_long", f"{who} has {n} samples; at most {MAX_FRAME_SAMPLES} are featurised"
    shaft = f.shaft_speed_hz
    if shaft and not MIN_SHAFT_HZ <= shaft <= MAX_SHAFT_HZ:
        detail = f"{who}: shaft_speed_hz {shaft!r} is outside [{MIN_SHAFT_HZ:g}, {MAX_SHAFT_HZ:g}] Hz"
        return "bad_shaft_speed", detail
    band = meta.resonance_band_hz if meta is not None else None
    if band is not None:
        fs = f.sample_rate_hz
        try:
            band_bins(n, fs, (band[0], min(band[1], 0.5 * fs)))
        except ValueError:
            detail = (f"{who}: metadata resonance band [{band[0]:g}, {band[1]:g}] Hz holds fewer than "
                      f"2 DFT bins below this frame's Nyquist {0.5 * fs:g} Hz ({n} samples at {fs:g} Hz)")
            return "band_outside_frame", detail
    return None


def admit(record: object, meta: AssetMetadata | None) -> Problem | None:
    """None if the decoded ``record`` can be featurised, else ``(reason, detail)``.

    ``meta`` is the record's asset metadata (already checked by :func:`check_metadata`), needed
    for the resonance band: a band valid at 25.6 kHz may lie above Nyquist at 2 kHz, so it is
    judged per frame, where both are known.
    """
    asset_id: str = record.asset_id  # type: ignore[attr-defined]
    why = asset_id_problem(asset_id)
    if why is not None:
        return "bad_asset_id", f"asset_id {asset_id!r} {why}"
    if isinstance(record, ScalarSample | WaveformFrame):
        why = name_problem(record.channel)
        if why is not None:
            return "bad_channel", f"channel {record.channel!r} of asset {asset_id!r} {why}"
    problem = _timestamp(record, asset_id)
    if problem is not None:
        return problem
    if isinstance(record, WaveformFrame):
        return _frame(record, meta)
    if isinstance(record, ScalarSample) and not abs(record.value) <= MAX_ABS_SCALAR:
        detail = (f"value {record.value!r} of asset {asset_id!r} channel {record.channel!r} is "
                  f"beyond +-{MAX_ABS_SCALAR:g}")
        return "value_out_of_range", detail
    return None


def _check_bearing(meta: AssetMetadata) -> None:
    b = meta.bearing
    if b is None:
        return
    if not 1 <= b.n_elements <= MAX_BEARING_ELEMENTS:
        msg = f"bearing.n_elements must be in 1..{MAX_BEARING_ELEMENTS}, got {b.n_elements}"
        raise ValueError(msg)
    mult = defect_multipliers(b).as_dict()
    for name, value in mult.items():
        if not MIN_DEFECT_MULTIPLIER <= value <= MAX_DEFECT_MULTIPLIER:
            msg = (f"bearing geometry gives a {name} of {value:.6g} x shaft speed, outside "
                   f"[{MIN_DEFECT_MULTIPLIER:g}, {MAX_DEFECT_MULTIPLIER:g}] (check the diameters)")
            raise ValueError(msg)


def check_metadata(meta: AssetMetadata) -> AssetMetadata:
    """``meta`` if its numbers are physical enough to featurise with, else ``ValueError``.

    The message starts with ``asset metadata '<id>':`` and names the field and the value.
    """
    try:
        why = asset_id_problem(meta.asset_id)
        if why is not None:
            msg = f"the asset_id {why}"
            raise ValueError(msg)
        speed = meta.nominal_speed_hz
        if speed is not None and not MIN_SHAFT_HZ <= speed <= MAX_SHAFT_HZ:
            msg = f"nominal_speed_hz must be in [{MIN_SHAFT_HZ:g}, {MAX_SHAFT_HZ:g}] Hz, got {speed!r}"
            raise ValueError(msg)
        for sensor in meta.sensors:
            why = name_problem(sensor.channel)
            if why is not None:
                msg = f"the sensor channel {sensor.channel!r} {why}"
                raise ValueError(msg)
        _check_bearing(meta)
        band = meta.resonance_band_hz
        if band is not None and not (math.isfinite(band[1]) and 0 < band[0] < band[1]):
            msg = f"resonance_band_hz needs finite 0 < lo < hi, got {list(band)}"
            raise ValueError(msg)
    except ValueError as exc:
        msg = f"asset metadata {meta.asset_id!r}: {exc}"
        raise ValueError(msg) from None
    return meta
