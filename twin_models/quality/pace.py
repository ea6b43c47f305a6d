"""Does a stream's arrival time carry clock information? Its pace says (issue 13).

The arrival check (:mod:`.arrival`) compares each record's *skew*, ``event time - arrival time``,
with the other assets' arriving with it. That is a clock comparison only in a REAL-TIME stream:
event time advancing at the rate of arrival time, so a healthy asset's skew is a constant (its
network and batching lag) whatever the gaps in its data, and an asset whose clock jumped is the
one whose skew moved. In a replay or a backfill that publishes faster than real time
(``twin simulate --speed 0`` puts days of event time into seconds of Kafka timestamps) every
skew runs with event time, and two assets' skews differ by the event time between their last
records: an asset that stopped (a failure, maintenance) leaves a stale skew hours "behind" the
others, whose records would then be held, released out of order and lost as late. There the
check must be off, and say so.

:class:`ArrivalPace` measures, per asset of one source partition, the *pace* ``d(event time) /
d(arrival time)`` over spans of at least :data:`PACE_SPAN_S` of arrival time (or, sooner, once
event time has moved :data:`PACE_SPAN_S` x :data:`PACE_MAX` while arrival time moved less than
:data:`PACE_SPAN_S`: faster than real time for sure), and calls the partition:

- ``learning`` until an asset's first span is measured (the check is off);
- ``real_time`` when at least half of the measured assets have a pace within
  [:data:`PACE_MIN`, :data:`PACE_MAX`] (the check judges): an asset whose whole clock jumps
  shows a huge (or negative) pace for the one span that holds the jump, and is outvoted by its
  peers; alone in its partition it has no peer to be judged against anyway;
- ``replay`` otherwise (the check is off; its state restarts when the stream becomes real time).

A real-time partition's :attr:`ArrivalPace.rate` is its pace measured over the long run (per
asset, since its first record after the last change of state; the median of the assets inside
[:data:`PACE_MIN`, :data:`PACE_MAX`]): a replay at ``--speed 0.5`` or ``2`` is judged as real time,
and the arrival check extrapolates a peer's last skew to the present at that rate (at 0.5x a
healthy peer's skew falls by half a second per arrival second: a peer last heard 20 min of
arrival time ago would otherwise look 10 min "ahead" of everyone on time; GATE12). Over the long
run the lag jitter of a live stream averages out (1 s on 100 s: 1 %), where one 5-s span's pace
may be 10 % off.

The limits are fixed a priori: live telemetry has pace 1 by definition (event clock = wall
clock); ``twin simulate --speed S`` and ``twin replay`` have pace S (as fast as possible: 10^3
to 10^6); a factor of 2 either side of 1 separates the two and absorbs a gateway that sends its
readings in batches of up to half a span (2.5 s). Pure: numbers only, picklable.
"""

from __future__ import annotations

import math

__all__ = ["LEARNING", "PACE_MAX", "PACE_MIN", "PACE_SPAN_S", "REAL_TIME", "REPLAY", "STATES", "ArrivalPace"]

PACE_SPAN_S = 5.0
"""Arrival seconds per pace measurement (a gateway batching its readings by up to half of it
stays real time)."""
PACE_MIN = 0.5
"""Below: event time runs slower than arrival (a throttled replay, a clock crawling): not real time."""
PACE_MAX = 2.0
"""Above: event time runs faster than arrival (a replay, a backfill): not real time."""

LEARNING = "learning"
REAL_TIME = "real_time"
REPLAY = "replay"
STATES = (LEARNING, REAL_TIME, REPLAY)


class ArrivalPace:
    """One source partition's pace of event time against arrival time (seconds)."""

    __slots__ = ("assets", "pace", "rate", "state")

    def __init__(self) -> None:
        # asset -> [span start arrival, its event time, pace, long-run start arrival, its event
        # time, long-run pace]
        self.assets: dict[str, list[float]] = {}
        self.state = LEARNING
        self.pace = math.nan  # the median pace of the measured assets (for the reason shown)
        self.rate = 1.0  # the long-run pace of a real-time partition (1 until measured)

    @property
    def real_time(self) -> bool:
        """The arrival check judges this partition's records."""
        return self.state == REAL_TIME

    def note(self, asset: str, t: float, arrival: float) -> bool:
        """A record of ``asset`` at event time ``t`` arrived at ``arrival``; True when the
        partition's state changed."""
        span = self.assets.get(asset)
        if span is None:
            self.assets[asset] = [arrival, t, math.nan, arrival, t, math.nan]
            return False
        d_arrival = arrival - span[0]
        d_event = t - span[1]
        if d_arrival < PACE_SPAN_S and abs(d_event) < PACE_SPAN_S * PACE_MAX:
            return False
        span[0], span[1] = arrival, t
        span[2] = d_event / max(d_arrival, 1e-3)  # Kafka timestamps are in ms
        long_s = arrival - span[3]
        span[5] = (t - span[4]) / long_s if long_s >= PACE_SPAN_S else span[2]
        return self._decide()

    def _decide(self) -> bool:
        paces = sorted(span[2] for span in self.assets.values() if span[2] == span[2])
        inside = sum(1 for p in paces if PACE_MIN <= p <= PACE_MAX)
        state = REAL_TIME if inside and 2 * inside >= len(paces) else REPLAY
        self.pace = paces[len(paces) // 2]
        changed = state != self.state
        self.state = state
        if changed:  # the long run starts again (a replay's pace says nothing of the live stream)
            for span in self.assets.values():
                span[3], span[4], span[5] = span[0], span[1], span[2]
        rates = sorted(span[5] for span in self.assets.values() if PACE_MIN <= span[5] <= PACE_MAX)
        self.rate = rates[len(rates) // 2] if rates and state == REAL_TIME else 1.0
        return changed

    def reason(self) -> str:
        """``"on (real time)"``, ``"off (replay: event time runs 43200x arrival time)"``, ..."""
        if self.state == REAL_TIME:
            return "on (real time)"
        if self.state == LEARNING:
            return "off (learning the stream's pace)"
        return f"off (replay: event time runs {self.pace:.3g}x arrival time)"
