"""The ``twin`` command line.

Every flag shows its environment fallback (TWIN_ prefix) in ``--help``. Bad arguments, configs,
archives or queries end in one line ``twin: error: ...`` and exit status 2, not a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from flows.app.heap import gc_setting, keep_freed_memory
from flows.app.stop_signals import restore, stop_once
from flows.cli.archive_commands import ARCHIVE_COMMANDS, add_archive_parsers
from flows.cli.args import (
    IGNORE_COLUMNS_HELP,
    OneLineParser,
    UsageError,
    add_fleet_args,
    add_metrics_args,
    debug_enabled,
    env_default,
    folder_name,
    one_char,
    print_error,
    refuse_empty,
    serve_metrics,
    share,
    worker_count,
)
from flows.cli.command_commands import COMMAND_COMMANDS, add_command_parsers
from flows.cli.input_errors import inputs_named
from flows.cli.input_files import check_input_files, loaded_metadata
from flows.cli.kafka_commands import KAFKA_COMMANDS, add_kafka_parsers
from flows.cli.out_folders import not_another_commands_out, writable_dir
from flows.cli.stderr import engine_cause, engine_panics_hidden, lost_reset, lost_status
from flows.cli.stdout import named_stdout
from flows.cli.whatif_command import WHATIF_COMMANDS, add_whatif_parser
from flows.config.values import DEFAULT_ARCHIVE, ConfigError

__all__ = ["main"]

DEMO_SENSOR_FAULTS = 0.0
"""``twin demo``'s share of assets given one sensor fault when ``--sensor-faults`` is not given
(the one switch; 0.625 gives the default 8-asset fleet one fault of each of the five kinds). Off
until the data-quality checks are in: without them sensor faults only add condition alerts."""
FRESH_HELP = ("first delete what earlier runs wrote to --out (archive tables, dead letters, outputs beside "
              "a twinflow archive; "
              "never other files); without it, runs already there are mixed with this one's")


def _add_demo(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "demo",
        help="run the simulated fleet through the dataflow and print a summary",
        description=(
            "Simulate a fleet of rotating machines (motor + bearing + pump) whose bearings "
            "degrade and fail, stream their telemetry through the twinflow dataflow, archive "
            "features, twin state and alerts to Parquet (--out), and compare alerts with ground truth; "
            "the summary (frames/s, faults detected with lead time, false alerts, RUL and plan at "
            "detection) goes to stdout. Example: twin demo --seed 1 --fresh --out demo-data, then "
            "twin sql \"SELECT * FROM alerts\" --archive demo-data"
        ),
    )
    add_fleet_args(p, 30.0, "simulated days of machine life")
    p.add_argument("--out", type=folder_name, default=None,
                   help="archive folder, also holding the dead letters and demo.png; overrides the "
                        "archive_dir setting (env TWIN_ARCHIVE_DIR, or archive_dir in --config; "
                        f"default {DEFAULT_ARCHIVE})")
    p.add_argument("--workers", type=worker_count, default=env_default("WORKERS", 1),
                   help="Bytewax worker threads (env TWIN_WORKERS; default %(default)s)")
    p.add_argument("--config", default=env_default("CONFIG", None),
                   help="TOML config file (env TWIN_CONFIG)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--fresh", action="store_true", help=FRESH_HELP)
    p.add_argument("--sensor-faults", type=share, metavar="SHARE",
                   default=env_default("SENSOR_FAULTS", DEMO_SENSOR_FAULTS),  # issue 13
                   help="share of the assets given one sensor fault (flatline, clipping, dropout, "
                        "drift, clock jump; half on assets with a bearing fault, then on a scalar "
                        "channel during it), scored against its ground truth in the summary (env "
                        "TWIN_SENSOR_FAULTS; default %(default)s; 0.625, as make demo: 5 of the default 8 "
                        "assets, one fault of each kind)")
    p.add_argument("--follow-plans", action="store_true",
                   help="then run the same fleet again with every detected fault's recommended plan "
                        "(at detection) followed in the simulator (derate from the recommendation's "
                        "time, replacement) through the same dataflow into <out>/followed, and print "
                        "per fault whether the failure was avoided, the alerts and the damage RUL; "
                        "about doubles the run time")
    add_metrics_args(p)


def _add_backtest(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "backtest", help="replay historical files through the dataflow, prequentially",
        description="Run historical telemetry files through the same dataflow and configuration as "
                    "`twin run`, in event-time order, as fast as the machine allows (nothing sees "
                    "the future). Writes scores.parquet, alerts.parquet, the archive, dead_letters.jsonl "
                    "and report.html with its figures/ to --out, a summary line to stdout. Formats: "
                    "NAB-style `timestamp,value` CSV; scalar tables "
                    "`timestamp, asset_id, <channels>` (CSV/Parquet); waveform Parquet `timestamp, "
                    "asset_id, sample_rate_hz, <list<float32> per channel>`; events. Example: twin "
                    "backtest data/*.csv --events events.csv --metadata assets.toml --out bt/ --fresh")
    p.add_argument("inputs", nargs="+", help="telemetry files")
    p.add_argument("--out", type=folder_name, required=True,
                   help="output folder; the run's archive goes to <out>/archive (the archive_dir "
                        "setting is not used: a backtest never writes into the live archive)")
    p.add_argument("--config", default=env_default("CONFIG", None), help="TOML config file (env TWIN_CONFIG)")
    p.add_argument("--events", action="append", default=[],
                   help="events file (timestamp, asset_id, event); repeatable; failures give the "
                        "true RUL in the report")
    p.add_argument("--metadata", default=env_default("METADATA", None),
                   help="asset metadata file, TOML or JSON (README, Asset metadata; env TWIN_METADATA; "
                        "default: none, so no bearing geometry nor failure threshold)")
    p.add_argument("--format", choices=("nab", "scalar_table", "waveform", "events"), default=None,
                   help="input format (default: detected from the columns)")
    p.add_argument("--sep", type=one_char, default=None,
                   help="CSV separator, one character (default: detected)")
    p.add_argument("--ignore-columns", default="", help=IGNORE_COLUMNS_HELP)
    p.add_argument("--max-dead-letters", type=share, metavar="SHARE",
                   default=env_default("MAX_DEAD_LETTERS", "0.5"),
                   help="fail (exit 1) when more than this share of the records went to the dead "
                        "letters, duplicate_record not counted (env TWIN_MAX_DEAD_LETTERS; default "
                        "%(default)s)")
    p.add_argument("--no-report", action="store_true", help="skip report.html and its plots")
    p.add_argument("--fresh", action="store_true", help=FRESH_HELP)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def build_parser() -> argparse.ArgumentParser:
    """The ``twin`` argument parser."""
    parser = OneLineParser(
        prog="twin",
        description="twinflow: streaming digital twins for predictive maintenance.",
        epilog=("First steps, no broker needed: twin demo (a simulated fleet through the dataflow, "
                "archived to ./twin-data), then twin sql \"SELECT asset_id, severity, explanation "
                "FROM alerts ORDER BY timestamp\" and twin explain ALERT_ID. On Kafka: twin topics "
                "create, twin run. Each command's options: twin COMMAND --help; the rest: README.md."),
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_demo(sub)
    add_archive_parsers(sub)
    add_whatif_parser(sub)
    add_kafka_parsers(sub)
    _add_backtest(sub)
    add_command_parsers(sub)
    return parser


def _cmd_demo(args: argparse.Namespace) -> int:
    from flows.app.demo import DEMO_DEFAULTS, run_demo
    from flows.cli.config_file import load_settings
    from flows.cli.path_limits import ARCHIVE_TAIL
    from flows.dataflow.metrics import PipelineMetrics

    if args.out is not None:  # round 42: "" said "config archive_dir: '' is not a valid name"
        refuse_empty("--out", args.out)
    cfg = load_settings(args.config, base=DEMO_DEFAULTS, overrides={"archive_dir": args.out})
    out = writable_dir("--out" if args.out else "archive_dir", cfg.archive_dir, ARCHIVE_TAIL)
    not_another_commands_out("demo", out)
    from flows.cli.run_checks import not_writable
    from flows.codec.archive_schema import TABLES

    if (problem := not_writable(out, TABLES, None, "--out" if args.out else "archive_dir")) is not None:
        raise ValueError(problem)
    metrics = PipelineMetrics.from_config(cfg.metrics)
    serve_metrics(metrics, args.metrics_port, args.metrics_address)
    return run_demo(args, cfg, out, metrics)


def _cmd_backtest(args: argparse.Namespace) -> int:
    from flows.app.backtest import BACKTEST_SETTINGS, failure, print_summary, run_backtest
    from flows.cli.config_file import load_settings
    from flows.cli.path_limits import ARCHIVE_TAIL, FIGURE_TAIL

    tails = (f"archive/{ARCHIVE_TAIL}", *(() if args.no_report else (FIGURE_TAIL,)))
    writable_dir("--out", args.out, max(tails, key=lambda t: len(t.encode())))
    not_another_commands_out("backtest", args.out)
    from pathlib import Path

    from flows.cli.run_checks import not_writable
    from flows.codec.archive_schema import TABLES

    out = Path(args.out)
    if (problem := not_writable(out / "archive", TABLES, None, "--out", out)) is not None:
        raise ValueError(problem)  # round 28: found after the whole input was read
    check_input_files(args)  # after --out, as before round 30: a refused --out is said first
    cfg = load_settings(args.config, overrides=BACKTEST_SETTINGS)  # checked as it runs (round 42)
    ignore = tuple(c for c in args.ignore_columns.split(",") if c)
    opts = {k: v for k, v in {"fmt": args.format, "sep": args.sep, "ignore_columns": ignore}.items() if v}
    metadata = loaded_metadata(args.metadata)
    from flows.cli.input_files import holding_a_record

    holding_a_record(args.inputs, "backtest", **opts)  # none: one line, exit 2, nothing written (round 41)
    res = run_backtest(args.inputs, args.out, cfg, events=args.events, metadata=metadata,
                       read_options=opts, progress=not args.no_progress, report=not args.no_report,
                       fresh=args.fresh, keep_snapshots=False)  # round 39: memory not growing per window
    print_summary(res, report=not args.no_report)
    problem = failure(res, args.max_dead_letters)
    if problem is not None:  # the outputs are written: exit 1 (not 2: the input was readable)
        print(f"twin: backtest failed: {problem}", file=sys.stderr)
        return 1
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": _cmd_demo, "backtest": _cmd_backtest, **ARCHIVE_COMMANDS, **WHATIF_COMMANDS,
    **KAFKA_COMMANDS, **COMMAND_COMMANDS}


USAGE_ERRORS = (UsageError, ConfigError, ValueError, OSError)
"""Bad usage or input: one line, exit 2. Modules raise these with a message naming the value
(``flows.archive.query.ArchiveError`` is a ValueError: not imported here, so that the commands
that do not query the archive, ``twin run`` first, do not pay DuckDB's import)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``twin`` console script: every failure is one line on stderr.

    Exit 2: bad usage or input (argparse, config, files, unreachable brokers), also when the
    dataflow engine stopped on one. Exit 75: the archive changed under a reader twice in a row (a
    compaction meanwhile: run it again). Exit 74: done, but stderr lines were lost (a full disk).
    Exit 130: Ctrl-C or SIGTERM. Exit 1: anything unexpected, as
    ``twin: internal error: <type>: <msg>``; ``TWIN_DEBUG=1`` adds the traceback (and the
    engine's panic text, otherwise kept off the terminal).
    """
    keep_freed_memory()  # the waveform path's big arrays reuse freed heap (flows/app/heap.py)
    before = stop_once()  # SIGTERM stops like Ctrl-C; a repeat does not abort it (flows.app.stop_signals)
    lost_reset()
    try:
        gc_setting()  # TWIN_GC: a value not known is refused before any command runs (flows/app/heap.py)
        args = build_parser().parse_args(argv)
        if args.command != "backtest":  # a backtest checks its --out first (_cmd_backtest)
            check_input_files(args)  # a file named by a flag or argument, unreadable: its flag named
        status = 0  # kept if the reader of stdout stopped reading (`| head`): flows.cli.stdout
        with engine_panics_hidden(not debug_enabled()), named_stdout(), inputs_named(args):
            status = COMMANDS[args.command](args)
        return lost_status(status)  # 74: done, but stderr lines lost to a full disk (round 37)
    except BaseException as exc:  # noqa: BLE001 - the last-resort guard: one line, never a traceback
        if isinstance(exc, SystemExit):
            raise
        return _report(exc)
    finally:
        restore(before, exiting=argv is None)  # the console script exits next


def _report(exc: BaseException) -> int:
    """One line for ``exc`` (or the step error behind an engine error) and the exit status."""
    cause = engine_cause(exc)
    # what a command stopped mid-way kept in its output folder (flows.app.out_dir.kept_outputs)
    notes = "".join(f"; {n}" for n in getattr(exc, "__notes__", ()))
    if isinstance(cause, KeyboardInterrupt):
        print_error(f"interrupted{notes}", prefix="twin: ")
        return 130
    if isinstance(cause, USAGE_ERRORS):
        print_error(f"{str(cause) or type(cause).__name__}{notes}")
        # 75 for flows.archive.files.ArchiveChanged (a compaction meanwhile: run it again)
        return int(getattr(cause, "exit_status", 2))
    if debug_enabled():
        import traceback

        traceback.print_exception(exc)
    print_error(f"{type(cause).__name__}: {cause} (set TWIN_DEBUG=1 for the traceback)",
                prefix="twin: internal error: ")
    return 1


if __name__ == "__main__":
    sys.exit(main())
