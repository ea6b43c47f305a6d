"""RUL scores of one FEMTO bearing along its whole life, from the snapshots of one backtest.

The pipeline is prequential: the RUL of the window ending at ``t`` uses nothing after ``t``, so
the estimate a run truncated at a fraction ``F`` of the life emits at its last window is the
estimate the full run emitted at the same window. ``life_scores`` therefore reads, from ONE full
run, the PHM 2012 accuracy at the challenge's truncation points (``AT``) and the mean accuracy and
interval coverage over every window of the life (``--truncate-at F`` re-runs the replay cut at F
to check it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np

from twin_models.evaluate.scoring import phm2012_accuracy

AT = (0.3, 0.5, 0.7, 0.9)
"""Life fractions at which the accuracy is reported (the challenge cut its bearings at 0.6-0.97)."""


def life_scores(snaps: list[Any], start: datetime, failure: datetime) -> dict[str, Any]:
    """PHM 2012 A at each fraction of ``AT`` and along the life, interval coverage along it.

    ``snaps`` are the bearing's snapshots in time order; a window without an estimate counts as
    ``PredRUL = 0`` (as the challenge scored a missing one)."""
    life_s = (failure - start).total_seconds()
    rows = [(s.timestamp, (failure - s.timestamp).total_seconds(), s) for s in snaps
            if s.timestamp < failure]
    if not rows:
        return {"A_life": None, "coverage_life": None, **{f"A_{f:g}": None for f in AT}}
    act = np.array([r[1] for r in rows])
    pred = np.array([r[2].rul_s if r[2].rul_s is not None else 0.0 for r in rows])
    lo = np.array([r[2].rul_lower_s if r[2].rul_lower_s is not None else np.nan for r in rows])
    hi = np.array([r[2].rul_upper_s if r[2].rul_upper_s is not None else np.nan for r in rows])
    acc = phm2012_accuracy(act, pred)
    out: dict[str, Any] = {"A_life": round(float(acc.mean()), 4),
                           "coverage_life": round(float(np.mean((lo <= act) & (act <= hi))), 3)}
    ages = np.array([(r[0] - start).total_seconds() for r in rows])
    for f in AT:
        i = int(np.searchsorted(ages, f * life_s, side="right")) - 1
        out[f"A_{f:g}"] = round(float(acc[i]), 4) if i >= 0 else None
    return out


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over the evaluated bearings of the along-life columns (None if any is missing)."""
    out: dict[str, Any] = {}
    for key in ("A_life", "coverage_life", *(f"A_{f:g}" for f in AT)):
        vals = [r.get(key) for r in rows]
        out[key] = round(float(np.mean(vals)), 4) if vals and all(v is not None for v in vals) else None
    return out
