"""twin_models.evaluate: scoring runs against ground truth (used by benchmarks, never by a twin).

- :mod:`.scoring` — the NAB score, the PHM08 score, the PHM 2012 score;
- :mod:`.detection` — fault detections, lead times, false alerts and RUL error of a run;
- :mod:`.sensor_faults` — sensor faults detected, false sensor alerts, and the condition alerts
  sensor faults raised (issue 13).
"""

__all__ = ["detection", "scoring", "sensor_faults"]
