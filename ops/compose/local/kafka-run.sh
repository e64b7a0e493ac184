#!/bin/sh
# Entrypoint of the local Kafka image (compose.local.yaml): configures the broker from KAFKA_*
# environment variables the way the apache/kafka image does, so compose.yaml's environment works
# unchanged: KAFKA_FOO_BAR -> foo.bar, "__" -> "_", "___" -> "-". The JVM options variables
# (KAFKA_HEAP_OPTS, KAFKA_OPTS, ...) are passed to the JVM, not written as broker settings.
# KRaft storage is formatted on the first start with CLUSTER_ID (apache/kafka's default id).
set -eu
conf=/opt/kafka/config/server.properties
: >"$conf"
env | sort | while IFS='=' read -r name value; do
    case $name in
        KAFKA_HEAP_OPTS | KAFKA_OPTS | KAFKA_LOG4J_OPTS | KAFKA_JMX_OPTS | KAFKA_JVM_PERFORMANCE_OPTS | KAFKA_GC_LOG_OPTS | KAFKA_VERSION) ;;
        KAFKA_*)
            key=$(printf '%s' "${name#KAFKA_}" | sed -e 's/___/-/g' -e 's/__/@/g' -e 's/_/./g' -e 's/@/_/g' | tr '[:upper:]' '[:lower:]')
            printf '%s=%s\n' "$key" "$value" >>"$conf"
            ;;
    esac
done
log_dirs=$(sed -n 's/^log\.dirs=//p' "$conf")
run() {
    # shellcheck disable=SC2086 # the *_OPTS variables hold several JVM options each
    exec java ${KAFKA_HEAP_OPTS:--Xmx1g -Xms256m} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -Djava.awt.headless=true ${KAFKA_OPTS:-} \
        "-Dlog4j2.configurationFile=${KAFKA_LOG4J_CONFIG:-/opt/kafka/config/log4j2.properties}" \
        -cp '/opt/kafka/libs/*' "$@"
}
if [ ! -f "${log_dirs:-/tmp/kraft-combined-logs}/meta.properties" ]; then
    (run kafka.tools.StorageTool format --ignore-formatted \
        --cluster-id "${CLUSTER_ID:-5L6g3nShT-eMCtK--X86sw}" --config "$conf")
fi
run kafka.Kafka "$conf"
