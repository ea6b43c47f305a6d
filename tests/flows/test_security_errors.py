"""A KafkaSecurityError raised inside a running dataflow (credentials rejected mid-run) reaches
`twin run`'s error handling as itself, not as Bytewax's wrapping engine errors (a traceback)."""

from __future__ import annotations

from typing import Any

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, run_main

from flows.app.run import _cause
from flows.kafka.errors import KafkaSecurityError


def _reject(_item: int) -> Any:
    msg = "Kafka authentication failed at 127.0.0.1:1 (SASL SCRAM-SHA-512 as user 'svc')"
    raise KafkaSecurityError(msg)


def test_the_security_error_is_found_behind_the_engine_errors() -> None:
    flow = Dataflow("security_error")
    op.output("out", op.map("reject", op.input("in", flow, TestingSource([1])), _reject), TestingSink([]))
    with pytest.raises(Exception) as caught:  # noqa: PT011  (Bytewax's own error types)
        run_main(flow)
    assert not isinstance(caught.value, KafkaSecurityError)  # wrapped by the engine...
    found = _cause(caught.value, KafkaSecurityError)  # ...and found again
    assert isinstance(found, KafkaSecurityError) and str(found).startswith("Kafka authentication failed")


def test_other_engine_errors_are_left_alone() -> None:
    assert _cause(RuntimeError("boom"), KafkaSecurityError) is None
