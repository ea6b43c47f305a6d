"""twin_models.evaluate: scoring runs against ground truth (used by benchmarks, never by a twin).

- :mod:`.scoring` — the NAB score, the PHM08 score, the PHM 2012 score;
- :mod:`.detection` — fault detections, lead times, false alerts and RUL error of a run.
"""

__all__ = ["detection", "scoring"]
