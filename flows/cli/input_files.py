"""The files a ``twin`` command reads, checked before it runs: one line naming the flag (or
argument) and the file.

Round 30 (USER30, HOSTILE30): ``twin backtest --metadata nope.json ...`` and ``twin backtest
/missing.csv`` said ``twin: error: [Errno 2] No such file or directory: 'nope.json'``, naming neither
the flag nor the argument; a config file's problems said "config file ..." without ``--config``.
:func:`check_input_files` runs after the arguments are parsed, before any command: each file a
command reads (``--config``, ``--metadata``, ``--events``, the input files of ``backtest`` and
``replay``) must exist, be a regular file (a FIFO nobody writes would block the read for ever, a
folder is no file) and open for reading; a config file must be UTF-8 TOML (it is small: read
whole here). A metadata file's content is checked as it is loaded (:func:`named_flag` prefixes the
reader's message, which names the file and line); a telemetry file's by its reader (it names the
file: it may be gigabytes, not read twice)."""

from __future__ import annotations

import argparse
import itertools
import os
import tomllib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from flows.cli.args import UsageError
from flows.dataflow.sources.readers.source import not_a_file
from twin_models.text import counted, first_few

__all__ = ["FILE_ARGS", "check_input_files", "holding_a_record", "loaded_metadata", "named_flag",
           "not_a_file", "where"]

FILE_ARGS = (("config", "--config"), ("metadata", "--metadata"), ("events", "--events"),
             ("inputs", "input file"), ("files", "input file"))
"""(argparse dest, how a message names it) of every option or argument naming a file to read."""


def where(flag: str, value: str) -> str:
    """``--flag PATH``, or ``TWIN_X=PATH`` when the value came from that environment variable
    (:func:`flows.cli.args.env_default`); the path printable (no escape reaches the terminal)."""
    from flows.archive.files import printable, shell_word

    env = getattr(value, "env", None)
    if value != value.strip():  # round 50: `--config ' '` said "--config : no such file", the name unseen
        value = shell_word(str(value))
    return printable(f"{env}={value}" if env else f"{flag} {value}")


def _problem(path: str) -> str | None:
    """What keeps ``path`` from being read as a file, or None."""
    if not path:
        return "an empty path (name a file)"
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        known = {2: "no such file", 20: "no such file (a part of the path is not a folder)",
                 40: "a loop of symbolic links (it names no file)"}
        return known.get(exc.errno or 0, f"cannot be read ({exc.strerror})")
    if (kind := not_a_file(mode)) is not None:
        return kind
    try:
        os.close(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)))
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    return None


def _config_problem(path: str) -> str | None:
    """What keeps ``path`` from being a config file: not UTF-8 text, not TOML."""
    from flows.cli.config_file import TooLarge, document

    try:
        document(path)  # kept: the command's settings are loaded from it (parsed once)
    except TooLarge as exc:
        return str(exc)
    except UnicodeDecodeError as exc:
        return f"not UTF-8 text ({exc.reason} at byte {exc.start}); a config file is TOML"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    except tomllib.TOMLDecodeError as exc:
        return f"not valid TOML: {exc}"
    except RecursionError:
        return "not valid TOML: arrays or tables nested too deeply"
    return None


def check_input_files(args: argparse.Namespace) -> None:
    """Refuse the first file of ``args`` that cannot be read: a UsageError naming its flag or
    argument and the file. Options not given (None, or an empty ``--metadata``/``--config`` as
    the commands take it: none) are skipped."""
    for dest, flag in FILE_ARGS:
        value = getattr(args, dest, None)
        values = value if isinstance(value, list) else [] if value is None else [value]
        for path in values:
            if dest in ("config", "metadata") and not path:
                continue
            problem = _problem(path)
            if problem is None and dest == "config":
                problem = _config_problem(path)
            if problem is not None:
                msg = f"{where(flag, path)}: {problem}"
                raise UsageError(msg)


@contextmanager
def named_flag(flag: str, value: str) -> Iterator[None]:
    """Within the block, a ValueError or OSError about the file ``value`` (a reader's message,
    which names the file) becomes a UsageError led by the flag: ``--metadata m.json line 3: ...``."""
    try:
        yield
    except (ValueError, OSError) as exc:
        from pathlib import Path

        from flows.archive.files import printable

        text = printable(str(exc) or type(exc).__name__)
        lead = where(flag, value)
        names = (printable(str(value)), printable(str(Path(value))))
        shown = next((name for name in names if text.startswith(name)), None)
        msg = f"{lead}: {text}" if shown is None else f"{lead}{text[len(shown):]}"
        raise UsageError(msg) from None


def loaded_metadata(value: Any, flag: str = "--metadata") -> Any:
    """The asset metadata of ``value`` (``{}`` when not given), its errors led by the flag."""
    from flows.cli.args import load_metadata

    with named_flag(flag, value):
        return load_metadata(value)


SKIPPED_WORDS = {"null_frame": ("frame whose samples are all null", "frames whose samples are all null"),
                 "non_finite_frame": ("frame with NaN, infinite or null samples",
                                      "frames with NaN, infinite or null samples"),
                 "empty_frame": ("null or empty sample list", None),
                 "non_finite": ("NaN or infinite value", None), "empty": ("empty cell", None)}
"""What the readers' skip reasons say, when input holds no record for them (round 50: a waveform
file of null samples said "a header only, or no row with a value")."""


def _why_no_record(stats: Iterable[Any]) -> str:
    """Why files whose reads gave no record hold none: their skips when some were frames or
    non-finite values (``(2 frames whose samples are all null)``), else a header only or empty cells."""
    from collections import Counter

    skipped: Counter[str] = sum((Counter(st.skipped) for st in stats), Counter())
    if set(skipped) <= {"empty"}:
        return "(a header only, or no row with a value)"
    order = sorted(skipped.items(), key=lambda item: (-item[1], item[0]))  # the most first
    return "(" + ", ".join(counted(n, *SKIPPED_WORDS.get(r, (f"{r} skip", None))) for r, n in order) + ")"


def holding_a_record(files: Sequence[str], command: str, **read: Any) -> Iterator[Any]:
    """The records of the input ``files`` in event-time order (:func:`~flows.dataflow.sources.files.
    merge_files` with the ``read`` options), refused first in one line (a UsageError: exit 2) when
    they hold none: header-only files, or no row with a value. Read up to the first record only.

    Round 41 (OUTPUTS41): ``twin replay`` of such input said "the input held no record", exit 1,
    naming no file, and ``twin backtest`` of it ran, wrote empty outputs and said the same, exit 1
    (the code for outputs written but not to be trusted, or an unexpected error); both now refuse
    it as the bad input it is, naming the files, before anything is published or written."""
    from flows.archive.files import printable
    from flows.dataflow.sources.files import merge_files

    stats: dict[str, Any] = {}
    records = iter(merge_files(files, stats=stats, **read))
    first = next(records, None)
    if first is None:
        why = _why_no_record(stats.values())
        shown = first_few(files, 3, show=lambda f: printable(str(f)))  # of 100,000 files: 3 escaped
        if len(files) == 1:
            msg = f"input file {shown} holds no record {why}: nothing to {command}"
        else:
            msg = f"none of the {len(files)} input files holds a record {why}: {shown}; nothing to {command}"
        raise UsageError(msg)
    return itertools.chain((first,), records)
