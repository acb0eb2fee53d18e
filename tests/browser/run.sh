#!/usr/bin/env bash
# Browser test of the WASM plan preview. Installs what is missing (Debian's chromium,
# npm packages: playwright-core only, never a browser download), builds the page with
# wasm/build.sh when it is missing or older than its sources, builds the CLI when it is
# missing or older than its sources, serves wasm/www on 127.0.0.1 (free port) and runs the node test.
# Artifacts: tests/artifacts/preview*.png and preview-metrics.json (the measured load phases).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
log() { printf 'tests/browser: %s\n' "$*" >&2; }

if [ ! -x /usr/bin/chromium ]; then
    log "installing chromium (apt)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
    log "node >= 20 is needed (playwright-core); found: $(node --version 2>/dev/null || echo none)"
    exit 1
fi

cd "$here"
if [ ! -f node_modules/playwright-core/package.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    log "installing npm packages"
    npm ci --no-audit --no-fund --loglevel=error
fi

wasm="$root/wasm/www/pkg/detscript_wasm_bg.wasm"
pkg="$root/wasm/www/pkg"
if [ ! -f "$wasm" ] || [ ! -f "$pkg/cfn/detscript_wasm_bg.wasm" ] || [ ! -f "$pkg/scripts.js" ] || [ ! -f "$pkg/editor.js" ] || [ ! -f "$pkg/build.json" ] || [ -n "$(find "$root/engine/src" "$root/engine/Cargo.toml" "$root/wasm/src" "$root/wasm/Cargo.toml" "$root/wasm/Cargo.lock" "$root/wasm/build.sh" "$root/scripts" "$root/wasm/editor" "$root/wasm/package-lock.json" -newer "$wasm" -print -quit 2>/dev/null)" ] || [ -n "$(find "$root/wasm/editor" "$root/wasm/package-lock.json" "$root/engine/src/script/api_names.txt" -newer "$pkg/editor.js" -print -quit 2>/dev/null)" ]; then
    log "building the page (wasm/build.sh)"
    "$root/wasm/build.sh"
fi

# The CLI is the reference the page is compared with: build it when missing or older
# than its sources (a stale binary would fail the byte-for-byte comparison spuriously).
cli_bin="$root/target/debug/detscript"
if [ -z "${DETSCRIPT_BIN:-}" ] && { [ ! -x "$cli_bin" ] || [ -n "$(find "$root/engine/src" "$root/engine/Cargo.toml" "$root/cli/src" "$root/cli/Cargo.toml" "$root/Cargo.lock" -newer "$cli_bin" -print -quit 2>/dev/null)" ]; }; then
    log "building the CLI (cargo build -p detscript)"
    (cd "$root" && cargo build -p detscript)
fi

# Serve the page on 127.0.0.1, any free port; stop the server when done.
portfile="$(mktemp)"
node "$here/server.mjs" "$root/wasm/www" 0 >"$portfile" &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true; rm -f "$portfile"' EXIT
for _ in $(seq 100); do
    grep -q '^listening ' "$portfile" && break
    kill -0 "$server_pid" 2>/dev/null || { log "static server did not start"; exit 1; }
    sleep 0.05
done
PREVIEW_URL="$(awk '/^listening /{print $2; exit}' "$portfile")"
[ -n "$PREVIEW_URL" ] || { log "static server did not report its port"; exit 1; }
export PREVIEW_URL
log "page served at $PREVIEW_URL"

node --test --test-reporter=spec --test-timeout=180000 "$here/preview.test.mjs"
