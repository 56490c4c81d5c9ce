#!/usr/bin/env bash
# Back up the monitoring stack while it runs, each part with its own online mechanism
# (docs/operations.md, "Backup"):
#   prometheus  a TSDB snapshot through the admin API (hard links, consistent), copied out
#   grafana     grafana.db through SQLite's online backup
#   bridge      the bridge's database: SQLite online backup, or pg_dump for PostgreSQL
#   silences    Alertmanager's active and pending silences (API v2), as JSON
#
# Usage: scripts/backup.sh [COMPONENT...]        (default: all four)
# Writes BACKUP_DIR/<UTC timestamp>/ and keeps the newest BACKUP_KEEP backups.
#
# Run on the monitoring host as root (it reads the Docker volumes). Every location can be
# overridden from the environment; the defaults fit docker-compose.yml:
#   BACKUP_DIR            ./backup (ignored by git)
#   BACKUP_KEEP           7
#   COMPOSE_PROJECT       dgx-spark-monitoring (volume names are <project>_<volume>)
#   PROMETHEUS_URL        http://127.0.0.1:9090     PROMETHEUS_DATA_DIR  its volume
#   ALERTMANAGER_URL      http://127.0.0.1:9093
#   GRAFANA_DATA_DIR      the grafana_data volume
#   BRIDGE_DATABASE_URL   sqlite:///<bridge_data volume>/bridge.db, or postgresql[+psycopg]://...
# Needs: curl, jq; sqlite3 for SQLite files; pg_dump for PostgreSQL.
set -euo pipefail
PROG=backup
# shellcheck source=scripts/backup-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/backup-common.sh"

sqlite_backup() {
  # SQLite's online backup: consistent while the owner keeps writing.
  local source=$1 target=$2
  [ -f "$source" ] || die "$source does not exist"
  sqlite3 "$source" ".timeout 10000" ".backup '$target'"
  [ "$(sqlite3 "$target" 'PRAGMA integrity_check;')" = "ok" ] || die "$target fails integrity_check"
}

backup_prometheus() {
  local url=${PROMETHEUS_URL:-http://127.0.0.1:9090}
  local data=${PROMETHEUS_DATA_DIR:-$(volume_dir prometheus_data)}
  local name
  name=$(curl -fsS --max-time "$CURL_TIMEOUT_S" -X POST "$url/api/v1/admin/tsdb/snapshot" \
    | jq -er '.data.name') || die "snapshot failed: is --web.enable-admin-api set on $url?"
  cp -a "$data/snapshots/$name" "$dest/prometheus"
  # Snapshots are hard links into the live TSDB: remove it so deleted blocks free their space.
  rm -rf "${data:?}/snapshots/$name"
  echo "prometheus: snapshot $name"
}

backup_grafana() {
  local data=${GRAFANA_DATA_DIR:-$(volume_dir grafana_data)}
  sqlite_backup "$data/grafana.db" "$dest/grafana.db"
  echo "grafana: grafana.db"
}

backup_bridge() {
  local url=${BRIDGE_DATABASE_URL:-sqlite:///$(volume_dir bridge_data)/bridge.db}
  case $url in
    sqlite:///*)
      sqlite_backup "${url#sqlite:///}" "$dest/bridge.db"
      echo "bridge: bridge.db (SQLite)"
      ;;
    postgresql*://*)
      need pg_dump postgresql-client
      pg_dump --format=custom --no-owner --file="$dest/bridge.pgdump" \
        --dbname="$(libpq_url "$url")"
      echo "bridge: bridge.pgdump (PostgreSQL)"
      ;;
    *) die "BRIDGE_DATABASE_URL: only sqlite:/// and postgresql:// are supported" ;;
  esac
}

backup_silences() {
  local url=${ALERTMANAGER_URL:-http://127.0.0.1:9093}
  # Expired silences are history, not state: only what still mutes or will mute.
  curl -fsS --max-time "$CURL_TIMEOUT_S" "$url/api/v2/silences" \
    | jq '[.[] | select(.status.state != "expired")]' >"$dest/silences.json" \
    || die "cannot read silences from $url"
  echo "silences: $(jq length "$dest/silences.json") active or pending"
}

main() {
  need curl curl
  need jq jq
  local components=("$@")
  [ "${#components[@]}" -gt 0 ] || components=(prometheus grafana bridge silences)
  for component in "${components[@]}"; do
    case $component in
      prometheus | grafana | silences) ;;
      bridge)
        case ${BRIDGE_DATABASE_URL:-sqlite} in postgresql*) ;; *) need sqlite3 sqlite3 ;; esac
        ;;
      *) die "unknown component $component (prometheus grafana bridge silences)" ;;
    esac
  done
  [[ " ${components[*]} " == *" grafana "* ]] && need sqlite3 sqlite3

  local root=${BACKUP_DIR:-./backup}
  dest="$root/$(date -u +%Y%m%dT%H%M%SZ)"
  mkdir -p "$dest"
  # The bridge database and the silences are sensitive: no other users.
  chmod 700 "$root" "$dest"
  for component in "${components[@]}"; do
    "backup_$component"
  done
  printf '%s\n' "${components[@]}" >"$dest/COMPONENTS"

  # Keep the newest BACKUP_KEEP complete backups (names sort by time).
  local keep=${BACKUP_KEEP:-7} old
  while IFS= read -r old; do
    rm -rf "${old:?}"
  done < <(find "$root" -mindepth 2 -maxdepth 2 -name COMPONENTS -printf '%h\n' | sort -r \
    | tail -n +"$((keep + 1))")
  echo "backup: $dest"
}

dest=""
main "$@"
