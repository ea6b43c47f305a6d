"""Sample what-if records for the contract and codec tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from twin_models.records import (
    DamageCheckpoint,
    PlanSegment,
    TrajectoryPoint,
    WhatIfOutcome,
    WhatIfRequest,
    WhatIfResult,
)

T0 = datetime(2026, 1, 22, tzinfo=UTC)
PLAN = (PlanSegment(0.0, 0.85), PlanSegment(172800.0, 1.0, 25.0, 30.0, 0.5))


def make_request(**changes: object) -> WhatIfRequest:
    """A request with a two-piece plan and two dates."""
    req = WhatIfRequest("ops-42", "pump-001", T0, PLAN, 30 * 86400.0,
                        (T0 + timedelta(days=3), T0 + timedelta(days=7)))
    return req if not changes else WhatIfRequest(**{**{f: getattr(req, f) for f in req.__slots__}, **changes})  # type: ignore[arg-type]


def make_result(status: str = "ok") -> WhatIfResult:
    """An answered request (``status`` ok: outcomes with trajectories, a null RUL quantile)."""
    if status != "ok":
        return WhatIfResult("ops-44", "pump-009", T0, status, "no twin of asset 'pump-009'",  # type: ignore[arg-type]
                            30 * 86400.0, PLAN)
    point = TrajectoryPoint(T0, 0.02, 0.139, None, 47.9)
    sc = WhatIfOutcome(3.4e5, 1.8e5, None, ((T0 + timedelta(days=3), 0.2),), (point, point))
    base = WhatIfOutcome(2.0e5, 1.0e5, 9e5, ((T0 + timedelta(days=3), 0.4),), ())
    return WhatIfResult("ops-42", "pump-001", T0, "ok", "", 30 * 86400.0, PLAN, 0.48, "bpfo", sc, base)


def make_checkpoint() -> DamageCheckpoint:
    """A checkpoint of ten particles."""
    ten = tuple(0.1 * i for i in range(10))
    return DamageCheckpoint("pump-001", T0, 0, "bpfo", "vib.rms", 0.133, 0.441, {"noise": 0.01, "t_s": 1.7e9},
                            {"d0": 0.1}, {"temperature.mean|n": 3.0}, ten, ten, ten, ten, ten, ten, ten)
