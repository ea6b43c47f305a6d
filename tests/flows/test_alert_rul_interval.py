"""The alert gate's snapshot carries rul_s's calibrated interval, as the state sink's (RULCAL50).

The twin's own-evidence snapshot goes to the alert gate, whose text prints "RUL x [lo .. hi]"; it
used to keep the own trend's slope +-2 standard errors (22 % held on the demo) while the
``twin_state`` row got the fleet's. Here no fleet life has completed yet: both must give the
documented fallback (half to twice ``rul_s`` at least), with ``rul_s`` untouched.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from flows.dataflow.fleet_steps import StateSnapshot
from flows.dataflow.operators import twin_apply
from tests.factories import feature_stream, metadata, windows
from tests.flows.conftest import CFG
from twin_models.records import TwinSnapshot
from twin_models.twin import AssetTwin

META = {"pump-001": metadata()}


def test_the_alerts_snapshot_and_the_states_share_the_calibrated_interval(
        monkeypatch: pytest.MonkeyPatch) -> None:
    update = AssetTwin.update

    def with_trend(self: AssetTwin, fv: Any) -> TwinSnapshot:  # a narrow own-trend estimate
        return replace(update(self, fv), rul_s=36_000.0, rul_lower_s=34_000.0, rul_upper_s=38_000.0,
                       rul_source="trend")

    monkeypatch.setattr(AssetTwin, "update", with_trend)
    apply = twin_apply(META, CFG.twin)
    twin = None
    for fv in windows(feature_stream(2, seed=3)):
        twin, own, items = apply(twin, fv)
    assert own is not None
    state = next(i.snap for i in items if isinstance(i, StateSnapshot))
    assert own.rul_s == state.rul_s == 36_000.0
    bounds = (own.rul_lower_s, own.rul_upper_s)
    assert bounds == (state.rul_lower_s, state.rul_upper_s) == (18_000.0, 72_000.0)
