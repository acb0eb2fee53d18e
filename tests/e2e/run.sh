#!/usr/bin/env bash
# End-to-end tests of `detscript run` / `destroy` against a local AWS emulator (moto).
#
#   tests/e2e/run.sh [pytest args...]        e.g. tests/e2e/run.sh -k destroy -x
#
# Installs what a fresh Debian machine lacks (python3-venv via apt when root; moto[server],
# boto3 and pytest from PyPI into tests/e2e/.venv), builds the CLI (dev profile), starts
# moto_server on a free 127.0.0.1 port, runs the pytest suite (which checks results with
# boto3, not with detscript's code), stops moto, and exits non-zero on any failure, including
# "no tests collected". Environment: DETSCRIPT_E2E_VENV (venv path), DETSCRIPT_BIN (use this
# binary instead of building), DETSCRIPT_E2E_KEEP_LOGS=1 (keep moto's log).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="${DETSCRIPT_E2E_VENV:-$HERE/.venv}"
MOTO_SPEC='moto[server]>=5.1,<6'

log() { printf 'e2e: %s\n' "$*" >&2; }

ensure_python() {
  if command -v python3 >/dev/null && python3 -c 'import venv, ensurepip' 2>/dev/null; then
    return
  fi
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    log "installing python3-venv with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv python3-pip >/dev/null
  else
    log "python3 with the venv module is required (Debian: apt-get install python3-venv)"
    exit 1
  fi
}

if ! "$VENV/bin/python" -c 'import moto, boto3, pytest, werkzeug, flask' 2>/dev/null; then
  ensure_python
  log "creating $VENV with $MOTO_SPEC, boto3, pytest"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip >/dev/null
  "$VENV/bin/pip" install -q "$MOTO_SPEC" boto3 pytest
fi

WORK="$(mktemp -d -t detscript-e2e.XXXXXX)"
if [ -z "${DETSCRIPT_BIN:-}" ]; then
  log "building the CLI (cargo build -p detscript)"
  (cd "$ROOT" && cargo build -q -p detscript)
  # A private copy: another build in the same target/ must not swap the binary mid-run.
  cp "$ROOT/target/debug/detscript" "$WORK/detscript"
  export DETSCRIPT_BIN="$WORK/detscript"
fi

PORT="$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
MOTO_LOG="$WORK/moto.log"
log "starting moto_server on 127.0.0.1:$PORT (log: $MOTO_LOG)"
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$MOTO_LOG" 2>&1 &
MOTO_PID=$!
cleanup() {
  kill "$MOTO_PID" 2>/dev/null || true
  wait "$MOTO_PID" 2>/dev/null || true
  if [ "${DETSCRIPT_E2E_KEEP_LOGS:-}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

for _ in $(seq 1 100); do
  if "$VENV/bin/python" - "$PORT" <<'EOF' 2>/dev/null; then break; fi
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/moto-api/data.json", timeout=1)
EOF
  if ! kill -0 "$MOTO_PID" 2>/dev/null; then
    log "moto_server exited:"; cat "$MOTO_LOG" >&2; exit 1
  fi
  sleep 0.2
done

export DETSCRIPT_E2E_ENDPOINT="http://127.0.0.1:$PORT"
export DETSCRIPT_E2E_ROOT="$ROOT"
set +e
"$VENV/bin/python" -m pytest -q -p no:cacheprovider "$HERE" "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  log "pytest collected no tests: failing"
  rc=1
fi
exit "$rc"
