"""The decode step's fast path for plain scalars never changes a verdict (issue 10, part SCALAR2).

:mod:`flows.codec.fast_scalar` accepts or says "not sure"; the batch decode step
(:mod:`flows.dataflow.decode_batch`) must give, record for record, what the per-record decoder
gives: the same record (equal, same value type) or the same dead letter (reason, detail, bytes,
source, headers), and the same counters.
"""

from __future__ import annotations

import json
import random
import struct
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from flows.codec import decode_record, decode_telemetry, encode_scalar, plain_scalar, scalar_from_json
from flows.dataflow.decode_batch import decode_batch
from flows.dataflow.guard import guard_map
from flows.dataflow.items import DeadLetter, RawRecord
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.operators import Decoder
from twin_models.records import ScalarSample

NOW = datetime(2026, 3, 1, tzinfo=UTC)
LIMIT = NOW + timedelta(days=1)
T = "2026-02-01T12:00:00.123456Z"
PLAIN = {"type": "scalar", "asset_id": "pump-1", "channel": "temperature", "timestamp": T,
         "value": 41.5, "unit": "degC"}

# one change each to a plain record: the fast path must accept it exactly as the decoder does, or
# leave it to the decoder
VARIANTS: list[dict[str, Any]] = [
    {}, {"unit": ""}, {"unit": None}, {"unit": 3}, {"unit": "u" * 32}, {"unit": "u" * 33}, {"unit": "°C"},
    {"value": 41}, {"value": True}, {"value": None}, {"value": "1.0"}, {"value": 1e308}, {"value": -0.0},
    {"value": 2e38}, {"value": -1e38}, {"value": 10**400}, {"value": 5e-324},
    {"asset_id": ""}, {"asset_id": "a" * 128}, {"asset_id": "a" * 129}, {"asset_id": "pümp"},
    {"asset_id": 7}, {"asset_id": "a/b"}, {"asset_id": ".."}, {"asset_id": "p\x1b[2J"},
    {"asset_id": "p\u202e"},
    {"channel": ""}, {"channel": "c" * 129}, {"channel": ["x"]},
    {"timestamp": "2026-02-01T12:00:00Z"}, {"timestamp": "2026-02-01T12:00:00.5+00:00"},
    {"timestamp": "2026-02-01T12:00:00"}, {"timestamp": "2026-02-30T12:00:00Z"},
    {"timestamp": "2026-03-02T00:00:00.000001Z"}, {"timestamp": "2026-03-02T00:00:00Z"},
    {"timestamp": "1600-01-01T00:00:00Z"}, {"timestamp": "2300-01-01T00:00:00Z"},
    {"timestamp": 1700000000}, {"type": "event"}, {"type": "Scalar"}, {"extra": 1},
]
DROPS = ["unit", "value", "asset_id", "channel", "timestamp", "type"]


def _payloads() -> list[bytes]:
    out = []
    for change in VARIANTS:
        doc = {**PLAIN, **change}
        out.append(json.dumps(doc, ensure_ascii=False).encode())
    for key in DROPS:
        out.append(json.dumps({k: v for k, v in PLAIN.items() if k != key}).encode())
    plain = json.dumps(PLAIN).encode()
    out += [b" " + plain, plain + b" ", b"[1]", b"{", b"{}", b"", b"TWF\x01", b'{"value": NaN}',
            plain.replace(b"41.5", b"NaN"), plain.replace(b"41.5", b"Infinity"), b"\xff{",
            plain.replace(b'"pump-1"', b'"\\ud800"'), plain[:-1] + b', "unit": "x"}',
            plain.replace(b'"pump-1"', b'"pump-\xed\xa0\x80"'), plain.replace(b'"pump-1"', b'"pump\t1"'),
            plain.replace(b"41.5", b"1180591620717411303424"), plain.replace(b"41.5", b"1e400"),
            plain.replace(b"41.5", b"9.999999999999999e17"), plain.replace(b"41.5", b"1e18"),
            b"{\x00", plain.replace(b"41.5", b"4.15e1"), plain.replace(b"41.5", b"-0.0")]
    return out


def test_orjson_reads_the_floats_json_reads() -> None:
    """The fast path parses with orjson, the decoder with json: every float the fast path can
    take must come out the same (random bit patterns, decimal strings, exponents)."""
    rng = random.Random(5)
    texts = [repr(struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]) for _ in range(20000)]
    texts += [f"{rng.uniform(-1e3, 1e3):.{rng.randint(0, 20)}f}" for _ in range(20000)]
    texts += [f"{rng.randint(1, 9)}.{rng.getrandbits(60)}e{rng.randint(-330, 17)}" for _ in range(20000)]
    for text in texts:
        if text in ("nan", "inf", "-inf"):
            continue
        raw = b'{"v":' + text.encode() + b"}"
        assert repr(orjson.loads(raw)["v"]) == repr(json.loads(raw)["v"]), text


def _same(a: object, b: object) -> bool:
    if isinstance(a, ScalarSample) and isinstance(b, ScalarSample):
        return a == b and type(a.value) is type(b.value) and a.timestamp.tzinfo is b.timestamp.tzinfo
    return a == b


@pytest.mark.parametrize("payload", _payloads())
def test_the_json_fast_path_accepts_only_what_the_decoder_accepts_and_as_it_does(payload: bytes) -> None:
    fast = scalar_from_json(payload, LIMIT)
    slow = decode_telemetry(payload, now=NOW, max_future_s=86400.0)
    if fast is not None:
        assert _same(fast, slow), (fast, slow)


def test_the_json_fast_path_takes_plain_records() -> None:
    s = scalar_from_json(json.dumps(PLAIN).encode(), LIMIT)
    assert s == ScalarSample("pump-1", "temperature", datetime(2026, 2, 1, 12, 0, 0, 123456, tzinfo=UTC),
                             41.5, "degC")


TS = datetime(2026, 2, 1, 12, 0, 0, 123456, tzinfo=UTC)
RECORDS = [
    ScalarSample("pump-1", "temperature", TS, 41.5, "degC"),
    ScalarSample("pump-1", "temperature", TS, 41, ""),
    ScalarSample("pump-1", "temperature", TS, float("inf")),
    ScalarSample("pump-1", "temperature", TS, 3e38),
    ScalarSample("pümp", "temperature", TS, 1.0),
    ScalarSample("pump-1", "", TS, 1.0),
    ScalarSample("pump-1", "t", TS.astimezone(timezone(timedelta(hours=2))), 1.0),
    ScalarSample("pump-1", "t", TS.replace(fold=1), 1.0),
    ScalarSample("pump-1", "t", NOW + timedelta(days=2), 1.0),
    ScalarSample("pump-1", "t", datetime(1500, 1, 1, tzinfo=UTC), 1.0),
]


@pytest.mark.parametrize("rec", RECORDS)
def test_the_record_fast_path_accepts_only_what_the_round_trip_keeps_unchanged(rec: ScalarSample) -> None:
    fast = plain_scalar(rec, LIMIT)
    try:
        slow: object = decode_record(rec, now=NOW, max_future_s=86400.0)
    except ValueError as exc:  # the encoder refuses it: the fast path must not take it
        slow = exc
    if fast is not None:
        assert _same(fast, slow), (fast, slow)
    # the codec takes 3e38 and the year 1500 (admission refuses them later, on the fast path too)
    assert (fast is not None) == any(rec is RECORDS[i] for i in (0, 3, 9))


def _raws(rng: random.Random) -> list[RawRecord]:
    payloads = _payloads()
    out = []
    for i in range(400):
        kind = rng.random()
        src = rng.choice(["scalars", "other"])
        if kind < 0.6:
            s = ScalarSample(f"pump-{i % 7}", "temperature", TS + timedelta(seconds=i), rng.gauss(50, 5))
            out.append(RawRecord(src, encode_scalar(s), (("source.offset", str(i)),)))
        elif kind < 0.8:
            out.append(RawRecord(src, rng.choice(payloads), (("source.offset", str(i)),)))
        else:
            out.append(RawRecord("replay.csv", b"", (), rng.choice(RECORDS)))
    return out


def _decoder() -> tuple[Decoder, PipelineMetrics]:
    m = PipelineMetrics(CollectorRegistry())
    return Decoder(m, max_future_s=86400.0, now=lambda: NOW), m


def _counts(m: PipelineMetrics) -> dict[str, float]:
    return {f"{s.name}{sorted(s.labels.items())}": s.value for metric in m.registry.collect()
            for s in metric.samples if s.name.endswith("_total")}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_batch_decode_step_gives_what_the_per_record_decoder_gives(seed: int) -> None:
    raws = _raws(random.Random(seed))
    one, m1 = _decoder()
    per_record = [guard_map("decode", one, m1, lambda: NOW)(r) for r in raws]
    batched, m2 = _decoder()
    step = decode_batch(batched, guard_map("decode", batched, m2, lambda: NOW))
    out = [x for i in range(0, len(raws), 64) for x in step(raws[i:i + 64])]
    assert len(out) == len(per_record)
    for a, b in zip(out, per_record, strict=True):
        if isinstance(b, DeadLetter):
            assert a == b  # reason, detail, source, bytes, time, headers
        else:
            assert _same(a, b), (a, b)
    assert sum(isinstance(x, DeadLetter) for x in out) > 10  # the sample holds refusals
    assert _counts(m1) == _counts(m2)
