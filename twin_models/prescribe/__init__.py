"""twin_models.prescribe: prescriptions (twin level 4), pure.

- :mod:`.config` — :class:`PrescribeConfig` (``[pipeline.prescribe]``): costs per asset kind,
  derates weighed, the planned-stop calendar, renewal and hysteresis;
- :mod:`.plans` — :func:`recommend`: the candidate plans' what-ifs on an asset's damage state,
  their expected costs, the recommended plan and its explanation, deterministic ids.

Contract: plain values in (a :class:`~twin_models.rul.damage.DamageState`, an event time, the
config), a :class:`~twin_models.records.Recommendation` out; the state is never changed.
"""

from twin_models.prescribe.config import (
    COST_KEYS,
    MaintenanceCalendar,
    PlanCosts,
    PrescribeConfig,
    parse_kind_costs,
)
from twin_models.prescribe.plans import (
    PlanMemory,
    choose,
    evaluate_plans,
    explain_plan,
    money,
    recommend,
    recommendation_id,
    remembered,
    renew,
)

__all__ = ["COST_KEYS", "MaintenanceCalendar", "PlanCosts", "PlanMemory", "PrescribeConfig", "choose",
           "evaluate_plans", "explain_plan", "money", "parse_kind_costs", "recommend", "recommendation_id",
           "remembered", "renew"]
