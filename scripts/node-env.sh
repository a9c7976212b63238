# shellcheck shell=bash
# Sourced by the project's scripts: puts Node 24 first on PATH, installing it from the
# npm registry (package node@24) into a cache outside the repository when the machine's
# own Node is older. Everything after this (npm, vitest, the services) runs on Node 24.
LONGSHORE_CACHE="${LONGSHORE_CACHE:-$HOME/.cache/longshore}"
_ls_node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(_ls_node_major node)" -lt 24 ]; then
  _ls_node_dir="$LONGSHORE_CACHE/node24"
  if [ ! -x "$_ls_node_dir/node_modules/.bin/node" ]; then
    echo "node-env: installing Node 24 into $_ls_node_dir" >&2
    mkdir -p "$_ls_node_dir"
    npm install --silent --no-audit --no-fund --prefix "$_ls_node_dir" node@24 >&2
  fi
  export PATH="$_ls_node_dir/node_modules/.bin:$PATH"
  if [ "$(_ls_node_major node)" -lt 24 ]; then
    echo "node-env: could not get Node 24 (have $(node --version 2>/dev/null || echo none))" >&2
    return 1
  fi
fi
