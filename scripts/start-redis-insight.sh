#!/usr/bin/env bash
# Start or stop the Redis Insight web UI (docker-compose.yml service
# `redis-insight`) on http://127.0.0.1:${REDIS_INSIGHT_PORT:-8001}.
#
#   scripts/start-redis-insight.sh {start|stop}
#
# Redis Insight only ships here as a container image, so this needs a Docker
# engine; without one it explains the alternatives and exits 2. It never
# downloads anything by itself.
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd -- "$SCRIPT_DIR/.." && pwd)"
INSIGHT_PORT=${REDIS_INSIGHT_PORT:-8001}

log() { printf 'start-redis-insight: %s\n' "$*"; }
err() { printf 'start-redis-insight: %s\n' "$*" >&2; }

usage() {
  err "usage: $0 {start|stop}"
  exit 64
}

with_timeout() {
  local secs=$1
  shift
  if command -v timeout >/dev/null 2>&1; then
    timeout "$secs" "$@"
  else
    "$@"
  fi
}

compose_cmd() {
  if docker compose version >/dev/null 2>&1; then
    echo "docker compose"
  elif command -v docker-compose >/dev/null 2>&1; then
    echo "docker-compose"
  else
    return 1
  fi
}

docker_available() {
  command -v docker >/dev/null 2>&1 || return 1
  # A docker client without a daemon is common; ask the engine itself.
  with_timeout 5 docker info >/dev/null 2>&1 || return 1
  compose_cmd >/dev/null
}

compose() {
  local -a cmd
  read -r -a cmd <<<"$(compose_cmd)"
  (cd "$REPO_ROOT" && REDIS_INSIGHT_PORT=$INSIGHT_PORT "${cmd[@]}" "$@")
}

no_docker() {
  cat >&2 <<EOF
start-redis-insight: Redis Insight needs a Docker engine, and none answers here.
  - Install/start Docker, then run: $0 start
  - Or use the Redis Insight desktop app: https://redis.io/insight/
    and connect it to your Redis (default 127.0.0.1:6379).
The job queue itself does not need Redis Insight.
EOF
  exit 2
}

[[ $# -eq 1 ]] || usage
case $1 in
  start)
    docker_available || no_docker
    # depends_on makes compose start (and wait for) the redis service too.
    compose up -d redis-insight
    log "Redis Insight: http://127.0.0.1:$INSIGHT_PORT"
    log "add a database with host 'redis', port 6379 (the compose network name)"
    ;;
  stop)
    docker_available || no_docker
    compose stop redis-insight
    log "stopped (the redis service keeps running; stop it with scripts/start-redis.sh stop)"
    ;;
  *) usage ;;
esac
