"""Fixtures for dataflow tests: small simulated fleets as raw wire records."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import pytest
from bytewax.testing import cluster_main, run_main

from flows.app.outputs import STREAMS, Collected, local_outputs
from flows.config.pipeline import PipelineConfig
from flows.dataflow.fleet_models import FleetBoard
from flows.dataflow.items import RawRecord
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.pipeline import Sinks, get_flow
from flows.dataflow.sources.replayable import encode_record
from tests.flows.held_source import HeldRecords
from twin_models.simulator.fleet import FleetConfig, fleet_metadata, simulate_fleet

SMALL_FLEET = FleetConfig(n_assets=3, days=6.0, seed=11, frame_interval_s=1800.0,
                          scalar_interval_s=900.0, frame_len=4096)
CFG = PipelineConfig(clock="data", window_s=3600.0, allowed_lateness_s=600.0)


Outputs = Collected
"""What a test run emitted, per output stream."""


def assert_same_states_alerts_and_dead_letters(a: Outputs, b: Outputs, *, step_asset: str,
                                                step_at: datetime, headers: bool) -> None:
    """Two runs of the same input (e.g. fast path vs record by record) gave the same twin states,
    alerts and dead letters (reason, detail, bytes, source, and the headers if asked), and run
    ``a`` saw the step of ``step_asset`` at ``step_at``."""
    snap = lambda s: (s.asset_id, s.window_start, s.condition, s.anomaly_score, s.health_index)  # noqa: E731
    assert sorted(map(snap, a.state)) == sorted(map(snap, b.state))
    alert = lambda x: (x.asset_id, x.status, x.kind, x.timestamp, x.alert_id)  # noqa: E731
    assert sorted(map(alert, a.alerts)) == sorted(map(alert, b.alerts))
    scores = [(s.window_start >= step_at, s.anomaly_score) for s in a.state if s.asset_id == step_asset]
    assert max(v for after, v in scores if after) > max(v for after, v in scores if not after)
    dead = lambda o: Counter((d.reason, d.detail, d.raw, d.source)  # noqa: E731
                             + ((d.headers,) if headers else ()) for d in o.dead_letters)
    assert dead(a) == dead(b)


def collecting_sinks() -> tuple[Sinks, Outputs]:
    """Sinks that collect every output stream in memory (the commands' own wiring, no files)."""
    return local_outputs(CFG, PipelineMetrics(), collect=STREAMS)


def run_flow(records: list[RawRecord], *, fleet: FleetConfig = SMALL_FLEET,
             cfg: PipelineConfig = CFG, workers: int = 1,
             metrics: PipelineMetrics | None = None, board: FleetBoard | None = None) -> Outputs:
    sinks, out = collecting_sinks()
    # held at a fleet model version on its way (get_flow sets its hold), as the demo's source: with
    # several workers the outputs cannot depend on which worker thread runs ahead (tests.flows.held_source)
    flow = get_flow(cfg, source=HeldRecords(records, batch=64), sinks=sinks, metadata=fleet_metadata(fleet),
                    metrics=metrics or PipelineMetrics(), board=board)
    if workers == 1:
        run_main(flow)
    else:
        cluster_main(flow, [], 0, worker_count_per_proc=workers)
    return out


@pytest.fixture(scope="session")
def fleet_records() -> list[RawRecord]:
    return [RawRecord("test", encode_record(r)) for r in simulate_fleet(SMALL_FLEET)]
