"""NAB ensembles offline: each member's channel p-values per row, combined, leave-one-category-out.

Run: ``.venv/bin/python benchmarks/quality/nab_members.py [--data DIR] [--config FILE]
[--change-scales JSON] [--cache-dir DIR] [--apriori] [--no-progress]``

Developing an ensemble through the pipeline costs a corpus pass (~2-3 min) per combination. This
harness feeds each NAB file's values, in file order, to the pure members
(:class:`~twin_models.anomaly.novelty.NoveltyDetector` with the config's ``[twin.novelty]`` settings
and warm-up, :class:`~twin_models.anomaly.change.ChangeSeries`) in the twin's prequential order
(score the row, then learn it; nothing scored during the warm-up) and stores every channel's
p-value per row (``--cache-dir``: one ``.npz`` per member and settings, reused). A combination is
then numpy only: the row's p is the smallest p-value of the chosen channels times their number
(Bonferroni, as the novelty detector combines its own), event mode as the detector's (a row
scores ``1 - p`` only if its surprise ``-log10 p`` exceeds every surprise of the previous
``refractory`` rows, plus the echo horizon with the config's ``echo``), and the rows go to
NAB's scorer and to :func:`nab_logo.logo` (thresholds, and the combination when several are
given, chosen on three categories and scored on the fourth).

Faithfulness: with the novelty member alone this reproduces ``nab.py`` (round 8's config,
refractory 300: dev 70.24 / 64.95 / 74.1) and ``nab_logo.py``'s config-alone pooled score
(69.62 / 63.74 / 73.08) to the second decimal: the pipeline's one-row windows give the detector
exactly these values in this order.

Eight grids (nine with ``--apriori``), each candidate alone (dev, and left-out with only the
thresholds out of fold), then the grid as one leave-one-category-out choice (and each candidate's
dev score at one a priori threshold, ``p <= 0.001``, nothing chosen): **members** (``novelty``;
``novelty+change``, every change channel; ``novelty+step``, ``+level``, ``+spread``, one kind),
**refractory** (the novelty detector at 100 ... 1000 rows), **channels** (the novelty detector
without its value tails or without one scale), all three at the config's refractory and echo;
**echo** (the config's refractory, 300 (round 8's), one day of 5-minute rows (288) and one row, each
without and with the echo horizon of :mod:`twin_models.anomaly.event_gate`: the look-back lengthened
by the length of the scale carrying the row's p), **refractory+echo** (100 ... 1000 rows, with the
echo; the members and channels grids use the config's ``hold``, these three none: round 9's tables),
**hold** (the config's refractory and echo, the alarm hold of :mod:`twin_models.anomaly.event_gate`
at 0 ... 128 rows: windows after an alarm-grade report, p <= 0.001, that are not news) and
**refractory+echo+hold** (the refractory grid with the echo and the config's hold). **young** (round
10, NAB6: the config with honest channel p-values for a young detector, from each channel's p and
its reference size ``n`` (:func:`channel_counts`): the upper confidence bound of the tail
probability (:func:`tail_upper_bound`) or the exponential tail's posterior predictive
(:func:`tail_predictive`)); with ``--apriori``, **apriori** (the config against novelty settings
stated as rules in days, :data:`APRIORI`; each needs its own channels, cached like the members').
Final line: JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.quality.nab import DEFAULT_CONFIG, LABELS, corpus, nab_file, nab_root, read_nab_csv  # noqa: E402
from benchmarks.quality.nab_logo import logo  # noqa: E402
from flows.config.pipeline import ConfigError, load_config  # noqa: E402
from twin_models.anomaly.change import ChangeSeries  # noqa: E402
from twin_models.anomaly.event_gate import ALARM_SURPRISE, TAIL_CHANNELS, is_held  # noqa: E402
from twin_models.anomaly.novelty import NoveltyDetector  # noqa: E402
from twin_models.evaluate.scoring import PROFILES, NabFile, nab_score  # noqa: E402

DEFAULT_CHANGE_SCALES = ((8, 128), (32, 512))
REFRACTORY_GRID = (100, 200, 300, 450, 600, 1000)
HOLD_GRID = (0, 1, 3, 8, 32, 64, 128)  # sensitivity of the alarm hold (the config's is fixed a priori)
ROWS_PER_DAY = 288  # NAB's cadence: one row every 5 minutes (all but 2 of the 35 files)
FIXED_P = 1e-3  # an a priori decision level: rarer than one window in a thousand (no threshold swept)
_FEATURE = "value.mean"
TAIL_K = 20  # the novelty detector's tail_k (order statistics behind each exponential tail)
WEEK = 7 * ROWS_PER_DAY
# a priori novelty settings (angle 2 of NAB6), each replacing issue 4's choices by a rule in days.
# Round 10 also had two perturbations of issue 4's scales here (9x9 for 8x8; 36x9, 144x16); since
# round 11 (NAB7) the config's scales are a rule, the square-root ladder 8..2048, and their
# sensitivity is that ladder shifted by half a step either way (x0.75, x1.5) in nab_ladder.py's
# LADDERS, scored left-out there (tests/unit/test_nab_ladder.py holds the two grids together)
APRIORI: dict[str, dict[str, Any]] = {
    "history 4 weeks, values 10": {"history": 4 * WEEK, "value_history": 10 * WEEK},
    "history 4 weeks, values all": {"history": 4 * WEEK, "value_history": 1_000_000},
    "one memory, 4 weeks": {"history": 4 * WEEK, "value_history": 4 * WEEK},
    "scales x4 to 2 days": {"scales": ((9, 9), (36, 9), (144, 16), (576, 24)),
                            "history": 4 * WEEK, "value_history": 10 * WEEK},
    "scales m=(3*2^j)^2, d=sqrt m": {"scales": ((9, 3), (36, 6), (144, 12), (576, 24)),
                                     "history": 4 * WEEK, "value_history": 10 * WEEK},
}


def novelty_channels(values: Sequence[float], warmup: int, settings: Mapping[str, Any]) -> np.ndarray:
    """Per row: the novelty detector's channel p-values (two value tails, one per scale)."""
    det = NoveltyDetector(warmup=warmup, refractory=0, **settings)
    out = np.ones((len(values), det.channels_per_feature))
    for i, v in enumerate(values):
        x = {_FEATURE: float(v)}
        if det.n_learned >= warmup:
            ev = det._evaluate(x)
            if _FEATURE in ev.per and ev.per[_FEATURE].ps:
                out[i] = ev.per[_FEATURE].ps
        det.learn_one(x)
    return out


def channel_counts(n_rows: int, scales: Sequence[tuple[int, int]], history: int,
                   value_history: int) -> np.ndarray:
    """Per row (before it is learnt) and novelty channel: ``n``, the reference values behind its p.

    The value tails hold ``min(i, value_history)`` values at row ``i``. A scale of length ``m``
    has stored ``N = i - m + 1`` subsequences; its reference is the finite nearest-neighbour
    distances among the last ``history`` of them: a subsequence has a finite one once a
    non-overlapping one exists (``2 (N - m - 1)`` of them while ``N < 2m + 2``, then all ``N``).
    Exact for finite values (``tests/unit/test_nab_young.py`` checks it against the detector)."""
    i = np.arange(n_rows)
    cols = [np.minimum(i, value_history)] * TAIL_CHANNELS
    for m, _ in scales:
        stored = np.maximum(0, i - m + 1)
        finite = np.where(stored >= 2 * m + 2, stored, np.maximum(0, 2 * (stored - m - 1)))
        cols.append(np.minimum(finite, history))
    return np.stack(cols, axis=1)


def _split(p: np.ndarray, n: np.ndarray, min_n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(exceedances ``ge`` inside the range seen, ``n``, rows inside it, rows beyond it with their
    exponential factor ``e``): a channel's p is ``(ge + 1) / (n + 1)`` inside, ``e / (n + 1)`` beyond."""
    scored = (p < 1.0) & (n >= min_n)
    nn = np.where(scored, n, min_n).astype(float)
    scaled = np.where(scored, p, 0.5) * (nn + 1.0)
    inside = scored & (scaled >= 2.0 - 1e-9)
    beyond = scored & ~inside
    return np.rint(scaled - 1.0), nn, inside, np.where(beyond, scaled, 1.0)


def tail_upper_bound(p: np.ndarray, n: np.ndarray, alpha: float = 0.05, k: int = 20,
                     counts: bool = True, scale: bool = True, min_n: int = 30) -> np.ndarray:
    """Honest channel p-values for a young detector (angle 1 of issue 13's NAB6): the ``1 - alpha``
    upper confidence bound of the tail probability. Inside the range seen, Clopper-Pearson's bound
    on ``ge`` exceedances among ``n`` (``counts``; never below the rank p); beyond it, the bound on
    exceeding the maximum (``1 - alpha ** (1 / n)``) times the exponential tail at the upper bound
    of its scale fitted on ``k`` excesses (``scale``: ``2k beta / chi2_alpha(2k)``)."""
    ge, nn, inside, e = _split(p, n, min_n)
    out = p.copy()
    if counts:
        bound = stats.beta.ppf(1.0 - alpha, np.maximum(ge, 0.0) + 1.0, np.maximum(nn - ge, 1.0))
        out = np.where(inside, np.maximum(p, bound), out)
    widen = 2.0 * k / stats.chi2.ppf(alpha, 2 * k) if scale else 1.0
    at_max = -np.expm1(np.log(alpha) / nn) if counts else 1.0 / (nn + 1.0)
    beyond = e < 1.0
    out = np.where(beyond, np.maximum(np.power(np.maximum(e, 1e-300), 1.0 / widen) * at_max, 1e-300), out)
    return out


def tail_predictive(p: np.ndarray, n: np.ndarray, k: int = 20, min_n: int = 30) -> np.ndarray:
    """Beyond the range seen, the posterior predictive of the exponential tail: the rate fitted on
    ``k`` excesses is itself uncertain (Gamma posterior), so ``exp(-z / beta)`` becomes the Lomax
    ``(1 + z / (k beta)) ** -k``, heavier where the fit is extrapolated furthest; inside the range
    the rank p-value is kept. Nothing to choose (``k`` is the detector's ``tail_k``)."""
    _, nn, _, e = _split(p, n, min_n)
    beyond = e < 1.0
    z = -np.log(np.maximum(e, 1e-300))
    return np.where(beyond, (1.0 + z / k) ** (-float(k)) / (nn + 1.0), p)


def change_channels(values: Sequence[float], warmup: int, scales: Sequence[tuple[int, int]]) -> np.ndarray:
    """Per row: the change member's channel p-values (step; level and spread per scale; 2 sides)."""
    ch = ChangeSeries(scales)
    out = np.ones((len(values), ch.n_channels))
    for i, v in enumerate(values):
        if i >= warmup:
            out[i] = ch.p_values(float(v))
        ch.learn(float(v))
    return out


def channel_groups(n_scales: int) -> dict[str, list[int]]:
    """Column indices of the change member's channels by kind."""
    level = [2 + 4 * j + k for j in range(n_scales) for k in (0, 1)]
    spread = [2 + 4 * j + k for j in range(n_scales) for k in (2, 3)]
    return {"step": [0, 1], "level": level, "spread": spread, "change": [0, 1, *level, *spread]}


def event_scores(p: np.ndarray, refractory: int, warmup: int,
                 horizon: np.ndarray | None = None, hold: int = 0) -> np.ndarray:
    """The detector's event mode on a file's row p-values (0 when not the newest extreme);
    ``horizon``: per row, the echo horizon added to the look-back (the detector's ``echo``);
    ``hold``: rows after an alarm-grade report (surprise >= ``ALARM_SURPRISE``) that are not news."""
    s = -np.log10(np.maximum(p, 1e-300))
    out = np.zeros_like(p)
    last_alarm = -1
    for i in range(warmup, len(p)):
        back = refractory + (int(horizon[i]) if horizon is not None else 0)
        prev = s[max(warmup, i - back) : i].max(initial=0.0) if refractory > 0 else -1.0
        if s[i] > prev and not (refractory > 0 and is_held(i, last_alarm, hold)):
            out[i] = 1.0 - p[i]
            if refractory > 0 and s[i] >= ALARM_SURPRISE:
                last_alarm = i
    return out


def echo_horizons(channels: np.ndarray, lengths: Sequence[int]) -> np.ndarray:
    """Per row: the echo horizon of the novelty channel with the smallest p (tails 0, scale m)."""
    return np.asarray([0] * TAIL_CHANNELS + list(lengths))[np.argmin(channels, axis=1)]


def report(grid_name: str, runs: Mapping[str, Sequence[NabFile]]) -> dict[str, Any]:
    """Each candidate alone (dev; left-out with only the thresholds out of fold), then the grid
    (the candidate and its thresholds chosen on three categories, scored on the fourth)."""
    out: dict[str, Any] = {"candidates": {}}
    print(f"\n{grid_name}: {'candidate':22s} {'dev std':>7s} {'lowFP':>6s} {'lowFN':>6s} | left-out "
          f"{'std':>6s} {'lowFP':>6s} {'lowFN':>6s} | held out alone (std)")
    for name, rows in runs.items():
        dev = {k: round(r.score, 2) for k, r in nab_score(rows).items()}
        folds, pooled = logo({name: rows})
        per = {f.held_out: f.scores["standard"] for f in folds}
        out["candidates"][name] = {"dev": dev, "pooled": pooled, "held_out_standard": per}
        cells = " ".join(f"{v:6.2f}" for v in dev.values())
        pcells = " ".join(f"{v:6.2f}" for v in pooled.values())
        fcells = " ".join(f"{k[:12]} {v:.1f}" for k, v in per.items() if v is not None)
        fixed = {k: round(r.score, 2)
                 for k, r in nab_score(rows, thresholds={q: 1.0 - FIXED_P for q in PROFILES}).items()}
        out["candidates"][name]["fixed_p"] = {"p": FIXED_P, **fixed}
        print(f"{'':{len(grid_name) + 2}s}{name:22s} {cells} | {'':8s} {pcells} | {fcells} | "
              f"at p <= {FIXED_P:g}: " + " ".join(f"{v:.2f}" for v in fixed.values()))
    if len(runs) > 1:
        folds, pooled = logo(runs)
        out["grid"] = {"pooled": pooled, "chosen": {f.held_out: f.candidate for f in folds},
                       "held_out_standard": {f.held_out: f.scores["standard"] for f in folds}}
        print(f"{'':{len(grid_name) + 2}s}chosen out of fold: {out['grid']['chosen']}; "
              f"pooled left-out {pooled}")
    return out


def offline_inputs(prog: str, config: str, data: str | None, cache_dir: str | None
                   ) -> tuple[Any, Path | None, Path, list[tuple[str, Path]], dict[str, Any]]:
    """The offline NAB harnesses' inputs: config, cache folder, corpus root, files, labels.

    A bad config, cache folder or dataset path is one line naming it and exit 2.
    """
    try:
        cfg = load_config(Path(config))
    except ConfigError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    cache = Path(cache_dir) if cache_dir else None
    if cache is not None:
        try:
            cache.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            print(f"{prog}: --cache-dir {cache}: {exc.strerror or exc}", file=sys.stderr)
            raise SystemExit(2) from None
    try:
        root = nab_root(data)
        files = corpus(root, None)
    except SystemExit as exc:
        print(f"{prog}: {exc.code}", file=sys.stderr)
        raise SystemExit(2) from None
    labels = json.loads((root / LABELS).read_text())
    return cfg, cache, root, files, labels


def _cached(cache: Path | None, key: str,
            compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    path = cache / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz" if cache else None
    if path is not None and path.is_file():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    out = compute()
    if path is not None:
        np.savez_compressed(path, **out)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Members' channels (cached), the combinations, their dev and left-out scores; JSON last."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="datasets dir or NAB dir (default: $TWIN_DATASETS or ../shared/datasets)")
    p.add_argument("--config", default=str(DEFAULT_CONFIG), help="benchmark TOML (novelty settings)")
    p.add_argument("--change-scales", default=json.dumps(DEFAULT_CHANGE_SCALES),
                   help="change member's (w, W) pairs as JSON")
    p.add_argument("--cache-dir", help="members' channel p-values per file (reused when present)")
    p.add_argument("--apriori", action="store_true",
                   help="also the a priori settings grid (novelty channels per setting: ~4 min uncached)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    start = time.perf_counter()
    try:
        scales = [(int(w), int(ref)) for w, ref in json.loads(args.change_scales)]
        if not scales or any(w < 1 or ref < 2 for w, ref in scales):
            raise ValueError
    except (ValueError, TypeError):
        print(f"nab_members: --change-scales {args.change_scales!r} is not a JSON list of [w, W] pairs "
              "(w >= 1, W >= 2)", file=sys.stderr)
        raise SystemExit(2) from None
    cfg, cache, root, files, labels = offline_inputs("nab_members", args.config, args.data, args.cache_dir)
    warmup = cfg.twin.warmup_windows
    nov = cfg.twin.novelty
    settings = {"features": nov.features, "scales": nov.scales, "history": nov.history,
                "value_history": nov.value_history}
    series = {f"{c}/{f.name}": (c, f, read_nab_csv(f)) for c, f in files}

    def per_file(fn: Callable[[list[float]], np.ndarray]) -> Callable[[], dict[str, np.ndarray]]:
        def run() -> dict[str, np.ndarray]:
            out = {}
            for key, (_, _, (_, vals, _)) in series.items():
                out[key] = fn([float(v) for v in vals])
                if not args.no_progress:
                    print(f"    {key}", flush=True)
            return out
        return run

    root_key = str(root.resolve())
    members = {
        "novelty": _cached(cache, json.dumps(["novelty", warmup, repr(settings), root_key]),
                           per_file(lambda v: novelty_channels(v, warmup, settings))),
        "change": _cached(cache, json.dumps(["change", warmup, scales, root_key]),
                          per_file(lambda v: change_channels(v, warmup, scales))),
    }
    groups = channel_groups(len(scales))
    n_nov = members["novelty"][next(iter(series))].shape[1]
    tails_and_scales = {"tails": [0, 1], **{f"{m}x{d}": [2 + j] for j, (m, d) in enumerate(nov.scales)}}
    refractory, echo, hold = nov.refractory, nov.echo, nov.hold
    # candidate name -> (extra change channels, novelty channels dropped, refractory, echo, hold)
    grids: dict[str, dict[str, tuple[list[int], list[int], int, bool, int]]] = {
        "members": {"novelty": ([], [], refractory, echo, hold),
                    **{f"novelty+{g}": (groups[g], [], refractory, echo, hold)
                       for g in ("change", "step", "level", "spread")}},
        "refractory": {f"refractory={r}": ([], [], r, False, 0) for r in REFRACTORY_GRID},
        "channels": {"novelty": ([], [], refractory, echo, hold),
                     **{f"without {k}": ([], v, refractory, echo, hold)
                        for k, v in tails_and_scales.items()}},
        "echo": {f"refractory={r}{' +echo' if e else ''}": ([], [], r, e, 0)
                 for r in (refractory, 300, ROWS_PER_DAY, 1) for e in (False, True)},
        "refractory+echo": {f"refractory={r} +echo": ([], [], r, True, 0) for r in REFRACTORY_GRID},
        "hold": {f"hold={h}": ([], [], refractory, echo, h) for h in HOLD_GRID},
        "refractory+echo+hold": {f"refractory={r} +echo hold={hold}": ([], [], r, True, hold)
                                 for r in REFRACTORY_GRID},
    }
    lengths = [m for m, _ in nov.scales]
    summary: dict[str, Any] = {"refractory": refractory, "echo": echo, "hold": hold,
                               "change_scales": scales, "grids": {}}
    for grid_name, grid in grids.items():
        runs: dict[str, list[NabFile]] = {}
        for name, (extra, dropped, ref, with_echo, held) in grid.items():
            keep = [i for i in range(n_nov) if i not in dropped]
            rows = []
            for key, (c, f, (_, _, secs)) in series.items():
                ps = np.concatenate([members["novelty"][key][:, keep], members["change"][key][:, extra]],
                                    axis=1)
                pr = np.minimum(1.0, ps.min(axis=1) * ps.shape[1])
                hor = echo_horizons(members["novelty"][key], lengths) if with_echo else None
                rows.append(nab_file(c, f, secs, event_scores(pr, ref, warmup, hor, held), labels))
            runs[name] = rows
        summary["grids"][grid_name] = report(grid_name, runs)

    def event_rows(channels: Mapping[str, np.ndarray], lengths_: Sequence[int], held: int) -> list[NabFile]:
        rows = []
        for key, (c, f, (_, _, secs)) in series.items():
            ch = channels[key]
            pr = np.minimum(1.0, ch.min(axis=1) * ch.shape[1])
            hor = echo_horizons(ch, lengths_) if echo else None
            rows.append(nab_file(c, f, secs, event_scores(pr, refractory, warmup, hor, held), labels))
        return rows

    nov_ch = members["novelty"]
    ns = {k: channel_counts(v.shape[0], nov.scales, nov.history, nov.value_history)
          for k, v in nov_ch.items()}
    young: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray] | None] = {
        "rank p (config)": None,
        "bound 95%": lambda q, n: tail_upper_bound(q, n, 0.05, TAIL_K),
        "bound 95% counts": lambda q, n: tail_upper_bound(q, n, 0.05, TAIL_K, scale=False),
        "bound 95% scale": lambda q, n: tail_upper_bound(q, n, 0.05, TAIL_K, counts=False),
        "bound 84%": lambda q, n: tail_upper_bound(q, n, 0.16, TAIL_K),
        "predictive tail": lambda q, n: tail_predictive(q, n, TAIL_K),
    }
    runs = {name: event_rows(nov_ch if fn is None else {k: fn(v, ns[k]) for k, v in nov_ch.items()},
                             lengths, hold) for name, fn in young.items()}
    summary["grids"]["young"] = report("young", runs)
    if args.apriori:
        runs = {"config": event_rows(nov_ch, lengths, hold)}
        for name, over in APRIORI.items():
            alt = {**settings, **over}
            ch = _cached(cache, json.dumps(["novelty", warmup, repr(alt), root_key]),
                         per_file(lambda v, alt=alt: novelty_channels(v, warmup, alt)))  # type: ignore[misc]
            lengths_ = [m for m, _ in alt["scales"]]
            runs[name] = event_rows(ch, lengths_, min(lengths_) if hold else 0)
        summary["grids"]["apriori"] = report("apriori", runs)
    summary["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
