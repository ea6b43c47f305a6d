"""A batch's alerts are written before its states and features (issue 10, part LATENCY3).

A Bytewax worker runs the operators that have work in the order they were added to the flow,
and the state and archive sinks of a batch take milliseconds (a Kafka flush waits for the
broker's acknowledgement): the alert sinks come first, so an alert does not wait for them.
"""

from __future__ import annotations

from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Stream
from bytewax.testing import TestingSource

from flows.config.pipeline import PipelineConfig
from flows.dataflow.pipeline import Sinks, get_flow


def _inspect(step_id: str, stream: Stream[Any]) -> None:
    op.inspect(step_id, stream)


def test_the_alert_sinks_are_added_before_the_state_and_feature_sinks() -> None:
    sinks = Sinks(features=[_inspect], state=[_inspect, _inspect], alerts=[_inspect, _inspect])
    flow = get_flow(PipelineConfig(), source=TestingSource([]), sinks=sinks)
    order = [s.step_name for s in flow.substeps]
    last_alert = max(order.index("alerts_out_0"), order.index("alerts_out_1"))
    assert last_alert < order.index("state_out_0")
    assert last_alert < order.index("features_out_0")
