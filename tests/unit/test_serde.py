"""flows.codec: round trips for every record, and bad input that never raises."""

from __future__ import annotations

import base64
import json
import math
import random
import struct
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest

from flows import codec
from flows.codec import DecodeError
from twin_models.records import (
    Alert,
    AssetEvent,
    AssetMetadata,
    BearingGeometry,
    FailureThreshold,
    FeatureVector,
    ScalarSample,
    SensorSpec,
    TwinSnapshot,
    WaveformFrame,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TS = datetime(2024, 5, 1, 11, 59, 30, 123456, tzinfo=UTC)


def make_frame(n: int = 64, **kw: Any) -> WaveformFrame:
    """A valid waveform frame with seeded samples."""
    rng = np.random.default_rng(7)
    fields: dict[str, Any] = {
        "asset_id": "pump-07",
        "channel": "vib_h",
        "timestamp": TS,
        "sample_rate_hz": 25600.0,
        "samples": rng.normal(0.0, 0.3, n).astype(np.float32),
        "shaft_speed_hz": 29.5,
        "unit": "g",
    }
    fields.update(kw)
    return WaveformFrame(**fields)


def make_scalar(**kw: Any) -> ScalarSample:
    """A valid scalar sample."""
    fields: dict[str, Any] = {
        "asset_id": "pump-07",
        "channel": "temperature",
        "timestamp": TS,
        "value": 41.5,
        "unit": "degC",
    }
    fields.update(kw)
    return ScalarSample(**fields)


def make_event(**kw: Any) -> AssetEvent:
    """A valid asset event."""
    fields: dict[str, Any] = {"asset_id": "pump-07", "timestamp": TS, "kind": "maintenance"}
    fields.update(kw)
    return AssetEvent(**fields)


def scalar_doc(**kw: Any) -> dict[str, Any]:
    """The JSON document of a valid scalar, with overrides (``None`` value = drop the key)."""
    doc = json.loads(codec.encode_scalar(make_scalar()))
    doc.update(kw)
    return {k: v for k, v in doc.items() if v is not None}


def decode(raw: bytes, **kw: Any) -> Any:
    """decode_telemetry at the fixed NOW."""
    return codec.decode_telemetry(raw, now=NOW, **kw)


def reason_of(raw: bytes, **kw: Any) -> str:
    """The DecodeError reason for ``raw`` (fails the test if it decoded)."""
    out = decode(raw, **kw)
    assert isinstance(out, DecodeError), f"expected an error, decoded {out!r}"
    assert out.raw == bytes(raw)
    assert out.detail
    return out.reason


# --------------------------------------------------------------------------- round trips


def test_scalar_round_trip() -> None:
    s = make_scalar()
    assert decode(codec.encode_scalar(s)) == s
    assert codec.encode_json(s) == codec.encode_scalar(s)


def test_event_round_trip_each_kind() -> None:
    for kind in ("install", "maintenance", "failure"):
        e = make_event(kind=kind, note="WO-1182 ünïcode")
        assert decode(codec.encode_event(e)) == e


def test_waveform_binary_round_trip_is_bit_exact() -> None:
    f = make_frame(4096)
    raw = codec.encode_waveform(f)
    out = decode(raw)
    assert isinstance(out, WaveformFrame)
    assert out == f
    assert out.samples.dtype == np.float32
    assert out.samples.tobytes() == f.samples.tobytes()
    assert codec.encode_waveform(out) == raw


def test_waveform_binary_size_and_header() -> None:
    f = make_frame(10, asset_id="ä1", channel="v", unit="")
    raw = codec.encode_waveform(f)
    assert raw[:4] == b"TWF\x01"
    assert len(raw) == 32 + (2 + 3) + (2 + 1) + 2 + 4 * 10
    _, _, ts_ns, rate, shaft, n = struct.unpack_from("<3sBqddI", raw)
    assert (rate, shaft, n) == (25600.0, 29.5, 10)
    assert ts_ns == 1714564770123456000


def test_waveform_timestamp_is_exact_to_the_microsecond() -> None:
    ts = datetime(2262, 4, 11, 23, 47, 16, 854775, tzinfo=UTC)  # near the int64-ns limit
    raw = codec.encode_waveform(make_frame(timestamp=ts))
    assert struct.unpack_from("<q", raw, 4)[0] == 9223372036854775000
    assert decode(raw, max_future_s=1e10).timestamp == ts


def test_waveform_sub_microsecond_ns_are_floored() -> None:
    raw = bytearray(codec.encode_waveform(make_frame()))
    for ns, micro in ((1714564770123456999, 123456), (-1, 999999)):
        struct.pack_into("<q", raw, 4, ns)
        assert decode(bytes(raw)).timestamp.microsecond == micro


def test_waveform_absent_shaft_speed_and_other_zones() -> None:
    f = make_frame(shaft_speed_hz=None, timestamp=TS.astimezone(timezone(timedelta(hours=2))))
    out = decode(codec.encode_waveform(f))
    assert out.shaft_speed_hz is None
    assert out.timestamp == TS
    assert out.timestamp.utcoffset() == timedelta(0)


def test_waveform_json_form_round_trip() -> None:
    f = make_frame(256)
    raw = codec.encode_json(f)
    assert json.loads(raw)["type"] == "waveform"
    out = decode(raw)
    assert out == f
    assert out.samples.tobytes() == f.samples.tobytes()


def test_waveform_json_form_defaults() -> None:
    doc = {"type": "waveform", "asset_id": "a", "channel": "c", "timestamp": "2024-05-01T00:00:00Z"}
    doc |= {"sample_rate_hz": 1000, "samples": [1, 2.5, -3]}
    out = decode(json.dumps(doc).encode())
    assert (out.unit, out.shaft_speed_hz, out.sample_rate_hz) == ("g", None, 1000.0)
    assert out.samples.tolist() == [1.0, 2.5, -3.0]


def test_decoded_samples_are_read_only_float32() -> None:
    raw = codec.encode_waveform(make_frame())
    for payload in (raw, bytearray(raw), memoryview(raw)):
        out = decode(payload)  # type: ignore[arg-type]
        assert out.samples.dtype == np.float32
        assert not out.samples.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            out.samples[0] = 1.0


def test_binary_samples_are_zero_copy_when_aligned() -> None:
    """Aligned samples are a view of the payload's own buffer; unaligned ones an owned aligned copy."""
    shared = []
    for asset_id in ("a", "ab", "abc", "abcd"):  # shifts the samples' offset by one byte each
        raw = codec.encode_waveform(make_frame(asset_id=asset_id))
        payload = np.frombuffer(raw, dtype=np.uint8)
        start = payload.ctypes.data + len(raw) - 4 * 64  # address of the samples inside raw
        out = decode(raw)
        assert out.samples.flags.aligned
        if start % out.samples.dtype.alignment == 0:
            assert out.samples.ctypes.data == start and np.shares_memory(out.samples, payload)
        else:
            assert not np.shares_memory(out.samples, payload)
        shared.append(np.shares_memory(out.samples, payload))
    assert shared.count(True) >= 1  # four consecutive offsets: at least one is 4-byte aligned


def make_feature_vector() -> FeatureVector:
    """A feature vector with an undefined (NaN) feature and one event."""
    return FeatureVector(
        asset_id="pump-07",
        window_start=TS,
        window_end=TS + timedelta(minutes=1),
        features={"vib_h.rms": 0.21, "vib_h.kurtosis": math.nan, "temperature.mean": 41},
        n_records=84,
        events=(make_event(kind="failure"),),
    )


def make_snapshot() -> TwinSnapshot:
    """A snapshot with an infinite RUL bound and an infinite z."""
    return TwinSnapshot(
        asset_id="pump-07",
        timestamp=TS + timedelta(minutes=1),
        window_start=TS,
        condition="degrading",
        anomaly_score=0.93,
        health_index=0.61,
        rul_s=86400.0,
        rul_lower_s=math.inf,
        rul_upper_s=None,
        drift=True,
        n_windows=412,
        life_id=2,
        degradation=np.float64(1.7),  # type: ignore[arg-type]
        rul_source="trend",
        defect="bpfo",
        evidence="outer race",
        top_features=(("vib_h.env_bpfo_amp", 6.2), ("vib_h.kurtosis", math.inf)),
        context={"shaft_hz": 29.5},
    )


def make_alert() -> Alert:
    """An alert without RUL or defect."""
    return Alert(
        alert_id="pump-07:condition:1",
        asset_id="pump-07",
        kind="condition",
        severity="critical",
        status="updated",
        started_at=TS,
        timestamp=TS + timedelta(minutes=5),
        explanation="pump-07 critical",
        anomaly_score=0.99,
        health_index=0.2,
        rul_s=None,
        top_features=(("vib_h.rms", 5.0),),
        defect=None,
        sequence=3,
    )


def test_feature_vector_json() -> None:
    doc = json.loads(codec.encode_json(make_feature_vector()))
    assert doc["window_start"] == "2024-05-01T11:59:30.123456Z"
    assert doc["window_end"] == "2024-05-01T12:00:30.123456Z"
    assert doc["features"] == {"vib_h.rms": 0.21, "vib_h.kurtosis": None, "temperature.mean": 41.0}
    assert doc["n_records"] == 84
    event = decode(json.dumps(doc["events"][0]).encode())
    assert event == make_event(kind="failure")


def test_snapshot_json() -> None:
    s = make_snapshot()
    doc = json.loads(codec.encode_json(s))
    assert codec.parse_timestamp(doc["timestamp"]) == s.timestamp
    assert codec.parse_timestamp(doc["window_start"]) == s.window_start
    assert (doc["rul_s"], doc["rul_lower_s"], doc["rul_upper_s"]) == (86400.0, None, None)
    assert doc["top_features"] == [["vib_h.env_bpfo_amp", 6.2], ["vib_h.kurtosis", None]]
    plain = ("condition", "anomaly_score", "health_index", "drift", "n_windows", "life_id")
    assert all(doc[k] == getattr(s, k) for k in plain)
    assert (doc["degradation"], doc["defect"], doc["context"]) == (1.7, "bpfo", {"shaft_hz": 29.5})


def test_alert_json() -> None:
    a = make_alert()
    doc = json.loads(codec.encode_json(a))
    assert codec.parse_timestamp(doc["started_at"]) == a.started_at
    assert codec.parse_timestamp(doc["timestamp"]) == a.timestamp
    assert doc["top_features"] == [["vib_h.rms", 5.0]]
    plain = ("alert_id", "severity", "status", "rul_s", "defect", "sequence", "explanation")
    assert all(doc[k] == getattr(a, k) for k in plain)


def test_required_scores_must_be_finite_to_be_written() -> None:
    with pytest.raises(ValueError, match="anomaly_score of twin snapshot of 'pump-07'"):
        codec.encode_json(TwinSnapshot(**{**_asdict(make_snapshot()), "anomaly_score": math.nan}))


def _asdict(record: Any) -> dict[str, Any]:
    """A slotted record's fields as a dict."""
    return {k: getattr(record, k) for k in record.__slots__}


def make_metadata() -> AssetMetadata:
    """A fully specified asset metadata record."""
    return AssetMetadata(
        asset_id="pump-07",
        kind="centrifugal_pump",
        bearing=BearingGeometry(9, 7.94, 39.04, 15.0),
        nominal_speed_hz=29.5,
        nominal_load_n=4000.0,
        sensors=(SensorSpec("vib_h", "waveform", "g"), SensorSpec("temperature", "scalar", "degC")),
        failure_threshold=FailureThreshold("vib_h.rms", 2.5),
        resonance_band_hz=(2000.0, 6000.0),
    )


@pytest.mark.parametrize("meta", [make_metadata(), AssetMetadata("bare")])
def test_metadata_round_trip(meta: AssetMetadata) -> None:
    d = json.loads(json.dumps(codec.metadata_to_dict(meta)))
    assert codec.metadata_from_dict(d) == meta
    assert codec.to_json_dict(meta) == codec.metadata_to_dict(meta)


def test_metadata_defaults_and_integral_float() -> None:
    d = {
        "asset_id": "m1",
        "bearing": {"n_elements": 9.0, "ball_diameter_mm": 8, "pitch_diameter_mm": 40},
    }
    meta = codec.metadata_from_dict(d)
    assert meta.bearing == BearingGeometry(9, 8.0, 40.0, 0.0)
    assert isinstance(meta.bearing.n_elements, int)
    assert (meta.kind, meta.sensors, meta.resonance_band_hz) == ("rotating_machine", (), None)


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"asset_id": ""}, "asset_id"),
        ({"nominal_speed": 3}, "nominal_speed"),
        ({"nominal_speed_hz": 0}, "nominal_speed_hz"),
        (
            {"bearing": {"n_elements": 0, "ball_diameter_mm": 8, "pitch_diameter_mm": 40}},
            "n_elements",
        ),
        ({"bearing": {"n_elements": 9, "ball_diameter_mm": 8}}, "pitch_diameter_mm"),
        ({"bearing": {"n_elements": 9, "ball_diameter_mm": 8, "pitch_diameter_mm": 6}}, "pitch"),
        (
            {
                "bearing": {
                    "n_elements": 9,
                    "ball_diameter_mm": 8,
                    "pitch_diameter_mm": 40,
                    "contact_angle_deg": 90,
                }
            },
            "contact_angle_deg",
        ),
        ({"sensors": [{"channel": "v", "kind": "laser"}]}, "sensors[0].kind"),
        ({"sensors": [{"channel": "v", "kind": "scalar"}] * 2}, "sensors[1].channel"),
        ({"failure_threshold": {"feature": "x"}}, "value"),
        ({"failure_threshold": {"feature": "x", "value": "high"}}, "failure_threshold.value"),
        ({"resonance_band_hz": [6000, 2000]}, "resonance_band_hz"),
        ({"resonance_band_hz": [1, 2, 3]}, "resonance_band_hz"),
    ],
)
def test_metadata_errors_name_the_field(patch: dict[str, Any], field: str) -> None:
    d = codec.metadata_to_dict(make_metadata()) | patch
    with pytest.raises(ValueError, match="asset metadata") as info:
        codec.metadata_from_dict(d)
    assert field in str(info.value)


def test_metadata_not_a_mapping() -> None:
    with pytest.raises(ValueError, match="must be an object"):
        codec.metadata_from_dict(["pump-07"])  # type: ignore[arg-type]


def test_dead_letter_carries_the_payload() -> None:
    raw = b'{"type":"scalar","value":NaN}\xff'
    err = decode(raw)
    doc = json.loads(codec.dead_letter(err, source="twin.telemetry.scalar.v1/3", timestamp=NOW))
    assert doc["reason"] == err.reason == "invalid_json"
    assert doc["detail"] == err.detail
    assert doc["source"] == "twin.telemetry.scalar.v1/3"
    assert doc["timestamp"] == "2024-05-01T12:00:00.000000Z"
    assert base64.b64decode(doc["raw_base64"]) == raw
    assert doc["raw_size"] == len(raw)


# --------------------------------------------------------------------------- bad input


def _binary(**kw: Any) -> bytes:
    """A frame with header fields patched after encoding (bypasses the encoder's checks)."""
    raw = bytearray(codec.encode_waveform(make_frame(8)))
    fields = {"version": ("<B", 3), "ts": ("<q", 4), "rate": ("<d", 12), "shaft": ("<d", 20)}
    fields["n"] = ("<I", 28)
    for name, value in kw.items():
        fmt, offset = fields[name]
        struct.pack_into(fmt, raw, offset, value)
    return bytes(raw)


def _with_sample(value: float) -> bytes:
    """A valid frame whose second-to-last sample is ``value``."""
    raw = bytearray(codec.encode_waveform(make_frame(8)))
    struct.pack_into("<f", raw, len(raw) - 8, value)
    return bytes(raw)


def _binary_strings(asset_id: bytes, channel: bytes = b"v", unit: bytes = b"g") -> bytes:
    """A hand-built one-sample frame with the given raw string bytes."""
    head = struct.pack("<3sBqddI", b"TWF", 1, 0, 1000.0, math.nan, 1)
    strings = b"".join(struct.pack("<H", len(s)) + s for s in (asset_id, channel, unit))
    return head + strings + struct.pack("<f", 0.5)


BAD_BINARY = [
    (b"TWF\x02" + bytes(60), "unknown_version"),
    (b"XWF\x01" + bytes(60), "unknown_version"),
    (b"\x00\x01\x02", "unknown_version"),
    (b"hello", "unknown_version"),
    (b"", "truncated"),
    (b"TW", "truncated"),
    (codec.encode_waveform(make_frame(8)) + b"\x00", "truncated"),
    (codec.encode_waveform(make_frame(8))[:-1], "truncated"),
    (_binary(n=9), "truncated"),
    (_binary(n=2**32 - 1), "truncated"),
    (_binary(rate=0.5), "bad_sample_rate"),
    (_binary(rate=2e6), "bad_sample_rate"),
    (_binary(rate=math.nan), "bad_sample_rate"),
    (_binary(rate=-math.inf), "bad_sample_rate"),
    (_binary(shaft=math.inf), "non_finite"),
    (_binary(shaft=-1.0), "schema_violation"),
    (_binary(ts=2**63 - 1), "future_timestamp"),
    (_with_sample(math.nan), "non_finite"),
    (_with_sample(math.inf), "non_finite"),
    (_with_sample(-math.inf), "non_finite"),
    (_binary_strings(b""), "schema_violation"),
    (_binary_strings(b"a" * 129), "schema_violation"),
    (_binary_strings(b"\xff\xfe"), "schema_violation"),
    (_binary_strings(b"a", channel=b""), "schema_violation"),
    (_binary_strings(b"a", unit=b"u" * 65), "schema_violation"),
]


@pytest.mark.parametrize(("raw", "reason"), BAD_BINARY)
def test_bad_binary(raw: bytes, reason: str) -> None:
    assert reason_of(raw) == reason


def test_empty_frame_header_fix() -> None:
    raw = _binary_strings(b"a")
    assert isinstance(decode(raw), WaveformFrame)
    assert reason_of(raw[:28] + struct.pack("<I", 0) + raw[32:-4]) == "empty_frame"


def test_every_truncation_of_a_valid_frame() -> None:
    raw = codec.encode_waveform(make_frame(16, asset_id="pump-ä"))
    for k in range(len(raw)):
        assert reason_of(raw[:k]) == "truncated", k
    assert isinstance(decode(raw), WaveformFrame)


def test_every_truncation_of_a_valid_json_record() -> None:
    raw = codec.encode_json(make_frame(4))
    for k in range(1, len(raw)):
        assert reason_of(raw[:k]) == "invalid_json", k


def _j(doc: Any) -> bytes:
    """JSON bytes of ``doc``."""
    return json.dumps(doc).encode()


def _event_doc(**kw: Any) -> dict[str, Any]:
    """The JSON document of a valid event, with overrides."""
    doc = json.loads(codec.encode_event(make_event()))
    doc.update(kw)
    return doc


def _wave_doc(**kw: Any) -> dict[str, Any]:
    """The JSON form of a valid frame, with overrides (``...`` = drop the key)."""
    doc = json.loads(codec.encode_json(make_frame(4)))
    doc.update(kw)
    return {k: v for k, v in doc.items() if v is not ...}


SCALAR_HEAD = b'{"type":"scalar","asset_id":"a","channel":"c","timestamp":"2024-05-01T00:00:00Z","value":'
BAD_JSON = [
    (b"{", "invalid_json"),
    (b'{"type": "scalar",}', "invalid_json"),
    (b'{"type":"scalar"}\xff', "invalid_json"),
    ('{"asset_id":"\u00e9"}'.encode("latin-1"), "invalid_json"),
    (b"{" * 100000, "invalid_json"),
    (_j({"asset_id": "a"}), "schema_violation"),
    (_j(scalar_doc(type=None)), "schema_violation"),
    (_j(scalar_doc(type="pressure")), "unknown_kind"),
    (_j(scalar_doc(type=1)), "unknown_kind"),
    (_j(scalar_doc(value=None)), "schema_violation"),
    (_j(scalar_doc(channel=None)), "schema_violation"),
    (_j(scalar_doc(extra=1)), "schema_violation"),
    (_j(scalar_doc(value="41.5")), "schema_violation"),
    (_j(scalar_doc(value=True)), "schema_violation"),
    (_j(scalar_doc(value=[1])), "schema_violation"),
    (SCALAR_HEAD + b"NaN}", "non_finite"),
    (SCALAR_HEAD + b"-Infinity}", "non_finite"),
    (SCALAR_HEAD + b"1e999}", "non_finite"),
    (_j(scalar_doc(value=10**400)), "non_finite"),
    (_j(scalar_doc(asset_id="")), "schema_violation"),
    (_j(scalar_doc(asset_id="a" * 129)), "schema_violation"),
    (_j(scalar_doc(asset_id=7)), "schema_violation"),
    (_j(scalar_doc(asset_id="\ud800")), "schema_violation"),
    (_j(scalar_doc(unit="u" * 65)), "schema_violation"),
    (_j(scalar_doc(timestamp="2024-05-01T12:00:00")), "bad_timestamp"),
    (_j(scalar_doc(timestamp="2024-05-01T14:00:00+02:00")), "bad_timestamp"),
    (_j(scalar_doc(timestamp="2024-05-01")), "bad_timestamp"),
    (_j(scalar_doc(timestamp="2024-02-30T00:00:00Z")), "bad_timestamp"),
    (_j(scalar_doc(timestamp="yesterday")), "bad_timestamp"),
    (_j(scalar_doc(timestamp=1714564800)), "bad_timestamp"),
    (_j(scalar_doc(timestamp="٢٠٢٤-05-01T00:00:00Z")), "bad_timestamp"),
    (_j(scalar_doc(timestamp="2024-05-03T00:00:00Z")), "future_timestamp"),
    (_j(_event_doc(kind="explosion")), "unknown_kind"),
    (_j(_event_doc(kind=3)), "schema_violation"),
    (_j(_event_doc(note="n" * 4097)), "schema_violation"),
    (_j(_event_doc(timestamp="2099-01-01T00:00:00Z")), "future_timestamp"),
    (_j(_wave_doc(samples=[])), "empty_frame"),
    (_j(_wave_doc(samples=[1.0, "2"])), "schema_violation"),
    (_j(_wave_doc(samples=[1.0, None])), "schema_violation"),
    (_j(_wave_doc(samples=[1.0, False])), "schema_violation"),
    (_j(_wave_doc(samples={"0": 1.0})), "schema_violation"),
    (_j(_wave_doc(samples=[1.0, 1e39])), "non_finite"),
    (_j(_wave_doc(samples=[1.0, 10**400])), "non_finite"),
    (_j(_wave_doc(sample_rate_hz=0)), "bad_sample_rate"),
    (_j(_wave_doc(sample_rate_hz=1e6 + 1)), "bad_sample_rate"),
    (_j(_wave_doc(sample_rate_hz="25600")), "schema_violation"),
    (_j(_wave_doc(shaft_speed_hz=-3)), "schema_violation"),
    (_j(_wave_doc(unit=...)), None),
]


@pytest.mark.parametrize(("raw", "reason"), BAD_JSON)
def test_bad_json(raw: bytes, reason: str | None) -> None:
    if reason is None:
        assert isinstance(decode(raw), WaveformFrame)
    else:
        assert reason_of(raw) == reason


def test_leading_whitespace_json_and_max_future() -> None:
    raw = b" \n\t" + codec.encode_scalar(make_scalar(timestamp=NOW + timedelta(seconds=10)))
    assert isinstance(decode(raw), ScalarSample)
    assert reason_of(raw, max_future_s=5.0) == "future_timestamp"
    assert isinstance(decode(raw, max_future_s=10.0), ScalarSample)


def test_timestamp_forms_accepted() -> None:
    for text, micro in (
        ("2024-05-01T00:00:00Z", 0),
        ("2024-05-01T00:00:00.5+00:00", 500000),
        ("2024-05-01T00:00:00.123456789Z", 123456),
    ):
        assert codec.parse_timestamp(text) == datetime(2024, 5, 1, 0, 0, 0, micro, tzinfo=UTC)


def test_non_bytes_payloads_do_not_raise() -> None:
    assert decode(None).reason == "truncated"  # type: ignore[arg-type]  # a Kafka tombstone
    assert decode("{}").reason == "unknown_version"  # type: ignore[arg-type]
    assert decode(12).reason == "unknown_version"  # type: ignore[arg-type]


def _mutations(rng: random.Random, valid: list[bytes], n: int) -> list[bytes]:
    """``n`` payloads: random bytes, and valid payloads with flipped/inserted/cut bytes."""
    out = []
    for i in range(n):
        if i % 4 == 0:
            out.append(rng.randbytes(rng.randrange(0, 200)))
            continue
        if i % 4 == 1:  # a binary frame with random header bytes (deep checks)
            b = bytearray(valid[0])
            for _ in range(rng.randrange(1, 4)):
                b[rng.randrange(4, 48)] = rng.randrange(256)
            out.append(bytes(b))
            continue
        b = bytearray(rng.choice(valid))
        for _ in range(rng.randrange(1, 6)):
            op, pos = rng.randrange(3), rng.randrange(len(b))
            if op == 0:
                b[pos] = rng.randrange(256)
            elif op == 1:
                b[pos:pos] = rng.randbytes(rng.randrange(1, 9))
            else:
                del b[pos : pos + rng.randrange(1, 9)]
            if not b:
                break
        out.append(bytes(b))
    return out


def test_fuzz_never_raises() -> None:
    valid = [
        codec.encode_waveform(make_frame(8)),
        codec.encode_json(make_frame(3)),
        codec.encode_scalar(make_scalar()),
        codec.encode_event(make_event(note="x")),
        b"TWF\x01",
    ]
    reasons: set[str] = set()
    ok = 0
    for raw in _mutations(random.Random(20240501), valid, 2000):
        out = decode(raw)
        if isinstance(out, DecodeError):
            assert out.reason in codec.REASONS
            assert out.reason != "internal_error", (raw, out.detail)
            reasons.add(out.reason)
        else:  # a mutation that is still a valid record: decoded faithfully, so it re-encodes stably
            assert isinstance(out, ScalarSample | WaveformFrame | AssetEvent)
            again = codec.encode_json(out)
            assert codec.encode_json(decode(again)) == again, raw
            ok += 1
    assert len(reasons) >= 6, reasons
    assert ok > 0, "no mutation decoded: the accept path was never exercised"


# --------------------------------------------------------------------------- encoders refuse


@pytest.mark.parametrize(
    ("record", "match"),
    [
        (make_frame(samples=np.array([], dtype=np.float32)), "non-empty"),
        (make_frame(samples=np.zeros((2, 2), dtype=np.float32)), "1-D"),
        (make_frame(samples=np.array([1.0, np.nan], dtype=np.float32)), "samples\\[1\\]"),
        (make_frame(sample_rate_hz=0.0), "sample_rate_hz"),
        (make_frame(asset_id=""), "asset_id"),
        (make_frame(channel="c" * 129), "channel"),
        (make_frame(shaft_speed_hz=-1.0), "shaft_speed_hz"),
        (make_frame(timestamp=datetime(2024, 5, 1)), "naive"),  # noqa: DTZ001
        (make_frame(timestamp=datetime(1500, 1, 1, tzinfo=UTC)), "int64"),
    ],
)
def test_encode_waveform_refuses(record: WaveformFrame, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        codec.encode_waveform(record)


@pytest.mark.parametrize(
    ("record", "match"),
    [
        (make_scalar(value=math.nan), "value"),
        (make_scalar(asset_id="a" * 129), "asset_id"),
        (make_scalar(timestamp=datetime(2024, 5, 1)), "naive"),  # noqa: DTZ001
        (make_event(kind="explode"), "kind"),
        (make_frame(samples=np.array([np.inf], dtype=np.float32)), "samples"),
    ],
)
def test_json_encoders_refuse(record: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        codec.encode_json(record)


def test_to_json_dict_unknown_type() -> None:
    with pytest.raises(TypeError, match="no JSON contract for DecodeError"):
        codec.to_json_dict(DecodeError("x", "y", b""))  # type: ignore[arg-type]
