"""The event-time gate: no source partition runs more than a budget of event time ahead of the slowest.

Why: a fleet model version learnt from a life that failed at ``f`` applies to windows from
``f + model_delay_s`` on, in every process (:mod:`flows.dataflow.fleet_models`). A process whose
partitions hold less data per hour of event time replays faster; without a bound it drifts ahead
of the process whose asset failed by more than ``model_delay_s`` (in a 10-day replay on 8 uneven
partitions: more than a day) and fuses windows before the version that applies to them has
arrived: the fused RUL then depends on process timing. The drift grows with the length of the
backlog and the skew of the partitions, so no fixed ``model_delay_s`` is safe on its own.

How: every source partition reports its *position*, a lower bound on the event time of anything it
will still emit (:meth:`EventTimeGate.report`; a partition at its end reports ``+inf``; one that is
known to exist but has not reported yet counts as ``-inf``, :meth:`EventTimeGate.join`), and emits
a record only while its event time is at most the cluster's lowest position plus ``budget_s``
(:meth:`EventTimeGate.allows`; the source keeps the record buffered and asks again). The slowest
partition is never held back (its next record is at its own position), so the cluster always
progresses. Other processes' positions arrive through :meth:`remote_report` (``twin run``: the
fleet model topic, :mod:`flows.app.gate_link`); a process that has not reported yet counts as
``-inf``. ``budget_s`` is an eighth of ``model_delay_s`` in ``twin run``
(``flows.app.run.GATE_SHARE_OF_DELAY``): until a failure is known (its window closes only when the
failed asset sends data again, after its repair), its partition may be one budget past it and the
others one more; the rest of the delay covers the repair. A version can still be late when an
asset stays silent after its failure for longer than that (on one process too: the failure is not
known before); the late counter says so.

Holds: the position gate alone leaves a race in wall time (a failure becomes known when its
window closes; the learner, possibly in another process, then publishes the version and it goes
through Kafka; meanwhile the other partitions keep moving up to their limit). So the twin that
closes a life also *holds* the gate at the version's effective time (:meth:`hold`, through the
board's ``expect``): no partition of the cluster emits past it (the hold counts as this process's
position for the others) until the version is read back from the topic (:meth:`release`).

Bounded waiting: when a partition has been held back for ``timeout_s`` of wall time without the
lowest position moving (a process died or stopped reporting), the gate opens until it moves again,
and counts it (``on_timeout``): outputs may then depend on timing, and the counter says so.
Thread-safe: the worker threads of one process share one gate.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable

__all__ = ["MAX_RELEASED", "EventTimeGate"]

MAX_RELEASED = 10_000
"""Versions remembered as arrived (a hold for one of them is void: the topic had it already)."""


class EventTimeGate:
    """Positions of this process's partitions and of the other processes; the emission limit."""

    def __init__(self, budget_s: float, *, process_id: int = 0, processes: int = 1, timeout_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic, on_wait: Callable[[], None] | None = None,
                 on_timeout: Callable[[], None] | None = None) -> None:
        if budget_s < 0 or timeout_s <= 0:
            msg = f"event-time gate: budget_s {budget_s} must be >= 0 and timeout_s {timeout_s} > 0"
            raise ValueError(msg)
        self.budget_ms = budget_s * 1000.0
        self.process_id = process_id
        self.timeout_s = timeout_s
        self.clock = clock
        self.on_wait = on_wait
        self.on_timeout = on_timeout
        self._lock = threading.Lock()
        self._local: dict[int, float] = {}  # partition -> position (event time, ms)
        self._remote: dict[int, float] = dict.fromkeys((p for p in range(processes) if p != process_id),
                                                       -math.inf)
        self._held: set[int] = set()  # partitions held back right now
        self._low = -math.inf  # the lowest position when it last moved ...
        self._moved_at = clock()  # ... and when
        self._open = False  # timed out: open until the lowest position moves
        self.started_at: float | None = None  # see start()
        self._holds: set[tuple[str, int]] = set()  # (kind, effective ms) of versions on their way
        self._released: dict[tuple[str, int], None] = {}  # arrived (bounded, insertion order)
        self.wake = threading.Event()  # set on a hold, a release or a move: publish the position now
        self._published = -math.inf  # the position last published (take_position)

    def report(self, part: int, position_ms: float) -> None:
        """Partition ``part`` of this process will emit nothing before ``position_ms`` any more.
        Wakes the publisher once this process's position moved by an eighth of the budget since it
        last published (the others wait for it: publishing only every ``every_s`` made them wait)."""
        with self._lock:
            self._local[part] = position_ms
            self._moved()
            low = self._local_low()
            wake = low is not None and low - self._published >= self.budget_ms / 8
        if wake:
            self.wake.set()

    def join(self, parts: Iterable[int]) -> None:
        """Partitions ``parts`` are this process's: until they report, they count as ``-inf`` (they
        may still emit anything). Without it, a partition that had not reported yet did not count:
        the first partition to report, alone, set the lowest position and could emit a whole
        buffer past the others (a resume after the topics grew: an old partition's first batch ran
        a day ahead of the new ones, and the fleet model version of a life those closed later came
        late). Idempotent; a partition that already reported keeps its position."""
        with self._lock:
            for part in parts:
                self._local.setdefault(part, -math.inf)
            self._moved()

    def take_position(self) -> float | None:
        """:meth:`local_position_ms`, remembered as published (see :meth:`report`)."""
        position = self.local_position_ms()
        if position is not None:
            with self._lock:
                self._published = position
        return position

    def remote_report(self, process: int, position_ms: float) -> None:
        """Process ``process`` will emit nothing before ``position_ms`` any more (its partitions' min).
        Ignored for this process's own id and for ids outside the cluster (another cluster on the
        same topic)."""
        if process not in self._remote:
            return
        with self._lock:
            self._remote[process] = position_ms
            self._moved()

    @property
    def alone(self) -> bool:
        """One process: every partition of the source is this process's."""
        return not self._remote

    def start(self, parts: Iterable[int] = ()) -> None:
        """The source is being built (its partitions report from their first batch on) over the
        partitions ``parts``: with one process, every one of them is built here (by any of its
        workers), so they all :meth:`join` now, before a worker builds its own."""
        with self._lock:
            if self.started_at is None:
                self.started_at = self.clock()
        if self.alone:
            self.join(parts)

    def hold(self, kind: str, effective_s: float) -> None:
        """A fleet model version of ``kind`` effective from ``effective_s`` is on its way (a life
        was closed here): until :meth:`release`, no partition of the cluster emits past
        ``effective_s`` (this process's position says so to the others). Idempotent."""
        key = (kind, round(effective_s * 1000.0))
        with self._lock:
            if key in self._released:
                return
            self._holds.add(key)
            self._moved()
        self.wake.set()

    def release(self, kind: str, effective_s: float) -> None:
        """The version of ``kind`` effective from ``effective_s`` has arrived (every process can read it)."""
        key = (kind, round(effective_s * 1000.0))
        with self._lock:
            self._released[key] = None
            if len(self._released) > MAX_RELEASED:
                del self._released[next(iter(self._released))]
            if key in self._holds:
                self._holds.discard(key)
                self._moved()
        self.wake.set()

    def local_position_ms(self, grace_s: float = 5.0) -> float | None:
        """The lowest position of this process's partitions and holds: what the other processes
        need to know. None while unknown (before the first report); ``inf`` for a process whose
        source has been built for ``grace_s`` without a partition (more processes than partitions)."""
        with self._lock:
            local = self._local_low()
            if local is not None:
                return local
            if self.started_at is not None and self.clock() - self.started_at >= grace_s:
                return math.inf
            return None

    def limit_ms(self) -> float:
        """The latest event time a partition may emit now (``inf`` while timed out)."""
        with self._lock:
            return math.inf if self._open else self._lowest() + self.budget_ms

    def allows(self, part: int, event_ms: float) -> bool:
        """May partition ``part`` emit a record of ``event_ms`` now? Counts the start of every hold
        and a timeout (see the module docstring); never blocks."""
        timed_out = waited = False
        with self._lock:
            if self._open or event_ms <= self._lowest() + self.budget_ms:
                self._held.discard(part)
                return True
            if part not in self._held:
                self._held.add(part)
                waited = True
            if self.clock() - self._moved_at >= self.timeout_s:
                self._open = timed_out = True
                self._held.clear()
        if waited and self.on_wait is not None:
            self.on_wait()
        if timed_out and self.on_timeout is not None:
            self.on_timeout()
        return timed_out

    def _local_low(self) -> float | None:
        """This process's lowest position: its partitions', and a hold's effective time minus the
        budget (so that the limit, lowest + budget, stops at the hold)."""
        values = [*self._local.values(), *(ms - self.budget_ms for _k, ms in self._holds)]
        return min(values) if values else None

    def _lowest(self) -> float:
        local = self._local_low()
        values = [*self._remote.values(), *(() if local is None else (local,))]
        return min(values) if values else math.inf

    def _moved(self) -> None:
        low = self._lowest()
        if low != self._low:
            self._low, self._moved_at, self._open = low, self.clock(), False
