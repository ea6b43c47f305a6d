"""Fixtures for dataflow tests: small simulated fleets as raw wire records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from bytewax.testing import TestingSource, cluster_main, run_main

from flows.config.pipeline import PipelineConfig
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.operators import RawRecord
from flows.dataflow.pipeline import Sinks, get_flow
from flows.dataflow.sources.replayable import encode_record
from twin_models.simulator.fleet import FleetConfig, fleet_metadata, simulate_fleet

SMALL_FLEET = FleetConfig(n_assets=3, days=6.0, seed=11, frame_interval_s=1800.0,
                          scalar_interval_s=900.0, frame_len=4096)
CFG = PipelineConfig(clock="data", window_s=3600.0, allowed_lateness_s=600.0)


@dataclass
class Outputs:
    features: list[Any] = field(default_factory=list)
    state: list[Any] = field(default_factory=list)
    alerts: list[Any] = field(default_factory=list)
    dead: list[Any] = field(default_factory=list)


def collecting_sinks(out: Outputs) -> Sinks:
    from bytewax import operators as op
    from bytewax.testing import TestingSink

    def to(target: list[Any]):  # type: ignore[no-untyped-def]
        return [lambda step_id, stream: op.output(step_id, stream, TestingSink(target))]

    return Sinks(features=to(out.features), state=to(out.state), alerts=to(out.alerts),
                 dead_letters=to(out.dead))


def run_flow(records: list[RawRecord], *, fleet: FleetConfig = SMALL_FLEET,
             cfg: PipelineConfig = CFG, workers: int = 1,
             metrics: PipelineMetrics | None = None) -> Outputs:
    out = Outputs()
    flow = get_flow(cfg, source=TestingSource(records, batch_size=64),
                    sinks=collecting_sinks(out), metadata=fleet_metadata(fleet),
                    metrics=metrics or PipelineMetrics())
    if workers == 1:
        run_main(flow)
    else:
        cluster_main(flow, [], 0, worker_count_per_proc=workers)
    return out


@pytest.fixture(scope="session")
def fleet_records() -> list[RawRecord]:
    return [RawRecord("test", encode_record(r)) for r in simulate_fleet(SMALL_FLEET)]
