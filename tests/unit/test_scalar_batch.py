"""Decoding a run of scalar JSON records as columns gives exactly what the per-record fast path gives,
or says "not sure" (None) as soon as one record is one the per-record fast path would not take."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import numpy as np

from flows import codec
from flows.dataflow.admission import MAX_ABS_SCALAR, MAX_TIMESTAMP, MIN_TIMESTAMP
from twin_models.records import EPOCH, ScalarSample

NOW = datetime(2026, 6, 1, tzinfo=UTC)
LIMIT = NOW + timedelta(seconds=300)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _good(rng: random.Random, k: int) -> bytes:
    ts = T0 + timedelta(seconds=k // 6, microseconds=rng.choice((0, 250_000, 1)))
    rec = ScalarSample(f"pump-{rng.randrange(4)}", rng.choice(("temp", "pres", "rpm")), ts,
                       round(rng.gauss(50, 10), 4), "")
    return codec.encode_scalar(rec)


def _doc(**kw: object) -> bytes:
    doc = {"type": "scalar", "asset_id": "pump-1", "channel": "temp", "timestamp": "2026-01-01T00:00:00Z",
           "value": 1.5, **kw}
    return json.dumps(doc).encode()


ODD = [
    b"{not json", b"", b" " + _doc(), b"[1, 2]", _doc(value=5), _doc(value=True),
    _doc(value=1e39), _doc(value=1e18), _doc(unit="degC"), _doc(extra=1), _doc(type="event"),
    _doc(asset_id="p\u00fcmp"), _doc(asset_id=""), _doc(asset_id="x" * 129), _doc(channel=["a"]),
    _doc(timestamp="2100-01-01T00:00:00Z"), _doc(timestamp="2026-01-01 00:00:00"), _doc(timestamp=5),
    b'{"type":"scalar","asset_id":"pump-1","channel":"temp","timestamp":"2026-01-01T00:00:00Z","value":NaN}',
    b'{"type":"scalar","asset_id":"pump-1","channel":"temp","timestamp":"2026-01-01T00:00:00Z"}',
]


def _columns(payloads: list[bytes]) -> codec.JsonColumns | None:
    return codec.scalar_columns_from_json(payloads, LIMIT, MIN_TIMESTAMP, MAX_TIMESTAMP, MAX_ABS_SCALAR)


def _samples(cols: codec.JsonColumns) -> list[ScalarSample]:
    return [ScalarSample(cols.assets[a], cols.channels[c], EPOCH + timedelta(microseconds=t), v, "")
            for a, c, t, v in zip(cols.asset_code.tolist(), cols.channel_idx.tolist(), cols.times_us.tolist(),
                                  cols.values.tolist(), strict=True)]


def test_a_run_of_plain_records_gives_the_per_record_samples_in_order() -> None:
    rng = random.Random(3)
    payloads = [_good(rng, k) for k in range(600)]
    payloads += [_doc(unit=""), _doc()]  # an empty unit, written or not, is a plain record
    cols = _columns(payloads)
    assert cols is not None
    assert _samples(cols) == [codec.scalar_from_json(p, LIMIT) for p in payloads]
    assert cols.times_us.dtype == np.int64 and cols.values.dtype == np.float64


def test_one_unusual_record_makes_the_whole_run_not_sure() -> None:
    rng = random.Random(4)
    for odd in ODD:
        payloads = [_good(rng, k) for k in range(50)]
        payloads.insert(rng.randrange(len(payloads)), odd)
        assert _columns(payloads) is None, odd
        assert _columns([odd]) is None, odd


def test_none_exactly_when_the_per_record_fast_path_or_the_admission_would_not_take_one() -> None:
    rng = random.Random(5)
    for _ in range(300):
        n = rng.randrange(1, 40)
        payloads = [_good(rng, k) if rng.random() > 0.03 else rng.choice(ODD) for k in range(n)]
        singles = [codec.scalar_from_json(p, LIMIT) for p in payloads]
        takes = all(s is not None and s.unit == "" and abs(s.value) <= MAX_ABS_SCALAR for s in singles)
        cols = _columns(payloads)
        assert (cols is not None) == takes
        if cols is not None:
            assert _samples(cols) == singles


def test_a_timestamp_past_the_limit_or_outside_the_admission_range_is_not_sure() -> None:
    assert _columns([_doc(timestamp="2026-06-01T00:05:00Z")]) is not None  # at the limit
    assert _columns([_doc(timestamp="2026-06-01T00:05:00.000001Z")]) is None
    assert _columns([_doc(timestamp="1600-01-01T00:00:00Z")]) is None
    assert _columns([_doc(value=-1e17)]) is not None
    assert codec.scalar_columns_from_json([_doc(value=2.0)], LIMIT, MIN_TIMESTAMP, MAX_TIMESTAMP, 1.0) is None
