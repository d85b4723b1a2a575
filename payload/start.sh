#!/usr/bin/env bash
# Install and compile if needed, create the service and admin users and serve PayloadCMS's REST API in the
# foreground on 127.0.0.1:$PORT (default 3010). Prints "PayloadCMS ready at <url>" once it answers.
#
# Without PAYLOAD_SECRET it uses the one kept in data/.secret (git-ignored, mode 600), made on the first start.
#
#   start.sh --admin   also builds (when sources changed) and serves Payload's admin, the standard
#                      Next.js app, on $PAYLOAD_ADMIN_PORT (default 3011): "Payload admin ready at <url>/admin"
set -euo pipefail
cd "$(dirname "$0")"
admin=false
for arg in "$@"; do
  case $arg in
    --admin) admin=true ;;
    *) echo "usage: $0 [--admin]" >&2; exit 2 ;;
  esac
done
./install.sh
mkdir -p data
if [ -z "${PAYLOAD_SECRET:-}" ]; then
  if [ ! -s data/.secret ]; then
    # Written aside, then moved without overwriting: two first starts at once keep one secret.
    staged=$(umask 077 && mktemp data/.secret.XXXXXX)
    od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$staged"
    mv -n "$staged" data/.secret
    rm -f "$staged"
  fi
  PAYLOAD_SECRET=$(cat data/.secret)
  export PAYLOAD_SECRET
fi
# Absolute, so that both servers (and Next's bundled copy of the config) find the same files.
export DATABASE_URI=${DATABASE_URI:-file:$PWD/data/payload.db}
export MEDIA_DIR=${MEDIA_DIR:-$PWD/data/media}
# The server compiled (build-server.sh) and run by node itself, one process: under tsx it took
# ~130 MiB more at rest, and tsx's CLI, a second process relaying signals, killed the server
# before its own handler ran on a busy machine (exit 130/143 instead of a clean stop).
./build-server.sh
server=(node build/server.mjs)
if ! $admin; then
  exec "${server[@]}"
fi

./build-admin.sh
host=${HOST:-127.0.0.1}
rest_port=${PORT:-${PAYLOAD_PORT:-3010}}
admin_port=${PAYLOAD_ADMIN_PORT:-3011}
answers() { (exec 3<>"/dev/tcp/$host/$1") 2>/dev/null; }
pids=()
trap 'trap - EXIT INT TERM; kill "${pids[@]}" 2>/dev/null; wait' EXIT INT TERM
# The REST server first: it creates the schema and seeds the users the admin needs.
"${server[@]}" & pids+=($!)
until answers "$rest_port"; do kill -0 "${pids[0]}" 2>/dev/null || exit 1; sleep 0.2; done
NEXT_TELEMETRY_DISABLED=1 node_modules/.bin/next start -H "$host" -p "$admin_port" & pids+=($!)
until answers "$admin_port"; do kill -0 "${pids[1]}" 2>/dev/null || exit 1; sleep 0.2; done
echo "Payload admin ready at http://$host:$admin_port/admin"
wait -n "${pids[@]}"
