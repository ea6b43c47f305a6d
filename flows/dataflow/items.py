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

from twin_models.records import AssetEvent, ScalarSample

__all__ = ["DeadLetter", "FrameFeatures", "RawRecord", "WindowItem"]


@dataclass(frozen=True, slots=True)
class RawRecord:
    """Bytes as they arrive from a source, with where they came from (for dead letters)."""

    source: str
    payload: bytes
    headers: tuple[tuple[str, str], ...] = ()


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


WindowItem = ScalarSample | FrameFeatures | AssetEvent
"""What a window collects: scalar samples, frame features and asset events."""
