"""Impulsiveness that accumulates and impulsiveness that comes and goes (issue 12, round 10).

The accumulated log-excess over the physics limits (a CUSUM) makes a severe burst count for more
than a marginal crossing and never leaves 0 on Gaussian noise (three sample rates and frame
lengths); impulsiveness that comes back after a burst ended names the rolling element with low
confidence, while steady impulses (a race defect's, or random ones at a steady rate) and a
single burst do not; a twin of unknown state alerts on a severe burst and names a ball from
intermittent bursts, and a known-new machine is judged by neither rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import fftconvolve

from tests.factories import CWRU_6205, run_twin
from tests.unit.features.synth import bearing_signal, noise
from twin_models.diagnosis.abnormality import WINDOW_EVIDENCE, AbnormalityRules
from twin_models.diagnosis.bearings import defect_frequencies
from twin_models.diagnosis.defects import Diagnosis
from twin_models.diagnosis.impulses import (
    BALL,
    Impulses,
    accumulate,
    ball_diagnosis,
    impulsiveness,
)
from twin_models.features.frame import frame_features
from twin_models.records import BearingGeometry
from twin_models.twin import TwinConfig

SKF_6203 = BearingGeometry(n_elements=8, ball_diameter_mm=0.2656 * 25.4, pitch_diameter_mm=1.122 * 25.4)
RULES = AbnormalityRules()
EVIDENCE_LEVEL = RULES.evidence_level
WINDOW_CAP = WINDOW_EVIDENCE


def _stats(k: float = 3.0, ek: float = 2.1, cr: float = 4.0) -> dict[str, float]:
    return {"vib.kurtosis": k, "vib.env_kurtosis": ek, "vib.crest_factor": cr}


def _run(windows: list[dict[str, float]]) -> list[Impulses]:
    state: Impulses | None = None
    out = []
    for f in windows:
        state = accumulate(state, impulsiveness(f, RULES))
        out.append(state)
    return out


def test_the_index_is_the_largest_log_ratio_to_a_limit() -> None:
    assert impulsiveness(_stats(ek=6.0), RULES) == pytest.approx(math.log(2.0))
    assert impulsiveness(_stats(k=8.0, ek=6.0), RULES) == pytest.approx(math.log(2.0))
    assert impulsiveness(_stats(cr=24.0), RULES) == pytest.approx(math.log(4.0))
    assert impulsiveness(_stats(), RULES) == pytest.approx(math.log(3.0 / 4.0))  # below every limit
    assert impulsiveness({"temp.mean": 40.0}, RULES) is None  # no vibration channel


def test_a_severe_burst_counts_more_than_a_marginal_crossing() -> None:
    """CWRU fan end: B007_3's envelope kurtosis 9.2, 88.8, 4.6 cross the level and stay beyond it
    through healthy windows; the healthy fan-end file's single 5.8 and later 3.5 do not; one
    window alone, however severe, never does (it adds at most twice a limit's evidence)."""
    severe = _run([_stats(), *(_stats(ek=e) for e in (9.2, 88.8, 4.6, 2.4, 3.2, 2.7))])
    assert severe[0].evidence == 0.0 and severe[1].evidence == pytest.approx(WINDOW_CAP)
    assert [s.evidence >= EVIDENCE_LEVEL for s in severe[2:]] == [True] * 5
    marginal = _run([_stats(ek=5.8), _stats(ek=2.5), _stats(ek=2.5), _stats(ek=2.7), _stats(ek=3.5)])
    assert max(s.evidence for s in marginal) == pytest.approx(math.log(5.8 / 3.0))
    assert all(s.evidence < EVIDENCE_LEVEL for s in marginal)
    lone = _run([_stats(), _stats(ek=88.8, k=55.7, cr=19.6), *[_stats()] * 3])
    assert max(s.evidence for s in lone) == pytest.approx(WINDOW_CAP)
    assert WINDOW_CAP < EVIDENCE_LEVEL
    # two windows at twice a limit reach the level exactly; healthy windows then spend it
    twice = _run([_stats(ek=6.0), _stats(ek=6.0), *[_stats()] * 6])
    assert twice[1].evidence == pytest.approx(EVIDENCE_LEVEL)
    assert twice[-1].evidence == 0.0


def test_impulsiveness_that_comes_back_after_a_burst_is_a_balls() -> None:
    up, down = _stats(ek=20.0), _stats(ek=3.5)
    bursty = _run([up, down, down, up, down])
    assert [s.returned for s in bursty] == [False, False, False, True, True]
    one_burst = _run([_stats(ek=3.2), up, _stats(ek=40.0), down, down, down])
    assert not any(s.returned for s in one_burst)  # up, up, down: one burst, no return
    steady = _run([_stats(ek=e) for e in (10.6, 11.2, 10.6, 11.1, 10.7, 11.3, 11.1, 11.5)])
    assert not any(s.ended or s.returned for s in steady)  # an outer race: steady impacts
    # a rise between two windows below every limit is no burst; an episode that ends forgets it
    assert not any(s.returned for s in _run([_stats(ek=2.9), _stats(ek=1.2), _stats(ek=2.9), up]))
    spent = _run([up, down, *[_stats(ek=1.5)] * 8, up])
    assert spent[-2].evidence == 0.0 and not spent[-1].returned


def test_the_ball_is_named_only_when_nothing_else_is() -> None:
    back = Impulses(3.0, 1.0, ended=True, returned=True)
    race = Diagnosis("bpfo", "outer race", True, 0.8)
    assert ball_diagnosis(race, back, True, "vib") is race
    assert ball_diagnosis(Diagnosis(), back, False, "vib") == Diagnosis()  # not abnormal
    assert ball_diagnosis(Diagnosis(), Impulses(3.0, 1.0, ended=True), True, "vib") == Diagnosis()
    ball = ball_diagnosis(Diagnosis(), back, True, "vib")
    assert (ball.defect, ball.absolute) == (BALL, True)
    assert "low confidence" in ball.evidence and "came back" in ball.evidence


def _impacts(fs: float, n: int, seed: int, rate_hz: float, noise_rms: float = 0.3) -> np.ndarray:
    """Impacts at random (Poisson) times ringing a 3.5 kHz resonance (rate 0: noise only)."""
    rng = np.random.default_rng(seed)
    times = rng.uniform(0.0, n / fs, rng.poisson(rate_hz * n / fs))
    train = np.zeros(n)
    np.add.at(train, (times * fs).astype(int), rng.exponential(1.0, times.size))
    t = np.arange(int(6 * 0.0008 * fs)) / fs
    ring = np.exp(-t / 0.0008) * np.sin(2.0 * np.pi * 3500.0 * t)
    return fftconvolve(train, ring)[:n] + noise_rms * rng.standard_normal(n)


def _features(x: np.ndarray, fs: float, geometry: BearingGeometry, shaft_hz: float) -> dict[str, float]:
    feats = frame_features(x, fs, shaft_hz=shaft_hz, geometry=geometry)
    return {**{f"vib.{k}": v for k, v in feats.items()}, "vib.shaft_hz": shaft_hz}


@pytest.mark.parametrize(("fs", "n", "geometry", "shaft_hz"), [
    (12_000.0, 12_000, CWRU_6205, 29.9), (48_000.0, 48_000, SKF_6203, 29.9),
    (20_000.0, 5_120, CWRU_6205, 33.3)])
def test_gaussian_noise_never_accumulates(fs: float, n: int, geometry: BearingGeometry,
                                          shaft_hz: float) -> None:
    """The null: Gaussian frames sit well below every limit, so the test never leaves 0."""
    feats = [_features(noise(n, seed=200 + i, shaft_hz=shaft_hz, fs=fs), fs, geometry, shaft_hz)
             for i in range(12)]
    index = [impulsiveness(f, RULES) for f in feats]
    assert all(i is not None and i < -0.1 for i in index)
    assert max(s.evidence for s in _run(feats)) == 0.0


@pytest.mark.parametrize(("fs", "n", "geometry", "shaft_hz"), [
    (12_000.0, 12_000, SKF_6203, 29.9), (48_000.0, 24_000, CWRU_6205, 24.6)])
def test_bursts_that_come_and_go_return_steady_impacts_do_not(fs: float, n: int, geometry: BearingGeometry,
                                                              shaft_hz: float) -> None:
    """Windows with and without impacts (a ball's spall in and out of the contact track) return;
    an outer race's impacts, periodic at BPFO in every window, do not (steady beyond a limit)."""
    on, off = (lambda s: _impacts(fs, n, s, 30.0)), (lambda s: _impacts(fs, n, s, 0.0))
    bursty = [_features(x, fs, geometry, shaft_hz) for x in (off(1), on(2), off(3), off(4), on(5), on(6))]
    bpfo = defect_frequencies(geometry, shaft_hz).bpfo
    steady = [_features(bearing_signal(fs=fs, n=n, defect_hz=bpfo, shaft_hz=shaft_hz, noise_rms=0.2,
                                       seed=10 + i), fs, geometry, shaft_hz) for i in range(8)]
    assert min(impulsiveness(f, RULES) or -1.0 for f in steady) > 0.0  # beyond a limit throughout
    assert [s.returned for s in _run(bursty)] == [False] * 4 + [True] * 2
    assert not any(s.ended or s.returned for s in _run(steady))
    assert _run(steady)[-1].evidence >= EVIDENCE_LEVEL


def _cwru_like(seed: int, rate_hz: float) -> dict[str, float]:
    return _features(_impacts(12_000.0, 12_000, seed, rate_hz), 12_000.0, CWRU_6205, 24.6)


def test_a_twin_of_unknown_state_names_a_ball_from_bursts_that_return() -> None:
    """CWRU-like recording (no install, warm-up throughout): bursts of impacts that come and go
    raise an alert that names the rolling element, with low confidence."""
    feats = [_cwru_like(s, r) for s, r in enumerate((0, 30, 0, 0, 30, 30, 0, 30, 30, 0))]
    snaps, alerts = run_twin(feats, TwinConfig(warmup_windows=24))
    named = [s for s in snaps if s.defect == BALL]
    assert named and all("low confidence" in s.evidence and s.verdict == "defect" for s in named)
    assert {s.verdict_confidence for s in named} == {0.2}  # low: no line names it
    assert alerts and alerts[-1].defect == BALL


def test_a_severe_burst_alerts_by_accumulation_only() -> None:
    """CWRU fan-end B007_3's pattern: one burst of 3 windows, then quiet. The limits' 2-in-a-row
    rule gives 2 anomalous windows (no alert); the accumulated evidence keeps the episode
    anomalous (an alert, naming nothing). The same recording after an install is a new machine:
    neither rule judges it; quiet windows alone never accumulate."""
    quiet = [_cwru_like(100 + i, 0.0) for i in range(8)]
    burst = [_cwru_like(120 + i, 30.0) for i in range(3)]
    feats = [*quiet[:3], *burst, *quiet[3:]]
    assert all((impulsiveness(f, RULES) or 0.0) > WINDOW_EVIDENCE for f in burst)
    snaps, alerts = run_twin(feats, TwinConfig(warmup_windows=24))
    assert [s.verdict for s in snaps[:4]] == ["healthy"] * 4
    assert [s.verdict for s in snaps[4:8]] == ["anomalous"] * 4
    assert "accumulated to" in snaps[6].evidence and "accumulated to" in snaps[7].evidence
    assert alerts and {a.defect for a in alerts} == {None} and alerts[0].verdict == "anomalous"
    limits_only = run_twin(feats, TwinConfig(warmup_windows=24, abnormal_windows=2))[0]
    assert sum(s.evidence.count("windows in a row") for s in limits_only) == 2
    _, after_install = run_twin(feats, TwinConfig(warmup_windows=24), events={0: "install"})
    assert after_install == []
    _, gauss = run_twin(quiet + quiet, TwinConfig(warmup_windows=24))
    assert gauss == []
