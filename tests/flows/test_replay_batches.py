"""A file replay hands the flow at most ``batch`` samples at a time, even out of one long column piece
(round 39, part BULK39).

Why it matters: the reader cuts a scalar table into per-asset pieces of ~32,000-40,000 rows, and
every step of the flow takes what reached it at once. Uncut, a one-asset table with one window per
row went through the steps ~38,000 windows together (their features, snapshots and archive rows
alive at once: peak RSS grew ~3 KiB a window up to there). Counted here, not timed."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bytewax.operators as op
import pytest
from bytewax.testing import run_main

from flows.app.outputs import STREAMS, local_outputs
from flows.config.pipeline import PipelineConfig
from flows.dataflow.items import ScalarColumns
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.pipeline import get_flow
from flows.dataflow.sources.files import FileReplaySource
from flows.dataflow.sources.readers import read_pieces

T0 = datetime(2020, 1, 1, tzinfo=UTC)
ROWS = 3000
CFG = PipelineConfig(clock="data", window_s=300.0, allowed_lateness_s=0.0)


@pytest.fixture
def nab(tmp_path: Path) -> Path:
    """A NAB-style table: one asset, one value every 5 minutes (a window per row), a jump near the end."""
    rng = random.Random(3)
    lines = ["timestamp,value"]
    for i in range(ROWS):
        jump = 6.0 if i > ROWS - 200 else 0.0
        value = 10 + jump + rng.gauss(0, 0.5)
        lines.append(f"{(T0 + timedelta(minutes=5 * i)):%Y-%m-%d %H:%M:%S},{value:.4f}")
    path = tmp_path / "nab.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_long_piece_is_cut_at_the_batch_size_and_loses_nothing(nab: Path) -> None:
    whole = list(read_pieces(nab))
    assert [len(p) for p in whole] == [ROWS]  # the reader's one piece: more than a batch
    part = FileReplaySource([nab], batch=256).build_part("in", "files", None)
    sizes: list[int] = []
    got: list[ScalarColumns] = []
    try:
        while True:
            batch = [r.record for r in part.next_batch()]
            sizes.append(sum(len(p) for p in batch))  # type: ignore[arg-type]
            got += batch  # type: ignore[arg-type]
    except StopIteration:
        pass
    assert sizes == [256] * (ROWS // 256) + [ROWS % 256]
    assert part.snapshot() == ROWS
    # the same samples, in order, with their rows in the file (the digital thread)
    assert [s for p in got for s in p.samples] == list(whole[0].samples)
    assert [int(x) for p in got for x in p.positions] == list(range(ROWS))  # type: ignore[union-attr]
    assert {p.origin for p in got} == {"file:nab.csv"}


def _run(path: Path, batch: int) -> tuple[list[tuple[Any, ...]], int]:
    """The twin states of a replay of ``path`` and the most windows in flight: samples the source
    had handed on when a window reached the state sink, less the windows that reached it before."""
    sent: list[int] = []
    arrived: list[int] = []  # per window at the state sink: samples sent by then
    sinks, out = local_outputs(CFG, PipelineMetrics(), collect=STREAMS)

    def spy(step_id: str, stream: Any) -> None:
        op.inspect(step_id, stream, lambda _step, _snap: arrived.append(sum(sent)))

    sinks = replace(sinks, state=[*sinks.state, spy])
    source = FileReplaySource([path], batch=batch, progress=sent.append)
    run_main(get_flow(CFG, source=source, sinks=sinks, metrics=PipelineMetrics(),
                      now=lambda: datetime(2026, 6, 1, tzinfo=UTC)))
    states = sorted((s.window_start, s.anomaly_score, s.health_index, s.condition, s.rul_s, s.lineage)
                    for s in out.state)
    alerts = sorted((a.status, a.kind, a.timestamp, a.alert_id) for a in out.alerts)
    return [*states, *alerts], max(n - i for i, n in enumerate(arrived))


def test_windows_in_flight_stay_within_a_batch_and_the_results_do_not_change(nab: Path) -> None:
    cut, in_flight = _run(nab, batch=256)
    whole, whole_in_flight = _run(nab, batch=10 * ROWS)  # the piece in one batch, as before
    assert len(cut) > ROWS
    assert whole_in_flight >= ROWS - 1  # one batch: every window in the steps at once
    assert in_flight <= 2 * 256
    assert cut == whole
