"""Rolling-element bearing defect frequencies from geometry and shaft speed.

Formulas (Randall & Antoni 2011), with shaft frequency ``fr``, ``n`` rolling elements, ball
diameter ``d``, pitch diameter ``D`` and contact angle ``phi``:

- BPFO = n/2 * fr * (1 - d/D cos phi)      outer race
- BPFI = n/2 * fr * (1 + d/D cos phi)      inner race
- BSF  = D/(2d) * fr * (1 - (d/D cos phi)^2)  ball spin (a ball defect shows at 2*BSF)
- FTF  = fr/2 * (1 - d/D cos phi)          cage

>>> from twin_models.records import BearingGeometry
>>> g = BearingGeometry(n_elements=9, ball_diameter_mm=7.94, pitch_diameter_mm=39.04)
>>> round(defect_multipliers(g).bpfi, 3)
5.415
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from twin_models.records import BearingGeometry

__all__ = ["DEFECTS", "DefectFrequencies", "defect_frequencies", "defect_multipliers"]

DEFECTS: tuple[str, ...] = ("bpfo", "bpfi", "bsf", "ftf")
"""Defect names, in the order used for feature names (``env_bpfo_snr`` ...)."""

DEFECT_COMPONENT = {"bpfo": "outer race", "bpfi": "inner race", "bsf": "rolling element", "ftf": "cage"}


@dataclass(frozen=True, slots=True)
class DefectFrequencies:
    """Defect frequencies in Hz (or multiples of shaft speed, from :func:`defect_multipliers`)."""

    bpfo: float
    bpfi: float
    bsf: float
    ftf: float

    def as_dict(self) -> dict[str, float]:
        """Name -> frequency, in :data:`DEFECTS` order."""
        return {"bpfo": self.bpfo, "bpfi": self.bpfi, "bsf": self.bsf, "ftf": self.ftf}


def defect_multipliers(geometry: BearingGeometry) -> DefectFrequencies:
    """Defect frequencies as multiples of the shaft frequency."""
    if geometry.n_elements <= 0 or geometry.ball_diameter_mm <= 0:
        msg = f"bearing geometry needs positive element count and ball diameter, got {geometry}"
        raise ValueError(msg)
    if geometry.pitch_diameter_mm <= geometry.ball_diameter_mm:
        msg = f"pitch diameter must exceed ball diameter, got {geometry}"
        raise ValueError(msg)
    ratio = geometry.ball_diameter_mm / geometry.pitch_diameter_mm
    cos_r = ratio * math.cos(math.radians(geometry.contact_angle_deg))
    n = geometry.n_elements
    return DefectFrequencies(
        bpfo=n / 2.0 * (1.0 - cos_r),
        bpfi=n / 2.0 * (1.0 + cos_r),
        bsf=geometry.pitch_diameter_mm / (2.0 * geometry.ball_diameter_mm) * (1.0 - cos_r**2),
        ftf=0.5 * (1.0 - cos_r),
    )


def defect_frequencies(geometry: BearingGeometry, shaft_hz: float) -> DefectFrequencies:
    """Defect frequencies in Hz for a shaft turning at ``shaft_hz``."""
    if not shaft_hz > 0.0 or not math.isfinite(shaft_hz):
        msg = f"shaft speed must be a positive finite frequency in Hz, got {shaft_hz!r}"
        raise ValueError(msg)
    m = defect_multipliers(geometry)
    return DefectFrequencies(m.bpfo * shaft_hz, m.bpfi * shaft_hz, m.bsf * shaft_hz, m.ftf * shaft_hz)
