#!/usr/bin/env bash
# Sets up everything the tests need and runs lint, type checks and the test suite.
# Usage: scripts/test.sh [pytest arguments]   (default: -m 'not slow')
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$REPO_ROOT"

# A PostgreSQL server for the tests that run against both databases. This machine kind runs
# one on 127.0.0.1:5432 with trust auth; a fresh machine gets Debian's, with a test role.
pg_ok() {
  "$VENV/bin/python" - "$1" <<'PY' >/dev/null 2>&1
import sys, psycopg
psycopg.connect(sys.argv[1], connect_timeout=3).close()
PY
}
PG_URL="${NFCH_TEST_PG_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
if ! pg_ok "$PG_URL"; then
  PG_URL="postgresql://nfch_test:nfch_test@127.0.0.1:5432/postgres"
  if ! pg_ok "$PG_URL"; then
    echo "test: setting up a local PostgreSQL with a test role"
    install_apt_packages postgresql
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | tail -n1)" main start \
      2>/dev/null || true
    as_root su postgres -c "psql -q -c \"DO \\\$\\\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='nfch_test') THEN CREATE ROLE nfch_test LOGIN CREATEDB PASSWORD 'nfch_test'; END IF; END \\\$\\\$;\""
  fi
fi
export NFCH_TEST_PG_URL="$PG_URL"
export NFCH_REQUIRE_POSTGRES=1

echo "test: ruff"
ruff check .
ruff format --check .
echo "test: mypy"
mypy
echo "test: pytest"
# Long soak variants are marked slow and run by hand: scripts/test.sh -m slow
if [ "$#" -eq 0 ]; then set -- -m "not slow"; fi
python -m pytest "$@"
