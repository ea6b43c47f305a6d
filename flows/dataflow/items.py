"""What flows between the dataflow's steps besides twin_models' records: raw bytes from a source,
dead letters, and the features of one vibration frame.

Sources produce :class:`RawRecord`, every step may divert a :class:`DeadLetter`, and the
``featurize_frames`` step turns a waveform frame into :class:`FrameFeatures` (what a window keeps
instead of the samples). They live here, not in :mod:`flows.dataflow.operators`, so that sources,
sinks and guards depend on the item types only, not on the steps' logic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, final

import numpy as np
import numpy.typing as npt

from flows.codec import encode_telemetry
from twin_models.records import (
    EPOCH,
    AssetEvent,
    FeatureVector,
    ScalarSample,
    Telemetry,
    WaveformFrame,
    restore_slots,
)

__all__ = ["END_OF_INPUT", "ClockFlag", "DeadLetter", "EndOfInput", "FrameFeatures", "InputMark", "RawRecord",
           "RawRun", "ScalarBlock", "ScalarColumns", "SourcedEvent", "SourcedFrame", "WindowItem",
           "kafka_origin", "origin_headers", "plain_event", "source_headers"]


@final  # the steps tell items apart by `type(x) is`: no subclass
@dataclass(frozen=True, slots=True)
class RawRecord:
    """Bytes as they arrive from a source, with where they came from (for dead letters).

    A replay source that holds records already (files, the simulator) passes the ``record``
    instead of its bytes (``payload`` empty): the decode step judges it as it would judge its
    wire encoding, and :meth:`wire` gives those bytes when a dead letter needs them.

    ``origin``/``position``: where a replayed record sits in its input (``file:<name>`` or
    ``sim:seed=<n>``, and its ordinal there), for the digital thread; a Kafka record's are in
    its ``headers``. ``arrival_ms``: a Kafka message's timestamp (ms since the epoch; -1 when
    unknown: replays), the arrival clock of the clock check (:mod:`flows.dataflow.clock_gate`).
    ``key``: a Kafka message's key (None: a null key, or not from Kafka), checked against the
    payload's asset id by the decode step (``key_asset_mismatch``)."""

    source: str
    payload: bytes
    headers: tuple[tuple[str, str], ...] = ()
    record: Telemetry | ScalarColumns | None = None
    origin: str = ""
    position: int = -1
    arrival_ms: int = -1
    key: bytes | None = None

    def wire(self) -> bytes:
        """The record's bytes: the payload, or the wire encoding of ``record``."""
        if self.record is not None and not self.payload:
            # a replayed piece of columns is many records, none with bytes of its own (b"", as the
            # dead letter's payload_of made of the TypeError this raised before)
            return b"" if type(self.record) is ScalarColumns else encode_telemetry(self.record)
        return self.payload


def source_headers(topic: str, partition: int, offset: int) -> tuple[tuple[str, str], ...]:
    """Where a Kafka message came from, as a :class:`RawRecord`'s headers (dead letters show them)."""
    return (("source.topic", topic), ("source.partition", str(partition)), ("source.offset", str(offset)))


def kafka_origin(topic: str, partition: int | str) -> str:
    """The digital thread's name of a Kafka topic partition (:class:`~twin_models.records.InputSpan`)."""
    return f"kafka:{topic}:{partition}"


def origin_headers(origin: str, position: int) -> tuple[tuple[str, str], ...]:
    """The ``source.*`` headers of the record at ``position`` in ``origin`` if that is a Kafka
    topic partition (:func:`kafka_origin`); none for a replay's origin."""
    if not origin.startswith("kafka:"):
        return ()
    topic, _, partition = origin.removeprefix("kafka:").rpartition(":")
    return (("source.topic", topic), ("source.partition", partition), ("source.offset", str(position)))


@dataclass(slots=True)
class InputMark:
    """Digital thread: the input positions ``first..last`` of ``source`` behind some of an asset's
    records in one window (those of one decode batch). The decode step puts it right before the
    first of those records with that record's timestamp, so it lands in their window, is late
    exactly when that record is, and moves no watermark; ``aggregate_window`` turns a window's
    marks (and its pieces' positions) into ``FeatureVector.inputs``. Mutable only inside the
    decode step, while the batch is built."""

    asset_id: str
    timestamp: datetime
    source: str
    first: int
    last: int


@dataclass(frozen=True, slots=True)
class ClockFlag:
    """Data quality (issue 13): a record of ``channel`` was kept out by the clock check at
    admission (:mod:`flows.dataflow.clock_gate`), ``offset_s`` from the asset's front. Stamped AT
    the front (the asset's latest admitted time, so its window is open), it moves no watermark and
    is no record (the arrival check stamps its flags at the time the asset's peers show, the
    asset's true time: see ``ClockGate._reject_arrival``); ``aggregate_window`` turns a window's flags into a
    :class:`twin_models.quality.clock.ClockSkew` per channel for the data-quality monitor."""

    asset_id: str
    timestamp: datetime
    channel: str
    offset_s: float


@final  # the steps tell items apart by `type(x) is`: no subclass
@dataclass(frozen=True, slots=True)
class EndOfInput:
    """The input of this process has ended (every source partition it reads raised
    StopIteration): the last item the decode step gets, put there by
    :class:`flows.dataflow.end_of_input.EndMarked`. The clock gate judges the records it still
    holds then (:meth:`flows.dataflow.clock_gate.ClockGate.end`) and drops the marker: it goes
    no further. Never in recovery state (the marker and the flush happen in the last epoch)."""


END_OF_INPUT = EndOfInput()


@final  # the steps tell items apart by `type(x) is`: no subclass
@dataclass(frozen=True, slots=True)
class RawRun:
    """Consecutive messages of ONE Kafka topic partition, in order, as ONE item: what the Kafka
    source hands the decode step instead of one :class:`RawRecord` per message.

    Why: the per-message objects and the per-record decode were most of the scalar path's CPU
    (``benchmarks/RESULTS.md``, issue 10, part SCALAR4); the decode step takes a run of plain
    scalar records as columns at once. Message ``k`` is exactly the RawRecord :meth:`records`
    gives (payload ``payloads[k]``, from offset ``offsets[k]``): what the decode step judges one
    by one when the run is not all plain scalars. Only between the source and the decode step
    (never in recovery state). ``arrivals_ms``: the messages' Kafka timestamps (empty: unknown);
    ``keys``: their Kafka keys (empty: none known)."""

    source: str
    partition: int
    offsets: tuple[int, ...]
    payloads: tuple[bytes, ...]
    arrivals_ms: tuple[int, ...] = ()
    keys: tuple[bytes | None, ...] = ()

    def __len__(self) -> int:
        """Messages in the run."""
        return len(self.payloads)

    def records(self) -> list[RawRecord]:
        """The messages one by one, as the source emitted them before runs existed."""
        topic, part = self.source, self.partition
        arrivals = self.arrivals_ms or (-1,) * len(self.payloads)
        keys = self.keys or (None,) * len(self.payloads)
        return [RawRecord(topic, payload, source_headers(topic, part, offset), arrival_ms=arrival, key=key)
                for offset, payload, arrival, key
                in zip(self.offsets, self.payloads, arrivals, keys, strict=True)]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record the flow could not use, with the reason; never silently dropped."""

    reason: str
    detail: str
    source: str
    raw: bytes
    timestamp: datetime
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class SourcedFrame(WaveformFrame):
    """A Kafka message's waveform frame as the clock gate admits it: the frame, and its message's
    ``origin`` (:func:`kafka_origin`) and offset (``position``), which its :class:`FrameFeatures`
    keep, so that a late frame's dead letter names its message. Only between the decode and the
    ``featurize_frames`` steps (the gate makes it from the frame it noted,
    :class:`flows.dataflow.located.LocatedFrame`); equal to the plain frame's equals."""

    origin: str = ""
    position: int = -1


@dataclass(frozen=True, slots=True, eq=False)
class SourcedEvent(AssetEvent):
    """A Kafka message's asset event as the clock gate admits it: the event, and its message's
    ``origin`` (:func:`kafka_origin`) and offset (``position``), so that a late event's
    ``late_record`` dead letter names its message. From the gate to the window step only:
    ``aggregate_window`` puts the :meth:`plain` event in the FeatureVector (what the wire, the
    archive and the twins see); equal to the plain event's equals (the origin is not compared)."""

    origin: str = ""
    position: int = -1

    def sources(self) -> tuple[tuple[str, str], ...]:
        """The ``source.*`` headers of the event's message."""
        return origin_headers(self.origin, self.position)

    def plain(self) -> AssetEvent:
        """The event without where it was read."""
        return AssetEvent(self.asset_id, self.timestamp, self.kind, self.note)


def plain_event(event: AssetEvent) -> AssetEvent:
    """``event`` as a plain :class:`~twin_models.records.AssetEvent` (a Kafka event's without its
    origin)."""
    return event.plain() if type(event) is SourcedEvent else event


@dataclass(frozen=True, slots=True)
class FrameFeatures:
    """Features of one vibration frame (what a window keeps instead of the raw samples).
    ``origin``/``position``: where a Kafka frame's message was read (topic partition, offset; else
    empty), for its ``late_record`` dead letter's ``source.*`` headers; not part of equality."""

    asset_id: str
    channel: str
    timestamp: datetime
    features: dict[str, float]
    quality: tuple[float, ...] = ()  # data quality (issue 13): twin_models.quality.frame_quality's row
    origin: str = field(default="", compare=False)
    position: int = field(default=-1, compare=False)

    @classmethod
    def of(cls, frame: WaveformFrame, features: dict[str, float],
           quality: tuple[float, ...]) -> FrameFeatures:
        """The features of ``frame``; a Kafka frame's (:class:`SourcedFrame`) keep where it was read."""
        if type(frame) is SourcedFrame:
            return cls(frame.asset_id, frame.channel, frame.timestamp, features, quality, frame.origin,
                       frame.position)
        return cls(frame.asset_id, frame.channel, frame.timestamp, features, quality)

    def sources(self) -> tuple[tuple[str, str], ...]:
        """The ``source.*`` headers of a Kafka frame's message (its late dead letter's); none for a
        replay's."""
        return origin_headers(self.origin, self.position)

    def __setstate__(self, state: list[object]) -> None:
        """Frames pickled in open windows before the data-quality row (or their origin) get none
        (recovery stores)."""
        restore_slots(self, state)


@dataclass(frozen=True, slots=True)
class CheckedWindow(FeatureVector):
    """A window's FeatureVector with its channels' data-quality figures (issue 13): channel ->
    :class:`twin_models.quality.ChannelStats`. In the flow only (aggregate_window -> twin_update);
    the features sink gets the plain FeatureVector (:meth:`plain`)."""

    quality: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def plain(self) -> FeatureVector:
        """The FeatureVector without the figures (what the wire and archive contracts hold)."""
        return FeatureVector(self.asset_id, self.window_start, self.window_end, self.features,
                             self.n_records, self.events, self.inputs)


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

    def __len__(self) -> int:
        """Samples in the block."""
        return len(self.samples)


@final  # the steps tell items apart by `type(x) is`: no subclass
@dataclass(frozen=True, slots=True, eq=False)
class ScalarColumns:
    """Scalar samples of ONE asset as columns: what a file replay hands the flow instead of one
    object per row (``benchmarks/RESULTS.md``, issue 10, part BACKTEST3).

    Sample ``k`` is ``ScalarSample(asset_id, channels[channel_idx[k]], EPOCH + times_us[k] us,
    values[k], units[channel_idx[k]])`` (``units`` empty: every unit empty, as a file's or a Kafka
    batch's columns; Kafka samples with a unit judged one by one leave the block builder as a piece
    that keeps them, one unit per channel);
    samples are in the order the per-row reader would have given them. ``positions``
    (if known) are the samples' input positions in ``origin`` (Kafka offsets or replay ordinals:
    the digital thread), sliced with them. Out of the
    replay source a piece may span several windows; the decode step's block builder cuts it into
    one-window pieces (then ``timestamp``, the latest sample's, places it as a ScalarBlock's
    does). The arrays are read-only, so the item is immutable (it deep-copies to itself)."""

    asset_id: str
    timestamp: datetime
    times_us: npt.NDArray[np.int64]
    channel_idx: npt.NDArray[np.int16]
    channels: tuple[str, ...]
    values: npt.NDArray[np.float64]
    origin: str = ""
    positions: npt.NDArray[np.int64] | None = None
    units: tuple[str, ...] = ()

    @classmethod
    def of(cls, asset_id: str, times_us: npt.NDArray[np.int64], channel_idx: npt.NDArray[np.int16],
           channels: tuple[str, ...], values: npt.NDArray[np.float64], origin: str = "",
           positions: npt.NDArray[np.int64] | None = None, units: tuple[str, ...] = ()) -> ScalarColumns:
        """A piece over these arrays (made read-only); ``timestamp`` is the latest time."""
        for arr in (times_us, channel_idx, values):
            arr.flags.writeable = False
        return cls(asset_id, EPOCH + timedelta(microseconds=int(times_us.max())), times_us,
                   channel_idx, channels, values, origin, positions, units)

    def located(self, origin: str, first: int) -> ScalarColumns:
        """The piece in ``origin``: its own positions if it has them (a file's data rows), else
        its samples at ``first, first + 1, ...``."""
        pos = self.positions
        if pos is None:
            pos = np.arange(first, first + len(self.values), dtype=np.int64)
        return ScalarColumns(self.asset_id, self.timestamp, self.times_us, self.channel_idx, self.channels,
                             self.values, origin, pos, self.units)

    def __setstate__(self, state: tuple[object, ...]) -> None:
        """Pieces pickled (in open windows) before the digital thread have no origin/positions, and
        before round 25 no units."""
        defaults = ("", None, ())[len(state) - 6:]  # the fields a 6- or 8-field state lacks
        for name, value in zip(_COLUMN_FIELDS, (*state, *defaults), strict=True):
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        """Samples in the piece."""
        return len(self.values)

    def take(self, start: int, stop: int) -> ScalarColumns:
        """Samples ``start:stop`` as a piece."""
        pos = None if self.positions is None else self.positions[start:stop]
        return ScalarColumns.of(self.asset_id, self.times_us[start:stop], self.channel_idx[start:stop],
                                self.channels, self.values[start:stop], self.origin, pos, self.units)

    @property
    def samples(self) -> tuple[ScalarSample, ...]:
        """The samples one by one (for the rare paths that judge them singly: late or unusual)."""
        names, units = self.channels, self.units
        if units:
            return tuple(ScalarSample(self.asset_id, names[c], EPOCH + timedelta(microseconds=t), v, units[c])
                         for t, c, v in zip(self.times_us.tolist(), self.channel_idx.tolist(),
                                            self.values.tolist(), strict=True))
        return tuple(ScalarSample(self.asset_id, names[c], EPOCH + timedelta(microseconds=t), v)
                     for t, c, v in zip(self.times_us.tolist(), self.channel_idx.tolist(),
                                        self.values.tolist(), strict=True))

    def __deepcopy__(self, memo: dict[int, object]) -> ScalarColumns:
        """Itself: immutable (the window step deep-copies open windows at every snapshot)."""
        return self


_COLUMN_FIELDS = ("asset_id", "timestamp", "times_us", "channel_idx", "channels", "values", "origin",
                  "positions", "units")

WindowItem = ScalarSample | ScalarBlock | ScalarColumns | FrameFeatures | AssetEvent | InputMark | ClockFlag
"""What a window collects: scalar samples (alone or in blocks), frame features, asset events (a
Kafka one as a :class:`SourcedEvent`), the digital thread's input marks and the clock check's flags."""
