#!/usr/bin/env bash
# Set up everything the test suite needs and run it: lint, types, tests.
# Real parts: Prometheus, Alertmanager and promtool/amtool from Debian's
# packages (the machine's, and sid's unpacked by scripts/fetch-peers.sh), a local
# PostgreSQL, SQLite. Only PagerDuty and Slack are replicas.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

bash scripts/setup.sh --dev

# Debian packages the tests drive for real.
need=()
# chromium (+ its driver): the web console's browser tests (tests/browser).
# sqlite3, jq and curl: scripts/backup.sh and restore.sh, run by tests/integration/test_backup_restore.py.
for pkg in prometheus prometheus-alertmanager shellcheck postgresql chromium chromium-driver sqlite3 jq curl; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
  echo "test: installing Debian packages: ${need[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# The Debian prometheus package starts its own services; tests start their own
# processes on free ports, so those are left alone.

# PostgreSQL: start the cluster if it is down, and make a test database that
# the current user reaches over the local socket (peer or trust auth).
if [ -z "${BRIDGE_TEST_POSTGRES_URL:-}" ]; then
  if command -v pg_lsclusters >/dev/null; then
    pg_lsclusters --no-header | while read -r ver name _port status _rest; do
      if [ "$status" != "online" ]; then
        as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start || true
      fi
    done
    user="$(id -un)"
    as_root runuser -u postgres -- psql -qtAc \
      "DO \$\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='${user}') THEN CREATE ROLE \"${user}\" SUPERUSER LOGIN; END IF; END\$\$;" \
      >/dev/null 2>&1 || true
    if ! psql -h /var/run/postgresql -d postgres -qtAc "SELECT 1 FROM pg_database WHERE datname='alert_bridge_test'" 2>/dev/null | grep -q 1; then
      createdb -h /var/run/postgresql alert_bridge_test 2>/dev/null || true
    fi
    export BRIDGE_TEST_POSTGRES_URL="postgresql+psycopg:///alert_bridge_test?host=/var/run/postgresql"
  fi
fi

# The newest supported Prometheus/Alertmanager (Debian sid), unpacked into var/peers/: the
# real-peer tests run on both ends of the range (tests/support/peers.py). One line; without
# network the newest end is skipped, except in CI (CI=true or BRIDGE_REQUIRE_PEERS=1).
echo "== peers"; bash scripts/fetch-peers.sh

echo "== ruff check"; .venv/bin/ruff check .
echo "== ruff format --check"; .venv/bin/ruff format --check .
echo "== mypy bridge/"; .venv/bin/mypy bridge
# The benchmarks too: their numbers go into the README, so they must at least type-check.
echo "== mypy bench/"; .venv/bin/mypy bench
echo "== pytest (branch coverage of bridge/, the serve processes the tests start included)"
mkdir -p var
set +e
.venv/bin/pytest --cov --cov-report= "$@" 2>&1 | tee var/pytest.log
rc=${PIPESTATUS[0]}
set -e
echo "== coverage by package (scripts/coverage_table.py; the README's Coverage section)"
.venv/bin/python scripts/coverage_table.py || true
# pytest's closing line last, where CI and people look for it.
grep -E '^=+ .*(passed|failed|error|no tests ran).* =+$' var/pytest.log | tail -n 1 || true
exit "$rc"
