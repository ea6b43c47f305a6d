"""What flows between the dataflow's steps besides twin_models' records: raw bytes from a source,
dead letters, and the features of one vibration frame.

Sources produce :class:`RawRecord`, every step may divert a :class:`DeadLetter`, and the
``featurize_frames`` step turns a waveform frame into :class:`FrameFeatures` (what a window keeps
instead of the samples). They live here, not in :mod:`flows.dataflow.operators`, so that sources,
sinks and guards depend on the item types only, not on the steps' logic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flows.codec import encode_telemetry
from twin_models.records import AssetEvent, ScalarSample, Telemetry

__all__ = ["DeadLetter", "FrameFeatures", "RawRecord", "ScalarBlock", "WindowItem"]


@dataclass(frozen=True, slots=True)
class RawRecord:
    """Bytes as they arrive from a source, with where they came from (for dead letters).

    A replay source that holds records already (files, the simulator) passes the ``record``
    instead of its bytes (``payload`` empty): the decode step judges it as it would judge its
    wire encoding, and :meth:`wire` gives those bytes when a dead letter needs them."""

    source: str
    payload: bytes
    headers: tuple[tuple[str, str], ...] = ()
    record: Telemetry | None = None

    def wire(self) -> bytes:
        """The record's bytes: the payload, or the wire encoding of ``record``."""
        if self.record is not None and not self.payload:
            return encode_telemetry(self.record)
        return self.payload


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record the flow could not use, with the reason; never silently dropped."""

    reason: str
    detail: str
    source: str
    raw: bytes
    timestamp: datetime
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class FrameFeatures:
    """Features of one vibration frame (what a window keeps instead of the raw samples)."""

    asset_id: str
    channel: str
    timestamp: datetime
    features: dict[str, float]


@dataclass(frozen=True, slots=True)
class ScalarBlock:
    """Scalar samples of one asset in one event-time window, carried as ONE item.

    Why: Bytewax's per-item cost (key, window, sort, collect) dominated the scalar path; a block
    pays it once for many samples (:mod:`flows.dataflow.blocks` builds them). All samples fall in
    one window and ``timestamp`` is the LATEST one's: the window clock then moves its watermark as
    far as the samples one by one would have, and assigns the block to its samples' window."""

    asset_id: str
    timestamp: datetime
    samples: tuple[ScalarSample, ...]

    def __deepcopy__(self, memo: dict[int, object]) -> ScalarBlock:
        """Itself: immutable (the window step deep-copies open windows at every snapshot)."""
        return self


WindowItem = ScalarSample | ScalarBlock | FrameFeatures | AssetEvent
"""What a window collects: scalar samples (alone or in blocks), frame features and asset events."""
