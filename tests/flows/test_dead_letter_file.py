"""The dead-letter file of demo and backtest (``dead_letters.jsonl``) carries what the Kafka dead
letters carry (round 14): reason, detail, and the payload's Kafka coordinates where known
(``source_topic/partition/offset``, the topic's ``source.*`` headers; ``dead_letter.v2``)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from bytewax.testing import TestingSource, run_main

from flows.app.outputs import local_outputs
from flows.dataflow.items import RawRecord, source_headers
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.pipeline import get_flow
from flows.dataflow.sources.replayable import encode_record
from tests.flows.conftest import CFG
from twin_models.simulator.fleet import FleetConfig, fleet_metadata, simulate_fleet

FLEET = FleetConfig(n_assets=1, days=0.5, seed=5, frame_interval_s=3600.0, scalar_interval_s=900.0,
                    frame_len=2048)
SCHEMA = json.loads((Path(__file__).parents[2] / "schemas" / "dead_letter.v2.json").read_text())


def test_each_dead_letter_line_names_its_kafka_message_where_known(tmp_path: Path) -> None:
    good = [RawRecord("test", encode_record(r)) for r in simulate_fleet(FLEET)]
    topic = "twin.telemetry.scalar.v1"
    bad = [RawRecord(f"{topic}/2", b'{"type": "scalar", "oops', source_headers(topic, 2, 1841)),
           RawRecord(f"{topic}/0", b"\xff\x00", source_headers(topic, 0, 7)),
           RawRecord("file:plant.csv", b"not json")]  # a replayed file: no Kafka coordinates
    out = tmp_path / "dead_letters.jsonl"
    metrics = PipelineMetrics()
    sinks, _ = local_outputs(CFG, metrics, dead_letter_file=out, collect=())
    run_main(get_flow(CFG, source=TestingSource([*good[:5], *bad, *good[5:]], batch_size=64), sinks=sinks,
                      metadata=fleet_metadata(FLEET), metrics=metrics))
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    by_source = {d["source"]: d for d in lines}
    assert sorted(by_source) == ["file:plant.csv", f"{topic}/0", f"{topic}/2"]
    first = by_source[f"{topic}/2"]
    assert (first["source_topic"], first["source_partition"], first["source_offset"]) == (topic, 2, 1841)
    assert first["reason"] == "invalid_json" and first["detail"]
    second = by_source[f"{topic}/0"]
    assert (second["source_topic"], second["source_partition"], second["source_offset"]) == (topic, 0, 7)
    assert not {"source_topic", "source_partition", "source_offset"} & set(by_source["file:plant.csv"])
    for doc in lines:
        jsonschema.validate(doc, SCHEMA, cls=jsonschema.Draft202012Validator)
