#!/usr/bin/env bash
# The demo behind `make demo` (after `make up`): the four roles as separate workers, the
# reference endpoint, a Black Friday surge from the load generator, and a summary read back
# from the topics. Leaves everything running and prints the URLs.
#
# Knobs: DEMO_RATE (base events/s, default 100), DEMO_FACTOR (peak = rate x factor, 10),
# DEMO_WARMUP, DEMO_RAMP and DEMO_HOLD (seconds, 60, 20 and 20), DEMO_PORT (first worker port,
# 6066). The warm-up is the surge's first phase, at the base rate, measured like the rest: a
# surge meets a pipeline in service, not a broker started seconds before (README, Demo).
# With SECURE=1 (make demo SECURE=1) it runs on the secure stack, the clients' settings
# exported from .local/secure/client.env by the Makefile.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
cd "$REPO_ROOT"
BIN=.venv/bin
RATE=${DEMO_RATE:-100} FACTOR=${DEMO_FACTOR:-10} RAMP=${DEMO_RAMP:-20} HOLD=${DEMO_HOLD:-20}
WARMUP=${DEMO_WARMUP:-60}
BASE=${DEMO_PORT:-6066}
declare -A PORTS=([ingestion]=$BASE [processing]=$((BASE + 1)) [decision]=$((BASE + 2)) [communication]=$((BASE + 3)))
KAFKA_SHOWN="$HOST:$KAFKA_PORT   (kcat -L -b $HOST:$KAFKA_PORT)"
REGISTRY_SHOWN="http://$HOST:$REGISTRY_PORT/apis/ccompat/v7/subjects"
DOWN="make down"
if [[ $SECURE == 1 ]]; then
    KAFKA_SHOWN="$HOST:$KAFKA_PORT   (SASL_SSL, SCRAM-SHA-512; settings in $STATE_DIR/client.env)"
    REGISTRY_SHOWN="https://$HOST:$REGISTRY_FRONT_PORT/apis/ccompat/v7/subjects   (basic auth)"
    DOWN="make down SECURE=1"
fi

# Webhooks in and out are signed (README, Webhooks in and out): keys generated once per
# machine under .local/demo (git-ignored), kept so that a stack left running still matches.
KEYS_DIR="$LOCAL_DIR/demo/keys"
mkdir -p "$KEYS_DIR"
chmod 700 "$KEYS_DIR"
if [[ ! -s $KEYS_DIR/ingest-keys.json || ! -s $KEYS_DIR/delivery-keys.json ]]; then
    (umask 077 && "$BIN/python" - "$KEYS_DIR" <<'PY'
import json, pathlib, secrets, sys
d = pathlib.Path(sys.argv[1])
(d / "ingest-keys.json").write_text(json.dumps({"acme": [secrets.token_hex(32)]}))
(d / "delivery-keys.json").write_text(json.dumps({"*": [secrets.token_hex(32)]}))
PY
    )
fi
export SHIPSTREAM_INGEST_AUTH=hmac SHIPSTREAM_INGEST_KEYS_FILE="$KEYS_DIR/ingest-keys.json"
export SHIPSTREAM_DELIVERY_KEYS_FILE="$KEYS_DIR/delivery-keys.json"
bash ops/workers.sh endpoint --latency-ms 20 --jitter-ms 10 --failure-rate 0.05 \
    --keys-file "$KEYS_DIR/delivery-keys.json"
for role in ingestion processing decision communication; do
    port=${PORTS[$role]}
    if curl -fsS --max-time 2 "http://$HOST:$port/healthz" >/dev/null 2>&1; then
        info "worker-$role-$port: already up"
    else
        bash ops/workers.sh start "$role" "$port"
    fi
done

since=$(date +%s%3N)
mkdir -p "$LOCAL_DIR/demo"
info ""
info "== carrier webhook through POST /ingest, signed by carrier acme (one valid event, one invalid) =="
cat >"$LOCAL_DIR/demo/webhook.json" <<JSON
[{"event_id":"demo-$since-1","shipment_id":"DEMO-$since","event_type":"CREATED","occurred_at":"2024-11-29T08:00:00Z","source":"carrier:acme","destination":"NE","service_level":"EXPRESS","promised_at":"2024-11-30T08:00:00Z"},
             {"event_id":"demo-$since-2","shipment_id":"DEMO-$since","event_type":"TELEPORTED","occurred_at":"2024-11-29T09:00:00Z","source":"carrier:acme"}]
JSON
"$BIN/shipstream" post --carrier acme --url "http://$HOST:${PORTS[ingestion]}" "$LOCAL_DIR/demo/webhook.json"
info ""
info "== the same webhook unsigned: refused =="
curl -sS -X POST "http://$HOST:${PORTS[ingestion]}/ingest" -H 'Content-Type: application/json' \
    --data-binary "@$LOCAL_DIR/demo/webhook.json"
info ""
info ""
info "== Black Friday surge: ${RATE}/s for ${WARMUP}s, ramping to $((RATE * FACTOR))/s (ramp ${RAMP}s, hold ${HOLD}s) =="
metrics=()
for role in processing decision communication; do
    metrics+=(--metrics "http://$HOST:${PORTS[$role]}/metrics")
done
# Workers left running by an earlier demo still hold its latencies: count from here on.
"$BIN/shipstream" summary --save-baseline "$LOCAL_DIR/demo/latency-before.json" "${metrics[@]}"
"$BIN/shipstream" load --profile surge --rate "$RATE" --factor "$FACTOR" --warmup "$WARMUP" \
    --ramp "$RAMP" --hold "$HOLD" --seed "$since" --summary "$LOCAL_DIR/demo/load.json" >/dev/null
"$BIN/shipstream" summary --since-ms "$since" --load-report "$LOCAL_DIR/demo/load.json" \
    "${metrics[@]}" --latency-baseline "$LOCAL_DIR/demo/latency-before.json" \
    --out "$LOCAL_DIR/demo/summary.json"

cat <<TXT

The stack is still running:
  workers      $(for r in ingestion processing decision communication; do printf 'http://%s:%s (%s)  ' "$HOST" "${PORTS[$r]}" "$r"; done)
  a shipment   http://$HOST:${PORTS[processing]}/shipments/DEMO-$since
  metrics      http://$HOST:${PORTS[decision]}/metrics
  Prometheus   http://$HOST:$PROMETHEUS_PORT  (alerts: /alerts)
  registry     $REGISTRY_SHOWN
  Kafka        $KAFKA_SHOWN
  endpoint     http://$HOST:${ENDPOINT_PORT:-8700}/received
  summary      $LOCAL_DIR/demo/summary.json
Stop everything with: $DOWN
TXT
