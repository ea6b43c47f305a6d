"""An asset metadata document with very many sensors loads in time linear in their number.

Round 49 (HOSTILE49B): each sensor's channel was checked against every earlier one (a scan of the
list), so a hostile or generated metadata file of 100,000 sensors held ``twin run`` / ``twin
backtest`` at its start for ~100 s (50,000: ~30 s on the 2-vCPU VM); with a set of the channels
seen, 0.3 s.
"""

from __future__ import annotations

import time

import pytest

from flows.codec import metadata_from_dict

N = 50_000


def _doc(channels: list[str]) -> dict[str, object]:
    return {"asset_id": "a1", "sensors": [{"channel": c, "kind": "scalar"} for c in channels]}


def test_fifty_thousand_sensors_load_in_seconds_not_half_a_minute() -> None:
    doc = _doc([f"c{i}" for i in range(N)])
    t0 = time.perf_counter()
    meta = metadata_from_dict(doc)
    took = time.perf_counter() - t0
    assert [s.channel for s in meta.sensors] == [f"c{i}" for i in range(N)]
    assert took < 5.0, f"{N} sensors took {took:.1f} s"


def test_a_channel_repeated_last_is_still_named() -> None:
    with pytest.raises(ValueError, match=r"sensors\[50000\]\.channel 'c7' is repeated"):
        metadata_from_dict(_doc([*(f"c{i}" for i in range(N)), "c7"]))
