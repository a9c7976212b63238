#!/usr/bin/env bash
# Fetches prometheus-operator's ServiceMonitor, PodMonitor and PrometheusRule CRDs from the Go
# module proxy (module github.com/prometheus-operator/prometheus-operator, its
# example/prometheus-operator-crd/ folder; Apache-2.0) and caches them outside the
# repository, keyed by version, as build-binaries.sh caches binaries. The Go module proxy
# and checksum database vouch for the files; a warm cache makes this a no-op. Prints the
# folder holding the three YAML files.
#
# The deploy tests install them in the test bed so that the apiserver checks the chart's
# monitoring objects against the real schemas (deploy/test/monitoring.test.ts).
set -euo pipefail

VERSION="${PROMETHEUS_OPERATOR_VERSION:-v0.85.0}"
MODULE=github.com/prometheus-operator/prometheus-operator
CACHE="${LONGSHORE_CACHE:-$HOME/.cache/longshore}"
OUT="$CACHE/crds/prometheus-operator-$VERSION"
FILES=(monitoring.coreos.com_servicemonitors.yaml monitoring.coreos.com_podmonitors.yaml monitoring.coreos.com_prometheusrules.yaml)

have_all() {
  for f in "${FILES[@]}"; do [ -s "$OUT/$f" ] || return 1; done
}

if ! have_all; then
  command -v go >/dev/null || { echo "prometheus-operator-crds: Go is required to fetch $MODULE (not found on PATH)" >&2; exit 1; }
  echo "prometheus-operator-crds: fetching $MODULE@$VERSION from the Go module proxy" >&2
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # Outside any module, as build-binaries.sh does; `go mod download` checks the zip against sum.golang.org.
  dir=$(cd "$work" && GOWORK=off GOFLAGS=-mod=mod go mod download -json "$MODULE@$VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  if [ -z "$dir" ] || [ ! -d "$dir" ]; then
    echo "prometheus-operator-crds: go mod download gave no folder for $MODULE@$VERSION" >&2
    exit 1
  fi
  mkdir -p "$work/out"
  for f in "${FILES[@]}"; do
    cp "$dir/example/prometheus-operator-crd/$f" "$work/out/$f"
  done
  cp "$dir/LICENSE" "$work/out/LICENSE"
  mkdir -p "$(dirname "$OUT")"
  rm -rf "$OUT"
  mv "$work/out" "$OUT"
  chmod -R u+w "$OUT"
fi
echo "$OUT"
