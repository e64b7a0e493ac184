# shellcheck shell=bash
# Single-node KRaft Kafka (broker + controller in one JVM) for ops/stack.sh.
# Needs lib/common.sh sourced first.

KAFKA_BIN="$OPS_DIR/kafka/bin"
KAFKA_CONFIG="$KAFKA_STATE/server.properties"
KAFKA_LOG="$LOG_DIR/kafka.log"
KAFKA_START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}
KAFKA_BOOTSTRAP="$HOST:$KAFKA_PORT"

kafka_render_config() {
    mkdir -p "$KAFKA_STATE" "$KAFKA_DATA"
    if [[ $SECURE == 1 ]]; then
        (umask 077 && render "$OPS_DIR/kafka/server-secure.properties.template" "$KAFKA_CONFIG" \
            "KAFKA_PORT=$KAFKA_PORT" "KAFKA_CONTROLLER_PORT=$KAFKA_CONTROLLER_PORT" \
            "KAFKA_MTLS_PORT=$KAFKA_MTLS_PORT" "KAFKA_DATA_DIR=$KAFKA_DATA" "TLS_DIR=$TLS_DIR" \
            "KAFKA_ADMIN_PASSWORD=$(<"$(secret_file kafka-admin)")" \
            "KEYSTORE_PASSWORD=$(<"$(secret_file keystore)")")
        return 0
    fi
    render "$OPS_DIR/kafka/server.properties.template" "$KAFKA_CONFIG" \
        "KAFKA_PORT=$KAFKA_PORT" "KAFKA_CONTROLLER_PORT=$KAFKA_CONTROLLER_PORT" \
        "KAFKA_DATA_DIR=$KAFKA_DATA"
}

# KRaft storage is formatted once, with a cluster id kept beside it; `ops/stack.sh reset`
# deletes both, and the next `up` formats again.
kafka_format_once() {
    [[ -f $KAFKA_DATA/meta.properties ]] && return 0
    local id_file="$KAFKA_STATE/cluster.id" id
    if [[ ! -s $id_file ]]; then
        "$KAFKA_BIN/kafka-storage" random-uuid >"$id_file.tmp" || die "kafka-storage random-uuid failed"
        mv "$id_file.tmp" "$id_file"
    fi
    id=$(<"$id_file")
    info "kafka: formatting storage in ${KAFKA_DATA#"$REPO_ROOT"/} (cluster id $id)"
    local -a scram=()
    # The secure stack's SCRAM users exist from the first start (KRaft keeps them in metadata).
    [[ $SECURE == 1 ]] && mapfile -t scram < <(scram_format_args)
    "$KAFKA_BIN/kafka-storage" format --cluster-id "$id" --config "$KAFKA_CONFIG" "${scram[@]}" >>"$KAFKA_LOG" 2>&1 ||
        fail_start kafka "$KAFKA_LOG" "formatting the storage failed"
}

kafka_answers() {
    local -a auth=()
    [[ $SECURE == 1 ]] && auth=(--command-config "$KAFKA_ADMIN_PROPERTIES")
    timeout 60 "$KAFKA_BIN/kafka-topics" --bootstrap-server "$KAFKA_BOOTSTRAP" "${auth[@]}" --list
}

kafka_up() {
    local pid rc=0 start=$SECONDS
    if pid=$(service_pid kafka); then
        if port_open "$KAFKA_PORT"; then
            info "kafka: already up (pid $pid) on $KAFKA_BOOTSTRAP"
            return 0
        fi
        info "kafka: process $pid is running but not listening yet; waiting"
    else
        [[ -f $KAFKA_LIBS/.version ]] || die "kafka is not downloaded ($KAFKA_LIBS missing): run ops/setup.sh"
        find_java "$KAFKA_MIN_JAVA" >/dev/null || die "no Java $KAFKA_MIN_JAVA+ for Kafka: run ops/setup.sh"
        require_port_free kafka "$KAFKA_PORT" KAFKA_PORT
        require_port_free "kafka controller" "$KAFKA_CONTROLLER_PORT" KAFKA_CONTROLLER_PORT
        [[ $SECURE == 1 ]] && require_port_free "kafka mTLS listener" "$KAFKA_MTLS_PORT" KAFKA_MTLS_PORT
        secure_setup
        kafka_render_config
        kafka_format_once
        info "kafka: starting $(<"$KAFKA_LIBS/.version") on $KAFKA_BOOTSTRAP (log: ${KAFKA_LOG#"$REPO_ROOT"/})"
        start_daemon kafka "$KAFKA_LOG" env \
            KAFKA_HEAP_OPTS="${KAFKA_BROKER_HEAP_OPTS:--Xms256m -Xmx1g}" \
            KAFKA_LOG4J_OPTS="-Dlog4j2.configurationFile=$OPS_DIR/kafka/log4j2.properties" \
            "$KAFKA_BIN/kafka-run-class" kafka.Kafka "$KAFKA_CONFIG"
        pid=$(<"$(pid_file kafka)")
    fi
    wait_until kafka "$pid" "$KAFKA_START_TIMEOUT" port_open "$KAFKA_PORT" || rc=$?
    ((rc == 0)) || kafka_start_failed "$rc" "port $KAFKA_PORT"
    # A listening port is not yet a broker that serves metadata: ask it for topics.
    wait_until kafka "$pid" $((KAFKA_START_TIMEOUT - (SECONDS - start))) kafka_answers || rc=$?
    ((rc == 0)) || kafka_start_failed "$rc" "a kafka-topics --list answer"
    info "kafka: up (pid $pid) on $KAFKA_BOOTSTRAP in $((SECONDS - start))s"
}

kafka_start_failed() {
    local rc=$1 what=$2
    if ((rc == 1)); then
        rm -f "$(pid_file kafka)"
        fail_start kafka "$KAFKA_LOG" "the broker process exited before $what"
    fi
    fail_start kafka "$KAFKA_LOG" "no $what within ${KAFKA_START_TIMEOUT}s (still running: 'ops/stack.sh down kafka' stops it)"
}

kafka_down() { stop_service kafka "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" ${KAFKA_MTLS_PORT:+"$KAFKA_MTLS_PORT"}; }

kafka_status() {
    service_status kafka "$KAFKA_PORT" "bootstrap $KAFKA_BOOTSTRAP (controller :$KAFKA_CONTROLLER_PORT)"
}
