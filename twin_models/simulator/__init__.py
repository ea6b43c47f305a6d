"""twin_models.simulator: the seeded physics-based fleet simulator (the embedded default source).

- :mod:`.fleet` — :func:`simulate_fleet`, the fleet's metadata and its ground truth;
- :mod:`.telemetry` — one asset's events, scalar readings and vibration frames;
- :mod:`.physics` — operating profile, Paris-law bearing damage, vibration and heat;
- :mod:`.actions` / :mod:`.plans` — a plan (derate, replacement) followed in the telemetry
  (``FleetConfig.plans``) and its ground truth (:func:`.plans.plan_outcome`);
- :mod:`.sensor_faults` / :mod:`.sensor_effects` — sensor faults (flatline, clipping, dropout,
  drift, clock jump) on one channel for a while, and their ground truth (issue 13).
"""

__all__ = ["actions", "fleet", "physics", "plans", "sensor_effects", "sensor_faults", "telemetry"]
