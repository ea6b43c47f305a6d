"""Decode cost of a waveform frame: TWF v1 binary vs the JSON form (``flows.codec``).

Run: ``.venv/bin/python benchmarks/bench_serde.py [--samples 4096] [--repeat 7]``.
Prints one row per form (payload size, best-of-repeat time per decode and per encode) and the
JSON/binary ratio. Times are per call, from ``timeit`` with an automatically chosen loop count.
"""

from __future__ import annotations

import argparse
import platform
import timeit
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np

from flows import codec
from twin_models.records import WaveformFrame

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def make_frame(n_samples: int, seed: int = 0) -> WaveformFrame:
    """A vibration-like frame (noise plus a tone) of ``n_samples`` float32 samples."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / 25600.0
    x = 0.3 * np.sin(2 * np.pi * 157.0 * t) + rng.normal(0.0, 0.05, n_samples)
    return WaveformFrame("pump-07", "vib_h", NOW, 25600.0, x.astype(np.float32), 29.5, "g")


def best_seconds(fn: Callable[[], object], repeat: int) -> float:
    """Best per-call time over ``repeat`` timeit runs (each of an auto-ranged loop count)."""
    timer = timeit.Timer(fn)
    loops, _ = timer.autorange()
    return min(timer.repeat(repeat=repeat, number=loops)) / loops


def measure(frame: WaveformFrame, repeat: int) -> dict[str, tuple[int, float, float]]:
    """Form -> (payload bytes, decode seconds, encode seconds); checks both decode correctly."""
    forms = {"binary": codec.encode_waveform, "json": codec.encode_json}
    out = {}
    for name, encode in forms.items():
        raw = encode(frame)
        decoded = codec.decode_telemetry(raw, now=NOW)
        if decoded != frame:
            msg = f"{name} form did not round-trip: {decoded!r}"
            raise RuntimeError(msg)
        dec = best_seconds(lambda raw=raw: codec.decode_telemetry(raw, now=NOW), repeat)
        enc = best_seconds(lambda encode=encode: encode(frame), repeat)
        out[name] = (len(raw), dec, enc)
    return out


def main(argv: list[str] | None = None) -> None:
    """Time decode/encode of both forms and print a results table with the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=4096, help="samples per frame")
    parser.add_argument("--repeat", type=int, default=7, help="timeit repeats (best is kept)")
    args = parser.parse_args(argv)
    results = measure(make_frame(args.samples), args.repeat)
    print(
        f"waveform frame, {args.samples} float32 samples; Python {platform.python_version()}, "
        f"numpy {np.__version__}, {platform.machine()}"
    )
    print(f"{'form':<8}{'bytes':>10}{'decode us':>12}{'encode us':>12}")
    for name, (size, dec, enc) in results.items():
        print(f"{name:<8}{size:>10}{dec * 1e6:>12.1f}{enc * 1e6:>12.1f}")
    (bs, bd, be), (js, jd, je) = results["binary"], results["json"]
    print(f"json/binary: decode {jd / bd:.0f}x slower, encode {je / be:.0f}x slower, {js / bs:.1f}x larger")


if __name__ == "__main__":
    main()
