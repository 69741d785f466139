# Sourced by start.sh and test.sh: dependencies and build, each only when out of date.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[ferry] installing dependencies (npm ci)…"
  npm ci --no-audit --no-fund
fi
echo "[ferry] building…"
npx tsc -p tsconfig.build.json
