"""The clock check at admission (issue 13): a channel whose clock jumped is kept out of its asset's watermark.

Part of the ``decode`` step, after the records are decoded and before the block builder and the
window step: per asset, :class:`twin_models.quality.clock.AssetClock` judges every record's event
time against the asset's other channels, in arrival order. A record it rejects becomes a
``clock_skew`` dead letter (counted in ``twin_dead_letters_total{reason="clock_skew"}``) and a
:class:`~flows.dataflow.items.ClockFlag` in the asset's current window, from which the
data-quality monitor raises the channel's ``clock`` state and sensor alert. The healthy channels
lose nothing: the jumped channel never moves the asset's watermark. A record far BEHIND its peers
(a clock jumped back) moves no watermark: it is passed on as before (the window step
dead-letters it as ``late_record`` when its window has closed) with a flag.

The arrival check (``twin run``: records that carry a Kafka timestamp): before the peer check,
each record's ``event time - arrival time`` is judged against the other assets of its source
partition (:class:`twin_models.quality.arrival.ArrivalClock`): a whole asset whose clock jumped
AHEAD is held, then rejected when an on-time peer contradicts it: a ``clock_skew`` dead letter
and a ClockFlag per record, like the peer check's. Only where the arrival time carries clock
information: a partition whose event time runs at the pace of arrival time
(:class:`twin_models.quality.pace.ArrivalPace`, ``real_time``). In a replay or a backfill
published faster than real time (``twin simulate --speed 0``) it is off, records pass as they
come, and the state shows it (``twin_arrival_check{partition,state}``, a log line, the end-of-run
line); the ``future_timestamp`` limit of the decode step stays the backstop. Records without an
arrival time (backtests, the demo, file replays) skip it: their outputs do not change.

At the end of the input (a backtest, a replay, ``twin run --exit-at-end``: the marker of
:mod:`flows.dataflow.end_of_input`) a record still held was neither confirmed nor contradicted:
nothing says whether its asset moved there or its clock jumped. It is not admitted (it would move
its asset's watermark on a clock in doubt) nor lost: a ``clock_unconfirmed`` dead letter (counted
in ``twin_dead_letters_total{reason="clock_unconfirmed"}``, the scalar's bytes kept) and a
ClockFlag, so the asset's last window shows the channel's ``clock`` as ``suspect``.

Like the block builder, the clocks are in-process (not recovery state): after a restart they
start from "nothing seen", and a record held at that moment (at most a channel's reading or two,
see the module of :class:`AssetClock`) is not recovered: Bytewax snapshots only stateful steps,
and this one is part of the stateless ``decode`` step (``benchmarks/RESULTS.md``, GATE12, says
what moving it would take). Column pieces take a vectorised path when their times agree with the
asset's front (the usual case), and are kept whole.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flows import codec
from flows.dataflow.clock_columns import on_time
from flows.dataflow.items import ClockFlag, DeadLetter, EndOfInput, InputMark, ScalarColumns
from flows.dataflow.located import LocatedSamples
from flows.dataflow.metrics import PipelineMetrics
from twin_models.quality.arrival import ArrivalClock, ArrivalVerdicts
from twin_models.quality.clock import AssetClock, ClockSkew, Verdicts
from twin_models.quality.pace import STATES, ArrivalPace
from twin_models.records import EPOCH, AssetEvent, ScalarSample, WaveformFrame

__all__ = ["CLOCK_SKEW", "CLOCK_UNCONFIRMED", "MAX_PENDING_MARKS", "MIN_LIMIT_S", "ClockGate", "clock_skews",
           "record_bytes"]

CLOCK_SKEW = "clock_skew"
CLOCK_UNCONFIRMED = "clock_unconfirmed"
MAX_PENDING_MARKS = 64
"""Input marks waiting per asset at most (marks of records held ahead of the asset's clock; a
mark whose records were all rejected is dropped with the oldest: its records are dead letters)."""
log = logging.getLogger(__name__)

MIN_LIMIT_S = 60.0
"""The smallest skew judged (s), when the allowed lateness is shorter: channels sampled
asynchronously a few seconds apart must not be held record by record."""


class _Rejected:
    """A record the arrival check rejected, in the batch where its dead letter goes (``dead``
    False: a record it admitted behind its peers, flagged only)."""

    __slots__ = ("ahead_s", "dead", "item")

    def __init__(self, item: Any, ahead_s: float, dead: bool = True) -> None:
        self.item = item
        self.ahead_s = ahead_s
        self.dead = dead


class ClockGate:
    """A batch step: the decoded items with clock-jumped records replaced by dead letters + flags.

    Called with the batch's ``arrivals`` (the dict the decode step noted arrival times in,
    :func:`flows.dataflow.decode_batch.decode_batch`); None or empty: no arrival check."""

    def __init__(self, allowed_lateness_s: float, window_s: float, metrics: PipelineMetrics,
                 now: Callable[[], datetime]) -> None:
        self.limit_s = max(allowed_lateness_s, MIN_LIMIT_S)
        self.active_s = max(window_s, self.limit_s)
        self.window = timedelta(seconds=window_s)
        self.clocks: dict[str, AssetClock] = {}
        self.pending: dict[str, list[InputMark]] = {}  # asset -> input marks ahead of its front
        self.metrics = metrics
        self.now = now
        self.arrival_clocks: dict[str, ArrivalClock] = {}  # source partition -> its assets' skews
        self.arrival_marks: dict[str, list[InputMark]] = {}  # asset -> marks waiting for a record
        self.paces: dict[str, ArrivalPace] = {}  # source partition -> is it a real-time stream?
        self.located = LocatedSamples()  # samples of Kafka pieces judged one by one

    def _clock(self, asset: str) -> AssetClock:
        clock = self.clocks.get(asset)
        if clock is None:
            clock = self.clocks[asset] = AssetClock(self.limit_s, self.active_s)
        return clock

    def __call__(self, items: list[Any], arrivals: dict[int, tuple[str, Any]] | None = None) -> list[Any]:
        """Every item, in order, but the rejected records (their dead letters and flags instead)
        and the records the arrival check holds."""
        if arrivals:
            items = self._arrival_check(items, arrivals)
        out: list[Any] = []
        verdicts = Verdicts()
        limit = self.limit_s
        for item in items:
            kind = type(item)
            if kind is _Rejected:
                self._reject_arrival(item, out)
                continue
            if kind is ScalarSample or kind is WaveformFrame:
                clock = self._clock(item.asset_id)
                t = item.timestamp.timestamp()
                front = clock.front
                if not clock.held and front - limit <= t <= front + limit:  # on time: the usual case
                    clock.last[item.channel] = t
                    if t > front:
                        clock.front = t
                    if self.pending:
                        self._release_marks(item, out)
                    out.append(self.located.admitted(item) if self.located.by_id else item)
                    continue
                clock.offer(item.channel, t, item, verdicts)
            elif kind is ScalarColumns:
                self._columns(item, out, verdicts)
            elif kind is AssetEvent:
                self._clock(item.asset_id).offer(None, item.timestamp.timestamp(), item, verdicts)
            elif kind is InputMark:
                known = self.clocks.get(item.asset_id)
                if known is not None and item.timestamp.timestamp() > known.front + limit:
                    # its record may be held or rejected: the mark waits for a record of its
                    # window to be admitted (it must not move the asset's watermark first)
                    marks = self.pending.setdefault(item.asset_id, [])
                    marks.append(item)
                    del marks[:-MAX_PENDING_MARKS]
                    continue
                out.append(item)
                continue
            else:
                if kind is EndOfInput:  # consumed here: judge what is still held
                    self.end(out)
                    continue
                out.append(item)
                continue
            self._emit(verdicts, out)
        return out

    def end(self, out: list[Any]) -> None:
        """The end of the input: every record still held (by the arrival check or the peer check)
        becomes a ``clock_unconfirmed`` dead letter and a flag; the waiting input marks are
        dropped (their records are those, or dead letters already)."""
        n = 0
        for clock in self.arrival_clocks.values():
            held, clock.held = clock.held, []
            for h in held:
                ref = clock.reference(h.asset, h.arrival)  # its peers when it came
                ahead = 0.0 if ref is None else h.skew - ref
                self._reject_arrival(_Rejected(h.item, ahead), out, CLOCK_UNCONFIRMED)
                n += 1
        at = self.now()
        for asset, peers in self.clocks.items():
            held_items, peers.held = peers.held, []
            front = EPOCH + timedelta(seconds=peers.front)
            for p in held_items:
                out.append(_dead_letter(p.item, p.channel, p.t - peers.front, front, at, CLOCK_UNCONFIRMED,
                                        *self.located.drop(p.item)))
                out.append(ClockFlag(asset, front, p.channel, p.t - peers.front))
                n += 1
        self.pending.clear()
        self.arrival_marks.clear()
        self.located.clear()
        if n:
            self.metrics.dead_letters.labels(reason=CLOCK_UNCONFIRMED).inc(n)

    def _arrival_check(self, items: list[Any], arrivals: dict[int, tuple[str, Any]]) -> list[Any]:
        """The items in order, but those held by the arrival check (later ones it confirmed put
        where they were confirmed) and those it rejected (as :class:`_Rejected`). An input mark
        waits for the next record of its asset the check admits and goes right before it; the
        marks of an asset whose records it rejected are dropped (a mark is stamped at its first
        record's time: released, the mark of a record stamped hours ahead would move its
        asset's watermark and make the next records late)."""
        kept: list[Any] = []
        verdicts = ArrivalVerdicts()
        limit = self.limit_s
        marks = self.arrival_marks
        for item in items:
            kind = type(item)
            if kind is InputMark:
                waiting = marks.setdefault(item.asset_id, [])
                waiting.append(item)
                del waiting[:-MAX_PENDING_MARKS]
                continue
            noted = arrivals.get(id(item))
            if noted is None or kind is AssetEvent:  # not judged: admitted
                if marks and kind is not DeadLetter and hasattr(item, "asset_id"):
                    self._marks_before(item, kept)
                kept.append(item)
                continue
            part, at = noted
            asset = item.asset_id
            if not self._real_time(part, item, at, kept):  # arrival time is no clock here
                if marks:
                    self._marks_before(item, kept)
                kept.append(item)
                continue
            clock = self.arrival_clocks.get(part)
            if clock is None:
                clock = self.arrival_clocks[part] = ArrivalClock(limit, self.active_s)
            clock.pace = self.paces[part].rate  # a replay at 0.5x-2x: skews move at rate - 1
            if kind is ScalarColumns:
                skew = item.times_us / 1e6 - at
                if not clock.held:
                    ref = clock.reference(asset, float(at.min()))
                    if ref is None or float(skew.max()) <= ref + limit:  # on time: the usual case
                        clock.admit_many(asset, float(skew[-1]), float(at[-1]))
                        if marks:
                            self._marks_before(item, kept)
                        kept.append(item)
                        continue
                mark = len(verdicts.admitted)
                samples = self.located.samples(item)
                for sample, sk, a in zip(samples, skew.tolist(), at.tolist(), strict=True):
                    clock.offer(asset, sk, a, sample, verdicts)
                got = verdicts.admitted[mark:]
                if (len(got) == len(samples) and not verdicts.rejected
                        and all(x is y for x, y in zip(got, samples, strict=True))):
                    del verdicts.admitted[mark:]
                    verdicts.admitted.append(item)
                    self.located.rejoined(samples)
            else:
                clock.offer(asset, item.timestamp.timestamp() - at, at, item, verdicts)
            for x in verdicts.admitted:
                if marks:
                    self._marks_before(x, kept)
                kept.append(x)
            verdicts.admitted.clear()
            for r, r_asset, ahead in verdicts.rejected:
                marks.pop(r_asset, None)
                kept.append(_Rejected(r, ahead))
            verdicts.rejected.clear()
            if verdicts.behind:
                kept.extend(_Rejected(r, offset, dead=False) for r, _a, offset in verdicts.behind)
                verdicts.behind.clear()
        return kept

    def _real_time(self, part: str, item: Any, at: Any, kept: list[Any]) -> bool:
        """Note the item's pace in its partition; False: the check is off there (a replay, or not
        measured yet). Switched off, the partition's held records are admitted (in order) and
        its skews forgotten: they start again when the stream is real time again."""
        pace = self.paces.get(part)
        if pace is None:
            pace = self.paces[part] = ArrivalPace()
            self._show(part, pace)
        if type(item) is ScalarColumns:
            changed = pace.note(item.asset_id, float(item.times_us[-1]) / 1e6, float(at[-1]))
        else:
            changed = pace.note(item.asset_id, item.timestamp.timestamp(), at)
        if changed:
            self._show(part, pace)
        if pace.real_time:
            return True
        clock = self.arrival_clocks.pop(part, None)
        if clock is not None and clock.held:
            for h in clock.held:
                if self.arrival_marks:
                    self._marks_before(h.item, kept)
                kept.append(h.item)
        return False

    def _show(self, part: str, pace: ArrivalPace) -> None:
        """The partition's state in ``twin_arrival_check`` and, when it changes, the log."""
        gauge = self.metrics.arrival_check
        for state in STATES:
            gauge.labels(partition=part, state=state).set(1.0 if state == pace.state else 0.0)
        log.info("arrival check on source partition %s: %s", part, pace.reason())

    def _marks_before(self, item: Any, kept: list[Any]) -> None:
        """Put before the admitted ``item`` its asset's waiting input marks stamped no later than
        it (a mark is stamped at its first record's time: one of a later record still held would
        move the asset's watermark past the records admitted after it)."""
        waiting = self.arrival_marks.get(item.asset_id)
        if not waiting:
            return
        t = item.times_us.max() / 1e6 if type(item) is ScalarColumns else item.timestamp.timestamp()
        keep = []
        for mark in waiting:
            if mark.timestamp.timestamp() <= t:
                kept.append(mark)
            else:
                keep.append(mark)
        if keep:
            self.arrival_marks[item.asset_id] = keep
        else:
            del self.arrival_marks[item.asset_id]

    def _reject_arrival(self, rej: _Rejected, out: list[Any], reason: str = CLOCK_SKEW) -> None:
        """A dead letter and a flag per record (only a flag for one behind its peers). The flag is
        stamped at the time the asset's peers show at the record's arrival (its true time, as far
        as the stream knows; never before the asset's front): while the whole asset is kept out,
        its windows still close, one by one, with the flags in them (a sensor alert needs two
        windows in a row), and nothing later is late."""
        item = rej.item
        clock = self.clocks.get(item.asset_id)
        expected = item.timestamp.timestamp() - rej.ahead_s
        at = expected if clock is None or clock.front != clock.front else max(clock.front, expected)
        front = EPOCH + timedelta(seconds=at)
        channel = getattr(item, "channel", "")
        if not rej.dead:  # behind its peers: passed on (late if its window closed), flagged
            out.append(ClockFlag(item.asset_id, front, channel, rej.ahead_s))
            return
        way = f"{rej.ahead_s / 3600.0:.2f} h ahead of"
        verdict = ("the asset's clock jumped" if reason == CLOCK_SKEW else
                   "still held at the end of the input, never confirmed nor contradicted by a later record")
        detail = (f"{type(item).__name__} of asset {item.asset_id!r} channel {channel!r} at "
                  f"{item.timestamp.isoformat()} is {way} the time at which it arrived, compared with "
                  f"the other assets arriving with it: {verdict}; kept out of its watermark")
        headers, raw = self.located.drop(item)  # one behind (above) keeps its place
        out.append(DeadLetter(reason, detail, "decode", raw or record_bytes(item), self.now(), headers))
        out.append(ClockFlag(item.asset_id, front, channel, rej.ahead_s))
        if reason == CLOCK_SKEW:  # end(): counted there, at once
            self.metrics.dead_letters.labels(reason=CLOCK_SKEW).inc()

    def _columns(self, piece: ScalarColumns, out: list[Any], verdicts: Verdicts) -> None:
        """A column piece: whole when every sample is on time against the running front, else
        sample by sample (whole again if all of them are admitted at once)."""
        clock = self._clock(piece.asset_id)
        # each sample within the limit of the front before it (the clock's, then the highest time
        # so far): the piece goes whole, its front and per-channel highest times follow it
        whole = None if clock.held else on_time(piece.times_us, piece.channel_idx, clock.front, self.limit_s)
        if whole is not None:
            front, tops = whole
            for code, name in enumerate(piece.channels):
                if code in tops:
                    clock.last[name] = tops[code]
            clock.front = front
            out.append(piece)
            return
        samples = self.located.samples(piece)
        mark = len(verdicts.admitted)
        for s in samples:
            clock.offer(s.channel, s.timestamp.timestamp(), s, verdicts)
        got = verdicts.admitted[mark:]
        if (len(got) == len(samples) and not verdicts.flagged
                and all(a is b for a, b in zip(got, samples, strict=True))):
            del verdicts.admitted[mark:]
            verdicts.admitted.append(piece)
            self.located.rejoined(samples)

    def _release_marks(self, item: Any, out: list[Any]) -> None:
        """Put before the admitted ``item`` the waiting input marks of its asset and window, stamped
        no later than it: a mark of a held record (stamped ahead: 23:15 for a record at 23:00 in
        window 23:00) would move the watermark past the very record it goes before (late)."""
        marks = self.pending.get(item.asset_id)
        if not marks:
            return
        here = (item.timestamp - EPOCH) // self.window
        keep = []
        for mark in marks:
            if (mark.timestamp - EPOCH) // self.window == here:
                if mark.timestamp > item.timestamp:  # the same window: its inputs unchanged
                    mark.timestamp = item.timestamp
                out.append(mark)
            else:
                keep.append(mark)
        if keep:
            self.pending[item.asset_id] = keep
        else:
            del self.pending[item.asset_id]

    def _emit(self, verdicts: Verdicts, out: list[Any]) -> None:
        for item in verdicts.admitted:
            if self.pending and type(item) is not ScalarColumns:
                self._release_marks(item, out)
            out.append(self.located.admitted(item) if self.located.by_id else item)
        verdicts.admitted.clear()
        for item, channel, offset in verdicts.flagged:  # behind: passed on, and flagged
            front = EPOCH + timedelta(seconds=self.clocks[item.asset_id].front)
            out.append(ClockFlag(item.asset_id, front, channel, offset))
        verdicts.flagged.clear()
        if not verdicts.rejected:
            return
        at = self.now()
        for item, channel, offset in verdicts.rejected:
            clock = self.clocks[item.asset_id]
            front = EPOCH + timedelta(seconds=clock.front)
            out.append(_dead_letter(item, channel, offset, front, at, CLOCK_SKEW,
                                    *self.located.drop(item)))
            out.append(ClockFlag(item.asset_id, front, channel, offset))
        self.metrics.dead_letters.labels(reason=CLOCK_SKEW).inc(len(verdicts.rejected))
        verdicts.rejected.clear()


def record_bytes(item: ScalarSample | WaveformFrame) -> bytes:
    """A rejected record's bytes for its dead letter when its message's are not at hand (a replay's
    record, or a Kafka scalar judged alone): a scalar's JSON, a frame's wire encoding (binary, as
    producers send it: what ``twin`` decodes back into the same frame). Encoded only here, on
    rejection: nothing on the admitted records' path."""
    return codec.encode_json(item) if isinstance(item, ScalarSample) else codec.encode_telemetry(item)


def _dead_letter(item: Any, channel: str, offset_s: float, front: datetime, at: datetime,
                 reason: str = CLOCK_SKEW, headers: tuple[tuple[str, str], ...] = (),
                 raw: bytes = b"") -> DeadLetter:
    way = "ahead of" if offset_s > 0 else "behind"
    verdict = ("its clock jumped" if reason == CLOCK_SKEW else
               "still held at the end of the input, never confirmed nor contradicted by another channel")
    detail = (f"{type(item).__name__} of asset {item.asset_id!r} channel {channel!r} at "
              f"{item.timestamp.isoformat()} is {abs(offset_s) / 3600.0:.2f} h {way} the asset's other "
              f"channels (at {front.isoformat()}): {verdict}; kept out of the asset's watermark")
    return DeadLetter(reason, detail, "decode", raw or record_bytes(item), at, headers)


def clock_skews(items: list[Any]) -> dict[str, ClockSkew]:
    """A window's clock flags, one :class:`ClockSkew` per channel (keyed ``<channel>|clock`` in
    the window's data-quality figures): the largest offset and how many records were kept out."""
    by_channel: dict[str, tuple[float, int]] = {}
    for item in items:
        if type(item) is ClockFlag:
            worst, n = by_channel.get(item.channel, (0.0, 0))
            by_channel[item.channel] = (item.offset_s if abs(item.offset_s) > abs(worst) else worst, n + 1)
    return {f"{c}|clock": ClockSkew(c, off, n) for c, (off, n) in by_channel.items()}
