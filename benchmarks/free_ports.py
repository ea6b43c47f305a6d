"""Free TCP ports for the processes the tests and benchmarks start, picked BELOW the kernel's
ephemeral port range.

A port found the usual way (bind port 0, read it, close) comes from the ephemeral range
(``net.ipv4.ip_local_port_range``, 32768-60999 here), the range the kernel also draws the local port
of every outgoing connection from. Between the pick and the started process's own bind, any
connection made on the machine can take it: a `twin run` opens dozens to the broker, Prometheus
opens one per scrape. Round 44's fresh-clone CI failed that way (`--metrics-port 39405: cannot serve
metrics on 127.0.0.1:39405: Address already in use`). A port below the range is never given to an
outgoing connection, so only another listener can take it, and the pick is random over ~12,000
ports so two pickers (parallel runs) rarely meet.
"""

from __future__ import annotations

import random
import socket
from contextlib import ExitStack
from pathlib import Path

RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
POOL_START = 20000
"""The pool's first port: above the repo's conventional fixed ports (the test broker's 19092, the
helpers' 196xx and 199xx), below which registered services cluster."""

_pick = random.SystemRandom()


def ephemeral_range(path: Path = RANGE_FILE) -> tuple[int, int]:
    """The kernel's (first, last) port for outgoing connections; Linux's default when unreadable or
    no range of ports (round 46: ``70000 80000`` made a pool of ports past 65535, an OverflowError
    from ``bind``)."""
    try:
        low, high = (int(x) for x in path.read_text().split())
    except (OSError, ValueError):
        return 32768, 60999
    return (low, high) if 1 <= low <= high <= 65535 else (32768, 60999)


def pool(path: Path = RANGE_FILE) -> range:
    """The ports picked from: below the ephemeral range, else above it (a range set to start low)."""
    low, high = ephemeral_range(path)
    if low - POOL_START >= 1000:
        return range(POOL_START, low)
    return range(high + 1, 65536)


def _bindable(port: int, stack: ExitStack) -> bool:
    """Whether ``port`` can be bound on every address (which fails when any address has it bound,
    loopback included); held bound in ``stack`` until the pick ends."""
    s = stack.enter_context(socket.socket())
    try:
        s.bind(("0.0.0.0", port))  # noqa: S104 - a probe, closed when the pick ends
    except OSError:
        return False
    return True


def free_ports(n: int, *, path: Path = RANGE_FILE) -> list[int]:
    """``n`` distinct ports free right now, outside the range outgoing connections take ports from
    (held bound together while picking, so they differ). Falls back to the kernel's pick (port 0)
    when the pool is empty or 500 draws found nothing."""
    ports: list[int] = []
    candidates = pool(path)
    with ExitStack() as stack:
        for _ in range(500 if len(candidates) else 0):
            if len(ports) == n:
                break
            port = _pick.choice(candidates)
            if port not in ports and _bindable(port, stack):
                ports.append(port)
        while len(ports) < n:
            s = stack.enter_context(socket.socket())
            s.bind(("127.0.0.1", 0))
            ports.append(int(s.getsockname()[1]))
    return ports


def free_port() -> int:
    """One port of :func:`free_ports`."""
    return free_ports(1)[0]
