"""A clock jump on one channel through the one dataflow (issue 13, DQ2): the jumped channel's
records are dead-lettered as ``clock_skew`` (a jump forward; back: late, its own records only) and
flagged (``clock`` sensor alert naming the
channel), and the asset's OTHER channels lose nothing: the same features as without the jump, no
``late_record`` dead letter (before the clock check, a forward jump moved the asset's watermark
and made them late)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from flows.dataflow.items import RawRecord
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.sources.replayable import encode_record
from tests.flows.conftest import SMALL_FLEET, run_flow
from twin_models.records import ScalarSample
from twin_models.simulator.fleet import simulate_fleet

FROM = SMALL_FLEET.start + timedelta(days=3)
UNTIL = FROM + timedelta(hours=8)


@pytest.mark.parametrize("shift_h", [2.5, -1.5])
def test_a_jumped_channel_costs_the_other_channels_nothing(shift_h: float) -> None:
    sim = list(simulate_fleet(SMALL_FLEET))
    asset = sorted({r.asset_id for r in sim})[0]
    shift = timedelta(hours=shift_h)

    def jumped(r):  # type: ignore[no-untyped-def]
        if (type(r) is ScalarSample and r.asset_id == asset and r.channel == "temperature"
                and FROM <= r.timestamp < UNTIL):
            return replace(r, timestamp=r.timestamp + shift)
        return r

    n_jumped = sum(1 for r in sim if jumped(r) is not r)
    assert n_jumped > 20
    metrics = PipelineMetrics()
    out = run_flow([RawRecord("test", encode_record(jumped(r))) for r in sim], metrics=metrics)
    clean = run_flow([RawRecord("test", encode_record(r)) for r in sim])
    reasons = [d.reason for d in out.dead_letters]
    if shift_h > 0:  # ahead: quarantined at admission, the asset's watermark never moves with it
        assert reasons == ["clock_skew"] * n_jumped
        assert metrics.value("twin_dead_letters_total", {"reason": "clock_skew"}) == n_jumped
        assert all("'temperature'" in d.detail and asset in d.detail for d in out.dead_letters)
    else:  # behind: the jumped channel's own records are late (only its own)
        assert 0 < len(reasons) <= n_jumped and set(reasons) == {"late_record"}
        assert all('"temperature"' in d.raw.decode() for d in out.dead_letters)
    # the other channels: every window's features the same as without the jump
    def others(fvs):  # type: ignore[no-untyped-def]
        return {(fv.asset_id, fv.window_start): {k: v for k, v in fv.features.items()
                                                 if not k.startswith("temperature.")} for fv in fvs}
    assert others(out.features) == others(clean.features)
    sensor = [a for a in out.alerts if a.kind == "sensor"]
    assert {(a.asset_id, a.channel, a.check) for a in sensor if a.status == "raised"} == {
        (asset, "temperature", "clock")}
    assert FROM - timedelta(hours=1) <= sensor[0].started_at <= UNTIL
    assert any(("temperature", "suspect", "clock") in s.data_quality for s in out.state)
    assert not any(a.kind == "sensor" for a in clean.alerts)
