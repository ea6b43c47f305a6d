"""benchmarks/quality/nab_logo.py: the leave-one-category-out folds on a corpus with a known answer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.quality import nab_logo
from twin_models.evaluate.scoring import NabFile, nab_score

N = 1000
WINDOW = (500, 599)  # rows (= timestamps) of the one window of each file


def _file(cat: str, i: int, hits: dict[int, float], windows: bool = True) -> NabFile:
    scores = np.zeros(N)
    for row, s in hits.items():
        scores[row] = s
    return NabFile(f"{cat}/f{i}.csv", np.arange(N), scores, [WINDOW] if windows else [])


def _runs(x_on_d: dict[int, float] | None = None) -> dict[str, list[NabFile]]:
    """Candidate "x": on A, B, C it finds the window (0.9) but raises 20 FPs above it (0.95);
    on D it is perfect. Candidate "y": perfect on A, B, C, blind on D."""
    fps = {200 + 10 * k: 0.95 for k in range(20)}
    x = [_file(c, 0, {500: 0.9, **fps}) for c in "ABC"]
    x.append(_file("D", 0, {500: 1.0} if x_on_d is None else x_on_d))
    y = [_file(c, 0, {500: 1.0}) for c in "ABC"] + [_file("D", 0, {})]
    return {"x": x, "y": y}


def test_the_held_out_category_is_scored_with_the_choice_made_without_it() -> None:
    runs = _runs()
    # in-sample, D's best candidate is x (perfect there) ...
    assert nab_score([f for f in runs["x"] if f.name.startswith("D/")])["standard"].score == 100.0
    folds, pooled = nab_logo.logo(runs)
    by = {f.held_out: f for f in folds}
    # ... but on A, B, C y wins (x's FPs cost more than its detections earn), so D gets y: null score
    assert by["D"].candidate == "y"
    assert by["D"].thresholds["standard"] == 1.0
    assert by["D"].scores["standard"] == 0.0
    for c in "ABC":  # trained on two perfect files and D: y still wins, and is perfect on c
        assert by[c].candidate == "y"
        assert by[c].scores["standard"] == 100.0
    # pooled: 3 windows found (+1 each), D's missed (-1); null -4, perfect +4 -> 100 * 6 / 8
    assert pooled["standard"] == 75.0


def test_the_held_out_category_never_influences_its_own_choice() -> None:
    base = {f.held_out: f for f in nab_logo.logo(_runs())[0]}["D"]
    for other in ({}, {500: 0.5}, {300: 1.0, 500: 0.2}):
        fold = {f.held_out: f for f in nab_logo.logo(_runs(other))[0]}["D"]
        assert (fold.candidate, fold.thresholds) == (base.candidate, base.thresholds)


def test_a_category_without_windows_is_a_fold_that_can_only_lose() -> None:
    runs = _runs()
    runs["y"].append(_file("E", 0, {800: 1.0}, windows=False))  # one FP at y's threshold
    runs["x"].append(_file("E", 0, {}, windows=False))
    folds, pooled = nab_logo.logo(runs)
    e = {f.held_out: f for f in folds}["E"]
    assert e.candidate == "y"
    assert e.scores["standard"] is None
    assert e.raw["standard"] == pytest.approx(-0.11)
    # its FP counts in the pooled score: (6 - 0.11) / 8
    assert pooled["standard"] == pytest.approx(100 * (6 - 0.11) / 8, abs=0.01)


def test_fixed_thresholds_score_a_corpus_at_them() -> None:
    files = _runs()["x"]
    opt = nab_score(files)["standard"]
    fixed = nab_score(files, thresholds={"standard": opt.threshold})["standard"]
    assert (fixed.raw, fixed.score) == (opt.raw, opt.score)
    assert nab_score(files, thresholds={"standard": 2.0})["standard"].score == 0.0  # nothing detected
    low = nab_score(files, thresholds={"standard": 0.9})["standard"]
    assert low.raw < opt.raw  # 60 FPs at 0.11


@pytest.mark.parametrize("argv", [
    ["--candidate", "history"],
    ["--candidate", "nosuch=3"],
    ["--candidate", "history=2000", "--candidate", "history=2000"],
    ["--config", "/nonexistent/nab.toml"],
    ["--data", "/nonexistent"],
    ["--scores-dir", "{file}"],
])
def test_bad_arguments_exit_2_with_one_line(argv: list[str], capsys: pytest.CaptureFixture[str],
                                            tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(SystemExit) as exc:
        nab_logo.main([a.replace("{file}", str(tmp_path / "file")) for a in argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nab_logo: ") and "\n" not in err
