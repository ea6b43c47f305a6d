"""Absolute defect evidence: a persistent envelope line far above the spectral background makes the
twin say ``degrading`` and name the defect without any healthy baseline (also during warm-up), and
the alert policy raises an explained alert for it; noise never does."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest

from tests.factories import CWRU_6205, T0, metadata, run_twin, windows
from tests.unit.features.synth import bearing_signal, noise
from twin_models.alerting import AlertPolicy, AlertPolicyConfig
from twin_models.diagnosis.bearings import defect_frequencies
from twin_models.features.frame import frame_features
from twin_models.records import TwinSnapshot
from twin_models.twin import AssetTwin, TwinConfig

FS = 12_000.0
N = 12_000  # 1 s frames
SHAFT_HZ = 24.6  # the factories' nominal speed
BPFO_HZ = defect_frequencies(CWRU_6205, SHAFT_HZ).bpfo  # 88.2 Hz


def _window_features(x: np.ndarray) -> dict[str, float]:
    feats = frame_features(x, FS, shaft_hz=SHAFT_HZ, geometry=CWRU_6205)
    return {**{f"vib.{k}": v for k, v in feats.items()}, "vib.shaft_hz": SHAFT_HZ}


def _snr_windows(snrs: list[float], defect: str = "bpfo") -> list[dict[str, float]]:
    """Windows whose only envelope evidence is ``env_<defect>_snr`` (others at noise level)."""
    base = {"vib.rms": 0.3, "vib.env_bpfo_snr": 1.7, "vib.env_bpfi_snr": 1.7, "vib.env_bsf_snr": 1.7,
            "vib.env_ftf_snr": 1.7, "vib.shaft_hz": SHAFT_HZ}
    return [{**base, f"vib.env_{defect}_snr": s} for s in snrs]


@pytest.fixture(scope="module")
def bpfo_feats() -> list[dict[str, float]]:
    """A bearing with an outer-race defect from the first window on (no healthy history)."""
    return [_window_features(bearing_signal(fs=FS, n=N, defect_hz=BPFO_HZ, shaft_hz=SHAFT_HZ,
                                            noise_rms=0.2, seed=i)) for i in range(8)]


def test_synthetic_bpfo_is_diagnosed_and_alerted_during_warm_up(bpfo_feats: list[dict[str, float]]) -> None:
    snaps, alerts = run_twin(bpfo_feats)
    # one window does not name the defect, but its line at the bar is already "anomalous, not
    # localised" (issue 12, round 9): the first window of the evidence counts toward the alert
    first = snaps[0]
    assert (first.condition, first.defect, first.verdict) == ("degrading", None, "anomalous")
    assert "BPFO envelope line on vib" in first.evidence and "not held long enough" in first.evidence
    for s in snaps[1:]:
        assert s.condition == "degrading" and s.defect == "bpfo"
        assert s.evidence.startswith("outer race: BPFO 88.2 Hz envelope line on vib ")
        assert "x the spectral background (SNR)" in s.evidence
        assert "no healthy baseline yet" in s.evidence
    assert [a.status for a in alerts] == ["raised"]  # 3 bad windows in a row, during the warm-up
    raised = alerts[0]
    assert raised.defect == "bpfo" and raised.severity == "warning"
    assert raised.started_at == snaps[0].window_start
    assert "Outer race: BPFO 88.2 Hz" in raised.explanation
    assert "Top deviations" not in raised.explanation  # no baseline yet, so no deviations from it


def test_pure_noise_is_never_diagnosed_nor_alerted() -> None:
    feats = [_window_features(noise(N, seed=100 + i, shaft_hz=SHAFT_HZ, fs=FS)) for i in range(40)]
    assert max(max(f[f"vib.env_{d}_snr"] for d in ("bpfo", "bpfi", "bsf")) for f in feats) < 4.0
    snaps, alerts = run_twin(feats, TwinConfig(warmup_windows=24))
    assert alerts == []
    assert all("spectral background" not in s.evidence for s in snaps)
    assert all(s.condition == "learning" and s.defect is None for s in snaps[:24])


def test_one_strong_window_is_not_persistent() -> None:
    snaps, alerts = run_twin(_snr_windows([1.8, 9.0, 1.9, 9.0, 2.0, 9.0, 1.7]))
    assert all(s.condition == "learning" and s.defect is None for s in snaps)
    assert alerts == []


def test_the_run_belongs_to_one_line_and_the_strongest_persistent_line_wins() -> None:
    feats = _snr_windows([9.0, 1.8, 1.8, 1.8])
    feats[1]["vib.env_bpfi_snr"] = 9.0  # bpfo then bpfi: two different lines, no run
    feats[2].update({"vib.env_bpfi_snr": 6.0, "vib.env_bpfo_snr": 1.8})
    feats[3].update({"vib.env_bpfi_snr": 5.0, "vib.env_bsf_snr": 7.0})
    snaps, _ = run_twin(feats)
    assert [s.defect for s in snaps] == [None, None, "bpfi", "bpfi"]  # bsf held only 1 window
    assert "inner race: BPFI" in snaps[2].evidence and "2 windows in a row" in snaps[2].evidence
    assert "3 windows in a row" in snaps[3].evidence


def test_ball_defect_is_named_at_twice_the_ball_spin_frequency() -> None:
    snaps, _ = run_twin(_snr_windows([6.0, 6.0], defect="bsf"))
    bsf2 = 2.0 * defect_frequencies(CWRU_6205, SHAFT_HZ).bsf
    assert snaps[1].defect == "bsf"
    assert snaps[1].evidence.startswith(f"rolling element: 2xBSF {bsf2:.1f} Hz envelope line")


def test_thresholds_come_from_the_config_and_inf_disables_the_path() -> None:
    feats = _snr_windows([5.0] * 6)
    snaps, _ = run_twin(feats, TwinConfig(defect_min_snr=5.5))
    assert all(s.defect is None for s in snaps)
    snaps, _ = run_twin(feats, TwinConfig(defect_snr_windows=4))
    assert [s.defect for s in snaps] == [None] * 3 + ["bpfo"] * 3
    snaps, alerts = run_twin(_snr_windows([50.0] * 6), TwinConfig(defect_min_snr=float("inf")))
    assert all(s.defect is None for s in snaps) and alerts == []


def test_a_new_life_restarts_the_run() -> None:
    twin = AssetTwin(metadata())
    fvs = windows(_snr_windows([9.0] * 4), events={1: "failure"})
    snaps = [twin.update(fv) for fv in fvs]
    assert [s.defect for s in snaps] == [None, "bpfo", None, "bpfo"]
    assert [s.life_id for s in snaps] == [0, 0, 1, 1]


def test_twins_restored_from_state_without_the_run_counters_still_work() -> None:
    twin = AssetTwin(metadata())
    del twin.__dict__["_snr_runs"]  # a twin pickled before this feature existed
    restored = copy.deepcopy(twin)
    snaps = [restored.update(fv) for fv in windows(_snr_windows([9.0, 9.0]))]
    assert snaps[1].defect == "bpfo"


def test_baseline_relative_evidence_waits_for_a_learnt_baseline() -> None:
    feats = _snr_windows([1.8] * 6)
    for i, f in enumerate(feats):
        f["vib.env_bpfo_amp"] = 0.01 * (1 + 3 * (i == 5))  # a 4x line in the warm-up's 6th window
    snaps, _ = run_twin(feats, TwinConfig(warmup_windows=24))
    assert all(s.defect is None and s.evidence == "" for s in snaps)


def _snap(condition: str, defect: str | None, i: int) -> TwinSnapshot:
    t = T0 + timedelta(hours=i)
    return TwinSnapshot(asset_id="pump-001", timestamp=t + timedelta(hours=1), window_start=t,
                        condition=condition, anomaly_score=0.0, health_index=1.0, rul_s=None,
                        rul_lower_s=None, rul_upper_s=None, drift=False, n_windows=i, life_id=0,
                        defect=defect, evidence="outer race: BPFO ..." if defect else "")


def test_policy_explained_degradation_raises_stays_open_and_clears() -> None:
    seq = [_snap("degrading", "bpfo", i) for i in range(5)]
    seq += [_snap("learning", None, 5 + i) for i in range(6)]
    policy = AlertPolicy("pump-001", AlertPolicyConfig(clear_windows=6))
    alerts = [a for s in seq for a in policy.update(s)]
    assert [a.status for a in alerts] == ["raised", "cleared"]
    assert alerts[0].defect == "bpfo" and alerts[0].timestamp == seq[2].timestamp
    assert alerts[1].timestamp == seq[-1].timestamp  # six good windows after the evidence went


def test_policy_needs_a_named_defect_and_can_be_told_to_ignore_it() -> None:
    unexplained = [_snap("degrading", None, i) for i in range(5)]  # score 0: not bad without a defect
    assert [a for s in unexplained for a in AlertPolicy("pump-001").update(s)] == []
    explained = [_snap("degrading", "bpfi", i) for i in range(5)]
    off = AlertPolicy("pump-001", AlertPolicyConfig(raise_on_defect=False))
    assert [a for s in explained for a in off.update(s)] == []
    learning = [replace(s, condition="learning") for s in explained]  # a named defect alone is not bad
    assert [a for s in learning for a in AlertPolicy("pump-001").update(s)] == []
