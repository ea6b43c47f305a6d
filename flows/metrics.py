"""Every Prometheus metric of twinflow, declared in one place with an injectable registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["PipelineMetrics"]


class PipelineMetrics:
    """The pipeline's metrics; pass a fresh ``CollectorRegistry`` in tests."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.records_in = Counter(
            "twin_records_in_total", "Raw records read, by source.", ["source"], registry=r
        )
        self.decode_errors = Counter(
            "twin_dead_letters_total",
            "Records routed to the dead-letter sink, by reason.",
            ["reason"],
            registry=r,
        )
        self.late_records = Counter(
            "twin_late_records_total", "Records later than the allowed lateness.", registry=r
        )
        self.windows_closed = Counter(
            "twin_windows_closed_total", "Asset windows closed and featurised.", registry=r
        )
        self.snapshots = Counter(
            "twin_snapshots_total", "Twin snapshots emitted, by condition.", ["condition"],
            registry=r,
        )
        self.alerts = Counter(
            "twin_alerts_total", "Alert messages, by status and severity.",
            ["status", "severity"], registry=r,
        )
        self.assets = Gauge("twin_assets_tracked", "Asset twins held by this process.", registry=r)
        self.anomaly_score = Histogram(
            "twin_anomaly_score", "Calibrated anomaly scores.",
            buckets=(0.5, 0.9, 0.99, 0.999, 0.9999, 1.0), registry=r,
        )
        self.source_errors = Counter(
            "twin_source_errors_total", "Transient source client errors (retried), by code.",
            ["code"], registry=r,
        )
        self.sink_rows = Counter(
            "twin_archive_rows_total", "Rows written to the Parquet archive, by table.", ["table"],
            registry=r,
        )

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """Current value of a sample (0.0 if never observed)."""
        v = self.registry.get_sample_value(name, labels or {})
        return 0.0 if v is None else v
