"""A window's frame features are bit for bit the per-value means they were (issue 10, PERF48).

``aggregate_columns`` summed every frame feature into a dict one value at a time, under a name
made once per frame and feature. :func:`~twin_models.features.window.frame_means` sums each
channel's frames (one key set) as one list a frame and makes every name once; the additions and
their order are the same, so every mean and the order of the names must not move by a bit.
"""

from __future__ import annotations

import math
import random
import struct
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from twin_models.features import window
from twin_models.features.window import aggregate_columns, frame_means

START = datetime(2026, 1, 1, tzinfo=UTC)
Frames = Sequence[tuple[str, Mapping[str, float]]]


def _reference(frames: Frames) -> dict[str, float]:
    """The means as computed before round 48: one value at a time, in the frames' order."""
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for channel, feats in frames:
        for name, value in feats.items():
            sums[f"{channel}.{name}"] += value
            counts[f"{channel}.{name}"] += 1
    return {k: sums[k] / counts[k] for k in sums}


def _bits(d: Mapping[str, float]) -> list[tuple[str, bytes]]:
    return [(k, struct.pack("<d", v)) for k, v in d.items()]


def _value(rng: random.Random) -> float:
    kind = rng.random()
    if kind < 0.05:
        return -0.0
    if kind < 0.1:
        return rng.choice([math.nan, math.inf, 1e308, -1e308, 5e-324])
    if kind < 0.15:
        return rng.randint(-3, 3)  # an int feature: 0.0 + int, as before
    return rng.uniform(-1.0, 1.0) * 10.0 ** rng.randint(-12, 12)


def _window(rng: random.Random, mixed: bool) -> list[tuple[str, dict[str, float]]]:
    """Frames of 1-3 channels, interleaved; with ``mixed``, a channel's frames with two key sets."""
    names = [f"f{i}" for i in range(rng.randint(1, 30))]
    channels = rng.sample(["vib", "vib_h", "vib_v", "acc"], rng.randint(1, 3))
    out = []
    for _ in range(rng.choice([1, 2, 5, 60, 61])):
        channel = rng.choice(channels)
        keys = list(names)
        if mixed and rng.random() < 0.5:
            keys.insert(rng.randint(0, len(keys)), "shaft_hz")
        out.append((channel, {k: _value(rng) for k in keys}))
    return out


@pytest.mark.parametrize("mixed", [False, True])
def test_the_means_and_their_order_are_the_per_value_ones_bit_for_bit(mixed: bool) -> None:
    rng = random.Random(48 + mixed)
    for _ in range(300):
        frames = _window(rng, mixed)
        assert _bits(frame_means(frames)) == _bits(_reference(frames))


def test_a_negative_zero_mean_is_positive_zero_as_before() -> None:
    frames = [("vib", {"a": -0.0, "b": 1.0}), ("vib", {"a": -0.0, "b": 2.0})]
    means = frame_means(frames)
    assert _bits(means) == _bits(_reference(frames))
    assert math.copysign(1.0, means["vib.a"]) == 1.0


def test_two_pairs_spelling_one_name_are_summed_together_as_before() -> None:
    # channel "a.b" feature "c" and channel "a" feature "b.c" are both "a.b.c": one sum, one count
    frames = [("a.b", {"c": 1.0, "d": 3.0}), ("a", {"b.c": 0.1, "e": 2.0}), ("a.b", {"c": 0.2, "d": 1.0})]
    assert _bits(frame_means(frames)) == _bits(_reference(frames))
    assert frame_means(frames)["a.b.c"] == (0.0 + 1.0 + 0.1 + 0.2) / 3


def test_frames_of_one_key_set_a_channel_take_the_list_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def per_value(frames: Frames) -> dict[str, float]:
        msg = "the per-value loop ran for frames of one key set a channel"
        raise AssertionError(msg)

    monkeypatch.setattr(window, "_frame_means_by_value", per_value)
    rng = random.Random(7)
    frames = _window(rng, mixed=False)
    assert _bits(frame_means(frames)) == _bits(_reference(frames))


def test_aggregate_columns_carries_the_means_and_counts_every_frame() -> None:
    rng = random.Random(3)
    frames = _window(rng, mixed=True)
    fv = aggregate_columns("p1", START, START + timedelta(hours=1), iter(frames), {}, 0)
    assert fv.n_records == len(frames)
    assert _bits(dict(fv.features.items())) == _bits(_reference(frames))
