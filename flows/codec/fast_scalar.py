"""A fast path for the common case of the decoder: a plain, valid ``scalar_sample.v1`` record.

Why: on the scalar path every record went through the general decoder (dispatch on the payload's
kind, one checking function per field, each with its own messages), which cost as much as the
JSON parse itself (``benchmarks/RESULTS.md``, issue 10, part SCALAR2). Nearly every record of a
scalar fleet is a plain one: ASCII ids, a float value, a UTC timestamp.

The JSON is parsed with orjson (several times faster than ``json``; both give the same objects
for what the fast path takes: strings, and floats correctly rounded, ``tests/unit/test_fast_scalar.py``
compares them; what orjson refuses and ``json`` reads, such as NaN, a lone surrogate or a huge
number, goes to the decoder).

Each function here ACCEPTS or says "not sure" (None), never refuses: it returns exactly the record
that :func:`flows.codec.decode_telemetry` (or :func:`flows.codec.decode_record`) would return
when every check it makes passes, and None whenever anything is unusual (an int value, a
non-ASCII id, a missing or extra key, a string too long, a bad or future timestamp ...). The
caller then runs the general decoder, which gives the record or the dead letter with its reason
and detail as before. So the fast path can only change speed, never a verdict
(``tests/unit/test_fast_scalar.py`` checks that against the general decoder).
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from flows.codec.errors import Reject
from flows.codec.fields import parse_timestamp
from twin_models.records import MAX_ID_CHARS, MAX_UNIT_CHARS, ScalarSample

__all__ = ["plain_scalar", "scalar_from_json"]

_KEYS = frozenset({"type", "asset_id", "channel", "timestamp", "value"})
_KEYS_UNIT = _KEYS | {"unit"}
_INF = float("inf")
_BIG = 1e18
"""orjson reads an integer beyond 64 bits as a float (``json`` as an int, that the decoder turns
into a float): the fast path takes values below this only, where both read the same number."""


def _plain_text(value: object, lo: int, hi: int) -> bool:
    """A str of lo..hi ASCII characters (ASCII: always valid UTF-8, as check_text requires)."""
    return type(value) is str and lo <= len(value) <= hi and value.isascii()


def scalar_from_json(raw: bytes, limit: datetime) -> ScalarSample | None:
    """``decode_telemetry(raw)`` for a plain valid scalar JSON record, else None (not sure).

    ``limit`` is now + max_future_s, as :func:`flows.codec.decode_telemetry` computes it."""
    if type(raw) is not bytes or raw[:1] != b"{":
        return None
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:  # NaN, a lone surrogate, a huge number ...: the decoder says
        return None
    if type(obj) is not dict:
        return None
    keys = obj.keys()
    if (keys != _KEYS_UNIT and keys != _KEYS) or obj["type"] != "scalar":
        return None
    asset_id, channel, value = obj["asset_id"], obj["channel"], obj["value"]
    unit = obj.get("unit", "")
    # _plain_text of the three, inlined (per record)
    if not (type(asset_id) is str and type(channel) is str and type(unit) is str
            and 0 < len(asset_id) <= MAX_ID_CHARS and 0 < len(channel) <= MAX_ID_CHARS
            and len(unit) <= MAX_UNIT_CHARS and asset_id.isascii() and channel.isascii() and unit.isascii()):
        return None
    if type(value) is not float or not -_BIG < value < _BIG:
        return None
    stamp = obj["timestamp"]
    if type(stamp) is not str:
        return None
    try:
        ts = parse_timestamp(stamp)
    except Reject:
        return None
    if ts > limit:
        return None
    return ScalarSample(asset_id, channel, ts, value, unit)


def plain_scalar(rec: object, limit: datetime) -> ScalarSample | None:
    """``decode_record(rec)`` for a replayed ScalarSample whose wire round trip changes nothing:
    the record itself; else None (not sure: the caller takes the round trip).

    The round trip writes the timestamp as RFC 3339 UTC with microseconds and reads it back, the
    value as a JSON number: a UTC ``datetime`` (fold 0) and a finite ``float`` come back equal and
    of the same type, ASCII text unchanged."""
    if type(rec) is not ScalarSample:
        return None
    ts, value = rec.timestamp, rec.value
    if type(ts) is not datetime or ts.tzinfo is not UTC or ts.fold or ts > limit:
        return None
    if type(value) is not float or not -_INF < value < _INF:
        return None
    if not (_plain_text(rec.asset_id, 1, MAX_ID_CHARS) and _plain_text(rec.channel, 1, MAX_ID_CHARS)
            and _plain_text(rec.unit, 0, MAX_UNIT_CHARS)):
        return None
    return rec
