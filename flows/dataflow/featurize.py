"""The ``featurize_frames`` step over Bytewax batches: frames featurised together, one 2-D array
per (sample rate, frame length), guarded frame by frame.

Why batches: per frame, the feature library makes about a hundred small numpy/scipy calls whose
overhead, not arithmetic, dominated the waveform path (``benchmarks/RESULTS.md``, issue 10). Over
a batch each becomes one call (:func:`twin_models.features.batch.frame_features_batch`). The step
is stateless, so batching changes no recovery state, and a frame's features do not depend on the
frames it is batched with, so outputs do not depend on how a source batches its records.

Guard: if a group raises, its frames are featurised one by one and only a frame that raises on
its own becomes a ``processing_error`` dead letter (as under :func:`flows.dataflow.guard.guard_map`).
A frame whose features cannot be computed at its scale (it deviates from its mean by more than
1e60, or by less than 1e-60 and not 0: :class:`~twin_models.features.batch.OutOfScale`) is a
``frame_out_of_scale`` dead letter naming the frame and its deviation, and its group's other frames
are featurised together without it (round 41, TIDY41b: the batch gave it non-finite features and the
twin step then refused its whole window). Items keep their order.
``twin_step_call_seconds{step="featurize_frames"}`` observes one call per batch that holds frames
(the time the flow spends in the step at once).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from flows.dataflow.guard import processing_error, refused_frame
from flows.dataflow.items import ClockFlag, DeadLetter, InputMark, ScalarBlock, ScalarColumns, WindowItem
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.operators import Featurizer
from twin_models.features.batch import OutOfScale
from twin_models.features.envelope import scale_problem
from twin_models.features.frame import FEATURES_IN
from twin_models.records import Telemetry, WaveformFrame

__all__ = ["FRAME_OUT_OF_SCALE", "MAX_GROUP_FRAMES", "STEP", "featurize_batch"]

STEP = "featurize_frames"
FRAME_OUT_OF_SCALE = "frame_out_of_scale"

MAX_GROUP_FRAMES = 256
"""Frames featurised in one 2-D array: the featurization makes ~150 numpy/scipy calls per array
(a band scan of ~30 inverse FFTs, ...) whatever its size, so larger arrays amortise them better:
256 frames of 4096 samples (8 MB per float64 array) took ~15 % less CPU per frame than 64 (issue
10 round 4, ``benchmarks/RESULTS.md``), 512 no less than 256. Arrays that large are cheap only
because freed ones are reused instead of faulted in again (:mod:`flows.app.heap`, set by ``twin``)."""


StepItem = Telemetry | ScalarBlock | ScalarColumns | InputMark | ClockFlag
"""What the step gets from ``decode``: records, blocks and pieces of scalars, the digital thread's
input marks and the clock check's flags (the last two are no records: passed on as they are)."""
BatchStep = Callable[[list[StepItem]], list[WindowItem | DeadLetter]]


def featurize_batch(featurizer: Featurizer, metrics: PipelineMetrics,
                    now: Callable[[], datetime]) -> BatchStep:
    """The step function for ``op.flat_map_batch``: a batch of records -> features, in order."""
    calls = metrics.step_call_seconds.labels(step=STEP)
    emitted = metrics.step_items.labels(step=STEP)

    def step(items: list[StepItem]) -> list[WindowItem | DeadLetter]:
        t = time.perf_counter()
        out: list[Any] = list(items)
        groups: dict[tuple[float, int], list[int]] = {}
        records = len(items)
        for i, item in enumerate(items):
            featurizer.windows.opened(item.asset_id, item.timestamp)  # a block: all in one window
            if isinstance(item, WaveformFrame):
                groups.setdefault((item.sample_rate_hz, len(item.samples)), []).append(i)
            elif isinstance(item, ScalarBlock | ScalarColumns):
                records += len(item) - 1
            elif type(item) is InputMark or type(item) is ClockFlag:  # not records
                records -= 1
        emitted.inc(records)  # records, as when every sample was an item
        for idx in groups.values():
            for start in range(0, len(idx), MAX_GROUP_FRAMES):
                chunk = idx[start : start + MAX_GROUP_FRAMES]
                results = _featurize([items[i] for i in chunk], featurizer, metrics, now)  # type: ignore[misc]
                for i, res in zip(chunk, results, strict=True):
                    out[i] = res
        if groups:
            calls.observe(time.perf_counter() - t)
        return out

    return step


def _featurize(frames: Sequence[WaveformFrame], featurizer: Featurizer, metrics: PipelineMetrics,
               now: Callable[[], datetime]) -> list[Any]:
    """Features of a group of frames; frame by frame (failures dead-lettered) if the group raises."""
    try:
        return list(featurizer.frames(frames))
    except OutOfScale as exc:  # checked before any transform: the others are one batch again
        bad = dict(zip(exc.rows, exc.deviations, strict=True))
        rest = iter(_featurize([f for i, f in enumerate(frames) if i not in bad], featurizer, metrics, now))
        return [_out_of_scale(f, bad[i], metrics, now) if i in bad else next(rest)
                for i, f in enumerate(frames)]
    except Exception:  # noqa: BLE001 - find the frame(s) that raise, one by one
        out: list[Any] = []
        for frame in frames:
            try:
                out.extend(featurizer.frames([frame]))
            except Exception as exc:  # noqa: BLE001 - one item must never stop the flow
                out.append(processing_error(STEP, exc, frame, metrics, now))
        return out


def _out_of_scale(frame: WaveformFrame, dev: float, metrics: PipelineMetrics,
                  now: Callable[[], datetime]) -> Any:
    """The ``frame_out_of_scale`` dead letter of ``frame``, counted."""
    metrics.dead_letters.labels(reason=FRAME_OUT_OF_SCALE).inc()
    what = f"the {frame.channel!r} frame of asset {frame.asset_id!r} at {frame.timestamp.isoformat()}"
    return refused_frame(FRAME_OUT_OF_SCALE, scale_problem(dev, what, FEATURES_IN), STEP, frame, now)
