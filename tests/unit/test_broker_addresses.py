"""A broker address librdkafka would read as another one is refused at load (round 27).

Before: ``--brokers host:99999`` was taken by librdkafka as port 34463 (a 16-bit number), ``host:x``
as port 0 and ``:9092`` as localhost; the user saw only a connection failure naming an address
they never gave, after the connect timeout. Now every route (flag, ``TWIN_KAFKA__BROKERS``,
``kafka.brokers`` in a file) says which address is wrong in one line, exit 2, before any client.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.cli.main import main
from flows.config.pipeline import ConfigError, load_config

BAD = {
    "host:99999": "broker address 'host:99999' has port '99999', not a number in 1-65535",
    "host:65536": "broker address 'host:65536' has port '65536', not a number in 1-65535",
    "host:0": "broker address 'host:0' has port '0', not a number in 1-65535",
    "host:x": "broker address 'host:x' has port 'x', not a number in 1-65535",
    "host:": "broker address 'host:' has port '', not a number in 1-65535",
    "a:9092,b:-1": "broker address 'b:-1' has port '-1', not a number in 1-65535",
    ":9092": "broker address ':9092' has no host",
    "SSL://:9093": "broker address 'SSL://:9093' has no host",
    "[::1]:70000": "broker address '[::1]:70000' has port '70000', not a number in 1-65535",
    "[]:9092": "broker address '[]:9092' has no host",
    "a:9092,,b:9092": "an empty broker address (two commas in a row, or one at an end)",
}
GOOD = ["localhost:19092", "kafka-1:9092,kafka-2:9092", "k", "10.0.0.1:1", "h:65535", "[::1]:9092",
        "fe80::1", "SASL_SSL://broker.example:9094", "PLAINTEXT://h:9092/"]


@pytest.mark.parametrize("brokers", list(BAD))
def test_a_bad_broker_address_is_refused_at_load(brokers: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(overrides={"kafka.brokers": brokers})
    assert str(err.value) == f"config kafka.brokers = {brokers!r}: {BAD[brokers]}"


@pytest.mark.parametrize("brokers", GOOD)
def test_addresses_librdkafka_reads_as_given_are_kept(brokers: str) -> None:
    assert load_config(overrides={"kafka.brokers": brokers}).kafka.brokers == brokers


@pytest.mark.parametrize("argv", [["topics", "describe"], ["simulate"], ["run"], ["commands", "list"],
                                  ["replay", "FILE"]], ids=lambda a: " ".join(a))
@pytest.mark.parametrize("route", ["flag", "env", "file"])
def test_every_kafka_command_refuses_it_in_one_line(argv: list[str], route: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "in.csv"
    data.write_text("timestamp,asset_id,temperature\n2026-01-01T00:00:00Z,p1,1\n")
    argv = [str(data) if a == "FILE" else a for a in argv]
    extra = ["--connect-timeout", "1"]
    if route == "flag":
        extra += ["--brokers", "host:99999"]
    elif route == "env":
        monkeypatch.setenv("TWIN_KAFKA__BROKERS", "host:99999")
    else:
        (tmp_path / "twin.toml").write_text('[pipeline.kafka]\nbrokers = "host:99999"\n')
        extra += ["--config", str(tmp_path / "twin.toml")]
    assert main([*argv, *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("twin: error: "), err
    assert err.endswith("config kafka.brokers = 'host:99999': broker address 'host:99999' has port "
                        "'99999', not a number in 1-65535\n"), err


@pytest.mark.parametrize("key", ["bootstrap.servers", "metadata.broker.list"])
@pytest.mark.parametrize("route", ["env", "file"])
def test_a_broker_list_among_the_librdkafka_settings_is_refused(key: str, route: str, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """The pass-through settings come after ``kafka.brokers`` in every client's settings: a broker list
    there won over ``--brokers`` without being checked (``host:99999`` became port 34463 again)."""
    extra = ["--brokers", "localhost:19092", "--connect-timeout", "1"]
    if route == "env":
        monkeypatch.setenv("TWIN_KAFKA__LIBRDKAFKA__" + key.replace(".", "_").upper(), "host:99999")
    else:
        (tmp_path / "twin.toml").write_text(f'[pipeline.kafka.librdkafka]\n"{key}" = "host:99999"\n')
        extra += ["--config", str(tmp_path / "twin.toml")]
    assert main(["topics", "describe", *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("twin: error: "), err
    assert err.endswith(f"config kafka.librdkafka.{key}: the brokers are set by kafka.brokers (--brokers, "
                        "TWIN_KAFKA__BROKERS), not among the librdkafka settings\n"), err
