#!/usr/bin/env bash
# Copies the collector and Jaeger configs into the kustomizations (kustomize reads no file outside a
# kustomization's directory), so Kubernetes runs exactly the configs the tests validate.
# collector/deploy-validate (TestConfigCopiesMatchSources) fails when a copy differs; then run:
#   bash collector/deploy/kubernetes/sync-configs.sh
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="$(cd "$HERE/../.." && pwd)"
copy() { install -m 0644 "$SRC/$1" "$HERE/$2" && echo "collector/$1 -> collector/deploy/kubernetes/$2"; }
copy config.yaml base/config/config.yaml
copy jaeger.yaml base/config/jaeger.yaml
copy agent.yaml overlays/scale-out/config/agent.yaml
copy gateway.yaml overlays/scale-out/config/gateway.yaml
