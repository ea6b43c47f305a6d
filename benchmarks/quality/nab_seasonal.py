"""NAB offline: novelty scales as fractions of each series' own period, leave-one-category-out.

Run: ``.venv/bin/python benchmarks/quality/nab_seasonal.py [--data DIR] [--config FILE]
[--cache-dir DIR] [--no-progress]``

Issue 13, part NAB8. The rules, each stated before it was scored (benchmarks/RESULTS.md, "NAB
scale-free members, round 11"), in the order tried:

- **A, period scales**: :class:`~twin_models.anomaly.seasonal.PeriodNoveltyDetector` with the
  fractions ``(1/36, 1/9, 1, 2)`` of the period found online (the autocorrelation's highest
  prominent peak, :mod:`twin_models.anomaly.period`, re-estimated at 200 x 2^k rows), else of a
  day of 5-minute rows (288);
- **B, day scales** (the control: is the period found worth anything?): the same fractions of 288
  rows for every file;
- **C, A + seasonal residual**: A's channels plus the two tails of the value minus the median of
  its phase over up to 7 past periods (:class:`~twin_models.anomaly.seasonal.SeasonalResidual`;
  only where a period is found);
- **A x1.5, B x1.5, C x1.5**: the fractions x1.5 (``1/24, 1/6, 1.5, 3``), their sensitivity.

Everything else is the config's (``configs/nab.toml``: warm-up, memories, refractory, echo, hold),
in the twin's prequential order (score the row, then learn it), as ``nab_members.py`` does; the
row's p is the Bonferroni of its channels, event mode as the detector's with the echo horizon of
the scale in force at that row. Each candidate alone: dev (one threshold on the 35 files),
left-out pooled (thresholds chosen on three categories, scored on the fourth), held out per
category; then the candidates as one grid chosen out of fold, and the three rules (A, B, C; no
sensitivity row) as one grid chosen out of fold. The config's own scales (chosen on
these files) are row 0 for comparison. Final line: JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.quality.nab import DEFAULT_CONFIG, nab_file, read_nab_csv  # noqa: E402
from benchmarks.quality.nab_members import _cached, event_scores, novelty_channels, offline_inputs, report  # noqa: E402
from twin_models.anomaly.event_gate import TAIL_CHANNELS  # noqa: E402
from twin_models.anomaly.seasonal import (  # noqa: E402
    DEFAULT_FRACTIONS,
    DEFAULT_PERIOD,
    PeriodNoveltyDetector,
    SeasonalResidual,
    period_scales,
)
from twin_models.evaluate.scoring import NabFile  # noqa: E402

_FEATURE = "value.mean"
SENSITIVITY = 1.5


def period_channels(values: Sequence[float], warmup: int, settings: Mapping[str, Any],
                    fractions: Sequence[float]) -> dict[str, np.ndarray]:
    """Per row: the period detector's channel p-values, the scale lengths in force, the period in
    force (0: none) and the seasonal residual's two p-values."""
    det = PeriodNoveltyDetector(warmup=warmup, refractory=0, fractions=fractions,
                                **{k: v for k, v in settings.items() if k != "scales"})
    res = SeasonalResidual()
    n_ch = det.channels_per_feature
    ch = np.ones((len(values), n_ch))
    lengths = np.zeros((len(values), len(det.scales)), dtype=np.int64)
    resid = np.ones((len(values), 2))
    period = np.zeros(len(values), dtype=np.int64)
    for i, v in enumerate(values):
        x = {_FEATURE: float(v)}
        lengths[i] = [m for m, _ in det.scales]
        period[i] = det.period or 0
        if det.n_learned >= warmup:
            ev = det._evaluate(x)
            if _FEATURE in ev.per and ev.per[_FEATURE].ps:
                ch[i] = ev.per[_FEATURE].ps
            resid[i] = res.p_values(float(v), det.period)
        res.learn(float(v), det.period)
        det.learn_one(x)
    return {"channels": ch, "lengths": lengths, "residual": resid, "period": period}


def horizons(channels: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Per row: the echo horizon of the channel with the smallest p (tails and others 0, scale m)."""
    j = np.argmin(channels, axis=1) - TAIL_CHANNELS
    ok = (j >= 0) & (j < lengths.shape[1])
    picked = np.take_along_axis(lengths, np.clip(j, 0, lengths.shape[1] - 1)[:, None], axis=1)[:, 0]
    return np.where(ok, picked, 0)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Each rule's channels (cached), dev and left-out scores; JSON last."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="datasets dir or NAB dir (default: $TWIN_DATASETS or ../shared/datasets)")
    p.add_argument("--config", default=str(DEFAULT_CONFIG), help="benchmark TOML (novelty settings)")
    p.add_argument("--cache-dir", help="channel p-values per file and rule (reused when present)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    start = time.perf_counter()
    cfg, cache, root, files, labels = offline_inputs("nab_seasonal", args.config, args.data, args.cache_dir)
    warmup = cfg.twin.warmup_windows
    nov = cfg.twin.novelty
    settings = {"features": nov.features, "scales": nov.scales, "history": nov.history,
                "value_history": nov.value_history}
    series = {f"{c}/{f.name}": (c, f, read_nab_csv(f)) for c, f in files}
    root_key = str(root.resolve())

    def per_file(fn: Callable[[list[float]], Any]) -> Callable[[], dict[str, np.ndarray]]:
        def run() -> dict[str, np.ndarray]:
            out: dict[str, np.ndarray] = {}
            for key, (_, _, (_, vals, _)) in series.items():
                got = fn([float(v) for v in vals])
                if isinstance(got, dict):
                    out.update({f"{key}|{k}": a for k, a in got.items()})
                else:
                    out[key] = got
                if not args.no_progress:
                    print(f"    {key}", flush=True)
            return out
        return run

    def rows_of(chan: Mapping[str, np.ndarray], lens: Mapping[str, np.ndarray]) -> list[NabFile]:
        rows = []
        for key, (c, f, (_, _, secs)) in series.items():
            ch = chan[key]
            pr = np.minimum(1.0, ch.min(axis=1) * ch.shape[1])
            hor = horizons(ch, lens[key]) if nov.echo else None
            rows.append(nab_file(c, f, secs, event_scores(pr, nov.refractory, warmup, hor, nov.hold),
                                 labels))
        return rows

    def const_lengths(scales: Sequence[tuple[int, int]],
                      chan: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {k: np.tile(np.asarray([m for m, _ in scales]), (v.shape[0], 1)) for k, v in chan.items()}

    runs: dict[str, list[NabFile]] = {}
    config_ch = _cached(cache, json.dumps(["novelty", warmup, repr(settings), root_key]),
                        per_file(lambda v: novelty_channels(v, warmup, settings)))
    runs["config scales (chosen)"] = rows_of(config_ch, const_lengths(nov.scales, config_ch))
    periods: dict[str, Any] = {}
    for tag, factor in (("", 1.0), (f" x{SENSITIVITY:g}", SENSITIVITY)):
        fractions = tuple(f * factor for f in DEFAULT_FRACTIONS)
        got = _cached(cache, json.dumps(["period", warmup, repr(settings), fractions, DEFAULT_PERIOD,
                                         root_key]),
                      per_file(lambda v, fr=fractions: period_channels(v, warmup, settings, fr)))  # type: ignore[misc]
        ch = {k: got[f"{k}|channels"] for k in series}
        lens = {k: got[f"{k}|lengths"] for k in series}
        if not tag:
            periods = {k: sorted({int(q) for q in got[f"{k}|period"]} - {0}) for k in series}
        day = period_scales(DEFAULT_PERIOD, fractions)
        day_settings = {**settings, "scales": day}
        day_ch = _cached(cache, json.dumps(["novelty", warmup, repr(day_settings), root_key]),
                         per_file(lambda v, s=day_settings: novelty_channels(v, warmup, s)))  # type: ignore[misc]
        runs[f"A period scales{tag}"] = rows_of(ch, lens)
        runs[f"B day scales{tag}"] = rows_of(day_ch, const_lengths(day, day_ch))
        resid = {k: np.concatenate([ch[k], got[f"{k}|residual"]], axis=1) for k in series}
        runs[f"C A + residual{tag}"] = rows_of(resid, lens)
    rules = {k: v for k, v in runs.items() if k[0] in "ABC" and not k.endswith(f"x{SENSITIVITY:g}")}
    summary: dict[str, Any] = {"periods_found": periods,
                               "grids": {"seasonal": report("seasonal", runs),
                                         "rules": report("rules A, B, C", rules)}}
    summary["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
