"""Voids: a fleet model version known never to come ends its hold everywhere (round 32).

A life the learner cannot learn (it raised on a part, or the life reached it incomplete) has no
version; the twin that closed it made the board and the event-time gate hold at the version's
effective time. In ``twin run`` that twin may live in another process than the learner: the
learner's process publishes a void on the fleet model topic and every process's board and gate
take it (``flows.app.gate_link``). A life whose earlier parts were lost (the learner's bounded
buffer of partial lives drops the oldest) now voids too; before, nothing did and the hold waited
60 s.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import timedelta
from fractions import Fraction

import numpy as np
import pytest

from flows.app.fleet_topic import load_model, model_message
from flows.app.gate_link import (
    EFFECTIVE_HEADER,
    MAX_VOID_S,
    is_void,
    refused_model_void,
    take_void,
    void_message,
)
from flows.dataflow.event_time_gate import EventTimeGate
from flows.dataflow.fleet_models import FleetBoard
from flows.dataflow.fleet_steps import fleet_rul
from flows.dataflow.metrics import PipelineMetrics
from tests.unit.test_fleet_learner import CFG, T0, _features, _life, _snap
from twin_models.records import AssetEvent, AssetMetadata
from twin_models.rul.fleet_learner import FleetLearner
from twin_models.rul.fleet_model import FleetModel
from twin_models.rul.fleet_view import FleetView, LifeChunk
from twin_models.rul.trend import FleetRul

KIND = "engine"
EFF_S = 1_767_907_088.401855  # not a whole ms: the board knows a version by the float


def _held() -> tuple[FleetBoard, EventTimeGate]:
    gate = EventTimeGate(3600.0, process_id=0, processes=2)
    board = FleetBoard(on_expect=gate.hold)
    board.expect(KIND, EFF_S)
    gate.remote_report(1, math.inf)
    gate.report(0, math.inf)
    return board, gate


def test_a_void_read_from_the_topic_ends_the_board_and_gate_holds() -> None:
    board, gate = _held()
    assert board.hold_s() == EFF_S and gate.limit_ms() == round(EFF_S * 1000)
    key, value = void_message(KIND, EFF_S)
    assert take_void(board, gate, value, timestamp_ms=2000, since_ms=1000) is None
    assert board.hold_s() == math.inf and gate.limit_ms() == math.inf
    board.expect(KIND, EFF_S)  # an undo replaying the closing window holds nothing again
    assert board.hold_s() == math.inf and gate.limit_ms() == math.inf


def test_an_earlier_runs_void_is_skipped() -> None:
    board, gate = _held()
    _key, value = void_message(KIND, EFF_S)
    assert take_void(board, gate, value, timestamp_ms=999, since_ms=1000) is None
    assert board.hold_s() == EFF_S and gate.limit_ms() == round(EFF_S * 1000)


@pytest.mark.parametrize("value", [None, b"", b"\xff", b"[]", b'"x"', b'{"kind": "engine"}',
                                   b'{"kind": 3, "effective_from_s": 1}',
                                   b'{"kind": "engine", "effective_from_s": "1"}',
                                   b'{"kind": "engine", "effective_from_s": true}',
                                   b'{"kind": "engine", "effective_from_s": NaN}',
                                   b'{"kind": "engine", "effective_from_s": 1e999}',
                                   json.dumps({"kind": "engine", "effective_from_s": 10**400}).encode()])
def test_a_malformed_void_is_refused_with_a_reason_and_ends_no_hold(value: bytes | None) -> None:
    board, gate = _held()
    reason = take_void(board, gate, value, timestamp_ms=2000, since_ms=1000)
    assert reason is not None and "void" in reason
    assert board.hold_s() == EFF_S and gate.limit_ms() == round(EFF_S * 1000)


def test_a_void_never_shares_a_key_with_a_version_and_a_later_version_still_applies() -> None:
    """The topic is compacted by key: a void keyed by kind would erase the kind's version."""
    learner = FleetLearner(KIND, CFG)
    model = learner._publish(EFF_S)
    key, value = void_message(KIND, model.effective_from_s)
    assert key != model_message(model)[0] and key != void_message(KIND, EFF_S + 1)[0]
    assert json.loads(value) == {"kind": KIND, "effective_from_s": model.effective_from_s}
    assert is_void([("twin.void", b"1")]) and not is_void([("fleet.version", b"1")]) and not is_void(None)
    board = FleetBoard()
    take_void(board, None, value, timestamp_ms=2000, since_ms=1000)
    board.publish(model)
    assert board.model_at(KIND, model.effective_from_s) is model
    assert abs(EFF_S) < MAX_VOID_S


def _life_parts() -> list[LifeChunk]:
    view = FleetView(KIND, CFG)
    for i, row in enumerate(_life(np.random.default_rng(3), 120)):
        ts = T0 + timedelta(hours=i + 1)
        view.update(_snap("e0", ts), _features(row), None)
    failure = AssetEvent("e0", T0 + timedelta(hours=121), "failure")
    return [c for c in view.close(failure, 25) if type(c) is LifeChunk]


def test_a_life_whose_earlier_parts_were_lost_voids_its_hold() -> None:
    """Parts lost before the learner (a full buffer of partial lives drops a life's parts): its last
    part arrives, the life is never learnt, no version comes. Before, nothing ended the hold."""
    parts = _life_parts()
    assert len(parts) > 1 and parts[-1].summary is not None
    eff = CFG.effective_from_s(parts[-1].failure_s)
    voids: list[tuple[str, float]] = []
    board = FleetBoard(on_void=lambda k, e: voids.append((k, e)))
    board.expect(KIND, eff)
    metrics = PipelineMetrics()
    step = fleet_rul({"e0": AssetMetadata("e0", kind=KIND)}, metrics, CFG, board)
    learner, models = step(None, parts[0])
    learner, models = step(learner, parts[-1])  # the parts between them lost
    assert models == [] and learner.lives == 0
    assert board.hold_s() == math.inf and voids == [(KIND, eff)]
    # counted, so a dashboard shows it (round 34: only a log line said a life was not learnt)
    assert metrics.value("twin_fleet_life_voids_total") == 1


def test_a_complete_life_voids_nothing() -> None:
    parts = _life_parts()
    voids: list[tuple[str, float]] = []
    board = FleetBoard(on_void=lambda k, e: voids.append((k, e)))
    metrics = PipelineMetrics()
    step = fleet_rul({"e0": AssetMetadata("e0", kind=KIND)}, metrics, CFG, board)
    learner = None
    models = []
    for part in parts:
        learner, models = step(learner, part)
    assert learner is not None and learner.lives == 1 and len(models) == 1 and voids == []
    assert metrics.value("twin_fleet_life_voids_total") == 0


def test_a_life_that_cannot_complete_leaves_nothing_pending() -> None:
    """Its last part came and a part before it was lost: the learner drops what it kept of the life
    at once (round 33). Before, the parts stayed (in every recovery snapshot) until ``MAX_PENDING``
    other partial lives pushed them out, and the same life's parts sent again never added up."""
    parts = _life_parts()
    assert len(parts) > 3
    learner = FleetLearner(KIND, CFG)
    for part in parts[:2]:
        assert learner.learn(part) == []
    assert [len(kept) for kept in learner.pending.values()] == [2]
    assert learner.learn(parts[-1]) == [] and learner.lives == 0 and learner.pending == {}
    assert learner.learn(parts[-1]) == [] and learner.pending == {}  # its last part alone
    models = [m for part in parts for m in learner.learn(part)]  # the same life whole: learnt
    assert learner.lives == 1 and len(models) == 1 and learner.pending == {}


def _model(kind: str, eff: float) -> FleetModel:
    return FleetModel(kind, 1, eff, 1, FleetRul(), 1, (3600.0,), None, True, 0.8)


def _refused_version() -> tuple[bytes, list[tuple[str, bytes]]]:
    """A version every consumer refuses (a class outside the allow-list in it), as produced."""
    good = _model(KIND, EFF_S)
    key, value, headers = model_message(replace(good, regression=Fraction(1, 3)))
    refused = load_model(key, value)
    assert isinstance(refused, str) and "fractions.Fraction" in refused
    return key, headers


def test_a_version_message_says_its_effective_time_in_plain_text() -> None:
    _key, _value, headers = model_message(_model(KIND, EFF_S))
    assert float(dict(headers)[EFFECTIVE_HEADER].decode("ascii")) == EFF_S  # the float exactly


def test_a_refused_version_ends_its_hold() -> None:
    """Round 33: a version the consumers refuse will not come; before, its hold waited 60 s."""
    board, gate = _held()
    key, headers = _refused_version()
    assert refused_model_void(board, gate, key, headers, timestamp_ms=2000, since_ms=1000)
    assert board.hold_s() == math.inf and gate.limit_ms() == math.inf
    board.publish(_model(KIND, EFF_S))  # a good version of it published later still applies
    assert board.model_at(KIND, EFF_S) is not None


@pytest.mark.parametrize("header", [None, b"", b"nan", b"inf", b"-inf", b"1e13", b"x", b"\xff", b"1 2"])
def test_a_refused_version_without_a_readable_time_ends_no_hold(header: bytes | None) -> None:
    board, gate = _held()
    key, headers = _refused_version()
    headers = [(k, v) for k, v in headers if k != EFFECTIVE_HEADER]
    if header is not None:
        headers.append((EFFECTIVE_HEADER, header))
    assert not refused_model_void(board, gate, key, headers, timestamp_ms=2000, since_ms=1000)
    assert board.hold_s() == EFF_S and gate.limit_ms() == round(EFF_S * 1000)


def test_an_earlier_runs_refused_version_ends_no_hold() -> None:
    board, gate = _held()
    key, headers = _refused_version()
    assert not refused_model_void(board, gate, key, headers, timestamp_ms=999, since_ms=1000)
    assert not refused_model_void(board, gate, None, headers, timestamp_ms=2000, since_ms=1000)
    assert board.hold_s() == EFF_S and gate.limit_ms() == round(EFF_S * 1000)
