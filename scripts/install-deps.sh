#!/bin/sh
# Installs the Debian 12 packages odegrad needs, if any is missing.  As root it runs apt-get;
# anyone else is told the exact command and the script stops with status 1.
# `install-deps.sh peers` (make peers): the optional peers' packages instead.
set -eu

PKGS="cmake make gcc g++ pkg-config libopenblas-openmp-dev liblapacke-dev libjansson-dev
libinih-dev libbenchmark-dev gnuplot-nox valgrind"
if [ "${1:-}" = peers ]; then
    PKGS="python3-torch python3-numpy libsundials-dev"
fi

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
