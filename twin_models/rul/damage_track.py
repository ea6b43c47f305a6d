"""How an asset twin feeds and reads its :class:`~twin_models.rul.damage.DamageState`.

The state starts at the first evidence of damage (the first window with a diagnosed defect) and
only for assets with a failure threshold (the indicator is the health-index excess): before that
the twin does no damage work at all. Its seed comes from the asset id and the life, so a replay
gives the same particles. Its RUL is *separate* from the trend/fleet ``rul_s``: the snapshot and
alert carry it as ``damage_rul_*`` (median and 10/90 % quantiles under the recent usage rate), so
alerts' severity and the fused estimate are unchanged; it is the estimate available from
detection on, where the others still have too little history.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

from twin_models.rul.damage import DamagePrior, DamageState
from twin_models.rul.health import HealthIndex
from twin_models.rul.profile import MAX_LOAD

__all__ = ["DAMAGE_HORIZON_S", "LOAD_KEY", "MAX_LOAD_FRACTION", "DamageEstimate", "estimate",
           "reference_load", "start_state", "window_inputs"]

DAMAGE_HORIZON_S = 5 * 365 * 86400.0
"""Failures later than this (five years) count as "not within the horizon" (None)."""
LOAD_KEY, SPEED_KEYS = "load.mean", ("speed.mean", "vib.shaft_hz")
MAX_LOAD_FRACTION = 1.5
"""The highest load a load channel reading as a fraction of rated shows (a higher one is in other
units: %, kW); also the highest load a what-if plan may ask for (:mod:`twin_models.whatif`)."""


@dataclass(frozen=True, slots=True)
class DamageEstimate:
    """Median damage now and the RUL median with its 10/90 % quantiles (seconds; None = beyond
    the horizon)."""

    damage: float
    rul_s: float | None
    lower_s: float | None
    upper_s: float | None


def window_inputs(features: Mapping[str, float], health: HealthIndex,
                  noise: float) -> tuple[float, float, float, float]:
    """(indicator, its healthy noise, load, speed) of a window in the state's units: the
    indicator excess as a share of the span to the threshold (NaN when unknown)."""
    excess = health.excess(features)
    span = health.span
    ind = math.nan if excess is None else excess / span
    load = features.get(LOAD_KEY, math.nan)
    speed = next((v for k in SPEED_KEYS if math.isfinite(v := features.get(k, math.nan))), math.nan)
    return ind, noise / span, load, speed


def reference_load(load: float) -> float:
    """The load the damage law is relative to: 1.0 when the load channel reads as a fraction of
    rated (up to 1.5), else the load at the first evidence of damage (a channel in %, kW ...),
    so an unknown unit never makes the cube of the load meaningless. A load above what a plan at
    :data:`MAX_LOAD_FRACTION` of it may hold (``MAX_LOAD``) is a sensor's absurd value, as the damage
    law takes it (missing): it made every later window's rate ~0 and a what-if plan not a plan."""
    plausible = math.isfinite(load) and MAX_LOAD_FRACTION < load <= MAX_LOAD / MAX_LOAD_FRACTION
    return load if plausible else 1.0


def start_state(asset_id: str, life_id: int, reference_speed_hz: float, noise: float,
                prior: DamagePrior | None = None, *, load: float = math.nan) -> DamageState:
    """A fresh state at the first evidence of damage (seeded by asset and life)."""
    seed = zlib.crc32(f"{asset_id}|{life_id}".encode())
    return DamageState(reference_speed_hz=reference_speed_hz, noise=noise, prior=prior, seed=seed,
                       reference_load=reference_load(load))


def estimate(state: DamageState) -> DamageEstimate:
    """Damage and RUL under the recent usage rate (pure)."""
    fc = state.forecast(state.as_now(), horizon_s=DAMAGE_HORIZON_S, n_points=2)
    return DamageEstimate(state.damage_quantiles()[1], fc.rul_median_s, fc.rul_p10_s, fc.rul_p90_s)
