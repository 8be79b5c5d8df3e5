# Sourced by the MPI tests (tests/test_mpi_*.sh, run as `bash TEST ODEGRAD SOURCE_DIR`): a
# scratch directory, the check counter, one thread by default, and `mpi RANKS COMMAND...`, which
# runs the command under the launcher CMake found (ODG_MPIEXEC) on this one machine.  Without
# MPI in the build, it checks that --mpi says so (exit 2, naming the package) and ends the test
# there, with a line saying what was skipped.
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export ODEGRAD_CACHE=$tmp/cache
cd "$tmp" || exit 1
pass=0
fail=0
check() { # check NAME CONDITION...
    local name=$1
    shift
    if "$@"; then
        echo "ok   $name"
        pass=$((pass + 1))
    else
        echo "FAIL $name"
        fail=$((fail + 1))
    fi
}
# One thread unless a run says otherwise, so that every process resolves `threads` alike.
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
prob="--model mlp --dim 4 --hidden 8 --batch 40 --batch-chunk 8 --repeat 1 --warmup 0
      --reference none"

if [ -z "${ODG_MPIEXEC:-}" ]; then
    "$bin" run $prob --mpi > out.txt 2> err.txt
    rc=$?
    check "without MPI: --mpi is bad input (exit 2)" [ "$rc" -eq 2 ]
    check "without MPI: the message names the package" grep -q 'libopenmpi-dev' err.txt
    echo "skipped: this build has no MPI (Debian: libopenmpi-dev openmpi-bin, installed by" \
        "scripts/install-deps.sh mpi); $(basename "$0") did not run under mpirun"
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
    exit
fi

# Open MPI: as root it needs to be told; more ranks than cores; no binding, so that a rank's
# threads are not all put on one core (and every launch resolves `threads` alike).  MPICH's
# mpiexec oversubscribes and leaves the binding alone by default.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# more ranks than cores: a rank that waits gives its core up instead of polling
export OMPI_MCA_mpi_yield_when_idle=1
# the sanitizers' leak checker would report the MPI library's own allocations
export ASAN_OPTIONS=${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}detect_leaks=0
launch=("$ODG_MPIEXEC")
if "$ODG_MPIEXEC" --version 2>&1 | grep -q -e 'Open MPI' -e 'OpenRTE'; then
    launch+=(--oversubscribe --bind-to none)
fi
mpi() { # mpi RANKS COMMAND...
    local n=$1
    shift
    timeout 120 "${launch[@]}" -np "$n" "$@"
}

