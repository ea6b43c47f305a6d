"""Reading a ``twin run`` process's /metrics over HTTP, robust to a read cut off mid-response.

Why (round 44, FLAKE44): a benchmark failed once with ``http.client.IncompleteRead`` while
scraping ``twin run --exit-at-end``. The run serves /metrics from a daemon thread of
``prometheus_client``; when the process exits (end of the topics) or is loaded, a response can be
cut off after its headers, and urllib then raises ``IncompleteRead``, an ``HTTPException`` that is
NOT an ``OSError``: the ``suppress(OSError)`` around the benchmarks' scrapes let it through and one
cut read failed the whole benchmark.

:func:`read_metrics` tries a read again (a bounded number of times) on any such failure (refused,
reset, timed out, cut off) and then raises :class:`ScrapeFailed` with one line naming the address,
the tries and the last error. :func:`start_serving` starts a run on a port picked just before (a
race: another process may take it first) and, when the run exits because it could not bind it,
starts it again on another port, saying so in one line. :class:`ReadLog` counts the reads that
needed a retry and the scrapes given up on, so a benchmark can say so in its output instead of hiding it.
"""

from __future__ import annotations

import http.client
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

READ_ERRORS = (OSError, http.client.HTTPException, UnicodeDecodeError)
"""What a failed read of /metrics raises: refused/reset/timed out (``OSError``, ``TimeoutError``
among them), a bad or cut-off response (``IncompleteRead``, ``RemoteDisconnected``, ...) or one that
is not text (another program on the port: round 45, it was a traceback)."""


MAX_BODY_BYTES = 64 << 20
"""The largest /metrics body read (a run's is tens of KB): a longer one is a failed read."""


def _body(resp: http.client.HTTPResponse, timeout: float) -> bytes:
    """The whole body of ``resp``, read within ``timeout`` seconds and :data:`MAX_BODY_BYTES`.

    Round 46 (HOSTILE46): ``resp.read()`` bounds each wait for data by the socket's timeout, not the
    read: a program on the port sending a byte a second (or an endless body) held a scrape, and
    ``start_serving``'s deadline, for ever. A body cut before its ``Content-Length`` is an
    ``IncompleteRead``, as ``resp.read()`` raises it (``read1`` returns what came)."""
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    size = 0
    while chunk := resp.read1(1 << 16):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            msg = f"a body over {MAX_BODY_BYTES} bytes"
            raise http.client.HTTPException(msg)
        if time.monotonic() > deadline:
            msg = f"the body not read within {timeout:g} s"
            raise TimeoutError(msg)
    if resp.length:  # closed before its Content-Length
        raise http.client.IncompleteRead(b"".join(chunks), resp.length)
    return b"".join(chunks)


class ScrapeFailed(RuntimeError):
    """Every try of one scrape failed, or the endpoint redirected (the message is one line)."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Round 50 (LEFT50): urllib followed a redirect of /metrics to wherever it pointed (another
    host, another port's figures). A 3xx is left as urllib's ``HTTPError``; :func:`read_metrics`
    refuses it."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:  # noqa: ARG002
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


@dataclass
class ReadLog:
    """How the reads of one benchmark went: figures come only from complete responses."""

    reads: int = 0
    retried: int = 0
    """Reads that failed at least once and then succeeded."""
    given_up: int = 0
    """Scrapes whose every try failed (the caller used its last good scrape, or skipped the sample)."""
    last_error: str = ""

    def summary(self) -> str:
        """One line for the benchmark's output."""
        text = (f"/metrics reads: {self.reads} complete, {self.retried} after a retry, "
                f"{self.given_up} given up")
        return f"{text} (last error: {self.last_error})" if self.last_error else text

    def as_dict(self) -> dict[str, int]:
        return {"reads": self.reads, "retried": self.retried, "given_up": self.given_up}


def read_metrics(port: int, *, host: str = "127.0.0.1", timeout: float = 2.0, tries: int = 3,
                 pause_s: float = 0.2, log: ReadLog | None = None) -> str:
    """The text of ``http://host:port/metrics``, tried up to ``tries`` times.

    Raises :class:`ScrapeFailed` (one line) when every try failed, or at once when the endpoint
    redirects (never followed); a complete response is the only thing returned, never a part of one.
    """
    url = f"http://{host}:{port}/metrics"
    last: BaseException | None = None
    for attempt in range(max(1, tries)):
        if attempt:
            time.sleep(pause_s)
        try:
            with _OPENER.open(url, timeout=timeout) as resp:
                text = _body(resp, timeout).decode()
        except urllib.error.HTTPError as exc:
            if 300 <= exc.code < 400:  # noqa: PLR2004  (not followed, not tried again: one line)
                msg = (f"{url}: redirected ({exc.code}) to {exc.headers.get('Location', '?')!r}; a "
                       "metrics endpoint is read where it is, a redirect is not followed")
                raise ScrapeFailed(msg) from None
            last = exc
            continue
        except READ_ERRORS as exc:
            last = exc
            continue
        if log is not None:
            log.reads += 1
            log.retried += attempt > 0
        return text
    reason = f"{type(last).__name__}: {last}".replace("\n", " ")
    if log is not None:
        log.given_up += 1
        log.last_error = reason
    msg = f"{url}: no complete response in {max(1, tries)} tries ({reason})"
    raise ScrapeFailed(msg)


PORT_TAKEN = "cannot serve metrics on"
"""What ``twin run`` prints (one line, exit 2) when its --metrics-port cannot be bound."""


def start_serving(start: Callable[[int], subprocess.Popen[bytes]], run_log: Path,
                  pick_port: Callable[[], int], *, tries: int = 3,
                  timeout_s: float = 120.0) -> tuple[subprocess.Popen[bytes], int]:
    """``start(port)`` on a freshly picked port until the run serves /metrics: (process, port).

    A run that exits because its port was taken between the pick and its bind is started again on
    another port (up to ``tries`` ports, one line on stderr each time); a run that ends with 0
    before its first scrape (a short ``--exit-at-end`` run) is returned as it is; any other exit,
    or no /metrics within ``timeout_s``, raises ``RuntimeError`` with one line.
    """
    for attempt in range(max(1, tries)):
        port = pick_port()
        proc = start(port)
        deadline = time.monotonic() + timeout_s
        while proc.poll() is None:
            try:
                read_metrics(port, tries=1)
            except ScrapeFailed:
                if time.monotonic() > deadline:
                    proc.kill()
                    proc.wait()
                    msg = f"twin run did not serve /metrics on port {port} within {timeout_s:.0f} s"
                    raise RuntimeError(msg) from None
                time.sleep(0.2)
                continue
            return proc, port
        if proc.returncode == 0:
            return proc, port
        tail = run_log.read_text(errors="replace").strip().splitlines()[-1:] or [""]
        if PORT_TAKEN in tail[0] and attempt + 1 < max(1, tries):
            print(f"metrics port {port} was taken before the run bound it; starting it again on another port",
                  file=sys.stderr)
            continue
        msg = f"twin run exited with {proc.returncode} before serving /metrics: {tail[0]}"
        raise RuntimeError(msg)
    msg = "unreachable"  # the loop returns or raises
    raise AssertionError(msg)
