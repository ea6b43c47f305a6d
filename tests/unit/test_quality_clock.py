"""The clock check at admission (issue 13, DQ2): a channel whose clock jumped is rejected against
its asset's other channels; clean channels, a whole asset resuming after a stop, a slow channel
and a lone channel lose nothing."""

from __future__ import annotations

from twin_models.quality.clock import AssetClock, Verdicts

LIMIT, ACTIVE = 600.0, 3600.0
CHANNELS = ("temperature", "current", "speed")


def _feed(records: list[tuple[str, float]]) -> tuple[list[tuple[str, float]], list[tuple[str, float, float]],
                                                     AssetClock]:
    clock, out = AssetClock(LIMIT, ACTIVE), Verdicts()
    for channel, t in records:
        clock.offer(channel, t, (channel, t), out)
    return out.admitted, [(item[0], item[1], off) for item, _c, off in out.rejected], clock


def _fleet(steps: int, shift: dict[int, float] | None = None, jumped: str = "temperature",
           cadence: float = 600.0) -> list[tuple[str, float]]:
    """Every channel every ``cadence`` s in true-time order; ``jumped``'s times shifted at some steps."""
    shift = shift or {}
    return [(c, k * cadence + (shift.get(k, 0.0) if c == jumped else 0.0))
            for k in range(steps) for c in CHANNELS]


def test_clean_channels_are_all_admitted_in_order() -> None:
    records = _fleet(200)
    admitted, rejected, _ = _feed(records)
    assert admitted == records and rejected == []


def test_forward_jump_is_rejected_and_never_moves_the_front() -> None:
    jump = {k: 2 * 3600.0 for k in range(50, 80)}
    admitted, rejected, clock = _feed(_fleet(120, jump))
    assert sorted((c, t) for c, t, _ in rejected) == sorted(("temperature", k * 600.0 + 7200.0) for k in jump)
    assert all(abs(off - 7200.0) <= 600.0 for _, _, off in rejected)
    others = [r for r in _fleet(120) if r[0] != "temperature"]
    assert [r for r in admitted if r[0] != "temperature"] == others  # the healthy channels lose nothing
    assert clock.front == 119 * 600.0


def test_backward_jump_is_flagged_and_moves_nothing() -> None:
    jump = {k: -1.5 * 3600.0 for k in range(50, 60)}
    clock, out = AssetClock(LIMIT, ACTIVE), Verdicts()
    true_front = 0.0
    for (channel, t), (_c, t_true) in zip(_fleet(100, jump), _fleet(100), strict=True):
        clock.offer(channel, t, (channel, t), out)
        true_front = max(true_front, t if t == t_true else 0.0)
        assert clock.front == true_front  # never moved by a jumped record
    assert out.rejected == [] and len(out.admitted) == 300
    flagged = [item for item, _c, _o in out.flagged]
    assert flagged == [("temperature", k * 600.0 - 5400.0) for k in range(50, 60)]


def test_whole_asset_resuming_after_a_stop_loses_nothing() -> None:
    before = _fleet(50)
    after = [(c, t + 12 * 3600.0) for c, t in _fleet(50)[: 3 * 40]]
    admitted, rejected, _ = _feed(before + after)
    assert rejected == [] and sorted(admitted) == sorted(before + after)


def test_slow_channel_out_of_phase_is_admitted() -> None:
    """A channel reporting every 2 h, 1 h out of phase with 10-min peers: ahead of the front at
    times, but confirmed by the peers' next readings, never contradicted."""
    records = [("speed", k * 600.0) for k in range(200)]
    for k in range(16):
        records.append(("vib", 3600.0 + k * 7200.0))
    records.sort(key=lambda r: r[1])
    admitted, rejected, _ = _feed(records)
    assert rejected == []
    assert sorted(admitted) == sorted(records)


def test_a_lone_channel_is_the_assets_clock() -> None:
    records = [("temperature", k * 600.0) for k in range(20)] + [("temperature", 20 * 600.0 + 7200.0)]
    admitted, rejected, _ = _feed(records)
    assert admitted == records and rejected == []
