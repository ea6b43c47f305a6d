"""Human-readable renderings shared by alert explanations, reports and the CLI."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Literal, TypeVar

__all__ = ["and_more", "counted", "first_few", "format_duration"]

DAY_S = 86400.0
HOUR_S = 3600.0

T = TypeVar("T")


def format_duration(seconds: float | None, *, unit: Literal["auto", "h"] = "auto",
                    missing: str = "n/a", suffix: bool = True) -> str:
    """``seconds`` as ``"3.2 d"`` (a day or more) or ``"5.0 h"``; ``unit="h"`` always in hours.

    ``missing`` stands for an absent or non-finite duration; ``suffix=False`` leaves the unit
    out (table cells under an "h" header).
    """
    if seconds is None or not math.isfinite(seconds):
        return missing
    days = unit == "auto" and seconds >= DAY_S
    value, name = (seconds / DAY_S, "d") if days else (seconds / HOUR_S, "h")
    return f"{value:.1f} {name}" if suffix else f"{value:.1f}"


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``"1 file"``, ``"3 files"``: ``n`` and ``noun``, plural (an ``s``, or ``plural`` for a noun that
    takes another: ``counted(2, "entry", "entries")``) unless ``n`` is 1."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def and_more(total: int, shown: int, noun: str = "") -> str:
    """``" and N more"`` for the ``N = total - shown`` items a line leaves unnamed (``noun``, plural
    unless N is 1, after it: ``" and 2 more frames"``), or ``""`` when it names them all."""
    left = total - shown
    if left <= 0:
        return ""
    return f" and {counted(left, f'more {noun}')}" if noun else f" and {left} more"


def first_few(items: Sequence[T], limit: int, *, sep: str = ", ",
              show: Callable[[T], str] = str) -> str:
    """The first ``limit`` of ``items``, each ``show``-n, joined by ``sep``, then ``" and N more"``
    for the rest: ``"a, b, c and 2 more"``; ``""`` for none. Only the shown items are rendered (a
    line may name 3 of 100,000 run ids). ``limit`` is at least 1."""
    if limit < 1:
        msg = f"first_few: limit must be >= 1, got {limit}"
        raise ValueError(msg)
    return sep.join(show(item) for item in items[:limit]) + and_more(len(items), limit)
