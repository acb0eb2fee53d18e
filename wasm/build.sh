#!/usr/bin/env bash
# Builds the in-browser preview: wasm/www/ (static page) + wasm/www/pkg/ (generated).
#
#   wasm/build.sh            release build (what the browser test and README use)
#
# Output: www/pkg/detscript_wasm{.js,_bg.wasm} (the engine the page starts with),
# www/pkg/cfn/ (the same with the CloudFormation export, loaded when its tab opens),
# scripts.js, editor.js and build.json.
#
# Needs node >= 20 and npm (binaryen's wasm-opt, esbuild and CodeMirror come from
# wasm/package-lock.json: installed by `npm ci`, no download at build time after that).
#
# Toolchain: rustup's wasm32-unknown-unknown target when it is installed; otherwise
# Debian's rustc-web/cargo-web with std built from source (rust-web-src) and lld-19,
# installed here through apt when missing. wasm-bindgen-cli is installed at exactly
# the version of the wasm-bindgen crate in wasm/Cargo.lock when missing or different.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
pkg="$here/www/pkg"
target="wasm32-unknown-unknown"
started=$(date +%s)

log() { printf 'wasm/build.sh: %s\n' "$*" >&2; }

apt_install() {
    if ! command -v apt-get >/dev/null; then
        log "missing $*, and no apt-get to install it"
        exit 1
    fi
    log "installing $* (apt)"
    if [ -z "${_apt_updated:-}" ]; then
        apt-get update -qq >/dev/null
        _apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

cd "$here"

# 1. Compile the cdylib.
if command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qx "$target"; then
    log "using rustup's $target target"
    cargo_wasm=(cargo build --release --target "$target")
    host_cargo=(cargo)
    route="rustup"
else
    need=()
    for p in rustc-web cargo-web rust-web-src lld-19; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
    done
    if [ ${#need[@]} -gt 0 ]; then apt_install "${need[@]}"; fi
    log "using Debian's $(/usr/bin/rustc --version) with -Zbuild-std (no rustup $target target)"
    # std is built here anyway, so it can leave out the panic machinery: a panic traps at
    # once (as panic=abort does; the page never shows a panic message) and the module is
    # 40 KB smaller gzipped (see docs/performance.md). std's optimize_for_size feature swaps
    # core's sort implementations (96 KB of code here) for small ones: same results for
    # the stable sorts, and the browser test compares every plan with the CLI's.
    cargo_wasm=(env RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-19
        RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none"
        /usr/bin/cargo build --release --target "$target" -Zbuild-std=std,panic_abort
        -Zbuild-std-features=optimize_for_size)
    if command -v rustup >/dev/null; then host_cargo=(cargo); else host_cargo=(env RUSTC=/usr/bin/rustc /usr/bin/cargo); fi
    route="build-std"
fi
wasm_in="${CARGO_TARGET_DIR:-$here/target}/$target/release/detscript_wasm.wasm"
# Two modules (docs/performance.md): the page's, without the CloudFormation export (24 KB
# less gzipped: with nothing calling it, LTO drops the exporter and every kind's mapping),
# and pkg/cfn/, built with the `cfn` feature, which the page loads when that tab opens.
# cargo keeps both builds, so a rebuild relinks only what changed.
"${cargo_wasm[@]}" --features cfn
mkdir -p "$here/target/cfn-module"
cp "$wasm_in" "$here/target/cfn-module/detscript_wasm.wasm"
"${cargo_wasm[@]}"

# 2. wasm-bindgen-cli at exactly the crate's version.
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
if [ -z "$want" ]; then
    log "no wasm-bindgen in wasm/Cargo.lock"
    exit 1
fi
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
    log "installing wasm-bindgen-cli $want (found: ${have:-none})"
    "${host_cargo[@]}" install wasm-bindgen-cli --version "$want" --force
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi

rm -rf "$pkg"
mkdir -p "$pkg/cfn"
bindgen=(wasm-bindgen --target web --no-typescript --remove-name-section --remove-producers-section)
"${bindgen[@]}" --out-dir "$pkg" "$wasm_in"
"${bindgen[@]}" --out-dir "$pkg/cfn" "$here/target/cfn-module/detscript_wasm.wasm"

# npm packages: binaryen (wasm-opt, below), esbuild and CodeMirror (step 4); exact versions
# from package-lock.json, nothing fetched after this.
command -v node >/dev/null || { log "node (>= 20) is needed for wasm-opt and the page's bundles"; exit 1; }
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    log "installing npm packages (binaryen, esbuild, CodeMirror)"
    npm ci --no-audit --no-fund --loglevel=error
fi

# wasm-opt (npm's binaryen): a chosen list of passes, not -Oz. Measured on this module
# (docs/performance.md): -Oz, -Os, -O2 and -O3 make it smaller raw but larger gzipped (LLVM's
# opt-level "z" already did their work; binaryen's inlining, local CSE and local
# coalescing make the code less repetitive for gzip), while these passes only remove or
# merge code: 7 KB less gzipped (563 -> 557 KB gzip -9).
wasm_out="$pkg/detscript_wasm_bg.wasm"
for module in "$wasm_out" "$pkg/cfn/detscript_wasm_bg.wasm"; do
    node_modules/.bin/wasm-opt "$module" -o "$module" \
        --enable-bulk-memory --enable-reference-types --enable-multivalue --enable-sign-ext \
        --enable-nontrapping-float-to-int --enable-mutable-globals \
        --optimize-level=2 --shrink-level=2 \
        --duplicate-function-elimination --code-folding --remove-unused-brs --dae-optimizing \
        --optimize-instructions --vacuum --merge-blocks --rse --precompute-propagate \
        --simplify-globals-optimizing --duplicate-function-elimination \
        --remove-unused-module-elements --reorder-locals
done
# Which route built it: the browser test's size budget depends on it (build-std leaves
# out the panic machinery, rustup's prebuilt std cannot).
printf '{ "route": "%s" }\n' "$route" >"$pkg/build.json"

# 3. Bundle every scripts/**/*.rhai so the page needs no request but its own files.
node - "$root/scripts" "$pkg/scripts.js" <<'JS'
const fs = require('fs'), path = require('path');
const [dir, out] = process.argv.slice(2);
const found = {};
(function walk(rel) {
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).sort((a, b) => a.name < b.name ? -1 : 1)) {
    const r = rel ? rel + '/' + e.name : e.name;
    if (e.isDirectory()) walk(r);
    else if (e.name.endsWith('.rhai')) found[r] = fs.readFileSync(path.join(dir, r), 'utf8');
  }
})('');
fs.writeFileSync(out, '// Generated by wasm/build.sh from scripts/**/*.rhai. Do not edit.\nexport const scripts = ' + JSON.stringify(found, null, 1) + ';\n');
JS

# 4. The editor: CodeMirror 6 and editor/editor.js (with the engine's API names for
# completion) bundled by esbuild into one module, pkg/editor.js, that imports nothing.
node_modules/.bin/esbuild editor/editor.js --bundle --format=esm --minify --target=es2020 \
    --loader:.txt=text --legal-comments=none --log-level=warning --outfile="$pkg/editor.js"

raw=$(stat -c %s "$wasm_out")
gz=$(gzip -9 -c "$wasm_out" | wc -c)
cfn_gz=$(gzip -9 -c "$pkg/cfn/detscript_wasm_bg.wasm" | wc -c)
log "built $here/www in $(( $(date +%s) - started ))s: $(basename "$wasm_out") ${raw} bytes raw, ${gz} bytes gzip -9 (cfn/: ${cfn_gz})"
