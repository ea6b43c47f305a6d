"""flows.codec: bytes <-> records, exactly as the contracts in ``schemas/`` state.

Contract:

- **Reading** telemetry (:func:`decode_telemetry`) accepts exactly what ``schemas/*.v1.json``
  accept (plus the binary waveform ``schemas/waveform_frame.v1.binary.md``) and never raises on
  bad input: it returns a :class:`DecodeError` whose ``reason`` is one of :data:`REASONS` and
  whose ``detail`` names the field and the value (``tests/contract/test_schemas.py`` proves the
  hand-written checks and the schema files agree).
- **Writing** (``encode_*``, :func:`to_json_dict`) produces documents valid against their schema
  and raises ``ValueError`` naming the field for a record the reader would refuse.
- **One mapping per output record**: the field tables of :mod:`.record_fields` give both the JSON
  form and the Parquet archive's columns; :mod:`.archive_schema` declares the archive's tables
  (published as ``schemas/archive/*.v1.json``).

Modules: :mod:`.errors` (REASONS, DecodeError), :mod:`.fields` (field checks, timestamps),
:mod:`.json_telemetry` (JSON telemetry both ways), :mod:`.twf` (binary waveform both ways),
:mod:`.decode` (the telemetry entry point), :mod:`.fast_scalar` (its fast path for plain
scalars), :mod:`.record_fields` and :mod:`.archive_schema`, :mod:`.encode` (records -> JSON;
:mod:`.json_message`: feature vectors, snapshots and alerts by orjson, json's text byte for byte),
:mod:`.metadata` (asset metadata files), :mod:`.dead_letters`, :mod:`.show` (a short rendering
of a bad value), :mod:`.whatif` (what-if requests and results).

Importers use the names re-exported here (``from flows.codec import encode_json`` or
``from flows import codec``), never a module of the package; the archive writer and the contract
tests are the exception: they read the archive's declared schema from :mod:`.archive_schema`
and :mod:`.record_fields`.
"""

from __future__ import annotations

from flows.codec.dead_letters import dead_letter
from flows.codec.decode import Decoded, decode_record, decode_telemetry, future_limit
from flows.codec.encode import (
    Record,
    encode_event,
    encode_json,
    encode_scalar,
    encode_telemetry,
    to_json_dict,
)
from flows.codec.errors import REASONS, DecodeError
from flows.codec.fast_scalar import plain_scalar, scalar_from_json
from flows.codec.fields import format_timestamp, parse_timestamp
from flows.codec.metadata import metadata_from_dict, metadata_to_dict
from flows.codec.scalar_batch import JsonColumns, scalar_columns_from_json
from flows.codec.show import show_value
from flows.codec.twf import MAGIC, VERSION, encode_waveform
from flows.codec.whatif import decode_whatif_request
from twin_models.records import Telemetry

__all__ = [
    "MAGIC",
    "REASONS",
    "VERSION",
    "DecodeError",
    "Decoded",
    "JsonColumns",
    "Record",
    "Telemetry",
    "dead_letter",
    "decode_record",
    "decode_telemetry",
    "decode_whatif_request",
    "encode_event",
    "encode_json",
    "encode_scalar",
    "encode_telemetry",
    "encode_waveform",
    "format_timestamp",
    "future_limit",
    "metadata_from_dict",
    "metadata_to_dict",
    "parse_timestamp",
    "plain_scalar",
    "scalar_columns_from_json",
    "scalar_from_json",
    "show_value",
    "to_json_dict",
]
