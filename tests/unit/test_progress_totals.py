"""The progress bars of `twin demo`, `simulate`, `replay` and `backtest` end at 100 % (round 48,
USER48: the demo's and simulate's bars stopped at about 80 %, their estimate counting 5 scalar
channels for the simulator's 4; a backtest's at its upper bound's share)."""

from __future__ import annotations

import io

import pytest

from flows.app.progress import progress_bar
from flows.dataflow.sources.simulator import count_records
from twin_models.simulator.fleet import FleetConfig, simulate_fleet


@pytest.mark.parametrize("cfg", [FleetConfig(n_assets=2, days=2, fault_fraction=0.0),
                                 FleetConfig(n_assets=4, days=6, seed=3)],
                         ids=["healthy", "with-failures"])
def test_the_simulators_record_estimate_is_close_to_what_it_emits(cfg: FleetConfig) -> None:
    emitted = sum(1 for _ in simulate_fleet(cfg))
    estimate = count_records(cfg)
    # a failure's downtime emits fewer than estimated, never more; a healthy fleet is exact
    assert 0.95 * estimate <= emitted <= estimate
    if cfg.fault_fraction == 0.0:
        assert emitted == estimate


def _drawn(total: int, done: int, *, stop: bool = False) -> str:
    out = io.StringIO()
    try:
        with progress_bar(total, disable=False, file=out, mininterval=0) as bar:
            bar.update(done)
            if stop:
                raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    return out.getvalue().split("\r")[-1]


def test_a_finished_runs_bar_ends_at_100_percent_of_what_it_counted() -> None:
    last = _drawn(1000, 970)  # an estimate above the records the run had
    assert "100%" in last and "970/970" in last, last
    assert _drawn(1000, 970, stop=True).strip() == ""  # a stop clears the bar, as before
