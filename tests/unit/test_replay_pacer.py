"""`twin replay --speed` with a tiny speed waits, in slices, instead of failing (round 49, HOSTILE49B).

``--speed 1e-9`` over minute data asked ``time.sleep`` for 6e10 s at once, beyond what the platform
takes: ``twin: internal error: OverflowError: timestamp out of range for platform time_t``, exit 1.
"""

from __future__ import annotations

import time

import pytest

from flows.app import produce


class _Stop(Exception):
    """Ends the test's wait after its first slice."""


def test_a_tiny_speed_sleeps_in_slices_the_platform_takes(monkeypatch: pytest.MonkeyPatch) -> None:
    real_sleep, slept = time.sleep, []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        real_sleep(0 if seconds <= 1e9 else seconds)  # the real one refuses what it cannot take
        raise _Stop

    monkeypatch.setattr(produce.time, "sleep", sleep)
    pacer = produce._Pacer(1e-9)
    pacer.wait_for(0.0)
    with pytest.raises(_Stop):
        pacer.wait_for(60.0)  # 6e10 s of wall time: the first slice, then the test stops it
    assert slept == [produce.MAX_SLEEP_S]


def test_a_short_wait_is_one_sleep_of_its_length(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    clock = [100.0]
    monkeypatch.setattr(produce.time, "monotonic", lambda: clock[0])

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr(produce.time, "sleep", sleep)
    pacer = produce._Pacer(2.0)
    pacer.wait_for(0.0)
    pacer.wait_for(10.0)
    assert slept == [5.0]
