"""The three ``scipy.fft`` functions the feature library uses, with scipy.fft imported on first use.

Why: ``scipy.fft`` imports ``scipy.special`` and SciPy's array-API layer (~0.15 CPU s), and every
module of the feature package is imported by anything that imports one of them (the twin's
defect rules, the dataflow's admission), so a ``twin run`` over scalars only paid for transforms
it never makes. The calls are exactly scipy.fft's (same arguments, same results).
"""

from __future__ import annotations

from typing import Any

__all__ = ["ifft", "next_fast_len", "rfft"]


def rfft(x: Any, *, axis: int = -1, overwrite_x: bool = False) -> Any:
    """``scipy.fft.rfft(x, axis=axis, overwrite_x=overwrite_x)``."""
    import scipy.fft

    return scipy.fft.rfft(x, axis=axis, overwrite_x=overwrite_x)


def ifft(x: Any, *, axis: int = -1, overwrite_x: bool = False) -> Any:
    """``scipy.fft.ifft(x, axis=axis, overwrite_x=overwrite_x)``."""
    import scipy.fft

    return scipy.fft.ifft(x, axis=axis, overwrite_x=overwrite_x)


def next_fast_len(target: int) -> int:
    """``scipy.fft.next_fast_len(target)``: the next composite of small primes >= target."""
    import scipy.fft

    return int(scipy.fft.next_fast_len(target))
