"""The embedded default source: the physics-based fleet simulator, encoded as on the wire.

Records are encoded exactly as producers would put them on Kafka (binary waveform frames, JSON
scalars and events), so the demo exercises the same ``decode`` step as a Kafka deployment.
The source is resumable: its state is the number of records already emitted, and the simulator
is deterministic, so a resume regenerates and skips them.
"""

from __future__ import annotations

from collections.abc import Callable

from bytewax.inputs import FixedPartitionedSource

from flows.dataflow.items import RawRecord
from flows.dataflow.sources.replayable import ReplayPartition, encode_record
from twin_models.simulator.fleet import FleetConfig, simulate_fleet
from twin_models.simulator.telemetry import SCALARS

__all__ = ["SimulatorSource", "count_records", "encode_record"]

SOURCE_NAME = "simulator"


class SimulatorSource(FixedPartitionedSource[RawRecord, int]):
    """The whole simulated fleet, in event-time order, as one partition."""

    def __init__(self, cfg: FleetConfig, *, batch: int = 256,
                 progress: Callable[[int], None] | None = None) -> None:
        self.cfg = cfg
        self.batch = batch
        self.progress = progress
        self.hold: Callable[[], float] | None = None  # set by the flow: the fleet board's hold

    def list_parts(self) -> list[str]:
        """One partition: the simulator's merged, ordered stream."""
        return ["fleet"]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> ReplayPartition:
        """Start (or resume) the simulator."""
        origin = f"sim:seed={self.cfg.seed}"
        return ReplayPartition(((SOURCE_NAME, r) for r in simulate_fleet(self.cfg)), resume_state, self.batch,
                               self.progress, lambda _name: origin, hold=self.hold)


def count_records(cfg: FleetConfig) -> int:
    """Approximate number of records a run emits (for progress bars): per asset a frame every
    ``frame_interval_s``, each of the simulator's scalar channels every ``scalar_interval_s`` and
    its install event. A failure's downtime emits fewer (round 48: 5 scalar channels were counted
    for its 4, and ``twin demo``'s and ``twin simulate``'s bars ended at about 80 %)."""
    span = cfg.days * 86400.0
    per_asset = span / cfg.frame_interval_s + len(SCALARS) * span / cfg.scalar_interval_s + 1
    return int(cfg.n_assets * per_asset)


