#!/usr/bin/env bash
# Start Jaeger v2 and ccr-otelcol in the background, wait until both are healthy, write pid files.
#   bash collector/start.sh        # builds the binaries first if they are not cached yet
#   bash collector/stop.sh
# Everything lands in $CCR_OTEL_RUN_DIR (default: collector/.run):
#   data/{logs,traces,metrics}.jsonl (+ backups <signal>-<timestamp>.jsonl.gz)  storage/ (persisted Jaeger queue)
#   jaeger/ (Jaeger's Badger store: traces survive a restart)
#   ccr-otelcol.log  jaeger.log  ccr-otelcol.pid  jaeger.pid  endpoints.env
# Ports and rotation come from the same variables the configs read (see collector/README.md):
#   CCR_OTEL_HOST CCR_OTEL_GRPC_PORT CCR_OTEL_HTTP_PORT CCR_OTEL_HEALTH_PORT CCR_OTEL_READY_PORT CCR_OTEL_METRICS_PORT
#   LOG_ROTATION_SIZE LOG_ROTATION_INTERVAL LOG_MAX_FILES LOG_MAX_DAYS LOG_COMPRESSION LOG_FSYNC
#   JAEGER_HOST JAEGER_OTLP_GRPC_PORT JAEGER_OTLP_HTTP_PORT JAEGER_QUERY_PORT JAEGER_QUERY_GRPC_PORT JAEGER_HEALTH_PORT JAEGER_METRICS_PORT
#   JAEGER_DATA_DIR JAEGER_TTL
#   CCR_OTEL_WITH_JAEGER=0 starts the collector alone (its Jaeger queue then waits on disk).
#   CCR_OTEL_START_TIMEOUT seconds to wait for health (default 60).
# The collector runs with --feature-gates=+extension.healthcheck.useComponentStatus: its health_check
# extensions then answer from component status (liveness /health, readiness /ready).
#   bash collector/start.sh --reload   re-reads collector/config.yaml in the running collector (SIGHUP)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RUN_DIR="${CCR_OTEL_RUN_DIR:-$HERE/.run}"
mkdir -p "$RUN_DIR"
RUN_DIR="$(cd "$RUN_DIR" && pwd)"
TIMEOUT="${CCR_OTEL_START_TIMEOUT:-60}"
FEATURE_GATES="--feature-gates=+extension.healthcheck.useComponentStatus"

say() { echo "[collector/start] $*"; }
die() { echo "[collector/start] ERROR: $*" >&2; exit 1; }

if [ "${1:-}" = "--reload" ]; then
  pidfile="$RUN_DIR/ccr-otelcol.pid"
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null || die "ccr-otelcol is not running (no live pid in $pidfile)"
  kill -HUP "$(cat "$pidfile")"
  say "sent SIGHUP to ccr-otelcol (pid $(cat "$pidfile")): it re-reads $HERE/config.yaml"
  exit 0
elif [ -n "${1:-}" ]; then
  die "usage: $0 [--reload]"
fi

# binaries (instant when cached)
eval "$(bash "$HERE/build.sh" --print-env)"
[ -x "${CCR_OTELCOL_BIN:-}" ] && [ -x "${JAEGER_BIN:-}" ] || die "binaries missing after build"

export CCR_OTEL_HOST="${CCR_OTEL_HOST:-127.0.0.1}"
export CCR_OTEL_GRPC_PORT="${CCR_OTEL_GRPC_PORT:-4317}"
export CCR_OTEL_HTTP_PORT="${CCR_OTEL_HTTP_PORT:-4318}"
export CCR_OTEL_HEALTH_PORT="${CCR_OTEL_HEALTH_PORT:-13133}"
export CCR_OTEL_READY_PORT="${CCR_OTEL_READY_PORT:-13135}"
export CCR_OTEL_METRICS_PORT="${CCR_OTEL_METRICS_PORT:-8888}"
export CCR_OTEL_DATA_DIR="${CCR_OTEL_DATA_DIR:-$RUN_DIR/data}"
export CCR_OTEL_STORAGE_DIR="${CCR_OTEL_STORAGE_DIR:-$RUN_DIR/storage}"
export JAEGER_HOST="${JAEGER_HOST:-127.0.0.1}"
export JAEGER_OTLP_GRPC_PORT="${JAEGER_OTLP_GRPC_PORT:-14317}"
export JAEGER_OTLP_HTTP_PORT="${JAEGER_OTLP_HTTP_PORT:-14318}"
export JAEGER_QUERY_PORT="${JAEGER_QUERY_PORT:-16686}"
export JAEGER_QUERY_GRPC_PORT="${JAEGER_QUERY_GRPC_PORT:-16685}"
export JAEGER_HEALTH_PORT="${JAEGER_HEALTH_PORT:-13134}"
export JAEGER_METRICS_PORT="${JAEGER_METRICS_PORT:-18888}"
export JAEGER_DATA_DIR="${JAEGER_DATA_DIR:-$RUN_DIR/jaeger}"
export JAEGER_OTLP_ENDPOINT="${JAEGER_OTLP_ENDPOINT:-$JAEGER_HOST:$JAEGER_OTLP_GRPC_PORT}"
WITH_JAEGER="${CCR_OTEL_WITH_JAEGER:-1}"

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

http_ok() { # url -> 0 when it answers 200
  if command -v curl >/dev/null 2>&1; then
    [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" 2>/dev/null)" = "200" ]
  else
    local hostport="${1#http://}"; hostport="${hostport%%/*}"; local path="/${1#http://*/}"
    exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}" 2>/dev/null || return 1
    printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$hostport" >&3
    local status; read -r _ status _ <&3 || true; exec 3<&- 3>&-
    [ "$status" = "200" ]
  fi
}

port_busy() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_healthy() { # name pidfile url log
  local i=0
  while [ $i -lt $(( TIMEOUT * 5 )) ]; do
    if ! alive "$2"; then echo "--- last lines of $4:" >&2; tail -n 30 "$4" >&2; die "$1 exited before it was healthy"; fi
    if http_ok "$3"; then return 0; fi
    sleep 0.2; i=$(( i + 1 ))
  done
  tail -n 30 "$4" >&2
  die "$1 not healthy within ${TIMEOUT}s ($3)"
}

launch() { # name pidfile log bin args...
  local name="$1" pidfile="$2" log="$3"; shift 3
  if command -v setsid >/dev/null 2>&1; then
    nohup setsid "$@" >>"$log" 2>&1 < /dev/null &
  else
    nohup "$@" >>"$log" 2>&1 < /dev/null &
  fi
  echo $! > "$pidfile"
  say "$name started (pid $(cat "$pidfile")), log: $log"
}

if [ "$WITH_JAEGER" = "1" ]; then
  if alive "$RUN_DIR/jaeger.pid"; then
    say "jaeger already running (pid $(cat "$RUN_DIR/jaeger.pid"))"
  else
    for p in "$JAEGER_OTLP_GRPC_PORT" "$JAEGER_OTLP_HTTP_PORT" "$JAEGER_QUERY_PORT" "$JAEGER_QUERY_GRPC_PORT" "$JAEGER_HEALTH_PORT" "$JAEGER_METRICS_PORT"; do
      port_busy "$JAEGER_HOST" "$p" && die "port $JAEGER_HOST:$p is already in use (set the JAEGER_*_PORT variables)"
    done
    launch jaeger "$RUN_DIR/jaeger.pid" "$RUN_DIR/jaeger.log" "$JAEGER_BIN" --config "$HERE/jaeger.yaml"
    wait_healthy jaeger "$RUN_DIR/jaeger.pid" "http://$JAEGER_HOST:$JAEGER_HEALTH_PORT/status" "$RUN_DIR/jaeger.log"
    say "jaeger healthy"
  fi
fi

if alive "$RUN_DIR/ccr-otelcol.pid"; then
  say "ccr-otelcol already running (pid $(cat "$RUN_DIR/ccr-otelcol.pid"))"
else
  for p in "$CCR_OTEL_GRPC_PORT" "$CCR_OTEL_HTTP_PORT" "$CCR_OTEL_HEALTH_PORT" "$CCR_OTEL_READY_PORT" "$CCR_OTEL_METRICS_PORT"; do
    port_busy "$CCR_OTEL_HOST" "$p" && die "port $CCR_OTEL_HOST:$p is already in use (set the CCR_OTEL_*_PORT variables)"
  done
  launch ccr-otelcol "$RUN_DIR/ccr-otelcol.pid" "$RUN_DIR/ccr-otelcol.log" "$CCR_OTELCOL_BIN" --config "$HERE/config.yaml" "$FEATURE_GATES"
  wait_healthy ccr-otelcol "$RUN_DIR/ccr-otelcol.pid" "http://$CCR_OTEL_HOST:$CCR_OTEL_HEALTH_PORT/health" "$RUN_DIR/ccr-otelcol.log"
  wait_healthy ccr-otelcol "$RUN_DIR/ccr-otelcol.pid" "http://$CCR_OTEL_HOST:$CCR_OTEL_READY_PORT/ready" "$RUN_DIR/ccr-otelcol.log"
  say "ccr-otelcol live and ready"
fi

cat > "$RUN_DIR/endpoints.env" <<ENV
OTEL_EXPORTER_OTLP_ENDPOINT=http://$CCR_OTEL_HOST:$CCR_OTEL_HTTP_PORT
CCR_OTEL_OTLP_GRPC=$CCR_OTEL_HOST:$CCR_OTEL_GRPC_PORT
CCR_OTEL_HEALTH_URL=http://$CCR_OTEL_HOST:$CCR_OTEL_HEALTH_PORT/health
CCR_OTEL_READY_URL=http://$CCR_OTEL_HOST:$CCR_OTEL_READY_PORT/ready
CCR_OTEL_METRICS_URL=http://$CCR_OTEL_HOST:$CCR_OTEL_METRICS_PORT/metrics
CCR_OTEL_DATA_DIR=$CCR_OTEL_DATA_DIR
JAEGER_QUERY_URL=http://$JAEGER_HOST:$JAEGER_QUERY_PORT
ENV
say "OTLP/HTTP  http://$CCR_OTEL_HOST:$CCR_OTEL_HTTP_PORT   OTLP/gRPC $CCR_OTEL_HOST:$CCR_OTEL_GRPC_PORT"
say "files      $CCR_OTEL_DATA_DIR/{logs,traces,metrics}.jsonl (backups <signal>-<timestamp>.jsonl.gz)"
[ "$WITH_JAEGER" = "1" ] && say "Jaeger API http://$JAEGER_HOST:$JAEGER_QUERY_PORT/api/traces?service=NAME"
say "endpoints written to $RUN_DIR/endpoints.env; stop with: bash $HERE/stop.sh"
