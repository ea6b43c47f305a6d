"""``twin ...`` with a poison life: the fleet learner raises on every part of one asset's lives.

The two-process poison test (``test_kafka_fleet_void``) runs the real ``twin run`` through this
wrapper (a subprocess on the real broker), as round 31's in-process tests patch the learner
(``tests/flows/test_fleet_poison_life.py``). Env ``TWIN_TEST_POISON_ASSET``: the asset (unset:
no poison). Stderr says where things happen, for the test to check the life's twin and its learner
are in different processes: ``poison: expect <kind> <effective s>`` when this process's board is
told a version is coming, ``poison: learner raised <asset> <kind> <effective s>`` when this
process's learner fails.
Usage: ``python -m tests.integration.run_poisoned run ...``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from flows.cli.main import main
from flows.dataflow.fleet_models import FleetBoard
from twin_models.rul.fleet_learner import FleetLearner
from twin_models.rul.fleet_view import LifeChunk

POISON = os.environ.get("TWIN_TEST_POISON_ASSET", "")


def _poisoned(learn: Any) -> Any:
    def poisoned(self: FleetLearner, chunk: LifeChunk) -> Any:
        if chunk.asset_id == POISON:
            eff = self.config.effective_from_s(chunk.failure_s)
            print(f"poison: learner raised {chunk.asset_id} {self.kind} {eff}", file=sys.stderr, flush=True)
            msg = "a poison life"
            raise RuntimeError(msg)
        return learn(self, chunk)

    return poisoned


def _telling(expect: Any) -> Any:
    def telling(self: FleetBoard, kind: str, effective_from_s: float) -> None:
        print(f"poison: expect {kind} {effective_from_s}", file=sys.stderr, flush=True)
        expect(self, kind, effective_from_s)

    return telling


if __name__ == "__main__":
    if POISON:
        FleetLearner.learn = _poisoned(FleetLearner.learn)  # type: ignore[method-assign]
    FleetBoard.expect = _telling(FleetBoard.expect)  # type: ignore[method-assign]
    sys.exit(main(sys.argv[1:]))
