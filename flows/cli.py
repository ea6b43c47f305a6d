"""The ``twin`` command line.

Every flag shows its environment fallback (TWIN_ prefix) in ``--help``. Bad arguments, configs,
archives or queries end in one line ``twin: error: ...`` and exit status 2, not a traceback.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from flows.archive import ArchiveError
from flows.config import DEFAULT_ARCHIVE, ConfigError

__all__ = ["main"]


def _env(name: str, default: Any) -> Any:
    return os.environ.get(f"TWIN_{name}", default)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        msg = f"expected a whole number, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if value < 1:
        msg = f"must be at least 1, got {value}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        msg = f"expected a number, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if not value > 0:
        msg = f"must be > 0, got {value}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _add_demo(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "demo",
        help="run the simulated fleet through the dataflow and print a summary",
        description=(
            "Simulate a fleet of rotating machines (motor + bearing + pump) whose bearings "
            "degrade and fail, stream their telemetry through the twinflow dataflow, archive "
            "features, twin state and alerts to Parquet, and compare alerts with ground truth."
        ),
    )
    p.add_argument("--assets", type=_positive_int, default=int(_env("ASSETS", 8)),
                   help="fleet size (env TWIN_ASSETS; default %(default)s)")
    p.add_argument("--days", type=_positive_float, default=float(_env("DAYS", 30.0)),
                   help="simulated days of machine life (env TWIN_DAYS; default %(default)s)")
    p.add_argument("--seed", type=int, default=int(_env("SEED", 7)),
                   help="random seed of the simulator (env TWIN_SEED; default %(default)s)")
    p.add_argument("--out", default=_env("ARCHIVE_DIR", DEFAULT_ARCHIVE),
                   help="archive folder (env TWIN_ARCHIVE_DIR; default %(default)s)")
    p.add_argument("--workers", type=_positive_int, default=int(_env("WORKERS", 1)),
                   help="Bytewax worker threads (env TWIN_WORKERS; default %(default)s)")
    p.add_argument("--config", default=_env("CONFIG", None),
                   help="TOML config file (env TWIN_CONFIG)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    _add_metrics_args(p)


def _add_sql(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "sql",
        help="query the archive with DuckDB SQL (read-only)",
        description=(
            "Run a read-only SQL query over the Parquet archive. Views: features (one row per "
            "asset window, one column per feature, e.g. \"vib.rms\"), twin_state (one row per "
            "asset window: condition, anomaly_score, health_index, rul_s ...), alerts (one row "
            "per alert message). Example: twin sql \"SELECT asset_id, count(*) FROM alerts "
            "GROUP BY 1\""
        ),
    )
    p.add_argument("query", help="a SELECT statement")
    p.add_argument("--archive", default=_env("ARCHIVE_DIR", DEFAULT_ARCHIVE),
                   help="archive folder (env TWIN_ARCHIVE_DIR; default %(default)s)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table",
                   help="output format (default %(default)s)")


def _add_kafka_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("Kafka")
    g.add_argument("--brokers", default=_env("KAFKA__BROKERS", None),
                   help="bootstrap servers host:port[,host:port] (env TWIN_KAFKA__BROKERS; "
                        "default localhost:19092, the local broker of `make kafka-start`)")
    g.add_argument("--topic-prefix", default=_env("KAFKA__TOPIC_PREFIX", None),
                   help="prefix of every topic name (env TWIN_KAFKA__TOPIC_PREFIX)")
    g.add_argument("--config", default=_env("CONFIG", None),
                   help="TOML config file (env TWIN_CONFIG); [pipeline.kafka.librdkafka] passes any "
                        "librdkafka setting (security.protocol, sasl.*, ssl.*) to every client; "
                        "env TWIN_KAFKA__LIBRDKAFKA__SASL_PASSWORD sets sasl.password")


def _add_topics(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("topics", help="create or describe twinflow's Kafka topics",
                       description="Create (idempotent) or describe the topics: scalar telemetry, "
                                   "waveform frames, asset events, alerts, twin state (compacted) "
                                   "and dead letters.")
    p.add_argument("action", choices=("create", "describe"))
    p.add_argument("--partitions", type=_positive_int, default=_env("KAFKA__PARTITIONS", None),
                   help="partitions per topic (env TWIN_KAFKA__PARTITIONS; default 4)")
    p.add_argument("--replication", type=_positive_int, default=_env("KAFKA__REPLICATION", None),
                   help="replication factor (env TWIN_KAFKA__REPLICATION; default 1)")
    _add_kafka_args(p)


def _add_run(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "run", help="run the dataflow on Kafka (alerts, state and dead letters back to Kafka)",
        description="Consume the telemetry topics, run the twinflow dataflow, produce alerts, "
                    "twin state and dead letters to their topics and archive to Parquet. "
                    "Scale with -w (threads, one GIL) or -i/-a (one process per core or machine; "
                    "every process gets the same -a list and its own -i).")
    _add_kafka_args(p)
    p.add_argument("--metadata", default=_env("METADATA", None),
                   help="asset metadata file, TOML or JSON (env TWIN_METADATA)")
    p.add_argument("--archive", default=_env("ARCHIVE_DIR", DEFAULT_ARCHIVE),
                   help="archive folder (env TWIN_ARCHIVE_DIR; default %(default)s)")
    p.add_argument("-w", "--workers", type=_positive_int, default=int(_env("WORKERS", 1)),
                   help="worker threads per process (env TWIN_WORKERS; default %(default)s)")
    p.add_argument("-i", "--process-id", type=int, default=_env("PROCESS_ID", None),
                   help="this process's index in -a (env TWIN_PROCESS_ID)")
    p.add_argument("-a", "--addresses", default=_env("ADDRESSES", None),
                   help='all processes, "host:port;host:port" (env TWIN_ADDRESSES)')
    p.add_argument("--recovery-dir", default=_env("RECOVERY_DIR", None),
                   help="Bytewax recovery folder; initialised when empty (env TWIN_RECOVERY_DIR)")
    p.add_argument("--snapshot-interval", type=_positive_float,
                   default=float(_env("SNAPSHOT_INTERVAL", 30.0)),
                   help="seconds between recovery snapshots; each pauses the flow "
                        "(env TWIN_SNAPSHOT_INTERVAL; default %(default)s)")
    p.add_argument("--backup-interval", type=float, default=float(_env("BACKUP_INTERVAL", 0.0)),
                   help="seconds to keep superseded snapshots (env TWIN_BACKUP_INTERVAL)")
    p.add_argument("--clock", choices=("system", "data"), default=_env("CLOCK", None),
                   help="window clock (env TWIN_CLOCK; default system: quiet assets close by wall time)")
    p.add_argument("--from-end", action="store_true",
                   help="without recovery state, start at the end of the topics (default: beginning)")
    p.add_argument("--exit-at-end", action="store_true",
                   help="stop once every partition is consumed (backfills, tests)")
    _add_metrics_args(p)


def _add_metrics_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--metrics-port", type=int, default=_env("METRICS_PORT", None),
                   help="serve Prometheus metrics on this port; process i of a cluster uses port + i "
                        "(env TWIN_METRICS_PORT; default: not served)")
    p.add_argument("--metrics-address", default=_env("METRICS_ADDRESS", "127.0.0.1"),
                   help="address to bind the metrics endpoint (env TWIN_METRICS_ADDRESS; "
                        "default %(default)s)")


def _add_publishers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("simulate", help="publish the fleet simulator's telemetry into Kafka",
                       description="A load generator: the physics-based fleet simulator's scalars, "
                                   "waveform frames and life events, published with key = asset_id "
                                   "and Kafka timestamp = event time.")
    _add_kafka_args(p)
    p.add_argument("--assets", type=_positive_int, default=8, help="fleet size (default %(default)s)")
    p.add_argument("--days", type=_positive_float, default=1.0,
                   help="days of machine time (default %(default)s)")
    p.add_argument("--seed", type=int, default=7, help="simulator seed (default %(default)s)")
    p.add_argument("--start", default=None,
                   help="event time of the first record, ISO 8601 UTC or 'now' (default 2026-01-01)")
    p.add_argument("--frame-interval", type=_positive_float, default=1800.0,
                   help="seconds of machine time between vibration frames (default %(default)s)")
    p.add_argument("--scalar-interval", type=_positive_float, default=600.0,
                   help="seconds of machine time between scalar readings (default %(default)s)")
    p.add_argument("--speed", type=float, default=0.0,
                   help="event time per wall time: 1 = real time, 0 = as fast as possible (default)")
    p.add_argument("--write-metadata", default=None, metavar="FILE",
                   help="also write the fleet's asset metadata (JSON) for `twin run --metadata`")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    r = sub.add_parser("replay", help="publish historical telemetry files into Kafka",
                       description="Publish CSV/Parquet scalar tables, NAB-style series, Parquet "
                                   "waveform frames and event files in event-time order per asset.")
    r.add_argument("files", nargs="+", help="input files")
    _add_kafka_args(r)
    r.add_argument("--format", choices=("nab", "scalar_table", "waveform", "events"), default=None,
                   help="input format (default: detected from the columns)")
    r.add_argument("--sep", default=None, help="CSV separator (default ,)")
    r.add_argument("--ignore-columns", default="", help="comma-separated non-numeric columns to skip")
    r.add_argument("--speed", type=float, default=0.0,
                   help="event time per wall time: 1 = real time, 0 = as fast as possible (default)")
    r.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _add_backtest(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "backtest", help="replay historical files through the dataflow, prequentially",
        description="Run historical telemetry files through the same dataflow and configuration as "
                    "`twin run`, in event-time order, as fast as the machine allows (nothing sees "
                    "the future). Writes scores.parquet, alerts.parquet, the archive and report.html "
                    "to --out. Formats: NAB-style `timestamp,value` CSV; scalar tables "
                    "`timestamp, asset_id, <channels>` (CSV/Parquet); waveform Parquet `timestamp, "
                    "asset_id, sample_rate_hz, <list<float32> per channel>`; events.")
    p.add_argument("inputs", nargs="+", help="telemetry files")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--config", default=_env("CONFIG", None), help="TOML config file (env TWIN_CONFIG)")
    p.add_argument("--events", action="append", default=[],
                   help="events file (timestamp, asset_id, event); repeatable; failures give the "
                        "true RUL in the report")
    p.add_argument("--metadata", default=_env("METADATA", None),
                   help="asset metadata file, TOML or JSON (env TWIN_METADATA)")
    p.add_argument("--format", choices=("nab", "scalar_table", "waveform", "events"), default=None,
                   help="input format (default: detected from the columns)")
    p.add_argument("--sep", default=None, help="CSV separator (default: detected)")
    p.add_argument("--ignore-columns", default="", help="comma-separated non-numeric columns to skip")
    p.add_argument("--no-report", action="store_true", help="skip report.html and its plots")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def build_parser() -> argparse.ArgumentParser:
    """The ``twin`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="twin",
        description="twinflow: streaming digital twins for predictive maintenance.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_demo(sub)
    _add_sql(sub)
    _add_topics(sub)
    _add_run(sub)
    _add_publishers(sub)
    _add_backtest(sub)
    return parser


def _jsonable(v: Any) -> Any:
    if isinstance(v, datetime | date):
        return v.isoformat()
    return v


def print_rows(cols: list[str], rows: list[tuple[Any, ...]], fmt: str) -> None:
    """Print query results as an aligned table, CSV or JSON lines."""
    if fmt == "csv":
        w = csv.writer(sys.stdout)
        w.writerow(cols)
        w.writerows(rows)
        return
    if fmt == "json":
        for r in rows:
            print(json.dumps({c: _jsonable(v) for c, v in zip(cols, r, strict=True)}))
        return
    cells = [[("" if v is None else str(v)) for v in r] for r in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(cols)]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))
    print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")


def _cmd_sql(args: argparse.Namespace) -> int:
    from flows.archive import query

    cols, rows = query(args.archive, args.query)
    print_rows(cols, rows, args.format)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from flows.demo import run_demo

    return run_demo(args)


def _kafka_cfg(args: argparse.Namespace, **extra: Any) -> Any:
    from flows.config import load_config

    overrides = {"kafka.brokers": args.brokers, "kafka.topic_prefix": args.topic_prefix,
                 **{f"kafka.{k}": v for k, v in extra.items()}}
    return load_config(args.config, overrides=overrides)


def _cmd_topics(args: argparse.Namespace) -> int:
    from flows.topics import create_topics, describe_topics

    cfg = _kafka_cfg(args, partitions=args.partitions, replication=args.replication).kafka
    if args.action == "create":
        for role, status in create_topics(cfg).items():
            print(f"{cfg.topic(role):<40} {status}")
        return 0
    print(f"{'role':<13} {'topic':<40} {'partitions':>10} {'replication':>11}  cleanup")
    for t in describe_topics(cfg):
        parts = "missing" if t.partitions is None else str(t.partitions)
        print(f"{t.role:<13} {t.name:<40} {parts:>10} {t.replication or '':>11}  {t.cleanup_policy or ''}")
    return 0


def _metadata(path: str | None) -> Any:
    if not path:
        return {}
    from flows.sources.files import read_metadata

    return read_metadata(path)


def _cmd_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from flows.metrics import PipelineMetrics
    from flows.run import RunOptions, Stopped, run_kafka_flow

    cfg = _kafka_cfg(args)
    if args.clock:
        from dataclasses import replace

        cfg = replace(cfg, clock=args.clock)
    addresses = tuple(a for a in (args.addresses or "").split(";") if a)
    if addresses and args.process_id is None:
        msg = "-a/--addresses needs -i/--process-id (this process's index in the list)"
        raise ValueError(msg)
    if addresses and not 0 <= int(args.process_id) < len(addresses):
        msg = f"-i {args.process_id} is not an index of the {len(addresses)} addresses in -a"
        raise ValueError(msg)
    opts = RunOptions(
        archive_dir=Path(args.archive), workers=args.workers,
        process_id=None if args.process_id is None else int(args.process_id), addresses=addresses,
        recovery_dir=Path(args.recovery_dir) if args.recovery_dir else None,
        snapshot_interval_s=args.snapshot_interval, backup_interval_s=args.backup_interval,
        exit_at_end=args.exit_at_end, from_end=args.from_end,
    )
    metrics = PipelineMetrics.from_config(cfg.metrics)
    serve_metrics(metrics, args.metrics_port, args.metrics_address, opts.process_id or 0)
    try:
        run_kafka_flow(cfg, opts, _metadata(args.metadata), metrics)
    except Stopped:
        where = f" --recovery-dir {opts.recovery_dir}" if opts.recovery_dir else " (no --recovery-dir: " \
            "a restart reads the topics again)"
        print(f"twin run: stopped; restart with the same arguments to resume{where}", file=sys.stderr)
    return 0


def serve_metrics(metrics: Any, port: int | None, address: str, offset: int = 0) -> None:
    """Expose the process's metrics over HTTP for Prometheus (nothing if ``port`` is None)."""
    if port is None:
        return
    from prometheus_client import start_http_server

    start_http_server(int(port) + offset, addr=address, registry=metrics.registry)


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

    from flows.produce import publish

    cfg = _kafka_cfg(args).kafka
    with tqdm(total=total, unit="rec", disable=args.no_progress) as bar:
        rep = publish(records, cfg, speed=args.speed, progress=bar.update)
    print(f"published {rep.records} records ({rep.bytes / 1e6:.1f} MB) to {cfg.brokers} in "
          f"{rep.seconds:.1f} s")
    return 0


def write_fleet_metadata(fleet: Any, path: str) -> None:
    """The simulated fleet's metadata as a JSON file ``{asset_id: {...}}``."""
    from pathlib import Path

    from flows.serde import metadata_to_dict
    from twin_models.simulate import fleet_metadata

    doc = {aid: metadata_to_dict(m) for aid, m in fleet_metadata(fleet).items()}
    Path(path).write_text(json.dumps(doc, indent=2) + "\n")


def _cmd_simulate(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from flows.sources.simulator import count_records
    from twin_models.simulate import FleetConfig, simulate_fleet

    fleet = FleetConfig(n_assets=args.assets, days=args.days, seed=args.seed,
                        frame_interval_s=args.frame_interval, scalar_interval_s=args.scalar_interval)
    start = _start_time(args.start)
    if start is not None:
        fleet = replace(fleet, start=start)
    if args.write_metadata:
        write_fleet_metadata(fleet, args.write_metadata)
    return _publish(simulate_fleet(fleet), count_records(fleet), args)


def _cmd_replay(args: argparse.Namespace) -> int:
    from flows.sources.files import count_records, merge_files

    ignore = tuple(c for c in args.ignore_columns.split(",") if c)
    kw = {"fmt": args.format, "sep": args.sep, "ignore_columns": ignore}
    return _publish(merge_files(args.files, **kw), count_records(args.files), args)


def _cmd_backtest(args: argparse.Namespace) -> int:
    from flows.backtest import run_backtest
    from flows.config import load_config

    cfg = load_config(args.config)
    ignore = tuple(c for c in args.ignore_columns.split(",") if c)
    opts = {k: v for k, v in {"fmt": args.format, "sep": args.sep, "ignore_columns": ignore}.items() if v}
    res = run_backtest(args.inputs, args.out, cfg, events=args.events, metadata=_metadata(args.metadata),
                       read_options=opts, progress=not args.no_progress, report=not args.no_report)
    episodes = sum(a.status == "raised" for a in res.alerts)
    print(f"backtest: {res.records} records, {len(res.snapshots)} windows, {episodes} alert episodes "
          f"in {res.seconds:.1f} s -> {res.out}/scores.parquet, alerts.parquet"
          + ("" if args.no_report else ", report.html"))
    return 0


COMMANDS = {"demo": _cmd_demo, "sql": _cmd_sql, "topics": _cmd_topics, "run": _cmd_run,
            "simulate": _cmd_simulate, "replay": _cmd_replay, "backtest": _cmd_backtest}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``twin`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (ConfigError, ArchiveError, ValueError, OSError) as exc:
        print(f"twin: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("twin: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
