"""Metrics with fresh registries: the counts agree with what the flow processed; bounded labels."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from flows.dataflow.metrics import PipelineMetrics
from tests.flows.conftest import run_flow


def test_counters_agree_with_the_flow(fleet_records) -> None:  # type: ignore[no-untyped-def]
    m = PipelineMetrics(CollectorRegistry())
    out = run_flow(fleet_records, metrics=m)
    assert m.value("twin_records_in_total", {"source": "test"}) == len(fleet_records)
    assert m.value("twin_step_items_total", {"step": "decode"}) == len(fleet_records)
    assert m.value("twin_windows_closed_total") == len(out.features)
    assert m.total("twin_snapshots_total") == len(out.state)
    # the fleet learner emits one model version per completed life (2 failures here)
    assert m.value("twin_step_items_total", {"step": "fleet_rul"}) == m.value("twin_fleet_models_total") == 2
    assert m.value("twin_fleet_models_late_total") == 0
    assert m.value("twin_assets_tracked") == 3
    assert m.value("twin_windows_open") == 0  # every window closed at the end of input
    assert m.total("twin_alerts_total") == len(out.alerts)
    by_status = {s.labels["status"]: 0.0 for c in m.registry.collect() for s in c.samples
                 if s.name == "twin_alerts_total"}
    for c in m.registry.collect():
        for s in c.samples:
            if s.name == "twin_alerts_total":
                by_status[s.labels["status"]] += s.value
    raised = sum(a.status == "raised" for a in out.alerts)
    assert raised > 0  # the small fleet has a fault: the check below compares real counts
    assert by_status.get("raised", 0.0) == raised
    assert m.value("twin_anomaly_score_count") == len(out.state)
    assert m.value("twin_state_bytes") > 10_000  # three twins with baselines and calibrators
    lag = m.registry.get_sample_value("twin_event_time_lag_seconds", {"process": m.process})
    assert lag is not None and lag > 86400  # simulated history ended long before now


def test_per_asset_series_stay_bounded() -> None:
    m = PipelineMetrics(CollectorRegistry(), top_n=3, watch=["a-42"])
    for i in range(100):
        m.worst.update(f"a-{i}", health_index=1.0 - i / 200, rul_s=None if i % 2 else 3600.0 * i)
    m.worst.refresh()
    series = {s.labels["asset_id"] for met in m.registry.collect() if met.name == "twin_asset_health_index"
              for s in met.samples}
    assert series == {"a-99", "a-98", "a-97", "a-42"}
    m.worst.update("a-5", health_index=0.01, rul_s=60.0)
    m.worst.refresh()
    series = {s.labels["asset_id"] for met in m.registry.collect() if met.name == "twin_asset_health_index"
              for s in met.samples}
    assert "a-5" in series and "a-97" not in series and len(series) == 4
    assert m.value("twin_asset_rul_seconds", {"asset_id": "a-5"}) == 60.0


def test_metric_attributes_are_named_after_their_metrics() -> None:
    """``m.<attr>`` registers ``twin_<attr>`` (counters add ``_total``): one name per meaning."""
    from prometheus_client.metrics import MetricWrapperBase

    m = PipelineMetrics(CollectorRegistry())
    metrics = {a: v for a, v in vars(m).items() if isinstance(v, MetricWrapperBase)}
    assert len(metrics) >= 25
    for attr, metric in metrics.items():
        assert metric._name == f"twin_{attr}", (attr, metric._name)


def test_step_calls_are_timed_per_item(fleet_records) -> None:  # type: ignore[no-untyped-def]
    """``twin_step_call_seconds`` counts one observation per call of each timed step."""
    from flows.codec import decode_telemetry
    from twin_models.prescribe import recommendation_id
    from twin_models.records import WaveformFrame

    m = PipelineMetrics(CollectorRegistry())
    out = run_flow(fleet_records, metrics=m)
    now = datetime.now(UTC)
    frames = sum(isinstance(decode_telemetry(r.payload, now=now), WaveformFrame) for r in fleet_records)
    calls = m.step_calls()
    # featurize_frames is timed once per batch holding frames (frames are featurised together)
    assert frames > 0 and 0 < calls["featurize_frames"]["calls"] < frames
    assert m.value("twin_step_items_total", {"step": "featurize_frames"}) == len(fleet_records)  # all clean
    windows = m.value("twin_windows_closed_total")
    assert calls["aggregate_window"]["calls"] == windows
    assert calls["twin_update"]["calls"] == windows  # every aggregated window updates its twin
    # one call per twin snapshot and per recommendation the twins made (not those the gate
    # restated at a raise: their ids are not the twin's own)
    made = [r for r in out.recommendations if r.lineage is not None and r.recommendation_id
            == recommendation_id(r.asset_id, r.lineage.life_id, r.timestamp)]
    assert out.recommendations and made
    assert calls["alert_gate"]["calls"] == len(out.state) + len(made)
    assert calls["fleet_rul"]["calls"] == 2  # the learner sees the completed lives only (one part each)
    for step, c in calls.items():
        assert c["seconds"] > 0 or step == "fleet_rul", step  # two sub-millisecond calls round to 0
        assert 0.0 <= c["share_over_50ms"] <= 1.0 and c["p999_under_s"] > 0, step
    assert m.value("twin_step_call_seconds_count", {"step": "decode"}) == 0  # not timed


def test_step_call_summary_reads_the_stall_bucket() -> None:
    m = PipelineMetrics(CollectorRegistry())
    h = m.step_call_seconds.labels(step="fleet_rul")
    for _ in range(998):
        h.observe(0.001)
    h.observe(0.2)
    h.observe(4.0)  # a refit that stalls the flow
    s = m.step_calls()["fleet_rul"]
    assert s["calls"] == 1000 and s["over_50ms"] == 2 and s["share_over_50ms"] == 0.002
    assert s["p999_under_s"] == 0.25  # 999 of 1000 calls are under 0.25 s
    assert s["max_under_s"] == 5.0  # the worst call
    assert m.step_calls()["twin_update"] == {"calls": 0, "seconds": 0.0, "over_50ms": 0.0,
                                             "share_over_50ms": 0.0, "p999_under_s": 0.0,
                                             "max_under_s": 0.0}
