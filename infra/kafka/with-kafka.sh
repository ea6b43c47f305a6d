#!/usr/bin/env bash
# Run a command against a local Kafka broker:
#
#   infra/kafka/with-kafka.sh .venv/bin/python -m pytest -q
#
# Fetches (cached) and starts the broker with infra/kafka/kafka.sh, waits until it answers,
# exports TWIN_KAFKA_BROKERS (bootstrap address) and TWIN_KAFKA_LOCAL=1 (tests may stop and
# start it) plus, for the broker's SASL_SSL listener, TWIN_KAFKA_SASL_BROKERS, TWIN_KAFKA_SASL_USER,
# TWIN_KAFKA_SASL_PASSWORD_FILE and TWIN_KAFKA_CA (files, never the password), runs the command, then stops the broker however the command ended (success,
# failure, Ctrl-C, SIGTERM/SIGHUP, which are passed on to the command) and exits with the
# command's status.
#
# A broker that a developer started (`make kafka-start`) is reused and left running. One
# left behind by an earlier with-kafka.sh run that was killed outright is adopted and stopped.
# TWIN_KAFKA_OPTIONAL=1: if the broker cannot be started (no java/mvn, ...), warn and run the
# command without it (integration tests then skip) instead of failing.
#
# Ports: the broker takes THREE on 127.0.0.1, all to be free: KAFKA_PORT (default 19092,
# PLAINTEXT), KAFKA_PORT+1 (its KRaft controller) and KAFKA_PORT+2 (SASL_SSL; KAFKA_SASL_PORT
# moves it, KAFKA_SASL=0 turns it off). Two runs side by side need KAFKA_PORTs at least 3 apart.
set -uo pipefail

KAFKA_SH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/kafka.sh"

usage() {
    echo "usage: [KAFKA_PORT=P] $0 CMD [ARGS...]: runs CMD against a local Kafka broker, which takes" \
        "ports P (default 19092), P+1 (its controller) and P+2 (SASL_SSL, or KAFKA_SASL_PORT;" \
        "KAFKA_SASL=0: none) on 127.0.0.1, all to be free" >&2
}
if (($# == 0)); then
    usage
    exit 2
fi
if [[ "$1" == "-h" || "$1" == "--help" ]]; then
    usage
    exit 0
fi

started=0
stop_broker() {
    if ((started)); then
        bash "$KAFKA_SH" stop >&2 || true
        started=0
    fi
}

broker_failed() {
    stop_broker
    if [[ "${TWIN_KAFKA_OPTIONAL:-0}" == "1" ]]; then
        echo "with-kafka.sh: no local Kafka broker (see above); running without it" >&2
        unset TWIN_KAFKA_BROKERS TWIN_KAFKA_LOCAL TWIN_KAFKA_SASL_BROKERS TWIN_KAFKA_SASL_USER \
            TWIN_KAFKA_SASL_PASSWORD_FILE TWIN_KAFKA_CA
        exec "$@"
    fi
    echo "with-kafka.sh: could not start the local Kafka broker (see above)" >&2
    exit 1
}

trap stop_broker EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Restarts done by the tests (kafka.sh start) keep this run as the broker's owner.
export KAFKA_OWNER_PID=$$
if bash "$KAFKA_SH" status >/dev/null 2>&1; then
    owner="$(bash "$KAFKA_SH" owner)"
    if [[ -n "$owner" ]] && ! kill -0 "$owner" 2>/dev/null; then
        echo "with-kafka.sh: adopting the broker left by an earlier run (pid $owner is gone)" >&2
        started=1
    else
        echo "with-kafka.sh: reusing the running broker at $(bash "$KAFKA_SH" bootstrap)" \
            "(left running afterwards)" >&2
        unset KAFKA_OWNER_PID
    fi
else
    started=1
    bash "$KAFKA_SH" start >&2 || broker_failed "$@"
fi
bash "$KAFKA_SH" wait >&2 || broker_failed "$@"

TWIN_KAFKA_BROKERS="$(bash "$KAFKA_SH" bootstrap)"
export TWIN_KAFKA_BROKERS TWIN_KAFKA_LOCAL=1
echo "with-kafka.sh: TWIN_KAFKA_BROKERS=$TWIN_KAFKA_BROKERS" >&2
# The SASL_SSL listener (if the broker has one): address, user, password *file* and CA file.
unset TWIN_KAFKA_SASL_BROKERS TWIN_KAFKA_SASL_USER TWIN_KAFKA_SASL_PASSWORD_FILE TWIN_KAFKA_CA
while IFS='=' read -r name value; do
    case "$name" in
        TWIN_KAFKA_SASL_BROKERS | TWIN_KAFKA_SASL_USER | TWIN_KAFKA_SASL_PASSWORD_FILE | TWIN_KAFKA_CA)
            export "$name=$value" ;;
    esac
done < <(bash "$KAFKA_SH" sasl-env)
if [[ -n "${TWIN_KAFKA_SASL_BROKERS:-}" ]]; then
    echo "with-kafka.sh: TWIN_KAFKA_SASL_BROKERS=$TWIN_KAFKA_SASL_BROKERS (SASL_SSL, SCRAM-SHA-512)" >&2
fi

# Run the command as a child we wait for, so that TERM/HUP sent to this script are passed on
# at once (a foreground child would delay our traps until it exits). Its stdin is kept (a
# background job would get /dev/null), so pytest --pdb still works. Ctrl-C reaches it directly
# from the terminal (same process group); we just keep waiting for it.
# (An asynchronous command would also start with SIGINT ignored: the subshell undoes that.)
( trap - INT QUIT; exec "$@" ) 0<&0 &
child=$!
# shellcheck disable=SC2317  # called from the traps below
forward() { kill "-$1" "$child" 2>/dev/null || true; }
trap 'forward TERM' TERM
trap 'forward HUP' HUP
trap ':' INT
while :; do
    wait "$child"
    rc=$?
    kill -0 "$child" 2>/dev/null || break   # wait was interrupted by a signal: keep waiting
done
exit "$rc"
