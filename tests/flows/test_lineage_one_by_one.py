"""A Kafka column piece judged sample by sample keeps its offsets in the window lineage (round 21).

The block builder (a sample of the piece may be late) and the clock gate (a sample jumped ahead
or behind) judge such a piece's samples one by one; the samples know no offsets, so each window
they feed gets an input mark instead. Before, those records dropped out of ``inputs`` (the
digest fleet's asset-001 showed 20532-20984 for a window whose records span 20532-21596).
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from bytewax.testing import TestingSource, run_main

from flows import codec
from flows.app.outputs import STREAMS, local_outputs
from flows.config.pipeline import PipelineConfig
from flows.dataflow.blocks import BlockBuilder
from flows.dataflow.clock_gate import ClockGate
from flows.dataflow.items import DeadLetter, InputMark, RawRun, ScalarBlock, ScalarColumns, kafka_origin
from flows.dataflow.lineage import window_inputs
from flows.dataflow.located import LocatedSample
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.pipeline import get_flow
from twin_models.records import EPOCH, InputSpan, ScalarSample

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T0_US = (T0 - EPOCH) // timedelta(microseconds=1)
ORIGIN = kafka_origin("t.scalars", 0)
CHANNELS = ("temp", "pres")


def _piece(seconds: list[float], first: int = 100, channel: int | None = None) -> ScalarColumns:
    """Samples at these seconds (channels alternating, or all ``channel``) at offsets ``first``..."""
    us = np.array([T0_US + int(s * 1e6) for s in seconds], dtype=np.int64)
    idx = np.array([k % 2 if channel is None else channel for k in range(len(seconds))], dtype=np.int16)
    pos = np.arange(first, first + len(seconds), dtype=np.int64)
    return ScalarColumns.of("pump-1", us, idx, CHANNELS, np.arange(len(seconds), dtype=np.float64),
                            ORIGIN, pos)


def _window_of(item: Any, window_s: float) -> int:
    return (item.timestamp - T0) // timedelta(seconds=window_s)


def _by_window(out: list[Any], window_s: float,
               late: frozenset[int] | set[int] = frozenset()) -> dict[int, tuple[InputSpan, ...]]:
    """The inputs each window gets from ``out`` (items at indices ``late`` dropped as late)."""
    groups: dict[int, list[Any]] = defaultdict(list)
    for k, item in enumerate(out):
        if k not in late:
            groups[_window_of(item, window_s)].append(item)
    return {w: window_inputs(items) for w, items in groups.items()}


def _records(out: list[Any]) -> list[ScalarSample]:
    return [s for x in out if not isinstance(x, InputMark)
            for s in (x.samples if isinstance(x, ScalarBlock | ScalarColumns) else (x,))]


def _late_pieces(out: list[Any]) -> list[tuple[int, list[int]]]:
    """(second, positions) of the one-sample pieces the builder made of samples that may be late."""
    return [(x.timestamp.second, x.positions.tolist()) for x in out
            if isinstance(x, ScalarColumns) and len(x) == 1]


def test_the_builder_marks_each_window_of_a_piece_with_a_late_sample() -> None:
    builder = BlockBuilder(60.0, timedelta(seconds=10), lambda: EPOCH)
    builder([ScalarSample("pump-1", "temp", T0 + timedelta(seconds=50), 0.0)])  # watermark 40 s
    # offsets 100..107: 45 s (on time), 30 s (late: before the watermark), 55, 58 s, then window 1
    piece = _piece([45, 30, 55, 58, 61, 62, 63, 64])
    out = builder([piece])
    assert [s.timestamp for s in _records(out)] == [s.timestamp for s in piece.samples]  # order kept
    marks = [x for x in out if isinstance(x, InputMark)]
    assert [(m.first, m.last) for m in marks] == [(100, 103), (104, 107)]
    # the late one alone, with its own offset; the on-time 45 s before it, a run of one, is a
    # piece with its offset too (round 24: a run of located samples leaves as a piece)
    assert _late_pieces(out) == [(45, [100]), (30, [101])]
    for mark in marks:  # right before a record at its own time: it moves no watermark that one does not
        after = out[out.index(mark) + 1]
        assert _records([after])[0].timestamp == mark.timestamp
    watermark = T0 + timedelta(seconds=40)
    late = {k for k, x in enumerate(out) if x.timestamp < watermark}  # the late sample's piece
    assert _by_window(out, 60.0, late) == {0: (InputSpan(ORIGIN, 100, 103),),
                                           1: (InputSpan(ORIGIN, 104, 107),)}


def test_the_builder_puts_a_window_s_mark_before_its_first_sample_on_time() -> None:
    builder = BlockBuilder(60.0, timedelta(seconds=10), lambda: EPOCH)
    builder([ScalarSample("pump-1", "temp", T0 + timedelta(seconds=50), 0.0)])  # watermark 40 s
    out = builder([_piece([20, 45, 46])])  # 20 s is late: the window's mark goes with 45 s, not with it
    assert [(type(x).__name__, x.timestamp.second) for x in out] == [
        ("ScalarColumns", 20), ("InputMark", 45), ("ScalarColumns", 46)]  # the run: a piece (round 24)
    assert [(x.first, x.last) for x in out if isinstance(x, InputMark)] == [(101, 102)]
    assert _late_pieces(out) == [(20, [100])]
    assert _by_window(out, 60.0, {0}) == {0: (InputSpan(ORIGIN, 101, 102),)}


def test_a_located_sample_late_first_in_its_window_keeps_the_others_offsets() -> None:
    # round 21's corner: the clock gate (limit 60 s) admits a sample 25 s behind the front, late
    # in the window step (allowed lateness 10 s), as the batch's first sample of its window; its
    # window's mark must not go (and be dropped) with it
    builder = BlockBuilder(60.0, timedelta(seconds=10), lambda: EPOCH)
    builder([ScalarSample("pump-1", "temp", T0 + timedelta(seconds=100), 0.0)])  # watermark 90 s
    samples = [ScalarSample("pump-1", CHANNELS[k % 2], T0 + timedelta(seconds=t), 1.0)
               for k, t in enumerate((75, 101, 102, 121))]
    out = builder([LocatedSample(s, ORIGIN, 300 + k) for k, s in enumerate(samples)])
    assert [(type(x).__name__, x.timestamp.second) for x in out] == [
        ("ScalarColumns", 15), ("InputMark", 41), ("ScalarColumns", 42), ("InputMark", 1),
        ("ScalarColumns", 1)]
    assert _late_pieces(out) == [(15, [300]), (1, [303])]  # the late one, and the run of one at 121 s
    assert _by_window(out, 60.0, {0}) == {1: (InputSpan(ORIGIN, 301, 302),),
                                          2: (InputSpan(ORIGIN, 303, 303),)}
    assert _records(out) == samples


def _gate() -> ClockGate:
    return ClockGate(10.0, 60.0, PipelineMetrics(), lambda: T0)


def _located(out: list[Any]) -> list[tuple[int, int]]:
    """(second of the minute, position) of the located samples the gate admitted."""
    return [(x.sample.timestamp.second, x.position) for x in out if isinstance(x, LocatedSample)]


def test_the_clock_gate_passes_the_samples_of_a_piece_it_judges_one_by_one_with_their_offsets() -> None:
    gate = _gate()
    gate([_piece([0, 1], first=10)])  # the asset's front: 1 s, both channels live
    # offsets 100..105: a pres record 2 h ahead (held, then rejected), the rest on time across two windows
    piece = _piece([50, 7251, 58, 59, 61, 62])
    out = gate([piece])
    assert [type(x).__name__ for x in out].count("DeadLetter") == 1
    assert not any(isinstance(x, ScalarSample | InputMark) for x in out)
    assert _located(out) == [(50, 100), (58, 102), (59, 103), (1, 104), (2, 105)]
    assert not gate.located


def test_a_sample_the_clock_gate_holds_keeps_its_offset_when_confirmed() -> None:
    gate = _gate()
    gate([_piece([0, 1], first=10)])
    assert gate([_piece([70], first=200, channel=0)]) == []  # temp 69 s ahead of the front: held
    assert len(gate.located) == 1
    out = gate([_piece([30, 31], first=300, channel=1)])  # pres at 30 s confirms it: admitted first
    assert [type(x).__name__ for x in out] == ["LocatedSample"] * 3
    assert _located(out) == [(10, 200), (30, 300), (31, 301)]
    assert not gate.located


def test_a_sample_the_clock_gate_rejects_leaves_no_mark() -> None:
    gate = _gate()
    gate([_piece([0, 1], first=10)])
    gate([_piece([7200], first=200, channel=0)])  # temp 2 h ahead: held
    piece = _piece([30, 31], first=300, channel=1)
    out = gate([piece])  # pres on time contradicts it: rejected; the piece goes whole again
    assert [x.reason for x in out if isinstance(x, DeadLetter)] == ["clock_skew"]
    assert piece in out and not any(isinstance(x, InputMark | ScalarSample | LocatedSample) for x in out)
    assert not gate.located


# --- the whole flow, Kafka runs of 2 pumps x 2 channels at 1 Hz with a late and a jumped record

CFG = PipelineConfig(clock="data", window_s=60.0, allowed_lateness_s=10.0)
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _run(runs: list[RawRun]) -> tuple[Any, PipelineMetrics]:
    """The flow's outputs (and metrics) on these runs, one per batch."""
    metrics = PipelineMetrics()
    sinks, out = local_outputs(CFG, metrics, collect=STREAMS)
    run_main(get_flow(CFG, source=TestingSource(runs, batch_size=1), sinks=sinks, metrics=metrics,
                      now=lambda: NOW))
    return out, metrics


def _assert_inputs(features: list[Any], feeds: dict[tuple[str, int], list[int]]) -> None:
    """Every window's ``inputs``: the min..max offset of the records that fed it (and their count)."""
    for fv in features:
        offsets = feeds[(fv.asset_id, (fv.window_start - T0) // timedelta(seconds=60))]
        assert fv.n_records == len(offsets)
        assert fv.inputs == (InputSpan(kafka_origin("t.scalars", 0), min(offsets), max(offsets)),), (
            fv.asset_id, fv.window_start)


def _messages() -> tuple[list[bytes], dict[tuple[str, int], list[int]]]:
    """Payloads in offset order; the offsets of the records that feed each (asset, window)."""
    out: list[bytes] = []
    feeds: dict[tuple[str, int], list[int]] = defaultdict(list)
    for t in range(1200):
        ts = T0 + timedelta(seconds=t)
        for a in range(2):
            for channel in CHANNELS:
                feeds[(f"pump-{a}", t // 60)].append(len(out))
                out.append(codec.encode_scalar(ScalarSample(f"pump-{a}", channel, ts, float(t % 7), "")))
        if t % 97 == 50:  # 40 s behind: late (its window is another's, or behind the watermark)
            old = (ts - timedelta(seconds=40)).strftime("%Y-%m-%dT%H:%M:%SZ")
            out.append(json.dumps({"type": "scalar", "asset_id": "pump-0", "channel": "temp",
                                   "timestamp": old, "value": 1.0}).encode())
        if t % 131 == 70:  # 3 h ahead: held by the clock gate, then rejected
            ahead = (ts + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
            out.append(json.dumps({"type": "scalar", "asset_id": "pump-1", "channel": "pres",
                                   "timestamp": ahead, "value": 1.0}).encode())
    return out, feeds


def test_every_window_names_the_offsets_of_the_records_that_fed_it() -> None:
    msgs, feeds = _messages()
    runs = [RawRun("t.scalars", 0, tuple(range(k, min(k + 300, len(msgs)))), tuple(msgs[k:k + 300]))
            for k in range(0, len(msgs), 300)]
    out, metrics = _run(runs)
    reasons = sorted(d.reason for d in out.dead_letters)
    assert reasons.count("late_record") == 12 and reasons.count("clock_skew") == 9, reasons
    assert len(out.features) == 40
    _assert_inputs(out.features, feeds)

    # round 22: a late sample of a Kafka piece names its offset in its dead letter, as other Kafka
    # dead letters do (flows/codec/dead_letters.py)
    late_at = {dict(d.headers)["source.offset"] for d in out.dead_letters if d.reason == "late_record"}
    assert late_at == {str(k) for k, m in enumerate(msgs) if b'"value": 1.0' in m and b"pump-0" in m}
    assert all(dict(d.headers)["source.topic"] == "t.scalars" and dict(d.headers)["source.partition"] == "0"
               for d in out.dead_letters if d.reason == "late_record")
    # and a rejected one (clock_skew) names its offset too
    ahead = {str(k) for k, m in enumerate(msgs) if b'"value": 1.0' in m and b"pump-1" in m}
    assert {dict(d.headers)["source.offset"] for d in out.dead_letters if d.reason == "clock_skew"} == ahead


def _corner_messages() -> tuple[list[bytes], list[int], dict[tuple[str, int], list[int]], list[int]]:
    """Payloads in offset order, where runs must start, the offsets that feed each (asset, window),
    and the late records' offsets. At 40 s into every other window a run starts with a pump-1
    record 25 s old (within the clock gate's 60-s limit, late in the window step: allowed
    lateness 10 s) and one 3 h ahead (so the gate judges pump-1's piece sample by sample): the
    late record is the batch's first sample of its window, whose last 20 s follow it."""
    out: list[bytes] = []
    starts: list[int] = [0]
    late: list[int] = []
    feeds: dict[tuple[str, int], list[int]] = defaultdict(list)
    stamp = lambda t: (T0 + timedelta(seconds=t)).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    for t in range(1200):
        if t % 120 == 100:
            starts.append(len(out))
            late.append(len(out))
            out.append(json.dumps({"type": "scalar", "asset_id": "pump-1", "channel": "temp",
                                   "timestamp": stamp(t - 25), "value": 1.0}).encode())
            out.append(json.dumps({"type": "scalar", "asset_id": "pump-1", "channel": "pres",
                                   "timestamp": stamp(t + 3 * 3600), "value": 1.0}).encode())
        for a in range(2):
            for channel in CHANNELS:
                feeds[(f"pump-{a}", t // 60)].append(len(out))
                out.append(codec.encode_scalar(ScalarSample(f"pump-{a}", channel, T0 + timedelta(seconds=t),
                                                            float(t % 7), "")))
    return out, starts, feeds, late


def test_a_late_first_sample_of_a_window_drops_none_of_its_window_s_offsets() -> None:
    msgs, starts, feeds, late = _corner_messages()
    bounds = sorted({*starts, *range(0, len(msgs), 300), len(msgs)})
    runs = [RawRun("t.scalars", 0, tuple(range(a, b)), tuple(msgs[a:b]))
            for a, b in zip(bounds, bounds[1:], strict=False)]
    out, metrics = _run(runs)
    reasons = sorted(d.reason for d in out.dead_letters)
    assert reasons.count("late_record") == len(late) == 10 and reasons.count("clock_skew") == 10, reasons
    assert sorted(int(dict(d.headers)["source.offset"]) for d in out.dead_letters
                  if d.reason == "late_record") == late
    assert len(out.features) == 40
    _assert_inputs(out.features, feeds)
    assert len(out.state) == 40
    for snap in out.state:  # the state's lineage is its window's
        offsets = feeds[(snap.asset_id, (snap.window_start - T0) // timedelta(seconds=60))]
        assert snap.lineage is not None
        assert snap.lineage.inputs == (InputSpan(kafka_origin("t.scalars", 0), min(offsets), max(offsets)),)


def test_the_arrival_check_s_fallback_keeps_the_offsets_of_a_piece_it_judges_one_by_one() -> None:
    # a real-time stream (Kafka timestamps at the pace of event time) of 3 pumps; pump-1's whole
    # clock jumps 2 h ahead for a minute: the arrival check judges its pieces sample by sample
    # (the one where the jump starts holds samples on time and ahead), admits those on time and
    # rejects the others (clock_skew, with their offsets)
    msgs: list[bytes] = []
    arrivals: list[int] = []
    feeds: dict[tuple[str, int], list[int]] = defaultdict(list)
    jumped: list[int] = []
    for t in range(900):
        for a in range(3):
            for channel in CHANNELS:
                shift = timedelta(hours=2) if a == 1 and 400 <= t < 460 else timedelta(0)
                (jumped if shift else feeds[(f"pump-{a}", t // 60)]).append(len(msgs))
                msgs.append(codec.encode_scalar(ScalarSample(f"pump-{a}", channel,
                                                             T0 + timedelta(seconds=t) + shift, 1.0 + a, "")))
                arrivals.append(1_790_000_000_000 + 1000 * t + 400)  # sent in true time, 0.4 s lag
    runs = [RawRun("t.scalars", 0, tuple(range(k, min(k + 57, len(msgs)))), tuple(msgs[k:k + 57]),
                   tuple(arrivals[k:k + 57])) for k in range(0, len(msgs), 57)]
    out, metrics = _run(runs)
    assert metrics.value("twin_arrival_check", {"partition": "0", "state": "real_time"}) == 1.0
    assert [d.reason for d in out.dead_letters] == ["clock_skew"] * len(jumped) == ["clock_skew"] * 120
    assert all("ahead of the time at which it arrived" in d.detail for d in out.dead_letters)
    assert [int(dict(d.headers)["source.offset"]) for d in out.dead_letters] == jumped
    assert len(out.features) == 45
    _assert_inputs(out.features, feeds)


def test_located_samples_with_units_leave_as_a_piece_that_keeps_units_and_offsets() -> None:
    # round 34 (USER34): a run of located samples carrying a unit left as a block, so the window
    # step's late_record dead letters of those samples had no source.* headers (7,940 of 38,397
    # late records of a 2-process run resumed after kill -9)
    builder = BlockBuilder(60.0, timedelta(seconds=10), lambda: EPOCH)
    builder([ScalarSample("pump-1", "temp", T0 + timedelta(seconds=50), 0.0, "degC")])  # watermark 40 s
    samples = [ScalarSample("pump-1", ch, T0 + timedelta(seconds=t), float(t), unit)
               for ch, t, unit in (("temp", 45, "degC"), ("pres", 46, "bar"), ("temp", 47, "degC"))]
    out = builder([LocatedSample(s, ORIGIN, 500 + k) for k, s in enumerate(samples)])
    pieces = [x for x in out if isinstance(x, ScalarColumns)]
    assert [(p.positions.tolist(), p.units) for p in pieces] == [([500, 501, 502], ("degC", "bar"))]
    assert _records(out) == samples  # the units come back with the samples
    assert not any(isinstance(x, ScalarBlock) for x in out)


def test_a_channel_whose_unit_changes_within_a_run_stays_a_block() -> None:
    builder = BlockBuilder(60.0, timedelta(seconds=10), lambda: EPOCH)
    builder([ScalarSample("pump-1", "temp", T0 + timedelta(seconds=50), 0.0)])
    samples = [ScalarSample("pump-1", "temp", T0 + timedelta(seconds=t), 1.0, unit)
               for t, unit in ((45, "degC"), (46, "K"))]
    out = builder([LocatedSample(s, ORIGIN, 600 + k) for k, s in enumerate(samples)])
    assert [type(x).__name__ for x in out] == ["InputMark", "ScalarBlock"]
    assert _records(out) == samples
