"""Score the damage state's RUL interval against ground truth (demo and benchmarks).

For every detected fault that failed: the damage RUL (median, 10/90 %) of the snapshot at
detection against the true RUL then, and the share of the life's later windows (detection to
failure) whose 80 % interval held the true RUL. A quantile beyond the state's horizon (None)
counts as infinite.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from twin_models.evaluate.detection import FaultOutcome
from twin_models.records import TwinSnapshot

__all__ = ["DamageRulOutcome", "damage_rul_outcomes", "interval_covers", "prior_lives"]


@dataclass(frozen=True)
class DamageRulOutcome:
    """The damage RUL of one detected, failed fault."""

    asset_id: str
    life_id: int
    true_rul_s: float
    rul_s: float | None
    lower_s: float | None
    upper_s: float | None
    covered: bool
    later_windows: int
    later_covered: int


def _inf(v: float | None) -> float:
    return math.inf if v is None else v


def interval_covers(snap: TwinSnapshot, true_rul_s: float) -> bool:
    """Does the snapshot's 80 % damage RUL interval hold ``true_rul_s``?"""
    if snap.damage is None:
        return False
    return _inf(snap.damage_rul_lower_s) <= true_rul_s <= _inf(snap.damage_rul_upper_s)


def damage_rul_outcomes(faults: Iterable[FaultOutcome],
                        snapshots: Sequence[TwinSnapshot]) -> list[DamageRulOutcome]:
    """One outcome per fault detected before its failure (see the module docstring)."""
    out: list[DamageRulOutcome] = []
    for f in faults:
        if f.detected_at is None or f.failure_at is None:
            continue
        fail_s = f.failure_at.timestamp()
        later = [s for s in snapshots if s.asset_id == f.asset_id and s.life_id == f.life_id
                 and f.detected_at <= s.timestamp < f.failure_at]
        at = next((s for s in later if s.timestamp == f.detected_at), None)
        true_rul = fail_s - f.detected_at.timestamp()
        hits = sum(interval_covers(s, fail_s - s.timestamp.timestamp()) for s in later)
        out.append(DamageRulOutcome(
            f.asset_id, f.life_id, true_rul,
            at.damage_rul_s if at else None, at.damage_rul_lower_s if at else None,
            at.damage_rul_upper_s if at else None,
            covered=at is not None and interval_covers(at, true_rul),
            later_windows=len(later), later_covered=hits))
    return out


def prior_lives(faults: Sequence[FaultOutcome], snapshots: Sequence[TwinSnapshot],
                model_delay_s: float) -> dict[tuple[str, int], int]:
    """For each fault life that had a damage state: how many completed lives its fleet prior
    held when the state started, i.e. other lives that failed with a damage state at least
    ``model_delay_s`` before that state's first window (one asset kind assumed, as the demo's)."""
    starts: dict[tuple[str, int], float] = {}
    for s in snapshots:
        if s.damage is not None:
            key, t = (s.asset_id, s.life_id), s.timestamp.timestamp()
            starts[key] = min(t, starts.get(key, math.inf))
    failed = [(f.asset_id, f.life_id, f.failure_at.timestamp()) for f in faults
              if f.failure_at is not None and (f.asset_id, f.life_id) in starts]
    return {key: sum(1 for a, life, fail in failed if (a, life) != key and fail + model_delay_s <= t)
            for f in faults if (key := (f.asset_id, f.life_id)) in starts for t in (starts[key],)}
