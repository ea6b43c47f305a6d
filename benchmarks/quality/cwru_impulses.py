"""How the accumulated and intermittent impulsiveness rules hold: the Gaussian null, and the
CWRU figures under other values of their two a-priori constants, left out by group.

Run: ``.venv/bin/python benchmarks/quality/cwru_impulses.py [--frames 600] [--switch 1.5,2,3]
[--unit 1.5,2,3]`` (``TWIN_DATASETS`` as for ``cwru.py``).

1. **Null** (no dataset): Gaussian frames (unit white noise plus a 1x shaft line) of 1 s at 12 kHz
   and 48 kHz and of 0.256 s at 20 kHz through the pipeline's own ``frame_features``; per frame
   the impulsiveness index ``I`` (:func:`~twin_models.diagnosis.impulses.impulsiveness`), and the
   accumulated evidence over consecutive runs of 10 frames (a CWRU file's length): how often it
   reaches the level (the false-alarm rate the rule has on noise).
2. **Sensitivity, left out** (``cwru.py``'s procedure, both sets, one backtest per value): the
   switch factor (a burst starts or ends when a statistic moves by more than this factor; a
   priori 2) and the evidence unit (the most one window adds, ``ln unit``; a priori 2), one swept
   while the other keeps its a-priori value; each value chosen on the other groups (by set, load,
   fault size) and scored on the held-out group (``cwru_groups.logo_table``). Measurement only:
   the twin's constants are patched in this process for the sweep.

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.quality.cwru import CONFIG, evaluate, recordings  # noqa: E402
from benchmarks.quality.cwru_files import SKF_6203, SKF_6205  # noqa: E402
from benchmarks.quality.cwru_groups import logo_table  # noqa: E402
from twin_models.diagnosis import abnormality, impulses  # noqa: E402
from twin_models.features.frame import frame_features  # noqa: E402

NULL_CASES = ((12_000.0, 12_000, SKF_6205, 29.9), (48_000.0, 48_000, SKF_6203, 29.9),
              (20_000.0, 5_120, SKF_6205, 33.3))


def null_figures(frames: int, seed: int = 0) -> dict[str, Any]:
    """Per sample rate: the largest index over ``frames`` Gaussian frames, the largest evidence
    over runs of 10 frames, and the share of windows at or beyond the level."""
    rules = abnormality.AbnormalityRules()
    out: dict[str, Any] = {}
    rng = np.random.default_rng(seed)
    for fs, n, geometry, shaft in NULL_CASES:
        t = np.arange(n) / fs
        index = []
        for _ in range(frames):
            x = rng.standard_normal(n) + 0.3 * np.sin(2.0 * np.pi * shaft * t)
            feats = frame_features(x, fs, shaft_hz=shaft, geometry=geometry)
            index.append(impulses.impulsiveness({f"vib.{k}": v for k, v in feats.items()}, rules))
        evidence, beyond = [], 0
        for start in range(0, frames - 9, 10):
            state = None
            for i in index[start:start + 10]:
                state = impulses.accumulate(state, i)
                evidence.append(state.evidence)
                beyond += state.evidence >= rules.evidence_level
        out[f"{fs / 1000:g}kHz_{n}"] = {
            "frames": frames, "index_max": round(max(i for i in index if i is not None), 3),
            "index_median": round(float(np.median([i for i in index if i is not None])), 3),
            "evidence_max": round(max(evidence), 3), "windows_at_level": beyond,
        }
    return out


def _grid(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        msg = f"not a comma-separated list of numbers: {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if not values or not all(math.isfinite(v) and v > 1.0 for v in values):
        msg = f"factors must be numbers above 1, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return values


def _patched(switch: float, unit: float) -> None:
    impulses.SWITCH = math.log(switch)  # type: ignore[misc]
    abnormality.WINDOW_EVIDENCE = math.log(unit)  # type: ignore[misc]
    impulses.WINDOW_EVIDENCE = math.log(unit)  # type: ignore[misc]


def sweep(values: list[float], which: str, out: Path) -> dict[str, Any]:
    """``cwru.py --set both`` per value of ``which`` (``switch`` or ``unit``), the other at 2."""
    recs = recordings(None, "both")
    tables = {}
    for v in values:
        _patched(v if which == "switch" else 2.0, v if which == "unit" else 2.0)
        tables[v] = evaluate(recs, out / f"{which}-{v:g}", CONFIG)["table"]
    _patched(2.0, 2.0)
    logo = logo_table(tables)
    keep = ("ir_or_correct", "ball_correct", "faults_called_healthy", "faults_called_anomalous",
            "faults_wrong_defect", "healthy_flagged")
    return {
        "grid": values,
        "all_files": {str(v): {k: a[k] for k in keep} for v, a in logo["all_files_per_threshold"].items()},
        "folds": [{"held_out": f["held_out"], "chosen": f["chosen_snr"], "ir_or": f["ir_or"],
                   "ball": f["ball"],
                   "called_healthy": f["faults_called_healthy"], "healthy_flagged": f["healthy_flagged"]}
                  for f in logo["folds"]],
        "pooled_held_out": {kind: {k: a[k] for k in keep} for kind, a in logo["pooled_held_out"].items()},
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Parse arguments, run, print the JSON line; returns it."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=600, help="Gaussian frames per sample rate (default 600)")
    p.add_argument("--switch", type=_grid, default=[1.5, 2.0, 3.0], help="switch factors to sweep")
    p.add_argument("--unit", type=_grid, default=[1.5, 2.0, 3.0], help="evidence units to sweep")
    p.add_argument("--no-cwru", action="store_true", help="the Gaussian null only (no dataset needed)")
    args = p.parse_args(argv)
    if args.frames < 10:
        p.error(f"--frames must be at least 10, got {args.frames}")
    doc: dict[str, Any] = {"benchmark": "cwru_impulses", "null": null_figures(args.frames)}
    if not args.no_cwru:
        try:
            with tempfile.TemporaryDirectory(prefix="twin-impulses-") as tmp:
                doc["switch"] = sweep(args.switch, "switch", Path(tmp))
                doc["unit"] = sweep(args.unit, "unit", Path(tmp))
        except ValueError as exc:
            p.error(str(exc))
    print(json.dumps(doc))
    return doc


if __name__ == "__main__":
    main()
