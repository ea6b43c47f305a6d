"""Which Kafka cluster a recovery store's offsets belong to (``twinflow-kafka-cluster.json``).

The Kafka source keeps its offsets in Bytewax's recovery snapshots. An offset means a record only
on the cluster that assigned it: a resume pointed at another cluster (a new broker with the same
topic names, a disaster-recovery switch, a test cluster) would start every partition at an offset
that means other records there, or none yet, and skip or re-read without a word. So the store
records its cluster's id (Kafka's ``cluster.id``, from the metadata ``twin run`` asks for anyway)
and a resume against another id is refused in one line before the engine starts.

The record is a small JSON file INSIDE the recovery folder, beside Bytewax's ``part-*.sqlite3``
partitions (Bytewax reads only those; its tables are never touched): it travels with the store
when the folder is copied or restored from a backup, and goes when the folder is deleted to start
afresh. It is written atomically (a temporary file renamed into place) once the store has
partitions. A store written before round 19 has none: it is accepted once, said in a warning, and
its cluster recorded now.

The same goes for a topic deleted and re-created under the same name on the same cluster (a reset
by hand, a restore): its offsets start again from 0 in a new log, and the stored ones would skip
or re-read records of it silently. Kafka gives every topic an id (``topic_id``, a UUID, new at each
creation), so the record holds the input topics' ids too, and a resume on a topic whose id changed
is refused the same way, naming the topic. A record written before round 20 has no ids: accepted
once, said in a warning, and the ids recorded now. A topic the record does not name yet (the
decisions topic of a run that now reads it) is added; but a store whose recorded topics are none of
those read now is another run's (another ``--topic-prefix``, a folder copied from elsewhere) and is
refused: resumed, its twins went on from that run's records while these topics were read from
their start, without a word. A topic deleted while ``twin run`` reads it
(said then in a warning; one created again under that name is read from its first message, so the
offsets stored from then on are the new topic's) is forgotten from the record at once
(:func:`forget_topic`): the next start records the id it finds.

The brokers being unreachable is not a reason to refuse: ``twin run`` then stops at its broker
check with the usual ``cannot reach Kafka`` line before this module is asked anything, and the
record is left as it was (a broker outage is the normal path to a restart).
"""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from flows.archive.layout import replace_synced
from flows.dataflow.recovery_store import PART_GLOB, RecoveryStoreError, resume_point

__all__ = ["RECORD", "ClusterRecord", "check_cluster", "forget_topic", "read_record", "record_cluster"]

log = logging.getLogger(__name__)

RECORD = "twinflow-kafka-cluster.json"
"""The record's name inside the recovery folder."""

_KIND = "twinflow-kafka-cluster"


@dataclass(frozen=True)
class ClusterRecord:
    """The cluster a store's offsets belong to, the brokers it was reached at then, and the ids of
    the input topics (name -> Kafka topic id; None in a record written before round 20)."""

    cluster_id: str
    brokers: str
    topics: Mapping[str, str] | None = None


def _has_partitions(store: Path) -> bool:
    return store.is_dir() and any(p.is_file() for p in store.glob(PART_GLOB))


def read_record(store: Path) -> ClusterRecord | None:
    """The store's record; None when it has none; a one-line refusal when it is not twinflow's."""
    path = store / RECORD
    if not path.exists() and not path.is_symlink():
        return None
    try:
        if not stat.S_ISREG(path.lstat().st_mode):
            msg = "not a regular file"
            raise ValueError(msg)
        doc = json.loads(path.read_text(encoding="utf-8"))
        ours = isinstance(doc, dict) and doc.get("kind") == _KIND and isinstance(doc.get("cluster_id"), str)
        topics = doc.get("topics") if ours else None
        if topics is not None and not (isinstance(topics, dict) and all(
                isinstance(k, str) and isinstance(v, str) for k, v in topics.items())):
            ours = False
        if not ours:
            msg = "not twinflow's format"
            raise ValueError(msg)
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: [[[[... (round 36)
        msg = (f"recovery store {store}: its Kafka cluster record {path} cannot be read ({exc}): "
               f"restore it from the folder's backup, or delete it if these are surely the right brokers")
        raise RecoveryStoreError(msg) from None
    return ClusterRecord(doc["cluster_id"], str(doc.get("brokers", "")), topics)


def _write(store: Path, cluster_id: str, brokers: str, topics: Mapping[str, str] | None) -> None:
    doc: dict[str, object] = {"kind": _KIND, "cluster_id": cluster_id, "brokers": brokers,
                              "recorded_at": datetime.now(UTC).isoformat(timespec="seconds")}
    if topics is not None:  # {}: asked, none given (the brokers' ids are recorded when they give them)
        doc["topics"] = dict(sorted(topics.items()))
    for stale in store.glob(f".{RECORD}.tmp-*"):  # a run killed while writing it
        stale.unlink(missing_ok=True)
    tmp = store / f".{RECORD}.tmp-{os.getpid()}"
    try:
        tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        replace_synced(tmp, store / RECORD)  # round 37: a power loss leaves the old record or the new
    except OSError as exc:  # a full disk: it said `[Errno 28] No space left on device`, naming nothing
        msg = f"--recovery-dir {store}: cannot write its Kafka cluster record {RECORD}: {exc.strerror or exc}"
        raise RecoveryStoreError(msg) from None
    finally:
        tmp.unlink(missing_ok=True)


def check_cluster(store: Path, cluster_id: str | None, brokers: str,
                  topic_ids: Mapping[str, str] | None = None) -> None:
    """Before a resume touches ``store``: refuse (RecoveryStoreError, one line) when its offsets
    belong to another Kafka cluster than ``cluster_id`` (the one ``brokers`` answered for), or to
    an input topic of the same name that has since been deleted and re-created (its id in
    ``topic_ids``, name -> id, differs from the recorded one).

    A store without partitions (about to be initialised) has nothing to check. A store without a
    record (written before round 19), or a record without topic ids (before round 20), is recorded
    now, with a warning when it holds executions (offsets of an unknown cluster or topics: the run
    goes on as it always did)."""
    if cluster_id is None:
        log.warning("Kafka at %s gives no cluster id: the recovery store's cluster is not checked", brokers)
        return
    if not _has_partitions(store):
        return
    ids = dict(topic_ids or {})
    record = read_record(store)
    if record is None:
        if resume_point(store) is not None:
            log.warning("recovery store %s has no record of its Kafka cluster (written before twinflow "
                        "recorded it): resuming with the offsets it holds on cluster %s at %s, recorded "
                        "now", store, cluster_id, brokers)
        _write(store, cluster_id, brokers, ids)
        return
    if record.cluster_id != cluster_id:
        was = f" (brokers {record.brokers})" if record.brokers else ""
        msg = (f"--recovery-dir {store} holds the offsets of Kafka cluster {record.cluster_id}{was}, but "
               f"{brokers} is cluster {cluster_id}: they would mean other records there; give the brokers "
               f"of cluster {record.cluster_id}, or an empty --recovery-dir to start afresh on {cluster_id}")
        raise RecoveryStoreError(msg)
    if not ids:
        return
    if record.topics is None:
        if resume_point(store) is not None:
            log.warning("recovery store %s has no record of its input topics' ids (written before twinflow "
                        "recorded them): a topic deleted and re-created since cannot be told; resuming "
                        "with the offsets it holds, the ids of %s recorded now", store,
                        ", ".join(sorted(ids)))
        _write(store, record.cluster_id, record.brokers, ids)
        return
    changed = sorted(t for t, tid in ids.items() if t in record.topics and record.topics[t] != tid)
    if changed:
        which = ", ".join(f"{t} (id {record.topics[t]}, now {ids[t]})" for t in changed)
        msg = (f"--recovery-dir {store} holds the offsets of topic{'s' if len(changed) > 1 else ''} {which}, "
               f"deleted and re-created since on cluster {cluster_id}: they would skip or re-read records "
               f"of the new topic; give an empty --recovery-dir to read the topics afresh")
        raise RecoveryStoreError(msg)
    if record.topics and not set(record.topics) & set(ids) and resume_point(store) is not None:
        msg = (f"--recovery-dir {store} holds the offsets and state of another run, which read "
               f"{', '.join(sorted(record.topics))}; this one reads {', '.join(sorted(ids))}, none of "
               "them: its twins would go on from the other run's records, and these topics be read from "
               "their start; give that run's topics (--topic-prefix), or an empty --recovery-dir to "
               "start afresh")
        raise RecoveryStoreError(msg)
    if any(t not in record.topics for t in ids):  # a topic it reads now and did not before
        _write(store, record.cluster_id, record.brokers, {**record.topics, **ids})


def record_cluster(store: Path, cluster_id: str | None, brokers: str,
                   topic_ids: Mapping[str, str] | None = None) -> None:
    """Record ``cluster_id`` and ``topic_ids`` in ``store`` (just initialised, or checked) if it has
    partitions and no record yet."""
    if cluster_id is not None and _has_partitions(store) and read_record(store) is None:
        _write(store, cluster_id, brokers, topic_ids)


def forget_topic(store: Path, topic: str) -> None:
    """Drop ``topic``'s id from the store's record (the topic was deleted while a run read it). Never
    raises: a record that cannot be read or written now is left as it is, said in a warning (the
    next start refuses the resume if the topic's id changed)."""
    try:
        record = read_record(store)
        if record is not None and record.topics is not None and topic in record.topics:
            kept = {t: i for t, i in record.topics.items() if t != topic}
            _write(store, record.cluster_id, record.brokers, kept)
    except (OSError, RecoveryStoreError) as exc:
        log.warning("recovery store %s: the id of deleted topic %s could not be forgotten (%s)", store, topic,
                    exc)
