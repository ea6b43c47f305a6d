"""The arrival-time clock check's rules (twin_models.quality.arrival): held, confirmed, contradicted."""

from __future__ import annotations

import pickle

from twin_models.quality import arrival
from twin_models.quality.arrival import ArrivalClock, ArrivalVerdicts

LIMIT, ACTIVE = 600.0, 3600.0


def _offer(clock: ArrivalClock, asset: str, event: float, at: float) -> ArrivalVerdicts:
    out = ArrivalVerdicts()
    clock.offer(asset, event - at, at, (asset, event), out)
    return out


def test_an_asset_alone_is_its_own_reference() -> None:
    clock = ArrivalClock(LIMIT, ACTIVE)
    assert _offer(clock, "a", 0.0, 0.0).admitted == [("a", 0.0)]
    assert _offer(clock, "a", 7200.0, 10.0).admitted == [("a", 7200.0)]  # a pause or a fast replay


def test_ahead_of_its_peers_is_held_then_rejected_by_an_on_time_peer() -> None:
    clock = ArrivalClock(LIMIT, ACTIVE)
    _offer(clock, "a", 0.0, 0.0)
    _offer(clock, "b", 0.0, 1.0)
    held = _offer(clock, "b", 100.0 + 7200.0, 100.0)  # b's gateway jumped 2 h ahead
    assert held.admitted == [] and held.rejected == []
    assert _offer(clock, "b", 160.0 + 7200.0, 160.0).admitted == []  # still ahead: held too
    out = _offer(clock, "a", 200.0, 200.0)
    assert out.admitted == [("a", 200.0)]
    assert [(item, asset) for item, asset, _ in out.rejected] == [(("b", 7300.0), "b"), (("b", 7360.0), "b")]
    assert all(ahead > LIMIT for _, _, ahead in out.rejected)
    assert clock.held == []


def test_a_peer_reaching_the_held_time_confirms_it() -> None:
    clock = ArrivalClock(LIMIT, ACTIVE)
    _offer(clock, "a", 0.0, 0.0)
    _offer(clock, "b", 0.0, 0.0)
    assert _offer(clock, "a", 3 * 3600.0, 1.0).admitted == []  # a gap in the data of the stream
    out = _offer(clock, "b", 3 * 3600.0 + 5.0, 1.5)  # ... and b is there too: the stream moved on
    assert out.admitted == [("a", 3 * 3600.0), ("b", 3 * 3600.0 + 5.0)] and out.rejected == []


def test_held_records_are_let_go_when_the_peers_fall_silent_and_bounded() -> None:
    clock = ArrivalClock(LIMIT, ACTIVE)
    _offer(clock, "a", 0.0, 0.0)
    _offer(clock, "b", 7200.0, 10.0)  # held
    out = _offer(clock, "b", 7200.0 + 2 * ACTIVE, 10.0 + 2 * ACTIVE)  # a silent for 2 h of arrival
    assert out.admitted == [("b", 7200.0), ("b", 7200.0 + 2 * ACTIVE)]
    clock = ArrivalClock(LIMIT, ACTIVE)
    _offer(clock, "a", 0.0, 0.0)
    for k in range(arrival.MAX_HELD):
        _offer(clock, "b", 7200.0 + k, 1.0)
    assert len(clock.held) == arrival.MAX_HELD
    out = _offer(clock, "b", 7200.0 + arrival.MAX_HELD, 1.0)
    assert len(out.admitted) == arrival.MAX_HELD + 1 and clock.held == []


def test_the_clock_pickles_with_its_held_records() -> None:
    clock = ArrivalClock(LIMIT, ACTIVE)
    _offer(clock, "a", 0.0, 0.0)
    _offer(clock, "b", 7200.0, 10.0)
    again = pickle.loads(pickle.dumps(clock))
    out = _offer(again, "a", 20.0, 20.0)
    assert [item for item, _, _ in out.rejected] == [("b", 7200.0)]


def test_at_half_speed_a_peer_heard_a_while_ago_is_extrapolated_not_ahead() -> None:
    """GATE12: a replay at 0.5x (judged as real time): every healthy skew falls by 0.5 s per
    arrival second. Peer ``b`` last heard 1800 s of arrival ago shows a skew 900 s above ``a``'s
    fresh one; extrapolated at the partition's pace it agrees, and a whole-asset jump is still
    caught."""
    def at_half(event: float) -> float:
        return 2.0 * event  # arrival of an event time, at 0.5x

    clock = ArrivalClock(LIMIT, ACTIVE)
    clock.pace = 0.5
    _offer(clock, "a", 0.0, at_half(0.0))
    _offer(clock, "b", 0.0, at_half(0.0))
    out = _offer(clock, "a", 900.0, at_half(900.0))
    assert out.admitted == [("a", 900.0)] and out.behind == []
    blind = ArrivalClock(LIMIT, ACTIVE)  # judged as if at 1x: a's fresh record looks 900 s behind b
    _offer(blind, "a", 0.0, 0.0)
    _offer(blind, "b", 0.0, 0.0)
    assert [asset for _i, asset, _o in _offer(blind, "a", 900.0, 1800.0).behind] == ["a"]
    held = _offer(clock, "b", 900.0 + 7200.0, at_half(900.0) + 1.0)  # b's gateway jumped 2 h ahead
    assert held.admitted == [] and len(clock.held) == 1
    out = _offer(clock, "a", 910.0, at_half(910.0))  # a on time contradicts it
    assert [(item, asset) for item, asset, _ in out.rejected] == [(("b", 8100.0), "b")]
    assert 7000.0 < out.rejected[0][2] < 7400.0
