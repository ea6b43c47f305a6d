"""Rolling-element (ball) evidence: when a 2xBSF line may name a ball, and when the cage comb does.

Physics (Randall & Antoni 2011): a spalled ball strikes the inner and the outer race once per
spin of the ball, so its impacts repeat at 2xBSF; the ball travels with the cage, so those
impacts are amplitude-modulated at the cage rate FTF as the ball enters and leaves the load zone.
The envelope spectrum then carries the cage comb (FTF, 2xFTF, 3xFTF: ``env_ftf_snr``) and, when
the impacts are regular enough, the 2xBSF comb (``env_bsf_snr``) with FTF sidebands.

Two facts decide how that becomes a verdict (measured on CWRU, ``benchmarks/RESULTS.md``, "Ball
faults and fan-end localisation"):

- **A 2xBSF line at a shaft order names nothing.** On some bearings 2xBSF is nearly an integer
  order of the shaft: SKF 6203, 3.988x, 0.3 % from 4x. The 2xBSF search window (+-1-2 %) then
  holds the 4x shaft line that looseness, inner-race modulation or a healthy machine's own
  kinematics produce (CWRU's healthy fan-end channel: 2xBSF SNR 3.2-3.8, all of it the 4x line,
  0.37 Hz away: one frame of 1 s cannot resolve them, nor could frames shorter than ~5 s). Such a
  2xBSF line is *ambiguous*: :func:`ambiguous_ball_line` is decided from the geometry alone, and
  the diagnosis does not name a ball from it (from the spectrum nor from the baseline).
- **The cage comb names a ball when no race line does.** A steady cage-rate modulation of the
  impacts is what a defect carried by the cage does; a race defect's impacts are modulated at
  the shaft (inner race) or not at all (outer race), and their own lines stand far above any cage
  line they carry. So the cage comb names the rolling element (:data:`BALL_BY_CAGE`) when it is
  held like any other absolute evidence (``defect_min_snr``, ``defect_snr_windows``) and stands
  above both race lines of its channel; a race line held in the same window wins. A cage fault
  proper (a broken cage) also shows the cage comb; it is rare, late, and checked the same way
  (the verdict names the cage-rate modulation it rests on).

Pure functions, no state.
"""

from __future__ import annotations

from functools import lru_cache

from twin_models.diagnosis.bearings import defect_multipliers
from twin_models.features.lines import DEFECT_LINE_REL_TOL
from twin_models.records import BearingGeometry

__all__ = ["BALL_BY_CAGE", "CAGE", "ambiguous_ball_line", "shaft_order_near"]

CAGE = "ftf"
"""The cage line's defect name (``env_ftf_snr``)."""

BALL_BY_CAGE = "bsf"
"""What a cage comb names when no race line does: the rolling element."""


def shaft_order_near(order: float, rel_tol: float = DEFECT_LINE_REL_TOL) -> int | None:
    """The integer shaft order k >= 1 inside ``order * (1 +- rel_tol)``, if any: a shaft harmonic
    a line search around ``order`` would catch."""
    k = max(1, round(order))
    return k if abs(order - k) <= rel_tol * order else None


@lru_cache(maxsize=64)
def ambiguous_ball_line(geometry: BearingGeometry, rel_tol: float = DEFECT_LINE_REL_TOL) -> bool:
    """Whether this bearing's 2xBSF line shares its search window with a shaft harmonic (SKF 6203:
    3.988x next to 4x; SKF 6205: 4.71x, not). ``rel_tol``: the widest line window the features
    use (the nominal-speed one, 2 %), so the answer holds whether or not a frame's speed was
    refined."""
    return shaft_order_near(2.0 * defect_multipliers(geometry).bsf, rel_tol) is not None
