"""The pace of event time against arrival time: where the arrival check may judge (issue 13)."""

from __future__ import annotations

import pickle

import numpy as np

from twin_models.quality.pace import LEARNING, PACE_SPAN_S, REAL_TIME, REPLAY, ArrivalPace


def _feed(pace: ArrivalPace, assets: list[str], seconds: float, speed: float, step_s: float = 1.0,
          offset_s: float = -3600.0) -> None:
    """Records of every asset each ``step_s`` of arrival time, event time ``speed`` x faster."""
    k = 0
    while k * step_s <= seconds:
        a = 1_790_000_000.0 + k * step_s
        for asset in assets:
            pace.note(asset, a * speed + offset_s, a)
        k += 1


def test_a_real_time_stream_is_judged_once_measured() -> None:
    pace = ArrivalPace()
    assert pace.state == LEARNING and not pace.real_time
    _feed(pace, ["a", "b"], PACE_SPAN_S / 2, 1.0)
    assert pace.state == LEARNING  # not measured yet: off
    _feed(pace, ["a", "b"], 3 * PACE_SPAN_S, 1.0)
    assert pace.real_time and pace.reason() == "on (real time)"


def test_a_fast_replay_is_off_at_once_and_says_why() -> None:
    pace = ArrivalPace()
    pace.note("a", 0.0, 100.0)
    changed = pace.note("a", 900.0, 100.002)  # 15 min of event time in 2 ms of Kafka timestamps
    assert changed and pace.state == REPLAY
    assert pace.reason() == "off (replay: event time runs 4.5e+05x arrival time)"


def test_a_slow_replay_and_a_throttled_one_are_off() -> None:
    for speed in (3.0, 0.25):
        pace = ArrivalPace()
        _feed(pace, ["a", "b", "c"], 4 * PACE_SPAN_S, speed, offset_s=0.0)
        assert pace.state == REPLAY, speed


def test_one_asset_whose_clock_jumps_is_outvoted_by_its_peers() -> None:
    pace = ArrivalPace()
    _feed(pace, ["a", "b"], 3 * PACE_SPAN_S, 1.0)
    t, a = pace.assets["b"][1], pace.assets["b"][0]
    pace.note("b", t + 3600.0, a + 0.5)  # b's clock jumps an hour ahead: its span is no real time
    assert pace.assets["b"][2] > 100.0
    assert pace.real_time  # a (in real time) against b: half of the assets, the partition stays judged
    pace.note("b", t - 7200.0, a + 1.0)  # and back
    assert pace.real_time


def test_a_backlog_turning_live_switches_the_check_on() -> None:
    pace = ArrivalPace()
    _feed(pace, ["a", "b"], 10.0, 1000.0)
    assert pace.state == REPLAY
    start = pace.assets["a"][0] + 1.0
    for k in range(int(3 * PACE_SPAN_S)):
        for asset in ("a", "b"):
            pace.note(asset, start + k - 50.0, start + k)
    assert pace.real_time
    assert pickle.loads(pickle.dumps(pace)).state == REAL_TIME


def test_the_long_run_rate_is_the_replay_speed_and_1_for_a_jittery_live_stream() -> None:
    """GATE12: a replay at 0.5x or 2x is real time and its rate (what the arrival check
    extrapolates peers' skews with) is its speed; a live stream whose lag jitters by up to 1 s
    (one 5-s span's pace up to ~20 % off) has a long-run rate within 2 % of 1."""
    for speed in (0.5, 2.0):
        pace = ArrivalPace()
        _feed(pace, ["a", "b", "c"], 120.0, speed)
        assert pace.real_time and abs(pace.rate - speed) < 1e-6
    live = ArrivalPace()
    rng = np.random.default_rng(3)
    for k in range(600):  # 10 min at 1 Hz, each record's lag 2-3 s
        for asset in ("a", "b", "c"):
            t = 1_790_000_000.0 + k
            live.note(asset, t - 3600.0, t + 2.0 + float(rng.random()))
    spans = [span[2] for span in live.assets.values()]
    assert live.real_time and abs(live.rate - 1.0) < 0.02
    assert max(abs(p - 1.0) for p in spans) > 2 * abs(live.rate - 1.0)  # the long run averages the jitter


def test_a_change_of_state_restarts_the_long_run() -> None:
    pace = ArrivalPace()
    _feed(pace, ["a", "b"], 60.0, 1000.0)  # a fast replay first
    assert pace.state == REPLAY and pace.rate == 1.0
    k0 = 1_790_000_000.0 + 120.0
    for k in range(120):  # then live: the replay's 1000x spans must not bias the live rate
        for asset in ("a", "b"):
            pace.note(asset, 1_790_000_000.0 * 1000.0 + 3600.0 + k, k0 + k)
    assert pace.real_time and abs(pace.rate - 1.0) < 1e-6
