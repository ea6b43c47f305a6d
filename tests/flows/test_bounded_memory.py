"""Memory that does not grow with the input: the backtest report samples a waveform file's frames
while streaming them (round 37). Peak RSS against input size is a benchmark
(``benchmarks/bench_memory.py``); these tests check the mechanism: how many frames are alive at once."""

from __future__ import annotations

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

    def __init__(self, n: int, channels: tuple[str, ...] = ("vib",)) -> None:
        self.n, self.channels = n, channels
        self.live = self.most = self.made = 0

    def _gone(self) -> None:
        self.live -= 1

    def frames(self) -> Iterator[WaveformFrame]:
        for i in range(self.n):
            for ch in self.channels:
                samples = np.full(64, i, dtype=np.float32)
                weakref.finalize(samples, self._gone)
                self.live += 1
                self.made += 1
                self.most = max(self.most, self.live)
                yield WaveformFrame("brg-1", ch, T0 + timedelta(minutes=i), 25600.0, samples)


def _fake_reader(monkeypatch: pytest.MonkeyPatch, gen: _LiveFrames) -> None:
    monkeypatch.setattr(report_html, "estimate_records", lambda path, **kw: gen.n * len(gen.channels))
    monkeypatch.setattr(report_html, "read_records", lambda path, **kw: gen.frames())


@pytest.mark.parametrize("channels", [("vib",), ("vib_h", "vib_v")])
def test_the_report_keeps_only_the_sampled_frames_alive(monkeypatch: pytest.MonkeyPatch,
                                                        channels: tuple[str, ...]) -> None:
    """20,000 frames per channel read: at most the sampled ones (about FRAMES_PER_WATERFALL in
    all) and the one being looked at are alive at any time; materialising the file (as
    ``(first, *records)`` did) would hold all of them."""
    gen = _LiveFrames(20_000, channels)
    _fake_reader(monkeypatch, gen)
    got = report_html._sampled_frames(["wave.parquet"], {})
    kept = sum(len(v) for v in got.values())
    assert gen.made == 20_000 * len(channels)
    assert set(got) == {("brg-1", ch) for ch in channels}
    assert report_html.FRAMES_PER_WATERFALL <= kept <= report_html.FRAMES_PER_WATERFALL + len(channels)
    assert gen.most <= kept + 2


def test_the_report_samples_every_step_th_frame_of_each_channel(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The frames chosen from a real file: rows 0, step, 2 step, ... of each (asset, channel), with
    step = the file's records // FRAMES_PER_WATERFALL (the same choice as before streaming)."""
    n = 40
    rng = np.random.default_rng(3)
    pq.write_table(pa.table({
        "timestamp": pa.array([T0 + timedelta(minutes=i) for i in range(n)], pa.timestamp("us", "UTC")),
        "asset_id": ["brg-1" if i % 2 == 0 else "brg-2" for i in range(n)],
        "sample_rate_hz": [25600.0] * n,
        "vib": pa.array([rng.normal(0, 1, 256).astype(np.float32).tolist() for _ in range(n)],
                        pa.list_(pa.float32())),
    }), tmp_path / "wave.parquet")
    monkeypatch.setattr(report_html, "FRAMES_PER_WATERFALL", 10)  # step = 40 // 10 = 4
    got = report_html._sampled_frames([tmp_path / "wave.parquet"], {})
    minutes: dict[Any, list[int]] = {k: [int((f.timestamp - T0).total_seconds() // 60) for f in v]
                                     for k, v in got.items()}
    # brg-1 has rows 0, 2, 4, ...: its frames 0, 4, 8, ... are rows 0, 8, 16, ...
    assert minutes == {("brg-1", "vib"): [0, 8, 16, 24, 32], ("brg-2", "vib"): [1, 9, 17, 25, 33]}
