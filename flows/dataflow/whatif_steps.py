"""What-if in the dataflow: damage checkpoints for the archive, requests answered by live twins.

``twin_update`` emits a :class:`~twin_models.records.DamageCheckpoint` of an asset's damage state
(archive table ``damage_state``) at the first window of the state and then at every window that
crosses a multiple of :data:`CHECKPOINT_EVERY_S` of event time (aligned to the epoch, so the rule
needs no state and replays give the same rows). ``twin whatif --archive`` takes the newest one
and moves it forward to the asset's newest snapshot under its recent usage.
"""

from __future__ import annotations

from twin_models.records import DamageCheckpoint, FeatureVector
from twin_models.twin import AssetTwin
from twin_models.whatif_checkpoint import checkpoint_of

__all__ = ["CHECKPOINT_EVERY_S", "due_checkpoint"]

CHECKPOINT_EVERY_S = 12 * 3600.0
"""Event time between two damage checkpoints of an asset (~20 kB each with 400 particles)."""


def due_checkpoint(twin: AssetTwin, fv: FeatureVector) -> list[DamageCheckpoint]:
    """The twin's checkpoint if this window is due for one (else none)."""
    state = twin.damage_state
    if state is None or fv.window_start >= fv.window_end:
        return []
    start, end = fv.window_start.timestamp(), fv.window_end.timestamp()
    crossed = end // CHECKPOINT_EVERY_S > start // CHECKPOINT_EVERY_S or end % CHECKPOINT_EVERY_S == 0
    if state.n_obs != 1 and not crossed:
        return []
    cp = checkpoint_of(twin)
    return [] if cp is None else [cp]
