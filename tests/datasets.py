"""Locating the shared development datasets (``../shared/datasets`` or ``$TWIN_DATASETS``)."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ENV_VAR = "TWIN_DATASETS"


def datasets_dir() -> Path | None:
    """The datasets directory: ``$TWIN_DATASETS`` if set, else ``<project>/../shared/datasets``.

    Returns None when that directory does not exist (tests then skip with a clear reason).
    """
    override = os.environ.get(ENV_VAR)
    path = Path(override).expanduser() if override else PROJECT_ROOT.parent / "shared" / "datasets"
    return path if path.is_dir() else None
