"""benchmarks/quality/nab.py on a tiny NAB-shaped corpus: layout, duplicates, scores, JSON line."""

from __future__ import annotations

import csv
import importlib.util
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from tests.datasets import datasets_dir
from twin_models.evaluate.scoring import NabFile, nab_score

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 3, 1, tzinfo=UTC)
FMT = "%Y-%m-%d %H:%M:%S"


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("nab_bench", ROOT / "benchmarks" / "quality" / "nab.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _write(path: Path, times: list[datetime], values: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["timestamp", "value"])
        w.writerows((t.strftime(FMT), f"{v:.3f}") for t, v in zip(times, values, strict=True))


def _corpus(root: Path) -> dict[str, list[list[str]]]:
    rng = np.random.default_rng(0)
    n = 1500
    times = [T0 + timedelta(minutes=5 * i) for i in range(n)]
    times[700:704] = [times[700]] * 4  # a repeated timestamp (like NAB's DST artefacts)
    times[1000:1012] = [t - timedelta(hours=1) for t in times[1000:1012]]  # a repeated hour
    spiky = 10 + 2 * np.sin(np.arange(n) * 2 * np.pi / 288) + rng.normal(0, 0.2, n)
    spiky[1300] += 15
    _write(root / "data" / "catA" / "spiky.csv", times, spiky)
    quiet = [T0 + timedelta(minutes=5 * i) for i in range(n)]
    _write(root / "data" / "catB" / "quiet.csv", quiet, 5 + rng.normal(0, 0.5, n))
    start, end = times[1300] - timedelta(minutes=5 * 40), times[1300] + timedelta(minutes=5 * 40)
    labels = {"catA/spiky.csv": [[start.strftime(FMT) + ".000000", end.strftime(FMT) + ".000000"]],
              "catB/quiet.csv": []}
    (root / "labels").mkdir(parents=True)
    (root / "labels" / "combined_windows.json").write_text(json.dumps(labels))
    return labels


CONFIG = """
[pipeline]
window_s = 1
allowed_lateness_s = 0
[pipeline.twin]
warmup_windows = 100
detector = "novelty"
[pipeline.twin.novelty]
scales = [[8, 8], [32, 8]]
history = 1000
value_history = 2000
refractory = 100
"""


def test_nab_benchmark_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nab = tmp_path / "nab"
    _corpus(nab)
    cfg = tmp_path / "nab.toml"
    cfg.write_text(CONFIG)
    res_dir = tmp_path / "results"
    summary = _module().main(["--data", str(tmp_path), "--results-dir", str(res_dir),
                              "--config", str(cfg), "--no-progress"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last) == json.loads(json.dumps(summary))
    assert summary["n_files"] == 2 and summary["rows"] == 3000 and summary["rows_unscored"] == 0
    assert summary["rows_moved"] == 3 + 12  # every row kept, each in its own window
    assert summary["standard"] > 50 and summary["categories"]["catA"]["tp"] == 1
    for profile in ("standard", "reward_low_FP_rate", "reward_low_FN_rate", "seconds"):
        assert profile in summary
    out = res_dir / "twinflow" / "catA" / "twinflow_spiky.csv"
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["timestamp", "value", "anomaly_score", "label"]
    assert len(rows) == 1500 and rows[700]["timestamp"] == rows[703]["timestamp"]
    assert sum(int(r["label"]) for r in rows) == 81
    scores = np.array([float(r["anomaly_score"]) for r in rows])
    assert scores[1300] > 0.999 and 0.0 <= scores.min() and scores.max() <= 1.0
    assert (res_dir / "twinflow" / "catB" / "twinflow_quiet.csv").is_file()
    # the written results rescore to the same numbers
    ts = [datetime.fromisoformat(r["timestamp"]).replace(tzinfo=UTC).timestamp() for r in rows]
    lab = json.loads((nab / "labels" / "combined_windows.json").read_text())["catA/spiky.csv"]
    win = [tuple(datetime.fromisoformat(x).replace(tzinfo=UTC).timestamp() for x in w) for w in lab]
    assert nab_score([NabFile("a", ts, scores, win)])["standard"].per_file["a"]["tp"] == 1


def test_duplicate_rows_get_strictly_increasing_replay_times() -> None:
    times, moved = _module().replay_times(np.array([0.0, 300.0, 300.0, 300.0, 600.0, 0.0, 900.0]))
    assert times.tolist() == [0.0, 300.0, 301.0, 302.0, 600.0, 601.0, 900.0] and moved == 3


@pytest.mark.dataset
def test_real_nab_labels_null_and_perfect_detectors() -> None:
    """On the real corpus the scorer gives the null detector 0 and the perfect detector 100."""
    base = datasets_dir()
    if base is None or not (base / "nab" / "labels" / "combined_windows.json").is_file():
        pytest.skip("NAB corpus not found (../shared/datasets/nab or $TWIN_DATASETS/nab)")
    mod = _module()
    root = mod.nab_root(str(base))
    labels = json.loads((root / "labels" / "combined_windows.json").read_text())
    null, perfect = [], []
    for cat, path in mod.corpus(root, None):
        _, _, secs = mod.read_nab_csv(path)
        key = f"{cat}/{path.name}"
        wins = [(mod._epoch(a), mod._epoch(b)) for a, b in labels[key]]
        first = np.zeros(len(secs))
        for a, _b in wins:
            first[int(np.argmax(secs >= a))] = 1.0
        null.append(NabFile(key, secs, np.zeros(len(secs)), wins))
        perfect.append(NabFile(key, secs, first, wins))
    for res in nab_score(null).values():
        assert res.score == pytest.approx(0.0)
    for res in nab_score(perfect).values():
        assert res.score == pytest.approx(100.0)


def test_nab_logo_end_to_end_and_its_score_cache(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """nab_logo.py over the tiny corpus: two candidates through the pipeline, two folds, then the
    same result again from the cached row scores without running the pipeline."""
    from benchmarks.quality import nab_logo

    _corpus(tmp_path / "nab")
    cfg = tmp_path / "nab.toml"
    cfg.write_text(CONFIG)
    argv = ["--data", str(tmp_path), "--config", str(cfg), "--candidate", "refractory=50",
            "--scores-dir", str(tmp_path / "scores"), "--no-progress"]
    summary = nab_logo.main(argv)
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last) == json.loads(json.dumps(summary))
    assert summary["candidates"] == ["config", "refractory=50"] and summary["n_files"] == 2
    folds = {f["held_out"]: f for f in summary["grid"]["folds"]}
    assert sorted(folds) == ["catA", "catB"]
    assert folds["catB"]["scores"]["standard"] is None  # no windows: only its raw FP cost
    assert folds["catB"]["raw"]["standard"] <= 0.0
    assert len(list((tmp_path / "scores").glob("*.npz"))) == 2

    def no_pipeline(*_: object, **__: object) -> None:
        msg = "the cached scores should have been used"
        raise AssertionError(msg)

    monkeypatch.setattr(nab_logo, "run_corpus", no_pipeline)
    again = nab_logo.main(argv)
    assert {k: again[k] for k in ("dev", "grid", "config_only")} == \
        {k: summary[k] for k in ("dev", "grid", "config_only")}
