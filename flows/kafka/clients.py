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

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, ClusterMetadata

from flows.config.pipeline import KafkaConfig
from flows.kafka.errors import KafkaSecurityError, describe, security_problem

__all__ = ["KafkaSetupError", "admin_client", "consumer_client", "kafka_error_text", "producer_client",
           "wait_for_brokers"]

LIBRDKAFKA_LOG = logging.getLogger("flows.librdkafka")
LIBRDKAFKA_LOG.propagate = os.environ.get("TWIN_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")
LIBRDKAFKA_LOG.addHandler(logging.NullHandler())

STOP_AT_ONCE = {KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED, KafkaError._SSL,
                KafkaError._FATAL, KafkaError._INVALID_ARG, KafkaError._UNKNOWN_PROTOCOL}
"""Errors no wait will cure: reported as soon as librdkafka reports them."""


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


def _create(kind: Any, settings: Mapping[str, Any], cfg: KafkaConfig) -> Any:
    try:
        return kind(dict(settings))
    except (KafkaException, ValueError, TypeError) as exc:
        msg = f"Kafka client settings for {cfg.brokers} refused: {kafka_error_text(exc)}"
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
                return client.list_topics(timeout=min(1.0, left))
            return client.list_topics(topic, timeout=min(1.0, left))
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
