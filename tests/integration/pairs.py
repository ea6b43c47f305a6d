"""The same input published twice, changed in one copy, and run through `twin run --exit-at-end`
on each: the shape of the integration tests that compare a clean input with a changed one
(test_kafka_poison.py: poison pills; test_kafka_duplicates.py: a record produced twice)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from benchmarks.bench_fuzz_kafka import Message, produce, run_twin
from flows.config.pipeline import KafkaConfig

__all__ = ["run_each"]


def run_each(inputs: Mapping[str, tuple[KafkaConfig, list[Message]]], tmp_path: Path,
             summary: Callable[[Path], Any]) -> tuple[dict[str, Any], str]:
    """Publish every input to its own topics, then run each into ``tmp_path/<name>`` (metadata:
    ``tmp_path/meta.json``); each run's ``summary`` of its archive, and the last run's stderr."""
    for cfg, messages in inputs.values():
        produce(cfg, messages)
    runs: dict[str, Any] = {}
    stderr = ""
    for name, (cfg, _messages) in inputs.items():
        res = run_twin(cfg, tmp_path / name, tmp_path / "meta.json", timeout_s=300)
        assert res.returncode == 0, res.stderr[-3000:]
        runs[name] = summary(tmp_path / name)
        stderr = res.stderr
    return runs, stderr
