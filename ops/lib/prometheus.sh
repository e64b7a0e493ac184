# shellcheck shell=bash
# Our own Prometheus instance (Debian's binary, not Debian's service), for ops/stack.sh.
# Needs lib/common.sh sourced first.

PROM_CONFIG="$OPS_DIR/prometheus/prometheus.yml"
PROM_LOG="$LOG_DIR/prometheus.log"
PROM_START_TIMEOUT=${PROMETHEUS_START_TIMEOUT:-60}
PROM_URL="http://$HOST:$PROMETHEUS_PORT"
PROMTOOL=${PROMTOOL_BIN:-$(dirname "$PROM_BIN")/promtool}

# file_sd target files for the services whose port is configurable (see prometheus.yml).
prometheus_write_service_targets() {
    mkdir -p "$PROM_HOME/targets" "$PROM_HOME/services"
    printf '[{"targets": ["%s:%s"], "labels": {"service": "prometheus"}}]\n' \
        "$HOST" "$PROMETHEUS_PORT" >"$PROM_HOME/services/prometheus.json.tmp"
    mv "$PROM_HOME/services/prometheus.json.tmp" "$PROM_HOME/services/prometheus.json"
    printf '[{"targets": ["%s:%s"], "labels": {"service": "schema-registry"}}]\n' \
        "$HOST" "$REGISTRY_MANAGEMENT_PORT" >"$PROM_HOME/services/registry.json.tmp"
    mv "$PROM_HOME/services/registry.json.tmp" "$PROM_HOME/services/registry.json"
}

# promtool names the broken file and line, where Prometheus would only exit. The config is
# checked for syntax only, because a full check fails on a rule_files pattern that matches no
# file, which is fine for Prometheus itself; the rule files that exist are checked one by one.
prometheus_check_config() {
    [[ -x $PROMTOOL ]] || return 0
    local out rule_files=()
    out=$("$PROMTOOL" check config --syntax-only "$PROM_CONFIG" 2>&1) ||
        die "$PROM_CONFIG is invalid ($PROMTOOL check config --syntax-only):"$'\n'"$out"
    shopt -s nullglob
    rule_files=("$OPS_DIR"/prometheus/alert[s].yml "$OPS_DIR"/prometheus/rules/*.yml)
    shopt -u nullglob
    ((${#rule_files[@]} == 0)) && return 0
    out=$("$PROMTOOL" check rules "${rule_files[@]}" 2>&1) ||
        die "invalid Prometheus rule files ($PROMTOOL check rules):"$'\n'"$out"
}

prometheus_answers() { curl -fsS -o /dev/null --max-time 5 "$PROM_URL/-/ready"; }

prometheus_up() {
    local pid rc=0 start=$SECONDS out
    if pid=$(service_pid prometheus); then
        if prometheus_answers; then
            info "prometheus: already up (pid $pid) at $PROM_URL"
            return 0
        fi
        info "prometheus: process $pid is running but not ready yet; waiting"
    else
        [[ -x $PROM_BIN ]] || die "prometheus is not installed ($PROM_BIN missing): run ops/setup.sh"
        require_port_free prometheus "$PROMETHEUS_PORT" PROMETHEUS_PORT
        prometheus_write_service_targets
        prometheus_check_config
        mkdir -p "$PROM_HOME/data"
        info "prometheus: starting $("$PROM_BIN" --version 2>&1 | awk 'NR==1 {print $3}') at $PROM_URL (log: ${PROM_LOG#"$REPO_ROOT"/})"
        start_daemon prometheus "$PROM_LOG" "$PROM_BIN" \
            --config.file="$PROM_CONFIG" \
            --storage.tsdb.path="$PROM_HOME/data" \
            --web.listen-address="$HOST:$PROMETHEUS_PORT" \
            --web.enable-lifecycle
        pid=$(<"$(pid_file prometheus)")
    fi
    wait_until prometheus "$pid" "$PROM_START_TIMEOUT" prometheus_answers || rc=$?
    if ((rc == 1)); then
        rm -f "$(pid_file prometheus)"
        fail_start prometheus "$PROM_LOG" "the prometheus process exited"
    elif ((rc == 2)); then
        fail_start prometheus "$PROM_LOG" "$PROM_URL/-/ready did not answer within ${PROM_START_TIMEOUT}s"
    fi
    info "prometheus: up (pid $pid) at $PROM_URL in $((SECONDS - start))s"
}

prometheus_down() { stop_service prometheus "$PROMETHEUS_PORT"; }

prometheus_status() { service_status prometheus "$PROMETHEUS_PORT" "$PROM_URL"; }
