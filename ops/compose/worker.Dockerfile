# The shipstream worker image: one image for every role (SHIPSTREAM_ROLE picks what a
# container runs). compose.yaml builds it as shipstream:0.1.0; ops/k8s runs the same name.
#   docker build -f ops/compose/worker.Dockerfile -t shipstream:0.1.0 .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# Only what the workers run; the rest of the repository stays out of the image.
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY tables ./tables
COPY schemas ./schemas
# Editable install: streams/topics.py finds the Avro schemas next to the package (/app/schemas).
RUN pip install -e . \
    && useradd --uid 10001 --create-home shipstream \
    && mkdir -p /var/lib/shipstream \
    && chown shipstream /var/lib/shipstream

USER 10001
# RocksDB state lives under the data dir (a volume in k8s). The web server binds all
# interfaces unless SHIPSTREAM_WEB_HOST says otherwise (compose and k8s set the container IP,
# which is also the URL other workers use to reach this one).
ENV SHIPSTREAM_DATA_DIR=/var/lib/shipstream \
    SHIPSTREAM_WEB_HOST=0.0.0.0 \
    SHIPSTREAM_WEB_PORT=6066
EXPOSE 6066
CMD ["faust", "-A", "streams.app", "worker", "-l", "info"]
