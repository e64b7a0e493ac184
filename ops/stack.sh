#!/usr/bin/env bash
# ops/stack.sh — run the local services that shipstream needs, from what ops/setup.sh installed.
#
#   ops/stack.sh up     [kafka|registry|prometheus]...   start (all by default); waits until ready
#   ops/stack.sh down   [kafka|registry|prometheus]...   stop (SIGTERM, then SIGKILL after 30 s)
#   ops/stack.sh status [kafka|registry|prometheus]...   one line each; exit 3 if any is not up
#   ops/stack.sh reset                                   stop all, delete Kafka (and so registry)
#                                                        and Prometheus data; next `up` reformats
#
# Every command is idempotent. Services listen on 127.0.0.1 only; ports come from the
# environment: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), REGISTRY_PORT (8081),
# REGISTRY_MANAGEMENT_PORT (9000, health and metrics), PROMETHEUS_PORT (9090).
# REGISTRY_DEFAULT_COMPATIBILITY (BACKWARD) is the registry's global compatibility until set.
# State lives under .local/: kafka/data, prometheus/data, logs/*.log, run/*.pid.
# The registry stores its schemas in Kafka, so `up registry` starts Kafka too.
# SECURE=1: the SASL_SSL stack beside the plain one (ops/lib/secure.sh): state in .local/secure,
# Kafka SASL_SSL on 9192 (controller 9193), the registry's TLS + basic-auth front on 8444
# (Apicurio itself on 8481, management 9291), Prometheus on 9290; clients read
# .local/secure/client.env.
set -euo pipefail
OPS_LIB="$(dirname "${BASH_SOURCE[0]}")/lib"
# shellcheck source=SCRIPTDIR/lib/common.sh
source "$OPS_LIB/common.sh"
# shellcheck source=SCRIPTDIR/lib/secure.sh
source "$OPS_LIB/secure.sh"
# shellcheck source=SCRIPTDIR/lib/kafka.sh
source "$OPS_LIB/kafka.sh"
# shellcheck source=SCRIPTDIR/lib/registry.sh
source "$OPS_LIB/registry.sh"
# shellcheck source=SCRIPTDIR/lib/prometheus.sh
source "$OPS_LIB/prometheus.sh"

ALL_SERVICES=(kafka registry prometheus) # start order; stopped in reverse

usage() {
    sed -n '2,9s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
    exit 2
}

# services ARGS...: the named services in start order (all when none is named).
services() {
    local s wanted=" $* "
    (($# == 0)) && wanted=" ${ALL_SERVICES[*]} "
    for s in "$@"; do
        [[ " ${ALL_SERVICES[*]} " == *" $s "* ]] || die "unknown service '$s' (one of: ${ALL_SERVICES[*]})"
    done
    for s in "${ALL_SERVICES[@]}"; do
        [[ $wanted == *" $s "* ]] && printf '%s\n' "$s"
    done
    return 0
}

cmd_up() {
    local s list start=$SECONDS
    list=$(services "$@")
    mkdir -p "$LOG_DIR" "$RUN_DIR"
    for s in $list; do "${s}_up"; done
    info "up: done in $((SECONDS - start))s"
}

cmd_down() {
    local s list
    list=$(services "$@")
    list=$(tac <<<"$list")
    for s in $list; do "${s}_down"; done
}

cmd_status() {
    local s list rc=0
    list=$(services "$@")
    for s in $list; do "${s}_status" || rc=3; done
    return "$rc"
}

cmd_reset() {
    (($# == 0)) || die "reset takes no service name: it stops everything and deletes all data"
    cmd_down
    info "reset: deleting Kafka data (with the registry's schemas) and Prometheus data"
    rm -rf "$KAFKA_DATA" "$KAFKA_STATE/cluster.id" "$PROM_HOME/data" "$REGISTRY_STATE/snapshots"
}

main() {
    (($# >= 1)) || usage
    local cmd=$1
    shift
    case $cmd in
        up) cmd_up "$@" ;;
        down) cmd_down "$@" ;;
        status) cmd_status "$@" ;;
        reset) cmd_reset "$@" ;;
        -h | --help | help) usage ;;
        *) die "unknown command '$cmd' (up, down, status, reset)" ;;
    esac
}

main "$@"
