"""Duplicate records in a window: the first copy counts, every later one is a dead letter.

Why: Kafka delivers at least once (a producer's retry, a replayed topic) and a history file may be
fed again, so the SAME record can reach a window twice. Featurised twice it would double its
counts, bias the means and inflate ``n_records``. ``aggregate_window`` therefore splits a closed
window's items (:func:`split_duplicates`) before it computes anything: features, ``n_records``
and the data-quality figures see each record once.

A record's identity within its asset's window:

- a scalar sample: channel + event time (to the microsecond);
- a waveform frame (its :class:`~flows.dataflow.items.FrameFeatures`): channel + frame start time;
- an asset event: kind + event time.

The first copy in arrival order wins (the window keeps its items in arrival order). Each later
copy becomes a ``duplicate_record`` dead letter whose detail says whether it is *identical* to
the first (a redelivery) or *conflicting* (same identity, another value: a source bug worth a look).
Input marks and clock flags are not records and are never duplicates.

No state of its own: the check is derived from the window's contents when the window closes, so
recovery snapshots are unchanged. A copy that arrives after its window closed is a
``late_record`` as before (the window and its first copy are gone).

Cost: the window step first asks :func:`may_hold_copies`, from the columns it builds anyway (a
channel's samples in time order: a copy is a neighbour with the same time); only then
:func:`split_duplicates` runs: pieces (file replays, Kafka runs) as arrays (one sort of an int64
key), lone samples and blocks with a set of (channel, time) pairs.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from flows import codec
from flows.dataflow.items import (
    DeadLetter,
    FrameFeatures,
    ScalarBlock,
    ScalarColumns,
    SourcedEvent,
    WindowItem,
    plain_event,
)
from twin_models.records import EPOCH, AssetEvent, ScalarSample

__all__ = ["DUPLICATE_RECORD", "may_hold_copies", "split_duplicates"]

DUPLICATE_RECORD = "duplicate_record"
"""The dead-letter reason of a record already in its window."""

_US = timedelta(microseconds=1)
_KEY_LIMIT = 1 << 62
"""Largest |time_us| x channels for which ``time_us * channels + code`` fits an int64."""


def may_hold_copies(scalars: Mapping[str, tuple[npt.NDArray[np.float64], Any]],
                    frames: Sequence[FrameFeatures], events: Sequence[AssetEvent]) -> bool:
    """Whether a window MAY hold a duplicate, from what the window step computes anyway: its
    channels' sample times in seconds, each channel's in time order (``scalar_columns``), its
    frames and its events. Never False when there is one; True at times when there is none (two
    microseconds that round to one float second, past ~2100): :func:`split_duplicates` decides.

    Why: the exact check costs ~10-20 % of the window step on a window of many samples (it
    converts every sample again); this one is one comparison of neighbours per channel."""
    for times, _values in scalars.values():
        if len(times) > 1 and bool((times[1:] == times[:-1]).any()):
            return True
    if len(frames) > 1 and len({(f.channel, f.timestamp) for f in frames}) != len(frames):
        return True
    return len(events) > 1 and len({(e.kind, e.timestamp) for e in events}) != len(events)


def split_duplicates(items: list[WindowItem], at: datetime) -> tuple[list[WindowItem], list[DeadLetter]]:
    """(the window's items without duplicates, in their order; one dead letter per duplicate).

    The same list object comes back when the window holds no duplicate (the common case)."""
    dead: list[DeadLetter] = []
    drop: set[int] = set()  # positions in ``items`` of dropped frames and events
    _frame_and_event_duplicates(items, at, dead, drop)
    scalar_items = [(i, item) for i, item in enumerate(items)
                    if type(item) is ScalarColumns or isinstance(item, ScalarBlock | ScalarSample)]
    keep = _scalar_keep(scalar_items, at, dead) if scalar_items else None
    if not drop and keep is None:
        return items, dead
    replaced = dict(_trimmed(scalar_items, keep)) if keep is not None else {}
    out: list[WindowItem] = []
    for i, item in enumerate(items):
        if i in drop:
            continue
        if i in replaced:
            kept = replaced[i]
            if kept is not None:
                out.append(kept)
            continue
        out.append(item)
    return out, dead


def _frame_and_event_duplicates(items: list[WindowItem], at: datetime, dead: list[DeadLetter],
                                drop: set[int]) -> None:
    """Frames (channel, start) and events (kind, time) seen before in the window."""
    seen: dict[tuple[str, str, datetime], int] = {}  # identity -> position of the first copy
    for i, item in enumerate(items):
        kind = type(item)
        if kind is FrameFeatures:
            key = ("frame", item.channel, item.timestamp)  # type: ignore[union-attr]
        elif kind is AssetEvent or kind is SourcedEvent:
            key = ("event", item.kind, item.timestamp)  # type: ignore[union-attr]
        else:
            continue
        if seen.setdefault(key, i) == i:
            continue
        drop.add(i)
        first = items[seen[key]]
        if kind is FrameFeatures:
            dead.append(_frame_dead_letter(first, item, at))  # type: ignore[arg-type]
        else:
            dead.append(_event_dead_letter(first, item, at))  # type: ignore[arg-type]


def _frame_dead_letter(first: FrameFeatures, dup: FrameFeatures, at: datetime) -> DeadLetter:
    differs = _first_difference(first.features, dup.features)
    if differs is None and not _same_numbers(first.quality, dup.quality):
        differs = "its data-quality figures differ"
    verdict = "identical" if differs is None else f"conflicting: {differs}"
    detail = (f"waveform frame of asset {dup.asset_id!r} channel {dup.channel!r} starting at "
              f"{dup.timestamp.isoformat()} is already in its window ({verdict}); the first copy is kept")
    return DeadLetter(DUPLICATE_RECORD, detail, "window", b"", at)


def _event_dead_letter(first: AssetEvent, dup: AssetEvent, at: datetime) -> DeadLetter:
    same = first.note == dup.note
    verdict = "identical" if same else f"conflicting: note {dup.note!r}, first {first.note!r}"
    detail = (f"{dup.kind} event of asset {dup.asset_id!r} at {dup.timestamp.isoformat()} is already in "
              f"its window ({verdict}); the first copy is kept")
    return DeadLetter(DUPLICATE_RECORD, detail, "window", codec.encode_json(plain_event(dup)), at)


def _first_difference(first: dict[str, float], dup: dict[str, float]) -> str | None:
    """How two frames' features differ (the first feature that does), or None if they are equal."""
    if first.keys() != dup.keys():
        return "its feature names differ"
    for name, value in dup.items():
        other = first[name]
        if not (value == other or (value != value and other != other)):  # NaN equals NaN here  # noqa: PLR0124
            return f"{name} {value!r}, first {other!r}"
    return None


def _same_numbers(a: Sequence[float], b: Sequence[float]) -> bool:
    return len(a) == len(b) and all(x == y or (x != x and y != y) for x, y in zip(a, b, strict=True))  # noqa: PLR0124


def _scalar_keep(scalar_items: list[tuple[int, Any]], at: datetime,
                 dead: list[DeadLetter]) -> npt.NDArray[np.bool_] | None:
    """Which of the window's scalar samples to keep (all samples of ``scalar_items`` in order),
    or None when none is a duplicate; appends the duplicates' dead letters."""
    if all(type(item) is not ScalarColumns for _, item in scalar_items):
        return _row_keep(scalar_items, at, dead)
    times, codes, names, values = _columns(scalar_items)
    n = len(names)
    span = int(np.abs(times).max()) if len(times) else 0
    if span * max(n, 1) < _KEY_LIMIT:
        key = times * n + codes
        if len(key) < 2 or bool((np.diff(np.sort(key)) != 0).all()):
            return None
        order = np.argsort(key, kind="stable")
        same = key[order][1:] == key[order][:-1]
    else:  # times too far from the epoch for one int64 key: sort by (time, channel)
        order = np.lexsort((codes, times))
        same = (times[order][1:] == times[order][:-1]) & (codes[order][1:] == codes[order][:-1])
        if not same.any():
            return None
    starts = np.concatenate(([True], ~same))
    run_first = order[np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))]
    keep = np.ones(len(order), dtype=bool)
    dups = order[1:][same]
    keep[dups] = False
    firsts = run_first[1:][same]
    samples = _sample_lookup(scalar_items)
    by_code = {c: name for name, c in names.items()}
    for d, f in sorted(zip(dups.tolist(), firsts.tolist(), strict=True)):
        dead.append(_scalar_dead_letter(samples(d), by_code[int(codes[d])], float(values[f]), at))
    return keep


def _row_keep(scalar_items: list[tuple[int, Any]], at: datetime,
              dead: list[DeadLetter]) -> npt.NDArray[np.bool_] | None:
    """:func:`_scalar_keep` for windows of lone samples and blocks (no pieces): a set of
    (channel, time) pairs; None when none repeats."""
    rows: list[ScalarSample] = []
    for _, item in scalar_items:
        if type(item) is ScalarSample:
            rows.append(item)
        else:
            rows.extend(item.samples)
    keys = [(r.channel, r.timestamp) for r in rows]
    if len(set(keys)) == len(keys):
        return None
    first: dict[tuple[str, datetime], int] = {}  # identity -> position of the first copy
    keep = np.ones(len(rows), dtype=bool)
    for k, (key, row) in enumerate(zip(keys, rows, strict=True)):
        seen = first.setdefault(key, k)
        if seen != k:
            keep[k] = False
            dead.append(_scalar_dead_letter(row, row.channel, rows[seen].value, at))
    return keep


def _columns(scalar_items: list[tuple[int, Any]]) -> tuple[
        npt.NDArray[np.int64], npt.NDArray[np.int64], dict[str, int], npt.NDArray[np.float64]]:
    """All scalar samples of the window as (times in us, channel codes, channel -> code, values),
    in arrival order."""
    names: dict[str, int] = {}
    times: list[npt.NDArray[np.int64]] = []
    codes: list[npt.NDArray[np.int64]] = []
    values: list[npt.NDArray[np.float64]] = []
    for _, item in scalar_items:
        if type(item) is ScalarColumns:
            local = np.array([names.setdefault(c, len(names)) for c in item.channels], dtype=np.int64)
            times.append(item.times_us.astype(np.int64, copy=False))
            codes.append(local[item.channel_idx])
            values.append(item.values)
            continue
        rows = [item] if type(item) is ScalarSample else list(item.samples)
        times.append(np.array([(r.timestamp - EPOCH) // _US for r in rows], dtype=np.int64))
        codes.append(np.array([names.setdefault(r.channel, len(names)) for r in rows], dtype=np.int64))
        values.append(np.array([r.value for r in rows], dtype=np.float64))
    return np.concatenate(times), np.concatenate(codes), names, np.concatenate(values)


def _sample_lookup(scalar_items: list[tuple[int, Any]]) -> Any:
    """k -> the window's k-th scalar sample."""
    starts: list[int] = []
    offset = 0
    for _, item in scalar_items:
        starts.append(offset)
        offset += 1 if type(item) is ScalarSample else len(item)

    def sample(k: int) -> ScalarSample:
        j = bisect_right(starts, k) - 1
        item, at = scalar_items[j][1], k - starts[j]
        if type(item) is ScalarSample:
            return item
        if type(item) is ScalarColumns:
            time, code = EPOCH + timedelta(microseconds=int(item.times_us[at])), int(item.channel_idx[at])
            return ScalarSample(item.asset_id, item.channels[code], time, float(item.values[at]),
                                item.units[code] if item.units else "")
        return item.samples[at]  # type: ignore[no-any-return]

    return sample


def _scalar_dead_letter(sample: ScalarSample, channel: str, first_value: float, at: datetime) -> DeadLetter:
    """No ``source.*`` headers, whatever path brought the copy: a column piece knows its Kafka
    offsets, a block does not, and the dead letters must not depend on that (the decode step's
    runs and its per-record path give the same outputs, ``tests/flows/test_kafka_runs.py``)."""
    same = sample.value == first_value
    verdict = "identical" if same else f"conflicting: value {sample.value!r}, first {first_value!r}"
    detail = (f"scalar sample of asset {sample.asset_id!r} channel {channel!r} at "
              f"{sample.timestamp.isoformat()} is already in its window ({verdict}); the first copy is kept")
    return DeadLetter(DUPLICATE_RECORD, detail, "window", codec.encode_json(sample), at)


def _trimmed(scalar_items: list[tuple[int, Any]], keep: npt.NDArray[np.bool_]) -> list[tuple[int, Any]]:
    """(position, the item without its duplicates, or None when nothing of it is kept)."""
    out: list[tuple[int, Any]] = []
    offset = 0
    for i, item in scalar_items:
        size = 1 if type(item) is ScalarSample else len(item)
        mask = keep[offset:offset + size]
        offset += size
        if mask.all():
            out.append((i, item))
        elif not mask.any():
            out.append((i, None))
        elif type(item) is ScalarColumns:
            pos = None if item.positions is None else item.positions[mask]
            out.append((i, ScalarColumns.of(item.asset_id, item.times_us[mask], item.channel_idx[mask],
                                            item.channels, item.values[mask], item.origin, pos,
                                            item.units)))
        else:
            kept = tuple(s for s, k in zip(item.samples, mask.tolist(), strict=True) if k)
            out.append((i, ScalarBlock(item.asset_id, max(s.timestamp for s in kept), kept)))
    return out
