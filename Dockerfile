# syntax=docker/dockerfile:1
# One image for every Longshore process. The entrypoint is `node`; the argument picks the
# program, so the same image runs each service, the Runner API simulator and the CLI:
#
#   docker run longshore dist/claimer.mjs          (claimer, scheduler, gc, constraints, vm-scaler)
#   docker run longshore dist/runner-api-sim.mjs   (the simulator)
#   docker run longshore dist/longshore.mjs tap    (the CLI)
#
# Each program is a bundle (tools/build): its code and every module it imports in one
# minified file set under dist/, built here from the production dependencies and the
# sources. The runtime image holds dist/ and nothing else: no node_modules, no TypeScript
# to strip, no dev dependencies, tests, test bed or benchmarks (see .dockerignore).
#
# The base is Debian's slim Node image (glibc), not Alpine (musl): the image the project
# builds and runs in its own tests (scripts/build-image.sh, deploy/test/image.test.ts) is
# then the one users get, down to the libc and its allocator, which is what the
# benchmarks' memory figures were measured with. No registry is reachable where those
# tests run, so the script makes a stand-in under this name from Debian bookworm and the
# npm registry's Node 24 when it cannot pull it (deploy/docker/README.md).
ARG NODE_IMAGE=node:24-bookworm-slim

# Stage 1: only package.json files and the lockfile, so that the dependency layer below is
# cached until one of them changes; an edit to a source file does not reinstall anything.
# (Copying the context and deleting the rest keeps every workspace's manifest at its path
# without listing the workspaces here.)
FROM ${NODE_IMAGE} AS manifests
WORKDIR /src
COPY . .
RUN find . -type f ! -name package.json ! -name package-lock.json -delete \
 && find . -depth -type d -empty -delete

# Stage 2: production dependencies of the programs, and the bundler (tools/build), exactly
# as the lockfile pins them. npm ci links each workspace package as a symlink,
# node_modules/@longshore/<name> -> ../../libs/<name> (or services/, tools/), so the bundler
# finds the sources where stage 3 puts them.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY --from=manifests /src/ ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --no-audit --no-fund --include-workspace-root=false \
      --workspace services/claimer \
      --workspace services/scheduler \
      --workspace services/gc \
      --workspace services/constraints \
      --workspace services/vm-scaler \
      --workspace tools/runner-api-sim \
      --workspace tools/cli \
      --workspace tools/build

# Stage 3: the bundles, dist/<program>.mjs (tools/build/src/build.ts lists them).
FROM deps AS build
COPY libs/ libs/
COPY services/ services/
COPY tools/ tools/
# The compose file's one-shot helper that points k3s's kubeconfig at the k3s container.
COPY deploy/docker/kubeconfig.ts deploy/docker/
RUN node tools/build/src/main.ts dist

# Stage 4: the runtime image.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
# V8 sized for a service, not for the host (bench/README.md has the figures; `npm run bench`
# runs the services with this same value, read from here):
# - a young generation of 1 MB semi-spaces instead of up to 32 MB on a large host: the
#   services allocate little that lives long, so it costs a few more scavenges and saves 40
#   to 145 MB of peak RSS per service;
# - an old generation of at most 512 MB instead of a quarter of the host's memory: below
#   2 GB, V8 lets the heap grow by a factor of about 1.4 between full collections instead
#   of up to 4, which keeps the claimer's and the scheduler's peaks 10 to 60 MB lower. The
#   services' live heaps are 20 to 40 MB. In a container with a memory limit Node sizes the
#   heap from the limit itself; with a limit below about 600 MB, set NODE_OPTIONS to match;
# - one V8 worker thread instead of four, for concurrent marking, sweeping and compiling:
#   a service is one busy thread. On 2 cores, in runs side by side, the claimer's and the
#   scheduler's CPU was 10 to 12 % lower and their peaks 1 to 3 MB lower.
ENV NODE_OPTIONS="--max-semi-space-size=1 --max-old-space-size=512 --v8-pool-size=1"
WORKDIR /app
COPY --from=build /app/dist/ dist/
# The image's `node` user, by number, so that Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
ENTRYPOINT ["node"]
CMD ["dist/longshore.mjs", "help"]
# Last, so that a new version or commit changes only this metadata, never a layer.
# scripts/build-image.sh passes the chart's appVersion (the tag the Helm chart pulls by
# default) and the commit. The project has not declared a licence yet: NOASSERTION is
# SPDX's word for that.
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="Longshore" \
      org.opencontainers.image.description="Longshore: a self-hosted CircleCI-compatible runner fleet (every service, the Runner API simulator and the CLI; the argument picks the program)" \
      org.opencontainers.image.source="https://github.com/longshore/longshore" \
      org.opencontainers.image.licenses="NOASSERTION" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
