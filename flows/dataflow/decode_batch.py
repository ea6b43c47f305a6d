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
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from flows.codec import future_limit, plain_scalar, scalar_from_json
from flows.dataflow.admission import MAX_ABS_SCALAR, MAX_TIMESTAMP, MIN_TIMESTAMP
from flows.dataflow.items import DeadLetter, RawRecord, ScalarColumns
from flows.dataflow.operators import Decoder
from twin_models.records import EPOCH, MAX_ID_CHARS, ScalarSample, Telemetry

__all__ = ["decode_batch"]

BatchStep = Callable[[list[RawRecord]], list[Any]]


def _fast(raw: RawRecord, limit: datetime) -> ScalarSample | None:
    """The record the decoder would admit, if it is a plain scalar; else None (not sure)."""
    if raw.payload:
        rec = scalar_from_json(raw.payload, limit)
    elif raw.record is not None:
        rec = plain_scalar(raw.record, limit)
    else:
        return None
    # admission (flows.dataflow.admission.admit) of a scalar: timestamp range, value range
    if rec is None or not MIN_TIMESTAMP <= rec.timestamp <= MAX_TIMESTAMP:
        return None
    return rec if abs(rec.value) <= MAX_ABS_SCALAR else None


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
    if not (_plain_id(piece.asset_id) and all(_plain_id(c) for c in piece.channels)):
        return False
    limit_us = min((limit - EPOCH) // _US, _MAX_US)
    times, values = piece.times_us, piece.values
    if int(times.min()) < _MIN_US or int(times.max()) > limit_us:
        return False
    return bool(np.isfinite(values).all()) and float(np.abs(values).max()) <= MAX_ABS_SCALAR


def decode_batch(decoder: Decoder, one: Callable[[RawRecord], Telemetry | DeadLetter]) -> BatchStep:
    """The step function for ``op.flat_map_batch``: records -> decoded records or dead letters,
    in order. ``one`` is the guarded per-record decode (:func:`flows.dataflow.guard.guard_map`
    over ``decoder``), used for everything the fast path is not sure of."""

    def step(raws: list[RawRecord]) -> list[Telemetry | ScalarColumns | DeadLetter]:
        try:
            limit = future_limit(decoder.now(), decoder.max_future_s)
        except ValueError:  # a clock without a time zone: the per-record path says so
            return [one(r) for raw in raws for r in _one_by_one(raw)]
        out: list[Telemetry | ScalarColumns | DeadLetter] = []
        fast: dict[str, int] = {}
        for raw in raws:
            piece = raw.record
            if type(piece) is ScalarColumns:
                if columns_ok(piece, limit):
                    out.append(piece)
                    fast[raw.source] = fast.get(raw.source, 0) + len(piece)
                    continue
                # judged sample by sample, as the per-row replay's records: a bad row is its own dead letter
                for sample_raw in _one_by_one(raw):
                    _judge(sample_raw, limit, one, out, fast)
                continue
            _judge(raw, limit, one, out, fast)
        for source, n in fast.items():
            decoder.count(source, n)
        return out

    return step


def _one_by_one(raw: RawRecord) -> list[RawRecord]:
    """A record, or a piece's samples as the per-row replay's records."""
    piece = raw.record
    if type(piece) is not ScalarColumns:
        return [raw]
    return [RawRecord(raw.source, b"", raw.headers, sample) for sample in piece.samples]


def _judge(raw: RawRecord, limit: datetime, one: Callable[[RawRecord], Telemetry | DeadLetter],
           out: list[Any], fast: dict[str, int]) -> None:
    """One record: the fast path if it is sure, else the guarded per-record decoder."""
    try:
        rec = _fast(raw, limit)
    except Exception:  # noqa: BLE001 - not sure: the guarded path judges it (and its errors)
        rec = None
    if rec is None:
        out.append(one(raw))
    else:
        out.append(rec)
        fast[raw.source] = fast.get(raw.source, 0) + 1
