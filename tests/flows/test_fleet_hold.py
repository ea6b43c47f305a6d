"""The fleet board's holds and the in-process replay that waits at them (round 30).

A twin that closes a life announces the fleet model version coming (``expect``); until the
version is published, an in-process replay emits nothing stamped past its effective time, so no
window it applies to can be served without it, whatever the worker threads' timing (the flow
test: tests/flows/test_damage_prior_flow.py)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from flows.dataflow.fleet_models import FleetBoard
from flows.dataflow.sources.replayable import ReplayPartition
from twin_models.records import ScalarSample

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _version(kind: str, version: int, effective_s: float) -> Any:
    return SimpleNamespace(kind=kind, version=version, effective_from_s=effective_s)


def test_an_expected_version_holds_event_time_until_it_is_published() -> None:
    board = FleetBoard()
    assert board.hold_s() == math.inf
    board.expect("pump", 5000.0)
    board.expect("fan", 7000.0)
    assert board.hold_s() == 5000.0  # the earliest version on its way, whatever its kind
    board.publish(_version("pump", 1, 5000.0))
    assert board.hold_s() == 7000.0
    board.publish(_version("fan", 1, 7000.0))
    assert board.hold_s() == math.inf
    board.expect("pump", 5000.0)  # an undo replaying the life's window: the version is here already
    assert board.hold_s() == math.inf


def test_a_version_that_never_comes_releases_its_hold_after_the_timeout_and_is_counted() -> None:
    now = [0.0]
    timeouts: list[int] = []
    board = FleetBoard(hold_timeout_s=60.0, clock=lambda: now[0], on_hold_timeout=lambda: timeouts.append(1))
    board.expect("pump", 5000.0)
    now[0] = 59.0
    assert board.hold_s() == 5000.0
    assert not timeouts
    now[0] = 60.0
    assert board.hold_s() == math.inf
    assert timeouts == [1]


def _samples(n: int) -> list[tuple[str, ScalarSample]]:
    return [("sim", ScalarSample("pump-1", "temperature", T0 + timedelta(seconds=600 * i), 20.0 + i))
            for i in range(n)]


def test_a_replay_emits_nothing_past_the_hold_and_counts_only_what_it_emitted() -> None:
    limit = [(T0 + timedelta(seconds=600 * 4)).timestamp()]  # records 0..4 may go
    part = ReplayPartition(iter(_samples(10)), None, 3, None, hold=lambda: limit[0])
    first = part.next_batch()
    assert [r.record.timestamp for r in first] == [T0 + timedelta(seconds=600 * i) for i in range(3)]
    second = part.next_batch()
    assert [r.record.value for r in second] == [23.0, 24.0]  # stops at the hold, batch not full
    assert part.next_batch() == []  # held: waits (not the end of the stream) ...
    assert part.next_awake() is not None  # ... and asks again shortly, not in a busy loop
    assert part.snapshot() == 5  # a resume starts after the records emitted, not the held one
    limit[0] = math.inf  # the version arrived
    rest = [r.record.value for r in part.next_batch()] + [r.record.value for r in part.next_batch()]
    assert rest == [25.0, 26.0, 27.0, 28.0, 29.0]
    assert part.next_awake() is None
    assert part.snapshot() == 10
