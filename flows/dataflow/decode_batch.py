"""The ``decode`` step over a Bytewax batch: plain scalar records on a fast path, the rest one by one.

Why: the scalar path's CPU went per record to the general decoder, its counters (a lock per
increment) and the clock read (``benchmarks/RESULTS.md``, issue 10, part SCALAR2). Per batch,
this step reads the clock once, takes plain valid scalar records through
:mod:`flows.codec.fast_scalar` (which accepts or says "not sure", never refuses) plus the
admission checks that concern a scalar, and counts them once per source. Every other record (a
frame, an event, anything unusual or refused) goes through the guarded per-record decoder
exactly as before, so verdicts, reasons, details and dead-letter bytes do not change.

The only difference: records of one batch are judged against one reading of the clock (the
``future_timestamp`` limit), taken when the batch starts.

Given ``arrivals`` (a dict of the batch, read by the clock gate: :mod:`flows.dataflow.clock_gate`),
the arrival time of every decoded record or column piece whose message carried one (a Kafka timestamp) is
noted there, by the item's ``id``, with its source partition: seconds for a record, an array of
seconds in the piece's row order for a piece. Replays carry none: nothing is noted.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import numpy as np

from flows.codec import JsonColumns, future_limit, plain_scalar, scalar_columns_from_json, scalar_from_json
from flows.dataflow.admission import MAX_ABS_SCALAR, MAX_TIMESTAMP, MIN_TIMESTAMP, key_matches, name_problem
from flows.dataflow.items import DeadLetter, EndOfInput, RawRecord, RawRun, ScalarColumns, kafka_origin
from flows.dataflow.lineage import MarkCollector, position_of
from flows.dataflow.located import LocatedEvent, LocatedFrame, LocatedSample
from flows.dataflow.operators import Decoder
from twin_models.records import EPOCH, MAX_ID_CHARS, AssetEvent, ScalarSample, Telemetry, WaveformFrame

__all__ = ["decode_batch"]

Arrivals = dict[int, tuple[str, Any]]
"""``id(item) -> (source partition, arrival s | array of arrival s)`` of one decode batch."""
Located = dict[int, LocatedSample | LocatedFrame | LocatedEvent]
"""``id(sample) -> the sample with its origin and offset``: Kafka scalar records decoded one by
one, ``id(frame) -> the frame with its headers and bytes``: Kafka waveform frames, and ``id(event)
-> the event with its origin and offset`` (:class:`flows.dataflow.located.LocatedSamples`, the
clock gate's)."""
BatchStep = Callable[..., list[Any]]


def _fast(raw: RawRecord, limit: datetime) -> ScalarSample | None:
    """The record the decoder would admit, if it is a plain scalar; else None (not sure)."""
    if raw.payload:
        rec = scalar_from_json(raw.payload, limit)
    elif raw.record is not None:
        rec = plain_scalar(raw.record, limit)
    else:
        return None
    # admission (flows.dataflow.admission.admit) of a scalar: asset id, channel, timestamp range, value range
    if rec is None or not MIN_TIMESTAMP <= rec.timestamp <= MAX_TIMESTAMP:
        return None
    ok = abs(rec.value) <= MAX_ABS_SCALAR and _name_ok(rec.asset_id) and _name_ok(rec.channel)
    # a Kafka key that is not the asset id: the decoder's key_asset_mismatch
    return rec if ok and key_matches(raw.key, rec.asset_id) else None


@lru_cache(maxsize=65536)
def _name_ok(name: str) -> bool:
    """Admission's rule for asset ids and channel names (:func:`~flows.dataflow.admission.name_problem`),
    cached: a fleet's ids and channels repeat on every record."""
    return name_problem(name) is None


_US = timedelta(microseconds=1)
_MIN_US = (MIN_TIMESTAMP - EPOCH) // _US
_MAX_US = (MAX_TIMESTAMP - EPOCH) // _US


def _plain_id(text: str) -> bool:
    """An id the fast path takes as it is: 1..MAX_ID_CHARS ASCII characters."""
    return type(text) is str and 0 < len(text) <= MAX_ID_CHARS and text.isascii()


def columns_ok(piece: ScalarColumns, limit: datetime) -> bool:
    """Would :func:`_fast` take every sample of the piece? (The same checks, on the arrays: plain
    ids, a finite value within range, a timestamp within range and not past ``limit``.) When
    not, the caller judges the samples one by one, so a bad row is a dead letter of its own."""
    if not (_plain_id(piece.asset_id) and _name_ok(piece.asset_id)
            and all(_plain_id(c) and _name_ok(c) for c in piece.channels)):
        return False
    limit_us = min((limit - EPOCH) // _US, _MAX_US)
    times, values = piece.times_us, piece.values
    if int(times.min()) < _MIN_US or int(times.max()) > limit_us:
        return False
    return bool(np.isfinite(values).all()) and float(np.abs(values).max()) <= MAX_ABS_SCALAR


def decode_batch(decoder: Decoder, one: Callable[[RawRecord], Telemetry | DeadLetter],
                 window_s: float | None = None) -> BatchStep:
    """The step function for ``op.flat_map_batch``: records -> decoded records or dead letters,
    in order. ``one`` is the guarded per-record decode (:func:`flows.dataflow.guard.guard_map`
    over ``decoder``), used for everything the fast path is not sure of. With ``window_s``,
    records decoded one by one are preceded by their input marks (:mod:`flows.dataflow.lineage`),
    but for the scalar records of Kafka messages when the step is given ``located`` (the clock
    gate's): those are noted there with their offsets instead, and the block builder, which knows
    whether one may be late, marks them (:mod:`flows.dataflow.located`)."""

    def step(raws: list[RawRecord | RawRun | EndOfInput], arrivals: Arrivals | None = None,
             located: Located | None = None) -> list[Any]:
        try:
            limit = future_limit(decoder.now(), decoder.max_future_s)
        except ValueError:  # a clock without a time zone: the per-record path says so
            return [raw if type(raw) is EndOfInput else one(r) for raw in raws for r in _one_by_one(raw)]
        out: list[Any] = []
        fast: dict[str, int] = {}
        marks = None if window_s is None else MarkCollector(window_s)
        for raw in raws:
            if type(raw) is RawRun:
                cols = _run_columns(raw, limit)
                if cols is None:  # not all plain scalars: judged message by message, as before
                    for one_raw in raw.records():
                        _judge(one_raw, limit, one, out, fast, marks, arrivals, located)
                else:
                    got = pieces(cols, kafka_origin(raw.source, raw.partition), raw.offsets)
                    if arrivals is not None and raw.arrivals_ms:
                        _note_pieces(got, cols, raw, arrivals)
                    out.extend(got)
                    fast[raw.source] = fast.get(raw.source, 0) + len(raw)
                continue
            if type(raw) is EndOfInput:  # for the clock gate (flows.dataflow.end_of_input)
                out.append(raw)
                continue
            piece = raw.record
            if type(piece) is ScalarColumns:
                if columns_ok(piece, limit):
                    out.append(piece)
                    fast[raw.source] = fast.get(raw.source, 0) + len(piece)
                    continue
                # judged sample by sample, as the per-row replay's records: a bad row is its own dead letter
                for sample_raw in _one_by_one(raw):
                    _judge(sample_raw, limit, one, out, fast, marks)
                continue
            _judge(raw, limit, one, out, fast, marks, arrivals, located)
        for source, n in fast.items():
            decoder.count(source, n)
        return out

    return step


def _run_columns(run: RawRun, limit: datetime) -> JsonColumns | None:
    """A run's records as columns if the fast path takes every one (with the admission's checks
    of a scalar); else None."""
    try:
        cols = scalar_columns_from_json(list(run.payloads), limit, MIN_TIMESTAMP, MAX_TIMESTAMP,
                                        MAX_ABS_SCALAR)
    except Exception:  # noqa: BLE001 - not sure: the per-record path judges them (and its errors)
        return None
    if cols is None or (all(map(_name_ok, cols.assets)) and all(map(_name_ok, cols.channels))
                        and _keys_ok(run.keys, cols)):
        return cols
    return None


def _keys_ok(keys: tuple[bytes | None, ...], cols: JsonColumns) -> bool:
    """Every message's Kafka key is null, empty or its asset id (else the decoder says key_asset_mismatch):
    checked once per distinct (key, asset) pair of the run."""
    if not keys:
        return True
    ids = cols.assets
    codes = cols.asset_code.tolist()
    if list(keys) == list(map([i.encode() for i in ids].__getitem__, codes)):  # each its asset id: the rule
        return True
    return all(key_matches(k, ids[c]) for k, c in set(zip(keys, codes, strict=True)))


def pieces(cols: JsonColumns, origin: str = "",
           offsets: tuple[int, ...] | None = None) -> list[ScalarColumns]:
    """Decoded columns as one :class:`ScalarColumns` piece per asset (order kept within an asset;
    assets in order of their first record: no keyed step sees the order across assets), with
    their records' ``offsets`` in ``origin`` as positions when given."""
    codes = cols.asset_code
    pos = None if offsets is None else _positions(offsets)
    if len(cols.assets) == 1:
        return [ScalarColumns.of(cols.assets[0], cols.times_us, cols.channel_idx, cols.channels, cols.values,
                                 origin, pos)]
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    times, chans, values = cols.times_us[order], cols.channel_idx[order], cols.values[order]
    pos = None if pos is None else pos[order]
    out = []
    for start, stop in zip([0, *bounds.tolist()], [*bounds.tolist(), len(order)], strict=True):
        out.append(ScalarColumns.of(cols.assets[int(codes[order[start]])], times[start:stop],
                                    chans[start:stop], cols.channels, values[start:stop], origin,
                                    None if pos is None else pos[start:stop]))
    return out


def _note_pieces(got: list[ScalarColumns], cols: JsonColumns, run: RawRun, arrivals: Arrivals) -> None:
    """Note the arrival times of a run's pieces (in each piece's row order, as :func:`pieces` cuts)."""
    at = np.asarray(run.arrivals_ms, dtype=np.float64) / 1e3
    part = str(run.partition)
    if len(got) == 1:
        arrivals[id(got[0])] = (part, at)
        return
    order = np.argsort(cols.asset_code, kind="stable")
    at = at[order]
    start = 0
    for piece in got:
        stop = start + len(piece)
        arrivals[id(piece)] = (part, at[start:stop])
        start = stop


def _positions(offsets: tuple[int, ...]) -> np.ndarray:
    """A run's offsets as an array: consecutive ones (the rule in a partition) without reading them."""
    first = offsets[0]
    if offsets[-1] - first == len(offsets) - 1:
        return np.arange(first, first + len(offsets), dtype=np.int64)
    return np.asarray(offsets, dtype=np.int64)


def _one_by_one(raw: RawRecord | RawRun | EndOfInput) -> list[Any]:
    """A record, a run's messages, or a piece's samples as the per-row replay's records."""
    if type(raw) is EndOfInput:
        return [raw]
    if type(raw) is RawRun:
        return raw.records()
    piece = raw.record
    if type(piece) is not ScalarColumns:
        return [raw]
    if piece.positions is None:
        return [RawRecord(raw.source, b"", raw.headers, sample) for sample in piece.samples]
    return [RawRecord(raw.source, b"", raw.headers, sample, piece.origin, pos)
            for sample, pos in zip(piece.samples, piece.positions.tolist(), strict=True)]


def _judge(raw: RawRecord, limit: datetime, one: Callable[[RawRecord], Telemetry | DeadLetter],
           out: list[Any], fast: dict[str, int], marks: MarkCollector | None = None,
           arrivals: Arrivals | None = None, located: Located | None = None) -> None:
    """One record: the fast path if it is sure, else the guarded per-record decoder (preceded by
    its input mark when ``marks`` collects them, or, a Kafka message's scalar, noted with its
    offset in ``located``; a Kafka message's frame is noted there with its headers and bytes
    too, and its event with its offset, behind their marks; its arrival noted in ``arrivals``)."""
    try:
        rec = _fast(raw, limit)
    except Exception:  # noqa: BLE001 - not sure: the guarded path judges it (and its errors)
        rec = None
    if rec is None:
        decoded = one(raw)
        ok = type(decoded) is not DeadLetter
    else:
        decoded, ok = rec, True
        fast[raw.source] = fast.get(raw.source, 0) + 1
    if ok:
        if marks is not None:
            where = position_of(raw)
            if located is not None and where is not None and raw.position < 0:  # Kafka (not a replay)
                if type(decoded) is ScalarSample:
                    located[id(decoded)] = LocatedSample(decoded, *where)
                else:
                    if type(decoded) is WaveformFrame:  # for its dead letter, should the clock gate reject it
                        located[id(decoded)] = LocatedFrame(decoded, raw.headers, raw.payload, *where)
                    elif type(decoded) is AssetEvent:  # leaves the gate with its offset (should it be late)
                        located[id(decoded)] = LocatedEvent(decoded, *where)
                    marks.add(out, decoded, where)
            else:
                marks.add(out, decoded, where)
        if arrivals is not None and raw.arrival_ms >= 0:
            h = raw.headers
            part = h[1][1] if len(h) == 3 and h[1][0] == "source.partition" else raw.source
            arrivals[id(decoded)] = (part, raw.arrival_ms / 1e3)
    out.append(decoded)
