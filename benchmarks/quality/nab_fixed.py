"""NAB at a threshold fixed a priori, per held-out category, and two rules that remove alarms.

Run: ``.venv/bin/python benchmarks/quality/nab_fixed.py [--data DIR] [--config FILE]
[--cache-dir DIR] [--no-progress]``

**Fixed threshold (part 1 of issue 13's NAB9).** At ``p <= 0.001`` (the alert policy's alarm grade,
a score >= 0.999) nothing is fitted on any file, so every file's score is already a left-out score:
each category is scored at that threshold and normalised over its own files (null 0, perfect 100),
exactly as :func:`nab_logo.logo` normalises a held-out category, and the corpus is pooled the same
way. Next to it: the same rows with thresholds chosen out of fold (``logo``), the sensitivity to
the level (``p <= 0.0005`` and ``0.002``), and each category scored alone with its own optimised
threshold (what NAB's scorer reports when it is run on that category only: an upper bound).

**Two rules that can only remove alarms** (stated in RESULTS.md before their first run), both
post-processing of the config's per-row channel p-values (:func:`self_calibrated`,
:func:`confirmed`), then the config's event mode (refractory, echo, hold). Each rule is also run on
the two half-step shifts of the config's ladder (sensitivity), and the confirmation at two other
levels.

Channels come from the same cache as ``nab_ladder.py`` (value tails and one entry per rung, keyed
alike, so its cache is reused) and ``nab_members.py`` (the change member). Final line: JSON.
"""

from __future__ import annotations

import argparse
import bisect
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.quality.nab import DEFAULT_CONFIG, nab_file  # noqa: E402
from benchmarks.quality.nab_ladder import LADDERS, OfflineCorpus, bonferroni  # noqa: E402
from benchmarks.quality.nab_logo import category_of, logo  # noqa: E402
from benchmarks.quality.nab_members import (  # noqa: E402
    DEFAULT_CHANGE_SCALES,
    change_channels,
    echo_horizons,
    event_scores,
    offline_inputs,
)
from twin_models.evaluate.scoring import PROFILES, NabFile, nab_score, normalised  # noqa: E402

FIXED_PS = (0.0005, 0.001, 0.002)  # the alarm grade (0.001) and half / twice it (sensitivity)
CONFIRM_ROWS = 8  # rule C: the shortest rung, the hold and the change member's shortest window
CONFIRM_P = 0.05  # rule C: the conventional significance level ("something moved", not "rare")
SHIFTS = ("sqrt ladder x1.5 (12..3072)", "sqrt ladder x0.75 (6..3072)")


def self_calibrated(p: np.ndarray, warmup: int) -> np.ndarray:
    """Rule S: ``q_i = max(p_i, k_i / n_i)``, ``n_i`` the rows scored before ``i`` (from ``warmup``
    on), ``k_i`` how many of them had a p at most ``p_i``; ``q_i = p_i`` while ``n_i = 0``."""
    q = p.astype(float).copy()
    past: list[float] = []
    for i in range(warmup, len(p)):
        if past:
            k = bisect.bisect_right(past, p[i])
            q[i] = max(p[i], k / len(past))
        bisect.insort(past, float(p[i]))
    return q


def recent_min(x: np.ndarray, rows: int) -> np.ndarray:
    """Per row ``i``: the smallest of ``x[i - rows + 1] ... x[i]`` (rows before the first: fewer)."""
    out = x.astype(float).copy()
    for s in range(1, rows):
        out[s:] = np.minimum(out[s:], x[:-s])
    return out


def confirmed(p: np.ndarray, change: np.ndarray, level: float = CONFIRM_P,
              rows: int = CONFIRM_ROWS) -> np.ndarray:
    """Rule C: ``p_i`` where the change member's Bonferroni p was at most ``level`` on one of the
    last ``rows`` rows (``i`` included), else 1 (no alarm without a second member's agreement)."""
    return np.where(recent_min(bonferroni(change), rows) <= level, p, 1.0)


def fixed_report(rows: Sequence[NabFile], p: float) -> dict[str, Any]:
    """At the fixed threshold ``1 - p`` for every profile: pooled scores, each category's
    normalised score (its raw FP cost when it has no window), and TP / FN / false rows."""
    res = nab_score(rows, thresholds={q: 1.0 - p for q in PROFILES})
    cats = sorted({category_of(f.name) for f in rows})
    out: dict[str, Any] = {"pooled": {k: round(r.score, 2) for k, r in res.items()}, "categories": {}}
    std = res["standard"].per_file
    for c in cats:
        names = [f.name for f in rows if category_of(f.name) == c]
        per = {k: normalised(r.per_file, names) for k, r in res.items()}
        out["categories"][c] = {
            **{k: (round(v, 2) if v == v else f"raw {sum(r.per_file[n]['raw'] for n in names):.2f}")
               for (k, v), r in zip(per.items(), res.values(), strict=True)},
            **{x: int(sum(std[n][x] for n in names)) for x in ("tp", "fn", "fp")}}
    out["counts"] = {x: int(sum(v[x] for v in std.values())) for x in ("tp", "fn", "fp")}
    return out


def own_thresholds(rows: Sequence[NabFile]) -> dict[str, float]:
    """Each category alone with its own optimised threshold (NAB's scorer run on it only)."""
    cats = sorted({category_of(f.name) for f in rows})
    return {c: round(nab_score([f for f in rows if category_of(f.name) == c])["standard"].score, 2)
            for c in cats}


def evaluate(name: str, rows: Sequence[NabFile]) -> dict[str, Any]:
    """Dev, out-of-fold thresholds, fixed thresholds; one printed line per regime."""
    folds, pooled = logo({name: rows})
    out: dict[str, Any] = {
        "dev": {k: round(r.score, 2) for k, r in nab_score(rows).items()},
        "out_of_fold": {"pooled": pooled, "held_out": {f.held_out: f.scores["standard"] for f in folds},
                        "thresholds": {f.held_out: round(f.thresholds["standard"], 6) for f in folds}},
        "fixed": {str(p): fixed_report(rows, p) for p in FIXED_PS},
        "own_threshold": own_thresholds(rows),
    }
    oof = out["out_of_fold"]
    print(f"\n{name}\n  dev {_cells(out['dev'])} | out of fold {_cells(pooled)} held out "
          + " ".join(f"{c[:8]} {v}" for c, v in oof["held_out"].items() if v is not None))
    for p in FIXED_PS:
        fx = out["fixed"][str(p)]
        cats = " ".join(f"{c[:8]} {v['standard']}" for c, v in fx["categories"].items())
        print(f"  p <= {p:g}: pooled {_cells(fx['pooled'])} | {cats} | {fx['counts']}")
    print(f"  each category at its own threshold: {out['own_threshold']}")
    return out


def _cells(scores: Mapping[str, float]) -> str:
    return " / ".join(f"{v:.2f}" for v in scores.values())


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """The config, its ladder shifts and the two rules: every regime; the JSON line last."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="datasets dir or NAB dir (default: $TWIN_DATASETS or ../shared/datasets)")
    p.add_argument("--config", default=str(DEFAULT_CONFIG), help="benchmark TOML (event mode, scales)")
    p.add_argument("--cache-dir", help="per-rung and change-member channel p-values (reused when present)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    start = time.perf_counter()
    cfg, cache, root, files, labels = offline_inputs("nab_fixed", args.config, args.data, args.cache_dir)
    corpus = OfflineCorpus(cfg, cache, root, files, progress=not args.no_progress)
    warmup, nov, series = corpus.warmup, corpus.nov, corpus.series
    change = corpus.cached(["change", warmup, DEFAULT_CHANGE_SCALES],
                           lambda k: change_channels(corpus.vals[k], warmup, DEFAULT_CHANGE_SCALES),
                           "change member")

    def rows_of(ch: Mapping[str, np.ndarray], lengths: Sequence[int],
                rule: Callable[[str, np.ndarray], np.ndarray]) -> list[NabFile]:
        hold = min(lengths) if nov.hold else 0
        out = []
        for key, (c, f, (_, _, secs)) in series.items():
            q = rule(key, bonferroni(ch[key]))
            hor = echo_horizons(ch[key], lengths) if nov.echo else None
            out.append(nab_file(c, f, secs, event_scores(q, nov.refractory, warmup, hor, hold), labels))
        return out

    rules: dict[str, Callable[[str, np.ndarray], np.ndarray]] = {
        "config": lambda k, q: q,
        "S self-calibrated": lambda k, q: self_calibrated(q, warmup),
        f"C confirmed (change p <= {CONFIRM_P:g})": lambda k, q: confirmed(q, change[k]),
    }
    sensitivity: dict[str, Callable[[str, np.ndarray], np.ndarray]] = {
        f"C confirmed (change p <= {lvl:g})": (lambda k, q, lvl=lvl: confirmed(q, change[k], lvl))  # type: ignore[misc]
        for lvl in (0.01, 0.2)}
    ladders = {"config": tuple(tuple(s) for s in nov.scales), **{s: LADDERS[s] for s in SHIFTS}}
    summary: dict[str, Any] = {"scales": ladders, "runs": {}}
    for lname, scales in ladders.items():
        ch = corpus.channels(scales)
        lengths = [m for m, _ in scales]
        todo = {**rules, **sensitivity} if lname == "config" else rules
        for rname, rule in todo.items():
            name = rname if lname == "config" else f"{rname}, {lname}"
            summary["runs"][name] = evaluate(name, rows_of(ch, lengths, rule))
    summary["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
