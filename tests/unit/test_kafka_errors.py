"""Which Kafka errors stop a command, how they read, and that secrets never show (no broker needed).

The real-broker side (wrong password, untrusted CA, SASL_SSL round trip) is in
tests/integration/test_kafka_sasl.py.
"""

from __future__ import annotations

import io
import logging
from contextlib import redirect_stdout

import pytest
from confluent_kafka import KafkaError

from flows.cli.main import main
from flows.config.pipeline import ConfigError, load_config
from flows.kafka.client_log import ClientLog
from flows.kafka.errors import KafkaSecurityError, describe, guarded, security_problem

SECRET = "hunter2-Zq9"
SECURED = {"bootstrap.servers": "10.0.0.5:9094", "security.protocol": "SASL_SSL",
           "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": "svc", "sasl.password": SECRET,
           "ssl.ca.location": "/etc/twin/ca.pem"}
AUTH_TEXT = ("sasl_ssl://10.0.0.7:9094/3: SASL authentication error: Authentication failed during "
             "authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512 "
             "(after 351ms in state AUTH_REQ)")
TLS_TEXT = ("sasl_ssl://10.0.0.5:9094/bootstrap: SSL handshake failed: error:0A000086:SSL routines::"
            "certificate verify failed: broker certificate could not be verified (after 9ms in state "
            "SSL_HANDSHAKE)")


@pytest.mark.parametrize("code, text, expected", [
    (KafkaError._AUTHENTICATION, AUTH_TEXT, "authentication failed"),
    (KafkaError.SASL_AUTHENTICATION_FAILED, "Broker: SASL Authentication failed", "authentication failed"),
    (KafkaError._TRANSPORT, TLS_TEXT, "certificate verify failed"),
    (KafkaError._SSL, TLS_TEXT, "certificate verify failed"),
    (KafkaError._TRANSPORT, "127.0.0.1:9/bootstrap: Connect to ipv4#127.0.0.1:9 failed: Connection "
                            "refused", None),  # a broker that is down may come back: retried
    (KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down", None),
    (KafkaError._TIMED_OUT, "Local: Timed out", None),
])
def test_only_rejected_credentials_and_untrusted_certificates_count(
        code: int, text: str, expected: str | None) -> None:
    assert security_problem(KafkaError(code, text)) == expected


def test_the_message_is_one_line_naming_the_problem_the_broker_and_what_to_check() -> None:
    auth = describe(KafkaError(KafkaError._AUTHENTICATION, AUTH_TEXT), SECURED)
    assert auth.startswith("Kafka authentication failed at 10.0.0.7:9094 (SASL SCRAM-SHA-512 as user 'svc'")
    assert "sasl.password" in auth and "invalid credentials" in auth and "after 351ms" not in auth
    tls = describe(KafkaError(KafkaError._TRANSPORT, TLS_TEXT), SECURED)
    assert tls.startswith("Kafka certificate verify failed at 10.0.0.5:9094 "
                          "(ssl.ca.location=/etc/twin/ca.pem;")
    assert "\n" not in auth + tls and SECRET not in auth + tls


def test_a_secret_value_in_a_librdkafka_text_is_masked() -> None:
    err = KafkaError(KafkaError._AUTHENTICATION, f"b:1/bootstrap: bad password {SECRET} for svc")
    msg = describe(err, {**SECURED, "ssl.key.password": "k3y-pass"})
    assert SECRET not in msg and "bad password *** for svc" in msg


def test_only_tls_or_sasl_clients_are_guarded_and_their_error_callback_raises() -> None:
    plain = {"bootstrap.servers": "localhost:19092"}
    assert "error_cb" not in guarded(plain)  # the default local setup raises nothing new
    assert isinstance(guarded(plain)["logger"], ClientLog)  # but its librdkafka lines are the project's
    conf = guarded(SECURED)
    assert isinstance(conf["logger"], ClientLog)
    conf["error_cb"](KafkaError(KafkaError._TRANSPORT, "Connection refused"))  # retried: no raise
    with pytest.raises(KafkaSecurityError, match="^Kafka authentication failed at 10.0.0.7:9094"):
        conf["error_cb"](KafkaError(KafkaError._AUTHENTICATION, AUTH_TEXT))


def test_librdkafka_log_lines_about_the_reported_failure_are_dropped_others_kept(
        caplog: pytest.LogCaptureFixture) -> None:
    log = guarded(SECURED)["logger"]
    with caplog.at_level(logging.DEBUG, logger="flows.kafka.librdkafka"):
        log.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#producer-1", AUTH_TEXT)
        log.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#producer-1", TLS_TEXT)
        log.log(logging.WARNING, "%s [%s] %s", "GETPID", "rdkafka#producer-1",
                "[thrd:main]: Failed to acquire idempotence PID")
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, "Kafka client rdkafka#producer-1: Failed to acquire idempotence PID (GETPID)")]


@pytest.mark.parametrize("short", ["p", "ss", "ca", "sl"])
def test_a_short_secret_is_masked_as_a_value_not_inside_words(short: str) -> None:
    """A one-letter password ``p`` masked as a substring turned the hint's ``sasl.password`` into
    ``sasl.***assword`` (and ``ss`` or ``ca`` garbled ``ssl.ca.location``): a secret shorter than
    4 characters is masked only as a whole token; it still never shows as a value."""
    text = f"b:1/bootstrap: bad password {short} for svc (password='{short}', pw={short})"
    msg = describe(KafkaError(KafkaError._AUTHENTICATION, text), {**SECURED, "sasl.password": short})
    assert "check sasl.username and sasl.password" in msg, msg
    assert "bad password *** for svc (password='***', pw=***)" in msg and f"'{short}'" not in msg, msg
    tls = describe(KafkaError(KafkaError._TRANSPORT, TLS_TEXT), {**SECURED, "sasl.password": short})
    assert "(ssl.ca.location=/etc/twin/ca.pem;" in tls and "certificate verify failed" in tls, tls


def test_cli_lines_mask_a_short_secret_as_a_value_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.config.values import mask_secrets

    monkeypatch.setenv("TWIN_KAFKA__LIBRDKAFKA__SASL_PASSWORD", "p")
    line = mask_secrets("config kafka.librdkafka.sasl.password: bad value p (sasl.password=p).")
    assert line == "config kafka.librdkafka.sasl.password: bad value *** (sasl.password=***).", line


@pytest.mark.parametrize("command", ["run", "simulate", "replay", "topics"])
def test_help_never_shows_the_password_given_by_env(
        command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWIN_KAFKA__LIBRDKAFKA__SASL_PASSWORD", SECRET)
    monkeypatch.setenv("TWIN_KAFKA__LIBRDKAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    out = io.StringIO()
    with redirect_stdout(out), pytest.raises(SystemExit):
        main([command, "--help"])
    assert "TWIN_KAFKA__LIBRDKAFKA__SASL_PASSWORD" in out.getvalue()  # the help we meant
    assert SECRET not in out.getvalue()


def test_config_errors_and_repr_never_show_the_password() -> None:
    env = {"TWIN_KAFKA__LIBRDKAFKA__SASL_PASSWORD": SECRET, "TWIN_KAFKA__PARTITIONS": "many"}
    with pytest.raises(ConfigError) as err:
        load_config(env=env)
    assert SECRET not in str(err.value)
    cfg = load_config(env={"TWIN_KAFKA__LIBRDKAFKA__SASL_PASSWORD": SECRET})
    assert SECRET not in repr(cfg) and SECRET not in str(cfg) and SECRET not in repr(cfg.kafka)


def test_every_secret_bearing_librdkafka_setting_is_masked() -> None:
    from flows.config.pipeline import redact

    settings = {"sasl.password": SECRET, "ssl.key.password": SECRET, "ssl.keystore.password": SECRET,
                "ssl.key.pem": SECRET, "sasl.oauthbearer.client.secret": SECRET,
                "sasl.oauthbearer.config": f"principal=svc clientSecret={SECRET}",
                "sasl.username": "svc", "security.protocol": "SASL_SSL"}
    shown = redact(settings)
    assert SECRET not in repr(shown)
    assert shown["sasl.username"] == "svc" and shown["security.protocol"] == "SASL_SSL"


def test_a_piece_of_sasl_oauthbearer_config_in_a_librdkafka_text_is_masked(
        caplog: pytest.LogCaptureFixture) -> None:
    """librdkafka quotes the config from the pair it could not parse on (the whole value is not in
    the text): each pair's value is masked on its own, in the error line and in a logged line."""
    oauth = "0auth-Cl1ent-S3cret"  # not sasl.password: only the config holds it
    conf = f"principal=svc clientSecret={oauth} extension_tenant=t1"
    settings = {**SECURED, "sasl.mechanisms": "OAUTHBEARER", "sasl.oauthbearer.config": conf}
    text = ("Failed to acquire SASL OAUTHBEARER token: Unrecognized sasl.oauthbearer.config "
            f"beginning at: clientSecret={oauth} extension_tenant=t1")  # librdkafka 2.x, as raised
    msg = describe(KafkaError(KafkaError._AUTHENTICATION, text), settings)
    assert oauth not in msg and "beginning at: clientSecret=*** " in msg
    with caplog.at_level(logging.DEBUG, logger="flows.kafka.librdkafka"):
        ClientLog(settings).log(logging.ERROR, "%s [%s] %s", "SASL", "rdkafka#consumer-1", text)
    assert caplog.records and oauth not in caplog.text and "clientSecret=***" in caplog.text
