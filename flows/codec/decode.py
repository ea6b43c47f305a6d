"""The one entry point for incoming telemetry: bytes -> record or :class:`DecodeError`.

:func:`decode_telemetry` never raises on bad input (a payload from Kafka or a replay file may be
anything): it returns the record, or a DecodeError whose ``reason`` is a
:data:`~flows.codec.errors.REASONS` code and whose ``detail`` names the field and the value.

>>> from flows.codec import encode_scalar
>>> from twin_models.records import ScalarSample
>>> s = ScalarSample("pump-1", "temperature", datetime(2024, 5, 1, tzinfo=UTC), 41.5, "degC")
>>> decode_telemetry(encode_scalar(s), now=datetime(2024, 5, 1, tzinfo=UTC)) == s
True
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flows.codec.encode import encode_telemetry, to_json_dict
from flows.codec.errors import DecodeError, Reject, fail
from flows.codec.json_telemetry import decode_json, decode_json_dict
from flows.codec.show import show_value
from flows.codec.twf import MAGIC, decode_binary
from twin_models.records import AssetEvent, ScalarSample, Telemetry, WaveformFrame, ensure_utc

__all__ = ["Decoded", "decode_record", "decode_telemetry", "future_limit"]

Decoded = ScalarSample | WaveformFrame | AssetEvent | DecodeError


def future_limit(now: datetime, max_future_s: float) -> datetime:
    """The latest timestamp admitted at ``now`` (aware, else ``ValueError``): ``now +
    max_future_s``, saturated at the largest datetime (a huge setting means no limit)."""
    return _future_limit(ensure_utc(now, what="now"), max_future_s)


def _future_limit(now: datetime, max_future_s: float) -> datetime:
    """``now + max_future_s``, saturated at the largest datetime (a huge setting means no limit)."""
    try:
        return now + timedelta(seconds=max_future_s)
    except (OverflowError, ValueError):  # past year 9999, or beyond timedelta, or NaN
        return datetime.max.replace(tzinfo=UTC)


def decode_record(rec: Telemetry, *, now: datetime, max_future_s: float = 86400.0) -> Decoded:
    """``decode_telemetry(<wire encoding of rec>)``, without encoding a scalar or an event.

    For replay sources that hold records already (files, the simulator): the same record or the
    same DecodeError (its ``raw`` the wire encoding) as the round trip through bytes; waveform
    frames do take the round trip. Raises ``ValueError`` where the encoder would.
    """
    if not isinstance(rec, ScalarSample | AssetEvent):
        return decode_telemetry(encode_telemetry(rec), now=now, max_future_s=max_future_s)
    doc = to_json_dict(rec)  # the writer's checks: ValueError as from the encoder
    limit = _future_limit(ensure_utc(now, what="now"), max_future_s)
    try:
        return decode_json_dict(doc, limit)
    except Reject as rej:
        return DecodeError(rej.reason, str(rej), encode_telemetry(rec))


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
            return decode_binary(data, limit)
        if data[:1] == b"{" or data.lstrip()[:1] == b"{":
            return decode_json(data, limit)
        if MAGIC.startswith(data):
            fail("truncated", f"{len(data)}-byte payload ends inside the TWF magic")
        msg = f"payload starts with {show_value(data[:8])}: neither TWF v1 binary nor a JSON object"
        fail("unknown_version", msg)
    except Reject as rej:
        return DecodeError(rej.reason, str(rej), data)
    except Exception as exc:  # noqa: BLE001 - the contract: bad input never raises
        return DecodeError("internal_error", f"decoder bug: {type(exc).__name__}: {exc}", data)
