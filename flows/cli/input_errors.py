"""A telemetry file's content error, named as the file checks name the file (round 31, LOOSE31).

:mod:`flows.cli.input_files` names an unreadable file by its flag or argument (``input file
data.csv: no such file``, ``--events ev.csv: a folder``); a problem inside a telemetry file, found
by its reader while ``twin backtest`` or ``twin replay`` reads it (a bad cell, a text that is not
UTF-8, a header without ``timestamp``), said ``data.csv line 3, column 'value': ...``: the file and
line, not that it is one of the command's input files. :func:`inputs_named` leads such a message
with the same words. What stays fatal and what is per row is unchanged: a cell that cannot be
read stops the command (one line, exit 2); empty or non-finite cells are skipped and counted
(``skipped while reading the files``), and records the flow refuses are dead letters.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flows.cli.input_files import FILE_ARGS
from flows.cli.stderr import engine_cause

__all__ = ["TELEMETRY_ARGS", "inputs_named", "led_by_flag"]

TELEMETRY_ARGS = tuple((dest, dict(FILE_ARGS)[dest]) for dest in ("inputs", "files", "events"))
"""(argparse dest, how :data:`flows.cli.input_files.FILE_ARGS` names it) of the files a reader
reads row by row (``--metadata`` is loaded whole, its errors led by its flag already)."""


def led_by_flag(text: str, path: str | Path, args: argparse.Namespace) -> str | None:
    """``text`` (a message starting with ``path``) led by the flag or argument of ``args`` that
    named that file: ``input file data.csv line 3, ...``; None if no such file names it."""
    for dest, flag in TELEMETRY_ARGS:
        values = getattr(args, dest, None) or []
        for value in values if isinstance(values, list) else [values]:
            if Path(value) != Path(path):
                continue
            for name in (str(path), str(value), str(Path(value))):
                if text.startswith(name) and text[len(name):len(name) + 1] in (" ", ":", ""):
                    return f"{flag} {value}{text[len(name):]}"
    return None


@contextmanager
def inputs_named(args: argparse.Namespace) -> Iterator[None]:
    """Within the block, a reader's error about one of ``args``' telemetry files (a
    :class:`~flows.dataflow.sources.readers.source.FileFormatError`, also when the dataflow engine
    wrapped it) is led by that file's flag or argument; its type, chain and notes stay."""
    try:
        yield
    except BaseException as exc:
        from flows.dataflow.sources.readers.source import FileFormatError

        cause = engine_cause(exc)
        if isinstance(cause, FileFormatError) and cause.path is not None:
            text = led_by_flag(str(cause), cause.path, args)
            if text is not None:
                cause.args = (text,)
        raise
