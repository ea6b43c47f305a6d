"""``twin demo``: the simulated fleet through the one dataflow, then a summary against ground truth."""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bytewax.testing import cluster_main, run_main

from flows.app.demo_prescriptions import prescription_rows, prescription_summary, print_prescriptions
from flows.app.demo_sensors import print_sensor_faults, sensor_fault_summary
from flows.app.heap import collecting_less
from flows.app.losses import dead_letters_by_reason, describe_reasons
from flows.app.out_dir import RunOutputs, kept_on_stop, prepare_out, refuse_linked_folders
from flows.app.out_held import held_folder
from flows.app.out_manifest import Manifest, record_written
from flows.app.out_places import held_place
from flows.app.outputs import local_outputs
from flows.app.progress import progress_bar
from flows.app.report import plot_fleet
from flows.archive.files import printable, shell_word
from flows.config.fingerprint import config_hash, twinflow_version
from flows.config.pipeline import PipelineConfig
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.pipeline import get_flow
from flows.dataflow.sinks.archive import new_run_id
from flows.dataflow.sinks.jsonl import run_files
from flows.dataflow.sources.simulator import SimulatorSource, count_records
from twin_models.commands import CommandsConfig
from twin_models.evaluate.damage_rul import damage_rul_outcomes, prior_lives
from twin_models.evaluate.detection import DetectionReport, FaultOutcome, evaluate_detection
from twin_models.records import Alert, Recommendation, TwinSnapshot
from twin_models.simulator.fleet import FleetConfig, fleet_metadata, ground_truth, sensor_fault_truth

__all__ = ["DEMO_DEFAULTS", "DemoResult", "run_demo", "run_fleet"]

DEMO_DEFAULTS = PipelineConfig(clock="data", commands=CommandsConfig(mode="advise"))
"""The demo replays simulated history as fast as it can: windows close on event time only. Its
command path runs in ``advise`` mode, to show the audit log (archive table ``audit``); the demo
never sends a command whatever the mode (its flow is built without ``send_commands``)."""
DEMO_OUTPUTS = ("dead_letters*.jsonl", "demo.png")
"""What ``twin demo`` writes into ``--out`` besides the archive (``--fresh`` deletes those of them
its manifest lists, :mod:`flows.app.out_manifest`)."""
DEAD_LETTERS = "dead_letters.jsonl"
"""The demo's dead-letter file in ``--out`` (worker k > 0: ``dead_letters-w<k>.jsonl``)."""


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
    recommendations: list[Recommendation] = field(default_factory=list)


def run_fleet(
    fleet: FleetConfig,
    cfg: PipelineConfig,
    out: Path,
    *,
    workers: int = 1,
    progress: bool = True,
    metrics: PipelineMetrics | None = None,
    run: RunOutputs | None = None,
    linked: Callable[[], None] | None = None,
) -> DemoResult:
    """Simulate ``fleet``, run it through get_flow, archive to ``out``, evaluate. ``run``: its run
    id is the archive's, and it records that the flow started (what a stopped demo kept).
    ``out`` is held open while the flow runs (:func:`~flows.app.out_held.held_folder`, round 40:
    a link put at its name mid-run had the parts after it written where it pointed): ``linked``
    None, ``out`` is the user's folder (``--out``: a link there at the start is followed); else a
    folder below it that must be none, ``linked`` raising the one line for one."""
    metrics = metrics or PipelineMetrics()
    # closed on a stop too, before the "interrupted" line (round 36: drawn again after it)
    with (held_folder(out, linked or (lambda: None), follow=linked is None) as archive_at,
          progress_bar(count_records(fleet), disable=not progress, smoothing=0.1) as bar):
        source = SimulatorSource(fleet, progress=bar.update)
        sinks, got = local_outputs(cfg, metrics, archive_dir=archive_at,
                                   dead_letter_file=archive_at / DEAD_LETTERS,
                                   collect=("state", "alerts", "recommendations"),
                                   run_id=None if run is None else run.run_id)
        meta = fleet_metadata(fleet)
        flow = get_flow(cfg, source=source, sinks=sinks, metadata=meta, metrics=metrics, send_commands=False)
        if run is not None:
            run.started = True
        start = time.perf_counter()
        with collecting_less(freeze=True):  # as twin run; what was built before frozen (flows/app/heap.py)
            if workers == 1:
                run_main(flow)
            else:
                cluster_main(flow, [], 0, worker_count_per_proc=workers)
        seconds = time.perf_counter() - start
        record_written(archive_at, run_files(archive_at / DEAD_LETTERS, workers))  # twinflow's for --fresh
    run_end = fleet.start + timedelta(days=fleet.days)
    report = evaluate_detection(ground_truth(fleet), got.alerts, got.state, run_end)
    records = int(metrics.value("twin_records_in_total", {"source": "simulator"}))
    frames = int(fleet.n_assets * fleet.days * 86400.0 / fleet.frame_interval_s)
    return DemoResult(report, got.alerts, got.state, metrics, seconds, frames, records, got.recommendations)


def _damage_at(f: FaultOutcome, snaps: dict[tuple[str, Any], TwinSnapshot]) -> dict[str, Any]:
    """The damage state's RUL median and 10/90 % at the detecting window (hours); when the alert
    came before the defect was diagnosed (no damage state yet), the first one of the life after
    it, with its delay (``damage_rul_delay_h``) and the true RUL then."""
    none = {"damage_rul_h": None, "damage_rul_p10_h": None, "damage_rul_p90_h": None,
            "damage_rul_delay_h": None, "damage_true_rul_h": None}
    if f.detected_at is None:
        return none
    snap = snaps.get((f.asset_id, f.detected_at))
    if snap is None or snap.damage is None:
        end = f.failure_at or datetime.max.replace(tzinfo=UTC)
        later = sorted((s for (a, _t), s in snaps.items() if a == f.asset_id and s.life_id == f.life_id
                        and f.detected_at < s.timestamp < end and s.damage is not None),
                       key=lambda s: s.timestamp)
        snap = later[0] if later else None
    if snap is None:
        return none
    seconds = {"damage_rul_h": snap.damage_rul_s, "damage_rul_p10_h": snap.damage_rul_lower_s,
               "damage_rul_p90_h": snap.damage_rul_upper_s,
               "damage_rul_delay_h": (snap.timestamp - f.detected_at).total_seconds(),
               "damage_true_rul_h": None if f.failure_at is None
               else (f.failure_at - snap.timestamp).total_seconds()}
    return {k: None if v is None else round(v / 3600, 1) for k, v in seconds.items()}


def damage_summary(res: DemoResult, lives: dict[tuple[str, int], int]) -> dict[str, Any]:
    """Coverage of the damage state's 80 % RUL interval at detection and over the rest of each
    failed life, the median absolute error of its median at detection (hours), how many of
    those faults' states started from a fleet prior (``lives``: :func:`prior_lives`), the
    states started by prior and the calibration of the indicator predictions (next window
    inside its predicted 80 % band)."""
    outs = damage_rul_outcomes(res.report.faults, res.snapshots)
    errors = sorted(abs(o.rul_s - o.true_rul_s) / 3600 for o in outs if o.rul_s is not None)
    m = res.metrics
    band = {b: int(m.value("twin_damage_indicator_windows_total", {"band": b}))
            for b in ("inside", "outside")}
    return {
        "with_fleet_prior": sum(1 for o in outs if lives.get((o.asset_id, o.life_id), 0) > 0),
        "states_by_prior": {p: int(m.value("twin_damage_states_total", {"prior": p}))
                            for p in ("fleet", "default")},
        "indicator_windows": band["inside"] + band["outside"],
        "indicator_inside_80": band["inside"],
        "scored": len(outs),
        "covered_at_detection": sum(o.covered for o in outs),
        "no_state_at_detection": sum(1 for o in outs if o.rul_s is None),
        "later_windows": sum(o.later_windows for o in outs),
        "later_covered": sum(o.later_covered for o in outs),
        "abs_errors_h": [round(e, 1) for e in errors],
        "median_abs_error_h": round(statistics.median(errors), 1) if errors else None,
    }


def summary_dict(res: DemoResult, fleet: FleetConfig, model_delay_s: float = 86_400.0) -> dict[str, Any]:
    """The summary as plain data (``model_delay_s``: the fleet models' delay, to tell which
    faults' damage states had a fleet prior)."""
    rep = res.report
    snaps = {(s.asset_id, s.timestamp): s for s in res.snapshots}
    lives = prior_lives(rep.faults, res.snapshots, model_delay_s)
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
        "late_records": int(res.metrics.total("twin_late_records_total")),
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
                **_damage_at(f, snaps),
                "damage_prior_lives": lives.get((f.asset_id, f.life_id)),
            }
            for f in rep.faults
        ],
        "damage_rul": damage_summary(res, lives),
        "sensor_faults": sensor_fault_summary(fleet, res.alerts),  # issue 13
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
              f"-> {printable(str(out / DEAD_LETTERS))}")
    if s["fault_table"]:
        print("\n  asset      fault  onset             failure           lead     diagnosed  "
              "RUL at detection (true)  damage RUL at detection [10-90 %]")
        for f in s["fault_table"]:
            fail = (f["failure_at"] or "-")[:16]
            diag = f["diagnosed"] or "-"
            lead = "missed" if f["detected_at"] is None else f"{f['lead_time_h']} h"
            est = f["rul_at_detection_h"]
            rul = f"{'n/a' if est is None else f'{est} h'} ({f['true_rul_at_detection_h']} h)"
            print(f"  {f['asset_id']:<10} {f['fault']:<6} {f['onset'][:16]:<17} {fail:<17} "
                  f"{lead:<8} {diag:<10} {rul:<24} {_damage_text(f)}")
        _print_damage(s["damage_rul"])
    if "sensor_faults" in s:
        print_sensor_faults(s["sensor_faults"])
    if s.get("prescriptions"):
        print_prescriptions(s["prescriptions"]["faults"], s["prescriptions"])
    if "followed_plans" in s:
        from flows.app.demo_followed import print_followed  # imports this module

        print_followed(s["followed_plans"])
    # user-given paths: a control character is shown escaped (it would drive the terminal)
    print(f"\n  plot: {printable(s['plot'])}")
    print(f"  archive: {printable(str(out))}  (try: {shell_word(twin_command())} sql "
          f"\"SELECT * FROM alerts\" --archive {shell_word(str(out))})")


def twin_command() -> str:
    """How to call ``twin`` as printed, runnable from here: ``twin`` when the shell finds this very
    one, else this interpreter's ``twin`` script (``.venv/bin/twin`` from the repository, where
    ``make demo`` runs; round 34, USER34: the summary said ``twin sql`` and no ``twin`` was on PATH)."""
    script = Path(sys.executable).parent / "twin"
    found = shutil.which("twin")
    if not script.is_file() or (found is not None and Path(found).resolve() == script.resolve()):
        return "twin"
    try:
        return str(script.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(script.absolute())


def demo_identity(args: argparse.Namespace, cfg: PipelineConfig) -> str:
    """What decides a demo's rows: twinflow's version, the settings' hash, the fleet (assets, days,
    seed, sensor faults). Two demos of one identity write the same rows (HOSTILE34 compared them)."""
    fleet = [args.assets, args.days, args.seed, getattr(args, "sensor_faults", 0.0)]
    text = json.dumps(["demo", twinflow_version(), config_hash(cfg), *fleet], default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _damage_text(f: dict[str, Any]) -> str:
    if f["damage_rul_h"] is None and f["damage_rul_p10_h"] is None:
        return "n/a"
    def h(v: float | None) -> str:
        return ">5 y" if v is None else f"{v} h"
    text = f"{h(f['damage_rul_h'])} [{h(f['damage_rul_p10_h'])} .. {h(f['damage_rul_p90_h'])}]"
    if f.get("damage_rul_delay_h"):  # the defect was diagnosed after the alert
        text += f" {f['damage_rul_delay_h']} h later, at diagnosis (true {h(f['damage_true_rul_h'])})"
    return text


def _print_damage(d: dict[str, Any]) -> None:
    if not d["scored"]:
        return
    later = d["later_covered"] / d["later_windows"] if d["later_windows"] else 0.0
    # round 50: a fault diagnosed after its alert counts as not held, while its table row shows the
    # later state's interval (which may hold the truth): the line says how many those are
    none = d.get("no_state_at_detection", 0)
    unset = f" ({none} without a damage state yet: diagnosed after the alert)" if none else ""
    print(f"  damage RUL 80 % interval: holds the truth at detection for {d['covered_at_detection']}"
          f"/{d['scored']} failed faults{unset}, over the rest of their lives in {later:.0%} of "
          f"{d['later_windows']} windows; median |error| at detection {d['median_abs_error_h']} h")
    windows = d.get("indicator_windows", 0)
    if windows:
        print(f"  damage state: {d['with_fleet_prior']} of those {d['scored']} started from the fleet's "
              f"prior; next-window indicator inside its predicted 80 % band in "
              f"{d['indicator_inside_80'] / windows:.0%} of {windows} windows")


def run_demo(args: argparse.Namespace, cfg: PipelineConfig, out: Path, metrics: PipelineMetrics) -> int:
    """The ``twin demo`` command: ``out`` is the archive folder (the ``archive_dir`` setting or
    ``--out``); the CLI has loaded ``cfg`` and serves ``metrics`` when asked."""
    fleet = FleetConfig(n_assets=args.assets, days=args.days, seed=args.seed,
                        sensor_fault_fraction=getattr(args, "sensor_faults", 0.0))
    identity = demo_identity(args, cfg)
    if getattr(args, "follow_plans", False):  # round 39: a link there, found after the first pass, was
        refuse_linked_folders(out, ("followed",))  # --fresh-ed through (another folder's archive deleted)
    run = RunOutputs(new_run_id())
    # round 41: --out held from here to its last file (round 40: while the flow ran only; demo.png,
    # the dead letters and the manifest went by path): a link put at its name meanwhile gets nothing;
    # round 42: the CLI checked --out by name, before the hold: what is held is checked again
    with held_folder(out, lambda: None, follow=True) as at:
        held_place("--out" if getattr(args, "out", None) else "archive_dir", out, at)
        prepare_out(at, at, DEMO_OUTPUTS, fresh=getattr(args, "fresh", False), identity=identity)
        with kept_on_stop(at, at, run, ("demo.png",), logs=(DEAD_LETTERS,)):  # stopped: what is kept
            res = run_fleet(fleet, cfg, at, workers=args.workers, progress=not args.no_progress,
                            metrics=metrics, run=run)
            # its rows are those of its identity (a run stopped before: unknown, so a mix is warned)
            Manifest.read(at).record_run(run.run_id, identity)
            summary = summary_dict(res, fleet, cfg.twin.fleet.model_delay_s)
            rows = prescription_rows(res.report.faults, res.recommendations, fleet, cfg)  # issue 11, level 4
            summary["prescriptions"] = {"faults": rows, **prescription_summary(rows)}
            plot_fleet(res.snapshots, res.alerts, at / "demo.png", truths=ground_truth(fleet),
                       sensor_faults=sensor_fault_truth(fleet))
            summary["plot"] = str(out / "demo.png")
            run.written.append("demo.png")
            # --fresh then deletes these (and the dead letters: run_fleet), and only these, as
            # twinflow's: a user's file in --out that DEMO_OUTPUTS' patterns match stays
            record_written(at, [at / "demo.png"])
        if getattr(args, "follow_plans", False):
            from flows.app.demo_followed import run_followed  # imports this module

            summary["followed_plans"] = run_followed(
                fleet, res.recommendations, res, cfg, at, workers=args.workers, progress=not args.no_progress,
                fresh=getattr(args, "fresh", False), identity=identity)
    if args.json:
        print(json.dumps(summary))
    else:
        print_summary(summary, out)
    return 0
