"""The ``twin sql``, ``twin explain`` and ``twin archive check|compact`` subcommands: query,
explain, inspect and compact the Parquet archive."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from flows.cli.args import (
    ARCHIVE_HELP,
    archive_dir,
    env_default,
    memory_mib,
    non_negative_float,
    non_negative_int,
    utf8_text,
)
from twin_models.text import counted, format_duration

__all__ = ["ARCHIVE_COMMANDS", "add_archive_parsers"]


def _add_archive_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--archive", default=None, help=ARCHIVE_HELP)
    p.add_argument("--config", default=env_default("CONFIG", None),
                   help="TOML config file (env TWIN_CONFIG): its archive_dir names the archive "
                        "unless --archive is given; every setting in it is checked either way")


def _add_sql(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from flows.cli.sql_output import DEFAULT_MAX_ROWS, DEFAULT_TIMEOUT_S

    p = sub.add_parser(
        "sql",
        help="query the archive with DuckDB SQL (read-only)",
        description=(
            "Run a read-only SQL query over the Parquet archive. Views: features (one row per "
            "asset window, one column per feature, e.g. \"vib.rms\"), twin_state (one row per "
            "asset window: condition, anomaly_score, health_index, rul_s ...), alerts (one row "
            "per alert message), recommendations (the twins' prescriptions), audit (the command "
            "log), damage_state (damage checkpoints of degrading assets), data_quality (each "
            "channel's quality state changes); every row carries the run_id that wrote it. Output "
            "goes to stdout; at most --max-rows rows. The query can read "
            "the archive's rows and nothing else, and writes nothing. Example: twin sql "
            "\"SELECT asset_id, count(*) FROM alerts GROUP BY 1\""
        ),
    )
    p.add_argument("query", type=utf8_text, help="one SELECT statement")
    _add_archive_arg(p)
    p.add_argument("--format", choices=("table", "csv", "json"), default="table",
                   help="output format; json is one object per line (default %(default)s)")
    p.add_argument("--max-rows", type=non_negative_int,
                   default=env_default("SQL_MAX_ROWS", DEFAULT_MAX_ROWS),
                   help="print at most this many rows, 0 = no limit; a note on stderr says when "
                        "rows were cut (env TWIN_SQL_MAX_ROWS; default %(default)s)")
    p.add_argument("--timeout", type=non_negative_float, metavar="SECONDS",
                   default=env_default("SQL_TIMEOUT", DEFAULT_TIMEOUT_S),
                   help="stop the query (one line, exit 2) when it has run this long, fetching "
                        "included, 0 = no limit (env TWIN_SQL_TIMEOUT; default %(default)s)")
    p.add_argument("--memory-limit", type=memory_mib, metavar="MIB",
                   default=env_default("SQL_MEMORY_MIB", None),
                   help="memory the query may use, MiB (at least 64); past it the query fails in one "
                        "line, exit 2, nothing spills to disk (env TWIN_SQL_MEMORY_MIB; default: a "
                        "quarter of the machine's memory)")


def _add_explain(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "explain", help="show an alert's lineage (digital thread) from the archive",
        description=(
            "Show what produced an alert, from the archive only (read-only, sandboxed like twin "
            "sql): its messages, the windows that raised it with their input ranges (Kafka "
            "offsets, file rows, simulator records), the top features of the raising window "
            "against the asset's baseline, the twinflow, configuration and model versions, and the "
            "recommendations made for it with their what-if options; to stdout (--json: one "
            "document). Example (an alert of the archive `make demo` writes): twin explain "
            "10f2982cbd9416dbf24f --archive twin-data"),
    )
    from flows.cli.whatif_command import an_id

    p.add_argument("alert_id", metavar="ALERT_ID", type=an_id(),
                   help="the alert's id (alert_id column of the alerts view)")
    _add_archive_arg(p)
    p.add_argument("--json", action="store_true", help="print the lineage as one JSON document")


def _add_archive(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "archive", help="inspect the Parquet archive",
        description=("Maintenance of the Parquet archive (what `twin demo --out`, `twin run --archive` "
                     "and a backtest's <out>/archive hold): check lists (and --repair moves aside) "
                     "the files queries skip; compact merges each closed day's files of a table. "
                     "Example: twin archive check --archive twin-data"))
    asub = p.add_subparsers(dest="archive_command", required=True, metavar="ACTION")
    c = asub.add_parser(
        "check", help="list unreadable or foreign files in the archive (--repair: move them aside)",
        description="List the files of the archive's tables that queries leave out: unreadable "
                    "Parquet (zero-byte, truncated, not Parquet), files whose schema does not fit "
                    "the table, files outside the date= (or older date=/asset_id=) folders. Reads footers "
                    "only (--pages: every data page too). "
                    "Exit status 1 if any is found (0 with --repair once they are moved). "
                    "Example: twin archive check --archive twin-data --pages --repair")
    _add_archive_arg(c)
    c.add_argument("--pages", action="store_true",
                   help="also read every data page of every file: finds files whose footer is intact "
                        "but whose pages are corrupt (a query reading them fails); reads the whole archive")
    c.add_argument("--repair", action="store_true",
                   help="move those files into <archive>/_quarantine/<table>/ (never deleted)")
    k = asub.add_parser(
        "compact", help="merge each closed day's files of a table into one (fewer files, faster queries)",
        description="Rewrite each date folder's readable files (a live run writes one per flush; "
                    "older archives one per asset) into one file sorted by asset and time, keeping "
                    "every row and its bookkeeping as they are. Safe to stop at any moment: the "
                    "merged file replaces its sources atomically, and a later run finishes what a "
                    "stopped one began. Unreadable or foreign files are left alone. "
                    "Example: twin archive compact --archive twin-data --before 2026-02-01")
    _add_archive_arg(k)
    k.add_argument("--before", type=_iso_date, default=None, metavar="YYYY-MM-DD",
                   help="compact the dates before this one (default: today, UTC: closed days only)")


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        msg = f"not a date (YYYY-MM-DD): {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def add_archive_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``sql`` and ``archive`` to the ``twin`` subcommands."""
    _add_sql(sub)
    _add_explain(sub)
    _add_archive(sub)


def _cmd_sql(args: argparse.Namespace) -> int:
    from flows.archive.memory_cap import capped_memory
    from flows.archive.query import default_memory_mib

    limit = default_memory_mib() if args.memory_limit is None else args.memory_limit
    try:
        with capped_memory(limit):  # round 50: repeat('x', 2000000000) escaped DuckDB's limit
            return _run_sql(args)
    except MemoryError:  # Python's own share (a fetched batch of huge strings) past the cap
        msg = (f"bad query: its result does not fit in the memory allowed (--memory-limit {limit} MiB "
               "and the process's cap beside it, see README)")
        raise ValueError(msg) from None


def _run_sql(args: argparse.Namespace) -> int:
    import duckdb

    from flows.archive.files import ArchiveChanged
    from flows.archive.query import (
        execute,
        interruptible,
        once_more_if_changed,
        query_failed,
        tables_named,
        warn_once,
    )
    from flows.cli.sql_output import BATCH, write_result

    deadline = (time.monotonic() + args.timeout, args.timeout) if args.timeout > 0 else None
    root = archive_dir(args.config, args.archive)
    first_batch = BATCH if args.max_rows == 0 else min(BATCH, args.max_rows)
    skipped = warn_once(root)  # one warning, even when the archive is listed a second time

    def start() -> tuple[duckdb.DuckDBPyConnection, list[Any]]:
        """The query started and its first rows fetched, nothing written yet: a compaction that
        removed a file meanwhile makes it start again on a fresh listing (once)."""
        con = execute(root, args.query, skipped, deadline, args.memory_limit)
        try:
            return con, interruptible(con, lambda: con.fetchmany(first_batch), deadline)
        except BaseException as exc:
            with contextlib.suppress(duckdb.Error):  # busy for a moment after an interrupt
                con.close()
            if isinstance(exc, duckdb.InterruptException) or (
                    isinstance(exc, RuntimeError) and "interrupt" in str(exc).lower()):
                raise KeyboardInterrupt from None
            if isinstance(exc, duckdb.Error):  # a corrupt file, or one a compaction removed
                raise query_failed(root, exc, tables_named(args.query)) from None
            raise

    con, first = once_more_if_changed(start)
    held: list[list[Any]] = [first]
    handed = [0]  # rows handed to write_result: all written out when the next fetch fails

    def fetch(n: int) -> list[Any]:
        if held:  # the first batch, fetched before anything was written (stream_rows asks for as many)
            rows = held.pop()
        else:
            rows = interruptible(con, lambda: con.fetchmany(n), deadline)
        handed[0] += len(rows)
        return rows

    try:
        # its own one-line failures (below): the stream itself, not main's per-write wrapper
        _, cut = write_result(con, args.format, args.max_rows, getattr(sys.stdout, "stream", sys.stdout),
                              fetch=fetch)
        sys.stdout.flush()
    except duckdb.InterruptException:
        raise KeyboardInterrupt from None
    except RuntimeError as exc:  # Ctrl-C while DuckDB computes the next rows
        if "interrupt" in str(exc).lower():
            raise KeyboardInterrupt from None
        raise
    except duckdb.Error as exc:  # while fetching: a corrupt file is found there too
        failed = query_failed(root, exc, tables_named(args.query))
        if isinstance(failed, ArchiveChanged) and handed[0]:  # too late to read again: rows are out
            with contextlib.suppress(OSError):
                sys.stdout.flush()
            raise failed.after_rows(handed[0]) from None
        raise failed from None
    except BrokenPipeError:  # `twin sql ... | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # `twin sql ... > file` on a full disk: it said `[Errno 28] No space ...` alone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second failure at exit
        msg = f"cannot write the result to standard output: {exc.strerror or exc}"
        raise OSError(msg) from None
    finally:
        with contextlib.suppress(duckdb.Error):  # busy for a moment after an interrupt
            con.close()
    if cut:
        print(f"twin: note: output cut at {args.max_rows} rows (--max-rows N, 0 = no limit)",
              file=sys.stderr)
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    import json

    from flows.app.explain import explain, rendered
    from flows.archive.files import printable

    root = archive_dir(args.config, args.archive)
    doc = explain(root, args.alert_id)
    # the archive's text is anyone's (a planted file of the right schema): escaped for the terminal
    print(json.dumps(doc, default=str) if args.json else
          "\n".join(printable(line) for line in rendered(doc, root).splitlines()))
    return 0


def _compacted_lines(root: Path, removed: list[Path], finished: int, done: list[Any], shown: Path) -> None:
    """What a compaction did, the same lines whether it ended or a full disk or a signal stopped it."""
    from flows.archive.files import printable

    if removed:  # round 28: a compaction killed with `kill -9` left its hidden file for ever
        n = len(removed)
        print(printable(f"removed {counted(n, 'temporary file')} a killed compaction had left: "
                        + ", ".join(str(p.relative_to(root)) for p in removed)))
    if finished:
        print(f"deleted {counted(finished, 'file')} a stopped compaction had merged")
    for c in done:
        print(f"{c.table} {c.date}: {counted(c.files, 'file')} -> {c.path.relative_to(root)} "
              f"({counted(c.rows, 'row')})")
    print(printable(f"archive {shown}: {counted(len(done), 'date folder')} compacted"))


def _cmd_compact(root: Path, before: date | None, flag: str, shown: Path) -> int:
    """``root``: the archive held (its ``/proc/self/fd`` path), ``shown`` its name as given."""
    from flows.app.out_held import as_given
    from flows.archive.compact import (
        CompactionInterrupted,
        CompactionStopped,
        compact_archive,
        compaction_lock,
        remove_files,
        stale_temps,
    )
    from flows.archive.files import COMPACT_PREFIX, TABLES, BadFile, shell_word
    from flows.cli.path_limits import COMPACT_TAIL, too_long
    from flows.cli.run_checks import not_writable
    from flows.dataflow.sinks.archive import new_run_id

    # round 34: a compaction's merged files too long for the OS failed at the first one written
    if (problem := too_long(flag, shown, COMPACT_TAIL, "a compaction")) is not None:
        raise ValueError(problem)
    if (problem := not_writable(root, TABLES, None)) is not None:  # another user's (round 28)
        raise ValueError(problem)

    skipped: list[str] = []
    left: list[BadFile] = []
    with compaction_lock(root) as lock:  # another compaction running: one line, exit 2
        removed = stale_temps(root) if lock.held else []
        remove_files(root, removed)  # round 50: by name in their folders held, never through a link
        try:
            done, finished = compact_archive(root, before or datetime.now(UTC).date(),
                                             f"{COMPACT_PREFIX}{new_run_id()}", skipped=skipped, left=left)
        except (CompactionStopped, CompactionInterrupted) as exc:  # a full disk or a stop signal: what was
            # done before it, as a run that ended (main adds the interrupted one's note to its line)
            _compacted_lines(root, removed, exc.finished, exc.done, shown)
            sys.stdout.flush()
            raise
    _compacted_lines(root, removed, finished, done, shown)
    if left:  # round 40: a file left out for its column types was left without a word (`sql` says it)
        from flows.archive.query import skipped_warning

        sys.stdout.flush()
        print(as_given(skipped_warning(root, left)), file=sys.stderr)  # a reason naming a held path
    if skipped:  # one line, exit 2: each folder left as it was, and how to move its file aside
        n = len(skipped)
        msg = (f"{counted(n, 'date folder')} left as {'they were' if n != 1 else 'it was'}: "
               f"{'; '.join(skipped)}; move such files aside with `twin archive check --archive "
               f"{shell_word(str(shown))} --pages --repair`, then compact again")
        raise ValueError(msg)
    return 0


def _stale_note(root: Path, shown: Path) -> None:
    """``archive check``: the hidden files a killed compaction left (no compaction running), one line;
    and those a run stopped mid-write left (older than ``RUN_TEMP_AGE_S``), one line."""
    from flows.archive.compact import RUN_TEMP_AGE_S, compaction_lock, left_run_temps, stale_temps
    from flows.archive.files import printable

    with compaction_lock(root, wait=True) as lock:
        stale = stale_temps(root) if lock.held else []
    if stale:
        n = len(stale)
        print(printable(f"{counted(n, 'temporary file')} of a killed compaction (hidden, no query "
                        "reads them; the next `twin archive compact` removes them): "
                        + _some_names(root, shown, stale)))
    if left := left_run_temps(root, time.time()):  # round 48: said by no command
        oldest = max(age for _, age in left)
        names = _some_names(root, shown, [p for p, _ in left])
        print(printable(f"{counted(len(left), 'temporary file')} of a run's writes older than "
                        f"{RUN_TEMP_AGE_S / 60:g} minutes, the oldest {format_duration(oldest)} (hidden, no "
                        "query reads them; a part's write takes seconds: left by a run stopped mid-write, "
                        "kill -9 or a power loss; nothing removes them: delete them once no run is stuck "
                        f"writing here): {names}"))


NAMES_SHOWN = 20
"""Files a note names at most; the rest are counted (thousands of names made a line no one reads)."""


def _some_names(root: Path, shown: Path, paths: list[Path]) -> str:
    from flows.archive.files import shell_word  # bash's $'...' for a name not printable (round 50)

    names = ", ".join(str(p.relative_to(root)) for p in paths[:NAMES_SHOWN])
    more = len(paths) - NAMES_SHOWN
    find = f"find {shell_word(str(shown))} -name '.part-*.parquet.tmp'"
    return names if more <= 0 else f"{names} and {more} more ({find})"


def _cmd_archive(args: argparse.Namespace) -> int:
    from flows.app.out_held import held_folder
    from flows.archive.files import TABLES, not_utf8
    from flows.archive.query import folder_problem, no_tables

    shown = Path(archive_dir(args.config, args.archive))
    problem = folder_problem(shown) or not_utf8(shown)
    if problem is not None:
        raise ValueError(problem)
    # round 42 (HOLD42): held from here to the last move or deletion (by name before: the folder
    # swapped for a link mid-compaction had merged files written and sources deleted where it pointed)
    with held_folder(shown, lambda: None, follow=True) as root:
        if not any(os.path.lexists(root / name) for name in (*TABLES, "_quarantine")):
            # round 26: `archive check --archive /etc` said "every file is readable" (exit 0), round 27:
            # `archive compact` "0 date folders compacted" (exit 0); `twin sql`'s line, exit 2
            raise ValueError(no_tables(shown))
        if args.archive_command == "compact":
            return _cmd_compact(root, args.before, "--archive" if args.archive is not None else "archive_dir",
                                shown)
        return _check(args, root, shown)


def _check(args: argparse.Namespace, root: Path, shown: Path) -> int:
    """``twin archive check [--pages] [--repair]`` of the held archive ``root`` (named ``shown``)."""
    from flows.archive.files import TABLES, corrupt_pages, printable, scan_table
    from flows.archive.quarantine import quarantine

    scans = [scan_table(root, t) for t in TABLES]
    at = printable(f"archive {shown}")  # a newline in the path would forge a line (round 29)
    _stale_note(root, shown)
    bad = [b for tf in scans for b in tf.bad]
    if args.pages:
        bad += [b for tf in scans for b in corrupt_pages(tf)]
    if not bad:
        print(f"{at}: every file is readable")
        return 0
    if not args.repair:
        for b in bad:
            print(printable(f"{b.path.relative_to(root)}: {b.reason}"))
        skip = "queries skip them" if args.pages is False else "queries skip them or fail on their pages"
        print(f"{at}: {counted(len(bad), 'unreadable or foreign file')} "
              f"({skip}; --repair moves them into _quarantine/)")
        return 1
    moves = quarantine(root, bad)
    for src, dst in moves:
        print(printable(f"moved {src.relative_to(root)} -> {dst.relative_to(root)}"))
    print(f"{at}: {counted(len(moves), 'file')} moved into _quarantine/")
    return 0


ARCHIVE_COMMANDS: dict[str, Any] = {"sql": _cmd_sql, "explain": _cmd_explain, "archive": _cmd_archive}
