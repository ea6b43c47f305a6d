"""``envelope_spectra_batch`` (round 40): the envelope spectra of many frames at once, each in its
own exhaustively scanned band, equal to the one-frame functions row by row."""

from __future__ import annotations

import numpy as np
import pytest

from tests.unit.features.synth import bearing_signal
from twin_models.features.envelope_batch import envelope_spectra_batch, usable_rows
from twin_models.features.fft import envelope_spectrum, select_envelope_band

FS = 25_600.0


def one_by_one(frames: np.ndarray, fs: float, max_hz: float | None = None) -> tuple[list, list, list]:
    """The reference: per frame, the exhaustive band and its envelope spectrum (cut at ``max_hz``)."""
    freqs, amps, bands = [], [], []
    for row in frames:
        band = select_envelope_band(row, fs)
        f, a = envelope_spectrum(row, fs, band)
        keep = f <= (np.inf if max_hz is None else max_hz)
        freqs.append(f[keep])
        amps.append(a[keep])
        bands.append(band)
    return freqs, amps, bands


def mixed_frames(n: int, fs: float) -> np.ndarray:
    """Impacts ringing different resonances (so the rows choose different bands), and noise."""
    rows = [bearing_signal(fs=fs, n=n, defect_hz=d, shaft_hz=25.0, resonance_hz=r, noise_rms=s, seed=i)
            for i, (d, r, s) in enumerate([(107.0, 3500.0, 0.3), (162.0, 6000.0, 0.3), (88.0, 1800.0, 0.2),
                                           (107.0, 9000.0, 1.5), (140.0, 4200.0, 0.4)])]
    rng = np.random.default_rng(9)
    return np.stack(rows + [rng.normal(0.0, 2.0, n) for _ in range(3)])


@pytest.mark.parametrize(("n", "fs", "max_hz"),
                         [(4096, FS, 1000.0), (2048, 20_000.0, None), (3000, 12_000.0, 450.0)])
def test_the_batch_equals_the_frames_one_by_one(n: int, fs: float, max_hz: float | None) -> None:
    """Every row: the same band and bit for bit the same spectrum and frequencies as frame by
    frame; the rows chose more than one band (so grouping rows by band is exercised), and a row
    differs from its neighbours (a batch that mixed rows up would fail)."""
    frames = mixed_frames(n, fs)
    freqs, amps, bands = envelope_spectra_batch(frames, fs, max_hz=max_hz)
    ref_f, ref_a, ref_b = one_by_one(frames, fs, max_hz)
    assert bands == ref_b and len(set(bands)) >= 3
    assert amps.shape == (len(frames), ref_a[0].size)
    for i in range(len(frames)):
        np.testing.assert_array_equal(freqs, ref_f[i])
        np.testing.assert_array_equal(amps[i], ref_a[i])
    assert not np.array_equal(amps[0], amps[1])


def test_the_rows_are_in_the_order_of_the_frames() -> None:
    """The same frames reversed give the rows reversed, and any one frame alone gives its row."""
    frames = mixed_frames(4096, FS)
    _, amps, bands = envelope_spectra_batch(frames, FS, max_hz=800.0)
    _, back, back_bands = envelope_spectra_batch(frames[::-1], FS, max_hz=800.0)
    np.testing.assert_array_equal(back, amps[::-1])
    assert back_bands == bands[::-1]
    for i in (0, 3, 7):
        alone = envelope_spectra_batch(frames[i : i + 1], FS, max_hz=800.0)[1][0]
        np.testing.assert_array_equal(alone, amps[i])


def test_float32_frames_give_the_rows_of_their_float64_values() -> None:
    """The reader's float32 samples: the same as the frame converted to float64 (as one frame is)."""
    frames = mixed_frames(2048, FS).astype(np.float32)
    _, amps, _ = envelope_spectra_batch(frames, FS, max_hz=1000.0)
    _, ref, _ = one_by_one(frames.astype(np.float64), FS, 1000.0)
    np.testing.assert_array_equal(amps, np.stack(ref))


def test_bad_input_names_the_row() -> None:
    frames = mixed_frames(2048, FS)
    frames[4, 10] = np.nan
    with pytest.raises(ValueError, match="frame 4 contains 1 non-finite"):
        envelope_spectra_batch(frames, FS)
    with pytest.raises(ValueError, match="2-D"):
        envelope_spectra_batch(frames[0], FS)
    with pytest.raises(ValueError, match="sample rate"):
        envelope_spectra_batch(frames[:2], 0.0)


@pytest.mark.parametrize("scale", [1e-200, 1e-90, 1e90, 1e200])
def test_a_frame_out_of_scale_is_refused_alike_by_the_batch_and_one_frame(scale: float) -> None:
    """Round 41 (HOSTILE41): a frame scaled to 1e-200 made the one-frame scan divide by a fourth
    moment that underflowed to 0 (ZeroDivisionError) while the batch scored it infinite and chose a
    band; at 1e200 both overflowed to infinite and NaN amplitudes (RuntimeWarnings). Now both refuse
    it, naming it, and :func:`usable_rows` tells it beforehand."""
    frames = mixed_frames(2048, FS)
    frames[2] *= scale
    with pytest.raises(ValueError, match="frame 2 deviates from its mean by up to"):
        envelope_spectra_batch(frames, FS)
    with pytest.raises(ValueError, match="x deviates from its mean"):
        select_envelope_band(frames[2], FS)
    with pytest.raises(ValueError, match="x deviates from its mean"):
        envelope_spectrum(frames[2], FS, (1000.0, 4000.0))
    assert usable_rows(frames).tolist() == [i != 2 for i in range(len(frames))]


def test_usable_rows_leaves_out_non_finite_and_overflowing_frames_only() -> None:
    frames = mixed_frames(2048, FS)
    frames[1, 5] = np.inf
    frames[3] = 1e307  # finite, but its mean overflows
    frames[5] = 0.0  # a constant (dead channel): its spectrum is taken (zeros), as one frame's
    frames[6] *= 1e-50  # small, in range
    assert usable_rows(frames).tolist() == [True, False, True, False, True, True, True, True]


@pytest.mark.parametrize("n", [8, 9, 15, 17, 63, 257, 1023, 2049])
def test_constant_short_and_odd_frames_equal_the_frames_one_by_one(n: int) -> None:
    """What held in round 41's pass: zero and constant rows, the shortest frames and odd lengths
    give each frame's own row, bit for bit."""
    rng = np.random.default_rng(n)
    frames = np.stack([rng.normal(0.0, 1.0, n), np.zeros(n), np.full(n, 3.7), rng.normal(5.0, 1e-3, n),
                       np.tile([1.0, -1.0], n)[:n]])
    freqs, amps, bands = envelope_spectra_batch(frames, 12_000.0)
    ref_f, ref_a, ref_b = one_by_one(frames, 12_000.0)
    assert bands == ref_b
    for i in range(len(frames)):
        np.testing.assert_array_equal(freqs, ref_f[i])
        np.testing.assert_array_equal(amps[i], ref_a[i])
