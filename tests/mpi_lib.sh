# Sourced by the MPI tests (tests/test_mpi_*.sh, run as `bash TEST ODEGRAD SOURCE_DIR`): what
# tests/cli_lib.sh gives (a scratch directory W, made the working directory, the counters, one
# thread), `check NAME CONDITION...`, and `mpi RANKS COMMAND...`, which
# runs the command under the launcher CMake found (ODG_MPIEXEC) on this one machine.  Without
# MPI in the build, it checks that --mpi says so (exit 2, naming the package) and ends the test
# there, with a line saying what was skipped.
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
# the scratch directory W with the reference cache in it, one thread, pass/fail/summary
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
cd "$W" || exit 1
check() { # check NAME CONDITION...: each check's name printed with its outcome
    local name=$1
    shift
    if "$@"; then
        echo "ok   $name"
        pass
    else
        fail "$name"
    fi
}
# One thread unless a run says otherwise (cli_lib.sh), so that every process resolves `threads`
# alike, and threads that sleep at barriers.
export OMP_WAIT_POLICY=PASSIVE
prob="--model mlp --dim 4 --hidden 8 --batch 40 --batch-chunk 8 --repeat 1 --warmup 0
      --reference none"

if [ -z "${ODG_MPIEXEC:-}" ]; then
    "$bin" run $prob --mpi > out.txt 2> err.txt
    rc=$?
    check "without MPI: --mpi is bad input (exit 2)" [ "$rc" -eq 2 ]
    check "without MPI: the message names the package" grep -q 'libopenmpi-dev' err.txt
    echo "skipped: this build has no MPI (Debian: libopenmpi-dev openmpi-bin, installed by" \
        "scripts/install-deps.sh mpi); $(basename "$0") did not run under mpirun"
    summary
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

