"""Provision and describe twinflow's Kafka topics (``twin topics create|describe``)."""

from __future__ import annotations

import logging
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ClusterMetadata, ConfigResource, NewTopic

from flows.config.pipeline import KafkaConfig
from flows.kafka.clients import (
    KafkaSetupError,
    admin_client,
    kafka_error_text,
    wait_for_brokers,
    wait_for_leaders,
)

log = logging.getLogger(__name__)

__all__ = ["TOPIC_ROLES", "TopicInfo", "check_fleet_topic", "create_topics", "describe_topics"]

TOPIC_ROLES = ("scalars", "waveforms", "events", "alerts", "state", "dead_letters", "fleet_models",
               "recommendations", "commands", "audit", "decisions",
               "whatif_requests", "whatif_results")
"""Telemetry topics are keyed by asset_id so one asset's records stay ordered in one partition."""

TOPIC_CONFIGS: dict[str, dict[str, str]] = {
    "state": {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1"},
    "dead_letters": {"retention.ms": str(30 * 86400 * 1000)},
    "audit": {"retention.ms": "-1"},  # the command audit log is append-only: kept for ever
    "waveforms": {"max.message.bytes": str(8 * 1024 * 1024)},
    # key = asset kind: compaction keeps each kind's newest version, which a (re)starting process
    # reads back from the beginning (flows.app.fleet_topic)
    "fleet_models": {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1",
                     "max.message.bytes": str(64 * 1024 * 1024)},
}


@dataclass(frozen=True)
class TopicInfo:
    """What ``describe`` reports for one topic."""

    role: str
    name: str
    partitions: int | None
    replication: int | None
    cleanup_policy: str | None


def _admin(cfg: KafkaConfig) -> tuple[AdminClient, ClusterMetadata]:
    """A connected admin client (one-line errors for bad settings or absent brokers)."""
    admin, errors = admin_client(cfg)
    return admin, wait_for_brokers(admin, errors, cfg)


def _result(future: Future[Any], what: str, cfg: KafkaConfig, timeout_s: float) -> Any:
    """A request's answer; a timeout or a broker error becomes one line naming the request."""
    try:
        return future.result(timeout=timeout_s)
    except TimeoutError:
        msg = f"Kafka at {cfg.brokers} did not answer within {timeout_s:g} s to {what}"
        raise KafkaSetupError(msg) from None


def create_topics(cfg: KafkaConfig, *, timeout_s: float = 30.0) -> dict[str, str]:
    """Create every missing topic; returns role -> "created" | "exists", once every partition of
    every topic has a leader that serves it (a KafkaSetupError naming the ones without after
    ``cfg.connect_timeout_s``): a producer started right after may write at once
    (:func:`flows.kafka.clients.wait_for_leaders`)."""
    admin, _ = _admin(cfg)
    new = [
        NewTopic(cfg.topic(role), num_partitions=cfg.partitions, replication_factor=cfg.replication,
                 config=TOPIC_CONFIGS.get(role, {}))
        for role in TOPIC_ROLES
    ]
    futures = admin.create_topics(new, operation_timeout=timeout_s, request_timeout=timeout_s)
    result = {}
    for role, topic in zip(TOPIC_ROLES, new, strict=True):
        try:
            _result(futures[topic.topic], f"create topic {topic.topic!r}", cfg, timeout_s)
            result[role] = "created"
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if getattr(err, "name", lambda: "")() != "TOPIC_ALREADY_EXISTS":
                msg = f"could not create topic {topic.topic!r} on {cfg.brokers}: {kafka_error_text(exc)}"
                raise KafkaSetupError(msg) from None
            result[role] = "exists"
    wait_for_leaders(admin, [t.topic for t in new], cfg, created=True)
    return result


def describe_topics(cfg: KafkaConfig, *, timeout_s: float = 30.0) -> list[TopicInfo]:
    """Partitions, replication and cleanup policy of each of twinflow's topics."""
    admin, meta = _admin(cfg)
    out = []
    for role in TOPIC_ROLES:
        name = cfg.topic(role)
        tm = meta.topics.get(name)
        if tm is None or tm.error is not None:
            out.append(TopicInfo(role, name, None, None, None))
            continue
        repl = min((len(p.replicas) for p in tm.partitions.values()), default=0)
        res = ConfigResource(ConfigResource.Type.TOPIC, name)
        try:
            conf = _result(admin.describe_configs([res])[res], f"describe topic {name!r}", cfg, timeout_s)
        except KafkaException as exc:
            msg = f"could not describe topic {name!r} on {cfg.brokers}: {kafka_error_text(exc)}"
            raise KafkaSetupError(msg) from None
        policy = conf["cleanup.policy"].value if "cleanup.policy" in conf else None
        out.append(TopicInfo(role, name, len(tm.partitions), repl, policy))
    return out


def check_fleet_topic(admin: AdminClient, cfg: KafkaConfig) -> None:
    """Refuse (KafkaSetupError, one line) a fleet model topic whose ``cleanup.policy`` does not
    compact: every ``twin run`` reads each kind's newest model version back from its beginning at
    start-up, and with ``delete`` retention removes it (a restart then has no fleet model of a kind
    until it learns one again). Within ``kafka.connect_timeout_s``; brokers that do not let this
    client describe the topic (an ACL) are not checked, said in a warning."""
    name = cfg.topic("fleet_models")
    res = ConfigResource(ConfigResource.Type.TOPIC, name)
    try:
        conf = _result(admin.describe_configs([res])[res], f"describe topic {name!r}", cfg,
                       cfg.connect_timeout_s)
    except (KafkaException, KafkaSetupError) as exc:
        log.warning("the cleanup policy of Kafka topic %s is not checked: %s", name, exc)
        return
    policy = conf["cleanup.policy"].value if "cleanup.policy" in conf else ""
    if "compact" not in (policy or "").split(","):
        msg = (f"Kafka topic {name} has cleanup.policy={policy or '(none)'}: twin run reads each kind's "
               "newest fleet model back from it at every start, and retention deletes it; make it "
               f"compacted as `twin topics create` does (kafka-configs.sh --alter --entity-type topics "
               f"--entity-name {name} --add-config cleanup.policy=compact)")
        raise KafkaSetupError(msg)
