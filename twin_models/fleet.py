"""Fleet knowledge shared by the assets of one kind: completed lives teach the RUL model.

:class:`FleetTwin` receives every asset twin's snapshot (in the order of each asset's windows)
and its life events. It keeps each asset's current-life trajectory (bounded), fuses the asset's
own-trend RUL with the trajectory-similarity RUL learnt from the fleet's completed lives, and when
a failure closes a life it learns that life (trajectory and the errors of the estimates made in it).
Prequential: an estimate is made before the life it belongs to is learnt.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import replace

import numpy as np

from twin_models.records import AssetEvent, TwinSnapshot
from twin_models.rul import CompletedLife, FleetRul, RulEstimate, fuse

__all__ = ["FleetTwin"]

_DEGRADED = ("degrading", "critical")


class FleetTwin:
    """Fleet-level RUL for the assets of one kind."""

    def __init__(self, kind: str, *, life_history: int = 1024, min_lives: int = 1) -> None:
        self.kind = kind
        self.model = FleetRul()
        self.min_lives = min_lives
        self.life_history = life_history
        self.lives: dict[str, deque[tuple[float, float, float]]] = {}
        self.life_ids: dict[str, int] = {}

    def update(self, snap: TwinSnapshot) -> TwinSnapshot:
        """Fuse the fleet estimate into the snapshot, then remember the window."""
        hist = self._history(snap)
        fused = self._estimate(snap, hist)
        if fused is not None:
            snap = replace(
                snap,
                rul_s=fused.rul_s,
                rul_lower_s=fused.lower_s,
                rul_upper_s=fused.upper_s,
                rul_source=fused.source,
            )
        est = snap.rul_s if snap.rul_s is not None else math.nan
        hist.append((snap.timestamp.timestamp(), snap.degradation, est))
        return snap

    def _history(self, snap: TwinSnapshot) -> deque[tuple[float, float, float]]:
        if self.life_ids.get(snap.asset_id) != snap.life_id:
            self.life_ids[snap.asset_id] = snap.life_id
            self.lives[snap.asset_id] = deque(maxlen=self.life_history)
        return self.lives[snap.asset_id]

    def _estimate(
        self, snap: TwinSnapshot, hist: deque[tuple[float, float, float]]
    ) -> RulEstimate | None:
        own = (
            RulEstimate(snap.rul_s, snap.rul_lower_s or 0.0, snap.rul_upper_s or snap.rul_s, "trend")
            if snap.rul_s is not None
            else None
        )
        if snap.condition not in _DEGRADED or self.model.n_lives < self.min_lives:
            return own
        recent = list(hist)[-self.model.query_points + 1 :]
        times = np.array([h[0] for h in recent] + [snap.timestamp.timestamp()])
        ind = np.array([h[1] for h in recent] + [snap.degradation])
        return fuse(own, self.model.predict_one(times, ind))

    def apply_event(self, event: AssetEvent) -> CompletedLife | None:
        """A failure closes the asset's life: learn it. Returns the life learnt, if any.

        Installs and maintenance need nothing here: the twin starts a new ``life_id``, which
        starts a new trajectory.
        """
        if event.kind != "failure":
            return None
        hist = self.lives.pop(event.asset_id, None)
        self.life_ids.pop(event.asset_id, None)
        if not hist:
            return None
        life = CompletedLife(
            asset_id=event.asset_id,
            asset_kind=self.kind,
            failure_s=event.timestamp.timestamp(),
            times_s=tuple(h[0] for h in hist),
            indicator=tuple(h[1] for h in hist),
            estimates_s=tuple(h[2] for h in hist),
        )
        self.model.learn_life(life)
        return life
