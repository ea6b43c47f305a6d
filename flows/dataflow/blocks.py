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
  so a late sample is dead-lettered by itself, as before. Every sample of a block is then
  on time, and so is the block.

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

from flows.dataflow.items import ScalarBlock
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
        open_runs: dict[str, tuple[int, list[ScalarSample]]] = {}  # asset -> (window id, run)
        for item in items:
            asset = getattr(item, "asset_id", None)
            if not isinstance(item, ScalarSample):
                if asset is not None:  # a frame or event: moves the asset's watermark too
                    _flush(open_runs.pop(asset, None), out)
                    self._clock(asset, now).see(item.timestamp, self.wait, now)
                out.append(item)
                continue
            self._add(item, now, open_runs, out)
        for run in open_runs.values():
            _flush(run, out)
        return out

    def __post_init__(self) -> None:
        self.length = timedelta(seconds=self.window_s)

    def _clock(self, asset: str, now: datetime) -> _Clock:
        clock = self.clocks.get(asset)
        if clock is None:
            clock = self.clocks[asset] = _Clock(system_at=now)
        return clock

    def _add(self, s: ScalarSample, now: datetime, open_runs: dict[str, tuple[int, list[ScalarSample]]],
             out: list[Any]) -> None:
        clock = self._clock(s.asset_id, now)
        mark = clock.watermark(now)
        clock.see(s.timestamp, self.wait, now)
        run = open_runs.get(s.asset_id)
        if mark is not None and s.timestamp < mark + self.margin:  # may be late: alone
            _flush(open_runs.pop(s.asset_id, None), out)
            out.append(s)
            return
        wid = (s.timestamp - EPOCH) // self.length
        if run is not None and run[0] == wid:
            run[1].append(s)
            return
        _flush(open_runs.pop(s.asset_id, None), out)
        open_runs[s.asset_id] = (wid, [s])


def _flush(run: tuple[int, list[ScalarSample]] | None, out: list[Any]) -> None:
    if run is None:
        return
    samples = run[1]
    if len(samples) == 1:
        out.append(samples[0])
    else:
        out.append(ScalarBlock(samples[0].asset_id, max(s.timestamp for s in samples), tuple(samples)))


def grouped(step: Callable[[list[Any]], list[Any]],
            builder: BlockBuilder) -> Callable[[list[Any]], list[Any]]:
    """A batch step whose output's scalar samples are grouped into blocks."""
    return lambda items: builder(step(items))
