"""Shared plumbing of the detection-quality benchmarks (CWRU, IMS).

Every benchmark does the same four things, so that its numbers come from the streaming pipeline
and nothing else: write the recordings as waveform Parquet files (``flows.dataflow.sources.readers``
format: ``timestamp, asset_id, sample_rate_hz, shaft_speed_hz, <channel>``: list<float32>) plus a
metadata TOML, load ONE configuration file for the whole benchmark, run ONE
:func:`flows.app.backtest.run_backtest` over all files, and read the verdict per asset off the twin's
alerts and snapshots (and the per-window features of the archive, for the table).
"""

from __future__ import annotations

import json
import os
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from flows.app.backtest import BacktestResult
from flows.archive.query import ArchiveError, query
from flows.config.pipeline import PipelineConfig, load_config
from flows.config.values import ConfigError
from twin_models.records import Alert, BearingGeometry, TwinSnapshot

__all__ = [
    "REPO_ROOT",
    "WaveRow",
    "benchmark_settings",
    "datasets_root",
    "diagnosis_from_alerts",
    "load_benchmark_config",
    "print_table",
    "run_main",
    "window_features",
    "write_metadata",
    "write_waveforms",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
CHANNEL = "vib"
DEFECTS = ("bpfo", "bpfi", "bsf")


def datasets_root() -> Path:
    """``$TWIN_DATASETS`` if set, else ``<repo>/../shared/datasets`` (may not exist)."""
    env = os.environ.get("TWIN_DATASETS")
    return Path(env).expanduser() if env else REPO_ROOT.parent / "shared" / "datasets"


def run_main(main: Callable[[], object], prog: str) -> None:
    """Run a benchmark's ``main`` as a command: a missing dataset or file, or a refused
    configuration, is one line ``prog: problem`` on stderr and exit 2 (a message given to
    ``SystemExit`` alone would exit 1); a ``main`` that returns its summary (a dict, already
    printed) exits 0; anything else is left as it is."""
    try:
        code = main()
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            raise
        print(f"{prog}: {exc.code}", file=sys.stderr)
        code = 2
    except (ConfigError, FileNotFoundError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        code = 2
    sys.exit(code if type(code) is int else 0)  # a summary dict given to sys.exit: printed again, exit 1


def resolve_data_dir(given: str | None, name: str, probe: str) -> Path:
    """The directory of dataset ``name``: ``given`` (or its ``name/`` subfolder when ``given`` is
    the datasets root, i.e. holds no ``probe`` files), else ``datasets_root()/name``."""
    base = Path(given).expanduser() if given else datasets_root() / name
    if given and not any(base.glob(probe)) and (base / name).is_dir():
        base = base / name
    if not base.is_dir():
        msg = f"dataset folder not found: {base} (use --data DIR or set TWIN_DATASETS)"
        raise SystemExit(msg)
    return base


def load_benchmark_config(path: str | Path) -> tuple[PipelineConfig, dict[str, Any]]:
    """The pipeline configuration of the file (no ``TWIN_*`` environment: a benchmark is
    reproducible) and its ``[benchmark]`` table (data preparation: frame length ...)."""
    cfg = load_config(path, env={})
    return cfg, benchmark_settings(path)


def benchmark_settings(path: str | Path) -> dict[str, Any]:
    """The ``[benchmark]`` table of a configuration file (empty if absent)."""
    import tomllib

    return dict(tomllib.loads(Path(path).read_text()).get("benchmark", {}))


@dataclass(frozen=True)
class WaveRow:
    """One frame of one asset: ``channels`` maps channel name -> samples (same length)."""

    timestamp: datetime
    asset_id: str
    sample_rate_hz: float
    shaft_speed_hz: float | None
    channels: Mapping[str, np.ndarray]


def frames_of(x: np.ndarray, fs: float, frame_s: float) -> list[np.ndarray]:
    """Consecutive non-overlapping frames of ``frame_s`` seconds (the remainder is dropped)."""
    n = int(round(frame_s * fs))
    if n < 256:
        msg = f"a frame of {frame_s} s at {fs} Hz has only {n} samples"
        raise ValueError(msg)
    return [x[i : i + n] for i in range(0, x.size - n + 1, n)]


def write_waveforms(path: Path, rows: Sequence[WaveRow]) -> Path:
    """A waveform Parquet file: one row per frame, one list<float32> column per channel (the
    channels of the first row; a row without one of them leaves a null frame, which is skipped)."""
    channels = list(rows[0].channels) if rows else [CHANNEL]
    columns: dict[str, pa.Array] = {
        "timestamp": pa.array([r.timestamp for r in rows], pa.timestamp("us", tz="UTC")),
        "asset_id": pa.array([r.asset_id for r in rows], pa.string()),
        "sample_rate_hz": pa.array([r.sample_rate_hz for r in rows], pa.float64()),
        "shaft_speed_hz": pa.array([r.shaft_speed_hz for r in rows], pa.float64()),
    }
    for ch in channels:
        columns[ch] = pa.array(
            [None if r.channels.get(ch) is None else np.asarray(r.channels[ch], dtype=np.float32)
             for r in rows], pa.list_(pa.float32()))
    table = pa.table(columns)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def _toml_value(v: Any) -> str:
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(float(v)) if isinstance(v, float) else str(v)


def _bearing_toml(geometry: BearingGeometry) -> str:
    """The inline TOML table of a bearing geometry."""
    bearing = {
        "n_elements": geometry.n_elements,
        "ball_diameter_mm": geometry.ball_diameter_mm,
        "pitch_diameter_mm": geometry.pitch_diameter_mm,
        "contact_angle_deg": geometry.contact_angle_deg,
    }
    return "bearing = { " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in bearing.items()) + " }"


def write_metadata(path: Path, kind: str, geometry: BearingGeometry,
                   speeds_hz: Mapping[str, float], default_speed_hz: float,
                   geometries: Mapping[str, BearingGeometry] | None = None) -> Path:
    """Metadata TOML: ``[defaults]`` (kind, bearing, nominal speed) and one table per asset with
    its own nominal speed (what the frames carry anyway) and, if ``geometries`` names it, its own
    bearing."""
    lines = ["[defaults]", f"kind = {_toml_value(kind)}",
             f"nominal_speed_hz = {_toml_value(default_speed_hz)}", _bearing_toml(geometry), ""]
    for asset, speed in speeds_hz.items():
        lines += [f"[{json.dumps(asset)}]", f"nominal_speed_hz = {_toml_value(speed)}"]
        if geometries and asset in geometries:
            lines.append(_bearing_toml(geometries[asset]))
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path


def diagnosis_from_alerts(alerts: Iterable[Alert]) -> dict[str, tuple[str | None, str]]:
    """Per asset: ``(diagnosis, explanation)`` from its alerts.

    The diagnosis is the defect of the asset's last message that names one (an episode's
    diagnosis is the majority over its windows); an alert that never names a defect gives its
    verdict, ``"anomalous"`` (not localised, issue 12), or ``"unexplained"`` when it has none (an
    asset without a verdict); an asset without alerts is absent (healthy). The explanation is that
    of the message the diagnosis came from.
    """
    by_asset: dict[str, list[Alert]] = defaultdict(list)
    for a in alerts:
        by_asset[a.asset_id].append(a)
    out: dict[str, tuple[str | None, str]] = {}
    for asset, msgs in by_asset.items():
        msgs.sort(key=lambda a: (a.timestamp, a.sequence))
        named = [a for a in msgs if a.defect]
        last = named[-1] if named else msgs[-1]
        out[asset] = (last.defect if named else (last.verdict or "unexplained"), last.explanation)
    return out


Windows = list[tuple[datetime, dict[str, float]]]


def window_features(result: BacktestResult, names: Sequence[str]) -> dict[str, Windows]:
    """Per asset, in time order: ``(window_start, {name: value})`` from the run's feature archive."""
    cols = ", ".join(f'"{n}"' for n in names)
    sql = f"SELECT asset_id, window_start, {cols} FROM features ORDER BY asset_id, window_start"
    try:
        _, rows = query(result.out / "archive", sql)
    except ArchiveError:
        return {}
    out: dict[str, Windows] = defaultdict(list)
    for asset, start, *values in rows:
        out[asset].append((start, {n: float(v) for n, v in zip(names, values, strict=True) if v is not None}))
    return dict(out)


def snapshots_by_asset(snaps: Iterable[TwinSnapshot]) -> dict[str, list[TwinSnapshot]]:
    """The twin's snapshots per asset, in window order."""
    out: dict[str, list[TwinSnapshot]] = defaultdict(list)
    for s in snaps:
        out[s.asset_id].append(s)
    for v in out.values():
        v.sort(key=lambda s: s.window_start)
    return dict(out)


def median_snrs(windows: Sequence[tuple[datetime, dict[str, float]]],
                channels: Sequence[str] = (CHANNEL,)) -> dict[str, float]:
    """Median over windows of each defect's ``<channel>.env_<defect>_snr`` (the largest over
    ``channels`` in each window); NaN when no window has it."""
    out = {}
    for d in DEFECTS:
        vals = [max(f[k] for k in keys) for _, f in windows
                if (keys := [f"{c}.env_{d}_snr" for c in channels if f"{c}.env_{d}_snr" in f])]
        out[d] = round(float(np.median(vals)), 2) if vals else float("nan")
    return out


def print_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], file: Any = None) -> None:
    """A plain text table (stdout by default)."""
    file = file or sys.stdout
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c)
              for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)), file=file)
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)), file=file)


def spaced_starts(durations_s: Sequence[float], t0: datetime, gap_s: float = 60.0) -> list[datetime]:
    """Start times that replay recordings one after another in event time (whole seconds)."""
    out, t = [], t0
    for d in durations_s:
        out.append(t)
        t = t + timedelta(seconds=int(np.ceil(d + gap_s)))
    return out
