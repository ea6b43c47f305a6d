"""Event mode's look-back: how far back a window must out-surprise the past to be news.

The novelty detector's event mode (``refractory > 0``) reports a window only when its surprise
exceeds every surprise of its look-back; otherwise the window scores 0. With ``refractory`` alone
the look-back is that many windows, whatever the channel that made the window surprising.

**Echo horizon** (``echo = True``): the look-back also spans the length ``m`` of the channel that
carries the window's p-value (its smallest). A subsequence of ``m`` windows still holds an event
``m`` windows after the event ended, so the scale-``m`` channel keeps seeing that same event for
``m`` more windows - its echo. Without the horizon, a long scale's echo that slowly reaches a new
extreme after the refractory period is reported as a new anomaly (e.g. a 576-window scale 300-500
windows after a spike); with it, each channel is held back exactly as long as it can echo. The
value tails look at one window and have no echo (horizon 0); short scales, which see a new event
first, keep the short look-back. The horizon follows from the scales themselves: nothing to tune.

**Alarm hold** (``hold = H > 0``): once a window has been reported at alarm grade (its p-value at
most ``ALARM_P``, i.e. a score of at least 0.999, the alert policy's default ``raise_score``), the
next ``H`` windows are not news, however surprising. An incident often climbs for a few windows
(a spike over two or three readings, a temperature overshooting), and each step is a new extreme
that the look-back alone reports again; within ``H`` windows of an alarm those steps are the same
burst (with ``H`` the shortest scale's length, they even share its subsequence). Windows that were
not alarms hold nothing, so a mild precursor never masks the incident that follows it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from itertools import islice

__all__ = ["ALARM_P", "ALARM_SURPRISE", "TAIL_CHANNELS", "echo_horizon", "is_held", "is_news",
           "lookback_capacity"]

TAIL_CHANNELS = 2  # per feature: the upper and lower value tails come first, then one per scale
ALARM_P = 1e-3  # an alarm-grade window: rarer than one in a thousand (AlertPolicy's raise_score 0.999)
ALARM_SURPRISE = 3.0  # the same level as a surprise, -log10 ALARM_P


def echo_horizon(channel_ps: Iterable[Sequence[float]], lengths: Sequence[int]) -> int:
    """The echo horizon of the channel with the smallest p-value (first one on ties).

    ``channel_ps``: per feature, its channel p-values (the two value tails, then one per scale);
    ``lengths``: the scales' subsequence lengths. The tails' horizon is 0, a scale's its length;
    a channel after the scales (another member's) has none known: 0, the plain look-back.
    """
    best, horizon = math.inf, 0
    for ps in channel_ps:
        for j, p in enumerate(ps):
            if p < best:
                best = p
                k = j - TAIL_CHANNELS
                horizon = lengths[k] if 0 <= k < len(lengths) else 0
    return horizon


def lookback_capacity(refractory: int, lengths: Sequence[int], echo: bool) -> int:
    """Surprises to remember: the longest look-back (at least one, so that a deque can hold it)."""
    return max(refractory + (max(lengths, default=0) if echo else 0), 1)


def is_news(surprise: float, recent: deque[float], lookback: int) -> bool:
    """True if ``surprise`` exceeds every one of the last ``lookback`` surprises in ``recent``."""
    previous = max(islice(reversed(recent), lookback), default=0.0)
    return surprise > previous


def is_held(index: int, last_alarm: int, hold: int) -> bool:
    """True if window ``index`` is within ``hold`` windows after the alarm at ``last_alarm``.

    ``last_alarm`` < 0: no alarm yet; ``hold`` 0: never held.
    """
    return hold > 0 and last_alarm >= 0 and 0 < index - last_alarm <= hold
