#!/usr/bin/env bash
# Run the issue-3 benchmark scenarios against Andon servers that are already running, and write
# one JSON file per scenario to bench/results/<scenario>-<UTC stamp>.json (git-ignored).
#
# Environment:
#   ANDON_URL      first server           (default http://127.0.0.1:8000)
#   ANDON_URL2     second server process  (needed by scenario c; c is skipped without it)
#   SCENARIOS      which ones             (default "a b c d e")
#   SIZE           full | small           (small: quick smoke sizes; default full)
#   SERVER_PID     PIDs for RSS/CPU, space-separated, or "auto" (the listeners of the URLs' ports),
#                  or "none" (default auto)
#   ANDON_CMD      the Andon CLI used to create bench users (default: andon on PATH, else .venv/bin/andon)
#   PYTHON         interpreter (default: the checkout's .venv, else python3)
#   EXTRA_ARGS     more ws_load.py options for every scenario
#   RUN_TIMEOUT    seconds before one scenario is killed (default 1200)
#
# For scenario d, start the server afresh first: RSS never shrinks back after earlier runs.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
URL1="${ANDON_URL:-http://127.0.0.1:8000}"
URL2="${ANDON_URL2:-}"
SCENARIOS="${SCENARIOS:-a b c d e}"
SIZE="${SIZE:-full}"
PIDS="${SERVER_PID:-auto}"
if [[ -z "${ANDON_CMD:-}" ]]; then
  if command -v andon >/dev/null; then ANDON_CMD=andon; else ANDON_CMD="$root/.venv/bin/andon"; fi
fi
RUN_TIMEOUT="${RUN_TIMEOUT:-1200}"
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$root/.venv/bin/python" ]]; then PYTHON="$root/.venv/bin/python"; else PYTHON=python3; fi
fi
read -r -a extra <<<"${EXTRA_ARGS:-}"

small_args() {
  case "$1" in
    a) echo "--messages 20" ;;
    b | c) echo "--connections 100 --rooms 10 --senders 20 --rate 50 --duration 5" ;;
    d) echo "--connections 500 --hold 1" ;;
    e) echo "--closed-loop 5" ;;
  esac
}

wait_ready() { # bounded: 30 s per URL
  local url="$1"
  for _ in $(seq 1 30); do
    if "$PYTHON" - "$url" <<'EOF' 2>/dev/null; then return 0; fi
import sys, httpx
r = httpx.get(sys.argv[1] + "/healthz", timeout=2, trust_env=False)
sys.exit(0 if r.status_code == 200 else 1)
EOF
    sleep 1
  done
  echo "run_all: $url/healthz did not answer 200 within 30 s" >&2
  return 1
}

mkdir -p "$here/results"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
wait_ready "$URL1"
[[ -n "$URL2" ]] && wait_ready "$URL2"

status=0
for s in $SCENARIOS; do
  urls=(--url "$URL1")
  if [[ "$s" == c ]]; then
    if [[ -z "$URL2" ]]; then
      echo "run_all: skipping scenario c (set ANDON_URL2 to a second server process)" >&2
      continue
    fi
    urls+=(--url "$URL2")
  fi
  pid_args=()
  if [[ "$PIDS" != none ]]; then
    for p in $PIDS; do pid_args+=(--server-pid "$p"); done
  fi
  size_args=()
  if [[ "$SIZE" == small ]]; then read -r -a size_args <<<"$(small_args "$s")"; fi
  out="$here/results/$s-$stamp.json"
  echo "run_all: scenario $s -> $out" >&2
  rc=0
  timeout --signal=INT --kill-after=30 "$RUN_TIMEOUT" \
    "$PYTHON" "$here/ws_load.py" --scenario "$s" "${urls[@]}" "${pid_args[@]}" "${size_args[@]}" \
    --andon-cmd "$ANDON_CMD" "${extra[@]}" --output "$out" >/dev/null || rc=$?
  if [[ $rc -ne 0 ]]; then
    echo "run_all: scenario $s exited $rc (1 = ran but not ok; see the JSON)" >&2
    status=1
  fi
done

# one summary line per scenario of this run
for f in "$here"/results/*-"$stamp".json; do
  [[ -e "$f" ]] || continue
  "$PYTHON" - "$f" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
t = ", ".join(f"{x['metric']} {x['op']} {x['limit']}: {x['value']} ({'met' if x['met'] else 'NOT met'})"
              for x in r.get("targets", []))
print(f"{r.get('scenario')}: ok={r.get('ok')} persisted/s={r.get('persisted_per_second')} "
      f"ack p99={r.get('ack_latency_ms', {}).get('p99')} ms "
      f"fan-out(all) p99={r.get('fanout_all_latency_ms', {}).get('p99')} ms "
      f"integrity zero={r.get('integrity', {}).get('all_zero')} {t} {r.get('error') or r.get('aborted') or ''}")
EOF
done
exit $status
