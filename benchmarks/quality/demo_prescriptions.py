"""Prescriptions on demo seeds: the plan at detection against the simulator's ground truth.

Run: ``for s in 1 2 ... 10; do .venv/bin/twin demo --seed $s --fresh --out /tmp/rx-s$s --json
--no-progress > /tmp/rx-s$s.json; done`` then
``.venv/bin/python benchmarks/quality/demo_prescriptions.py /tmp/rx-s*.json``.

Reads the ``prescriptions`` part of the ``twin demo --json`` summaries and pools it: detected
faults, how many got a recommendation at (or within a day after) detection, the plans chosen,
how many of the faults that fail when run as is the plan avoids in simulation, the expected cost
of the plans against running as is, the simulated cost of following them against running as is,
and the cost of the option that would have been cheapest in hindsight. Prints one row per seed,
then one JSON line.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

KEYS = ("detected", "recommended", "fail_as_is", "avoided", "expected_cost", "expected_as_is_cost",
        "simulated_cost", "simulated_as_is_cost", "hindsight_cost")


def pooled(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """The seeds' figures added up."""
    parts = [s.get("prescriptions") or {} for s in summaries]
    out: dict[str, Any] = {"seeds": len(summaries)}
    out.update({k: sum(p.get(k, 0) for p in parts) for k in KEYS})
    plans: Counter[str] = Counter()
    hindsight: Counter[str] = Counter()
    for p in parts:
        plans.update(p.get("plans", {}))
        hindsight.update(p.get("hindsight_plans", {}))
    out["plans"], out["hindsight_plans"] = dict(plans.most_common()), dict(hindsight.most_common())
    return out


def main(argv: list[str] | None = None) -> int:
    """Print each summary's row, then the pooled JSON line."""
    paths = [Path(p) for p in (sys.argv[1:] if argv is None else argv)]
    if not paths:
        print("demo_prescriptions: give the twin demo --json outputs to pool", file=sys.stderr)
        return 2
    summaries = [json.loads(p.read_text()) for p in paths]
    for p, s in zip(paths, summaries, strict=True):
        rx = s.get("prescriptions") or {}
        print(f"{p.name}: recommended {rx.get('recommended')}/{rx.get('detected')}, plans {rx.get('plans')}, "
              f"avoided {rx.get('avoided')}/{rx.get('fail_as_is')}, expected {rx.get('expected_cost')} vs "
              f"{rx.get('expected_as_is_cost')}, simulated {rx.get('simulated_cost')} vs "
              f"{rx.get('simulated_as_is_cost')}, hindsight {rx.get('hindsight_cost')}")
    print(json.dumps({"benchmark": "demo_prescriptions", **pooled(summaries)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
