# Sourced by the shell tests of the odegrad command (tests/test_cli_*.sh): a scratch directory W
# removed at exit, with the reference cache inside it; one thread; the pass/fail counters.
#
# One thread: the machine may be shared, and an OpenMP barrier waiting on a descheduled thread
# turns milliseconds into seconds.  Nothing the tests check depends on the thread count.
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
export ODEGRAD_CACHE="$W/cache"
export OMP_NUM_THREADS=1
npass=0
nfail=0
pass() { npass=$((npass + 1)); }
fail() {
    nfail=$((nfail + 1))
    echo "FAIL: $*"
}
expect() { # expect DESCRIPTION COMMAND...: the command must succeed
    local what=$1
    shift
    if "$@"; then pass; else fail "$what"; fi
}
# The last line of every test: the counts, and the exit status.
summary() {
    echo "$npass passed, $nfail failed"
    [ "$nfail" -eq 0 ]
}
