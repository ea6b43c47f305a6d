"""A replayed record is judged exactly as its wire encoding would be (issue 10, scalar path).

The file replay and the simulator hand records to the decode step unencoded
(``RawRecord.record``); :func:`flows.codec.decode_record` must give the same record, or the same
dead letter (reason, detail, bytes), as decoding the bytes a producer would have sent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from flows import codec
from flows.codec import DecodeError, decode_record, decode_telemetry, encode_telemetry, parse_timestamp
from flows.dataflow.guard import guard_map
from flows.dataflow.items import DeadLetter, RawRecord, ScalarColumns
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.operators import Decoder
from twin_models.records import AssetEvent, ScalarSample, WaveformFrame

NOW = datetime(2026, 3, 1, tzinfo=UTC)
T = datetime(2026, 2, 1, 12, 0, 0, 123456, tzinfo=UTC)

RECORDS = [
    ScalarSample("pump-1", "temperature", T, 41.5, "degC"),
    ScalarSample("pump-1", "temperature", T, 41, ""),  # an int value becomes a float
    ScalarSample("pümp-é", "pressure", T, -1e-300, "bar"),  # non-ASCII ids round-trip
    ScalarSample("pump-1", "temperature", NOW + timedelta(days=3), 1.0),  # future_timestamp
    AssetEvent("pump-1", T, "maintenance", "bearing replaced"),
    AssetEvent("pump-1", NOW + timedelta(days=2), "failure"),  # future_timestamp
    WaveformFrame("pump-1", "vib", T, 2048.0, np.linspace(-1, 1, 64, dtype=np.float32), 24.5),
]


def _same(a: object, b: object) -> bool:
    if isinstance(a, WaveformFrame) and isinstance(b, WaveformFrame):
        return (a.asset_id, a.channel, a.timestamp, a.sample_rate_hz, a.shaft_speed_hz, a.unit) == (
            b.asset_id, b.channel, b.timestamp, b.sample_rate_hz, b.shaft_speed_hz, b.unit) and bool(
            np.array_equal(a.samples, b.samples))
    return a == b and type(a) is type(b) and (
        not isinstance(a, ScalarSample) or type(a.value) is type(b.value))  # type: ignore[union-attr]


@pytest.mark.parametrize("rec", RECORDS, ids=lambda r: type(r).__name__)
def test_decode_record_equals_decoding_the_wire_bytes(rec: object) -> None:
    via_bytes = decode_telemetry(encode_telemetry(rec), now=NOW, max_future_s=86400.0)  # type: ignore[arg-type]
    direct = decode_record(rec, now=NOW, max_future_s=86400.0)  # type: ignore[arg-type]
    assert _same(direct, via_bytes), (direct, via_bytes)


def test_records_stamped_in_the_future_are_refused() -> None:
    reasons = [out.reason for rec in RECORDS
               if isinstance(out := decode_record(rec, now=NOW), DecodeError)]  # type: ignore[arg-type]
    assert reasons == ["future_timestamp", "future_timestamp"]


@pytest.mark.parametrize(("bad", "match"), [
    (ScalarSample("pump-1", "temperature", T, float("nan")), "value must be finite"),
    (ScalarSample("pump-1", "x" * 129, T, 1.0), "channel must have 1..128 characters"),
])
def test_a_record_the_encoder_refuses_raises_like_the_encoder(bad: ScalarSample, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        codec.encode_scalar(bad)
    with pytest.raises(ValueError, match=match):
        decode_record(bad, now=NOW)


@pytest.mark.parametrize("rec", RECORDS[:6], ids=lambda r: type(r).__name__)
def test_the_decode_step_gives_the_same_item_or_dead_letter(rec: object) -> None:
    def run(raw: RawRecord) -> object:
        return Decoder(PipelineMetrics(CollectorRegistry()), max_future_s=86400.0, now=lambda: NOW)(raw)

    wire = encode_telemetry(rec)  # type: ignore[arg-type]
    via_bytes = run(RawRecord("f.csv", wire))
    direct = run(RawRecord("f.csv", b"", (), rec))  # type: ignore[arg-type]
    assert _same(direct, via_bytes) if not isinstance(via_bytes, DeadLetter) else direct == via_bytes
    if isinstance(direct, DeadLetter):
        assert direct.raw == wire  # the dead letter carries the bytes Kafka would have carried


def test_timestamp_cache_never_answers_for_another_string() -> None:
    a, b = "2026-02-01T12:00:00.5Z", "2026-02-01T12:00:01Z"
    assert parse_timestamp(a) == datetime(2026, 2, 1, 12, 0, 0, 500000, tzinfo=UTC)
    assert parse_timestamp(a) == datetime(2026, 2, 1, 12, 0, 0, 500000, tzinfo=UTC)
    assert parse_timestamp(b) == datetime(2026, 2, 1, 12, 0, 1, tzinfo=UTC)
    for bad in ("", "2026-02-01T12:00:01", b"2026-02-01T12:00:01Z"):
        with pytest.raises(ValueError, match="RFC 3339"):
            parse_timestamp(bad)


def _piece() -> ScalarColumns:
    us = np.array([0, 1_000_000], np.int64)
    return ScalarColumns.of("pump-1", us, np.zeros(2, np.int16), ("temperature",), np.array([40.0, 41.0]))


def test_a_column_piece_has_no_wire_bytes_of_its_own() -> None:
    # round 36 (mypy flows): RawRecord.wire() passed a replayed piece of columns to encode_telemetry,
    # which raised TypeError; it is many records, so no bytes (what payload_of made of the raise)
    assert RawRecord("f.csv", b"", (), _piece()).wire() == b""
    sample = ScalarSample("pump-1", "temperature", T, 41.5, "degC")
    assert RawRecord("f.csv", b"", (), sample).wire() == encode_telemetry(sample)


def test_a_column_piece_at_the_per_record_decoder_is_named_in_its_dead_letter() -> None:
    # decode_batch hands on a piece's samples one by one; should a piece reach the guarded
    # per-record decoder, its processing_error says what and whose it was
    m = PipelineMetrics(CollectorRegistry())
    decode = guard_map("decode", Decoder(m, max_future_s=86400.0, now=lambda: NOW), m, lambda: NOW)
    dead = decode(RawRecord("f.csv", b"", (), _piece()))
    assert isinstance(dead, DeadLetter) and dead.reason == "processing_error"
    assert "2 scalar columns of 'pump-1'" in dead.detail and dead.raw == b""
