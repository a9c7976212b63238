#!/usr/bin/env bash
# Installs what the project needs on a fresh machine, and nothing when it is all there:
# Debian packages for the servers, Node 24, the npm workspace, the Go-built binaries.
#
#   ensure-deps.sh [all]    everything `npm test` uses: also shellcheck (the lint), helm
#                           and deploycheck (the deploy tests), and Debian's prometheus
#                           (prometheus and promtool: the metrics and alert tests) and
#                           Debian's chromium (the fleet page's browser test)
#   ensure-deps.sh testbed  what the test bed's servers need: `npm start` and the other
#                           commands (scripts/run-ts.sh); a cold Go build of helm and
#                           deploycheck is minutes they do not need
#
# The container image is the test command's too (scripts/test.sh builds it).
set -euo pipefail
cd "$(dirname "$0")/.."

what="${1:-all}"
case "$what" in
  all) debian="nats-server redis-server shellcheck prometheus chromium" ;;
  testbed) debian="nats-server redis-server" ;;
  *) echo "usage: $0 [all|testbed]" >&2; exit 2 ;;
esac

missing=()
for pkg in $debian; do # each package is named for its command
  command -v "$pkg" >/dev/null || missing+=("$pkg")
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

if [ "$what" = testbed ]; then
  bash testbed/scripts/build-binaries.sh testbed
else
  # all: the test bed, helm, and the Docker-file checker the deploy tests run (keyed by its
  # sources; it prints its path).
  bash testbed/scripts/build-binaries.sh all deploycheck >/dev/null
fi
