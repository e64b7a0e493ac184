# Local variant of apicurio/apicurio-registry (compose.local.yaml): the -all archive of the same
# version that ops/setup.sh fetches from Maven Central (ops/lib/common.sh: APICURIO_VERSION), on
# localhost/debian-base. Apicurio 3.x needs Java 21+, which bookworm does not package: the
# context carries a runtime made with jlink from the machine's JDK 21+ (the one ops/setup.sh
# found for the native registry). Build context: .local/compose/context/registry, staged by
# `ops/compose/local.sh images`. Same contract as the official image: configured by APICURIO_*
# environment (Quarkus maps it to apicurio.* settings), HTTP on 8080, curl for the healthcheck.
ARG BASE_IMAGE=localhost/debian-base:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 1001 --no-create-home --home-dir /deployments apicurio
COPY jre /opt/java
COPY app /deployments
USER 1001
WORKDIR /deployments
ENV PATH=/opt/java/bin:$PATH
EXPOSE 8080
ENTRYPOINT ["java", "-Xms128m", "-Xmx512m", "-jar", "/deployments/quarkus-run.jar"]
