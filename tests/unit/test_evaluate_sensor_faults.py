"""Scoring sensor alerts and condition alerts against sensor-fault truth, on hand-made lists."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from flows.app.demo_sensors import AlertView, truth_from_json, truth_to_json
from flows.codec.encode import encode_json
from twin_models.evaluate.detection import MONTH_S, evaluate_detection
from twin_models.evaluate.sensor_faults import SensorFaultReport, evaluate_sensor_faults
from twin_models.records import Alert
from twin_models.simulator.fleet import FleetConfig, LifeTruth, sensor_fault_truth
from twin_models.simulator.sensor_faults import OPTIONAL_KINDS, SENSOR_FAULT_KINDS, SensorFaultTruth

T0 = datetime(2026, 1, 1, tzinfo=UTC)
END = T0 + timedelta(days=30)
CHANNELS = ("vib", "temperature", "current")


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def Truth(asset_id: str, channel: str, kind: str, start: datetime, end: datetime,  # noqa: N802
          checks: tuple[str, ...]) -> SensorFaultTruth:
    """A hand-made ground truth: the simulator's own record (what the scorer gets in the demo
    and, through the truth file, in the Kafka benchmark)."""
    return SensorFaultTruth(asset_id, channel, kind, start, end, checks, "", False)


@dataclass(frozen=True)
class A:
    asset_id: str
    kind: str
    started_at: datetime
    timestamp: datetime
    channel: str = ""
    check: str = ""
    status: str = "raised"


LIVES = [  # pump-1 healthy all run; pump-2 bearing fault from h 200, failure at h 400, reinstalled h 412
    LifeTruth("pump-1", 0, T0, None, None, None),
    LifeTruth("pump-2", 0, T0, "bpfo", h(200), h(400)),
    LifeTruth("pump-2", 1, h(412), None, None, None),
]
TRUTHS = [
    Truth("pump-1", "temperature", "flatline", h(100), h(110), ("flatline",)),
    Truth("pump-1", "vib", "dropout", h(300), h(304), ("gap",)),
    Truth("pump-2", "current", "drift", h(250), h(350), ("drift",)),
]


def _score(alerts: list[A]) -> SensorFaultReport:
    return evaluate_sensor_faults(TRUTHS, LIVES, alerts, END, channels=CHANNELS)


def test_detected_with_delay_missed_and_by_kind() -> None:
    alerts = [
        A("pump-1", "sensor", h(101), h(103), "temperature", "flatline"),
        A("pump-1", "sensor", h(303), h(306), "vib", "gap"),  # a gap is seen when data resume
        A("pump-1", "sensor", h(101), h(104), "temperature", "flatline", status="cleared"),
    ]
    rep = _score(alerts)
    assert rep.detected == 2
    assert rep.by_kind() == {"flatline": (1, 1), "dropout": (1, 1), "drift": (0, 1)}
    flat, gap, drift = rep.faults
    assert flat.detected_at == h(103) and flat.delay_s == 3 * 3600.0 and flat.check == "flatline"
    assert gap.delay_s == 6 * 3600.0
    assert drift.detected_at is None and drift.delay_s is None and drift.machine_faulty
    assert rep.sensor_alerts == 2 and rep.false_sensor_alerts == 0


def test_slack_before_and_after_the_fault() -> None:
    early = A("pump-1", "sensor", h(99.5), h(101), "temperature", "flatline")  # window holding the start
    late = A("pump-1", "sensor", h(116.5), h(118), "temperature", "flatline")  # > 6 h after the end
    assert _score([early]).detected == 1
    rep = _score([late])
    assert rep.detected == 0 and rep.false_sensor_alerts == 1
    assert _score([early]).faults[0].delay_s == 3600.0


def test_wrong_check_wrong_channel_and_false_alerts() -> None:
    alerts = [
        A("pump-1", "sensor", h(102), h(103), "temperature", "drift"),  # faulty channel, other check
        A("pump-1", "sensor", h(102), h(103), "current", "gap"),  # another channel, same asset, same time
        A("pump-1", "sensor", h(500), h(501), "temperature", "flatline"),  # clean time
        A("pump-2", "sensor", h(102), h(103), "temperature", "flatline"),  # clean asset at that time
    ]
    rep = _score(alerts)
    assert rep.detected == 0
    assert (rep.other_check, rep.collateral, rep.false_sensor_alerts) == (1, 1, 2)
    assert rep.sensor_alerts == 4
    running_s = (30 * 24 + (400 + 30 * 24 - 412)) * 3600.0
    fault_s = (10 + 4 + 100) * 3600.0
    assert rep.clean_channel_months == pytest.approx((running_s * 3 - fault_s) / MONTH_S)
    assert rep.false_per_channel_month == pytest.approx(2 / rep.clean_channel_months)


def test_one_alert_detects_one_fault() -> None:
    twin = [*TRUTHS, Truth("pump-1", "temperature", "flatline", h(104), h(112), ("flatline",))]
    alert = A("pump-1", "sensor", h(105), h(106), "temperature", "flatline")
    rep = evaluate_sensor_faults(twin, LIVES, [alert], END, channels=CHANNELS)
    assert rep.detected == 1 and rep.false_sensor_alerts == 0


def test_condition_alerts_during_sensor_faults_healthy_vs_real_fault() -> None:
    alerts = [
        A("pump-1", "condition", h(99.5), h(102.5)),  # from the window holding a flatline's start
        A("pump-1", "condition", h(112), h(115)),  # 2 h after it ended: still its doing
        A("pump-1", "condition", h(98.5), h(101.5)),  # started before it: not its doing
        A("pump-1", "condition", h(200), h(203)),  # no sensor fault then
        A("pump-2", "condition", h(260), h(263)),  # during a drift, but the bearing is really faulty
        A("pump-1", "condition", h(106), h(109), status="updated"),  # not an episode start
    ]
    rep = _score(alerts)
    assert rep.condition_during_healthy == 2
    assert rep.condition_during_machine_fault == 1
    assert [f.condition_alerts for f in rep.faults] == [2, 0, 1]
    assert rep.sensor_alerts == 0 and rep.false_sensor_alerts == 0


def _alert(kind: str, started: datetime) -> Alert:
    return Alert("x", "pump-2", kind, "warning", "raised", started, started, "", 1.0, 0.5, None)


def test_machine_detection_ignores_sensor_alerts() -> None:
    """A sensor alert during a real fault detects nothing about the machine, and one on a healthy
    machine is no false condition alert."""
    sensor_only = evaluate_detection(LIVES, [_alert("sensor", h(250)), _alert("sensor", h(50))], [], END)
    assert sensor_only.detected == 0 and sensor_only.false_alerts == 0
    both = evaluate_detection(LIVES, [_alert("condition", h(250)), _alert("condition", h(50))], [], END)
    assert both.detected == 1 and both.false_alerts == 1


def test_truth_file_gives_back_the_simulator_truth() -> None:
    """The truth file `twin simulate --write-truth` writes reads back as the simulator's own
    records (every field: the Kafka benchmark scores what the demo scores)."""
    fleet = FleetConfig(n_assets=8, days=10.0, seed=1, sensor_fault_fraction=0.625,
                        sensor_fault_mix=(*OPTIONAL_KINDS, *SENSOR_FAULT_KINDS))
    truths = sensor_fault_truth(fleet)
    assert len({t.kind for t in truths}) >= 3 and any(t.scope == "asset" for t in truths)
    back = [truth_from_json(json.loads(json.dumps(truth_to_json(t)))) for t in truths]
    assert back == truths


def test_alert_view_of_an_alert_message_equals_the_view_of_the_record() -> None:
    sensor = replace(_alert("sensor", h(10)), status="cleared", timestamp=h(13), channel="temperature",
                     check="flatline")
    for a in (sensor, _alert("condition", h(20))):
        view = AlertView.from_message(json.loads(encode_json(a)))
        assert view == AlertView.of(a)
    assert AlertView.of(sensor) == AlertView("pump-2", "sensor", "cleared", h(10), h(13), "temperature",
                                             "flatline")
