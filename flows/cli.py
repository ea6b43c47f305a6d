"""The ``twin`` command line.

Every flag shows its environment fallback (TWIN_ prefix) in ``--help``. Bad arguments, configs,
archives or queries end in one line ``twin: error: ...`` and exit status 2, not a traceback.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from flows.archive import ArchiveError
from flows.cli_args import add_metrics_args, env_default, load_metadata, positive_float, positive_int
from flows.cli_kafka import KAFKA_COMMANDS, add_kafka_parsers
from flows.config import DEFAULT_ARCHIVE, ConfigError
from flows.losses import share_arg

__all__ = ["main"]


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
    p.add_argument("--assets", type=positive_int, default=int(env_default("ASSETS", 8)),
                   help="fleet size (env TWIN_ASSETS; default %(default)s)")
    p.add_argument("--days", type=positive_float, default=float(env_default("DAYS", 30.0)),
                   help="simulated days of machine life (env TWIN_DAYS; default %(default)s)")
    p.add_argument("--seed", type=int, default=int(env_default("SEED", 7)),
                   help="random seed of the simulator (env TWIN_SEED; default %(default)s)")
    p.add_argument("--out", default=env_default("ARCHIVE_DIR", DEFAULT_ARCHIVE),
                   help="archive folder (env TWIN_ARCHIVE_DIR; default %(default)s)")
    p.add_argument("--workers", type=positive_int, default=int(env_default("WORKERS", 1)),
                   help="Bytewax worker threads (env TWIN_WORKERS; default %(default)s)")
    p.add_argument("--config", default=env_default("CONFIG", None),
                   help="TOML config file (env TWIN_CONFIG)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_metrics_args(p)


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
    p.add_argument("--archive", default=env_default("ARCHIVE_DIR", DEFAULT_ARCHIVE),
                   help="archive folder (env TWIN_ARCHIVE_DIR; default %(default)s)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table",
                   help="output format (default %(default)s)")


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
    p.add_argument("--config", default=env_default("CONFIG", None), help="TOML config file (env TWIN_CONFIG)")
    p.add_argument("--events", action="append", default=[],
                   help="events file (timestamp, asset_id, event); repeatable; failures give the "
                        "true RUL in the report")
    p.add_argument("--metadata", default=env_default("METADATA", None),
                   help="asset metadata file, TOML or JSON (env TWIN_METADATA)")
    p.add_argument("--format", choices=("nab", "scalar_table", "waveform", "events"), default=None,
                   help="input format (default: detected from the columns)")
    p.add_argument("--sep", default=None, help="CSV separator (default: detected)")
    p.add_argument("--ignore-columns", default="", help="comma-separated non-numeric columns to skip")
    p.add_argument("--max-dead-letters", type=share_arg, metavar="SHARE",
                   default=env_default("MAX_DEAD_LETTERS", "0.5"),
                   help="fail (exit 1) when more than this share of the records went to the dead "
                        "letters (env TWIN_MAX_DEAD_LETTERS; default %(default)s)")
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
    add_kafka_parsers(sub)
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


def _cmd_backtest(args: argparse.Namespace) -> int:
    from flows.backtest import failure, print_summary, run_backtest
    from flows.config import load_config

    cfg = load_config(args.config)
    ignore = tuple(c for c in args.ignore_columns.split(",") if c)
    opts = {k: v for k, v in {"fmt": args.format, "sep": args.sep, "ignore_columns": ignore}.items() if v}
    res = run_backtest(args.inputs, args.out, cfg, events=args.events, metadata=load_metadata(args.metadata),
                       read_options=opts, progress=not args.no_progress, report=not args.no_report)
    print_summary(res, report=not args.no_report)
    problem = failure(res, args.max_dead_letters)
    if problem is not None:  # the outputs are written: exit 1 (not 2: the input was readable)
        print(f"twin: backtest failed: {problem}", file=sys.stderr)
        return 1
    return 0


COMMANDS = {"demo": _cmd_demo, "sql": _cmd_sql, "backtest": _cmd_backtest, **KAFKA_COMMANDS}


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
