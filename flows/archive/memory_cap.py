"""A cap on the memory a `twin sql` query's process may take, beyond DuckDB's own limit.

Round 50 (LEFT50): DuckDB's ``memory_limit`` bounds its buffer manager only. A string a function
builds (``repeat('x', 2000000000)``, ``lpad``, ``||`` of those) is allocated outside it: with
``--memory-limit 64`` one ``SELECT length(repeat('x', 300000000))`` took 650 MB and answered, and
``... FROM range(20)`` more; DuckDB has no setting that bounds such a string (its only bound is the
4 GiB of a string's length), so a few rows of them could take all of the machine's memory. While
the query runs, the process's data segment (``RLIMIT_DATA``: its heap and private writable
mappings, virtual size) is capped at what it holds when the query starts plus twice the query's
limit plus :data:`OUTSIDE_MIB` and :data:`PER_CPU_MIB` per CPU (thread stacks, Arrow's reading
buffers); an allocation past it fails and DuckDB says ``Out of Memory Error: Allocation failure``
(one line, exit 2), before the memory is touched. The cap is lifted when the query is done (the
command may run in a longer process, as the tests do). Linux only (elsewhere: no cap).
"""

from __future__ import annotations

import contextlib
import os
import resource
from collections.abc import Iterator

__all__ = ["OUTSIDE_MIB", "PER_CPU_MIB", "capped_memory", "data_mib"]

OUTSIDE_MIB = 512
"""Room for what is not DuckDB's buffers (Python's objects of a fetched batch, Arrow's reads)."""
PER_CPU_MIB = 32
"""Room per CPU: DuckDB and Arrow start a thread per CPU, each with its stack (8 MiB) and arena."""


def data_mib() -> int | None:
    """The process's data segment now (``VmData``, MiB), or None where ``/proc`` does not say."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            line = next((x for x in f if x.startswith("VmData:")), "")
    except OSError:
        return None
    parts = line.split()
    return int(parts[1]) >> 10 if len(parts) == 3 and parts[1].isdigit() else None  # noqa: PLR2004


@contextlib.contextmanager
def capped_memory(limit_mib: int) -> Iterator[int | None]:
    """Cap the data segment for the ``with`` body (see the module docstring); yields the cap (MiB)
    or None when there is none (no ``/proc``, or a hard limit already lower)."""
    now = data_mib()
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    cap = None if now is None else now + 2 * limit_mib + OUTSIDE_MIB + PER_CPU_MIB * (os.cpu_count() or 1)
    if cap is None or cap << 20 >= 1 << 62 or any(  # a lower limit already set stays as it is
            lim != resource.RLIM_INFINITY and lim < cap << 20 for lim in (soft, hard)):
        yield None
        return
    resource.setrlimit(resource.RLIMIT_DATA, (cap << 20, hard))
    try:
        yield cap
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))
