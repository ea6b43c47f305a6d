"""Records -> JSON dicts and compact JSON bytes, valid against their ``schemas/*.v1.json``.

Telemetry uses the writers of :mod:`flows.codec.json_telemetry`; feature vectors, twin snapshots
and alerts use their field tables in :mod:`flows.codec.record_fields` (the same tables give the
archive's columns). Every encoder raises ``ValueError`` naming the field for a record that its
reader would refuse, so the engine never writes what it would not read back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flows.codec.command_fields import ARCHIVE_MAPPINGS, COMMAND, COMMAND_DECISION
from flows.codec.json_message import compact, message_encoders
from flows.codec.json_telemetry import event_dict, scalar_dict, wave_dict
from flows.codec.metadata import metadata_to_dict
from flows.codec.twf import encode_waveform
from flows.codec.whatif import request_dict, result_dict
from twin_models.records import (
    Alert,
    AssetEvent,
    AssetMetadata,
    AuditEntry,
    Command,
    CommandDecision,
    FeatureVector,
    ScalarSample,
    Telemetry,
    TwinSnapshot,
    WaveformFrame,
    WhatIfRequest,
    WhatIfResult,
    telemetry_kind,
)

__all__ = ["Record", "dumps", "encode_event", "encode_json", "encode_scalar", "encode_telemetry",
           "to_json_dict"]

Record = (Telemetry | FeatureVector | TwinSnapshot | Alert | AssetMetadata
          | Command | CommandDecision | AuditEntry | WhatIfRequest | WhatIfResult)

_TO_DICT: dict[type, Callable[[Any], dict[str, Any]]] = {
    ScalarSample: scalar_dict,
    AssetEvent: event_dict,
    WaveformFrame: wave_dict,
    **{m.record: m.to_json for m in (*ARCHIVE_MAPPINGS, COMMAND, COMMAND_DECISION)},
    AssetMetadata: metadata_to_dict,
    WhatIfRequest: request_dict,
    WhatIfResult: result_dict,
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


def dumps(obj: dict[str, Any]) -> bytes:
    """Compact JSON bytes; NaN/inf never reach here (``allow_nan=False`` as a guard)."""
    return compact(obj)


def encode_scalar(s: ScalarSample) -> bytes:
    """ScalarSample -> JSON (``scalar_sample.v1``) bytes; ``ValueError`` if not decodable."""
    return dumps(scalar_dict(s))


def encode_event(e: AssetEvent) -> bytes:
    """AssetEvent -> JSON (``asset_event.v1``) bytes; ``ValueError`` if not decodable."""
    return dumps(event_dict(e))


_MESSAGE = message_encoders()
"""Feature vectors, twin snapshots and alerts: written by orjson where its text is json's (the hot
path of ``twin run``'s Kafka sinks: :mod:`flows.codec.json_message`)."""


def encode_json(record: Record) -> bytes:
    """Any record -> compact JSON bytes of :func:`to_json_dict` (valid against its schema)."""
    encode = _MESSAGE.get(type(record))
    return encode(record) if encode is not None else dumps(to_json_dict(record))


_WIRE: dict[str, Callable[[Any], bytes]] = {"waveform": encode_waveform, "scalar": encode_scalar,
                                            "event": encode_event}


def encode_telemetry(rec: Telemetry) -> bytes:
    """A telemetry record -> its wire encoding, as producers put it on Kafka (binary waveform
    frames, JSON scalars and events)."""
    return _WIRE[telemetry_kind(rec)](rec)
