# The shipstream worker image: one image for every role (SHIPSTREAM_ROLE picks what a
# container runs). compose.yaml builds it as shipstream:0.1.0; ops/k8s runs the same name.
#   docker build -f ops/compose/worker.Dockerfile -t shipstream:0.1.0 .
# BASE_IMAGE is the one difference of the local variant (compose.local.yaml):
# localhost/debian-base:bookworm, whose Python 3.11 comes from Debian instead of python.org.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/shipstream/bin:$PATH

# python:3.11-slim has python3.11 already; a plain Debian base gets Debian's.
RUN if ! command -v python3.11 >/dev/null; then \
        apt-get update \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3.11 python3.11-venv \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && python3.11 -m venv /opt/shipstream \
    && useradd --uid 10001 --no-create-home --home-dir /nonexistent shipstream \
    && mkdir -p /var/lib/shipstream \
    && chown shipstream /var/lib/shipstream

WORKDIR /app
# Only what the workers run; the rest of the repository stays out of the image (and so does any
# secret: settings come from the environment at run time).
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY tables ./tables
COPY schemas ./schemas
# Editable install: streams/topics.py finds the Avro schemas next to the package (/app/schemas).
RUN pip install -e .

USER 10001
# RocksDB state lives under the data dir, a volume (compose.yaml, k8s); the root filesystem can
# be read-only. The web server binds all interfaces unless SHIPSTREAM_WEB_HOST says otherwise
# (compose and k8s set the container IP, which is also the URL other workers use to reach this
# one). Faust's worker handles SIGTERM: it leaves its consumer group and closes its tables.
ENV SHIPSTREAM_DATA_DIR=/var/lib/shipstream \
    SHIPSTREAM_WEB_HOST=0.0.0.0 \
    SHIPSTREAM_WEB_PORT=6066
EXPOSE 6066
STOPSIGNAL SIGTERM
CMD ["faust", "-A", "streams.app", "worker", "-l", "info"]
