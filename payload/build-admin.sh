#!/usr/bin/env bash
# Build Payload's admin (the Next.js app in src/app/(payload)) into .next/, unless the sources
# are unchanged since the last build. The key is a hash of src/, the lockfile, the Next/TS
# configs and this script:
# - .next/.source-sha256 holds the key of the build in .next/ (nothing to do when it matches);
# - builds are also kept by key in PAYLOAD_ADMIN_BUILD_CACHE (default ~/.cache/distribution/
#   payload-admin, the newest three, ~45 MB each), so another checkout of the same sources on
#   this machine (a CI clone, a worktree) unpacks one instead of building.
# Next's own compiler cache (.next/cache) stays between builds, which speeds up a rebuild.
set -euo pipefail
cd "$(dirname "$0")"
./install.sh
stamp=.next/.source-sha256
wanted=$(
  { find src -type f ! -name importMap.js -print0 | sort -z | xargs -0 sha256sum
    sha256sum package-lock.json next.config.mjs tsconfig.json build-admin.sh; } | sha256sum | cut -d' ' -f1
)
if [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
  echo "Payload admin build is up to date (.next/)"
  exit 0
fi
cache_dir=${PAYLOAD_ADMIN_BUILD_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/distribution/payload-admin}
cached=$cache_dir/$wanted.tar
started=$SECONDS
if [ -f "$cached" ]; then
  find .next -mindepth 1 -maxdepth 1 ! -name cache -exec rm -rf {} + 2>/dev/null || true
  mkdir -p .next && tar -xf "$cached" -C .next
  echo "$wanted" >"$stamp"
  echo "Payload admin build unpacked from $cached in $((SECONDS - started)) s"
  exit 0
fi
rm -f "$stamp"
export NODE_OPTIONS="--no-deprecation ${NODE_OPTIONS:-}" NEXT_TELEMETRY_DISABLED=1
node_modules/.bin/payload generate:importmap >/dev/null  # src/app/(payload)/admin/importMap.js from the config
node_modules/.bin/next build >.next-build.log 2>&1 || { cat .next-build.log; exit 1; }
echo "$wanted" >"$stamp"
# The cache is an optimisation: a failure to store the build there leaves the build itself in place.
if mkdir -p "$cache_dir" && tar -cf "$cached.$$" --exclude=./cache -C .next . && mv "$cached.$$" "$cached"; then
  ls -t "$cache_dir"/*.tar | tail -n +4 | xargs -r rm -f
else
  rm -f "$cached.$$"
  echo "warning: could not keep the build in $cache_dir" >&2
fi
echo "Payload admin built in $((SECONDS - started)) s (.next/, log in .next-build.log)"
