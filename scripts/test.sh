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
results=$(mktemp)
status=0
npx jest --json --outputFile="$results" "$@" || status=$?
# One plain closing line that any CI reader understands, whatever jest printed above it. Its exit
# code is informational: jest's own status is what this script exits with.
node scripts/jestSummary.js "$results" "$status" || true
rm -f "$results"
exit "$status"
