"""The twin's verdict on CWRU files of either bearing: healthy, anomalous (not localised) or a defect.

Run: ``.venv/bin/python benchmarks/quality/cwru_verdict.py --data DIR [--sensor FE] [--bearing 6203]``.

The same procedure as ``benchmarks/quality/cwru.py`` (one frame of ``[benchmark] frame_s`` per
window, ONE backtest over all files with ONE configuration, the file's diagnosis read off its
twin's alerts), with the sensor (``DE`` drive end, ``FE`` fan end) and the bearing geometry
(``6205`` drive end, ``6203`` fan end, from the datasets README) as arguments, so the fan-end set
(``cwru-fan-end/``) can be read with the accelerometer next to its faulty bearing. It counts the
outcomes (a defect name, ``anomalous``, ``healthy``) per truth and per group (load in hp, fault
size): nothing is chosen on these files (the verdict's limits are physics, see
``twin_models.diagnosis.abnormality``), so every group's figure is a left-out figure.
Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.quality.common import (  # noqa: E402
    CHANNEL,
    WaveRow,
    diagnosis_from_alerts,
    frames_of,
    load_benchmark_config,
    print_table,
    snapshots_by_asset,
    spaced_starts,
    write_metadata,
    write_waveforms,
)
from benchmarks.quality.cwru import CONFIG, NOMINAL_RPM, SKF_6205, T0, sample_rate_of, truth_of  # noqa: E402
from flows.app.backtest import run_backtest  # noqa: E402
from flows.dataflow.sources.files import read_metadata  # noqa: E402
from twin_models.records import BearingGeometry  # noqa: E402

INCH_MM = 25.4
SKF_6203 = BearingGeometry(n_elements=8, ball_diameter_mm=0.2656 * INCH_MM,
                           pitch_diameter_mm=1.122 * INCH_MM, contact_angle_deg=0.0)
BEARINGS = {"6205": SKF_6205, "6203": SKF_6203}


def read_sensor(path: Path, sensor: str) -> tuple[np.ndarray, float]:
    """(samples of ``X<id>_<sensor>_time``, shaft Hz from the file's RPM or the nominal speed)."""
    mat = scipy.io.loadmat(path)
    keys = sorted(k for k in mat if re.fullmatch(rf"X\d+_{sensor}_time", k))
    if not keys:
        msg = f"{path.name}: no X<id>_{sensor}_time variable"
        raise ValueError(msg)
    rpm = [float(np.ravel(mat[k])[0]) for k in mat if re.fullmatch(r"X\d+RPM", k)]
    shaft = rpm[0] / 60.0 if rpm and np.isfinite(rpm[0]) and rpm[0] > 0 else NOMINAL_RPM / 60.0
    return np.asarray(mat[keys[0]], dtype=np.float64).ravel(), shaft


def groups_of(name: str) -> dict[str, str]:
    """Load (hp) and fault size (thousandths of an inch) from a CWRU file name."""
    m = re.search(r"(?:IR|OR|B)(\d{3})(?:@\d+)?_(\d)_", name)
    return {"load_hp": m.group(2), "size": m.group(1)} if m else {"load_hp": "?", "size": "-"}


def run(files: list[Path], sensor: str, geometry: BearingGeometry, out: Path) -> list[dict[str, Any]]:
    """One backtest over every file; one row per file."""
    cfg, bench = load_benchmark_config(CONFIG)
    frame_s = float(bench.get("frame_s", 1.0))
    signals = []
    for path in files:
        x, shaft = read_sensor(path, sensor)
        signals.append((path, x, sample_rate_of(path.name, 12_000.0), shaft))
    starts = spaced_starts([x.size / fs for _, x, fs, _ in signals], T0)
    parquets = []
    for (path, x, fs, shaft), start in zip(signals, starts, strict=True):
        rows = [WaveRow(start + timedelta(seconds=i * frame_s), path.stem, fs, shaft, {CHANNEL: f})
                for i, f in enumerate(frames_of(x, fs, frame_s))]
        parquets.append(write_waveforms(out / "waveforms" / f"{path.stem}.parquet", rows))
    meta = write_metadata(out / "metadata.toml", "cwru", geometry,
                          {p.stem: s for p, _, _, s in signals}, NOMINAL_RPM / 60.0)
    res = run_backtest(parquets, out / "backtest", cfg, metadata=read_metadata(meta), progress=False,
                       report=False)
    diagnosis = diagnosis_from_alerts(res.alerts)
    snaps = snapshots_by_asset(res.snapshots)
    table = []
    for path in files:
        diag, _ = diagnosis.get(path.stem, ("healthy", ""))
        verdicts = Counter(getattr(s, "verdict", "") or "-" for s in snaps.get(path.stem, []))
        table.append({"file": path.name, "truth": truth_of(path.name) or "?", "outcome": diag,
                      **groups_of(path.name),
                      "windows": " ".join(f"{k}:{v}" for k, v in sorted(verdicts.items()))})
    return table


def summary(table: list[dict[str, Any]]) -> dict[str, Any]:
    """Outcome counts per truth, and faults called healthy per group."""
    by_truth: dict[str, Counter[str]] = {}
    for r in table:
        outcome = r["outcome"] if r["outcome"] in ("healthy", "anomalous") else (
            "right" if r["outcome"] == r["truth"] else "wrong defect")
        by_truth.setdefault(r["truth"], Counter())[outcome] += 1
    faults = [r for r in table if r["truth"] not in ("healthy", "?")]
    per_group: dict[str, dict[str, int]] = {}
    for key in ("load_hp", "size"):
        for r in faults:
            g = per_group.setdefault(f"{key}={r[key]}", {"faults": 0, "called_healthy": 0})
            g["faults"] += 1
            g["called_healthy"] += r["outcome"] == "healthy"
    return {"by_truth": {t: dict(c) for t, c in sorted(by_truth.items())},
            "faults": len(faults), "faults_called_healthy": sum(r["outcome"] == "healthy" for r in faults),
            "faults_called_anomalous": sum(r["outcome"] == "anomalous" for r in faults),
            "per_group": per_group}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Parse arguments, run, print the table and the JSON line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="folder of CWRU .mat files")
    p.add_argument("--sensor", default="DE", choices=("DE", "FE"), help="accelerometer (default DE)")
    p.add_argument("--bearing", default="6205", choices=sorted(BEARINGS), help="geometry (default 6205)")
    args = p.parse_args(argv)
    files = sorted(Path(args.data).glob("*.mat"))
    if not files:
        print(f"cwru_verdict: no .mat files in {args.data}", file=sys.stderr)
        raise SystemExit(2)
    with tempfile.TemporaryDirectory(prefix="twin-cwru-verdict-") as tmp:
        table = run(files, args.sensor, BEARINGS[args.bearing], Path(tmp))
    print_table(table, ["file", "truth", "outcome", "load_hp", "size", "windows"])
    doc = {"benchmark": "cwru_verdict", "data": args.data, "sensor": args.sensor,
           "bearing": args.bearing, **summary(table), "table": table}
    print(json.dumps(doc))
    return doc


if __name__ == "__main__":
    main()
