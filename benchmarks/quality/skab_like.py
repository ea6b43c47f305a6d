"""A SKAB-like multivariate test bench: a simulated pump rig, 8 sensors at 1 Hz, injected faults.

SKAB itself is held out (never downloaded). This bench stands in for it with the same shape: one
experiment per file, eight scalar channels of a water-pump rig sampled at 1 Hz, a run of normal
operation, then an anomaly of a few minutes with its ground truth (start and end changepoints),
then normal again. Each channel follows from a small physical model of the rig:

- shaft speed ``w`` wanders slowly (+-2 %) around 1 (per-unit); valve opening ``v`` (1 open);
- pump head ``H = a w^2 - b Q^2`` against a system ``H = k Q^2 / v^2`` gives the flow
  ``Q = w sqrt(a / (b + k / v^2))``; ``pressure`` is the head (bar), ``flow_rate`` Q (m^3/h);
- ``current`` from the shaft power ``Q H / eta`` plus no-load current, ``voltage`` sags with it;
- ``temperature`` (motor) and ``thermocouple`` (fluid): first-order lags toward levels set by the
  electrical and hydraulic losses (tau 300 s and 600 s);
- ``accelerometer1_rms`` / ``accelerometer2_rms``: ``w^2 (u0 + u)`` (residual + extra unbalance),
  plus broadband noise; every sensor has ~1 % white noise.

Faults (one per experiment; ``normal`` files have none): ``valve_closure`` (the valve steps to 55 %
open: flow falls, pressure rises, current falls), ``cavitation`` (inlet pressure lost: head -12 %,
flow and vibration noise x4, vibration level +30 %) and ``imbalance`` (unbalance ramps to +60 % of
vibration in 60 s). The label of a row is 1 inside ``[start, end)``.

:func:`side_by_side` writes the bench, runs ``twin backtest`` once per detector with ONE
configuration (``configs/skab_like.toml``, only ``twin.detector`` changed) and scores the alerts:
event F1 (an alert whose first window closes in ``[start, end + 60 s)`` detects the event; any
other raised alert is a false alarm), false alarms per hour of normal operation, detection delay
(from the fault's start to the close of the alert's first window), and the point-wise F1 of
SKAB (a window flagged when its score reaches the policy's ``raise_score``).
"""

from __future__ import annotations

import csv
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "configs" / "skab_like.toml"
CHANNELS = ("accelerometer1_rms", "accelerometer2_rms", "current", "pressure", "temperature",
            "thermocouple", "voltage", "flow_rate")
FAULTS = ("valve_closure", "cavitation", "imbalance")
T0 = datetime(2026, 1, 5, tzinfo=UTC)
TOLERANCE_S = 60.0


@dataclass(frozen=True)
class Experiment:
    """One file of the bench: its rows (n, 8), the fault and the anomaly's rows ``[start, end)``."""

    name: str
    fault: str
    rows: np.ndarray
    start: int | None
    end: int | None

    def labels(self) -> np.ndarray:
        """1 inside the anomaly, else 0 (one per row)."""
        out = np.zeros(self.rows.shape[0], dtype=np.int8)
        if self.start is not None:
            out[self.start:self.end] = 1
        return out


def _lag(target: np.ndarray, tau: float, x0: float) -> np.ndarray:
    out, x = np.empty_like(target), x0
    a = 1.0 / tau
    for i, t in enumerate(target):
        x += a * (t - x)
        out[i] = x
    return out


def experiment(fault: str, seed: int, n: int = 2400) -> Experiment:
    """One experiment of ``n`` seconds; the fault (if any) starts at 1200-1800 s, lasts 240-600 s."""
    if fault not in (*FAULTS, "normal"):
        msg = f"unknown fault {fault!r}: one of {', '.join((*FAULTS, 'normal'))}"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=float)
    walk = np.cumsum(rng.normal(0, 1, n))
    walk = (walk - np.linspace(walk[0], walk[-1], n)) / (np.abs(walk).max() + 1e-9)
    w = 1.0 + 0.01 * np.sin(2 * np.pi * t / rng.uniform(400, 900) + rng.uniform(0, 6)) + 0.01 * walk
    v, u, head_k, noise_k = np.ones(n), np.zeros(n), np.ones(n), np.ones(n)
    start = end = None
    if fault != "normal":
        start = int(rng.integers(1200, 1800))
        end = start + int(rng.integers(240, 600))
        on = slice(start, end)
        if fault == "valve_closure":
            v[on] = 0.55
        elif fault == "cavitation":
            head_k[on], noise_k[on] = 0.88, 4.0
            u[on] = 0.3
        else:
            u[on] = 0.6 * np.minimum(1.0, (t[on] - start) / 60.0)
    a, b, k, eta = 4.0, 0.8, 1.6, 0.7
    q = w * np.sqrt(a / (b + k / v**2)) * np.sqrt(head_k)
    head = (a * w**2 - b * q**2) * head_k
    q = q * (1 + 0.01 * noise_k * rng.normal(0, 1, n))
    power = q * head / eta
    current = 2.0 + 3.0 * power
    temp = _lag(40.0 + 4.0 * current, 300.0, 40.0 + 4.0 * current[0])
    fluid = _lag(20.0 + 6.0 * power * (1 - eta) / eta, 600.0, 20.0 + 6.0 * power[0] * (1 - eta) / eta)
    vib = w**2 * (1.0 + u)
    cols = [vib * (1 + 0.02 * noise_k * rng.normal(0, 1, n)),
            0.6 * vib * (1 + 0.02 * noise_k * rng.normal(0, 1, n)),
            current * (1 + 0.01 * rng.normal(0, 1, n)),
            head * (1 + 0.01 * noise_k * rng.normal(0, 1, n)),
            temp + 0.1 * rng.normal(0, 1, n),
            fluid + 0.1 * rng.normal(0, 1, n),
            230.0 - 0.8 * current + 0.5 * rng.normal(0, 1, n),
            q * 10.0]
    return Experiment(f"{fault}_{seed}", fault, np.column_stack(cols), start, end)


def bench(seeds: int = 4, normal: int = 3) -> list[Experiment]:
    """The bench: ``seeds`` experiments per fault and ``normal`` fault-free ones (fixed seeds)."""
    out = [experiment(f, 100 * i + s) for i, f in enumerate(FAULTS, 1) for s in range(seeds)]
    return out + [experiment("normal", 900 + s) for s in range(normal)]


def write_csv(exp: Experiment, folder: Path) -> Path:
    """The experiment as a scalar table ``timestamp, asset_id, <channels>`` (asset = its name)."""
    path = folder / f"{exp.name}.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["timestamp", "asset_id", *CHANNELS])
        for i, row in enumerate(exp.rows):
            ts = (T0 + timedelta(seconds=i)).isoformat()
            w.writerow([ts, exp.name, *(f"{x:.6g}" for x in row)])
    return path


def score(exps: list[Experiment], alerts: dict[str, list[float]], flagged: dict[str, np.ndarray],
          warmup_s: float) -> dict[str, Any]:
    """Event F1, false alarms per normal hour, delays and point-wise F1 of one detector's run.

    ``alerts``: raise times (s from the file's start) per experiment; ``flagged``: 0/1 per row."""
    tp = fn = fp = 0
    delays: list[float] = []
    normal_s = 0.0
    pt = np.zeros(3)  # point-wise tp, fp, fn
    for e in exps:
        raised = sorted(alerts.get(e.name, []))
        hit = [r for r in raised if e.start is not None and e.end is not None
               and e.start <= r < e.end + TOLERANCE_S]
        fp += sum(1 for r in raised if r >= warmup_s and r not in hit)
        if e.start is not None:
            tp, fn = tp + bool(hit), fn + (not hit)
            if hit:
                delays.append(hit[0] - e.start)
        span = (e.end - e.start + TOLERANCE_S) if e.start is not None and e.end is not None else 0.0
        normal_s += e.rows.shape[0] - warmup_s - span
        lab, fl = e.labels()[int(warmup_s):], flagged[e.name][int(warmup_s):]
        pt += [np.sum((fl == 1) & (lab == 1)), np.sum((fl == 1) & (lab == 0)), np.sum((fl == 0) & (lab == 1))]
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    pf1 = 2 * pt[0] / (2 * pt[0] + pt[1] + pt[2]) if pt[0] else 0.0
    return {"events": tp + fn, "detected": tp, "missed": fn, "false_alarms": fp,
            "event_f1": round(f1, 3), "false_alarms_per_h": round(3600 * fp / normal_s, 3),
            "median_delay_s": round(float(np.median(delays)), 1) if delays else None,
            "pointwise_f1": round(float(pf1), 3)}


def run_detector(detector: str, files: list[Path], work: Path) -> tuple[Path, float]:
    """``twin backtest`` of the bench with the configuration, ``twin.detector`` replaced."""
    from benchmarks.quality.river_side_by_side import _config_with

    cfg = _config_with(CONFIG, detector, work / f"{detector.rsplit('.', 1)[-1]}.toml")
    out = work / f"out_{detector.rsplit('.', 1)[-1]}"
    cmd = [sys.executable, "-m", "flows.cli", "backtest", "--out", str(out), "--config", str(cfg),
           "--no-report", "--no-progress", *map(str, files)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=HERE.parents[1])
    return out, time.perf_counter() - t0


def side_by_side(detectors: list[str] | tuple[str, ...], progress: bool = True) -> list[dict[str, Any]]:
    """Write the bench, run each detector through ``twin backtest``, score it (one row each)."""
    import tomllib

    from tqdm import tqdm

    cfg = tomllib.loads(CONFIG.read_text())["pipeline"]
    window_s = float(cfg["window_s"])
    warmup_s = window_s * float(cfg["twin"]["warmup_windows"])
    raise_score = float(cfg.get("alerts", {}).get("raise_score", 0.999))
    exps = bench()
    rows = []
    with tempfile.TemporaryDirectory(prefix="twinflow-skab-like-") as tmp:
        work = Path(tmp)
        files = [write_csv(e, work) for e in exps]
        for det in tqdm(detectors, desc="skab-like", disable=not progress):
            out, wall = run_detector(det, files, work)
            al = pq.read_table(out / "alerts.parquet").to_pylist()
            alerts: dict[str, list[float]] = {}
            for a in al:
                if a.get("status") == "raised":
                    # detected when its first bad window closes (a window may start before the fault)
                    closed = (a["started_at"] - T0).total_seconds() + window_s
                    alerts.setdefault(a["asset_id"], []).append(closed)
            sc = pq.read_table(out / "scores.parquet", columns=["asset_id", "window_start", "anomaly_score"])
            flagged = {e.name: np.zeros(e.rows.shape[0], dtype=np.int8) for e in exps}
            for a, ws, s in zip(*(sc.column(c).to_pylist() for c in sc.column_names), strict=True):
                if s is not None and s >= raise_score:
                    lo = int((ws - T0).total_seconds())
                    flagged[a][lo:lo + int(window_s)] = 1
            rows.append({"task": "skab_like", "candidate": det, **score(exps, alerts, flagged, warmup_s),
                         "wall_s": round(wall, 1)})
            print(rows[-1], file=sys.stderr, flush=True)
    return rows
