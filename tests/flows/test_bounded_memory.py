"""Memory that does not grow with the input: the backtest report samples a waveform file's frames
while streaming them (round 37). Peak RSS against input size is a benchmark
(``benchmarks/bench_memory.py``); these tests check the mechanism: how many frames are alive at once."""

from __future__ import annotations

import bisect
import weakref
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.app import report_html
from twin_models.records import WaveformFrame

T0 = datetime(2024, 1, 1, tzinfo=UTC)


class _LiveFrames:
    """Frames made by a generator, counting those still alive (their samples not yet freed)."""

    def __init__(self, n: int, channels: tuple[str, ...] = ("vib",), assets: int = 1) -> None:
        self.n, self.channels, self.assets = n, channels, assets
        self.live = self.most = self.made = 0
        self.noise = np.random.default_rng(5).normal(0, 1, 512).astype(np.float32)

    def _gone(self) -> None:
        self.live -= 1

    def frames(self) -> Iterator[WaveformFrame]:
        for i in range(self.n):
            for a in range(self.assets):
                for ch in self.channels:
                    samples = self.noise * (1 + i % 7)
                    weakref.finalize(samples, self._gone)
                    self.live += 1
                    self.made += 1
                    self.most = max(self.most, self.live)
                    yield WaveformFrame(f"brg-{a}", ch, T0 + timedelta(minutes=i), 25600.0, samples)


def _counted(frames: Iterator[WaveformFrame], stats: Any = None) -> Iterator[WaveformFrame]:
    """``frames``, counted per key into ``stats`` as the file reader does."""
    for fr in frames:
        if stats is not None:
            stats.frames[fr.asset_id, fr.channel] += 1
        yield fr


def _fake_reader(monkeypatch: pytest.MonkeyPatch, gen: _LiveFrames) -> None:
    monkeypatch.setattr(report_html, "read_records",
                        lambda path, stats=None, **kw: _counted(gen.frames(), stats))


def _transforms(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that grows by one per envelope spectrum the report takes."""
    calls: list[int] = []
    real = report_html.envelope_rows

    def counting(frames: Any) -> Any:
        calls.extend(1 for _ in frames)
        return real(frames)

    monkeypatch.setattr(report_html, "envelope_rows", counting)
    return calls


def _round38_rows(n: int, per: int) -> list[int]:
    """The frames round 38's streaming waterfall drew of a key of n frames (its doubling stride
    and nearest-kept pick, replayed on indices): the oracle the rows must still match."""
    stride, kept = 1, []
    for i in range(n):
        if i % stride:
            continue
        kept.append(i)
        if len(kept) > 2 * per:
            stride *= 2
            kept = [k for k in kept if k % stride == 0]
    chosen: list[int] = []
    for want in range(0, n, max(1, n // per)):
        j = bisect.bisect_left(kept, want)
        if j == len(kept) or (j > 0 and want - kept[j - 1] <= kept[j] - want):
            j -= 1
        if not chosen or chosen[-1] != kept[j]:
            chosen.append(kept[j])
    return chosen


def test_the_rows_chosen_are_round_38s() -> None:
    """chosen_frames(n) names the frames round 38's streaming pick drew, for every n up to 5,000
    and a few large ones, with FRAMES_PER_WATERFALL and a small per (many doublings)."""
    for per in (report_html.FRAMES_PER_WATERFALL, 3):
        for n in [*range(5001), 20_000, 123_457, 1_000_003]:
            assert report_html.chosen_frames(n, per) == _round38_rows(n, per), (n, per)


@pytest.mark.parametrize(("channels", "assets"), [(("vib",), 1), (("vib_h", "vib_v"), 1),
                                                  (("vib_h", "vib_v"), 10)])
def test_the_report_keeps_rows_not_frames(monkeypatch: pytest.MonkeyPatch,
                                          channels: tuple[str, ...], assets: int) -> None:
    """Many frames per (asset, channel) read: no frame is kept (only the one being looked at is
    alive, and the file's first),
    each key keeps at most 2 x FRAMES_PER_WATERFALL + 1 spectrum rows, and each waterfall
    gets about FRAMES_PER_WATERFALL rows whatever the number of keys (round 38: the step was the
    file's records // FRAMES_PER_WATERFALL, so 10 assets x 2 channels of 1,000 frames got 8 rows each, and the
    sampled frames themselves were kept)."""
    per_key = 20_000 if assets == 1 else 1_000
    gen = _LiveFrames(per_key, channels, assets)
    _fake_reader(monkeypatch, gen)
    spectra = _transforms(monkeypatch)
    falls, left_out = report_html._waterfalls(["wave.parquet"], {}, None)  # counts first, then rows
    f = report_html.FRAMES_PER_WATERFALL
    assert gen.made == 2 * per_key * len(channels) * assets  # the count pass, then the rows' pass
    assert left_out == 0 and len(falls) == len(channels) * assets
    assert gen.most <= 2  # this frame and the next: none is kept
    for wf in falls.values():
        assert wf.seen == wf.frames == per_key
        rows = wf.rows()
        step = per_key // f  # the frames 0, step, 2 step, ... (or the kept ones nearest them)
        assert len(rows) == -(-per_key // step) and f <= len(rows) < 2 * f
        times = [t for t, _ in rows]
        assert times == sorted(times) and times[0] == T0
    # only the drawn frames are transformed (round 38: ~1,200 spectra a key of 20,000 frames)
    assert len(spectra) == sum(len(wf.rows()) for wf in falls.values())


def test_the_waterfalls_are_capped_at_the_first_keys_in_sorted_order(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """More (asset, channel) pairs than MAX_WATERFALLS: the smallest ones are kept (whatever the
    order they come in), the others counted as left out, and none of theirs is held."""
    gen = _LiveFrames(30, ("vib",), 8)
    monkeypatch.setattr(report_html, "read_records",
                        lambda path, stats=None, **kw: _counted(
                            (WaveformFrame(f"brg-{7 - int(fr.asset_id[4:])}", fr.channel, fr.timestamp,
                                           fr.sample_rate_hz, fr.samples) for fr in gen.frames()), stats))
    spectra = _transforms(monkeypatch)
    monkeypatch.setattr(report_html, "MAX_WATERFALLS", 3)
    falls, left_out = report_html._waterfalls(["wave.parquet"], {}, None)
    assert sorted(falls) == [("brg-0", "vib"), ("brg-1", "vib"), ("brg-2", "vib")]
    assert left_out == 5
    assert all(wf.seen == 30 for wf in falls.values())
    assert len(spectra) == 3 * 30  # the keys left out are never transformed


def test_the_report_samples_about_frames_per_waterfall_rows_of_each_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rows chosen from a real file of 20 interleaved assets: frames 0, step, 2 step, ... of
    each (asset, channel) with step = the key's frames // FRAMES_PER_WATERFALL. (Before round 38
    the step was the file's records // FRAMES_PER_WATERFALL = 80, one row per asset.)"""
    assets, per = 20, 40
    rng = np.random.default_rng(3)
    n = assets * per
    pq.write_table(pa.table({
        "timestamp": pa.array([T0 + timedelta(minutes=i // assets) for i in range(n)],
                              pa.timestamp("us", "UTC")),
        "asset_id": [f"brg-{i % assets:02d}" for i in range(n)],
        "sample_rate_hz": [25600.0] * n,
        "vib": pa.array([rng.normal(0, 1, 256).astype(np.float32).tolist() for _ in range(n)],
                        pa.list_(pa.float32())),
    }), tmp_path / "wave.parquet")
    monkeypatch.setattr(report_html, "FRAMES_PER_WATERFALL", 10)  # step = 40 // 10 = 4
    falls, left_out = report_html._waterfalls([tmp_path / "wave.parquet"], {}, None)
    minutes: dict[Any, list[int]] = {k: [int((t - T0).total_seconds() // 60) for t, _ in wf.rows()]
                                     for k, wf in falls.items()}
    assert left_out == 0
    assert minutes == {(f"brg-{a:02d}", "vib"): list(range(0, 40, 4)) for a in range(assets)}


def test_the_page_names_the_left_out_waterfalls_and_a_bad_frame_leaves_a_gap(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """write_report with 5 keys and MAX_WATERFALLS = 3: 3 waterfall images, the page says 2 were
    left out; a frame whose spectrum cannot be taken (non-finite samples) is skipped, not fatal."""
    from flows.app.backtest import BacktestResult
    from flows.app.scores_file import ScoresSpool
    from flows.dataflow.metrics import PipelineMetrics

    gen = _LiveFrames(20, ("vib",), 5)

    def frames() -> Iterator[WaveformFrame]:
        for fr in gen.frames():
            bad = fr.asset_id == "brg-0" and fr.timestamp == T0 + timedelta(minutes=3)
            yield WaveformFrame(fr.asset_id, fr.channel, fr.timestamp, fr.sample_rate_hz,
                                np.full(512, np.nan, np.float32) if bad else fr.samples)

    monkeypatch.setattr(report_html, "read_records", lambda path, stats=None, **kw: _counted(frames(), stats))
    monkeypatch.setattr(report_html, "MAX_WATERFALLS", 3)
    falls, left_out = report_html._waterfalls(["wave.parquet"], {}, None)
    assert left_out == 2 and [k[0] for k in sorted(falls)] == ["brg-0", "brg-1", "brg-2"]
    assert [int((t - T0).total_seconds() // 60) for t, _ in falls[("brg-0", "vib")].rows()] == \
        [m for m in range(20) if m != 3]
    written: list[Path] = []
    res = BacktestResult([], [], PipelineMetrics(), 1.0, 100, tmp_path)
    ScoresSpool().write(tmp_path / "scores.parquet", [], {})  # the report reads the windows from it
    page = report_html.write_report(res, inputs=["wave.parquet"], metadata=None, read_options={},
                                    written=written).read_text()
    assert sorted(p.name for p in written if p.name.endswith("_envelope.png")) == [
        "brg-0_vib_envelope.png", "brg-1_vib_envelope.png", "brg-2_vib_envelope.png"]
    assert "first 3 (asset, channel) pairs only; 2 more left out" in page


def test_the_run_s_count_spares_the_report_a_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file reader counts each key's frames as it yields them (an empty frame skipped is not
    counted); given those counts, the report reads a waveform file once more, never a file that
    holds no frames, and draws round 38's rows of the frames as read (the skipped one shifts them)."""
    from flows.dataflow.sources.files import ReadStats, read_records

    n = 700
    rng = np.random.default_rng(4)
    frames = [rng.normal(0, 1, 256).astype(np.float32).tolist() for _ in range(n)]
    frames[5] = []  # skipped by the reader: the key has n - 1 frames
    pq.write_table(pa.table({
        "timestamp": pa.array([T0 + timedelta(minutes=i) for i in range(n)], pa.timestamp("us", "UTC")),
        "asset_id": ["brg-0"] * n, "sample_rate_hz": [25600.0] * n,
        "vib": pa.array(frames, pa.list_(pa.float32()))}), tmp_path / "wave.parquet")
    stats = ReadStats()
    minutes = [int((fr.timestamp - T0).total_seconds() // 60)
               for fr in read_records(tmp_path / "wave.parquet", stats=stats)]
    assert stats.frames == {("brg-0", "vib"): n - 1} and stats.skipped["empty_frame"] == 1
    opened: list[str] = []
    monkeypatch.setattr(report_html, "read_records",
                        lambda path, **kw: (opened.append(str(path)), read_records(path, **kw))[1])
    spectra = _transforms(monkeypatch)
    counts = {str(tmp_path / "wave.parquet"): stats.frames, "scalars.csv": {}}
    falls, left_out = report_html._waterfalls(["scalars.csv", tmp_path / "wave.parquet"], {}, None, counts)
    assert opened == [str(tmp_path / "wave.parquet")] and left_out == 0
    drawn = [int((t - T0).total_seconds() // 60) for t, _ in falls[("brg-0", "vib")].rows()]
    want = [minutes[i] for i in _round38_rows(n - 1, report_html.FRAMES_PER_WATERFALL)]
    assert drawn == want and len(spectra) == len(want) < n // 2
