# shellcheck shell=bash
# Sourced by testbed/scripts/build-binaries.sh. A cold Go build prints nothing for minutes
# (kube-apiserver takes 10-20 on two cores), which reads as a hang. run_with_progress says
# what it builds, then every LONGSHORE_HEARTBEAT seconds (default 20: under the half
# minute after which a silent terminal looks stuck) how long it has been at it, then how
# long it took or how it failed. Everything goes to stderr: callers read stdout (a path).

# run_with_progress TAG LABEL COMMAND [ARG...]: runs COMMAND with progress lines
# "TAG: building LABEL" and returns COMMAND's exit status.
run_with_progress() {
  local tag="$1" label="$2"
  shift 2
  local started=$SECONDS every="${LONGSHORE_HEARTBEAT:-20}" build beat status=0
  echo "$tag: building $label" >&2
  # The build runs as a background job that this shell waits for, rather than in a
  # condition (`cmd || status=$?`): errexit is off inside a condition, and a build step of
  # several commands must stop at the first that fails.
  "$@" &
  build=$!
  _progress_heartbeat "$tag" "$label" "$every" "$started" "$build" >&2 &
  beat=$!
  wait "$build" || status=$?
  # The heartbeat goes whether the build passed or failed; waited for, so that no line of
  # it comes after the last one below.
  kill "$beat" 2>/dev/null || true
  wait "$beat" 2>/dev/null || true
  if [ "$status" -eq 0 ]; then
    echo "$tag: built $label in $(_progress_elapsed "$started")" >&2
  else
    echo "$tag: building $label failed after $(_progress_elapsed "$started") (exit status $status)" >&2
  fi
  return "$status"
}

# The heartbeat: a line every $3 seconds while process $5 runs. Its sleep is a child of
# its own that the TERM trap ends and reaps, so that nothing is left holding the caller's
# stderr open (a caller reading it through a pipe would wait for the sleep to end).
_progress_heartbeat() { # $1 tag, $2 label, $3 seconds between lines, $4 start ($SECONDS), $5 build pid
  nap=""
  trap 'if [ -n "$nap" ]; then kill "$nap" 2>/dev/null; wait "$nap" 2>/dev/null; fi; exit 0' TERM
  while :; do
    sleep "$3" &
    nap=$!
    wait "$nap" || true
    kill -0 "$5" 2>/dev/null || return 0
    echo "$1: still building $2 ($(_progress_elapsed "$4") so far)"
  done
}

# Time since $1 (a value of $SECONDS) as 45s or 12m05s.
_progress_elapsed() {
  local s=$((SECONDS - $1))
  if [ "$s" -lt 60 ]; then
    echo "${s}s"
  else
    printf '%dm%02ds\n' $((s / 60)) $((s % 60))
  fi
}
