"""What-if in the dataflow: damage checkpoints for the archive, requests answered by live twins.

``twin_update`` emits a :class:`~twin_models.records.DamageCheckpoint` of an asset's damage state
(archive table ``damage_state``) at the first window of the state and then at every window that
crosses a multiple of :data:`CHECKPOINT_EVERY_S` of event time (aligned to the epoch, so the rule
needs no state and replays give the same rows). ``twin whatif --archive`` takes the newest one
and moves it forward to the asset's newest snapshot under its recent usage.

``twin run`` also reads what-if requests (topic ``twin.whatif.requests.v1``): decoded here (a
payload that is not a request is a dead letter with the codec's reason), keyed by asset and
merged into the twin step's input after the windows (a request is never windowed or late), where
the asset's live twin answers it (:func:`answer`) without changing its state; the results go to
``twin.whatif.results.v1``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flows import codec
from flows.dataflow.items import DeadLetter, RawRecord, RawRun
from flows.dataflow.metrics import PipelineMetrics
from twin_models.records import DamageCheckpoint, FeatureVector, WhatIfRequest, WhatIfResult
from twin_models.twin import AssetTwin
from twin_models.whatif import Scenario, run_whatif
from twin_models.whatif_checkpoint import checkpoint_of

__all__ = ["CHECKPOINT_EVERY_S", "answer", "due_checkpoint", "request_decoder"]

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


Decoded = list[WhatIfRequest | DeadLetter]


def request_decoder(metrics: PipelineMetrics,
                    now: Callable[[], datetime]) -> Callable[[RawRecord | RawRun], Decoded]:
    """``decode_whatif_requests`` step: the request topic's messages -> requests, or dead letters
    (counted, with the decoder's reason) for payloads that are not valid requests."""

    def decode(item: RawRecord | RawRun) -> Decoded:
        out: Decoded = []
        for raw in item.records() if isinstance(item, RawRun) else [item]:
            got = codec.decode_whatif_request(raw.payload)
            if isinstance(got, codec.DecodeError):
                metrics.dead_letters.labels(reason=got.reason).inc()
                out.append(DeadLetter(got.reason, got.detail, raw.source, raw.payload, now(), raw.headers))
            else:
                out.append(got)
        return out

    return decode


def answer(twin: AssetTwin | None, req: WhatIfRequest) -> WhatIfResult:
    """The live twin's answer to ``req`` (pure: the twin is forked, never changed). A plan, horizon
    or date that cannot run gives ``status="invalid"`` with the reason (a bad plan whatever the
    asset); no twin, ``unknown_asset``."""
    try:
        plan = Scenario(req.plan)
        if twin is None:
            why = f"no twin of asset {req.asset_id!r} in this pipeline"
            return WhatIfResult(req.request_id, req.asset_id, req.timestamp, "unknown_asset", why,
                                req.horizon_s, req.plan)
        return run_whatif(twin, plan, now=req.timestamp, horizon_s=req.horizon_s, dates=req.dates,
                          request_id=req.request_id)
    except ValueError as exc:
        return WhatIfResult(req.request_id, req.asset_id, req.timestamp, "invalid", str(exc), req.horizon_s,
                            req.plan)
