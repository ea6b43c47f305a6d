"""How often ``rul_s``'s interval holds the true RUL on demo seeds, by ``rul_source`` (DOCS50).

Run the demos as ``demo_damage.py`` says (``twin demo --seed $s --fresh --out /tmp/d-s$s --json
--no-progress > /tmp/d-s$s.json``), then ``.venv/bin/python benchmarks/quality/demo_rul_interval.py
/tmp/d-s*.json``: each summary's ``fault_table`` gives the failures, its ``plot`` the archive. A window
counts when it holds a ``rul_s`` and lies in the failed life (before the failure, after the asset's
previous one). Prints one row per source (held: the share of windows whose interval holds the
true RUL; the mean width as ``ln(upper / lower)``, bounds floored at 1 s), then one JSON line.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from flows.archive.query import query

SQL = """WITH f0(asset_id, fail) AS (VALUES {values}),
f AS (SELECT *, lag(fail) OVER (PARTITION BY asset_id ORDER BY fail) AS prev FROM f0)
SELECT rul_source, count(*),
       sum(((epoch(fail) - epoch(timestamp)) BETWEEN rul_lower_s AND rul_upper_s)::int),
       sum(((epoch(fail) - epoch(timestamp)) < rul_lower_s)::int),
       sum(ln(greatest(rul_upper_s, 1) / greatest(rul_lower_s, 1)))
FROM twin_state JOIN f USING (asset_id)
WHERE rul_s IS NOT NULL AND timestamp < fail AND (prev IS NULL OR timestamp > prev)
GROUP BY 1"""


def main(paths: list[str]) -> None:
    windows, held, below = Counter[str](), Counter[str](), Counter[str]()
    width = Counter[str]()
    for path in paths:
        summary = json.loads(Path(path).read_text())
        failed = [(f["asset_id"], f["failure_at"]) for f in summary["fault_table"] if f.get("failure_at")]
        if not failed:
            continue
        values = ", ".join(f"('{a}', TIMESTAMPTZ '{t}')" for a, t in failed)
        _, rows = query(Path(summary["plot"]).parent, SQL.format(values=values))
        for source, n, covered, early, log_width in rows:
            for key in (source, "all"):
                windows[key] += n
                held[key] += covered
                below[key] += early
                width[key] += log_width
    out = {k: {"windows": windows[k], "held": round(held[k] / windows[k], 3),
               "truth_below_lower": round(below[k] / windows[k], 3),
               "mean_log_width": round(width[k] / windows[k], 3)} for k in windows}
    for k, v in out.items():
        print(f"{k:14s} windows {v['windows']:5d}  held {v['held']:.2f}  truth below the lower bound "
              f"{v['truth_below_lower']:.2f}  mean ln(upper/lower) {v['mean_log_width']:.2f}")
    print(json.dumps({"benchmark": "demo_rul_interval", "seeds": len(paths), "by_source": out}))


if __name__ == "__main__":
    main(sys.argv[1:])
