"""`twin` as a user runs it (a subprocess): every error is ONE stderr line, never a traceback.

The Kafka cases need no broker: they point at a closed port, and must fail within the connect
timeout with a line naming the brokers (they used to hang for minutes or print tracebacks).
"""

from __future__ import annotations

import gzip
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.cli import main as cli

TWIN = str(Path(sys.executable).parent / "twin")
BROKER = ["--brokers", "127.0.0.1:19999"]  # a closed port: never the default broker's
NO_BROKER = [*BROKER, "--connect-timeout", "2"]
SECRET = "hunter2-not-to-be-shown"


def twin(*argv: str, env: dict[str, str] | None = None, timeout: float = 120) -> tuple[int, str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TWIN_")}
    proc = subprocess.run([TWIN, *argv], env={**base, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def one_error_line(stderr: str) -> str:
    """The single stderr line, after checking there is nothing else (no traceback, no panic)."""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr and "panicked" not in stderr and "%3|" not in stderr
    assert lines[0].startswith("twin: error: "), stderr
    assert SECRET not in stderr
    return lines[0]


def fails(*argv: str, env: dict[str, str] | None = None, code: int = 2) -> str:
    rc, _, err = twin(*argv, env=env)
    assert rc == code, err
    return one_error_line(err)


# ---------------------------------------------------------------- env fallbacks and arguments


def test_bad_env_default_breaks_neither_help_nor_other_commands(tmp_path: Path) -> None:
    env = {"TWIN_ASSETS": "abc", "TWIN_METRICS_PORT": "x", "TWIN_SNAPSHOT_INTERVAL": "soon"}
    for argv in (["--help"], ["demo", "--help"], ["run", "--help"], ["sql", "--help"]):
        rc, out, err = twin(*argv, env=env)
        assert rc == 0 and "usage: twin" in out and err == "", (argv, err)
    line = fails("sql", "SELECT 1", "--archive", str(tmp_path / "none"), env=env)
    assert "no archive" in line and "TWIN_" not in line
    line = fails("demo", env=env)
    assert line.startswith("twin: error: TWIN_ASSETS=abc: expected a whole number")


@pytest.mark.parametrize("argv, env, needle", [
    (["demo"], {"TWIN_DAYS": "x"}, "TWIN_DAYS=x: expected a number"),
    (["demo"], {"TWIN_DAYS": "inf"}, "TWIN_DAYS=inf: expected a finite number"),
    (["demo"], {"TWIN_SEED": "1.5"}, "TWIN_SEED=1.5: expected a whole number"),
    (["demo"], {"TWIN_WORKERS": "0"}, "TWIN_WORKERS=0: must be at least 1"),
    (["demo"], {"TWIN_METRICS_PORT": "70000"}, "TWIN_METRICS_PORT=70000: must be at most 65535"),
    (["demo"], {"TWIN_SENSOR_FAULTS": "x"}, "TWIN_SENSOR_FAULTS=x: expected a share between 0 and 1"),
    (["run", *BROKER], {"TWIN_SNAPSHOT_INTERVAL": "soon"}, "TWIN_SNAPSHOT_INTERVAL=soon: expected a number"),
    (["run", *BROKER], {"TWIN_BACKUP_INTERVAL": "-1"}, "TWIN_BACKUP_INTERVAL=-1: must be at least 0"),
    (["run", *BROKER], {"TWIN_PROCESS_ID": "x"}, "TWIN_PROCESS_ID=x: expected a whole number"),
    (["run", *BROKER], {"TWIN_CLOCK": "wall"}, "TWIN_CLOCK=wall: expected 'system' or 'data'"),
    (["topics", "create", *BROKER], {"TWIN_KAFKA__PARTITIONS": "many"}, "TWIN_KAFKA__PARTITIONS=many"),
    (["simulate", *BROKER], {"TWIN_KAFKA__CONNECT_TIMEOUT_S": "0"},
     "TWIN_KAFKA__CONNECT_TIMEOUT_S=0: must be > 0"),
])
def test_bad_env_defaults_are_one_line_naming_the_variable(argv: list[str], env: dict[str, str],
                                                            needle: str) -> None:
    assert needle in fails(*argv, env=env)


@pytest.mark.parametrize("argv, needle", [
    (["demo", "--metrics-port", "70000"], "argument --metrics-port: must be at most 65535"),
    (["demo", "--seed", "-1"], "argument --seed: must be at least 0"),
    (["demo", "--sensor-faults", "1.5"], "argument --sensor-faults: must be at most 1, got 1.5"),
    (["simulate", *BROKER, "--speed", "nan"], "argument --speed: expected a finite number"),
    (["simulate", *BROKER, "--sensor-faults", "-0.1"], "argument --sensor-faults: must be at least 0"),
    (["simulate", *BROKER, "--sensor-fault-kinds", "clock,stuck"],
     "argument --sensor-fault-kinds: expected kinds among flatline,clipping,dropout,drift,clock,asset_clock"),
    (["simulate", *BROKER, "--sensor-faults", "0.5", "--write-truth", "/nonexistent-dir/t.json"],
     "--write-truth /nonexistent-dir/t.json: cannot write there (/nonexistent-dir is not a folder)"),
    # round 23: the flag and the path named, before anything is written or Kafka is asked (were:
    # "PosixPath('/') has an empty name", "[Errno 21] Is a directory: '/.x.123.tmp' -> ...")
    (["simulate", *BROKER, "--write-metadata", "/"], "--write-metadata /: is a folder (name a file"),
    (["simulate", *BROKER, "--write-metadata", "/tmp"], "--write-metadata /tmp: is a folder (name a file"),
    (["simulate", *BROKER, "--write-metadata", ""], "--write-metadata '': an empty path (name a file)"),
    (["simulate", *BROKER, "--write-metadata", "/nonexistent-dir/m.json"],
     "--write-metadata /nonexistent-dir/m.json: cannot write there (/nonexistent-dir is not a folder)"),
    # round 23: a reason or actor with a control character went into the audit log and `twin
    # commands list`'s lines as it was (a newline forges a line, an escape drives the terminal)
    (["commands", "reject", "c1", *NO_BROKER, "--reason", "ok\x1b[2Jgone"],
     "argument --reason: --reason holds the non-printable character U+001B"),
    (["commands", "approve", "c1", *NO_BROKER, "--reason", "line one\nline two"],
     "argument --reason: --reason holds the non-printable character U+000A"),
    (["commands", "approve", "c1", *NO_BROKER, "--actor", "eve\u202e"],
     "argument --actor: --actor must be a name of 1..128 printable characters without spaces"),
    (["replay", *BROKER, "x.csv", "--sep", "ab"], "argument --sep: must be one character"),
    (["backtest", "x.csv", "--out", "o", "--sep", ";;"], "argument --sep: must be one character"),
    (["demo", "--assets", "0"], "must be at least 1, got 0 (see `twin demo --help`)"),
    # a tiny interval floods the topic or never ends: a floor with one line (was: accepted)
    (["simulate", *BROKER, "--frame-interval", "0.000001"],
     "argument --frame-interval: must be at least 1.0, got 1e-06"),
    (["simulate", *BROKER, "--scalar-interval", "0.01"], "argument --scalar-interval: must be at least 0.1"),
    (["run", *BROKER, "--snapshot-interval", "0.001"], "argument --snapshot-interval: must be at least 1.0"),
    # round 49: past what the engine's timedelta holds, an internal error once the brokers answered
    (["run", *BROKER, "--snapshot-interval", "1e300"],
     "argument --snapshot-interval: must be at most 31622400.0, got 1e+300"),
    (["run", *BROKER, "--backup-interval", "1e300"],
     "argument --backup-interval: must be at most 31622400.0, got 1e+300"),
    (["run", *BROKER, "--backup-interval", "-1"], "argument --backup-interval: must be at least 0, got -1.0"),
])
def test_bad_arguments_are_one_line(argv: list[str], needle: str) -> None:
    assert needle in fails(*argv)


def test_unusable_out_folders(tmp_path: Path) -> None:
    afile = tmp_path / "a-file"
    afile.write_text("x")
    assert f"--out {afile}: exists and is not a folder" in fails("demo", "--out", str(afile))
    assert "cannot write there" in fails("demo", "--out", str(afile / "sub"))
    csv = tmp_path / "s.csv"
    csv.write_text("timestamp,value\n2024-01-01T00:00:00,1\n")
    assert "exists and is not a folder" in fails("backtest", str(csv), "--out", str(afile))


def test_an_output_folder_given_as_a_link_to_nowhere_is_one_line_naming_it(tmp_path: Path) -> None:
    """Round 44: a dangling link at (or above) --out, --archive or --recovery-dir passed the checks and
    the folder's making said only ``twin: error: [Errno 17] File exists: 'gone'`` (no flag, no reason)."""
    gone = tmp_path / "gone"
    gone.symlink_to(tmp_path / "nowhere")
    want = f": a symbolic link to {tmp_path / 'nowhere'}, which does not exist"
    assert fails("demo", "--out", str(gone)) == f"twin: error: --out {gone}{want}"
    run = ("run", *NO_BROKER, "--archive", str(tmp_path / "a"))
    assert fails(*run, "--recovery-dir", str(gone)) == f"twin: error: --recovery-dir {gone}{want}"
    assert fails(*run, "--recovery-dir", str(gone / "r")) == (
        f"twin: error: --recovery-dir {gone / 'r'}: {gone} is{want[1:]}")
    assert fails("run", *NO_BROKER, "--archive", str(gone)) == f"twin: error: --archive {gone}{want}"
    assert not (tmp_path / "nowhere").exists()


def test_a_fresh_recovery_folder_that_is_or_holds_the_archive_is_one_line(tmp_path: Path) -> None:
    """Round 45: ``--recovery-dir D --archive D`` was accepted (the run then holds D's flock, so ``twin
    archive compact D`` refused while it lived: for a service, always); ``--archive D/a`` said only that
    D "is not empty but holds no recovery partitions" (the run's own archive, made first). Both are
    refused before any broker is asked, nothing made; a folder already holding partitions (a setup of an
    earlier round) still resumes."""
    same, link = tmp_path / "same", tmp_path / "link"
    same.mkdir()
    link.symlink_to(same)  # another name of the same folder
    line = fails("run", *NO_BROKER, "--archive", str(same), "--recovery-dir", str(link))
    assert line.startswith(f"twin: error: --recovery-dir {link}: the same folder as "
                           f"--archive {same}: give the recovery partitions a folder of their own"), line
    assert not any(same.iterdir())
    rec = tmp_path / "rec"
    line = fails("run", *NO_BROKER, "--archive", str(rec / "a"), "--recovery-dir", str(rec))
    assert line.startswith(f"twin: error: --archive {rec / 'a'}: inside --recovery-dir {rec}, which holds "
                           "the recovery partitions alone: give the archive a folder outside it"), line
    env = {"TWIN_ARCHIVE_DIR": str(same)}  # from the settings: named as such
    assert "the same folder as archive_dir" in fails("run", *NO_BROKER, "--recovery-dir", str(same), env=env)
    (same / "part-0.sqlite3").write_bytes(b"")  # an existing store: past this check (then the broker)
    line = fails("run", *NO_BROKER, "--archive", str(same), "--recovery-dir", str(same))
    assert "the same folder" not in line and "127.0.0.1:19999" in line, line


def test_a_fresh_recovery_folder_in_an_archive_table_folder_is_one_line(tmp_path: Path) -> None:
    """Round 46 (HOSTILE46): ``--recovery-dir ARCHIVE/alerts`` before the archive had alerts was accepted
    (only a table folder holding ``date=`` partitions was refused): the run wrote the table's partitions
    among its recovery files, ``twin archive check --repair`` moved those into ``_quarantine/`` as foreign
    files, and the run's restart was refused. Any table's folder, below it, or in ``_quarantine/``, by any
    name of the archive: one line, nothing made; a sibling folder of the tables is still accepted."""
    arch, link = tmp_path / "arch", tmp_path / "via"
    arch.mkdir()
    link.symlink_to(arch)
    for store, archive in ((arch / "alerts", arch), (arch / "audit" / "rec", link),
                           (link / "_quarantine" / "features", arch)):
        line = fails("run", *NO_BROKER, "--archive", str(archive), "--recovery-dir", str(store))
        assert line.startswith(f"twin: error: --recovery-dir {store}: inside the archive table folder "), line
        assert f"(--archive {archive}): the table's files would go among the recovery partitions" in line
    assert list(arch.iterdir()) == []
    line = fails("run", *NO_BROKER, "--archive", str(arch), "--recovery-dir", str(arch / "rec"))
    assert "inside the archive table folder" not in line and "127.0.0.1:19999" in line, line


def test_a_fresh_recovery_folder_in_the_archive_quarantine_is_one_line(tmp_path: Path) -> None:
    """Round 47: ``--recovery-dir ARCHIVE/_quarantine`` (or a folder in it not named for a table) was
    accepted: the quarantine is where ``twin archive check --repair`` moves files aside and what a user
    empties to purge them, the run's recovery partitions with them. One line, nothing made; a folder
    merely named ``_quarantine`` elsewhere is still accepted."""
    arch, link = tmp_path / "arch", tmp_path / "via"
    arch.mkdir()
    link.symlink_to(arch)
    for store, archive in ((arch / "_quarantine", arch), (link / "_quarantine" / "rec", arch),
                           (arch / "_quarantine" / "x" / "y", link)):
        line = fails("run", *NO_BROKER, "--archive", str(archive), "--recovery-dir", str(store))
        assert line.startswith(f"twin: error: --recovery-dir {store}: inside the archive's quarantine "
                               f"folder "), line
        assert f"(--archive {archive}): `twin archive check --repair` moves" in line, line
    assert list(arch.iterdir()) == []
    other = tmp_path / "elsewhere" / "_quarantine"
    line = fails("run", *NO_BROKER, "--archive", str(arch), "--recovery-dir", str(other))
    assert "quarantine" not in line and "127.0.0.1:19999" in line, line


def test_metrics_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        line = fails("demo", "--days", "0.1", "--assets", "1", "--out", str(tmp_path / "o"),
                     "--no-progress", "--metrics-port", str(port))
    assert f"cannot serve metrics on 127.0.0.1:{port}" in line


def test_bad_config_is_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[pipeline]\nwindow_s = true\n")
    assert "config window_s: cannot use True" in fails("demo", "--config", str(cfg), "--out", str(tmp_path))
    cfg.write_text("[pipelin.twin]\nwarmup_windows = 3\n")
    (tmp_path / "x.csv").write_text("timestamp,value\n")  # an input that exists: the config is the subject
    line = fails("backtest", str(tmp_path / "x.csv"), "--out", str(tmp_path / "o"), "--config", str(cfg))
    assert "did you mean 'pipeline'?" in line
    assert "config alerts.raise_on_defect: cannot use 'maybe'" in fails(
        "demo", "--out", str(tmp_path), env={"TWIN_ALERTS__RAISE_ON_DEFECT": "maybe"})


def test_tiny_window_and_archive_flush_are_refused_with_their_floor(tmp_path: Path) -> None:
    """No floor before round 14: ``window_s = 1e-7`` stopped the demo mid-way with `twin: internal
    error: ZeroDivisionError` (exit 1), ``archive_flush_s = 0.01`` ran, a file per table per batch."""
    cfg = tmp_path / "c.toml"
    demo = ("demo", "--assets", "1", "--days", "0.2", "--no-progress", "--out", str(tmp_path / "o"))
    cfg.write_text("[pipeline]\nwindow_s = 1e-7\n")
    line = fails(*demo, "--config", str(cfg))
    assert line == "twin: error: config window_s must be >= 0.001 and <= 3.1536e+07 seconds, got 1e-07"
    cfg.write_text("[pipeline]\narchive_flush_s = 0.01\n")
    line = fails(*demo, "--config", str(cfg))
    assert "config archive_flush_s must be >= 1 and <= 86400 seconds, got 0.01" in line
    line = fails(*demo, env={"TWIN_ARCHIVE_FLUSH_S": "-3"})
    assert line.endswith("config archive_flush_s must be >= 1 and <= 86400 seconds, got -3.0")
    assert not list((tmp_path / "o").rglob("*.parquet"))  # refused before anything ran


# ---------------------------------------------------------------- bad input files


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("bad-files")
    rows = "timestamp,value\n" + "".join(f"2024-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d},{i}\n"
                                         for i in range(0, 20000, 7))
    data = gzip.compress(rows.encode())
    (d / "truncated.csv.gz").write_bytes(data[: len(data) // 2])
    bad = bytearray(data)
    for i in range(100, 160):
        bad[i] ^= 0xFF
    (d / "corrupt.csv.gz").write_bytes(bytes(bad))
    (d / "good.csv.gz").write_bytes(data)
    t0, t1 = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, 0, 10, tzinfo=UTC)
    table = pa.table({"timestamp": [t0, t1], "asset_id": ["a", "a"], "sample_rate_hz": [1000.0, 1000.0],
                      "vib": pa.array([[[1.0, 2.0]], [[3.0, 4.0]]], type=pa.list_(pa.list_(pa.float32())))})
    pq.write_table(table, d / "nested.parquet")
    return d


@pytest.mark.parametrize("name, needle", [
    ("truncated.csv.gz", "truncated gzip file"),
    ("corrupt.csv.gz", "corrupt gzip file"),
    ("nested.parquet", "column 'vib': a waveform channel is a list of numbers"),
])
def test_bad_files_are_one_line_naming_the_file(files: Path, tmp_path: Path, name: str, needle: str) -> None:
    line = fails("backtest", str(files / name), "--out", str(tmp_path), "--no-progress", "--no-report")
    assert name in line and needle in line


# ---------------------------------------------------------------- Kafka without a broker


@pytest.mark.parametrize("argv", [
    ["topics", "create"],
    ["topics", "describe"],
    ["run", "--exit-at-end"],
    ["simulate", "--days", "0.01", "--assets", "1"],
])
def test_no_broker_fails_within_the_connect_timeout(argv: list[str], tmp_path: Path) -> None:
    extra = ["--archive", str(tmp_path / "a")] if argv[0] == "run" else []
    rc, out, err = twin(*argv, *NO_BROKER, *extra, timeout=60)
    assert rc == 2, err
    line = one_error_line(err)
    assert "cannot reach Kafka at 127.0.0.1:19999 within 2 s" in line and "Connection refused" in line
    assert out == ""


def test_replay_without_broker_and_the_timeout_setting(files: Path) -> None:
    env = {"TWIN_KAFKA__CONNECT_TIMEOUT_S": "1", "TWIN_KAFKA__BROKERS": "127.0.0.1:19999"}
    line = fails("replay", str(files / "good.csv.gz"), env=env)
    assert "cannot reach Kafka at 127.0.0.1:19999 within 1 s" in line


@pytest.mark.parametrize("setting, needle", [
    ("TWIN_KAFKA__LIBRDKAFKA__SECURITY_PROTOCOL", 'Invalid value "bogus" for configuration property'),
    ("TWIN_KAFKA__LIBRDKAFKA__SASL_MECHANISM", "Unsupported SASL mechanism"),
    ("TWIN_KAFKA__LIBRDKAFKA__NO_SUCH_THING", 'No such configuration property: "no.such.thing"'),
])
def test_bad_client_settings_are_one_line_without_secrets(setting: str, needle: str) -> None:
    env = {setting: "bogus", "TWIN_KAFKA__LIBRDKAFKA__SASL_PASSWORD": SECRET}
    if "SASL_MECHANISM" in setting:
        env["TWIN_KAFKA__LIBRDKAFKA__SECURITY_PROTOCOL"] = "SASL_PLAINTEXT"
    for argv in (["topics", "describe"], ["simulate", "--assets", "1", "--days", "0.01"]):
        line = fails(*argv, *NO_BROKER, env=env)
        assert "Kafka client settings for 127.0.0.1:19999 refused" in line and needle in line


@pytest.mark.parametrize("names", [("SSL_CA_LOCATION",), ("SSL_CERTIFICATE_LOCATION", "SSL_KEY_LOCATION")])
def test_a_tls_file_that_does_not_exist_is_named_with_its_path(tmp_path: Path,
                                                                names: tuple[str, ...]) -> None:
    """Main: `... refused: Failed to create admin client: ssl.ca.location failed: error:05880020:x509
    certificate routines::BIO lib`, naming the setting but neither the path nor that it is missing."""
    env = {"TWIN_KAFKA__LIBRDKAFKA__SECURITY_PROTOCOL": "SSL"}
    env |= {f"TWIN_KAFKA__LIBRDKAFKA__{n}": str(tmp_path / n.lower()) for n in names}
    line = fails("topics", "describe", *NO_BROKER, env=env)
    gone = ", ".join(f"{n.lower().replace('_', '.')}={tmp_path / n.lower()}" for n in names)
    assert line.startswith("twin: error: Kafka client settings for 127.0.0.1:19999 refused: ")
    assert line.endswith(f" ({gone}: no such file or folder)")


# ---------------------------------------------------------------- the last-resort guard


def test_unexpected_errors_and_interrupts_are_one_line(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    def boom(_args: object) -> int:
        msg = f"bug with {SECRET}"
        raise RuntimeError(msg)

    def interrupted(_args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setenv("TWIN_KAFKA__LIBRDKAFKA__SASL_PASSWORD", SECRET)
    monkeypatch.setitem(cli.COMMANDS, "sql", boom)
    assert cli.main(["sql", "SELECT 1"]) == 1
    err = capsys.readouterr().err
    assert err == "twin: internal error: RuntimeError: bug with *** (set TWIN_DEBUG=1 for the traceback)\n"
    monkeypatch.setenv("TWIN_DEBUG", "1")
    assert cli.main(["sql", "SELECT 1"]) == 1
    assert "Traceback" in capsys.readouterr().err
    monkeypatch.setitem(cli.COMMANDS, "sql", interrupted)
    assert cli.main(["sql", "SELECT 1"]) == 130
    assert capsys.readouterr().err == "twin: interrupted\n"


# ---------------------------------------------------------------- errors inside the dataflow engine

BROKEN_SOURCE = """
import sys
import flows.dataflow.sources.simulator as sim

def broken(cfg):
    raise {exc}("boom in the source")
    yield

sim.simulate_fleet = broken
from flows.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("exc, code, prefix", [
    ("RuntimeError", 1, "twin: internal error: RuntimeError: boom in the source (set TWIN_DEBUG=1"),
    ("ValueError", 2, "twin: error: boom in the source"),
])
def test_engine_errors_are_one_line_without_rust_panic_text(tmp_path: Path, exc: str, code: int,
                                                            prefix: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWIN_")} | {"RUST_BACKTRACE": "1"}
    proc = subprocess.run([sys.executable, "-c", BROKEN_SOURCE.format(exc=exc), "demo", "--days", "0.2",
                           "--assets", "1", "--out", str(tmp_path), "--no-progress"],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == code, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(prefix), proc.stderr
    assert "panicked" not in proc.stderr and "stack backtrace" not in proc.stderr


def test_panic_filter_keeps_everything_else() -> None:
    from flows.cli.stderr import PanicFilter

    flt = PanicFilter()
    shown = flt.feed(" 10%|#  | 1/10\r 20%|## | 2/10\r")
    assert shown == " 10%|#  | 1/10\r 20%|## | 2/10\r"  # progress bars pass at once
    shown = flt.feed("warning: x\nthread '<unnamed>' pan")
    shown += flt.feed("icked at src/operators.rs:198:33:\nBox<dyn Any>\nstack backtrace:\n   0: std::x\n")
    shown += flt.feed("note: Some details are omitted\nafter\nthr")
    assert shown == "warning: x\nafter\n" and flt.flush() == "thr"


def test_panic_filter_drops_the_empty_line_after_a_panic() -> None:
    """Main: every engine error (a damaged snapshot, a full disk under `twin demo`) printed an empty
    line before the command's one error line."""
    from flows.cli.stderr import PanicFilter

    flt = PanicFilter()
    shown = flt.feed("thread '<unnamed>' panicked at src/recovery.rs:1596:36:\nBox<dyn Any>\n")
    shown += flt.feed("note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n\n")
    shown += flt.feed("twin: error: x\n\nkept\n")
    assert shown == "twin: error: x\n\nkept\n"


def test_panic_filter_keeps_the_newline_of_a_line_written_in_two_pieces() -> None:
    """Round 28: `twin run`'s `twin run: error: cannot write the archive in ...` after an engine error
    ended without its newline: print() wrote the text and its "\n" apart, and the filter took the
    lone "\n" for the blank line after a panic."""
    from flows.cli.stderr import PanicFilter

    flt = PanicFilter()
    shown = flt.feed("thread '<unnamed>' panicked at src/run.rs:1:1:\nBox<dyn Any>\nnote: run with x\n")
    for piece in ("\n", "twin run: error: cannot write the archive", "\n", "\n", "next\n"):
        shown += flt.feed(piece)
    assert shown + flt.flush() == "twin run: error: cannot write the archive\n\nnext\n"


@pytest.mark.parametrize("pieces", [
    [" 80%|## | 8/10\r", "thread '<unnamed>' panicked at src/outputs.rs:364:37:\nBox<dyn Any>\n"],
    [" 80%|## | 8/10\rthread '<unn", "amed>' panicked at src/outputs.rs:364:37:\nBox<dyn Any>\n"],
    [" 80%|## | 8/10\rthread '<unnamed>' panicked at src/outputs.rs:364:37:\nBox<dyn Any>\n"],
], ids=["apart", "split", "one-read"])
def test_panic_filter_drops_a_panic_that_runs_on_from_a_progress_bar(pieces: list[str]) -> None:
    """Round 32 (LOOSE32): a step failing while the bar was drawn (a demo whose archive path was too
    long) showed ``thread '<unnamed>' panicked at ...``, ``Box<dyn Any>`` and the ``note:`` line after
    the bar's text, then the one error line: the panic's first line began inside the bar's line."""
    from flows.cli.stderr import PanicFilter

    flt = PanicFilter()
    shown = "".join(flt.feed(p) for p in [*pieces, "note: run with `RUST_BACKTRACE=1` ...\n\n"])
    shown += flt.feed("twin: error: x\n")
    assert shown + flt.flush() == " 80%|## | 8/10\r\ntwin: error: x\n"


def test_simulate_checks_both_output_files_before_writing_either(tmp_path: Path) -> None:
    """Round 23: ``--write-truth`` naming a folder was found after ``--write-metadata`` was written."""
    meta = tmp_path / "assets.json"
    line = fails("simulate", *NO_BROKER, "--write-metadata", str(meta), "--write-truth", str(tmp_path))
    assert line == (f"twin: error: --write-truth {tmp_path}: is a folder (name a file, e.g. "
                    f"{tmp_path / 'assets.json'})")
    assert not meta.exists()


def test_replay_and_backtest_of_a_header_only_file_refuse_it_alike_naming_it(tmp_path: Path) -> None:
    """Round 25 made replay exit 1 as backtest did ("the input held no record", naming no file; the
    backtest after writing empty outputs). Round 41: bad input, so one line naming the file, exit 2,
    before anything is published (no broker here) or written (no --out made)."""
    path = tmp_path / "header.csv"
    path.write_text("timestamp,asset_id,temperature\n")
    line = (f"twin: error: input file {path} holds no record (a header only, or no row with a value): "
            "nothing to {}")
    rc, out, err = twin("backtest", str(path), "--out", str(tmp_path / "bt"), "--no-progress", "--no-report")
    assert (rc, out, err.splitlines()) == (2, "", [line.format("backtest")])
    assert not (tmp_path / "bt").exists()
    rc, out, err = twin("replay", str(path), *NO_BROKER)
    assert (rc, out, err.splitlines()) == (2, "", [line.format("replay")])


@pytest.mark.parametrize("text", ["timestamp,asset_id,temperature\n2026-01-01T00:00:00Z,p1,\n"
                                  "2026-01-01T00:10:00Z,p1,\n", "timestamp,temperature,current\n,,\n,,\n"])
@pytest.mark.parametrize("command", ["replay", "backtest"])
def test_a_file_whose_every_cell_is_empty_is_refused_as_a_header_only_one(tmp_path: Path, text: str,
                                                                          command: str) -> None:
    """Round 26: rows without a value printed "published 0 records (0.0 MB) to ..." before the failure
    line, having waited for the brokers; round 41: the same one line as a header-only file, exit 2."""
    path = tmp_path / "empty.csv"
    path.write_text(text)
    extra = NO_BROKER if command == "replay" else ("--out", str(tmp_path / "bt"), "--no-progress")
    rc, out, err = twin(command, str(path), *extra)
    assert (rc, out) == (2, ""), err
    assert err.splitlines() == [f"twin: error: input file {path} holds no record (a header only, or no row "
                                f"with a value): nothing to {command}"]


def test_several_files_without_a_record_are_named_in_one_line(tmp_path: Path) -> None:
    files = [tmp_path / f"h{i}.csv" for i in range(5)]
    for f in files:
        f.write_text("timestamp,asset_id,temperature\n")
    rc, _, err = twin("backtest", *map(str, files), "--out", str(tmp_path / "bt"), "--no-progress")
    assert rc == 2 and err.splitlines() == [
        f"twin: error: none of the 5 input files holds a record (a header only, or no row with a value): "
        f"{files[0]}, {files[1]}, {files[2]} and 2 more; nothing to backtest"]
    one = tmp_path / "one.csv"
    one.write_text("timestamp,asset_id,temperature\n2026-01-01T00:00:00Z,p1,20.5\n")
    rc, _, err = twin("replay", str(files[0]), str(one), *NO_BROKER)
    assert rc == 2 and "holds no record" not in err  # one file with a record: on to the brokers (none)


@pytest.mark.parametrize("argv", [["demo", "--days", "1"], ["backtest", "in.csv"]])
def test_an_out_folder_with_a_name_not_utf8_is_refused_naming_the_flag(
        tmp_path: Path, argv: list[str]) -> None:
    """`twin demo --out` with a byte not UTF-8 said "config archive_dir: ... is not UTF-8 text",
    `twin backtest --out` "cannot write the archive: the archive's folder ...": neither named
    ``--out`` (round 25, part CLEAN25)."""
    out = os.fsdecode(bytes(tmp_path) + b"/out\xff")
    line = fails(*argv, "--out", out)
    assert line.startswith(f"twin: error: argument --out: {tmp_path}/out\\xff is not UTF-8 text"), line
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize(("argv", "name"), [
    (["sql", "SELECT * FROM \"{bad}\""], "query"),  # the base: an internal error (TypeError), exit 1
    (["whatif", "a{bad}"], "ASSET"),  # the base: "the archive file ... cannot be read (...)"
    (["explain", "{bad}"], "ALERT_ID"),  # the base: "bad archive ...: Invalid Input Error: ..."
])
def test_a_text_argument_not_utf8_is_named_in_one_line(tmp_path: Path, argv: list[str], name: str) -> None:
    """Round 49 (HOSTILE49): a byte not UTF-8 in a query or an id failed inside DuckDB, far from the
    argument."""
    from tests.flows.archive_fixtures import small_archive

    archive = small_archive(tmp_path / "archive")
    bad = os.fsdecode(b"\xff")
    line = fails(*(a.format(bad=bad) for a in argv), "--archive", str(archive))
    assert line.startswith(f"twin: error: argument {name}: "), line
    assert "\\xff" in line and "is not UTF-8 text" in line, line


def test_an_argument_error_quoting_an_escape_shows_it_escaped(tmp_path: Path) -> None:
    """Round 49 (HOSTILE49): argparse's errors were printed as they were: the name of a folder not
    UTF-8 (quoted as is, not as a repr) drove the terminal with its escape sequence."""
    out = os.fsdecode(bytes(tmp_path) + b"/o\x1b[2J\xff")
    rc, _, err = twin("run", "--brokers", "localhost:1", "--archive", out)
    assert rc == 2 and "\x1b" not in err, repr(err)
    line = one_error_line(err)
    assert line.startswith(f"twin: error: argument --archive: {tmp_path}/o\\x1b[2J\\xff is not UTF-8"), line
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("argv", [["demo", "--days", "1", "--out"], ["backtest", "in.csv", "--out"],
                                  ["run", "--brokers", "localhost:1", "--archive"]])
def test_an_out_folder_with_a_line_break_is_refused_naming_the_flag(tmp_path: Path, argv: list[str]) -> None:
    """Round 36 (HOSTILE36): `twin demo --out $'a\\nb'` and `twin run --archive` said "config archive_dir:
    'a\\nb' is not a valid name (pattern .+)", naming a setting never set; `twin backtest` wrote there."""
    flag, out = argv[-1], str(tmp_path / "a\nb")
    line = fails(*argv, out)
    assert line == (f"twin: error: argument {flag}: {out!r} holds a line break (the archive_dir setting "
                    f"refuses one): name another folder (see `twin {argv[0]} --help`)"), line
    assert not os.listdir(tmp_path)
