"""The twin step's undo journal keeps its windows' data-quality figures compact (round 28, MEM28).

A window of one-reading scalar channels (a C-MAPSS cycle) carries its stats as a
:class:`~twin_models.quality.stats.OneReadings` (channels, one (2, n) array of time and value), not
one :class:`ChannelStats` per channel; the journal (``flows.dataflow.guard.Undo``, journal mode)
keeps those windows since its last checkpoint and, when a later window fails, replays them
through the twin's pure transition, which judges their quality again: the replayed twin must be
the twin before the failed window, exactly.
"""

from __future__ import annotations

import pickle
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from flows.config.pipeline import PipelineConfig
from flows.dataflow.guard import Undo, guard_stateful
from flows.dataflow.items import CheckedWindow, DeadLetter
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.operators import OpenWindows, make_window_aggregator, twin_apply, twin_update
from tests.flows.test_poison import _plain
from twin_models.quality.stats import ChannelStats, OneReadings, scalar_channel_stats
from twin_models.records import AssetMetadata, ChannelQuality, ScalarSample, SensorSpec

A = "engine-7"
WINDOW_S = 60.0
T0 = datetime(2026, 1, 1, tzinfo=UTC)
CHANNELS = ("T24", "T30", "P30", "Nf", "phi", "BPR")
UNITS = {"T24": "K", "T30": "K"}  # drift-prone: the drift check's regression learns their values
META = {A: AssetMetadata(A, "turbofan", sensors=tuple(
    SensorSpec(c, "scalar", UNITS.get(c, ""), limits=(0.0, 2000.0), cadence_s=WINDOW_S) for c in CHANNELS))}
CFG = PipelineConfig(clock="data", window_s=WINDOW_S, allowed_lateness_s=0.0, max_future_s=1e9)
N, FAIL_AT = 48, 40


def _windows() -> tuple[list[CheckedWindow], list[CheckedWindow]]:
    """N one-reading windows through the flow's own aggregation: a slow trend, a spike beyond
    the physical limits (windows 20-22 of ``P30``), a channel silent for a while (``phi``, windows
    26-31: a gap), readings at varying offsets in their window (the cadence learnt); and the
    same windows with their stats as one ChannelStats per channel, built from the readings by
    ``scalar_channel_stats`` (the form before the compact one)."""
    rng = np.random.default_rng(28)
    m = PipelineMetrics()
    aggregate = make_window_aggregator(WINDOW_S, m, OpenWindows(WINDOW_S, m), now=lambda: T0)
    base = T0.timestamp() // WINDOW_S
    out, full = [], []
    for w in range(N):
        start = T0 + timedelta(seconds=w * WINDOW_S)
        items = []
        for k, c in enumerate(CHANNELS):
            if c == "phi" and 26 <= w < 32:
                continue
            value = 500.0 + 40.0 * k + 0.5 * w + rng.normal(0.0, 1.0)
            if c == "P30" and 20 <= w < 23:
                value = 5000.0
            at = start + timedelta(seconds=float(rng.integers(0, 50)), microseconds=int(rng.integers(10**6)))
            items.append(ScalarSample(A, c, at, value, ""))
        fv = aggregate(A, (int(base) + w, items))
        assert type(fv) is CheckedWindow
        out.append(fv)
        full.append(replace(fv, quality={s.channel: scalar_channel_stats(
            np.array([s.timestamp.timestamp()]), np.array([s.value])) for s in sorted(items, key=_time)}))
    return out, full


def _time(s: ScalarSample) -> datetime:
    return s.timestamp


@pytest.fixture(scope="module")
def both() -> tuple[list[CheckedWindow], list[CheckedWindow]]:
    return _windows()


@pytest.fixture(scope="module")
def windows(both: tuple[list[CheckedWindow], list[CheckedWindow]]) -> list[CheckedWindow]:
    return both[0]


def _apply() -> Any:
    apply = twin_apply(META, CFG.twin)
    return lambda state, item: apply(state, item)[0]


def _journal(windows: list[CheckedWindow]) -> tuple[Undo, Any]:
    """An undo in journal mode (one checkpoint: before the first window) over the first
    FAIL_AT windows, and the twin after them."""
    apply = _apply()
    undo = Undo(apply, ratio=1e12, copy_ratio=0.0)
    state = None
    for fv in windows[:FAIL_AT]:
        undo.before(A, state)
        state = apply(state, fv)
        undo.applied(A, fv, state, 1e-3)
    return undo, state


def test_a_one_reading_window_carries_its_stats_compact(windows: list[CheckedWindow]) -> None:
    q = windows[0].quality
    assert type(q) is OneReadings and set(q) == set(CHANNELS)
    assert all(type(st) is ChannelStats and st.n == 1 for st in q.values())
    assert type(windows[27].quality) is OneReadings and "phi" not in windows[27].quality


def test_the_journal_replays_its_compact_windows_to_the_twin_before_the_failure(
        both: tuple[list[CheckedWindow], list[CheckedWindow]]) -> None:
    windows, full = both
    undo, live = _journal(windows)
    journaled = undo.journals[A].items
    assert len(journaled) == FAIL_AT and undo.journals[A].checkpoint is None  # all replayed
    assert b"ChannelStats" not in pickle.dumps(journaled)  # no per-channel object kept
    want = _plain(_journal(full)[1])  # the twin that judged one ChannelStats per channel
    assert _plain(live) == want
    assert _plain(undo.restore(A)) == want
    # the comparison sees a window whose compact figures lost something (a time, then a value)
    for row in (0, 1):
        undo, _live = _journal(windows)
        items = undo.journals[A].items
        q = items[5].quality
        tv = np.array(q.tv)
        tv[row, 1] += 7.0 * WINDOW_S if row == 0 else 3000.0
        items[5] = replace(items[5], quality=OneReadings(q.channels, tv))
        assert _plain(undo.restore(A)) != want, row


def test_a_failed_window_in_the_twin_step_leaves_the_twin_as_if_it_was_absent(
        windows: list[CheckedWindow]) -> None:
    """Through the twin step's guard (journal mode): window FAIL_AT raises after mutating the
    twin; the twin then goes on exactly as one that never saw that window."""
    m, now = PipelineMetrics(), (lambda: T0)
    step = twin_update(META, CFG.twin, m, now=now)
    bad = windows[FAIL_AT]

    def poisoned(state: Any, fv: Any) -> Any:
        out = step(state, fv)
        if fv is bad:
            msg = "injected failure"
            raise RuntimeError(msg)
        return out

    guarded = guard_stateful("twin_update", poisoned, _apply(), lambda fv: fv.asset_id, m, now,
                             ratio=1e12, copy_ratio=0.0)
    ref = twin_update(META, CFG.twin, PipelineMetrics(), now=now)
    state = ref_state = None
    dead, checks = 0, set()
    for fv in windows:
        state, outs = guarded(state, fv)
        dead += sum(isinstance(o, DeadLetter) for o in outs)
        checks |= {(o.channel, o.check) for o in outs if type(o) is ChannelQuality}
        if fv is not bad:
            ref_state, ref_outs = ref(ref_state, fv)
            if fv.window_start > bad.window_start:  # after the restore: the same outputs
                assert list(map(repr, outs)) == list(map(repr, ref_outs))
    assert dead == 1 and _plain(state) == _plain(ref_state)
    assert {("P30", "spike"), ("phi", "gap")} <= checks  # the quality judged has state to lose
