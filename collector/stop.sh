#!/usr/bin/env bash
# Stop what collector/start.sh started, by its pid files in $CCR_OTEL_RUN_DIR (default collector/.run).
# The collector goes first so it can flush; then Jaeger. Only those two PIDs are ever signalled, and
# only while they still run the binary that was started (a reused PID is left alone).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RUN_DIR="${CCR_OTEL_RUN_DIR:-$HERE/.run}"
say() { echo "[collector/stop] $*"; }

stop_one() { # name pidfile binary-name
  local name="$1" pidfile="$2" bin="$3"
  [ -f "$pidfile" ] || { say "$name: no pid file"; return 0; }
  local pid; pid="$(cat "$pidfile")"
  if ! kill -0 "$pid" 2>/dev/null; then say "$name: not running"; rm -f "$pidfile"; return 0; fi
  if [ -r "/proc/$pid/cmdline" ] && ! tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q "$bin"; then
    say "$name: pid $pid is no longer $bin; leaving it alone"; rm -f "$pidfile"; return 0
  fi
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 75); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then say "$name: still running after 15s, killing"; kill -KILL "$pid" 2>/dev/null; fi
  rm -f "$pidfile"
  say "$name stopped (pid $pid)"
}

stop_one ccr-otelcol "$RUN_DIR/ccr-otelcol.pid" ccr-otelcol
stop_one jaeger "$RUN_DIR/jaeger.pid" jaeger
