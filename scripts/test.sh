#!/usr/bin/env bash
# npm test: install and build if needed, check lint and types, then run jest (arguments pass through).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/prepare.sh
echo "[ferry] lint…"
npx eslint .
echo "[ferry] typecheck…"
npx tsc -p tsconfig.json --noEmit
bash scripts/ensure-chromium.sh
echo "[ferry] tests…"
npx jest "$@"
