"""flows.app.heap: with glibc, freed multi-megabyte arrays are reused instead of faulting in fresh
pages (issue 10 round 4: page faults were ~10 % of the featurization's CPU)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from flows.app.heap import keep_freed_memory

# The featurization's pattern: 2 MB temporaries of a 64 x 4096 batch, made and freed in turn.
CHURN = """
import resource, sys
import numpy as np
if sys.argv[1] == "tuned":
    from flows.app.heap import keep_freed_memory
    assert keep_freed_memory()
x = np.ones((64, 4096))
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(40):
    c = x - 1.0
    d = c * c
    e = np.fft.rfft(d, axis=1)
    del c, d, e
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt settings are glibc's")


def faults(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", CHURN, mode], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1])


@glibc_only
def test_freed_arrays_are_reused_instead_of_faulted_in_again() -> None:
    default, tuned = faults("default"), faults("tuned")
    assert default > 20_000  # 40 rounds of ~3.5 MB in fresh pages: the cost this module removes
    assert tuned < default / 10


@glibc_only
def test_glibc_takes_the_settings() -> None:
    assert keep_freed_memory() is True
