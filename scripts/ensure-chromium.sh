#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed for the browser SDK test (test/integration/browser*.test.ts),
# which drives it through playwright-core at /usr/bin/chromium. Idempotent: does nothing when it is
# already there, and only installs when running as root (otherwise it says what to run). A failed
# install does not stop the run; the browser test then fails and names the missing binary.
set -uo pipefail
CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
  echo "[ferry] chromium: $CHROMIUM is installed"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "[ferry] chromium: $CHROMIUM is missing and we are not root, so the browser test will fail; install it with: sudo apt-get install -y chromium" >&2
  exit 0
fi
echo "[ferry] chromium: $CHROMIUM is missing; running: apt-get update && apt-get install -y chromium"
export DEBIAN_FRONTEND=noninteractive
if apt-get update && apt-get install -y chromium; then
  echo "[ferry] chromium: installed $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
else
  echo "[ferry] chromium: installing failed (see above), so the browser test will fail" >&2
fi
exit 0
