"""``twin_alert_episodes_open{kind}``: the alert episodes open now, counted from the alert state.

Round 30 (USER30): Grafana's "Open alert episodes" showed raised minus cleared counters, which
start at 0 with every process: after a resume an episode raised before the restart and cleared
after it made the panel go negative. The gauge is set from the state the steps keep per asset
(the alert gate's :class:`~twin_models.alerting.AlertPolicy` episode, the twin's
:class:`~twin_models.quality.gate.SensorAlerts` episodes), which a resume restores: each asset's
open episodes count from its first item in this process, restored ones included."""

from __future__ import annotations

from typing import Any

__all__ = ["OpenEpisodes", "condition_open", "sensor_open"]


class OpenEpisodes:
    """The open episodes of one alert kind over the assets this process's steps have seen: each
    asset's last count is kept, the gauge moves by the change (worker threads see other assets)."""

    def __init__(self, gauge: Any, kind: str) -> None:
        self._gauge = gauge.labels(kind=kind)
        self._gauge.inc(0)  # the series exists (0) before the first episode
        self._by_asset: dict[str, int] = {}

    def observe(self, asset_id: str, n_open: int) -> None:
        """``asset_id`` has ``n_open`` episodes of this kind open after its latest step."""
        old = self._by_asset.get(asset_id, 0)
        if n_open != old:
            self._gauge.inc(n_open - old)
            self._by_asset[asset_id] = n_open


def condition_open(gate_state: Any) -> int:
    """1 when the alert gate's state (a GateState, or a bare AlertPolicy of an older snapshot)
    holds an open condition episode, else 0."""
    policy = getattr(gate_state, "policy", gate_state)
    return int(getattr(getattr(policy, "state", None), "active", None) is not None)


def sensor_open(twin: Any) -> int:
    """The sensor alert episodes open on ``twin`` (its SensorAlerts policy, made on first use)."""
    policy = getattr(twin, "sensor_alert_policy", None)
    return 0 if policy is None else len(policy.active)
