"""What-if requests in the guarded ``twin_update`` step, as the pipeline wires it.

Round 37 (STRICT37): the step's item was annotated ``FeatureVector`` while ``twin run`` merges
``WhatIfRequest`` items into it, so mypy --strict took the request branch for one never taken
(and the state a request leaves, None for an asset without a twin, for a twin). These tests run
that branch: a request never creates a twin nor counts an asset, the undo replays through it,
and a request that fails does not uncount an asset it never counted."""

from __future__ import annotations

from typing import Any

import pytest

from flows.dataflow import operators
from flows.dataflow.guard import guard_stateful
from flows.dataflow.items import DeadLetter
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.operators import twin_apply, twin_update
from tests.factories import T0, feature_stream, metadata, windows
from tests.flows.conftest import CFG
from tests.whatif_samples import make_request
from twin_models.records import WhatIfRequest, WhatIfResult

META = {"pump-001": metadata()}


def _step(m: PipelineMetrics, **undo: float) -> Any:
    apply = twin_apply(META, CFG.twin)
    return guard_stateful("twin_update", twin_update(META, CFG.twin, m, now=lambda: T0),
                          lambda s, x: apply(s, x)[0], lambda x: str(x.asset_id), m, lambda: T0,
                          on_drop=lambda x: None if type(x) is WhatIfRequest else m.assets_tracked.dec(),
                          **undo)  # as flows.dataflow.pipeline wires it


def _tracked(m: PipelineMetrics) -> float:
    return m.value("twin_assets_tracked")


def test_a_request_before_the_first_window_leaves_no_twin_and_counts_no_asset() -> None:
    m = PipelineMetrics()
    step = _step(m)
    twin, out = step(None, make_request())
    assert twin is None  # Bytewax drops the key's state: no twin made up for a request
    assert [(type(o), o.status) for o in out] == [(WhatIfResult, "unknown_asset")]
    assert _tracked(m) == 0
    fvs = windows(feature_stream(3, seed=3))
    for fv in fvs:
        twin, out = step(twin, fv)
    assert twin is not None and twin.n_windows == 3
    assert _tracked(m) == 1
    same, out = step(twin, make_request())
    assert same is twin and twin.n_windows == 3  # answered by a fork: the twin did not move
    assert [o.status for o in out] != ["unknown_asset"]


def test_a_failure_after_a_request_restores_the_twin_through_the_request(
        monkeypatch: pytest.MonkeyPatch) -> None:
    m = PipelineMetrics()
    step = _step(m, copy_ratio=0.0)  # journal mode: the undo replays the items since its checkpoint
    fvs = windows(feature_stream(6, seed=3))
    twin = None
    for fv in fvs[:4]:
        twin, _ = step(twin, fv)
    twin, _ = step(twin, make_request())
    assert twin is not None
    before = twin.n_windows

    def broken(*args: object) -> None:
        msg = "a metric failed"
        raise RuntimeError(msg)

    monkeypatch.setattr(operators, "observe_damage", broken)
    twin, out = step(twin, fvs[4])
    assert [type(o) for o in out] == [DeadLetter]
    assert twin is not None and twin.n_windows == before == 4  # replayed: 4 windows and the request
    monkeypatch.undo()
    twin, out = step(twin, fvs[4])
    assert twin.n_windows == 5
    assert _tracked(m) == 1


def test_a_failed_request_for_an_asset_without_a_twin_uncounts_no_asset(
        monkeypatch: pytest.MonkeyPatch) -> None:
    m = PipelineMetrics()
    step = _step(m)
    twin, _ = step(None, windows(feature_stream(1, seed=3), asset_id="pump-002")[0])
    assert _tracked(m) == 1  # another asset's twin

    def broken(*args: object) -> None:
        msg = "the answer failed"
        raise RuntimeError(msg)

    monkeypatch.setattr(operators, "answer", broken)
    state, out = step(None, make_request())  # pump-001 has no twin
    assert state is None
    assert [type(o) for o in out] == [DeadLetter]
    assert _tracked(m) == 1  # the request counted no asset, so its failure uncounts none
