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
on, and the windows served before it differ from a run in which it came in time (the lineage's
``fleet_model_version``, then the fused RUL and the damage prior).

Holds: the twin that closes a life says a version is coming (:meth:`FleetBoard.expect`, effective
from failure + ``model_delay_s``); until it is published here the board *holds* event time at
its effective time (:meth:`FleetBoard.hold_s`). In-process replays (the simulator, file replays:
:class:`~flows.dataflow.sources.replayable.ReplayPartition`) emit nothing past the hold, so no
window it applies to can close before it is here, whatever the worker threads' timing (with
several workers, the learner's worker may lag the others by more than the ~half a day of event
time between a failure becoming known and its version's effective time: round 30). ``twin run``
holds its Kafka sources through the event-time gate instead (``on_expect``). A hold that waits
longer than ``hold_timeout_s`` of wall time (a version that never comes: its life lost to a
failed step) is dropped and counted (``on_hold_timeout``); one known not to come is *voided* at once
(:meth:`FleetBoard.void`, round 31: the learner step failed on a part of its life, which it then
never completes: the replay stood still for the whole timeout, ~60 s per poison life, before;
round 32: also a life whose last part reaches the learner without the others, and, in ``twin run``,
in every process: the learner's process publishes the void on the fleet model topic,
:mod:`flows.app.gate_link`, and each process's board takes it, :meth:`FleetBoard.voided`).
Left to chance still: a failure that
becomes known only after the source passed its version's effective time (the failed asset's
worker lagging by that much, or an asset silent after its failure for longer than
``model_delay_s``): the late counter says so.

The board keeps the last ``keep`` versions of every kind (bounded) and is shared by the worker
threads of one process (a lock guards it). Demo and backtest use it in-process; with several
processes every process fills its own board (``twin run``: from a compacted Kafka topic).
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections.abc import Callable

from twin_models.rul.fleet_model import FleetModel

__all__ = ["HOLD_TIMEOUT_S", "FleetBoard"]

HOLD_TIMEOUT_S = 60.0
"""Wall time a hold waits for its version before it is dropped (as the event-time gate's timeout)."""


class FleetBoard:
    """The fleet model versions of every kind, by effective event time (thread-safe, bounded)."""

    def __init__(self, *, keep: int = 16, on_late: Callable[[FleetModel], None] | None = None,
                 on_expect: Callable[[str, float], None] | None = None,
                 hold_timeout_s: float = HOLD_TIMEOUT_S, on_hold_timeout: Callable[[], None] | None = None,
                 on_void: Callable[[str, float], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.keep = keep
        self.on_late = on_late
        self.on_expect = on_expect  # `twin run`: the event-time gate's hold (flows.dataflow.event_time_gate)
        self.hold_timeout_s = hold_timeout_s
        self.on_hold_timeout = on_hold_timeout
        self.on_void = on_void  # `twin run`: the event-time gate's release of the hold
        self.clock = clock
        self._lock = threading.Lock()
        self._models: dict[str, list[tuple[float, int, FleetModel]]] = {}
        self._seen_s: dict[str, float] = {}  # the latest window time served, per kind
        self._holds: dict[tuple[str, float], float] = {}  # (kind, effective s) on its way -> since (clock)
        self._arrived: dict[tuple[str, float], None] = {}  # published (bounded): a hold for one is void

    def publish(self, model: FleetModel) -> bool:
        """Add a version; True when it is late (a window it applies to was already served)."""
        with self._lock:
            versions = self._models.setdefault(model.kind, [])
            if any(v == model.version for _, v, _ in versions):
                return False  # a replayed publication (e.g. after a resume): already here
            bisect.insort(versions, (model.effective_from_s, model.version, model))
            del versions[: max(0, len(versions) - self.keep)]
            late = model.effective_from_s <= self._seen_s.get(model.kind, float("-inf"))
            self._settle((model.kind, model.effective_from_s))
        if late and self.on_late is not None:
            self.on_late(model)
        return late

    def expect(self, kind: str, effective_from_s: float) -> None:
        """A life of ``kind`` was closed and sent to the learner: a version effective from
        ``effective_from_s`` is coming (the event-time gate holds the cluster back until it is here)."""
        with self._lock:
            key = (kind, effective_from_s)
            if key not in self._arrived:
                self._holds.setdefault(key, self.clock())
        if self.on_expect is not None:
            self.on_expect(kind, effective_from_s)

    def void(self, kind: str, effective_from_s: float) -> None:
        """The version of ``kind`` effective from ``effective_from_s`` will not come (this process's
        learner failed on a part of its life, which is dead-lettered, or never got the whole life):
        :meth:`voided`, then ``on_void`` (``twin run``: the gate's release, and the void published
        to the other processes)."""
        self.voided(kind, effective_from_s)
        if self.on_void is not None:
            self.on_void(kind, effective_from_s)

    def voided(self, kind: str, effective_from_s: float) -> None:
        """That version will not come (this process's learner, or another process's, read from the
        fleet model topic): its hold ends now, and an undo replaying the life's window does not
        hold again. A version of it published later still applies (a void ends holds only)."""
        with self._lock:
            self._settle((kind, effective_from_s))

    def _settle(self, key: tuple[str, float]) -> None:
        """(Under the lock) the version ``key`` is here or will never come: its hold ends, and a
        later :meth:`expect` of it (an undo replaying the life's window) holds nothing (bounded)."""
        self._holds.pop(key, None)
        self._arrived[key] = None
        if len(self._arrived) > 4 * self.keep:
            del self._arrived[next(iter(self._arrived))]

    def hold_s(self) -> float:
        """The event time no in-process replay may emit past (+inf: no version on its way): the
        earliest effective time of the versions expected but not published yet. A hold older than
        ``hold_timeout_s`` is dropped (and counted)."""
        timed_out = 0
        with self._lock:
            if not self._holds:
                return math.inf
            now = self.clock()
            for key in [k for k, since in self._holds.items() if now - since >= self.hold_timeout_s]:
                del self._holds[key]
                timed_out += 1
            low = min((eff for _, eff in self._holds), default=math.inf)
        if timed_out and self.on_hold_timeout is not None:
            for _ in range(timed_out):
                self.on_hold_timeout()
        return low

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
