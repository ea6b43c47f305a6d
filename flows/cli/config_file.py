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

__all__ = ["document", "load_settings"]

_KEPT: dict[tuple[str, int, int, int, int], dict[str, Any]] = {}


def document(path: str | Path) -> dict[str, Any]:
    """The TOML document of the file ``path`` (a BOM dropped), parsed once while the file is
    unchanged; a copy, so a caller's change never reaches the next. Raises what reading and
    parsing raise (``OSError``, also for what is not a regular file, ``UnicodeDecodeError``,
    ``tomllib.TOMLDecodeError``, ``RecursionError``); nothing is kept then."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):  # a FIFO would block the read: left to the caller's check
        raise OSError(errno.EINVAL, "not a regular file")
    key = (os.fspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    if key not in _KEPT:
        with open(path, "rb") as f:
            data = f.read()
        _KEPT[key] = tomllib.loads(data.decode("utf-8-sig"))
    return copy.deepcopy(_KEPT[key])


def load_settings(path: str | None, **kwargs: Any) -> Any:
    """:func:`flows.config.pipeline.load_config` of ``path`` from its :func:`document`. A file that
    cannot be read or parsed is left to ``load_config``, whose error names it in its words."""
    from flows.config.pipeline import load_config

    parsed = None
    if path:
        try:
            parsed = document(path)
        except (OSError, ValueError, RecursionError):
            parsed = None
    return load_config(path, parsed=parsed, **kwargs)
