"""benchmarks/metrics_read.py (round 44, FLAKE44): a /metrics read cut off mid-response is tried
again and returns only a complete response; after its bound, one clear error; a run whose metrics
port was taken before it bound it is started again on another port.

A real HTTP server (``http.server``, port 0: bound by the server itself, so no race) that sends the
headers and a part of the body, then closes the connection, as ``twin run`` does when it exits
while a scrape is being answered: urllib then raises ``http.client.IncompleteRead``, which is not
an ``OSError`` (the benchmarks' ``suppress(OSError)`` let it through before).
"""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from benchmarks.free_ports import free_port
from benchmarks.metrics_read import ReadLog, ScrapeFailed, read_metrics, start_serving

BODY = b"# TYPE twin_records_in_total counter\ntwin_records_in_total 1234.0\n" + b"# padding\n" * 2000


@contextmanager
def cutting_server(cut_first: int) -> Iterator[tuple[int, list[int]]]:
    """(port, [requests served]): the first ``cut_first`` responses are cut after 100 body bytes."""
    served = [0]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802  (http.server's name)
            served[0] += 1
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            if served[0] <= cut_first:
                self.wfile.write(BODY[:100])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(BODY)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], served
    finally:
        server.shutdown()
        server.server_close()


def test_the_server_really_cuts_the_response_and_urllib_raises_a_non_oserror() -> None:
    """The failure the benchmarks met: a cut response is an IncompleteRead, not an OSError."""
    with cutting_server(cut_first=1) as (port, _), \
            pytest.raises(http.client.IncompleteRead) as err, \
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:  # noqa: S310
        resp.read()
    assert not isinstance(err.value, OSError)


def test_a_cut_read_is_tried_again_and_returns_the_complete_figures() -> None:
    log = ReadLog()
    with cutting_server(cut_first=2) as (port, served):
        text = read_metrics(port, tries=3, pause_s=0.01, log=log)
    assert served[0] == 3
    assert text.encode() == BODY  # the complete response, never a part of one
    assert "twin_records_in_total 1234.0" in text.splitlines()
    assert (log.reads, log.retried, log.given_up) == (1, 1, 0)


def test_after_its_bound_it_gives_up_with_one_clear_line() -> None:
    log = ReadLog()
    with cutting_server(cut_first=10) as (port, served), pytest.raises(ScrapeFailed) as err:
        read_metrics(port, tries=3, pause_s=0.01, log=log)
    assert served[0] == 3  # bounded: no fourth try
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"http://127.0.0.1:{port}/metrics: no complete response in 3 tries (IncompleteRead")
    assert (log.reads, log.retried, log.given_up) == (0, 0, 1)
    assert "given up" in log.summary() and "IncompleteRead" in log.summary()


# a stand-in for `twin run` that serves its metrics with the project's own serve_metrics (which
# prints the same line and exits 2 as `twin run` does when the port cannot be bound), then waits
RUN = """
import sys, time, types
from prometheus_client import CollectorRegistry, Counter
from flows.cli.args import serve_metrics
from flows.cli.args import UsageError
reg = CollectorRegistry()
Counter("twin_records_in", "records", registry=reg).inc(7)
try:
    serve_metrics(types.SimpleNamespace(registry=reg), int(sys.argv[1]), "127.0.0.1")
except UsageError as exc:
    print(f"twin run: {exc}", file=sys.stderr)
    sys.exit(2)
time.sleep(60)
"""


def test_a_metrics_port_taken_before_the_run_bound_it_is_replaced_by_another(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "run.log"
    procs: list[subprocess.Popen[bytes]] = []

    def start(port: int) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            procs.append(subprocess.Popen([sys.executable, "-c", RUN, str(port)], stdout=out, stderr=out))
        return procs[-1]

    with closing(socket.socket()) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        picks = iter([taken.getsockname()[1], free_port()])
        proc, port = start_serving(start, log, lambda: next(picks), tries=3, timeout_s=60)
        try:
            assert port != taken.getsockname()[1]
            assert procs[0].returncode == 2 and len(procs) == 2
            assert "twin_records_in_total 7.0" in read_metrics(port).splitlines()
        finally:
            proc.kill()
            proc.wait()
    assert capsys.readouterr().err.count("was taken before the run bound it") == 1


def test_a_port_taken_every_time_ends_in_one_line_naming_the_run_s_error(tmp_path: Path) -> None:
    log = tmp_path / "run.log"

    def start(port: int) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            return subprocess.Popen([sys.executable, "-c", RUN, str(port)], stdout=out, stderr=out)

    with closing(socket.socket()) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError) as err:
            start_serving(start, log, lambda: port, tries=2, timeout_s=60)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("twin run exited with 2 before serving /metrics: twin run: --metrics-port ")
    assert "cannot serve metrics on" in msg


def test_a_response_that_is_not_text_is_a_failed_read_not_a_traceback() -> None:
    """Round 45: a port answered by another program (the race start_serving handles) with bytes that
    are not UTF-8 raised UnicodeDecodeError out of read_metrics; now it is a failed read, tried again,
    then ScrapeFailed in one line."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802  (http.server's name)
            self.send_response(200)
            self.send_header("Content-Length", "4")
            self.end_headers()
            self.wfile.write(b"\xff\xfe\x00a")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    log = ReadLog()
    try:
        with pytest.raises(ScrapeFailed, match="no complete response in 2 tries .UnicodeDecodeError"):
            read_metrics(server.server_address[1], tries=2, pause_s=0.01, log=log)
    finally:
        server.shutdown()
        server.server_close()
    assert (log.reads, log.given_up) == (0, 1)


def test_a_body_that_trickles_in_is_a_failed_read_within_the_timeout() -> None:
    """Round 46 (HOSTILE46): the timeout bounded each wait for data, not the read: a program on the port
    sending a byte every 0.2 s held ``read_metrics(timeout=1)`` for as long as it sent (for ever, for an
    endless body), and ``start_serving``'s deadline with it."""
    import time

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802  (http.server's name)
            self.send_response(200)
            self.end_headers()
            try:
                for _ in range(40):  # 8 s of it at most (the read is to give up after 1 s)
                    self.wfile.write(b"#")
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                pass  # the reader gave up and closed

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    log = ReadLog()
    began = time.monotonic()
    try:
        with pytest.raises(ScrapeFailed, match=r"in 1 tries \(TimeoutError: the body not read within 1 s\)"):
            read_metrics(server.server_address[1], timeout=1.0, tries=1, log=log)
    finally:
        server.shutdown()
        server.server_close()
    assert time.monotonic() - began < 4  # 1 s and the last byte's wait, not the 8 s of the body
    assert (log.reads, log.given_up) == (0, 1)


def test_a_redirect_is_refused_in_one_line_not_followed() -> None:
    """Round 50 (LEFT50): urllib followed a /metrics that redirected elsewhere and returned the other
    address's body as the run's figures. Now it is refused at once (not tried again), in one line
    naming where it pointed; the other address is never asked."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802  (http.server's name)
            asked.append(self.path)
            if self.path == "/metrics":
                self.send_response(302)
                self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        with pytest.raises(ScrapeFailed) as info:
            read_metrics(port, tries=3, pause_s=0.01)
    finally:
        server.shutdown()
        server.server_close()
    assert str(info.value) == (f"http://127.0.0.1:{port}/metrics: redirected (302) to '/elsewhere'; a "
                               "metrics endpoint is read where it is, a redirect is not followed")
    assert asked == ["/metrics"]
