#!/bin/sh
# /opt/kafka/bin/<tool>.sh of the local Kafka image: the tools of apache/kafka's /opt/kafka/bin
# that compose.yaml and its users call, run from the same jars as the broker.
set -eu
case $(basename "$0") in
    kafka-broker-api-versions.sh) class=org.apache.kafka.tools.BrokerApiVersionsCommand ;;
    kafka-topics.sh) class=org.apache.kafka.tools.TopicCommand ;;
    kafka-consumer-groups.sh) class=org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
    kafka-storage.sh) class=kafka.tools.StorageTool ;;
    *)
        echo "$(basename "$0"): not provided by the local Kafka image" >&2
        exit 2
        ;;
esac
exec java -Xmx256m -Dlog4j2.configurationFile=/opt/kafka/config/tools-log4j2.properties \
    -cp '/opt/kafka/libs/*' "$class" "$@"
