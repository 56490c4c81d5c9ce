#!/usr/bin/env bash
# Pre-flight before `docker compose up`: checks .env, the secret files and every
# configuration file the stack reads, with the same programs the pinned images contain.
# Installs nothing on the host that could take the stack's ports: promtool, amtool and
# caddy run from the images (Docker is needed for the stack anyway); the bridge's own
# check runs from this repository's .venv (created by scripts/setup.sh when missing).
#
# Usage: bash scripts/preflight.sh            (from anywhere; exit 1 when a check fails)
#   PREFLIGHT_TOOLS=docker   use the images (default when a Docker engine answers)
#   PREFLIGHT_TOOLS=local    use promtool/amtool/caddy on PATH or in .venv (CI, no Docker)
set -euo pipefail
cd "$(dirname "$0")/.."

FAILED=0
ok() { printf 'ok    %s\n' "$*"; }
fail() {
  printf 'FAIL  %s\n' "$*" >&2
  FAILED=$((FAILED + 1))
}

image_of() {
  # The pinned image of a compose service, e.g. prom/prometheus:v3.5.0.
  awk -v service="  $1:" '$0 == service { found = 1; next }
    found && $1 == "image:" { print $2; exit }' docker-compose.yml
}

mode=${PREFLIGHT_TOOLS:-}
if [ -z "$mode" ]; then
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    mode=docker
  else
    mode=local
  fi
fi

local_path() {
  if command -v "$1" >/dev/null 2>&1; then
    command -v "$1"
  elif [ -x ".venv/bin/$1" ]; then
    echo "$PWD/.venv/bin/$1"
  else
    echo "$1 not found: run with a Docker engine, or PREFLIGHT_TOOLS=local with $1 on PATH" >&2
    return 127
  fi
}

# A tool from the pinned image (docker) or from this machine (local). Environment for it:
# TOOL_ENV (NAME=value words).
TOOL_ENV=()
tool() {
  local name=$1 service=$2 path pair
  shift 2
  if [ "$mode" = docker ]; then
    local flags=()
    for pair in "${TOOL_ENV[@]}"; do flags+=(-e "$pair"); done
    docker run --rm -v "$PWD:/repo:ro" -w /repo "${flags[@]}" --entrypoint "$name" \
      "$(image_of "$service")" "$@"
  else
    path=$(local_path "$name") || return 127
    env "${TOOL_ENV[@]}" "$path" "$@"
  fi
}

check() {
  # check "what" command...: run it quietly, show its output only when it fails.
  local what=$1 output
  shift
  if output=$("$@" 2>&1); then
    ok "$what"
  else
    fail "$what"
    printf '%s\n' "$output" | sed 's/^/      /' >&2
  fi
}

# --- .env -----------------------------------------------------------------------------
env_value() { [ ! -f .env ] || sed -n "s/^$1=//p" .env | tail -n 1; }

if [ ! -f .env ]; then
  fail ".env missing: cp .env.example .env, then edit it"
else
  # Variables compose requires: ${NAME:?message}.
  while read -r name; do
    if [ -n "$(env_value "$name")" ]; then ok ".env sets $name"; else fail ".env: $name is empty"; fi
  done < <(sed -n 's/.*[$][{]\([A-Z_]*\):[?].*/\1/p' docker-compose.yml | sort -u)
  # example.com / example.internal are the documentation's placeholders (RFC 2606).
  placeholders=$(grep -E '^[A-Z_]+=.*example\.' .env | cut -d= -f1 | paste -sd ' ' || true)
  if [ -n "$placeholders" ]; then
    fail ".env still has the example values of: $placeholders"
  else
    ok ".env has no example values left"
  fi
fi

# --- secrets --------------------------------------------------------------------------
while read -r file; do
  if [ -s "$file" ]; then ok "$file exists"; else fail "$file missing or empty (secrets/README.md)"; fi
done < <(sed -n 's#^ *file: \./\(secrets/.*\)#\1#p' docker-compose.yml)
if [ -s secrets/proxy-users ]; then
  bcrypt_line='^[^[:space:]]+ [$]2[aby][$][0-9]{2}[$][^[:space:]]{53}$'
  if grep -vE '^[[:space:]]*(#|$)' secrets/proxy-users | grep -qvE "$bcrypt_line"; then
    fail "secrets/proxy-users: every line must be 'user bcrypt-hash' (caddy hash-password)"
  fi
fi

# The bridge's own start-up check (it refuses placeholder keys); Alertmanager's direct
# PagerDuty route reads the same file, so it is checked even when the bridge runs dry.
if [ ! -x .venv/bin/alert-bridge ]; then
  bash scripts/setup.sh
fi
if [ -s secrets/pagerduty-routing-key ]; then
  key_check=(env -i PATH="$PATH" BRIDGE_DATABASE_URL=sqlite:///:memory:
    BRIDGE_PAGERDUTY_ROUTING_KEY_FILE=secrets/pagerduty-routing-key
    .venv/bin/alert-bridge check-config)
  if [ -f .env ] && grep -qx 'BRIDGE_PAGERDUTY_ROUTING_KEY_FILE=' .env; then
    # PagerDuty deliberately off (dry-run): only Alertmanager's direct route is affected.
    if ! "${key_check[@]}" >/dev/null 2>&1; then
      echo "warn  PagerDuty is in dry-run and secrets/pagerduty-routing-key is no real key:" \
        "Alertmanager's direct route fails (AlertmanagerPagerDutyFailing fires)"
    fi
  else
    check "secrets/pagerduty-routing-key is a usable PagerDuty key (alert-bridge check-config)" \
      "${key_check[@]}"
  fi
fi

# --- configuration files, with the stack's own programs ---------------------------------
check "prometheus.yml and rules (promtool check config)" \
  tool promtool prometheus check config prometheus/prometheus.yml
# shellcheck disable=SC2046 # one argument per test file
check "rule unit tests (promtool test rules)" \
  tool promtool prometheus test rules $(ls prometheus/rules/tests/*.yml)
check "alertmanager.yml (amtool check-config)" \
  tool amtool alertmanager check-config alertmanager/alertmanager.yml
while read -r expected labels; do
  # shellcheck disable=SC2086 # labels are separate arguments
  check "route: $labels -> $expected" tool amtool alertmanager config routes test \
    --config.file=alertmanager/alertmanager.yml --verify.receivers="$expected" $labels
done < <(grep -vE '^\s*(#|$)' alertmanager/tests/routes.txt)

tls=$(env_value PROXY_TLS)
users=$([ "$mode" = docker ] && echo /repo || echo "$PWD")/secrets/proxy-users
TOOL_ENV=(
  "MONITORING_HOST=$(env_value MONITORING_HOST)" "PROXY_TLS=${tls:-internal}"
  "HEARTBEAT_ORIGIN=$(env_value HEARTBEAT_ORIGIN)" "HEARTBEAT_PATH=$(env_value HEARTBEAT_PATH)"
  "PROXY_USERS_FILE=$users" "HOME=${TMPDIR:-/tmp}" "XDG_DATA_HOME=${TMPDIR:-/tmp}"
)
check "proxy/Caddyfile (caddy validate)" \
  tool caddy proxy validate --config proxy/Caddyfile --adapter caddyfile
TOOL_ENV=()

if command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
  check "docker-compose.yml with .env (docker compose config)" docker compose config --quiet
else
  echo "skip  docker compose config (no compose plugin here)"
fi

if [ "$FAILED" -gt 0 ]; then
  echo "preflight: $FAILED check(s) failed" >&2
  exit 1
fi
echo "preflight: all checks passed ($mode tools)"
