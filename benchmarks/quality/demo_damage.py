"""The damage state's RUL on demo seeds: coverage of its 80 % interval and its error at detection.

Run: ``for s in 1 2 ... 10; do .venv/bin/twin demo --seed $s --fresh --out /tmp/d-s$s --json
--no-progress > /tmp/d-s$s.json; done`` then
``.venv/bin/python benchmarks/quality/demo_damage.py /tmp/d-s*.json``.

Reads the ``twin demo --json`` summaries and pools them: faults detected, false alerts and alert
messages (which the damage state must not move), then for the detected faults that failed within
the run, how often the 80 % interval at detection held the true RUL, how often it held it over
the rest of each life (window by window), and the median absolute error of the median at
detection (hours); how many of those faults' damage states started from the fleet's prior
(built from the completed lives of the kind), and the calibration of the state's indicator
predictions (share of windows whose measured indicator fell inside its predicted 80 % band).
Prints one row per seed, then one JSON line.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any


def pooled(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """The seeds' figures added up (errors pooled before taking the median)."""
    dmg = [s.get("damage_rul") or {} for s in summaries]
    errors = [e for d in dmg for e in d.get("abs_errors_h", [])]
    scored = sum(d.get("scored", 0) for d in dmg)
    later = sum(d.get("later_windows", 0) for d in dmg)
    return {
        "seeds": len(summaries),
        "faults": sum(s["faults"] for s in summaries),
        "faults_detected": sum(s["faults_detected"] for s in summaries),
        "false_alerts": sum(s["false_alerts"] for s in summaries),
        "alert_messages": sum(s["alert_messages"] for s in summaries),
        "scored_faults": scored,
        "covered_at_detection": sum(d.get("covered_at_detection", 0) for d in dmg),
        "coverage_at_detection": round(sum(d.get("covered_at_detection", 0) for d in dmg) / scored, 3)
        if scored else None,
        "later_windows": later,
        "coverage_later": round(sum(d.get("later_covered", 0) for d in dmg) / later, 3) if later else None,
        "median_abs_error_at_detection_h": round(statistics.median(errors), 1) if errors else None,
        **_prior_and_calibration(dmg),
    }


def _prior_and_calibration(dmg: list[dict[str, Any]]) -> dict[str, Any]:
    """How many scored faults' damage states started from a fleet prior (of the completed lives
    of the kind), the states started by prior, and the indicator predictions' calibration: the
    share of windows whose measured indicator fell inside the 80 % band predicted for it."""
    windows = sum(d.get("indicator_windows", 0) for d in dmg)
    inside = sum(d.get("indicator_inside_80", 0) for d in dmg)
    by_prior = [d.get("states_by_prior") or {} for d in dmg]
    return {
        "scored_with_fleet_prior": sum(d.get("with_fleet_prior", 0) for d in dmg),
        "states_fleet_prior": sum(b.get("fleet", 0) for b in by_prior),
        "states_default_prior": sum(b.get("default", 0) for b in by_prior),
        "indicator_windows": windows,
        "indicator_inside_80": round(inside / windows, 3) if windows else None,
    }


def main(argv: list[str] | None = None) -> int:
    """Print each summary's row, then the pooled JSON line."""
    paths = [Path(p) for p in (sys.argv[1:] if argv is None else argv)]
    if not paths:
        print("demo_damage: give the twin demo --json outputs to pool", file=sys.stderr)
        return 2
    summaries = [json.loads(p.read_text()) for p in paths]
    for p, s in zip(paths, summaries, strict=True):
        d = s.get("damage_rul") or {}
        print(f"{p.name}: detected {s['faults_detected']}/{s['faults']}, false {s['false_alerts']}, "
              f"messages {s['alert_messages']}, interval at detection {d.get('covered_at_detection')}"
              f"/{d.get('scored')}, later {d.get('later_covered')}/{d.get('later_windows')}, "
              f"median |error| {d.get('median_abs_error_h')} h, fleet prior {d.get('with_fleet_prior')}")
    print(json.dumps({"benchmark": "demo_damage", **pooled(summaries)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
