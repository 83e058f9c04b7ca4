#!/usr/bin/env bash
# Builds the two binaries ccr-otel runs against, from Go modules:
#   ccr-otelcol  OpenTelemetry Collector Builder (OCB) from collector/builder-config.yaml
#   jaeger       Jaeger v2 (cmd/jaeger) from the separate module collector/jaeger/ (go.mod pins v1.76.0)
#
# Binaries are cached OUTSIDE the repository, keyed by a hash of the manifests:
#   ${CCR_OTEL_CACHE:-$HOME/.cache/ccr-otel}/bin/<hash>/{ccr-otelcol,jaeger}
# A second run with unchanged manifests does nothing but print the paths.
#
# Usage: bash collector/build.sh [--print-dir | --print-env | --force]
#   --print-dir  print the cache directory for the current manifests and exit (builds nothing)
#   --print-env  build if needed, then print only CCR_OTELCOL_BIN=… and JAEGER_BIN=… lines
#   --force      rebuild even when cached binaries exist
# Env: CCR_OTEL_CACHE (cache root), GO (go executable, default `go` on PATH).
#
# The hash (16 hex chars) is sha256("ccr-otel-bin-v2\n" + builder-config.yaml + jaeger/go.mod + jaeger/go.sum
# + for each source of collector/components (go.mod, go.sum, non-test .go; sorted by path): "<path>\n" + content),
# so a change to our exporter rebuilds; test/helpers/collector.ts computes the same one to find the binaries.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MIN_GO="1.26.0"               # collector v0.161.0 / contrib v0.161.0 declare `go 1.26.0`
BUILDER="go.opentelemetry.io/collector/cmd/builder@v0.161.0"
JAEGER_PKG="github.com/jaegertracing/jaeger/cmd/jaeger"
KEY_SALT="ccr-otel-bin-v2"
GO="${GO:-go}"

mode="build"
case "${1:-}" in
  --print-dir) mode="print-dir" ;;
  --print-env) mode="print-env" ;;
  --force) mode="force" ;;
  "") ;;
  *) echo "usage: $0 [--print-dir|--print-env|--force]" >&2; exit 2 ;;
esac

say() { if [ "$mode" != "print-env" ]; then echo "[collector/build] $*"; else echo "[collector/build] $*" >&2; fi; }
die() { echo "[collector/build] ERROR: $*" >&2; exit 1; }

sha256() { if command -v sha256sum >/dev/null 2>&1; then sha256sum | cut -c1-16; else shasum -a 256 | cut -c1-16; fi; }

CACHE_ROOT="${CCR_OTEL_CACHE:-$HOME/.cache/ccr-otel}"
# Our own components' sources (go.mod, go.sum, non-test .go files), each as "<path>\n<content>", in byte order.
component_sources() {
  ( cd "$HERE" && find components -type f \( -name go.mod -o -name go.sum -o \( -name '*.go' ! -name '*_test.go' \) \) | LC_ALL=C sort )
}
HASH="$( { printf '%s\n' "$KEY_SALT"; cat "$HERE/builder-config.yaml" "$HERE/jaeger/go.mod" "$HERE/jaeger/go.sum";
           component_sources | while IFS= read -r f; do printf '%s\n' "$f"; cat "$HERE/$f"; done; } | sha256 )"
BIN_DIR="$CACHE_ROOT/bin/$HASH"
COL_BIN="$BIN_DIR/ccr-otelcol"
JAEGER_BIN="$BIN_DIR/jaeger"

print_result() {
  if [ "$mode" = "print-env" ]; then
    echo "CCR_OTELCOL_BIN=$COL_BIN"
    echo "JAEGER_BIN=$JAEGER_BIN"
  else
    say "ccr-otelcol: $COL_BIN"
    say "jaeger:      $JAEGER_BIN"
  fi
  # Also leave the paths where scripts can source them (the TS helper computes the hash itself).
  printf 'CCR_OTELCOL_BIN=%s\nJAEGER_BIN=%s\n' "$COL_BIN" "$JAEGER_BIN" > "$CACHE_ROOT/current.env.tmp.$$" \
    && mv -f "$CACHE_ROOT/current.env.tmp.$$" "$CACHE_ROOT/current.env"
}

if [ "$mode" = "print-dir" ]; then echo "$BIN_DIR"; exit 0; fi

if [ "$mode" != "force" ] && [ -x "$COL_BIN" ] && [ -x "$JAEGER_BIN" ]; then
  say "cached binaries for manifest hash $HASH"
  print_result
  exit 0
fi

# ---- Go toolchain check ---------------------------------------------------------------------
if ! command -v "$GO" >/dev/null 2>&1; then
  die "Go is not installed (no '$GO' on PATH). ccr-otel builds its collector and Jaeger from Go modules and needs Go >= $MIN_GO: install it from https://go.dev/dl/ (or your package manager) and run 'bash collector/build.sh' again."
fi
GOVER_RAW="$(GOTOOLCHAIN=local "$GO" env GOVERSION 2>/dev/null || true)"
GOVER="${GOVER_RAW#go}"; GOVER="${GOVER%% *}"; GOVER="${GOVER%%-*}"
if [ -z "$GOVER" ] || ! printf '%s\n' "$GOVER" | grep -Eq '^[0-9]+\.[0-9]+'; then
  die "could not read the Go version from '$GO env GOVERSION' (got '$GOVER_RAW'). Go >= $MIN_GO is required."
fi
lowest="$(printf '%s\n%s\n' "$MIN_GO" "$GOVER" | sort -V | head -n1)"
if [ "$lowest" != "$MIN_GO" ]; then
  die "Go $GOVER is too old: collector v0.161.0 and Jaeger v1.76.0 need Go >= $MIN_GO. Install a newer Go from https://go.dev/dl/ and run 'bash collector/build.sh' again."
fi
# Never let `go` silently download another toolchain: the version above is the one that builds.
export GOTOOLCHAIN=local
say "using $("$GO" version)"

mkdir -p "$CACHE_ROOT/bin"

# ---- one build at a time (tests and CI may call this concurrently) ------------------------------
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE_ROOT/build.lock"
  if ! flock -n 9; then
    say "another build is running; waiting for its lock ($CACHE_ROOT/build.lock)"
    flock 9
  fi
  if [ "$mode" != "force" ] && [ -x "$COL_BIN" ] && [ -x "$JAEGER_BIN" ]; then
    say "binaries were built by the other run"
    print_result
    exit 0
  fi
fi

WORK="$(mktemp -d "$CACHE_ROOT/work.XXXXXX")"
TICKER=""
cleanup() {
  [ -n "$TICKER" ] && kill "$TICKER" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/out"

T0=$(date +%s)
say "cold build into $BIN_DIR (manifest hash $HASH); this takes several minutes on 2 cores"
say "logs: $WORK/ccr-otelcol.log and $WORK/jaeger.log (printed here on failure)"

build_collector() {
  # output_path into the work dir; `path: ./components/...` (relative to collector/) made absolute,
  # since the builder resolves it from its working directory.
  sed -E -e "s|^([[:space:]]*output_path:).*|\1 $WORK/otelcol|" \
         -e "s|^([[:space:]]*path:)[[:space:]]*\./|\1 $HERE/|" "$HERE/builder-config.yaml" > "$WORK/builder-config.yaml"
  grep -q "output_path: $WORK/otelcol" "$WORK/builder-config.yaml" || { echo "output_path not found in builder-config.yaml"; return 1; }
  ( cd "$WORK" && "$GO" run "$BUILDER" --config "$WORK/builder-config.yaml" ) \
    && cp "$WORK/otelcol/ccr-otelcol" "$WORK/out/ccr-otelcol"
}
build_jaeger() {
  # Copy the module so the build never touches files inside the repository.
  mkdir -p "$WORK/jaeger"
  cp "$HERE/jaeger/go.mod" "$HERE/jaeger/go.sum" "$WORK/jaeger/"
  ( cd "$WORK/jaeger" && "$GO" build -mod=readonly -trimpath -ldflags "-s -w" -o "$WORK/out/jaeger" "$JAEGER_PKG" )
}

pids=()
need_col=1; need_jaeger=1
if [ "$mode" != "force" ] && [ -x "$COL_BIN" ]; then need_col=0; fi
if [ "$mode" != "force" ] && [ -x "$JAEGER_BIN" ]; then need_jaeger=0; fi
if [ $need_col = 1 ]; then
  say "building ccr-otelcol with $BUILDER ..."
  build_collector > "$WORK/ccr-otelcol.log" 2>&1 & col_pid=$!
fi
if [ $need_jaeger = 1 ]; then
  say "building jaeger ($JAEGER_PKG from collector/jaeger/go.mod) ..."
  build_jaeger > "$WORK/jaeger.log" 2>&1 & jaeger_pid=$!
fi

( while sleep 30; do echo "[collector/build] ... still compiling ($(( $(date +%s) - T0 ))s)" >&2; done ) & TICKER=$!

fail=0
if [ $need_col = 1 ]; then
  if wait "$col_pid"; then say "ccr-otelcol built ($(( $(date +%s) - T0 ))s)"; else
    fail=1; echo "[collector/build] ERROR: ccr-otelcol build failed; last lines of its log:" >&2; tail -n 40 "$WORK/ccr-otelcol.log" >&2; fi
fi
if [ $need_jaeger = 1 ]; then
  if wait "$jaeger_pid"; then say "jaeger built ($(( $(date +%s) - T0 ))s)"; else
    fail=1; echo "[collector/build] ERROR: jaeger build failed; last lines of its log:" >&2; tail -n 40 "$WORK/jaeger.log" >&2; fi
fi
kill "$TICKER" 2>/dev/null || true; TICKER=""
[ $fail = 0 ] || die "build failed (see above)"

mkdir -p "$BIN_DIR"
if [ $need_col = 1 ]; then
  "$WORK/out/ccr-otelcol" --version >/dev/null 2>"$WORK/check.log" || { cat "$WORK/check.log" >&2; die "built ccr-otelcol does not run"; }
  mv -f "$WORK/out/ccr-otelcol" "$COL_BIN.tmp" && mv -f "$COL_BIN.tmp" "$COL_BIN"
fi
if [ $need_jaeger = 1 ]; then
  "$WORK/out/jaeger" --help >/dev/null 2>"$WORK/check.log" || { cat "$WORK/check.log" >&2; die "built jaeger does not run"; }
  mv -f "$WORK/out/jaeger" "$JAEGER_BIN.tmp" && mv -f "$JAEGER_BIN.tmp" "$JAEGER_BIN"
fi
T1=$(date +%s)
{
  echo "built_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "go=$("$GO" env GOVERSION)"
  echo "seconds=$(( T1 - T0 ))"
  echo "ccr-otelcol_bytes=$(wc -c < "$COL_BIN")"
  echo "jaeger_bytes=$(wc -c < "$JAEGER_BIN")"
} > "$BIN_DIR/build-info.txt"
say "done in $(( T1 - T0 ))s; sizes: ccr-otelcol $(( $(wc -c < "$COL_BIN") / 1048576 )) MiB, jaeger $(( $(wc -c < "$JAEGER_BIN") / 1048576 )) MiB"
print_result
