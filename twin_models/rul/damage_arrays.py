"""A :class:`~twin_models.rul.damage.DamageState` as plain numbers and back (pure).

What-if runs from the archive need the state of the last checkpoint; the archive holds numbers,
never pickles (files are untrusted input). :func:`state_numbers` gives the scalars, the prior
and one array per particle column; :func:`state_from_numbers` rebuilds a state whose forecasts
are those of the original (the random generator restarts from the seed 0 and pending lead
predictions are dropped: neither enters a forecast). Every value is checked: a bad one raises
``ValueError`` naming it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np

from twin_models.rul.damage import DamagePrior, DamageState

__all__ = ["ARRAYS", "OPTIONAL", "PRIOR_KEYS", "SCALARS", "state_from_numbers", "state_numbers"]

SCALARS = ("reference_speed_hz", "reference_load", "noise", "smoothing", "lead_s", "n_obs",
           "resid_sq", "lead_resid_sq", "load_var", "load_cov", "t_s", "rate", "load_mean")
OPTIONAL = ("t_s", "rate", "load_mean")
"""Scalars that may be absent (None in the state: not set yet)."""
ARRAYS = ("d", "log_k", "q", "gamma", "linear", "fail_level", "logw")
PRIOR_KEYS = ("life_s_lo", "life_s_hi", "q_lo", "q_hi", "damage_lo", "damage_hi", "gamma_lo",
              "gamma_hi", "linear_lo", "linear_hi", "fail_level_lo", "fail_level_hi", "d0")
_RANGES = ("life_s", "q", "damage", "gamma", "linear", "fail_level")
MAX_PARTICLES = 100_000


def state_numbers(state: DamageState) -> tuple[dict[str, float], dict[str, float],
                                                dict[str, tuple[float, ...]]]:
    """(scalars, prior, arrays) of ``state``; an unset optional scalar is left out."""
    scalars: dict[str, float] = {}
    for name in SCALARS:
        value = getattr(state, name)
        if value is not None:
            scalars[name] = float(value)
    p = state.prior
    prior = {f"{r}_{end}": float(getattr(p, r)[i]) for r in _RANGES for i, end in enumerate(("lo", "hi"))}
    prior["d0"] = float(p.d0)
    columns = {"d": state.d, "logw": state.logw,
               **{name: state.theta[:, j] for j, name in enumerate(DamageState.PARAMS)}}
    arrays = {name: tuple(float(v) for v in columns[name]) for name in ARRAYS}
    return scalars, prior, arrays


def _finite(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        msg = f"damage state {name} must be a finite number, got {value!r}"
        raise ValueError(msg)
    return float(value)


def state_from_numbers(scalars: Mapping[str, float], prior: Mapping[str, float],
                       arrays: Mapping[str, Sequence[float]]) -> DamageState:
    """The damage state of :func:`state_numbers`' output; ``ValueError`` naming a bad value."""
    missing = [k for k in (*SCALARS, *PRIOR_KEYS, *ARRAYS) if k not in OPTIONAL
               and k not in scalars and k not in prior and k not in arrays]
    if missing:
        msg = f"damage state lacks {', '.join(missing)}"
        raise ValueError(msg)
    s = {k: _finite(k, v) for k, v in scalars.items() if k in SCALARS}
    pr = {k: _finite(f"prior {k}", prior[k]) for k in PRIOR_KEYS}
    ranges = {r: (pr[f"{r}_lo"], pr[f"{r}_hi"]) for r in _RANGES}
    bad = [r for r, (lo, hi) in ranges.items() if not lo <= hi]
    if bad:
        msg = f"damage state prior {bad[0]} range is empty: {ranges[bad[0]]}"
        raise ValueError(msg)
    cols = {k: np.asarray([_finite(k, v) for v in arrays[k]], dtype=np.float64) for k in ARRAYS}
    n = len(cols["d"])
    if not 10 <= n <= MAX_PARTICLES or any(len(c) != n for c in cols.values()):
        msg = f"damage state needs 10..{MAX_PARTICLES} particles, the same number in every array"
        raise ValueError(msg)
    state = DamageState(reference_speed_hz=s["reference_speed_hz"], noise=s["noise"],
                        prior=DamagePrior(**cast("dict[str, Any]", ranges), d0=pr["d0"]), n_particles=n,
                        smoothing=s["smoothing"], lead_s=s["lead_s"],
                        reference_load=s["reference_load"])
    state.d = np.clip(cols["d"], 0.0, 1.0)
    state.logw = cols["logw"] - cols["logw"].max()
    state.theta = np.column_stack([cols[k] for k in DamageState.PARAMS])
    state.n_obs = int(s["n_obs"])
    for name in ("resid_sq", "lead_resid_sq", "load_var", "load_cov"):
        setattr(state, name, s[name])
    state.t_s, state.rate, state.load_mean = (s.get(k) for k in OPTIONAL)
    return state
