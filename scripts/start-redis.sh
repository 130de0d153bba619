#!/usr/bin/env bash
# Start, stop or inspect a Redis for local development.
#
#   scripts/start-redis.sh {start|stop|status}
#
# Address: REDIS_URL (redis://[user:pass@]host:port[/db]) when set, else
# 127.0.0.1:${REDIS_PORT:-6379}.
#
# start prefers, in order: a Redis that already answers (left as is), the
# `redis` service of docker-compose.yml when a Docker engine answers, a local
# redis-server daemon whose files live in <repo>/.redis/. What this script
# started is recorded in .redis/mode, so `stop` only ever stops that.
#
# Exit codes: 0 ok, 1 failure (or, for status, "no Redis answers"),
# 2 no way to run Redis on this machine, 64 usage.
set -euo pipefail

# Resolve the repo root from this file so the script works from any cwd.
SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd -- "$SCRIPT_DIR/.." && pwd)"
STATE_DIR="$REPO_ROOT/.redis"
DATA_DIR="$STATE_DIR/data"
PID_FILE="$STATE_DIR/redis.pid"
LOG_FILE="$STATE_DIR/redis.log"
MODE_FILE="$STATE_DIR/mode"

log() { printf 'start-redis: %s\n' "$*"; }
err() { printf 'start-redis: %s\n' "$*" >&2; }

usage() {
  err "usage: $0 {start|stop|status}"
  exit 64
}

# Run a command with a time limit when coreutils `timeout` exists (macOS
# lacks it by default); a hung probe must not hang the whole script.
with_timeout() {
  local secs=$1
  shift
  if command -v timeout >/dev/null 2>&1; then
    timeout "$secs" "$@"
  else
    "$@"
  fi
}

# Decode %XX escapes in URL user/password parts.
url_decode() {
  local s=${1//+/ }
  printf '%b' "${s//%/\\x}"
}

# Fill REDIS_HOST/REDIS_PORT_NUM/REDIS_USER/REDIS_PASS/REDIS_TLS from
# REDIS_URL, or from REDIS_PORT when no URL is given.
parse_address() {
  REDIS_HOST=127.0.0.1
  REDIS_PORT_NUM=${REDIS_PORT:-6379}
  REDIS_USER=""
  REDIS_PASS=""
  REDIS_TLS=0
  local url=${REDIS_URL:-}
  [[ -n $url ]] || return 0

  if [[ $url != *://* ]]; then
    err "REDIS_URL must look like redis://[user:pass@]host:port[/db], got: $url"
    exit 1
  fi
  local scheme=${url%%://*} rest=${url#*://}
  case $scheme in
    redis) ;;
    rediss) REDIS_TLS=1 ;;
    *) err "unsupported REDIS_URL scheme: $scheme"; exit 1 ;;
  esac
  rest=${rest%%[/?#]*} # drop /db, query, fragment: not needed to PING

  local hostport=$rest userinfo=""
  if [[ $rest == *@* ]]; then
    userinfo=${rest%@*}
    hostport=${rest##*@}
  fi
  if [[ -n $userinfo ]]; then
    if [[ $userinfo == *:* ]]; then
      REDIS_USER=$(url_decode "${userinfo%%:*}")
      REDIS_PASS=$(url_decode "${userinfo#*:}")
    else
      REDIS_USER=$(url_decode "$userinfo")
    fi
  fi

  local host port=""
  if [[ $hostport == \[* ]]; then # [ipv6]:port
    host=${hostport#\[}
    host=${host%%\]*}
    port=${hostport#*\]}
    port=${port#:}
  else
    host=${hostport%%:*}
    [[ $hostport == *:* ]] && port=${hostport#*:}
  fi
  REDIS_HOST=${host:-127.0.0.1}
  REDIS_PORT_NUM=${port:-6379}
  if ! [[ $REDIS_PORT_NUM =~ ^[0-9]+$ ]]; then
    err "bad port in REDIS_URL: $REDIS_PORT_NUM"
    exit 1
  fi
}

is_local_host() {
  case $1 in
    127.0.0.1 | localhost | ::1) return 0 ;;
    *) return 1 ;;
  esac
}

# Print the first line redis-cli gets back for `$@` (e.g. PING) at the
# configured address. The password goes through REDISCLI_AUTH, not -a/-u,
# so it does not show up in `ps`.
redis_cmd() {
  local port=${PORT_OVERRIDE:-$REDIS_PORT_NUM}
  local -a args=(-h "$REDIS_HOST" -p "$port")
  [[ -n $REDIS_USER && -n $REDIS_PASS ]] && args+=(--user "$REDIS_USER")
  [[ $REDIS_TLS == 1 ]] && args+=(--tls)
  REDISCLI_AUTH=$REDIS_PASS with_timeout 2 redis-cli "${args[@]}" "$@" 2>/dev/null || true
}

# 0 when something speaking the Redis protocol answers PING (PONG, or an
# error such as NOAUTH/LOADING: the port is taken by a Redis either way).
redis_answers() {
  command -v redis-cli >/dev/null 2>&1 || return 1
  PING_REPLY=$(redis_cmd ping | head -n 1)
  [[ -n $PING_REPLY ]]
}

# 0 only on a clean PONG: usable right now.
redis_ready() {
  redis_answers && [[ $PING_REPLY == PONG ]]
}

# 0 when a TCP connect to host:port succeeds (bash's /dev/tcp, 1 s cap).
port_open() {
  # shellcheck disable=SC2016 # $1/$2 expand in the inner bash, on purpose
  with_timeout 1 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

docker_available() {
  command -v docker >/dev/null 2>&1 || return 1
  # `docker` may be only a client with no daemon; ask the engine itself.
  with_timeout 5 docker info >/dev/null 2>&1 || return 1
  compose_cmd >/dev/null
}

# Echo the compose command line this machine has (plugin or standalone).
compose_cmd() {
  if docker compose version >/dev/null 2>&1; then
    echo "docker compose"
  elif command -v docker-compose >/dev/null 2>&1; then
    echo "docker-compose"
  else
    return 1
  fi
}

compose() {
  local -a cmd
  read -r -a cmd <<<"$(compose_cmd)"
  # REDIS_PORT feeds the port mapping in docker-compose.yml.
  (cd "$REPO_ROOT" && REDIS_PORT=$REDIS_PORT_NUM "${cmd[@]}" "$@")
}

# Read .redis/mode (key=value lines) into STATE_MODE/STATE_PORT.
read_state() {
  STATE_MODE=""
  STATE_PORT=""
  [[ -f $MODE_FILE ]] || return 1
  local key value
  while IFS='=' read -r key value; do
    case $key in
      mode) STATE_MODE=$value ;;
      port) STATE_PORT=$value ;;
    esac
  done <"$MODE_FILE"
  [[ -n $STATE_MODE ]]
}

write_state() {
  mkdir -p "$STATE_DIR"
  printf 'mode=%s\nport=%s\n' "$1" "$2" >"$MODE_FILE"
}

clear_state() {
  rm -f "$MODE_FILE" "$PID_FILE"
}

# Alive and not a zombie (kill -0 alone succeeds on zombies, which linger
# until init reaps them).
pid_running() {
  local stat
  stat=$(ps -p "$1" -o stat= 2>/dev/null) || return 1
  [[ -n $stat && $stat != Z* ]]
}

# Pid from the pid file, only if that process is alive and is a redis-server
# (a stale pid may have been reused by something else).
local_pid() {
  [[ -f $PID_FILE ]] || return 1
  local pid
  pid=$(tr -dc '0-9' <"$PID_FILE")
  [[ -n $pid ]] && pid_running "$pid" || return 1
  ps -p "$pid" -o comm= 2>/dev/null | grep -q redis || return 1
  echo "$pid"
}

install_hint() {
  cat >&2 <<'EOF'
Redis is not installed and no Docker engine answers. Install one of:
  Debian/Ubuntu:  sudo apt-get install -y redis-server
  macOS:          brew install redis
  Docker:         install Docker, then run this script again
                  (it uses `docker compose up -d redis`)
EOF
}

# Wait up to ~5 s for the local daemon to answer PONG. Give up early when
# it has died (e.g. port taken): it writes its pid file right after binding.
wait_local_ready() {
  local end=$((SECONDS + 6)) i=0
  while ((SECONDS < end)); do
    redis_ready && return 0
    if ((i++ >= 10)) && ! local_pid >/dev/null; then
      return 1
    fi
    sleep 0.1
  done
  return 1
}

start_docker() {
  log "starting Redis with Docker (docker compose up -d redis) on 127.0.0.1:$REDIS_PORT_NUM"
  compose up -d redis
  write_state docker "$REDIS_PORT_NUM"
  # Image pull and AOF load can take a while; 30 s before giving up.
  local i health=""
  for ((i = 0; i < 60; i++)); do
    health=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' redis 2>/dev/null || true)
    if [[ $health == healthy ]] || redis_ready; then
      log "Redis is up (docker, container 'redis')"
      return 0
    fi
    sleep 0.5
  done
  err "Redis container did not become healthy (last health: ${health:-unknown}); see: docker logs redis"
  return 1
}

start_local() {
  mkdir -p "$DATA_DIR"
  rm -f "$PID_FILE"
  log "starting local redis-server on 127.0.0.1:$REDIS_PORT_NUM (files in .redis/)"
  local -a args=(
    --daemonize yes
    --bind 127.0.0.1
    --port "$REDIS_PORT_NUM"
    --dir "$DATA_DIR"
    --pidfile "$PID_FILE"
    --logfile "$LOG_FILE"
    # AOF every second: a crash loses at most ~1 s of queued jobs.
    --appendonly yes
    --appendfsync everysec
    # Queues must never be evicted silently; fail writes instead.
    --maxmemory-policy noeviction
  )
  if [[ -n $REDIS_PASS && ( -z $REDIS_USER || $REDIS_USER == default ) ]]; then
    # Match the password in REDIS_URL; fed via stdin so it stays out of `ps`.
    local pass=${REDIS_PASS//\\/\\\\}
    pass=${pass//\"/\\\"}
    printf 'requirepass "%s"\n' "$pass" | redis-server - "${args[@]}" >/dev/null
  else
    if [[ -n $REDIS_USER && $REDIS_USER != default ]]; then
      err "note: REDIS_URL names ACL user '$REDIS_USER'; the local server is started without it"
    fi
    redis-server "${args[@]}" >/dev/null
  fi
  write_state local "$REDIS_PORT_NUM"

  # Up to ~5 s: an empty data dir starts in milliseconds, a big AOF takes longer.
  if wait_local_ready; then
    log "Redis is up (local redis-server, pid $(local_pid || echo '?'), log .redis/redis.log)"
    return 0
  fi
  err "redis-server did not come up on port $REDIS_PORT_NUM; last lines of $LOG_FILE:"
  tail -n 15 "$LOG_FILE" >&2 2>/dev/null || true
  local_pid >/dev/null || clear_state
  return 1
}

cmd_start() {
  # Forget a previous local start whose process is gone (crash, reboot).
  if read_state && [[ $STATE_MODE == local ]] && ! local_pid >/dev/null; then
    clear_state
  fi

  if redis_answers; then
    local who="not started by this script" pid
    if read_state && [[ $STATE_PORT == "$REDIS_PORT_NUM" ]]; then
      if [[ $STATE_MODE == local ]] && pid=$(local_pid); then
        who="started earlier by this script, pid $pid"
      elif [[ $STATE_MODE == docker ]]; then
        who="started earlier by this script, docker"
      fi
    fi
    if [[ $PING_REPLY == PONG ]]; then
      log "Redis already answers at $REDIS_HOST:$REDIS_PORT_NUM ($who); nothing to start"
    else
      log "a Redis already answers at $REDIS_HOST:$REDIS_PORT_NUM (reply: $PING_REPLY; $who); nothing to start"
    fi
    return 0
  fi

  if ! is_local_host "$REDIS_HOST"; then
    err "no Redis answers at $REDIS_HOST:$REDIS_PORT_NUM, and that host is not local, so it cannot be started from here"
    return 1
  fi

  # Something that is not Redis holds the port: starting would only fail.
  if port_open "$REDIS_HOST" "$REDIS_PORT_NUM"; then
    err "port $REDIS_PORT_NUM on $REDIS_HOST is taken by something that does not answer like Redis; choose another REDIS_PORT"
    return 1
  fi

  # One instance at a time: .redis/ holds the files of a single server.
  if read_state && [[ $STATE_PORT != "$REDIS_PORT_NUM" ]]; then
    err "this script already started Redis ($STATE_MODE) on port $STATE_PORT; run '$0 stop' first"
    return 1
  fi

  if docker_available; then
    start_docker
  elif command -v redis-server >/dev/null 2>&1; then
    start_local
  else
    install_hint
    return 2
  fi
}

cmd_stop() {
  if ! read_state; then
    if redis_answers; then
      log "Redis at $REDIS_HOST:$REDIS_PORT_NUM was not started by this script; leaving it alone"
    else
      log "this script has not started a Redis; nothing to stop"
    fi
    return 0
  fi

  case $STATE_MODE in
    docker)
      if ! docker_available; then
        err "Redis was started with Docker, but no Docker engine answers now; cannot stop it"
        return 1
      fi
      log "stopping Docker Redis (docker compose stop redis)"
      compose stop redis
      clear_state
      ;;
    local)
      local pid
      if ! pid=$(local_pid); then
        log "local redis-server (port $STATE_PORT) is not running any more; cleaning up"
        clear_state
        return 0
      fi
      # Only SHUTDOWN through the port if the server there is our pid; the
      # port might meanwhile belong to another Redis.
      local info_pid
      info_pid=$(PORT_OVERRIDE=$STATE_PORT REDIS_HOST=127.0.0.1 redis_cmd info server |
        tr -d '\r' | sed -n 's/^process_id://p')
      log "stopping local redis-server (pid $pid, port $STATE_PORT)"
      if [[ $info_pid == "$pid" ]]; then
        # Plain SHUTDOWN (not NOSAVE): flushes the AOF so queued jobs survive.
        PORT_OVERRIDE=$STATE_PORT REDIS_HOST=127.0.0.1 redis_cmd shutdown >/dev/null
      else
        # SIGTERM makes redis-server do the same clean shutdown.
        kill "$pid" 2>/dev/null || true
      fi
      local i
      for ((i = 0; i < 100; i++)); do
        pid_running "$pid" || break
        # SHUTDOWN may have been refused (e.g. auth): fall back to the pid.
        ((i == 30)) && kill "$pid" 2>/dev/null
        sleep 0.1
      done
      if pid_running "$pid"; then
        err "redis-server (pid $pid) is still running after 10 s; see $LOG_FILE"
        return 1
      fi
      clear_state
      log "stopped; data kept in .redis/data"
      ;;
    *)
      err "unknown mode '$STATE_MODE' in $MODE_FILE; remove it by hand"
      return 1
      ;;
  esac
}

cmd_status() {
  local rc=0
  if redis_answers; then
    if [[ $PING_REPLY == PONG ]]; then
      log "Redis answers at $REDIS_HOST:$REDIS_PORT_NUM"
    else
      log "a Redis answers at $REDIS_HOST:$REDIS_PORT_NUM, but PING got: $PING_REPLY"
    fi
  else
    log "no Redis answers at $REDIS_HOST:$REDIS_PORT_NUM"
    rc=1
  fi

  if read_state; then
    local pid
    case $STATE_MODE in
      local)
        if pid=$(local_pid); then
          log "started by this script: local redis-server, pid $pid, port $STATE_PORT"
        else
          log "started by this script: local redis-server on port $STATE_PORT, but it is not running (stale .redis/mode)"
        fi
        ;;
      docker) log "started by this script: docker compose service 'redis', port $STATE_PORT" ;;
      *) log "unknown mode '$STATE_MODE' in .redis/mode" ;;
    esac
  elif ((rc == 0)); then
    log "not started by this script"
  fi
  return "$rc"
}

[[ $# -eq 1 ]] || usage
parse_address
case $1 in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) usage ;;
esac
