"""Per-item guards: an item that makes a step raise goes to the dead letters; the flow goes on.

Every per-item step of :mod:`flows.dataflow.pipeline` runs through one of these wrappers. An unexpected
exception for one item becomes a :class:`~flows.dataflow.items.DeadLetter` with reason
``processing_error`` (detail: step, exception type and message, asset), counted in
``twin_dead_letters_total{reason="processing_error"}``, and the asset's state is left as it was
before the item:

- stateless steps (``decode``, ``featurize_frames``, ``aggregate_window``) have nothing to undo;
- stateful steps (``twin_update``, ``alert_gate``, ``fleet_rul``) restore the key's state through
  :class:`Undo`: a copy per item where that is cheap (a baseline asset twin), else a checkpoint
  every so often plus the items applied since, replayed on failure (a fleet's histories, a
  novelty twin): the copies cost at most ~2 % of the step's time and the state is exact.

A ``try`` block costs nothing in CPython 3.11 until something raises, so the guards' cost is the
state copies only (measured in ``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import json
import logging
import pickle
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import numpy as np

from flows import codec
from flows.archive.files import printable
from flows.dataflow.items import DeadLetter, FrameFeatures, RawRecord, SourcedFrame, origin_headers
from flows.dataflow.metrics import PipelineMetrics
from twin_models.records import WaveformFrame

__all__ = [
    "PROCESSING_ERROR",
    "Undo",
    "guard_keyed_map",
    "guard_map",
    "guard_stateful",
    "payload_of",
    "processing_error",
    "refused_frame",
]

log = logging.getLogger(__name__)

PROCESSING_ERROR = "processing_error"
LOGGED_TRACEBACKS = 20
"""Tracebacks logged per process (then one line each): a systematic bug must not flood the log."""

MAX_DETAIL_CHARS = 2000
"""Longest dead-letter detail kept from an exception message."""

S = TypeVar("S")
X = TypeVar("X")
Y = TypeVar("Y")
Now = Callable[[], datetime]
_logged = 0


def _asset_of(item: Any) -> str:
    """The asset an item belongs to, for the detail ('?' if it has none)."""
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
        return item[0]
    asset = getattr(item, "asset_id", None)
    return asset if isinstance(asset, str) else "?"


def payload_of(item: Any) -> bytes:
    """Best-effort bytes of the failed item, so it can be inspected or replayed (b'' if none)."""
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
        item = item[1]
    try:
        if isinstance(item, RawRecord):
            return bytes(item.wire() or b"")
        if isinstance(item, WaveformFrame):
            with np.errstate(over="ignore"):  # float64 samples beyond float32's range: inf, as they are
                return codec.encode_waveform(item)
        if isinstance(item, FrameFeatures):
            doc = {"asset_id": item.asset_id, "channel": item.channel,
                   "timestamp": codec.format_timestamp(item.timestamp),
                   "features": {k: float(v) if np.isfinite(v) else None for k, v in item.features.items()}}
            return json.dumps(doc).encode()
        return codec.encode_json(item)
    except Exception:  # noqa: BLE001 - the item is broken already; the detail says why
        return b""


def processing_error(step: str, exc: BaseException, item: Any, metrics: PipelineMetrics,
                     now: Now, source: str | None = None) -> DeadLetter:
    """The dead letter of an item whose ``step`` raised ``exc``; counted and logged."""
    global _logged  # noqa: PLW0603 - a per-process log budget
    asset = _asset_of(item)
    detail = f"step {step} failed for asset {asset!r}: {type(exc).__name__}: {exc}"
    if len(detail) > MAX_DETAIL_CHARS:
        detail = detail[: MAX_DETAIL_CHARS - 3] + "..."
    detail = detail.encode("utf-8", "backslashreplace").decode("utf-8")  # lone surrogates
    metrics.dead_letters.labels(reason=PROCESSING_ERROR).inc()
    _logged += 1
    # round 37 (DURABLE37): the exception's text may quote the record's (a unit, a note: anyone's text);
    # the line and its traceback reach a terminal, so each is escaped (the dead letter keeps it exact)
    trace = "".join(traceback.format_exception(exc)) if _logged <= LOGGED_TRACEBACKS else ""
    log.warning("twin: dead letter: %s%s", printable(detail),
                "".join(f"\n{printable(line)}" for line in trace.rstrip("\n").split("\n") if trace))
    raw = item if isinstance(item, RawRecord) else None
    return DeadLetter(PROCESSING_ERROR, detail, source or (raw.source if raw else step),
                      payload_of(item), now(), raw.headers if raw else _sources(item))


def refused_frame(reason: str, detail: str, step: str, frame: WaveformFrame, now: Now) -> DeadLetter:
    """The dead letter of a frame ``step`` refuses for ``reason`` (the caller counts it): its bytes
    and, read from Kafka, its message's ``source.*`` headers, as a ``processing_error`` has."""
    return DeadLetter(reason, detail, step, payload_of(frame), now(), _sources(frame))


def _sources(item: Any) -> tuple[tuple[str, str], ...]:
    """The ``source.*`` headers of a failed Kafka frame (the ``featurize_frames`` step's item:
    its message's topic partition and offset); none for other items (a replay's frame, a window)."""
    if type(item) is SourcedFrame:
        return origin_headers(item.origin, item.position)
    return ()


def guard_map(step: str, fn: Callable[[X], Y], metrics: PipelineMetrics,
              now: Now, *, timed: Callable[[X], bool] | None = None) -> Callable[[X], Y | DeadLetter]:
    """A stateless step: ``fn(item)``, or its dead letter if it raises.

    ``timed(item)`` says which calls go to ``twin_step_call_seconds`` (None: none are timed, and
    the per-record path pays nothing for it).
    """

    def guarded(item: X) -> Y | DeadLetter:
        try:
            return fn(item)
        except Exception as exc:  # noqa: BLE001 - one item must never stop the flow
            return processing_error(step, exc, item, metrics, now)

    if timed is None:
        return guarded
    calls = metrics.step_call_seconds.labels(step=step)

    def guarded_timed(item: X) -> Y | DeadLetter:
        if not timed(item):
            return guarded(item)
        t = time.perf_counter()
        out = guarded(item)
        calls.observe(time.perf_counter() - t)
        return out

    return guarded_timed


def guard_keyed_map(step: str, fn: Callable[[tuple[str, X]], tuple[str, Y]], metrics: PipelineMetrics,
                    now: Now) -> Callable[[tuple[str, X]], tuple[str, Y | DeadLetter]]:
    """A stateless step on ``(key, value)`` items: the dead letter keeps the key (calls timed)."""
    calls = metrics.step_call_seconds.labels(step=step)

    def guarded(kv: tuple[str, X]) -> tuple[str, Y | DeadLetter]:
        t = time.perf_counter()
        try:
            out = fn(kv)
        except Exception as exc:  # noqa: BLE001 - one item must never stop the flow
            return kv[0], processing_error(step, exc, kv, metrics, now)
        calls.observe(time.perf_counter() - t)
        return out

    return guarded


StatefulFn = Callable[[S | None, X], tuple[S | None, Iterable[Y]]]


@dataclass
class _Journal:
    """One key's checkpoint (pickled state; None = no state yet), the items since, and costs."""

    checkpoint: bytes | None = None
    items: list[Any] = field(default_factory=list)
    spent_s: float = 0.0
    pickle_s: float = 0.0
    step_s: float = 0.0
    copy: bool = False
    live: Any = None


class Undo:
    """Exact undo of a keyed state after a failed item, at a bounded cost.

    Two modes per key, chosen from measured costs after each checkpoint:

    - *copy*: when pickling the state costs at most ``copy_ratio`` times one item's step time
      (an asset twin: ~0.5 ms against its ~1.3 ms update and a window's ~50 ms of frames), the
      state is pickled before every item and the bytes dropped after it: nothing is retained;
    - *journal*: otherwise (a fleet's histories; a novelty twin of 4 MB that pickles in 40 ms
      against a 3 ms update) a checkpoint is kept with the items applied since, and a new one is
      taken once the step has spent ``ratio`` times its pickling time on items (copies then cost at
      most 1/``ratio`` of the step's time, 2 % by default) or after ``max_items`` items. On
      failure the checkpoint is unpickled and the items replayed through ``apply``, the step's
      pure state transition (no metrics): deterministic, so the result is the state just before
      the failed item. Memory: one pickled copy of the state and at most ``max_items`` items.

    Checkpoints live beside the flow's state, not in it (recovery snapshots are unchanged); after
    a resume the first item takes a fresh one.
    """

    def __init__(self, apply: Callable[[Any, Any], Any], *, ratio: float = 50.0,
                 copy_ratio: float = 0.5, max_items: int = 1000) -> None:
        self.apply = apply
        self.ratio = ratio
        self.copy_ratio = copy_ratio
        self.max_items = max_items
        self.journals: dict[str, _Journal] = {}

    def before(self, key: str, state: Any) -> None:
        """Call before applying an item: checkpoint when due (or when the state is not ours)."""
        j = self.journals.get(key)
        if j is None:
            j = self.journals[key] = _Journal()
        due = j.spent_s >= self.ratio * j.pickle_s or len(j.items) >= self.max_items
        if j.copy or due or j.live is not state:
            t = time.perf_counter()
            j.checkpoint = None if state is None else pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
            j.pickle_s = time.perf_counter() - t
            j.copy = state is not None and j.pickle_s <= self.copy_ratio * j.step_s
            j.items.clear()
            j.spent_s = 0.0
            j.live = state

    def applied(self, key: str, item: Any, state: Any, spent_s: float) -> None:
        """Call after an item succeeded: log it (journal mode) or drop the copy (copy mode)."""
        j = self.journals[key]
        j.step_s = spent_s if not j.step_s else 0.9 * j.step_s + 0.1 * spent_s
        j.spent_s += spent_s
        j.live = state
        if j.copy:
            j.checkpoint = None
        else:
            j.items.append(item)

    def restore(self, key: str) -> Any:
        """The state just before the item that failed (checkpoint + replay of the logged items)."""
        j = self.journals[key]
        state = None if j.checkpoint is None else pickle.loads(j.checkpoint)  # noqa: S301 - ours
        for item in j.items:
            state = self.apply(state, item)
        j.live = state
        return state


def guard_stateful(step: str, fn: StatefulFn[S, X, Y], apply: Callable[[S | None, X], S],
                   key_of: Callable[[X], str], metrics: PipelineMetrics, now: Now, *,
                   on_drop: Callable[[X], None] | None = None,
                   **undo: float) -> StatefulFn[S, X, Y | DeadLetter]:
    """A per-key stateful step: on failure, its dead letter and the key's state as before the item.

    ``apply`` is the step's pure state transition (no metrics), replayed on restore; ``key_of``
    gives an item's key (Bytewax does not pass it to the mapper); ``undo`` goes to :class:`Undo`.
    ``on_drop(item)`` is called when a key's first item fails (its new state is discarded).
    """
    journal = Undo(apply, **undo)  # type: ignore[arg-type]
    calls = metrics.step_call_seconds.labels(step=step)

    def guarded(state: S | None, item: X) -> tuple[S | None, Iterable[Y | DeadLetter]]:
        key = key_of(item)
        journal.before(key, state)
        t = time.perf_counter()
        try:
            new_state, out = fn(state, item)
            out = list(out)
        except Exception as exc:  # noqa: BLE001 - one item must never stop the flow
            dead = processing_error(step, exc, item, metrics, now)
            if state is None and on_drop is not None:
                on_drop(item)
            return _restore(step, journal, key), [dead]
        spent = time.perf_counter() - t
        calls.observe(spent)
        journal.applied(key, item, new_state, spent)
        return new_state, out

    return guarded


def _restore(step: str, journal: Undo, key: str) -> Any:
    """The restored state; if the replay itself fails (it is deterministic: it should not), the
    last checkpoint, with an error in the log."""
    try:
        return journal.restore(key)
    except Exception:  # noqa: BLE001 - never stop the flow
        log.exception("twin: %s: could not replay to the state before the failed item", step)
        j = journal.journals[key]
        j.items.clear()
        j.live = None if j.checkpoint is None else pickle.loads(j.checkpoint)  # noqa: S301 - ours
        return j.live
