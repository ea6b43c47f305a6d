"""The model board: where fleet model versions wait for the twins of their kind.

Bytewax dataflows have no cycles, so the fleet learner's output cannot flow back into
``twin_update``. Instead the learner's stream of :class:`~twin_models.rul.fleet_model.FleetModel`
versions goes to a sink that *publishes* them to the process's :class:`FleetBoard`, and
``twin_update`` reads the board: for a window at event time ``t`` it applies the newest version
(highest number) of the asset's kind among those whose ``effective_from_s <= t``: lives learnt out
of failure order give a newer version an earlier effective time, and the newest holds them all.
Outputs then depend on event time only, as long as a version reaches the board before the
windows it applies to are processed; one that arrives after such a window was already processed
in this process is *late*: it is counted (``twin_fleet_models_late_total``) and applies from then
on.

The board keeps the last ``keep`` versions of every kind (bounded) and is shared by the worker
threads of one process (a lock guards it). Demo and backtest use it in-process; with several
processes every process fills its own board (``twin run``: from a compacted Kafka topic).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable

from twin_models.rul.fleet_model import FleetModel

__all__ = ["FleetBoard"]


class FleetBoard:
    """The fleet model versions of every kind, by effective event time (thread-safe, bounded)."""

    def __init__(self, *, keep: int = 16, on_late: Callable[[FleetModel], None] | None = None,
                 on_expect: Callable[[str, float], None] | None = None) -> None:
        self.keep = keep
        self.on_late = on_late
        self.on_expect = on_expect  # `twin run`: the event-time gate's hold (flows.dataflow.event_time_gate)
        self._lock = threading.Lock()
        self._models: dict[str, list[tuple[float, int, FleetModel]]] = {}
        self._seen_s: dict[str, float] = {}  # the latest window time served, per kind

    def publish(self, model: FleetModel) -> bool:
        """Add a version; True when it is late (a window it applies to was already served)."""
        with self._lock:
            versions = self._models.setdefault(model.kind, [])
            if any(v == model.version for _, v, _ in versions):
                return False  # a replayed publication (e.g. after a resume): already here
            bisect.insort(versions, (model.effective_from_s, model.version, model))
            del versions[: max(0, len(versions) - self.keep)]
            late = model.effective_from_s <= self._seen_s.get(model.kind, float("-inf"))
        if late and self.on_late is not None:
            self.on_late(model)
        return late

    def expect(self, kind: str, effective_from_s: float) -> None:
        """A life of ``kind`` was closed and sent to the learner: a version effective from
        ``effective_from_s`` is coming (the event-time gate holds the cluster back until it is here)."""
        if self.on_expect is not None:
            self.on_expect(kind, effective_from_s)

    def model_at(self, kind: str, t_s: float) -> FleetModel | None:
        """The version of ``kind`` that applies at event time ``t_s`` (None before the first)."""
        with self._lock:
            if t_s > self._seen_s.get(kind, float("-inf")):
                self._seen_s[kind] = t_s
            versions = self._models.get(kind)
            if not versions:
                return None
            i = bisect.bisect_right(versions, t_s, key=lambda v: v[0])
            # the newest version among those in effect: a later version holds every life an earlier
            # one holds (lives learnt out of failure order give a newer version an earlier
            # effective time), and predictions use only lives failed model_delay_s before t
            return max(versions[:i], key=lambda v: v[1])[2] if i else None

    def latest(self, kind: str) -> FleetModel | None:
        """The newest version of ``kind`` (whatever its effective time)."""
        with self._lock:
            versions = self._models.get(kind)
            return max(versions, key=lambda v: v[1])[2] if versions else None
