"""Sensor faults in demo runs (issue 13): what they did to the twin, seed by seed and in total.

Run, per seed S: ``twin demo --seed S --sensor-faults 0.625 --fresh --out DIR --no-progress --json
> on-S.json`` (and the same without ``--sensor-faults`` > off-S.json), then
``.venv/bin/python benchmarks/quality/demo_sensors.py on-1.json[:off-1.json] ...``.

Per run, from the demo's JSON summary (``sensor_faults``, scored by
:mod:`twin_models.evaluate.sensor_faults`): sensor faults injected and detected per kind, sensor
alerts (false ones on clean channels), condition alerts that started during a sensor fault while
the machine was healthy (what gating should avoid) or during a real bearing fault, and the
machine figures (faults detected, false condition alerts, dead letters) next to the same seed
without sensor faults when its summary is given. One JSON line with every run and the totals.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

MACHINE = ("faults", "faults_detected", "false_alerts", "alert_messages", "dead_letters")
SENSOR = ("injected", "detected", "sensor_alerts", "false_sensor_alerts", "other_check_alerts",
          "collateral_sensor_alerts", "condition_alerts_during_sensor_faults",
          "condition_alerts_during_sensor_faults_on_faulty_machines")


def summarise(on: Path, off: Path | None) -> dict[str, Any]:
    """One seed's figures (``off``: the same seed without sensor faults, if run)."""
    doc = json.loads(on.read_text())
    s = doc["sensor_faults"]
    row: dict[str, Any] = {"run": str(on), **{k: doc[k] for k in MACHINE}, **{k: s[k] for k in SENSOR}}
    row["by_kind"] = s["by_kind"]
    row["faults_table"] = [(r["asset_id"], r["channel"], r["kind"], r["machine_faulty"],
                            r["condition_alerts"], r["detected_at"] is not None) for r in s["table"]]
    row["lead_time_h"] = {f["asset_id"]: f["lead_time_h"] for f in doc["fault_table"]}
    if off is not None:
        base = json.loads(off.read_text())
        row["without_sensor_faults"] = {k: base[k] for k in MACHINE}
        was = {f["asset_id"]: f["lead_time_h"] for f in base["fault_table"]}
        row["lead_time_changed_h"] = {a: (was.get(a), h) for a, h in row["lead_time_h"].items()
                                      if was.get(a) != h}
    return row


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Sums over the runs, per kind too (``..._without``: the runs without sensor faults)."""
    out: dict[str, Any] = {k: sum(r[k] for r in rows) for k in (*MACHINE, *SENSOR)}
    kinds: dict[str, list[int]] = {}
    for r in rows:
        for kind, v in r["by_kind"].items():
            d, n = kinds.setdefault(kind, [0, 0])
            kinds[kind] = [d + v["detected"], n + v["injected"]]
    out["by_kind"] = {k: {"detected": d, "injected": n} for k, (d, n) in sorted(kinds.items())}
    raised: dict[str, list[int]] = {}  # kind/channel on a healthy machine -> [faults that raised one, faults]
    for r in rows:
        for _asset, channel, kind, machine_faulty, condition, _found in r["faults_table"]:
            if not machine_faulty:
                key = f"{kind}/{'vib' if channel == 'vib' else 'scalar'}"
                hit, n = raised.setdefault(key, [0, 0])
                raised[key] = [hit + (condition > 0), n + 1]
    out["healthy_machine_faults_raising_condition_alerts"] = {k: {"raised": h, "faults": n}
                                                              for k, (h, n) in sorted(raised.items())}
    paired = [r for r in rows if "without_sensor_faults" in r]
    if paired:
        out["paired_runs"] = len(paired)
        out["without_sensor_faults"] = {k: sum(r["without_sensor_faults"][k] for r in paired)
                                        for k in MACHINE}
        out["with_sensor_faults_same_runs"] = {k: sum(r[k] for r in paired) for k in MACHINE}
    return out


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="demo_sensors.py", description=__doc__.split("\n\n")[0],
        epilog="example: twin demo --seed 1 --sensor-faults 0.625 --fresh --out /tmp/d1 --no-progress --json "
               "> on-1.json; twin demo --seed 1 --fresh --out /tmp/d1off --no-progress --json > off-1.json; "
               ".venv/bin/python benchmarks/quality/demo_sensors.py on-1.json:off-1.json")
    p.add_argument("runs", nargs="+", metavar="ON.json[:OFF.json]",
                   help="a demo's --json summary with --sensor-faults (and the same seed's without)")
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Print one line per run, then a JSON line with every run and the totals."""
    args = _parser().parse_args(argv).runs
    rows = []
    for arg in args:
        on, _, off = arg.partition(":")
        for p in (on, off):
            if p and not Path(p).is_file():
                print(f"demo_sensors: {p}: no such file", file=sys.stderr)
                raise SystemExit(2)
        try:
            rows.append(summarise(Path(on), Path(off) if off else None))
        except (OSError, ValueError, KeyError, TypeError) as exc:  # not a demo's --json summary
            print(f"demo_sensors: {arg}: not a twin demo --json summary ({type(exc).__name__}: {exc})",
                  file=sys.stderr)
            raise SystemExit(2) from None
        r = rows[-1]
        base = r.get("without_sensor_faults")
        was = f" (without: {base['false_alerts']}, {base['dead_letters']})" if base else ""
        print(f"{on}: sensor faults {r['detected']}/{r['injected']} detected, sensor alerts "
              f"{r['sensor_alerts']} ({r['false_sensor_alerts']} false); condition alerts during sensor "
              f"faults {r['condition_alerts_during_sensor_faults']} on healthy machines, "
              f"{r['condition_alerts_during_sensor_faults_on_faulty_machines']} on faulty; machine faults "
              f"{r['faults_detected']}/{r['faults']}; false alerts, dead letters {r['false_alerts']}, "
              f"{r['dead_letters']}{was}"
              + (f"; lead times moved (without -> with, h): {r['lead_time_changed_h']}"
                 if r.get("lead_time_changed_h") else ""))
    doc = {"runs": rows, "total": totals(rows)}
    print(json.dumps(doc))
    return doc


if __name__ == "__main__":
    main()
