"""The clock gate at the end of the input (issue 13, GATE12): a record it still holds then is a
``clock_unconfirmed`` dead letter (reason, detail, bytes, counter) and a clock flag, never lost.

A record stamped ahead of its peers is held until a later record confirms or contradicts it; the
input can end first (the jumped channel or asset was the last to report). Before GATE12 such a
record vanished: ``clock_skew`` dead letters fell short of the jumped records by the held ones.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from flows.dataflow.end_of_input import EndMarked
from flows.dataflow.items import END_OF_INPUT, RawRecord
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.sources.replayable import encode_record
from tests.flows.conftest import SMALL_FLEET, run_flow
from tests.flows.test_arrival_clock_flow import _arrivals, _kafka
from twin_models.records import ScalarSample, WaveformFrame
from twin_models.simulator.fleet import simulate_fleet

SHIFT = timedelta(hours=2.5)


def _jumped_to_the_end(sim: list[Any], asset: str, channel: str | None) -> tuple[list[Any], list[int], int]:
    """The fleet with ``asset``'s ``channel`` (every channel: None) stamped 2.5 h ahead over its
    last 5 hours, and nothing of its peers after its last jumped record (the peer channels, or
    the other assets, stop first); the kept records' indices in ``sim``; how many were shifted."""
    start = sim[-1].timestamp - timedelta(hours=5)

    def shifted(r: Any) -> bool:
        return (type(r) in (ScalarSample, WaveformFrame) and r.asset_id == asset and r.timestamp >= start
                and (channel is None or getattr(r, "channel", None) == channel))

    last = max(i for i, r in enumerate(sim) if shifted(r))
    # after it, only what is not a peer's: the asset's own (other assets stop), or other assets'
    peer = (lambda r: r.asset_id != asset) if channel is None else (lambda r: r.asset_id == asset)
    kept = [i for i, r in enumerate(sim) if i <= last or not peer(r)]
    out = [replace(sim[i], timestamp=sim[i].timestamp + SHIFT) if shifted(sim[i]) else sim[i] for i in kept]
    return out, kept, sum(1 for i in kept if shifted(sim[i]))


@pytest.mark.parametrize(("workers", "positions"), [(1, False), (2, False), (1, True)])
def test_a_channel_held_at_the_end_of_the_input_is_a_dead_letter(workers: int, positions: bool) -> None:
    """``positions``: the records carry their Kafka partition and offset, so the decode step puts
    input marks (the digital thread) before them; a held record's mark, stamped ahead, waits in
    the gate and must not make the healthy channels' records late when it is released."""
    sim = list(simulate_fleet(SMALL_FLEET))
    asset = sorted({r.asset_id for r in sim})[0]
    records, _kept, n_jumped = _jumped_to_the_end(sim, asset, "temperature")
    metrics = PipelineMetrics()
    raws = (_kafka(records, [-1] * len(records)) if positions
            else [RawRecord("test", encode_record(r)) for r in records])
    out = run_flow(raws, metrics=metrics, workers=workers)
    reasons = [d.reason for d in out.dead_letters]
    # every jumped record comes out: contradicted ones as clock_skew, the last (held) ones as
    # clock_unconfirmed; none admitted (the asset's watermark never moved with them), and no
    # healthy record late
    unconfirmed = [d for d in out.dead_letters if d.reason == "clock_unconfirmed"]
    assert len(reasons) == n_jumped and set(reasons) == {"clock_skew", "clock_unconfirmed"}
    assert unconfirmed and metrics.value("twin_dead_letters_total",
                                         {"reason": "clock_unconfirmed"}) == len(unconfirmed)
    last = [r for r in records if type(r) is ScalarSample and r.asset_id == asset
            and r.channel == "temperature"][-len(unconfirmed):]
    assert [json.loads(d.raw) for d in unconfirmed] == [json.loads(encode_record(r)) for r in last]
    assert all("end of the input" in d.detail and "'temperature'" in d.detail and asset in d.detail
               for d in unconfirmed)
    # its last window knows the channel's clock is in doubt
    final = [s for s in out.state if s.asset_id == asset][-1]
    assert ("temperature", "suspect", "clock") in final.data_quality


def test_a_whole_asset_held_by_the_arrival_check_at_the_end_is_a_dead_letter() -> None:
    sim = list(simulate_fleet(SMALL_FLEET))
    asset = sorted({r.asset_id for r in sim})[1]
    arrivals = _arrivals([r.timestamp for r in sim], 1.0)  # sent in true time; a jumped one keeps its own
    records, kept, n_jumped = _jumped_to_the_end(sim, asset, None)
    assert n_jumped > 50
    times = [arrivals[i] for i in kept]
    metrics = PipelineMetrics()
    out = run_flow(_kafka(records, times), metrics=metrics)
    assert metrics.value("twin_arrival_check", {"partition": "0", "state": "real_time"}) == 1.0
    reasons = [d.reason for d in out.dead_letters]
    assert len(reasons) == n_jumped and set(reasons) == {"clock_skew", "clock_unconfirmed"}
    unconfirmed = [d for d in out.dead_letters if d.reason == "clock_unconfirmed"]
    assert metrics.value("twin_dead_letters_total", {"reason": "clock_unconfirmed"}) == len(unconfirmed)
    assert all("ahead of the time at which it arrived" in d.detail and "end of the input" in d.detail
               and asset in d.detail for d in unconfirmed)


class _Part(StatefulSourcePartition[str, int]):
    def __init__(self, items: list[str], at: int) -> None:
        self.items, self.at = items, at

    def next_batch(self) -> list[str]:
        if self.at >= len(self.items):
            raise StopIteration
        self.at += 1
        return [self.items[self.at - 1]]

    def snapshot(self) -> int:
        return self.at


class _Two(FixedPartitionedSource[str, int]):
    def list_parts(self) -> list[str]:
        return ["a", "b"]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _Part:
        return _Part([f"{for_part}{i}" for i in range(3 if for_part == "a" else 1)], resume_state or 0)


def _drain(part: StatefulSourcePartition[str, int]) -> list[Any]:
    got: list[Any] = []
    try:
        while True:
            got.extend(part.next_batch())
    except StopIteration:
        return got


def test_only_the_last_partition_of_the_process_to_end_marks_the_end() -> None:
    src = EndMarked(_Two())
    assert src.list_parts() == ["a", "b"]
    a = src.build_part("in", "a", 1)  # resumed: its state is the inner partition's
    b = src.build_part("in", "b", None)
    assert a.snapshot() == 1
    assert _drain(b) == ["b0"]  # "a" still reads: no marker yet
    assert _drain(a) == ["a1", "a2", END_OF_INPUT]
    assert a.snapshot() == 3
    with pytest.raises(StopIteration):  # once only
        a.next_batch()
