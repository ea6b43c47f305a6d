"""twin_models: the pure domain library of twinflow.

Contract: numpy, scipy, river and lightgbm only (LightGBM: the fleet RUL regression's default
booster, :mod:`twin_models.rul.lgbm_trees`, imported at its first fit or prediction). No I/O, no
environment, no engine (Bytewax), no Kafka, no Arrow, no DuckDB, no Prometheus. Models follow
River's verbs (``learn_one``, ``score_one``, ``predict_one``) where they mean what River means
(detectors are River anomaly detectors), RUL models their own (``update``, ``learn_life``,
``predict_rul``): see :mod:`twin_models.contracts`. They take seeds as parameters, and score BEFORE
they learn (a score changes no state).
"""

from twin_models.moved_modules import TWIN_MODELS_MOVES, install

__all__ = ["records", "twin"]

install(TWIN_MODELS_MOVES)
