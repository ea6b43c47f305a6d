#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft: broker + controller in one JVM) for development
# and for `make test`. No Docker: the broker's jars come from Maven Central (see pom.xml).
#
#   infra/kafka/kafka.sh fetch       copy Kafka + runtime deps into .state/kafka/libs (cached)
#   infra/kafka/kafka.sh start       fetch if needed, format storage once, start in background
#   infra/kafka/kafka.sh wait [SECS] block until the broker answers metadata (default 60 s)
#   infra/kafka/kafka.sh stop        SIGTERM, wait, SIGKILL if needed (idempotent)
#   infra/kafka/kafka.sh restart     stop + start + wait (same data dir: topics/messages kept)
#   infra/kafka/kafka.sh status      running? pid, bootstrap address, paths (exit 0 running, 3 not)
#   infra/kafka/kafka.sh bootstrap   print the bootstrap address only
#   infra/kafka/kafka.sh sasl-env    print the SASL_SSL listener's settings as NAME=value lines
#                                    (address, user, password file, CA file; never the password)
#   infra/kafka/kafka.sh logs [N]    tail the broker log
#   infra/kafka/kafka.sh clean       stop, then remove data, logs, generated config, certificates
#                                    and the SASL password
#                                    (libs are kept: `clean --all` removes them too)
#
# Security: besides PLAINTEXT the broker has a SASL_SSL listener (TLS + SASL/SCRAM-SHA-512) on
# 127.0.0.1:KAFKA_SASL_PORT. `start` generates, once per state dir, a local CA and a broker
# certificate (SAN 127.0.0.1, localhost; EC P-256, 10 years) with openssl into tls/ and a random
# password for the SCRAM user `twin` into sasl/password (keys and password mode 600, outside git:
# .state/ is ignored); `wait` upserts that SCRAM credential into the cluster metadata over PLAINTEXT (an
# AdminClient request, so the password is never on a command line, in server.properties or in a
# log) and checks that a SASL_SSL client gets metadata. Inter-broker and controller traffic stay
# PLAINTEXT. Clients: security.protocol=SASL_SSL, sasl.mechanisms=SCRAM-SHA-512,
# sasl.username=twin, sasl.password=<sasl/password>, ssl.ca.location=<tls/ca.pem>.
#
# Environment:
#   KAFKA_PORT        PLAINTEXT port on 127.0.0.1 (default 19092); controller uses KAFKA_PORT+1.
#                     After `start` the port in use is remembered in .state/kafka/port, so
#                     wait/stop/status/bootstrap follow the running broker.
#   KAFKA_SASL_PORT   SASL_SSL port on 127.0.0.1 (default KAFKA_PORT+2)
#   KAFKA_SASL        0: no SASL_SSL listener (default 1; also off, with a notice, without openssl)
#   KAFKA_STATE_DIR   where libs/data/logs live (default <project>/.state/kafka)
#   KAFKA_HEAP_OPTS   JVM heap flags (default -Xms256m -Xmx512m)
#   KAFKA_JVM_OPTS    extra JVM flags (e.g. -XX:TieredStopAtLevel=1: ~0.8 s faster start)
#   KAFKA_PYTHON      Python with confluent_kafka used by `wait` (default <project>/.venv/bin/python)
#   KAFKA_STOP_TIMEOUT seconds to wait after SIGTERM before SIGKILL (default 30)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
STATE="${KAFKA_STATE_DIR:-$ROOT/.state/kafka}"
LIBS="$STATE/libs"
DATA="$STATE/data"
LOGS="$STATE/logs"
CONF="$STATE/config"
PIDFILE="$STATE/kafka.pid"
PORTFILE="$STATE/port"
SASLPORTFILE="$STATE/sasl_port"   # SASL_SSL port of the running broker (absent: listener off)
TLS="$STATE/tls"                  # generated CA + broker certificate (private keys: mode 600)
SASLDIR="$STATE/sasl"             # generated SCRAM user name and password (mode 600)
SASL_USER="twin"
OWNERFILE="$STATE/owner"   # pid of the with-kafka.sh run that started the broker, if any
STAMP="$LIBS/.complete"
POM="$HERE/pom.xml"

say() { echo "kafka.sh: $*"; }
die() { echo "kafka.sh: $*" >&2; exit 1; }

need() { # need CMD WHY
    command -v "$1" >/dev/null 2>&1 || die "$1 not found: $2"
}

need_java() {
    need java "the local Kafka broker needs a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)"
    local v
    v="$(java -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')"
    v="${v%%.*}"
    if [[ "$v" =~ ^[0-9]+$ ]] && (( v < 17 )); then
        die "java is version $v: Kafka 4.x needs Java 17+ (set PATH or JAVA_HOME to a newer one)"
    fi
}

# The port of the running broker if there is one, else KAFKA_PORT, else 19092.
port() {
    if is_running && [[ -s "$PORTFILE" ]]; then cat "$PORTFILE"; else echo "${KAFKA_PORT:-19092}"; fi
}
bootstrap() { echo "127.0.0.1:$(port)"; }

njars() { find "$LIBS" -maxdepth 1 -name '*.jar' | wc -l; }

pom_hash() { sha256sum "$POM" | cut -d' ' -f1; }

libs_complete() {
    [[ -f "$STAMP" ]] && [[ "$(cat "$STAMP")" == "$(pom_hash)" ]]
}

with_lock() { # serialise fetch/start/stop of one state dir (two `make` targets at once)
    mkdir -p "$STATE"
    exec 9>"$STATE/.lock"
    flock 9 2>/dev/null || true
}

cmd_fetch() {
    if libs_complete; then
        say "libs up to date ($(njars) jars in $LIBS)"
        return 0
    fi
    need mvn "fetching the Kafka broker jars needs Maven 3.6+ (Debian: apt-get install maven)"
    need_java
    say "fetching Kafka jars with Maven into $LIBS ..."
    local tmp="$STATE/libs.tmp.$$" t0=$SECONDS
    rm -rf "$tmp"
    mkdir -p "$STATE"
    if ! mvn -B -q -f "$POM" package -Dkafka.libs.dir="$tmp" >"$STATE/fetch.log" 2>&1; then
        tail -n 30 "$STATE/fetch.log" >&2
        rm -rf "$tmp"
        die "Maven could not fetch Kafka (full output: $STATE/fetch.log)"
    fi
    ls "$tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || die "Maven ran but $tmp has no kafka_2.13 jar"
    pom_hash >"$tmp/.complete"
    rm -rf "$LIBS"
    mv "$tmp" "$LIBS"
    say "fetched $(njars) jars ($(du -sh "$LIBS" | cut -f1)) in $((SECONDS - t0)) s"
}

pid_alive() { # pid_alive PID: alive and really our broker (not a reused pid)
    local pid="$1"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
    [[ -r "/proc/$pid/cmdline" ]] || return 0
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "kafka.Kafka $CONF/server.properties"
}

is_running() {
    [[ -s "$PIDFILE" ]] && pid_alive "$(cat "$PIDFILE")"
}

port_in_use() { # port_in_use PORT
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

sasl_wanted() { # SASL_SSL listener on (default) and openssl there to make its certificates
    [[ "${KAFKA_SASL:-1}" != "0" ]] || return 1
    if ! command -v openssl >/dev/null 2>&1; then
        say "openssl not found: no SASL_SSL listener (its CA and certificate are made with openssl)"
        return 1
    fi
}

make_tls() { # a local CA and a broker certificate signed by it, once per state dir
    if [[ -s "$TLS/ca.pem" && -s "$TLS/broker.pem" ]] \
        && openssl x509 -checkend 86400 -noout -in "$TLS/broker.crt" >/dev/null 2>&1; then
        return 0
    fi
    local tmp="$TLS.tmp.$$" ext
    rm -rf "$tmp"
    (umask 077 && mkdir -p "$tmp")
    ext="subjectAltName=IP:127.0.0.1,DNS:localhost"$'\n'"extendedKeyUsage=serverAuth"$'\n'"basicConstraints=CA:FALSE"
    if ! (umask 077 && cd "$tmp" \
        && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
            -subj "/CN=twinflow local Kafka CA" -keyout ca.key -out ca.pem \
        && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -subj "/CN=localhost" -keyout broker.key -out broker.csr \
        && printf '%s\n' "$ext" >broker.ext \
        && openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
            -extfile broker.ext -out broker.crt \
        && cat broker.key broker.crt >broker.pem \
        && chmod 644 ca.pem broker.crt) >"$LOGS/tls.log" 2>&1; then
        rm -rf "$tmp"
        die "could not make the TLS certificates with openssl (see $LOGS/tls.log)"
    fi
    rm -f "$tmp/broker.csr" "$tmp/broker.ext" "$tmp/ca.srl"
    rm -rf "$TLS"
    mv "$tmp" "$TLS"
    say "made a local CA and a broker certificate in $TLS"
}

make_sasl_secret() { # the SCRAM user's password, random, once per state dir
    [[ -s "$SASLDIR/password" ]] && return 0
    (umask 077 && mkdir -p "$SASLDIR" && openssl rand -hex 24 >"$SASLDIR/password.tmp" \
        && mv "$SASLDIR/password.tmp" "$SASLDIR/password") || die "could not write $SASLDIR/password"
    echo "$SASL_USER" >"$SASLDIR/user"
}

sasl_config() { # sasl_config: server.properties lines of the SASL_SSL listener
    cat <<EOF

# SASL_SSL listener (TLS + SCRAM-SHA-512) for clients. The SCRAM credential lives in the cluster
# metadata (upserted by \`kafka.sh wait\`); the certificate in $TLS (PEM, key mode 600).
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$TLS/broker.pem
listener.name.sasl_ssl.ssl.client.auth=none
EOF
}

write_config() { # write_config PORT [SASL_PORT]
    local p="$1" c=$(($1 + 1)) s="${2:-}" listeners advertised protomap
    mkdir -p "$CONF" "$DATA" "$LOGS"
    listeners="PLAINTEXT://127.0.0.1:$p,CONTROLLER://127.0.0.1:$c"
    advertised="PLAINTEXT://127.0.0.1:$p"
    protomap="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
    if [[ -n "$s" ]]; then
        listeners+=",SASL_SSL://127.0.0.1:$s"
        advertised+=",SASL_SSL://127.0.0.1:$s"
        protomap+=",SASL_SSL:SASL_SSL"
    fi
    cat >"$CONF/server.properties" <<EOF
# Generated by infra/kafka/kafka.sh: edits are overwritten on every start.
# Single-node KRaft: this JVM is both the broker and the (only) controller.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$c
controller.listener.names=CONTROLLER
listeners=$listeners
advertised.listeners=$advertised
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protomap

log.dirs=$DATA
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=false
delete.topic.enable=true

# Internal topics on one broker: replication 1, few partitions (fast first group join).
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0

# Small machine (2 cores, 512 MiB heap).
num.network.threads=2
num.io.threads=4
background.threads=4
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=16777216
EOF
    [[ -z "$s" ]] || sasl_config >>"$CONF/server.properties"
    cat >"$CONF/log4j2.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by infra/kafka/kafka.sh. Kafka 4.x logs through log4j2 (not log4j 1.x). -->
<Configuration status="WARN" shutdownHook="disable">
  <Appenders>
    <File name="server" fileName="$LOGS/server.log" append="true">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </File>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="server"/></Root>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="kafka.network.RequestChannel\$" level="WARN"/>
    <Logger name="state.change.logger" level="WARN"/>
    <Logger name="kafka.authorizer.logger" level="WARN"/>
    <Logger name="org.apache.kafka.controller" level="INFO"/>
    <Logger name="org.apache.kafka.raft" level="WARN"/>
    <Logger name="org.apache.kafka.metadata" level="WARN"/>
  </Loggers>
</Configuration>
EOF
}

java_cp() { echo "$LIBS/*"; }

cmd_start() {
    with_lock
    if is_running; then
        say "already running (pid $(cat "$PIDFILE")), bootstrap $(bootstrap)"
        return 0
    fi
    need_java
    libs_complete || cmd_fetch
    local p="${KAFKA_PORT:-19092}"
    if ! [[ "$p" =~ ^[0-9]+$ ]] || (( p < 1 || p > 65534 )); then
        die "KAFKA_PORT=$p is not a port number (1-65534; the controller takes KAFKA_PORT+1)"
    fi
    local sp=""
    if sasl_wanted; then
        sp="${KAFKA_SASL_PORT:-$((p + 2))}"
        if ! [[ "$sp" =~ ^[0-9]+$ ]] || (( sp < 1 || sp > 65535 || sp == p || sp == p + 1 )); then
            die "KAFKA_SASL_PORT=$sp is not a usable port (1-65535, not KAFKA_PORT or KAFKA_PORT+1)"
        fi
    fi
    for q in "$p" $((p + 1)) $sp; do
        if port_in_use "$q"; then
            die "127.0.0.1:$q is already in use by another process (another broker? set KAFKA_PORT to pick other ports)"
        fi
    done
    mkdir -p "$LOGS"
    if [[ -n "$sp" ]]; then make_tls; make_sasl_secret; fi
    write_config "$p" "$sp"
    if [[ ! -f "$DATA/meta.properties" ]]; then
        local cid
        cid="$(java -cp "$(java_cp)" -Dlog4j2.configurationFile="$CONF/log4j2.xml" \
            kafka.tools.StorageTool random-uuid 2>>"$LOGS/format.log")" \
            || die "could not make a cluster id (see $LOGS/format.log)"
        if ! java -cp "$(java_cp)" -Dlog4j2.configurationFile="$CONF/log4j2.xml" \
            kafka.tools.StorageTool format -t "$cid" -c "$CONF/server.properties" \
            >>"$LOGS/format.log" 2>&1; then
            tail -n 20 "$LOGS/format.log" >&2
            die "formatting $DATA failed (see $LOGS/format.log)"
        fi
        say "formatted $DATA (cluster id $cid)"
    fi
    echo "$p" >"$PORTFILE"
    if [[ -n "$sp" ]]; then echo "$sp" >"$SASLPORTFILE"; else rm -f "$SASLPORTFILE"; fi
    rm -f "$PIDFILE" "$SASLDIR/ready"
    # Detached (own session) so it outlives `make kafka-start` and a Ctrl-C in the caller's
    # terminal; the child writes its own pid, then execs java (same pid).
    local -a heap extra
    read -r -a heap <<<"${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
    read -r -a extra <<<"${KAFKA_JVM_OPTS:-}"
    # shellcheck disable=SC2016
    setsid bash -c 'echo $$ >"$0"; exec "$@"' "$PIDFILE" \
        java "${heap[@]}" \
        -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
        -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$CONF/log4j2.xml" -Dkafka.logs.dir="$LOGS" \
        "${extra[@]}" \
        -cp "$(java_cp)" kafka.Kafka "$CONF/server.properties" \
        </dev/null >>"$LOGS/stdout.log" 2>&1 9>&- &
    local i
    for i in $(seq 50); do [[ -s "$PIDFILE" ]] && break; sleep 0.1; done
    [[ -s "$PIDFILE" ]] || die "broker did not start (see $LOGS/stdout.log)"
    if [[ -n "${KAFKA_OWNER_PID:-}" ]]; then echo "$KAFKA_OWNER_PID" >"$OWNERFILE"; else rm -f "$OWNERFILE"; fi
    say "started pid $(cat "$PIDFILE"), bootstrap 127.0.0.1:$p${sp:+, SASL_SSL 127.0.0.1:$sp} (logs: $LOGS/server.log)"
}

sasl_port() { if is_running && [[ -s "$SASLPORTFILE" ]]; then cat "$SASLPORTFILE"; fi; }

sasl_provision() { # sasl_provision PY SECS: upsert the SCRAM user, check that a SASL_SSL client works
    local py="$1" budget="$2" sp
    sp="$(sasl_port)"
    [[ -n "$sp" ]] || return 0
    rm -f "$SASLDIR/ready"
    if [[ -z "$py" ]]; then
        say "no Python with confluent_kafka: the SASL_SSL listener at 127.0.0.1:$sp has no user yet"
        return 0
    fi
    if ! "$py" "$HERE/scram_user.py" --plaintext "127.0.0.1:$(port)" --sasl "127.0.0.1:$sp" \
        --user "$(cat "$SASLDIR/user")" --password-file "$SASLDIR/password" --ca "$TLS/ca.pem" \
        --timeout "$budget"; then
        log_tail; die "SASL_SSL listener at 127.0.0.1:$sp is not usable (see above)"
    fi
    touch "$SASLDIR/ready"
    say "SASL_SSL ready at 127.0.0.1:$sp (user $(cat "$SASLDIR/user"), CA $TLS/ca.pem)"
}

cmd_sasl_env() { # the SASL_SSL listener's settings for tests and developers (never the password)
    local sp
    sp="$(sasl_port)"
    [[ -n "$sp" && -f "$SASLDIR/ready" ]] || return 0
    echo "TWIN_KAFKA_SASL_BROKERS=127.0.0.1:$sp"
    echo "TWIN_KAFKA_SASL_USER=$(cat "$SASLDIR/user")"
    echo "TWIN_KAFKA_SASL_PASSWORD_FILE=$SASLDIR/password"
    echo "TWIN_KAFKA_CA=$TLS/ca.pem"
}

log_tail() { # last lines of the JVM's stdout and the broker log, to stderr
    local f
    for f in "$LOGS/stdout.log" "$LOGS/server.log"; do
        [[ -s "$f" ]] || continue
        echo "----- last lines of $f -----" >&2
        tail -n 25 "$f" >&2
    done
}

kafka_python() {
    local py="${KAFKA_PYTHON:-$ROOT/.venv/bin/python}"
    [[ -x "$py" ]] || py="$(command -v python3 || true)"
    [[ -n "$py" ]] && "$py" -c 'import confluent_kafka' 2>/dev/null && echo "$py"
    return 0
}

cmd_wait() {
    local timeout="${1:-${KAFKA_WAIT_TIMEOUT:-60}}" t0=$SECONDS pid py p
    [[ -s "$PIDFILE" ]] || die "broker not started (run: infra/kafka/kafka.sh start)"
    pid="$(cat "$PIDFILE")"
    p="$(port)"
    py="$(kafka_python)"
    # 1. the PLAINTEXT port accepts connections (fail fast if the JVM died)
    until port_in_use "$p"; do
        if ! pid_alive "$pid"; then log_tail; die "broker (pid $pid) exited during startup"; fi
        if (( SECONDS - t0 >= timeout )); then
            log_tail; die "broker not listening on 127.0.0.1:$p after ${timeout} s"
        fi
        sleep 0.2
    done
    # 2. it answers a metadata request and lists itself as a broker
    if [[ -n "$py" ]]; then
        if ! "$py" - "127.0.0.1:$p" "$pid" $((timeout - (SECONDS - t0))) <<'PY'
import os, sys, time
from confluent_kafka.admin import AdminClient
bootstrap, pid, budget = sys.argv[1], int(sys.argv[2]), max(float(sys.argv[3]), 1.0)
deadline = time.monotonic() + budget
admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0,
                     "logger": __import__("logging").getLogger("quiet")})
err = "no answer"
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        print("broker process exited", file=sys.stderr)
        sys.exit(2)
    try:
        md = admin.list_topics(timeout=min(5.0, max(deadline - time.monotonic(), 0.5)))
        if md.brokers:
            sys.exit(0)
        err = "metadata lists no broker yet"
    except Exception as e:  # KafkaException while the broker is still starting
        err = str(e)
    time.sleep(0.2)
print(f"metadata request failed: {err}", file=sys.stderr)
sys.exit(1)
PY
        then
            log_tail; die "broker at 127.0.0.1:$p did not answer metadata within ${timeout} s"
        fi
    else
        # No confluent_kafka: fall back on the broker's own "started" log line.
        until grep -q "Kafka Server started" "$LOGS/server.log" 2>/dev/null; do
            if ! pid_alive "$pid"; then log_tail; die "broker (pid $pid) exited during startup"; fi
            if (( SECONDS - t0 >= timeout )); then
                log_tail; die "broker did not log 'Kafka Server started' within ${timeout} s"
            fi
            sleep 0.2
        done
    fi
    sasl_provision "$py" $((timeout - (SECONDS - t0) > 10 ? timeout - (SECONDS - t0) : 10))
    say "ready at 127.0.0.1:$p after $((SECONDS - t0)) s"
}

cmd_stop() {
    with_lock
    if ! is_running; then
        rm -f "$PIDFILE" "$OWNERFILE"
        say "not running"
        return 0
    fi
    local pid limit i
    pid="$(cat "$PIDFILE")"
    limit="${KAFKA_STOP_TIMEOUT:-30}"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < limit * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "pid $pid still alive after ${limit} s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$PIDFILE" "$OWNERFILE" "$SASLDIR/ready"
    say "stopped (pid $pid)"
}

cmd_status() {
    local libs="missing"
    libs_complete && libs="$(njars) jars, $(du -sh "$LIBS" | cut -f1)"
    if is_running; then
        say "running, pid $(cat "$PIDFILE"), bootstrap $(bootstrap)"
    else
        say "not running (bootstrap would be $(bootstrap))"
    fi
    echo "  libs: $LIBS ($libs)"
    echo "  data: $DATA$([[ -f "$DATA/meta.properties" ]] && echo " (formatted)" || echo " (empty)")"
    echo "  log:  $LOGS/server.log"
    [[ -z "$(sasl_port)" ]] \
        || echo "  sasl: SASL_SSL 127.0.0.1:$(sasl_port), CA $TLS/ca.pem, password file $SASLDIR/password"
    is_running || return 3
}

cmd_clean() {
    cmd_stop
    rm -rf "$DATA" "$LOGS" "$CONF" "$PORTFILE" "$SASLPORTFILE" "$TLS" "$TLS".tmp.* "$SASLDIR" \
        "$STATE"/libs.tmp.*
    if [[ "${1:-}" == "--all" ]]; then
        rm -rf "$LIBS" "$STATE/fetch.log"
        say "removed data, logs, config and libs under $STATE"
    else
        say "removed data, logs, config, certificates and SASL secret under $STATE (libs kept; clean --all removes them)"
    fi
}

case "${1:-}" in
    fetch) with_lock; cmd_fetch ;;
    start) cmd_start ;;
    wait) shift; cmd_wait "$@" ;;
    stop) cmd_stop ;;
    restart) cmd_stop; cmd_start; cmd_wait ;;
    status) cmd_status ;;
    bootstrap) bootstrap ;;
    sasl-env) cmd_sasl_env ;;
    owner) if is_running && [[ -s "$OWNERFILE" ]]; then cat "$OWNERFILE"; fi ;;
    logs) tail -n "${2:-50}" "$LOGS/server.log" ;;
    clean) shift; cmd_clean "$@" ;;
    *)
        sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
        exit 2
        ;;
esac
