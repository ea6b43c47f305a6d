"""twin_models.simulator: the seeded physics-based fleet simulator (the embedded default source).

- :mod:`.fleet` — :func:`simulate_fleet`, the fleet's metadata and its ground truth;
- :mod:`.physics` — operating profile, Paris-law bearing damage, vibration and heat.
"""

__all__ = ["fleet", "physics"]
