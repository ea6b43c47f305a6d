"""Give the local broker its SCRAM-SHA-512 user, then check that a SASL_SSL client can connect.

Run by ``infra/kafka/kafka.sh wait`` on every start (an upsert: idempotent; a state dir formatted
before the SASL_SSL listener existed gets its user the same way). The credential is written with
an AdminClient request over the PLAINTEXT listener, so the password is read from its file and
never appears on a command line, in server.properties or in a log; SCRAM credentials live in the
KRaft metadata log like any other metadata. Exit status 0 when a SASL_SSL client got metadata,
1 with a one-line reason on stderr otherwise (never the password).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

ITERATIONS = 8192  # RFC 7677 recommends >= 4096; each client login costs this many HMACs
QUIET = logging.getLogger("scram_user.librdkafka")
QUIET.addHandler(logging.NullHandler())
QUIET.propagate = False


def upsert(plaintext: str, user: str, password: str, timeout_s: float) -> None:
    """Create or replace the user's SCRAM-SHA-512 credential (over PLAINTEXT: no auth needed)."""
    admin = AdminClient({"bootstrap.servers": plaintext, "logger": QUIET})
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, ITERATIONS)
    futures = admin.alter_user_scram_credentials(
        [UserScramCredentialUpsertion(user, info, password.encode())], request_timeout=timeout_s)
    futures[user].result(timeout=timeout_s)


def check_sasl(sasl: str, user: str, password: str, ca: str, deadline: float) -> None:
    """Metadata over SASL_SSL; retried while the new credential reaches the broker's cache."""
    errors: list[KafkaError] = []
    admin = AdminClient({
        "bootstrap.servers": sasl, "security.protocol": "SASL_SSL",
        "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": user, "sasl.password": password,
        "ssl.ca.location": ca, "logger": QUIET, "error_cb": errors.append,
    })
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            if admin.list_topics(timeout=2).brokers:
                return
        except KafkaException as exc:
            last = exc.args[0].str()
        admin.poll(0)
        if errors:
            last = errors[-1].str()
        time.sleep(0.2)
    msg = f"no SASL_SSL metadata from {sasl}: {last}"
    raise TimeoutError(msg)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--plaintext", required=True, help="PLAINTEXT bootstrap host:port")
    p.add_argument("--sasl", required=True, help="SASL_SSL bootstrap host:port")
    p.add_argument("--user", required=True)
    p.add_argument("--password-file", required=True, type=Path)
    p.add_argument("--ca", required=True, help="CA certificate (PEM) the broker's certificate is signed by")
    p.add_argument("--timeout", type=float, default=30.0)
    args = p.parse_args()
    deadline = time.monotonic() + args.timeout
    password = args.password_file.read_text().strip()
    try:
        upsert(args.plaintext, args.user, password, max(args.timeout / 2, 5.0))
        check_sasl(args.sasl, args.user, password, args.ca, deadline)
    except (KafkaException, TimeoutError) as exc:
        err = exc.args[0]
        text = err.str() if isinstance(err, KafkaError) else str(err)
        print(f"scram_user.py: {text.replace(password, '***')}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
