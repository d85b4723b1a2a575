#!/usr/bin/env bash
# Build Payload's admin (the Next.js app in src/app/(payload)) into .next/, unless the sources
# are unchanged since the last build: the hash of src/, the lockfile and the Next/TS configs is
# kept in .next/.source-sha256. Prints the build time.
set -euo pipefail
cd "$(dirname "$0")"
./install.sh
stamp=.next/.source-sha256
wanted=$(
  { find src -type f ! -name importMap.js -print0 | sort -z | xargs -0 sha256sum
    sha256sum package-lock.json next.config.mjs tsconfig.json; } | sha256sum | cut -d' ' -f1
)
if [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
  echo "Payload admin build is up to date (.next/)"
  exit 0
fi
started=$SECONDS
export NODE_OPTIONS="--no-deprecation ${NODE_OPTIONS:-}" NEXT_TELEMETRY_DISABLED=1
node_modules/.bin/payload generate:importmap >/dev/null
rm -rf .next
node_modules/.bin/next build >.next-build.log 2>&1 || { cat .next-build.log; exit 1; }
echo "$wanted" >"$stamp"
echo "Payload admin built in $((SECONDS - started)) s (.next/, log in .next-build.log)"
