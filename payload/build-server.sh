#!/usr/bin/env bash
# Compile the REST server (src/server.ts and what it imports from src/) into one ES module,
# build/server.mjs, unless the sources are unchanged since the last build. start.sh runs it with
# plain node: under tsx the server takes ~300 MiB at rest (tsx's loader hooks run in a thread with
# their own V8 heap, and keep the transpiled sources), compiled ~170 MiB.
#
# Packages stay imports of node_modules (--packages=external); esbuild is the one the lockfile
# already installs (for tsx). The key is a hash of src/, the lockfile, tsconfig.json and this
# script; build/.source-sha256 holds the key of the build in build/.
set -euo pipefail
cd "$(dirname "$0")"
stamp=build/.source-sha256
wanted=$(
  { find src -type f -print0 | sort -z | xargs -0 sha256sum
    sha256sum package-lock.json tsconfig.json build-server.sh; } | sha256sum | cut -d' ' -f1
)
if [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
  exit 0
fi
mkdir -p build
# Written aside and renamed: a start running at the same time (the tests start several) sees
# either the old file or the whole new one, and the stamp only after the file it describes.
staged=$(mktemp -d build/.staging.XXXXXX)
trap 'rm -rf "$staged"' EXIT
node_modules/.bin/esbuild src/server.ts --bundle --platform=node --format=esm --packages=external \
  --log-level=warning --outfile="$staged/server.mjs"
mv -f "$staged/server.mjs" build/server.mjs
echo "$wanted" >"$staged/stamp"
mv -f "$staged/stamp" "$stamp"
