#!/usr/bin/env bash
# Set up and run the bridge on its embedded defaults: SQLite under ./var,
# dry-run delivery unless PagerDuty/Slack credentials are in the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/alert-bridge serve "$@"
