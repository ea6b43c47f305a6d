"""AlertPolicy: hysteresis, minimum duration, dedup, deterministic ids, explanations."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta

from tests.factories import T0
from twin_models.alerting import AlertPolicy, AlertPolicyConfig, alert_id
from twin_models.records import TwinSnapshot

BASE = TwinSnapshot(
    asset_id="pump-001", timestamp=T0, window_start=T0, condition="healthy", anomaly_score=0.2,
    health_index=1.0, rul_s=None, rul_lower_s=None, rul_upper_s=None, drift=False, n_windows=0,
    life_id=0,
)


def snaps(scores: list[float], **kw) -> list[TwinSnapshot]:  # type: ignore[no-untyped-def]
    out = []
    for i, s in enumerate(scores):
        t = T0 + timedelta(hours=i)
        cond = "degrading" if s >= 0.99 else "healthy"
        out.append(replace(BASE, timestamp=t + timedelta(hours=1), window_start=t,
                           anomaly_score=s, condition=cond, n_windows=i, **kw))
    return out


def run(policy: AlertPolicy, seq: list[TwinSnapshot]):  # type: ignore[no-untyped-def]
    return [a for s in seq for a in policy.update(s)]


def test_single_spike_does_not_raise() -> None:
    alerts = run(AlertPolicy("pump-001"), snaps([0.2, 0.9999, 0.9999, 0.2, 0.9999, 0.1]))
    assert alerts == []


def test_one_episode_gives_one_alert_id_then_clears() -> None:
    policy = AlertPolicy("pump-001", AlertPolicyConfig(clear_windows=3))
    seq = snaps([0.2, 0.9999, 0.9999, 0.9995, 0.95, 0.9999, 0.5, 0.5, 0.5, 0.2, 0.9999, 0.99999])
    alerts = run(policy, seq)
    assert [a.status for a in alerts] == ["raised", "cleared"]  # the last 2 bad windows: too short
    assert len({a.alert_id for a in alerts}) == 1
    assert alerts[0].started_at == seq[1].window_start  # the episode's first bad window
    assert alerts[0].alert_id == alert_id("pump-001", "condition", seq[1].window_start)


def test_ids_are_deterministic_across_replays() -> None:
    seq = snaps([0.2, 0.9999, 0.9999, 0.9999, 0.2])
    a = run(AlertPolicy("pump-001"), seq)
    b = run(AlertPolicy("pump-001"), seq)
    assert [x.alert_id for x in a] == [x.alert_id for x in b] and a


def test_escalation_and_diagnosis_update_the_same_episode() -> None:
    policy = AlertPolicy("pump-001")
    seq = snaps([0.9999] * 5)
    seq[3] = replace(seq[3], defect="bpfi")  # a single window's diagnosis becomes the majority
    seq[4] = replace(seq[4], health_index=0.2, condition="critical", defect="bpfo",
                     evidence="outer race: BPFO 88.2 Hz envelope line on vib 38.0x above baseline")
    alerts = run(policy, seq)
    assert [a.status for a in alerts] == ["raised", "updated", "updated"]
    assert alerts[1].defect == "bpfi" and alerts[1].severity == "warning"
    # one bpfo window against one bpfi window: the incumbent diagnosis stays (no flapping)
    assert alerts[2].severity == "critical" and alerts[2].defect == "bpfi"
    assert "Outer race: BPFO 88.2 Hz" in alerts[2].explanation
    assert "Health index 0.20" in alerts[2].explanation
    assert [a.sequence for a in alerts] == [1, 2, 3]


def test_majority_diagnosis_wins_over_the_episode() -> None:
    policy = AlertPolicy("pump-001")
    seq = snaps([0.9999] * 8)
    kinds = [None, None, "bsf", "bpfo", "bpfo", "bsf", "bpfo", "bsf"]
    seq = [replace(s, defect=k) for s, k in zip(seq, kinds, strict=True)]
    alerts = run(policy, seq)
    assert [a.defect for a in alerts] == ["bsf", "bpfo"]  # raised with bsf, bpfo takes the lead once


def test_learning_windows_never_alert_and_life_change_clears() -> None:
    policy = AlertPolicy("pump-001")
    learning = [replace(s, condition="learning") for s in snaps([0.9999] * 5)]
    assert run(policy, learning) == []
    bad = snaps([0.9999] * 3)
    assert [a.status for a in run(policy, bad)] == ["raised"]
    replaced = replace(snaps([0.1])[0], life_id=1)
    assert [a.status for a in policy.update(replaced)] == ["cleared"]


def test_an_alert_without_a_trend_rul_gives_the_damage_states_rul_and_interval() -> None:
    """Round 48: an alert raised at the first diagnosed defect said "RUL n/a" (no trend yet) while its
    own row held the damage state's RUL and its 10-90 % interval."""
    seq = snaps([0.9999] * 3, damage=0.4, damage_rul_s=100.5 * 3600, damage_rul_lower_s=4.2 * 3600,
                damage_rul_upper_s=2078.8 * 3600)
    alerts = run(AlertPolicy("pump-001"), seq)
    assert alerts and alerts[0].rul_s is None
    text = alerts[0].explanation
    assert "RUL n/a." in text and text.endswith("Damage state's RUL 4.2 d [4.2 h .. 86.6 d].")
    no_band = run(AlertPolicy("pump-001"), snaps([0.9999] * 3, damage_rul_s=7200.0))
    assert no_band[0].explanation.endswith("Damage state's RUL 2.0 h.")
    plain = run(AlertPolicy("pump-001"), snaps([0.9999] * 3))
    assert "Damage" not in plain[0].explanation


def test_a_damage_interval_beyond_the_horizon_is_said_not_dropped() -> None:
    """Round 49 (HOSTILE49): the 90 % quantile beyond the damage state's horizon is null; the text
    dropped the interval and read "Damage state's RUL 80.0 d." as if sure."""
    seq = snaps([0.9999] * 3, damage=0.1, damage_rul_s=80 * 86400.0, damage_rul_lower_s=3 * 86400.0,
                damage_rul_upper_s=None)
    text = run(AlertPolicy("pump-001"), seq)[0].explanation
    assert text.endswith("Damage state's RUL 80.0 d [3.0 d .. beyond 5 years]."), text
    for bad in (math.nan, math.inf, -math.inf):  # not the twin's: no interval, never a crash
        odd = snaps([0.9999] * 3, damage_rul_s=80 * 86400.0, damage_rul_lower_s=3 * 86400.0,
                    damage_rul_upper_s=bad)
        assert run(AlertPolicy("pump-001"), odd)[0].explanation.endswith("Damage state's RUL 80.0 d.")
    from twin_models.alerting import DAMAGE_BEYOND  # the text's horizon is the damage state's
    from twin_models.rul.damage_track import DAMAGE_HORIZON_S
    from twin_models.settings import YEAR_S

    assert DAMAGE_BEYOND == f"beyond {DAMAGE_HORIZON_S / YEAR_S:g} years"
