"""The verdict (issue 12): healthy / anomalous, not localised / a named defect, on synthetic
vibration with no healthy baseline; the alert severity ordering, the upgrade and relabel of an
anomalous episode once a defect is localised, scalar assets untouched, and the v3 contracts."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest
from scipy.signal import fftconvolve

from flows import codec
from tests.contract.test_schemas import validator
from tests.factories import CWRU_6205, T0, metadata, run_twin, windows
from tests.unit.features.synth import bearing_signal, noise
from twin_models.alerting import AlertPolicy
from twin_models.diagnosis.abnormality import AbnormalityRules, abnormality
from twin_models.diagnosis.bearings import defect_frequencies
from twin_models.features.frame import frame_features
from twin_models.records import TwinSnapshot
from twin_models.twin import AssetTwin, TwinConfig

FS = 12_000.0
N = 12_000  # 1 s frames
SHAFT_HZ = 24.6  # the factories' nominal speed
BPFO_HZ = defect_frequencies(CWRU_6205, SHAFT_HZ).bpfo


def _features(x: np.ndarray) -> dict[str, float]:
    feats = frame_features(x, FS, shaft_hz=SHAFT_HZ, geometry=CWRU_6205)
    return {**{f"vib.{k}": v for k, v in feats.items()}, "vib.shaft_hz": SHAFT_HZ}


def _shocks(seed: int, rate_hz: float = 40.0) -> np.ndarray:
    """Impacts at random (Poisson) times with random sizes, each ringing a 3.5 kHz resonance:
    impulsive, but with no period, so no envelope line stands out."""
    rng = np.random.default_rng(seed)
    times = rng.uniform(0.0, N / FS, rng.poisson(rate_hz * N / FS))
    train = np.zeros(N)
    np.add.at(train, (times * FS).astype(int), rng.exponential(1.0, times.size))
    t = np.arange(int(6 * 0.0008 * FS)) / FS
    ring = np.exp(-t / 0.0008) * np.sin(2.0 * np.pi * 3500.0 * t)
    shaft = 0.3 * np.sin(2.0 * np.pi * SHAFT_HZ * np.arange(N) / FS + 0.3)
    return fftconvolve(train, ring)[:N] + shaft + 0.2 * rng.standard_normal(N)


@pytest.fixture(scope="module")
def shock_feats() -> list[dict[str, float]]:
    return [_features(_shocks(seed=i)) for i in range(6)]


def test_gaussian_noise_is_healthy_and_silent() -> None:
    feats = [_features(noise(N, seed=200 + i, shaft_hz=SHAFT_HZ, fs=FS)) for i in range(30)]
    snaps, alerts = run_twin(feats, TwinConfig(warmup_windows=24))
    assert alerts == []
    assert {s.verdict for s in snaps} == {"healthy"}
    assert all(s.verdict_confidence is not None and s.verdict_confidence > 0.5 for s in snaps)
    assert all(s.condition in ("learning", "healthy") for s in snaps)


def test_impulsive_non_periodic_noise_is_anomalous_not_localised(
        shock_feats: list[dict[str, float]]) -> None:
    assert max(f[f"vib.env_{d}_snr"] for f in shock_feats for d in ("bpfo", "bpfi", "bsf")) < 4.0
    snaps, alerts = run_twin(shock_feats)
    assert snaps[0].verdict == "healthy"  # one abnormal window is not yet a verdict
    for s in snaps[1:]:
        assert (s.verdict, s.defect, s.condition) == ("anomalous", None, "degrading")
        assert s.verdict_confidence is not None and s.verdict_confidence > 0.5
        assert s.evidence.startswith("anomalous, not localised: vib: kurtosis ")
        assert "(healthy ~3, limit 4)" in s.evidence and "envelope kurtosis" in s.evidence
        assert "no healthy baseline yet" in s.evidence and "no defect line stands out" in s.evidence
    assert [(a.status, a.severity, a.verdict, a.defect) for a in alerts] == [
        ("raised", "info", "anomalous", None)]
    assert "Anomalous, not localised" in alerts[0].explanation


def test_periodic_impulses_at_bpfo_are_a_named_defect() -> None:
    feats = [_features(bearing_signal(fs=FS, n=N, defect_hz=BPFO_HZ, shaft_hz=SHAFT_HZ,
                                      noise_rms=0.2, seed=i)) for i in range(6)]
    snaps, alerts = run_twin(feats)
    assert [(s.verdict, s.defect) for s in snaps[1:]] == [("defect", "bpfo")] * 5
    assert all(s.verdict_confidence is not None and s.verdict_confidence > 0.7 for s in snaps[1:])
    assert [(a.status, a.severity, a.verdict, a.defect) for a in alerts] == [
        ("raised", "warning", "defect", "bpfo")]


def test_anomalous_episode_is_upgraded_and_relabelled_when_localised(
        shock_feats: list[dict[str, float]]) -> None:
    """Shocks first (anomalous, info), then the defect's line appears: the same episode is
    updated to warning and names the defect."""
    later = [_features(bearing_signal(fs=FS, n=N, defect_hz=BPFO_HZ, shaft_hz=SHAFT_HZ,
                                      noise_rms=0.2, seed=50 + i)) for i in range(4)]
    _, alerts = run_twin([*shock_feats, *later])
    assert [(a.status, a.severity, a.verdict, a.defect) for a in alerts] == [
        ("raised", "info", "anomalous", None), ("updated", "warning", "defect", "bpfo")]
    assert alerts[0].alert_id == alerts[1].alert_id


def _snap(verdict: str, *, defect: str | None = None, condition: str = "degrading",
          score: float = 0.5, i: int = 0) -> TwinSnapshot:
    ts = T0 + timedelta(hours=i)
    return TwinSnapshot("pump-001", ts + timedelta(hours=1), ts, condition, score, 1.0, None, None,
                        None, False, i, 0, defect=defect, verdict=verdict)


def test_severity_order_and_no_downgrade() -> None:
    policy = AlertPolicy("pump-001")
    msgs = [m for i in range(3) for m in policy.update(_snap("anomalous", i=i))]
    assert [(m.status, m.severity) for m in msgs] == [("raised", "info")]
    msgs = [m for i in range(3, 5) for m in policy.update(_snap("defect", defect="bpfi", i=i))]
    assert [(m.status, m.severity, m.verdict) for m in msgs] == [("updated", "warning", "defect")]
    # back to anomalous windows: the episode stays a localised warning
    assert [m for i in range(5, 8) for m in policy.update(_snap("anomalous", i=i))] == []
    cleared = [m for i in range(8, 14) for m in policy.update(_snap("healthy", condition="healthy", i=i))]
    assert [(m.status, m.severity, m.verdict, m.defect) for m in cleared] == [
        ("cleared", "warning", "defect", "bpfi")]


def test_scalar_assets_have_no_verdict_and_keep_their_severity() -> None:
    assert abnormality({"temperature.mean": 80.0, "vib.rms": 1.0}, AbnormalityRules()) is None
    rng = np.random.default_rng(3)
    feats = [{"temperature.mean": 20.0 + 0.1 * rng.standard_normal()} for _ in range(80)]
    feats += [{"temperature.mean": 90.0} for _ in range(5)]
    snaps, alerts = run_twin(feats, TwinConfig(warmup_windows=24))
    assert {s.verdict for s in snaps} == {""} and all(s.verdict_confidence is None for s in snaps)
    assert [(a.status, a.severity, a.verdict) for a in alerts][:1] == [("raised", "warning", "")]


def test_with_a_healthy_baseline_the_score_decides() -> None:
    """After a healthy warm-up the physics limits no longer decide: a window is anomalous exactly
    when the baseline's score makes the twin degrading (and no defect is named)."""
    feats = [_features(noise(N, seed=300 + i, shaft_hz=SHAFT_HZ, fs=FS)) for i in range(70)]
    feats += [_features(_shocks(seed=60 + i)) for i in range(4)]
    snaps, _ = run_twin(feats, TwinConfig(warmup_windows=24))
    after = [s for s in snaps if s.condition != "learning"]
    assert after and all((s.verdict == "anomalous") == (s.condition in ("degrading", "critical"))
                         for s in after)
    assert snaps[-1].verdict == "anomalous" and "against this asset's baseline" in snaps[-1].evidence


def test_a_baseline_learnt_from_an_abnormal_machine_is_not_healthy(
        shock_feats: list[dict[str, float]]) -> None:
    """Most warm-up windows abnormal: after the warm-up the physics still judges, so a machine first
    monitored when already damaged does not turn 'healthy' once its baseline is learnt."""
    snaps, _ = run_twin([*shock_feats, *shock_feats], TwinConfig(warmup_windows=4))
    learnt = [s for s in snaps if s.condition != "learning"]
    assert len(learnt) == len(snaps) - 1  # the first window (one abnormal window) only learns
    assert all(s.verdict == "anomalous" for s in snaps[5:])
    assert "the baseline was learnt from an abnormal machine" in snaps[-1].evidence


def _mild_shocks(seed: int) -> dict[str, float]:
    """IMS-like healthy vibration: sparse random impacts in broadband noise (envelope kurtosis
    3-6, crest 4.5-7.5, as the IMS rig's new bearings): impulsive, beyond the generic limits,
    with no period."""
    x = _shocks(seed, rate_hz=15.0)
    return _features(x + 0.35 * np.random.default_rng(1000 + seed).standard_normal(N))


@pytest.fixture(scope="module")
def mild_feats() -> list[dict[str, float]]:
    return [_mild_shocks(i) for i in range(30)]


def test_mild_shocks_are_beyond_the_limits_and_have_no_line(mild_feats: list[dict[str, float]]) -> None:
    """The premise of the known-new tests: these windows alone read "anomalous"; their sparse
    random impacts come and go, so once a burst has returned the twin (of unknown state) names a
    ball with low confidence (the limit of that evidence, :mod:`twin_models.diagnosis.impulses`)."""
    assert 3.0 < float(np.median([f["vib.env_kurtosis"] for f in mild_feats])) < 6.0
    assert 4.5 < float(np.median([f["vib.crest_factor"] for f in mild_feats])) < 7.5
    assert max(f[f"vib.env_{d}_snr"] for f in mild_feats for d in ("bpfo", "bpfi", "bsf")) < 4.0
    snaps, alerts = run_twin(mild_feats, TwinConfig(warmup_windows=24))
    assert [s.verdict for s in snaps[2:4]] == ["anomalous"] * 2
    assert "no healthy baseline yet" in snaps[3].evidence
    # window 4: the burst of window 1 (envelope kurtosis 32.7) ended in window 2 and came back
    assert [(s.verdict, s.defect) for s in snaps[4:]] == [("defect", "bsf")] * 26
    assert all("low confidence" in s.evidence for s in snaps[4:])
    assert [(a.status, a.severity, a.verdict, a.defect) for a in alerts] == [
        ("raised", "warning", "defect", "bsf")]


def test_a_new_machine_with_impulsive_healthy_vibration_raises_nothing(
        mild_feats: list[dict[str, float]]) -> None:
    """IMS-like: the life begins with an install (a new bearing), its vibration is mildly
    impulsive from the start: its first windows are its healthy state, not "anomalous"; the
    baseline they teach judges the windows after the warm-up."""
    snaps, alerts = run_twin(mild_feats, TwinConfig(warmup_windows=24), events={0: "install"})
    assert alerts == []
    assert {s.verdict for s in snaps} == {"healthy"}
    assert {s.condition for s in snaps[:24]} == {"learning"}
    assert {s.condition for s in snaps[24:]} == {"healthy"}


def test_a_new_machine_still_names_a_defect_and_its_baseline_sees_new_shocks(
        mild_feats: list[dict[str, float]]) -> None:
    """Known new is not blind: a defect line is named during the warm-up, and after it the
    baseline flags what its own healthy windows never did (strong shocks)."""
    bpfo = [_features(bearing_signal(fs=FS, n=N, defect_hz=BPFO_HZ, shaft_hz=SHAFT_HZ,
                                     noise_rms=0.2, seed=70 + i)) for i in range(4)]
    snaps, alerts = run_twin([*mild_feats[:4], *bpfo], TwinConfig(warmup_windows=24),
                             events={0: "install"})
    assert [s.verdict for s in snaps[:4]] == ["healthy"] * 4
    assert [(s.verdict, s.defect) for s in snaps[5:]] == [("defect", "bpfo")] * 3
    assert [(a.severity, a.defect) for a in alerts] == [("warning", "bpfo")]
    strong = [_features(_shocks(seed=80 + i)) for i in range(4)]
    snaps, _ = run_twin([*mild_feats, *mild_feats, *strong], TwinConfig(warmup_windows=24),
                        events={0: "install"})
    assert snaps[-1].verdict == "anomalous" and "against this asset's baseline" in snaps[-1].evidence
    assert "no healthy baseline yet" not in snaps[-1].evidence


def test_only_an_install_or_maintenance_makes_a_life_known_new(mild_feats: list[dict[str, float]]) -> None:
    """A failure starts a life of unknown state (the limits judge its warm-up) until the machine
    is replaced; an install or maintenance mid-life starts a known-new one."""
    feats = mild_feats[:16]
    for events, judged in (({5: "failure"}, True), ({5: "failure", 6: "install"}, False),
                           ({5: "maintenance"}, False)):
        snaps, _ = run_twin(feats, TwinConfig(warmup_windows=24), events={0: "install", **events})
        assert {s.verdict for s in snaps[:6]} == {"healthy"}
        assert ("anomalous" in {s.verdict for s in snaps[6:]}) is judged, events


def test_the_verdict_needs_abnormal_windows_in_a_row(shock_feats: list[dict[str, float]]) -> None:
    twin = AssetTwin(metadata(), TwinConfig(warmup_windows=40, abnormal_windows=3))
    out = [twin.update(fv) for fv in windows(shock_feats[:3])]
    assert [s.verdict for s in out] == ["healthy", "healthy", "anomalous"]
    assert [s.condition for s in out] == ["learning", "learning", "degrading"]


@pytest.mark.parametrize("verdict", ["", "healthy", "anomalous", "defect"])
def test_snapshot_with_a_verdict_validates_v3(verdict: str) -> None:
    snap = replace(_snap(verdict, defect="bpfo" if verdict == "defect" else None),
                   verdict_confidence=None if not verdict else 0.73)
    doc = json.loads(codec.encode_json(snap))
    assert (doc["verdict"], doc["verdict_confidence"]) == (verdict, None if not verdict else 0.73)
    validator("twin_snapshot").validate(doc)
    assert not validator("twin_snapshot").is_valid({**doc, "verdict": "sick"})
    assert not validator("twin_snapshot").is_valid({**doc, "verdict_confidence": 1.5})


def test_alert_with_a_verdict_validates_v3(shock_feats: list[dict[str, float]]) -> None:
    _, alerts = run_twin(shock_feats)
    doc = json.loads(codec.encode_json(alerts[0]))
    assert doc["verdict"] == "anomalous" and doc["severity"] == "info"
    validator("alert").validate(doc)
    assert not validator("alert").is_valid({**doc, "verdict": "healthy"})


def test_an_episode_counts_the_diagnoses_of_its_first_windows() -> None:
    """Two windows naming BPFO then an unlocalised one raise ONE episode that names BPFO (its
    windows start at the first bad one), at the localised defect's severity."""
    policy = AlertPolicy("pump-001")
    snaps = [_snap("defect", defect="bpfo", i=0), _snap("defect", defect="bpfo", i=1),
             _snap("anomalous", i=2)]
    msgs = [m for s in snaps for m in policy.update(s)]
    assert [(m.status, m.severity, m.verdict, m.defect) for m in msgs] == [
        ("raised", "warning", "defect", "bpfo")]
    assert msgs[0].started_at == snaps[0].window_start
