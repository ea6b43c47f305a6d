"""Fixtures for dataflow tests: small simulated fleets as raw wire records."""

from __future__ import annotations

import pytest
from bytewax.testing import TestingSource, cluster_main, run_main

from flows.app.outputs import STREAMS, Collected, local_outputs
from flows.config.pipeline import PipelineConfig
from flows.dataflow.items import RawRecord
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.pipeline import Sinks, get_flow
from flows.dataflow.sources.replayable import encode_record
from twin_models.simulator.fleet import FleetConfig, fleet_metadata, simulate_fleet

SMALL_FLEET = FleetConfig(n_assets=3, days=6.0, seed=11, frame_interval_s=1800.0,
                          scalar_interval_s=900.0, frame_len=4096)
CFG = PipelineConfig(clock="data", window_s=3600.0, allowed_lateness_s=600.0)


Outputs = Collected
"""What a test run emitted, per output stream."""


def collecting_sinks() -> tuple[Sinks, Outputs]:
    """Sinks that collect every output stream in memory (the commands' own wiring, no files)."""
    return local_outputs(CFG, PipelineMetrics(), collect=STREAMS)


def run_flow(records: list[RawRecord], *, fleet: FleetConfig = SMALL_FLEET,
             cfg: PipelineConfig = CFG, workers: int = 1,
             metrics: PipelineMetrics | None = None) -> Outputs:
    sinks, out = collecting_sinks()
    flow = get_flow(cfg, source=TestingSource(records, batch_size=64),
                    sinks=sinks, metadata=fleet_metadata(fleet),
                    metrics=metrics or PipelineMetrics())
    if workers == 1:
        run_main(flow)
    else:
        cluster_main(flow, [], 0, worker_count_per_proc=workers)
    return out


@pytest.fixture(scope="session")
def fleet_records() -> list[RawRecord]:
    return [RawRecord("test", encode_record(r)) for r in simulate_fleet(SMALL_FLEET)]
