"""twin_models.anomaly: online anomaly detectors with a calibrated score in [0, 1].

- :mod:`.baseline` — :class:`BaselineDetector`: per-feature normal behaviour of the asset itself
  (River's online statistics), the default detector of every twin;
- :mod:`.novelty` — :class:`NoveltyDetector`: multi-scale subsequence novelty for scalar series;
- :mod:`.calibration` — raw statistic -> calibrated score (tail models of normal data).

The classes of the former module ``twin_models.anomaly`` are re-exported here, so recovery
snapshots pickled before the package layout still load.
"""

from __future__ import annotations

from twin_models.anomaly.baseline import BaselineDetector, is_log_feature, rms_of_largest
from twin_models.anomaly.calibration import EmpiricalTail, TailCalibrator
from twin_models.anomaly.novelty import NoveltyDetector, SubsequenceNovelty

__all__ = [
    "BaselineDetector",
    "EmpiricalTail",
    "NoveltyDetector",
    "SubsequenceNovelty",
    "TailCalibrator",
    "is_log_feature",
    "rms_of_largest",
]
