"""A late Kafka frame's ``late_record`` dead letter names its message (round 23, part CLEAN23).

The clock gate admits a Kafka frame as a :class:`~flows.dataflow.items.SourcedFrame` (its origin
and offset, noted at decode), whose features keep them to the window step: a frame that comes
after its window closed gets the ``source.*`` headers, as a late Kafka scalar has since round 22.
Before, a late frame's dead letter had none. A replay's frame has none still; an event neither
(its record carries no origin through the window)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from flows.dataflow.items import RawRecord, source_headers
from flows.dataflow.sources.replayable import encode_record
from tests.flows.conftest import SMALL_FLEET, run_flow
from twin_models.records import WaveformFrame
from twin_models.simulator.fleet import simulate_fleet

BACK = timedelta(hours=3)  # behind its window's close (allowed lateness 600 s) and its peers


def _one_frame_late() -> tuple[list[object], int]:
    """The fleet with one frame, half-way, stamped 3 h back (where it is in the stream: late)."""
    sim = list(simulate_fleet(SMALL_FLEET))
    frames = [i for i, r in enumerate(sim) if type(r) is WaveformFrame]
    k = frames[len(frames) // 2]
    sim[k] = replace(sim[k], timestamp=sim[k].timestamp - BACK)
    return sim, k


@pytest.mark.parametrize("workers", [1, 2])
def test_a_late_kafka_frame_names_its_message(workers: int) -> None:
    sim, k = _one_frame_late()
    raws = [RawRecord("telemetry", encode_record(r), source_headers("telemetry", 3, n))
            for n, r in enumerate(sim)]
    out = run_flow(raws, workers=workers)
    late = [d for d in out.dead_letters if d.reason == "late_record"]
    assert len(late) == 1 and "FrameFeatures" in late[0].detail, [d.detail for d in out.dead_letters]
    assert sim[k].timestamp.isoformat() in late[0].detail
    assert late[0].headers == (("source.topic", "telemetry"), ("source.partition", "3"),
                               ("source.offset", str(k)))


def test_kafka_frames_give_the_features_of_the_replayed_ones() -> None:
    """Carrying the offset changes no feature, no state and no other dead letter."""
    sim, _k = _one_frame_late()
    kafka = run_flow([RawRecord("telemetry", encode_record(r), source_headers("telemetry", 0, n))
                      for n, r in enumerate(sim)])
    replay = run_flow([RawRecord("telemetry", encode_record(r)) for r in sim])
    assert [(f.asset_id, f.window_start, f.features) for f in kafka.features] == [
        (f.asset_id, f.window_start, f.features) for f in replay.features]
    assert [(s.asset_id, s.timestamp, s.health_index) for s in kafka.state] == [
        (s.asset_id, s.timestamp, s.health_index) for s in replay.state]
    assert [(d.reason, d.detail, d.raw) for d in kafka.dead_letters] == [
        (d.reason, d.detail, d.raw) for d in replay.dead_letters]
    assert [d.headers for d in replay.dead_letters] == [()]
