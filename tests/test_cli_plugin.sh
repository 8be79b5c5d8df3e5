#!/usr/bin/env bash
# `--model plugin:PATH` on the command line and in sweeps: the worked field
# (examples/vanderpol.c) runs by every method with an ok record whose model column holds the
# path; --save-grad writes its own views; a sweep over plugin and mlp records both and resumes
# by the path; every broken plugin (tests/plugins/broken.c) is refused with one message naming
# the problem and exit 2, from `odegrad run` and from a sweep, which then writes nothing.
#
# usage: bash test_cli_plugin.sh ODEGRAD_BINARY SOURCE_DIR
set -u
BIN=${1:?usage: test_cli_plugin.sh ODEGRAD_BINARY SOURCE_DIR}
SRC=${2:?usage: test_cli_plugin.sh ODEGRAD_BINARY SOURCE_DIR}
. "$(dirname "$0")/cli_lib.sh"
BUILD=$(cd "$(dirname "$BIN")" && pwd)
VDP=$BUILD/libvanderpol.so
SMALL=(--dim 4 --batch 3 --steps 8 --repeat 1 --warmup 0)

for m in backprop backprop-steps backprop-checkpoint stored-adjoint checkpoint-adjoint \
    backsolve-adjoint; do
    expect "$m runs the plugin field with status ok" \
        sh -c "'$BIN' run --model 'plugin:$VDP' ${SMALL[*]} --method $m --csv '$W/runs.csv' \
               > /dev/null 2>&1"
done
expect "the model column holds plugin:PATH" \
    test "$(cut -d, -f2 "$W/runs.csv" | grep -c "^plugin:$VDP\$")" = 6
expect "every row is ok, against the fine reference" \
    python3 -c "
import csv, sys
rows = list(csv.DictReader(open('$W/runs.csv')))
sys.exit(not all(r['status'] == 'ok' and r['ref_method'] != '' and float(r['err_vs_reference']) < 1e-3 for r in rows))"
mkdir -p "$W/g"
expect "--save-grad writes the field's own views" \
    sh -c "'$BIN' run --model 'plugin:$VDP' ${SMALL[*]} --reference none --save-grad '$W/g' \
           > /dev/null 2>&1 && test -f '$W/g/gmu.npy' -a -f '$W/g/gomega2.npy' -a -f '$W/g/gz0.npy'"

# refused: exit 2, one line naming the problem, nothing written
refused() { # refused WHAT PHRASE ARGS...
    local what=$1 phrase=$2
    shift 2
    rm -f "$W/bad.csv"
    "$BIN" run "$@" --csv "$W/bad.csv" > "$W/out" 2> "$W/err"
    local rc=$?
    if [ $rc -eq 2 ] && grep -q -- "$phrase" "$W/err" && [ "$(wc -l < "$W/err")" -eq 1 ] &&
        [ ! -e "$W/bad.csv" ]; then
        pass
    else
        fail "$what: exit $rc, message: $(cat "$W/err")"
    fi
}
refused "another ABI" "built for field ABI version 2; this odegrad reads version 1" \
    --model "plugin:$BUILD/plugin_abi.so" "${SMALL[@]}"
refused "no constructor" "exports no function odegrad_field" \
    --model "plugin:$BUILD/plugin_nosymbol.so" "${SMALL[@]}"
refused "a wrong Zbar" "its VJP fails the gradient check in z" \
    --model "plugin:$BUILD/plugin_vjpz.so" "${SMALL[@]}"
refused "a wrong gtheta" "its VJP fails the gradient check in theta" \
    --model "plugin:$BUILD/plugin_vjptheta.so" "${SMALL[@]}"
refused "a refusing constructor" "refuses D = 4, B = 3: this field is switched off" \
    --model "plugin:$BUILD/plugin_refuses.so" "${SMALL[@]}"
refused "a view outside theta" "does not lie inside theta" \
    --model "plugin:$BUILD/plugin_view.so" "${SMALL[@]}"
refused "NaN from f" "non-finite" --model "plugin:$BUILD/plugin_nan.so" "${SMALL[@]}"
refused "no such file" "cannot be loaded" --model "plugin:$W/nothere.so" "${SMALL[@]}"
refused "not a shared object" "cannot be loaded" --model "plugin:$SRC/README.md" "${SMALL[@]}"
refused "no path" "needs the shared object's path" --model plugin "${SMALL[@]}"
refused "odd D for pairs" "D is even" --model "plugin:$VDP" --dim 3 --batch 2
refused "an mlp option" "applies only to the mlp and cnf models" --model "plugin:$VDP" --hidden 4
refused "a path too long for the record" "longer than the record" \
    --model "plugin:/$(printf 'x%.0s' $(seq 100)).so"

# sweeps
cat > "$W/s.ini" << EOF2
[sweep]
name = plug
model = plugin:$VDP, mlp
dim = 4
hidden = 4
batch = 3
steps = 8
reference = none
repeat = 1
warmup = 0
[run]
method = backprop, backsolve-adjoint
EOF2
expect "a sweep over a plugin and mlp" \
    sh -c "'$BIN' sweep --output '$W/sweep' '$W/s.ini' > /dev/null 2>&1"
expect "four rows, two of them the plugin's" \
    sh -c "test \$(grep -c ',plugin:$VDP,' '$W'/sweep/plug/*.csv) = 2 &&
           test \$(grep -c ',mlp,' '$W'/sweep/plug/*.csv) = 2"
expect "the sweep resumes: nothing left to run" \
    sh -c "'$BIN' sweep --output '$W/sweep' '$W/s.ini' 2>&1 | grep -q '0 to run'"
sed "s|^model = .*|model = plugin:$BUILD/plugin_vjpz.so, mlp|" "$W/s.ini" > "$W/bad.ini"
"$BIN" sweep --output "$W/badout" "$W/bad.ini" > /dev/null 2> "$W/err"
rc=$?
expect "a sweep with a broken plugin: exit 2 ($rc), its message, nothing written" \
    sh -c "[ $rc -eq 2 ] && grep -q 'fails the gradient check' '$W/err' && [ ! -e '$W/badout' ]"
summary
