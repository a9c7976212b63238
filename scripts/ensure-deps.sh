#!/usr/bin/env bash
# Installs what the project needs on a fresh machine, and nothing when it is all there:
# Debian packages for the servers, Node 24, the npm workspace, the Go-built binaries
# (test bed servers, helm, and deploy/check). The container image is the test command's
# (scripts/test.sh): `npm start` and the other commands do not need it.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for pair in nats-server:nats-server redis-server:redis-server shellcheck:shellcheck; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "ensure-deps: installing ${missing[*]}" >&2
  sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# shellcheck source=scripts/node-env.sh
. scripts/node-env.sh

stamp=node_modules/.longshore-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  echo "ensure-deps: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi

bash testbed/scripts/build-binaries.sh all
# The Docker-file checker the deploy tests run (keyed by its sources; prints its path).
bash testbed/scripts/build-binaries.sh deploycheck >/dev/null
