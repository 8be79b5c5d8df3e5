#!/usr/bin/env bash
# The CVODES peer (--solver cvodes, peers/cvodes.c): its checkpointed adjoint, Adams and BDF,
# converges to the reference as its tolerance falls, within a bound the tolerance gives.
# Skipped, saying so, where the build has no SUNDIALS (make peers, then build again).
#
# usage: bash test_peer_cvodes.sh ODEGRAD_BINARY SOURCE_DIR
set -u
BIN=${1:?usage: test_peer_cvodes.sh ODEGRAD_BINARY SOURCE_DIR}
SRC=${2:?usage: test_peer_cvodes.sh ODEGRAD_BINARY SOURCE_DIR}
. "$(dirname "$0")/cli_lib.sh"
. "$(dirname "$0")/peer_lib.sh"

SMALL=(--solver cvodes --dim 3 --hidden 8 --batch 5 --repeat 1 --warmup 0)

for lmm in adams bdf; do
    for tol in 1e-6 1e-9; do
        "$BIN" run "${SMALL[@]}" --lmm $lmm --rtol $tol --json > "$W/$lmm$tol.json" \
            2> "$W/$lmm$tol.err"
        rc=$?
        if [ $rc -eq 2 ] && grep -q "libsundials-dev" "$W/$lmm$tol.err"; then
            echo "skip: $(cat "$W/$lmm$tol.err")"
            exit 0
        fi
        expect "cvodes $lmm $tol runs" test $rc -eq 0
        expect "cvodes $lmm $tol: status ok" test "$(field "$W/$lmm$tol.json" status)" = ok
        # Each step's local error is kept below tol (weighted RMS, |z| = O(1)); over n forward
        # and adjoint steps the global error is at most n tol e^(L t1) ~ 67 n tol (L ~ 4.2: the
        # expected ||W2|| ||W1|| of these shapes at gain 1).  The quadrature of gtheta is not in
        # the error test, but its integrand is the adjoint's, sampled at the adjoint's own steps.
        e=$(field "$W/$lmm$tol.json" err_vs_reference)
        n=$(( $(field "$W/$lmm$tol.json" steps) + $(field "$W/$lmm$tol.json" adjoint_steps) ))
        expect "cvodes $lmm: error $e within 100 n tol (n = $n, tol $tol)" \
            below "$e" "$(python3 -c "print(100 * $n * $tol)")"
    done
    # tolerance proportionality: three decades of tolerance buy at least one of error
    a=$(field "$W/${lmm}1e-6.json" err_vs_reference)
    b=$(field "$W/${lmm}1e-9.json" err_vs_reference)
    expect "cvodes $lmm converges: $a at 1e-6, $b at 1e-9" below "$b" "$(python3 -c "print($a / 10)")"
done
expect "the SUNDIALS version is recorded" grep -q '"solver_version":"SUNDIALS [0-9]' "$W/adams1e-9.json"
summary
