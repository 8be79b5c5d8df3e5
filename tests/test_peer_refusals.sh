#!/usr/bin/env bash
# What each peer (--solver) supports is a rule: every other combination is refused with one
# message naming the problem and exit status 2, before anything is written, whether or not the
# peer is installed; a peer that is not installed is refused naming its Debian packages.
#
# usage: bash test_peer_refusals.sh ODEGRAD_BINARY SOURCE_DIR
set -u
BIN=${1:?usage: test_peer_refusals.sh ODEGRAD_BINARY SOURCE_DIR}
SRC=${2:?usage: test_peer_refusals.sh ODEGRAD_BINARY SOURCE_DIR}
. "$(dirname "$0")/cli_lib.sh"

SMALL=(--dim 2 --hidden 4 --batch 2 --repeat 1 --warmup 0 --reference none)
LINEAR=(--model linear --dim 2 --batch 2 --repeat 1 --warmup 0 --reference none)

# refused TEXT [--linear] ARGS...: exit 2, one line on stderr that contains TEXT, no CSV written
refused() {
    local text=$1
    shift
    local base=("${SMALL[@]}")
    [ "$1" = --linear ] && base=("${LINEAR[@]}") && shift
    expect_refused "$text" "$BIN" run "${base[@]}" "$@" --csv "$W/r.csv"
}

refused "torch supports --method backprop and backsolve-adjoint, not stored-adjoint" \
    --solver torch --steps 4 --method stored-adjoint
refused "torch supports --method backprop and backsolve-adjoint, not backprop-checkpoint" \
    --solver torch --steps 4 --method backprop-checkpoint
refused "torch computes the mlp model only, not linear" --linear --solver torch --steps 4
refused "--blas-mode applies only to --solver odegrad, cvodes, not torch" \
    --solver torch --steps 4 --blas-mode chunked
refused "cvodes supports --method checkpoint-adjoint" --solver cvodes --rtol 1e-6 \
    --method backprop
refused "cvodes takes its own steps: it needs --rtol" --solver cvodes
refused "--steps applies only to --solver odegrad, torch, not cvodes" --solver cvodes \
    --rtol 1e-6 --steps 8
refused "--scheme applies only to --solver odegrad, torch, not cvodes" --solver cvodes \
    --rtol 1e-6 --scheme dopri5
refused "--lmm applies only to --solver cvodes, not odegrad" --lmm bdf --steps 4
refused "--lmm applies only to --solver cvodes, not torch" --solver torch --lmm adams --steps 4
refused "is not one of odegrad, torch, cvodes" --solver jax --steps 4
refused "torch computes the loss at t1 only: --outputs and --output-times apply to --solver odegrad" \
    --solver torch --steps 4 --outputs 3
refused "cvodes computes the loss at t1 only" --solver cvodes --rtol 1e-6 --output-times 0.5:1
# a peer that cannot run here: the interpreter torch needs is not there
ODEGRAD_PYTHON=$W/no-python refused "python3-torch python3-numpy" --solver torch --steps 4
ODEGRAD_TORCH_PEER=$W/no-script.py refused "--solver torch: its program $W/no-script.py" \
    --solver torch --steps 4
# without SUNDIALS in the build, cvodes names its package; with it, it runs
if "$BIN" run "${SMALL[@]}" --solver cvodes --rtol 1e-4 > "$W/out.txt" 2> "$W/err.txt"; then
    pass
else
    expect "cvodes refused for want of SUNDIALS names libsundials-dev" \
        grep -q "libsundials-dev" "$W/err.txt"
    echo "skip: this build has no SUNDIALS (make peers): cvodes runs not tried"
fi
# a sweep refuses the same combinations at its line
cat > "$W/s.ini" << 'INI'
[sweep]
name = peers
dim = 2
hidden = 4
batch = 2
reference = none
[run]
solver = torch
steps = 4
method = stored-adjoint
INI
"$BIN" sweep --dry-run "$W/s.ini" > "$W/out.txt" 2> "$W/err.txt"
rc=$?
expect "a sweep with an unsupported peer combination exits 2" test $rc -eq 2
expect "and says why" grep -q "torch supports --method backprop and backsolve-adjoint" "$W/err.txt"
summary
