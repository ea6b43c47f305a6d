"""The archive benchmark times the sink and its floor the same way (issue 10 round 4).

Until round 3 ``benchmarks/bench_archive.py`` timed each once, the floor's writes right after
building (and freeing) ~900 other tables, and its ratio swung 0.58-0.87x between runs. Now both
run ``n`` times, alternated so neither always goes first, and the ratio is of the medians.
"""

from __future__ import annotations

from benchmarks.bench_archive import pairs


def test_sink_and_floor_alternate_and_the_ratio_is_of_the_medians() -> None:
    calls: list[str] = []
    sink_s = iter([4.0, 2.0, 9.0, 3.0, 5.0])
    floor_s = iter([1.0, 2.0, 1.5, 8.0, 0.5])

    def sink(k: int) -> float:
        calls.append(f"s{k}")
        return next(sink_s)

    def floor(k: int) -> float:
        calls.append(f"f{k}")
        return next(floor_s)

    out = pairs(sink, floor, 5)
    assert calls == ["s0", "f0", "f1", "s1", "s2", "f2", "f3", "s3", "s4", "f4"]
    assert out["sink_cpu_s"] == 4.0 and out["floor_cpu_s"] == 1.5
    assert out["sink_vs_floor"] == 0.375  # median floor / median sink, not a single pair's
    assert out["sink_cpu_s_min_max"] == [2.0, 9.0]
    assert out["pair_ratio_min_max"] == [0.1, round(8.0 / 3.0, 3)]
