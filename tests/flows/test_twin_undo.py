"""The twin step's undo (issue 10): a scalar twin whose pickle costs a fifth of its step is
journaled (a checkpoint now and then), not copied before every window; a twin that pickles in
a small share of its step (a vibration twin) is still copied per window (nothing retained)."""

from __future__ import annotations

import itertools
import pickle
from typing import Any

import pytest
from bytewax.testing import TestingSource

from flows.dataflow import guard, pipeline
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.pipeline import TWIN_UNDO_COPY_RATIO, get_flow
from tests.flows.conftest import CFG, collecting_sinks


def _pickles(share: float, monkeypatch: pytest.MonkeyPatch, *, calls: int = 200, **undo: float) -> int:
    """Pickles an Undo takes over ``calls`` items of 1 s when pickling the state takes ``share`` s
    (a fake clock: each pickle advances it by ``share``)."""
    clock = itertools.count()
    now = [0.0]
    real_dumps = pickle.dumps

    def perf_counter() -> float:
        return now[0]

    def dumps(obj: Any, *args: Any, **kwargs: Any) -> bytes:
        now[0] += share
        next(clock)
        return real_dumps(obj, *args, **kwargs)

    monkeypatch.setattr(guard.time, "perf_counter", perf_counter)
    monkeypatch.setattr(guard.pickle, "dumps", dumps)
    try:
        journal = guard.Undo(lambda s, _x: s, **undo)
        state = {"twin": list(range(100))}
        for i in range(calls):
            journal.before("a-1", state)
            journal.applied("a-1", i, state, 1.0)
    finally:
        monkeypatch.undo()
    return next(clock)


def test_a_scalar_twin_is_journaled_not_copied_per_window(monkeypatch: pytest.MonkeyPatch) -> None:
    # pickling = 20 % of the step: a checkpoint every 50 x 0.2 s of steps, not a copy per window
    assert _pickles(0.2, monkeypatch, copy_ratio=TWIN_UNDO_COPY_RATIO) <= 200 / 10 + 1
    assert _pickles(0.2, monkeypatch) >= 150  # the guard's default (0.5) copied before most
    # a vibration twin (1 % of its ~50-ms step) is still copied per window: nothing kept
    assert _pickles(0.01, monkeypatch, copy_ratio=TWIN_UNDO_COPY_RATIO) >= 199


def test_the_flow_gives_the_twin_step_its_undo_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    ratios: dict[str, float] = {}
    real = pipeline.guard_stateful

    def recording(step: str, *args: Any, **kwargs: Any) -> Any:
        ratios[step] = kwargs.get("copy_ratio", 0.5)
        return real(step, *args, **kwargs)

    monkeypatch.setattr(pipeline, "guard_stateful", recording)
    sinks, _out = collecting_sinks()
    get_flow(CFG, source=TestingSource([]), sinks=sinks, metrics=PipelineMetrics())
    assert ratios["twin_update"] == TWIN_UNDO_COPY_RATIO <= 0.05
    assert ratios["fleet_rul"] == pipeline.FLEET_UNDO_COPY_RATIO
