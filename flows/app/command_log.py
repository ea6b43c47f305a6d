"""``twin commands list|approve|reject``: the audit log read back, and a person's decision sent on.

The audit topic (``twin.audit.v1``) is the command path's source of truth for the CLI: every
entry the guards wrote, read from the beginning of every partition to its end. :func:`statuses`
folds it into one :class:`CommandStatus` per command (its proposal, its last entry). A decision
is only sent for a command that is pending now (proposed in approve mode, not decided, not past
its expiry); anything else is one line naming the command and why (exit 2 in the CLI). The
decision goes to ``twin.commands.decisions.v1`` keyed by the asset, so ``twin run`` routes it to
that asset's guard, which checks again (expiry, kill switch, guard rails) before it sends.

Both readers (the topic's and the archive's) check each entry with the same decoder
(:func:`flows.codec.command_fields.audit_from_json`): an entry it refuses (an actor holding a
control character, which ``--actor`` refuses, another client's message) is left out by both and
returned as a :class:`Refused` (its dead-letter reason and detail), so ``twin commands list`` says
how many it left out and why (round 28: the topic's reader dropped it unsaid, the archive's kept it).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from flows.codec import encode_json
from flows.codec.command_fields import AUDIT, audit_from_json
from flows.codec.errors import Reject
from flows.codec.fields import format_timestamp
from flows.config.pipeline import KafkaConfig
from flows.dataflow.sinks.kafka import producer_config
from flows.kafka.clients import KafkaSetupError, consumer_client, producer_client, wait_for_brokers
from twin_models.records import AuditEntry, CommandDecision
from twin_models.text import counted

__all__ = ["CommandStatus", "Refused", "pending", "read_archive_audit", "read_audit", "refused_line",
           "send_decision", "statuses"]

FETCH_ROWS = 8192
"""Rows of the archive's audit table fetched at a time (:func:`read_archive_audit`)."""
READ_TIMEOUT_S = 30.0
"""Longest wait for the audit topic's end (a broker that stops answering midway)."""


@dataclass(frozen=True)
class Refused:
    """An audit entry the decoder refused: its dead-letter reason code and the detail."""

    reason: str
    detail: str


def refused_line(refused: list[Refused], source: str) -> str:
    """One warning line: how many entries were left out, per reason, and the first one's detail."""
    counts: dict[str, int] = {}
    for r in refused:
        counts[r.reason] = counts.get(r.reason, 0) + 1
    n = len(refused)
    per = ", ".join(f"{k} {v}" for k, v in counts.items())
    return (f"twin: warning: {counted(n, 'entry', 'entries')} of {source} left out (not audit entries: "
            f"{per}; first: {refused[0].detail})")


def _decoded(payload: bytes, out: list[AuditEntry], refused: list[Refused]) -> None:
    try:
        out.append(audit_from_json(payload))
    except Reject as exc:
        refused.append(Refused(exc.reason, str(exc)))


@dataclass(frozen=True)
class CommandStatus:
    """One command as its audit entries tell it: the proposal and the latest entry."""

    proposal: AuditEntry
    last: AuditEntry

    @property
    def state(self) -> str:
        """``pending`` (waiting for a person), else the last action (sent, refused, ...)."""
        if self.last.action == "proposed":
            return "pending" if self.proposal.mode == "approve" else "proposed"
        return self.last.action

    def expired(self, now: datetime) -> bool:
        """Past its expiry (whatever the guard has written yet)."""
        return now >= self.proposal.expires_at


def read_audit(cfg: KafkaConfig) -> tuple[list[AuditEntry], list[Refused]]:
    """Every entry of the audit topic, and the messages that were not audit entries."""
    topic = cfg.topic("audit")
    settings = {**cfg.client_config(), "group.id": f"twin-commands-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": "false", "enable.partition.eof": "true"}
    consumer, errors = consumer_client(cfg, settings)
    try:
        meta = wait_for_brokers(consumer, errors, cfg)
        if topic not in meta.topics:
            msg = f"Kafka at {cfg.brokers} has no topic {topic} (create the topics with `twin topics create`)"
            raise KafkaSetupError(msg)
        parts = list(meta.topics[topic].partitions)
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=cfg.connect_timeout_s)[1]
                for p in parts}
        todo = {p for p, end in ends.items() if end > 0}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in todo])
        return _consume(consumer, todo, ends, topic)
    finally:
        consumer.close()


def _consume(consumer: object, todo: set[int], ends: dict[int, int],
             topic: str) -> tuple[list[AuditEntry], list[Refused]]:
    """Read the assigned partitions up to their end offsets."""
    out: list[AuditEntry] = []
    bad: list[Refused] = []
    deadline = time.monotonic() + READ_TIMEOUT_S
    while todo:
        if time.monotonic() > deadline:
            msg = f"the audit topic {topic} could not be read to its end within {READ_TIMEOUT_S:g} s"
            raise KafkaSetupError(msg)
        for m in consumer.consume(500, 0.5):  # type: ignore[attr-defined]
            if m.error() is None:
                _decoded(m.value(), out, bad)
            if m.error() is not None or m.offset() + 1 >= ends[m.partition()]:
                todo.discard(m.partition())
    return out, bad


def read_archive_audit(root: str | Path) -> tuple[dict[str, CommandStatus], list[Refused]]:
    """The archive's ``audit`` table (read-only, like ``twin sql``) as :func:`statuses` folds it, each
    entry checked as the topic's are, and the rows refused; it lags the topic by up to an archive
    flush, so decisions are always checked against the topic.

    Streamed (round 39, DURABLE39): the rows come from DuckDB in (timestamp, sequence) order, 8,192
    at a time, and are folded as they come, so only each command's proposal and last entry stay,
    without their lineage (checked by the decoder, never shown by the list; ~half an entry's memory).
    Before, every row was fetched, then decoded into a list, then sorted: ~3.3 KB of memory per
    entry (200,000 entries: 846 MB peak, of which DuckDB's views ~450 MB)."""
    from flows.archive.files import BadFile
    from flows.archive.query import NoReadableFile, query, warn_once

    folder = Path(root)
    if not (folder / "audit").is_dir() and any((folder / t).is_dir() for t in ("features", "alerts")):
        return {}, []  # an archive without a command audit yet (mode off, or written before it)
    names = [f.name for f in AUDIT.fields]
    sql = f"SELECT {', '.join(names)} FROM audit ORDER BY timestamp, sequence"
    skipped: list[list[BadFile]] = []  # warned once the read is done: not before the line naming them

    def folded(con: duckdb.DuckDBPyConnection) -> tuple[dict[str, CommandStatus], list[Refused]]:
        refused: list[Refused] = []  # afresh when the archive changed and the rows come again
        return statuses(_archive_entries(con.fetchmany, names, refused), ordered=True), refused

    try:
        return query(root, sql, lambda bad: skipped.append(list(bad)), consume=folded)
    except NoReadableFile:  # round 40: one line naming the audit's files, no warning before it
        skipped.clear()
        raise
    finally:
        if skipped:
            warn_once(root)(skipped[-1])


def _archive_entries(fetch: Callable[[int], list[tuple[Any, ...]]], names: list[str],
                     refused: list[Refused]) -> Iterator[AuditEntry]:
    """The rows ``fetch`` gives, decoded as the topic's messages are (refused ones go to ``refused``)."""
    while rows := fetch(FETCH_ROWS):
        for row in rows:  # as the topic's message: the same decoder judges it
            v = dict(zip(names, row, strict=True))
            for name in ("timestamp", "expires_at"):
                if isinstance(v[name], datetime):
                    v[name] = format_timestamp(v[name].astimezone(UTC))
            if isinstance(v["lineage"], str):
                try:
                    v["lineage"] = json.loads(v["lineage"])
                except (ValueError, RecursionError):
                    pass  # the decoder names it
            got: list[AuditEntry] = []
            try:
                payload = json.dumps(v).encode()
            except (TypeError, ValueError):  # round 40: a column of a type JSON has not (an internal error)
                refused.append(_foreign(v))
                continue
            _decoded(payload, got, refused)
            for e in got:  # checked whole; kept without its lineage, which the list never shows
                yield replace(e, lineage=None)


def _foreign(v: dict[str, Any]) -> Refused:
    """A row with a value no audit entry holds (a DECIMAL, BLOB, DATE or INTERVAL column of a planted
    or rewritten file): refused naming the first such column, never turned into text and decoded."""
    for name, value in v.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            return Refused("schema_violation", f"{name} must be a JSON value, got {type(value).__name__}")
    return Refused("schema_violation", "not a JSON object")


def statuses(entries: Iterable[AuditEntry], ordered: bool = False) -> dict[str, CommandStatus]:
    """Per command id (in proposal order): its proposal and latest entry; ``ignored`` decisions
    and entries without a proposal are left out. ``ordered``: ``entries`` come by (timestamp,
    sequence) already, and are folded as they come (not gathered to be sorted)."""
    first: dict[str, AuditEntry] = {}
    last: dict[str, AuditEntry] = {}
    for e in entries if ordered else sorted(entries, key=lambda e: (e.timestamp, e.sequence)):
        if e.action == "ignored":
            continue
        if e.action == "proposed":
            first.setdefault(e.command_id, e)
        if e.command_id in first and e.sequence >= last.get(e.command_id, e).sequence:
            last[e.command_id] = e
    return {cid: CommandStatus(p, last[cid]) for cid, p in first.items()}


def pending(status: CommandStatus | None, command_id: str, now: datetime) -> AuditEntry:
    """The proposal of a command a person may decide on now; ``ValueError`` naming why not."""
    if status is None:
        msg = f"unknown command id {command_id!r} (see `twin commands list`)"
        raise ValueError(msg)
    if status.state != "pending":
        msg = f"command {command_id} is not pending: {status.state} ({status.last.reason})"
        raise ValueError(msg)
    if status.expired(now):
        msg = f"command {command_id} expired at {status.proposal.expires_at.isoformat()}"
        raise ValueError(msg)
    return status.proposal


def send_decision(cfg: KafkaConfig, decision: CommandDecision) -> str:
    """Produce the decision (key = asset) and wait for its delivery; returns the topic."""
    topic = cfg.topic("decisions")
    producer, errors = producer_client(cfg, producer_config(cfg.client_config()))
    wait_for_brokers(producer, errors, cfg)
    failed: list[str] = []
    producer.produce(topic, encode_json(decision), decision.asset_id.encode(),
                     on_delivery=lambda err, _m: failed.append(str(err)) if err is not None else None)
    if producer.flush(cfg.connect_timeout_s) > 0 or failed:
        why = failed[0] if failed else f"not delivered within {cfg.connect_timeout_s:g} s"
        msg = f"could not send the decision to {topic} on {cfg.brokers}: {why}"
        raise KafkaSetupError(msg)
    return topic
