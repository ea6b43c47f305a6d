"""FEMTO / PRONOSTIA bearings (IEEE PHM 2012) through the streaming pipeline: onset and RUL.

Run: ``.venv/bin/python benchmarks/quality/femto.py [--data DIR] [--train DIR] [--bearings B ...]
[--truncate-at FRACTION] [--folds bearing|condition] [--true-rul FILE] [--config FILE] [--out DIR]
[--no-progress]``

One procedure, ONE configuration (``configs/femto.toml``):

1. **Files.** Every bearing's Parquet (one row per frame: 0.1 s, 2560 samples at 25.6 kHz, one
   frame every 10 s, channels ``acc_horizontal_g`` and ``acc_vertical_g``) is replayed as waveform
   frames, re-stamped so that bearings run one after another in event time: the training bearings
   first, each followed by a ``failure`` event 10 s (one frame interval) after its last frame (and
   an ``install`` one window later, which closes the failure's window in event time), then
   the evaluated bearing(s), truncated at ``--truncate-at`` of their life if given. Nothing of an
   evaluated bearing's future is replayed (prequential; no training on it).
2. **Metadata.** 13 rolling elements of 3.5 mm, pitch diameter 25.6 mm, the condition's shaft speed
   (1: 1800 rpm, 2: 1650 rpm, 3: 1500 rpm from the name ``BearingC_N``) and the failure threshold:
   FEMTO counts a bearing failed at 20 g, so the failure indicator is the window's mean frame
   peak of the horizontal accelerometer, ``acc_horizontal_g.peak`` = 20 g.
3. **Folds.** ``--train DIR``: those bearings train, the ``--bearings`` of ``--data`` are evaluated,
   one backtest. Default: leave-one-out over the bearings of ``--data``, one backtest per fold;
   ``--folds condition``: leave one operating condition out (its bearings evaluated one after the
   other in one backtest, the bearings of the other conditions train).
4. **Verdict.** Onset = the first alert raised on the evaluated bearing (hours before its failure,
   the end of its full recording + 10 s); ``false_alert_episodes`` = alert episodes that were
   cleared again before the episode still open at the end (none open: all of them). RUL = the
   ``rul`` of the bearing's last window in ``scores.parquet`` (null when the twin has none).
   ActRUL = time from that window's end to the failure (``--true-rul FILE``: a JSON map bearing ->
   true remaining seconds after the last replayed frame overrides it). PHM 2012 accuracy per
   bearing, ``A`` from ``Er = 100 (ActRUL - PredRUL) / ActRUL``, averaged over bearings
   (:func:`twin_models.evaluate.scoring.phm2012_score`); a bearing without an estimate counts as
   ``PredRUL = 0``. Undefined (null) for full runs, where ActRUL is 0 at the last frame.
5. **Along the life** (full runs): the accuracy ``A`` of every window's RUL against the truth,
   averaged over the life (``A_life``), read at 0.3/0.5/0.7/0.9 of the life (``A_0.3`` ...: the
   pipeline is prequential, so that is the estimate a run truncated there ends with, to within one
   window), and the share of windows whose interval held the truth (``coverage_life``)
   (:mod:`benchmarks.quality.femto_scores`).

Prints the per-bearing tables, then one JSON line with ``phm2012_score``,
``onset_hours_before_failure`` (per bearing), ``along_life`` (the means of step 5 over the
bearings, full runs), ``bearings`` (the table) and ``seconds``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.quality.common import load_benchmark_config, print_table, resolve_data_dir, run_main
from benchmarks.quality.femto_scores import AT, life_scores, summarise
from flows.app.backtest import BacktestResult, run_backtest
from flows.config.pipeline import PipelineConfig
from twin_models.evaluate.damage_rul import interval_covers
from twin_models.evaluate.scoring import phm2012_score
from twin_models.records import Alert

DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "femto.toml"
T0 = datetime(2012, 1, 1, tzinfo=UTC)
FRAME_S = 10.0
GAP = timedelta(hours=1)
RPM = {1: 1800.0, 2: 1650.0, 3: 1500.0}
LOAD_N = {1: 4000.0, 2: 4200.0, 3: 5000.0}  # the radial load of each condition (PRONOSTIA)
GEOMETRY = {"n_elements": 13, "ball_diameter_mm": 3.5, "pitch_diameter_mm": 25.6, "contact_angle_deg": 0.0}


def condition(bearing: str) -> int:
    """``Bearing2_1`` -> 2."""
    try:
        return int(bearing.removeprefix("Bearing").split("_")[0])
    except ValueError:
        msg = f"bearing name {bearing!r} is not BearingC_N"
        raise SystemExit(msg) from None


def folds(bearings: list[str], kind: str) -> list[list[str]]:
    """The evaluated groups: each bearing alone, or the bearings of each condition together."""
    if kind == "bearing":
        return [[b] for b in bearings]
    return [[b for b in bearings if condition(b) == c] for c in sorted({condition(b) for b in bearings})]


def restamp(src: Path, dst: Path, start: datetime, fraction: float | None) -> tuple[datetime, datetime]:
    """Copy a bearing's frames to ``dst`` starting at ``start`` (first ``fraction`` of its rows).

    Returns (last replayed frame time, failure time = last frame of the FULL recording + 10 s)."""
    table = pq.read_table(src)
    ts = np.asarray(table.column("timestamp").cast(pa.int64()).to_numpy(), dtype=np.int64)  # us
    rel_us = ts - ts[0]
    n = table.num_rows if fraction is None else max(1, int(math.floor(fraction * table.num_rows)))
    new = [start + timedelta(microseconds=int(u)) for u in rel_us[:n]]
    out = table.slice(0, n).set_column(table.schema.get_field_index("timestamp"), "timestamp",
                                       pa.array(new, pa.timestamp("us", tz="UTC")))
    pq.write_table(out, dst, row_group_size=256)
    failure = start + timedelta(microseconds=int(rel_us[-1])) + timedelta(seconds=FRAME_S)
    return new[-1], failure


def write_metadata(path: Path, bearings: list[str], settings: dict[str, Any]) -> Path:
    """Asset metadata TOML: geometry, the condition's nominal speed and load, the 20 g failure
    threshold."""
    geometry = ", ".join(f"{k} = {v}" for k, v in GEOMETRY.items())
    lines = ["[defaults]", f"kind = {json.dumps(settings.get('kind', 'femto_bearing'))}",
             f"bearing = {{ {geometry} }}",
             f"failure_threshold = {{ feature = {json.dumps(settings['failure_feature'])}, "
             f"value = {float(settings['failure_g'])} }}", ""]
    for b in bearings:
        lines += [f"[{json.dumps(b)}]", f"nominal_speed_hz = {RPM[condition(b)] / 60.0}",
                  f"nominal_load_n = {LOAD_N[condition(b)]}", ""]
    path.write_text("\n".join(lines))
    return path


def _episodes(alerts: list[Alert], asset: str) -> list[tuple[datetime, datetime | None]]:
    """(raised, cleared) of each alert episode of an asset, in time order."""
    spans: dict[str, list[Alert]] = {}
    for a in alerts:
        if a.asset_id == asset:
            spans.setdefault(a.alert_id, []).append(a)
    out = []
    for msgs in spans.values():
        raised = min(m.timestamp for m in msgs)
        cleared = [m.timestamp for m in msgs if m.status == "cleared"]
        out.append((raised, min(cleared) if cleared else None))
    return sorted(out, key=lambda s: s[0])


def verdict(result: BacktestResult, bearing: str, last_frame: datetime, failure: datetime,
            true_rul_s: float | None, train: list[str]) -> dict[str, Any]:
    """One evaluated bearing's row: onset, false alerts, RUL at its last window, PHM 2012 A."""
    snaps = sorted((s for s in result.snapshots if s.asset_id == bearing), key=lambda s: s.timestamp)
    last = snaps[-1]
    episodes = _episodes(result.alerts, bearing)
    first = episodes[0][0] if episodes else None
    final_open = [e for e in episodes if e[1] is None]
    false_eps = len(episodes) - (1 if final_open else 0)
    # ActRUL at the last window's end (a full run's last window may end just after the failure: 0)
    act = (failure - last.timestamp).total_seconds() if true_rul_s is None else \
        true_rul_s - (last.timestamp - last_frame).total_seconds()
    act = max(act, 0.0)
    pred = last.rul_s
    row: dict[str, Any] = {
        "bearing": bearing, "train": "+".join(train),
        "life_h": None, "onset_h_before_failure": None if first is None else
        round((failure - first).total_seconds() / 3600.0, 2),
        "false_alert_episodes": false_eps,
        "act_rul_s": round(act, 1), "pred_rul_s": None if pred is None else round(pred, 1),
        "pred_lower_s": None if last.rul_lower_s is None else round(last.rul_lower_s, 1),
        "pred_upper_s": None if last.rul_upper_s is None else round(last.rul_upper_s, 1),
        "rul_source": last.rul_source or "none", "condition": last.condition,
        "health_index": round(last.health_index, 3),
    }
    row["phm2012_A"] = (round(phm2012_score([act], [pred if pred is not None else 0.0]), 4)
                        if act > 0 else None)
    row.update(damage_columns(snaps, failure, first))
    return row


def damage_columns(snaps: list[Any], failure: datetime, onset: datetime | None) -> dict[str, Any]:
    """The damage state (issue 11): hours before failure it started (first diagnosed defect),
    the share of its windows whose 80 % RUL interval held the true RUL, and its RUL interval
    (hours) at the onset (first alert) against the truth."""
    def h(v: float | None) -> float | None:
        return None if v is None else round(v / 3600.0, 2)
    fail_s = failure.timestamp()
    life = [s for s in snaps if s.damage is not None and s.timestamp < failure]
    at = next((s for s in snaps if onset is not None and s.timestamp >= onset), None)
    held = [interval_covers(s, fail_s - s.timestamp.timestamp()) for s in life]
    return {
        "damage_from_h": h(fail_s - life[0].timestamp.timestamp()) if life else None,
        "damage_windows": len(life), "damage_covered": sum(held),
        "damage_rul_at_onset_h": h(at.damage_rul_s) if at is not None else None,
        "damage_p10_at_onset_h": h(at.damage_rul_lower_s) if at is not None else None,
        "damage_p90_at_onset_h": h(at.damage_rul_upper_s) if at is not None else None,
        "true_rul_at_onset_h": h(fail_s - at.timestamp.timestamp()) if at is not None else None,
    }


def run_fold(data: Path, train_dir: Path, train: list[str], evaluate: list[str], cfg: PipelineConfig,
             settings: dict[str, Any], fraction: float | None, true_rul: dict[str, float],
             out: Path, progress: bool) -> list[dict[str, Any]]:
    """ONE backtest: the training bearings to failure, then the evaluated ones (truncated)."""
    out.mkdir(parents=True, exist_ok=True)
    start = T0
    inputs, fail_rows, plan = [], [], {}
    order = [*((b, train_dir, None) for b in train), *((b, data, fraction) for b in evaluate)]
    for name, folder, frac in order:
        dst = out / f"{name}.parquet"
        last, failure = restamp(folder / f"{name}.parquet", dst, start, frac)
        inputs.append(dst)
        if frac is None and name in train:
            fail_rows.append((failure, name))
        plan[name] = (last, failure, start)
        start = failure + GAP
    events = out / "failures.parquet"
    # an install one window after each failure closes the failure's window in event time (windows
    # close on each asset's own event time: its last window would otherwise wait for the end)
    after = timedelta(seconds=cfg.window_s)
    pq.write_table(pa.table({
        "timestamp": pa.array([x for t, _ in fail_rows for x in (t, t + after)],
                              pa.timestamp("us", tz="UTC")),
        "asset_id": [n for _, n in fail_rows for _ in (0, 1)],
        "event": ["failure", "install"] * len(fail_rows)}), events)
    from flows.dataflow.sources.files import read_metadata

    meta = read_metadata(write_metadata(out / "metadata.toml", train + evaluate, settings))
    result = run_backtest(inputs, out / "backtest", cfg, events=[events], metadata=meta,
                          progress=progress, report=False)
    rows = []
    for b in evaluate:
        last, failure, begin = plan[b]
        row = verdict(result, b, last, failure, true_rul.get(b), train)
        row["life_h"] = round((failure - begin).total_seconds() / 3600.0, 2)
        if fraction is None:  # along the life (a truncated run has only its first part)
            snaps = sorted((x for x in result.snapshots if x.asset_id == b), key=lambda x: x.timestamp)
            row.update(life_scores(snaps, begin, failure))
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the per-bearing table and the final JSON line."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--data", help="FEMTO folder (default: $TWIN_DATASETS/femto or ../shared/datasets)")
    ap.add_argument("--train", help="folder of training bearings (default: leave-one-out over --data)")
    ap.add_argument("--bearings", nargs="*", help="bearings to evaluate (default: all in --data)")
    ap.add_argument("--truncate-at", type=float, help="evaluate at this fraction of each bearing's life")
    ap.add_argument("--folds", choices=("bearing", "condition"), default="bearing",
                    help="without --train: leave one bearing out (default) or one condition out "
                         "(its bearings evaluated in one backtest, the others train)")
    ap.add_argument("--true-rul", help="JSON: bearing -> true remaining seconds after its last frame")
    ap.add_argument("--config", default=str(DEFAULT_CONFIG))
    ap.add_argument("--out", help="output folder (default: a temporary folder)")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    if args.truncate_at is not None and not 0.0 < args.truncate_at <= 1.0:
        ap.error("--truncate-at is a fraction in (0, 1]")
    data = resolve_data_dir(args.data, "femto", "Bearing*.parquet")
    cfg, settings = load_benchmark_config(args.config)
    true_rul = json.loads(Path(args.true_rul).read_text()) if args.true_rul else {}
    available = sorted(p.stem for p in data.glob("Bearing*.parquet"))
    evaluated = args.bearings or available
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="femto-") as tmp:
        base = Path(args.out) if args.out else Path(tmp)
        if args.train:
            train_dir = Path(args.train)
            train = sorted(p.stem for p in train_dir.glob("Bearing*.parquet") if p.stem not in evaluated)
            rows += run_fold(data, train_dir, train, evaluated, cfg, settings, args.truncate_at, true_rul,
                             base / "fold", not args.no_progress)
        else:
            for group in folds(evaluated, args.folds):
                train = [x for x in available if x not in group and
                         (args.folds == "bearing" or condition(x) != condition(group[0]))]
                rows += run_fold(data, data, train, group, cfg, settings, args.truncate_at, true_rul,
                                 base / f"fold-{'+'.join(group)}", not args.no_progress)
    print_table(rows, ["bearing", "train", "life_h", "onset_h_before_failure", "false_alert_episodes",
                       "act_rul_s", "pred_rul_s", "pred_lower_s", "pred_upper_s", "rul_source",
                       "phm2012_A", "damage_from_h", "damage_windows", "damage_covered",
                       "damage_rul_at_onset_h", "damage_p10_at_onset_h", "damage_p90_at_onset_h",
                       "true_rul_at_onset_h"])
    if args.truncate_at is None:
        print_table(rows, ["bearing", "life_h", *(f"A_{f:g}" for f in AT), "A_life", "coverage_life"])
    scored = [r["phm2012_A"] for r in rows if r["phm2012_A"] is not None]
    summary = {
        "benchmark": "femto", "truncate_at": args.truncate_at,
        "phm2012_score": round(float(np.mean(scored)), 4) if len(scored) == len(rows) else None,
        "onset_hours_before_failure": {r["bearing"]: r["onset_h_before_failure"] for r in rows},
        "false_alert_episodes": sum(r["false_alert_episodes"] for r in rows),
        "n_bearings": len(rows), "folds": "train" if args.train else args.folds,
        **({"along_life": summarise(rows)} if args.truncate_at is None else {}),
        "bearings": rows,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    run_main(main, "femto")
