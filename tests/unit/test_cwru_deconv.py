"""The transforms of ``benchmarks/quality/cwru_deconv.py`` on synthetic signals: cepstral
pre-whitening (CPW) finds a weak, slightly jittered impulse train under strong discrete lines that
the pipeline's envelope misses; MOMEDA's multi D-norm peaks at a strictly periodic train's period
and loses it with 1 % jitter (why it localises nothing on real bearings); MED raises kurtosis."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import kurtosis

from benchmarks.quality import cwru_deconv
from benchmarks.quality.cwru_deconv import ZA_2115, cpw, med, momeda_mdn
from benchmarks.quality.cwru_files import SKF_6203, SKF_6205
from benchmarks.quality.cwru_variants import _envelope
from twin_models.diagnosis.bearings import defect_frequencies
from twin_models.features._spectral import hann_spectrum, raw_rfft
from twin_models.features.band_scan import scan_bands
from twin_models.features.lines import defect_line_features
from twin_models.records import BearingGeometry

SHAFT_HZ = 29.95


def _ring(fs: float, resonance_hz: float) -> np.ndarray:
    k = np.arange(int(0.005 * fs))
    return np.exp(-k / fs * 800.0) * np.sin(2.0 * np.pi * resonance_hz * k / fs)


def _train(fs: float, period_s: float, jitter: float, rng: np.random.Generator,
           amp: float = 1.0, resonance_hz: float = 3000.0) -> np.ndarray:
    """Decaying resonance bursts every ``period_s`` (+- ``jitter`` relative, random per impact)."""
    n = int(fs)
    ring = amp * _ring(fs, resonance_hz)
    x = np.zeros(n + ring.size)
    t = 0.01
    while t < 0.99:
        i = int(t * fs)
        x[i : i + ring.size] += ring
        t += period_s * (1.0 + jitter * rng.standard_normal())
    return x[:n]


def _lines(fs: float, rng: np.random.Generator) -> np.ndarray:
    """39 strong shaft harmonics and four strong tones (gear-mesh-like discrete lines)."""
    t = np.arange(int(fs)) / fs
    x = sum(3.0 / k**0.3 * np.sin(2.0 * np.pi * k * SHAFT_HZ * t + rng.uniform(0.0, 2.0 * np.pi))
            for k in range(1, 40))
    return np.asarray(x + sum(2.0 * np.sin(2.0 * np.pi * f * t) for f in (1100.0, 2600.0, 3500.0, 4700.0)))


def _bpfo_snr(x: np.ndarray, fs: float, geometry: BearingGeometry, whitened: bool) -> float:
    d = defect_frequencies(geometry, SHAFT_HZ).as_dict()
    raw = raw_rfft(x)
    if whitened:  # CPW, then the squared envelope of the whole band
        env = _envelope(cpw(raw), x.size, fs, (0.05 * fs, 0.45 * fs), True)
    else:  # the pipeline's envelope: the band its SK scan picks
        band = scan_bands(raw[None, :], x.size, fs, np.array([8.0 * d["bsf"]]))[0][0]
        env = _envelope(raw, x.size, fs, band, False)
    s = hann_spectrum(env, fs)
    return defect_line_features(s.freqs, s.amps, d, SHAFT_HZ, rel_tol=0.01)["env_bpfo_snr"]


def test_cpw_gives_unit_magnitude_and_keeps_phase() -> None:
    raw = raw_rfft(np.random.default_rng(0).standard_normal(1000))
    w = cpw(raw)
    assert w[0] == 0.0
    assert np.allclose(np.abs(w[1:]), 1.0)
    assert np.allclose(np.angle(w[1:]), np.angle(raw[1:]))


@pytest.mark.parametrize(("fs", "geometry"),
                         [(12_000.0, SKF_6203), (20_000.0, SKF_6205), (20_000.0, ZA_2115)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cpw_finds_a_weak_jittered_train_under_strong_lines(fs: float, geometry: BearingGeometry,
                                                            seed: int) -> None:
    rng = np.random.default_rng(seed)
    bpfo = defect_frequencies(geometry, SHAFT_HZ).bpfo
    x = _train(fs, 1.0 / bpfo, 0.01, rng) + _lines(fs, rng) + 0.3 * rng.standard_normal(int(fs))
    before, after = _bpfo_snr(x, fs, geometry, False), _bpfo_snr(x, fs, geometry, True)
    assert before < 4.0 < after  # defect_min_snr: missed before, held after


def test_cpw_removes_a_strictly_periodic_train_with_the_lines() -> None:
    """Zero jitter makes the train itself a set of discrete lines: CPW whitens it away."""
    fs, rng = 12_000.0, np.random.default_rng(3)
    bpfo = defect_frequencies(SKF_6203, SHAFT_HZ).bpfo
    x = _train(fs, 1.0 / bpfo, 0.0, rng) + _lines(fs, rng) + 0.3 * rng.standard_normal(int(fs))
    jittered = _train(fs, 1.0 / bpfo, 0.01, rng) + _lines(fs, rng) + 0.3 * rng.standard_normal(int(fs))
    assert _bpfo_snr(x, fs, SKF_6203, True) < 4.0 < _bpfo_snr(jittered, fs, SKF_6203, True)


def test_momeda_peaks_at_a_strict_period_and_loses_it_with_jitter() -> None:
    fs, period = 12_000.0, 131.2
    periods = np.array([60.0, 100.0, period - 1.0, period - 0.3, period, period + 0.3, period + 1.0, 200.0])
    noise = 0.3 * np.random.default_rng(5).standard_normal(12_000)
    strict = _train(fs, period / fs, 0.0, np.random.default_rng(4)) + noise
    mdn = momeda_mdn(strict, periods, 320)
    assert mdn[4] > 1.8 * np.delete(mdn, 4).max()
    jittered = _train(fs, period / fs, 0.01, np.random.default_rng(4)) + noise
    mdn = momeda_mdn(jittered, periods, 320)
    assert mdn[4] < 1.3 * np.median(np.delete(mdn, 4))


def test_med_raises_the_kurtosis_of_a_train_in_noise() -> None:
    fs, rng = 12_000.0, np.random.default_rng(6)
    x = _train(fs, 1.0 / 91.4, 0.01, rng, amp=0.5) + 0.3 * rng.standard_normal(12_000)
    y = med(x, 30)
    assert y.size == x.size - 30
    assert kurtosis(y) > 2.0 * kurtosis(x) > 0.0


@pytest.mark.parametrize(("case", "problem"), [
    ("no data folder", "dataset folder not found"),
    ("no ims-samples under TWIN_DATASETS", "IMS samples: dataset folder not found"),
    ("no IMS record under --data", "no IMS sample records"),
    ("negative MOMEDA window", "--momeda-window must be >= 0"),
])
def test_missing_data_and_bad_arguments_exit_2_with_one_line(
        case: str, problem: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """CWRU recordings present but no IMS sample records (the IMS part is on by default): one line
    naming the problem, exit 2, as a missing CWRU folder or a bad argument."""
    (tmp_path / "cwru").mkdir()
    (tmp_path / "cwru" / "12k_Drive_End_IR007_0_105.mat").write_bytes(b"")  # listed, never read
    argv = {"no data folder": ["--data", str(tmp_path / "nowhere")],
            "no ims-samples under TWIN_DATASETS": [],
            "no IMS record under --data": ["--data", str(tmp_path)],
            "negative MOMEDA window": ["--data", str(tmp_path), "--momeda-window", "-1"]}[case]
    monkeypatch.setenv("TWIN_DATASETS", str(tmp_path))
    with pytest.raises(SystemExit) as exc:
        cwru_deconv.main([*argv, "--files", "no-such-file"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"cwru_deconv: {problem}") and err.count("\n") == 1, err
