"""The digital thread's name of a configuration: a stable hash of the effective ``PipelineConfig``.

Why: every snapshot and alert names the configuration that produced it (issue 11). The hash is
a SHA-256 over a canonical JSON form of the frozen settings tree (sorted keys, ``repr`` floats),
so the same settings give the same hash in every process and run, and any changed setting
gives another. Secret values (librdkafka ``sasl.password``, ``ssl.key.password`` ...: the keys
:func:`~flows.config.values.is_secret` names) are left out of the hashed form entirely, so the
hash cannot be tested against guessed passwords and no output ever holds them; a changed secret
alone does not change the hash.

Only the settings that decide what the records say are hashed: where they go and how they travel
(:data:`PLACEMENT`: the archive folder and its flush sizes, the Kafka connection, partitions and
topic names, the metrics) are left out, so moving an archive, a broker or a topic prefix, or
running the same flow on more processes, keeps the hash (and the outputs identical whatever the
deployment, as issue 10 requires of them).
So are the settings of :data:`EXECUTION`, which decide how the work is done, never what it gives
(round 20: the fleet learner's ``background_fit``).

The ``kafka`` section is placement but for :data:`KAFKA_CONTENT` (round 19). ``kafka.partitioning``
is a rule about the input, not a route: with ``asset_id`` a message keyed by another asset is a
``key_asset_mismatch`` dead letter, with ``any`` it is processed (and the merge no longer lowers a
run of records stamped ahead, :mod:`flows.dataflow.sources.kafka_merge`), so the same messages
give other twin states and alerts. It is hashed when it is not its default, so the hash of every
configuration at the default (every archive written before) stays what it was. The partition
COUNT stays out: state is keyed by asset (and kind), never by Kafka partition, and the outputs
do not depend on it (a resume after partitions were added: tests/integration/
test_kafka_resume_partitions.py). ``auto.offset.reset`` (under ``kafka.librdkafka``) stays out
too: it decides WHICH records are read after a retention gap, not what a record read gives; what
each window read is in its lineage's input ranges (Kafka offsets), and the gap is warned about and
counted (``offsets_deleted``), as ``--from-end`` decides where a run without recovery starts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields, is_dataclass
from importlib import metadata
from typing import Any

from flows.config.pipeline import KafkaConfig, PipelineConfig
from flows.config.values import is_secret

__all__ = ["EXECUTION", "HASH_CHARS", "KAFKA_CONTENT", "PLACEMENT", "canonical_settings", "config_hash",
           "twinflow_version"]

PLACEMENT = ("archive_dir", "archive_batch_rows", "archive_flush_s", "kafka", "metrics")
"""Top-level settings left out of the hash: where records go, not what they say (``kafka`` but for
:data:`KAFKA_CONTENT`)."""

EXECUTION = (("twin", "fleet", "background_fit"),)
"""Settings that decide how the work is done, never what it gives, left out of the hash: the fleet
learner's background fit hands each model over at the same call as without it (the same versions,
the same records: :mod:`twin_models.rul.job_thread`)."""

KAFKA_CONTENT = ("partitioning",)
"""Settings of the ``kafka`` section that decide what the records say: hashed when not at their
default (see the module docstring)."""

HASH_CHARS = 16
"""Hex digits kept of the SHA-256 (64 bits: collisions between real configurations are not a concern)."""


def _plain(value: Any) -> Any:
    """A settings value as JSON-able data, secrets left out (their keys stay, as ``"***"``)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {str(k): ("***" if is_secret(str(k)) else _plain(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return repr(value)  # exact and the same everywhere
    return value


def canonical_settings(cfg: PipelineConfig) -> str:
    """The canonical JSON text that :func:`config_hash` hashes (secrets shown as ``***``)."""
    plain = {k: v for k, v in _plain(cfg).items() if k not in PLACEMENT}
    for *path, name in EXECUTION:
        section = plain
        for key in path:
            section = section.get(key, {})
        section.pop(name, None)
    default = KafkaConfig()
    kafka = {k: _plain(getattr(cfg.kafka, k)) for k in KAFKA_CONTENT
             if getattr(cfg.kafka, k) != getattr(default, k)}
    if kafka:
        plain["kafka"] = kafka
    return json.dumps(plain, sort_keys=True, separators=(",", ":"), default=str)


def config_hash(cfg: PipelineConfig) -> str:
    """``HASH_CHARS`` hex digits of the SHA-256 of :func:`canonical_settings`."""
    return hashlib.sha256(canonical_settings(cfg).encode()).hexdigest()[:HASH_CHARS]


def twinflow_version() -> str:
    """The installed twinflow distribution's version (``0+unknown`` when run from a bare tree)."""
    try:
        return metadata.version("twinflow")
    except metadata.PackageNotFoundError:
        return "0+unknown"
