"""``twin demo``: the simulated fleet through the one dataflow, then a summary against ground truth."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Stream
from bytewax.testing import cluster_main, run_main
from tqdm import tqdm

from flows import codec
from flows.app.losses import dead_letters_by_reason, describe_reasons
from flows.app.out_dir import prepare_out
from flows.app.report import plot_fleet
from flows.config.pipeline import PipelineConfig, load_config
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.operators import DeadLetter
from flows.dataflow.pipeline import Sinks, get_flow
from flows.dataflow.sinks.archive import archive_attacher, new_run_id
from flows.dataflow.sinks.jsonl import jsonl_attacher
from flows.dataflow.sources.simulator import SimulatorSource, count_records
from twin_models.evaluate.detection import DetectionReport, evaluate_detection
from twin_models.records import Alert, TwinSnapshot
from twin_models.simulator.fleet import FleetConfig, fleet_metadata, ground_truth

__all__ = ["DEMO_DEFAULTS", "DemoResult", "run_demo", "run_fleet"]

DEMO_DEFAULTS = PipelineConfig(clock="data")
"""The demo replays simulated history as fast as it can: windows close on event time only."""
DEMO_OUTPUTS = ("dead_letters*.jsonl", "demo.png")
"""What ``twin demo`` writes into ``--out`` besides the archive (``--fresh`` deletes them)."""


@dataclass
class _Collected:
    alerts: list[Alert] = field(default_factory=list)
    snapshots: list[TwinSnapshot] = field(default_factory=list)


def _collector(target: list[Any]) -> Any:
    from bytewax.testing import TestingSink

    def attach(step_id: str, stream: Stream[Any]) -> None:
        op.output(step_id, stream, TestingSink(target))

    return attach


def dead_letter_bytes(d: DeadLetter) -> bytes:
    """A dead letter as one JSON document (schemas/dead_letter.v1.json)."""
    err = codec.DecodeError(d.reason, d.detail, d.raw)
    return codec.dead_letter(err, source=d.source, timestamp=d.timestamp)


@dataclass
class DemoResult:
    """What a demo run produced."""

    report: DetectionReport
    alerts: list[Alert]
    snapshots: list[TwinSnapshot]
    metrics: PipelineMetrics
    seconds: float
    frames: int
    records: int


def run_fleet(
    fleet: FleetConfig,
    cfg: PipelineConfig,
    out: Path,
    *,
    workers: int = 1,
    progress: bool = True,
    metrics: PipelineMetrics | None = None,
) -> DemoResult:
    """Simulate ``fleet``, run it through get_flow, archive to ``out``, evaluate."""
    metrics = metrics or PipelineMetrics()
    got = _Collected()
    bar = tqdm(total=count_records(fleet), unit="rec", disable=not progress, smoothing=0.1)
    source = SimulatorSource(fleet, progress=bar.update)
    arch = {"batch_rows": cfg.archive_batch_rows, "metrics": metrics, "run_id": new_run_id()}
    sinks = Sinks(
        features=[archive_attacher(out, "features", **arch)],
        state=[archive_attacher(out, "twin_state", **arch), _collector(got.snapshots)],
        alerts=[archive_attacher(out, "alerts", **arch), _collector(got.alerts)],
        dead_letters=[jsonl_attacher(out / "dead_letters.jsonl", dead_letter_bytes)],
    )
    meta = fleet_metadata(fleet)
    flow = get_flow(cfg, source=source, sinks=sinks, metadata=meta, metrics=metrics)
    start = time.perf_counter()
    if workers == 1:
        run_main(flow)
    else:
        cluster_main(flow, [], 0, worker_count_per_proc=workers)
    seconds = time.perf_counter() - start
    bar.close()
    run_end = fleet.start + timedelta(days=fleet.days)
    report = evaluate_detection(ground_truth(fleet), got.alerts, got.snapshots, run_end)
    records = int(metrics.value("twin_records_in_total", {"source": "simulator"}))
    frames = int(fleet.n_assets * fleet.days * 86400.0 / fleet.frame_interval_s)
    return DemoResult(report, got.alerts, got.snapshots, metrics, seconds, frames, records)


def summary_dict(res: DemoResult, fleet: FleetConfig) -> dict[str, Any]:
    """The summary as plain data."""
    rep = res.report
    return {
        "assets": fleet.n_assets,
        "days": fleet.days,
        "records": res.records,
        "frames": res.frames,
        "seconds": round(res.seconds, 2),
        "frames_per_s": round(res.frames / res.seconds, 1) if res.seconds else None,
        "records_per_s": round(res.records / res.seconds, 1) if res.seconds else None,
        "faults": len(rep.faults),
        "faults_detected": rep.detected,
        "false_alerts": rep.false_alerts,
        "healthy_asset_months": round(rep.healthy_asset_months, 2),
        "false_alerts_per_asset_month": round(rep.false_alerts_per_asset_month, 3),
        "dead_letters": int(res.metrics.total("twin_dead_letters_total")),
        "late_records": int(res.metrics.value("twin_late_records_total")),
        "dead_letters_by_reason": dead_letters_by_reason(res.metrics),
        "alert_messages": len(res.alerts),
        "fault_table": [
            {
                "asset_id": f.asset_id,
                "fault": f.fault_kind,
                "onset": f.onset.isoformat(),
                "failure_at": f.failure_at.isoformat() if f.failure_at else None,
                "detected_at": f.detected_at.isoformat() if f.detected_at else None,
                "lead_time_h": None if f.lead_time_s is None else round(f.lead_time_s / 3600, 1),
                "diagnosed": f.diagnosed,
                "rul_at_detection_h": None if f.rul_at_detection_s is None
                else round(f.rul_at_detection_s / 3600, 1),
                "true_rul_at_detection_h": None if f.true_rul_at_detection_s is None
                else round(f.true_rul_at_detection_s / 3600, 1),
            }
            for f in rep.faults
        ],
    }


def print_summary(s: dict[str, Any], out: Path) -> None:
    """Human-readable summary."""
    print(f"\ntwinflow demo: {s['assets']} assets, {s['days']:g} days simulated")
    print(f"  processed {s['records']} records ({s['frames']} vibration frames) in "
          f"{s['seconds']:.1f} s: {s['frames_per_s']} frames/s, {s['records_per_s']} records/s")
    print(f"  faults injected: {s['faults']}, detected before failure: {s['faults_detected']}")
    print(f"  false alerts on healthy operation: {s['false_alerts']} "
          f"({s['false_alerts_per_asset_month']} per asset-month over "
          f"{s['healthy_asset_months']} asset-months)")
    print(f"  dead letters: {s['dead_letters']}, late records: {s['late_records']}, "
          f"alert messages: {s['alert_messages']}")
    if s.get("dead_letters_by_reason"):
        print(f"  dead letters by reason: {describe_reasons(s['dead_letters_by_reason'])} "
              f"-> {out / 'dead_letters.jsonl'}")
    if s["fault_table"]:
        print("\n  asset      fault  onset             failure           lead     diagnosed  "
              "RUL at detection (true)")
        for f in s["fault_table"]:
            fail = (f["failure_at"] or "-")[:16]
            diag = f["diagnosed"] or "-"
            lead = "missed" if f["detected_at"] is None else f"{f['lead_time_h']} h"
            est = f["rul_at_detection_h"]
            rul = f"{'n/a' if est is None else f'{est} h'} ({f['true_rul_at_detection_h']} h)"
            print(f"  {f['asset_id']:<10} {f['fault']:<6} {f['onset'][:16]:<17} {fail:<17} "
                  f"{lead:<8} {diag:<10} {rul}")
    print(f"\n  plot: {s['plot']}")
    print(f"  archive: {out}  (try: twin sql \"SELECT * FROM alerts\" --archive {out})")


def run_demo(args: argparse.Namespace) -> int:
    """The ``twin demo`` command."""
    cfg = load_config(args.config, base=DEMO_DEFAULTS)
    fleet = FleetConfig(n_assets=args.assets, days=args.days, seed=args.seed)
    out = Path(args.out)
    prepare_out(out, out, DEMO_OUTPUTS, fresh=getattr(args, "fresh", False))
    metrics = PipelineMetrics.from_config(cfg.metrics)
    if args.metrics_port is not None:
        from flows.cli.args import serve_metrics

        serve_metrics(metrics, args.metrics_port, args.metrics_address)
    res = run_fleet(fleet, cfg, out, workers=args.workers, progress=not args.no_progress,
                    metrics=metrics)
    summary = summary_dict(res, fleet)
    summary["plot"] = str(plot_fleet(res.snapshots, res.alerts, out / "demo.png",
                                     truths=ground_truth(fleet)))
    if args.json:
        print(json.dumps(summary))
    else:
        print_summary(summary, out)
    return 0
