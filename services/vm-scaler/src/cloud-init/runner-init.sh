#!/bin/bash
# Longshore runner VM bootstrap: the cloud-init user data of every VM in a Longshore
# VirtualMachinePool (seed 002, "VM specification notes"). It installs CircleCI's machine
# runner, configures it for exactly one job, and makes the VM power off when the runner
# exits, so the pool can replace it with a fresh VM. It runs once, at first boot.
#
# The vm-scaler renders the @@...@@ settings below (renderRunnerInit) and stores the
# result in a Secret, because it holds the runner token. The token is written only to the
# runner's config file, mode 0600; it never appears on a command line.
set -euo pipefail

# ---- rendered by the vm-scaler: shell-quoted YAML scalars ('' when unset)
# shellcheck disable=SC2016 # the values are literals: a '$' in a token must not expand
{
  readonly RUNNER_AUTH_TOKEN_YAML=@@RUNNER_AUTH_TOKEN_YAML@@
  readonly RUNNER_API_URL_YAML=@@RUNNER_API_URL_YAML@@
  readonly RUNNER_IDLE_TIMEOUT_YAML=@@RUNNER_IDLE_TIMEOUT_YAML@@
}

# ---- where things are; the defaults are the real locations
OS_RELEASE_FILE="${OS_RELEASE_FILE:-/etc/os-release}"
RUNNER_CONFIG_DIR="${RUNNER_CONFIG_DIR:-/etc/circleci-runner}"
SYSTEMD_UNIT_DIR="${SYSTEMD_UNIT_DIR:-/etc/systemd/system}"

readonly PACKAGECLOUD_REPO="https://packagecloud.io/install/repositories/circleci/runner"
readonly RUNNER_UNIT="circleci-runner.service"

log() {
  echo "longshore-runner-init: $*" >&2
}

# Prints "debian" or "rhel" for the supported OS families (seed 002), else "unsupported".
os_family() {
  local ids
  # shellcheck disable=SC1090 # os-release is a shell fragment by definition
  ids="$(. "$OS_RELEASE_FILE" && echo " ${ID:-} ${ID_LIKE:-} ")"
  case "$ids" in
    *" debian "* | *" ubuntu "*) echo debian ;;
    *" rhel "* | *" centos "* | *" fedora "*) echo rhel ;;
    *) echo unsupported ;;
  esac
}

# Runs a command up to 5 times: package mirrors fail transiently at boot.
retry() {
  local attempt=1
  until "$@"; do
    if [ "$attempt" -ge 5 ]; then
      log "giving up after $attempt attempts: $*"
      return 1
    fi
    sleep $((attempt * 5))
    attempt=$((attempt + 1))
  done
}

# Adds CircleCI's packagecloud repository and installs circleci-runner from it.
install_runner() {
  case "$1" in
    debian)
      curl -fsSL "$PACKAGECLOUD_REPO/script.deb.sh?any=true" | bash
      DEBIAN_FRONTEND=noninteractive apt-get install -y circleci-runner
      ;;
    rhel)
      curl -fsSL "$PACKAGECLOUD_REPO/script.rpm.sh?any=true" | bash
      if command -v dnf >/dev/null 2>&1; then
        dnf install -y circleci-runner
      else
        yum install -y circleci-runner
      fi
      ;;
  esac
}

# A name unique to this VM: its host name (the pool's VM name) and a random suffix, in the
# characters CircleCI accepts in runner names.
runner_name() {
  local suffix
  suffix="$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
  printf '%s-%s' "$(uname -n)" "$suffix" | tr -c 'A-Za-z0-9._-' '-'
}

# Writes the runner config in single-task mode (one job per VM lifetime). The file is
# created 0600 before the token goes in, then moved into place.
write_runner_config() {
  local name="$1" file="$RUNNER_CONFIG_DIR/circleci-runner-config.yaml" tmp
  mkdir -p "$RUNNER_CONFIG_DIR"
  tmp="$(mktemp "$RUNNER_CONFIG_DIR/.circleci-runner-config.XXXXXX")"
  chmod 600 "$tmp"
  {
    printf 'api:\n'
    printf '  auth_token: %s\n' "$RUNNER_AUTH_TOKEN_YAML"
    printf '  url: %s\n' "$RUNNER_API_URL_YAML"
    printf 'runner:\n'
    printf '  name: "%s"\n' "$name"
    printf '  mode: single-task\n'
    printf '  working_directory: /var/lib/circleci-runner/workdir\n'
    printf '  cleanup_working_directory: true\n'
    if [ -n "$RUNNER_IDLE_TIMEOUT_YAML" ]; then
      printf '  idle_timeout: %s\n' "$RUNNER_IDLE_TIMEOUT_YAML"
    fi
  } >"$tmp"
  mv -f "$tmp" "$file"
}

# When the runner exits (its job is done, or idle_timeout passed), power the VM off
# instead of restarting the runner: the pool then replaces the VM with a fresh one.
configure_poweroff() {
  local dir="$SYSTEMD_UNIT_DIR/$RUNNER_UNIT.d"
  mkdir -p "$dir"
  cat >"$dir/10-longshore-poweroff.conf" <<'UNIT'
# Written by Longshore's runner bootstrap: one job per VM.
[Unit]
SuccessAction=poweroff
FailureAction=poweroff

[Service]
Restart=no
UNIT
  systemctl daemon-reload
}

main() {
  local family name
  family="$(os_family)"
  if [ "$family" = unsupported ]; then
    log "unsupported OS in $OS_RELEASE_FILE: runner VMs must be Debian/Ubuntu or RHEL/CentOS based"
    exit 1
  fi
  log "installing circleci-runner ($family family)"
  retry install_runner "$family"
  # The package may have started the runner with its placeholder config: stop it before
  # the power-off rule exists, so that stop does not power the VM off.
  systemctl stop "$RUNNER_UNIT" || true
  name="$(runner_name)"
  write_runner_config "$name"
  configure_poweroff
  systemctl enable "$RUNNER_UNIT"
  systemctl start --no-block "$RUNNER_UNIT"
  log "started circleci-runner as $name"
}

main "$@"
