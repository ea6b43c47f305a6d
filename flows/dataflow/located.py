"""Samples of a located column piece that the clock gate judges one by one, and their input marks.

A :class:`~flows.dataflow.items.ScalarColumns` piece read from Kafka carries its offsets
(``positions``), but its samples, once the gate judges them one by one (a sample jumped ahead or
behind, or the asset has records held), know none: without this they dropped out of their
window's lineage ``inputs`` (``benchmarks/RESULTS.md``, round 21, part lineage). So the gate
notes each such sample's (origin, position) until it leaves: admitted, it is preceded by its
input mark (:class:`~flows.dataflow.lineage.MarkCollector`: one per asset, window and origin of
the batch, right before its first admitted sample and stamped with its time, so it lands in the
window exactly when that sample does and moves no watermark the sample does not); rejected, its
position is forgotten with it.
"""

from __future__ import annotations

from typing import Any

from flows.dataflow.items import InputMark, ScalarColumns
from flows.dataflow.lineage import MarkCollector
from twin_models.records import ScalarSample

__all__ = ["LocatedSamples"]


class LocatedSamples:
    """The located samples still in the gate (by identity; each kept alive here until it leaves)
    and the input marks of the batch being gated."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.by_id: dict[int, tuple[ScalarSample, str, int]] = {}
        self.marks: MarkCollector | None = None

    def __len__(self) -> int:
        return len(self.by_id)

    def new_batch(self) -> None:
        """A new batch: its marks are its own."""
        self.marks = None

    def clear(self) -> None:
        self.by_id.clear()

    def samples(self, piece: ScalarColumns) -> tuple[ScalarSample, ...]:
        """A piece's samples, to be judged one by one: noted with their positions if it has any."""
        samples = piece.samples
        if piece.positions is not None:
            origin, by_id = piece.origin, self.by_id
            for s, p in zip(samples, piece.positions.tolist(), strict=True):
                by_id[id(s)] = (s, origin, p)
        return samples

    def rejoined(self, samples: tuple[ScalarSample, ...]) -> None:
        """The samples went back into their piece (which keeps their positions)."""
        by_id = self.by_id
        for s in samples:
            by_id.pop(id(s), None)

    def drop(self, item: Any) -> None:
        """``item`` was rejected: its position goes with it."""
        self.by_id.pop(id(item), None)

    def before(self, item: Any, out: list[Any], alone: bool = False) -> None:
        """Before the admitted ``item``, if it is a located sample: the input mark of its (asset,
        window, origin) in this batch, widened to its position (a new one appended right before
        it). ``alone`` (a sample behind the asset's clock, likely late): a mark of its own, which
        the window step drops with it if it is late."""
        got = self.by_id.pop(id(item), None)
        if got is None:
            return
        _s, origin, pos = got
        if alone:
            out.append(InputMark(item.asset_id, item.timestamp, origin, pos, pos))
            return
        if self.marks is None:
            self.marks = MarkCollector(self.window_s)
        self.marks.add(out, item, (origin, pos))
