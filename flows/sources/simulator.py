"""The embedded default source: the physics-based fleet simulator, encoded as on the wire.

Records are encoded exactly as producers would put them on Kafka (binary waveform frames, JSON
scalars and events), so the demo exercises the same ``decode`` step as a Kafka deployment.
The source is resumable: its state is the number of records already emitted, and the simulator
is deterministic, so a resume regenerates and skips them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from flows import serde
from flows.operators import RawRecord
from twin_models.records import AssetEvent, ScalarSample, WaveformFrame
from twin_models.simulate import FleetConfig, simulate_fleet

__all__ = ["SimulatorSource", "encode_record"]

SOURCE_NAME = "simulator"


def encode_record(rec: ScalarSample | WaveformFrame | AssetEvent) -> bytes:
    """Wire encoding of a telemetry record."""
    if isinstance(rec, WaveformFrame):
        return serde.encode_waveform(rec)
    if isinstance(rec, ScalarSample):
        return serde.encode_scalar(rec)
    return serde.encode_event(rec)


class _SimPartition(StatefulSourcePartition[RawRecord, int]):
    def __init__(self, cfg: FleetConfig, resume: int | None, batch: int,
                 progress: Callable[[int], None] | None) -> None:
        self.records: Iterator[ScalarSample | WaveformFrame | AssetEvent] = simulate_fleet(cfg)
        self.emitted = resume or 0
        if self.emitted:
            next(itertools.islice(self.records, self.emitted - 1, None), None)
        self.batch = batch
        self.progress = progress

    def next_batch(self) -> list[RawRecord]:
        out = [RawRecord(SOURCE_NAME, encode_record(r))
               for r in itertools.islice(self.records, self.batch)]
        if not out:
            raise StopIteration
        self.emitted += len(out)
        if self.progress is not None:
            self.progress(len(out))
        return out

    def snapshot(self) -> int:
        return self.emitted


class SimulatorSource(FixedPartitionedSource[RawRecord, int]):
    """The whole simulated fleet, in event-time order, as one partition."""

    def __init__(self, cfg: FleetConfig, *, batch: int = 256,
                 progress: Callable[[int], None] | None = None) -> None:
        self.cfg = cfg
        self.batch = batch
        self.progress = progress

    def list_parts(self) -> list[str]:
        """One partition: the simulator's merged, ordered stream."""
        return ["fleet"]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _SimPartition:
        """Start (or resume) the simulator."""
        return _SimPartition(self.cfg, resume_state, self.batch, self.progress)


def count_records(cfg: FleetConfig) -> int:
    """Approximate number of records a run emits (for progress bars)."""
    span = cfg.days * 86400.0
    per_asset = span / cfg.frame_interval_s + 5 * span / cfg.scalar_interval_s
    return int(cfg.n_assets * per_asset)


