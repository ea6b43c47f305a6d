"""What the Kafka source does when what it reads is gone: a resumed offset, a whole topic.

The source's offsets live in Bytewax's recovery snapshots. A run stopped longer than a topic's
retention resumes at an offset the broker no longer keeps, and librdkafka then applies
``auto.offset.reset``. Its own default (latest) jumped to the END, skipping silently all that was
kept, so the source's default is ``earliest``: the oldest message kept. An operator's explicit value
(``[pipeline.kafka.librdkafka] auto.offset.reset``) is honoured: ``latest`` skips to the end,
``error`` stops the run with one line. Whatever the policy, the gap is logged and counted
(``twin_source_errors_total{code="offsets_deleted"}``); the policy in force is said at start-up
(a warning when it is not earliest, since it can skip or stop). A value librdkafka refuses is
refused before the engine starts (``twin run``'s client check: one line, exit 2).

A telemetry topic deleted while the run reads it gives no error event: librdkafka only logs a
notice that the topic's partition count changed to 0 (its next metadata refresh, seconds to a
minute later). The source watches its clients' log lines (:mod:`flows.kafka.client_log`) for it
(:func:`deleted_topic`): the topic then counts as at its end (the merge goes on with the other
topics, an ``--exit-at-end`` run can end), one warning names it, counted
(``twin_source_errors_total{code="topic_deleted"}``). And what the source reads at all:
:func:`partition_count`, the telemetry topics' common partition count.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping, Sequence

from confluent_kafka.admin import AdminClient

from flows.kafka.errors import guarded

__all__ = ["DEFAULT_RESET", "LISTING", "PARTS_LISTED", "RESET_KEY", "DeletedTopics", "OffsetsDeletedError",
           "deleted_text", "deleted_topic", "gap_text", "mark_parts_listed", "partition_count",
           "reset_policy", "say_policy", "stop_text"]

log = logging.getLogger("flows.dataflow.sources.kafka")

PARTS_LISTED = threading.Event()
"""Set when the engine first asks a Kafka source for its partitions: in a cluster, once its processes
are connected (:mod:`flows.app.peer_wait` lets a stop signal end a process still waiting for them)."""
LISTING = threading.Lock()
"""Held while :data:`PARTS_LISTED` is set (:func:`mark_parts_listed`) and by :mod:`flows.app.peer_wait`'s
watcher while it acts on a stop signal before it: a signal as the engine starts either ends the
process before the source lists anything, or is left to the engine (round 29; before, the watcher
could say "nothing was read or written" while the engine had begun)."""


def mark_parts_listed() -> None:
    """Set :data:`PARTS_LISTED`, waiting for a stop the watcher is acting on (see :data:`LISTING`)."""
    with LISTING:
        PARTS_LISTED.set()


RESET_KEY = "auto.offset.reset"
DEFAULT_RESET = "earliest"
_ALIASES = {"smallest": "earliest", "beginning": "earliest", "largest": "latest", "end": "latest"}
_said: set[tuple[str, bool]] = set()
_GONE = re.compile(r"^Topic (\S+) (?:\(id [^)]*\) )?partition count changed from \d+ to 0$")


class OffsetsDeletedError(ValueError):
    """The resumed offset is gone and ``auto.offset.reset=error`` asks to stop (one line, exit 2)."""


def reset_policy(client_config: Mapping[str, str]) -> tuple[str, bool]:
    """The policy in force (``earliest``, ``latest`` or ``error``; librdkafka's aliases named by
    these) and whether the settings chose it (else the source's default)."""
    value = client_config.get(RESET_KEY)
    if value is None:
        return DEFAULT_RESET, False
    text = str(value).strip().lower()
    return _ALIASES.get(text, text), True


def say_policy(client_config: Mapping[str, str]) -> None:
    """The start-up line: which policy decides where a resumed offset that retention deleted continues.
    Once per process and policy (every source of ``twin run`` shares the settings)."""
    policy, chosen = reset_policy(client_config)
    if (policy, chosen) in _said:
        return
    _said.add((policy, chosen))
    if policy == DEFAULT_RESET:
        log.info("Kafka source: %s=%s (%s): a resumed offset that retention deleted continues at the "
                 "oldest message kept", RESET_KEY, policy, "from the settings" if chosen else "default")
        return
    then = {"latest": "continues at the END of the topic, skipping the messages kept (default: earliest)",
            "error": "stops the run (default: earliest, the oldest message kept)"}.get(policy, "")
    log.warning("Kafka source: %s=%s (from the settings): a resumed offset that retention deleted %s",
                RESET_KEY, policy, then)


def gap_text(policy: str, topic: str, part: int, want: int, offset: int) -> str:
    """The warning for a resumed offset ``want`` that retention deleted, continued at ``offset``."""
    if policy == "latest":
        return (f"{topic}[{part}]: resumed at offset {want}, deleted (retention) before it was read; "
                f"{RESET_KEY}=latest: continued at the end, offset {offset}: {offset - want} messages not "
                "read (deleted, or kept and skipped)")
    return (f"{topic}[{part}]: resumed at offset {want}, the oldest message kept is {offset}: "
            f"{offset - want} messages deleted (retention) before they were read")


def stop_text(topic: str, part: int, want: int | None) -> str:
    """The one line of a gap under ``auto.offset.reset=error``."""
    at = f"resumed at offset {want}" if want is not None else "the next offset to read"
    return (f"Kafka topic {topic} partition {part}: {at} is no longer kept (retention deleted it) and "
            f"{RESET_KEY}=error stops the run; set {RESET_KEY} to earliest (read what is kept) or latest "
            "(skip to the end) under [pipeline.kafka.librdkafka], or start again with a new --recovery-dir")


def deleted_topic(fac: str, text: str) -> str | None:
    """The topic a librdkafka log line says was deleted (its partition count fell to 0), else None."""
    if fac != "PARTCNT":
        return None
    m = _GONE.match(text.strip())
    return m.group(1) if m else None


def deleted_text(topic: str) -> str:
    """The one warning of a telemetry topic deleted mid-run."""
    return (f"Kafka topic {topic} was deleted while twin run read it: its messages not read yet are lost; "
            "the run goes on with the other telemetry topics (the merge no longer waits for it; a topic "
            "created again under that name is read from its first message, with the default "
            'auto.offset.reset), counted in twin_source_errors_total{code="topic_deleted"}')


class DeletedTopics:
    """A source's deleted topics: one warning and one count per topic and process (every partition of it
    sees the same notice)."""

    def __init__(self, on_error: Callable[[str], None]) -> None:
        self.on_error = on_error
        self.seen: set[str] = set()
        self.also: Callable[[str], None] | None = None  # `twin run --recovery-dir`: forget its topic id

    def __call__(self, topic: str) -> None:
        if topic not in self.seen:
            self.seen.add(topic)
            self.on_error("topic_deleted")
            log.warning("%s", deleted_text(topic))
            if self.also is not None:
                self.also(topic)


def partition_count(client_config: Mapping[str, str], topics: Sequence[str],
                    timeout_s: float = 30.0) -> int:
    """The common partition count of ``topics``; a clear error if missing or not co-partitioned."""
    admin = AdminClient(guarded(client_config))  # librdkafka's lines through the project's logger
    meta = admin.list_topics(timeout=timeout_s)
    counts = {}
    for topic in topics:
        tm = meta.topics.get(topic)
        if tm is None or tm.error is not None:
            msg = f"Kafka topic {topic!r} does not exist (create it with `twin topics create`)"
            raise ValueError(msg)
        counts[topic] = len(tm.partitions)
    if len(set(counts.values())) != 1:
        msg = f"telemetry topics must have the same number of partitions, got {counts}"
        raise ValueError(msg)
    return next(iter(counts.values()))
