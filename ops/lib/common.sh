# shellcheck shell=bash disable=SC2034 # the variables are for the scripts that source this
# Shared definitions for ops/setup.sh and ops/stack.sh: paths, pinned versions, ports,
# messages, Java lookup and process/port helpers. Sourcing this file defines things and
# creates nothing; the caller sets `set -euo pipefail`.

OPS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_ROOT=$(cd "$OPS_DIR/.." && pwd)
LOCAL_DIR="$REPO_ROOT/.local"   # git-ignored: downloads, data, logs, pid files
# Where a stack keeps its data, logs and pid files. A second stack (the chaos harness, a
# benchmark) sets SHIPSTREAM_STATE_DIR to a folder under .local/ and its own ports, and
# shares the downloads.
# SECURE=1 is the SASL_SSL stack (ops/lib/secure.sh): its own state under .local/secure and
# its own ports, so it runs beside the plain one.
SECURE=${SECURE:-0}
if [[ $SECURE == 1 ]]; then
    STATE_DIR=${SHIPSTREAM_STATE_DIR:-$LOCAL_DIR/secure}
else
    STATE_DIR=${SHIPSTREAM_STATE_DIR:-$LOCAL_DIR}
fi
LOG_DIR="$STATE_DIR/logs"
RUN_DIR="$STATE_DIR/run"

# --- pinned versions -------------------------------------------------------------------
# The Kafka version lives in one place, the pom that fetches it.
KAFKA_POM="$OPS_DIR/kafka/pom.xml"
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_POM")
# Apicurio 3.3.x is compiled for Java 21 (class files v65); see find_java.
APICURIO_VERSION=3.3.3
REGISTRY_MIN_JAVA=21
KAFKA_MIN_JAVA=17
# Pinned so that a fresh machine and this one run the same goals (Maven 3.8's default is 2.8).
MVN_DEPENDENCY_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1

KAFKA_HOME="$LOCAL_DIR/kafka"
KAFKA_LIBS="$KAFKA_HOME/libs"
KAFKA_STATE="$STATE_DIR/kafka"
KAFKA_DATA="$KAFKA_STATE/data"
REGISTRY_HOME="$LOCAL_DIR/registry"
REGISTRY_APP="$REGISTRY_HOME/apicurio-registry-app-$APICURIO_VERSION"
REGISTRY_STATE="$STATE_DIR/registry"
PROM_HOME="$STATE_DIR/prometheus"
PROM_BIN=${PROMETHEUS_BIN:-/usr/bin/prometheus}

# --- ports (loopback only) ---------------------------------------------------------------
if [[ $SECURE == 1 ]]; then
    # Kafka's SASL_SSL listener, its controller (TLS with client certificates), Apicurio's
    # own loopback port and management port, and the TLS + basic-auth front clients use.
    KAFKA_PORT=${KAFKA_PORT:-9192}
    KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9193}
    KAFKA_MTLS_PORT=${KAFKA_MTLS_PORT:-9194} # TLS with client certificates (mTLS)
    REGISTRY_PORT=${REGISTRY_PORT:-8481}
    REGISTRY_MANAGEMENT_PORT=${REGISTRY_MANAGEMENT_PORT:-9291}
    REGISTRY_FRONT_PORT=${REGISTRY_FRONT_PORT:-8444}
    PROMETHEUS_PORT=${PROMETHEUS_PORT:-9290}
else
    KAFKA_PORT=${KAFKA_PORT:-9092}
    KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
    REGISTRY_PORT=${REGISTRY_PORT:-8081}
    # Quarkus serves health and metrics on a separate management port.
    REGISTRY_MANAGEMENT_PORT=${REGISTRY_MANAGEMENT_PORT:-9000}
    PROMETHEUS_PORT=${PROMETHEUS_PORT:-9090}
fi
HOST=127.0.0.1

# --- messages -------------------------------------------------------------------------------
info() { printf '%s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() {
    printf 'ERROR: %s\n' "$*" >&2
    exit 1
}

# render TEMPLATE OUT KEY=VALUE... : copy TEMPLATE to OUT replacing every @KEY@ by VALUE.
render() {
    local template=$1 out=$2 pair
    shift 2
    local -a expr=()
    for pair in "$@"; do
        expr+=(-e "s|@${pair%%=*}@|${pair#*=}|g")
    done
    sed "${expr[@]}" "$template" >"$out.tmp"
    if grep -q '@[A-Z_]*@' "$out.tmp"; then
        die "unfilled placeholder in $out.tmp (from $template): $(grep -o '@[A-Z_]*@' "$out.tmp" | head -1)"
    fi
    mv "$out.tmp" "$out"
}

# --- Java ----------------------------------------------------------------------------------
# java_major BIN: prints the feature version (17, 21, 25...) of a java binary.
java_major() {
    "$1" -version 2>&1 | sed -n 's/.*version "\([0-9]*\)[."].*/\1/p' | head -1
}

# find_java MIN [PREFERRED_HOME]: prints a java binary of at least version MIN, trying
# PREFERRED_HOME, JAVA_HOME, the PATH, then every JDK under /usr/lib/jvm (newest first).
find_java() {
    local min=$1 preferred=${2:-} candidate major
    local -a candidates=()
    [[ -n $preferred ]] && candidates+=("$preferred/bin/java")
    [[ -n ${JAVA_HOME:-} ]] && candidates+=("$JAVA_HOME/bin/java")
    command -v java >/dev/null 2>&1 && candidates+=("$(command -v java)")
    local jdks
    jdks=$(printf '%s\n' /usr/lib/jvm/*/bin/java | sort -rV)
    while IFS= read -r candidate; do candidates+=("$candidate"); done <<<"$jdks"
    for candidate in "${candidates[@]}"; do
        [[ -x $candidate ]] || continue
        major=$(java_major "$candidate")
        if [[ -n $major && $major -ge $min ]]; then
            printf '%s\n' "$candidate"
            return 0
        fi
    done
    return 1
}

# --- processes and ports -------------------------------------------------------------------
pid_file() { printf '%s/%s.pid\n' "$RUN_DIR" "$1"; }

# is_ours PID: the process is alive and was started from this checkout. Every service we
# start has a path under $LOCAL_DIR on its command line, which guards against a recycled pid.
is_ours() {
    local pid=$1
    [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$LOCAL_DIR/"
}

# service_pid NAME: prints the pid of our running NAME service; removes a stale pid file.
service_pid() {
    local file pid
    file=$(pid_file "$1")
    [[ -f $file ]] || return 1
    pid=$(<"$file")
    if [[ $pid =~ ^[0-9]+$ ]] && is_ours "$pid"; then
        printf '%s\n' "$pid"
        return 0
    fi
    rm -f "$file"
    return 1
}

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null; }

# port_pids PORT: pids listening on PORT (needs ss from iproute2; empty when unknown).
port_pids() {
    command -v ss >/dev/null 2>&1 || return 0
    ss -ltnpH "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u
}

# describe_port_owner PORT: "pid 123 (java -cp ...)" for an error message.
describe_port_owner() {
    local pid cmd out=()
    for pid in $(port_pids "$1"); do
        cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-160)
        out+=("pid $pid (${cmd% })")
    done
    ((${#out[@]} > 0)) || out=("an unknown process (install iproute2 for ss to name it)")
    printf '%s\n' "${out[*]}"
}

# require_port_free NAME PORT ENVVAR: fail clearly if something else holds the port.
require_port_free() {
    local name=$1 port=$2 var=$3
    if port_open "$port"; then
        die "$name cannot start: 127.0.0.1:$port is already in use by $(describe_port_owner "$port"). Stop that process, or choose another port with $var=<port>."
    fi
}

# start_daemon NAME LOG CMD...: runs CMD detached from this terminal (own session, no stdin),
# appending its output to LOG, and records its pid. In a non-interactive shell the background
# child is not a process-group leader, so setsid execs in place and $! is the service itself.
start_daemon() {
    local name=$1 log=$2
    shift 2
    mkdir -p "$RUN_DIR" "$(dirname "$log")"
    printf '\n===== %s starting %s =====\n' "$(date -Is)" "$name" >>"$log"
    setsid nohup "$@" </dev/null >>"$log" 2>&1 &
    printf '%s\n' "$!" >"$(pid_file "$name")"
}

# wait_until NAME PID TIMEOUT CHECK...: polls CHECK every second until it succeeds (0),
# the process exits (1) or TIMEOUT seconds pass (2).
wait_until() {
    local name=$1 pid=$2 timeout=$3 deadline
    shift 3
    deadline=$((SECONDS + timeout))
    while ((SECONDS < deadline)); do
        alive "$pid" || return 1
        "$@" >/dev/null 2>&1 && return 0
        sleep 1
    done
    return 2
}

# fail_start NAME LOG REASON: print the reason and the end of the log, then exit.
fail_start() {
    local name=$1 log=$2 reason=$3
    printf 'ERROR: %s failed to start: %s\n--- last 30 lines of %s ---\n' "$name" "$reason" "$log" >&2
    tail -n 30 "$log" >&2 || true
    printf -- '--- end of log ---\n' >&2
    exit 1
}

# stop_service NAME PORT... : SIGTERM, wait up to STOP_TIMEOUT s, then SIGKILL. Also catches
# a process of ours still holding one of the ports after its pid file was lost.
stop_service() {
    local name=$1 pid file waited pids=()
    shift
    file=$(pid_file "$name")
    if pid=$(service_pid "$name"); then pids+=("$pid"); fi
    local port p
    for port in "$@"; do
        for p in $(port_pids "$port"); do
            if is_ours "$p" && [[ ! " ${pids[*]} " == *" $p "* ]]; then pids+=("$p"); fi
        done
    done
    if ((${#pids[@]} == 0)); then
        rm -f "$file"
        info "$name: already stopped"
        return 0
    fi
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for ((waited = 0; waited < ${STOP_TIMEOUT:-30}; waited++)); do
        alive_any "${pids[@]}" || break
        sleep 1
    done
    if alive_any "${pids[@]}"; then
        warn "$name did not stop within ${STOP_TIMEOUT:-30}s of SIGTERM: sending SIGKILL to ${pids[*]}"
        kill -KILL "${pids[@]}" 2>/dev/null || true
        sleep 1
    fi
    rm -f "$file"
    for port in "$@"; do
        if port_open "$port"; then
            warn "$name stopped, but 127.0.0.1:$port is still in use by $(describe_port_owner "$port")"
        fi
    done
    info "$name: stopped (pid ${pids[*]})"
}

# alive PID: running and not a zombie (a reaped-late child of an exited shell is no service).
alive() {
    local state
    state=$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null) || return 1
    [[ -n $state && $state != Z ]]
}

alive_any() {
    local pid
    for pid in "$@"; do
        alive "$pid" && return 0
    done
    return 1
}

# service_status NAME PORT WHERE: prints one line "name state pid where"; returns 0 when up.
service_status() {
    local name=$1 port=$2 where=$3 pid state rc=0
    if pid=$(service_pid "$name"); then
        if port_open "$port"; then state=up; else state=starting rc=3; fi
    else
        pid=- rc=3
        state=down
        port_open "$port" && where+="  [port $port busy: $(describe_port_owner "$port")]"
    fi
    printf '%-10s %-8s pid %-8s %s\n' "$name" "$state" "$pid" "$where"
    return "$rc"
}
