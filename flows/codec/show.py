"""A short, safe rendering of an offending value, for one-line errors and dead-letter details."""

from __future__ import annotations

from typing import Any

__all__ = ["show_value"]


def show_value(value: Any, limit: int = 80) -> str:
    """``repr`` of ``value`` cut to ``limit`` characters; containers by type and length only.

    Error details go to terminals, logs and dead-letter topics: a value is shown, never dumped
    (a 10 MB string or a list of a million samples stays one short line).
    """
    if isinstance(value, list | dict | tuple):
        return f"{type(value).__name__} of length {len(value)}"
    text = repr(value[:64] if isinstance(value, str | bytes) else value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
