"""Argument helpers shared by the ``twin`` subcommands (env fallbacks, checked values, metrics).

Where a command may write (``--out``, ``--archive``, ``--recovery-dir``) is judged in
:mod:`flows.cli.out_folders`.

Env fallbacks are lazy: ``env_default`` hands argparse the raw ``TWIN_<NAME>`` text, and argparse
converts a string default with the flag's own type only when the chosen subcommand has that flag
and it was not given. So ``TWIN_ASSETS=abc`` breaks neither ``--help`` nor ``twin sql``; ``twin
demo`` says ``twin: error: TWIN_ASSETS=abc: expected a whole number``. Every type function here
is wrapped by :func:`_env_aware` to name the variable instead of the flag.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from flows.config.tree import register_env_name
from flows.config.values import DEFAULT_ARCHIVE

__all__ = ["OneLineParser", "UsageError", "add_metrics_args", "backup_seconds", "debug_enabled",
           "env_default", "load_metadata", "print_error", "refuse_empty",
           "non_negative_float", "non_negative_int", "one_char", "one_of", "port", "positive_float",
           "positive_int", "seconds_at_least", "seed", "serve_metrics", "share",
           "whole_number", "add_fleet_args", "fleet_size", "sim_days", "worker_count", "MIN_FRAME_INTERVAL_S",
           "MIN_SCALAR_INTERVAL_S", "MIN_SNAPSHOT_INTERVAL_S", "MAX_RECOVERY_INTERVAL_S"]


class UsageError(Exception):
    """Bad usage found outside argparse's own checks (a bad env fallback, an unusable --out).

    Not a ValueError: raised from a type function, it must pass through argparse (which turns
    ValueErrors into "invalid value" messages naming the flag) up to ``main``."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line ``twin: error: ...`` (exit 2), not the usage block."""

    def error(self, message: str) -> NoReturn:
        """Print one line naming the problem and where to look, then exit 2; a character that is not
        printable escaped (round 49, HOSTILE49: a folder name not UTF-8 was quoted with its escape
        sequences as they were: `--out $'\\e[2J\\xff'` cleared the terminal)."""
        from flows.archive.short_paths import short_words
        from flows.archive.shown_text import printable

        self.exit(2, f"twin: error: {printable(short_words(message))} (see `{self.prog} --help`)\n")


class _EnvText(str):
    """A flag's default taken from ``TWIN_<NAME>``; remembers the variable for error messages."""

    env: str

    def __new__(cls, text: str, env: str) -> _EnvText:
        obj = super().__new__(cls, text)
        obj.env = env
        return obj


def env_default(name: str, default: Any) -> Any:
    """``TWIN_<name>`` as raw text (argparse types it lazily) or ``default`` when unset."""
    register_env_name(name)
    text = os.environ.get(f"TWIN_{name}")
    return default if text is None else _EnvText(text, f"TWIN_{name}")


Parse = Callable[[str], Any]


def _env_aware(fn: Parse) -> Parse:
    """A type function whose error names ``TWIN_X=value`` when the text came from the environment."""

    @functools.wraps(fn)
    def parse(text: str) -> Any:
        try:
            return fn(text)
        except (argparse.ArgumentTypeError, ValueError) as exc:
            if isinstance(text, _EnvText):
                msg = f"{text.env}={text}: {exc}"
                raise UsageError(msg) from None
            raise

    return parse


def _number(text: str, kind: Callable[[str], Any], what: str) -> Any:
    try:
        value = kind(text.strip())
    except ValueError:
        msg = f"expected {what}, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if isinstance(value, float) and not math.isfinite(value):
        msg = f"expected a finite number, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _positive(text: str) -> float:
    """A finite number > 0 (the check of ``positive_float`` and ``sim_days``)."""
    value = float(_number(text, float, "a number"))
    if not value > 0:
        msg = f"must be > 0, got {value}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _at_least(value: Any, lo: float, hi: float | None = None) -> Any:
    if value < lo:
        msg = f"must be at least {lo}, got {value}"
        raise argparse.ArgumentTypeError(msg)
    if hi is not None and value > hi:
        msg = f"must be at most {hi}, got {value}"
        raise argparse.ArgumentTypeError(msg)
    return value


@_env_aware
def whole_number(text: str) -> int:
    """Any integer."""
    return int(_number(text, int, "a whole number"))


@_env_aware
def positive_int(text: str) -> int:
    """An integer >= 1."""
    return int(_at_least(_number(text, int, "a whole number"), 1))


@_env_aware
def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    return int(_at_least(_number(text, int, "a whole number"), 0))


@_env_aware
def memory_mib(text: str) -> int:
    """A query's memory limit in MiB, at least 64 (``flows.archive.query.MIN_MEMORY_MIB``)."""
    return int(_at_least(_number(text, int, "a whole number"), 64))


MAX_ASSETS = 10_000
"""Simulated fleet size at most (demo, simulate): a fleet is built in memory before it runs."""
MAX_DAYS = 3650.0
"""Simulated days at most (demo, simulate): ten years of life; a life's arrays are allocated whole
(``--days 1e9`` asked for 3.5 TiB)."""
MAX_WORKERS = 256
"""Worker threads per process at most: each holds its own state and buffers (``--workers 100000``
was killed for lack of memory before it started)."""


@_env_aware
def fleet_size(text: str) -> int:
    """A simulated fleet size, 1 .. MAX_ASSETS."""
    return int(_at_least(_number(text, int, "a whole number"), 1, MAX_ASSETS))


@_env_aware
def sim_days(text: str) -> float:
    """Simulated days, > 0 and at most MAX_DAYS."""
    return float(_at_least(_positive(text), 0, MAX_DAYS))


@_env_aware
def worker_count(text: str) -> int:
    """Worker threads of one process, 1 .. MAX_WORKERS."""
    return int(_at_least(_number(text, int, "a whole number"), 1, MAX_WORKERS))


@_env_aware
def seed(text: str) -> int:
    """A random seed: 0 .. 2**32 - 1 (numpy refuses negative seeds)."""
    return int(_at_least(_number(text, int, "a whole number"), 0, 2**32 - 1))


@_env_aware
def port(text: str) -> int:
    """A TCP port, 1 .. 65535."""
    return int(_at_least(_number(text, int, "a port number"), 1, 65535))


@_env_aware
def positive_float(text: str) -> float:
    """A finite number > 0."""
    return _positive(text)


MIN_FRAME_INTERVAL_S = 1.0
"""Simulated seconds between vibration frames at least: a frame is 0.16 s of waveform (4096
samples at 25.6 kHz) and condition monitoring takes at most one a second; below that the simulator
floods the topic (``--frame-interval 0.000001``: a million frames per asset per second)."""
MIN_SCALAR_INTERVAL_S = 0.1
"""Simulated seconds between scalar readings at least: 10 Hz, the fastest scalar telemetry the
engine is built for (temperature, current, speed and load at 1-10 Hz)."""
MIN_SNAPSHOT_INTERVAL_S = 1.0
"""Seconds between recovery snapshots at least: each snapshot pauses the flow and writes the
store, so below a second the flow would mostly snapshot."""
MAX_RECOVERY_INTERVAL_S = 366 * 86400.0
"""``--snapshot-interval`` and ``--backup-interval`` at most: a year (round 49: ``1e300`` passed the
flag and stopped ``twin run`` after it connected: ``twin: internal error: OverflowError``, exit 1,
from the engine's ``timedelta``)."""


def seconds_at_least(lo: float, hi: float | None = None) -> Parse:
    """A type accepting a finite number of seconds >= ``lo`` (a flag whose tiny values flood or hang),
    and at most ``hi`` when given."""

    @_env_aware
    def seconds(text: str) -> float:
        return float(_at_least(_positive(text), lo, hi))

    seconds.__name__ = "seconds"
    return seconds


@_env_aware
def backup_seconds(text: str) -> float:
    """``--backup-interval``: seconds, 0 .. :data:`MAX_RECOVERY_INTERVAL_S`."""
    return float(_at_least(_number(text, float, "a number"), 0, MAX_RECOVERY_INTERVAL_S))


@_env_aware
def non_negative_float(text: str) -> float:
    """A finite number >= 0."""
    return float(_at_least(float(_number(text, float, "a number")), 0))


@_env_aware
def share(text: str) -> float:
    """A share between 0 and 1 (``--max-dead-letters``)."""
    return float(_at_least(float(_number(text, float, "a share between 0 and 1")), 0, 1))


@_env_aware
def one_char(text: str) -> str:
    """A CSV separator: exactly one character (``\\t`` for a tab)."""
    value = "\t" if text == "\\t" else text
    if len(value) != 1:
        msg = f"must be one character (e.g. ',' ';' '\\t'), got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _not_utf8(text: str) -> str | None:
    """``text`` shown with its bytes that are not UTF-8 as ``\\xff`` when it holds any (a shell's
    argument), else None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(text).decode("utf-8", "backslashreplace")
    return None


def utf8_text(text: str) -> str:
    """An argument that is text for DuckDB, Arrow or JSON (``twin sql``'s query, an asset or alert
    id): UTF-8. Round 49 (HOSTILE49): a byte that is not made `twin sql` an internal error (exit 1),
    `twin whatif ASSET` name an archive file as unreadable and `twin explain ID` the archive as bad."""
    if (shown := _not_utf8(text)) is not None:
        short = shown if len(shown) <= 60 else shown[:60] + "..."
        msg = f"{short} is not UTF-8 text"
        raise argparse.ArgumentTypeError(msg)
    return text


def folder_name(text: str) -> str:
    """An output folder's name (``--out``, ``twin run --archive``): UTF-8 text, as the archive's
    Parquet files need (round 25: `twin demo` refused it as "config archive_dir", not naming the
    flag), without a line break (round 36, HOSTILE36: the archive_dir setting refuses one, and `twin
    demo`/`twin run` said "config archive_dir: ... is not a valid name (pattern .+)"; `twin backtest`
    wrote into it, every line naming its outputs then broken)."""
    if (shown := _not_utf8(text)) is not None:
        msg = f"{shown} is not UTF-8 text (no Parquet file can be written under it): name another folder"
        raise argparse.ArgumentTypeError(msg)
    if "\n" in text:
        msg = f"{text!r} holds a line break (the archive_dir setting refuses one): name another folder"
        raise argparse.ArgumentTypeError(msg)
    return text


def one_of(*choices: str) -> Parse:
    """A type accepting ``choices`` only, so an env fallback is checked like the flag."""

    @_env_aware
    def choice(text: str) -> str:
        if text not in choices:
            msg = f"expected {' or '.join(repr(c) for c in choices)}, got {text!r}"
            raise argparse.ArgumentTypeError(msg)
        return text

    choice.__name__ = "choice"
    return choice


IGNORE_COLUMNS_HELP = ("comma-separated non-numeric columns to skip (not the time column: a file's "
                       "timestamp column cannot be ignored, listing it is refused)")


ARCHIVE_HELP = ("archive folder; overrides the archive_dir setting (env TWIN_ARCHIVE_DIR, or archive_dir in "
                f"--config; default {DEFAULT_ARCHIVE})")


def refuse_empty(flag: str, path: str | os.PathLike[str]) -> None:
    """A UsageError naming ``flag`` for an empty (or blank) folder path: ``Path("")`` is the working
    folder, and ``--out "$OUT"`` with OUT unset is no choice of it."""
    if not str(path).strip():
        msg = f"{flag} {str(path)!r}: an empty path (name a folder; '.' for the working folder)"
        raise UsageError(msg)


def archive_dir(config: str | None, flag: str | None) -> str:
    """The archive folder by the one settings route (:func:`flows.config.pipeline.load_config`):
    default < archive_dir in the TOML file < TWIN_ARCHIVE_DIR < the flag (None: not given).

    A given flag wins whatever the lower layers say, so it is taken as it is; a ``--config`` given
    with it is still checked whole (:func:`flows.cli.config_file.check_file`: round 41, CONFIG41b),
    so a typo in it is refused here as by every other command. Without ``--config`` the settings
    are not loaded: the load imports the models, which ``twin sql --archive X`` need not wait for."""
    from flows.cli.config_file import check_file, load_settings

    if flag is not None:
        refuse_empty("--archive", flag)  # round 42: "" read the working folder as the archive
        check_file(config)
        return flag

    archive: str = load_settings(config).archive_dir
    return archive


def add_fleet_args(p: argparse.ArgumentParser, days: float, days_help: str) -> None:
    """``--assets``, ``--days``, ``--seed`` and their TWIN_* fallbacks (``twin demo``, ``twin simulate``)."""
    p.add_argument("--assets", type=fleet_size, default=env_default("ASSETS", 8),
                   help="fleet size (env TWIN_ASSETS; default %(default)s)")
    p.add_argument("--days", type=sim_days, default=env_default("DAYS", days),
                   help=days_help + " (env TWIN_DAYS; default %(default)s)")
    p.add_argument("--seed", type=seed, default=env_default("SEED", 7),
                   help="random seed of the simulator (env TWIN_SEED; default %(default)s)")


def add_metrics_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--metrics-port", type=port, default=env_default("METRICS_PORT", None),
                   help="serve Prometheus metrics on this port; process i of a cluster uses port + i "
                        "(env TWIN_METRICS_PORT; default: not served)")
    p.add_argument("--metrics-address", default=env_default("METRICS_ADDRESS", "127.0.0.1"),
                   help="address to bind the metrics endpoint (env TWIN_METRICS_ADDRESS; "
                        "default %(default)s)")


def load_metadata(path: str | None) -> Any:
    if not path:
        return {}
    from flows.dataflow.sources.files import read_metadata

    return read_metadata(path)


def serve_metrics(metrics: Any, port: int | None, address: str, offset: int = 0) -> None:
    """Expose the process's metrics over HTTP for Prometheus (nothing if ``port`` is None)."""
    if port is None:
        return
    from prometheus_client import start_http_server

    where = int(port) + offset
    if not 1 <= where <= 65535:
        msg = f"--metrics-port {port}: process port {where} is not a TCP port (1-65535)"
        raise UsageError(msg)
    try:
        start_http_server(where, addr=address, registry=metrics.registry)
    except (OSError, OverflowError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        msg = f"--metrics-port {port}: cannot serve metrics on {address}:{where}: {reason}"
        raise UsageError(msg) from None


def debug_enabled() -> bool:
    """TWIN_DEBUG=1: unexpected errors print their traceback."""
    return os.environ.get("TWIN_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


def print_error(text: str, prefix: str = "twin: error: ") -> None:
    """One line on stderr: newlines folded, known secret values masked, other characters that
    are not printable (an escape in a file name or a value the message quotes) escaped."""
    from flows.app.out_held import as_given
    from flows.archive.files import printable
    from flows.archive.short_paths import short_words
    from flows.config.values import mask_secrets

    line = printable(short_words(mask_secrets(as_given(text))))  # a path of 4,000 characters: its ends
    print(f"{prefix}{line}", file=sys.stderr)
