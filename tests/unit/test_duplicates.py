"""The duplicate rule of the window step (:mod:`flows.dataflow.duplicates`): a record with the
identity of one already in its window (scalar: channel + time; frame: channel + start; event:
kind + time) is a ``duplicate_record`` dead letter, the first copy wins, and the window's
features, ``n_records`` and data-quality figures are those of the records once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from flows.codec import decode_telemetry
from flows.dataflow.duplicates import DUPLICATE_RECORD, may_hold_copies, split_duplicates
from flows.dataflow.items import ClockFlag, DeadLetter, FrameFeatures, InputMark, ScalarBlock, ScalarColumns
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.operators import OpenWindows, make_window_aggregator
from flows.dataflow.window_columns import scalar_columns
from twin_models.records import EPOCH, AssetEvent, FeatureVector, ScalarSample

NOW = datetime(2030, 1, 1, tzinfo=UTC)
WINDOW_S = 900.0
WINDOW_ID = 2_000_000  # 2027
START = EPOCH + WINDOW_ID * timedelta(seconds=WINDOW_S)


def _at(s: float) -> datetime:
    return START + timedelta(seconds=s)


def _samples(asset: str = "p1", channel: str = "temperature", n: int = 6) -> list[ScalarSample]:
    return [ScalarSample(asset, channel, _at(10 * i), 40.0 + i) for i in range(n)]


def _piece(samples: list[ScalarSample], origin: str = "", first: int = 0) -> ScalarColumns:
    channels = tuple(dict.fromkeys(s.channel for s in samples))
    return ScalarColumns.of(
        samples[0].asset_id,
        np.array([(s.timestamp - EPOCH) // timedelta(microseconds=1) for s in samples], dtype=np.int64),
        np.array([channels.index(s.channel) for s in samples], dtype=np.int16), channels,
        np.array([s.value for s in samples], dtype=np.float64), origin,
        np.arange(first, first + len(samples), dtype=np.int64) if origin else None)


def _aggregate(items: list[Any], metrics: PipelineMetrics | None = None,
               asset: str = "p1") -> tuple[FeatureVector, list[DeadLetter]]:
    m = metrics or PipelineMetrics()
    dead: list[DeadLetter] = []
    aggregate = make_window_aggregator(WINDOW_S, m, OpenWindows(WINDOW_S, m), lambda: NOW)
    fv = aggregate(asset, (WINDOW_ID, items), dead)
    return fv, dead


def _same_window(a: FeatureVector, b: FeatureVector) -> None:
    assert dict(a.features) == dict(b.features)
    assert a.n_records == b.n_records and a.events == b.events
    assert getattr(a, "quality", {}) == getattr(b, "quality", {})


def _duplicates(metrics: PipelineMetrics) -> float:
    got = metrics.registry.get_sample_value("twin_dead_letters_total", {"reason": DUPLICATE_RECORD})
    assert got is not None
    return got


def test_an_identical_sample_counts_once() -> None:
    once = _samples()
    twice = [*once, once[2]]
    m = PipelineMetrics()
    fv, dead = _aggregate(twice, m)
    ref, none = _aggregate(once)
    _same_window(fv, ref)
    assert none == [] and fv.n_records == 6
    (d,) = dead
    assert d.reason == DUPLICATE_RECORD and "(identical)" in d.detail and "'temperature'" in d.detail
    assert decode_telemetry(d.raw, now=NOW) == once[2]  # the copy itself, as JSON: replayable
    assert _duplicates(m) == 1


def test_a_conflicting_sample_is_dropped_and_the_first_value_wins() -> None:
    once = _samples()
    other = ScalarSample("p1", "temperature", once[3].timestamp, 99.0)
    fv, dead = _aggregate([*once[:4], other, *once[4:]])
    _same_window(fv, _aggregate(once)[0])
    (d,) = dead
    assert "conflicting: value 99.0, first 43.0" in d.detail
    assert decode_telemetry(d.raw, now=NOW) == other


def test_other_channels_and_times_are_not_duplicates() -> None:
    items: list[Any] = [*_samples(), *_samples(channel="pressure"),
                        ScalarSample("p1", "temperature", _at(10) + timedelta(microseconds=1), 41.0)]
    kept, dead = split_duplicates(items, NOW)
    assert dead == [] and kept is items


def test_the_same_sample_in_another_window_is_no_duplicate() -> None:
    """Each window is judged on its own items: the same channel and offset in the next window, or
    the same sample of another asset (another key, another window), is no duplicate."""
    m = PipelineMetrics()
    aggregate = make_window_aggregator(WINDOW_S, m, OpenWindows(WINDOW_S, m), lambda: NOW)
    later = [ScalarSample("p1", s.channel, s.timestamp + timedelta(seconds=WINDOW_S), s.value)
             for s in _samples()]
    dead: list[DeadLetter] = []
    aggregate("p1", (WINDOW_ID, _samples()), dead)
    aggregate("p1", (WINDOW_ID + 1, later), dead)
    aggregate("p2", (WINDOW_ID, _samples(asset="p2")), dead)
    assert dead == [] and _duplicates(m) == 0


def test_blocks_and_lone_samples_lose_only_their_copies() -> None:
    once = _samples()
    block = ScalarBlock("p1", once[-1].timestamp, tuple(once))
    pressure = ScalarSample("p1", "pressure", _at(5), 1.0)
    again = ScalarBlock("p1", once[4].timestamp, (once[1], pressure, once[4]))
    items: list[Any] = [block, again, once[0]]
    kept, dead = split_duplicates(items, NOW)
    assert len(dead) == 3
    assert kept[0] is block and len(kept) == 2
    assert kept[1].samples == (pressure,)
    assert kept[1].timestamp == _at(5)  # the latest of what it keeps


def test_pieces_are_checked_as_columns() -> None:
    """A Kafka run decoded as columns (a piece) delivered again: every sample of the second
    piece is a duplicate; features as if once. No source headers: a block (the per-record path)
    could not give them, and both paths give the same dead letters."""
    once = [*_samples(), *_samples(channel="pressure")]
    first = _piece(once, "kafka:twin.telemetry.scalar.v1:2", 100)
    second = _piece(once, "kafka:twin.telemetry.scalar.v1:2", 500)
    fv, dead = _aggregate([InputMark("p1", _at(0), "x", 1, 1), first, second])
    ref, _ = _aggregate([first])
    _same_window(fv, ref)
    assert fv.n_records == 12 and len(dead) == 12
    assert all("(identical)" in d.detail and d.headers == () for d in dead)
    assert [decode_telemetry(d.raw, now=NOW) for d in dead] == once  # in arrival order
    block = ScalarBlock("p1", _at(50), tuple(once))
    by_block, dead_blocks = _aggregate([block, block])  # the same copies by the per-record path
    _same_window(by_block, ref)
    letter = lambda d: (d.reason, d.detail, d.raw, d.source, d.headers)  # noqa: E731
    assert list(map(letter, dead_blocks)) == list(map(letter, dead))


def test_a_piece_and_lone_samples_mix_keeps_the_first_in_arrival_order() -> None:
    once = _samples()
    changed = [ScalarSample("p1", s.channel, s.timestamp, s.value + 1) for s in once[:2]]
    items: list[Any] = [once[0], _piece(once), *changed]
    kept, dead = split_duplicates(items, NOW)
    assert len(dead) == 3  # the piece's first sample, then both changed samples
    assert "first 40.0" in dead[1].detail and "(identical)" in dead[0].detail
    assert kept[0] is once[0] and len(kept) == 2
    piece = kept[1]
    assert isinstance(piece, ScalarColumns) and len(piece) == 5
    assert piece.times_us.tolist() == _piece(once[1:]).times_us.tolist()


def test_a_duplicate_inside_one_piece() -> None:
    """A file with a repeated row: the later row goes (positions kept for the others)."""
    once = _samples()
    piece = _piece([*once[:3], once[1], *once[3:]], "file:a.csv", 10)
    kept, dead = split_duplicates([piece], NOW)
    (d,) = dead
    assert d.headers == ()  # no Kafka coordinates for a file
    (p,) = kept
    assert isinstance(p, ScalarColumns) and p.positions is not None
    assert p.positions.tolist() == [10, 11, 12, 14, 15, 16] and p.values.tolist() == [s.value for s in once]


def test_frames_identical_and_conflicting() -> None:
    frame = FrameFeatures("p1", "vib", _at(5), {"rms": 0.5, "kurtosis": 3.0}, (0.1, 0.2))
    same = FrameFeatures("p1", "vib", _at(5), {"rms": 0.5, "kurtosis": 3.0}, (0.1, 0.2))
    other = FrameFeatures("p1", "vib", _at(5), {"rms": 0.7, "kurtosis": 3.0}, (0.1, 0.2))
    other_channel = FrameFeatures("p1", "vib_v", _at(5), {"rms": 0.7, "kurtosis": 3.0}, (0.1, 0.2))
    fv, dead = _aggregate([frame, same, other, other_channel])
    ref, _ = _aggregate([frame, other_channel])
    _same_window(fv, ref)
    assert fv.n_records == 2
    assert [d.reason for d in dead] == [DUPLICATE_RECORD] * 2
    assert "(identical)" in dead[0].detail and "'vib'" in dead[0].detail
    assert "conflicting: rms 0.7, first 0.5" in dead[1].detail


def test_events_by_kind_and_time() -> None:
    maint = AssetEvent("p1", _at(30), "maintenance", "bearing swapped")
    again = AssetEvent("p1", _at(30), "maintenance", "bearing swapped")
    noted = AssetEvent("p1", _at(30), "maintenance", "other note")
    failure = AssetEvent("p1", _at(30), "failure")  # another kind at the same time: a record of its own
    fv, dead = _aggregate([*_samples(), maint, again, noted, failure])
    assert fv.events == (maint, failure)
    assert fv.n_records == 8
    assert "(identical)" in dead[0].detail and "conflicting: note 'other note'" in dead[1].detail
    assert decode_telemetry(dead[0].raw, now=NOW) == again


def test_marks_and_flags_are_never_duplicates() -> None:
    mark, flag = InputMark("p1", _at(0), "x", 1, 2), ClockFlag("p1", _at(0), "temperature", 3.0)
    items: list[Any] = [mark, InputMark("p1", _at(0), "x", 1, 2), flag,
                        ClockFlag("p1", _at(0), "temperature", 3.0)]
    kept, dead = split_duplicates(items, NOW)
    assert kept is items and dead == []


def test_quality_figures_count_each_sample_once() -> None:
    """A flatline check must not see a redelivered run of samples as repeated values."""
    once = [*_samples(n=40), *_samples(channel="pressure", n=40)]
    fv, dead = _aggregate([*once, *once[:30]])
    ref, _ = _aggregate(once)
    assert len(dead) == 30
    _same_window(fv, ref)


@pytest.mark.parametrize("far", [False, True])
def test_times_far_from_the_epoch_use_the_two_key_sort(far: bool) -> None:
    """Times whose key would overflow an int64 are sorted by (time, channel) instead."""
    base = datetime(2262, 1, 1, tzinfo=UTC) if far else START
    channels = [f"c{i}" for i in range(5000)] if far else ["a", "b"]
    rows = [ScalarSample("p1", c, base + timedelta(seconds=k), float(k)) for k in range(2) for c in channels]
    kept, dead = split_duplicates([_piece(rows), _piece(rows[:3])], NOW)
    assert len(dead) == 3 and len(kept) == 1


def test_the_filter_may_flag_a_window_without_copies_and_the_exact_check_decides() -> None:
    """Two samples 1 us apart in 2262 round to one float second: the window step's filter
    flags the window, the exact check finds no copy, both samples count."""
    late_era = datetime(2262, 1, 1, tzinfo=UTC)
    rows = [ScalarSample("p1", "t", late_era, 1.0),
            ScalarSample("p1", "t", late_era + timedelta(microseconds=1), 2.0)]
    window = (late_era - EPOCH) // timedelta(seconds=WINDOW_S)
    columns = scalar_columns(rows)[0]
    assert may_hold_copies(columns, [], [])
    assert split_duplicates(list(rows), NOW)[1] == []
    m = PipelineMetrics()
    dead: list[DeadLetter] = []
    aggregate = make_window_aggregator(WINDOW_S, m, OpenWindows(WINDOW_S, m), lambda: NOW)
    fv = aggregate("p1", (window, rows), dead)
    assert fv.n_records == 2 and dead == []
    assert not may_hold_copies(scalar_columns(_samples())[0], [], [])


def test_a_one_sample_piece_s_duplicate_keeps_its_unit() -> None:
    """A Kafka scalar with a unit that may be late travels as a one-sample piece with its offset;
    delivered twice, its ``duplicate_record`` dead letter carries it as it came, unit included,
    as a block's does (round 25, part CLEAN25)."""
    from flows.dataflow.located import one_sample_piece

    s = ScalarSample("p1", "temperature", _at(30), 41.5, "degC")
    origin = "kafka:twin.telemetry.scalar.v1:2"
    kept, dead = split_duplicates([one_sample_piece(s, origin, 7), one_sample_piece(s, origin, 9)], NOW)
    assert [decode_telemetry(d.raw, now=NOW) for d in dead] == [s]
    assert len(kept) == 1 and kept[0].samples == (s,) and kept[0].positions.tolist() == [7]
    _, by_block = split_duplicates([ScalarBlock("p1", s.timestamp, (s, s))], NOW)
    assert [d.raw for d in by_block] == [d.raw for d in dead]
