#!/usr/bin/env bash
# "cores_available" in the provenance (odg_cpus_available, core/cpus.c): the CPUs of the affinity
# mask, lowered by a cgroup CPU quota.  Under `taskset` with one CPU it is 1, with two it is 2
# (unless a quota allows fewer); without, it is the mask's count lowered by the quota this
# script finds on its own in the cgroup files.  Skipped with a message where taskset is missing.
#
# usage: bash test_cpus.sh ODEGRAD_BINARY SOURCE_DIR
set -u
BIN=${1:?usage: test_cpus.sh ODEGRAD_BINARY SOURCE_DIR}
. "$(dirname "$0")/cli_lib.sh"

# cores [taskset ARGS...]: cores_available from `odegrad version --json`, run under those args.
cores() {
    "$@" "$BIN" version --json | grep -o '"cores_available": *[0-9]*' | grep -o '[0-9]*$'
}

# The smallest cgroup quota, in whole CPUs, over this process's cgroup and its ancestors (v2
# cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us); empty if there is none.
quota() {
    local best="" id ctl path root dir q p c
    while IFS=: read -r id ctl path; do
        local roots="" v2=0
        if [ "$id" = 0 ] && [ -z "$ctl" ]; then
            roots=/sys/fs/cgroup
            v2=1
        elif [[ ",$ctl," == *,cpu,* ]]; then
            roots="/sys/fs/cgroup/cpu,cpuacct /sys/fs/cgroup/cpu"
        fi
        for root in $roots; do
            dir=$root${path%/}
            while :; do
                q="" p=""
                if [ $v2 = 1 ]; then
                    [ -r "$dir/cpu.max" ] && read -r q p < "$dir/cpu.max"
                elif [ -r "$dir/cpu.cfs_quota_us" ] && [ -r "$dir/cpu.cfs_period_us" ]; then
                    q=$(cat "$dir/cpu.cfs_quota_us") p=$(cat "$dir/cpu.cfs_period_us")
                fi
                if [[ "$q" =~ ^[0-9]+$ && "$p" =~ ^[0-9]+$ ]] && [ "$q" -gt 0 ] &&
                    [ "$p" -gt 0 ]; then
                    c=$(((q + p - 1) / p))
                    if [ -z "$best" ] || [ "$c" -lt "$best" ]; then best=$c; fi
                fi
                [ "$dir" = "$root" ] && break
                dir=${dir%/*}
            done
        done
    done < /proc/self/cgroup
    echo "$best"
}

Q=$(quota)
lower() { # lower N: N lowered by the quota
    if [ -n "$Q" ] && [ "$Q" -lt "$1" ]; then echo "$Q"; else echo "$1"; fi
}
[ -n "$Q" ] && echo "note: a cgroup quota of $Q CPUs"

got=$(cores)
[[ "$got" =~ ^[0-9]+$ ]] && [ "$got" -ge 1 ] && pass ||
    fail "no cores_available >= 1 in version --json: '$got'"

if command -v taskset > /dev/null; then
    # The mask as a list ("0-3,8,10-11"): its count, and its first two CPUs (CPU 0 may be
    # outside it, in a container given CPUs 4-7).
    list=$(taskset -cp $$ | sed 's/.*: *//')
    n=0
    cpus=()
    for part in ${list//,/ }; do
        a=${part%-*} b=${part#*-}
        n=$((n + b - a + 1))
        for ((c = a; c <= b && ${#cpus[@]} < 2; c++)); do cpus+=("$c"); done
    done
    want=$(lower "$n")
    [ "$got" = "$want" ] && pass ||
        fail "cores_available is $got; the mask '$list' has $n CPUs, the quota '${Q:-none}'"
    one=$(cores taskset -c "${cpus[0]}")
    [ "$one" = 1 ] && pass || fail "under taskset -c ${cpus[0]}: cores_available '$one', want 1"
    if [ "${#cpus[@]}" -ge 2 ]; then
        two=$(cores taskset -c "${cpus[0]},${cpus[1]}")
        [ "$two" = "$(lower 2)" ] && pass ||
            fail "under taskset -c ${cpus[0]},${cpus[1]}: cores_available '$two'"
    fi
else
    # nproc honours the mask too, but also OMP_NUM_THREADS, which cli_lib.sh sets
    want=$(lower "$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)")
    [ "$got" = "$want" ] && pass || fail "cores_available is $got, nproc and the quota say $want"
    echo "skipped: taskset (util-linux) is not installed, so the one-CPU mask is not tried"
fi

summary
