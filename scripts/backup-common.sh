#!/usr/bin/env bash
# Shared by scripts/backup.sh and scripts/restore.sh (sourced, not run). The caller sets
# PROG (its name in messages).

# Outbound requests never hang a nightly run.
# shellcheck disable=SC2034 # read by the scripts that source this file
CURL_TIMEOUT_S=30

die() {
  echo "${PROG:-backup}: $*" >&2
  exit 1
}

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 is not installed (Debian package $2)"
}

volume_dir() {
  # The host path of a named volume of this compose project.
  need docker docker.io
  docker volume inspect -f '{{ .Mountpoint }}' "${COMPOSE_PROJECT:-dgx-spark-monitoring}_$1" \
    || die "no volume ${COMPOSE_PROJECT:-dgx-spark-monitoring}_$1; set the *_DATA_DIR variables"
}

# libpq does not know SQLAlchemy's driver suffix (postgresql+psycopg://).
libpq_url() {
  echo "postgresql://${1#*://}"
}
