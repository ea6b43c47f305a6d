"""A waveform frame the clock gate rejects (round 23, part CLEAN23): its dead letter carries what a
user needs to find and replay it. From Kafka: the message's ``source.*`` headers and its bytes as
they came (a frame sent as JSON stays JSON); from a replay: the frame's wire encoding, which
decodes back to the same frame. Before, a frame's ``clock_skew`` / ``clock_unconfirmed`` dead
letter had neither headers nor bytes (a scalar's had both since round 22)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from flows.codec import decode_telemetry, encode_json
from flows.dataflow.items import RawRecord, source_headers
from flows.dataflow.sources.replayable import encode_record
from tests.flows.conftest import SMALL_FLEET, run_flow
from tests.flows.test_arrival_clock_flow import _arrivals, _kafka
from tests.flows.test_clock_gate_end import _jumped_to_the_end
from twin_models.records import WaveformFrame
from twin_models.simulator.fleet import simulate_fleet

NOW = datetime(2100, 1, 1, tzinfo=UTC)


def _frame_letters(out: Any) -> list[Any]:
    return [d for d in out.dead_letters if "WaveformFrame" in d.detail]


@pytest.mark.parametrize("json_frames", [False, True])
def test_a_kafka_frame_rejected_by_the_peer_check_keeps_its_headers_and_bytes(json_frames: bool) -> None:
    """The asset's ``vib`` channel stamped 2.5 h ahead of its scalars: contradicted frames are
    ``clock_skew``, the last held ones ``clock_unconfirmed``; each names the offset of its own
    message and carries that message's bytes (binary TWF, or the JSON the producer sent)."""
    sim = list(simulate_fleet(SMALL_FLEET))
    asset = sorted({r.asset_id for r in sim})[0]
    records, _kept, n_jumped = _jumped_to_the_end(sim, asset, "vib")
    def as_json(r: Any) -> bool:
        return json_frames and type(r) is WaveformFrame

    raws = [RawRecord("telemetry", encode_json(r) if as_json(r) else encode_record(r),
                      source_headers("telemetry", 0, k)) for k, r in enumerate(records)]
    out = run_flow(raws)
    frames = _frame_letters(out)
    assert len(out.dead_letters) == len(frames) == n_jumped > 5
    assert {d.reason for d in frames} == {"clock_skew", "clock_unconfirmed"}
    for d in frames:
        h = dict(d.headers)
        assert h["source.topic"] == "telemetry" and h["source.partition"] == "0", h
        k = int(h["source.offset"])
        assert type(records[k]) is WaveformFrame and records[k].channel == "vib"
        assert records[k].timestamp.isoformat() in d.detail
        assert d.raw == raws[k].payload  # the message's own bytes, not a re-encoding
    assert len({dict(d.headers)["source.offset"] for d in frames}) == len(frames)


def test_a_replayed_frame_rejected_by_the_peer_check_carries_its_wire_bytes() -> None:
    sim = list(simulate_fleet(SMALL_FLEET))
    asset = sorted({r.asset_id for r in sim})[0]
    records, _kept, n_jumped = _jumped_to_the_end(sim, asset, "vib")
    jumped = [r for r in records if type(r) is WaveformFrame and r.asset_id == asset][-n_jumped:]
    out = run_flow([RawRecord("test", encode_record(r)) for r in records])
    frames = _frame_letters(out)
    assert len(frames) == n_jumped and all(d.headers == () for d in frames)
    assert [decode_telemetry(d.raw, now=NOW) for d in frames] == jumped


def test_a_kafka_frame_rejected_by_the_arrival_check_keeps_its_headers_and_bytes() -> None:
    """A whole asset's clock 2.5 h ahead of its arrival times, to the end: the arrival check holds
    then rejects its records, frames among them (``_reject_arrival``)."""
    sim = list(simulate_fleet(SMALL_FLEET))
    asset = sorted({r.asset_id for r in sim})[1]
    arrivals = _arrivals([r.timestamp for r in sim], 1.0)
    records, kept, _n = _jumped_to_the_end(sim, asset, None)
    raws = _kafka(records, [arrivals[i] for i in kept])
    out = run_flow(raws)
    frames = _frame_letters(out)
    assert len(frames) > 5 and "clock_skew" in {d.reason for d in frames}
    for d in frames:
        k = int(dict(d.headers)["source.offset"])
        assert type(records[k]) is WaveformFrame and records[k].asset_id == asset
        assert d.raw == raws[k].payload
