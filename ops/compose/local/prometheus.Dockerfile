# Local variant of prom/prometheus (compose.local.yaml): Debian's prometheus package (bookworm:
# 2.42, older than the official image's pin; the rules and scrape config use nothing newer) on
# localhost/debian-base. Same contract as the official image: prometheus and promtool on the
# PATH (and wget for the healthcheck), runs as nobody, data in /prometheus, arguments from compose.yaml's command.
ARG BASE_IMAGE=localhost/debian-base:bookworm
FROM ${BASE_IMAGE}
ARG PROMETHEUS_DEB_VERSION=2.42.0+ds-5+deb12u1
RUN printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        "prometheus=${PROMETHEUS_DEB_VERSION}" wget \
    && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d \
    && mkdir -p /prometheus && chown nobody:nogroup /prometheus
USER nobody
WORKDIR /prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
