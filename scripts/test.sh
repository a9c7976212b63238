#!/usr/bin/env bash
# `npm test`: installs what is missing and builds the image, then typechecks, lints and runs every test
# (unit, then integration against the real test bed, which vitest's global setup starts
# and stops unless one is already up). Extra arguments go to vitest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
# The container image that deploy/test/image.test.ts runs (buildah and podman installed by
# the script itself). Here rather than in the test, so that a cold build (about 90 s, the
# base image once per machine) is not charged to a test's time limit; the test runs the
# script again, which with every layer cached takes seconds.
bash scripts/build-image.sh
# shellcheck source=scripts/node-env.sh
. scripts/node-env.sh
echo "test: node $(node --version), typecheck" >&2
npx tsc -p tsconfig.json
echo "test: lint" >&2
npx biome ci --reporter=summary .
shellcheck scripts/*.sh testbed/scripts/*.sh .ci/run
echo "test: vitest" >&2
npx vitest run "$@"
