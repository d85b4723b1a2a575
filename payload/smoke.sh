#!/usr/bin/env bash
# By-hand check of the REST contract the Django client relies on: starts payload/start.sh on a
# free port with a throwaway database, media folder and key file, then uploads, finds, re-uploads
# and reads back a media file and a distributionRecord with curl.
#
#   payload/smoke.sh                    # local-disk storage
#   MOTO_SERVER=/path/to/moto_server payload/smoke.sh   # S3 storage against a local moto server
#
# Needs curl, python3 and ffmpeg (else it uses tests/fixtures' MP4s). Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port
key=smoke-$RANDOM$RANDOM
passed=0 failed=0
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
check() {  # check NAME COMMAND...
  if "${@:2}" >/dev/null 2>&1; then passed=$((passed + 1)); echo "ok   $1"
  else failed=$((failed + 1)); echo "FAIL $1"; fi
}

if command -v ffmpeg >/dev/null; then
  ffmpeg -loglevel error -f lavfi -i testsrc=size=64x48:rate=10 -t 1 -pix_fmt yuv420p "$work/a.mp4"
  ffmpeg -loglevel error -f lavfi -i testsrc=size=96x64:rate=10 -t 2 -pix_fmt yuv420p "$work/b.mp4"
else  # the test fixtures
  cp ../tests/fixtures/sample.mp4 "$work/a.mp4"
  cp ../tests/fixtures/sample-v2.mp4 "$work/b.mp4"
fi

extra=()
if [ -n "${MOTO_SERVER:-}" ]; then
  s3port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  setsid "$MOTO_SERVER" -H 127.0.0.1 -p "$s3port" >/dev/null 2>&1 & pids+=($!)
  until curl -s -o /dev/null "http://127.0.0.1:$s3port/"; do sleep 0.2; done
  curl -s -X PUT -o /dev/null "http://127.0.0.1:$s3port/smoke-bucket"  # moto accepts an unsigned CreateBucket
  extra=(S3_BUCKET=smoke-bucket S3_ENDPOINT=http://127.0.0.1:$s3port S3_ACCESS_KEY_ID=test
    S3_SECRET_ACCESS_KEY=test S3_REGION=us-east-1 S3_FORCE_PATH_STYLE=true)
fi

started=$(date +%s.%N)
env PORT="$port" DATABASE_URI="file:$work/payload.db" MEDIA_DIR="$work/media" PAYLOADCMS_API_KEY="$key" \
  SERVICE_API_KEY_FILE="$work/key" "${extra[@]}" setsid ./start.sh >"$work/log" 2>&1 & pids+=($!)
until grep -q "PayloadCMS ready at" "$work/log"; do
  kill -0 "${pids[-1]}" 2>/dev/null || { cat "$work/log"; exit 1; }
  sleep 0.1
done
echo "ready in $(python3 -c "print(round($(date +%s.%N) - $started, 1))") s at $base"

auth=(-H "Authorization: users API-Key $key")
media='{"project_id":"p1","audit_log_id":"dist_1","checksum":"sha256:x","storage_path":"p1/mvp/dist_1.mp4"}'
status() { curl -s -o "$work/body" -w '%{http_code}' "$@"; }
json() { python3 -c "import json,sys; print(json.load(open('$work/body'))$1)"; }

check "POST /api/media -> 201" test "$(status "${auth[@]}" -F "file=@$work/a.mp4;filename=upload.mp4;type=video/mp4" -F "_payload=$media" "$base/api/media")" = 201
id=$(json '["doc"]["id"]'); url=$(json '["doc"]["url"]')
case $url in http*) ;; *) url=$base$url ;; esac
check "GET doc.url anonymously -> 403" test "$(curl -s -o /dev/null -w '%{http_code}' "$url")" = 403
check "GET doc.url serves the bytes to a user" sh -c "curl -sf -H 'Authorization: users API-Key $key' '$url' | cmp - '$work/a.mp4'"
if [ -n "${MOTO_SERVER:-}" ]; then
  # moto refuses anonymous reads: fetch the object with boto3 from moto's own Python.
  check "object key = storage_path" "$(dirname "$MOTO_SERVER")/python" -c "
import boto3, sys
s3 = boto3.client('s3', endpoint_url='http://127.0.0.1:$s3port', aws_access_key_id='test',
                  aws_secret_access_key='test', region_name='us-east-1')
body = s3.get_object(Bucket='smoke-bucket', Key='p1/mvp/dist_1.mp4')['Body'].read()
sys.exit(body != open('$work/a.mp4', 'rb').read())"
else
  check "file at MEDIA_DIR/storage_path" cmp "$work/media/p1/mvp/dist_1.mp4" "$work/a.mp4"
fi
check "find media by audit_log_id" test "$(curl -s -g "${auth[@]}" "$base/api/media?where[audit_log_id][equals]=dist_1&depth=0" | python3 -c 'import json,sys; print(json.load(sys.stdin)["totalDocs"])')" = 1
check "PATCH /api/media/<id> new file -> 200" test "$(status -X PATCH "${auth[@]}" -F "file=@$work/b.mp4;filename=dist_1.mp4;type=video/mp4" -F "_payload=$media" "$base/api/media/$id")" = 200
check "same url serves the new bytes" sh -c "curl -sf -H 'Authorization: users API-Key $key' '$url' | cmp - '$work/b.mp4'"
check "Range request -> 206" test "$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" -H 'Range: bytes=0-99' "$url")" = 206
check "wrong key -> 403" test "$(status -H 'Authorization: users API-Key wrong' -F "file=@$work/a.mp4;type=video/mp4" -F "_payload=$media" "$base/api/media")" = 403

record='{"project_id":"p1","audit_log_id":"dist_1","title":"T","duration_seconds":1,"checksum":"sha256:x","tags":["a","b"],"storage_path":"p1/mvp/dist_1.mp4","public_url":"'$url'","expires_at":"2030-01-01T00:00:00Z","published_at":"2026-01-01T00:00:00Z","metadata":{"k":"v"}}'
hjson=(-H 'Content-Type: application/json')
check "POST /api/distributionRecords -> 201" test "$(status "${auth[@]}" "${hjson[@]}" -d "$record" "$base/api/distributionRecords")" = 201
rid=$(json '["doc"]["id"]'); link=$(json '["doc"]["public_url"]')
check "the record's public_url serves the bytes without a key" sh -c "curl -sf '$link' | cmp - '$work/b.mp4'"
check "tags round-trip as a JSON array" test "$(json '["doc"]["tags"]')" = "['a', 'b']"
check "duplicate audit_log_id -> 400" test "$(status "${auth[@]}" "${hjson[@]}" -d "$record" "$base/api/distributionRecords")" = 400
check "PATCH record -> 200" test "$(status -X PATCH "${auth[@]}" "${hjson[@]}" -d '{"title":"T2"}' "$base/api/distributionRecords/$rid")" = 200
check "no auth -> 403" test "$(status "${hjson[@]}" -d "$record" "$base/api/distributionRecords")" = 403
check "wrong key -> 403" test "$(status -X PATCH -H 'Authorization: users API-Key wrong' "${hjson[@]}" -d '{}' "$base/api/distributionRecords/$rid")" = 403
check "anonymous record read -> 403" test "$(status -g "$base/api/distributionRecords?where[audit_log_id][equals]=dist_1")" = 403
check "find record by audit_log_id" test "$(curl -s -g "${auth[@]}" "$base/api/distributionRecords?where[audit_log_id][equals]=dist_1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["docs"][0]["title"])')" = T2

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
