#!/usr/bin/env bash
# Builds Longshore's container image from the repository's Dockerfile without a Docker
# daemon (Debian's buildah, podman and runc) and saves it as an OCI archive:
#
#   bash scripts/build-image.sh     image localhost/longshore:dev, archive .testbed/image/longshore.oci.tar
#
# Everything is kept in a container store of the project's own ($LONGSHORE_CACHE/containers,
# with its own containers.conf and storage.conf), so the machine's images and settings are
# never touched; .testbed/image/image.env names the store for the tests. When the
# Dockerfile's base image cannot be pulled (no registry is reachable on the project's
# machines), a stand-in is made under its name once per machine: Debian from debootstrap,
# Node and npm from the npm registry. Idempotent: with no source change a second run
# reuses every layer and the archive. Needs root (debootstrap, and podman's own store).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
# Node 24 and npm on PATH, and LONGSHORE_CACHE.
# shellcheck source=scripts/node-env.sh
. scripts/node-env.sh
IMAGE=localhost/longshore:dev
OUT="$REPO/.testbed/image"
LOG="$OUT/build.log"
STORE="$LONGSHORE_CACHE/containers"
# Bump when the stand-in base is made differently: the base is re-made on the next run.
BASE_RECIPE=1
started=$SECONDS

if [ "$(id -u)" -ne 0 ]; then
  echo "build-image: needs root (debootstrap, and podman with the project's own store)" >&2
  exit 1
fi
mkdir -p "$OUT" "$STORE"
# One build at a time (npm test's ensure-deps and the image test both run this script).
exec 9>"$STORE/build.lock"
flock 9
: >"$LOG"
say() { echo "build-image: $*" >&2; }
fail() {
  say "$1 (last lines of $LOG):"
  tail -n 30 "$LOG" >&2
  exit 1
}

# --- the tools -------------------------------------------------------------------------
# runc rather than crun: crun refuses the hybrid cgroup layout of these machines. As root
# with host networking only, podman needs none of its recommended packages (uidmap,
# slirp4netns, network plugins, fuse-overlayfs are for rootless or bridged containers).
export PATH="$PATH:/usr/sbin:/sbin"
missing=()
for pkg in buildah podman runc debootstrap debian-archive-keyring; do
  dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  apt-get update -qq >>"$LOG" 2>&1 || fail "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >>"$LOG" 2>&1 || fail "apt-get install failed"
fi

# --- the project's container store ------------------------------------------------------
# Overlay when the kernel mounts it on the store's file system (not on overlay itself),
# else vfs (a full copy per layer: slower and larger, but works anywhere). Probed once:
# a store keeps its driver.
export CONTAINERS_STORAGE_CONF="$STORE/storage.conf"
export CONTAINERS_CONF="$STORE/containers.conf"
if [ ! -f "$CONTAINERS_STORAGE_CONF" ]; then
  driver=vfs
  probe="$STORE/probe"
  rm -rf "$probe"
  mkdir -p "$probe/lower" "$probe/upper" "$probe/work" "$probe/merged"
  if mount -t overlay overlay -o "lowerdir=$probe/lower,upperdir=$probe/upper,workdir=$probe/work" \
    "$probe/merged" 2>>"$LOG"; then
    umount "$probe/merged"
    driver=overlay
  fi
  rm -rf "$probe"
  cat >"$CONTAINERS_STORAGE_CONF" <<EOF
# Written by scripts/build-image.sh: Longshore's own container store.
[storage]
driver = "$driver"
graphroot = "$STORE/storage"
runroot = "/run/longshore-containers"
EOF
fi
# Containers' default ulimits (nofile and nproc 1048576) exceed what even root may set
# here, so runc fails to start any container: use this shell's hard limits, and no more
# processes than there are pids (podman runs with its nproc lowered to pid_max here, and a
# container may not exceed podman's). No systemd as PID 1 on every machine: cgroupfs, and
# events to a file. Host networking only: no container network plugins.
nofile=$(ulimit -Hn)
[ "$nofile" = unlimited ] && nofile=$(cat /proc/sys/fs/nr_open)
nproc=$(ulimit -Hu)
pid_max=$(cat /proc/sys/kernel/pid_max)
if [ "$nproc" = unlimited ] || [ "$nproc" -gt "$pid_max" ]; then nproc=$pid_max; fi
cat >"$CONTAINERS_CONF.tmp" <<EOF
# Written by scripts/build-image.sh for Longshore's own container store.
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "/run/longshore-libpod"
EOF
mv "$CONTAINERS_CONF.tmp" "$CONTAINERS_CONF"

# --- the base image ----------------------------------------------------------------------
node_image=$(sed -n 's/^ARG NODE_IMAGE=//p' Dockerfile)
[ -n "$node_image" ] || fail "the Dockerfile names no NODE_IMAGE"
case "$node_image" in
  */*) base_ref=$node_image ;;
  *) base_ref="docker.io/library/$node_image" ;;
esac
label() { podman image inspect --format "{{index .Labels \"$2\"}}" "$1" 2>/dev/null || true; }

# What a stand-in is made of, for its cache key and its labels.
standin_inputs() {
  [[ "$node_image" =~ ^node:([0-9]+)-([a-z]+)-slim$ ]] ||
    fail "cannot make a stand-in for $node_image (only node:<major>-<debian release>-slim)"
  node_major=${BASH_REMATCH[1]}
  suite=${BASH_REMATCH[2]}
  # The Node binary the npm registry's node@<major> installs, as scripts/node-env.sh does.
  node_dir="$LONGSHORE_CACHE/node$node_major"
  if [ ! -x "$node_dir/node_modules/node/bin/node" ]; then
    say "installing node@$node_major from the npm registry into $node_dir"
    mkdir -p "$node_dir"
    npm install --silent --no-audit --no-fund --prefix "$node_dir" "node@$node_major" >>"$LOG" 2>&1 ||
      fail "npm install node@$node_major failed"
  fi
  node_bin=$(readlink -f "$node_dir/node_modules/node/bin/node")
  node_version=$("$node_bin" --version)
  # npm as the node images ship it: Node 24 bundles npm 11. Fetched once, then reused.
  npm_dir="$LONGSHORE_CACHE/image-base"
  mkdir -p "$npm_dir"
  npm_tgz=$(find "$npm_dir" -maxdepth 1 -name 'npm-11.*.tgz' | sort -V | tail -n 1)
  if [ -z "$npm_tgz" ]; then
    (cd "$npm_dir" && npm pack --silent npm@11 >>"$LOG" 2>&1) || fail "npm pack npm@11 failed"
    npm_tgz=$(find "$npm_dir" -maxdepth 1 -name 'npm-11.*.tgz' | sort -V | tail -n 1)
  fi
  npm_version=$(basename "$npm_tgz" .tgz)
  npm_version=${npm_version#npm-}
  base_key="recipe=$BASE_RECIPE debian=$suite node=$node_version npm=$npm_version"
}

# The Debian mirror the machine's apt sources name: the first "deb" source of a release
# (not -security or -updates), in deb822 or one-line form. Never a host of our own.
debian_mirror() {
  if [ -n "${LONGSHORE_DEBIAN_MIRROR:-}" ]; then echo "$LONGSHORE_DEBIAN_MIRROR"; return; fi
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk 'BEGIN { RS = "" } {
        n = split($0, line, "\n"); uri = ""; deb = 0; release = 0
        for (i = 1; i <= n; i++) {
          m = split(line[i], w, /[ \t]+/)
          if (w[1] == "URIs:") uri = w[2]
          if (w[1] == "Types:") for (j = 2; j <= m; j++) if (w[j] == "deb") deb = 1
          if (w[1] == "Suites:") for (j = 2; j <= m; j++) if (w[j] !~ /-/) release = 1
        }
        if (deb && release && uri != "") { print uri; exit }
      }' "$f")
    if [ -n "$uri" ]; then echo "$uri"; return; fi
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    uri=$(awk '$1 == "deb" {
        i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
        if ($(i + 1) !~ /-/) { print $i; exit }
      }' "$f")
    if [ -n "$uri" ]; then echo "$uri"; return; fi
  done
  return 1
}

make_standin() {
  local mirror work root
  mirror=$(debian_mirror) || fail "no Debian mirror in the apt sources; set LONGSHORE_DEBIAN_MIRROR"
  say "making a stand-in $base_ref: debian $suite (minbase), node $node_version, npm $npm_version"
  work="$LONGSHORE_CACHE/image-base/work"
  root="$work/rootfs"
  rm -rf "$work"
  mkdir -p "$work"
  debootstrap --variant=minbase "$suite" "$root" "$mirror" >>"$LOG" 2>&1 || fail "debootstrap failed"
  # Slim, as Debian's -slim images are: no documentation but the copyrights, no manuals,
  # no translations, no package lists; and dpkg told to keep it so in derived images.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
    "$root"/usr/share/groff/* "$root"/usr/share/lintian/* "$root"/etc/resolv.conf "$root"/etc/hostname
  find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  cat >"$root/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
  # Node and npm where the node images have them, and their `node` user.
  install -m 0755 "$node_bin" "$root/usr/local/bin/node"
  mkdir -p "$root/usr/local/lib/node_modules/npm"
  tar -xzf "$npm_tgz" -C "$root/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  chroot "$root" groupadd --gid 1000 node
  chroot "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  tar --numeric-owner -C "$root" -cf "$work/rootfs.tar" . || fail "packing the stand-in failed"
  podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=${node_version#v}" \
    --change 'CMD ["node"]' \
    --change "LABEL io.longshore.stand-in=\"$base_key\"" \
    "$work/rootfs.tar" "$base_ref" >>"$LOG" 2>&1 || fail "podman import failed"
  rm -rf "$work"
}

have_base=$(podman image exists "$base_ref" && echo yes || echo no)
standin=$(label "$base_ref" io.longshore.stand-in)
if [ "$have_base" = no ] || [ -n "$standin" ]; then
  # The real base when a registry answers (quickly: where none is reachable the name
  # lookup fails at once); the stand-in then stays only until a pull works.
  if timeout 60 podman pull -q "$base_ref" >>"$LOG" 2>&1; then
    say "pulled $base_ref"
  else
    standin_inputs
    [ "$standin" = "$base_key" ] || make_standin
  fi
fi

# --- the image ---------------------------------------------------------------------------
# Outbound HTTPS (npm ci) may go through a proxy whose CA only the host's bundle holds:
# that bundle and an npmrc naming it are mounted into the build's RUN steps, read-only.
# They are never in a layer (the runtime stage has no RUN). buildah passes the host's
# proxy variables (http_proxy, https_proxy, no_proxy) to RUN steps by itself.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mounts=()
ca="${NODE_EXTRA_CA_CERTS:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}"
{
  echo "registry=$(npm config get registry)"
  if [ -f "$ca" ]; then echo "cafile=/run/longshore-build/ca.crt"; fi
} >"$tmp/npmrc"
mounts+=(--volume "$tmp/npmrc:/root/.npmrc:ro")
[ -f "$ca" ] && mounts+=(--volume "$(readlink -f "$ca"):/run/longshore-build/ca.crt:ro")

version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' deploy/helm/longshore/Chart.yaml)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
say "building $IMAGE from Dockerfile (log: ${LOG#"$REPO"/})"
buildah bud --layers --pull=never --network host \
  --build-arg "VERSION=${version:-dev}" --build-arg "REVISION=$revision" \
  "${mounts[@]}" --tag "$IMAGE" --file Dockerfile . >>"$LOG" 2>&1 || fail "buildah bud failed"

# It runs: its default command (the CLI's help) as the image's user, read-only.
podman run --rm --read-only --network host "$IMAGE" >>"$LOG" 2>&1 || fail "the image does not run"
id=$(podman image inspect --format '{{.Id}}' "$IMAGE")
archive="$OUT/longshore.oci.tar"
if [ ! -f "$archive" ] || [ "$(cat "$OUT/archive.id" 2>/dev/null)" != "$id" ]; then
  rm -f "$archive" "$OUT/archive.id"
  podman save --format oci-archive --output "$archive" "$IMAGE" >>"$LOG" 2>&1 || fail "podman save failed"
  echo "$id" >"$OUT/archive.id"
fi

# What the tests read (deploy/test/image.test.ts): the store, the image, the archive.
cat >"$OUT/image.env" <<EOF
CONTAINERS_CONF=$CONTAINERS_CONF
CONTAINERS_STORAGE_CONF=$CONTAINERS_STORAGE_CONF
LONGSHORE_IMAGE=$IMAGE
LONGSHORE_IMAGE_ID=$id
LONGSHORE_IMAGE_BASE=$base_ref
LONGSHORE_IMAGE_ARCHIVE=$archive
EOF
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
layers=$(podman image inspect --format '{{len .RootFS.Layers}}' "$IMAGE")
base_kind=$([ -n "$(label "$base_ref" io.longshore.stand-in)" ] && echo "stand-in" || echo "pulled")
say "$IMAGE ${id:0:12}, $((size / 1000000)) MB, $layers layers, on $base_kind $base_ref ($((SECONDS - started)) s)"
say "archive: ${archive#"$REPO"/}"
