"""The demo summary's damage RUL for a fault: at the detecting window, or, when the alert came
before the defect was diagnosed, the first damage estimate of the life after it (with its delay)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flows.app.demo import _damage_at
from twin_models.evaluate.detection import FaultOutcome
from twin_models.records import TwinSnapshot

T0 = datetime(2026, 1, 10, tzinfo=UTC)
H = timedelta(hours=1)


def _snap(hours: int, damage: float | None, life: int = 0) -> TwinSnapshot:
    at = T0 + hours * H
    rul = None if damage is None else 3600.0 * (50 - hours)
    return TwinSnapshot("pump-1", at, at - H, "degrading", 1.0, 0.9, None, None, None, False, hours, life,
                        damage=damage, damage_rul_s=rul, damage_rul_lower_s=None if rul is None else rul / 2,
                        damage_rul_upper_s=None if rul is None else rul * 2)


def _fault(detected_h: int, failure_h: int = 40) -> FaultOutcome:
    return FaultOutcome("pump-1", 0, "bpfo", T0, T0 + failure_h * H, T0 + detected_h * H, None, None, None,
                        "bpfo")


def _index(snaps: list[TwinSnapshot]) -> dict[tuple[str, datetime], TwinSnapshot]:
    return {(s.asset_id, s.timestamp): s for s in snaps}


def test_the_detecting_windows_damage_rul_with_no_delay() -> None:
    got = _damage_at(_fault(5), _index([_snap(4, 0.1), _snap(5, 0.2), _snap(6, 0.3)]))
    assert got["damage_rul_h"] == 45.0 and got["damage_rul_p10_h"] == 22.5 and got["damage_rul_p90_h"] == 90.0
    assert got["damage_rul_delay_h"] == 0.0 and got["damage_true_rul_h"] == 35.0


def test_a_defect_diagnosed_after_the_alert_gives_the_first_estimate_after_it() -> None:
    snaps = [_snap(5, None), _snap(6, None), _snap(8, 0.2), _snap(9, 0.3), _snap(7, None, life=1)]
    got = _damage_at(_fault(5), _index(snaps))
    assert got["damage_rul_delay_h"] == 3.0 and got["damage_rul_h"] == 42.0
    assert got["damage_true_rul_h"] == 32.0


def test_no_estimate_before_the_failure_is_none() -> None:
    snaps = [_snap(5, None), _snap(41, 0.9)]  # only after the failure
    got = _damage_at(_fault(5), _index(snaps))
    assert all(v is None for v in got.values())
