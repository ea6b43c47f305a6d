"""Scalar samples grouped into :class:`~flows.dataflow.items.ScalarBlock` items within one Bytewax batch.

Why: after decode, every scalar sample used to be one Bytewax item through key_on, the window
operator (queue, sort, collect) and the late stream; that per-item engine cost, not the features,
bounded the scalar path (``benchmarks/RESULTS.md``, issue 10). Grouping a batch's samples of one
asset and window into one item pays it once per block.

A block must behave exactly like its samples one by one in the window operator:

- it never spans two windows (so the window it is assigned to is every sample's window);
- its clock timestamp is its latest sample's, so the watermark ends where the samples one by one
  would have moved it;
- a sample that may be late on its own (older than the watermark the window step holds when it
  comes, which this builder follows per asset with Bytewax's event-clock rule, counting the
  samples before it in the batch) is never put in a block: it travels alone and is judged alone,
  so a late sample is dead-lettered by itself, as before (one that knows its Kafka offset, a
  :class:`~flows.dataflow.located.LocatedSample`, travels as a one-sample piece that carries it:
  :meth:`BlockBuilder.located`). Every sample of a block is then on time, and so is the block.
  A run of such samples leaves as a piece with their offsets, not as a block (round 24): should the
  window step's watermark have run ahead of the builder's (after a restart the builder knows
  nothing yet; the system clock may move more than the margin), its dead letters name them.

Samples inside a block keep their arrival order; ``aggregate_window`` sorts a window's samples by
time (stable) as the window step sorted them one by one.

The builder keeps only an in-process copy of each asset's watermark (not recovery state): after a
restart it starts from "nothing seen". Per asset, items keep their order; items of different
assets may be reordered, which no keyed step can see.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from flows.dataflow.items import InputMark, ScalarBlock, ScalarColumns
from flows.dataflow.located import LocatedSample, located_piece, one_sample_piece
from twin_models.records import EPOCH, ScalarSample

__all__ = ["SYSTEM_MARGIN", "BlockBuilder", "grouped"]

SYSTEM_MARGIN = timedelta(seconds=2)
"""With the system clock, the window step reads the wall clock a little later than this builder,
so its watermark may be a little ahead: samples this close to the guessed watermark travel alone."""


@dataclass
class _Clock:
    """One asset's event clock, as Bytewax's EventClock keeps it (watermark base + system time)."""

    base: datetime | None = None
    system_at: datetime = EPOCH

    def watermark(self, system_now: datetime) -> datetime | None:
        return None if self.base is None else self.base + (system_now - self.system_at)

    def see(self, ts: datetime, wait: timedelta, system_now: datetime) -> None:
        base = ts - wait
        mark = self.watermark(system_now)
        if mark is None or base > mark:
            self.base, self.system_at = base, system_now


@dataclass
class BlockBuilder:
    """Groups a batch's scalar samples into blocks (see the module docstring for the rules)."""

    window_s: float
    wait: timedelta
    system_now: Callable[[], datetime]
    margin: timedelta = timedelta(0)
    clocks: dict[str, _Clock] = field(default_factory=dict)

    def __call__(self, items: list[Any]) -> list[Any]:
        """The batch's items with runs of scalar samples replaced by blocks (a run of one stays a
        sample); per asset, order is kept."""
        now = self.system_now()
        out: list[Any] = []
        open_runs: dict[str, _Run] = {}  # asset -> its run of samples in one window
        if self.marks:
            self.marks.clear()
        for item in items:
            if type(item) is ScalarSample:
                self._add(item, now, open_runs, out)
                continue
            if type(item) is ScalarColumns:
                _flush(open_runs.pop(item.asset_id, None), out)
                self._columns(item, now, open_runs, out)
                continue
            if type(item) is InputMark:  # digital thread: no record, moves no clock; it stays
                _flush(open_runs.pop(item.asset_id, None), out)  # after its asset's earlier samples
                out.append(item)
                continue
            if type(item) is LocatedSample:  # a Kafka scalar the clock gate judged alone, with its offset
                self.located(item.sample, item.origin, item.position, now, open_runs, out)
                continue
            asset = getattr(item, "asset_id", None)
            if asset is not None:  # a frame, an event or a block: moves the asset's watermark too
                _flush(open_runs.pop(asset, None), out)
                self._clock(asset, now).see(item.timestamp, self.wait, now)
            out.append(item)
        for run in open_runs.values():
            _flush(run, out)
        return out

    def __post_init__(self) -> None:
        self.length = timedelta(seconds=self.window_s)
        self._wid_of: tuple[datetime | None, int] = (None, 0)  # last timestamp -> window id
        self.marks: dict[tuple[str, int, str], InputMark] = {}  # the batch's (asset, window, origin) -> mark

    def _clock(self, asset: str, now: datetime) -> _Clock:
        clock = self.clocks.get(asset)
        if clock is None:
            clock = self.clocks[asset] = _Clock(system_at=now)
        return clock

    def _add(self, s: ScalarSample, now: datetime, open_runs: dict[str, _Run], out: list[Any]) -> None:
        """One sample: alone if it may be late, else into its asset's run (a new run when the
        window changes). Inlines :meth:`_Clock.watermark` and :meth:`_Clock.see`: per sample."""
        asset, ts = s.asset_id, s.timestamp
        clock = self.clocks.get(asset)
        if clock is None:
            clock = self.clocks[asset] = _Clock(system_at=now)
        base = clock.base
        mark = None if base is None else base + (now - clock.system_at)
        seen = ts - self.wait
        if mark is None or seen > mark:
            clock.base, clock.system_at = seen, now
        run = open_runs.get(asset)
        if mark is not None and ts < mark + self.margin:  # may be late: alone
            if run is not None:
                _flush(open_runs.pop(asset), out)
            out.append(s)
            return
        last_ts, wid = self._wid_of
        if ts != last_ts:  # a fleet's samples share their timestamps: computed once per time
            wid = (ts - EPOCH) // self.length
            self._wid_of = (ts, wid)
        if run is not None:
            if run.wid == wid:
                run.samples.append(s)
                if ts > run.latest:
                    run.latest = ts
                return
            _flush(open_runs.pop(asset), out)
        open_runs[asset] = _Run(wid, [s], ts)


    def _columns(self, piece: ScalarColumns, now: datetime, open_runs: dict[str, _Run],
                 out: list[Any]) -> None:
        """A column piece: cut at window bounds into one-window pieces, when none of its samples
        may be late (the rule of :meth:`_add`, on the arrays: the watermark before sample k is
        the running maximum of the earlier samples' ``time - wait``, from the asset's own);
        else its samples one by one through :meth:`_add`, exactly as the per-row replay's."""
        clock = self._clock(piece.asset_id, now)
        mark = clock.watermark(now)
        us = timedelta(microseconds=1)
        wait_us, margin_us = self.wait // us, self.margin // us
        times = piece.times_us
        seen = times - wait_us
        before = np.empty_like(seen)
        before[0] = np.iinfo(np.int64).min if mark is None else (mark - EPOCH) // us
        if len(seen) > 1:
            np.maximum(np.maximum.accumulate(seen[:-1]), before[0], out=before[1:])
        late = times < before + margin_us
        if mark is None:
            late[0] = False
        if late.any():
            self._one_by_one(piece, now, open_runs, out)
            return
        clock.see(piece.timestamp, self.wait, now)
        wid = times // (self.length // us)
        cuts = np.flatnonzero(wid[1:] != wid[:-1]) + 1
        for start, stop in zip([0, *cuts.tolist()], [*cuts.tolist(), len(times)], strict=True):
            out.append(piece.take(start, stop) if stop - start < len(times) else piece)

    def _one_by_one(self, piece: ScalarColumns, now: datetime, open_runs: dict[str, _Run],
                    out: list[Any]) -> None:
        """A piece's samples one by one through :meth:`_add`, each with its position (if the piece
        has them) through :meth:`located`."""
        samples = piece.samples
        if piece.positions is None:
            for s in samples:
                self._add(s, now, open_runs, out)
            return
        origin = piece.origin
        for s, p in zip(samples, piece.positions.tolist(), strict=True):
            self.located(s, origin, p, now, open_runs, out)

    def located(self, s: ScalarSample, origin: str, position: int, now: datetime,
                open_runs: dict[str, _Run], out: list[Any]) -> None:
        """A sample judged alone that knows its input ``position`` (a sample of a located piece:
        its offsets are not lost, :mod:`flows.dataflow.located`). If it may be late (the rule of
        :meth:`_add`), it travels alone as a one-sample piece that carries its position: a late
        one's dead letter names its offset, and nothing of the window's other samples is dropped
        with it. Else it follows its window's input mark of this batch (asset, window, origin),
        widened to its position, or a new one right before it (stamped with its time: it lands
        in the window exactly when the sample does and moves no watermark it does not). The
        asset's run is flushed before a new mark (as before any input mark): put before the
        run's samples, the mark's time could make them late."""
        asset, ts = s.asset_id, s.timestamp
        clock = self.clocks.get(asset)
        if (clock is not None and clock.base is not None  # the rule of _add, inlined (per sample)
                and ts < clock.base + (now - clock.system_at) + self.margin):
            self._add(s, now, open_runs, out)  # may be late: _add puts it alone, last
            out[-1] = one_sample_piece(s, origin, position)
            return
        last_ts, wid = self._wid_of  # _add's cache (a fleet's samples share their timestamps)
        if ts != last_ts:
            wid = (ts - EPOCH) // self.length
            self._wid_of = (ts, wid)
        key = (asset, wid, origin)
        got = self.marks.get(key)
        if got is None:
            _flush(open_runs.pop(asset, None), out)
            got = self.marks[key] = InputMark(asset, ts, origin, position, position)
            out.append(got)
        elif position < got.first:
            got.first = position
        elif position > got.last:
            got.last = position
        self._add(s, now, open_runs, out)
        run = open_runs[asset]  # the sample is its run's last: note its position there
        if len(run.samples) == 1:
            run.origin, run.positions = origin, [position]
        elif run.positions is not None and run.origin == origin:
            run.positions.append(position)
        else:  # with samples of no position or of another origin: a block, as before
            run.positions = None


@dataclass(slots=True)
class _Run:
    """Samples of one asset in window ``wid``, in arrival order; ``latest`` their latest time;
    ``positions`` each one's in ``origin`` if every one is a located sample of that origin."""

    wid: int
    samples: list[ScalarSample]
    latest: datetime
    origin: str = ""
    positions: list[int] | None = None


def _flush(run: _Run | None, out: list[Any]) -> None:
    if run is None:
        return
    samples = run.samples
    positions = run.positions
    piece = None
    if positions is not None and len(positions) == len(samples):  # Kafka samples judged alone: a
        # piece that names their offsets (any sample without one, or a channel's unit changing
        # within the run: a block)
        piece = located_piece(samples, run.origin, positions)
    if piece is not None:
        out.append(piece)
    elif len(samples) == 1:
        out.append(samples[0])
    else:
        out.append(ScalarBlock(samples[0].asset_id, run.latest, tuple(samples)))


def grouped(step: Callable[[list[Any]], list[Any]],
            builder: BlockBuilder) -> Callable[[list[Any]], list[Any]]:
    """A batch step whose output's scalar samples are grouped into blocks."""
    return lambda items: builder(step(items))
