"""The digital thread inside the dataflow: input marks at decode, input ranges per window, and
the lineage stamped on snapshots and alerts (issue 11).

Cost: the scalar path's records travel as column pieces, whose ``positions`` array is sliced
with them (no per-record object); records decoded one by one (frames, events, a replay's lone
scalars) give one :class:`~flows.dataflow.items.InputMark` per (asset, window, source) of a batch,
placed right before the first of them. Scalar samples of Kafka judged one by one (a piece's, or a
message's decoded alone) keep their own offsets to the block builder, which marks them knowing
which may be late (:mod:`flows.dataflow.located`). ``aggregate_window`` reduces a window's marks
and pieces to one :class:`~twin_models.records.InputSpan` per source (min/max: a covering range).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from flows.dataflow.fleet_steps import StateSnapshot
from flows.dataflow.items import InputMark, RawRecord, ScalarColumns, kafka_origin
from twin_models.records import EPOCH, Alert, InputSpan, Lineage, TwinSnapshot

__all__ = ["MarkCollector", "Producer", "position_of", "stamp_alerts", "stamp_window",
           "window_inputs"]


@dataclass(frozen=True, slots=True)
class Producer:
    """Who produces the records of a flow: twinflow's version and the configuration's hash."""

    version: str = ""
    config_hash: str = ""


def position_of(raw: RawRecord) -> tuple[str, int] | None:
    """(origin, position) of a record: a replayed one's own, a Kafka message's from its headers."""
    if raw.position >= 0:
        return raw.origin, raw.position
    h = raw.headers
    if len(h) == 3 and h[2][0] == "source.offset":
        return kafka_origin(h[0][1], h[1][1]), int(h[2][1])
    return None


class MarkCollector:
    """One decode batch's input marks: :meth:`add` before appending each decoded record."""

    def __init__(self, window_s: float) -> None:
        self.length = timedelta(seconds=window_s)
        self.open: dict[tuple[str, int, str], InputMark] = {}

    def add(self, out: list[Any], item: Any, where: tuple[str, int] | None) -> None:
        """Widen the mark of ``item``'s (asset, window, origin), or append a new one to ``out``."""
        if where is None:
            return
        origin, pos = where
        key = (item.asset_id, (item.timestamp - EPOCH) // self.length, origin)
        mark = self.open.get(key)
        if mark is None:
            self.open[key] = InputMark(item.asset_id, item.timestamp, origin, pos, pos)
            out.append(self.open[key])
        elif pos < mark.first:
            mark.first = pos
        elif pos > mark.last:
            mark.last = pos


def window_inputs(items: Iterable[Any]) -> tuple[InputSpan, ...]:
    """One span per source (sorted by name) over a window's marks and located pieces."""
    spans: dict[str, tuple[int, int]] = {}
    for item in items:
        kind = type(item)
        if kind is InputMark:
            source, first, last = item.source, item.first, item.last
        elif kind is ScalarColumns and item.positions is not None:
            pos = item.positions  # non-decreasing (offsets or rows in arrival order), never empty
            source, first, last = item.origin, pos.item(0), pos.item(-1)
        else:
            continue
        old = spans.get(source)
        spans[source] = (first, last) if old is None else (min(old[0], first), max(old[1], last))
    return tuple(InputSpan(s, *spans[s]) for s in sorted(spans))


def _stamped(snap: TwinSnapshot, lineage: Lineage) -> TwinSnapshot:
    """``snap`` with its lineage set IN PLACE. Only for a snapshot the twin step has just built
    and nobody holds yet (``AssetTwin.update`` and ``FleetView.update`` keep no reference):
    ``replace`` (or any construction) of a frozen 19-field dataclass cost ~7 us per window, a
    measurable share of the scalar path; setting one slot costs nothing."""
    object.__setattr__(snap, "lineage", lineage)
    return snap


def stamp_alerts(alerts: list[Alert], snap: TwinSnapshot) -> list[Alert]:
    """Alerts decided on ``snap`` carry its lineage."""
    if snap.lineage is None:
        return alerts
    return [replace(a, lineage=snap.lineage) for a in alerts]


def stamp_window(snap: TwinSnapshot, fleet: list[Any], producer: Producer, learned: int,
                 inputs: tuple[InputSpan, ...]) -> tuple[TwinSnapshot, list[Any]]:
    """A scored window's own snapshot and fused state snapshot (both just built by the twin
    step), stamped in place with what produced them."""
    version = next((x.fleet_version for x in fleet if type(x) is StateSnapshot), 0)
    lineage = Lineage(producer.version, producer.config_hash, snap.life_id, learned, version, inputs)
    for x in fleet:
        if type(x) is StateSnapshot and x.snap is not snap:
            _stamped(x.snap, lineage)
    return _stamped(snap, lineage), fleet
