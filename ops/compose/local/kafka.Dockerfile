# Local variant of apache/kafka (compose.local.yaml): Debian's Java 17 on localhost/debian-base,
# the broker jars that ops/setup.sh fetches from Maven Central (version: ops/kafka/pom.xml).
# Build context: .local/compose/context/kafka, staged by `ops/compose/local.sh images`.
# Same contract as the official image: KAFKA_* environment, /opt/kafka/bin/*.sh tools, user
# appuser (uid 1000), data in /var/lib/kafka/data.
ARG BASE_IMAGE=localhost/debian-base:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 1000 --no-create-home --home-dir /opt/kafka appuser \
    && mkdir -p /opt/kafka/bin /opt/kafka/config /var/lib/kafka/data \
    && chown appuser /opt/kafka/config /var/lib/kafka/data
COPY libs /opt/kafka/libs
COPY log4j2.properties tools-log4j2.properties /opt/kafka/config/
COPY kafka-run.sh /opt/kafka/bin/kafka-run.sh
COPY kafka-tool.sh /opt/kafka/bin/kafka-tool.sh
RUN for t in kafka-broker-api-versions kafka-topics kafka-consumer-groups kafka-storage; do \
        ln -s kafka-tool.sh "/opt/kafka/bin/$t.sh"; done
USER appuser
WORKDIR /opt/kafka
EXPOSE 9092
ENTRYPOINT ["/opt/kafka/bin/kafka-run.sh"]
