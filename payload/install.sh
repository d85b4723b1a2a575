#!/usr/bin/env bash
# Install the PayloadCMS dependencies from package-lock.json, only when they changed.
set -euo pipefail
cd "$(dirname "$0")"
stamp=node_modules/.lock-sha256
wanted=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$wanted" > "$stamp"
fi
