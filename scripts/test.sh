#!/usr/bin/env bash
# The test suite: set up (idempotent), then run pytest. The tests start their own JACK dummy
# server, OLA daemon and network namespaces where they need them. Extra arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
exec .venv/bin/python -m pytest "$@"
