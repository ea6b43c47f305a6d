"""flows.app.heap: with glibc, freed multi-megabyte arrays are reused instead of faulting in fresh
pages (issue 10 round 4: page faults were ~10 % of the featurization's CPU); `twin run` makes the
cyclic garbage collector run less often (issue 10 round 18: ~8 % of a scalar run's CPU)."""

from __future__ import annotations

import gc
import json
import platform
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flows.app import backtest as backtest_module
from flows.app import run as run_module
from flows.app.heap import MIDDLE_THRESHOLD, YOUNG_THRESHOLD, collect_less, keep_freed_memory
from flows.config.pipeline import PipelineConfig

# The featurization's pattern: 2 MB temporaries of a 64 x 4096 batch, made and freed in turn.
CHURN = """
import resource, sys
import numpy as np
if sys.argv[1] == "tuned":
    from flows.app.heap import keep_freed_memory
    assert keep_freed_memory()
x = np.ones((64, 4096))
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(40):
    c = x - 1.0
    d = c * c
    e = np.fft.rfft(d, axis=1)
    del c, d, e
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt settings are glibc's")


def faults(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", CHURN, mode], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1])


@glibc_only
def test_freed_arrays_are_reused_instead_of_faulted_in_again() -> None:
    default, tuned = faults("default"), faults("tuned")
    assert default > 20_000  # 40 rounds of ~3.5 MB in fresh pages: the cost this module removes
    assert tuned < default / 10


@glibc_only
def test_glibc_takes_the_settings() -> None:
    assert keep_freed_memory() is True


# A dataflow's pattern: long-lived state (twins) and, batch after batch, containers that live a
# few batches (runs, window columns) before they are freed; the collections of each generation.
BATCHES = """
import gc, json, sys
from collections import deque
if sys.argv[1] == "tuned":
    from flows.app.heap import collect_less
    collect_less()
state = {i: {"mean": [float(i)], "n": [i]} for i in range(20_000)}
recent = deque(maxlen=8)
gc.collect()
before = [g["collections"] for g in gc.get_stats()]
for b in range(400):
    recent.append([(b, i, {"v": float(i)}, [i]) for i in range(2_000)])
    state[b % 20_000]["n"].append(b)
after = [g["collections"] for g in gc.get_stats()]
print(json.dumps([a - b for a, b in zip(after, before)]))
"""


def collections(mode: str) -> list[int]:
    done = subprocess.run([sys.executable, "-c", BATCHES, mode], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[2])
    out: list[int] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def test_collect_less_makes_young_and_full_collections_rare() -> None:
    default, tuned = collections("default"), collections("tuned")
    assert default[0] > 1_000 and default[2] >= 2  # CPython's 700: the cost collect_less removes
    assert tuned[0] < default[0] / 20
    assert tuned[2] < default[2]


# `twin run`'s pattern seen by the collector (round 47, GC47): records that live for seconds (the
# windows, the archive's buffers until their flush) are alive at every young collection, which
# walks them all with the GIL held: the worker's pause. Per young collection: the new objects.
LIVING = """
import gc, json
from flows.app.heap import collect_less
collect_less()
gc.collect()
walked = []
gc.callbacks.append(lambda phase, info: phase == "start" and info["generation"] == 0
                    and walked.append(gc.get_count()[0]))
before = [g["collections"] for g in gc.get_stats()]
kept = [[[i] for i in range(2_000)] for _ in range(240)]  # 480,240 tracked objects, all alive
after = [g["collections"] for g in gc.get_stats()]
print(json.dumps({"walked": walked, "collections": [a - b for a, b in zip(after, before)]}))
"""


def test_a_young_collection_walks_a_few_thousand_objects_and_middle_ones_stay_rare() -> None:
    done = subprocess.run([sys.executable, "-c", LIVING], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[2])
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    # each young collection walks at most ~10,000 new objects (a few ms; 50,000 paused 20-60 ms)
    assert seen["walked"] and max(seen["walked"]) <= 12_000
    assert seen["collections"][0] >= 480_000 // 12_000
    # ... and the older generations come no more often than round 18's every 500,000 new objects
    assert seen["collections"][1] == 0 and seen["collections"][2] == 0


def test_collect_less_still_collects_garbage_cycles() -> None:
    before = gc.get_threshold()
    try:
        collect_less()
        gc.collect()
        seen = gc.get_stats()[0]["collected"]
        for _ in range(3 * YOUNG_THRESHOLD // 2):  # cycles are never freed by reference counting
            a: list[Any] = []
            a.append(a)
        assert gc.get_count()[0] < YOUNG_THRESHOLD  # a young collection ran and took them
        assert gc.get_stats()[0]["collected"] - seen >= YOUNG_THRESHOLD // 2
    finally:
        gc.set_threshold(*before)


def run_twin_engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, engine: Callable[..., None]) -> None:
    """``run_kafka_flow`` with ``engine`` in place of Bytewax's ``cli_main`` (given the flow
    ``"the flow"``), no broker checked and no fleet model consumer: what it sets up around the engine."""

    class Consumer:
        def __init__(self, *_args: Any, **_kw: Any) -> None: ...

        def start(self) -> Consumer:
            return self

        def stop(self) -> None: ...

    monkeypatch.setattr(run_module, "check_kafka", lambda _cfg, **_k: run_module.KafkaIdentity(None, {}))
    monkeypatch.setattr(run_module, "build_kafka_flow", lambda *_a: "the flow")
    monkeypatch.setattr(run_module, "FleetModelConsumer", Consumer)
    monkeypatch.setattr(run_module, "_terminate_gracefully", lambda: None)
    monkeypatch.setattr(run_module, "cli_main", engine)
    run_module.run_kafka_flow(PipelineConfig(), run_module.RunOptions(tmp_path / "archive"), {})


def test_twin_run_collects_less_once_its_dataflow_is_built(monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def engine(flow: Any, **_kw: Any) -> None:
        seen.update(flow=flow, threshold=gc.get_threshold())

    before = gc.get_threshold()
    try:
        run_twin_engine(monkeypatch, tmp_path, engine)
        after = gc.get_threshold()
    finally:
        gc.set_threshold(*before)
    assert seen["flow"] == "the flow"
    assert seen["threshold"] == (YOUNG_THRESHOLD, MIDDLE_THRESHOLD, before[2])
    assert after == before  # as a backtest: the caller's process gets its thresholds back


def _tiny_csv(path: Path) -> Path:
    rows = ["timestamp,asset_id,temperature"]
    rows += [f"2024-01-01T00:{m:02d}:00Z,pump-1,{40 + m % 3}" for m in range(30)]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("fails", [False, True])
def test_a_backtest_collects_less_during_its_run_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                     fails: bool) -> None:
    seen: list[tuple[int, int, int]] = []
    real_run_main = backtest_module.run_main

    def engine(flow: Any, **kw: Any) -> None:
        seen.append(gc.get_threshold())
        if fails:
            raise KeyboardInterrupt
        real_run_main(flow, **kw)

    monkeypatch.setattr(backtest_module, "run_main", engine)
    before = gc.get_threshold()
    assert before[0] != YOUNG_THRESHOLD
    try:
        res = backtest_module.run_backtest([_tiny_csv(tmp_path / "in.csv")], tmp_path / "out",
                                           PipelineConfig(), progress=False, report=False)
        assert not fails and res.records == 30
    except KeyboardInterrupt:
        assert fails
    after = gc.get_threshold()
    gc.set_threshold(*before)
    assert seen == [(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, before[2])]
    assert after == before  # the caller's process (a notebook, these tests) gets its thresholds back
