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
}

registry_down() { stop_service registry "$REGISTRY_PORT" "$REGISTRY_MANAGEMENT_PORT"; }

registry_status() {
    service_status registry "$REGISTRY_PORT" "$REGISTRY_CCOMPAT_URL (health :$REGISTRY_MANAGEMENT_PORT/health/ready)"
}
