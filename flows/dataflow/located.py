"""Scalar samples that know their input position while the decode step judges them one by one.

A :class:`~flows.dataflow.items.ScalarColumns` piece read from Kafka carries its offsets
(``positions``), but its samples, once judged one by one (by the clock gate: a sample jumped
ahead or behind, or the asset has records held; by the block builder: a sample may be late),
know none: without this they dropped out of their window's lineage ``inputs``
(``benchmarks/RESULTS.md``, round 21, part lineage), and a late one's ``late_record`` dead letter
had no ``source.*`` headers (round 22, part CLEAN22).

The clock gate notes each such sample's (origin, position) until it leaves
(:class:`LocatedSamples`; the decode step notes there too the scalar of a Kafka message it decoded
alone, which has no decode mark then): rejected, its position is forgotten with it (its
``clock_skew`` or ``clock_unconfirmed`` dead letter gets the ``source.*`` headers of a Kafka
record); admitted, it leaves as a
:class:`LocatedSample`, which never leaves the decode step: the block builder, the only one that
knows whether a sample may be late in the window step, turns it into a sample behind its window's
input mark (one per asset, window and origin of the batch, right before the first of them that
is not late) or, when it may be late, into a one-sample piece that carries its own position (so
a late one's dead letter names its offset, and its lineage cannot drop the mark of the window's
other samples). See :meth:`flows.dataflow.blocks.BlockBuilder.located`.

A Kafka message's waveform frame is noted there too (:class:`LocatedFrame`: its headers, bytes
and offset; round 23, part CLEAN23), so that a frame the gate rejects has a dead letter a user
can find and replay; admitted, it leaves as a :class:`~flows.dataflow.items.SourcedFrame`, whose
features keep its offset (a late frame's dead letter names it). So is a Kafka message's asset
event (:class:`LocatedEvent`; round 24, part CLEAN24): admitted (the gate never rejects an event),
it leaves as a :class:`~flows.dataflow.items.SourcedEvent`, so a late event's dead letter names
its offset too. The block builder keeps the positions of located samples it puts in one run: such
a run leaves as a column piece with their positions (:func:`located_piece`), not as a block, so
it names its offsets should it be late after all (the window step's watermark ran ahead of the
builder's: a restart, or the system clock).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np

from flows.dataflow.items import ScalarColumns, SourcedEvent, SourcedFrame, origin_headers
from twin_models.records import EPOCH, AssetEvent, ScalarSample

__all__ = ["LocatedEvent", "LocatedFrame", "LocatedSample", "LocatedSamples", "located_piece",
           "one_sample_piece"]

_US = timedelta(microseconds=1)


@dataclass(slots=True)
class LocatedSample:
    """A sample with its input ``position`` in ``origin``: noted by the clock gate while it judges
    the sample, and what leaves the gate when it admits it (internal to the decode step: the block
    builder unwraps it; not frozen: a frozen dataclass's construction costs ~3x, per sample)."""

    sample: ScalarSample
    origin: str
    position: int


@dataclass(slots=True)
class LocatedFrame:
    """A Kafka message's waveform frame while the clock gate judges it: its message's ``source.*``
    headers and bytes, for its ``clock_skew`` / ``clock_unconfirmed`` dead letter (the frame is
    kept alive here: it is noted by identity). Noted by the decode step, forgotten when the
    gate admits or rejects the frame; what leaves the gate is the frame with its origin and offset
    (:meth:`sourced`; its input mark still gives the window its lineage)."""

    frame: Any
    headers: tuple[tuple[str, str], ...]
    raw: bytes
    origin: str
    position: int

    def sourced(self) -> SourcedFrame:
        """The frame as it leaves the gate: with its origin and offset."""
        f = self.frame
        return SourcedFrame(f.asset_id, f.channel, f.timestamp, f.sample_rate_hz, f.samples, f.shaft_speed_hz,
                            f.unit, self.origin, self.position)


@dataclass(slots=True)
class LocatedEvent:
    """A Kafka message's asset event while the clock gate judges it (it is always admitted):
    noted by the decode step, it leaves the gate as a :class:`~flows.dataflow.items.SourcedEvent`."""

    event: AssetEvent
    origin: str
    position: int

    def sourced(self) -> SourcedEvent:
        """The event as it leaves the gate: with its origin and offset."""
        e = self.event
        return SourcedEvent(e.asset_id, e.timestamp, e.kind, e.note, self.origin, self.position)


def located_piece(samples: list[ScalarSample], origin: str, positions: list[int]) -> ScalarColumns | None:
    """Samples of ONE asset, each at its position in ``origin``, as a piece (the same samples: as
    :func:`one_sample_piece`, in their order, units included), or None when a channel's samples
    name different units (a piece holds one unit per channel: the caller keeps them a block)."""
    names: dict[str, int] = {}
    codes = [names.setdefault(s.channel, len(names)) for s in samples]
    units: tuple[str, ...] = ()
    if any(s.unit for s in samples):  # a Kafka scalar with a unit (round 34: its offset kept too)
        by_code = [""] * len(names)
        seen = [False] * len(names)
        for s, c in zip(samples, codes, strict=True):
            if not seen[c]:
                by_code[c], seen[c] = s.unit, True
            elif by_code[c] != s.unit:
                return None
        units = tuple(by_code)
    return ScalarColumns.of(samples[0].asset_id,
                            np.array([(s.timestamp - EPOCH) // _US for s in samples], dtype=np.int64),
                            np.array(codes, dtype=np.int16), tuple(names),
                            np.array([s.value for s in samples], dtype=np.float64), origin,
                            np.array(positions, dtype=np.int64), units)


def one_sample_piece(s: ScalarSample, origin: str, position: int) -> ScalarColumns:
    """``s`` as a piece of one sample at ``position`` in ``origin`` (the same sample, unit
    included: its time is a whole number of microseconds since the epoch, as every sample cut from
    a piece)."""
    return ScalarColumns.of(s.asset_id, np.array([(s.timestamp - EPOCH) // _US], dtype=np.int64),
                            np.zeros(1, dtype=np.int16), (s.channel,), np.array([s.value], dtype=np.float64),
                            origin, np.array([position], dtype=np.int64), (s.unit,) if s.unit else ())


class LocatedSamples:
    """The located samples still in the clock gate (by identity; each kept alive here until it
    leaves)."""

    def __init__(self) -> None:
        self.by_id: dict[int, LocatedSample | LocatedFrame | LocatedEvent] = {}

    def __len__(self) -> int:
        return len(self.by_id)

    def clear(self) -> None:
        self.by_id.clear()

    def samples(self, piece: ScalarColumns) -> tuple[ScalarSample, ...]:
        """A piece's samples, to be judged one by one: noted with their positions if it has any."""
        samples = piece.samples
        if piece.positions is not None:
            origin, by_id = piece.origin, self.by_id
            for s, p in zip(samples, piece.positions.tolist(), strict=True):
                by_id[id(s)] = LocatedSample(s, origin, p)
        return samples

    def rejoined(self, samples: tuple[ScalarSample, ...]) -> None:
        """The samples went back into their piece (which keeps their positions)."""
        by_id = self.by_id
        for s in samples:
            by_id.pop(id(s), None)

    def drop(self, item: Any) -> tuple[tuple[tuple[str, str], ...], bytes]:
        """``item`` was rejected: its position goes with it. Its ``source.*`` headers for its dead
        letter (none unless it is a Kafka record) and its message's bytes if they were noted (a
        Kafka frame's; else empty)."""
        got = self.by_id.pop(id(item), None)
        if got is None:
            return (), b""
        if type(got) is LocatedFrame:
            return got.headers, got.raw
        return origin_headers(got.origin, got.position), b""

    def admitted(self, item: Any) -> Any:
        """What leaves the gate for the admitted ``item``: a :class:`LocatedSample` if it is a
        located sample, a :class:`~flows.dataflow.items.SourcedFrame` if it is a noted frame, a
        :class:`~flows.dataflow.items.SourcedEvent` if it is a noted event, else the item itself."""
        got = self.by_id.pop(id(item), None)
        if got is None:
            return item
        return got if isinstance(got, LocatedSample) else got.sourced()
