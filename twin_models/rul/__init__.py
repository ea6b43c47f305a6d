"""twin_models.rul: health index and remaining useful life (seconds, with an interval).

- :mod:`.health` — :class:`HealthIndex`: failure indicator -> [0, 1] (1 = as new);
- :mod:`.trend` — :class:`TrendRul` (the asset's own trend), :class:`FleetRul` (similarity to
  completed lives), :func:`fuse`;
- :mod:`.fleet` — :class:`FleetRulConfig` (the fleet RUL's settings); :class:`FleetTwin`, the
  former single fleet step (kept: its recovery state migrates into the learner);
- :mod:`.fleet_view` — :class:`FleetView`: one asset's current life, fused with the fleet model
  (lives in the asset's twin); closed lives leave as :class:`LifeChunk` parts;
- :mod:`.fleet_model` — :class:`FleetModel`: an immutable, versioned fleet model (``predict``);
- :mod:`.calibration` — :class:`RulErrors`: the emitted ``rul_s`` interval, split-conformal per
  ``rul_source`` on completed lives' log errors (``rul_s`` itself unchanged);
- :mod:`.fleet_learner` — :class:`FleetLearner`: completed lives of a kind -> model versions;
- :mod:`.regression_learner` — the regression's refits as bounded, replayable slices of work;
- :mod:`.regression` — :class:`RegressionRul`: condition features -> remaining life;
- :mod:`.regressors` — the regressor it refits: gradient boosting by LightGBM (the default,
  :mod:`.lgbm_trees`), the numpy trees of :mod:`.trees` (the default before round 19), or a
  River regressor;
- :mod:`.regimes` — operating regimes found online, per-regime normalisation;
- :mod:`.damage` — :class:`DamageState`: physics-informed damage (a particle filter over a
  Paris-law growth driven by load and speed), RUL distribution and what-if forecasts under an
  :class:`~twin_models.rul.profile.OperatingProfile` (:mod:`.profile`); :mod:`.damage_track`
  is how the twin starts, feeds and reads it;
- :mod:`.life_indicator` — :class:`LifeIndicator`: a bearing's monotone log-RMS rise over its
  own early life; :mod:`.life_model` — :class:`LifeModel`: the bearing life model (Bayesian
  posterior over the life from completed lives, ``fleet.life_model``).

Verbs (:class:`twin_models.contracts.RulEstimator`): ``update`` (one window of the current life),
``learn_life`` (a completed life), ``predict_rul`` (pure, ``RulEstimate | None``); River's
``learn_one(x, y)`` / ``predict_one(x)`` keep River's meaning and are not used here.

The classes of the former module ``twin_models.rul`` are re-exported here, so recovery snapshots
pickled before the package layout still load.
"""

from __future__ import annotations

from twin_models.rul.trend import CompletedLife, FleetRul, RulEstimate, TrendRul, fuse

__all__ = ["CompletedLife", "FleetRul", "RulEstimate", "TrendRul", "fuse"]
