"""A Kafka message's key must be its payload's asset id (round 14): ``key_asset_mismatch``.

Telemetry topics are keyed by asset id, so an asset's records share one partition. Before, the key
was not carried to the decode step: a record keyed ``pump-1`` whose payload says ``pump-2`` was
processed under pump-2 from pump-1's partition, silently. Now it is a counted dead letter, on the
fast scalar paths too (they defer such records to the per-record decoder); a null key is allowed.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from flows import codec
from flows.dataflow.decode_batch import decode_batch
from flows.dataflow.guard import guard_map
from flows.dataflow.items import DeadLetter, RawRecord, RawRun, ScalarColumns
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.operators import Decoder
from twin_models.records import AssetEvent, ScalarSample

NOW = datetime(2026, 3, 1, tzinfo=UTC)
TS = datetime(2026, 2, 1, 12, tzinfo=UTC)
REASON = "key_asset_mismatch"


def _decoder() -> tuple[Decoder, PipelineMetrics]:
    m = PipelineMetrics(CollectorRegistry())
    return Decoder(m, max_future_s=86400.0, now=lambda: NOW), m


def _dead(m: PipelineMetrics) -> float:
    return m.value("twin_dead_letters_total", {"reason": REASON})


def test_the_reason_is_registered_at_zero() -> None:
    m = PipelineMetrics(CollectorRegistry())
    samples = {s.labels.get("reason"): s.value for f in m.registry.collect() for s in f.samples
               if s.name == "twin_dead_letters_total"}
    assert samples.get(REASON) == 0.0


@pytest.mark.parametrize("payload", [
    codec.encode_scalar(ScalarSample("pump-2", "temperature", TS, 41.5, "degC")),
    codec.encode_event(AssetEvent("pump-2", TS, "install")),
])
def test_a_key_naming_another_asset_is_a_counted_dead_letter(payload: bytes) -> None:
    decoder, m = _decoder()
    out = decoder(RawRecord("t.scalars", payload, (("source.offset", "7"),), key=b"pump-1"))
    assert isinstance(out, DeadLetter) and out.reason == REASON, out
    assert out.detail.startswith("Kafka key 'pump-1' is not the payload's asset_id 'pump-2'"), out.detail
    assert out.raw == payload and out.headers == (("source.offset", "7"),)
    assert _dead(m) == 1
    for key in (b"pump-2", None):  # its own id, or a null key: admitted
        ok = decoder(RawRecord("t.scalars", payload, key=key))
        assert not isinstance(ok, DeadLetter) and ok.asset_id == "pump-2"
    assert _dead(m) == 1


def test_a_long_binary_key_is_shown_bounded() -> None:
    decoder, _m = _decoder()
    key = bytes(range(256)) * 8
    out = decoder(RawRecord("s", codec.encode_scalar(ScalarSample("pump-2", "t", TS, 1.0)), key=key))
    assert isinstance(out, DeadLetter) and out.reason == REASON
    assert "(first 64 of 2048 bytes)" in out.detail and len(out.detail) < 400 and "\n" not in out.detail


def test_a_non_ascii_id_keyed_by_its_utf8_bytes_is_admitted() -> None:
    decoder, _m = _decoder()
    payload = codec.encode_scalar(ScalarSample("pümpe-3", "t", TS, 1.0))
    assert not isinstance(decoder(RawRecord("s", payload, key="pümpe-3".encode())), DeadLetter)


def _raws(rng: random.Random) -> list[RawRecord]:
    """Plain scalars of 5 pumps, keys: mostly their id, some null, some another pump's, some garbage."""
    out = []
    for i in range(600):
        asset = f"pump-{i % 5}"
        s = ScalarSample(asset, "temperature", TS + timedelta(seconds=i), rng.gauss(50, 5))
        key = rng.choices([asset.encode(), None, f"pump-{(i + 1) % 5}".encode(), rng.randbytes(3)],
                          [0.85, 0.05, 0.05, 0.05])[0]
        out.append(RawRecord("t.scalars", codec.encode_scalar(s), (("source.offset", str(i)),), key=key))
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_the_fast_paths_give_what_the_per_record_decoder_gives(seed: int) -> None:
    """Single messages and runs (the source's RawRun) through the batch decode step: the same records and
    dead letters as message by message, and the same count."""
    raws = _raws(random.Random(seed))
    one, m1 = _decoder()
    per_record = [guard_map("decode", one, m1, lambda: NOW)(r) for r in raws]
    bad = [r for r in per_record if isinstance(r, DeadLetter)]
    assert len(bad) > 20 and {d.reason for d in bad} == {REASON}
    singles, m2 = _decoder()
    step = decode_batch(singles, guard_map("decode", singles, m2, lambda: NOW))
    assert [x for i in range(0, len(raws), 64) for x in step(raws[i:i + 64])] == per_record
    assert _dead(m2) == _dead(m1) == len(bad)
    runs, m3 = _decoder()
    step = decode_batch(runs, guard_map("decode", runs, m3, lambda: NOW))
    run_out = []
    for i in range(0, len(raws), 100):
        chunk = raws[i:i + 100]
        run = RawRun("t.scalars", 0, tuple(range(i, i + len(chunk))), tuple(r.payload for r in chunk),
                     (), tuple(r.key for r in chunk))
        run_out.extend(step([run]))
    assert [x.reason for x in run_out if isinstance(x, DeadLetter)] == [d.reason for d in bad]
    assert _dead(m3) == len(bad)
    assert sum(1 for x in run_out if isinstance(x, ScalarSample)) == len(raws) - len(bad)


def test_a_run_whose_keys_all_match_stays_on_the_column_path() -> None:
    samples = [ScalarSample(f"pump-{i % 3}", "t", TS + timedelta(seconds=i), float(i)) for i in range(30)]
    keys = tuple(s.asset_id.encode() if i % 4 else None for i, s in enumerate(samples))
    run = RawRun("t.scalars", 0, tuple(range(30)), tuple(codec.encode_scalar(s) for s in samples), (), keys)
    decoder, m = _decoder()
    out = decode_batch(decoder, guard_map("decode", decoder, m, lambda: NOW))([run])
    assert [type(x) for x in out] == [ScalarColumns] * 3  # one piece per asset: no record deferred


def test_an_empty_key_claims_no_asset_like_a_null_key() -> None:
    """A zero-length key (``kcat -K:`` with nothing before the ':', a console producer with
    parse.key) is partitioned like a null one by librdkafka's default partitioner (consistent_random:
    empty and null keys at random): it names no asset, so the record is admitted, message by message
    and on both fast paths; was a key_asset_mismatch dead letter ``Kafka key ''``."""
    samples = [ScalarSample(f"pump-{i % 2}", "t", TS + timedelta(seconds=i), float(i)) for i in range(6)]
    payloads = [codec.encode_scalar(s) for s in samples]
    decoder, m = _decoder()
    event = codec.encode_event(AssetEvent("pump-2", TS, "install"))
    for p in (*payloads, event):
        assert not isinstance(decoder(RawRecord("t.scalars", p, key=b"")), DeadLetter)
    step = decode_batch(decoder, guard_map("decode", decoder, m, lambda: NOW))
    singles = step([RawRecord("t.scalars", p, key=b"") for p in payloads])
    assert [x.asset_id for x in singles] == [s.asset_id for s in samples]
    run = RawRun("t.scalars", 0, tuple(range(6)), tuple(payloads), (), (b"",) * 6)
    assert [type(x) for x in step([run])] == [ScalarColumns] * 2
    assert _dead(m) == 0
