"""IMS bearing run-to-failure samples through the streaming pipeline: is the BPFO line flagged?

Run: ``.venv/bin/python benchmarks/quality/ims.py [--data DIR] [--config FILE] [--out DIR]``.

The NASA/IMS samples (``ims-samples/``: 20 kHz, 20,480 samples per file, tab separated, one
column per accelerometer; file name = acquisition time) hold three files of set 2 (4 channels =
bearings 1-4), whose test ended with an outer-race failure of bearing 1, plus the first file of
set 1 (8 channels, two per bearing) and the last file of set 3 (4 channels; that test ended with an
outer-race failure of bearing 3). Rexnord ZA-2115 double-row bearings, 16 rollers of 8.4074 mm,
pitch 71.501 mm, 15.17 deg contact angle, 2000 rpm: BPFO 236.4 Hz.

One procedure for every file, ONE configuration (``configs/ims.toml``), ONE backtest:

1. each bearing of each set is an asset (``ims-set2-bearing1``; set 1 bearings have two channels,
   ``vib_x`` and ``vib_y``, the others one, ``vib``); each file is cut into frames of
   ``[benchmark] frame_s`` (5120 samples, 0.256 s) stamped at the file's acquisition time;
2. :func:`flows.app.backtest.run_backtest` over all of them (windows of ``window_s`` = one frame);
3. a (bearing, file) is *flagged* for a defect when a twin snapshot of a window of that file names
   it (``TwinSnapshot.defect``; the evidence says whether it came from the spectrum alone,
   "x the spectral background (SNR)", or from the asset's baseline).

There are only three set-2 files, so there is no healthy baseline worth the name: the twin is in
its warm-up throughout and what flags the last file is the absolute envelope evidence.

Each IMS test began with four new bearings. When a set's first file (:data:`FIRST_FILE`, from
the IMS documentation) is replayed, each of its bearings gets an ``install`` event at that file's
time: the twin knows those bearings are new, so their first windows are their healthy state and
are not held against the generic healthy-bearing limits of the "anomalous" verdict (issue 12; a
real plant knows when it fitted a bearing). ``--unknown-state`` leaves the events out: every
bearing is then a machine of unknown state, judged by the limits as a CWRU recording is.
Per asset, the JSON counts the alerts of healthy bearings (all but :data:`FAILED`, the bearings
whose test ended with their failure) and of the failed ones. The last
set-2 file is almost all quantisation noise (3-4 distinct values per channel) and still carries
the BPFO line. Prints a table, then one JSON line with ``bpfo_flagged_last``, ``bpfo_flagged_first``
(set 2, bearing 1) and the per-file SNRs.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.quality.common import (  # noqa: E402
    WaveRow,
    diagnosis_from_alerts,
    frames_of,
    load_benchmark_config,
    print_table,
    resolve_data_dir,
    run_main,
    window_features,
    write_metadata,
    write_waveforms,
)
from flows.app.backtest import run_backtest  # noqa: E402
from flows.dataflow.sources.files import read_metadata  # noqa: E402
from twin_models.records import BearingGeometry, TwinSnapshot  # noqa: E402

CONFIG = Path(__file__).resolve().parent / "configs" / "ims.toml"
ZA_2115 = BearingGeometry(n_elements=16, ball_diameter_mm=8.4074, pitch_diameter_mm=71.501,
                          contact_angle_deg=15.17)
SHAFT_HZ = 2000.0 / 60.0
SAMPLE_RATE_HZ = 20_000.0
NAME = re.compile(r"^(\d{4})\.(\d{2})\.(\d{2})\.(\d{2})\.(\d{2})\.(\d{2})$")
# test periods (first and last file of each set, IMS documentation)
SETS = {
    1: (datetime(2003, 10, 22, tzinfo=UTC), datetime(2003, 11, 26, tzinfo=UTC)),
    2: (datetime(2004, 2, 12, tzinfo=UTC), datetime(2004, 2, 20, tzinfo=UTC)),
    3: (datetime(2004, 3, 4, tzinfo=UTC), datetime(2004, 4, 19, tzinfo=UTC)),
}
FOCUS = (2, 1)  # set 2, bearing 1: its outer race failed at the end of the test
FAILED = {(2, 1), (3, 3)}  # (set, bearing) whose test ended with its (outer race) failure
# each test's first file (IMS documentation): four new bearings were fitted for every test
FIRST_FILE = {1: datetime(2003, 10, 22, 12, 6, 24, tzinfo=UTC),
              2: datetime(2004, 2, 12, 10, 32, 39, tzinfo=UTC),
              3: datetime(2004, 3, 4, 9, 27, 46, tzinfo=UTC)}


def acquired_at(name: str) -> datetime | None:
    """``2004.02.19.06.22.39`` -> that UTC time; None for other names."""
    m = NAME.match(name)
    return datetime(*map(int, m.groups()), tzinfo=UTC) if m else None


def set_of(t: datetime, n_columns: int) -> int:
    """The IMS test set a file belongs to, from its time (set 1 is also the only 8-channel set)."""
    for k, (lo, hi) in SETS.items():
        if lo <= t < hi:
            return k
    return 1 if n_columns == 8 else 0


def bearing_channels(data: np.ndarray, test_set: int) -> dict[int, dict[str, np.ndarray]]:
    """Bearing number -> its channels: set 1 has two accelerometers per bearing (x, y)."""
    if data.shape[1] == 8:
        return {b: {"vib_x": data[:, 2 * b - 2], "vib_y": data[:, 2 * b - 1]} for b in range(1, 5)}
    return {b: {"vib": data[:, b - 1]} for b in range(1, data.shape[1] + 1)}


def asset_of(test_set: int, bearing: int) -> str:
    return f"ims-set{test_set}-bearing{bearing}"


def prepare(files: list[Path], work: Path, frame_s: float) -> tuple[list[Path], Path, list[dict[str, Any]]]:
    """One waveform Parquet per file (all its bearings), and the metadata TOML."""
    parquets, facts, assets = [], [], {}
    for path in files:
        t0 = acquired_at(path.name)
        assert t0 is not None  # noqa: S101 - filtered by the caller
        data = np.loadtxt(path, ndmin=2)
        test_set = set_of(t0, data.shape[1])
        rows = []
        for bearing, channels in bearing_channels(data, test_set).items():
            asset = asset_of(test_set, bearing)
            assets[asset] = SHAFT_HZ
            cut = {ch: frames_of(x, SAMPLE_RATE_HZ, frame_s) for ch, x in channels.items()}
            for i in range(min(len(v) for v in cut.values())):
                rows.append(WaveRow(t0 + timedelta(seconds=i * frame_s), asset, SAMPLE_RATE_HZ, SHAFT_HZ,
                                    {ch: v[i] for ch, v in cut.items()}))
            facts.append({"file": path.name, "set": test_set, "bearing": bearing, "asset": asset,
                          "t0": t0, "seconds": data.shape[0] / SAMPLE_RATE_HZ,
                          "distinct_values": min(len(np.unique(x)) for x in channels.values()),
                          "channels": list(channels)})
        rows.sort(key=lambda r: (r.timestamp, r.asset_id))  # every bearing of a file: same channels
        parquets.append(write_waveforms(work / "waveforms" / f"{path.name}.parquet", rows))
    meta = write_metadata(work / "metadata.toml", "ims-rexnord-za2115", ZA_2115, assets, SHAFT_HZ)
    return parquets, meta, facts


def write_installs(path: Path, facts: list[dict[str, Any]]) -> Path | None:
    """An ``install`` event per bearing of every set whose first file is replayed, at its time."""
    new = sorted({(f["t0"], f["asset"]) for f in facts if FIRST_FILE.get(f["set"]) == f["t0"]})
    if not new:
        return None
    pq.write_table(pa.table({"timestamp": pa.array([t for t, _ in new], pa.timestamp("us", tz="UTC")),
                             "asset_id": [a for _, a in new], "event": ["install"] * len(new)}), path)
    return path


def _file_windows(snaps: list[TwinSnapshot], t0: datetime, seconds: float) -> list[TwinSnapshot]:
    """The snapshots of windows that hold frames of the file recorded from ``t0`` on."""
    end = t0 + timedelta(seconds=seconds)
    return [s for s in snaps if s.timestamp > t0 and s.window_start < end]


def evaluate(files: list[Path], out: Path, config: Path, progress: bool = False,
             installs: bool = True) -> dict[str, Any]:
    """Run the benchmark; returns the result document (``installs``: see the module doc)."""
    cfg, bench = load_benchmark_config(config)
    frame_s = float(bench.get("frame_s", 0.256))
    parquets, meta_path, facts = prepare(files, out, frame_s)
    events = write_installs(out / "installs.parquet", facts) if installs else None
    start = time.perf_counter()
    res = run_backtest(parquets, out / "backtest", cfg, events=[events] if events else (),
                       metadata=read_metadata(meta_path), progress=progress, report=False)
    seconds = time.perf_counter() - start
    snaps: dict[str, list[TwinSnapshot]] = defaultdict(list)
    for s in sorted(res.snapshots, key=lambda s: s.window_start):
        snaps[s.asset_id].append(s)
    channels = sorted({c for f in facts for c in f["channels"]})
    names = [f"{c}.env_{d}_snr" for c in channels for d in ("bpfo", "bpfi", "bsf")]
    feats = {a: dict(v) for a, v in window_features(res, names).items()}
    alerts = diagnosis_from_alerts(res.alerts)
    table = []
    for f in facts:
        mine = _file_windows(snaps.get(f["asset"], []), f["t0"], f["seconds"])
        per_window = []
        for s in mine:
            w = feats.get(f["asset"], {}).get(s.window_start, {})
            per_window.append({d: round(max((w[k] for c in f["channels"] if (k := f"{c}.env_{d}_snr") in w),
                                            default=float("nan")), 2) for d in ("bpfo", "bpfi", "bsf")})
        named = [s for s in mine if s.defect]
        flags = sorted({s.defect for s in named if s.defect})
        table.append({
            "file": f["file"], "set": f["set"], "bearing": f["bearing"],
            "flagged": ",".join(flags) or "-",
            "source": ",".join(sorted({"spectrum" if "spectral background" in s.evidence else "baseline"
                                       for s in named})) or "-",
            "bpfo_snr_per_window": [w["bpfo"] for w in per_window],
            "max_snr": {d: max((w[d] for w in per_window), default=float("nan"))
                        for d in ("bpfo", "bpfi", "bsf")},
            "windows": len(mine),
            "conditions": [s.condition for s in mine],
            "distinct_values": f["distinct_values"],
            "evidence": next((s.evidence for s in named), ""),
            "asset_alert": alerts.get(f["asset"], (None, ""))[0],
        })
    set2 = sorted({f["t0"] for f in facts if f["set"] == FOCUS[0]})
    focus = {r["file"]: r for r in table if (r["set"], r["bearing"]) == FOCUS}

    def flagged(t: datetime | None) -> bool | None:
        if t is None:
            return None
        row = focus.get(t.strftime("%Y.%m.%d.%H.%M.%S"))
        return None if row is None else "bpfo" in row["flagged"].split(",")

    first, last = (set2[0], set2[-1]) if set2 else (None, None)
    bearings = {f["asset"]: (f["set"], f["bearing"]) for f in facts}
    alerted = {a: kind for a, (kind, _) in alerts.items() if a in bearings}
    healthy_alerted = sorted(f"{a}:{k}" for a, k in alerted.items() if bearings[a] not in FAILED)
    return {
        "benchmark": "ims",
        "install_events": events is not None,
        "healthy_bearings_alerted": healthy_alerted,
        "failed_bearings_alerted": sorted(f"{a}:{k}" for a, k in alerted.items() if bearings[a] in FAILED),
        "healthy_bearings": sum(1 for b in bearings.values() if b not in FAILED),
        "bpfo_flagged_last": flagged(last),
        "bpfo_flagged_first": flagged(first),
        "first_file": first.strftime("%Y.%m.%d.%H.%M.%S") if first else None,
        "last_file": last.strftime("%Y.%m.%d.%H.%M.%S") if last else None,
        "set2_bearing1_bpfo_snr": {k: v["bpfo_snr_per_window"] for k, v in focus.items()},
        "set2_bearing1_evidence_last": focus[last.strftime("%Y.%m.%d.%H.%M.%S")]["evidence"] if last else "",
        "flagged_pairs": [(r["file"], r["set"], r["bearing"], r["flagged"])
                          for r in table if r["flagged"] != "-"],
        "records": res.records,
        "windows": len(res.snapshots),
        "alert_messages": len(res.alerts),
        "pipeline_seconds": round(seconds, 2),
        "config": str(config),
        "frame_s": frame_s,
        "table": table,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Parse arguments, run, print the table and the JSON line; returns the result document."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="ims-samples folder, or the datasets root holding ims-samples/ "
                   "(default: $TWIN_DATASETS/ims-samples or <repo>/../shared/datasets/ims-samples)")
    p.add_argument("--config", default=str(CONFIG), help="the benchmark's ONE configuration (TOML)")
    p.add_argument("--out", help="working folder (default: temporary)")
    p.add_argument("--progress", action="store_true", help="show a progress bar")
    p.add_argument("--unknown-state", action="store_true",
                   help="no install events: every bearing is a machine of unknown state")
    args = p.parse_args(argv)
    data = resolve_data_dir(args.data, "ims-samples", "????.??.??.??.??.??")
    files = sorted((f for f in data.iterdir() if f.is_file() and acquired_at(f.name)),
                   key=lambda f: acquired_at(f.name))  # type: ignore[arg-type,return-value]
    if not files:
        msg = f"no IMS files (named yyyy.mm.dd.hh.mm.ss) in {data}"
        raise SystemExit(msg)
    t = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="twin-ims-") as tmp:
        doc = evaluate(files, Path(args.out) if args.out else Path(tmp), Path(args.config), args.progress,
                       installs=not args.unknown_state)
    doc["seconds"] = round(time.perf_counter() - t, 2)
    print_table(doc["table"], ["file", "set", "bearing", "flagged", "source", "bpfo_snr_per_window",
                               "distinct_values", "asset_alert"])
    print(json.dumps(doc, default=str))
    return doc


if __name__ == "__main__":
    run_main(main, "ims")
