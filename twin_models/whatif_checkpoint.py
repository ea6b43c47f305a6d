"""An asset twin's what-if basis as a :class:`~twin_models.records.DamageCheckpoint` and back (pure).

The archive keeps the latest damage state of each degrading asset as plain numbers (table
``damage_state``), so ``twin whatif --archive`` runs without a live pipeline and without ever
unpickling a file. :func:`checkpoint_of` takes the numbers from a twin; :func:`basis_from_checkpoint`
rebuilds the :class:`~twin_models.whatif.WhatIfBasis`, refusing a bad value with ``ValueError``
naming it (files are untrusted input).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from twin_models.records import DamageCheckpoint
from twin_models.rul.damage_arrays import state_from_numbers, state_numbers
from twin_models.rul.relation import MAX_FEATURES, IndicatorRelation
from twin_models.whatif import WhatIfBasis

if TYPE_CHECKING:
    from twin_models.twin import AssetTwin

__all__ = ["basis_from_checkpoint", "checkpoint_of"]

_SUMS = ("n", "sy", "syy", "sf", "syf")


def checkpoint_of(twin: AssetTwin) -> DamageCheckpoint | None:
    """The twin's damage state and what-if inputs now (None without a damage state)."""
    state, health = twin.damage_state, twin.health
    if state is None or health is None or state.t_s is None:
        return None
    scalars, prior, arrays = state_numbers(state)
    sums = twin.indicator_relation.sums if twin.indicator_relation else {}
    relation = {f"{name}|{k}": v for name, s in sums.items() for k, v in zip(_SUMS, s, strict=True)}
    return DamageCheckpoint(
        twin.metadata.asset_id, datetime.fromtimestamp(state.t_s, UTC), twin.life_id, twin.damage_defect,
        health.feature, health.baseline.get(), health.threshold, scalars, prior, relation, **arrays)


def _relation(flat: dict[str, float]) -> IndicatorRelation:
    rel = IndicatorRelation()
    for key, value in flat.items():
        name, _, part = key.rpartition("|")
        if part not in _SUMS or not name or not math.isfinite(value):
            msg = f"damage checkpoint relation entry {key!r}={value!r} is not <feature>|n/sy/syy/sf/syf"
            raise ValueError(msg)
        if name not in rel.sums and len(rel.sums) >= MAX_FEATURES:
            continue
        rel.sums.setdefault(name, [0.0] * len(_SUMS))[_SUMS.index(part)] = float(value)
    return rel


def basis_from_checkpoint(cp: DamageCheckpoint) -> WhatIfBasis:
    """The what-if basis of a checkpoint (``ValueError`` naming what is wrong)."""
    for name in ("health_baseline", "health_threshold"):
        if not math.isfinite(getattr(cp, name)):
            msg = f"damage checkpoint of {cp.asset_id!r}: {name} must be finite"
            raise ValueError(msg)
    arrays = {k: getattr(cp, k) for k in ("d", "log_k", "q", "gamma", "linear", "fail_level", "logw")}
    try:
        state = state_from_numbers(cp.scalars, cp.prior, arrays)
    except ValueError as exc:
        msg = f"damage checkpoint of {cp.asset_id!r}: {exc}"
        raise ValueError(msg) from None
    return WhatIfBasis(cp.asset_id, cp.life_id, state, cp.defect, cp.health_feature, cp.health_baseline,
                       cp.health_threshold, _relation(cp.relation))
