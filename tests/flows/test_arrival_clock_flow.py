"""A whole asset's clock jumping ahead, judged against the records' arrival time (issue 13, DQ3).

Every channel of one asset (a gateway whose NTP went wrong) is shifted together, so the peer
check (one channel against the asset's others) sees nothing. With the arrival time a Kafka
message carries, the jumped asset disagrees with the other assets arriving with it: its records
are ``clock_skew`` dead letters (never in its watermark), its channels get a ``clock`` sensor
alert, and the other assets lose nothing. Only in a real-time stream: published faster than
real time, the Kafka timestamps are no clock and the check is off. Without arrival times
(replays) outputs do not change.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from flows.dataflow.items import RawRecord, source_headers
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.sources.replayable import encode_record
from tests.flows.conftest import SMALL_FLEET, run_flow
from twin_models.records import ScalarSample, WaveformFrame
from twin_models.simulator.fleet import simulate_fleet

FROM = SMALL_FLEET.start + timedelta(days=3)
UNTIL = FROM + timedelta(hours=8)
LAG_S = 4.0


def _arrivals(times: list[datetime], speed: float) -> list[int]:
    """Arrival clocks (ms) of records sent at true ``times``: real time (``speed`` 1) plus a
    network lag, or a fast replay (event time ``speed`` x faster than arrival time)."""
    t0 = times[0].timestamp()
    base = 1_790_000_000.0  # the day of the replay
    return [int(1000 * (base + (t.timestamp() - t0) / speed + LAG_S)) for t in times]


def _kafka(records: list, arrivals: list[int]) -> list[RawRecord]:  # type: ignore[type-arg]
    """As the Kafka source gives them: one partition's messages with their offsets (the input
    marks of the digital thread follow) and Kafka timestamps."""
    return [RawRecord("telemetry", encode_record(r), source_headers("telemetry", 0, k), arrival_ms=a)
            for k, (r, a) in enumerate(zip(records, arrivals, strict=True))]


def _jump(sim: list, asset: str, shift: timedelta) -> list:  # type: ignore[type-arg]
    """Every channel of ``asset`` (not its events) shifted by ``shift`` during [FROM, UNTIL)."""
    return [replace(r, timestamp=r.timestamp + shift)
            if (type(r) in (ScalarSample, WaveformFrame) and r.asset_id == asset
                and FROM <= r.timestamp < UNTIL) else r for r in sim]


def _others(fvs, asset: str):  # type: ignore[no-untyped-def]
    return {(fv.asset_id, fv.window_start): fv.features for fv in fvs if fv.asset_id != asset}


def test_a_whole_asset_jumping_ahead_in_real_time_is_kept_out_and_flagged() -> None:
    sim = list(simulate_fleet(SMALL_FLEET))
    asset = sorted({r.asset_id for r in sim})[1]
    jumped = _jump(sim, asset, timedelta(hours=2.5))
    n_jumped = sum(1 for a, b in zip(sim, jumped, strict=True) if a is not b)
    assert n_jumped > 50
    arrivals = _arrivals([r.timestamp for r in sim], 1.0)  # sent (and arriving) in true time
    metrics = PipelineMetrics()
    out = run_flow(_kafka(jumped, arrivals), metrics=metrics)
    assert metrics.value("twin_arrival_check", {"partition": "0", "state": "real_time"}) == 1.0
    # the same jump without arrival times: the peer check alone does not see a whole asset move
    blind = run_flow([RawRecord("test", encode_record(r)) for r in jumped])
    clean = run_flow([RawRecord("test", encode_record(r)) for r in sim])
    assert not any(d.reason == "clock_skew" for d in blind.dead_letters)
    assert not any(a.check == "clock" for a in blind.alerts if a.kind == "sensor")
    reasons = [d.reason for d in out.dead_letters]
    assert reasons == ["clock_skew"] * n_jumped
    assert metrics.value("twin_dead_letters_total", {"reason": "clock_skew"}) == n_jumped
    assert all(asset in d.detail and "ahead of the time at which it arrived" in d.detail
               for d in out.dead_letters)
    # the other assets lose nothing: the same windows and features as without the jump
    assert _others(out.features, asset) == _others(clean.features, asset)
    raised = {(a.asset_id, a.check) for a in out.alerts if a.kind == "sensor" and a.status == "raised"}
    assert raised and {check for _a, check in raised} >= {"clock"}
    assert {a for a, _c in raised} == {asset}
    first = min(a.started_at for a in out.alerts if a.kind == "sensor" and a.check == "clock")
    assert FROM - timedelta(hours=1) <= first <= UNTIL


def test_in_a_fast_replay_the_arrival_check_is_off_and_says_so() -> None:
    """Published 5000x faster than real time, the Kafka timestamps carry no clock: the check is
    off (``twin_arrival_check`` state ``replay``) and the run is the one without arrival times,
    item for item (the jump is then seen by nothing, as in a file replay)."""
    sim = list(simulate_fleet(SMALL_FLEET))
    asset = sorted({r.asset_id for r in sim})[1]
    jumped = _jump(sim, asset, timedelta(hours=2.5))
    metrics = PipelineMetrics()
    out = run_flow(_kafka(jumped, _arrivals([r.timestamp for r in sim], 5000.0)), metrics=metrics)
    plain = run_flow(_kafka(jumped, [-1] * len(jumped)))
    assert metrics.value("twin_arrival_check", {"partition": "0", "state": "replay"}) == 1.0
    assert metrics.value("twin_arrival_check", {"partition": "0", "state": "real_time"}) == 0.0
    assert metrics.value("twin_dead_letters_total", {"reason": "clock_skew"}) == 0
    assert [(d.reason, d.detail) for d in out.dead_letters] == [(d.reason, d.detail)
                                                                 for d in plain.dead_letters]
    assert out.features == plain.features
    assert out.alerts == plain.alerts


@pytest.mark.parametrize("speed", [1.0, 5000.0])
def test_without_a_jump_arrival_times_change_nothing(speed: float) -> None:
    sim = list(simulate_fleet(SMALL_FLEET))
    arrivals = _arrivals([r.timestamp for r in sim], speed)
    with_arrival = run_flow(_kafka(sim, arrivals))
    plain = run_flow(_kafka(sim, [-1] * len(sim)))  # the same messages without their timestamps
    # the same windows, features and alerts, in the same order (real time: every record is on
    # time with its peers; a fast replay: the check is off)
    assert with_arrival.features == plain.features
    assert with_arrival.dead_letters == plain.dead_letters == []
    assert with_arrival.alerts == plain.alerts


@pytest.mark.parametrize("speed", [0.5, 2.0])
def test_a_replay_of_old_data_at_half_to_double_speed_is_judged_as_real_time(speed: float) -> None:
    """GATE12: data of January replayed in September at 0.5x or 2x (``twin simulate --speed``):
    event time runs months behind arrival time, at a pace the check calls real time. The clean
    replay raises no clock flag, alert or dead letter (outputs item for item those without arrival
    times), and a whole asset jumped 2.5 h ahead in it is still caught. Before GATE12, at 0.5x a
    peer heard 15 min of event time earlier looked 15 min "ahead" of every fresh record (skews
    fall at 0.5 s per second there): thousands of late records and clock alerts on every asset."""
    sim = list(simulate_fleet(SMALL_FLEET))
    arrivals = _arrivals([r.timestamp for r in sim], speed)
    assert arrivals[0] / 1000.0 - sim[0].timestamp.timestamp() > 200 * 86400  # old data
    metrics = PipelineMetrics()
    out = run_flow(_kafka(sim, arrivals), metrics=metrics)
    plain = run_flow(_kafka(sim, [-1] * len(sim)))
    assert metrics.value("twin_arrival_check", {"partition": "0", "state": "real_time"}) == 1.0
    assert out.dead_letters == plain.dead_letters == []
    assert out.features == plain.features
    assert out.alerts == plain.alerts and not any(a.kind == "sensor" for a in out.alerts)
    asset = sorted({r.asset_id for r in sim})[1]
    jumped = _jump(sim, asset, timedelta(hours=2.5))
    n_jumped = sum(1 for a, b in zip(sim, jumped, strict=True) if a is not b)
    caught = run_flow(_kafka(jumped, arrivals))
    assert [d.reason for d in caught.dead_letters] == ["clock_skew"] * n_jumped
    assert _others(caught.features, asset) == _others(out.features, asset)
    raised = {(a.asset_id, a.check) for a in caught.alerts if a.kind == "sensor" and a.status == "raised"}
    assert raised == {(asset, "clock")}
