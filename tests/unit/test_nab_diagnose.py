"""benchmarks/quality/nab_diagnose.py: the points lost split exactly into missed, late and false rows."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.quality.nab_diagnose import losses
from twin_models.evaluate.scoring import NabFile, nab_score, normalised


def _file(name: str, n: int, windows: list[tuple[int, int]], hits: dict[int, float]) -> NabFile:
    scores = np.zeros(n)
    for row, s in hits.items():
        scores[row] = s
    return NabFile(name, np.arange(n), scores, [(float(lo), float(hi)) for lo, hi in windows])


def test_split_adds_up_to_nab_score_and_names_each_kind() -> None:
    files = [
        # window 1 found at its start, window 2 missed (its best row at p 0.02), a false row far away
        _file("a/x.csv", 2000, [(800, 899), (1400, 1499)], {810: 0.9995, 1450: 0.98, 1900: 0.9999}),
        # one window found late (row +80 of 100), two false rows a few rows apart (clustered)
        _file("b/y.csv", 2000, [(1000, 1099)], {1080: 0.9999, 1500: 0.9992, 1510: 0.9993}),
    ]
    ps = {f.name: 1.0 - np.asarray(f.scores) for f in files}
    res = losses(files, ps, {"a": 0.999, "b": 0.999})
    ref = nab_score(files, thresholds={"standard": 0.999})["standard"]
    assert res["score"] == pytest.approx(normalised(ref.per_file, [f.name for f in files]), abs=0.011)
    a, b = res["files"]["a/x.csv"], res["files"]["b/y.csv"]
    assert [m["rows"] for m in a["missed"]] == [[1400, 1499]]
    assert a["missed"][0]["min_p"] == pytest.approx(0.02)
    assert a["fp_rows"] == [1900] and a["fp_clustered"] == 0
    assert b["fp_rows"] == [1500, 1510] and b["fp_clustered"] == 2
    assert a["late"] < 0.05 < b["late"]  # found at the start vs 80 rows in
    assert res["points_lost"]["missed"] == pytest.approx(100.0 * 2 / (2 * 3), abs=0.01)
