# syntax=docker/dockerfile:1
# One image for every Longshore process. The entrypoint is `node`; the argument picks the
# program, so the same image runs each service, the Runner API simulator and the CLI:
#
#   docker run longshore services/claimer/src/main.ts      (claimer, scheduler, gc, constraints, vm-scaler)
#   docker run longshore tools/runner-api-sim/src/main.ts  (the simulator)
#   docker run longshore tools/cli/src/cli.ts tap          (the CLI)
#
# Node 24 runs the TypeScript sources as they are (type stripping): there is no build step,
# so the image holds the production dependencies and the sources, nothing else (no dev
# dependencies, tests, test bed or benchmarks; see .dockerignore). Every production
# dependency is plain JavaScript (the lockfile's native packages are all dev-only), so
# Alpine's musl is fine.
ARG NODE_IMAGE=node:24-alpine

# Stage 1: only package.json files and the lockfile, so that the dependency layer below is
# cached until one of them changes; an edit to a source file does not reinstall anything.
# (Copying the context and deleting the rest keeps every workspace's manifest at its path
# without listing the workspaces here.)
FROM ${NODE_IMAGE} AS manifests
WORKDIR /src
COPY . .
RUN find . -type f ! -name package.json ! -name package-lock.json -delete \
 && find . -depth -type d -empty -delete

# Stage 2: production dependencies of the services, the simulator and the CLI, exactly as
# the lockfile pins them. npm ci links each workspace package as a symlink,
# node_modules/@longshore/<name> -> ../../libs/<name> (or services/, tools/). They must stay
# symlinks: Node refuses to strip types from .ts files under node_modules, and it resolves a
# symlinked package to its real path (libs/...), outside node_modules, where it strips them.
# Type declarations and source maps are never read at run time; they are dropped to save space.
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
 && find node_modules -type f \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \) -delete

# Stage 3: the runtime image. COPY keeps the workspace symlinks as symlinks.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/ ./
COPY libs/ libs/
COPY services/ services/
COPY tools/ tools/
# The compose file's one-shot helper that points k3s's kubeconfig at the k3s container.
COPY deploy/docker/kubeconfig.ts deploy/docker/
# The image's `node` user, by number, so that Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
ENTRYPOINT ["node"]
CMD ["tools/cli/src/cli.ts", "help"]
