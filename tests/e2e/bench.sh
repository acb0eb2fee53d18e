#!/usr/bin/env bash
# Benchmarks of `run` of scripts/deploy.rhai against moto behind the loopback proxy
# (tests/e2e/proxy.py; moto itself is unchanged):
#   1. a fixed latency per request: wall time vs the critical path, parallel and serial;
#   2. AWS's delays simulated (the database `creating` for N s, the master `pending` for M s,
#      its instance profile unusable for P s): wall time vs max(N, P + M), which launching the
#      master while the database is created allows, and vs N + M, launching it afterwards.
#
#   tests/e2e/bench.sh [latency-ms] [N:M:P ...]   (default 50, and 30:10:5 15:30:5 45:45:10)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="${DETSCRIPT_E2E_VENV:-$HERE/.venv}"
LAT="${1:-50}"
shift || true
[ $# -gt 0 ] || set -- 30:10:5 15:30:5 45:45:10

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

# Starts the proxy with the given options; sets PPORT.
start_proxy() {
  [ -n "$PROXY" ] && { kill "$PROXY" 2>/dev/null || true; wait "$PROXY" 2>/dev/null || true; }
  "$VENV/bin/python" -u "$HERE/proxy.py" --upstream "http://127.0.0.1:$PORT" --latency-ms "$LAT" "$@" >"$WORK/proxy.out" &
  PROXY=$!
  for _ in $(seq 1 50); do grep -q '^PORT ' "$WORK/proxy.out" 2>/dev/null && break; sleep 0.1; done
  PPORT="$(awk '/^PORT /{print $2}' "$WORK/proxy.out")"
}

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-west-2
export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/nonexistent AWS_SHARED_CREDENTIALS_FILE=/nonexistent
export DETSCRIPT_BENCH_LATENCY_MS="$LAT"
cd "$ROOT"
bench() {
  DETSCRIPT_BENCH_ENDPOINT="http://127.0.0.1:$PPORT" cargo bench -q --profile dev -p detscript --bench apply_latency 2>&1 \
    | grep -v '^{"' | grep -vE '^\s+(security_group|iam_role|instance_profile|s3_bucket|rds_|ec2_|rule )' | grep -v '^  [+~-] ' || true
}
start_proxy
bench
for d in "$@"; do
  IFS=: read -r n m p <<<"$d"
  start_proxy --db-creating "$n" --instance-pending "$m" --profile-propagation "$p"
  DETSCRIPT_BENCH_DELAYS="$d" DETSCRIPT_BENCH_ITERATIONS="${DETSCRIPT_BENCH_ITERATIONS:-1}" bench | grep '^apply_delays' || true
done
