"""The way out of an analyst's commonest slips in ``twin sql``, appended to DuckDB's first line.

Round 48 (USER48): DuckDB's words alone did not say it. A feature's name unquoted (``vib.rms`` read
as column ``rms`` of a table ``vib``) and a view's name misspelt (``alert``)."""

from __future__ import annotations

import re

from flows.codec.archive_schema import TABLES

__all__ = ["hint", "missing_table"]

_NO_REFERENCE = re.compile(r'Binder Error: Referenced table "([^"]+)" not found')
_NO_VIEW = re.compile(r"Catalog Error: Table with name (.+?) does not exist")


def missing_table(first: str) -> str | None:
    """The table DuckDB's error line ``first`` says the catalog does not hold, else None: its words
    at the line's start, as the error's kind says them (a string literal quoting them is no such
    error), for :func:`hint` and the archive's query errors alike."""
    return m.group(1) if (m := _NO_VIEW.match(first)) is not None else None


def hint(first: str) -> str:
    """`` (what to write instead)`` for DuckDB's error line ``first``, or "" when it is no such slip.

    Round 49 (HOSTILE49): DuckDB's words are looked for at the line's start, as the error's kind
    says them: anywhere, a string literal quoting them (a conversion error's ``'Referenced table
    "vib" not found'``) got the quoting hint; a quoted view name with a character outside ``\\w``
    (``"alert s"``) got no views hint."""
    if (m := _NO_REFERENCE.match(first)) is not None and m.group(1).lower() not in TABLES:
        return (f' (a name holding a dot, as the features\' "vib.rms", goes in double quotes: '
                f'"{m.group(1)}.<feature>")')
    if (table := missing_table(first)) is not None and table.lower() not in TABLES:
        return f" (the archive's views: {', '.join(TABLES)})"
    return ""
