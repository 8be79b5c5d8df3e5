#!/bin/sh
# Installs the Debian 12 packages odegrad needs, if any is missing.  As root it runs apt-get;
# anyone else is told the exact command and the script stops with status 1.
#
# Usage: scripts/install-deps.sh [mpi] [peers] [kernels]
#   mpi: also Open MPI (libopenmpi-dev openmpi-bin), which the build then finds (ODG_MPI=auto)
#   for sweeps across ranks and `odegrad run --mpi` (docs/experiments.md, "Past one machine").
#   Optional: without it everything else builds and runs, and the MPI tests say they skipped.
#   MPICH (libmpich-dev mpich) builds as well; install one of the two, not both.
#   peers: the optional peers' packages (make peers): python3-torch python3-numpy
#   libsundials-dev, for --solver torch and --solver cvodes.
#   kernels: libsleef-dev, for bench/kernels.c (odegrad_kernels: the mlp's tanh against SLEEF's);
#   nothing else uses it.  (libxsmm-dev, which the benchmark also measures, is a dependency of
#   the build on x86-64.)
set -eu

PKGS="cmake make gcc g++ pkg-config libopenblas-openmp-dev liblapacke-dev libjansson-dev
libinih-dev libbenchmark-dev gnuplot-nox valgrind"
# libxsmm runs the mlp's small GEMMs where it beats OpenBLAS (models/mlp.c); it exists for x86-64
# only, and the build does without it elsewhere
if [ "$(dpkg --print-architecture 2>/dev/null)" = amd64 ]; then
    PKGS="$PKGS libxsmm-dev"
fi
for group in "$@"; do
    case $group in
        mpi) PKGS="$PKGS libopenmpi-dev openmpi-bin" ;;
        peers) PKGS="$PKGS python3-torch python3-numpy libsundials-dev" ;;
        kernels) PKGS="$PKGS libsleef-dev" ;;
        *)
            echo "usage: scripts/install-deps.sh [mpi] [peers] [kernels]" >&2
            exit 2
            ;;
    esac
done

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "odegrad: missing Debian packages:$missing" >&2
if [ "$(id -u)" -ne 0 ]; then
    echo "odegrad: run as root:  apt-get update && apt-get install -y$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
