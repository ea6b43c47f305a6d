"""The verdict in a demo run: detection, false alerts, and the anomalous alerts before the localised one.

Run: ``twin demo --seed S --fresh --out DIR --no-progress --json > S.json``, then
``.venv/bin/python benchmarks/quality/demo_verdict.py S.json:DIR [...]``.

Per run: faults detected, false alerts and alert messages (from the demo's JSON), and from the
archive's ``alerts`` table the episodes raised at severity ``info`` ("anomalous, not localised",
issue 12), how many of them were relabelled with a defect later and after how many hours.
Archives written before the verdict (no ``verdict`` column) count no info episode. One JSON line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from flows.archive.query import query  # noqa: E402


def episodes(archive: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Alert id -> its messages ``(asset, sequence, status, severity, timestamp, defect)``, in order."""
    _, rows = query(archive, "SELECT alert_id, asset_id, sequence, status, severity, timestamp, defect "
                             "FROM alerts ORDER BY alert_id, sequence")
    out: dict[str, list[tuple[Any, ...]]] = {}
    for r in rows:
        out.setdefault(r[0], []).append(tuple(r[1:]))
    return out


def summarise(summary_json: Path, archive: Path) -> dict[str, Any]:
    """One run's figures."""
    doc = json.loads(summary_json.read_text())
    eps = episodes(archive)
    info = [m for m in eps.values() if m[0][3] == "info"]
    localised = [(m[0], next((x for x in m if x[5]), None)) for m in info]
    delays = [round((loc[4] - first[4]).total_seconds() / 3600.0, 1) for first, loc in localised if loc]
    return {"run": str(summary_json), "faults": doc["faults"], "detected": doc["faults_detected"],
            "false_alerts": doc["false_alerts"], "alert_messages": doc["alert_messages"],
            "episodes": len(eps), "raised_anomalous": len(info), "relabelled_later": len(delays),
            "hours_to_localisation": delays,
            "lead_time_h": {f["asset_id"]: f["lead_time_h"] for f in doc["fault_table"]}}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Print one line per run and a JSON line with all of them."""
    args = sys.argv[1:] if argv is None else argv
    if not args or any(":" not in a for a in args):
        print("demo_verdict: give SUMMARY.json:OUT_DIR for each demo run", file=sys.stderr)
        raise SystemExit(2)
    runs = []
    for arg in args:
        js, out = arg.split(":", 1)
        runs.append(summarise(Path(js), Path(out)))
        r = runs[-1]
        print(f"{js}: detected {r['detected']}/{r['faults']}, false alerts {r['false_alerts']}, "
              f"{r['alert_messages']} messages, raised anomalous {r['raised_anomalous']} "
              f"(localised later {r['relabelled_later']}: {r['hours_to_localisation']} h)")
    print(json.dumps(runs))
    return runs


if __name__ == "__main__":
    main()
