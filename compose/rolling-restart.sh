#!/usr/bin/env bash
# Replace the containers of one service (default: api) one at a time, on the image and
# configuration compose has now, never running fewer than the current number.
#
#   cd compose
#   docker compose build                 # or: docker compose pull, for a registry image
#   docker compose run --rm migrate      # schema first; see docs/deployment.md
#   ./rolling-restart.sh api
#
# For each old container: start one new replica, wait until its /readyz health check
# passes and nginx has re-resolved `api`, then stop the old one with SIGTERM. The API
# closes its WebSockets with 1012 and the clients reconnect through nginx to another
# replica, resuming with `since`.
set -euo pipefail
cd "$(dirname "$0")"

service="${1:-api}"
health_timeout="${HEALTH_TIMEOUT:-180}"   # seconds for a new replica to turn healthy
stop_timeout="${STOP_TIMEOUT:-30}"        # seconds of drain before SIGKILL
dns_settle="${DNS_SETTLE:-6}"             # > the proxy's resolver valid= (5s)

running() { docker compose ps -q "$service" | sort; }

mapfile -t old < <(running)
count=${#old[@]}
if [ "$count" -eq 0 ]; then
  echo "rolling-restart: no running $service containers; use: docker compose up -d" >&2
  exit 1
fi
echo "rolling-restart: replacing $count $service container(s)"

for id in "${old[@]}"; do
  before="$(running)"
  docker compose up -d --no-deps --no-recreate --scale "$service=$((count + 1))" "$service"
  mapfile -t added < <(comm -13 <(printf '%s\n' "$before") <(running))
  if [ "${#added[@]}" -eq 0 ]; then
    echo "rolling-restart: compose started no new $service container" >&2
    exit 1
  fi
  for new in "${added[@]}"; do
    deadline=$((SECONDS + health_timeout))
    while :; do
      status="$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$new")"
      case "$status" in
        healthy|none) break ;;
      esac
      if [ "$SECONDS" -ge "$deadline" ]; then
        echo "rolling-restart: $new is $status after ${health_timeout}s; old containers left running" >&2
        exit 1
      fi
      sleep 2
    done
    echo "rolling-restart: ${new:0:12} is healthy"
  done
  sleep "$dns_settle"
  echo "rolling-restart: draining ${id:0:12}"
  docker stop --time "$stop_timeout" "$id" > /dev/null
  docker rm "$id" > /dev/null
done
echo "rolling-restart: done; $service now runs:"
docker compose ps "$service"
