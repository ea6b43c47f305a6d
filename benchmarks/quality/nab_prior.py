"""NAB with a fleet prior: the detector's p-values recalibrated on the null rows of OTHER series.

Run: ``.venv/bin/python benchmarks/quality/nab_prior.py [--data DIR] [--config FILE]
[--cache-dir DIR] [--no-progress]``

Issue 13, round 29 (NAB29), stated before its first run (RESULTS.md). Each file's rank p-values
are computed against its own past only, so early in a file (and for rare shapes) they are
uncalibrated. A fleet of similar assets knows more: how often the same detector, at the same age
of its history, reaches a given p on normal data. A new asset borrows that calibration.

- The config's channels per row (value tails up / low and every rung of the ladder, ``K`` of them),
  from ``nab_ladder.py``'s cache.
- Age band of a row: rows scored before it, ``i - warmup``, cut at :data:`BANDS` (the first day,
  the first week, until the four-week pattern memory fills, after).
- The prior's null rows: the scored rows outside labelled windows of the TRAINING files only
  (three categories per fold; all files for "dev"). :class:`PooledNull` holds their values per
  band; a value's calibrated p is its rank among them, ``(#{S <= s} + 1) / (n + 1)``, and below the
  ``k``-th smallest a proportional tail ``F(S_k) s / S_k``. A band with fewer than ``k`` null rows
  borrows the nearest younger band's.
- ``P1`` (pooled null of the detector's own statistic): the row's smallest channel p, calibrated.
  ``P2`` (per channel): every channel calibrated on its own pooled null, then Bonferroni over the
  ``K`` as the detector. ``P3`` (stated after P1 and P2's figures, RESULTS.md): P1's p blended
  with the file's own (the detector's Bonferroni p), ``(1 - w) p1 + w p_own``, ``w = min(1, n / N)``
  with ``n`` rows scored, ``N`` the pattern memory (8064; 2016 as sensitivity).
- Then the config's event mode, unchanged (refractory, echo of the carrying channel, hold).

Scoring (:func:`nab_logo.logo_by_fold`): per held-out category, the prior learnt on the other
three, the thresholds chosen on their rows, the held-out files scored; pooled over the 35 files.
At the fixed alarm grade every file carries its own held-out fold's prior. Also: the config, the
grid {config, P1, P2} chosen out of fold, the ladder's two half-step shifts, and each variant's
rate of left-out null rows at p <= 0.001 per age band. Final line: JSON.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.quality.nab import nab_file  # noqa: E402
from benchmarks.quality.nab_fixed import FIXED_PS, SHIFTS, fixed_report  # noqa: E402
from benchmarks.quality.nab_ladder import LADDERS, OfflineCorpus, bonferroni, corpus_from_cli  # noqa: E402
from benchmarks.quality.nab_logo import category_of, logo_by_fold  # noqa: E402
from benchmarks.quality.nab_members import echo_horizons, event_scores  # noqa: E402
from twin_models.anomaly.event_gate import ALARM_P  # noqa: E402
from twin_models.evaluate.scoring import PROFILES, NabFile, label_rows, nab_score, window_rows  # noqa: E402

BANDS = (288, 2016, 8064)  # rows scored before: a day, a week, the pattern memory (4 weeks) full
PRIOR_K = 20  # order statistics behind the proportional tail (the detector's tail_k)
BLEND_ROWS = 8064  # P3: rows scored after which a file relies on its own p alone (the pattern memory)
VARIANTS = ("P1 pooled min-p", "P2 per channel", f"P3 blend N={BLEND_ROWS}", "P3 blend N=2016")


def age_bands(n_rows: int, warmup: int) -> np.ndarray:
    """Per row: its age band (0 .. len(BANDS)) by rows scored before it; -1 in the warm-up."""
    age = np.arange(n_rows) - warmup
    return np.where(age < 0, -1, np.searchsorted(np.asarray(BANDS), age, side="right"))


class PooledNull:
    """Null values pooled across series, per age band; calibrated p-values of new values.

    >>> null = PooledNull({0: np.linspace(0.001, 1.0, 1000)})
    >>> [round(float(x), 4) for x in null.p(np.array([0.5, 0.01, 0.0001]), np.array([0, 0, 0]))]
    [0.5005, 0.0105, 0.0001]
    """

    def __init__(self, by_band: Mapping[int, np.ndarray], k: int = PRIOR_K) -> None:
        self.k = k
        self.sorted = {b: np.sort(np.asarray(v, dtype=float)) for b, v in by_band.items() if len(v) >= k}
        if not self.sorted:
            msg = f"no age band has {k} null rows"
            raise ValueError(msg)

    def band_of(self, band: int) -> int:
        """The band whose null is used: ``band``, else the nearest younger one with enough rows
        (the youngest known when none is younger)."""
        younger = [b for b in self.sorted if b <= band]
        return max(younger) if younger else min(self.sorted)

    def p(self, s: np.ndarray, bands: np.ndarray) -> np.ndarray:
        """Calibrated p of each value ``s`` in its band (rows of band -1, the warm-up, keep ``s``)."""
        out = np.asarray(s, dtype=float).copy()
        for band in np.unique(bands[bands >= 0]):
            null = self.sorted[self.band_of(int(band))]
            n = null.size
            sel = bands == band
            x = out[sel]
            f = (np.searchsorted(null, x, side="right") + 1.0) / (n + 1.0)
            knot = max(float(null[self.k - 1]), 1e-300)
            f_knot = (np.searchsorted(null, knot, side="right") + 1.0) / (n + 1.0)
            out[sel] = np.where(x < knot, f_knot * x / knot, f)
        return np.minimum(out, 1.0)


def null_mask(f: NabFile, warmup: int) -> np.ndarray:
    """The file's scored rows outside its labelled windows."""
    lab = label_rows(len(f.timestamps), window_rows(f.timestamps, f.windows))
    mask = lab == 0
    mask[:warmup] = False
    return mask


def blend(fleet: np.ndarray, own: np.ndarray, warmup: int, rows: int) -> np.ndarray:
    """P3: ``(1 - w) fleet + w own``, ``w = min(1, n / rows)``, ``n`` the rows scored before each
    row (the warm-up's rows keep ``own``): the fleet's null CDF and the file's own, mixed by the
    file's history."""
    n = np.arange(len(own)) - warmup
    w = np.clip(n / rows, 0.0, 1.0)
    return np.where(n < 0, own, (1.0 - w) * fleet + w * own)


class Prior:
    """The fleet prior of one variant, learnt on a set of files' null rows."""

    def __init__(self, variant: str, ch: Mapping[str, np.ndarray], masks: Mapping[str, np.ndarray],
                 bands: Mapping[str, np.ndarray], train: Sequence[str]) -> None:
        self.variant = variant
        k_ch = next(iter(ch.values())).shape[1]
        cols: list[Callable[[np.ndarray], np.ndarray]] = (
            [lambda x: x.min(axis=1)] if variant != VARIANTS[1]
            else [lambda x, j=j: x[:, j] for j in range(k_ch)])  # type: ignore[misc]
        self.cols = cols
        self.nulls = [PooledNull({b: np.concatenate([col(ch[key])[masks[key] & (bands[key] == b)]
                                                     for key in train])
                                  for b in range(len(BANDS) + 1)})
                      for col in cols]

    def row_p(self, x: np.ndarray, bands: np.ndarray, warmup: int) -> tuple[np.ndarray, np.ndarray]:
        """(the row p-values, the calibrated channels whose argmin carries the echo)."""
        if self.variant == VARIANTS[0]:
            return self.nulls[0].p(self.cols[0](x), bands), x
        if self.variant.startswith("P3"):
            return blend(self.nulls[0].p(self.cols[0](x), bands), bonferroni(x), warmup,
                         int(self.variant.rsplit("=", 1)[1])), x
        cal = np.stack([null.p(col(x), bands) for null, col in zip(self.nulls, self.cols, strict=True)],
                       axis=1)
        return bonferroni(cal), cal


def _cells(scores: Mapping[str, float]) -> str:
    return " / ".join(f"{v:.2f}" for v in scores.values())


def evaluate_ladder(corpus: OfflineCorpus, labels: Mapping[str, Any], scales: Sequence[tuple[int, int]],
                    full: bool) -> dict[str, Any]:
    """The config and both variants on one ladder: dev, out of fold, fixed p (``full``: every
    fixed level, false-row counts out of fold, null rates per band, the grid chosen out of fold)."""
    nov, warmup, series = corpus.nov, corpus.warmup, corpus.series
    ch = corpus.channels(scales)
    lengths = [m for m, _ in scales]
    hold = min(lengths) if nov.hold else 0
    base = {key: nab_file(c, f, secs, np.zeros(len(secs)), labels)
            for key, (c, f, (_, _, secs)) in series.items()}
    masks = {key: null_mask(b, warmup) for key, b in base.items()}
    bands = {key: age_bands(len(b.timestamps), warmup) for key, b in base.items()}
    cats = sorted({category_of(k) for k in series})

    Made = tuple[list[NabFile], dict[str, np.ndarray]]  # rows, and each file's row p-values

    def rows(p_of: Callable[[str], tuple[np.ndarray, np.ndarray]]) -> Made:
        out, ps = [], {}
        for key, b in base.items():
            p, carry = p_of(key)
            hor = echo_horizons(carry, lengths) if nov.echo else None
            ps[key] = p
            scores = event_scores(p, nov.refractory, warmup, hor, hold)
            out.append(NabFile(b.name, b.timestamps, scores, b.windows))
        return out, ps

    config_rows, config_p = rows(lambda k: (bonferroni(ch[k]), ch[k]))
    made: dict[tuple[str, str], Made] = {}

    def variant_rows(variant: str, held_out: str) -> Made:
        if (variant, held_out) not in made:
            prior = Prior(variant, ch, masks, bands, [k for k in series if category_of(k) != held_out])
            made[(variant, held_out)] = rows(lambda k: prior.row_p(ch[k], bands[k], warmup))
        return made[(variant, held_out)]

    out: dict[str, Any] = {}
    left_p: dict[str, dict[str, np.ndarray]] = {"config": config_p}
    for name in ("config", *VARIANTS):
        def runs_for(c: str, name: str = name) -> dict[str, list[NabFile]]:
            return {name: config_rows if name == "config" else variant_rows(name, c)[0]}
        folds, pooled = logo_by_fold(runs_for)
        left = ({f.name: f for f in config_rows} if name == "config" else
                {f.name: f for c in cats for f in variant_rows(name, c)[0] if category_of(f.name) == c})
        left_rows = [left[k] for k in series]
        dev_rows = config_rows if name == "config" else variant_rows(name, "")[0]
        res: dict[str, Any] = {
            "dev": {p: round(r.score, 2) for p, r in nab_score(dev_rows).items()},
            "out_of_fold": pooled,
            "held_out": {f.held_out: f.scores["standard"] for f in folds},
            "fixed": {str(p): fixed_report(left_rows, p) for p in (FIXED_PS if full else (ALARM_P,))},
        }
        if full:
            counts = {x: 0 for x in ("tp", "fn", "fp")}
            for f in folds:
                test = [r for r in runs_for(f.held_out)[name] if category_of(r.name) == f.held_out]
                per = nab_score(test, thresholds=f.thresholds)["standard"].per_file
                for x in counts:
                    counts[x] += int(sum(v[x] for v in per.values()))
            res["out_of_fold_counts"] = counts
            if name != "config":
                left_p[name] = {k: p for c in cats for k, p in variant_rows(name, c)[1].items()
                                if category_of(k) == c}
        fx = res["fixed"][str(ALARM_P)]
        print(f"  {name:18s} dev {_cells(res['dev'])} | out of fold {_cells(pooled)} | "
              f"fixed p <= {ALARM_P:g} {_cells(fx['pooled'])} {fx['counts']}"
              + (f" | oof counts {res['out_of_fold_counts']}" if full else ""), flush=True)
        print(f"  {'':18s} held out (std): {res['held_out']}", flush=True)
        out[name] = res
    if full:
        out["null_rate_p<=0.001_per_1000"] = {
            name: {f"band {b}": round(1000.0 * float(np.mean(np.concatenate(
                [ps[k][masks[k] & (bands[k] == b)] for k in series]) <= ALARM_P)), 2)
                for b in range(len(BANDS) + 1)} for name, ps in left_p.items()}
        print(f"  left-out null rows at p <= {ALARM_P:g}, per 1000, per age band: "
              f"{out['null_rate_p<=0.001_per_1000']}")
        grid_folds, grid_pooled = logo_by_fold(lambda c: {
            "config": config_rows, **{v: variant_rows(v, c)[0] for v in VARIANTS}})
        out["grid"] = {"pooled": grid_pooled, "chosen": {f.held_out: f.candidate for f in grid_folds}}
        print(f"  grid chosen out of fold: {out['grid']}")
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """The config and both variants on the config's ladder (everything) and its two shifts."""
    start = time.perf_counter()
    _, corpus, labels = corpus_from_cli("nab_prior", __doc__.splitlines()[0], argv)
    ladders = {"config": tuple(tuple(s) for s in corpus.nov.scales), **{s: LADDERS[s] for s in SHIFTS}}
    summary: dict[str, Any] = {"bands": BANDS, "k": PRIOR_K, "profiles": list(PROFILES), "ladders": {}}
    for lname, scales in ladders.items():
        print(f"\nladder {lname}", flush=True)
        summary["ladders"][lname] = evaluate_ladder(corpus, labels, scales, full=lname == "config")
    summary["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
