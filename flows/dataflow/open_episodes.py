"""``twin_alert_episodes_open{kind}``: the alert episodes open now, counted from the alert state.

Round 30 (USER30): Grafana's "Open alert episodes" showed raised minus cleared counters, which
start at 0 with every process: after a resume an episode raised before the restart and cleared
after it made the panel go negative. The gauge is set from the state the steps keep per asset
(the alert gate's :class:`~twin_models.alerting.AlertPolicy` episode, the twin's
:class:`~twin_models.quality.gate.SensorAlerts` episodes), which a resume restores: each asset's
open episodes count from its first item in this process, restored ones included.

Round 32 (HOSTILE32): so an asset with no item since a restart was not counted: after ``kill -9``
and a restart over a real broker with no new input the gauge said 0 while the restored state and
the archive held an open episode. A single-process ``twin run`` that resumes now starts each
asset's count from the state the resume restores (:class:`RestoredOpen`, told each state by the
recovery store's check, which unpickles them anyway); a cluster's processes still count from each
asset's first item (which process restores a key is the engine's choice)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["OpenEpisodes", "RestoredOpen", "condition_open", "sensor_open"]


class OpenEpisodes:
    """The open episodes of one alert kind over the assets this process's steps have seen: each
    asset's last count is kept, the gauge moves by the change (worker threads see other assets)."""

    def __init__(self, gauge: Any, kind: str, restored: Mapping[str, int] | None = None) -> None:
        """``restored``: each asset's open episodes in the state a resume restored."""
        self._gauge = gauge.labels(kind=kind)
        self._by_asset: dict[str, int] = {a: n for a, n in (restored or {}).items() if n}
        self._gauge.inc(sum(self._by_asset.values()))  # the series exists (0) before the first episode

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


class RestoredOpen:
    """Each asset's open episodes in the states a resume restores, by step (``alert_gate``,
    ``twin_update``): a :func:`flows.dataflow.recovery_store.prepare_store` ``loaded`` callback."""

    _COUNTS = {"alert_gate": condition_open, "twin_update": sensor_open}

    def __init__(self, flow_id: str) -> None:
        self.by_step: dict[str, dict[str, int]] = {}
        self._prefix = f"{flow_id}."

    def __call__(self, step_id: str, key: str, state: Any) -> None:
        """One restored state (the newest snapshot of ``step_id`` for ``key``)."""
        name = step_id.removeprefix(self._prefix).split(".", 1)[0]
        count = self._COUNTS.get(name) if step_id.startswith(self._prefix) else None
        if count is not None:
            self.by_step.setdefault(name, {})[key] = count(state)
