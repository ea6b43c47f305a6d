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

:meth:`QualityMonitor.judge` walks the window's channels twice (the checks, whose gap verdicts
read the other channels' timing as it was before the window; then the states and the learning)
and returns a :class:`WindowQuality`: what the gate, the snapshot's annotation, the sensor alerts
and the archive need, built in that walk. An ``ok`` channel's :class:`ChannelQuality` is built
only when its state changed (most channels of most windows: ok, as before, nothing built).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, overload

from twin_models.quality.checks import GAP_STEPS, Found, Learnt, QualityLimits, check_window, limits_of
from twin_models.quality.clock import ClockSkew
from twin_models.quality.drift import DriftTracker
from twin_models.quality.stats import ChannelStats, OneReadings
from twin_models.records import AssetMetadata, ChannelQuality

__all__ = ["RANK", "QualityMonitor", "WindowQuality"]

RANK = {"ok": 0, "suspect": 1, "bad": 2}
NO_LIMITS = QualityLimits()
"""A channel without declared limits (immutable: shared, not built per lookup)."""


class WindowQuality(Sequence[ChannelQuality]):
    """One window's judged channels (in the order :meth:`QualityMonitor.update` gives them).

    ``marks``: every channel's ``(channel, state, check)`` (the snapshot's ``data_quality``);
    ``flagged``: the ChannelQuality of the channels not ok, in that order (what the sensor alerts
    read); ``bad``: their ``bad`` channels (what the gate masks); ``changed``: the states that
    changed (what the archive records). As a sequence: every channel's ChannelQuality (the ok
    ones built on access)."""

    __slots__ = ("asset_id", "at", "bad", "changed", "flagged", "marks")

    def __init__(self, asset_id: str, at: datetime, marks: tuple[tuple[str, str, str], ...],
                 flagged: tuple[ChannelQuality, ...], bad: tuple[str, ...],
                 changed: list[ChannelQuality]) -> None:
        self.asset_id, self.at, self.marks = asset_id, at, marks
        self.flagged, self.bad, self.changed = flagged, bad, changed

    def __len__(self) -> int:
        return len(self.marks)

    def __iter__(self) -> Iterator[ChannelQuality]:
        flagged = iter(self.flagged)
        for channel, state, _check in self.marks:
            yield (ChannelQuality(self.asset_id, channel, self.at, "ok", "", "") if state == "ok"
                   else next(flagged))

    @overload
    def __getitem__(self, i: int) -> ChannelQuality: ...
    @overload
    def __getitem__(self, i: slice) -> tuple[ChannelQuality, ...]: ...
    def __getitem__(self, i: int | slice) -> ChannelQuality | tuple[ChannelQuality, ...]:
        return tuple(self)[i]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, WindowQuality | tuple):
            return tuple(self) == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"WindowQuality{tuple(self)!r}"


class QualityMonitor:
    """The data-quality state of one asset's channels (picklable, a few numbers per channel).

    ``states``: per channel, the ChannelQuality it last took: a channel not ok gets its window's
    every window; an ok one keeps the one of the window it turned ok in (its state and check are
    the channel's; its timestamp is when that state began)."""

    def __init__(self, metadata: AssetMetadata) -> None:
        self.asset_id = metadata.asset_id
        self.limits: dict[str, QualityLimits] = {s.channel: limits_of(s) for s in metadata.sensors}
        self.learnt: dict[str, Learnt] = {}
        self.states: dict[str, ChannelQuality] = {}
        self.drift = DriftTracker({s.channel: s.unit for s in metadata.sensors})
        self.last_marks: tuple[tuple[str, str, str], ...] | None = None  # the last window's marks

    def update(self, window_end: datetime, stats: Mapping[str, ChannelStats],
               skews: Sequence[ClockSkew] = (), machine_fault: bool = False) -> tuple[ChannelQuality, ...]:
        """Judge one window's channels (then learn the ok ones); their states, channels in order
        of first appearance. ``skews``: channels whose records the clock check at admission kept
        out in this window (``suspect`` with ``clock``, whatever their admitted records show);
        ``machine_fault``: a fault found in this life (see :class:`DriftTracker`)."""
        return tuple(self.judge(window_end, stats, skews, machine_fault))

    def judge(self, window_end: datetime, stats: Mapping[str, Any], skews: Sequence[ClockSkew] = (),
              machine_fault: bool = False) -> WindowQuality:
        """:meth:`update` as a :class:`WindowQuality`. ``stats`` may also hold the window's
        :class:`ClockSkew` flags by channel (the window's ``quality`` mapping as it comes: they
        are added to ``skews``; a :class:`OneReadings` is materialised once, for this judgement)."""
        if stats.__class__ is OneReadings:
            stats = stats.materialise()
        limits, learnt_of = self.limits, self.learnt
        found_by: dict[str, list[Found]] = {}
        gaps: dict[str, float] = {}
        for channel, st in stats.items():
            if st.__class__ is not ChannelStats and not isinstance(st, ChannelStats):  # a clock flag: rare
                return self._judge_split(window_end, stats, skews, machine_fault)
            learnt = learnt_of.get(channel)
            if learnt is None:
                learnt = learnt_of[channel] = Learnt()
            found = check_window(st, limits.get(channel, NO_LIMITS), learnt)
            if found:  # most channels found nothing
                found_by[channel] = found
                if any(f[0] == "gap" for f in found):
                    gaps[channel] = self._gap_end(st, learnt)
        for channel, end in gaps.items():
            if not self._others_reported(channel, end, stats, gaps):
                found_by[channel] = [f for f in found_by[channel] if f[0] != "gap"]
        self._drift(window_end, stats, found_by, machine_fault)
        skewed = self._skewed(window_end, skews) if skews else None
        asset_id, isnan, states = self.asset_id, math.isnan, self.states
        out: dict[str, tuple[str, str, str]] = {}
        flagged: list[ChannelQuality] = []
        changed: list[ChannelQuality] = []
        for channel, st in stats.items():
            learnt = learnt_of[channel]
            hits = found_by.get(channel)
            q = skewed.pop(channel, None) if skewed else None
            if q is None and hits:
                q = self._state(channel, window_end, hits)
            if q is None:  # the usual channel: ok; its ChannelQuality built only on a change
                out[channel] = (channel, "ok", "")
                old = states.get(channel)
                if old is None or old.state != "ok" or old.check != "":
                    q = states[channel] = ChannelQuality(asset_id, channel, window_end, "ok", "", "")
                    changed.append(q)
            else:
                self._flag(out, flagged, changed, q)
            if gaps and channel in gaps:
                learnt.run_start = gaps[channel]
            elif isnan(learnt.run_start):
                learnt.run_start = st.first_t
            last_t = learnt.last_t
            learnt.last_t = st.last_t if isnan(last_t) else max(st.last_t, last_t)
            if not hits:
                learnt.learn(st)
        if skewed:  # the clock flags of channels without admitted records, in their order
            for q in skewed.values():
                self._flag(out, flagged, changed, q)
        if len(stats) < len(learnt_of):  # a channel known before is absent (each judged one is learnt)
            self._absent(out, flagged, changed, window_end, stats, gaps)
        bad = tuple([q.channel for q in flagged if q.state == "bad"]) if flagged else ()
        marks = tuple(out.values())
        last = getattr(self, "last_marks", None)  # (a monitor pickled before it has none)
        if last is not None and marks == last:
            marks = last  # unchanged: the same object, which the archive encodes once
        else:
            self.last_marks = marks
        return WindowQuality(asset_id, window_end, marks, tuple(flagged), bad, changed)

    def _judge_split(self, window_end: datetime, stats: Mapping[str, Any], skews: Sequence[ClockSkew],
                     machine_fault: bool) -> WindowQuality:
        """:meth:`judge` of a mapping holding other than ChannelStats: its ChannelStats judged,
        its ClockSkew flags added to ``skews``, anything else left out."""
        only = {k: v for k, v in stats.items() if isinstance(v, ChannelStats)}
        flags = [*skews, *(v for v in stats.values() if isinstance(v, ClockSkew))]
        return self.judge(window_end, only, flags, machine_fault)

    def _flag(self, out: dict[str, tuple[str, str, str]], flagged: list[ChannelQuality],
              changed: list[ChannelQuality], q: ChannelQuality) -> None:
        """A channel not ok: its mark, flagged, kept as its state (changed when it changed)."""
        channel = q.channel
        out[channel] = (channel, q.state, q.check)
        flagged.append(q)
        old = self.states.get(channel)
        if old is None or old.state != q.state or old.check != q.check:
            changed.append(q)
        self.states[channel] = q

    def _skewed(self, window_end: datetime, skews: Sequence[ClockSkew]) -> dict[str, ChannelQuality]:
        """The clock check's states (the channel's last flag of the window wins)."""
        out: dict[str, ChannelQuality] = {}
        for sk in skews:
            way, fate = (("ahead of", "kept out of the asset's clock (dead letters clock_skew)")
                         if sk.offset_s > 0 else ("behind", "late for their windows"))
            reason = (f"{sk.records} readings {abs(sk.offset_s) / 3600.0:.2f} h {way} the asset's other "
                      f"channels (clock jump): {fate}")
            out[sk.channel] = self._state(sk.channel, window_end, [("clock", "suspect", reason)])
        return out

    def _drift(self, window_end: datetime, stats: Mapping[str, ChannelStats],
               found_by: dict[str, list[Found]], machine_fault: bool) -> None:
        """Add the drift check's findings (:class:`DriftTracker`) to ``found_by``."""
        drift: DriftTracker | None = getattr(self, "drift", None)  # None: a monitor pickled before it
        if drift is not None and drift.kind and stats:  # (no drift-prone channel: nothing to judge)
            ok = {c: not found_by.get(c) for c in stats}
            for channel, (state, reason) in drift.update(window_end.timestamp(), stats, ok,
                                                         machine_fault).items():
                found_by.setdefault(channel, []).append(("drift", state, reason))

    def _absent(self, out: dict[str, tuple[str, str, str]], flagged: list[ChannelQuality],
                changed: list[ChannelQuality], window_end: datetime, stats: Mapping[str, ChannelStats],
                gaps: Mapping[str, float]) -> None:
        """Flag the silent channels while others reported (``gap``)."""
        if not stats:
            return
        end = window_end.timestamp()
        for channel, learnt in self.learnt.items():
            if channel in out:
                continue
            cadence = self.limits.get(channel, NO_LIMITS).cadence_s or learnt.cadence_s
            silent = end - learnt.last_t
            if silent > GAP_STEPS * cadence and self._others_reported(channel, end, stats, gaps):
                reason = f"no reading for {silent:g} s (expected every {cadence:g} s)"
                q = self._state(channel, window_end, [("gap", "suspect", reason)])
                self._flag(out, flagged, changed, q)
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
