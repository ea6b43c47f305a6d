"""The detection-quality benchmarks (benchmarks/quality): CWRU and IMS through the pipeline.

Fast tests run the benchmark scripts end to end on small synthetic recordings written in the
datasets' own formats (CWRU ``.mat``, IMS tab-separated text); the dataset tests run them on the
real files and skip when ``../shared/datasets`` (or ``$TWIN_DATASETS``) is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from benchmarks.quality import cwru, cwru_groups, ims
from tests.datasets import datasets_dir
from tests.unit.features.synth import bearing_signal
from twin_models.diagnosis.bearings import defect_frequencies

RPM = 1750.0  # not the nominal 1797: the speed must come from the file
SHAFT_HZ = RPM / 60.0
CWRU_LINES = defect_frequencies(cwru.SKF_6205, SHAFT_HZ)


def _mat(path: Path, rid: int, x: np.ndarray, rpm: float | None) -> None:
    doc = {f"X{rid:03d}_DE_time": x[:, None], f"X{rid:03d}_FE_time": 0.1 * x[:, None]}
    if rpm is not None:
        doc[f"X{rid:03d}RPM"] = np.array([[rpm]])
    scipy.io.savemat(path, doc)


@pytest.fixture(scope="module")
def cwru_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An outer-race, an inner-race and a healthy recording (48 kHz, no RPM variable)."""
    d = tmp_path_factory.mktemp("cwru")
    fs, n = 12_000.0, 72_000  # 6 s
    outer = bearing_signal(fs=fs, n=n, defect_hz=CWRU_LINES.bpfo, shaft_hz=SHAFT_HZ, noise_rms=0.2, seed=1)
    inner = bearing_signal(fs=fs, n=n, defect_hz=CWRU_LINES.bpfi, shaft_hz=SHAFT_HZ, noise_rms=0.2,
                           modulation=0.5, seed=2)
    _mat(d / "12k_Drive_End_OR014@6_2_901.mat", 901, outer, RPM)
    _mat(d / "12k_Drive_End_IR014_2_902.mat", 902, inner, RPM)
    rng = np.random.default_rng(3)
    _mat(d / "normal_2_903.mat", 903, rng.standard_normal(48_000 * 5), None)
    return d


def test_cwru_benchmark_diagnoses_from_the_twins_alerts(cwru_dir: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    doc = cwru.main(["--data", str(cwru_dir), "--out", str(tmp_path)])
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["ir_or_accuracy"] == doc["ir_or_accuracy"] == 1.0
    assert last["healthy_correct"] == 1.0 and last["ball_accuracy"] is None
    rows = {r["file"]: r for r in doc["table"]}
    outer = rows["12k_Drive_End_OR014@6_2_901.mat"]
    assert outer["diagnosis"] == "bpfo" and outer["rpm"] == RPM and outer["evidence_snr"] > 4.0
    assert f"BPFO {CWRU_LINES.bpfo:.1f} Hz" in outer["explanation"]
    assert "spectral background (SNR)" in outer["explanation"]
    assert rows["12k_Drive_End_IR014_2_902.mat"]["diagnosis"] == "bpfi"
    normal = rows["normal_2_903.mat"]
    assert normal["diagnosis"] == "healthy" and normal["fs"] == 48_000.0 and normal["rpm"] == 1797.0
    assert (tmp_path / "metadata.toml").is_file() and (tmp_path / "backtest" / "alerts.parquet").is_file()


def test_cwru_names_truth_rates_and_variables() -> None:
    assert cwru.truth_of("12k_Drive_End_OR021@12_3_250.mat") == "bpfo"
    assert cwru.truth_of("12k_Drive_End_B028_1_3006.mat") == "bsf"
    assert cwru.truth_of("12k_Drive_End_IR007_0_105.mat") == "bpfi"
    assert cwru.truth_of("normal_3_100.mat") == "healthy" and cwru.truth_of("97.mat") is None
    assert cwru.sample_rate_of("12k_Drive_End_B007_0_118.mat", 1.0) == 12_000.0
    assert cwru.sample_rate_of("normal_0_97.mat", 1.0) == 48_000.0


def test_cwru_prefers_the_drive_end_record_the_rpm_names(tmp_path: Path) -> None:
    path = tmp_path / "12k_Drive_End_IR007_1_106.mat"
    scipy.io.savemat(path, {"X098_DE_time": np.zeros((100, 1)), "X106_DE_time": np.ones((200, 1)),
                            "X106RPM": np.array([[1772.0]])})
    x, shaft, var = cwru.read_drive_end(path)
    assert var == "X106_DE_time" and x.size == 200 and shaft == pytest.approx(1772.0 / 60.0)


IMS_LINES = defect_frequencies(ims.ZA_2115, ims.SHAFT_HZ)


def _ims_file(path: Path, defect_in_first: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    cols = [rng.standard_normal(20_480) * 0.1 for _ in range(4)]
    if defect_in_first:
        cols[0] = 0.2 * bearing_signal(fs=20_000.0, n=20_480, defect_hz=IMS_LINES.bpfo,
                                       shaft_hz=ims.SHAFT_HZ, noise_rms=0.2, seed=seed)
    np.savetxt(path, np.column_stack(cols), delimiter="\t", fmt="%.3f")


def test_ims_benchmark_flags_bpfo_in_the_last_file_only(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "ims-samples"
    data.mkdir()
    _ims_file(data / "2004.02.12.10.32.39", False, 1)
    _ims_file(data / "2004.02.12.10.42.39", False, 2)
    _ims_file(data / "2004.02.19.06.22.39", True, 3)
    doc = ims.main(["--data", str(tmp_path), "--out", str(tmp_path / "out")])
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["bpfo_flagged_last"] is True and last["bpfo_flagged_first"] is False
    assert doc["last_file"] == "2004.02.19.06.22.39"
    assert "outer race: BPFO 236.4 Hz" in doc["set2_bearing1_evidence_last"]
    assert [tuple(p[:3]) for p in doc["flagged_pairs"]] == [("2004.02.19.06.22.39", 2, 1)]


def _impulsive_ims_file(path: Path, seed: int) -> None:
    """Four healthy bearings whose vibration carries sparse random impacts (no period)."""
    rng = np.random.default_rng(seed)
    ring = np.exp(-np.arange(40) / 6.0) * np.sin(2.0 * np.pi * 0.2 * np.arange(40))
    cols = []
    for _ in range(4):
        x = 0.1 * rng.standard_normal(20_480)
        for t in rng.integers(0, 20_480 - 40, 40):
            x[t : t + 40] += 0.8 * rng.exponential() * ring
        cols.append(x)
    np.savetxt(path, np.column_stack(cols), delimiter="\t", fmt="%.4f")


def test_ims_bearings_of_a_tests_first_file_are_known_new(tmp_path: Path) -> None:
    """Set 2's first file holds new bearings: an install each, so their impulsive healthy
    vibration raises nothing; without the install events (``--unknown-state``) it is judged by
    the healthy-bearing limits and alerts."""
    data = tmp_path / "ims-samples"
    data.mkdir()
    _impulsive_ims_file(data / "2004.02.12.10.32.39", 5)
    _impulsive_ims_file(data / "2004.02.12.10.42.39", 6)
    known = ims.main(["--data", str(tmp_path), "--out", str(tmp_path / "known")])
    unknown = ims.main(["--data", str(tmp_path), "--out", str(tmp_path / "unknown"), "--unknown-state"])
    assert known["install_events"] is True and unknown["install_events"] is False
    assert known["healthy_bearings_alerted"] == [] and known["alert_messages"] == 0
    assert unknown["healthy_bearings_alerted"], unknown["table"]
    # judged by the limits: anomalous, or a ball with low confidence once the sparse random
    # impacts' impulsiveness came back after a burst (twin_models/diagnosis/impulses.py)
    assert all(a.endswith((":anomalous", ":bsf")) for a in unknown["healthy_bearings_alerted"])
    assert known["healthy_bearings"] == unknown["healthy_bearings"] == 3  # set 2 bearing 1 failed


def _real(name: str) -> Path:
    root = datasets_dir()
    if root is None or not (root / name).is_dir():
        pytest.skip(f"dataset {name!r} not found: set TWIN_DATASETS or provide ../shared/datasets")
    return root / name


@pytest.mark.dataset
def test_cwru_real_files_inner_outer_and_healthy_all_right(tmp_path: Path) -> None:
    doc = cwru.main(["--data", str(_real("cwru")), "--out", str(tmp_path)])
    assert doc["ir_or_files"] >= 1 and doc["ir_or_accuracy"] == 1.0, doc["table"]
    assert doc["healthy_correct"] in (None, 1.0), doc["table"]


@pytest.mark.dataset
def test_ims_real_set2_bearing1_bpfo_flagged_last_not_first(tmp_path: Path) -> None:
    doc = ims.main(["--data", str(_real("ims-samples")), "--out", str(tmp_path)])
    assert doc["bpfo_flagged_last"] is True, doc["set2_bearing1_bpfo_snr"]
    assert doc["bpfo_flagged_first"] is False, doc["set2_bearing1_bpfo_snr"]
    assert doc["healthy_bearings_alerted"] == [], doc["table"]  # issue 12: no healthy bearing flagged


def test_cwru_fan_end_set_uses_its_channel_bearing_and_finds_the_speed(tmp_path: Path) -> None:
    """Fan-end files: the FE channel and the 6203 geometry (from the metadata TOML); the shaft
    turns at 1730 rpm but the files carry no RPM, so the twin sees the nominal 1797 rpm and the
    speed must come from the spectrum's 1x line; the healthy file joins the set on its FE channel."""
    d = tmp_path / "data"
    d.mkdir()
    shaft = 1730.0 / 60.0
    lines = defect_frequencies(cwru.SKF_6203, shaft)
    fs, n = 12_000.0, 72_000
    rng = np.random.default_rng(7)
    for rid, name, hz, mod in ((904, "12k_Fan_End_OR014@3_3_904.mat", lines.bpfo, 0.0),
                               (905, "12k_Fan_End_IR014_3_905.mat", lines.bpfi, 0.5)):
        fe = bearing_signal(fs=fs, n=n, defect_hz=hz, shaft_hz=shaft, noise_rms=0.2, modulation=mod, seed=rid)
        scipy.io.savemat(d / name, {f"X{rid}_FE_time": fe[:, None],
                                    f"X{rid}_DE_time": 0.2 * rng.standard_normal((n, 1))})
    _mat(d / "normal_0_906.mat", 906, rng.standard_normal(48_000 * 5), None)
    doc = cwru.main(["--data", str(d), "--out", str(tmp_path / "out"), "--set", "fan-end"])
    rows = {r["asset"]: r for r in doc["table"]}
    assert set(rows) == {"12k_Fan_End_OR014@3_3_904", "12k_Fan_End_IR014_3_905", "normal_0_906_FE"}
    assert rows["12k_Fan_End_OR014@3_3_904"]["diagnosis"] == "bpfo"
    assert rows["12k_Fan_End_IR014_3_905"]["diagnosis"] == "bpfi"
    assert rows["normal_0_906_FE"]["diagnosis"] == "healthy"
    assert {r["rpm"] for r in rows.values()} == {1797.0} and {r["set"] for r in rows.values()} == {"fan-end"}
    assert "confidence" in rows["12k_Fan_End_IR014_3_905"]["explanation"]
    fan = doc["sets"]["fan-end"]
    assert fan["ir_or_correct"] == 2 and fan["faults_called_healthy"] == 0 and fan["healthy_flagged"] == 0
    assert fan["groups"]["position"] == {"@3": "IR/OR 1/1, faults called healthy 0"}
    meta = (tmp_path / "out" / "metadata.toml").read_text()
    assert "n_elements = 8" in meta and "n_elements = 9" in meta  # per asset 6203; default 6205


def test_cwru_logo_chooses_on_the_other_groups() -> None:
    def row(load: str, truth: str, diag: str) -> dict[str, object]:
        return {"set": "fan-end", "load_hp": load, "size": "007", "position": "-", "fault": "IR",
                "truth": truth, "diagnosis": diag, "correct": diag == truth}

    # threshold 3 gets load 0 right and flags nothing; threshold 5 misses load 0 and 1
    sweep = {3.0: [row("0", "bpfi", "bpfi"), row("1", "bpfi", "bpfi"), row("2", "bpfi", "healthy")],
             5.0: [row("0", "bpfi", "healthy"), row("1", "bpfi", "healthy"), row("2", "bpfi", "bpfi")]}
    folds = {f["held_out"]: f for f in cwru_groups.logo_table(sweep)["folds"]}
    assert folds["load_hp=2"]["chosen_snr"] == 3.0 and folds["load_hp=2"]["ir_or"] == "0/1"
    assert folds["load_hp=0"]["chosen_snr"] == 5.0  # 1 vs 1 right on loads 1-2: the tie goes high
    assert folds["load_hp=0"]["faults_called_healthy"] == 1


def test_cwru_both_channels_finds_a_fault_seen_only_on_the_other_accelerometer(tmp_path: Path) -> None:
    """A fan-end outer-race fault visible only on the drive-end accelerometer (the fan-end one is
    noise): the set's own channel calls it healthy; ``--channels both`` gives the asset both
    accelerometers (``de``, ``fe``) and the twin's per-channel evidence names BPFO; a file without
    the other accelerometer keeps its own channel only."""
    d = tmp_path / "data"
    d.mkdir()
    shaft = 1772.0 / 60.0
    fs, n = 12_000.0, 72_000
    rng = np.random.default_rng(11)
    de = bearing_signal(fs=fs, n=n, defect_hz=defect_frequencies(cwru.SKF_6203, shaft).bpfo, shaft_hz=shaft,
                        noise_rms=0.2, seed=12)
    scipy.io.savemat(d / "12k_Fan_End_OR007@12_1_907.mat", {
        "X907_FE_time": 0.3 * rng.standard_normal((n, 1)), "X907_DE_time": de[:, None],
        "X907RPM": np.array([[1772.0]])})
    scipy.io.savemat(d / "12k_Fan_End_IR007_1_908.mat", {"X908_FE_time": rng.standard_normal((n, 1))})
    own = cwru.main(["--data", str(d), "--out", str(tmp_path / "own"), "--set", "fan-end"])
    both = cwru.main(["--data", str(d), "--out", str(tmp_path / "both"), "--set", "fan-end",
                      "--channels", "both"])
    own_rows = {r["asset"]: r for r in own["table"]}
    rows = {r["asset"]: r for r in both["table"]}
    assert own_rows["12k_Fan_End_OR007@12_1_907"]["diagnosis"] == "healthy"
    assert rows["12k_Fan_End_OR007@12_1_907"]["diagnosis"] == "bpfo"
    assert rows["12k_Fan_End_OR007@12_1_907"]["snr_bpfo"] > 4.0 and both["channels"] == "both"
    assert rows["12k_Fan_End_IR007_1_908"]["diagnosis"] == "healthy"
    recs = {r.asset: r for r in cwru.recordings(str(d), "fan-end")}
    assert set(cwru.read_channels(recs["12k_Fan_End_OR007@12_1_907"], "both")[0]) == {"de", "fe"}
    assert set(cwru.read_channels(recs["12k_Fan_End_IR007_1_908"], "both")[0]) == {"fe"}
    assert set(cwru.read_channels(recs["12k_Fan_End_IR007_1_908"], "own")[0]) == {"vib"}
def test_cwru_reports_an_unlocalised_fault_as_anomalous_never_healthy(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 12: impacts at random times (no defect line) are "anomalous", counted apart from the
    faults called healthy; the fan-end reader of cwru_verdict.py gives the same outcome."""
    from benchmarks.quality import cwru_verdict

    fs, n = 12_000.0, 72_000
    rng = np.random.default_rng(5)
    times = rng.uniform(0.0, n / fs, rng.poisson(40.0 * n / fs))
    train = np.zeros(n)
    np.add.at(train, (times * fs).astype(int), rng.exponential(1.0, times.size))
    t = np.arange(int(6 * 0.0008 * fs)) / fs
    ring = np.exp(-t / 0.0008) * np.sin(2.0 * np.pi * 3500.0 * t)
    x = np.convolve(train, ring)[:n] + 0.2 * rng.standard_normal(n)
    data = tmp_path / "data"
    data.mkdir()
    _mat(data / "12k_Drive_End_B014_2_904.mat", 904, x, RPM)
    doc = cwru.main(["--data", str(data), "--out", str(tmp_path / "out")])
    assert [r["diagnosis"] for r in doc["table"]] == ["anomalous"]
    assert (doc["faults_called_anomalous"], doc["faults_called_healthy"]) == (1, 0)
    capsys.readouterr()
    ver = cwru_verdict.main(["--data", str(data), "--sensor", "FE", "--bearing", "6203"])
    assert ver["table"][0]["outcome"] == "anomalous" and ver["faults_called_healthy"] == 0
    assert ver["per_group"]["load_hp=2"] == {"faults": 1, "called_healthy": 0}
