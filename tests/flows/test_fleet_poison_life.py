"""A closed life whose fleet model version never comes must not stall an in-process replay (round 31).

Round 30's hold (``FleetBoard.expect``/``hold_s``) keeps a simulator or file replay from emitting past
a version's effective time until the version is published. A life the learner step fails on (a
poison life: the guard dead-letters the part, the life is never complete) or whose closing window's
twin step raises after the life was announced (dead-lettered: its parts never reach the learner)
has no version: the replay stood still for the hold's whole timeout (60 s of wall time, counted in
``twin_event_time_gate_timeouts_total``) per such life. Now the learner's failure voids the hold and
a twin step announces a life only once it has succeeded: no timeout, and the outputs are those of
one worker whatever the workers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from flows.dataflow import operators
from flows.dataflow.metrics import PipelineMetrics
from tests.flows.conftest import Outputs
from tests.flows.test_damage_prior_flow import FLEET
from tests.flows.test_damage_prior_flow import _run as run_flow
from twin_models.rul.fleet_learner import FleetLearner
from twin_models.rul.fleet_view import LifeChunk

FIRST_FAILURE_S = FLEET.start.timestamp() + 5 * 86_400.0
"""Between this fleet's two failures (days 3.7 and 8.6): the first life is the poisoned one."""


def _run(workers: int) -> tuple[Outputs, PipelineMetrics]:
    m = PipelineMetrics()
    return run_flow(workers, m), m  # the board counts a hold's timeout


def _processing_errors(out: Outputs, step: str) -> list[Any]:
    return [d for d in out.dead_letters if d.reason == "processing_error" and step in d.detail]


def _poison_first_life(monkeypatch: pytest.MonkeyPatch) -> None:
    learn = FleetLearner.learn

    def poisoned(self: FleetLearner, chunk: LifeChunk) -> Any:
        if chunk.failure_s < FIRST_FAILURE_S:
            msg = "a poison life"
            raise RuntimeError(msg)
        return learn(self, chunk)

    monkeypatch.setattr(FleetLearner, "learn", poisoned)


@pytest.mark.parametrize("workers", [1, 3])
def test_a_life_the_learner_fails_on_voids_its_hold(monkeypatch: pytest.MonkeyPatch, workers: int) -> None:
    _poison_first_life(monkeypatch)
    out, m = _run(workers)
    assert _processing_errors(out, "fleet_rul")  # the poison life is dead-lettered
    assert m.value("twin_fleet_models_total") == 1  # the second life's version only
    assert m.value("twin_fleet_life_voids_total") >= 1  # the poison life, counted (round 34)
    # before: the replay held at the first life's version for 60 s, then dropped the hold (counted)
    assert m.value("twin_event_time_gate_timeouts_total") == 0
    assert m.value("twin_fleet_models_late_total") == 0


def test_a_poison_life_gives_the_same_outputs_whatever_the_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    _poison_first_life(monkeypatch)
    (one, m1), (three, m3) = _run(1), _run(3)
    assert any(s.lineage is not None and s.lineage.fleet_model_version == 1 for s in one.state)
    assert sorted(map(repr, one.state)) == sorted(map(repr, three.state))
    assert [m.value("twin_event_time_gate_timeouts_total") for m in (m1, m3)] == [0, 0]


def test_a_twin_step_failing_on_the_window_that_closes_a_life_announces_no_hold(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The closing window's twin step raises after its life was cut in parts (here: in the
    recommendation that follows): the item is dead-lettered, its parts are never sent, so no
    version may be waited for."""
    apply_fleet: Callable[..., list[Any]] = operators.apply_fleet
    closed: list[float] = []

    def closing_then_raising(*args: Any) -> list[Any]:
        items = apply_fleet(*args)
        lives = [i.failure_s for i in items if type(i) is LifeChunk and i.failure_s < FIRST_FAILURE_S]
        if lives:
            closed.extend(lives)
            msg = "the step fails after the life was closed"
            raise RuntimeError(msg)
        return items

    monkeypatch.setattr(operators, "apply_fleet", closing_then_raising)
    out, m = _run(1)
    assert closed and _processing_errors(out, "twin_update")
    assert m.value("twin_fleet_models_total") == 1  # the second life's version only
    assert m.value("twin_event_time_gate_timeouts_total") == 0
