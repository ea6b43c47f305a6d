"""Format detection: which format a file's columns say it has, its reserved columns and its channels.

Detection (unless a format is given): a Parquet file with a list column is ``waveform``; columns
within ``timestamp, asset_id, event, note`` that include ``event`` are ``events``; exactly
``timestamp, value`` is ``nab``; anything else with a ``timestamp`` column is a ``scalar_table``.
Reserved names are matched case-insensitively.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flows.dataflow.sources.readers.source import FORMATS, ROLE_NAMES, ROLES, Source
from twin_models.records import MAX_ID_CHARS

MAX_CHANNELS = 4096
"""Channel columns a file may have at most. Each scalar channel is six columns of the archive's
``features`` table (``<channel>.mean`` ...), so 4096 channels already write ~25,000 columns per
window row; a CSV of 10^6 columns (a 12 MB file) ran for more than 5 minutes before anything
was refused. Columns beyond it can be dropped with ``ignore_columns``."""


@dataclass(frozen=True)
class Layout:
    """How a file's columns map to records: the format, reserved columns and channels."""

    fmt: str
    roles: dict[str, str]  # reserved role -> column name in the file
    channels: tuple[str, ...]
    default_asset: str

    def needed(self) -> list[str]:
        """Columns to read, in the order the record builders expect them."""
        own = [self.roles[r] for r in ROLES[self.fmt] if r in self.roles]
        return own + list(self.channels)


def _stem(path: Path) -> str:
    """``data/pump-1.csv.gz`` -> ``pump-1``."""
    name = path.name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    return Path(name).stem or name


def _roles(src: Source) -> dict[str, str]:
    """Reserved column names present (case-insensitive) -> their spelling; no duplicates."""
    seen: dict[str, str] = {}
    for name in src.columns:
        if not name:
            msg = "the header has a column without a name"
            raise src.error(msg, 1 if not src.parquet else None)
        if not name.isprintable():  # round 33: a NUL in the header made each record a bad_channel
            bad = next(c for c in name if not c.isprintable())
            msg = f"the header's column {name!r} holds the non-printable character U+{ord(bad):04X}"
            raise src.error(msg, 1 if not src.parquet else None)
        key = name.lower()
        if key in seen:
            msg = f"column {name!r} appears twice (as {seen[key]!r})"
            raise src.error(msg, 1 if not src.parquet else None)
        seen[key] = name
    return {k: v for k, v in seen.items() if k in ROLE_NAMES}


def _detect(src: Source, ignore: frozenset[str]) -> str:
    """The format a file's columns say it has (see the module docstring)."""
    kept = {c.lower() for c in src.columns if c not in ignore}
    if src.list_columns - ignore:
        return "waveform"
    if "event" in kept and kept <= set(ROLES["events"]):
        return "events"
    if kept == {"timestamp", "value"}:
        return "nab"
    return "scalar_table"


def layout(src: Source, fmt: str | None, ignore: frozenset[str], asset_id: str | None) -> Layout:
    """Check the columns against the format (given or detected); name the channels."""
    roles = _roles(src)
    if "timestamp" not in roles:
        msg = f"has no 'timestamp' column (columns: {', '.join(src.columns)})"
        raise src.error(msg)
    if roles["timestamp"] in ignore:  # round 50: was kept silently; every record needs its time
        msg = f"the time column {roles['timestamp']!r} cannot be ignored (drop it from ignore_columns)"
        raise src.error(msg)
    fmt = fmt or _detect(src, ignore)
    if fmt not in FORMATS:
        msg = f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}"
        raise src.error(msg)
    roles = {r: c for r, c in roles.items() if r in ROLES[fmt] and (r == "timestamp" or c not in ignore)}
    if asset_id is not None and "asset_id" in roles:
        msg = "has an asset_id column: drop the asset_id argument (it names the asset of files without one)"
        raise src.error(msg)
    extra = tuple(c for c in src.columns if c not in roles.values() and c not in ignore)
    if len(extra) > MAX_CHANNELS:
        msg = (f"{len(extra):,} channel columns, at most {MAX_CHANNELS:,} per file "
               "(drop the others with --ignore-columns, or split the file)")
        raise src.error(msg)
    _check_channels(src, fmt, roles, extra)
    return Layout(fmt, roles, extra if fmt != "events" else (), asset_id or _stem(src.path))


def _check_channels(src: Source, fmt: str, roles: dict[str, str], extra: tuple[str, ...]) -> None:
    """The non-reserved columns must be what the format allows."""
    lists = [c for c in extra if c in src.list_columns]
    flat = [c for c in extra if c not in src.list_columns]
    problem = ""
    if fmt == "nab" and extra != ("value",):
        problem = "the nab format has exactly the columns timestamp,value"
    elif fmt == "events" and "event" not in roles:
        problem = "an events file needs an 'event' column"
    elif fmt == "events" and extra:
        problem = f"unexpected column(s) {', '.join(extra)} in an events file (see ignore_columns)"
    elif fmt == "waveform" and (not src.parquet or "sample_rate_hz" not in roles or not lists or flat):
        problem = ("a waveform file is Parquet with sample_rate_hz and list<float> channel columns"
                   + (f"; not a list column: {', '.join(flat)} (see ignore_columns)" if flat else ""))
    elif fmt in ("scalar_table", "nab") and (lists or not flat):
        problem = (f"list column(s) {', '.join(lists)} in a scalar table (a waveform file?)" if lists
                   else "a scalar table needs at least one channel column besides timestamp/asset_id")
    if problem:
        msg = f"{problem}; columns: {', '.join(src.columns)}"
        raise src.error(msg)
    for name in lists:
        if name in src.nested:
            msg = "a waveform channel is a list of numbers (list<float>), not of lists or text"
            raise src.error(msg, column=name)
    for name in extra:
        if len(name) > MAX_ID_CHARS:
            msg = f"a channel name has at most {MAX_ID_CHARS} characters, this one {len(name)}"
            raise src.error(msg, column=name)
