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
