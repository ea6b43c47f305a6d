"""Kafka errors that retrying never heals: rejected credentials and untrusted broker certificates.

librdkafka treats a wrong SASL password or a broker certificate that ``ssl.ca.location`` does not
vouch for like any broken connection: it reconnects forever. A consumer then sees no data and no
error, a producer's ``flush`` waits ``message.timeout.ms`` (10 minutes here), and an admin request
times out with a generic "transport failure". For twinflow these are configuration errors: the
clients made through :func:`guarded` stop at the first one with :class:`KafkaSecurityError`, one
line naming the problem (authentication failed / certificate verify failed) and the broker.

Only clients that use TLS or SASL (``security.protocol`` other than PLAINTEXT) are guarded, so
the default local setup behaves as before. A guarded client gets an ``error_cb`` that raises (so
``poll``, ``consume`` and the sliced :func:`flush` raise too). Every client made through
:func:`guarded` (TLS or not) logs librdkafka's lines through :mod:`flows.kafka.client_log`
(masked; the lines about a failure the error already reports are dropped). Admin requests do not
serve callbacks: :func:`check_credentials` probes the cluster first. Messages never carry a
secret: librdkafka's texts hold none, and any value of a secret setting (see
:func:`flows.config.pipeline.redact`) is masked anyway.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from flows.config.values import mask_values, secret_values
from flows.kafka.client_log import ClientLog

__all__ = ["KafkaSecurityError", "check_credentials", "close_consumer", "close_producer", "flush",
           "guarded", "is_secured", "security_problem"]

AUTH_FAILED = "authentication failed"
CERT_FAILED = "certificate verify failed"
_AUTH_CODES = {KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED}
_TLS_CODES = {KafkaError._SSL, KafkaError._TRANSPORT}
_BROKER = re.compile(r"^(?:\w+://)?([^/\s]+)/\S+: ")  # "sasl_ssl://host:port/bootstrap: ..."
_AFTER = re.compile(r"\s*\(after \d+ms in state \w+\)$")


class KafkaSecurityError(ValueError):
    """The broker rejected our credentials or we do not trust its certificate (never heals)."""


def is_secured(settings: Mapping[str, Any]) -> bool:
    """Whether a client config uses TLS or SASL (only those clients are guarded)."""
    return str(settings.get("security.protocol", "plaintext")).lower() != "plaintext"


def security_problem(err: KafkaError) -> str | None:
    """``"authentication failed"``, ``"certificate verify failed"`` or None for other errors.

    >>> security_problem(KafkaError(KafkaError._AUTHENTICATION, "SASL authentication error"))
    'authentication failed'
    >>> security_problem(KafkaError(KafkaError._TRANSPORT, "Connection refused")) is None
    True
    """
    if err.code() in _AUTH_CODES:
        return AUTH_FAILED
    if err.code() in _TLS_CODES and CERT_FAILED in (err.str() or "").lower():
        return CERT_FAILED
    return None


def _scrub(text: str, settings: Mapping[str, Any]) -> str:
    return mask_values(text, secret_values(settings))


def describe(err: KafkaError, settings: Mapping[str, Any]) -> str:
    """One line: what failed, at which broker, what librdkafka said and which settings to check."""
    problem = security_problem(err) or err.name()
    detail = _AFTER.sub("", err.str() or "")
    m = _BROKER.match(detail)
    broker = m.group(1) if m else str(settings.get("bootstrap.servers", "?"))
    detail = detail[m.end():] if m else detail
    if problem == AUTH_FAILED:
        mech = settings.get("sasl.mechanisms", settings.get("sasl.mechanism", "?"))
        hint = (f"SASL {mech} as user {settings.get('sasl.username', '')!r}; "
                "check sasl.username and sasl.password")
    else:
        ca = settings.get("ssl.ca.location", "(system CAs)")
        hint = f"ssl.ca.location={ca}; is the broker's certificate signed by this CA?"
    text = f"Kafka {problem} at {broker} ({hint}): {detail}"
    return _scrub(" ".join(text.split()), settings)


def _raise_on_security_error(settings: Mapping[str, Any]) -> Callable[[KafkaError], None]:
    def error_cb(err: KafkaError) -> None:
        if security_problem(err) is not None:
            raise KafkaSecurityError(describe(err, settings))

    return error_cb


def _reported_by_the_error(text: str) -> bool:
    """A librdkafka line about the failure a KafkaSecurityError reports already (not logged twice)."""
    low = text.lower()
    return "authentication error" in low or CERT_FAILED in low


def guarded(settings: Mapping[str, Any], on_log: Callable[[str, str], None] | None = None) -> dict[str, Any]:
    """A dataflow client's config: librdkafka's lines through :class:`flows.kafka.client_log.ClientLog`
    (``on_log`` sees each line's facility and text first); for TLS/SASL, an error callback that raises
    KafkaSecurityError from poll/consume/flush."""
    conf = dict(settings)
    secured = is_secured(conf)
    conf.setdefault("logger", ClientLog(settings, drop=_reported_by_the_error if secured else None,
                                        listener=on_log))
    if secured:
        conf.setdefault("error_cb", _raise_on_security_error(settings))
    return conf


def flush(producer: Any, slice_s: float = 0.5) -> None:
    """``producer.flush()`` in slices: an error callback's exception surfaces within ``slice_s``
    (a single ``flush()`` only returns once every message is delivered or timed out)."""
    while producer.flush(slice_s) > 0:
        pass


def close_producer(producer: Any) -> None:
    """Flush, then let go. After a security failure, drop what can never be delivered instead of
    raising again: sinks close during the engine's teardown, where an exception aborts the process
    (the failure was reported already; every batch is flushed, so a clean end has nothing queued)."""
    try:
        flush(producer)
    except KafkaSecurityError:
        producer.purge(in_queue=True, in_flight=True, blocking=False)


def close_consumer(consumer: Any) -> None:
    """``consumer.close()`` without raising a (reported) security failure during teardown."""
    try:
        consumer.close()
    except KafkaSecurityError:
        pass


def check_credentials(settings: Mapping[str, Any], timeout_s: float = 30.0) -> None:
    """Before admin requests (which serve no callbacks): get metadata with a guarded client and
    raise KafkaSecurityError if the broker refuses us. Any other outcome (metadata, all brokers
    down, or no answer within ``timeout_s``) is left to the caller's own request and handling."""
    if not is_secured(settings):
        return
    from confluent_kafka import Producer

    errors: list[KafkaError] = []
    probe = Producer({**guarded(settings), "error_cb": errors.append})
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            probe.list_topics(timeout=min(0.5, max(deadline - time.monotonic(), 0.01)))
            return
        except KafkaException as exc:
            errors.append(exc.args[0])
        probe.poll(0)  # serves error_cb
        for err in errors:
            if isinstance(err, KafkaError) and security_problem(err):
                raise KafkaSecurityError(describe(err, settings))
        if any(isinstance(e, KafkaError) and e.code() == KafkaError._ALL_BROKERS_DOWN for e in errors):
            return
        errors.clear()
