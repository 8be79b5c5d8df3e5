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
# expect_refused TEXT COMMAND...: the command (which writes its CSV to $W/r.csv, if anything)
# exits 2 with one line on stderr that contains TEXT, and writes no CSV
expect_refused() {
    local text=$1
    shift
    rm -f "$W/r.csv"
    "$@" > "$W/out.txt" 2> "$W/err.txt"
    local rc=$?
    if [ $rc -ne 2 ]; then
        fail "$* exits $rc, not 2"
    elif ! grep -qF -- "$text" "$W/err.txt"; then
        fail "$*: the message '$(cat "$W/err.txt")' does not say '$text'"
    elif [ "$(wc -l < "$W/err.txt")" -ne 1 ]; then
        fail "$*: more than one line: $(cat "$W/err.txt")"
    elif [ -e "$W/r.csv" ]; then
        fail "$*: a CSV was written"
    else
        pass
    fi
}
