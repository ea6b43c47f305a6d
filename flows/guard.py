"""Per-item guards: an item that makes a step raise goes to the dead letters; the flow goes on.

Every per-item step of :mod:`flows.pipeline` runs through one of these wrappers. An unexpected
exception for one item becomes a :class:`~flows.operators.DeadLetter` with reason
``processing_error`` (detail: step, exception type and message, asset), counted in
``twin_dead_letters_total{reason="processing_error"}``, and the asset's state is left as it was
before the item:

- stateless steps (``decode``, ``featurize_frames``, ``aggregate_window``) have nothing to undo;
- ``twin_update`` and ``alert_gate`` pickle the asset's state before each item (one pickle per
  window: a small fraction of the window's own cost) and unpickle it on failure;
- ``fleet_rul`` state holds a whole fleet's histories, too large to copy per item: see
  :class:`FleetUndo` (a checkpoint every so often plus the items applied since, replayed on
  failure).

A ``try`` block costs nothing in CPython 3.11 until something raises, so the guards' cost is the
state copies only (measured in ``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import logging
import pickle
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import numpy as np

from flows import serde
from flows.metrics import PipelineMetrics
from flows.operators import DeadLetter, FrameFeatures, RawRecord
from twin_models.records import WaveformFrame

__all__ = [
    "PROCESSING_ERROR",
    "FleetUndo",
    "guard_fleet",
    "guard_keyed_map",
    "guard_map",
    "guard_stateful",
    "payload_of",
    "processing_error",
]

log = logging.getLogger(__name__)

PROCESSING_ERROR = "processing_error"
LOGGED_TRACEBACKS = 20
"""Tracebacks logged per process (then one line each): a systematic bug must not flood the log."""

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
            return bytes(item.payload or b"")
        if isinstance(item, WaveformFrame):
            return serde.encode_waveform(item)
        if isinstance(item, FrameFeatures):
            doc = {"asset_id": item.asset_id, "channel": item.channel,
                   "timestamp": serde.format_timestamp(item.timestamp),
                   "features": {k: float(v) if np.isfinite(v) else None for k, v in item.features.items()}}
            return serde.json.dumps(doc).encode()
        return serde.encode_json(item)
    except Exception:  # noqa: BLE001 - the item is broken already; the detail says why
        return b""


def processing_error(step: str, exc: BaseException, item: Any, metrics: PipelineMetrics,
                     now: Now, source: str | None = None) -> DeadLetter:
    """The dead letter of an item whose ``step`` raised ``exc``; counted and logged."""
    global _logged  # noqa: PLW0603 - a per-process log budget
    asset = _asset_of(item)
    detail = f"step {step} failed for asset {asset!r}: {type(exc).__name__}: {exc}"
    metrics.decode_errors.labels(reason=PROCESSING_ERROR).inc()
    _logged += 1
    log.warning("twin: dead letter: %s", detail, exc_info=_logged <= LOGGED_TRACEBACKS)
    raw = item if isinstance(item, RawRecord) else None
    return DeadLetter(PROCESSING_ERROR, detail, source or (raw.source if raw else step),
                      payload_of(item), now(), raw.headers if raw else ())


def guard_map(step: str, fn: Callable[[X], Y], metrics: PipelineMetrics,
              now: Now) -> Callable[[X], Y | DeadLetter]:
    """A stateless step: ``fn(item)``, or its dead letter if it raises."""

    def guarded(item: X) -> Y | DeadLetter:
        try:
            return fn(item)
        except Exception as exc:  # noqa: BLE001 - one item must never stop the flow
            return processing_error(step, exc, item, metrics, now)

    return guarded


def guard_keyed_map(step: str, fn: Callable[[tuple[str, X]], tuple[str, Y]], metrics: PipelineMetrics,
                    now: Now) -> Callable[[tuple[str, X]], tuple[str, Y | DeadLetter]]:
    """A stateless step on ``(key, value)`` items: the dead letter keeps the key."""

    def guarded(kv: tuple[str, X]) -> tuple[str, Y | DeadLetter]:
        try:
            return fn(kv)
        except Exception as exc:  # noqa: BLE001 - one item must never stop the flow
            return kv[0], processing_error(step, exc, kv, metrics, now)

    return guarded


StatefulFn = Callable[[S | None, X], tuple[S | None, Iterable[Y]]]


def guard_stateful(step: str, fn: StatefulFn[S, X, Y], metrics: PipelineMetrics, now: Now,
                   on_drop: Callable[[], None] | None = None) -> StatefulFn[S, X, Y | DeadLetter]:
    """A per-key stateful step whose state is small: pickle it before the item, restore on failure.

    ``on_drop`` is called when a key's first item fails (its new state is discarded).
    """

    def guarded(state: S | None, item: X) -> tuple[S | None, Iterable[Y | DeadLetter]]:
        before = None if state is None else pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            new_state, out = fn(state, item)
            return new_state, list(out)
        except Exception as exc:  # noqa: BLE001 - one item must never stop the flow
            if before is None and on_drop is not None:
                on_drop()
            restored = None if before is None else pickle.loads(before)  # noqa: S301 - our own bytes
            return restored, [processing_error(step, exc, item, metrics, now)]

    return guarded


@dataclass
class _Journal:
    """One key's last checkpoint (pickled state, None = no state yet) and the items since."""

    checkpoint: bytes | None = None
    items: list[Any] = field(default_factory=list)
    spent_s: float = 0.0
    pickle_s: float = 0.0
    live: Any = None


class FleetUndo:
    """Exact undo for a large per-key state without copying it per item.

    Per key, keep a pickled checkpoint and the items applied since. A new checkpoint is taken once
    the step has spent ``ratio`` times the last checkpoint's pickling time on items (so copies cost
    at most 1/``ratio`` of the step's time, 2 % by default) or ``max_items`` items have passed. On
    failure the checkpoint is unpickled and the logged items replayed through ``apply`` (the
    step's pure state transition, without metrics): deterministic, so the result is the state just
    before the failed item. Checkpoints live beside the flow's state, not in it (recovery
    snapshots are unchanged); after a resume the first item takes a fresh one.
    """

    def __init__(self, apply: Callable[[Any, Any], Any], *, ratio: float = 50.0,
                 max_items: int = 10_000) -> None:
        self.apply = apply
        self.ratio = ratio
        self.max_items = max_items
        self.journals: dict[str, _Journal] = {}

    def before(self, key: str, state: Any) -> None:
        """Call before applying an item: checkpoint when due (or when the state is not ours)."""
        j = self.journals.setdefault(key, _Journal())
        due = j.spent_s >= self.ratio * j.pickle_s or len(j.items) >= self.max_items
        if j.live is not state or due or (state is None and j.checkpoint is not None):
            t = time.perf_counter()
            j.checkpoint = None if state is None else pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
            j.pickle_s = time.perf_counter() - t
            j.items.clear()
            j.spent_s = 0.0
            j.live = state

    def applied(self, key: str, item: Any, state: Any, spent_s: float) -> None:
        """Call after an item succeeded: log it."""
        j = self.journals[key]
        j.items.append(item)
        j.spent_s += spent_s
        j.live = state

    def restore(self, key: str) -> Any:
        """The state just before the item that failed (checkpoint + replay of the logged items)."""
        j = self.journals[key]
        state = None if j.checkpoint is None else pickle.loads(j.checkpoint)  # noqa: S301 - ours
        for item in j.items:
            state = self.apply(state, item)
        j.live = state
        return state


def guard_fleet(step: str, fn: StatefulFn[S, X, Y], apply: Callable[[S | None, X], S],
                key_of: Callable[[X], str], metrics: PipelineMetrics,
                now: Now, *, ratio: float = 50.0) -> StatefulFn[S, X, Y | DeadLetter]:
    """A per-key stateful step with a large state: undo through :class:`FleetUndo`.

    ``apply`` is the step's pure state transition (no metrics), replayed on restore; ``key_of``
    gives an item's key (Bytewax does not pass it to the mapper); ``ratio`` see FleetUndo.
    """
    undo = FleetUndo(apply, ratio=ratio)

    def guarded(state: S | None, item: X) -> tuple[S | None, Iterable[Y | DeadLetter]]:
        key = key_of(item)
        undo.before(key, state)
        t = time.perf_counter()
        try:
            new_state, out = fn(state, item)
            out = list(out)
        except Exception as exc:  # noqa: BLE001 - one item must never stop the flow
            dead = processing_error(step, exc, item, metrics, now)
            try:
                return undo.restore(key), [dead]
            except Exception:  # noqa: BLE001 - replay must not fail (it is deterministic); if it
                log.exception("twin: %s: could not replay to the state before the failed item", step)
                j = undo.journals[key]  # ... does, fall back to the last checkpoint
                j.items.clear()
                j.live = None if j.checkpoint is None else pickle.loads(j.checkpoint)  # noqa: S301
                return j.live, [dead]
        undo.applied(key, item, new_state, time.perf_counter() - t)
        return new_state, out

    return guarded
