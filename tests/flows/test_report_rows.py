"""The backtest report's waterfall rows computed in batches (round 40): each row is the one its frame
gives alone (the exhaustive band scan and envelope spectrum of that frame), whatever the frames
queued with it: other keys, other lengths and rates, bad frames."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from flows.app import report_html
from flows.app.report import envelope_rows
from tests.unit.features.synth import bearing_signal
from twin_models.features.fft import envelope_spectrum, select_envelope_band
from twin_models.records import WaveformFrame

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def alone(samples: Any, fs: float, top_hz: float) -> tuple[Any, Any]:
    """The oracle: one frame's row from the one-frame functions (round 39's ``envelope_row``)."""
    x = np.asarray(samples, dtype=float)
    freqs, amps = envelope_spectrum(x, fs, select_envelope_band(x, fs))
    keep = freqs <= top_hz
    return freqs[keep], np.log10(amps[keep] + 1e-9)


def signal(i: int, n: int, fs: float) -> Any:
    """Frame ``i``: impacts ringing a resonance that moves with ``i`` (so frames choose different
    bands), or noise, as float32 like the reader's samples."""
    if i % 4 == 3:
        return np.random.default_rng(i).normal(0.0, 1.0, n).astype(np.float32)
    return bearing_signal(fs=fs, n=n, defect_hz=90.0 + 7 * i, shaft_hz=25.0,
                          resonance_hz=min(1500.0 + 700.0 * (i % 9), 0.4 * fs), noise_rms=0.3,
                          seed=i).astype(np.float32)


SHAPES = [(2048, 25_600.0), (4096, 25_600.0), (2048, 20_000.0), (3000, 12_000.0)]


def test_each_row_is_its_frame_s_alone() -> None:
    """Frames of four (length, rate) pairs interleaved, each with its own top frequency, and bad
    frames among them (NaN, 3 samples, a zero rate): every good frame's row equals the oracle bit
    for bit, every bad frame's is None, and the order is the frames' order."""
    frames: list[tuple[Any, float, float]] = []
    for i in range(40):
        n, fs = SHAPES[i % len(SHAPES)]
        frames.append((signal(i, n, fs), fs, (400.0, 1000.0, 2500.0)[i % 3]))
    nan = signal(50, 2048, 25_600.0)
    nan[7] = np.nan
    bad = {5: (nan, 25_600.0, 1000.0), 17: (np.ones(3, np.float32), 25_600.0, 1000.0),
           30: (signal(51, 2048, 25_600.0), 0.0, 1000.0)}
    for i, frame in bad.items():
        frames.insert(i, frame)
    rows = envelope_rows(frames)
    assert len(rows) == len(frames)
    bands = set()
    for i, (frame, row) in enumerate(zip(frames, rows, strict=True)):
        if i in bad:
            assert row is None, i
            continue
        assert row is not None, i
        want_f, want_a = alone(*frame)
        np.testing.assert_array_equal(row[0], want_f)
        np.testing.assert_array_equal(row[1], want_a)
        bands.add(select_envelope_band(np.asarray(frame[0], float), frame[1]))
    assert len(bands) >= 4  # the batches held frames whose bands differ


def _frames(n_per_key: int) -> Iterator[WaveformFrame]:
    """Two interleaved keys; brg-0's frames change length and rate twice within the key."""
    for i in range(n_per_key):
        n, fs = SHAPES[0] if i < n_per_key // 3 else SHAPES[3] if i < 2 * n_per_key // 3 else SHAPES[1]
        yield WaveformFrame("brg-0", "vib", T0 + timedelta(minutes=i), fs, signal(i, n, fs))
        yield WaveformFrame("brg-1", "vib", T0 + timedelta(minutes=i), 25_600.0,
                            signal(100 + i, 2048, 25_600.0))


@pytest.mark.parametrize("batch_samples", [1, 5_000, 1 << 17])
def test_the_waterfalls_rows_are_the_frames_rows_in_order(
        monkeypatch: pytest.MonkeyPatch, batch_samples: int) -> None:
    """Through ``_waterfalls`` (two interleaved keys, one changing length and rate mid-key), with
    batches of one frame, of a few and of all: each key's rows are its frames' oracle rows (as
    float32) in time order, the x axis the last row's frequencies; each batch transformed holds
    at most BATCH_SAMPLES and the frame that filled it."""
    per_key = 30
    monkeypatch.setattr(report_html, "BATCH_SAMPLES", batch_samples)
    monkeypatch.setattr(report_html, "read_records", lambda path, stats=None, **kw: _counted(stats, per_key))
    sizes: list[int] = []
    real = report_html.envelope_rows

    def recording(frames: Any) -> Any:
        sizes.append(sum(len(f[0]) for f in frames))
        return real(frames)

    monkeypatch.setattr(report_html, "envelope_rows", recording)
    falls, left_out = report_html._waterfalls(["wave.parquet"], {}, None)
    assert left_out == 0 and sorted(falls) == [("brg-0", "vib"), ("brg-1", "vib")]
    frames = list(_frames(per_key))
    for key, wf in falls.items():
        mine = [f for f in frames if (f.asset_id, f.channel) == key]
        kept = wf.rows()
        assert [t for t, _ in kept] == [f.timestamp for f in mine]
        for (_, row), f in zip(kept, mine, strict=True):
            want = alone(f.samples, f.sample_rate_hz, wf.top_hz)[1].astype("float32")
            np.testing.assert_array_equal(row, want)
        last = mine[-1]
        np.testing.assert_array_equal(wf.freqs, alone(last.samples, last.sample_rate_hz, wf.top_hz)[0])
    assert sum(sizes) == sum(len(f.samples) for f in frames)  # each frame once
    assert all(batch_samples <= size < batch_samples + 4096 for size in sizes[:-1])
    assert 0 < sizes[-1] < batch_samples + 4096  # the rest, at the end
    assert len(sizes) == {1: 2 * per_key, 5_000: len(sizes), 1 << 17: 2}[batch_samples] > 1


def _counted(stats: Any, per_key: int) -> Iterator[WaveformFrame]:
    for fr in _frames(per_key):
        if stats is not None:
            stats.frames[fr.asset_id, fr.channel] += 1
        yield fr


def test_the_readme_states_the_batch() -> None:
    """README's memory paragraph names the samples the report queues: BATCH_SAMPLES."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert f"samples, {report_html.BATCH_SAMPLES:,} and the frame that reaches them at most" in readme


def test_a_frame_out_of_scale_is_a_gap_and_the_others_stay_batched(monkeypatch: pytest.MonkeyPatch) -> None:
    """Round 41 (HOSTILE41): a frame scaled to 1e-200 or 1e200 among good ones made the batch raise
    (or, warnings not errors, drew infinite and NaN amplitudes) and every frame of its length and
    rate be retried one at a time. Now its row is a gap and the rest are one batch, each row its
    frame's own."""
    from twin_models.features import envelope_batch

    calls: list[int] = []
    real = envelope_batch.envelope_spectra_batch

    def counted(frames: Any, fs: float, **kw: Any) -> Any:
        calls.append(len(frames))
        return real(frames, fs, **kw)

    monkeypatch.setattr(envelope_batch, "envelope_spectra_batch", counted)
    frames: list[tuple[Any, float, float]] = [(signal(i, 2048, 25_600.0), 25_600.0, 1000.0) for i in range(6)]
    # float64: float32 holds no 1e200
    frames[1] = (np.asarray(frames[1][0], np.float64) * 1e-200, 25_600.0, 1000.0)
    frames[4] = (np.asarray(frames[4][0], np.float64) * 1e200, 25_600.0, 1000.0)
    rows = envelope_rows(frames)
    assert [row is None for row in rows] == [False, True, False, False, True, False]
    assert calls == [4]
    for frame, row in zip(frames, rows, strict=True):
        if row is not None:
            np.testing.assert_array_equal(row[1], alone(*frame)[1])
