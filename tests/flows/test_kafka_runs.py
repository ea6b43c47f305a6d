"""The Kafka source hands the decode step runs of one topic's messages (RawRun), and a run of plain
scalar records is decoded as column pieces: the flow's outputs are those of the messages one by one
(features bit for bit, states, alerts, dead letters with their reason, detail, bytes and headers)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from bytewax.testing import TestingSource, run_main

from flows import codec
from flows.app.outputs import STREAMS, local_outputs
from flows.config.pipeline import PipelineConfig
from flows.dataflow.decode_batch import decode_batch
from flows.dataflow.event_time_gate import EventTimeGate
from flows.dataflow.guard import guard_map
from flows.dataflow.items import DeadLetter, RawRecord, RawRun, ScalarColumns, source_headers
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.operators import Decoder
from flows.dataflow.pipeline import get_flow
from tests.flows.conftest import Outputs, assert_same_states_alerts_and_dead_letters
from tests.flows.test_kafka_source_idle import _partition
from tests.kafka_fakes import StampedMessage
from twin_models.records import AssetEvent, ScalarSample

CFG = PipelineConfig(clock="data", window_s=60.0, allowed_lateness_s=120.0)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 6, 1, tzinfo=UTC)
SCALARS, EVENTS = "t.scalars", "t.events"


def _bad(t: int) -> bytes | None:
    """The bad records among the scalars (by second)."""
    stamp = (T0 + timedelta(seconds=t)).strftime("%Y-%m-%dT%H:%M:%SZ")
    doc = {"type": "scalar", "asset_id": "pump-1", "channel": "temp", "timestamp": stamp, "value": 1.0}
    bad = {300: b"{not json", 400: {"value": 1e39}, 500: {"timestamp": "2100-01-01T00:00:00Z"},
           600: {"asset_id": "p\u00fcmp-3"}, 700: {"value": 5}, 800: {"unit": "degC"}, 900: b"",
           1000: {"timestamp": (T0 + timedelta(seconds=t - 600)).strftime("%Y-%m-%dT%H:%M:%SZ")}}.get(t)
    return bad if bad is None or isinstance(bad, bytes) else json.dumps({**doc, **bad}).encode()


def _messages() -> list[tuple[str, bytes]]:
    """(topic, payload) in order: 3 pumps x 2 channels at 1 Hz for 60 min (a step and drift on pump-2),
    events merged in, bad records and a duplicate among the scalars."""
    out: list[tuple[str, bytes]] = []
    for t in range(3600):
        ts = T0 + timedelta(seconds=t)
        if t in (0, 1200):
            event = AssetEvent("pump-0", ts, "install" if t == 0 else "maintenance")
            out.append((EVENTS, codec.encode_event(event)))
        for a in range(3):
            for c, channel in enumerate(("temp", "pres")):
                drift = 15 + 0.05 * (t - 1500) if a == 2 and t > 2700 else 0.0
                value = round(40.0 + 10 * a + c + drift + ((t * 7 + a * 3 + c) % 11) * 0.1, 3)
                out.append((SCALARS, codec.encode_scalar(ScalarSample(f"pump-{a}", channel, ts, value, ""))))
        if t == 1300:
            out.append(out[-1])
        if (bad := _bad(t)) is not None:
            out.append((SCALARS, bad))
    return out


def _as_records(msgs: list[tuple[str, bytes]]) -> list[RawRecord]:
    return [RawRecord(topic, payload, source_headers(topic, 0, k)) for k, (topic, payload) in enumerate(msgs)]


def _as_runs(msgs: list[tuple[str, bytes]], size: int) -> list[RawRecord | RawRun]:
    """Consecutive messages of a topic as runs of at most ``size`` (a lone one as a RawRecord)."""
    out: list[RawRecord | RawRun] = []
    k = 0
    while k < len(msgs):
        topic = msgs[k][0]
        stop = k
        while stop < len(msgs) and stop - k < size and msgs[stop][0] == topic:
            stop += 1
        if stop - k == 1:
            out.extend(_as_records(msgs)[k:stop])
        else:
            out.append(RawRun(topic, 0, tuple(range(k, stop)), tuple(p for _t, p in msgs[k:stop])))
        k = stop
    return out


def _run(items: list[Any], batch: int) -> tuple[Outputs, PipelineMetrics]:
    metrics = PipelineMetrics()
    sinks, out = local_outputs(CFG, metrics, collect=STREAMS)
    run_main(get_flow(CFG, source=TestingSource(items, batch_size=batch), sinks=sinks, metrics=metrics,
                      now=lambda: NOW))
    return out, metrics


def test_runs_give_the_outputs_of_the_messages_one_by_one() -> None:
    msgs = _messages()
    runs, m_runs = _run(_as_runs(msgs, 500), 1)
    ones, m_ones = _run(_as_records(msgs), 500)
    key = lambda fv: (fv.asset_id, fv.window_start)  # noqa: E731
    a, b = sorted(runs.features, key=key), sorted(ones.features, key=key)
    assert len(a) == 3 * 60 + 1  # + p\u00fcmp-3: the per-record decoder takes its non-ASCII id
    assert [(key(f), f.n_records, f.features) for f in a] == [(key(f), f.n_records, f.features) for f in b]
    assert_same_states_alerts_and_dead_letters(runs, ones, step_asset="pump-2",
                                                step_at=T0 + timedelta(seconds=2700), headers=True)
    assert Counter(d.reason for d in runs.dead_letters) == {
        "invalid_json": 1, "value_out_of_range": 1, "future_timestamp": 1, "truncated": 1, "late_record": 1,
        "duplicate_record": 3}
    # round 17: the message sent twice at t=1300 is an identical copy; the records at t=700 (an int
    # value) and t=800 (a unit) carry pump-1 temp's channel and time, so they conflict with its
    # real readings (before, both paths took them as extra samples)
    copies = sorted(d.detail for d in runs.dead_letters if d.reason == "duplicate_record")
    assert sum("(identical)" in d for d in copies) == 1 and sum("conflicting" in d for d in copies) == 2
    for name in ("twin_records_in_total", "twin_dead_letters_total", "twin_windows_closed_total"):
        assert m_runs.value(name) == m_ones.value(name), name


def _decode_step() -> Any:
    m = PipelineMetrics()
    decoder = Decoder(m, max_future_s=300.0, now=lambda: NOW, metadata={})
    return decode_batch(decoder, guard_map("decode", decoder, m, lambda: NOW))


def test_a_run_of_plain_scalars_is_decoded_as_one_piece_per_asset() -> None:
    msgs = [m for m in _messages()[:1500] if m[0] == SCALARS]  # before the first bad record
    run = RawRun(SCALARS, 0, tuple(range(len(msgs))), tuple(p for _t, p in msgs))
    out = _decode_step()([run])
    assert [type(x) for x in out] == [ScalarColumns] * 3
    one_by_one = _decode_step()(run.records())
    for piece in out:
        assert list(piece.samples) == [s for s in one_by_one if s.asset_id == piece.asset_id]


def test_the_decode_step_notes_the_arrival_times_in_each_piece_s_row_order() -> None:
    msgs = [m for m in _messages()[:1500] if m[0] == SCALARS]
    arrivals = tuple(5_000_000 + 7 * k for k in range(len(msgs)))  # a distinct one per message
    run = RawRun(SCALARS, 2, tuple(range(len(msgs))), tuple(p for _t, p in msgs), arrivals)
    noted: dict[int, Any] = {}
    out = _decode_step()([run], noted)
    singly: dict[int, Any] = {}
    one_by_one = _decode_step()(run.records(), singly)
    by_sample = {(s.asset_id, s.channel, s.timestamp): singly[id(s)] for s in one_by_one}
    assert len(out) == 3 and len(noted) == 3
    for piece in out:
        part, at = noted[id(piece)]
        assert part == "2"
        assert at.tolist() == [by_sample[(s.asset_id, s.channel, s.timestamp)][1] for s in piece.samples]
    assert {v[0] for v in by_sample.values()} == {"2"}
    # a replay's records carry none: nothing is noted
    none: dict[int, Any] = {}
    _decode_step()([RawRun(SCALARS, 2, run.offsets, run.payloads)], none)
    assert none == {}


def test_a_run_with_a_bad_record_is_judged_message_by_message() -> None:
    msgs = [(SCALARS, p) for t, p in _messages() if t == SCALARS][:30] + [(SCALARS, b"{not json")]
    run = RawRun(SCALARS, 3, tuple(range(100, 131)), tuple(p for _t, p in msgs))
    out = _decode_step()([run])
    assert out == _decode_step()(run.records())
    assert isinstance(out[-1], DeadLetter)
    assert dict(out[-1].headers) == {"source.topic": SCALARS, "source.partition": "3", "source.offset": "130"}


class _Run(StampedMessage):
    def value(self) -> bytes:
        return f'{{"offset": {self.offset_}}}'.encode()


def test_the_source_emits_consecutive_messages_of_a_topic_as_one_run() -> None:
    part, broker = _partition(max_idle_s=30.0)
    broker.queue = [_Run("scalars", k, 1000 + k) for k in range(5)] + [_Run("waveforms", 0, 1002)]
    first = part.next_batch()  # waveforms@1002 after scalars 0-2; then waveforms may deliver more
    assert [type(x) for x in first] == [RawRun, RawRecord]
    assert first[0].offsets == (0, 1, 2)
    assert first[0].payloads == (b'{"offset": 0}', b'{"offset": 1}', b'{"offset": 2}')
    # with their arrival clock (the Kafka timestamp: here the event time + 5 ms)
    assert first[0].arrivals_ms == (1005, 1006, 1007)
    # and their Kafka keys (the decode step checks them against the payloads' asset ids)
    assert first[0].keys == (b"asset-0", b"asset-1", b"asset-2")
    assert first[0].records()[1] == RawRecord("scalars", b'{"offset": 1}', source_headers("scalars", 0, 1),
                                              arrival_ms=1006, key=b"asset-1")
    assert first[1] == RawRecord("waveforms", b'{"offset": 0}', source_headers("waveforms", 0, 0),
                                 arrival_ms=1007, key=b"asset-0")
    assert part.snapshot() == {"scalars": 3, "waveforms": 1}
    part.eof["waveforms"] = True  # the end of its partition: the rest of the scalars go at once
    rest = part.next_batch()
    assert [(type(x), x.offsets) for x in rest] == [(RawRun, (3, 4))]
    assert part.snapshot() == {"scalars": 5, "waveforms": 1}


def test_a_record_stamped_ahead_does_not_stall_its_topic_in_the_merge() -> None:
    # scalars: offset 1 is stamped 2 h ahead (its asset's clock jumped), 2-3 are on time again;
    # without lowering, the waveforms topic (1500, 2500) would be merged before scalars 2-3
    part, broker = _partition(max_idle_s=30.0)
    broker.queue = [_Run("scalars", 0, 1000), _Run("scalars", 1, 7_201_000), _Run("scalars", 2, 1001),
                    _Run("scalars", 3, 2000), _Run("waveforms", 0, 1500), _Run("waveforms", 1, 2500)]
    part.eof.update({"scalars": False, "waveforms": False})
    out = part.next_batch()
    part.eof.update({"scalars": True, "waveforms": True})
    out += part.next_batch()
    order = [(x.source, off) for x in out for off in (x.offsets if isinstance(x, RawRun)
                                                       else (int(dict(x.headers)["source.offset"]),))]
    assert order == [("scalars", 0), ("scalars", 1), ("scalars", 2), ("waveforms", 0), ("scalars", 3),
                     ("waveforms", 1)]
    # stamped 2 h BEHIND (offset 2): it lowers nothing before it (scalars 0-1 keep their place
    # after waveforms 0); it is merged early itself
    part, broker = _partition(max_idle_s=30.0)
    broker.queue = [_Run("scalars", 0, 7_200_000), _Run("scalars", 1, 7_202_000), _Run("scalars", 2, 1500),
                    _Run("scalars", 3, 7_203_000), _Run("waveforms", 0, 7_201_000)]
    out = part.next_batch()
    part.eof.update({"scalars": True, "waveforms": True})
    out += part.next_batch()
    order = [(x.source, off) for x in out for off in (x.offsets if isinstance(x, RawRun)
                                                       else (int(dict(x.headers)["source.offset"]),))]
    assert order == [("scalars", 0), ("waveforms", 0), ("scalars", 1), ("scalars", 2), ("scalars", 3)]


def test_a_run_stops_where_the_event_time_gate_holds() -> None:
    gate = EventTimeGate(budget_s=1.0, timeout_s=60.0)
    part, broker = _partition(max_idle_s=30.0)
    part.src.gate = gate
    gate.start()
    gate.report(1, 0.0)  # another partition is at event time 0: this one may go up to 1000 ms
    part.eof["waveforms"] = True
    broker.queue = [_Run("scalars", k, 400 * k) for k in range(6)]
    batch = part.next_batch()
    assert [x.offsets for x in batch] == [(0, 1, 2)]  # 0, 400, 800 ms; 1200 ms waits
    assert part.held and part.snapshot() == {"scalars": 3}
    assert len(part.buffers["scalars"]) == 3


class _Keyed(_Run):
    """A message under a Kafka key shared by several assets (``key_`` None: a null key)."""

    def __init__(self, topic: str, offset: int, ts: int) -> None:
        super().__init__(topic, offset, ts)
        self.key_ = None

    def key(self) -> bytes | None:
        return self.key_


def _gateway(topic: str, offset: int, ts: int) -> _Keyed:
    msg = _Keyed(topic, offset, ts)
    msg.key_ = b"gateway-7"
    return msg


def _merged(part: Any, broker: Any, queue: list[Any]) -> tuple[list[tuple[str, int]], list[Any]]:
    broker.queue = queue
    out = part.next_batch()
    part.eof.update({"scalars": True, "waveforms": True})
    out += part.next_batch()
    order = [(x.source, off) for x in out for off in (x.offsets if isinstance(x, RawRun)
                                                       else (int(dict(x.headers)["source.offset"]),))]
    return order, out


def test_a_key_shared_by_several_assets_lowers_no_run_in_the_merge() -> None:
    # scalars: offsets 1-2 (two assets at 115 s and 170 s) are ahead of offset 3 (100 s), all under one
    # null key: round 14 took them for one asset whose clock jumped and merged them at 100 s, before the
    # waveform at 110 s (their records then came after others stamped later: late_record). A null key
    # names no asset: they keep their own times
    queue = [_Keyed("scalars", 0, 60_000), _Keyed("scalars", 1, 115_000), _Keyed("scalars", 2, 170_000),
             _Keyed("scalars", 3, 100_000), _Keyed("waveforms", 0, 110_000)]
    want = [("scalars", 0), ("waveforms", 0), ("scalars", 1), ("scalars", 2), ("scalars", 3)]
    part, broker = _partition(max_idle_s=30.0)
    assert _merged(part, broker, queue)[0] == want
    # a gateway's key with kafka.partitioning = "any": the keys are not asset ids; none is passed on
    part, broker = _partition(max_idle_s=30.0)
    part.src.asset_keys = False
    order, out = _merged(part, broker, [_gateway(m.topic_, m.offset_, m.ts) for m in queue])
    assert order == want
    assert all(x.keys == () if isinstance(x, RawRun) else x.key is None for x in out)
    # the same key with partitioning asset_id (the default) is one asset: lowered as before
    part, broker = _partition(max_idle_s=30.0)
    order, out = _merged(part, broker, [_gateway(m.topic_, m.offset_, m.ts) for m in queue])
    assert order == [("scalars", 0), ("scalars", 1), ("scalars", 2), ("scalars", 3), ("waveforms", 0)]
    assert out[0].keys[0] == b"gateway-7"
