"""A single scalar table replayed as per-asset column pieces gives what its rows one by one gave.

The per-row reference is the same source with pieces switched off (``FileReplaySource._pieces``
returns None: the records of :func:`merge_tagged`, one RawRecord per row, as before pieces)."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bytewax.operators as op
import numpy as np
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, run_main

from flows.app.outputs import STREAMS, local_outputs
from flows.config.pipeline import PipelineConfig
from flows.dataflow import window_columns
from flows.dataflow.blocks import BlockBuilder
from flows.dataflow.items import RawRecord, ScalarBlock, ScalarColumns
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.pipeline import get_flow
from flows.dataflow.sources.files import FileReplaySource, merge_files
from flows.dataflow.sources.readers import ReadStats, read_pieces, read_records
from flows.dataflow.window_columns import scalar_columns
from tests.flows.conftest import Outputs, assert_same_states_alerts_and_dead_letters
from twin_models.features.window import aggregate_columns, aggregate_window
from twin_models.records import EPOCH, ScalarSample

T0 = datetime(2026, 1, 1, tzinfo=UTC)
CFG = PipelineConfig(clock="data", window_s=60.0, allowed_lateness_s=10.0)


@pytest.fixture
def table(tmp_path: Path) -> Path:
    """3 assets x 2 channels at 1 Hz for 60 min, with a step and drift on pump-2 after 45 min,
    empty and non-finite cells, a value out of range, a future timestamp and a non-ASCII asset id
    (which the fast checks leave to the per-record decoder, which takes it)."""
    rng = random.Random(5)
    lines = ["timestamp,asset_id,temperature,pressure"]
    for t in range(3600):
        ts = (T0 + timedelta(seconds=t)).isoformat()
        for asset in ("pump-1", "pump-2", "pümp-3"):
            drift = 20 + 0.05 * (t - 2700) if asset == "pump-2" and t > 2700 else 0.0
            temp = f"{50 + drift + rng.gauss(0, 0.5):.4f}"
            pres = f"{3 + rng.gauss(0, 0.05):.4f}"
            if t % 97 == 3:
                pres = ""
            if t % 131 == 7:
                temp = "nan"
            if t == 700 and asset == "pump-1":
                temp = "1e39"  # |value| > MAX_ABS_SCALAR: value_out_of_range
            lines.append(f"{ts},{asset},{temp},{pres}")
    lines.append("2200-01-01T00:00:00Z,pump-1,1.0,2.0")  # future_timestamp, twice (two channels)
    path = tmp_path / "fleet.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _backtest(path: Path, monkeypatch: pytest.MonkeyPatch, *,
              pieces: bool) -> tuple[Outputs, PipelineMetrics]:
    metrics = PipelineMetrics()
    sinks, out = local_outputs(CFG, metrics, collect=STREAMS)
    with monkeypatch.context() as m:
        if not pieces:
            m.setattr(FileReplaySource, "_pieces", lambda _self: None)
        source = FileReplaySource([path], batch=512)
        run_main(get_flow(CFG, source=source, sinks=sinks, metrics=metrics,
                          now=lambda: datetime(2026, 6, 1, tzinfo=UTC)))
    return out, metrics


def test_column_pieces_give_the_per_row_results(table: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cols, m_cols = _backtest(table, monkeypatch, pieces=True)
    rows, m_rows = _backtest(table, monkeypatch, pieces=False)
    assert len(cols.features) == 3 * 60
    key = lambda fv: (fv.asset_id, fv.window_start)  # noqa: E731
    a, b = sorted(cols.features, key=key), sorted(rows.features, key=key)
    shape = lambda fvs: [(key(f), f.n_records, list(f.features)) for f in fvs]  # noqa: E731
    assert shape(a) == shape(b)
    assert [f.features for f in a] == [f.features for f in b]  # bit for bit
    assert_same_states_alerts_and_dead_letters(cols, rows, step_asset="pump-2",
                                                step_at=T0 + timedelta(seconds=2700), headers=False)
    assert Counter(d.reason for d in cols.dead_letters) == {"future_timestamp": 2, "value_out_of_range": 1}
    for name in ("twin_records_in_total", "twin_dead_letters_total", "twin_windows_closed_total"):
        assert m_cols.value(name) == m_rows.value(name), name


def test_a_single_scalar_table_is_replayed_as_pieces_holding_its_records(table: Path) -> None:
    out: list[RawRecord] = []
    done: list[int] = []
    flow = Dataflow("replay")
    op.output("out", op.input("file", flow, FileReplaySource([table], batch=700, progress=done.append)),
              TestingSink(out))
    run_main(flow)
    assert all(isinstance(r.record, ScalarColumns) for r in out)
    assert len(out) < sum(map(len, (r.record for r in out))) / 100  # pieces, not rows
    per_asset: dict[str, list[ScalarSample]] = defaultdict(list)
    for r in out:
        for s in r.record.samples:  # type: ignore[union-attr]
            per_asset[s.asset_id].append(s)
    expected: dict[str, list[Any]] = defaultdict(list)
    for rec in merge_files([table]):
        expected[rec.asset_id].append(rec)
    assert per_asset == expected  # same samples, same order per asset
    assert sum(done) == sum(map(len, expected.values()))


def test_read_pieces_counts_and_skips_as_read_records(table: Path) -> None:
    st_pieces, st_rows = ReadStats(), ReadStats()
    pieces = list(read_pieces(table, stats=st_pieces))
    rows = list(read_records(table, stats=st_rows))
    assert sum(len(p) for p in pieces) == len(rows) == st_pieces.records == st_rows.records
    assert st_pieces.skipped == st_rows.skipped and st_pieces.skipped["empty"] > 0
    assert st_pieces.rows == st_rows.rows


def test_an_unordered_table_is_replayed_record_by_record(tmp_path: Path) -> None:
    path = tmp_path / "late.csv"
    path.write_text("timestamp,asset_id,v\n2026-01-01T00:00:05Z,a,1.0\n2026-01-01T00:00:01Z,a,2.0\n")
    got = list(read_pieces(path))
    assert got == list(read_records(path)) and all(isinstance(r, ScalarSample) for r in got)


def test_resume_inside_a_piece_skips_exactly_the_records_emitted(table: Path) -> None:
    source = FileReplaySource([table], batch=300)

    def samples(resume: int | None) -> list[ScalarSample]:
        part = source.build_part("in", "files", resume)
        out: list[ScalarSample] = []
        try:
            while True:
                out += [s for r in part.next_batch() for s in r.record.samples]  # type: ignore[union-attr]
        except StopIteration:
            return out

    full = samples(None)
    for k in (1, 299, 1234, len(full) - 3):
        assert samples(k) == full[k:]


def _piece(asset: str, secs: list[float], channel: str = "v") -> ScalarColumns:
    us = _us(secs, T0)
    return ScalarColumns.of(asset, us, np.zeros(len(secs), np.int16), (channel,),
                            np.arange(len(secs), dtype=float))


def _us(secs: Any, start: datetime) -> np.ndarray:
    """Seconds after ``start`` -> microseconds since the epoch."""
    offset = (start - EPOCH) // timedelta(microseconds=1)
    return np.array([round(s * 1e6) for s in secs], dtype=np.int64) + offset


def _expanded(items: list[Any]) -> list[tuple[str, ScalarSample]]:
    """(how it travels, sample) of a builder's output."""
    out = []
    for item in items:
        kind = "alone" if isinstance(item, ScalarSample) else "grouped"
        samples = (item,) if isinstance(item, ScalarSample) else item.samples
        out += [(kind, s) for s in samples]
    return out


def test_the_block_builder_cuts_pieces_at_windows_and_sends_possibly_late_samples_alone() -> None:
    first = _piece("a", [0, 10, 59.5, 60, 61, 130, 131])  # three windows
    backlog = _piece("a", [100, 125, 140, 150])  # 100 < watermark 131 - 10: late; the rest not
    by_pieces = BlockBuilder(60.0, timedelta(seconds=10), lambda: EPOCH)
    by_samples = BlockBuilder(60.0, timedelta(seconds=10), lambda: EPOCH)
    got = by_pieces([first]) + by_pieces([backlog])
    want = by_samples(list(first.samples)) + by_samples(list(backlog.samples))
    assert [len(i) if isinstance(i, ScalarColumns) else 1 for i in got[:3]] == [3, 2, 2]  # cut per window
    assert all(isinstance(i, ScalarColumns) for i in got[:3])
    alone = lambda items: [s for kind, s in _expanded(items) if kind == "alone"]  # noqa: E731
    # the backlog piece falls back to samples one by one: what may be late travels alone, as before
    assert [s.timestamp for s in alone(got)] == [s.timestamp for s in alone(want)]
    assert [s.timestamp for s in alone(got)] == [T0 + timedelta(seconds=100)]
    assert [s for _, s in _expanded(got)] == [s for _, s in _expanded(want)]
    assert by_pieces.clocks["a"] == by_samples.clocks["a"]


def test_window_columns_give_the_per_sample_features_bit_for_bit() -> None:
    rng = np.random.default_rng(11)
    start = T0
    for _ in range(200):
        items: list[Any] = []
        samples: list[ScalarSample] = []
        for _k in range(int(rng.integers(1, 6))):
            n = int(rng.integers(1, 40))
            secs = rng.uniform(0, 60, n).round(3 if rng.random() < 0.5 else 6)
            if rng.random() < 0.7:
                secs.sort()
            chans = ("temperature", "pressure", "speed")[: int(rng.integers(1, 4))]
            us = _us(secs, start)
            idx = rng.integers(0, len(chans), n).astype(np.int16)
            vals = rng.normal(50, 5, n)
            piece = ScalarColumns.of("a", us, idx, chans, vals)
            kind = rng.random()
            if kind < 0.5:
                items.append(piece)
            elif kind < 0.8:
                items.append(ScalarBlock("a", piece.timestamp, piece.samples))
            else:
                items.extend(piece.samples)
            samples.extend(piece.samples)
        samples.sort(key=lambda s: s.timestamp)
        end = start + timedelta(seconds=60)
        want = aggregate_window("a", start, end, [], samples)
        got = aggregate_columns("a", start, end, [], *scalar_columns(items))
        assert list(got.features) == list(want.features)
        assert got.features == want.features and got.n_records == want.n_records


def test_a_backtest_reads_its_scalar_table_once(table: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The check before the run (a bad file stops it before it writes) and the run share one reading."""
    import flows.dataflow.sources.readers.api as api
    from flows.app.backtest import run_backtest

    calls: list[Path] = []
    original = api.read_table_chunks

    def counting(src: Any, *a: Any, **k: Any) -> Any:
        calls.append(src.path)
        return original(src, *a, **k)

    monkeypatch.setattr(api, "read_table_chunks", counting)
    res = run_backtest([table], tmp_path / "out", CFG, progress=False, report=False)
    assert calls == [table]
    assert res.records == 3600 * 3 * 2 + 2 - res.skipped["empty"] - res.skipped["non_finite"]


def test_a_table_without_values_gives_no_piece(tmp_path: Path) -> None:
    path = tmp_path / "pump-9.csv"
    path.write_text("timestamp,temperature\n2026-01-01T00:00:00Z,\n2026-01-01T00:00:01Z,nan\n")
    stats = ReadStats()
    assert list(read_pieces(path, stats=stats)) == [] == list(read_records(path))
    assert stats.skipped == {"empty": 1, "non_finite": 1}


def test_windows_of_one_sample_per_channel_give_the_general_columns_bit_for_bit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Lone samples and blocks with one sample per channel (a C-MAPSS cycle) take a direct
    path (issue 10, TWIN4): the same channel order, times and values as the general one."""
    rng = np.random.default_rng(5)
    windows = []
    for _ in range(200):
        chans = [f"c{i}" for i in rng.permutation(int(rng.integers(1, 25)))]
        secs = rng.uniform(0, 60, len(chans)).round(0 if rng.random() < 0.5 else 6)
        samples = [ScalarSample("a", c, T0 + timedelta(seconds=float(s)), float(v)) for c, s, v in
                   zip(chans, secs, rng.choice([0.0, -0.0, 1.5, -7.25, 641.82], len(chans)), strict=True)]
        cut = int(rng.integers(0, len(samples) + 1))
        items: list[Any] = [*samples[:cut]]
        if cut < len(samples):
            items.append(ScalarBlock("a", max(s.timestamp for s in samples[cut:]), tuple(samples[cut:])))
        windows.append(items)
    fast = [scalar_columns(items) for items in windows]
    monkeypatch.setattr(window_columns, "_one_sample_per_channel", lambda _items: None)
    general = [scalar_columns(items) for items in windows]
    end = T0 + timedelta(seconds=60)
    for (f, n), (g, m) in zip(fast, general, strict=True):
        assert n == m and list(f) == list(g)
        for channel in f:
            assert f[channel][0].tobytes() == g[channel][0].tobytes()
            assert f[channel][1].tobytes() == g[channel][1].tobytes()
        got, want = aggregate_columns("a", T0, end, [], f, n), aggregate_columns("a", T0, end, [], g, m)
        assert [repr(v) for v in got.features.values()] == [repr(v) for v in want.features.values()]


def test_a_window_with_a_channel_sampled_twice_or_a_piece_takes_the_general_path() -> None:
    s = [ScalarSample("a", c, T0 + timedelta(seconds=i), float(i)) for i, c in enumerate(("x", "y", "x"))]
    assert window_columns._one_sample_per_channel(s) is None
    piece = ScalarColumns.of("a", _us(np.array([1.0]), T0), np.zeros(1, np.int16), ("z",), np.ones(1))
    assert window_columns._one_sample_per_channel([s[0], piece]) is None
    assert window_columns._one_sample_per_channel(s[:2]) is not None
