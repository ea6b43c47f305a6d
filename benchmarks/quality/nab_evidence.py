"""NAB with accumulated evidence: Page's CUSUM of the rows' ``-ln p``, calibrated a priori.

Run: ``.venv/bin/python benchmarks/quality/nab_evidence.py [--data DIR] [--config FILE]
[--cache-dir DIR] [--no-progress]``

Issue 13, round 22 (NAB22). The config's rows are scored exactly as the novelty detector does
(value tails and every rung of the ladder, Bonferroni), then each variant turns the row p-values
into new ones with :mod:`benchmarks.quality.nab_cusum` (stated before any was scored):

- ``cusum k=1``: the CUSUM alone, ``k = 1`` (the null mean of ``-ln p``); a row's p is
  ``1 / ARL0(S)``, ``S`` its CUSUM, ``ARL0`` the null run length (Exp(1) increments);
- ``cusum k=A``: the same with ``k`` derived from the alarm grade's run length 1000
  (:func:`~benchmarks.quality.nab_cusum.reference_for`: 2.26);
- ``either k=1`` / ``either k=A``: the smaller of the row's own p and the CUSUM's, Bonferroni
  over the two (each rule gets half the false-alarm budget).

The CUSUM restarts after an alarm-grade report (Page's procedure), then the config's event mode
(refractory, echo, hold) runs on the new p-values (round 22's detector option ``evidence``, branch
``r22/nab22``, did the same; it was not merged, and this harness is all that main keeps of it).
Every variant is scored in both regimes (the fixed alarm grade p <= 0.001 and the thresholds
chosen out of fold, :func:`nab_fixed.evaluate`), on the config's ladder and its two half-step
shifts. Channels come from the same cache as ``nab_ladder.py``. Final line: JSON.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.quality.nab import _epoch, nab_file  # noqa: E402
from benchmarks.quality.nab_cusum import EvidenceCusum, combine, reference_for, threshold_for  # noqa: E402
from benchmarks.quality.nab_fixed import SHIFTS, evaluate  # noqa: E402
from benchmarks.quality.nab_ladder import LADDERS, OfflineCorpus, bonferroni, corpus_from_cli  # noqa: E402
from benchmarks.quality.nab_logo import chosen_out_of_fold  # noqa: E402
from benchmarks.quality.nab_members import echo_horizons, event_scores  # noqa: E402
from twin_models.anomaly.event_gate import ALARM_P, ALARM_SURPRISE, is_held  # noqa: E402
from twin_models.evaluate.scoring import NabFile  # noqa: E402

K_ALARM = reference_for(1.0 / ALARM_P)
VARIANTS: dict[str, tuple[str, float] | None] = {
    "config (evidence off)": None,
    "cusum k=1": ("cusum", 1.0),
    f"cusum k={K_ALARM:.2f}": ("cusum", K_ALARM),
    "either k=1": ("either", 1.0),
    f"either k={K_ALARM:.2f}": ("either", K_ALARM),
}

# scores_of(channels, lengths, echo horizons, hold, variant, file key): one file's event-mode scores
ScoresOf = Callable[[np.ndarray, Sequence[int], np.ndarray | None, int, Any, str], np.ndarray]


def restarting_event_scores(n: int, refractory: int, warmup: int, horizon: np.ndarray | None, hold: int,
                            peek: Callable[[int], tuple[float, Any]], commit: Callable[[Any], None],
                            reset: Callable[[], None]) -> np.ndarray:
    """The detector's event mode on p-values made row by row by an accumulator: ``peek(i)`` gives
    row ``i``'s p and the accumulator's new state, kept by ``commit`` unless the row is an
    alarm-grade report, after which ``reset`` restarts it (Page's procedure)."""
    out = np.zeros(n)
    sur = np.zeros(n)
    last_alarm = -1
    for i in range(warmup, n):
        q, new = peek(i)
        sur[i] = -math.log10(max(q, 1e-300))
        back = refractory + (int(horizon[i]) if horizon is not None else 0)
        prev = sur[max(warmup, i - back): i].max(initial=0.0) if refractory > 0 else -1.0
        news = sur[i] > prev and not (refractory > 0 and is_held(i, last_alarm, hold))
        if news:
            out[i] = 1.0 - q
        if news and sur[i] >= ALARM_SURPRISE:
            last_alarm = i
            reset()
        else:
            commit(new)
    return out


def evidence_event_scores(p: np.ndarray, refractory: int, warmup: int, horizon: np.ndarray | None,
                          hold: int, mode: str, k: float) -> np.ndarray:
    """The detector's event mode on p-values turned into evidence p-values row by row (the CUSUM
    restarts after each alarm-grade report); round 22's detector with ``evidence = mode``."""
    cus = EvidenceCusum(k)

    def peek(i: int) -> tuple[float, float]:
        s_new = cus.peek(float(p[i]))
        return combine(float(p[i]), cus.p_value(s_new), mode), s_new

    return restarting_event_scores(len(p), refractory, warmup, horizon, hold, peek, cus.commit, cus.reset)


def null_check(name: str, xs: Sequence[np.ndarray]) -> dict[str, Any]:
    """How far the rows' ``-ln p`` (one array per file) are from the CUSUM's null (i.i.d. Exp(1)):
    mean, tail rates, lag-1 autocorrelation (mean over files), and each reference value's raw
    alarms per 1000 rows at its a-priori ``h`` (ARL0 1000; restart after each alarm; no event mode)."""
    x = np.concatenate(xs)
    ac = [float(np.corrcoef(a[:-1], a[1:])[0, 1]) for a in xs if len(a) > 10 and a.std() > 0]
    out: dict[str, Any] = {
        "rows": int(len(x)), "mean": round(float(x.mean()), 3),
        **{f"p<={p:g}": round(float(np.mean(x >= -math.log(p))), 4) for p in (0.001, 0.01, 0.1)},
        "p=1": round(float(np.mean(x == 0.0)), 3), "lag1": round(float(np.mean(ac)), 3)}
    for k in (1.0, K_ALARM):
        h, alarms = threshold_for(1.0 / ALARM_P, k), 0
        for a in xs:
            s = 0.0
            for v in a:
                s = max(0.0, s + float(v) - k)
                if s >= h:
                    alarms, s = alarms + 1, 0.0
        out[f"alarms per 1000 rows, k={k:.2f}"] = round(1000.0 * alarms / max(len(x), 1), 2)
    print(f"  {name}: {out}")
    return out


def first_window_row(secs: Sequence[float], windows: Sequence[Any]) -> int | None:
    """The row of a file's first labelled window (``None``: a file with no window)."""
    if not windows:
        return None
    return int(np.searchsorted(np.asarray(secs, dtype=float), _epoch(windows[0][0])))


def score_variants(corpus: OfflineCorpus, labels: Mapping[str, Any], variants: Mapping[str, Any],
                   scores_of: ScoresOf,
                   summary: dict[str, Any]) -> None:
    """Every variant (``None``: evidence off, the config's event mode) on the config's ladder and
    its two half-step shifts, in both regimes, and the variant chosen out of fold per ladder, into
    ``summary``; ``scores_of(channels, lengths, echo horizons, hold, variant, file key)`` scores one
    file."""
    nov, warmup = corpus.nov, corpus.warmup
    ladders = {"config": tuple(tuple(s) for s in nov.scales), **{s: LADDERS[s] for s in SHIFTS}}
    for lname, scales in ladders.items():
        ch = corpus.channels(scales)
        lengths = [m for m, _ in scales]
        hold = min(lengths) if nov.hold else 0
        runs: dict[str, list[NabFile]] = {}
        for vname, variant in variants.items():
            rows = []
            for key, (c, f, (_, _, secs)) in corpus.series.items():
                hor = echo_horizons(ch[key], lengths) if nov.echo else None
                if variant is None:
                    scores = event_scores(bonferroni(ch[key]), nov.refractory, warmup, hor, hold)
                else:
                    scores = scores_of(ch[key], lengths, hor, hold, variant, key)
                rows.append(nab_file(c, f, secs, scores, labels))
            name = vname if lname == "config" else f"{vname}, {lname}"
            runs[vname] = rows
            summary["runs"][name] = evaluate(name, rows)
        # the variant (evidence off included) chosen on three categories, scored on the fourth
        got = summary.setdefault("chosen_out_of_fold", {})[lname] = chosen_out_of_fold(runs)
        print(f"\nvariant chosen out of fold, {lname}: pooled {got['pooled']}; chosen {got['chosen']}")




def member_main(prog: str, description: str, argv: list[str] | None, name: str, share: float,
                member_of: Callable[[OfflineCorpus], Mapping[str, np.ndarray]],
                summary: dict[str, Any]) -> dict[str, Any]:
    """A member harness's run: the command line and corpus (:func:`corpus_from_cli`), the member's
    p-values per file (``member_of(corpus)``), scored given ``share`` of the alarm budget (``<name>
    90/10``: ``p' = min(1, p / (1 - share), p_member / share)``) and alone (``<name> alone``, a
    diagnostic) beside the config (:func:`score_variants`), how often the member's p is at most
    0.0001 on all scored rows; ``summary`` completed, its JSON the final line."""
    start = time.perf_counter()
    _, corpus, labels = corpus_from_cli(prog, description, argv)
    nov, warmup = corpus.nov, corpus.warmup
    member = member_of(corpus)

    def scores_of(x: np.ndarray, lengths: Sequence[int], hor: np.ndarray | None, hold: int, variant: str,
                  key: str) -> np.ndarray:
        q = member[key] if variant == "alone" else np.minimum(
            1.0, np.minimum(bonferroni(x) / (1.0 - share), member[key] / share))
        return event_scores(q, nov.refractory, warmup, hor, hold)

    variants = {"config": None, f"{name} {round(100 * (1 - share))}/{round(100 * share)}": "split",
                f"{name} alone": "alone"}
    summary.setdefault("runs", {})
    score_variants(corpus, labels, variants, scores_of, summary)
    rows_null = np.concatenate([member[k][warmup:] for k in corpus.series])
    summary["member_rate_p<=0.0001"] = round(float(np.mean(rows_null <= 1e-4)), 5)
    print(f"member p <= 0.0001 on all scored rows: {summary['member_rate_p<=0.0001']}")
    summary["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(summary))
    return summary

def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Every variant on the config's ladder and its two shifts, both regimes; the JSON line last."""
    start = time.perf_counter()
    args, corpus, labels = corpus_from_cli("nab_evidence", __doc__.splitlines()[0], argv)
    warmup, nov, series = corpus.warmup, corpus.nov, corpus.series

    ladders = {"config": tuple(tuple(s) for s in nov.scales), **{s: LADDERS[s] for s in SHIFTS}}
    summary: dict[str, Any] = {"k_alarm": K_ALARM, "runs": {}, "null_check": {}}
    ch = corpus.channels(ladders["config"])
    groups: dict[str, list[np.ndarray]] = {"all rows": [], "before the first window": [], "no window": []}
    for key, (c, f, (_, _, secs)) in series.items():
        x = -np.log(np.maximum(bonferroni(ch[key])[warmup:], 1e-300))
        groups["all rows"].append(x)
        first = first_window_row(secs, labels[f"{c}/{f.name}"])
        if first is not None:
            groups["before the first window"].append(x[: max(0, first - warmup)])
        else:
            groups["no window"].append(x)
    print("the config's rows against the CUSUM's null (-ln p i.i.d. Exp(1): mean 1, p<=0.001 rate 0.001, "
          "lag-1 autocorrelation 0, 1 alarm per 1000 rows):")
    for gname, xs in groups.items():
        summary["null_check"][gname] = null_check(gname, xs)
    score_variants(corpus, labels, VARIANTS, lambda x, lengths, hor, hold, v, _: evidence_event_scores(
        bonferroni(x), nov.refractory, warmup, hor, hold, *v), summary)
    summary["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
