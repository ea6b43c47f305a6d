"""Gating and sensor alerts: what the data-quality state does to the twin and the alerts.

:func:`quality_step` judges a window's channels with the asset's :class:`QualityMonitor` (kept
beside the twin) and returns the window the models may see: a ``bad`` channel's features are
masked (NaN), so the channel neither teaches the baseline (the detector learns finite values only)
nor moves the anomaly score, the health index or the diagnosis: it cannot raise a condition alert
on its own, while the other channels still find a real fault. ``suspect`` channels (timing) are
kept: their values are right.

:class:`SensorAlerts` raises ``sensor`` alerts instead: one episode per (asset, channel, check),
raised after ``MIN_WINDOWS`` windows in a row with that check, updated when it turns from
``suspect`` (severity info) to ``bad`` (warning), cleared after ``CLEAR_WINDOWS`` windows without
it; the ``alert_id`` hashes asset, ``sensor|<channel>|<check>`` and the first window, as the
condition alerts do, so replays give the same ids.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from twin_models.alerting import alert_id
from twin_models.fastrecord import replace_record
from twin_models.quality.clock import ClockSkew
from twin_models.quality.monitor import QualityMonitor, WindowQuality
from twin_models.records import Alert, AssetMetadata, ChannelQuality, FeatureVector, Severity, TwinSnapshot

__all__ = ["CLEAR_WINDOWS", "MIN_WINDOWS", "SensorAlerts", "annotate", "gate_window", "kept_out_window",
           "quality_step", "sensor_alerts"]

MIN_WINDOWS = 2
"""Windows in a row with a check before its sensor alert (one isolated spike is gated, not paged)."""
CLEAR_WINDOWS = 3
"""Windows in a row without the check that clear its episode."""


def gate_window(fv: FeatureVector, states: Sequence[ChannelQuality]) -> FeatureVector:
    """``fv`` with the features of its ``bad`` channels masked (NaN); ``fv`` itself when none."""
    if type(states) is WindowQuality:  # the monitor's window: its bad channels found as it judged
        if not states.bad:
            return fv
        bad = {c + "." for c in states.bad}
    else:
        bad = {q.channel + "." for q in states if q.state == "bad"}
    if not bad:
        return fv
    nan = math.nan
    feats = {k: (nan if k[:k.find(".") + 1] in bad else v) for k, v in fv.features.items()}
    return replace(fv, features=feats)


def quality_step(twin: Any, fv: FeatureVector, quality: Mapping[str, Any]
                 ) -> tuple[FeatureVector, WindowQuality, list[ChannelQuality]]:
    """Judge the window's channels (``quality``: channel -> ChannelStats, and the ClockSkew flags
    of the clock check) with the monitor kept on ``twin`` (created on first use): the gated
    window, every channel's state (a :class:`WindowQuality`) and the states that changed (what
    the archive records)."""
    monitor: QualityMonitor | None = getattr(twin, "quality_monitor", None)
    if monitor is None:
        meta: AssetMetadata = twin.metadata
        monitor = twin.quality_monitor = QualityMonitor(meta)
    fault = getattr(twin, "damage_state", None) is not None  # a bearing defect diagnosed in this life
    states = monitor.judge(fv.window_end, quality, (), fault)
    return gate_window(fv, states), states, states.changed


def annotate(snap: TwinSnapshot, states: Sequence[ChannelQuality]) -> TwinSnapshot:
    """The snapshot with every judged channel's (channel, state, check)."""
    if not states:
        return snap
    marks = (states.marks if type(states) is WindowQuality
             else tuple([(q.channel, q.state, q.check) for q in states]))
    return replace_record(snap, data_quality=marks)


_SUSPECT_KEPT = {  # what a suspect channel's alert says of its values, by check
    "drift": "its values are kept until the drift is confirmed (then bad: kept from the models)",
    "": "its values are kept (a timing problem)",  # gap, clock
}


@dataclass(slots=True)
class _Episode:
    alert_id: str
    started_at: datetime
    severity: Severity
    sequence: int = 0
    quiet: int = 0  # windows in a row without the check


class SensorAlerts:
    """Sensor alert episodes of one asset (picklable, bounded by its channels x checks)."""

    def __init__(self, asset_id: str) -> None:
        self.asset_id = asset_id
        self.runs: dict[tuple[str, str], tuple[int, datetime]] = {}  # (channel, check) -> run, start
        self.active: dict[tuple[str, str], _Episode] = {}
        self.last: TwinSnapshot | None = None  # the last window's snapshot (kept_out_window)

    def update(self, snap: TwinSnapshot, states: Sequence[ChannelQuality]) -> list[Alert]:
        """Feed one window's channel states (with the twin's snapshot of it)."""
        self.last = snap  # what a window without features reports with (kept_out_window)
        out: list[Alert] = []
        flagged = states.flagged if type(states) is WindowQuality else states  # (ok ones count for nothing)
        hit = {(q.channel, q.check): q for q in flagged if q.state != "ok"}
        for key in [k for k in self.runs if k not in hit]:
            del self.runs[key]
        for key, q in hit.items():
            run, start = self.runs.get(key, (0, snap.window_start))
            self.runs[key] = (run + 1, start)
            severity: Severity = "warning" if q.state == "bad" else "info"
            ep = self.active.get(key)
            if ep is not None:
                ep.quiet = 0
                if severity == "warning" and ep.severity == "info":
                    ep.severity = severity
                    out.append(self._message(ep, key, snap, "updated", q))
            elif run + 1 >= MIN_WINDOWS:
                ep = self.active[key] = _Episode(
                    alert_id(self.asset_id, f"sensor|{key[0]}|{key[1]}", start), start, severity)
                out.append(self._message(ep, key, snap, "raised", q))
        for key in [k for k in self.active if k not in hit]:
            ep = self.active[key]
            ep.quiet += 1
            if ep.quiet >= CLEAR_WINDOWS:
                out.append(self._message(ep, key, snap, "cleared", None))
                del self.active[key]
        return out

    def _message(self, ep: _Episode, key: tuple[str, str], snap: TwinSnapshot, status: str,
                 q: ChannelQuality | None) -> Alert:
        ep.sequence += 1
        channel, check = key
        if q is None:
            text = (f"{self.asset_id}: sensor {channel}: {check} no longer seen for "
                    f"{CLEAR_WINDOWS} windows; the channel is trusted again.")
        else:
            gated = ("its data is kept from the models (no baseline learning, no condition alert "
                     "from it)") if q.state == "bad" else _SUSPECT_KEPT.get(check, _SUSPECT_KEPT[""])
            text = f"{self.asset_id}: sensor {channel}: {check} ({q.state}): {q.reason}; {gated}."
        return Alert(
            alert_id=ep.alert_id, asset_id=self.asset_id, kind="sensor", severity=ep.severity,
            status=status,  # type: ignore[arg-type]
            started_at=ep.started_at, timestamp=snap.timestamp, explanation=text,
            anomaly_score=snap.anomaly_score, health_index=snap.health_index, rul_s=snap.rul_s,
            sequence=ep.sequence, lineage=snap.lineage, channel=channel, check=check)


def sensor_alerts(twin: Any, snap: TwinSnapshot, states: Sequence[ChannelQuality]) -> list[Alert]:
    """The sensor alerts of this window, from the policy kept on ``twin`` (created on first use)."""
    policy: SensorAlerts | None = getattr(twin, "sensor_alert_policy", None)
    if policy is None:
        if not states:
            return []
        policy = twin.sensor_alert_policy = SensorAlerts(snap.asset_id)
    return policy.update(snap, states)


def kept_out_window(twin: Any, fv: FeatureVector) -> list[Alert | ChannelQuality]:
    """A window without features whose records the clock check kept out (a whole asset's clock
    jumped: :mod:`twin_models.quality.arrival`): its channels are judged (``clock``) and its sensor
    alerts raised as in any window, reported with the asset's last snapshot re-timed to the
    window (the models see nothing). Nothing for a window without clock skews, or before the
    asset's first judged window."""
    quality = getattr(fv, "quality", {})
    if not any(isinstance(v, ClockSkew) for v in quality.values()):
        return []
    policy: SensorAlerts | None = getattr(twin, "sensor_alert_policy", None)
    last: TwinSnapshot | None = getattr(policy, "last", None)
    if last is None:
        return []
    _fv, states, changed = quality_step(twin, fv, quality)
    snap = replace(last, timestamp=fv.window_end, window_start=fv.window_start, lineage=None)
    return [*sensor_alerts(twin, snap, states), *changed]
