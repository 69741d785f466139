#!/usr/bin/env bash
# npm start: install and build if needed, then run the stack (scripts/start.ts). Arguments pass through.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/prepare.sh
exec node dist/scripts/start.js "$@"
