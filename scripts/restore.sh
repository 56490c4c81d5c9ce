#!/usr/bin/env bash
# Restore a backup made by scripts/backup.sh (docs/operations.md, "Restore").
#
# Usage: scripts/restore.sh BACKUP [COMPONENT...]   (default: what the backup holds)
#   BACKUP is a folder BACKUP_DIR/<timestamp>/ written by backup.sh.
#
# prometheus, grafana and bridge replace data files, so what owns them must be stopped
# first (`docker compose stop prometheus grafana alert-bridge`); the script checks and
# refuses otherwise. Restored files keep the owner of the file they replace, or of the
# folder they go into (the containers' users: Prometheus nobody, Grafana 472, the bridge
# 10001).
# silences are posted to a running Alertmanager (`docker compose up -d alertmanager`);
# silences that have ended since the backup are skipped.
#
# Same environment variables as backup.sh, plus BRIDGE_URL and GRAFANA_URL (defaults
# http://127.0.0.1:9095, http://127.0.0.1:3001) for the "is it stopped" checks.
set -euo pipefail
PROG=restore
# shellcheck source=scripts/backup-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/backup-common.sh"

must_be_stopped() {
  # A live process would keep writing to (or hold open) the files being replaced.
  local name=$1 url=$2 service=$3
  if curl -fsS --max-time 5 -o /dev/null "$url"; then
    die "$name answers at $url: stop it first (docker compose stop $service)"
  fi
}

replace_file() {
  # Copy $1 over $2 keeping $2's owner (or, when $2 is gone, its folder's): the container
  # user must still be able to write it. Readable only by that owner.
  local source=$1 target=$2 reference
  reference=$target
  [ -e "$reference" ] || reference=$(dirname "$target")
  install -m 600 -o "$(stat -c %u "$reference")" -g "$(stat -c %g "$reference")" \
    "$source" "$target"
}

restore_prometheus() {
  local data=${PROMETHEUS_DATA_DIR:-$(volume_dir prometheus_data)}
  must_be_stopped Prometheus "${PROMETHEUS_URL:-http://127.0.0.1:9090}/-/healthy" prometheus
  [ -d "$backup/prometheus" ] || die "$backup has no prometheus snapshot"
  find "$data" -mindepth 1 -delete
  cp -a "$backup/prometheus/." "$data/"
  chown -R --reference="$data" "$data"
  echo "prometheus: restored into $data"
}

restore_grafana() {
  local data=${GRAFANA_DATA_DIR:-$(volume_dir grafana_data)}
  must_be_stopped Grafana "${GRAFANA_URL:-http://127.0.0.1:3001}/api/health" grafana
  rm -f "$data/grafana.db-journal" "$data/grafana.db-wal" "$data/grafana.db-shm"
  replace_file "$backup/grafana.db" "$data/grafana.db"
  echo "grafana: restored $data/grafana.db"
}

restore_bridge() {
  local url=${BRIDGE_DATABASE_URL:-sqlite:///$(volume_dir bridge_data)/bridge.db}
  must_be_stopped "The alert bridge" "${BRIDGE_URL:-http://127.0.0.1:9095}/healthz" alert-bridge
  case $url in
    sqlite:///*)
      local file=${url#sqlite:///}
      [ -f "$backup/bridge.db" ] || die "$backup has no bridge.db (backed up from PostgreSQL?)"
      # A WAL left from the old database would be replayed onto the restored one.
      rm -f "$file-wal" "$file-shm"
      replace_file "$backup/bridge.db" "$file"
      echo "bridge: restored $file"
      ;;
    postgresql*://*)
      need pg_restore postgresql-client
      [ -f "$backup/bridge.pgdump" ] || die "$backup has no bridge.pgdump (backed up from SQLite?)"
      pg_restore --clean --if-exists --no-owner --single-transaction \
        --dbname="$(libpq_url "$url")" "$backup/bridge.pgdump"
      echo "bridge: restored into PostgreSQL"
      ;;
    *) die "BRIDGE_DATABASE_URL: only sqlite:/// and postgresql:// are supported" ;;
  esac
}

restore_silences() {
  local url=${ALERTMANAGER_URL:-http://127.0.0.1:9093} now silence restored=0
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  # New silences with the old matchers, times and comment; Alertmanager gives new ids.
  while IFS= read -r silence; do
    curl -fsS --max-time "$CURL_TIMEOUT_S" -o /dev/null -X POST \
      -H 'Content-Type: application/json' --data "$silence" "$url/api/v2/silences" \
      || die "Alertmanager at $url refused a silence: $silence"
    restored=$((restored + 1))
  done < <(jq -c --arg now "$now" \
    '.[] | select(.endsAt > $now) | {matchers, startsAt, endsAt, createdBy, comment}' \
    "$backup/silences.json")
  echo "silences: $restored restored"
}

main() {
  [ $# -ge 1 ] || die "usage: restore.sh BACKUP [prometheus grafana bridge silences]"
  backup=${1%/}
  shift
  [ -f "$backup/COMPONENTS" ] || die "$backup is not a backup made by backup.sh"
  need curl curl
  need jq jq
  local components=("$@")
  if [ "${#components[@]}" -eq 0 ]; then
    mapfile -t components <"$backup/COMPONENTS"
  fi
  for component in "${components[@]}"; do
    grep -qx "$component" "$backup/COMPONENTS" || die "$backup holds no $component"
  done
  for component in "${components[@]}"; do
    "restore_$component"
  done
}

backup=""
main "$@"
