#!/usr/bin/env bash
# `npm test`: installs what is missing, then typechecks, lints and runs every test
# (unit, then integration against the real test bed, which vitest's global setup starts
# and stops unless one is already up). Extra arguments go to vitest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
# shellcheck source=scripts/node-env.sh
. scripts/node-env.sh
echo "test: node $(node --version), typecheck" >&2
npx tsc -p tsconfig.json
echo "test: lint" >&2
npx biome ci --reporter=summary .
shellcheck scripts/*.sh testbed/scripts/*.sh .ci/run
echo "test: vitest" >&2
npx vitest run "$@"
