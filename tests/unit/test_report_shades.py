"""The demo plot's episode shades: a sensor's episode is not shaded as the machine's (round 48)."""

from __future__ import annotations

from datetime import timedelta

import matplotlib.axes
import pytest

from flows.app import report
from tests.factories import T0
from twin_models.records import Alert, TwinSnapshot


def alert(alert_id: str, kind: str, severity: str, hours: int, sequence: int = 0) -> Alert:
    return Alert(alert_id=alert_id, asset_id="pump-001", kind=kind, severity=severity,  # type: ignore[arg-type]
                 status="raised" if sequence == 0 else "updated", started_at=T0,
                 timestamp=T0 + timedelta(hours=hours), explanation="", anomaly_score=0.0, health_index=1.0,
                 rul_s=None, sequence=sequence)


def test_a_sensor_episode_has_its_own_shade_and_a_condition_episode_its_worst_severity(
        monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    alerts = [alert("c1", "condition", "info", 1), alert("c1", "condition", "warning", 3, 1),
              alert("s1", "sensor", "info", 2), alert("s2", "sensor", "warning", 4)]
    colours: list[str] = []
    real = matplotlib.axes.Axes.axvspan

    def spy(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs.get("color") is not None:
            colours.append(kwargs["color"])
        return real(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "axvspan", spy)
    snaps = [TwinSnapshot(asset_id="pump-001", timestamp=T0 + timedelta(hours=h + 1),
                          window_start=T0 + timedelta(hours=h), condition="healthy", anomaly_score=0.2,
                          health_index=1.0, rul_s=None, rul_lower_s=None, rul_upper_s=None, drift=False,
                          n_windows=h, life_id=0) for h in range(5)]
    report.plot_fleet(snaps, alerts, tmp_path / "fleet.png")
    assert sorted(colours) == sorted(["tab:orange", "tab:cyan", "tab:cyan"])
