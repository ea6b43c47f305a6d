"""Bearing defect frequencies against published values."""

from __future__ import annotations

import pytest

from twin_models.diagnosis.bearings import defect_frequencies, defect_multipliers
from twin_models.records import BearingGeometry

CWRU_6205 = BearingGeometry(n_elements=9, ball_diameter_mm=7.94, pitch_diameter_mm=39.04)
IMS_ZA2115 = BearingGeometry(16, 8.4074, 71.501, 15.17)


def test_cwru_6205_multipliers_match_the_published_table() -> None:
    m = defect_multipliers(CWRU_6205)
    assert round(m.bpfi, 3) == pytest.approx(5.415)
    assert round(m.bpfo, 3) == pytest.approx(3.585)
    assert m.bpfi == pytest.approx(5.4152, abs=5e-4)
    assert m.bpfo == pytest.approx(3.5848, abs=5e-4)
    assert 2 * m.bsf == pytest.approx(4.7135, abs=5e-4)
    assert m.ftf == pytest.approx(0.39828, abs=5e-5)


def test_ims_za2115_at_2000_rpm() -> None:
    f = defect_frequencies(IMS_ZA2115, 2000.0 / 60.0)
    assert f.bpfo == pytest.approx(236.4, abs=0.1)
    assert f.bpfi == pytest.approx(296.9, abs=0.1)
    assert f.bsf == pytest.approx(139.9, abs=0.1)
    assert f.ftf == pytest.approx(14.8, abs=0.05)


def test_frequencies_scale_with_speed_and_bpfo_plus_bpfi_is_n_times_fr() -> None:
    f = defect_frequencies(CWRU_6205, 29.95)
    assert f.bpfo + f.bpfi == pytest.approx(9 * 29.95)
    assert f.bpfo == pytest.approx(f.ftf * 9)


@pytest.mark.parametrize("shaft_hz", [0.0, -1.0, float("nan"), float("inf")])
def test_invalid_speed_raises(shaft_hz: float) -> None:
    with pytest.raises(ValueError, match="shaft speed"):
        defect_frequencies(CWRU_6205, shaft_hz)


def test_invalid_geometry_raises() -> None:
    with pytest.raises(ValueError, match="pitch diameter"):
        defect_multipliers(BearingGeometry(9, 40.0, 39.04))
