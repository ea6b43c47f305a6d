"""CWRU bearing faults through the streaming pipeline: is each file diagnosed from the twin's alerts?

Run: ``.venv/bin/python benchmarks/quality/cwru.py [--set drive-end|fan-end|both] [--data DIR]
[--config FILE] [--out DIR] [--logo-snr 3,4,5,6] [--channels own|both] [--ignore-rpm]``.

Two sets, ONE configuration, no per-file parameters:

- ``drive-end`` (``cwru/``): faults seeded in the drive-end bearing, SKF 6205 (9 balls, 7.94 mm,
  pitch 39.04 mm); the drive-end accelerometer ``X<id>_DE_time``;
- ``fan-end`` (``cwru-fan-end/``): faults seeded in the fan-end bearing, SKF 6203 (8 balls,
  0.2656 in, pitch 1.122 in); the fan-end accelerometer ``X<id>_FE_time``. The fan-end channel of
  the healthy ``cwru/normal_*`` recordings joins this set as its healthy files (asset ``<stem>_FE``).

A file belongs to the set its name says (``_Fan_End_`` -> fan-end, else drive-end), so ``--data``
may be one folder of ``.mat`` files or the datasets root holding both folders. Procedure:

1. each recording becomes an asset with a waveform Parquet file: the set's channel cut into frames
   of ``[benchmark] frame_s`` (1 s) at the file's own rate (12 kHz for ``12k_*`` files, 48 kHz for
   ``48k_*`` and ``normal_*``), shaft speed from the file's ``X<id>RPM`` (1797 rpm if absent);
   files are replayed one after another in event time; ``--channels both`` gives every asset both
   accelerometers (channels ``de`` and ``fe``, same procedure for both sets: measured, not the
   default, see ``benchmarks/RESULTS.md``);
2. a metadata TOML carrying each asset's own bearing (6205 or 6203) and nominal speed;
3. ONE :func:`flows.app.backtest.run_backtest` over all files with ONE configuration
   (``configs/cwru.toml``);
4. each file's verdict from its twin's alerts: the defect the last alert naming one names;
   ``anomalous`` if it alerted without naming a defect; ``healthy`` if it never alerted.

Truth comes from the file name: ``IR`` inner race -> ``bpfi``, ``OR`` outer race -> ``bpfo``,
``B`` ball -> ``bsf`` (2x ball spin), ``normal`` -> healthy. Prints a per-file table, per-set and
per-group figures (:mod:`benchmarks.quality.cwru_groups`), then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.quality.common import (  # noqa: E402
    CHANNEL,
    WaveRow,
    datasets_root,
    diagnosis_from_alerts,
    frames_of,
    load_benchmark_config,
    median_snrs,
    snapshots_by_asset,
    spaced_starts,
    window_features,
    write_metadata,
    write_waveforms,
)
from benchmarks.quality.cwru_files import (  # noqa: E402
    NOMINAL_RPM,
    SETS,
    SKF_6203,
    SKF_6205,
    CwruSet,
    Recording,
    read_channel,
    read_channels,
    read_drive_end,
    sample_rate_of,
    set_of,
    truth_of,
)
from benchmarks.quality.cwru_groups import accuracies, group_of, logo_table, report, set_summaries  # noqa: E402
from flows.app.backtest import run_backtest  # noqa: E402
from flows.dataflow.sources.files import read_metadata  # noqa: E402

CONFIG = Path(__file__).resolve().parent / "configs" / "cwru.toml"
T0 = datetime(2000, 1, 1, tzinfo=UTC)  # arbitrary event-time origin (CWRU recorded around 2000)
__all__ = ["SKF_6203", "SKF_6205", "CwruSet", "evaluate", "main", "prepare", "read_channel", "read_channels",
           "read_drive_end", "recordings"]
def prepare(recs: list[Recording], work: Path, frame_s: float, default_fs: float,
            ignore_rpm: bool = False, channels: str = "own",
            ) -> tuple[list[Path], Path, dict[str, dict[str, Any]]]:
    """Write one waveform Parquet per recording and the metadata TOML; returns them and file facts.
    ``ignore_rpm``: every file gets the nominal 1797 rpm, as if its RPM variable were missing;
    ``channels``: ``own`` (the set's accelerometer) or ``both`` (drive end and fan end)."""
    facts: dict[str, dict[str, Any]] = {}
    signals = []
    for rec in recs:
        xs, shaft, var = read_channels(rec, channels)
        shaft = None if ignore_rpm else shaft
        fs = sample_rate_of(rec.path.name, default_fs)
        size = next(iter(xs.values())).size
        signals.append((rec, xs, fs, shaft if shaft else NOMINAL_RPM / 60.0))
        facts[rec.asset] = {"file": rec.path.name, "set": rec.set, "variable": var, "fs": fs,
                            "rpm": round((shaft or NOMINAL_RPM / 60.0) * 60.0, 1), "channels": list(xs),
                            "rpm_from_file": shaft is not None, "seconds": round(size / fs, 2)}
    starts = spaced_starts([next(iter(xs.values())).size / fs for _, xs, fs, _ in signals], T0)
    parquets = []
    for (rec, xs, fs, shaft), start in zip(signals, starts, strict=True):
        cut = {c: frames_of(x, fs, frame_s) for c, x in xs.items()}
        rows = [WaveRow(start + timedelta(seconds=i * frame_s), rec.asset, fs, shaft,
                        {c: cut[c][i] for c in cut})
                for i in range(len(next(iter(cut.values()))))]
        facts[rec.asset]["frames"] = len(rows)
        parquets.append(write_waveforms(work / "waveforms" / f"{rec.asset}.parquet", rows))
    speeds = {r.asset: s for r, _, _, s in signals}
    geometries = {r.asset: SETS[r.set].geometry for r, _, _, _ in signals}
    meta = write_metadata(work / "metadata.toml", "cwru-bearing", SKF_6205, speeds, NOMINAL_RPM / 60.0,
                          geometries=geometries)
    return parquets, meta, facts


def evaluate(recs: list[Recording], out: Path, config: Path, progress: bool = False,
             min_snr: float | None = None, ignore_rpm: bool = False, channels: str = "own") -> dict[str, Any]:
    """Run the benchmark; returns the result document (also what the JSON line prints).

    ``min_snr`` replaces the configuration's ``[pipeline.twin] defect_min_snr`` (the
    leave-one-group-out sweep only)."""
    cfg, bench = load_benchmark_config(config)
    if min_snr is not None:
        cfg = replace(cfg, twin=replace(cfg.twin, defect_min_snr=min_snr))
    frame_s = float(bench.get("frame_s", 1.0))
    default_fs = float(bench.get("default_sample_rate_hz", 12_000.0))
    parquets, meta_path, facts = prepare(recs, out, frame_s, default_fs, ignore_rpm, channels)
    start = time.perf_counter()
    res = run_backtest(parquets, out / "backtest", cfg, metadata=read_metadata(meta_path),
                       progress=progress, report=False)
    seconds = time.perf_counter() - start
    diagnosis = diagnosis_from_alerts(res.alerts)
    snaps = snapshots_by_asset(res.snapshots)
    names = (CHANNEL,) if channels == "own" else ("de", "fe")
    feats = window_features(res, [f"{c}.env_{d}_snr" for c in names for d in ("bpfo", "bpfi", "bsf")])
    table = [_row(rec, facts[rec.asset], diagnosis.get(rec.asset, ("healthy", "")),
                  median_snrs(feats.get(rec.asset, []), names), snaps.get(rec.asset, [])) for rec in recs]
    return {
        "benchmark": "cwru",
        **accuracies(table),
        "sets": set_summaries(table),
        "files": len(table),
        "records": res.records,
        "windows": len(res.snapshots),
        "alert_messages": len(res.alerts),
        "pipeline_seconds": round(seconds, 2),
        "config": str(config),
        "defect_min_snr": cfg.twin.defect_min_snr,
        "ignore_rpm": ignore_rpm,
        "frame_s": frame_s,
        "channels": channels,
        "table": table,
    }


def _row(rec: Recording, fact: dict[str, Any], verdict: tuple[str | None, str], snrs: dict[str, float],
         mine: list[Any]) -> dict[str, Any]:
    """One file's line of the table: truth, verdict (``anomalous``: an alert naming no defect)."""
    truth = truth_of(rec.path.name)
    diag = verdict[0] if verdict[0] not in (None, "unexplained") else "anomalous"
    # the evidence SNR: of the diagnosed defect, else of the strongest line (what healthy means)
    shown = diag if diag in snrs else max(snrs, key=lambda d: np.nan_to_num(snrs[d], nan=-1.0))
    first_bad = next((i for i, s in enumerate(mine) if s.condition in ("degrading", "critical")), None)
    return {
        "file": rec.path.name, "asset": rec.asset, "set": rec.set, **group_of(rec.path.name),
        "truth": truth or "?", "diagnosis": diag,
        "correct": None if truth is None else diag == truth,
        "evidence_snr": snrs.get(shown), "snr_of": shown,
        "snr_bpfo": snrs["bpfo"], "snr_bpfi": snrs["bpfi"], "snr_bsf": snrs["bsf"],
        "windows": len(mine), "first_degrading_window": first_bad,
        "rpm": fact["rpm"], "fs": fact["fs"], "explanation": verdict[1],
    }


def recordings(data: str | None, which: str) -> list[Recording]:
    """The recordings of ``which`` (``drive-end``, ``fan-end`` or ``both``): from ``data`` (a folder of
    ``.mat`` files or the datasets root) or the datasets root; healthy files join the fan-end set
    on their fan-end channel."""
    wanted = list(SETS) if which == "both" else [which]
    base = Path(data).expanduser() if data else datasets_root()
    if not base.is_dir():
        msg = f"dataset folder not found: {base} (use --data DIR or set TWIN_DATASETS)"
        raise ValueError(msg)
    folders = [base] if any(base.glob("*.mat")) else [base / SETS[w].folder for w in wanted]
    files = sorted({p for f in folders if f.is_dir() for p in f.glob("*.mat")})
    if "fan-end" in wanted and not any(base.glob("*.mat")):
        files += sorted((base / SETS["drive-end"].folder).glob("normal*.mat"))
    recs = [Recording(p, set_of(p.name)) for p in files if set_of(p.name) in wanted]
    if "fan-end" in wanted:
        recs += [Recording(p, "fan-end") for p in files if truth_of(p.name) == "healthy"]
    recs = list(dict.fromkeys(recs))
    if not recs:
        msg = f"no .mat files of set {which} under {base}"
        raise ValueError(msg)
    return recs


def _snr_grid(text: str) -> list[float]:
    """``--logo-snr``: comma-separated positive thresholds."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        msg = f"not a comma-separated list of numbers: {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if not values or not all(np.isfinite(v) and v > 0 for v in values):
        msg = f"thresholds must be positive numbers, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return values


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Parse arguments, run, print the tables and the JSON line; returns the result document."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--set", default="both", choices=["drive-end", "fan-end", "both"],
                   help="which CWRU set(s) to run (default both), with the same configuration")
    p.add_argument("--data", help="a folder of CWRU .mat files, or the datasets root holding cwru/ and "
                   "cwru-fan-end/ (default: $TWIN_DATASETS or <repo>/../shared/datasets)")
    p.add_argument("--config", default=str(CONFIG), help="the benchmark's ONE configuration (TOML)")
    p.add_argument("--out", help="working folder: waveforms, metadata, backtest outputs (default: temporary)")
    p.add_argument("--logo-snr", type=_snr_grid, metavar="LIST",
                   help="also choose defect_min_snr among these by leave-one-group-out (one run each)")
    p.add_argument("--ignore-rpm", action="store_true",
                   help="robustness check: give every file the nominal 1797 rpm, not its RPM variable")
    p.add_argument("--channels", default="own", choices=["own", "both"],
                   help="the set's own accelerometer (default) or both, drive end and fan end, per asset")
    p.add_argument("--progress", action="store_true", help="show a progress bar")
    args = p.parse_args(argv)
    if not Path(args.config).is_file():
        p.error(f"configuration file not found: {args.config}")
    try:
        recs = recordings(args.data, args.set)
    except ValueError as exc:
        p.error(str(exc))
    t = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="twin-cwru-") as tmp:
        out = Path(args.out) if args.out else Path(tmp)
        doc = evaluate(recs, out, Path(args.config), progress=args.progress, ignore_rpm=args.ignore_rpm,
                       channels=args.channels)
        if args.logo_snr:
            sweep = {v: evaluate(recs, out / f"snr-{v:g}", Path(args.config), min_snr=v,
                                 ignore_rpm=args.ignore_rpm, channels=args.channels)["table"]
                     for v in args.logo_snr}
            doc["logo"] = logo_table(sweep)
    doc["seconds"] = round(time.perf_counter() - t, 2)
    report(doc)
    print(json.dumps(doc))
    return doc


if __name__ == "__main__":
    main()
