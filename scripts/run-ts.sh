#!/usr/bin/env bash
# Runs a TypeScript entry point on Node 24 after making sure everything is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
# shellcheck source=scripts/node-env.sh
. scripts/node-env.sh
exec node "$@"
