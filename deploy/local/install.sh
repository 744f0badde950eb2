#!/usr/bin/env bash
# Installs the pinned local dependencies (Azurite) once; a no-op when they are present.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v node >/dev/null || { echo "Node.js is required (https://nodejs.org); Azurite runs on it" >&2; exit 1; }
if [ ! -f "$here/node_modules/azurite/dist/src/table/main.js" ]; then
  echo "Installing Azurite (pinned in deploy/local/package-lock.json)..." >&2
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
