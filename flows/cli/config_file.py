"""A ``--config`` file, read and parsed once per command (round 31, LOOSE31).

:func:`flows.cli.input_files.check_input_files` parses a config file before any command runs (a
file that is not UTF-8 TOML is one line naming ``--config``); the command then loaded its settings
(:func:`flows.config.pipeline.load_config`), which read and parsed the same file again, and once
more per load (``twin run`` loads them once, ``twin sql`` once for its archive folder). Both now
take :func:`document`: the file's TOML parsed the first time it is asked for, kept while the file
is the same (device, inode, size, modification time), so an edited file is read afresh.
"""

from __future__ import annotations

import copy
import errno
import os
import stat
import tomllib
from pathlib import Path
from typing import Any

__all__ = ["MAX_BYTES", "TooLarge", "check_file", "document", "load_settings"]

MAX_BYTES = 16 * 1024 * 1024
"""The largest config file read (twinflow's own are ~2 KB): a 3 GB one was read whole, 29 s and
6.3 GB of memory, before its first line was found not to be TOML."""

_KEPT: dict[tuple[str, int, int, int, int], dict[str, Any]] = {}


class TooLarge(ValueError):
    """A config file above :data:`MAX_BYTES`."""


def document(path: str | Path) -> dict[str, Any]:
    """The TOML document of the file ``path`` (a BOM dropped), parsed once while the file is
    unchanged; a copy, so a caller's change never reaches the next. Raises what reading and
    parsing raise (``OSError``, also for what is not a regular file, ``UnicodeDecodeError``,
    ``tomllib.TOMLDecodeError``, ``RecursionError``), :class:`TooLarge`; nothing is kept then.
    The file is opened without waiting (a FIFO put in its place after a check never blocks the
    command) and what was opened is what is checked and read."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # a FIFO would block the read: left to the caller's check
            raise OSError(errno.EINVAL, "not a regular file")
        key = (os.fspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        if key not in _KEPT:
            data = f.read(MAX_BYTES + 1)
            if len(data) > MAX_BYTES:
                msg = f"too large (over {MAX_BYTES // 2**20} MiB; a config file is a few KB of TOML)"
                raise TooLarge(msg)
            _KEPT[key] = tomllib.loads(data.decode("utf-8-sig"))
    return copy.deepcopy(_KEPT[key])


def load_settings(path: str | None, **kwargs: Any) -> Any:
    """:func:`flows.config.pipeline.load_config` of ``path`` from its :func:`document` (None or
    empty: none given). A file that cannot be read or parsed is left to ``load_config``, whose
    error names it in its words."""
    from flows.config.pipeline import load_config

    parsed = None
    if path:
        try:
            parsed = document(path)
        except TooLarge as exc:  # load_config would read it whole
            from flows.config.values import ConfigError

            msg = f"config file {path} is {exc}"
            raise ConfigError(msg) from None
        except (OSError, ValueError, RecursionError):
            parsed = None
    # empty (``--config ''``, ``TWIN_CONFIG=``): none given, as the file check takes it (round 49:
    # it was read as the file "." here, "config file . is not a regular file", but by `twin sql`)
    return load_config(path or None, parsed=parsed, **kwargs)


def check_file(path: str | None) -> None:
    """Check the settings of the config file ``path`` (None or empty: none given) as every load
    does (unknown keys and tables, each value's type and range, the tables' own checks), for a
    command whose flags override all it reads from the file (``twin sql --archive A``, round 41,
    CONFIG41b: a ``windows_s`` typo passed there, and ``twin demo`` refused it). Raises the load's
    ``ConfigError``, one line naming the key. The ``TWIN_*`` variables are not looked at: without
    ``--config`` such a command checks none either. The load imports the models (the settings'
    tables are their config classes): ~0.1-0.25 CPU s more on such a command's start-up, measured
    in benchmarks/RESULTS.md, round 41 (CONFIG41b).

    The file is checked on the default settings because these commands run with them (they read
    ``archive_dir`` only). ``twin demo`` loads on its own defaults (``DEMO_DEFAULTS``) and ``twin
    backtest`` with ``BACKTEST_SETTINGS`` as flags; no file is judged differently on those
    (round 42, TIDY42: tests/flows/test_config_bases.py tries every setting at its bounds)."""
    if path:
        load_settings(path, env={})
