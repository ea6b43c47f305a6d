"""What the twin reads of a window's features and deviations, kept apart from the twin itself.

The model features and the operating context are the window's names split by channel (kept per
name sequence: a fleet has a few); the explanation is the ``n`` largest deviations; and a baseline
detector's raw statistic is the twin's own when both combine the same deviations, so it is
computed once per window instead of three times (score, degradation, learning).
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

__all__ = ["context_names", "largest", "shared_raw", "split_names"]


def _is_context(name: str, context_channels: tuple[str, ...]) -> bool:
    return name.split(".", 1)[0] in context_channels or name.endswith(".shaft_hz")


def largest(devs: dict[str, float], n: int) -> list[tuple[str, float]]:
    """The ``n`` items of largest ``|z|``: ``sorted(devs.items(), key=|z|, reverse=True)[:n]``
    (ties in the dict's order), without sorting the whole window (~126 features on C-MAPSS)."""
    items = list(devs.items())
    size = [abs(z) for z in devs.values()]
    return [items[i] for i in heapq.nlargest(n, range(len(items)), key=size.__getitem__)]


@lru_cache(maxsize=256)
def split_names(names: tuple[str, ...],
                context_channels: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(model names, context names) of a window's feature names, in order; kept per name
    sequence and context setting (a fleet has a few): testing every name was per window."""
    context = tuple(k for k in names if _is_context(k, context_channels))
    chosen = set(context)
    return tuple(k for k in names if k not in chosen), context


@lru_cache(maxsize=256)
def context_names(names: tuple[str, ...], context_channels: tuple[str, ...]) -> frozenset[str]:
    """The context names of :func:`split_names` as a set (what the model features leave out)."""
    return frozenset(split_names(names, context_channels)[1])


def shared_raw(detector: Any, devs: Mapping[str, float], raw: float, top_k: int, top_n: int) -> float | None:
    """``raw`` (the RMS of the ``top_k`` largest ``|z|`` among the twin's ``top_n`` largest) as
    the detector's own raw statistic when that is the same number: the detector combines as many
    deviations (``top_k``) and the twin's top holds them (``top_n >= top_k``), so both sum the
    same values in the same order. None otherwise, or with a NaN deviation (their sum is NaN),
    which each selection would order in its own way: the detector then finds its own."""
    if getattr(detector, "top_k", None) != top_k or top_n < top_k:
        return None
    total = sum(devs.values())
    return raw if total == total else None
