"""Cost of the per-item guards of the stateful steps: ``twin_update`` bare and guarded.

Run: ``.venv/bin/python benchmarks/bench_guards.py [--windows 3000]``. The guard keeps an exact
undo of each asset's twin (:class:`flows.dataflow.guard.Undo`): a pickled copy per window for a baseline
twin, a checkpoint plus a replayed journal for a novelty twin (4 MB, 40 ms to pickle). Prints
the best of ``--repeat`` interleaved runs in microseconds per window, and a final JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from flows.dataflow.guard import guard_stateful
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.operators import twin_apply, twin_update
from twin_models.records import AssetMetadata, BearingGeometry, FailureThreshold, FeatureVector
from twin_models.twin import TwinConfig

T0 = datetime(2024, 1, 1, tzinfo=UTC)
META = {"p1": AssetMetadata("p1", bearing=BearingGeometry(9, 7.94, 39.04), nominal_speed_hz=25.0,
                            failure_threshold=FailureThreshold("vib.rms", 2.0))}


def windows(kind: str, n: int) -> list[FeatureVector]:
    """A bearing's vibration windows (baseline twin), or one scalar series (novelty twin)."""
    r = random.Random(1)
    out = []
    for i in range(n):
        start = T0 + timedelta(hours=i)
        if kind == "novelty":
            feats = {"value.mean": math.sin(i / 50) + r.gauss(0, 0.1)}
        else:
            feats = {f"vib.{name}": math.exp(r.gauss(0, 0.05)) * base for name, base in
                     (("rms", 0.3), ("kurtosis", 3.0), ("crest_factor", 4.0), ("env_bpfo_amp", 0.01),
                      ("env_bpfi_amp", 0.01), ("env_bsf_amp", 0.01), ("spectral_centroid_hz", 4000.0))}
            feats.update({"temperature.mean": 55 + r.gauss(0, 1), "speed.mean": 24.6 + r.gauss(0, 0.1)})
        out.append(FeatureVector("p1", start, start + timedelta(hours=1), feats, 10, ()))
    return out


def per_window_us(kind: str, items: list[FeatureVector], guarded: bool) -> float:
    """Microseconds per window of the twin step, bare or guarded."""
    cfg, m = TwinConfig(detector=kind), PipelineMetrics()
    step: Any = twin_update(META, cfg, m)
    if guarded:
        apply = twin_apply(META, cfg)
        step = guard_stateful("twin_update", step, lambda s, i: apply(s, i)[0], lambda i: i.asset_id,
                              m, lambda: T0)
    state = None
    t = time.perf_counter()
    for fv in items:
        state, _ = step(state, fv)
    return (time.perf_counter() - t) / len(items) * 1e6


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark and print its figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--windows", type=int, default=3000)
    p.add_argument("--repeat", type=int, default=3, help="interleaved runs; the best of each counts")
    args = p.parse_args(argv)
    out: dict[str, Any] = {"windows": args.windows, "repeat": args.repeat}
    for kind in ("baseline", "novelty"):
        items = windows(kind, args.windows)
        runs = [(per_window_us(kind, items, False), per_window_us(kind, items, True))
                for _ in range(args.repeat)]
        bare, guarded = min(r[0] for r in runs), min(r[1] for r in runs)
        out[f"{kind}_bare_us"] = round(bare, 1)
        out[f"{kind}_guarded_us"] = round(guarded, 1)
        out[f"{kind}_overhead_pct"] = round(100 * (guarded - bare) / bare, 1)
    for k, v in out.items():
        print(f"{k:>24}: {v}")
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
