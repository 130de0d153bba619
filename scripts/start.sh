#!/usr/bin/env bash
# What `npm start` runs: make sure a Redis is reachable (starting a local one
# when REDIS_URL points at this machine), build if needed, then run the API.
#
# Redis missing is not fatal: the API still starts and answers 503 on
# register until Redis becomes reachable, so it can be inspected anyway.
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd -- "$SCRIPT_DIR/.." && pwd)"
DEFAULT_REDIS_URL="redis://127.0.0.1:6379"

log() { printf 'start: %s\n' "$*"; }
err() { printf 'start: %s\n' "$*" >&2; }

with_timeout() {
  local secs=$1
  shift
  if command -v timeout >/dev/null 2>&1; then
    timeout "$secs" "$@"
  else
    "$@"
  fi
}

# Value of KEY in a dotenv file (last one wins, like dotenv). Parsed by hand:
# sourcing .env would execute whatever it contains.
dotenv_get() {
  local key=$1 file=$2 line k v found=""
  while IFS= read -r line || [[ -n $line ]]; do
    line=${line%$'\r'}
    line=${line#"${line%%[![:space:]]*}"} # trim leading blanks
    [[ -z $line || $line == \#* ]] && continue
    line=${line#export }
    [[ $line == *=* ]] || continue
    k=${line%%=*}
    k=${k%"${k##*[![:space:]]}"}
    [[ $k == "$key" ]] || continue
    v=${line#*=}
    v=${v#"${v%%[![:space:]]*}"}
    if [[ $v == \"*\"* ]]; then
      v=${v#\"}
      v=${v%%\"*}
    elif [[ $v == \'*\'* ]]; then
      v=${v#\'}
      v=${v%%\'*}
    else
      v=${v%%[[:space:]]#*} # unquoted: drop an inline " # comment"
      v=${v%"${v##*[![:space:]]}"}
    fi
    found=$v
  done <"$file"
  [[ -n $found ]] && printf '%s\n' "$found"
}

url_decode() {
  local s=${1//+/ }
  printf '%b' "${s//%/\\x}"
}

# Split redis://[user:pass@]host:port[/db] into R_HOST R_PORT R_USER R_PASS R_TLS.
parse_url() {
  local url=$1 rest hostport userinfo="" host port=""
  R_HOST=127.0.0.1 R_PORT=6379 R_USER="" R_PASS="" R_TLS=0
  [[ $url == rediss://* ]] && R_TLS=1
  rest=${url#*://}
  rest=${rest%%[/?#]*}
  hostport=$rest
  if [[ $rest == *@* ]]; then
    userinfo=${rest%@*}
    hostport=${rest##*@}
  fi
  if [[ $userinfo == *:* ]]; then
    R_USER=$(url_decode "${userinfo%%:*}")
    R_PASS=$(url_decode "${userinfo#*:}")
  elif [[ -n $userinfo ]]; then
    R_USER=$(url_decode "$userinfo")
  fi
  if [[ $hostport == \[* ]]; then # [ipv6]:port
    host=${hostport#\[}
    host=${host%%\]*}
    port=${hostport#*\]}
    port=${port#:}
  else
    host=${hostport%%:*}
    [[ $hostport == *:* ]] && port=${hostport#*:}
  fi
  R_HOST=${host:-127.0.0.1}
  R_PORT=${port:-6379}
}

# 0 when a Redis answers PING. PONG is ready; NOAUTH still means a Redis
# holds the port (wrong/missing password is the app's problem to report).
redis_answers() {
  local reply
  if command -v redis-cli >/dev/null 2>&1; then
    local -a args=(-h "$R_HOST" -p "$R_PORT")
    [[ -n $R_USER && -n $R_PASS ]] && args+=(--user "$R_USER")
    [[ $R_TLS == 1 ]] && args+=(--tls)
    # REDISCLI_AUTH instead of -u/-a keeps the password out of `ps`.
    reply=$(REDISCLI_AUTH=$R_PASS with_timeout 2 redis-cli "${args[@]}" ping 2>/dev/null | head -n 1) || true
    [[ $reply == PONG || $reply == NOAUTH* ]] || return 1
  else
    # No redis-cli: speak RESP by hand over bash's /dev/tcp, 1 s cap.
    # shellcheck disable=SC2016 # expanded by the inner bash, on purpose
    reply=$(with_timeout 1 bash -c '
      exec 3<>"/dev/tcp/$1/$2" || exit 1
      printf "PING\r\n" >&3
      IFS= read -r -t 1 line <&3 && printf "%s" "$line"
    ' _ "$R_HOST" "$R_PORT" 2>/dev/null) || true
    [[ $reply == +PONG* || $reply == -NOAUTH* ]] || return 1
  fi
  [[ $reply == *NOAUTH* ]] && err "warning: Redis at $R_HOST:$R_PORT wants a password that REDIS_URL does not give (NOAUTH)"
  return 0
}

redis_notice() {
  err "Redis is not available at $R_HOST:$R_PORT."
  if [[ $1 == local ]]; then
    err "  install it: sudo apt-get install -y redis-server | brew install redis | Docker,"
    err "  then: scripts/start-redis.sh start"
  else
    err "  check REDIS_URL and that this host can reach $R_HOST:$R_PORT"
  fi
  err "The API starts anyway; register answers 503 until Redis is reachable."
}

ensure_redis() {
  local url
  if [[ -n ${REDIS_URL:-} ]]; then
    url=$REDIS_URL
  elif [[ -f $REPO_ROOT/.env ]] && url=$(dotenv_get REDIS_URL "$REPO_ROOT/.env"); then
    :
  else
    url=$DEFAULT_REDIS_URL
  fi
  parse_url "$url"

  if redis_answers; then
    log "Redis answers at $R_HOST:$R_PORT"
    return 0
  fi
  case $R_HOST in
    127.0.0.1 | localhost | ::1)
      # Local address: we may start one. Failure is reported, not fatal.
      if REDIS_URL=$url "$SCRIPT_DIR/start-redis.sh" start; then
        return 0
      fi
      redis_notice local
      ;;
    *) redis_notice remote ;;
  esac
}

# Rebuild when dist/main.js is missing or any source file is newer.
needs_build() {
  [[ -f dist/main.js ]] || return 0
  [[ -d src ]] || return 1
  [[ -n $(find src -type f -newer dist/main.js -print -quit) ]]
}

cd "$REPO_ROOT"
ensure_redis
if needs_build; then
  log "building (nest build)"
  # --no: never let npx download a missing CLI; it is a devDependency.
  npx --no -- nest build
fi
if [[ ! -f dist/main.js ]]; then
  err "dist/main.js is missing after the build; check nest-cli.json/tsconfig.build.json"
  exit 1
fi
# exec: node replaces this shell, so SIGINT/SIGTERM reach it directly.
exec node dist/main.js "$@"
