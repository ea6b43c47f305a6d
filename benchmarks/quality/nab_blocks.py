"""NAB with dependence-aware evidence: per-rung CUSUMs on non-overlapping segments.

Run: ``.venv/bin/python benchmarks/quality/nab_blocks.py [--data DIR] [--config FILE]
[--cache-dir DIR] [--check-only] [--no-progress]``

Issue 13, round 22 (NAB23). NAB22's CUSUM of the rows' ``-ln p`` assumed independent rows, but a
rung of length ``m`` scores windows that share ``m - 1`` of their values with the row before, so
its p-values come in runs. Here each rung ``j`` of the config's ladder (length ``m_j``) keeps its
own Page CUSUM ``S_j = max(0, S_j - ln p_j - k)`` that takes an increment only every ``s_j`` rows
(``s_j = m_j``: windows that share no value), so its increments are nearly independent and the
Exp(1) null of :mod:`benchmarks.quality.nab_cusum` applies. Calibration, a priori: at an increment
the rung's evidence is worth ``q_j = equivalent_p(S_j, k) / s_j`` (1 at ``S_j = 0`` and between
increments), so ``q_j <= a`` happens at ``a`` per row under the null (``S_j >= h`` with a run length
of ``1 / (a s_j)`` increments); the rungs are combined by Bonferroni, ``q = C min_j q_j`` (``C``
rungs, as the row's p combines its channels), and ``either`` gives the row's own p and ``q`` half
the budget each, ``min(1, 2 min(p, q))``. All CUSUMs restart after an alarm-grade report (Page),
then the config's event mode runs on the new p-values. The value tails stay with the row rule.

Variants, stated before any was scored: ``blocks k=1`` (``s_j = m_j``), ``blocks k=A`` (``k``
the alarm grade's reference value, 2.26), ``half blocks k=1`` (``s_j = m_j / 2``: half-overlapping
windows, a check on how much the spacing matters). Each is scored in both regimes
(:func:`nab_fixed.evaluate`) on the config's ladder and its two half-step shifts, with evidence
off as the base. Before that, the null check: on the rows before each file's first window (and on
artificialNoAnomaly), the raw rate of ``q <= 0.001`` per 1000 rows (nominal 1, restart after each),
each rung's rate of ``q_j <= 0.001 / C`` (nominal ``1 / C``) and the lag-1 autocorrelation of each
rung's sampled ``-ln p``. Channels come from the same cache as ``nab_ladder.py``. Final line: JSON.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.quality.nab_cusum import equivalent_p, reference_for  # noqa: E402
from benchmarks.quality.nab_evidence import first_window_row, restarting_event_scores, score_variants  # noqa: E402
from benchmarks.quality.nab_ladder import bonferroni, corpus_from_cli  # noqa: E402
from twin_models.anomaly.event_gate import ALARM_P  # noqa: E402

K_ALARM = reference_for(1.0 / ALARM_P)
VARIANTS: dict[str, tuple[float, float] | None] = {  # (spacing as a fraction of m, k)
    "config (evidence off)": None,
    "blocks k=1": (1.0, 1.0),
    f"blocks k={K_ALARM:.2f}": (1.0, K_ALARM),
    "half blocks k=1": (0.5, 1.0),
}


class BlockEvidence:
    """One CUSUM per rung, each taking an increment every ``spacings[j]`` rows from ``start``;
    :meth:`peek` gives the rows' evidence p (Bonferroni over the rungs) and the new state."""

    def __init__(self, spacings: Sequence[int], k: float, start: int) -> None:
        self.spacings = [max(1, int(s)) for s in spacings]
        self.k, self.start = float(k), start
        self.s = [0.0] * len(self.spacings)

    def peek(self, i: int, p_rungs: Sequence[float]) -> tuple[float, list[float]]:
        new, q = list(self.s), 1.0
        for j, sp in enumerate(self.spacings):
            if (i - self.start) % sp:
                continue
            new[j] = max(0.0, new[j] - math.log(min(1.0, max(float(p_rungs[j]), 1e-300))) - self.k)
            if new[j] > 0.0:
                q = min(q, equivalent_p(new[j], self.k) / sp)
        return min(1.0, len(self.spacings) * q), new

    def commit(self, new: list[float]) -> None:
        self.s = new

    def reset(self) -> None:
        self.s = [0.0] * len(self.spacings)


def spacings_of(lengths: Sequence[int], fraction: float) -> list[int]:
    return [max(1, int(round(m * fraction))) for m in lengths]


def block_event_scores(ch: np.ndarray, refractory: int, warmup: int, horizon: np.ndarray | None,
                       hold: int, spacings: Sequence[int], k: float, share: float = 0.5,
                       row_p: np.ndarray | None = None) -> np.ndarray:
    """The config's event mode on ``min(1, p / (1 - share), q / share)`` row by row (``p`` the row's
    p, by default its Bonferroni p over all channels; ``q`` the rungs' block evidence; ``share`` the
    evidence's part of the alarm budget: at 0.5 this is ``min(1, 2 min(p, q))``); the CUSUMs restart
    after each alarm-grade report."""
    p = bonferroni(ch) if row_p is None else row_p
    ev = BlockEvidence(spacings, k, warmup)

    def peek(i: int) -> tuple[float, list[float]]:
        q_ev, new = ev.peek(i, ch[i, 2:])
        return min(1.0, float(p[i]) / (1.0 - share), q_ev / share), new

    return restarting_event_scores(len(p), refractory, warmup, horizon, hold, peek, ev.commit, ev.reset)


def null_check(name: str, chs: Sequence[np.ndarray], lengths: Sequence[int]) -> dict[str, Any]:
    """Raw rates (no event mode) of the block evidence on rows that should be null, per 1000 rows:
    ``q <= 0.001`` (nominal 1, all CUSUMs restart after each), each rung's ``q_j <= 0.001 / C``
    (nominal ``1 / C``, its CUSUM restarts after each), and the lag-1 autocorrelation of each rung's
    ``-ln p`` sampled every ``s_j`` rows (mean over files with at least 10 samples)."""
    rows = sum(len(c) for c in chs)
    out: dict[str, Any] = {"rows": rows}
    c_n = len(lengths)
    for vname, variant in VARIANTS.items():
        if variant is None:
            continue
        spacings = spacings_of(lengths, variant[0])
        combined, per_rung = 0, [0] * c_n
        for ch in chs:
            ev = BlockEvidence(spacings, variant[1], 0)
            for i in range(len(ch)):
                q, new = ev.peek(i, ch[i, 2:])
                if q <= ALARM_P:
                    combined += 1
                    ev.reset()
                else:
                    ev.commit(new)
            for j, sp in enumerate(spacings):  # each rung alone
                one = BlockEvidence([sp], variant[1], 0)
                for i in range(0, len(ch), sp):
                    q, new = one.peek(i, ch[i, 2 + j: 3 + j])  # q_j (one rung: no Bonferroni)
                    if q <= ALARM_P / c_n:
                        per_rung[j] += 1
                        one.reset()
                    else:
                        one.commit(new)
        lag = []
        for j, sp in enumerate(spacings):
            acs = []
            for ch in chs:
                x = -np.log(np.maximum(ch[::sp, 2 + j], 1e-300))
                if len(x) >= 10 and x[:-1].std() > 0 and x[1:].std() > 0:
                    acs.append(float(np.corrcoef(x[:-1], x[1:])[0, 1]))
            lag.append(round(float(np.mean(acs)), 2) if acs else None)
        out[vname] = {"q<=0.001 per 1000 rows (nominal 1)": round(1000.0 * combined / max(rows, 1), 3),
                      f"each rung q_j<=0.001/C per 1000 rows (nominal {1 / c_n:.3f})":
                          [round(1000.0 * r / max(rows, 1), 3) for r in per_rung],
                      "lag-1 autocorr. of sampled -ln p per rung": lag}
    print(f"  {name}: {out}")
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """The null check, then every variant on the config's ladder and its two shifts, both regimes;
    the JSON line last."""
    start = time.perf_counter()
    args, corpus, labels = corpus_from_cli("nab_blocks", __doc__.splitlines()[0], argv,
                                           [("--check-only", "the null check alone")])
    warmup, nov, series = corpus.warmup, corpus.nov, corpus.series
    summary: dict[str, Any] = {"k_alarm": K_ALARM, "runs": {}, "null_check": {}}
    ch = corpus.channels(tuple(tuple(s) for s in nov.scales))
    groups: dict[str, list[np.ndarray]] = {"before the first window": [], "no window": []}
    for key, (c, f, (_, _, secs)) in series.items():
        first = first_window_row(secs, labels[f"{c}/{f.name}"])
        if first is not None:
            groups["before the first window"].append(ch[key][warmup: max(warmup, first)])
        else:
            groups["no window"].append(ch[key][warmup:])
    print("the block evidence on rows that should be null (config ladder):")
    for gname, chs in groups.items():
        summary["null_check"][gname] = null_check(gname, chs, [m for m, _ in nov.scales])
    if args.check_only:
        print(json.dumps(summary))
        return summary

    score_variants(corpus, labels, VARIANTS, lambda x, lengths, hor, hold, v, _: block_event_scores(
        x, nov.refractory, warmup, hor, hold, spacings_of(lengths, v[0]), v[1]), summary)
    summary["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
