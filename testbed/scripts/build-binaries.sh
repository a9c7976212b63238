#!/usr/bin/env bash
# Builds Go binaries from the Go module proxy and caches them outside the repository, keyed
# by version: the test bed's servers (etcd, kube-apiserver, kube-scheduler, kwok), and for the
# deploy tests helm and deploycheck. A warm cache makes this a no-op. A cold build says what
# it builds and, every 20 s, how long it has been at it (progress.sh).
#
# Targets (several may be given; default all): testbed (the four servers, what `npm start`
# needs), all (testbed and helm), or one binary: etcd, kube-apiserver, kube-scheduler, kwok,
# helm, deploycheck (prints its path); path prints the cache folder.
#
# kube-apiserver cannot be `go install`ed directly: k8s.io/kubernetes requires its staging
# modules at v0.0.0. We build it from a throwaway wrapper module that pins every staging
# module (read from the downloaded k8s.io/kubernetes go.mod) to the matching v0.Y.Z.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.34.4}"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.6}"
CACHE="${LONGSHORE_CACHE:-$HOME/.cache/longshore}"
BIN="$CACHE/bin"
mkdir -p "$BIN"
# shellcheck source=testbed/scripts/progress.sh
. "$(dirname "${BASH_SOURCE[0]}")/progress.sh"

export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 GOFLAGS=-mod=mod

need_go() {
  command -v go >/dev/null || { echo "build-binaries: Go is required to build $1 (not found on PATH)" >&2; exit 1; }
}

build_kube() { # $1 = command name under k8s.io/kubernetes/cmd
  local name="$1" out="$BIN/$1-$KUBE_VERSION"
  [ -x "$out" ] && return 0
  need_go "$name"
  echo "build-binaries: $name $KUBE_VERSION is not in $BIN yet (a cold build takes 10-20 minutes)" >&2
  run_with_progress build-binaries "$name $KUBE_VERSION" compile_kube "$name" "$out"
}

compile_kube() { # $1 = command name, $2 = output path
  local name="$1" out="$2"
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  local minor="${KUBE_VERSION#v1.}"; local staging="v0.${minor}"
  local gomod
  gomod=$(cd "$work" && go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    echo "module longshore.local/kubebuild"
    echo "go 1.24"
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    grep -oE '^\s*k8s\.io/[a-z0-9-]+ v0\.0\.0\s*$' "$gomod" | awk -v v="$staging" '{print "replace " $1 " => " $1 " " v}'
  } > "$work/go.mod"
  local major minor_only
  major=1; minor_only="${minor%%.*}"
  (cd "$work" && go get "k8s.io/kubernetes/cmd/$name@$KUBE_VERSION" >/dev/null
   go build -trimpath -ldflags "-s -w \
     -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION \
     -X k8s.io/component-base/version.gitMajor=$major \
     -X k8s.io/component-base/version.gitMinor=$minor_only" \
     -o "$out.tmp" "k8s.io/kubernetes/cmd/$name")
  mv "$out.tmp" "$out"
}

# Debian's etcd (3.4.23) predates RequestWatchProgress (3.4.31), without which the apiserver
# refuses the streaming watch-lists that current client-go (kwok's) opens: its watches then
# fail in a loop and pods miss their stages. etcd's server module has replace directives
# pointing at its own repo, so like kube-apiserver it is built from a wrapper module.
build_etcd() {
  local out="$BIN/etcd-$ETCD_VERSION"
  [ -x "$out" ] && return 0
  need_go etcd
  run_with_progress build-binaries "etcd $ETCD_VERSION" compile_etcd "$out"
}

compile_etcd() { # $1 = output path
  local out="$1"
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  printf 'module longshore.local/etcdbuild\ngo 1.24\n' > "$work/go.mod"
  (cd "$work" && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null &&
   go build -trimpath -ldflags "-s -w" -o "$out.tmp" go.etcd.io/etcd/server/v3)
  mv "$out.tmp" "$out"
}

# `go install`s a plain main package into the cache as <name>-<version>.
go_install_as() { # $1 = name, $2 = version, $3 = package path
  local out="$BIN/$1-$2"
  [ -x "$out" ] && return 0
  need_go "$1"
  run_with_progress build-binaries "$1 $2" compile_go_install "$1" "$2" "$3" "$out"
}

compile_go_install() { # $1 = name, $2 = version, $3 = package path, $4 = output path
  local gobin; gobin=$(mktemp -d)
  GOBIN="$gobin" go install -trimpath -ldflags "-s -w" "$3@$2"
  mv "$gobin/$1" "$4"; rm -rf "$gobin"
}

build_kwok() { go_install_as kwok "$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok; }

# helm renders and lints deploy/helm in the deploy tests (no release is installed: the tests
# apply the rendered objects themselves).
build_helm() { go_install_as helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm; }

# deploycheck (deploy/check) statically checks docker-compose.yml and the Dockerfile with
# Docker's own libraries (no Docker engine here). Keyed by a hash of its sources; prints
# the binary's path on stdout.
build_deploycheck() {
  local src; src="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../deploy/check" && pwd)"
  local key; key=$(cat "$src/go.mod" "$src/go.sum" "$src"/*.go | sha256sum | cut -c1-12)
  local out="$BIN/deploycheck-$key"
  if [ ! -x "$out" ]; then
    need_go deploycheck
    echo "build-binaries: deploycheck $key is not in $BIN yet (a cold build takes a few minutes)" >&2
    run_with_progress build-binaries "deploycheck $key" compile_deploycheck "$src" "$out"
  fi
  echo "$out"
}

compile_deploycheck() { # $1 = source folder, $2 = output path
  (cd "$1" && go build -trimpath -ldflags "-s -w" -o "$2.tmp" .)
  mv "$2.tmp" "$2"
}

build_testbed() { build_etcd; build_kwok; build_kube kube-apiserver; build_kube kube-scheduler; }

usage="usage: $0 [testbed|all|etcd|kube-apiserver|kube-scheduler|kwok|helm|deploycheck|path]..."
[ $# -gt 0 ] || set -- all
for target in "$@"; do # checked first, so that a typo does not come after a long build
  case "$target" in
    testbed|all|etcd|kube-apiserver|kube-scheduler|kwok|helm|deploycheck|path) ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
for target in "$@"; do
  case "$target" in
    kube-apiserver|kube-scheduler) build_kube "$target" ;;
    kwok) build_kwok ;;
    helm) build_helm ;;
    etcd) build_etcd ;;
    testbed) build_testbed ;;
    all) build_testbed; build_helm ;;
    deploycheck) build_deploycheck ;;
    path) echo "$BIN" ;;
  esac
done
