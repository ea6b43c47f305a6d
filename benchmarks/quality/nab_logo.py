"""NAB leave-one-category-out: every setting chosen on three categories, scored on the fourth.

Run: ``.venv/bin/python benchmarks/quality/nab_logo.py [--data DIR] [--config FILE]
[--candidate SETTING=VALUE ...] ... [--scores-dir DIR] [--no-progress]``

Each candidate configuration is the benchmark config (``configs/nab.toml``) with a few settings
replaced; the unmodified config is always candidate 0. ``--candidate history=2000`` is one candidate
(repeat the flag for more; several ``SETTING=VALUE`` after one flag change several settings of the
same candidate). A bare ``SETTING`` is a novelty setting (``twin.novelty.SETTING``, the settings the
config sets); a dotted one is a pipeline path (``twin.warmup_windows=400``); values are TOML
(``scales=[[8,8],[32,8]]``). Default grid (4 runs, ~80-140 s each): the config, ``history`` 2000 and
32000, ``refractory`` 600.

Every candidate runs the corpus once through :func:`nab.run_corpus` (the same pipeline, replay and
per-row scores as ``nab.py``). Then, for each held-out category: on the files of the OTHER categories
only, every candidate is scored with NAB's scorer (one optimised threshold per profile); the
candidate with the best standard score there is chosen (ties: the earlier candidate), with its three
profile thresholds from those files. The held-out category is scored with that candidate's row scores
at those thresholds, normalised over the held-out files (null 0, perfect 100).

``artificialNoAnomaly`` has no windows: held out, it can only lose (its normalised score is
undefined; its raw score, the FP cost at the out-of-fold threshold, is reported). It stays a fold,
and its FPs count in the pooled score.

**Pooled left-out score**: every file is scored with its own fold's candidate and thresholds (as it
was held out), and the per-file raw scores are summed over all files and normalised with the whole
corpus's null and perfect scores - NAB's corpus score, with no setting chosen on the file it scores.
The same is reported for the config alone (grid of one: only the thresholds chosen out of fold).
Final line: JSON with both.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.quality.nab import (  # noqa: E402
    DEFAULT_CONFIG,
    LABELS,
    corpus,
    nab_file,
    nab_root,
    read_nab_csv,
    run_corpus,
)
from flows.config.pipeline import ConfigError, load_config  # noqa: E402
from twin_models.evaluate.scoring import PROFILES, NabFile, nab_score  # noqa: E402

DEFAULT_GRID: tuple[tuple[str, ...], ...] = (("history=2000",), ("history=32000",), ("refractory=600",))
NOVELTY = "twin.novelty."


class UsageError(Exception):
    """A bad argument: one line on stderr, exit 2."""


def parse_candidate(items: Sequence[str]) -> dict[str, Any]:
    """``["history=2000", "twin.warmup_windows=400"]`` -> dotted pipeline overrides."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or not text.strip():
            msg = f"candidate setting {item!r} is not SETTING=VALUE"
            raise UsageError(msg)
        try:
            value = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            value = text.strip()  # a bare word is a string
        out[key if "." in key else NOVELTY + key] = value
    return out


def candidate_name(overrides: Mapping[str, Any]) -> str:
    """A short readable name: ``config`` or ``history=2000 refractory=600``."""
    if not overrides:
        return "config"
    return " ".join(f"{k.removeprefix(NOVELTY)}={json.dumps(v)}" for k, v in overrides.items())


@dataclass
class Fold:
    """One held-out category: the choice made without it, and its score with that choice."""

    held_out: str
    candidate: str
    thresholds: dict[str, float]
    train_standard: float
    scores: dict[str, float | None]  # profile -> normalised over the held-out files (None: no windows)
    raw: dict[str, float]  # profile -> raw held-out score (the FP cost when there are no windows)
    per_file: dict[str, dict[str, float]]  # profile -> file -> raw at the fold's choices


def category_of(name: str) -> str:
    """``realKnownCause/x.csv`` -> ``realKnownCause``."""
    return name.split("/", 1)[0]


def _fold(held_out: str, runs: Mapping[str, Sequence[NabFile]]) -> Fold:
    best: tuple[float, str, dict[str, float]] | None = None
    for name, files in runs.items():
        train = [f for f in files if category_of(f.name) != held_out]
        res = nab_score(train)
        if best is None or res["standard"].score > best[0]:
            best = (res["standard"].score, name, {p: r.threshold for p, r in res.items()})
    assert best is not None
    train_std, chosen, thresholds = best
    test = [f for f in runs[chosen] if category_of(f.name) == held_out]
    res = nab_score(test, thresholds=thresholds)
    scores = {p: (round(r.score, 2) if r.perfect > r.null else None) for p, r in res.items()}
    return Fold(held_out, chosen, thresholds, round(train_std, 2), scores,
                {p: round(r.raw, 4) for p, r in res.items()},
                {p: {n: v["raw"] for n, v in r.per_file.items()} for p, r in res.items()})


def logo(runs: Mapping[str, Sequence[NabFile]]) -> tuple[list[Fold], dict[str, float]]:
    """Leave-one-category-out over candidate runs (candidate -> the corpus's files with its scores).

    Returns the folds and the pooled left-out score per profile (every file at its fold's choices).
    """
    return logo_by_fold(lambda _: runs)


def logo_by_fold(runs_for: Callable[[str], Mapping[str, Sequence[NabFile]]]
                 ) -> tuple[list[Fold], dict[str, float]]:
    """:func:`logo` where the rows themselves depend on the fold: ``runs_for(held_out)`` gives the
    candidate runs made with what was learnt on the other categories only (a prior learnt across
    series), so the thresholds are chosen on those rows and the held-out files scored with them.
    ``runs_for("")`` (nothing held out) names the corpus's files and categories."""
    first = next(iter(runs_for("").values()))
    folds = [_fold(c, runs_for(c)) for c in sorted({category_of(f.name) for f in first})]
    pooled = {}
    for profile, cost in PROFILES.items():
        nab = nab_score(first, {profile: cost})[profile]  # null and perfect of the whole corpus
        raw = sum(sum(f.per_file[profile].values()) for f in folds)
        pooled[profile] = round(100.0 * (raw - nab.null) / (nab.perfect - nab.null), 2)
    return folds, pooled


def chosen_out_of_fold(runs: Mapping[str, Sequence[NabFile]]) -> dict[str, Any]:
    """:func:`logo` over a grid as a summary: pooled left-out, the candidate each fold chose, and
    each held-out category's standard score."""
    folds, pooled = logo(runs)
    return {"pooled": pooled, "chosen": {f.held_out: f.candidate for f in folds},
            "held_out_standard": {f.held_out: f.scores["standard"] for f in folds}}


def _cache_key(config: Path, overrides: Mapping[str, Any], root: Path) -> str:
    text = json.dumps([config.read_text(), overrides, str(root.resolve())], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _scores(run_files: Sequence[NabFile], cache: Path | None) -> None:
    if cache is not None:
        np.savez_compressed(cache, **{f.name: np.asarray(f.scores) for f in run_files})


def run_candidates(args: argparse.Namespace, grid: list[dict[str, Any]]) -> dict[str, list[NabFile]]:
    """Every candidate through the pipeline (or its cached row scores from ``--scores-dir``)."""
    root = nab_root(args.data)
    files = corpus(root, None)
    labels = json.loads((root / LABELS).read_text())
    base = Path(args.config)
    runs: dict[str, list[NabFile]] = {}
    for i, overrides in enumerate(grid):
        name = candidate_name(overrides)
        cfg = load_config(base, overrides=overrides)
        cache = (Path(args.scores_dir) / f"{_cache_key(base, overrides, root)}.npz"
                 if args.scores_dir else None)
        print(f"[{i + 1}/{len(grid)}] {name}", flush=True)
        if cache is not None and cache.is_file():
            with np.load(cache) as z:
                runs[name] = [nab_file(c, f, read_nab_csv(f)[2], z[f"{c}/{f.name}"], labels)
                              for c, f in files]
            continue
        t0 = time.perf_counter()
        run = run_corpus(files, cfg, labels, progress=not args.no_progress)
        print(f"    {time.perf_counter() - t0:.0f} s", flush=True)
        _scores(run.files, cache)
        runs[name] = run.files
    return runs


def _parse(argv: list[str] | None) -> tuple[argparse.Namespace, list[dict[str, Any]]]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="datasets dir or NAB dir (default: $TWIN_DATASETS or ../shared/datasets)")
    p.add_argument("--config", default=str(DEFAULT_CONFIG), help="benchmark TOML (candidate 0)")
    p.add_argument("--candidate", action="append", nargs="+", metavar="SETTING=VALUE",
                   help="one candidate: settings replaced in the config (repeat for more)")
    p.add_argument("--scores-dir", help="cache of each candidate's row scores (reused when present)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if not Path(args.config).is_file():
        msg = f"config file not found: {args.config}"
        raise UsageError(msg)
    if args.scores_dir:
        try:  # before any run: a cache that cannot be written would waste minutes of pipeline
            Path(args.scores_dir).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            why = "not a directory" if Path(args.scores_dir).exists() else exc.strerror or exc
            msg = f"--scores-dir {args.scores_dir}: {why}"
            raise UsageError(msg) from None
    grid = [{}] + [parse_candidate(c) for c in (args.candidate or DEFAULT_GRID)]
    names = [candidate_name(g) for g in grid]
    if len(set(names)) != len(names):
        msg = f"two candidates are the same: {names}"
        raise UsageError(msg)
    for g in grid:
        load_config(Path(args.config), overrides=g)  # a bad setting fails here, before any run
    return args, grid


def report(folds: Sequence[Fold], pooled: Mapping[str, float], title: str) -> dict[str, Any]:
    """Print the fold table; the JSON-ready summary."""
    print(f"\n{title}")
    print(f"{'held out':24s} {'chosen':24s} {'thr std':>8s} {'train':>6s} {'std':>6s} {'lowFP':>6s} "
          f"{'lowFN':>6s}")
    for f in folds:
        cells = [f"{v:.1f}" if v is not None else f"raw {f.raw[p]:.2f}" for p, v in f.scores.items()]
        print(f"{f.held_out:24s} {f.candidate:24s} {f.thresholds['standard']:8.4f} {f.train_standard:6.1f} "
              + " ".join(f"{c:>6s}" for c in cells))
    print(f"{'pooled (35 files)':24s} {'':24s} {'':8s} {'':6s} "
          + " ".join(f"{pooled[p]:6.1f}" for p in PROFILES))
    return {"pooled": dict(pooled),
            "folds": [{"held_out": f.held_out, "candidate": f.candidate, "thresholds": f.thresholds,
                       "train_standard": f.train_standard, "scores": f.scores, "raw": f.raw}
                      for f in folds]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the candidates, the folds for the grid and for the config alone; print the JSON line."""
    start = time.perf_counter()
    try:
        args, grid = _parse(argv)
        runs = run_candidates(args, grid)
    except (UsageError, ConfigError) as exc:
        print(f"nab_logo: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except SystemExit as exc:
        if isinstance(exc.code, str):  # nab.py's one-line errors (no corpus, unknown category)
            print(f"nab_logo: {exc.code}", file=sys.stderr)
            raise SystemExit(2) from None
        raise
    dev = {name: {p: round(r.score, 2) for p, r in nab_score(files).items()} for name, files in runs.items()}
    print("\nin-sample (dev, thresholds on all 35 files): "
          + "; ".join(f"{n}: {s['standard']:.1f}" for n, s in dev.items()))
    summary: dict[str, Any] = {"candidates": list(runs), "dev": dev}
    summary["grid"] = report(*logo(runs), "leave-one-category-out, grid (config and threshold out of fold)")
    first = next(iter(runs))
    summary["config_only"] = report(*logo({first: runs[first]}),
                                    "leave-one-category-out, the config alone (threshold out of fold)")
    summary["n_files"] = len(runs[first])
    summary["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
