#!/usr/bin/env bash
# Install if needed, seed the service user and serve PayloadCMS's REST API in the foreground
# on 127.0.0.1:$PORT (default 3010). Prints "PayloadCMS ready at <url>" once it answers.
set -euo pipefail
cd "$(dirname "$0")"
./install.sh
mkdir -p data
exec node_modules/.bin/tsx src/server.ts
