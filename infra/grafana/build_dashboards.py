"""Generate the Grafana dashboards (infra/grafana/dashboards/*.json) from one readable description.

Run: ``.venv/bin/python infra/grafana/build_dashboards.py`` (a test checks the JSON is current).
Variables: ``$instance`` (every dashboard) and ``$asset`` (asset drill-down).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "dashboards"
DS = {"type": "prometheus", "uid": "prometheus"}
INST = 'instance=~"$instance"'
# flows/app/losses.py NOT_LOST | NOT_INPUT, and NOT_INPUT
NOT_LOST_OR_INPUT = "duplicate_record|bad_fleet_model|bad_progress"
NOT_INPUT = "bad_fleet_model|bad_progress"
LOSS_CODES = "offsets_deleted|topic_deleted"  # flows/dataflow/metrics.py LOSS_CODES



def _quantile(q: float, histogram: str, by: str) -> str:
    return f"histogram_quantile({q}, sum by (le, {by}) (rate({histogram}_bucket{{{INST}}}[5m])))"


# (title, kind, unit, [(expr, legend)])
FLEET = [
    ("Assets tracked", "stat", "none", [(f"sum(twin_assets_tracked{{{INST}}})", "assets")]),
    ("Open alert episodes", "stat", "none",
     # a gauge set from the alert state (restored on resume), not raised minus cleared counters,
     # which restart at 0 with the process and went negative after a resume (round 30)
     [(f"sum by (kind) (twin_alert_episodes_open{{{INST}}})", "{{kind}}")]),
    ("Windows by condition (per second)", "timeseries", "ops",
     [(f"sum by (condition) (rate(twin_snapshots_total{{{INST}}}[5m]))", "{{condition}}")]),
    ("Alert messages by severity (last hour)", "timeseries", "none",
     [(f"sum by (severity, status) (increase(twin_alerts_total{{{INST}}}[1h]))", "{{severity}} {{status}}")]),
    ("Worst health index", "bargauge", "percentunit",
     [(f"bottomk(10, min by (asset_id) (twin_asset_health_index{{{INST}}}))", "{{asset_id}}")]),
    ("Worst RUL", "bargauge", "s",
     [(f"bottomk(10, min by (asset_id) (twin_asset_rul_seconds{{{INST}}}))", "{{asset_id}}")]),
    ("Anomaly score p99 (fleet)", "timeseries", "none",
     [(f"histogram_quantile(0.99, sum by (le) (rate(twin_anomaly_score_bucket{{{INST}}}[5m])))", "p99")]),
]
ASSET_SEL = f'asset_id="$asset",{INST}'
ASSET = [
    ("Health index", "timeseries", "percentunit", [(f"twin_asset_health_index{{{ASSET_SEL}}}", "health")]),
    ("Anomaly score", "timeseries", "none", [(f"twin_asset_anomaly_score{{{ASSET_SEL}}}", "score")]),
    ("RUL with interval", "timeseries", "s",
     [(f"twin_asset_rul_seconds{{{ASSET_SEL}}}", "RUL"),
      (f"twin_asset_rul_lower_seconds{{{ASSET_SEL}}}", "lower"),
      (f"twin_asset_rul_upper_seconds{{{ASSET_SEL}}}", "upper")]),
    ("Feature trends", "timeseries", "none",
     [(f"twin_asset_feature{{{ASSET_SEL}}}", "{{feature}}")]),
    ("Data quality per channel (0 ok, 1 suspect, 2 bad)", "state-timeline", "none",
     [(f"max by (channel, check) (twin_channel_quality_state{{{ASSET_SEL}}})", "{{channel}} {{check}}")]),
]
PIPELINE = [
    ("Records in (per second)", "timeseries", "ops",
     [(f"sum by (source) (rate(twin_records_in_total{{{INST}}}[1m]))", "{{source}}")]),
    ("Items out per step (per second)", "timeseries", "ops",
     [(f"sum by (step) (rate(twin_step_items_total{{{INST}}}[1m]))", "{{step}}")]),
    ("Event-time lag", "timeseries", "s", [(f"max by (instance) (twin_event_time_lag_seconds{{{INST}}})",
                                            "{{instance}}")]),
    ("Kafka consumer lag", "timeseries", "none",
     [(f"sum by (topic) (twin_kafka_consumer_lag_messages{{{INST}}})", "{{topic}}")]),
    ("Processing latency p50 / p99", "timeseries", "s",
     [(_quantile(0.5, "twin_processing_latency_seconds", "output"), "p50 {{output}}"),
      (_quantile(0.99, "twin_processing_latency_seconds", "output"), "p99 {{output}}")]),
    ("Step call duration p99.9 (learning must stay under 50 ms)", "timeseries", "s",
     [(_quantile(0.999, "twin_step_call_seconds", "step"), "{{step}}")]),
    # duplicate_record dead letters lose nothing (flows/app/losses.py NOT_LOST): their own panel, so a
    # redelivery burst does not look like data loss (the TwinDeadLetterRateHigh rule leaves them out too);
    # bad_fleet_model / bad_progress are refused fleet-models topic messages, no input (NOT_INPUT): the
    # fleet panel below shows them.
    ("Records lost to the dead letters by reason (per second)", "timeseries", "ops",
     [(f'sum by (reason) (rate(twin_dead_letters_total{{reason!~"{NOT_LOST_OR_INPUT}",{INST}}}[5m]))',
       "{{reason}}")]),
    # records deleted by retention before they were read, or a telemetry topic deleted mid-run
    # (flows/dataflow/metrics.py LOSS_CODES): input lost without a dead letter
    ("Kafka input lost unread (last hour)", "timeseries", "none",
     [(f'sum by (code) (increase(twin_source_errors_total{{code=~"{LOSS_CODES}",{INST}}}[1h]))',
       "{{code}}")]),
    # the fleet model topic (twin.fleet.models.v1): versions reaching this process's board, late ones
    # (a window's fleet-fused RUL missing), refused messages, refits abandoned, event-time gate give-ups
    ("Fleet models (last hour)", "timeseries", "none",
     [(f"sum(increase(twin_fleet_models_total{{{INST}}}[1h]))", "versions published"),
      (f"sum(increase(twin_fleet_models_late_total{{{INST}}}[1h]))", "versions late"),
      (f'sum by (reason) (increase(twin_dead_letters_total{{reason=~"{NOT_INPUT}",{INST}}}[1h]))',
       "{{reason}} refused"),
      (f"sum(increase(twin_fleet_life_voids_total{{{INST}}}[1h]))", "lives not learnt (voided)"),
      (f"sum(increase(twin_fleet_fit_failures_total{{{INST}}}[1h])) or vector(0)", "refits failed"),
      (f"sum(increase(twin_event_time_gate_timeouts_total{{{INST}}}[1h]))", "gate timeouts")]),
    ("Duplicate records, not lost (per second)", "timeseries", "ops",
     [(f'sum(rate(twin_dead_letters_total{{reason="duplicate_record",{INST}}}[5m]))', "duplicate_record")]),
    ("Late records (per second)", "timeseries", "ops",
     [(f"sum(rate(twin_late_records_total{{{INST}}}[5m]))", "late")]),
    ("Windows open", "timeseries", "none",
     [(f"sum by (instance) (twin_windows_open{{{INST}}})", "{{instance}}")]),
    ("Sink write time p99", "timeseries", "s",
     [(_quantile(0.99, "twin_sink_write_seconds", "sink"), "{{sink}}")]),
    ("Archive rows written (per second)", "timeseries", "ops",
     [(f"sum by (table) (rate(twin_archive_rows_total{{{INST}}}[5m]))", "{{table}}")]),
    ("Twin state size", "timeseries", "bytes",
     [(f"sum by (instance) (twin_state_bytes{{{INST}}})", "{{instance}}")]),
    ("Data-quality state of channel windows by state and check (per second)", "timeseries", "ops",
     [(f"sum by (check, state) (rate(twin_data_quality_windows_total{{{INST}}}[5m]))",
       "{{check}} {{state}}")]),
]


def _panel(i: int, title: str, kind: str, unit: str, targets: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "id": i + 1, "title": title, "type": kind, "datasource": DS,
        "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": chr(65 + j), "expr": e, "legendFormat": leg, "datasource": DS}
                    for j, (e, leg) in enumerate(targets)],
    }


def _var(name: str, query: str) -> dict[str, Any]:
    return {"name": name, "type": "query", "datasource": DS, "refresh": 2, "includeAll": name == "instance",
            "multi": name == "instance", "allValue": ".*", "query": {"query": query, "refId": name},
            "definition": query}


def dashboard(uid: str, title: str, panels: list[Any], asset_var: bool = False) -> dict[str, Any]:
    """One dashboard document."""
    variables = [_var("instance", "label_values(twin_assets_tracked, instance)")]
    if asset_var:
        variables.append(_var("asset", "label_values(twin_asset_health_index, asset_id)"))
    return {
        "uid": uid, "title": title, "tags": ["twinflow"], "timezone": "utc", "schemaVersion": 39,
        "version": 1, "refresh": "30s", "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": variables},
        "panels": [_panel(i, *p) for i, p in enumerate(panels)],
    }


DASHBOARDS = {
    "fleet-overview": dashboard("twin-fleet", "twinflow / Fleet overview", FLEET),
    "asset-drilldown": dashboard("twin-asset", "twinflow / Asset drill-down", ASSET, asset_var=True),
    "pipeline-health": dashboard("twin-pipeline", "twinflow / Pipeline health", PIPELINE),
}


def render() -> dict[str, str]:
    """File name -> JSON text."""
    return {f"{name}.json": json.dumps(doc, indent=2) + "\n" for name, doc in DASHBOARDS.items()}


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (OUT / name).write_text(text)
        print(f"wrote {OUT / name}")
