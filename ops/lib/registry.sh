# shellcheck shell=bash
# Apicurio Registry 3.x (Confluent-compatible API) with KafkaSQL storage, for ops/stack.sh.
# Needs lib/common.sh and lib/kafka.sh sourced first.

REGISTRY_CONFIG="$REGISTRY_STATE/application.properties"
REGISTRY_LOG="$LOG_DIR/registry.log"
REGISTRY_START_TIMEOUT=${REGISTRY_START_TIMEOUT:-120}
REGISTRY_URL="http://$HOST:$REGISTRY_PORT"
REGISTRY_CCOMPAT_URL="$REGISTRY_URL/apis/ccompat/v7"
REGISTRY_HEALTH_URL="http://$HOST:$REGISTRY_MANAGEMENT_PORT/health/ready"

registry_render_config() {
    mkdir -p "$REGISTRY_STATE/snapshots" "$REGISTRY_STATE/import"
    render "$OPS_DIR/registry/application.properties.template" "$REGISTRY_CONFIG" \
        "REGISTRY_PORT=$REGISTRY_PORT" "REGISTRY_MANAGEMENT_PORT=$REGISTRY_MANAGEMENT_PORT" \
        "KAFKA_PORT=$KAFKA_PORT" "REGISTRY_HOME=$REGISTRY_STATE" \
        "REGISTRY_DEFAULT_COMPATIBILITY=${REGISTRY_DEFAULT_COMPATIBILITY:-BACKWARD}"
    if [[ $SECURE == 1 ]]; then
        local fragment="$REGISTRY_STATE/kafkasql-secure.properties"
        (umask 077 && render "$OPS_DIR/registry/kafkasql-secure.properties.template" "$fragment" \
            "REGISTRY_JAAS=$(scram_jaas registry)" "TLS_DIR=$TLS_DIR")
        cat "$fragment" >>"$REGISTRY_CONFIG"
        rm -f "$fragment"
        chmod 600 "$REGISTRY_CONFIG"
    fi
}

# --- the TLS + basic-auth front of the secure stack (nginx) ---------------------------------
FRONT_DIR="$STATE_DIR/registry-front"
FRONT_LOG="$LOG_DIR/registry-front.log"
FRONT_URL="https://$HOST:${REGISTRY_FRONT_PORT:-8444}/apis/ccompat/v7"
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}

front_answers() {
    curl -fsS -o /dev/null --max-time 5 --cacert "$TLS_DIR/ca.pem" \
        -u "shipstream:$(<"$(secret_file registry-shipstream)")" "$FRONT_URL/subjects"
}

front_up() {
    local pid rc=0
    if pid=$(service_pid registry-front) && front_answers; then
        info "registry front: already up (pid $pid) at $FRONT_URL"
        return 0
    fi
    [[ -x $NGINX_BIN ]] || die "nginx is missing for the registry's TLS front: run ops/setup.sh (installs nginx-light)"
    require_port_free "registry front" "$REGISTRY_FRONT_PORT" REGISTRY_FRONT_PORT
    mkdir -p "$FRONT_DIR"/tmp/{body,proxy,fastcgi,uwsgi,scgi}
    render "$OPS_DIR/registry/nginx-front.conf.template" "$FRONT_DIR/nginx.conf" \
        "NGINX_USER=$(id -un)" "FRONT_DIR=$FRONT_DIR" "LOG_DIR=$LOG_DIR" "TLS_DIR=$TLS_DIR" \
        "REGISTRY_FRONT_PORT=$REGISTRY_FRONT_PORT" "REGISTRY_PORT=$REGISTRY_PORT"
    "$NGINX_BIN" -t -q -p "$FRONT_DIR" -c "$FRONT_DIR/nginx.conf" -e "$FRONT_LOG" ||
        die "nginx rejects $FRONT_DIR/nginx.conf: see above"
    start_daemon registry-front "$FRONT_LOG" "$NGINX_BIN" -p "$FRONT_DIR" -c "$FRONT_DIR/nginx.conf" \
        -e "$FRONT_LOG" -g "daemon off;"
    pid=$(<"$(pid_file registry-front)")
    wait_until registry-front "$pid" 20 front_answers || rc=$?
    ((rc == 0)) || fail_start "registry front" "$FRONT_LOG" "no authenticated answer at $FRONT_URL"
    info "registry front: up (pid $pid) at $FRONT_URL (TLS, basic auth)"
}

# Ready = the health check passes (storage replayed the journal) and the Confluent API answers.
registry_answers() {
    curl -fsS -o /dev/null --max-time 5 "$REGISTRY_HEALTH_URL" &&
        curl -fsS -o /dev/null --max-time 5 "$REGISTRY_CCOMPAT_URL/subjects"
}

registry_up() {
    local pid java rc=0 start=$SECONDS
    if pid=$(service_pid registry); then
        if registry_answers; then
            info "registry: already up (pid $pid) at $REGISTRY_CCOMPAT_URL"
            [[ $SECURE == 1 ]] && front_up
            return 0
        fi
        info "registry: process $pid is running but not ready yet; waiting"
    else
        [[ -f $REGISTRY_APP/.version ]] || die "the registry is not downloaded ($REGISTRY_APP missing): run ops/setup.sh"
        java=$(find_java "$REGISTRY_MIN_JAVA" "${REGISTRY_JAVA_HOME:-}") ||
            die "Apicurio Registry $APICURIO_VERSION needs Java $REGISTRY_MIN_JAVA+: run ops/setup.sh, or set REGISTRY_JAVA_HOME to a JDK 21+"
        require_port_free registry "$REGISTRY_PORT" REGISTRY_PORT
        require_port_free "registry management" "$REGISTRY_MANAGEMENT_PORT" REGISTRY_MANAGEMENT_PORT
        # KafkaSQL storage: the journal lives in our Kafka.
        if ! { service_pid kafka >/dev/null && port_open "$KAFKA_PORT"; }; then kafka_up; fi
        registry_render_config
        info "registry: starting Apicurio $APICURIO_VERSION at $REGISTRY_URL (log: ${REGISTRY_LOG#"$REPO_ROOT"/})"
        # Run from its own directory: Quarkus also reads ./config/application.properties and
        # ./.env from the working directory, which must not be whatever the caller's is.
        # shellcheck disable=SC2086 # REGISTRY_JAVA_OPTS holds several options
        (cd "$REGISTRY_STATE" && start_daemon registry "$REGISTRY_LOG" "$java" \
            ${REGISTRY_JAVA_OPTS:--Xms128m -Xmx512m} \
            -Dquarkus.config.locations="$REGISTRY_CONFIG" \
            -jar "$REGISTRY_APP/quarkus-run.jar")
        pid=$(<"$(pid_file registry)")
    fi
    wait_until registry "$pid" "$REGISTRY_START_TIMEOUT" registry_answers || rc=$?
    if ((rc == 1)); then
        rm -f "$(pid_file registry)"
        fail_start registry "$REGISTRY_LOG" "the registry process exited (is Kafka up? 'ops/stack.sh status')"
    elif ((rc == 2)); then
        fail_start registry "$REGISTRY_LOG" "$REGISTRY_HEALTH_URL and $REGISTRY_CCOMPAT_URL/subjects did not answer within ${REGISTRY_START_TIMEOUT}s (still running: 'ops/stack.sh down registry' stops it)"
    fi
    info "registry: up (pid $pid) at $REGISTRY_CCOMPAT_URL in $((SECONDS - start))s"
    [[ $SECURE == 1 ]] && front_up
    return 0
}

registry_down() {
    [[ $SECURE == 1 ]] && stop_service registry-front "$REGISTRY_FRONT_PORT"
    stop_service registry "$REGISTRY_PORT" "$REGISTRY_MANAGEMENT_PORT"
}

registry_status() {
    local rc=0
    service_status registry "$REGISTRY_PORT" "$REGISTRY_CCOMPAT_URL (health :$REGISTRY_MANAGEMENT_PORT/health/ready)" || rc=$?
    if [[ $SECURE == 1 ]]; then
        service_status registry-front "$REGISTRY_FRONT_PORT" "$FRONT_URL (TLS, basic auth)" || rc=$?
    fi
    return "$rc"
}
