#!/usr/bin/env bash
# Sets up everything the demo needs and starts it. Usage: scripts/demo.sh [demo options]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$REPO_ROOT"
exec nfc-hospital demo "$@"
