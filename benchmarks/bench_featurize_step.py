"""CPU of the ``featurize_frames`` step alone (``Featurizer.frames``), no broker: round 43, PERF43.

Run: ``.venv/bin/python benchmarks/bench_featurize_step.py [--frames 2048] [--passes 5]``.
The simulator's first ``--frames`` TWF frames (seed 7, 8 assets, one frame a minute), each
encoded and decoded as the Kafka source does, featurised in the step's 256-frame groups with the
heap setting ``twin`` makes (``flows.app.heap.keep_freed_memory``): CPU per frame of each pass
and their median. Then ``frame_quality`` over one 256-frame group alone and with the batch's row
moments, interleaved ``--passes`` x 12 times in this process (the part PERF43 cut). Run it from a
tree's root to measure that tree (``sys.path`` starts at the current folder). Final line: JSON.

The floor (round 44, PERF44): after each pass, the same groups' batched Hann rfft as
``bench_waveform.py``'s floor computes it (float64 2-D array, mean removed, windowed, one
``scipy.fft.rfft``), so each pass has a ratio to a floor measured in the same seconds
(``step_to_floor_median``: the median of the passes' ratios).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from typing import Any

sys.path.insert(0, ".")


def main() -> None:
    """Measure and print the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=2048)
    p.add_argument("--passes", type=int, default=5)
    args = p.parse_args()
    from bench_waveform import _batched_spectrum  # the end-to-end benchmark's floor (its rfft part)
    from prometheus_client import CollectorRegistry

    from flows import codec
    from flows.app.heap import keep_freed_memory
    from flows.dataflow.featurize import MAX_GROUP_FRAMES
    from flows.dataflow.metrics import PipelineMetrics
    from flows.dataflow.operators import Featurizer, OpenWindows
    from flows.dataflow.sources.replayable import encode_record
    from twin_models.records import WaveformFrame
    from twin_models.simulator.fleet import FleetConfig, fleet_metadata, simulate_fleet

    keep_freed_memory()
    n = args.frames
    fleet = FleetConfig(n_assets=8, days=n / 8 * 60 / 86400 * 1.05 + 0.01, seed=7, frame_interval_s=60,
                        scalar_interval_s=1e9)
    sim = itertools.islice((r for r in simulate_fleet(fleet) if isinstance(r, WaveformFrame)), n)
    now = datetime.now(UTC)
    frames = [codec.decode_telemetry(encode_record(f), now=now) for f in sim]
    m = PipelineMetrics(CollectorRegistry())
    fz = Featurizer(fleet_metadata(FleetConfig(n_assets=8, seed=7)), m, OpenWindows(3600.0, m))
    fz.frames(frames[:MAX_GROUP_FRAMES])  # imports, caches
    passes, floors = [], []
    for _ in range(args.passes):
        t = time.process_time()
        for s in range(0, len(frames), MAX_GROUP_FRAMES):
            fz.frames(frames[s : s + MAX_GROUP_FRAMES])
        passes.append((time.process_time() - t) / len(frames) * 1e3)
        t = time.process_time()
        for s in range(0, len(frames), MAX_GROUP_FRAMES):
            _batched_spectrum([f.samples for f in frames[s : s + MAX_GROUP_FRAMES]])
        floors.append((time.process_time() - t) / len(frames) * 1e3)
    ratios = [p / f for p, f in zip(passes, floors, strict=True)]
    out = {"frames": len(frames), "step_ms_per_frame": [round(v, 4) for v in passes],
           "step_median_ms": round(statistics.median(passes), 4),
           "floor_ms_per_frame": [round(v, 4) for v in floors],
           "floor_median_ms": round(statistics.median(floors), 4),
           "step_to_floor_median": round(statistics.median(ratios), 2)}
    out.update(_quality(frames[:MAX_GROUP_FRAMES], args.passes * 12))
    print(json.dumps(out))


def _quality(frames: list[Any], reps: int) -> dict[str, float]:
    """Median CPU ms per frame of ``frame_quality`` alone and with the batch's moments."""
    import numpy as np

    from twin_models.features.batch import frame_features_batch
    from twin_models.quality.stats import frame_quality

    x = np.stack([np.asarray(f.samples) for f in frames])
    fs = frames[0].sample_rate_hz
    try:
        moments: dict[str, object] = {}
        frame_features_batch(x, fs, moments=moments)  # type: ignore[arg-type]
    except TypeError:  # a tree from before PERF43: no moments
        return {}
    alone, reused = [], []
    for _ in range(reps):
        t = time.process_time()
        frame_quality(x, fs)
        alone.append(time.process_time() - t)
        t = time.process_time()
        frame_quality(x, fs, moments)  # type: ignore[arg-type]
        reused.append(time.process_time() - t)
    per = 1e3 / len(frames)
    return {"frame_quality_alone_ms": round(statistics.median(alone) * per, 4),
            "frame_quality_with_moments_ms": round(statistics.median(reused) * per, 4)}


if __name__ == "__main__":
    main()
