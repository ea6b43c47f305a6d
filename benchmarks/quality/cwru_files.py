"""CWRU files: the two sets (bearing, accelerometer), truth and sample rate from a file's name,
and a recording's waveform channels (see :mod:`benchmarks.quality.cwru`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io

from benchmarks.quality.common import CHANNEL
from twin_models.records import BearingGeometry

SKF_6205 = BearingGeometry(n_elements=9, ball_diameter_mm=7.94, pitch_diameter_mm=39.04,
                           contact_angle_deg=0.0)
SKF_6203 = BearingGeometry(n_elements=8, ball_diameter_mm=0.2656 * 25.4, pitch_diameter_mm=1.122 * 25.4,
                           contact_angle_deg=0.0)
NOMINAL_RPM = 1797.0
TRUTH = {"IR": "bpfi", "OR": "bpfo", "B": "bsf"}


@dataclass(frozen=True)
class CwruSet:
    """One CWRU set: its folder under the datasets root, accelerometer and bearing."""

    name: str
    folder: str
    channel: str  # "DE" or "FE": the variable X<id>_<channel>_time
    geometry: BearingGeometry


SETS = {
    "drive-end": CwruSet("drive-end", "cwru", "DE", SKF_6205),
    "fan-end": CwruSet("fan-end", "cwru-fan-end", "FE", SKF_6203),
}


def set_of(name: str) -> str:
    """The set a file belongs to by its name: ``fan-end`` for ``*_Fan_End_*``, else ``drive-end``."""
    return "fan-end" if "_fan_end_" in name.lower() else "drive-end"


def truth_of(name: str) -> str | None:
    """``bpfi`` / ``bpfo`` / ``bsf`` from a CWRU file name, ``healthy`` for ``normal_*``, else None."""
    if name.lower().startswith("normal"):
        return "healthy"
    m = re.search(r"(?:^|_)(IR|OR|B)\d{3}", name)
    return TRUTH[m.group(1)] if m else None


def sample_rate_of(name: str, default_hz: float) -> float:
    """12 kHz for ``12k*`` files, 48 kHz for ``48k*`` and ``normal*`` files, else ``default_hz``."""
    low = name.lower()
    if low.startswith("12k"):
        return 12_000.0
    if low.startswith(("48k", "normal")):
        return 48_000.0
    return default_hz


def read_channel(path: Path, channel: str = "DE") -> tuple[np.ndarray, float | None, str]:
    """(samples of ``X<id>_<channel>_time``, shaft Hz from the file's RPM or None, variable name)."""
    mat = scipy.io.loadmat(path)
    found = sorted(k for k in mat if re.fullmatch(rf"X\d+_{channel}_time", k))
    if not found:
        names = [k for k in mat if not k.startswith("__")]
        msg = f"{path.name}: no X<id>_{channel}_time variable (variables: {names})"
        raise ValueError(msg)
    rpm_ids = {k[1:-3]: k for k in mat if re.fullmatch(r"X\d+RPM", k)}
    number = re.search(r"_(\d+)\.mat$", path.name)
    # some CWRU files carry a second record's variables: prefer the one the RPM (or name) names
    pick = next((k for k in found if k[1:].split("_")[0] in rpm_ids), None)
    if pick is None and number:
        pick = next((k for k in found if int(k[1:].split("_")[0]) == int(number.group(1))), None)
    pick = pick or found[0]
    rpm_key = rpm_ids.get(pick[1:].split("_")[0]) or next(iter(rpm_ids.values()), None)
    shaft = None
    if rpm_key is not None:
        rpm = float(np.ravel(mat[rpm_key])[0])
        shaft = rpm / 60.0 if np.isfinite(rpm) and rpm > 0 else None
    return np.asarray(mat[pick], dtype=np.float64).ravel(), shaft, pick


def read_drive_end(path: Path) -> tuple[np.ndarray, float | None, str]:
    """:func:`read_channel` of the drive-end accelerometer."""
    return read_channel(path, "DE")


@dataclass(frozen=True)
class Recording:
    """One asset of the benchmark: a file read through one set's channel and bearing."""

    path: Path
    set: str

    @property
    def asset(self) -> str:
        """Asset id: the file's stem, ``_FE`` added for a healthy file read on the fan-end channel."""
        healthy_fe = self.set == "fan-end" and set_of(self.path.name) != "fan-end"
        return self.path.stem + ("_FE" if healthy_fe else "")


def read_channels(rec: Recording, which: str) -> tuple[dict[str, np.ndarray], float | None, str]:
    """The recording's waveform channels: ``own`` -> ``{"vib": the set's accelerometer}``;
    ``both`` -> ``{"de": ..., "fe": ...}`` (a file without the other accelerometer keeps its own)."""
    own = SETS[rec.set].channel
    x, shaft, var = read_channel(rec.path, own)
    if which == "own":
        return {CHANNEL: x}, shaft, var
    out = {own.lower(): x}
    other = "FE" if own == "DE" else "DE"
    try:
        y = read_channel(rec.path, other)[0]
    except ValueError:
        return out, shaft, var
    n = min(x.size, y.size)
    out = {own.lower(): x[:n], other.lower(): y[:n]}
    return out, shaft, var
