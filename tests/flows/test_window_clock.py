"""The windows' system clock wakes the window step when a window can close, not in a busy loop.

Bytewax's EventClock asks to be woken at a window's end (``to_system_utc`` defaults to the
identity); with an allowed lateness the window cannot close then, and the step is re-run over and
over until the lateness has passed. The pipeline's clock asks for the end plus the lateness."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import bytewax.operators as op
import bytewax.operators.windowing as win
import pytest
from bytewax.dataflow import Dataflow
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.testing import TestingSink, run_main

from flows.config.pipeline import PipelineConfig, load_config
from flows.dataflow.pipeline import _clock
from twin_models.records import EPOCH

LATENESS_S = 0.6
RUN_S = 2.8  # > one 1-s window + the lateness: the window closes while the source is quiet


@dataclass(frozen=True)
class Item:
    asset_id: str
    timestamp: datetime


class _OneThenQuiet(StatefulSourcePartition[Item, None]):
    """One item stamped now, then nothing (a quiet asset) until RUN_S has passed."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.sent = False

    def next_batch(self) -> list[Item]:
        if time.monotonic() - self.start > RUN_S:
            raise StopIteration
        if not self.sent:
            self.sent = True
            return [Item("pump-001", datetime.now(UTC))]
        time.sleep(0.001)
        return []

    def snapshot(self) -> None:
        return None


class _Source(FixedPartitionedSource[Item, None]):
    def list_parts(self) -> list[str]:
        return ["0"]

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _OneThenQuiet:
        return _OneThenQuiet()


def _run(cfg: PipelineConfig, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Any], list[datetime]]:
    """Closed windows (wall time, window end) and when the window step was notified (wall time)."""
    calls: list[datetime] = []
    original = win._WindowLogic.on_notify

    def counted(self: Any) -> Any:
        calls.append(datetime.now(UTC))
        return original(self)

    monkeypatch.setattr(win._WindowLogic, "on_notify", counted)
    flow = Dataflow("clock")
    keyed = op.key_on("key", op.input("in", flow, _Source()), lambda x: x.asset_id)
    windower = win.TumblingWindower(length=timedelta(seconds=1), align_to=EPOCH)
    out = win.collect_window("window", keyed, _clock(cfg), windower)
    closed: list[Any] = []
    op.output("out", op.map("stamp", out.down, lambda kv: (datetime.now(UTC), kv[1][1][0].timestamp)),
              TestingSink(closed))
    run_main(flow)
    return closed, calls


def test_a_quiet_window_closes_after_its_lateness_with_a_few_wakeups(monkeypatch: pytest.MonkeyPatch) -> None:
    live = {"window_s": 1.0, "allowed_lateness_s": LATENESS_S, "clock": "system"}
    cfg = load_config(env={}, overrides=live)
    closed, notified = _run(cfg, monkeypatch)
    assert len(closed) == 1  # closed by the wall clock, with no later record of the asset
    at, item_ts = closed[0]
    end = item_ts.replace(microsecond=0) + timedelta(seconds=1)
    due = end + timedelta(seconds=LATENESS_S)
    assert at >= due  # not before the lateness has passed
    # Bytewax's default clock wakes the step at the window's end and then over and over during the
    # lateness (hundreds to thousands of calls); this clock is first woken when the window is due.
    # (After that, a loaded machine re-notifies until the item's own transit delay has passed too:
    # the watermark trails the wall clock by it. Counting only the early calls keeps this test
    # about the clock, not the machine's load.)
    early = [t for t in notified if t < due]
    assert len(early) < 5, (len(early), len(notified))


def test_the_data_clock_never_asks_to_be_woken() -> None:
    cfg = load_config(env={}, overrides={"clock": "data"})
    assert _clock(cfg).to_system_utc(datetime(2026, 1, 1, tzinfo=UTC)) is None
