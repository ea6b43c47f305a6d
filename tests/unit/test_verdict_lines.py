"""A strong envelope line not held yet is "anomalous, not localised" in its window (issue 12,
round 9): periodic impulses at a defect rate reach the absolute bar, random impulses do not (two
sample rates and frame lengths); on a known-new machine (IMS-like) a line held for 3 windows
completes the 3-window alert hold, while mildly impulsive healthy vibration and one isolated
line raise nothing; an ambiguous 2xBSF line is no evidence."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import fftconvolve

from tests.factories import CWRU_6205, run_twin
from tests.unit.features.synth import bearing_signal, noise
from twin_models.diagnosis.abnormality import AbnormalityRules, abnormality, strong_line
from twin_models.diagnosis.bearings import defect_frequencies
from twin_models.features.frame import frame_features
from twin_models.records import BearingGeometry
from twin_models.twin import TwinConfig

SKF_6203 = BearingGeometry(n_elements=8, ball_diameter_mm=0.2656 * 25.4, pitch_diameter_mm=1.122 * 25.4)
SHAFT_HZ = 24.6  # the factories' nominal speed
BAR = TwinConfig().defect_min_snr


def _features(x: np.ndarray, fs: float, shaft_hz: float = SHAFT_HZ) -> dict[str, float]:
    feats = frame_features(x, fs, shaft_hz=shaft_hz, geometry=CWRU_6205)
    return {**{f"vib.{k}": v for k, v in feats.items()}, "vib.shaft_hz": shaft_hz}


def _random_impacts(fs: float, n: int, seed: int, rate_hz: float = 40.0,
                    noise_rms: float = 0.2) -> np.ndarray:
    """Impacts at random (Poisson) times with random sizes ringing a 3.5 kHz resonance: as
    impulsive as a defect's, with no period."""
    rng = np.random.default_rng(seed)
    times = rng.uniform(0.0, n / fs, rng.poisson(rate_hz * n / fs))
    train = np.zeros(n)
    np.add.at(train, (times * fs).astype(int), rng.exponential(1.0, times.size))
    t = np.arange(int(6 * 0.0008 * fs)) / fs
    ring = np.exp(-t / 0.0008) * np.sin(2.0 * np.pi * 3500.0 * t)
    return fftconvolve(train, ring)[:n] + noise_rms * rng.standard_normal(n)


@pytest.mark.parametrize(("fs", "n", "shaft_hz"), [(12_000.0, 12_000, 24.6), (20_000.0, 5_120, 33.3)])
def test_periodic_impulses_reach_the_line_bar_random_ones_do_not(fs: float, n: int, shaft_hz: float) -> None:
    bpfo = defect_frequencies(CWRU_6205, shaft_hz).bpfo
    periodic = [_features(bearing_signal(fs=fs, n=n, defect_hz=bpfo, shaft_hz=shaft_hz, noise_rms=0.2,
                                         seed=10 + i), fs, shaft_hz) for i in range(6)]
    random = [_features(_random_impacts(fs, n, seed=30 + i), fs, shaft_hz) for i in range(12)]
    gauss = [_features(noise(n, seed=50 + i, shaft_hz=shaft_hz, fs=fs), fs, shaft_hz) for i in range(12)]
    assert all((line := strong_line(f, BAR)) is not None and line[2] == "BPFO" for f in periodic)
    assert float(np.median([f["vib.kurtosis"] for f in random])) > 4.0  # impulsive by the statistics...
    assert [strong_line(f, BAR) for f in random + gauss] == [None] * 24  # ...but no line
    assert strong_line(periodic[0], math.inf) is None  # the bar off: lines are no evidence


def test_an_ambiguous_ball_line_is_no_evidence() -> None:
    """The 6203's 2xBSF (3.988x) shares its window with 4x the shaft: left out; the 6205's is not."""
    feats = {"vib.env_bpfo_snr": 1.5, "vib.env_bpfi_snr": 2.0, "vib.env_bsf_snr": 9.0,
             "vib.env_ftf_snr": 12.0}
    assert strong_line(feats, BAR, SKF_6203) is None
    assert strong_line(feats, BAR, CWRU_6205) == (9.0, "vib", "2xBSF")
    assert strong_line({**feats, "vib.env_bpfi_snr": 4.5}, BAR, SKF_6203) == (4.5, "vib", "BPFI")


def test_the_line_joins_the_abnormality_without_changing_its_excess() -> None:
    fs, n = 12_000.0, 12_000
    bpfo = defect_frequencies(CWRU_6205, SHAFT_HZ).bpfo
    f = _features(bearing_signal(fs=fs, n=n, defect_hz=bpfo, shaft_hz=SHAFT_HZ, noise_rms=0.2, seed=3), fs)
    with_line = abnormality(f, AbnormalityRules(line_snr=BAR), CWRU_6205)
    without = abnormality(f, AbnormalityRules(), CWRU_6205)
    assert with_line is not None and without is not None
    assert with_line.line is not None and with_line.line[0] >= BAR and without.line is None
    assert with_line.excess == without.excess


def _mild(seed: int) -> dict[str, float]:
    """IMS-like healthy vibration: sparse random impacts in broadband noise, beyond the generic
    statistic limits, with no line."""
    return _features(_random_impacts(12_000.0, 12_000, seed, rate_hz=15.0, noise_rms=0.4), 12_000.0)


def _bpfo(seed: int, noise_rms: float = 0.2) -> dict[str, float]:
    """Outer-race impacts; at ``noise_rms`` 0.5 only the BPFO line reaches the bar (SNR 4.5-6),
    at 0.2 its harmonics lift the BPFI line too (3x BPFO is 2x BPFI within the line window)."""
    bpfo = defect_frequencies(CWRU_6205, SHAFT_HZ).bpfo
    return _features(bearing_signal(fs=12_000.0, n=12_000, defect_hz=bpfo, shaft_hz=SHAFT_HZ,
                                    noise_rms=noise_rms, seed=seed), 12_000.0)


@pytest.fixture(scope="module")
def mild() -> list[dict[str, float]]:
    feats = [_mild(i) for i in range(10)]
    assert max(f["vib.env_kurtosis"] for f in feats) > 3.0  # beyond a limit: the IMS-like premise
    assert all(strong_line(f, BAR) is None for f in feats)
    return feats


def test_a_known_new_machine_alerts_on_a_line_held_three_windows(mild: list[dict[str, float]]) -> None:
    """The IMS failing bearing's case: a new bearing (install), its healthy start, then a BPFO
    line in 3 windows: the first is anomalous (not held yet), the next two name BPFO; the alert
    policy's 3-window hold completes and raises a BPFO warning."""
    feats = [*mild[:8], *(_bpfo(70 + i) for i in range(3)), mild[8]]
    snaps, alerts = run_twin(feats, TwinConfig(warmup_windows=24), events={0: "install"})
    assert {s.verdict for s in snaps[:8]} == {"healthy"}
    first = snaps[8]
    assert (first.verdict, first.defect, first.condition) == ("anomalous", None, "degrading")
    assert "BPFO envelope line on vib" in first.evidence and "not held long enough" in first.evidence
    assert first.verdict_confidence is not None and first.verdict_confidence > 0.5
    assert [(s.verdict, s.defect) for s in snaps[9:11]] == [("defect", "bpfo")] * 2
    assert [(a.status, a.severity, a.defect) for a in alerts] == [("raised", "warning", "bpfo")]


def test_one_isolated_line_window_raises_nothing(mild: list[dict[str, float]]) -> None:
    """A single window with a line is anomalous in that window, but one window is no episode."""
    feats = [*mild[:5], _bpfo(90), *mild[5:]]
    snaps, alerts = run_twin(feats, TwinConfig(warmup_windows=24), events={0: "install"})
    assert [s.verdict for s in snaps].count("anomalous") == 1 and snaps[5].verdict == "anomalous"
    assert alerts == []


def test_a_line_held_two_windows_on_a_new_machine_raises_nothing(mild: list[dict[str, float]]) -> None:
    """The IMS neighbours of the failing bearing (its line transmitted for 2 windows): 2 bad
    windows, below the 3-window hold."""
    feats = [*mild[:5], _bpfo(91), _bpfo(92), *mild[5:]]
    snaps, alerts = run_twin(feats, TwinConfig(warmup_windows=24), events={0: "install"})
    assert [(s.verdict, s.defect) for s in snaps[5:7]] == [("anomalous", None), ("defect", "bpfo")]
    assert alerts == []


def test_only_the_first_window_of_line_evidence_counts_unheld() -> None:
    """After a window with a line at the bar, an unheld line is no more evidence by itself."""
    feats = {"vib.env_bpfo_snr": 1.5, "vib.env_bpfi_snr": 4.5, "vib.env_bsf_snr": 1.0,
             "vib.env_ftf_snr": 1.0}
    bpfi = (4.5, "vib", "BPFI")
    assert strong_line(feats, BAR, CWRU_6205, {("vib", "bpfo"): 0, ("vib", "bpfi"): 0}) == bpfi
    assert strong_line(feats, BAR, CWRU_6205, {("vib", "bpfo"): 2}) is None
    assert strong_line(feats, BAR, CWRU_6205, {("vib", "ftf"): 3}) == bpfi  # a cage comb is not a line


def _bpfi(seed: int) -> dict[str, float]:
    bpfi = defect_frequencies(CWRU_6205, SHAFT_HZ).bpfi
    return _features(bearing_signal(fs=12_000.0, n=12_000, defect_hz=bpfi, shaft_hz=SHAFT_HZ,
                                    noise_rms=0.5, seed=seed, modulation=0.5), 12_000.0)


def test_another_line_right_after_a_held_one_completes_no_hold(mild: list[dict[str, float]]) -> None:
    """IMS set 2 bearing 2's last record: BPFO held 2 windows (transmitted from bearing 1), then a
    BPFI line for one window: 2 bad windows, no alert; the same BPFI window after healthy ones is
    anomalous on its own."""
    bpfi = _bpfi(95)
    assert (line := strong_line(bpfi, BAR, CWRU_6205)) is not None and line[2] == "BPFI"
    assert all(f["vib.env_bpfi_snr"] < BAR for f in (_bpfo(93, 0.5), _bpfo(94, 0.5)))
    feats = [*mild[:5], _bpfo(93, 0.5), _bpfo(94, 0.5), bpfi, *mild[5:]]
    snaps, alerts = run_twin(feats, TwinConfig(warmup_windows=24), events={0: "install"})
    assert [(s.verdict, s.defect) for s in snaps[5:8]] == [
        ("anomalous", None), ("defect", "bpfo"), ("healthy", None)]
    assert alerts == []
    snaps, _ = run_twin([*mild[:5], bpfi, *mild[5:]], TwinConfig(warmup_windows=24), events={0: "install"})
    assert snaps[5].verdict == "anomalous" and "BPFI envelope line" in snaps[5].evidence
