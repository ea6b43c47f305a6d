"""Where a command's outputs go: the one place that assembles :class:`~flows.dataflow.pipeline.Sinks`.

Every command runs the same dataflow and differs only in its outputs:

- :func:`local_outputs` (``twin demo``, ``twin backtest``, the tests): the Parquet archive
  (features, twin_state, alerts, recommendations, audit, damage_state) when an archive folder
  is given, in-memory collectors for the streams the command evaluates afterwards, and the dead
  letters as a JSON-lines file when one is given;
- :func:`kafka_outputs` (``twin run``): twin state, alerts, recommendations and dead letters to
  their Kafka topics, and the Parquet archive (with the damage checkpoints of ``damage_state``);
  sent commands to ``twin.commands.v1``, the audit log to ``twin.audit.v1`` and the archive table
  ``audit``; the answers to what-if requests to their topic.

The order of the attachers in each list is part of the recovery state of ``twin run`` (it names the
steps: ``state_0`` is the Kafka sink, ``state_1`` the archive): do not reorder.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bytewax.dataflow import Stream

from flows import codec
from flows.app.out_manifest import Manifest
from flows.config.pipeline import PipelineConfig
from flows.dataflow.items import DeadLetter
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.pipeline import SinkAttacher, Sinks
from flows.dataflow.sinks.archive import archive_attacher, new_run_id
from flows.dataflow.sinks.archive_writer import FailureGroup
from flows.dataflow.sinks.jsonl import jsonl_attacher
from twin_models.records import (
    Alert,
    AuditEntry,
    ChannelQuality,
    Command,
    DamageCheckpoint,
    FeatureVector,
    Recommendation,
    TwinSnapshot,
)

__all__ = ["STREAMS", "Collected", "collector", "dead_letter_bytes", "kafka_outputs", "local_outputs"]

STREAMS = ("features", "state", "alerts", "dead_letters", "recommendations", "commands", "audit",
           "damage_state", "data_quality")
"""The dataflow's output streams (the fields of :class:`~flows.dataflow.pipeline.Sinks`)."""


@dataclass
class Collected:
    """What the in-memory collectors received, per stream (empty for a stream not collected)."""

    features: list[FeatureVector] = field(default_factory=list)
    state: list[TwinSnapshot] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    recommendations: list[Recommendation] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)
    damage_state: list[DamageCheckpoint] = field(default_factory=list)
    data_quality: list[ChannelQuality] = field(default_factory=list)


def collector(target: list[Any]) -> SinkAttacher:
    """A sink attacher appending every item of a stream to ``target`` (in-process, one run)."""
    import bytewax.operators as op
    from bytewax.testing import TestingSink

    def attach(step_id: str, stream: Stream[Any]) -> None:
        op.output(step_id, stream, TestingSink(target))

    return attach


def dead_letter_bytes(d: DeadLetter) -> bytes:
    """A dead letter as one JSON document (schemas/dead_letter.v2.json): a line of the dead-letter file,
    with the Kafka coordinates its headers give (as the dead-letter topic's headers do)."""
    err = codec.DecodeError(d.reason, d.detail, d.raw)
    return codec.dead_letter(err, source=d.source, timestamp=d.timestamp, headers=d.headers)


def _listed(folder: Path) -> Callable[[list[Path]], list[Path]]:
    """Of an earlier run's worker files found in ``folder``, those its manifest lists (all of them
    when it lists nothing: a folder written before the manifest); forgotten there, being deleted."""

    def owned(paths: list[Path]) -> list[Path]:
        manifest = Manifest.read(folder)
        mine = manifest.listed_only(paths)
        manifest.forget(mine)
        return mine

    return owned


def local_outputs(
    cfg: PipelineConfig,
    metrics: PipelineMetrics,
    *,
    archive_dir: Path | None = None,
    dead_letter_file: Path | None = None,
    collect: Collection[str] = ("state", "alerts"),
    run_id: str | None = None,
    failures: FailureGroup | None = None,
) -> tuple[Sinks, Collected]:
    """Sinks for a run in this process: archive (if ``archive_dir``), then collectors (the
    ``collect`` streams), dead letters to ``dead_letter_file`` (if given); and what they collect.
    ``failures``: the archive sinks' :class:`FailureGroup` (default: a new one), for another sink of
    the run to mark a failure it raises (the archive then writes nothing more at its close)."""
    unknown = set(collect) - set(STREAMS)
    if unknown:
        msg = f"collect names no output stream: {sorted(unknown)} (streams: {', '.join(STREAMS)})"
        raise ValueError(msg)
    got = Collected()
    failures = FailureGroup() if failures is None else failures  # the dead letters' sink marks it too
    arch = {"batch_rows": cfg.archive_batch_rows, "flush_interval_s": cfg.archive_flush_s,
            "metrics": metrics, "run_id": run_id or new_run_id(), "failures": failures}
    tables = {"features": "features", "state": "twin_state", "alerts": "alerts",
              "recommendations": "recommendations", "audit": "audit",
              "damage_state": "damage_state", "data_quality": "data_quality"}
    lists: dict[str, list[SinkAttacher]] = {s: [] for s in STREAMS}
    for stream, table in tables.items():
        if archive_dir is not None:
            lists[stream].append(archive_attacher(archive_dir, table, **arch))
    if dead_letter_file is not None:
        lists["dead_letters"].append(jsonl_attacher(dead_letter_file, dead_letter_bytes,
                                                    _listed(dead_letter_file.parent), failures))
    for stream in STREAMS:
        if stream in collect:
            lists[stream].append(collector(getattr(got, stream)))
    return Sinks(**lists), got


def kafka_outputs(
    cfg: PipelineConfig,
    metrics: PipelineMetrics,
    archive_dir: Path,
    *,
    partitions: int = 1,
    run_id: str | None = None,
    recovery: bool = True,
) -> Sinks:
    """Sinks of ``twin run``: state, alerts, recommendations, dead letters and fleet model versions
    to their Kafka topics, features, state, alerts and recommendations to the archive, each over
    ``partitions`` writer partitions.
    ``recovery``: the run has a recovery store (its snapshots wait for the archive's files)."""
    from flows.app.fleet_topic import MAX_MODEL_BYTES, model_message
    from flows.dataflow.sinks.kafka import dead_letter_message, kafka_attacher  # confluent_kafka: only here

    k = cfg.kafka
    client = k.client_config()
    arch: dict[str, Any] = {"batch_rows": cfg.archive_batch_rows, "metrics": metrics,
                            "flush_interval_s": cfg.archive_flush_s,
                            "partitions": partitions, "run_id": run_id or new_run_id(),
                            "durable_snapshots": recovery, "failures": FailureGroup()}
    kafka: dict[str, Any] = {"metrics": metrics, "partitions": partitions}
    return Sinks(
        features=[archive_attacher(archive_dir, "features", **arch)],
        state=[kafka_attacher(client, k.topic("state"), **kafka),
               archive_attacher(archive_dir, "twin_state", **arch)],
        alerts=[kafka_attacher(client, k.topic("alerts"), **kafka),
                archive_attacher(archive_dir, "alerts", **arch)],
        dead_letters=[kafka_attacher(client, k.topic("dead_letters"), dead_letter_message, **kafka)],
        fleet_models=[kafka_attacher({"message.max.bytes": str(MAX_MODEL_BYTES + 2**20), **client},
                                     k.topic("fleet_models"), model_message, **kafka)],
        recommendations=[kafka_attacher(client, k.topic("recommendations"), **kafka),
                         archive_attacher(archive_dir, "recommendations", **arch)],
        # guarded command path (issue 11, level 5): sent commands; the audit log, topic and archive
        commands=[kafka_attacher(client, k.topic("commands"), **kafka)],
        audit=[kafka_attacher(client, k.topic("audit"), **kafka),
               archive_attacher(archive_dir, "audit", **arch)],
        damage_state=[archive_attacher(archive_dir, "damage_state", **arch)],
        data_quality=[archive_attacher(archive_dir, "data_quality", **arch)],
        whatif_results=[kafka_attacher(client, k.topic("whatif_results"), **kafka)],
    )
