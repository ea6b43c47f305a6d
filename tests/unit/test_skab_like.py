"""The SKAB-like pump bench: ground truth consistent with what was injected, scores as defined."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.quality.skab_like import CHANNELS, FAULTS, bench, experiment, score, write_csv

COL = {c: j for j, c in enumerate(CHANNELS)}


def _shift(name: str, fault: str, seed: int = 7) -> float:
    """Mean of a channel inside the labelled anomaly over its mean outside, in the normal's sds."""
    e = experiment(fault, seed)
    lab = e.labels().astype(bool)
    x = e.rows[:, COL[name]]
    return float((x[lab].mean() - x[~lab].mean()) / x[~lab].std())


def test_each_fault_moves_its_physical_signature_inside_its_labels_only() -> None:
    assert _shift("flow_rate", "valve_closure") < -5 and _shift("pressure", "valve_closure") > 5
    assert _shift("current", "valve_closure") < -3  # less flow, less power
    assert _shift("pressure", "cavitation") < -3 and _shift("accelerometer1_rms", "cavitation") > 3
    assert _shift("accelerometer1_rms", "imbalance") > 5
    assert abs(_shift("flow_rate", "imbalance")) < 1  # unbalance leaves the hydraulics alone


@pytest.mark.parametrize("fault", FAULTS)
def test_one_contiguous_anomaly_after_the_normal_run_and_back_to_normal(fault: str) -> None:
    e = experiment(fault, 3)
    lab = e.labels()
    assert e.start is not None and e.end is not None
    assert 1200 <= e.start < e.end < len(lab)
    assert np.flatnonzero(np.diff(lab)).tolist() == [e.start - 1, e.end - 1]
    before, after = e.rows[e.start - 300:e.start], e.rows[e.end + 300:]
    if len(after) > 50:  # normal again: the flow returns to its level before the fault
        assert abs(after[:, COL["flow_rate"]].mean() / before[:, COL["flow_rate"]].mean() - 1) < 0.03


def test_normal_files_have_no_labels_and_the_bench_is_reproducible() -> None:
    assert experiment("normal", 1).labels().sum() == 0 and experiment("normal", 1).start is None
    a, b = bench(seeds=2, normal=1), bench(seeds=2, normal=1)
    assert [e.name for e in a] == [e.name for e in b] and all(
        np.array_equal(x.rows, y.rows) for x, y in zip(a, b, strict=True))
    assert len({e.name for e in a}) == 7 and a[0].rows.shape == (2400, 8)
    with pytest.raises(ValueError, match="unknown fault"):
        experiment("leak", 0)


def test_csv_is_a_scalar_table_with_one_row_per_second(tmp_path: Path) -> None:
    e = experiment("imbalance", 1, n=30)
    lines = write_csv(e, tmp_path).read_text().splitlines()
    assert lines[0] == "timestamp,asset_id," + ",".join(CHANNELS) and len(lines) == 31
    assert lines[1].split(",")[1] == "imbalance_1" and lines[2].startswith("2026-01-05T00:00:01")


def test_score_counts_detections_false_alarms_and_delays() -> None:
    fault, normal = experiment("valve_closure", 5), experiment("normal", 6)
    assert fault.start is not None and fault.end is not None
    alerts = {fault.name: [700.0, fault.start + 30.0, fault.end + 10.0], normal.name: [900.0]}
    flagged = {e.name: np.zeros(2400, dtype=np.int8) for e in (fault, normal)}
    flagged[fault.name][fault.start:fault.end] = 1
    res = score([fault, normal], alerts, flagged, warmup_s=600.0)
    assert (res["detected"], res["missed"], res["false_alarms"]) == (1, 0, 2)  # 700 s and 900 s
    assert res["median_delay_s"] == 30.0 and res["event_f1"] == round(2 / 4, 3)
    assert res["pointwise_f1"] == 1.0
    assert score([fault], {}, {fault.name: np.zeros(2400, dtype=np.int8)}, 600.0)["event_f1"] == 0.0
