"""Score sensor alerts and condition alerts against the simulator's sensor-fault truth (issue 13).

Pure: it takes the truth records (:class:`SensorFaultLike`, e.g. the simulator's
``SensorFaultTruth``), the machine's lives (:class:`~twin_models.evaluate.detection.LifeLike`) and
the run's alert messages, and counts:

- **detected**: a sensor fault is detected by the first sensor alert episode (``kind ==
  "sensor"``, its ``raised`` message) of the same asset and channel, with a ``check`` among the
  fault's expected checks, whose ``started_at`` lies in ``[start - before_s, end + after_s]``:
  ``before_s`` (default one 1-h window) because an episode may start at the beginning of the
  window that holds the fault's start, ``after_s`` (default 6 h) because some checks can only
  confirm a fault when it ends (a gap is seen when the data resume) and an alert needs a few bad
  windows in a row. Its **delay** is the raised message's time minus the fault's start.
- **other check**: a sensor episode on a faulty channel in that interval, with another check
  (not a detection, not false);
- **collateral**: a sensor episode on another channel of an asset during one of its sensor
  faults (a clock jump on one channel makes the others late, hence gaps);
- **false sensor alerts**: every other sensor episode (a clean channel at a clean time); the
  exposure is the running time of every channel outside its faults, in channel-months (30 days);
- **condition alerts during sensor faults**: condition episodes (any other kind) of an asset
  whose ``started_at`` lies in ``[start - before_s, end + after_s]`` of one of its sensor faults
  (the same interval: an episode starts at the beginning of its first bad window) while the
  machine was healthy (no real bearing fault: before its life's fault onset): the alerts a
  sensor fault raised, which gating should avoid. Those during a real fault are counted apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from twin_models.evaluate.detection import MONTH_S, LifeLike, life_end

__all__ = [
    "SENSOR_ALERT_KIND",
    "SensorAlertLike",
    "SensorFaultLike",
    "SensorFaultOutcome",
    "SensorFaultReport",
    "evaluate_sensor_faults",
]

SENSOR_ALERT_KIND = "sensor"


class SensorFaultLike(Protocol):
    """What scoring needs of one sensor fault's ground truth."""

    @property
    def asset_id(self) -> str: ...
    @property
    def channel(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime: ...
    @property
    def checks(self) -> tuple[str, ...]: ...


class SensorAlertLike(Protocol):
    """What scoring needs of an alert message (``Alert`` with the sensor fields)."""

    @property
    def asset_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def started_at(self) -> datetime: ...
    @property
    def timestamp(self) -> datetime: ...
    @property
    def channel(self) -> str: ...
    @property
    def check(self) -> str: ...


@dataclass(frozen=True)
class SensorFaultOutcome:
    """What happened to one sensor fault."""

    asset_id: str
    channel: str
    kind: str
    start: datetime
    end: datetime
    checks: tuple[str, ...]
    machine_faulty: bool  # the machine had a real bearing fault at the sensor fault's start
    detected_at: datetime | None  # the detecting episode's raised message
    check: str | None  # the detecting episode's check
    condition_alerts: int  # condition episodes started during it (all, healthy machine or not)

    @property
    def delay_s(self) -> float | None:
        """Seconds from the fault's start to its detection."""
        return None if self.detected_at is None else (self.detected_at - self.start).total_seconds()


@dataclass(frozen=True)
class SensorFaultReport:
    """Sensor faults detected, false sensor alerts, condition alerts during sensor faults."""

    faults: tuple[SensorFaultOutcome, ...]
    sensor_alerts: int  # sensor alert episodes
    other_check: int
    collateral: int
    false_sensor_alerts: int
    clean_channel_months: float
    condition_during_healthy: int  # condition episodes a sensor fault raised on a healthy machine
    condition_during_machine_fault: int

    @property
    def detected(self) -> int:
        """Sensor faults detected by the expected check."""
        return sum(f.detected_at is not None for f in self.faults)

    def by_kind(self) -> dict[str, tuple[int, int]]:
        """Kind -> (detected, injected), in order of first appearance."""
        out: dict[str, tuple[int, int]] = {}
        for f in self.faults:
            d, n = out.get(f.kind, (0, 0))
            out[f.kind] = (d + (f.detected_at is not None), n + 1)
        return out

    @property
    def false_per_channel_month(self) -> float:
        """False sensor alert episodes per channel-month of clean telemetry."""
        return self.false_sensor_alerts / self.clean_channel_months if self.clean_channel_months else 0.0


def _machine_faulty(lives: Sequence[LifeLike], asset_id: str, ts: datetime, run_end: datetime) -> bool:
    """Whether the asset's bearing had a real fault at ``ts`` (onset <= ts < its life's end)."""
    for i, life in enumerate(lives):
        if life.asset_id != asset_id or life.fault_onset is None:
            continue
        if life.fault_onset <= ts < (life.failure_at or life_end(lives, i, run_end)):
            return True
    return False


def _running_s(lives: Sequence[LifeLike], asset_id: str, run_end: datetime) -> float:
    """Seconds the asset ran (install to failure or to the next install or the end)."""
    total = 0.0
    for i, life in enumerate(lives):
        if life.asset_id == asset_id:
            stop = min(life.failure_at or run_end, life_end(lives, i, run_end))
            total += max((stop - life.installed_at).total_seconds(), 0.0)
    return total


def evaluate_sensor_faults(
    truths: Sequence[SensorFaultLike],
    lives: Sequence[LifeLike],
    alerts: Iterable[SensorAlertLike],
    run_end: datetime,
    *,
    channels: Sequence[str],
    before_s: float = 3600.0,
    after_s: float = 6 * 3600.0,
) -> SensorFaultReport:
    """Match the run's sensor and condition alert episodes against the sensor-fault truth
    (``channels``: every asset's channels, for the clean exposure)."""
    raised = sorted((a for a in alerts if a.status == "raised"), key=lambda a: a.started_at)
    sensor = [a for a in raised if a.kind == SENSOR_ALERT_KIND]
    condition = [a for a in raised if a.kind != SENSOR_ALERT_KIND]
    before, after = timedelta(seconds=before_s), timedelta(seconds=after_s)

    def near(a: SensorAlertLike, t: SensorFaultLike) -> bool:
        return a.asset_id == t.asset_id and t.start - before <= a.started_at <= t.end + after

    used: set[int] = set()
    outcomes = []
    for t in truths:
        hit = next((a for a in sensor if id(a) not in used and near(a, t) and a.channel == t.channel
                    and a.check in t.checks), None)
        if hit is not None:
            used.add(id(hit))
        during = [a for a in condition if near(a, t)]
        outcomes.append(SensorFaultOutcome(
            t.asset_id, t.channel, t.kind, t.start, t.end, tuple(t.checks),
            _machine_faulty(lives, t.asset_id, t.start, run_end),
            None if hit is None else hit.timestamp, None if hit is None else hit.check, len(during)))
    rest = [a for a in sensor if id(a) not in used]
    other = {id(a) for a in rest if any(near(a, t) and a.channel == t.channel for t in truths)}
    collateral = {id(a) for a in rest if id(a) not in other and any(near(a, t) for t in truths)}
    healthy = faulty = 0
    for a in condition:
        if any(near(a, t) for t in truths):
            if _machine_faulty(lives, a.asset_id, a.started_at, run_end):
                faulty += 1
            else:
                healthy += 1
    assets = sorted({life.asset_id for life in lives})
    faulty_s = sum((min(t.end, run_end) - t.start).total_seconds() for t in truths)
    clean_s = sum(_running_s(lives, a, run_end) for a in assets) * len(channels) - faulty_s
    return SensorFaultReport(
        tuple(outcomes), len(sensor), len(other), len(collateral),
        len(rest) - len(other) - len(collateral), max(clean_s, 0.0) / MONTH_S, healthy, faulty)
