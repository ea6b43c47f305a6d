"""NAB: where the standard profile's points are lost, out of fold and at the fixed alarm grade.

Run: ``.venv/bin/python benchmarks/quality/nab_diagnose.py [--data DIR] [--config FILE]
[--cache-dir DIR] [--no-progress]``

Issue 13, round 42 (NAB42, step 1: a diagnosis, nothing tuned). The config's rows (channels from the
offline cache of ``nab_ladder.py``, Bonferroni, the config's event mode) are scored twice: with
each held-out category's thresholds chosen on the other three (``nab_logo.logo``) and at the
alert policy's fixed grade ``p <= 0.001``. NAB's normalised score is ``100 (raw - null) /
(perfect - null)`` with ``perfect = -null = N`` windows, so the points lost, ``100 - score``, split
exactly into three kinds: a missed window costs ``2 / 2N`` (its FN cost and the reward it did not
get), a window found late costs ``(1 - w) / 2N`` (``w``, the scaled sigmoid of the first
detection's position), and each detection outside a window its FP weight over ``2N``. Per file:
windows missed (the smallest Bonferroni p inside each, and the best event score), the mean
lateness weight of the windows found, false rows (their rows, and how many lie within a day of
another false row: clustered). Final line: JSON.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.quality.nab import nab_file  # noqa: E402
from benchmarks.quality.nab_ladder import OfflineCorpus, bonferroni, corpus_from_cli  # noqa: E402
from benchmarks.quality.nab_logo import category_of, logo  # noqa: E402
from benchmarks.quality.nab_members import echo_horizons, event_scores  # noqa: E402
from twin_models.anomaly.event_gate import ALARM_P  # noqa: E402
from twin_models.evaluate.scoring import PROFILES, NabFile, row_weights, window_rows  # noqa: E402

DAY = 288  # rows: a false row within a day of another false row is "clustered"


def file_losses(f: NabFile, p: np.ndarray, threshold: float) -> dict[str, Any]:
    """One file's standard-profile losses (raw units) at ``threshold``, and what lies behind them."""
    cost = PROFILES["standard"]
    rows = window_rows(f.timestamps, f.windows)
    w, win = row_weights(len(f.scores), rows, cost)
    s = np.asarray(f.scores, dtype=float)
    det = (s >= threshold) & (win != -2)
    missed, late, found_w = [], 0.0, []
    for k, (lo, hi) in enumerate(rows):
        hit = det & (win == k)
        if hit.any():
            found_w.append(float(w[hit].max()))
            late += 1.0 - float(w[hit].max())
        else:
            missed.append({"rows": [lo, hi], "min_p": float(p[lo:hi + 1].min()),
                           "best_event_p": float(1.0 - s[lo:hi + 1].max())})
    fp_rows = np.flatnonzero(det & (win == -1))
    gaps = np.diff(fp_rows)
    clustered = int(np.sum((np.concatenate([[DAY + 1], gaps]) <= DAY)
                           | (np.concatenate([gaps, [DAY + 1]]) <= DAY))) if fp_rows.size else 0
    return {"windows": len(rows), "missed": missed, "late": late, "found_w": found_w,
            "fp_rows": fp_rows.tolist(), "fp_cost": float(-w[fp_rows].sum()),
            "fp_clustered": clustered, "fp_p": [float(1.0 - s[i]) for i in fp_rows]}


def losses(rows: Sequence[NabFile], ps: Mapping[str, np.ndarray],
           thresholds: Mapping[str, float]) -> dict[str, Any]:
    """Per file at its category's threshold, and the points each kind of loss costs the corpus."""
    per = {f.name: file_losses(f, ps[f.name], thresholds[category_of(f.name)]) for f in rows}
    n = sum(v["windows"] for v in per.values())
    miss = sum(2.0 * len(v["missed"]) for v in per.values())
    late = sum(v["late"] for v in per.values())
    fp = sum(v["fp_cost"] for v in per.values())
    pts = {k: round(100.0 * x / (2 * n), 2) for k, x in (("missed", miss), ("late", late), ("fp", fp))}
    cats: dict[str, dict[str, float]] = {}
    for name, v in per.items():
        c = cats.setdefault(category_of(name), {"missed": 0.0, "late": 0.0, "fp": 0.0, "windows": 0,
                                                "n_missed": 0, "fp_rows": 0})
        c["missed"] += 100.0 * 2 * len(v["missed"]) / (2 * n)
        c["late"] += 100.0 * v["late"] / (2 * n)
        c["fp"] += 100.0 * v["fp_cost"] / (2 * n)
        c["windows"] += v["windows"]
        c["n_missed"] += len(v["missed"])
        c["fp_rows"] += len(v["fp_rows"])
    return {"windows": n, "points_lost": pts, "score": round(100.0 - sum(pts.values()), 2),
            "categories": {c: {k: round(x, 2) for k, x in v.items()} for c, v in sorted(cats.items())},
            "files": per}


def scored_rows(corpus: OfflineCorpus, ch: Mapping[str, np.ndarray], labels: Mapping[str, Any]
                ) -> tuple[list[NabFile], dict[str, np.ndarray]]:
    """The config's event mode over Bonferroni of the channels ``ch`` (per file, the corpus's
    order): NAB rows, and each file's row p."""
    nov, warmup = corpus.nov, corpus.warmup
    lengths = [m for m, _ in nov.scales]
    hold = min(lengths) if nov.hold else 0
    rows, ps = [], {}
    for key, (c, f, (_, _, secs)) in corpus.series.items():
        p = bonferroni(ch[key])
        hor = echo_horizons(ch[key], lengths) if nov.echo else None
        rows.append(nab_file(c, f, secs, event_scores(p, nov.refractory, warmup, hor, hold), labels))
        ps[rows[-1].name] = p
    return rows, ps


def print_table(title: str, res: Mapping[str, Any]) -> None:
    """The category table, then one line per file that loses anything."""
    print(f"\n{title}: score {res['score']} (windows {res['windows']}); points lost {res['points_lost']}")
    for c, v in res["categories"].items():
        print(f"  {c:22s} windows {v['windows']:3.0f} missed {v['n_missed']:2.0f} ({v['missed']:5.2f} pts)"
              f"  late {v['late']:5.2f} pts  false rows {v['fp_rows']:3.0f} ({v['fp']:5.2f} pts)")
    for name, v in res["files"].items():
        if not (v["missed"] or v["fp_rows"] or v["late"] > 0.05):
            continue
        miss = " ".join(f"[min p {m['min_p']:.1e}, event p {m['best_event_p']:.1e}]" for m in v["missed"])
        ws = " ".join(f"{x:.2f}" for x in v["found_w"])
        print(f"  {name:60s} win {v['windows']} missed {len(v['missed'])} {miss} | found w {ws} | "
              f"fp {len(v['fp_rows'])} (clustered {v['fp_clustered']}, cost {v['fp_cost']:.2f})"
              + (f" p {' '.join(f'{x:.0e}' for x in v['fp_p'])}" if v["fp_p"] else ""))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """The config's rows, out of fold and at the fixed grade; both tables; JSON last."""
    _, corpus, labels = corpus_from_cli("nab_diagnose", __doc__.splitlines()[0], argv)
    rows, ps = scored_rows(corpus, corpus.channels([tuple(s) for s in corpus.nov.scales]), labels)
    folds, pooled = logo({"config": rows})
    oof_thr = {f.held_out: f.thresholds["standard"] for f in folds}
    out = {"out_of_fold": losses(rows, ps, oof_thr),
           "fixed": losses(rows, ps, {c: 1.0 - ALARM_P for c in oof_thr}),
           "fold_p": {c: float(f"{1.0 - t:.3g}") for c, t in oof_thr.items()}, "pooled": pooled}
    print(f"each fold's standard threshold as a p: {out['fold_p']} (fixed: {ALARM_P:g}); "
          f"pooled out of fold {pooled}")
    print_table("out of fold", out["out_of_fold"])
    print_table(f"fixed p <= {ALARM_P:g}", out["fixed"])
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
