#!/usr/bin/env bash
# The main job: set up (idempotent), then run beamsync on the default input, or on the bundled
# demo clip and demo show when there is no sound card. Extra arguments go to `beamsync run`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
exec "$ROOT/.venv/bin/beamsync" run "$@"
