"""EventTimeGate: partitions stay within a budget of event time of the cluster's slowest one.

Before: nothing bounded how far one partition (or process) ran ahead of another in a replay, so a
fleet model version could reach a process after windows it applies to (the fused RUL then
depended on timing). These cases pin the rule: hold back a record beyond the lowest position +
budget, never hold back the slowest partition, wait for processes that have not reported, open
(and count) after a timeout without progress, close again once the lowest position moves.
"""

from __future__ import annotations

import math

import pytest

from flows.app.gate_link import is_progress, take_progress
from flows.dataflow.event_time_gate import EventTimeGate

H = 3_600_000.0  # one hour in ms


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _gate(processes: int = 1, **kw: object) -> tuple[EventTimeGate, Clock, list[str]]:
    clock, seen = Clock(), []
    gate = EventTimeGate(12 * 3600.0, processes=processes, clock=clock, timeout_s=60.0,
                         on_wait=lambda: seen.append("wait"), on_timeout=lambda: seen.append("timeout"), **kw)
    return gate, clock, seen


def test_a_partition_is_held_beyond_the_slowest_position_plus_the_budget() -> None:
    gate, _clock, seen = _gate()
    gate.report(0, 10 * H)
    gate.report(1, 30 * H)
    assert gate.allows(1, 22 * H)  # 10 h + 12 h budget
    assert not gate.allows(1, 22 * H + 1)
    assert not gate.allows(1, 23 * H)  # still the same hold: counted once
    assert gate.allows(0, 40 * H) is False and gate.allows(0, 10 * H)  # the slowest emits its next
    assert seen == ["wait", "wait"]
    gate.report(0, 11 * H)
    assert gate.allows(1, 23 * H)


def test_a_process_that_has_not_reported_holds_everyone_back_then_counts() -> None:
    gate, _clock, _seen = _gate(processes=2, process_id=0)
    gate.report(0, 5 * H)
    assert gate.limit_ms() == -math.inf
    assert not gate.allows(0, 5 * H)
    gate.remote_report(1, 1 * H)
    gate.remote_report(0, -math.inf)  # its own id from the topic: ignored
    gate.remote_report(2, -math.inf)  # not a process of this cluster: ignored
    assert gate.limit_ms() == 13 * H
    gate.remote_report(1, math.inf)  # the other process reached its end
    assert gate.limit_ms() == 17 * H


def test_the_gate_opens_after_the_timeout_and_closes_when_the_slowest_moves() -> None:
    gate, clock, seen = _gate(processes=2)
    gate.report(0, 100 * H)
    gate.remote_report(1, 10 * H)
    assert not gate.allows(0, 100 * H)
    clock.t = 59.0
    assert not gate.allows(0, 100 * H)
    clock.t = 60.0
    assert gate.allows(0, 100 * H)
    assert gate.limit_ms() == math.inf and seen == ["wait", "timeout"]
    gate.remote_report(1, 11 * H)  # it moved: the gate applies again
    assert not gate.allows(0, 100 * H)
    assert seen == ["wait", "timeout", "wait"]


def test_a_process_without_partitions_reports_its_end_after_the_grace() -> None:
    gate, clock, _seen = _gate()
    assert gate.local_position_ms() is None
    gate.start()
    clock.t = 4.0
    assert gate.local_position_ms() is None
    clock.t = 5.0
    assert gate.local_position_ms() == math.inf
    gate.report(3, 7 * H)
    assert gate.local_position_ms() == 7 * H


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="budget_s -1"):
        EventTimeGate(-1.0)


def test_progress_messages_reach_the_gate_and_bad_ones_are_refused() -> None:
    gate, _clock, _seen = _gate(processes=3, process_id=0)
    assert is_progress([("twin.progress", b"1")]) and not is_progress(None)
    assert take_progress(gate, b"1 3600000.0", timestamp_ms=2000, since_ms=1000) is None
    assert take_progress(gate, b"2 inf", timestamp_ms=2000, since_ms=1000) is None
    assert take_progress(gate, b"2 -5", timestamp_ms=10, since_ms=1000) is None  # an earlier run's: skipped
    gate.report(0, 2 * H)
    assert gate.limit_ms() == 13 * H
    refused = take_progress(gate, b"\x80garbage", timestamp_ms=2000, since_ms=1000)
    assert refused is not None and "is not '<process> <position ms>'" in refused
    assert take_progress(gate, b"1 nan", timestamp_ms=2000, since_ms=1000) is not None
    assert gate.limit_ms() == 13 * H


def test_a_hold_stops_every_partition_at_the_version_time_until_it_is_released() -> None:
    gate, _clock, _seen = _gate(processes=2, process_id=0)
    gate.report(0, 10 * H)
    gate.remote_report(1, 11 * H)
    assert gate.limit_ms() == 22 * H
    gate.hold("pump", 20 * 3600.0)  # a life closed: a version effective from hour 20 is coming
    gate.hold("pump", 20 * 3600.0)  # an undo replay registers it again: still one hold
    assert gate.limit_ms() == 20 * H and gate.local_position_ms() == 8 * H  # the others stop there too
    assert gate.wake.is_set()
    gate.release("pump", 20 * 3600.0)
    assert gate.limit_ms() == 22 * H and gate.local_position_ms() == 10 * H
    gate.hold("pump", 20 * 3600.0)  # the topic had it already (a resume): no hold
    assert gate.limit_ms() == 22 * H


def test_the_board_applies_the_newest_version_in_effect_when_lives_were_learnt_out_of_order() -> None:
    """Lives failed at hours 10 and 20 reach the learner in the order 20, 10 (a partition ahead):
    version 1 (life 20 only) is effective from hour 44, version 2 (both) from hour 34. At hour 50
    both are in effect and version 2 holds both lives; the old board took version 1, the one with
    the latest effective time, and the fused RUL then depended on the order lives arrived in."""
    from flows.dataflow.fleet_models import FleetBoard
    from twin_models.rul.fleet_model import FleetModel
    from twin_models.rul.trend import FleetRul

    def version(v: int, effective_h: float, lives: tuple[float, ...]) -> FleetModel:
        return FleetModel("pump", v, effective_h * 3600.0, len(lives), FleetRul(), 1, lives, None, True, 0.8)

    board = FleetBoard()
    board.publish(version(1, 44, (3600.0,)))
    board.publish(version(2, 34, (3600.0, 7200.0)))
    assert board.model_at("pump", 30 * 3600.0) is None
    first, later = board.model_at("pump", 40 * 3600.0), board.model_at("pump", 50 * 3600.0)
    assert first is not None and first.version == 2
    assert later is not None and later.version == 2


def test_the_position_is_published_again_once_it_moved_an_eighth_of_the_budget() -> None:
    gate, _clock, _seen = _gate()  # budget 12 h: a move of 1.5 h wakes the publisher
    gate.report(0, 10 * H)
    assert gate.wake.is_set() and gate.take_position() == 10 * H
    gate.wake.clear()
    gate.report(0, 11 * H)
    assert not gate.wake.is_set()
    gate.report(0, 11.5 * H)
    assert gate.wake.is_set()


def test_a_joined_partition_that_has_not_reported_holds_the_others_back() -> None:
    """Round 20: before, only partitions that had reported counted; the first one to report set
    the lowest position alone (with none reported: unbounded) and ran a whole buffer ahead."""
    gate, _clock, _seen = _gate()
    gate.join([0, 1, 2])
    gate.report(0, 40 * H)
    assert not gate.allows(0, 40 * H)  # 1 and 2 may still emit anything
    assert gate.local_position_ms() == -math.inf
    gate.report(1, 10 * H)
    gate.report(2, 11 * H)
    assert gate.allows(1, 22 * H) and not gate.allows(0, 40 * H)
    gate.join([0, 1, 2, 3])  # again (another worker), and one more: reported positions stay
    assert gate.local_position_ms() == -math.inf
    gate.report(3, math.inf)  # at its end
    assert gate.local_position_ms() == 10 * H
    assert gate.alone and not _gate(processes=2)[0].alone
