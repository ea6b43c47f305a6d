"""twin_models.anomaly: online anomaly detectors with a calibrated score in [0, 1].

- :mod:`.baseline` — :class:`BaselineDetector`: per-feature normal behaviour of the asset itself
  (River's online statistics), the default detector of every twin;
- :mod:`.novelty` — :class:`NoveltyDetector`: multi-scale subsequence novelty for scalar series;
- :mod:`.calibration` — raw statistic -> calibrated score (tail models of normal data);
- :mod:`.river_detector` — :class:`RiverDetector`: any ``river.anomaly`` detector with the twin's
  readiness, calibration and explanations;
- :mod:`.selection` — which detector a twin runs (``twin.detector``) and ``[twin.novelty]``.

Every detector is a ``river.base.AnomalyDetector`` and follows :class:`twin_models.contracts.Detector`.

The classes of the former module ``twin_models.anomaly`` are re-exported here, so recovery
snapshots pickled before the package layout still load; ``RiverDetector`` on first use (River's
anomaly module imports scipy.stats, which a twin of the default detector never needs).
"""

from __future__ import annotations

from typing import Any

from twin_models.anomaly.baseline import BaselineDetector, is_log_feature, rms_of_largest
from twin_models.anomaly.calibration import EmpiricalTail, TailCalibrator
from twin_models.anomaly.novelty import NoveltyDetector, SubsequenceNovelty

__all__ = [
    "BaselineDetector",
    "EmpiricalTail",
    "NoveltyDetector",
    "RiverDetector",
    "SubsequenceNovelty",
    "TailCalibrator",
    "is_log_feature",
    "rms_of_largest",
]


def __getattr__(name: str) -> Any:
    """``RiverDetector`` imported when first asked for (also by an old pickle's lookup)."""
    if name == "RiverDetector":
        from twin_models.anomaly.river_detector import RiverDetector

        return RiverDetector
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
