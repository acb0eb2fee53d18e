#!/usr/bin/env bash
# Exports every top-level scripts/*.rhai as a CloudFormation template (YAML and JSON) and runs
# cfn-lint (PyPI) on each: any cfn-lint error fails the test; warnings are shown, not fatal.
# Installs cfn-lint into tests/cfn/.venv (gitignored) when missing.
#
#   tests/cfn/run.sh            all scripts
#   CFN_LINT=/path/cfn-lint tests/cfn/run.sh   use another cfn-lint
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

venv="$here/.venv"
cfn_lint="${CFN_LINT:-$venv/bin/cfn-lint}"
if [ ! -x "$cfn_lint" ]; then
    echo "installing cfn-lint into $venv"
    python3 -m venv "$venv" || { echo "error: python3 -m venv failed (apt-get install python3-venv)"; exit 1; }
    "$venv/bin/pip" install --quiet --disable-pip-version-check cfn-lint || { echo "error: pip install cfn-lint failed"; exit 1; }
fi
echo "using $("$cfn_lint" --version)"

# DETSCRIPT_BIN: use this binary (tests/run passes the one `cargo test` just built).
if [ -n "${DETSCRIPT_BIN:-}" ]; then
    detscript="$DETSCRIPT_BIN"
else
    cargo build --quiet -p detscript || exit 1
    detscript="$root/target/debug/detscript"
fi

out="$root/tests/artifacts/cfn"
rm -rf "$out"
mkdir -p "$out"

# The values every example is tested with; only the parameters a script declares are passed.
# No password: AWS generates them (Secrets Manager), so templates have no password parameter.
declare -A values=([keypair]=test-key [registry_password]=Test-registry-token)

shopt -s nullglob
scripts=(scripts/*.rhai)
if [ ${#scripts[@]} -eq 0 ]; then
    echo "error: no scripts/*.rhai to export"
    exit 1
fi

# The engine versions detscript pins, checked against cfn-lint's list of versions AWS still
# creates: a deprecated-version finding (W3690 cluster, W3691 instance) fails any template.
scripts+=(tests/cfn/versions.rhai)
# The master's AMI from Canonical's public SSM parameter: a {{resolve:ssm:...}} dynamic
# reference in ImageId, which cfn-lint must accept.
sed 's/determined_ami("master")/ubuntu_ami()/' scripts/deploy.rhai >"$out/deploy-ssm-ami.rhai"
grep -q 'ubuntu_ami()' "$out/deploy-ssm-ami.rhai" || { echo "error: scripts/deploy.rhai has no determined_ami(\"master\")"; exit 1; }
scripts+=("$out/deploy-ssm-ami.rhai")
failed=0
for script in "${scripts[@]}"; do
    name="$(basename "$script" .rhai)"
    declared="$("$detscript" params "$script" --format json | python3 -c 'import json,sys; print(" ".join(p["name"] for p in json.load(sys.stdin)))')" || {
        echo "FAIL $script: detscript params failed"; failed=$((failed + 1)); continue; }
    args=()
    for p in $declared; do
        if [ -n "${values[$p]+x}" ]; then
            args+=(--param "$p=${values[$p]}")
        fi
    done
    for format in cloudformation json; do
        ext=yaml; [ "$format" = json ] && ext=json
        template="$out/$name.$ext"
        if ! "$detscript" export "$script" "${args[@]}" --format "$format" -o "$template" 2>"$out/$name.$ext.stderr"; then
            echo "FAIL $script ($format): export failed"; cat "$out/$name.$ext.stderr"
            failed=$((failed + 1)); continue
        fi
        if grep -q -e "Test-password-1" -e "Test-registry-token" "$template"; then
            echo "FAIL $script ($format): the secret's value is in the template"
            failed=$((failed + 1)); continue
        fi
        # cfn-lint exits with a bit mask: 2 = errors, 4 = warnings, 8 = informational.
        report="$("$cfn_lint" --format parseable -- "$template")"
        rc=$?
        errors=$(printf '%s\n' "$report" | grep -c ':E[0-9]' || true)
        warnings=$(printf '%s\n' "$report" | grep -c ':W[0-9]' || true)
        # W1011: a secret passed as a parameter instead of a dynamic reference. Passwords are
        # Secrets Manager secrets (generated, read by {{resolve:secretsmanager:...}}).
        w1011=$(printf '%s\n' "$report" | grep -c ':W1011' || true)
        # W3690/W3691: an engine version AWS no longer lets you create.
        deprecated=$(printf '%s\n' "$report" | grep -c ':W369[01]:' || true)
        # No template may have a password parameter: the examples' passwords are generated.
        password_params=$(python3 -c 'import json,sys
t = json.load(open(sys.argv[1])) if sys.argv[1].endswith(".json") else {}
print(sum(1 for p in t.get("Parameters", {}) if "password" in p.lower()))' "$template")
        if [ $((rc & 2)) -ne 0 ] || [ $((rc & 1)) -ne 0 ] || [ "$errors" -ne 0 ] || [ "$w1011" -ne 0 ] || [ "$deprecated" -ne 0 ] || [ "$password_params" -ne 0 ]; then
            echo "FAIL $script ($format): cfn-lint rc=$rc, $errors error(s), $warnings warning(s), $w1011 W1011, $deprecated deprecated engine version(s), $password_params password parameter(s)"
            printf '%s\n' "$report"
            failed=$((failed + 1))
        else
            echo "ok   $script ($format): 0 errors, $warnings warning(s)"
            [ -n "$report" ] && printf '%s\n' "$report" | sed 's/^/       /'
        fi
    done
done

for template in "$out/deploy-ssm-ami.yaml" "$out/deploy-ssm-ami.json"; do
    if ! grep -q '{{resolve:ssm:/aws/service/canonical/ubuntu/server/22.04/' "$template"; then
        echo "FAIL $template: the master's ImageId is not the SSM dynamic reference"
        failed=$((failed + 1))
    fi
done

if [ "$failed" -gt 0 ]; then
    echo "cfn-lint: $failed failure(s)"
    exit 1
fi
echo "cfn-lint: every script exports a template without errors (${#scripts[@]} scripts)"
