"""NAB with scales stated by a rule: a geometric ladder of subsequence lengths, all used at once.

Run: ``.venv/bin/python benchmarks/quality/nab_ladder.py [--data DIR] [--config FILE]
[--cache-dir DIR] [--ladders NAME ...] [--no-progress]``

Round 10 (NAB6) showed that the novelty scales of ``configs/nab.toml`` were chosen on the 35 files:
chosen out of fold they score 65.24 left-out, not 70.58. This harness scores scale sets that need
no choice: every rung of a geometric ladder ``m = m0 * 2^j`` (a priori bounds, see
:data:`LADDERS`), each seen in ``d`` = the largest divisor of ``m`` not above 8 segments (the same
resolution at every length). The rungs' p-values are combined by a rule that does not punish many
rungs (:data:`COMBINERS`), event mode as the config's (refractory, echo of the carrying rung, an
alarm hold of the shortest rung's length), and the rows go to NAB's scorer and to
:func:`nab_logo.logo` (thresholds chosen on three categories, scored on the fourth).

Each rung's channel is computed once per file (the novelty detector's own
:class:`~twin_models.anomaly.novelty.SubsequenceNovelty`, with the value tails' resolution floor,
in the twin's prequential order: score the row, then learn it) and cached by rung, so ladders that
share rungs share the work; the value tails are computed once. With the config's scales this gives
the novelty detector's channels exactly (checked against ``nab_members.py``'s cache when present).
Final line: JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.quality.nab import DEFAULT_CONFIG, nab_file, read_nab_csv  # noqa: E402
from benchmarks.quality.nab_logo import chosen_out_of_fold  # noqa: E402
from benchmarks.quality.nab_members import _cached, echo_horizons, event_scores, offline_inputs, report  # noqa: E402
from twin_models.anomaly.calibration import EmpiricalTail  # noqa: E402
from twin_models.anomaly.novelty import SubsequenceNovelty  # noqa: E402
from twin_models.evaluate.scoring import NabFile  # noqa: E402

WEEK = 7 * 288  # one week of NAB's 5-minute rows
MAX_SEGMENTS = 8  # every rung is seen at the same resolution: at most 8 PAA segments


def segments(m: int) -> int:
    """The largest divisor of ``m`` not above :data:`MAX_SEGMENTS`."""
    return max(d for d in range(1, min(m, MAX_SEGMENTS) + 1) if m % d == 0)


def sqrt_segments(m: int) -> int:
    """The smallest divisor of ``m`` not below ``sqrt(m)``: as many segments as rows per segment."""
    return min(d for d in range(1, m + 1) if m % d == 0 and d * d >= m)


def ladder(m0: int, top: int = WEEK, rule: Callable[[int], int] = segments) -> tuple[tuple[int, int], ...]:
    """Rungs ``m0 * 2^j`` up to the first one reaching ``top`` rows, ``d = rule(m)`` segments each."""
    out = []
    m = m0
    while True:
        out.append((m, rule(m)))
        if m >= top:
            return tuple(out)
        m *= 2


def half_octave(m0: int, rule: Callable[[int], int] = segments) -> tuple[tuple[int, int], ...]:
    """The ladders from ``m0`` and from ``1.5 m0`` together (rungs sqrt(2) apart on average)."""
    m1 = 3 * m0 // 2
    return tuple(sorted(set(ladder(m0, rule=rule)) | set(ladder(m1, rule=rule))))


# stated before scoring (RESULTS.md, NAB7): the rule, and its shifts by half a step either way
LADDERS: dict[str, tuple[tuple[int, int], ...]] = {
    "ladder 8..2048": ladder(8),
    "ladder x1.5 (12..3072)": ladder(12),
    "ladder x0.75 (6..3072)": ladder(6),
    # rule 3, stated after rule 1's scores (see RESULTS.md): d ~ sqrt(m)
    "sqrt ladder 8..2048": ladder(8, rule=sqrt_segments),
    "sqrt ladder x1.5 (12..3072)": ladder(12, rule=sqrt_segments),
    "sqrt ladder x0.75 (6..3072)": ladder(6, rule=sqrt_segments),
    # rule 4, stated after rules 1 and 2: both shifts of an octave ladder at once
    "half-octave 8..3072": half_octave(8),
    "half-octave x1.5 (12..3072)": half_octave(12),
    "half-octave x0.75 (6..3072)": half_octave(6),
    "sqrt half-octave 8..3072": half_octave(8, sqrt_segments),
    "sqrt half-octave x1.5 (12..3072)": half_octave(12, sqrt_segments),
    "sqrt half-octave x0.75 (6..3072)": half_octave(6, sqrt_segments),
}


def bonferroni(p: np.ndarray) -> np.ndarray:
    """The smallest p-value times the number of channels (valid under any dependence)."""
    return np.minimum(1.0, p.min(axis=1) * p.shape[1])


def harmonic(p: np.ndarray) -> np.ndarray:
    """Harmonic mean of the channels' p-values times ``e ln K`` (Vovk and Wang's valid merging
    bound under any dependence); channels not yet scored (p = 1) count as 1."""
    k = p.shape[1]
    hm = k / np.sum(1.0 / np.maximum(p, 1e-300), axis=1)
    return np.minimum(1.0, hm * math.e * math.log(k))


def cauchy(p: np.ndarray) -> np.ndarray:
    """Cauchy combination (Liu and Xie 2020) over the channels scored so far (p < 1), the two value
    tails as one two-sided test; a row with no scored channel has p = 1."""
    tails = np.minimum(1.0, 2.0 * p[:, :2].min(axis=1, keepdims=True))
    q = np.concatenate([tails, p[:, 2:]], axis=1)
    scored = q < 1.0
    q = np.clip(q, 1e-300, 1.0 - 1e-12)
    t = np.where(scored, 1.0 / np.tan(np.pi * q), 0.0)  # tan((0.5 - p) pi), exact for small p
    n = scored.sum(axis=1)
    stat = t.sum(axis=1) / np.maximum(n, 1)
    # P(Cauchy > stat): arctan form, and 1 / (pi stat) where it underflows
    out = np.where(stat > 1e12, 1.0 / (np.pi * np.maximum(stat, 1e12)), 0.5 - np.arctan(stat) / np.pi)
    return np.where(n > 0, np.clip(out, 1e-300, 1.0), 1.0)


def min_p_effective(p: np.ndarray, warmup: int, level: float = 0.01) -> np.ndarray:
    """The smallest p times the effective number of tests, estimated from the file's own past rows:
    how often the smallest p fell at or below ``level``, over ``level`` (1 to K; K until 100 rows
    have been scored). ``level`` 0.01: the smallest level a few hundred rows estimate."""
    k = p.shape[1]
    mp = p.min(axis=1)
    hits = np.concatenate([[0], np.cumsum(mp <= level)[:-1]])  # rows before this one (none in warm-up)
    seen = np.maximum(0, np.arange(len(mp)) - warmup)
    rate = np.where(seen >= 100, hits / np.maximum(seen, 1) / level, k)
    return np.minimum(1.0, mp * np.clip(rate, 1.0, k))


COMBINERS: dict[str, Callable[..., np.ndarray]] = {
    "bonferroni": lambda p, w: bonferroni(p),
    "harmonic": lambda p, w: harmonic(p),
    "cauchy": lambda p, w: cauchy(p),
    "min-p x effective tests": min_p_effective,
}


def tail_channels(values: Sequence[float], warmup: int, value_history: int, tail_k: int,
                  resolution: float, make: Callable[..., EmpiricalTail] = EmpiricalTail) -> np.ndarray:
    """Per row: the value tails' p-values (upper, lower) and the resolution floor of the scales
    (the tails as ``make``, a variant of :class:`EmpiricalTail` with its arguments, computes them)."""
    tail = make(window=value_history, k=tail_k)
    out = np.ones((len(values), 3))
    out[:, 2] = 0.0
    for i, v in enumerate(values):
        if i >= warmup and i > 0:
            spread = tail.quantile(0.95) - tail.quantile(0.05) if tail.n else 0.0
            floor = resolution * spread if math.isfinite(spread) else 0.0
            out[i] = (tail.upper(v, floor), tail.lower(v, floor), floor)
        tail.learn_one(v)
    return out


def rung_channel(values: Sequence[float], floors: np.ndarray, warmup: int, m: int, d: int,
                 history: int, tail_k: int,
                 novelty: Callable[..., SubsequenceNovelty] = SubsequenceNovelty) -> np.ndarray:
    """Per row: the p-value of the scale ``(m, d)`` as the novelty detector computes it (or as
    ``novelty``, a variant of :class:`SubsequenceNovelty` with its arguments, does)."""
    sub = novelty(m, d, history, k=tail_k)
    out = np.ones(len(values))
    for i, v in enumerate(values):
        vec = sub.vector(v)
        dist = sub.distances(vec) if vec is not None and sub.n else None
        if i >= warmup and i > 0:
            out[i] = sub.p_value(dist, float(floors[i]))[1]
        sub.learn(v, vec, dist)
    return out



TAIL_K, RESOLUTION = 20, 0.005  # the novelty detector's defaults (the NAB config keeps them)


class OfflineCorpus:
    """The corpus's series read once, and their channels computed per file and cached
    (``_cached``: one ``.npz`` per key in ``--cache-dir``), shared by the offline harnesses
    (this one and ``nab_fixed.py``)."""

    def __init__(self, cfg: Any, cache: Any, root: Path, files: Sequence[tuple[str, Path]],
                 progress: bool) -> None:
        self.cache, self.progress = cache, progress
        self.warmup, self.nov = cfg.twin.warmup_windows, cfg.twin.novelty
        self.series = {f"{c}/{f.name}": (c, f, read_nab_csv(f)) for c, f in files}
        self.vals = {k: [float(v) for v in s[2][1]] for k, s in self.series.items()}
        self.root_key = str(root.resolve())
        self.tails = self.cached(["tails", self.warmup, self.nov.value_history, TAIL_K, RESOLUTION],
                                 lambda k: tail_channels(self.vals[k], self.warmup, self.nov.value_history,
                                                         TAIL_K, RESOLUTION), "value tails")

    def cached(self, key: list[Any], fn: Callable[[str], np.ndarray], what: str) -> dict[str, np.ndarray]:
        """``fn`` of every file, from the cache when ``key`` (+ the corpus folder) is there."""
        def run() -> dict[str, np.ndarray]:
            t0 = time.perf_counter()
            out = {k: fn(k) for k in self.series}
            if self.progress:
                print(f"    {what}: {time.perf_counter() - t0:.0f} s", flush=True)
            return out
        return _cached(self.cache, json.dumps([*key, self.root_key]), run)

    def rung(self, m: int, d: int) -> dict[str, np.ndarray]:
        """One novelty rung's channel (``m`` rows in ``d`` segments) for every file."""
        return self.cached(["rung", self.warmup, m, d, self.nov.history, TAIL_K, RESOLUTION],
                           lambda k: rung_channel(self.vals[k], self.tails[k][:, 2], self.warmup, m, d,
                                                  self.nov.history, TAIL_K), f"rung {m}x{d}")

    def channels(self, scales: Sequence[tuple[int, int]]) -> dict[str, np.ndarray]:
        """Per file: the two value tails, then one column per rung of ``scales`` (the detector's
        channel order)."""
        rungs = [self.rung(m, d) for m, d in scales]
        return {k: np.concatenate([self.tails[k][:, :2], *(r[k][:, None] for r in rungs)], axis=1)
                for k in self.series}


def rung_on(values: Sequence[float], warmup: int, m: int, d: int,
            novelty: Callable[..., SubsequenceNovelty] = SubsequenceNovelty,
            history: int = 4000) -> np.ndarray:
    """One rung's p per row of one series, its floor from value tails that remember every value
    (the config's ``TAIL_K`` and ``RESOLUTION``): a variant's rung beside today's, for the tests."""
    floors = tail_channels(values, warmup, 10**6, TAIL_K, RESOLUTION)[:, 2]
    return rung_channel(values, floors, warmup, m, d, history, TAIL_K, novelty)


def variant_rungs(corpus: OfflineCorpus, tag: str, novelty: Callable[..., SubsequenceNovelty]
                  ) -> dict[str, np.ndarray]:
    """Per file: the config's value tails, then one column per rung of the config's ladder computed
    by ``novelty`` (a variant of :class:`SubsequenceNovelty`) on the raw values, cached under ``tag``."""
    nov, warmup = corpus.nov, corpus.warmup
    rungs = [corpus.cached([tag, warmup, m, d, nov.history, TAIL_K, RESOLUTION],
                           lambda k, m=m, d=d: rung_channel(corpus.vals[k], corpus.tails[k][:, 2], warmup,
                                                            m, d, nov.history, TAIL_K, novelty),
                           f"{tag} {m}x{d}") for m, d in nov.scales]
    return {k: np.concatenate([corpus.tails[k][:, :2], *(r[k][:, None] for r in rungs)], axis=1)
            for k in corpus.series}


def corpus_from_cli(prog: str, description: str, argv: list[str] | None, flags: Sequence[tuple[str, str]] = ()
                    ) -> tuple[argparse.Namespace, OfflineCorpus, dict[str, Any]]:
    """The offline harnesses' command line (``--data``, ``--config``, ``--cache-dir``,
    ``--no-progress`` and the on/off ``flags``, each ``(flag, help)``), their corpus and labels; a
    bad path or config is one line and exit 2 (:func:`offline_inputs`)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--data", help="datasets dir or NAB dir (default: $TWIN_DATASETS or ../shared/datasets)")
    ap.add_argument("--config", default=str(DEFAULT_CONFIG), help="benchmark TOML (event mode, scales)")
    ap.add_argument("--cache-dir", help="per-rung channel p-values (reused when present)")
    for flag, text in flags:
        ap.add_argument(flag, action="store_true", help=text)
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    cfg, cache, root, files, labels = offline_inputs(prog, args.config, args.data, args.cache_dir)
    return args, OfflineCorpus(cfg, cache, root, files, progress=not args.no_progress), labels


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Every ladder with every combiner: dev and left-out; the ladders as one out-of-fold grid."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="datasets dir or NAB dir (default: $TWIN_DATASETS or ../shared/datasets)")
    p.add_argument("--config", default=str(DEFAULT_CONFIG), help="benchmark TOML (event mode, memories)")
    p.add_argument("--cache-dir", help="per-rung channel p-values (reused when present)")
    p.add_argument("--ladders", nargs="+", choices=list(LADDERS), default=list(LADDERS))
    p.add_argument("--combiners", nargs="+", choices=list(COMBINERS), default=list(COMBINERS))
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    start = time.perf_counter()
    cfg, cache, root, files, labels = offline_inputs("nab_ladder", args.config, args.data, args.cache_dir)
    corpus = OfflineCorpus(cfg, cache, root, files, progress=not args.no_progress)
    warmup, nov, series, tails = corpus.warmup, corpus.nov, corpus.series, corpus.tails
    rungs: dict[tuple[int, int], dict[str, np.ndarray]] = {}
    for scales in (LADDERS[n] for n in args.ladders):
        for m, d in scales:
            if (m, d) not in rungs:
                rungs[(m, d)] = corpus.rung(m, d)
    summary: dict[str, Any] = {"refractory": nov.refractory, "echo": nov.echo, "ladders": {}}
    every: dict[str, list[NabFile]] = {}
    for lname in args.ladders:
        scales = LADDERS[lname]
        lengths = [m for m, _ in scales]
        hold = min(lengths) if nov.hold else 0  # the config's rule: the shortest scale's length
        runs: dict[str, list[NabFile]] = {}
        for cname in args.combiners:
            rows = []
            for key, (c, f, (_, _, secs)) in series.items():
                ch = np.concatenate([tails[key][:, :2], *(rungs[s][key][:, None] for s in scales)], axis=1)
                pr = COMBINERS[cname](ch, warmup)
                hor = echo_horizons(ch, lengths) if nov.echo else None
                rows.append(nab_file(c, f, secs, event_scores(pr, nov.refractory, warmup, hor, hold), labels))
            runs[f"{cname}"] = rows
            every[f"{lname} {cname}"] = rows
        summary["ladders"][lname] = {"scales": scales, "hold": hold, **report(lname, runs)}
    grids = {f"ladders with {c}": {k: v for k, v in every.items() if k.endswith(" " + c)}
             for c in args.combiners}
    grids["every ladder and combination"] = every
    for gname, grid in grids.items():
        if len(grid) > 1:
            summary[gname] = got = chosen_out_of_fold(grid)
            print(f"{gname}, chosen out of fold: {got['chosen']}; pooled left-out {got['pooled']}")
    summary["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
