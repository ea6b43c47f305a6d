"""The arrival-time clock check: a whole asset's event clock against its arrival clock (issue 13).

Why: the peer check (:mod:`.clock`) judges one channel against the asset's other channels; when a
whole asset's clock jumps (a gateway whose NTP went wrong: every channel at once), its channels
agree with each other and nothing is caught, and a jump ahead moves the asset's watermark. The
only other clock a record carries is its ARRIVAL time (the Kafka message timestamp: the producer's
CreateTime or the broker's LogAppendTime).

What is compared: a record's *skew*, ``event time - arrival time``. An asset's own skew is not a
reference on its own: in a backlog or a fast replay (``twin simulate --speed 0``) event time runs
thousands of times faster than arrival time, so the skew moves by the event-time gap between two
records and a jump is indistinguishable from a pause in the data. What a jumped asset breaks is
its agreement with the OTHER assets whose records arrive with it (one source partition: the
messages of one producer, merged in event-time order): at the same moment of arrival, their skews
agree within the allowed lateness, whatever the replay speed. So the learnt typical lag of an
asset is the one its live peers show, and :class:`ArrivalClock` keeps, per source partition, each
asset's last admitted ``(skew, arrival)``. A record of asset ``a`` with skew ``s``:

- no live peer (no other asset admitted within ``active_s`` of arrival time): admitted (an asset
  alone is its own reference; after a pause of the whole stream everything restarts from here;
  records held while their peers fall silent are admitted then too);
- ``s`` more than ``limit_s`` above the highest skew of the live peers: *ahead*, held. A record of
  ANOTHER asset that reaches it (at most ``limit_s`` below) confirms it (the stream moved on: the
  end of a gap in the data): admitted. A record of another asset on time with its peers and more
  than ``limit_s`` below the held one contradicts it: rejected (at the same arrival the two
  clocks disagree by more than the lateness: the held one jumped ahead);
- otherwise admitted; more than ``limit_s`` BELOW its live peers it is also reported as behind
  (a whole asset's clock jumped back): the window step dead-letters it as ``late_record`` if its
  window has closed, and its channel is flagged. One such record after a pause of the whole
  stream's arrival clock (a LogAppendTime topic after a broker outage) is flagged once per asset:
  one window, below the two a sensor alert needs.

At a pace ``r`` other than 1 (a replay at ``--speed 0.5`` to ``2``, judged as real time: see
:mod:`.pace`), a healthy stream's skew is not constant but moves by ``r - 1`` seconds per arrival
second, so a peer's last skew is extrapolated to the present: ``skew + (r - 1) x (arrival - its
arrival)``, and a held record's likewise (:attr:`ArrivalClock.pace`, set by the caller). At
``r = 1`` (live telemetry) nothing changes.

``limit_s`` is the flow's allowed lateness (at least 60 s): a record that far ahead is what would
move its asset's watermark past records still to come. Held records are bounded (:data:`MAX_HELD`
per partition: beyond it the oldest are admitted). Pure and picklable: numbers and the few held
items.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAX_HELD", "ArrivalClock", "ArrivalVerdicts"]

MAX_HELD = 4096
"""Records held per source partition at most."""


@dataclass(slots=True)
class ArrivalVerdicts:
    """What offering items gives: admitted (in order), rejected ``(item, asset, ahead_s)``, and
    admitted ones more than the limit behind their peers ``(item, asset, offset_s < 0)``."""

    admitted: list[Any] = field(default_factory=list)
    rejected: list[tuple[Any, str, float]] = field(default_factory=list)
    behind: list[tuple[Any, str, float]] = field(default_factory=list)  # admitted, but behind its peers


@dataclass(slots=True)
class _Held:
    asset: str
    skew: float
    item: Any
    arrival: float = 0.0


class ArrivalClock:
    """One source partition's consensus on ``event time - arrival time`` (seconds)."""

    def __init__(self, limit_s: float, active_s: float) -> None:
        self.limit_s = limit_s
        self.active_s = active_s
        self.last: dict[str, tuple[float, float]] = {}  # asset -> (skew, arrival) last admitted
        self.held: list[_Held] = []
        self.pace = 1.0  # event seconds per arrival second of the partition (ArrivalPace.rate)

    def reference(self, asset: str, arrival: float) -> float | None:
        """The highest skew of the live peers of ``asset`` (None: no live peer), as they would
        show it at ``arrival``."""
        since = arrival - self.active_s
        drift = self.pace - 1.0
        best: float | None = None
        for other, (skew, at) in self.last.items():
            if other != asset and at >= since:
                now = skew + drift * (arrival - at)
                if best is None or now > best:
                    best = now
        return best

    def _now(self, h: _Held, arrival: float) -> float:
        """The held record's skew as its stream would show it at ``arrival``."""
        return h.skew + (self.pace - 1.0) * (arrival - h.arrival)

    def offer(self, asset: str, skew: float, arrival: float, item: Any, out: ArrivalVerdicts) -> None:
        """Judge one record of ``asset``."""
        if self.held:
            self._settle(asset, skew, arrival, out)
        if self.held:
            self._release_alone(arrival, out)
        ref = self.reference(asset, arrival)
        if ref is not None and skew > ref + self.limit_s:
            self.held.append(_Held(asset, skew, item, arrival))
            if len(self.held) > MAX_HELD:  # one stream left talking: it is the reference
                held, self.held = self.held, []
                for h in held:
                    self._admit(h.asset, self._now(h, arrival), arrival, h.item, out)
            return
        self._admit(asset, skew, arrival, item, out)
        if ref is not None and skew < ref - self.limit_s:  # its clock is behind its peers'
            out.behind.append((item, asset, skew - ref))
        elif self.held:  # on time with its peers
            self._contradict(asset, skew, skew if ref is None else ref, arrival, out)

    def admit_many(self, asset: str, skew: float, arrival: float) -> None:
        """A run of the asset's records already judged on time: the last one is remembered."""
        self.last[asset] = (skew, arrival)

    def _admit(self, asset: str, skew: float, arrival: float, item: Any, out: ArrivalVerdicts) -> None:
        out.admitted.append(item)
        self.last[asset] = (skew, arrival)

    def _release_alone(self, arrival: float, out: ArrivalVerdicts) -> None:
        """Held records whose peers all fell silent are admitted: they are alone now."""
        alone = {a for a in {h.asset for h in self.held} if self.reference(a, arrival) is None}
        if not alone:
            return
        keep: list[_Held] = []
        for h in self.held:
            if h.asset in alone:
                self._admit(h.asset, self._now(h, arrival), arrival, h.item, out)
            else:
                keep.append(h)
        self.held = keep

    def _settle(self, asset: str, skew: float, arrival: float, out: ArrivalVerdicts) -> None:
        """Held records of OTHER assets that ``skew`` reaches are confirmed."""
        limit = self.limit_s
        if not any(h.asset != asset and skew >= self._now(h, arrival) - limit for h in self.held):
            return
        keep: list[_Held] = []
        for h in self.held:
            if h.asset != asset and skew >= self._now(h, arrival) - limit:
                self._admit(h.asset, self._now(h, arrival), arrival, h.item, out)
            else:
                keep.append(h)
        self.held = keep

    def _contradict(self, asset: str, skew: float, ref: float, arrival: float, out: ArrivalVerdicts) -> None:
        """A record on time with its peers: held records of other assets more than ``limit_s``
        above it were stamped by a clock that jumped ahead."""
        keep: list[_Held] = []
        for h in self.held:
            now = self._now(h, arrival)
            if h.asset != asset and now > skew + self.limit_s:
                out.rejected.append((h.item, h.asset, now - max(skew, ref)))
            else:
                keep.append(h)
        self.held = keep
