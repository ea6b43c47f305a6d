"""Round 50 (LEFT50): the end lines said ``1 versions learnt here``, ``1 waits``, ``1 records read``
and ``backtest: 1 records, 1 windows, 1 alert episodes``. A count of one takes the singular; the
parsers of these lines (integration tests, benchmarks) read both forms."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from flows.app.losses import fleet_line, loss_problem, run_line
from flows.app.produce import PublishReport
from flows.cli.main import main
from flows.dataflow.metrics import PipelineMetrics

PARSERS = [("tests.integration.test_kafka_fleet_void", "FLEET_LINE"),
           ("tests.integration.test_scaleout_determinism", "FLEET_LINE"),
           ("benchmarks.twin_cluster", "FLEET_LINE"), ("benchmarks.twin_cluster", "RUN_LINE")]


def _metrics(n: int) -> PipelineMetrics:
    m = PipelineMetrics()
    m.records_in.labels(source="t").inc(n)
    m.windows_closed.inc(n)
    for counter in (m.fleet_models, m.fleet_models_late, m.event_time_gate_waits, m.event_time_gate_timeouts):
        counter.inc(n)
    return m


def test_a_count_of_one_is_singular_and_the_parsers_read_both() -> None:
    one = _metrics(1)
    assert run_line(one) == "twin run: 1 record read, 1 window closed, dead letters: 0"
    assert fleet_line(one) == ("twin run: fleet models: 1 version learnt here, 1 late; "
                               "event-time gate: 1 wait, 1 timeout")
    assert fleet_line(_metrics(2)) == ("twin run: fleet models: 2 versions learnt here, 2 late; "
                                       "event-time gate: 2 waits, 2 timeouts")
    for n in (1, 2):
        text = f"{run_line(_metrics(n))}\n{fleet_line(_metrics(n))}"
        for module, name in PARSERS:
            pattern = getattr(importlib.import_module(module), name)
            found = pattern.search(text)
            assert found is not None, (module, name, text)
            counts = [int(g) for g in found.groups()]
            assert n in counts and set(counts) <= {0, n}  # 0: the run line's dead letters


def test_a_backtest_of_one_record_says_one_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "one.csv"
    data.write_text("timestamp,value\n2026-01-01T00:00:00Z,1.0\n")
    assert main(["backtest", str(data), "--out", str(tmp_path / "o"), "--no-progress", "--no-report"]) == 0
    assert capsys.readouterr().out.startswith("backtest: 1 record, 1 window, 0 alert episodes in ")


def test_the_publish_and_loss_lines_of_one_record() -> None:
    assert PublishReport(records=1, bytes=200_000, seconds=0.5).published("b:9092") == (
        "published 1 record (0.2 MB) to b:9092 in 0.5 s")
    assert PublishReport(records=2).published("b:9092").startswith("published 2 records (0.0 MB)")
    assert (loss_problem(1, 0, {}, 0.5) or "").startswith("no window was produced from 1 record (")
