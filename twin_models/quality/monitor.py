"""QualityMonitor: per asset, every channel's data-quality state, judged then learnt.

A window's channel state is the worst of its checks (``bad`` > ``suspect`` > ``ok``), reported
with the first check of that state and its reason. A channel the asset has sent before that sent
nothing for ``GAP_STEPS`` expected readings while the others reported is ``suspect`` with ``gap``
(a dropout), in every window until it reports again. Only an ``ok`` window teaches the channel's
learnt behaviour (cadence, level of variation, sample rate), so a faulty sensor cannot make its
fault look normal; the timing (last reading, start of the current run) follows every window. A gap
is a sensor's only if another channel of the asset kept reporting through it: when every channel
of the window was silent, the asset (stopped, replaced) or its gateway was, and no channel is
flagged (so an asset with one channel never reports a gap).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime

from twin_models.quality.checks import GAP_STEPS, Found, Learnt, QualityLimits, check_window, limits_of
from twin_models.quality.clock import ClockSkew
from twin_models.quality.drift import DriftTracker
from twin_models.quality.stats import ChannelStats
from twin_models.records import AssetMetadata, ChannelQuality

__all__ = ["RANK", "QualityMonitor"]

RANK = {"ok": 0, "suspect": 1, "bad": 2}
NO_LIMITS = QualityLimits()
"""A channel without declared limits (immutable: shared, not built per lookup)."""


class QualityMonitor:
    """The data-quality state of one asset's channels (picklable, a few numbers per channel)."""

    def __init__(self, metadata: AssetMetadata) -> None:
        self.asset_id = metadata.asset_id
        self.limits: dict[str, QualityLimits] = {s.channel: limits_of(s) for s in metadata.sensors}
        self.learnt: dict[str, Learnt] = {}
        self.states: dict[str, ChannelQuality] = {}
        self.drift = DriftTracker({s.channel: s.unit for s in metadata.sensors})

    def update(self, window_end: datetime, stats: Mapping[str, ChannelStats],
               skews: Sequence[ClockSkew] = (), machine_fault: bool = False) -> tuple[ChannelQuality, ...]:
        """Judge one window's channels (then learn the ok ones); their states, channels in order
        of first appearance. ``skews``: channels whose records the clock check at admission kept
        out in this window (``suspect`` with ``clock``, whatever their admitted records show);
        ``machine_fault``: a fault found in this life (see :class:`DriftTracker`)."""
        out: dict[str, ChannelQuality] = {}
        limits, learnt_of = self.limits, self.learnt
        found_by: dict[str, list[Found]] = {}
        gaps: dict[str, float] = {}
        for channel, st in stats.items():
            learnt = learnt_of.get(channel)
            if learnt is None:
                learnt = learnt_of[channel] = Learnt()
            found = found_by[channel] = check_window(st, limits.get(channel, NO_LIMITS), learnt)
            if found and any(f[0] == "gap" for f in found):  # most channels found nothing
                gaps[channel] = self._gap_end(st, learnt)
        for channel, end in gaps.items():
            if not self._others_reported(channel, end, stats, gaps):
                found_by[channel] = [f for f in found_by[channel] if f[0] != "gap"]
        self._drift(window_end, stats, found_by, machine_fault)
        asset_id, isnan = self.asset_id, math.isnan
        for channel, st in stats.items():
            learnt = learnt_of[channel]
            found = found_by[channel]
            if found:
                out[channel] = self._state(channel, window_end, found)
            else:  # the usual channel: ok, built positionally (as _state builds it)
                out[channel] = ChannelQuality(asset_id, channel, window_end, "ok", "", "")
            if gaps and channel in gaps:
                learnt.run_start = gaps[channel]
            elif isnan(learnt.run_start):
                learnt.run_start = st.first_t
            last_t = learnt.last_t
            learnt.last_t = st.last_t if isnan(last_t) else max(st.last_t, last_t)
            if not found:
                learnt.learn(st)
        self._absent(out, window_end, stats, skews, gaps)
        self.states.update(out)
        return tuple(out.values())

    def _drift(self, window_end: datetime, stats: Mapping[str, ChannelStats],
               found_by: dict[str, list[Found]], machine_fault: bool) -> None:
        """Add the drift check's findings (:class:`DriftTracker`) to ``found_by``."""
        drift: DriftTracker | None = getattr(self, "drift", None)  # None: a monitor pickled before it
        if drift is not None and stats:
            ok = {c: not found for c, found in found_by.items()}
            for channel, (state, reason) in drift.update(window_end.timestamp(), stats, ok,
                                                         machine_fault).items():
                found_by[channel].append(("drift", state, reason))

    def _absent(self, out: dict[str, ChannelQuality], window_end: datetime, stats: Mapping[str, ChannelStats],
                skews: Sequence[ClockSkew], gaps: Mapping[str, float]) -> None:
        """Add to ``out`` the states of the channels absent from ``stats``: those the clock check
        kept out (``clock``), then the silent ones while others reported (``gap``)."""
        for sk in skews:
            way, fate = (("ahead of", "kept out of the asset's clock (dead letters clock_skew)")
                         if sk.offset_s > 0 else ("behind", "late for their windows"))
            reason = (f"{sk.records} readings {abs(sk.offset_s) / 3600.0:.2f} h {way} the asset's other "
                      f"channels (clock jump): {fate}")
            out[sk.channel] = self._state(sk.channel, window_end, [("clock", "suspect", reason)])
        end = window_end.timestamp()
        for channel, learnt in self.learnt.items():
            if channel in out or not stats:
                continue
            cadence = self.limits.get(channel, NO_LIMITS).cadence_s or learnt.cadence_s
            silent = end - learnt.last_t
            if silent > GAP_STEPS * cadence and self._others_reported(channel, end, stats, gaps):
                reason = f"no reading for {silent:g} s (expected every {cadence:g} s)"
                out[channel] = self._state(channel, window_end, [("gap", "suspect", reason)])
                learnt.run_start = math.nan

    @staticmethod
    def _gap_end(st: ChannelStats, learnt: Learnt) -> float:
        """When the channel's gap ended: its first reading if the gap ran into the window, else
        (a gap inside the window) its last, conservatively."""
        across = math.isfinite(learnt.last_t) and st.first_t - learnt.last_t >= st.max_dt
        return st.first_t if across else st.last_t

    def _others_reported(self, channel: str, end: float, stats: Mapping[str, ChannelStats],
                         gaps: Mapping[str, float]) -> bool:
        """Another channel without a gap reported through the last ``GAP_STEPS`` expected
        readings of ``channel``'s gap: the sensor was silent, not the asset."""
        cadence = self.limits.get(channel, NO_LIMITS).cadence_s or self.learnt[channel].cadence_s
        since = end - GAP_STEPS * cadence
        return any(other != channel and other not in gaps and self.learnt[other].run_start <= since
                   for other in stats)

    def _state(self, channel: str, at: datetime, found: list[tuple[str, str, str]]) -> ChannelQuality:
        if not found:
            return ChannelQuality(self.asset_id, channel, at, "ok", "", "")
        worst = max(found, key=lambda f: RANK[f[1]])  # the first of the worst state
        return ChannelQuality(self.asset_id, channel, at, worst[1], worst[0], worst[2])
