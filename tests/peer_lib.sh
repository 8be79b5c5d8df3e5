# Sourced by the peers' shell tests (tests/test_peer_*.sh): one run's record as fields.
#
# field FILE NAME: the value of NAME in the JSON record that `odegrad run --json` printed last
# into FILE ("" for null).
field() {
    python3 - "$1" "$2" << 'PYEOF'
import json, sys
rec = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
v = rec[sys.argv[2]] if sys.argv[2] in rec else rec["detail"].get(sys.argv[2])
print("" if v is None else v)
PYEOF
}
# below X Y: X < Y as numbers (both non-empty)
below() { python3 -c "import sys; x, y = sys.argv[1:]; sys.exit(0 if x and y and float(x) < float(y) else 1)" "$1" "$2"; }
# has_solver NAME: whether this machine and build run --solver NAME; prints why not
has_solver() {
    local out
    out=$("$BIN" run --solver "$1" --dim 2 --hidden 2 --batch 2 --repeat 1 --warmup 0 \
          --reference none $([ "$1" = cvodes ] && echo --rtol 1e-3 || echo --steps 1) 2>&1)
    local rc=$?
    if [ $rc -eq 2 ]; then
        echo "$out" | tail -1
        return 1
    fi
    return 0
}
