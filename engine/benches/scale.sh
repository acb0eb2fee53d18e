#!/usr/bin/env bash
# Whole-process cost of planning generated scripts of N resources (security groups, each
# with a rule referencing the previous group), as `detscript plan` does it, in release:
# wall time and peak memory (max RSS) for compile only, text and JSON output.
# Explicit scripts of more than 20,000 resources (10,000 `let` statements) are refused by
# the engine's limit (budget::MAX_LET_STATEMENTS): the row shows that error.
# Usage: engine/benches/scale.sh [N ...]   (default: 1000 10000 100000)
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -q -p detscript-engine --example plan_file
bin="${CARGO_TARGET_DIR:-target}/release/examples/plan_file"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gen() { # explicit statements, as engine/benches/plan.rs generates them
    local groups=$(($1 / 2))
    {
        echo 'deployment("bench");'
        echo 'let g0 = security_group("g0", "generated");'
        echo 'g0.ingress(tcp(22), "10.0.0.0/8");'
        for ((i = 1; i < groups; i++)); do
            echo "let g$i = security_group(\"g$i\", \"generated\");"
            echo "g$i.ingress(tcp(443), g$((i - 1)));"
        done
    } >"$2"
}
gen_loop() { # the same plan from a loop: parsing stays constant
    cat >"$2" <<RHAI
deployment("bench");
let prev = security_group("g0", "generated");
prev.ingress(tcp(22), "10.0.0.0/8");
for i in 1..$(($1 / 2)) { let g = security_group(\`g\${i}\`, "generated"); g.ingress(tcp(443), prev); prev = g; }
RHAI
}
best() { # best of 3 (of 1 past 10,000 resources): seconds and peak RSS (MiB), or the error
    local out=999 mem=0 tries=3
    [ "$n" -le 10000 ] || tries=1
    for _ in $(seq "$tries"); do
        if ! /usr/bin/time -f '%e %M' -o "$work/t" "$bin" "$1" "$2" >/dev/null 2>"$work/err"; then
            echo "error: $(head -c 60 "$work/err")"
            return
        fi
        read -r s kb <"$work/t"
        if awk "BEGIN{exit !($s < $out)}"; then out=$s mem=$((kb / 1024)); fi
    done
    echo "$out s ${mem} MiB"
}
printf '%-8s %-10s %-22s %-22s %-22s\n' N script compile text json
[ $# -gt 0 ] || set -- 1000 10000 100000
for n in "$@"; do
    for kind in explicit loop; do
        if [ "$kind" = explicit ]; then gen "$n" "$work/s.rhai"; else gen_loop "$n" "$work/s.rhai"; fi
        printf '%-8s %-10s %-22s %-22s %-22s\n' "$n" "$kind" \
            "$(best "$work/s.rhai" none)" "$(best "$work/s.rhai" text)" "$(best "$work/s.rhai" json)"
    done
done
