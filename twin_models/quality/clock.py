"""The clock check at admission: one channel's event time against the asset's other channels.

Why at admission: an asset's channels share one event clock in the window step. A channel whose
logger clock jumped FORWARD moves the asset's watermark, and every healthy channel's records then
arrive late and are lost; one that jumped BACK is late itself. So the check runs before the
window step, per record, in arrival order (deterministic in a replay), and keeps a jumped
channel's records out of the asset's clock.

:class:`AssetClock` keeps, per asset, the *front* (the latest event time admitted) and each
channel's last admitted time. A record of channel ``c`` at ``t``:

- within ``limit_s`` of the front (either side): admitted; it moves the front. Any record held
  as "ahead" (below) is then contradicted: the asset's clock is still here, so the held records
  were stamped by a clock that jumped forward: rejected (``clock_skew``);
- more than ``limit_s`` BEHIND the front: flagged (its clock jumped back, or the channel runs
  non-monotonic) and passed on: it moves no watermark, and the window step dead-letters it as
  ``late_record`` if its window has closed, as it did before;
- more than ``limit_s`` AHEAD of the front while another channel of the asset is live (admitted
  within ``active_s`` of the front): held. A later record of ANOTHER channel that reaches the held
  time (at most ``limit_s`` before it) confirms it: the whole asset moved on (it resumed after a
  stop; a slow channel's next reading): it is admitted, nothing is lost. A later record that is on
  time at the front and more than ``limit_s`` before the held one contradicts it (at the same
  moment of arrival the two clocks disagree by more than the lateness): the held record is
  rejected. A channel alone (no live peer) is the asset's clock and is admitted as it comes;
  asset events are admitted as they come (they move the front: the asset itself says the time).

``limit_s`` is the flow's allowed lateness: a channel ahead of its peers by more than that is
exactly what makes their records late, and one behind by more is late itself; so the check
judges nothing the window step would have kept, and costs nothing when clocks agree. Held records
are bounded (:data:`MAX_HELD` per asset: beyond it the oldest held records are admitted, as the
one clock left talking).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAX_HELD", "AssetClock", "ClockSkew", "Verdicts"]

MAX_HELD = 4096
"""Records held per asset at most (a channel talking alone far ahead of silent peers)."""


@dataclass(frozen=True, slots=True)
class ClockSkew:
    """What a window learns of a channel whose records were kept out by the clock check:
    ``offset_s`` the largest |event time - asset's front| of them (signed), ``records`` how many."""

    channel: str
    offset_s: float
    records: int


Rejected = tuple[Any, str, float]
"""(item, channel, offset from the asset's front in s)."""


@dataclass(slots=True)
class Verdicts:
    """What one offered item gives: items admitted (arrival order), items rejected, and admitted
    items flagged as behind the asset's clock."""

    admitted: list[Any] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    flagged: list[Rejected] = field(default_factory=list)  # admitted, but behind: a clock jumped back


@dataclass(slots=True)
class _Held:
    channel: str
    t: float
    item: Any


class AssetClock:
    """One asset's clock consensus (picklable: numbers and the few held items)."""

    def __init__(self, limit_s: float, active_s: float) -> None:
        self.limit_s = limit_s
        self.active_s = active_s
        self.front = math.nan
        self.last: dict[str, float] = {}  # channel -> last admitted event time (s)
        self.held: list[_Held] = []

    def offer(self, channel: str | None, t: float, item: Any, out: Verdicts) -> None:
        """Judge one item of the asset (``channel`` None: an asset event, never held nor rejected)."""
        if self.held and channel is not None:
            self._settle(channel, t, out)
        front = self.front
        if channel is None or math.isnan(front):
            self._admit(channel, t, item, out)
            return
        ahead = t - front
        if ahead > self.limit_s:
            if self._live_peer(channel):
                self._hold(channel, t, item, out)
            else:  # alone: the channel is the asset's clock
                self._admit(channel, t, item, out)
        elif ahead < -self.limit_s:  # passed on (the window step judges lateness), flagged
            out.admitted.append(item)
            out.flagged.append((item, channel, ahead))
        else:
            self._admit(channel, t, item, out)
            if self.held:
                self._contradict(t, out)

    def _admit(self, channel: str | None, t: float, item: Any, out: Verdicts) -> None:
        out.admitted.append(item)
        if channel is not None:
            self.last[channel] = t
        if not t <= self.front:  # NaN-safe max
            self.front = t

    def _live_peer(self, channel: str) -> bool:
        since = self.front - self.active_s
        return any(c != channel and t >= since for c, t in self.last.items())

    def _settle(self, channel: str, t: float, out: Verdicts) -> None:
        """A record of ``channel`` at ``t`` confirms the held records of OTHER channels it reached
        (``t`` at most ``limit_s`` before them): the asset's clock did move there."""
        limit = self.limit_s
        if not any(h.channel != channel and t >= h.t - limit for h in self.held):
            return
        keep: list[_Held] = []
        for h in self.held:
            if h.channel != channel and t >= h.t - limit:
                self._admit(h.channel, h.t, h.item, out)
            else:
                keep.append(h)
        self.held = keep

    def _hold(self, channel: str, t: float, item: Any, out: Verdicts) -> None:
        self.held.append(_Held(channel, t, item))
        if len(self.held) > MAX_HELD:  # one clock left talking: it is the asset's
            held, self.held = self.held, []
            for h in held:
                self._admit(h.channel, h.t, h.item, out)

    def _contradict(self, t: float, out: Verdicts) -> None:
        """A record on time at ``t`` arrived after the held ones: those more than ``limit_s``
        ahead of it were stamped by a clock that jumped forward; the others are on time now."""
        held, self.held = self.held, []
        for h in held:
            if h.t > t + self.limit_s:
                out.rejected.append((h.item, h.channel, h.t - self.front))
            else:
                self._admit(h.channel, h.t, h.item, out)
