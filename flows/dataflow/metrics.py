"""Every Prometheus metric of twinflow, declared in one place with an injectable registry.

Naming follows Prometheus conventions (base units, ``_total`` counters, ``_seconds``, ``_bytes``).
Labels are bounded: steps, reasons, topics/partitions, severities. Per-asset series exist only
for a bounded set of assets (an opt-in watch list plus the ``top_n`` worst by health index), so a
fleet of 100k assets does not make 100k series. Each worker process serves its own registry.
"""

from __future__ import annotations

import heapq
import math
import os
import time
from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from flows.config.pipeline import DEFAULT_METRIC_FEATURES, MetricsConfig

__all__ = ["LOSS_CODES", "AssetFeatures", "PipelineMetrics", "WorstAssets"]

LATENCY_BUCKETS = (0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86400)
SIZE_BUCKETS = (1, 10, 100, 1000, 10_000, 100_000)
LOSS_CODES = ("offsets_deleted", "topic_deleted")
"""``twin_source_errors_total`` codes that are input lost unread (retention, a deleted topic), not retries."""
STEP_CALL_BUCKETS = (0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                     10.0, 30.0)
"""Seconds of one step call; 0.05 is a bound on purpose: learning must not stall the flow (no call
above 50 ms at the 99.9th percentile), and the share of calls above it is read off this bucket."""
STALL_S = 0.05
TIMED_STEPS = ("featurize_frames", "aggregate_window", "twin_update", "alert_gate", "fleet_rul")
"""Steps whose calls are timed: every per-window and stateful step, and featurization per frame
(decode runs per record on the scalar hot path and is not timed)."""
RUL_BUCKETS = tuple(h * 3600.0 for h in (1, 6, 12, 24, 48, 96, 168, 336, 720, 2160))


class PipelineMetrics:
    """The pipeline's metrics; pass a fresh ``CollectorRegistry`` in tests."""

    def __init__(self, registry: CollectorRegistry | None = None, *, top_n: int = 20,
                 watch: Iterable[str] = (), features: Iterable[str] = DEFAULT_METRIC_FEATURES) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.process = str(os.getpid())
        self._pipeline(self.registry)
        self._twins(self.registry)
        self.worst = WorstAssets(self, top_n=top_n, watch=watch)
        self.features = AssetFeatures(self, top_n=top_n, watch=watch, names=features)
        self._initialise_labels()

    def _initialise_labels(self) -> None:
        """Known label values start at 0, so rates and dashboards have series before any event."""
        from flows.codec import REASONS
        from flows.codec.archive_schema import TABLES as ARCHIVE_TABLES
        from flows.dataflow.admission import REASONS as ADMISSION_REASONS

        # bad_fleet_model / bad_progress: refused messages of the fleet-models topic (flows.app.fleet_topic),
        # counted only; every reason the code writes is here (tests/contract/test_readme_sync.py)
        for reason in (*REASONS, *ADMISSION_REASONS, "late_record", "clock_skew", "clock_unconfirmed",
                       "duplicate_record", "processing_error", "frame_out_of_scale", "bad_fleet_model",
                       "bad_progress"):
            self.dead_letters.labels(reason=reason)
        for table in ARCHIVE_TABLES:
            self.archive_rows.labels(table=table)
        for step in ("decode", "featurize_frames", "aggregate_window", "twin_update", "fleet_rul",
                     "alert_gate"):
            self.step_items.labels(step=step)
        for step in TIMED_STEPS:
            self.step_call_seconds.labels(step=step)

    def _pipeline(self, r: CollectorRegistry) -> None:
        self.step_call_seconds = Histogram(
            "twin_step_call_seconds", "Duration of one call of a dataflow step (one item; stateful steps "
            "include their learning and refits).", ["step"], buckets=STEP_CALL_BUCKETS, registry=r)
        self.records_in = Counter(
            "twin_records_in_total", "Raw records read, by source topic or file.", ["source"], registry=r)
        self.step_items = Counter(
            "twin_step_items_total", "Items emitted by each dataflow step.", ["step"], registry=r)
        self.dead_letters = Counter(
            "twin_dead_letters_total", "Records routed to the dead letters, by reason.", ["reason"],
            registry=r)
        self.late_records = Counter(
            "twin_late_records_total", "Records later than the allowed lateness (routed as dead letters), "
            "by the Kafka topic they were read from ('' for a file replay's).", ["topic"], registry=r)
        self.late_records.labels(topic="")  # a series from the start (0), as before the label
        self.windows_closed = Counter(
            "twin_windows_closed_total", "Asset windows closed and featurised.", registry=r)
        self.windows_open = Gauge(
            "twin_windows_open", "Asset windows holding records and not yet closed (this process).",
            registry=r)
        self.event_time_lag_seconds = Gauge(
            "twin_event_time_lag_seconds",
            "Wall clock minus the end of the newest closed window (watermark lag).", ["process"], registry=r)
        self.processing_latency_seconds = Histogram(
            "twin_processing_latency_seconds",
            "From a window's end (event time) to its snapshot or alert emission.", ["output"],
            buckets=LATENCY_BUCKETS, registry=r)
        self.kafka_consumer_lag_messages = Gauge(
            "twin_kafka_consumer_lag_messages",
            "Messages in the partition not yet read (high watermark - position).", ["topic", "partition"],
            registry=r)
        self.arrival_check = Gauge(
            "twin_arrival_check",
            "The arrival-time clock check per source partition: 1 on its state (real_time: judged; "
            "replay: off, event time does not run at the pace of arrival time; learning: off, not "
            "measured yet).", ["partition", "state"], registry=r)
        self.source_errors = Counter(
            "twin_source_errors_total", "Kafka source problems by code: offsets_deleted (messages deleted "
            "by retention before they were read), topic_deleted (a telemetry topic deleted mid-run), else "
            "a transient client error (retried).", ["code"], registry=r)
        for code in LOSS_CODES:  # series from the start (0), so a panel or rule on them has data
            self.source_errors.labels(code=code)
        self.sink_write_seconds = Histogram(
            "twin_sink_write_seconds", "Time to write one batch, by sink.", ["sink"], registry=r)
        self.sink_batch_size = Histogram(
            "twin_sink_batch_size", "Items per written batch, by sink.", ["sink"], buckets=SIZE_BUCKETS,
            registry=r)
        self.archive_rows = Counter(
            "twin_archive_rows_total", "Rows written to the Parquet archive, by table.", ["table"],
            registry=r)
        self.snapshot_flush_seconds = Histogram(
            "twin_snapshot_flush_seconds", "Archive flush at each recovery snapshot (part of its pause).",
            registry=r)
        self.command_audit = Counter(
            "twin_command_audit_total", "Command audit entries, by action (proposed, sent, refused, "
            "expired ...): the guarded command path.", ["action"], registry=r)

    def _twins(self, r: CollectorRegistry) -> None:
        self.assets_tracked = Gauge("twin_assets_tracked", "Asset twins held by this process.", registry=r)
        self.state_bytes = Gauge(
            "twin_state_bytes", "Estimated pickled size of the twins of this process.", registry=r)
        self.snapshots = Counter(
            "twin_snapshots_total", "Twin snapshots emitted, by condition.", ["condition"], registry=r)
        self.anomaly_score = Histogram(
            "twin_anomaly_score", "Calibrated anomaly scores.", buckets=(0.5, 0.9, 0.99, 0.999, 0.9999, 1.0),
            registry=r)
        self.rul_seconds = Histogram(
            "twin_rul_seconds", "Fused RUL estimates of degrading assets.", buckets=RUL_BUCKETS, registry=r)
        self.drift_detections = Counter(
            "twin_drift_detections_total", "Drift detections (Page-Hinkley).", registry=r)
        self.damage_states = Counter(
            "twin_damage_states_total", "Damage states started (first diagnosed defect of a life), by "
            "prior: the fleet's (from completed lives of the kind) or the default.", ["prior"], registry=r)
        self.damage_indicator_windows = Counter(
            "twin_damage_indicator_windows_total", "Windows whose indicator a damage state predicted, "
            "by whether the measured value fell inside the predicted 80 % band.", ["band"], registry=r)
        self.fleet_models = Counter(
            "twin_fleet_models_total", "Fleet model versions published to this process's board.",
            registry=r)
        self.fleet_fit_failures = Counter(
            "twin_fleet_fit_failures_total", "Fleet model refits and catch-ups that raised and were "
            "abandoned (the versions published stay; the next starts once more lives are learnt; the "
            "reason is in the log).", ["kind"], registry=r)
        self.fleet_life_voids = Counter(
            "twin_fleet_life_voids_total", "Completed lives the fleet learner could not learn (it raised "
            "on a part, or a part was lost before it): no version comes for them, a void ends the holds "
            "for it in every process; the asset and reason are in the log.", registry=r)
        self.fleet_models_late = Counter(
            "twin_fleet_models_late_total", "Fleet model versions that reached this process after a "
            "window they should have applied to was processed (raise model_delay_s).", registry=r)
        self.event_time_gate_waits = Counter(
            "twin_event_time_gate_waits_total", "Times a source partition held its next record back "
            "because it ran more than the gate's budget of event time ahead of the slowest partition "
            "of the cluster (flows.dataflow.event_time_gate).", registry=r)
        self.event_time_gate_timeouts = Counter(
            "twin_event_time_gate_timeouts_total", "Times the event-time gate stopped waiting for a "
            "partition that reported no progress for its timeout, or an in-process replay stopped waiting "
            "for a fleet model version on its way (outputs may then depend on timing).",
            registry=r)
        self.data_quality_windows = Counter(
            "twin_data_quality_windows_total", "Channel windows judged by the data-quality checks "
            "(issue 13), by state and check (ok with check ''; suspect: timing; bad: gated from the "
            "models).",
            ["check", "state"], registry=r)
        self.channel_quality_state = Gauge(
            "twin_channel_quality_state", "Data-quality state of every judged channel (0 ok, "
            "1 suspect, 2 bad), by asset, channel and its last check ('' when ok); one series per "
            "channel (an old check's series is removed).", ["asset_id", "channel", "check"], registry=r)
        self.alerts = Counter(
            "twin_alerts_total", "Alert messages, by status, severity and kind.",
            ["status", "severity", "kind"], registry=r)
        self.alert_episodes_open = Gauge(
            "twin_alert_episodes_open", "Alert episodes open now (raised, not yet cleared), by kind, "
            "counted from the alert state of the assets this process runs (restored on resume).",
            ["kind"], registry=r)
        self.recommendations = Counter(
            "twin_recommendations_total", "Recommendations the twins made, by chosen plan.",
            ["plan"], registry=r)
        self.asset_health_index = Gauge(
            "twin_asset_health_index", "Health index of watched and worst assets (bounded set).",
            ["asset_id"],
            registry=r)
        self.asset_rul_seconds = Gauge(
            "twin_asset_rul_seconds", "RUL of watched and worst assets (bounded set).", ["asset_id"],
            registry=r)
        self.asset_rul_lower_seconds = Gauge(
            "twin_asset_rul_lower_seconds", "Lower bound of the RUL interval.", ["asset_id"], registry=r)
        self.asset_rul_upper_seconds = Gauge(
            "twin_asset_rul_upper_seconds", "Upper bound of the RUL interval.", ["asset_id"], registry=r)
        self.asset_anomaly_score = Gauge(
            "twin_asset_anomaly_score", "Anomaly score of watched and worst assets.", ["asset_id"],
            registry=r)
        self.asset_feature = Gauge(
            "twin_asset_feature", "Selected window features of watched and unhealthy assets (bounded).",
            ["asset_id", "feature"], registry=r)

    @classmethod
    def from_config(cls, cfg: MetricsConfig, registry: CollectorRegistry | None = None) -> PipelineMetrics:
        """Metrics with the configured bounded per-asset series."""
        return cls(registry, top_n=cfg.top_n, watch=cfg.watch, features=cfg.features)

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """Current value of a sample (0.0 if never observed)."""
        v = self.registry.get_sample_value(name, labels or {})
        return 0.0 if v is None else v

    def step_calls(self) -> dict[str, dict[str, float]]:
        """Per timed step: calls, seconds in total, the calls above :data:`STALL_S` (count and
        share), and the bucket bounds that 99.9 % and all of the calls stay under (``inf`` when
        above the last bucket)."""
        out: dict[str, dict[str, float]] = {}
        for step in TIMED_STEPS:
            lab = {"step": step}
            n = self.value("twin_step_call_seconds_count", lab)
            under = {b: self.value("twin_step_call_seconds_bucket", {**lab, "le": str(b)})
                     for b in STEP_CALL_BUCKETS}
            p999 = next((b for b in STEP_CALL_BUCKETS if n and under[b] >= 0.999 * n), float("inf"))
            worst = next((b for b in STEP_CALL_BUCKETS if n and under[b] >= n), float("inf"))
            out[step] = {"calls": n, "seconds": round(self.value("twin_step_call_seconds_sum", lab), 3),
                         "over_50ms": n - under[STALL_S],
                         "share_over_50ms": round(1 - under[STALL_S] / n, 5) if n else 0.0,
                         "p999_under_s": p999 if n else 0.0, "max_under_s": worst if n else 0.0}
        return out

    def total(self, name: str) -> float:
        """Sum of a metric's samples over all label values."""
        return sum(s.value for m in self.registry.collect() for s in m.samples if s.name == name)


class WorstAssets:
    """Keeps per-asset gauges for the watch list and the ``top_n`` lowest health indices only.

    The exported set is recomputed at most once a second (``heapq.nsmallest``, O(n log top_n)),
    so the cost per update stays constant on large fleets.
    """

    def __init__(self, metrics: PipelineMetrics, *, top_n: int, watch: Iterable[str],
                 refresh_s: float = 1.0) -> None:
        self.m = metrics
        self.top_n = top_n
        self.watch = set(watch)
        self.refresh_s = refresh_s
        self.health: dict[str, float] = {}
        self.rul: dict[str, float | None] = {}
        self.shown: set[str] = set()
        self.with_rul: set[str] = set()
        self.extra: dict[str, tuple[float, tuple[float | None, float | None]]] = {}
        self._last = float("-inf")

    def update(self, asset_id: str, health_index: float, rul_s: float | None,
               *, score: float = 0.0, band: tuple[float | None, float | None] = (None, None)) -> None:
        """Record an asset's latest health; refresh the exported set when due."""
        self.health[asset_id] = health_index
        self.rul[asset_id] = rul_s
        self.extra[asset_id] = (score, band)
        now = time.monotonic()
        if now - self._last >= self.refresh_s:
            self._last = now
            self.refresh()
        elif asset_id in self.shown:
            self._export(asset_id)

    def refresh(self) -> None:
        """Recompute which assets have series, removing the others' series."""
        worst = heapq.nsmallest(self.top_n, self.health, key=self.health.__getitem__)
        show = set(worst) | (self.watch & self.health.keys())
        for gone in self.shown - show:
            self.m.asset_health_index.remove(gone)
            self.m.asset_anomaly_score.remove(gone)
            self._drop_rul(gone)
        self.shown = show
        for a in show:
            self._export(a)

    def _drop_rul(self, asset_id: str) -> None:
        if asset_id in self.with_rul:
            m = self.m
            for g in (m.asset_rul_seconds, m.asset_rul_lower_seconds, m.asset_rul_upper_seconds):
                g.remove(asset_id)
            self.with_rul.discard(asset_id)

    def _export(self, asset_id: str) -> None:
        self.m.asset_health_index.labels(asset_id=asset_id).set(self.health[asset_id])
        score, (lo, hi) = self.extra[asset_id]
        self.m.asset_anomaly_score.labels(asset_id=asset_id).set(score)
        rul = self.rul[asset_id]
        if rul is None:
            self._drop_rul(asset_id)
            return
        self.m.asset_rul_seconds.labels(asset_id=asset_id).set(rul)
        self.m.asset_rul_lower_seconds.labels(asset_id=asset_id).set(rul if lo is None else lo)
        self.m.asset_rul_upper_seconds.labels(asset_id=asset_id).set(rul if hi is None else hi)
        self.with_rul.add(asset_id)


class AssetFeatures:
    """``twin_asset_feature`` for watched assets and at most ``top_n`` unhealthy ones.

    An asset gets series while its twin says ``degrading`` or ``critical`` (or it is watched),
    and loses them when it is healthy again; past ``top_n`` unhealthy assets, newcomers wait.
    """

    def __init__(self, metrics: PipelineMetrics, *, top_n: int, watch: Iterable[str],
                 names: Iterable[str]) -> None:
        self.m = metrics
        self.top_n = top_n
        self.watch = set(watch)
        self.names = tuple(names)
        self.shown: dict[str, set[str]] = {}

    def update(self, asset_id: str, condition: str, features: Mapping[str, float]) -> None:
        """Export (or withdraw) one asset's selected features after a window."""
        unhealthy = condition in ("degrading", "critical")
        wanted = asset_id in self.watch or (
            unhealthy and (asset_id in self.shown or len(self.shown) < self.top_n + len(self.watch)))
        if not wanted:
            for name in self.shown.pop(asset_id, set()):
                self.m.asset_feature.remove(asset_id, name)
            return
        names = self.shown.setdefault(asset_id, set())
        for name in self.names:
            value = features.get(name)
            if value is not None and math.isfinite(value):
                self.m.asset_feature.labels(asset_id=asset_id, feature=name).set(value)
                names.add(name)
