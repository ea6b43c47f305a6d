"""Provision and describe twinflow's Kafka topics (``twin topics create|describe``)."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from flows.config import KafkaConfig
from flows.kafka_errors import check_credentials

__all__ = ["TOPIC_ROLES", "TopicInfo", "create_topics", "describe_topics"]

TOPIC_ROLES = ("scalars", "waveforms", "events", "alerts", "state", "dead_letters")
"""Telemetry topics are keyed by asset_id so one asset's records stay ordered in one partition."""

TOPIC_CONFIGS: dict[str, dict[str, str]] = {
    "state": {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1"},
    "dead_letters": {"retention.ms": str(30 * 86400 * 1000)},
    "waveforms": {"max.message.bytes": str(8 * 1024 * 1024)},
}


@dataclass(frozen=True)
class TopicInfo:
    """What ``describe`` reports for one topic."""

    role: str
    name: str
    partitions: int | None
    replication: int | None
    cleanup_policy: str | None


def _admin(cfg: KafkaConfig) -> AdminClient:
    check_credentials(cfg.client_config())  # admin requests would time out on a wrong password
    return AdminClient(cfg.client_config())


def create_topics(cfg: KafkaConfig, *, timeout_s: float = 30.0) -> dict[str, str]:
    """Create every missing topic; returns role -> "created" | "exists"."""
    admin = _admin(cfg)
    new = [
        NewTopic(cfg.topic(role), num_partitions=cfg.partitions, replication_factor=cfg.replication,
                 config=TOPIC_CONFIGS.get(role, {}))
        for role in TOPIC_ROLES
    ]
    futures = admin.create_topics(new, operation_timeout=timeout_s, request_timeout=timeout_s)
    result = {}
    for role, topic in zip(TOPIC_ROLES, new, strict=True):
        try:
            futures[topic.topic].result(timeout=timeout_s)
            result[role] = "created"
        except KafkaException as exc:
            err = exc.args[0]
            if err.name() != "TOPIC_ALREADY_EXISTS":
                msg = f"could not create topic {topic.topic!r}: {err.str()}"
                raise ValueError(msg) from None
            result[role] = "exists"
    return result


def describe_topics(cfg: KafkaConfig, *, timeout_s: float = 30.0) -> list[TopicInfo]:
    """Partitions, replication and cleanup policy of each of twinflow's topics."""
    admin = _admin(cfg)
    try:
        meta = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        msg = f"cannot reach Kafka at {cfg.brokers}: {exc.args[0].str()}"
        raise ValueError(msg) from None
    out = []
    for role in TOPIC_ROLES:
        name = cfg.topic(role)
        tm = meta.topics.get(name)
        if tm is None or tm.error is not None:
            out.append(TopicInfo(role, name, None, None, None))
            continue
        repl = min((len(p.replicas) for p in tm.partitions.values()), default=0)
        res = ConfigResource(ConfigResource.Type.TOPIC, name)
        conf = admin.describe_configs([res])[res].result(timeout=timeout_s)
        policy = conf["cleanup.policy"].value if "cleanup.policy" in conf else None
        out.append(TopicInfo(role, name, len(tm.partitions), repl, policy))
    return out
