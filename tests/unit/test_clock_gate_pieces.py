"""The clock gate's whole-piece rule for column pieces (round 15: one Python pass instead of numpy calls).

A piece goes whole when every sample lies within the limit of the front before it (the asset's
front, then the highest time so far); the asset's front and each channel's last time then move to
the piece's highest times. Checked here against the rule written with numpy (the round-14 code)
over random pieces: in order, shuffled, with a sample jumped ahead or behind, on a fresh clock and
on one that has a front.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from flows.dataflow.clock_gate import ClockGate
from flows.dataflow.items import ScalarColumns
from flows.dataflow.metrics import PipelineMetrics
from twin_models.quality.clock import Verdicts

CHANNELS = ("temperature", "pressure", "current", "speed")
T0_US = 1_767_225_600_000_000  # 2026-01-01


def _now() -> datetime:
    return datetime(2026, 1, 2, tzinfo=UTC)


class _Round14Gate(ClockGate):
    """The gate with the round-14 ``_columns`` (numpy calls), the reference."""

    def _columns(self, piece: ScalarColumns, out: list[Any], verdicts: Verdicts) -> None:
        clock = self._clock(piece.asset_id)
        t = piece.times_us / 1e6
        running = np.maximum.accumulate(t)
        before = np.empty_like(t)
        before[0] = clock.front if clock.front == clock.front else t[0]
        if t.size > 1:
            np.maximum(running[:-1], before[0], out=before[1:])
        if not clock.held and bool((np.abs(t - before) <= self.limit_s).all()):
            idx = piece.channel_idx
            for code, name in enumerate(piece.channels):
                mine = t[idx == code]
                if mine.size:
                    clock.last[name] = float(mine.max())
            clock.front = max(float(before[-1]), float(running[-1]))
            out.append(piece)
            return
        samples = piece.samples
        mark = len(verdicts.admitted)
        for s in samples:
            clock.offer(s.channel, s.timestamp.timestamp(), s, verdicts)
        got = verdicts.admitted[mark:]
        if (len(got) == len(samples) and not verdicts.flagged
                and all(a is b for a, b in zip(got, samples, strict=True))):
            del verdicts.admitted[mark:]
            verdicts.admitted.append(piece)


def _piece(rng: np.random.Generator, n: int, shape: str) -> ScalarColumns:
    times = T0_US + np.sort(rng.integers(0, 50_000_000, size=n)).astype(np.int64)
    if shape == "shuffled":
        rng.shuffle(times)
    elif shape == "ahead":
        times[rng.integers(0, n)] += 3_600_000_000
    elif shape == "behind":
        times[rng.integers(0, n)] -= 3_600_000_000
    idx = rng.integers(0, len(CHANNELS), size=n).astype(np.int16)
    return ScalarColumns.of("pump-001", times, idx, CHANNELS, rng.normal(size=n))


def _seen(items: list[Any], piece: ScalarColumns) -> list[Any]:
    """What left the gate, comparable across two gates: the piece itself, or each item's content."""
    fields = ("reason", "asset_id", "channel", "timestamp", "value")
    return ["PIECE" if x is piece else (type(x).__name__, *(getattr(x, f, None) for f in fields))
            for x in items]


@pytest.mark.parametrize("shape", ["sorted", "shuffled", "ahead", "behind"])
@pytest.mark.parametrize("with_front", [False, True])
def test_pieces_leave_the_gate_as_with_the_numpy_rule(shape: str, with_front: bool) -> None:
    rng = np.random.default_rng(15)
    wholes = 0
    for _ in range(60):
        gates = [ClockGate(60.0, 60.0, PipelineMetrics(), _now),
                 _Round14Gate(60.0, 60.0, PipelineMetrics(), _now)]
        front = T0_US / 1e6 + float(rng.uniform(-30.0, 120.0))
        pieces = [_piece(rng, int(rng.integers(1, 80)), shape) for _ in range(3)]
        seen = []
        for gate in gates:
            if with_front:  # the asset's clock already stands near (or up to 2 min after) the pieces
                clock = gate._clock("pump-001")
                clock.front = front
                clock.last = dict.fromkeys(CHANNELS, front)
            outs = [_seen(gate([p]), p) for p in pieces]
            clock = gate.clocks["pump-001"]
            seen.append((outs, clock.front, list(clock.last.items()), len(clock.held)))
        assert seen[0] == seen[1]
        wholes += sum(out == ["PIECE"] for out in seen[0][0])
    if shape == "sorted" and not with_front:
        assert wholes == 180  # in order, 50 s per piece: always whole
    if shape in ("ahead", "behind"):
        assert wholes < 180  # the jumped sample is judged on its own
