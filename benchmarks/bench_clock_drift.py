"""Cost of issue 13's clock and drift checks (part DQ2), per record and per window.

Run: ``.venv/bin/python benchmarks/bench_clock_drift.py [--assets 20] [--seconds 600] [--windows 2000]``.

- clock check at admission (:class:`flows.dataflow.clock_gate.ClockGate`), on what the scalar
  path hands it: 1-Hz scalar samples of ``--assets`` assets x 4 channels one by one (the
  per-record path of a live run) and as column pieces of one asset's batch (the Kafka JSON runs
  and the replays), in microseconds per record;
- the same with the arrival-time check of ``twin run`` (part DQ3: every record carries its Kafka
  timestamp, here the event time + 0.5 s, real time; or a fast replay, arrival 1000x slower than
  event time), the note of each record's arrival (what the decode step adds) included; all the
  assets in one source partition (the most peers to compare with);
- the data-quality monitor's window (:class:`twin_models.quality.QualityMonitor.update`, every
  check) of an asset with 4 scalar channels (6 readings each) and a vibration channel, with the
  drift check (units temperature and current: two River regressions) and without it (no units),
  in microseconds per window: the difference is the drift check's cost.

Prints the best of ``--repeat`` runs and a final JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from flows.dataflow.clock_gate import ClockGate
from flows.dataflow.items import ScalarColumns
from flows.dataflow.metrics import PipelineMetrics
from twin_models.quality.monitor import QualityMonitor
from twin_models.quality.stats import ChannelStats, scalar_channel_stats
from twin_models.records import EPOCH, AssetMetadata, ScalarSample, SensorSpec

T0 = datetime(2026, 1, 1, tzinfo=UTC)
CHANNELS = ("temperature", "current", "speed", "load")
UNITS = ("degC", "A", "Hz", "fraction")


def _samples(assets: int, seconds: int) -> list[ScalarSample]:
    rng = np.random.default_rng(1)
    return [ScalarSample(f"a{a}", c, T0 + timedelta(seconds=s), float(rng.normal()))
            for s in range(seconds) for a in range(assets) for c in CHANNELS]


def _pieces(assets: int, seconds: int, batch: int = 500) -> list[ScalarColumns]:
    rng = np.random.default_rng(2)
    out = []
    per = max(1, batch // len(CHANNELS))
    for start in range(0, seconds, per):
        secs = np.arange(start, min(seconds, start + per))
        times = ((T0 - EPOCH) // timedelta(microseconds=1) + np.repeat(secs, len(CHANNELS)) * 1_000_000)
        idx = np.tile(np.arange(len(CHANNELS), dtype=np.int16), len(secs))
        for a in range(assets):
            out.append(ScalarColumns.of(f"a{a}", times.astype(np.int64), idx.copy(), CHANNELS,
                                        rng.normal(size=len(times))))
    return out


def _gate_us(items: list[Any], n_records: int, speed: float = 0.0) -> float:
    """CPU us per record of the clock gate; ``speed`` > 0: with arrival times (event time runs
    ``speed`` x faster than arrival time, + 0.5 s of lag)."""
    gate = ClockGate(600.0, 60.0, PipelineMetrics(), lambda: T0)
    base = (T0 - EPOCH).total_seconds()

    def arrival(item: Any) -> Any:
        if type(item) is ScalarColumns:
            return "0", base + (item.times_us / 1e6 - base) / speed + 0.5
        return "0", base + (item.timestamp.timestamp() - base) / speed + 0.5

    t = time.process_time()
    for k in range(0, len(items), 256):  # Bytewax-like batches
        batch = items[k:k + 256]
        if speed > 0:
            gate(batch, {id(x): arrival(x) for x in batch})
        else:
            gate(batch)
    return (time.process_time() - t) / n_records * 1e6


def _windows(n: int) -> list[tuple[datetime, dict[str, ChannelStats]]]:
    rng = np.random.default_rng(3)
    out = []
    for k in range(n):
        t = k * 3600.0 + np.arange(6) * 600.0 + (T0 - EPOCH).total_seconds()
        load = 0.6 + 0.2 * np.sin(k / 7.0) + rng.normal(0, 0.01, 6)
        cols = {"temperature": 40 + 20 * load + rng.normal(0, 0.2, 6),
                "current": 6 + 12 * load + rng.normal(0, 0.1, 6),
                "speed": 24.5 + rng.normal(0, 0.02, 6), "load": load}
        stats: dict[str, ChannelStats] = {c: scalar_channel_stats(t, v) for c, v in cols.items()}
        stats["vib"] = ChannelStats("waveform", 2, float(t[0]), float(t[-1]), max_dt=1800.0,
                                    median_dt=1800.0, spread=1.0, rate_lo=25600.0, rate_hi=25600.0)
        out.append((EPOCH + timedelta(seconds=(k + 1) * 3600.0 + (T0 - EPOCH).total_seconds()), stats))
    return out


def _monitor_us(windows: list[tuple[datetime, dict[str, ChannelStats]]], drift: bool) -> float:
    units = UNITS if drift else ("",) * len(UNITS)
    sensors = (SensorSpec("vib", "waveform", "g"),
               *(SensorSpec(c, "scalar", u) for c, u in zip(CHANNELS, units, strict=True)))
    monitor = QualityMonitor(AssetMetadata("a0", sensors=sensors))
    t = time.process_time()
    for end, stats in windows:
        monitor.update(end, stats)
    return (time.process_time() - t) / len(windows) * 1e6


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Measure and print the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--assets", type=int, default=20)
    p.add_argument("--seconds", type=int, default=600)
    p.add_argument("--windows", type=int, default=2000)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    samples = _samples(args.assets, args.seconds)
    pieces = _pieces(args.assets, args.seconds)
    windows = _windows(args.windows)
    names = ("clock_us_per_sample_one_by_one", "clock_us_per_sample_columns",
             "arrival_realtime_us_per_sample_one_by_one", "arrival_realtime_us_per_sample_columns",
             "arrival_replay_us_per_sample_one_by_one", "arrival_replay_us_per_sample_columns",
             "monitor_us_per_window_no_drift", "monitor_us_per_window_with_drift")
    res: dict[str, list[float]] = {k: [] for k in names}
    for _ in range(args.repeat):
        res["clock_us_per_sample_one_by_one"].append(_gate_us(list(samples), len(samples)))
        res["clock_us_per_sample_columns"].append(_gate_us(list(pieces), len(samples)))
        for mode, speed in (("realtime", 1.0), ("replay", 1000.0)):
            n = len(samples)
            res[f"arrival_{mode}_us_per_sample_one_by_one"].append(_gate_us(list(samples), n, speed))
            res[f"arrival_{mode}_us_per_sample_columns"].append(_gate_us(list(pieces), n, speed))
        res["monitor_us_per_window_no_drift"].append(_monitor_us(windows, drift=False))
        res["monitor_us_per_window_with_drift"].append(_monitor_us(windows, drift=True))
    out: dict[str, Any] = {k: round(min(v), 3) for k, v in res.items()}
    out["drift_us_per_window"] = round(out["monitor_us_per_window_with_drift"]
                                       - out["monitor_us_per_window_no_drift"], 1)
    for k, v in out.items():
        print(f"{k:36s} {v}")
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
