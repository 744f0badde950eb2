#!/usr/bin/env bash
# Starts the pinned Azurite (table service only) on loopback, without telemetry, in the background.
# Usage: deploy/local/azurite.sh [port] [data-dir]   -> prints the PID; logs to <data-dir>/azurite.log
# No access log (a line per request in azurite.log costs the emulator's single thread about a sixth of its raw write
# rate); AZURITE_ACCESS_LOG=1 keeps it. AZURITE_DEBUG=<file> also writes Azurite's per-request debug log there (slow; to see which requests cost what).
# AZURITE_IN_MEMORY=1 keeps Azurite's data in memory only (no whole-database saves to disk every 5 s, which stall its
# single thread): for benchmarks that measure the engine rather than the emulator's disk format; data is lost with it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
port="${1:-10002}"
data="${2:-$here/.data/azurite}"
"$here/install.sh" >&2
mkdir -p "$data"
# Own session: a Ctrl-C in the terminal reaches the engine first; the caller stops Azurite afterwards.
setsid node ${AZURITE_NODE_FLAGS:-} "$here/node_modules/azurite/dist/src/table/main.js" \
  --tableHost 127.0.0.1 --tablePort "$port" $([ -n "${AZURITE_IN_MEMORY:-}" ] && echo --inMemoryPersistence || echo --location "$data") \
  --disableTelemetry --skipApiVersionCheck $([ -z "${AZURITE_ACCESS_LOG:-}" ] && echo --silent) ${AZURITE_DEBUG:+--debug "$AZURITE_DEBUG"} >"$data/azurite.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  if grep -q "successfully" "$data/azurite.log" 2>/dev/null; then echo "$pid"; exit 0; fi
  if ! kill -0 "$pid" 2>/dev/null; then
    if grep -q EADDRINUSE "$data/azurite.log" 2>/dev/null; then
      echo "Azurite cannot start: 127.0.0.1:$port is already in use (is deploy/local/start already running? set AZURITE_PORT for another)" >&2
    else
      cat "$data/azurite.log" >&2
    fi
    exit 1
  fi
  sleep 0.1
done
echo "Azurite did not start on 127.0.0.1:$port; see $data/azurite.log" >&2
kill "$pid" 2>/dev/null || true
exit 1
