#!/usr/bin/env bash
# OpenBLAS's kernel (cli/start.c): unless OPENBLAS_CORETYPE is set, the odegrad command chooses it
# from the CPU's instruction set (SkylakeX with AVX-512 F, CD, DQ, BW and VL; Haswell with AVX2
# and FMA; else OpenBLAS's own choice), and the provenance names the kernel and who chose it.
# The user's OPENBLAS_CORETYPE always wins.  The sanitizer build leaves the choice to OpenBLAS
# (its start-up owns .preinit_array), and the test checks that it says so.
#
# usage: bash test_cli_blas_core.sh ODEGRAD_BINARY SOURCE_DIR
set -u
BIN=${1:?usage: test_cli_blas_core.sh ODEGRAD_BINARY SOURCE_DIR}
. "$(dirname "$0")/cli_lib.sh"

RUN=(run --dim 2 --hidden 8 --batch 4 --steps 4 --repeat 1 --warmup 0 --reference none)

# core_of NAME [ENV...]: runs with the given environment and prints the sidecar's
# "openblas_core openblas_core_from"
core_of() {
    local name=$1
    shift
    rm -f "$W/$name.csv" "$W/$name.csv.json"
    env -u OPENBLAS_CORETYPE -u ODEGRAD_OPENBLAS_CORE "$@" \
        "$BIN" "${RUN[@]}" --csv "$W/$name.csv" > /dev/null 2> "$W/$name.err" ||
        { fail "$name: the run failed: $(cat "$W/$name.err")"; return; }
    python3 -c "
import json, sys
p = json.load(open(sys.argv[1]))['provenance']
print(p['openblas_core'], p['openblas_core_from'])" "$W/$name.csv.json"
}

flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
has() { case "$flags" in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
expected=""
if has avx512f && has avx512cd && has avx512dq && has avx512bw && has avx512vl; then
    expected=SkylakeX
elif has avx2 && has fma; then
    expected=Haswell
fi

got=$(core_of plain)
if [ -n "${ODG_SANITIZE:-}" ]; then
    [ "${got#* }" = openblas ] && pass || fail "sanitizer build: chosen by '${got#* }', not openblas"
    echo "sanitizer build: OpenBLAS chose ${got% *} itself"
elif [ -n "$expected" ]; then
    [ "$got" = "$expected instruction-set" ] && pass ||
        fail "this CPU's instruction set means $expected; the provenance says '$got'"
else
    [ "${got#* }" = openblas ] && pass || fail "no AVX2: chosen by '${got#* }', not openblas"
fi

# the user's choice wins, and is named as theirs
got=$(core_of user OPENBLAS_CORETYPE=Prescott)
[ "$got" = "Prescott OPENBLAS_CORETYPE" ] && pass || fail "OPENBLAS_CORETYPE=Prescott gave '$got'"

# a kernel OpenBLAS does not know: what runs is OpenBLAS's own choice, and the record says so
got=$(core_of unknown OPENBLAS_CORETYPE=NoSuchCore)
[ "${got#* }" = openblas ] && pass || fail "OPENBLAS_CORETYPE=NoSuchCore: chosen by '${got#* }'"

# a variable that merely looks like odegrad's own does not make the user's choice odegrad's
got=$(core_of forged OPENBLAS_CORETYPE=Prescott ODEGRAD_OPENBLAS_CORE=SkylakeX)
[ "$got" = "Prescott OPENBLAS_CORETYPE" ] && pass || fail "a forged ODEGRAD_OPENBLAS_CORE: '$got'"

# under an address-space limit the thread count is lent a slot of the environment too
# (cli/start.c): both changes hold together, and the environment comes back whole
if [ -z "${ODG_SANITIZE:-}" ] && [ -n "$expected" ]; then
    got=$( (ulimit -v 8000000; core_of limited OMP_NUM_THREADS=2))
    [ "$got" = "$expected instruction-set" ] && pass ||
        fail "under ulimit -v: the provenance says '$got'"
    python3 -c "
import json, sys
p = json.load(open(sys.argv[1]))['provenance']
sys.exit(0 if p.get('OMP_NUM_THREADS') == '2' else 1)" "$W/limited.csv.json" && pass ||
        fail "under ulimit -v: OMP_NUM_THREADS did not come back as 2"
fi

summary
