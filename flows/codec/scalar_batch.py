"""The fast path of :mod:`flows.codec.fast_scalar` for MANY records at once, as columns.

Why: on ``twin run`` over Kafka every scalar record was decoded and checked one at a time, then
built into one ``ScalarSample`` (``benchmarks/RESULTS.md``, issue 10, part SCALAR4). A run of
scalar messages is decoded here into arrays (times, values, asset and channel codes), every
check done once per distinct value (a fleet's records share their ids and timestamps) or on
the arrays.

Same contract as :func:`flows.codec.fast_scalar.scalar_from_json`, for the whole run: the
columns are returned only when EVERY record is one that ``scalar_from_json`` takes (a plain
valid ``scalar_sample.v1`` record: ``{`` first, exactly the keys type/asset_id/channel/
timestamp/value and optionally unit, ASCII ids, a float value, a valid timestamp not past
``limit``) with an empty unit (columns carry no unit), a timestamp within the admission range
and a value the admission takes; otherwise None (not sure), and the caller judges the records
one by one as before. So this can only change speed, never a verdict
(``tests/unit/test_scalar_batch.py`` checks it against ``scalar_from_json``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import repeat
from operator import itemgetter
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from flows.codec.errors import Reject
from flows.codec.fields import parse_timestamp
from twin_models.records import EPOCH, MAX_ID_CHARS

__all__ = ["JsonColumns", "scalar_columns_from_json"]

_BIG = 1e18  # as fast_scalar._BIG: below it orjson and json read the same number
_US = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class JsonColumns:
    """Records ``k = 0..n-1`` as columns: ``assets[asset_code[k]]``, ``channels[channel_idx[k]]``,
    ``EPOCH + times_us[k]`` microseconds, ``values[k]`` (unit empty), in the order given."""

    assets: tuple[str, ...]
    asset_code: npt.NDArray[np.int32]
    channels: tuple[str, ...]
    channel_idx: npt.NDArray[np.int16]
    times_us: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]


def scalar_columns_from_json(payloads: list[bytes], limit: datetime, min_time: datetime,
                             max_time: datetime, max_abs: float) -> JsonColumns | None:
    """The records of ``payloads`` as columns when every one is a plain valid scalar record within
    the admission's time range ``[min_time, max_time]`` and ``|value| <= max_abs``; else None.
    ``limit``: now + max_future_s, as for ``scalar_from_json``."""
    try:
        return _columns(payloads, limit, min_time, max_time, max_abs)
    except (orjson.JSONDecodeError, IndexError, KeyError, TypeError, ValueError, Reject):
        return None  # something unusual (unparsable, a missing key, unhashable ids ...): not sure


def _columns(payloads: list[bytes], limit: datetime, min_time: datetime, max_time: datetime,
             max_abs: float) -> JsonColumns | None:
    # per record, only C-level maps: a Python loop over the records cost as much as the parse
    n = len(payloads)
    if not n or set(map(type, payloads)) != {bytes} or set(map(_FIRST, payloads)) != {_OPEN}:
        return None  # (IndexError: an empty payload)
    objs = list(map(orjson.loads, payloads))
    if set(map(type, objs)) != {dict}:
        return None
    types, assets, channels, stamps, values = (list(map(get, objs)) for get in _GETS)  # KeyError: missing
    units = list(map(dict.get, objs, repeat("unit")))  # None where there is no unit (objs: exact dicts)
    if sum(map(len, objs)) != 6 * n - units.count(None):  # another key besides the six
        return None
    if not set(units) <= {"", None}:
        return None
    if set(types) != {"scalar"} or set(map(type, values)) != {float}:
        return None
    asset_of = _ids(assets)
    channel_of = _ids(channels)
    us_of = _times(stamps, limit, min_time, max_time)
    if asset_of is None or channel_of is None or us_of is None:
        return None
    vals = np.fromiter(values, dtype=np.float64, count=n)
    top = float(np.abs(vals).max())
    if not (top < _BIG and top <= max_abs):
        return None
    return JsonColumns(tuple(asset_of), np.fromiter(map(asset_of.__getitem__, assets), np.int32, n),
                       tuple(channel_of), np.fromiter(map(channel_of.__getitem__, channels), np.int16, n),
                       np.fromiter(map(us_of.__getitem__, stamps), np.int64, n), vals)


_FIRST, _OPEN = itemgetter(0), ord("{")  # a payload's first byte, as an int
_GETS = tuple(map(itemgetter, ("type", "asset_id", "channel", "timestamp", "value")))


def _ids(values: list[Any]) -> dict[str, int] | None:
    """Code of each distinct id (order of first appearance), if all are plain (fast_scalar's rule:
    a str of 1..MAX_ID_CHARS ASCII characters); else None."""
    codes = {v: i for i, v in enumerate(dict.fromkeys(values))}
    if len(codes) > np.iinfo(np.int16).max:
        return None
    ok = all(type(v) is str and 0 < len(v) <= MAX_ID_CHARS and v.isascii() for v in codes)
    return codes if ok else None


def _times(stamps: list[Any], limit: datetime, min_time: datetime,
           max_time: datetime) -> dict[str, int] | None:
    """Microseconds since the epoch of each distinct timestamp, if every one parses and lies within
    ``[min_time, min(max_time, limit)]``; else None."""
    out: dict[str, int] = {}
    for stamp in dict.fromkeys(stamps):
        if type(stamp) is not str:
            return None
        ts = parse_timestamp(stamp)  # Reject: not a valid timestamp
        if ts > limit or not min_time <= ts <= max_time:
            return None
        out[stamp] = (ts - EPOCH) // _US
    return out
