"""Real bearing data: CWRU faults and the IMS run-to-failure set (skip when absent).

One procedure for every file, no per-file parameters: the drive-end signal is cut into 1 s
frames, each frame goes through :func:`frame_features` (envelope band chosen per frame, shaft
speed from the file's RPM) and :func:`diagnose_bearing`; the file's diagnosis is the majority
vote of its frames (``None`` votes too).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from tests.datasets import datasets_dir
from twin_models.features.frame import diagnose_bearing, frame_features
from twin_models.records import BearingGeometry

pytestmark = pytest.mark.dataset

CWRU_6205 = BearingGeometry(n_elements=9, ball_diameter_mm=7.94, pitch_diameter_mm=39.04)
IMS_ZA2115 = BearingGeometry(16, 8.4074, 71.501, 15.17)
IMS_FS = 20_000.0
IMS_SHAFT_HZ = 2000.0 / 60.0
EXPECTED = {"IR": "bpfi", "OR": "bpfo", "normal": None}


def _dataset(name: str) -> Path:
    root = datasets_dir()
    if root is None or not (root / name).is_dir():
        pytest.skip(f"dataset {name!r} not found: set TWIN_DATASETS or provide ../shared/datasets")
    return root / name


def _cwru_expected(path: Path) -> str | None:
    """Diagnosis a CWRU file must get, from its name (``..._IR007_...``, ``..._OR021@6_...``)."""
    if path.name.startswith("normal"):
        return None
    match = re.search(r"_(IR|OR)\d{3}", path.name)
    if match is None:
        msg = f"no expected diagnosis for {path.name} (ball faults are not asserted)"
        raise LookupError(msg)
    return EXPECTED[match.group(1)]


def _cwru_sample_rate(path: Path) -> float:
    """12 kHz for ``12k_*`` files, 48 kHz for ``48k_*`` and the baseline ``normal_*`` (README)."""
    return 12_000.0 if path.name.startswith("12k_") else 48_000.0


def _cwru_drive_end(path: Path) -> tuple[np.ndarray, float]:
    mat = scipy.io.loadmat(path)
    de = next(k for k in mat if k.endswith("_DE_time"))
    rpm = next(k for k in mat if k.endswith("RPM"))
    return np.asarray(mat[de], dtype=np.float64).ravel(), float(np.ravel(mat[rpm])[0]) / 60.0


def _vote(x: np.ndarray, fs: float, shaft_hz: float, geometry: BearingGeometry) -> Counter:
    n = int(fs)  # 1 s frames
    votes: Counter = Counter()
    for start in range(0, x.size - n + 1, n):
        feats = frame_features(x[start : start + n], fs, shaft_hz=shaft_hz, geometry=geometry)
        votes[diagnose_bearing(feats)] += 1
    return votes


CWRU_CASES = [
    "12k_Drive_End_IR007_0_105.mat",
    "12k_Drive_End_IR021_0_209.mat",
    "12k_Drive_End_OR007@6_0_130.mat",
    "12k_Drive_End_OR021@6_0_234.mat",
    "normal_0_97.mat",
]


@pytest.mark.parametrize("name", CWRU_CASES)
def test_cwru_diagnosis_by_majority_of_1s_frames(name: str) -> None:
    path = _dataset("cwru") / name
    if not path.is_file():
        pytest.skip(f"{path} not found")
    x, shaft_hz = _cwru_drive_end(path)
    votes = _vote(x, _cwru_sample_rate(path), shaft_hz, CWRU_6205)
    winner, count = votes.most_common(1)[0]
    assert winner == _cwru_expected(path), f"{name}: votes {dict(votes)}"
    assert count > sum(votes.values()) / 2, f"{name}: no majority in {dict(votes)}"


def _ims_bearing1(name: str) -> dict[str, float]:
    path = _dataset("ims-samples") / name
    if not path.is_file():
        pytest.skip(f"{path} not found")
    x = np.loadtxt(path)[:, 0]  # set 2: one channel per bearing, bearing 1 first
    return frame_features(x, IMS_FS, shaft_hz=IMS_SHAFT_HZ, geometry=IMS_ZA2115)


def test_ims_set2_bearing1_bpfo_evidence_grows_to_failure() -> None:
    first = _ims_bearing1("2004.02.12.10.32.39")
    last = _ims_bearing1("2004.02.19.06.22.39")
    assert last["env_bpfo_snr"] > 2.0 * first["env_bpfo_snr"]
    assert diagnose_bearing(last) == "bpfo"
    assert diagnose_bearing(first) != "bpfo"
