"""Kafka clients for the CLI, created in one place: bad settings and absent brokers are one line.

librdkafka refuses a bad setting (``security.protocol = bogus``, an unknown property) when a
client is created, and it retries an unreachable broker for as long as the client lives: a
producer would wait ``message.timeout.ms`` (10 minutes) before failing. So every command first
creates its client through :func:`admin_client` / :func:`producer_client` (a refused setting is a
:class:`KafkaSetupError`) and then waits at most ``connect_timeout_s`` for the cluster's metadata
(:func:`wait_for_brokers`), failing with the brokers, the time waited and librdkafka's last error
(connection refused, SSL handshake or SASL authentication failure; an authentication failure
stops the wait at once). librdkafka's own log lines go to the ``flows.librdkafka`` logger, shown
only with ``TWIN_DEBUG=1``, instead of raw ``%3|...|FAIL|`` lines on stderr. Messages never show
a secret: librdkafka does not repeat secret values, and the CLI masks them anyway.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicCollection, TopicPartition
from confluent_kafka.admin import AdminClient, ClusterMetadata, OffsetSpec

from flows.config.pipeline import KafkaConfig
from flows.kafka.errors import KafkaSecurityError, describe, security_problem
from twin_models.text import first_few

__all__ = ["KafkaSetupError", "admin_client", "consumer_client", "kafka_error_text", "producer_client",
           "topic_ids", "wait_for_brokers", "wait_for_leaders"]

log = logging.getLogger(__name__)

LIBRDKAFKA_LOG = logging.getLogger("flows.librdkafka")
LIBRDKAFKA_LOG.propagate = os.environ.get("TWIN_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")
LIBRDKAFKA_LOG.addHandler(logging.NullHandler())

STOP_AT_ONCE = {KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED, KafkaError._SSL,
                KafkaError._FATAL, KafkaError._INVALID_ARG, KafkaError._UNKNOWN_PROTOCOL}
"""Errors no wait will cure: reported as soon as librdkafka reports them."""

ABSENT_GRACE_S = 3.0
"""How long :func:`wait_for_leaders` waits for a topic the metadata does not list at all (another
broker may not have the creation yet) before telling it is missing."""


class KafkaSetupError(ValueError):
    """A Kafka client cannot be created or cannot reach its brokers; the message says which."""


def kafka_error_text(exc: BaseException) -> str:
    """The human part of a KafkaException (its KafkaError's text), else ``str(exc)``."""
    err = exc.args[0] if exc.args else None
    if isinstance(err, KafkaError):
        return err.str() or err.name()
    return str(exc) or type(exc).__name__


class _Errors:
    """librdkafka's error callback: remembers the last error, and one that ends the wait."""

    def __init__(self) -> None:
        self.last: KafkaError | None = None
        self.final: KafkaError | None = None

    def __call__(self, err: KafkaError) -> None:
        self.last = err
        if err.code() in STOP_AT_ONCE or err.fatal() or security_problem(err) is not None:
            self.final = err


def _settings(base: Mapping[str, Any], errors: _Errors) -> dict[str, Any]:
    return {**base, "error_cb": errors, "logger": LIBRDKAFKA_LOG}


def _missing_files(settings: Mapping[str, Any]) -> str:
    """The ``*.location`` settings (TLS certificates, keys, CAs, keytabs) naming a path that does
    not exist, said after librdkafka's words, which name the setting only (``ssl.ca.location
    failed: error:05880020:x509 certificate routines::BIO lib``)."""
    gone = [f"{k}={v}" for k, v in settings.items()
            if k.endswith(".location") and isinstance(v, str) and v not in ("", "probe")
            and not os.path.exists(v)]
    return f" ({', '.join(gone)}: no such file or folder)" if gone else ""


def _create(kind: Any, settings: Mapping[str, Any], cfg: KafkaConfig) -> Any:
    try:
        return kind(dict(settings))
    except (KafkaException, ValueError, TypeError) as exc:
        why = f"{kafka_error_text(exc)}{_missing_files(settings)}"
        msg = f"Kafka client settings for {cfg.brokers} refused: {why}"
        raise KafkaSetupError(msg) from None


def admin_client(cfg: KafkaConfig) -> tuple[AdminClient, _Errors]:
    """An admin client over ``cfg``'s settings, with its error recorder."""
    errors = _Errors()
    return _create(AdminClient, _settings(cfg.client_config(), errors), cfg), errors


def producer_client(cfg: KafkaConfig, settings: Mapping[str, Any]) -> tuple[Producer, _Errors]:
    """A producer over ``settings`` (``cfg.client_config()`` plus producer defaults)."""
    errors = _Errors()
    return _create(Producer, _settings(settings, errors), cfg), errors


def consumer_client(cfg: KafkaConfig, settings: Mapping[str, Any]) -> tuple[Consumer, _Errors]:
    """A consumer over ``settings`` (``cfg.client_config()`` plus consumer settings)."""
    errors = _Errors()
    return _create(Consumer, _settings(settings, errors), cfg), errors


def wait_for_brokers(client: Any, errors: _Errors, cfg: KafkaConfig, *,
                     topic: str | None = None) -> ClusterMetadata:
    """The cluster metadata, or a KafkaSetupError once ``cfg.connect_timeout_s`` has passed.

    With ``topic``, only that topic's metadata is asked for (a client that reads or writes one
    topic): on a shared cluster the metadata of every topic is slow to list and may be refused by
    ACLs. Without it, every topic's (the commands that check or create several)."""
    deadline = time.monotonic() + cfg.connect_timeout_s
    last_exc: BaseException | None = None
    while True:
        left = deadline - time.monotonic()
        if errors.final is not None or left <= 0:
            break
        try:
            if topic is None:
                meta: ClusterMetadata = client.list_topics(timeout=min(1.0, left))
            else:
                meta = client.list_topics(topic, timeout=min(1.0, left))
            return meta
        except KafkaException as exc:
            last_exc = exc
        client.poll(0)  # serve the error callback
    if errors.final is not None and security_problem(errors.final) is not None:
        raise KafkaSecurityError(describe(errors.final, cfg.client_config()))
    if errors.final is not None:
        msg = f"Kafka at {cfg.brokers} refused the connection: {errors.final.str()}"
        raise KafkaSetupError(msg)
    why = errors.last.str() if errors.last is not None else (
        kafka_error_text(last_exc) if last_exc else "no answer")
    msg = (f"cannot reach Kafka at {cfg.brokers} within {cfg.connect_timeout_s:g} s (last error: {why}); "
           f"check --brokers and that the brokers run, or wait longer with --connect-timeout")
    raise KafkaSetupError(msg)


def topic_ids(admin: AdminClient, topics: list[str], cfg: KafkaConfig) -> dict[str, str]:
    """Kafka's id of each of ``topics`` (name -> the base64 UUID Kafka shows; new each time a topic
    is created, so a topic deleted and re-created under the same name gets another). Topics whose
    id cannot be had (brokers older than Kafka 2.8 give none, an error for one topic, no answer
    within ``cfg.connect_timeout_s``) are left out, said once in a warning: they are not checked."""
    if not topics:
        return {}
    out: dict[str, str] = {}
    missed: list[str] = []
    try:
        futures = admin.describe_topics(TopicCollection(list(topics)), request_timeout=cfg.connect_timeout_s)
    except (KafkaException, ValueError, TypeError):  # a client without the request
        futures = {}
    for name in topics:
        future = futures.get(name)
        try:
            tid = future.result(timeout=cfg.connect_timeout_s).topic_id if future is not None else None
        except (KafkaException, TimeoutError):
            tid = None
        if tid is None or (tid.get_most_significant_bits() == 0 and tid.get_least_significant_bits() == 0):
            missed.append(name)
        else:
            out[name] = str(tid)
    if missed:
        log.warning("Kafka at %s gives no topic id for %s: a topic deleted and re-created under the same "
                    "name is not detected there", cfg.brokers, ", ".join(missed))
    return out


def _leaderless(meta: ClusterMetadata,
                topics: list[str]) -> tuple[list[str], list[str], list[TopicPartition]]:
    """(the topics missing from ``meta``; ``topic[partition]`` for each partition without a leader;
    every partition of ``topics`` in ``meta``)."""
    absent, out, parts = [], [], []
    for name in topics:
        tm = meta.topics.get(name)
        if tm is None or tm.error is not None or not tm.partitions:
            absent.append(name)
            continue
        for p, pm in sorted(tm.partitions.items()):
            parts.append(TopicPartition(name, p))
            if pm.leader < 0 or pm.error is not None:
                out.append(f"{name}[{p}]")
    return absent, out, parts


def _unserved(admin: AdminClient, parts: list[TopicPartition], timeout_s: float) -> list[str]:
    """The partitions whose leader does not answer a ListOffsets yet (it has not applied them)."""
    try:
        futures = admin.list_offsets({tp: OffsetSpec.latest() for tp in parts},
                                     request_timeout=max(0.1, timeout_s))
    except KafkaException:
        return [f"{tp.topic}[{tp.partition}]" for tp in parts]
    out = []
    for tp, future in futures.items():
        try:
            future.result(timeout=max(0.1, timeout_s) + 1.0)
        except (KafkaException, TimeoutError):
            out.append(f"{tp.topic}[{tp.partition}]")
    return sorted(out)


def wait_for_leaders(admin: AdminClient, topics: list[str], cfg: KafkaConfig, *,
                     timeout_s: float | None = None, created: bool = False) -> None:
    """Return once every partition of ``topics`` has a leader in the cluster's metadata and that
    leader serves it (answers a ListOffsets for it), or raise a KafkaSetupError naming the ones
    without after ``timeout_s`` (default ``cfg.connect_timeout_s``).

    A topic just created is in the metadata before its leader has applied its partitions; a
    producer's first batch to such a partition is refused ("not leader") and sent again, and an
    idempotent producer on a broker without KAFKA-15591's fix can lose it (the retry refused as
    out of sequence). So ``twin topics create`` returns, and the producing commands begin, only
    once every partition is led and served.

    ``created``: the brokers have just said these topics exist (created, or already there), so one
    the metadata does not list yet is waited for within the whole bound, not :data:`ABSENT_GRACE_S`
    (a broker started moments ago lists its first topics many seconds after creating them)."""
    limit = cfg.connect_timeout_s if timeout_s is None else timeout_s
    start = time.monotonic()
    deadline = start + limit
    absent: list[str] = []
    missing = list(topics)
    while True:
        left = deadline - time.monotonic()
        try:
            absent, missing, parts = _leaderless(admin.list_topics(timeout=max(0.1, min(1.0, left))), topics)
            if not absent and not missing:
                missing = _unserved(admin, parts, min(5.0, left))
        except KafkaException:
            pass
        if not absent and not missing:
            return
        now = time.monotonic()
        if now >= deadline or (absent and not created and now - start >= min(limit, ABSENT_GRACE_S)):
            break
        time.sleep(min(0.1, max(0.0, deadline - now)))
    if absent and created:
        msg = (f"Kafka at {cfg.brokers} does not list the topic {', '.join(absent)} it created within "
               f"{limit:g} s; check the brokers (`twin topics describe`) and try again, or wait longer "
               f"with --connect-timeout")
        raise KafkaSetupError(msg)
    if absent:
        msg = (f"Kafka at {cfg.brokers} has no topic {', '.join(absent)} (create the topics with "
               f"`twin topics create`)")
        raise KafkaSetupError(msg)
    shown = first_few(missing, 5)
    msg = (f"Kafka at {cfg.brokers}: no partition leader serving {shown} within {limit:g} s; check the "
           f"brokers (`twin topics describe`) and try again, or wait longer with --connect-timeout")
    raise KafkaSetupError(msg)
