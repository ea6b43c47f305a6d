"""``twin run``: the one dataflow with the Kafka source and sinks, on one or several processes."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig
from bytewax.run import cli_main

from flows.app.fleet_topic import FleetModelConsumer
from flows.app.gate_link import ProgressPublisher
from flows.app.heap import collecting_less
from flows.app.held_watch import removed
from flows.app.out_held import as_given
from flows.app.outputs import kafka_outputs
from flows.app.switching import switching_often
from flows.app.topics import check_fleet_topic
from flows.config.pipeline import PipelineConfig
from flows.dataflow.event_time_gate import EventTimeGate
from flows.dataflow.fleet_models import FleetBoard
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.open_episodes import RestoredOpen
from flows.dataflow.pipeline import get_flow
from flows.dataflow.recovery_store import check_flow, join_store, lock_store, prepare_store, store_failure
from flows.dataflow.sinks.archive_writer import ArchiveWriteError
from flows.dataflow.sinks.kafka import DeliveryFailed
from flows.dataflow.sources.kafka import KafkaTelemetrySource
from flows.dataflow.store_cluster import check_cluster, forget_topic, record_cluster
from flows.kafka.errors import KafkaSecurityError
from twin_models.records import AssetMetadata

__all__ = ["KafkaIdentity", "OutputUndelivered", "RunOptions", "Stopped", "archive_warning",
           "build_kafka_flow", "check_kafka", "event_time_gate", "input_roles", "run_kafka_flow",
           "whatif_request_source"]

log = logging.getLogger(__name__)

TELEMETRY_ROLES = ("scalars", "waveforms", "events")
OUTPUT_ROLES = ("state", "alerts", "dead_letters", "fleet_models", "recommendations", "commands", "audit",
                "whatif_results")
"""Topics ``twin run`` writes to (:func:`flows.app.outputs.kafka_outputs`; ``fleet_models`` is also
read back). Checked at start like the inputs: a missing one was found only at the first message
to it, as a delivery failure ("Unknown topic or partition") told as "restart once Kafka is back"."""
DECIDING_MODES = ("approve", "auto")
"""Command modes in which ``twin run`` reads the decisions topic (and needs it)."""


GATE_SHARE_OF_DELAY = 0.125
"""The event-time gate's budget as a share of ``model_delay_s`` (3 h of the default day):
partitions may run this far ahead of the slowest. Until the failure that closes a life is known
(its window closes only when the failed asset sends data again, after its repair: 12 h in the
simulator, then window + allowed lateness), the failed asset's partition may already be up to one
budget past it (one batch) and the others one more budget: 2 x 3 h + 12 h + 1 h 10 min < 1 day.
Once known, the gate's hold keeps every partition at the version's effective time until the
version is on the topic. Measured with 1/2 and 1/4: versions still arrived late in 2-process runs
(benchmarks/RESULTS.md, part SCALEOUT)."""

GATE_TIMEOUT_S = 60.0
"""Wall seconds a partition waits for the slowest one to move before the gate opens (counted)."""


BACKUP_SNAPSHOTS = 2
"""Default backup interval, in snapshot intervals. Bytewax garbage-collects the snapshots a newer
epoch supersedes ``backup_interval`` after they stop being the resume point; with 0 (Bytewax's
default) the previous resume point is deleted the moment the next epoch commits, so the store
holds exactly one. A resume point computed from an older frontier than the one GC acted on is
then refused for ever ("partitions are too old to resume from epoch N"): that is what two
executions writing one folder at once produce (a killed wrapper whose Python process lived on;
now refused by the folder lock) and what restoring a file-level copy of a live folder produces.
Within one execution Bytewax commits at most the epoch before the recorded frontier, so two
snapshot intervals keep one older resume point as a margin, at the cost of at most two more
versions of the state that changed (bounded, small next to the archive). Raise it to the period
of any file-level backup of the folder."""


@dataclass(frozen=True)
class RunOptions:
    """How to execute: parallelism, recovery, where the archive goes, when to stop."""

    archive_dir: Path
    workers: int = 1
    process_id: int | None = None
    addresses: tuple[str, ...] = ()
    recovery_dir: Path | None = None
    snapshot_interval_s: float = 30.0
    backup_interval_s: float | None = None  # None: BACKUP_SNAPSHOTS snapshot intervals
    exit_at_end: bool = False
    from_end: bool = False

    @property
    def backup_s(self) -> float:
        """How long superseded snapshots are kept (see :data:`BACKUP_SNAPSHOTS`)."""
        if self.backup_interval_s is not None:
            return self.backup_interval_s
        return BACKUP_SNAPSHOTS * self.snapshot_interval_s

    @property
    def total_workers(self) -> int:
        """Workers over all processes of the cluster."""
        return self.workers * max(len(self.addresses), 1)


def event_time_gate(cfg: PipelineConfig, opts: RunOptions, metrics: PipelineMetrics) -> EventTimeGate:
    """The process's event-time gate: no partition more than ``GATE_SHARE_OF_DELAY`` of
    ``model_delay_s`` of event time ahead of the cluster's slowest (flows.dataflow.event_time_gate)."""
    processes = max(len(opts.addresses), 1)
    return EventTimeGate(cfg.twin.fleet.model_delay_s * GATE_SHARE_OF_DELAY,
                         process_id=(opts.process_id or 0) if opts.addresses else 0, processes=processes,
                         timeout_s=GATE_TIMEOUT_S, on_wait=metrics.event_time_gate_waits.inc,
                         on_timeout=metrics.event_time_gate_timeouts.inc)


def build_kafka_flow(
    cfg: PipelineConfig,
    opts: RunOptions,
    metadata: Mapping[str, AssetMetadata],
    metrics: PipelineMetrics,
    board: FleetBoard | None = None,
    gate: EventTimeGate | None = None,
    restored_open: Mapping[str, Mapping[str, int]] | None = None,
) -> Dataflow:
    """get_flow with the Kafka telemetry source, Kafka sinks and the Parquet archive; ``board``:
    the process's fleet model board (filled from the fleet model topic, see run_kafka_flow);
    ``gate``: the source's event-time gate (None: partitions are not bounded by each other);
    ``restored_open``: the open alert episodes a resume restored, by step (for the gauge)."""
    k = cfg.kafka
    client = k.client_config()
    source = KafkaTelemetrySource(
        client, [k.topic(r) for r in TELEMETRY_ROLES], tail=not opts.exit_at_end,
        from_end=opts.from_end, on_error=lambda code: metrics.source_errors.labels(code=code).inc(),
        on_lag=lambda t, part, lag: metrics.kafka_consumer_lag_messages.labels(
            topic=t, partition=str(part)).set(lag), gate=gate, asset_keys=k.partitioning == "asset_id",
        end_wait_s=0.0 if opts.exit_at_end else min(k.end_wait_s, cfg.allowed_lateness_s / 2),
    )  # --exit-at-end reads a finished input: a topic's end is its end (no wait)
    _forgets_deleted(source, opts)
    sinks = kafka_outputs(cfg, metrics, opts.archive_dir, partitions=opts.total_workers,
                          recovery=opts.recovery_dir is not None)
    return get_flow(cfg, source=source, sinks=sinks, metadata=metadata, metrics=metrics, board=board,
                    command_inputs=decisions_source(cfg, opts, metrics), send_commands=True,
                    requests=whatif_request_source(cfg, opts, metrics), restored_open=restored_open)


def _forgets_deleted(source: KafkaTelemetrySource, opts: RunOptions) -> KafkaTelemetrySource:
    """With a recovery store: a topic of ``source`` deleted mid-run is forgotten from the store's
    record (:func:`flows.dataflow.store_cluster.forget_topic`)."""
    if opts.recovery_dir is not None:
        source.topic_deleted.also = functools.partial(forget_topic, opts.recovery_dir)
    return source


def decisions_source(cfg: PipelineConfig, opts: RunOptions, metrics: PipelineMetrics) -> Any:
    """The command path's input (issue 11, level 5): the decisions topic, read only when a person's
    approval can lead to a send (``commands.mode`` approve or auto); None otherwise."""
    if cfg.commands.mode not in DECIDING_MODES:
        return None
    k = cfg.kafka
    return _forgets_deleted(KafkaTelemetrySource(
        k.client_config(), [k.topic("decisions")], tail=not opts.exit_at_end,
        on_error=lambda code: metrics.source_errors.labels(code=code).inc()), opts)



def whatif_request_source(cfg: PipelineConfig, opts: RunOptions,
                          metrics: PipelineMetrics) -> KafkaTelemetrySource:
    """The what-if request topic (``twin.whatif.requests.v1``): its own source, so requests are
    neither merged by event time with the telemetry nor held by the event-time gate."""
    k = cfg.kafka
    return _forgets_deleted(KafkaTelemetrySource(
        k.client_config(), [k.topic("whatif_requests")], tail=not opts.exit_at_end, from_end=opts.from_end,
        on_error=lambda code: metrics.source_errors.labels(code=code).inc()), opts)


def _recovery(opts: RunOptions, cluster_id: str | None = None, brokers: str = "",
              topic_ids: Mapping[str, str] | None = None,
              loaded: Callable[[str, str, Any], None] | None = None) -> RecoveryConfig | None:
    """The recovery config; the store is locked against a second live run, checked to belong to
    the Kafka cluster ``cluster_id`` and to the input topics of ``topic_ids`` (name -> Kafka topic
    id; :mod:`flows.dataflow.store_cluster`: refused before anything in it changes), then initialised,
    or made consistent to resume from (see
    :mod:`flows.dataflow.recovery_store`: snapshots of epochs an interrupted run did not finish are
    discarded). Only process 0 repairs: the others cannot start before it joins the cluster."""
    if opts.recovery_dir is None:
        return None
    if opts.addresses and opts.process_id:  # another process than 0 of a cluster
        join_store(opts.recovery_dir, opts.process_id)
    lock_store(opts.recovery_dir, opts.process_id if opts.addresses else None)
    check_flow(opts.recovery_dir, FLOW_ID)
    check_cluster(opts.recovery_dir, cluster_id, brokers, topic_ids)
    if opts.process_id in (None, 0) or not opts.addresses:
        prepare_store(opts.recovery_dir, opts.total_workers, loaded)
    record_cluster(opts.recovery_dir, cluster_id, brokers, topic_ids)
    return RecoveryConfig(opts.recovery_dir, backup_interval=timedelta(seconds=opts.backup_s))


FLOW_ID = "twinflow"
"""The dataflow's id (:func:`flows.dataflow.pipeline.get_flow`'s default): its steps' names begin with it."""
SIGNAL = "signal"


class Stopped(Exception):
    """The flow was stopped by SIGTERM or SIGINT (not a failure)."""

    def __init__(self, signame: str) -> None:
        super().__init__(signame)
        self.signame = signame


def _terminate_gracefully() -> None:
    """SIGTERM stops the dataflow like Ctrl-C: it stops where it is; what was emitted stays
    emitted, the recovery store holds the last completed snapshot, and a restart with the same
    ``--recovery-dir`` resumes from it (the archive deduplicates what is written again). A repeated
    signal does not abort the stop (:mod:`flows.app.stop_signals`)."""
    from flows.app.stop_signals import stop_once

    stop_once()


@dataclass(frozen=True)
class KafkaIdentity:
    """What the recovery store's offsets are checked against: the cluster's id (None if the brokers
    give none) and the input topics' ids (name -> Kafka topic id; empty when not asked or not given)."""

    cluster_id: str | None
    topic_ids: Mapping[str, str]


def input_roles(cfg: PipelineConfig) -> tuple[str, ...]:
    """The topics whose offsets ``twin run`` keeps in its recovery store."""
    deciding = cfg.commands.mode in DECIDING_MODES
    return (*TELEMETRY_ROLES, "whatif_requests", *(("decisions",) if deciding else ()))


def check_kafka(cfg: PipelineConfig, *, topic_ids: bool = False) -> KafkaIdentity:
    """Before the engine starts: the settings make a client, the brokers answer within
    ``kafka.connect_timeout_s`` and the topics it reads and writes exist; else one KafkaSetupError line
    (inside the dataflow the same failures end in an engine traceback). Returns the cluster's id
    and, with ``topic_ids``, the input topics' ids, which the recovery store's offsets are checked
    against."""
    from flows.kafka.clients import KafkaSetupError, admin_client, wait_for_brokers
    from flows.kafka.clients import topic_ids as ids_of

    admin, errors = admin_client(cfg.kafka)
    meta = wait_for_brokers(admin, errors, cfg.kafka)
    roles: tuple[str, ...] = (*TELEMETRY_ROLES, "whatif_requests", *OUTPUT_ROLES)
    roles = (*roles, "decisions") if cfg.commands.mode in DECIDING_MODES else roles
    missing = [cfg.kafka.topic(r) for r in roles if cfg.kafka.topic(r) not in meta.topics]
    if missing:
        msg = (f"Kafka at {cfg.kafka.brokers} has no topic {', '.join(missing)} "
               "(create the topics with `twin topics create`)")
        raise KafkaSetupError(msg)
    check_fleet_topic(admin, cfg.kafka)
    inputs = [cfg.kafka.topic(r) for r in input_roles(cfg)]
    return KafkaIdentity(meta.cluster_id or None, ids_of(admin, inputs, cfg.kafka) if topic_ids else {})


def archive_warning(opts: RunOptions) -> str | None:
    """Before a run writes: the line saying its archive holds other runs' rows, which the views
    would mix with this run's (:func:`flows.app.out_dir.mixing_line`). None on a resume (the
    ``--recovery-dir`` holds recovery partitions: the same run goes on, and its first start said
    it), in a cluster's processes but 0 (one line per cluster), or for an archive of no run."""
    from flows.dataflow.recovery_store import PART_GLOB

    if opts.addresses and opts.process_id:
        return None
    if opts.recovery_dir is not None and any(p.is_file() for p in opts.recovery_dir.glob(PART_GLOB)):
        return None
    from flows.app.out_dir import mixing_line

    return mixing_line(f"the archive {as_given(opts.archive_dir)}", opts.archive_dir,
                       "give each run its own --archive (archive_dir) to keep runs apart")


def run_kafka_flow(
    cfg: PipelineConfig,
    opts: RunOptions,
    metadata: Mapping[str, AssetMetadata],
    metrics: PipelineMetrics | None = None,
) -> None:
    """Run until interrupted (or until the topics are consumed, with ``exit_at_end``)."""
    kafka = check_kafka(cfg, topic_ids=opts.recovery_dir is not None)
    warning = archive_warning(opts)  # before _recovery makes a fresh store look like a resume
    # refusals before anything starts
    restored = RestoredOpen(FLOW_ID)  # the open-episodes gauge from the resumed state (one process)
    recovery = _recovery(opts, kafka.cluster_id, cfg.kafka.brokers, kafka.topic_ids,
                         loaded=None if opts.addresses else restored)
    if warning is not None:
        print(warning, file=sys.stderr)
    metrics = metrics or PipelineMetrics()
    board = FleetBoard(on_late=lambda _v: metrics.fleet_models_late.inc())
    gate = event_time_gate(cfg, opts, metrics)
    board.on_expect = gate.hold  # a closed life holds the cluster until its version is on the topic
    board.on_void = gate.release  # ... or until this process's learner failed on it (none will come)
    flow = build_kafka_flow(cfg, opts, metadata, metrics, board, gate, restored.by_step)  # restored_open
    # every process reads the fleet model versions of every kind (the learner of a kind lives in
    # one process): from the beginning of the compacted topic, so a restart gets them back; and
    # the other processes' positions for the event-time gate (the same topic, gate_link)
    topic = cfg.kafka.topic("fleet_models")
    models = FleetModelConsumer(cfg.kafka, topic, board, metrics, gate=gate).start()
    try:
        progress = (ProgressPublisher(cfg.kafka, topic, gate, opts.process_id or 0).start()
                    if len(opts.addresses) > 1 else None)
    except ValueError:  # KafkaSetupError: one line; the consumer started above is stopped
        models.stop()
        raise
    if progress is not None:  # the hold may be another process's: the void goes to every process
        board.on_void = functools.partial(_void_everywhere, gate, progress)
    _terminate_gracefully()
    os.environ.setdefault("RUST_BACKTRACE", "0")  # a stop is not a crash: no engine backtrace
    # fewer garbage collections of a batch's short-lived objects, and the GIL handed back to the
    # worker within ~1 ms while archive writers run (flows/app/switching.py); the caller's
    # settings come back after
    from flows.app.peer_wait import PeerWait, peer_lost

    with collecting_less(), switching_often(), PeerWait(opts.addresses, opts.process_id):
        try:
            cli_main(
                flow,
                workers_per_process=opts.workers,
                process_id=opts.process_id if opts.addresses else None,
                addresses=list(opts.addresses) or None,
                epoch_interval=timedelta(seconds=opts.snapshot_interval_s),
                recovery_config=recovery,
            )
        except KeyboardInterrupt:
            raise Stopped(SIGNAL) from None
        except Exception as exc:
            if _cause(exc, KeyboardInterrupt) is not None:
                raise Stopped(SIGNAL) from None
            security = _cause(exc, KafkaSecurityError)
            if security is not None:
                raise security from None
            failed = _cause(exc, DeliveryFailed)
            if failed is not None:
                raise OutputUndelivered(failed.summary()) from None
            unwritten = _cause(exc, ArchiveWriteError)
            if unwritten is not None:
                if removed(opts.archive_dir):  # held (round 42): never made again at its name mid-run
                    why = (f"the archive folder {as_given(opts.archive_dir)} was removed while "
                           f"the run wrote in it ({unwritten})")
                    raise OutputUndelivered(why, "to make it again and resume") from None
                raise OutputUndelivered(str(unwritten), unwritten.remedy()) from None
            store = store_failure(exc)
            if store is not None and opts.recovery_dir is not None:
                why = f"cannot write the recovery store {opts.recovery_dir}: {store}"
                remedy = "once the recovery store's disk has room and is writable"
                raise OutputUndelivered(why, remedy) from None
            raise
        except BaseException as exc:  # the engine's PanicException: a peer of the cluster went away
            lost = peer_lost(exc, opts.addresses, opts.process_id)
            if lost is not None:
                raise OutputUndelivered(lost, "once every process of the cluster runs again") from None
            raise
        finally:
            models.stop()
            if progress is not None:
                progress.stop()


def _void_everywhere(gate: EventTimeGate, progress: ProgressPublisher, kind: str, effective_s: float) -> None:
    """This process's learner voided a version: release this gate now, tell the others (the topic)."""
    gate.release(kind, effective_s)
    progress.publish_void(kind, effective_s)


class OutputUndelivered(RuntimeError):
    """A sink could not deliver its output (Kafka away longer than ``message.timeout.ms``, or an
    archive file that cannot be written: a full or read-only disk): the flow stopped without
    committing the epoch, so nothing is lost; a restart with the same ``--recovery-dir`` once the
    cause is gone (``remedy``) produces it again."""

    def __init__(self, summary: str, remedy: str = "once Kafka is back") -> None:
        super().__init__(summary)
        self.remedy = remedy


def _cause(exc: BaseException, kind: type[Any]) -> Any:
    """The first exception of type ``kind`` in ``exc``'s cause/context chain, if any."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
