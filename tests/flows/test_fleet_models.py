"""Fleet RUL split into per-asset prediction and shared learning: partition-independent outputs.

Before: the ``fleet_rul`` step (keyed by asset kind) fused the fleet RUL into every snapshot of a
kind in ONE worker, in whatever order the workers' snapshots reached it, and learnt lives there:
its outputs could change with the number of workers. Now ``twin_update`` fuses per asset with the
fleet model version that applies at the window's event time (``effective_from``), and the learner
only publishes versions.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import bytewax.operators as op
import pytest
from bytewax.testing import TestingSource, cluster_main, run_main

from flows.config.pipeline import KafkaConfig, PipelineConfig
from flows.dataflow.fleet_models import FleetBoard
from flows.dataflow.items import RawRecord
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.pipeline import get_flow
from flows.dataflow.sources.simulator import SimulatorSource
from tests.flows.conftest import SMALL_FLEET, Outputs, collecting_sinks
from twin_models.records import AssetMetadata
from twin_models.rul.fleet import FleetRulConfig
from twin_models.rul.fleet_model import FleetModel
from twin_models.rul.regression_learner import RegressionLearner
from twin_models.simulator.fleet import fleet_metadata

DELAY_S = 86_400.0  # above the downtime after a failure: a failure window closes with the next data
FLEET_RUL = FleetRulConfig(prior=True, model_delay_s=DELAY_S, rul_features=("vib.rms", "temperature.mean"),
                           min_lives=2, baseline_windows=5, trend_windows=5, life_chunk_rows=4)
BASE = PipelineConfig(clock="data", window_s=3600.0, allowed_lateness_s=600.0)
CFG = replace(BASE, twin=replace(BASE.twin, fleet=FLEET_RUL))


def _metadata() -> dict[str, AssetMetadata]:
    """The small fleet with two kinds (pump-002 is a fan): two learners, two model streams."""
    meta = fleet_metadata(SMALL_FLEET)
    return {k: replace(v, kind="fan" if k == "pump-002" else "pump") for k, v in meta.items()}


def _run(workers: int, metrics: PipelineMetrics) -> Outputs:
    sinks, out = collecting_sinks()
    # the demo's source: an in-process replay holds at a version on its way (a learner worker
    # lagging the others cannot make a version late: flows.dataflow.fleet_models, "Holds")
    flow = get_flow(CFG, source=SimulatorSource(SMALL_FLEET, batch=64), sinks=sinks,
                    metadata=_metadata(), metrics=metrics, board=FleetBoard(
                        on_late=lambda _m: metrics.fleet_models_late.inc()))
    if workers == 1:
        run_main(flow)
    else:
        cluster_main(flow, [], 0, worker_count_per_proc=workers)
    return out


@pytest.fixture(scope="module")
def runs() -> dict[int, tuple[Outputs, PipelineMetrics]]:
    out = {}
    for workers in (1, 3):
        m = PipelineMetrics()
        out[workers] = (_run(workers, m), m)
    return out


def test_fused_state_is_identical_with_one_and_three_workers(
        runs: dict[int, tuple[Outputs, PipelineMetrics]]) -> None:
    (one, m1), (three, m3) = runs[1], runs[3]
    fused = [s for s in one.state if "fleet" in s.rul_source]
    assert fused, "no snapshot used a fleet model: the test would compare nothing"
    assert m1.value("twin_fleet_models_total") >= 2 and m1.value("twin_fleet_models_late_total") == 0
    assert m3.value("twin_fleet_models_late_total") == 0
    assert sorted(map(repr, one.state)) == sorted(map(repr, three.state))  # fused RUL included
    assert sorted(map(repr, one.alerts)) == sorted(map(repr, three.alerts))


def test_a_model_applies_from_its_effective_time_on(runs: dict[int, tuple[Outputs, PipelineMetrics]]) -> None:
    """The first fleet-fused window of a kind is the first window at or after the first failure of
    that kind + model_delay_s: not one before (not the failure's window, not the next ones)."""
    out, _m = runs[1]
    kinds = _metadata()
    failures = sorted((e.timestamp, kinds[e.asset_id].kind) for fv in out.features for e in fv.events
                      if e.kind == "failure")
    assert failures
    checked = 0
    for kind in {k for _, k in failures}:
        first_failure = min(t for t, k in failures if k == kind)
        effective = first_failure + timedelta(seconds=DELAY_S)
        of_kind = [s for s in out.state if kinds[s.asset_id].kind == kind]
        after = [s.timestamp for s in of_kind if s.timestamp >= effective]
        if not after:  # the run ends before this kind's first version applies
            assert not any("fleet" in s.rul_source for s in of_kind), kind
            continue
        fused = [s.timestamp for s in of_kind if "fleet" in s.rul_source]
        assert fused and min(fused) == min(after), kind
        checked += 1
    assert checked >= 1


def test_every_closed_life_announces_the_version_the_learner_then_publishes(
        fleet_records: list[RawRecord]) -> None:
    """The event-time gate's holds (`twin run`) are released by the version effective at the
    closed life's failure + model_delay_s: the board's ``expect`` must name exactly the versions
    the learner publishes, or a hold would wait for its timeout."""
    expected: list[tuple[str, float]] = []
    published: list[tuple[str, float]] = []
    board = FleetBoard(on_expect=lambda kind, t: expected.append((kind, t)))
    sinks, _out = collecting_sinks()
    collect = lambda name, stream: op.inspect(  # noqa: E731 - a sink attacher
        name, stream, lambda _step, m: published.append((m.kind, m.effective_from_s)))
    sinks = replace(sinks, fleet_models=[*sinks.fleet_models, collect])
    run_main(get_flow(CFG, source=TestingSource(fleet_records, batch_size=64), sinks=sinks,
                      metadata=_metadata(), metrics=PipelineMetrics(), board=board))
    assert expected, "no life was closed: the test would check nothing"
    assert set(expected) <= set(published), (expected, published)


def test_each_state_names_the_fleet_model_version_it_applied(
        runs: dict[int, tuple[Outputs, PipelineMetrics]]) -> None:
    """Digital thread (issue 11): a fused snapshot's lineage names the version of its kind's fleet
    model in effect at its window (0 before the first), the one whose RUL it fused."""
    out, _m = runs[1]
    kinds = _metadata()
    versions: dict[str, list[tuple[float, int]]] = {}
    for s in sorted(out.state, key=lambda s: s.timestamp):
        assert s.lineage is not None
        v = s.lineage.fleet_model_version
        assert ("fleet" in s.rul_source) <= (v > 0)  # a fleet RUL comes from some version
        versions.setdefault(kinds[s.asset_id].kind, []).append((s.timestamp.timestamp(), v))
    assert any(v > 0 for seq in versions.values() for _, v in seq)
    for seq in versions.values():  # per kind, in event time, the version in effect only grows
        assert [v for _, v in seq] == sorted(v for _, v in seq)


def test_fleet_model_consumer_start_without_a_broker_is_one_line_after_connect_timeout() -> None:
    """No broker answering (nothing listens on the port): the fleet model consumer waits for the
    brokers until ``connect_timeout_s`` (``wait_for_brokers``, as every command), then a
    KafkaSetupError names the brokers in one line (not an internal error with a KafkaException,
    as when a broker restarted while `twin run` was starting)."""
    from flows.app.fleet_topic import FleetModelConsumer

    _refused_after_connect_timeout(
        lambda kafka: FleetModelConsumer(kafka, "it.twin.fleet_models", FleetBoard(), PipelineMetrics()))


def test_fleet_model_consumer_with_a_refused_setting_is_one_line() -> None:
    """A setting librdkafka refuses is a KafkaSetupError naming it when the consumer is made
    (the shared client helper), not a KafkaException from inside `twin run`."""
    from flows.app.fleet_topic import FleetModelConsumer
    from flows.kafka.clients import KafkaSetupError

    kafka = KafkaConfig(brokers="127.0.0.1:1", librdkafka={"security.protocol": "bogus"})
    with pytest.raises(KafkaSetupError, match="refused: .*security.protocol") as err:
        FleetModelConsumer(kafka, "it.twin.fleet_models", FleetBoard(), PipelineMetrics())
    assert "\n" not in str(err.value)


def test_progress_publisher_with_a_refused_setting_is_one_line() -> None:
    """The event-time gate's progress producer is made by the shared ``producer_client``: a
    setting librdkafka refuses is a KafkaSetupError naming it (was: a bare Producer's
    KafkaException from inside `twin run`)."""
    from flows.app.gate_link import ProgressPublisher
    from flows.dataflow.event_time_gate import EventTimeGate
    from flows.kafka.clients import KafkaSetupError

    kafka = KafkaConfig(brokers="127.0.0.1:1", librdkafka={"security.protocol": "bogus"})
    with pytest.raises(KafkaSetupError, match="refused: .*security.protocol") as err:
        ProgressPublisher(kafka, "it.twin.fleet_models", EventTimeGate(60.0, processes=2), 0)
    assert "\n" not in str(err.value)


def test_progress_publisher_start_without_a_broker_is_one_line_after_connect_timeout() -> None:
    """No broker answering: the publisher waits for the brokers up to ``connect_timeout_s``
    (``wait_for_brokers``), then one KafkaSetupError line, and no thread is left publishing
    (was: the thread started and queued progress for a broker that never answered)."""
    from flows.app.gate_link import ProgressPublisher
    from flows.dataflow.event_time_gate import EventTimeGate

    _refused_after_connect_timeout(
        lambda kafka: ProgressPublisher(kafka, "it.twin.fleet_models", EventTimeGate(60.0, processes=2), 0))


def _refused_after_connect_timeout(make: Callable[[KafkaConfig], Any]) -> None:
    """``make(kafka).start()`` with no broker answering waits ``connect_timeout_s`` (2 s), then one
    KafkaSetupError line naming the brokers, and leaves no thread running."""
    import socket
    import time

    from flows.kafka.clients import KafkaSetupError

    with socket.socket() as s:  # a port kept bound, nothing listening: refused, and no other process
        # can take it while the test runs (round 31: it was freed first)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        client = make(KafkaConfig(brokers=f"127.0.0.1:{port}", connect_timeout_s=2.0))
        start = time.monotonic()
        with pytest.raises(KafkaSetupError) as err:
            client.start()
        assert time.monotonic() - start >= 2.0
        assert f"127.0.0.1:{port} within 2 s" in str(err.value) and "\n" not in str(err.value)
        assert not client.thread.is_alive()



ONE_KIND = replace(CFG, twin=replace(CFG.twin, fleet=replace(FLEET_RUL, min_lives=1)))
"""Both lives of the small fleet of one kind, a refit after each."""
KIND = "rotating_machine"  # the simulator's (the default kind)


def _run_collecting_models(records: list[RawRecord], metrics: PipelineMetrics
                           ) -> tuple[Outputs, list[FleetModel], list[tuple[str, float]]]:
    """One worker, one kind (:data:`ONE_KIND`): the outputs, the fleet model versions published,
    the versions announced."""
    expected: list[tuple[str, float]] = []
    models: list[FleetModel] = []
    sinks, out = collecting_sinks()
    collect = lambda name, stream: op.inspect(name, stream, lambda _s, m: models.append(m))  # noqa: E731
    sinks = replace(sinks, fleet_models=[*sinks.fleet_models, collect])
    board = FleetBoard(on_expect=lambda k, t: expected.append((k, t)))
    run_main(get_flow(ONE_KIND, source=TestingSource(records, batch_size=64), sinks=sinks,
                      metadata=fleet_metadata(SMALL_FLEET), metrics=metrics, board=board))
    return out, models, expected


def test_fleet_fits_that_all_fail_leave_the_flow_learning_lives(
        fleet_records: list[RawRecord], monkeypatch: pytest.MonkeyPatch) -> None:
    """Every refit raises at its first unit (round 20, learnfail): before, the first failing
    refit made every later item of its kind a dead letter (the lives after it unlearnt); now each
    is abandoned, counted and logged, every life is learnt and announced, nothing dead-lettered."""
    clean_metrics = PipelineMetrics()
    _clean, clean_models, _ = _run_collecting_models(fleet_records, clean_metrics)
    assert any(v.regression is not None for v in clean_models), "no refit: the test would check nothing"

    def failing(_self: RegressionLearner, _spec: object) -> Generator[int, None, object]:
        msg = "injected fit failure"
        raise RuntimeError(msg)
        yield 0  # a generator, as the real job

    monkeypatch.setattr(RegressionLearner, "_job", failing)
    m = PipelineMetrics()
    out, models, expected = _run_collecting_models(fleet_records, m)
    assert m.value("twin_fleet_fit_failures_total", {"kind": KIND}) == 2  # after each life
    assert clean_metrics.value("twin_fleet_fit_failures_total", {"kind": KIND}) == 0
    assert m.value("twin_dead_letters_total", {"reason": "processing_error"}) == 0
    assert not [d for d in out.dead_letters if "fleet_rul" in d.detail]
    # a version per life learnt, as in the clean run (which also published the refits' versions)
    lives = lambda vs: sorted({(v.kind, v.lives) for v in vs})  # noqa: E731
    assert lives(models) == lives(clean_models) and len(models) < len(clean_models)
    assert all(v.regression is None for v in models)
    assert set(expected) <= {(v.kind, v.effective_from_s) for v in models}
