#!/usr/bin/env bash
# The PyTorch peer (--solver torch, peers/torch_peer.py) computes the gradient odegrad computes:
#   - backprop through its fixed steps equals odegrad's backprop at the same N (err_vs_discrete)
#     to rounding (dopri5: FSAL, seven stages, time as an input);
#   - its backsolve-adjoint at fixed N converges to that discrete gradient at the scheme's order;
#   - its adaptive backsolve-adjoint is as accurate as its tolerance says.
# Skipped, saying so, where python3-torch is not installed (make peers).
#
# usage: bash test_peer_torch.sh ODEGRAD_BINARY SOURCE_DIR
set -u
BIN=${1:?usage: test_peer_torch.sh ODEGRAD_BINARY SOURCE_DIR}
SRC=${2:?usage: test_peer_torch.sh ODEGRAD_BINARY SOURCE_DIR}
. "$(dirname "$0")/cli_lib.sh"
. "$(dirname "$0")/peer_lib.sh"

SMALL=(--solver torch --dim 3 --hidden 8 --batch 5 --repeat 1 --warmup 0)

# run NAME ARGS...: the record into $W/NAME.json; 2 when the peer is not there
run() {
    local name=$1
    shift
    "$BIN" run "${SMALL[@]}" "$@" --json > "$W/$name.json" 2> "$W/$name.err"
}

run bp --scheme dopri5 --steps 16 --time-input --reference none
rc=$?
if [ $rc -eq 2 ] && grep -q "python3-torch" "$W/bp.err"; then
    echo "skip: $(cat "$W/bp.err")"
    exit 0
fi
expect "torch dopri5 runs" test $rc -eq 0

# Backprop through the same steps is the same discrete map, evaluated by other code: the two
# gradients differ by rounding alone.  Rounding errors of size u = 1.1e-16 in each of the s = 7
# stages' (H + D)-term sums over N = 16 steps, grown at most by the flow's factor e^(L t1)
# (L ~ 4.2: the expected ||W2|| ||W1|| of these shapes at gain 1), add up like a random walk to
# about sqrt(N s (H + D)) u e^(L t1) = sqrt(16 * 7 * 11) * 1.1e-16 * 67 = 2.6e-13 at most; the bound
# 1e-12 is above that and two orders below any difference of method: this configuration's
# truncation error is 4.1e-10 against the fine reference (tsit5's 1.4e-10), so another scheme,
# a wrong coefficient or a wrong node moves the gradient by about that much or more.  dopri5 is
# FSAL, and time enters f (W1's last column) at every stage's node.
e=$(field "$W/bp.json" err_vs_discrete)
expect "torch backprop dopri5: the discrete gradient ($e) within 1e-12 of odegrad's" below "$e" 1e-12
expect "torch backprop: the implementation is recorded" \
    grep -q '"solver_version":"torch [^"]*, own RK"' "$W/bp.json"
# the peer's program measures as the harness does (docs/experiments.md, "How a run is
# measured"): --warmup 0 runs no warm-up, --warmup 2 runs 2 to 2 + 8, and the record says how many
expect "torch --warmup 0: no warm-up" grep -q '"warmups_done":0[,}]' "$W/bp.json"
run w2 --steps 4 --warmup 2 --reference none
w=$(grep -o '"warmups_done":[0-9]*' "$W/w2.json" | cut -d: -f2)
expect "torch --warmup 2: 2 to 10 warm-ups ($w)" test "${w:-0}" -ge 2 -a "${w:-0}" -le 10

# Backsolve's gradient differs from the discrete one by O(h^p) (docs/theory.md: the continuous
# and the discrete adjoint differ at the scheme's order): rk4 from N = 8 to 32 divides the gap by
# 4^4 = 256 asymptotically; at least 4^4 / 8 = 32 leaves room for the pre-asymptotic range.
run bs8 --method backsolve-adjoint --steps 8 --reference none
run bs32 --method backsolve-adjoint --steps 32 --reference none
e8=$(field "$W/bs8.json" err_vs_discrete)
e32=$(field "$W/bs32.json" err_vs_discrete)
expect "torch backsolve rk4 converges at order 4 ($e8 at N=8, $e32 at N=32)" \
    python3 -c "import sys; a, b = map(float, sys.argv[1:]); sys.exit(0 if 0 < b and a / b >= 32 else 1)" "$e8" "$e32"

# Adaptive steps at rtol = atol = tol keep each step's local error below tol (a weighted RMS
# norm, with |z| = O(1) here); over n forward and adjoint steps the global error is at most
# n tol e^(L t1) ~ 67 n tol (L as above).  The bound 100 n tol, against the fine reference.
run ad --method backsolve-adjoint --scheme dopri5 --rtol 1e-7
e=$(field "$W/ad.json" err_vs_reference)
n=$(( $(field "$W/ad.json" steps) + $(field "$W/ad.json" adjoint_steps) ))
expect "torch adaptive backsolve: error $e within 100 n tol (n = $n steps, tol 1e-7)" \
    below "$e" "$(python3 -c "print(100 * $n * 1e-7)")"
expect "torch adaptive backsolve: status ok" test "$(field "$W/ad.json" status)" = ok

# With torchdiffeq importable (it is not a Debian package: `pip install torchdiffeq`), the peer
# hands it the schemes it has the same tableau of, and says so.  torchdiffeq's rk4 is the 3/8
# rule, odegrad's rk38: backprop through its 16 fixed steps is odegrad's discrete map again, to
# the rounding bound above (four stages, fewer than dopri5's seven).
py=${ODEGRAD_PYTHON:-/usr/bin/python3}
if "$py" -c "import torchdiffeq" 2> /dev/null; then
    run tdq --scheme rk38 --steps 16 --reference none
    expect "torchdiffeq rk4: the implementation is recorded" \
        grep -q '"solver_version":"torch [^"]*, torchdiffeq [^"]* rk4"' "$W/tdq.json"
    e=$(field "$W/tdq.json" err_vs_discrete)
    expect "torchdiffeq rk4 backprop: the discrete gradient ($e) within 1e-12 of odegrad's rk38" \
        below "$e" 1e-12
else
    echo "skip: torchdiffeq is not importable by $py; its path is not checked"
fi
summary
