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
from datetime import datetime
from typing import Any

from flows.codec import future_limit, plain_scalar, scalar_from_json
from flows.dataflow.admission import MAX_ABS_SCALAR, MAX_TIMESTAMP, MIN_TIMESTAMP
from flows.dataflow.items import DeadLetter, RawRecord
from flows.dataflow.operators import Decoder
from twin_models.records import ScalarSample, Telemetry

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


def decode_batch(decoder: Decoder, one: Callable[[RawRecord], Telemetry | DeadLetter]) -> BatchStep:
    """The step function for ``op.flat_map_batch``: records -> decoded records or dead letters,
    in order. ``one`` is the guarded per-record decode (:func:`flows.dataflow.guard.guard_map`
    over ``decoder``), used for everything the fast path is not sure of."""

    def step(raws: list[RawRecord]) -> list[Telemetry | DeadLetter]:
        try:
            limit = future_limit(decoder.now(), decoder.max_future_s)
        except ValueError:  # a clock without a time zone: the per-record path says so
            return [one(raw) for raw in raws]
        out: list[Telemetry | DeadLetter] = []
        fast: dict[str, int] = {}
        for raw in raws:
            try:
                rec = _fast(raw, limit)
            except Exception:  # noqa: BLE001 - not sure: the guarded path judges it (and its errors)
                rec = None
            if rec is None:
                out.append(one(raw))
            else:
                out.append(rec)
                fast[raw.source] = fast.get(raw.source, 0) + 1
        for source, n in fast.items():
            decoder.count(source, n)
        return out

    return step
