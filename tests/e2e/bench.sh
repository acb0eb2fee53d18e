#!/usr/bin/env bash
# Benchmark (issue 3, point 9): `run` of scripts/deploy.rhai against moto behind a loopback
# proxy adding a fixed latency per request; reports wall time vs the critical path.
#
#   tests/e2e/bench.sh [latency-ms]     (default 50)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="${DETSCRIPT_E2E_VENV:-$HERE/.venv}"
LAT="${1:-50}"

if ! "$VENV/bin/python" -c 'import moto' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q 'moto[server]>=5.1,<6' boto3 pytest
fi
PORT="$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
WORK="$(mktemp -d -t detscript-bench.XXXXXX)"
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$WORK/moto.log" 2>&1 &
MOTO=$!
PROXY=""
cleanup() {
  [ -n "$PROXY" ] && kill "$PROXY" 2>/dev/null || true
  kill "$MOTO" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  "$VENV/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/moto-api/data.json', timeout=1)" 2>/dev/null && break
  sleep 0.2
done
"$VENV/bin/python" -u "$HERE/proxy.py" --upstream "http://127.0.0.1:$PORT" --latency-ms "$LAT" >"$WORK/proxy.out" &
PROXY=$!
for _ in $(seq 1 50); do grep -q '^PORT ' "$WORK/proxy.out" 2>/dev/null && break; sleep 0.1; done
PPORT="$(awk '/^PORT /{print $2}' "$WORK/proxy.out")"

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-west-2
export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/nonexistent AWS_SHARED_CREDENTIALS_FILE=/nonexistent
export DETSCRIPT_BENCH_ENDPOINT="http://127.0.0.1:$PPORT" DETSCRIPT_BENCH_LATENCY_MS="$LAT"
cd "$ROOT"
cargo bench --profile dev -p detscript --bench apply_latency 2>&1 | grep -v '^{"' | grep -vE '^\s+(security_group|iam_role|instance_profile|s3_bucket|rds_|ec2_|rule )' | grep -v '^  [+~-] ' || true
