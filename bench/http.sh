#!/usr/bin/env bash
# HTTP telemetry benchmark: wrk drives POST /api/v1/{token}/telemetry over 64
# connections for 1,000 devices against a release build with the embedded
# Kafka default, then counts the records back in Kafka (high watermarks, as
# the mock broker keeps only the newest 100,000 records per partition).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.build/release/tb-gateway}
DURATION=${DURATION:-20s}
CONNECTIONS=${CONNECTIONS:-64}
DEVICES=${DEVICES:-1000}
WORK=$(mktemp -d /tmp/tb-bench-XXXX)
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT

HTTP_PORT=${HTTP_PORT:-18081}
export DATA_DIR=$WORK/data HTTP_BIND_ADDRESS=127.0.0.1 HTTP_BIND_PORT=$HTTP_PORT
export METRICS_BIND_ADDRESS=127.0.0.1 METRICS_PORT=${METRICS_PORT:-19090} LOG_FORMAT=text LOG_LEVEL=warning
export MQTT_ENABLED=false COAP_ENABLED=false KAFKA_BOOTSTRAP_SERVERS=embedded
export KAFKA_LINGER_MS=${KAFKA_LINGER_MS:-1}

seq 1 "$DEVICES" | sed 's/^/bench-/' | "$BIN" device import - | cut -d, -f2 > "$WORK/tokens"
(cd "$WORK" && exec "$OLDPWD/$BIN" run > "$WORK/gateway.log" 2>&1) &
PID=$!
for _ in $(seq 1 100); do
  grep -q "bootstrap_servers=" "$WORK/gateway.log" 2>/dev/null && curl -sf "http://127.0.0.1:$METRICS_PORT/health" >/dev/null && break
  sleep 0.1
done
BOOTSTRAP=$(grep -o 'bootstrap_servers=[0-9.:]*' "$WORK/gateway.log" | head -1 | cut -d= -f2)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
TICKS0=$(cpu_ticks)
RESULT=$(TOKENS_FILE=$WORK/tokens wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency \
  -s bench/http-telemetry.lua "http://127.0.0.1:$HTTP_PORT" | tee "$WORK/wrk.log" | grep '^RESULT')
TICKS1=$(cpu_ticks)
HZ=$(getconf CLK_TCK)
PEAK_KB=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
sleep 1
IN_KAFKA=0
for p in 0 1 2 3; do
  end=$(kcat -b "$BOOTSTRAP" -Q -t "tb.telemetry:$p:-1" 2>/dev/null | awk '{print $NF}')
  IN_KAFKA=$((IN_KAFKA + ${end:-0}))
done
OK=$(echo "$RESULT" | sed -E 's/.*ok=([0-9]+).*/\1/')
REFUSED=$(echo "$RESULT" | sed -E 's/.*refused=([0-9]+).*/\1/')
CPU=$(awk -v t=$((TICKS1 - TICKS0)) -v hz="$HZ" 'BEGIN {printf "%.1f", t / hz}')
echo "$RESULT" | sed 's/^RESULT /wrk: /'
echo "settings: connections=$CONNECTIONS devices=$DEVICES duration=$DURATION KAFKA_LINGER_MS=$KAFKA_LINGER_MS"
echo "gateway: cpu_seconds=$CPU peak_rss_mib=$((PEAK_KB / 1024)) records_in_kafka=$IN_KAFKA answered_200=$OK refused=$REFUSED"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -m), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
# wrk stops with up to one request per connection unanswered, whose record
# may already be in Kafka: at most CONNECTIONS more records than answers.
if [ "$IN_KAFKA" -lt "$OK" ] || [ "$IN_KAFKA" -gt $((OK + REFUSED + CONNECTIONS)) ]; then
  echo "FAIL: Kafka holds $IN_KAFKA records for $OK answers of 200" >&2
  exit 1
fi
echo "every 200 is in Kafka"
