#!/usr/bin/env bash
# After editing collector/config.yaml (or jaeger.yaml, agent.yaml):
#   bash collector/deploy/kubernetes/sync-configs.sh
# 1. Regenerates collector/gateway.yaml from collector/config.yaml: the same health checks, processors,
#    files and Jaeger exporter; only the receiver differs (OTLP/gRPC from the agents, 32 MiB messages).
# 2. Copies the configs into the kustomizations (kustomize reads no file outside a kustomization's
#    directory), so Kubernetes runs exactly the configs the tests validate.
# collector/deploy-validate (TestConfigCopiesMatchSources) and test/collector/scale-out.test.ts fail,
# naming this script, when something is out of date.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="$(cd "$HERE/../.." && pwd)"

gateway() {
  cat <<'HEADER'
# GENERATED from collector/config.yaml by collector/deploy/kubernetes/sync-configs.sh - do not edit.
# ccr-otelcol as a GATEWAY of the scale-out tier, behind the agents (collector/agent.yaml): the same
# health checks, processors, files and Jaeger exporter as collector/config.yaml, receiving OTLP/gRPC
# from the agents only. Every span of a trace reaches the same gateway (the agents route by trace ID),
# so each gateway's traces files hold whole traces.
# Run it like collector/config.yaml, with --feature-gates=+extension.healthcheck.useComponentStatus.
# Variables: those of collector/config.yaml; CCR_OTEL_HTTP_PORT is not used (no OTLP/HTTP listener).

HEADER
  # config.yaml from its first top-level key on, with the top-level `receivers:` block replaced.
  awk '
    /^[a-z_]+:/ { started = 1; skipping = 0 }
    /^receivers:/ {
      print "receivers:"
      print "  otlp:"
      print "    protocols:"
      print "      # Agents send OTLP/gRPC; their batches can be larger than an app'"'"'s (default limit 4 MiB)."
      print "      grpc:"
      print "        endpoint: ${env:CCR_OTEL_HOST:-127.0.0.1}:${env:CCR_OTEL_GRPC_PORT:-4317}"
      print "        max_recv_msg_size_mib: 32"
      print ""
      skipping = 1; next
    }
    started && !skipping { print }
  ' "$SRC/config.yaml"
}
gateway > "$SRC/gateway.yaml.tmp" && mv -f "$SRC/gateway.yaml.tmp" "$SRC/gateway.yaml"
echo "collector/config.yaml -> collector/gateway.yaml"

copy() { install -m 0644 "$SRC/$1" "$HERE/$2" && echo "collector/$1 -> collector/deploy/kubernetes/$2"; }
copy config.yaml base/config/config.yaml
copy jaeger.yaml base/config/jaeger.yaml
copy agent.yaml overlays/scale-out/config/agent.yaml
copy gateway.yaml overlays/scale-out/config/gateway.yaml
