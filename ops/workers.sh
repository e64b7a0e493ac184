#!/usr/bin/env bash
# Shipstream workers and the reference endpoint, on this machine.
#
#   ops/workers.sh start ROLE [PORT]   start one worker (`faust -A streams.app worker`) of ROLE
#                                      (all|ingestion|processing|decision|communication); the web
#                                      port defaults to the first free one from 6066
#   ops/workers.sh stop NAME           stop one worker (NAME as printed by status: worker-ROLE-PORT)
#   ops/workers.sh kill NAME           SIGKILL one worker (what a crash looks like)
#   ops/workers.sh down                stop every worker and the endpoint
#   ops/workers.sh status              one line per worker
#   ops/workers.sh endpoint [ARGS...]  start the reference endpoint on 127.0.0.1:8700
#
# Each worker has its own web port, data dir (.local/data) and static membership id
# (ROLE-PORT), logs to .local/logs/worker-ROLE-PORT.log and registers itself with Prometheus
# through .local/prometheus/targets/worker-ROLE-PORT.json.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"

PY="$REPO_ROOT/.venv/bin/python"
TARGETS="$PROM_HOME/targets"
WORKER_START_TIMEOUT=${WORKER_START_TIMEOUT:-180}
ENDPOINT_PORT=${ENDPOINT_PORT:-8700}

worker_names() {
    local f
    for f in "$RUN_DIR"/worker-*.pid; do
        [[ -e $f ]] && basename "$f" .pid
    done
    return 0
}

free_port() {
    local port=${1:-6066}
    while port_open "$port"; do port=$((port + 1)); done
    printf '%s\n' "$port"
}

healthy() { curl -fsS --max-time 3 "http://$HOST:$1/healthz" | grep -q '"recovered":true'; }

start_worker() {
    local role=${1:-all} port=${2:-}
    [[ -x $PY ]] || die "no virtualenv at .venv: run 'make venv' first"
    case $role in all | ingestion | processing | decision | communication) ;;
        *) die "unknown role '$role': use all, ingestion, processing, decision or communication" ;;
    esac
    port=${port:-$(free_port 6066)}
    require_port_free "worker $role" "$port" PORT
    local name="worker-$role-$port" log="$LOG_DIR/worker-$role-$port.log" pid
    mkdir -p "$LOG_DIR" "$TARGETS" "$STATE_DIR/data"
    (
        cd "$REPO_ROOT"
        export SHIPSTREAM_ROLE="$role" SHIPSTREAM_WEB_PORT="$port"
        export SHIPSTREAM_INSTANCE_ID="${SHIPSTREAM_INSTANCE_ID:-$role-$port}"
        export SHIPSTREAM_DATA_DIR="${SHIPSTREAM_DATA_DIR:-$STATE_DIR/data}"
        # --logfile puts a path under .local/ on the command line: that is how is_ours
        # recognises our processes.
        start_daemon "$name" "$log.out" "$PY" -m faust -A streams.app worker \
            --web-port "$port" --loglevel info --logfile "$log"
    )
    pid=$(<"$(pid_file "$name")")
    printf '[{"targets": ["%s:%s"], "labels": {"role": "%s", "instance_name": "%s"}}]\n' \
        "$HOST" "$port" "$role" "$name" >"$TARGETS/$name.json.tmp"
    mv "$TARGETS/$name.json.tmp" "$TARGETS/$name.json"
    local rc=0
    wait_until "$name" "$pid" "$WORKER_START_TIMEOUT" healthy "$port" || rc=$?
    case $rc in
        0) info "$name: up (pid $pid) at http://$HOST:$port (metrics /metrics, log $log)" ;;
        1) rm -f "$TARGETS/$name.json"; fail_start "$name" "$log" "the process exited (see also $log.out)" ;;
        *) fail_start "$name" "$log" "not ready within ${WORKER_START_TIMEOUT}s (GET /healthz)" ;;
    esac
}

stop_worker() {
    local name=$1 port=${1##*-}
    stop_service "$name" "$port"
    rm -f "$TARGETS/$name.json"
}

kill_worker() {
    local name=$1 pid
    pid=$(service_pid "$name") || die "$name is not running"
    kill -KILL "$pid"
    info "$name: SIGKILLed (pid $pid)"
}

start_endpoint() {
    if service_pid endpoint >/dev/null; then
        info "endpoint: already up at http://$HOST:$ENDPOINT_PORT"
        return 0
    fi
    require_port_free endpoint "$ENDPOINT_PORT" ENDPOINT_PORT
    mkdir -p "$STATE_DIR/endpoint"
    (cd "$REPO_ROOT" && start_daemon endpoint "$LOG_DIR/endpoint.log" "$PY" -m ops.endpoint.server \
        --port "$ENDPOINT_PORT" --record "$STATE_DIR/endpoint/received.jsonl" "$@")
    local pid
    pid=$(<"$(pid_file endpoint)")
    wait_until endpoint "$pid" 30 curl -fsS --max-time 2 "http://$HOST:$ENDPOINT_PORT/healthz" ||
        fail_start endpoint "$LOG_DIR/endpoint.log" "not answering /healthz"
    info "endpoint: up (pid $pid) at http://$HOST:$ENDPOINT_PORT (GET /received)"
}

status() {
    local name port any=0
    for name in $(worker_names); do
        any=1
        port=${name##*-}
        if service_pid "$name" >/dev/null; then
            if healthy "$port"; then s=up; else s=starting; fi
        else
            s=down
        fi
        printf '%-28s %-8s http://%s:%s\n' "$name" "$s" "$HOST" "$port"
    done
    if service_pid endpoint >/dev/null; then
        printf '%-28s %-8s http://%s:%s\n' endpoint up "$HOST" "$ENDPOINT_PORT"
    fi
    ((any)) || info "workers: none running (start one with: make worker ROLE=all)"
}

cmd=${1:-status}
shift || true
case $cmd in
    start) start_worker "$@" ;;
    stop) stop_worker "$1" ;;
    kill) kill_worker "$1" ;;
    endpoint) start_endpoint "$@" ;;
    down)
        for name in $(worker_names); do stop_worker "$name"; done
        stop_service endpoint "$ENDPOINT_PORT"
        ;;
    status) status ;;
    *) die "usage: ops/workers.sh start ROLE [PORT] | stop NAME | kill NAME | down | status | endpoint" ;;
esac
