"""Human-readable renderings shared by alert explanations, reports and the CLI."""

from __future__ import annotations

import math
from typing import Literal

__all__ = ["format_duration"]

DAY_S = 86400.0
HOUR_S = 3600.0


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
