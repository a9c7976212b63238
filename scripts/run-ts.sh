#!/usr/bin/env bash
# Runs a TypeScript entry point on Node 24 after making sure what it needs is installed:
# `npm start` and the other commands run at most the test bed, so not what only the tests
# use (shellcheck, helm, deploycheck: `npm test` installs those).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh testbed
# shellcheck source=scripts/node-env.sh
. scripts/node-env.sh
exec node "$@"
