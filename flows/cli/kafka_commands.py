"""``twin topics``, ``twin run``, ``twin simulate`` and ``twin replay``: the Kafka side of the CLI."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flows.cli.args import (
    ARCHIVE_HELP,
    IGNORE_COLUMNS_HELP,
    MAX_RECOVERY_INTERVAL_S,
    MIN_FRAME_INTERVAL_S,
    MIN_SCALAR_INTERVAL_S,
    MIN_SNAPSHOT_INTERVAL_S,
    add_fleet_args,
    add_metrics_args,
    backup_seconds,
    env_default,
    folder_name,
    non_negative_float,
    non_negative_int,
    one_char,
    one_of,
    positive_float,
    positive_int,
    print_error,
    refuse_empty,
    seconds_at_least,
    serve_metrics,
    share,
    worker_count,
)
from flows.cli.columns import aligned
from flows.cli.input_files import loaded_metadata
from flows.cli.out_folders import output_file, writable_dir

__all__ = ["KAFKA_COMMANDS", "add_kafka_parsers", "fault_kinds", "write_fault_truth", "write_fleet_metadata"]


def _shown(path: Any) -> str:
    """A user-given path for a summary line: a control character shown escaped."""
    from flows.archive.files import printable

    return printable(str(path))

def _add_kafka_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("Kafka")
    g.add_argument("--brokers", default=env_default("KAFKA__BROKERS", None),
                   help="bootstrap servers host:port[,host:port] (env TWIN_KAFKA__BROKERS; "
                        "default localhost:19092, the local broker of `make kafka-start`)")
    g.add_argument("--topic-prefix", default=env_default("KAFKA__TOPIC_PREFIX", None),
                   help="prefix of every topic name (env TWIN_KAFKA__TOPIC_PREFIX)")
    g.add_argument("--config", default=env_default("CONFIG", None),
                   help="TOML config file (env TWIN_CONFIG); [pipeline.kafka.librdkafka] passes any "
                        "librdkafka setting (security.protocol, sasl.*, ssl.*) to every client; "
                        "env TWIN_KAFKA__LIBRDKAFKA__SASL_PASSWORD sets sasl.password")
    g.add_argument("--connect-timeout", type=positive_float,
                   default=env_default("KAFKA__CONNECT_TIMEOUT_S", None), metavar="SECONDS",
                   help="stop with an error naming the brokers when they cannot be reached within "
                        "this time (env TWIN_KAFKA__CONNECT_TIMEOUT_S; default 20)")


def _add_topics(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("topics", help="create or describe twinflow's Kafka topics",
                       description="Create (idempotent) or describe the topics: scalar telemetry, "
                                   "waveform frames, asset events, alerts, twin state (compacted), "
                                   "fleet models (compacted), recommendations, dead letters, "
                                   "commands, command audit, command decisions, what-if requests "
                                   "and results (names: README, Topics). Example: twin topics "
                                   "create --brokers kafka1:9092 --partitions 8 --replication 3")
    p.add_argument("action", choices=("create", "describe"))
    p.add_argument("--partitions", type=positive_int, default=env_default("KAFKA__PARTITIONS", None),
                   help="partitions per topic (env TWIN_KAFKA__PARTITIONS; default 4)")
    p.add_argument("--replication", type=positive_int, default=env_default("KAFKA__REPLICATION", None),
                   help="replication factor (env TWIN_KAFKA__REPLICATION; default 1)")
    _add_kafka_args(p)


def _add_run(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "run", help="run the dataflow on Kafka (alerts, state and dead letters back to Kafka)",
        description="Consume the telemetry topics, run the twinflow dataflow, produce alerts, "
                    "twin state, recommendations, dead letters, the command audit (and commands "
                    "in approve/auto mode) and what-if results to their topics and archive to "
                    "Parquet (--archive). Runs until stopped (Ctrl-C/SIGTERM) unless --exit-at-end. "
                    "Scale with -w (threads, one GIL) or -i/-a (one process per core or machine; "
                    "every process gets the same -a list and its own -i). In a source partition "
                    "whose event time runs at the pace of its Kafka timestamps (real time), each "
                    "record's event time is also judged against its arrival time and the other "
                    "assets of its partition: a whole asset whose clock jumped ahead goes to the dead "
                    "letters (clock_skew) with a clock sensor alert. A replay published faster "
                    "than real time is not judged (metric twin_arrival_check, state replay; the "
                    "last line of an --exit-at-end run says where the check ran). Example: twin run "
                    "--brokers kafka1:9092 --metadata assets.toml --recovery-dir /var/lib/twin/rec "
                    "--archive /var/lib/twin/archive --metrics-port 9108")
    _add_kafka_args(p)
    p.add_argument("--metadata", default=env_default("METADATA", None),
                   help="asset metadata file, TOML or JSON (README, Asset metadata; env TWIN_METADATA; "
                        "default: none, so no bearing geometry nor failure threshold)")
    p.add_argument("--archive", type=folder_name, default=None, help=ARCHIVE_HELP)
    p.add_argument("-w", "--workers", type=worker_count, default=env_default("WORKERS", 1),
                   help="worker threads per process (env TWIN_WORKERS; default %(default)s)")
    p.add_argument("-i", "--process-id", type=non_negative_int, default=env_default("PROCESS_ID", None),
                   help="this process's index in -a, required with -a (env TWIN_PROCESS_ID)")
    p.add_argument("-a", "--addresses", default=env_default("ADDRESSES", None),
                   help='all processes, "host:port;host:port", the same list for each (env '
                        'TWIN_ADDRESSES; default: none, this process alone)')
    p.add_argument("--recovery-dir", default=env_default("RECOVERY_DIR", None),
                   help="Bytewax recovery folder on a local disk, one per run (locked, held open to the "
                        "run's end: removed meanwhile, the run stops); initialised when empty; a restart "
                        "resumes from its last snapshot, on the Kafka cluster it was written from only "
                        "(env TWIN_RECOVERY_DIR; default: none, nothing is kept: a "
                        "restart reads the topics again from the beginning, or --from-end)")
    p.add_argument("--snapshot-interval", default=env_default("SNAPSHOT_INTERVAL", 30.0),
                   type=seconds_at_least(MIN_SNAPSHOT_INTERVAL_S, MAX_RECOVERY_INTERVAL_S),
                   help="seconds between recovery snapshots: what a crash costs in re-processing; "
                        "each pauses the flow (env TWIN_SNAPSHOT_INTERVAL; at least 1, at most a year; "
                        "default %(default)s)")
    p.add_argument("--backup-interval", type=backup_seconds, default=env_default("BACKUP_INTERVAL", None),
                   help="seconds to keep superseded snapshots, so the store always holds an older "
                        "resume point too (env TWIN_BACKUP_INTERVAL; default 2 snapshot intervals; at most "
                        "a year; raise it to the period of any file-level backup of the folder)")
    p.add_argument("--clock", type=one_of("system", "data"), choices=("system", "data"),
                   default=env_default("CLOCK", None),
                   help="window clock; overrides the clock setting of --config (env TWIN_CLOCK; "
                        "default system: quiet assets close by wall time)")
    p.add_argument("--partitioning", type=one_of("asset_id", "any"), choices=("asset_id", "any"),
                   default=None,
                   help="what the telemetry topics are keyed by: asset_id (default: a message's Kafka key "
                        "is its payload's asset id, or null; another key is a key_asset_mismatch dead "
                        "letter) or any (e.g. a gateway's id: keys are not checked; an asset's records stay "
                        "in event-time order only while they all carry one key); overrides "
                        "kafka.partitioning of --config (env TWIN_KAFKA__PARTITIONING)")
    p.add_argument("--from-end", action="store_true",
                   help="without recovery state, start at the end of the topics (default: beginning)")
    p.add_argument("--exit-at-end", action="store_true",
                   help="stop once every partition is consumed (backfills, tests)")
    add_metrics_args(p)


def _add_publishers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("simulate", help="publish the fleet simulator's telemetry into Kafka",
                       description="A load generator: the fleet simulator's scalars, waveform frames "
                                   "and life events to the telemetry and events topics (`twin topics "
                                   "create` first), key = asset_id, the event time in the header "
                                   "twin.event_time_ms, the Kafka timestamp = the time of production "
                                   "(the arrival time `twin run` judges clocks against). Example: twin "
                                   "simulate --assets 8 --days 2 --speed 0 --write-metadata assets.json")
    _add_kafka_args(p)
    # the fleet's TWIN_* fallbacks as `twin demo`'s (round 29); --sensor-faults has none: a
    # TWIN_SENSOR_FAULTS set for the demo would make every simulate ask for --write-truth
    add_fleet_args(p, 1.0, "days of machine time")
    p.add_argument("--start", default=None,
                   help="event time of the first record, ISO 8601 UTC or 'now' (default 2026-01-01)")
    p.add_argument("--frame-interval", type=seconds_at_least(MIN_FRAME_INTERVAL_S), default=1800.0,
                   help="seconds of machine time between vibration frames (at least 1; default %(default)s)")
    p.add_argument("--scalar-interval", type=seconds_at_least(MIN_SCALAR_INTERVAL_S), default=600.0,
                   help="seconds of machine time between scalar readings (at least 0.1; default %(default)s)")
    p.add_argument("--speed", type=non_negative_float, default=0.0,
                   help="event time per wall time: 1 = real time (the pace whose Kafka timestamps "
                        "`twin run`'s arrival-time check judges), 0 = as fast as possible (default)")
    p.add_argument("--write-metadata", default=None, metavar="FILE",
                   help="also write the fleet's asset metadata (JSON) for `twin run --metadata`")
    p.add_argument("--sensor-faults", type=share, default=0.0, metavar="SHARE",
                   help="share of the assets given one sensor fault, as `twin demo --sensor-faults` "
                        "(default %(default)s: none); --write-truth keeps their ground truth")
    p.add_argument("--sensor-fault-kinds", type=fault_kinds, default=None, metavar="KINDS",
                   help="comma-separated kinds cycled over those assets (default "
                        "flatline,clipping,dropout,drift,clock; asset_clock also shifts EVERY channel "
                        "of an asset together, which only `twin run`'s arrival-time check can see, "
                        "and only when published in real time: --speed 1)")
    p.add_argument("--write-truth", default=None, metavar="FILE",
                   help="also write the injected sensor faults (JSON: asset, channel, kind, scope, "
                        "true start and end, the data-quality check expected to see each) to score "
                        "`twin run`'s sensor alerts against")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    r = sub.add_parser("replay", help="publish historical telemetry files into Kafka",
                       description="Publish CSV/Parquet scalar tables, NAB-style series, Parquet "
                                   "waveform frames and event files in event-time order per asset, "
                                   "to the telemetry and event topics (key = asset_id). Records the "
                                   "brokers refuse are counted by reason: one line says how many of how "
                                   "many and why, exit 2. Example: twin replay data/*.csv --speed 0")
    r.add_argument("files", nargs="+", help="input files")
    _add_kafka_args(r)
    r.add_argument("--format", choices=("nab", "scalar_table", "waveform", "events"), default=None,
                   help="input format (default: detected from the columns)")
    r.add_argument("--sep", type=one_char, default=None,
                   help="CSV separator, one character (default: detected)")
    r.add_argument("--ignore-columns", default="", help=IGNORE_COLUMNS_HELP)
    r.add_argument("--speed", type=non_negative_float, default=0.0,
                   help="event time per wall time: 1 = real time, 0 = as fast as possible (default)")
    r.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _kafka_cfg(args: argparse.Namespace, settings: Mapping[str, Any] | None = None, **extra: Any) -> Any:
    """The settings by the one route (defaults < --config < TWIN_* < flags): the Kafka flags, the
    ``extra`` kafka.* flags and further ``settings`` flags (dotted names; None = not given)."""
    from flows.cli.config_file import load_settings

    overrides = {"kafka.brokers": args.brokers, "kafka.topic_prefix": args.topic_prefix,
                 "kafka.connect_timeout_s": args.connect_timeout,
                 **{f"kafka.{k}": v for k, v in extra.items()}, **(settings or {})}
    return load_settings(args.config, overrides=overrides)


def _cmd_topics(args: argparse.Namespace) -> int:
    from flows.app.topics import create_topics, describe_topics

    cfg = _kafka_cfg(args, partitions=args.partitions, replication=args.replication).kafka
    if args.action == "create":
        print("\n".join(aligned([(cfg.topic(role), status) for role, status in create_topics(cfg).items()])))
        return 0
    print("\n".join(topic_lines(describe_topics(cfg))))
    return 0


def start_line(kafka: Any, opts: Any, metrics_port: int | None, metrics_address: str) -> str:
    """``twin run``'s first line on a terminal (round 48: it said nothing until it stopped, minutes
    of a blank screen on a backlog): what it reads, where it writes, how it ends."""
    process = f" (process {opts.process_id or 0} of {len(opts.addresses)})" if opts.addresses else ""
    topics = ", ".join(kafka.topic(role) for role in ("scalars", "waveforms", "events"))
    recovery = (f"recovery {_shown(opts.recovery_dir)}" if opts.recovery_dir
                else "no --recovery-dir (a restart reads the topics again)")
    host = f"[{metrics_address}]" if ":" in metrics_address else metrics_address  # round 49: IPv6 in a URL
    metrics = ("no metrics endpoint (--metrics-port)" if metrics_port is None else
               f"metrics http://{host}:{int(metrics_port) + (opts.process_id or 0)}/metrics")
    end = ("stops at the end of the topics (--exit-at-end)" if opts.exit_at_end
           else "runs until Ctrl-C or SIGTERM, then prints its summary")
    return (f"twin run{process}: reading {topics} from {kafka.brokers}; archive "
            f"{_shown(opts.archive_dir)}; {recovery}; {metrics}; {end}")


def topic_lines(topics: list[Any]) -> list[str]:
    """``twin topics describe``'s table: a header and one line per topic, columns aligned."""
    rows = [("role", "topic", "partitions", "replication", "cleanup")]
    rows += [(t.role, t.name, "missing" if t.partitions is None else str(t.partitions),
              str(t.replication or ""), t.cleanup_policy or "") for t in topics]
    return aligned(rows, right=(2, 3))


def _cmd_run(args: argparse.Namespace) -> int:
    from flows.app.run import OutputUndelivered, RunOptions, Stopped, run_kafka_flow
    from flows.dataflow.metrics import PipelineMetrics

    if args.archive is not None:  # round 42: "" said "config archive_dir: '' is not a valid name"
        refuse_empty("--archive", args.archive)
    cfg = _kafka_cfg(args, {"archive_dir": args.archive, "clock": args.clock}, partitioning=args.partitioning)
    from flows.cli.path_limits import ARCHIVE_TAIL
    from flows.cli.run_checks import cluster_addresses

    addresses = cluster_addresses(args.addresses, None if args.process_id is None else int(args.process_id))
    opts = RunOptions(
        archive_dir=writable_dir("--archive" if args.archive else "archive_dir", cfg.archive_dir,
                                 ARCHIVE_TAIL),
        workers=args.workers,
        process_id=None if args.process_id is None else int(args.process_id), addresses=addresses,
        recovery_dir=None if args.recovery_dir is None  # "": refused, not a run without recovery
        else writable_dir("--recovery-dir", args.recovery_dir),
        snapshot_interval_s=args.snapshot_interval,
        backup_interval_s=args.backup_interval,
        exit_at_end=args.exit_at_end, from_end=args.from_end,
    )
    from dataclasses import replace
    from functools import partial

    from flows.app.held_recovery import RecoveryRemoved, held_recovery
    from flows.app.held_watch import NameWatch
    from flows.app.losses import end_lines
    from flows.app.out_held import held_folder
    from flows.app.stop_signals import stopped_by
    from flows.cli.out_folders import held_place
    from flows.cli.run_checks import archive_checks, archive_moved, store_holds_archive
    from flows.cli.stderr import stderr_on_terminal

    metadata = loaded_metadata(args.metadata)
    say = partial(print_error, prefix="")  # a warning line: as it is, no error prefix
    try:
        # round 42: held from its checks to the run's end (swapped for a link, later parts went there)
        with held_folder(opts.archive_dir, lambda: None, follow=True, parents=True) as at, \
                held_recovery(replace(opts, archive_dir=at), say) as held:  # round 43b: held too
            held_place(flag := "--archive" if args.archive else "archive_dir", opts.archive_dir, at)
            archive_checks(held)
            if opts.recovery_dir is not None and (line := store_holds_archive(
                    at, held.recovery_dir, (flag, opts.archive_dir, opts.recovery_dir))):
                raise ValueError(line)
            metrics = PipelineMetrics.from_config(cfg.metrics)
            serve_metrics(metrics, args.metrics_port, args.metrics_address, opts.process_id or 0)
            moved = archive_moved(flag, opts.archive_dir, opts.recovery_dir is not None)
            with NameWatch(opts.archive_dir, at, moved, say, thread="twin-archive-name"):
                if stderr_on_terminal():  # a terminal: say it runs (logs and tests keep their lines)
                    print(start_line(cfg.kafka, opts, args.metrics_port, args.metrics_address),
                          file=sys.stderr)
                run_kafka_flow(cfg, held, metadata, metrics)
    except Stopped:  # the same summary as an end of input, marked with the signal; exit 0 (a stop)
        print("\n".join(end_lines(metrics, stopped_by())), file=sys.stderr)
        where = (f" from --recovery-dir {_shown(opts.recovery_dir)}" if opts.recovery_dir
                 else " (no --recovery-dir: a restart reads the topics again)")
        print(f"twin run: stopped; restart with the same arguments to resume{where}", file=sys.stderr)
        return 0
    except RecoveryRemoved as exc:
        print_error(str(exc), prefix="twin run: error: ")
        return 1
    except OutputUndelivered as exc:
        again = ("the same --recovery-dir" if opts.recovery_dir
                 else "the same arguments (no --recovery-dir: the topics are read again)")
        print_error(f"{exc}; stopped before committing it: restart with {again} {exc.remedy}",
                    prefix="twin run: error: ")  # round 33: a long path shortened, as in every error line
        return 1
    if opts.exit_at_end:
        print("\n".join(end_lines(metrics)), file=sys.stderr)
    return 0


def _start_time(text: str | None) -> Any:
    from datetime import UTC

    if text is None:
        return None
    if text == "now":
        return datetime.now(UTC).replace(microsecond=0)
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        msg = f"--start: {text!r} is not an ISO 8601 time or 'now'"
        raise ValueError(msg) from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _publish(records: Any, total: int, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from flows.app.produce import publish
    from flows.app.progress import finish

    cfg = _kafka_cfg(args).kafka
    bars: list[Any] = []

    def progress(n: int) -> None:  # the bar appears once the brokers answered and records flow
        if not bars:
            bars.append(tqdm(total=total, unit="rec", disable=args.no_progress))
        bars[0].update(n)

    try:
        rep = publish(records, cfg, speed=args.speed, progress=progress)
        for bar in bars:  # sent: at 100 %, its total an estimate (simulate) or an upper bound (replay)
            finish(bar)
    finally:
        for bar in bars:
            bar.close()
    if rep.records == 0:  # a guard: replay's input is refused first when it holds none (round 41)
        return _no_record(args.command)
    print(rep.published(cfg.brokers))
    return 0


def _no_record(command: str) -> int:
    """One line and exit 1: the publisher sent nothing (``twin replay``'s input that holds no record is
    refused before, exit 2, :func:`~flows.cli.input_files.holding_a_record`; this is a guard)."""
    print(f"twin: {command} failed: the input held no record (nothing was published)", file=sys.stderr)
    return 1


def write_fleet_metadata(fleet: Any, path: str) -> None:
    """The simulated fleet's metadata as a JSON file ``{asset_id: {...}}``, written whole
    (:func:`flows.cli.out_folders.write_json`): a reader waiting for the file
    (infra/docker-compose.yml's pipeline) never reads half of it."""
    from flows.codec import metadata_to_dict
    from twin_models.simulator.fleet import fleet_metadata

    doc = {aid: metadata_to_dict(m) for aid, m in fleet_metadata(fleet).items()}
    from flows.cli.out_folders import write_json

    write_json("--write-metadata", path, doc)


def fault_kinds(text: str) -> tuple[str, ...]:
    """``--sensor-fault-kinds``: a comma-separated list of the simulator's sensor-fault kinds."""
    from twin_models.simulator.sensor_faults import OPTIONAL_KINDS, SENSOR_FAULT_KINDS

    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    known = (*SENSOR_FAULT_KINDS, *OPTIONAL_KINDS)
    unknown = [k for k in kinds if k not in known]
    if unknown or not kinds:
        msg = f"expected kinds among {','.join(known)}, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return kinds


def write_fault_truth(fleet: Any, path: str) -> int:
    """The simulated fleet's sensor faults (their ground truth) as a JSON file, written whole
    (:func:`flows.cli.out_folders.write_json`); how many."""
    from flows.app.demo_sensors import truth_to_json
    from twin_models.simulator.fleet import sensor_fault_truth

    truths = sensor_fault_truth(fleet)
    doc = {"seed": fleet.seed, "assets": fleet.n_assets, "start": fleet.start.isoformat(),
           "days": fleet.days, "sensor_faults": [truth_to_json(t) for t in truths]}
    from flows.cli.out_folders import write_json

    write_json("--write-truth", path, doc)
    return len(truths)


def _cmd_simulate(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from flows.dataflow.sources.simulator import count_records
    from twin_models.simulator.fleet import FleetConfig, simulate_fleet

    fleet = FleetConfig(n_assets=args.assets, days=args.days, seed=args.seed,
                        frame_interval_s=args.frame_interval, scalar_interval_s=args.scalar_interval,
                        sensor_fault_fraction=args.sensor_faults)
    if args.sensor_fault_kinds:
        fleet = replace(fleet, sensor_fault_mix=args.sensor_fault_kinds)
    start = _start_time(args.start)
    if start is not None:
        fleet = replace(fleet, start=start)
    for flag, path in (("--write-metadata", args.write_metadata), ("--write-truth", args.write_truth)):
        if path is not None:
            output_file(flag, path)  # both checked before either is written
    if args.write_metadata:
        write_fleet_metadata(fleet, args.write_metadata)
    if args.write_truth:
        n = write_fault_truth(fleet, args.write_truth)
        print(f"wrote the ground truth of {n} sensor-fault records to {_shown(args.write_truth)}")
    return _publish(simulate_fleet(fleet), count_records(fleet), args)


def _cmd_replay(args: argparse.Namespace) -> int:
    from flows.cli.input_files import holding_a_record
    from flows.dataflow.sources.files import count_records

    ignore = tuple(c for c in args.ignore_columns.split(",") if c)
    kw = {"fmt": args.format, "sep": args.sep, "ignore_columns": ignore}
    records = holding_a_record(args.files, "replay", **kw)  # none: one line, exit 2, before connecting
    return _publish(records, count_records(args.files, **kw), args)  # round 49: its --sep too


def add_kafka_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The Kafka subcommands' parsers."""
    _add_topics(sub)
    _add_run(sub)
    _add_publishers(sub)


KAFKA_COMMANDS = {"topics": _cmd_topics, "run": _cmd_run, "simulate": _cmd_simulate, "replay": _cmd_replay}
