#!/usr/bin/env bash
# What `odegrad run` records: the CSV header is columns.def; the --json record equals the CSV row
# field by field; the rate columns agree with the row's own counts and time, and are empty in a
# row that is not ok; blas_mode is the mode the run resolved to; the sidecar holds the
# provenance; failures (oom, diverged, timeout) are rows too; kill -9 never leaves a torn line; --save-problem / --load / --save-grad reproduce a
# gradient bit for bit, and so does the same seed in another process; references are cached;
# the resident-memory figure grows with N for backprop and stays flat for backsolve-adjoint.
#
# usage: bash test_cli_record.sh ODEGRAD_BINARY SOURCE_DIR
set -u
BIN=${1:?usage: test_cli_record.sh ODEGRAD_BINARY SOURCE_DIR}
SRC=${2:?usage: test_cli_record.sh ODEGRAD_BINARY SOURCE_DIR}
. "$(dirname "$0")/cli_lib.sh"

SMALL=(--dim 2 --hidden 8 --batch 4 --steps 8 --repeat 1 --warmup 0)

# py SCRIPT ARGS...: python3 with the shared helpers; fails the script's check on exceptions.
py() {
    python3 - "$@" << 'EOF'
import csv, json, math, sys

def rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))

def same(name, c, j):
    """A CSV field and a JSON value say the same thing."""
    if c == "":
        return j is None or j == ""  # unknown (null) or an empty string
    if isinstance(j, bool) or j is None:
        return False
    if isinstance(j, int):
        return int(c) == j
    if isinstance(j, float):
        return float(c) == j  # shortest round-trip text and 17 digits: both exact
    return c == j

cmd = sys.argv[1]
if cmd == "header":  # header CSV COLUMNS_DEF
    import re
    names = re.findall(r"^ODG_COLUMN\((\w+),", open(sys.argv[3]).read(), re.M)
    sys.exit(0 if rows(sys.argv[2])[0] == names and len(names) > 0 else 1)
elif cmd == "roundtrip":  # roundtrip CSV JSONLINES: row k+1 against JSON line k
    table = rows(sys.argv[2])
    head = table[0]
    recs = [json.loads(l) for l in open(sys.argv[3]) if l.strip()]
    assert len(recs) == len(table) - 1, (len(recs), len(table))
    for rec, row in zip(recs, table[1:]):
        assert [k for k in rec if k != "detail"] == head, "JSON keys are not the columns"
        for name, c in zip(head, row):
            assert same(name, c, rec[name]), (name, c, rec[name])
elif cmd == "rates":  # rates CSV: gflops, roofline_gflops, roofline_frac of every row
    table = rows(sys.argv[2])
    head = table[0]
    for row in table[1:]:
        r = dict(zip(head, row))
        rates = [r["gflops"], r["roofline_gflops"], r["roofline_frac"]]
        assert r["blas_mode"] in ("chunked", "threaded"), r["blas_mode"]
        if r["status"] != "ok":
            assert rates == ["", "", ""], (r["status"], rates)
            continue
        # docs/theory.md section 9 and odg_model_flops: GEMM flops of one f and one VJP
        B, D, H = int(r["B"]), int(r["D"]), int(r["H"] or 0)  # H is empty for linear
        # (a VJP that reads kept activations skips the hidden layer's GEMM: 8 B D H)
        f, v = (4 * B * D * H, (8 if r["keep_activations"] == "1" else 10) * B * D * H) \
            if r["model"] == "mlp" else (2 * B * D * D, 4 * B * D * D)
        n = int(r["nfe_forward"]) + int(r["nfe_backward"])
        want = (n * f + int(r["nvjp"]) * v) / float(r["time_median_s"]) / 1e9
        g, roof, frac = (float(x) for x in rates)
        assert g > 0 and abs(g - want) <= 1e-12 * want, (r["method"], g, want)
        assert roof > 0 and abs(frac - g / roof) <= 1e-15 * frac, (r["method"], frac, g / roof)
elif cmd == "fields":  # fields CSV: every line has the header's field count
    table = rows(sys.argv[2])
    n = len(table[0])
    bad = [i for i, r in enumerate(table) if len(r) != n]
    assert not bad, "lines %s have the wrong field count" % bad
    assert open(sys.argv[2]).read().endswith("\n"), "the file does not end with a newline"
    print(len(table) - 1)
elif cmd == "get":  # get CSV ROW COLUMN: prints the field (ROW 1 = first data row, -1 = last)
    table = rows(sys.argv[2])
    print(table[int(sys.argv[3]) if int(sys.argv[3]) < 0 else int(sys.argv[3])]
          [table[0].index(sys.argv[4])])
elif cmd == "jget":  # jget JSONLINE KEY[.KEY...]: prints the value from stdin's last line
    rec = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])
    for k in sys.argv[3].split("."):
        rec = rec[k]
    print(rec)
elif cmd == "sidecar":  # sidecar JSON: the provenance a reader needs
    d = json.load(open(sys.argv[2]))
    p = d["provenance"]
    for k in ["git_commit", "git_dirty", "compiler", "compiler_flags", "cpu_model",
              "cores_online", "memory_total_bytes", "openblas_config", "openblas_threads",
              "openmp_version", "openmp_threads", "date", "command_line"]:
        assert k in p, "provenance lacks " + k
    assert p["date"].endswith("Z") and "T" in p["date"], p["date"]
    assert "run" in p["command_line"], p["command_line"]
    assert [c["name"] for c in d["columns"]] == rows(sys.argv[3])[0]
    assert len(d["environments"]) >= 1 and d["environments"][-1]["writes"] >= 1
EOF
}

# ---- the header, the JSON record and the CSV row ---------------------------------------------
: > "$W/json.lines"
"$BIN" run "${SMALL[@]}" --csv "$W/a.csv" --json --experiment rt1 > "$W/out1" || fail "run 1"
tail -n 1 "$W/out1" >> "$W/json.lines"
"$BIN" run "${SMALL[@]}" --method checkpoint-adjoint --schedule binomial --csv "$W/a.csv" \
    --json --experiment rt2 > "$W/out2" || fail "run 2"
tail -n 1 "$W/out2" >> "$W/json.lines"
"$BIN" run --model linear --spectrum stiff --stiffness 100 --dim 3 --batch 2 --scheme dopri5 \
    --rtol 1e-8 --atol 1e-10 --method stored-adjoint --interp linear --repeat 2 --warmup 0 \
    --csv "$W/a.csv" --json > "$W/out3" || fail "run 3"
tail -n 1 "$W/out3" >> "$W/json.lines"
"$BIN" run "${SMALL[@]}" --keep-activations --csv "$W/a.csv" --json --experiment rt4 > "$W/out4" ||
    fail "run 4"
tail -n 1 "$W/out4" >> "$W/json.lines"
expect "the header is columns.def" py header "$W/a.csv" "$SRC/include/odegrad/columns.def"
expect "the JSON records equal the CSV rows" py roundtrip "$W/a.csv" "$W/json.lines"
expect "the sidecar holds the provenance" py sidecar "$W/a.csv.json" "$W/a.csv"
expect "the rate columns agree with the rows' counts and times" py rates "$W/a.csv"
# auto is chunked with the OpenMP build of OpenBLAS that the build requires (CMakeLists.txt)
[ "$(py get "$W/a.csv" 1 blas_mode)" = chunked ] && pass || fail "auto did not run chunked"
"$BIN" run "${SMALL[@]}" --reference none --blas-mode threaded --batch-chunk 3 \
    --csv "$W/b.csv" > /dev/null || fail "--blas-mode threaded --batch-chunk 3"
"$BIN" run "${SMALL[@]}" --reference none --blas chunked --roofline-gflops 12.5 \
    --csv "$W/b.csv" --json > "$W/out4" || fail "--blas chunked --roofline-gflops 12.5"
[ "$(py get "$W/b.csv" 1 blas_mode)" = threaded ] && pass || fail "--blas-mode threaded"
[ "$(py get "$W/b.csv" 2 blas_mode)" = chunked ] && pass || fail "--blas, the old name"
[ "$(py get "$W/b.csv" 1 batch_chunk)" = 3 ] && [ "$(py get "$W/b.csv" 2 batch_chunk)" = 64 ] &&
    pass || fail "batch_chunk: --batch-chunk 3, and the default 64"
[ "$(py get "$W/b.csv" 2 roofline_gflops)" = 12.5 ] &&
    [ "$(py jget "$W/out4" detail.roofline.source)" = given ] && pass ||
    fail "--roofline-gflops is not recorded as given"
[ "$(py jget "$W/out1" detail.roofline.source)" = measured ] && pass ||
    fail "run 1's roofline was not measured"
expect "the rates with --blas-mode and --roofline-gflops" py rates "$W/b.csv"
[ "$(grep -c '^experiment,' "$W/a.csv")" -eq 1 ] && pass || fail "the header is written once"
[ "$(py get "$W/a.csv" -1 status)" = ok ] && pass || fail "run 3 is not ok"
# the linear run has the analytic reference; dopri5 at rtol 1e-8 with a linearly interpolated
# trajectory (order 2 in the adjoint) lands near it, not on it
err=$(py get "$W/a.csv" -1 err_vs_reference)
python3 -c "import sys; sys.exit(0 if 0 < float('$err') < 1e-3 else 1)" && pass ||
    fail "linear err_vs_reference '$err' is not small"

# ---- failures are rows ----------------------------------------------------------------------
# oom: backprop keeps N*s*M doubles = 100000 * 4 * 8 * 8 bytes = 25.6 MB, over a 1 MiB limit
"$BIN" run "${SMALL[@]}" --steps 100000 --mem-limit 1M --csv "$W/f.csv" > /dev/null 2>&1
rc=$?
[ "$rc" -eq 3 ] && pass || fail "oom: exit status $rc, not 3"
[ "$(py get "$W/f.csv" -1 status)" = oom ] && pass || fail "oom: no oom row"
[ -z "$(py get "$W/f.csv" -1 time_median_s)" ] && pass || fail "oom: a time for a refused run"
# diverged: explicit Euler on eigenvalue -1e6 with h = 0.01 multiplies by ~1e4 per step
"$BIN" run --model linear --spectrum stiff --stiffness 1e6 --dim 4 --batch 2 --scheme euler \
    --steps 100 --repeat 1 --warmup 0 --csv "$W/f.csv" > /dev/null 2>&1
rc=$?
[ "$rc" -eq 3 ] && pass || fail "diverged: exit status $rc, not 3"
[ "$(py get "$W/f.csv" -1 status)" = diverged ] && pass || fail "diverged: no diverged row"
# timeout: a million repetitions cannot finish in 1 s
"$BIN" run "${SMALL[@]}" --repeat 1000000 --timeout 1 --reference none --csv "$W/f.csv" \
    > /dev/null 2>&1
rc=$?
[ "$rc" -eq 3 ] && pass || fail "timeout: exit status $rc, not 3"
[ "$(py get "$W/f.csv" -1 status)" = timeout ] && pass || fail "timeout: no timeout row"
# the gradients it completed are in the row (a partial report every 0.5 s)
reps=$(py get "$W/f.csv" -1 repeats)
[ -n "$(py get "$W/f.csv" -1 time_median_s)" ] && [ "$reps" -gt 0 ] && [ "$reps" -lt 1000000 ] &&
    pass || fail "timeout: the completed gradients are not recorded (repeats '$reps')"
n=$(py fields "$W/f.csv") && [ "$n" -eq 3 ] && pass || fail "failure rows: $n rows, not 3"
expect "failure rows have no rates" py rates "$W/f.csv"

# ---- kill -9 never tears a line -------------------------------------------------------------
# Runs of about 0.1-0.5 s, killed at moments spread over their life, appending to one CSV.
"$BIN" run "${SMALL[@]}" --reference none --csv "$W/k.csv" > /dev/null || fail "kill: first run"
for i in 1 2 3 4 5 6 7 8 9 10; do
    "$BIN" run "${SMALL[@]}" --steps 64 --repeat 200 --reference none --csv "$W/k.csv" \
        --experiment "kill$i" > /dev/null 2>&1 &
    pid=$!
    sleep "0.$((i * 5))"
    kill -9 "$pid" 2> /dev/null
    wait "$pid" 2> /dev/null
done
if n=$(py fields "$W/k.csv"); then
    pass
    echo "kill -9: $((n - 1)) of 10 killed runs had appended their row; every line is whole"
else
    fail "killed runs left the CSV unparseable"
fi
sleep 1
# the measuring children die with their parents (PR_SET_PDEATHSIG)
[ -z "$(pgrep -f -- "$W/k.csv")" ] && pass || fail "a measuring child outlived its parent"

# ---- bit for bit ----------------------------------------------------------------------------
mkdir -p "$W/p" "$W/g1" "$W/g2" "$W/g3"
"$BIN" run "${SMALL[@]}" --seed 7 --save-problem "$W/p" --save-grad "$W/g1" --reference none \
    > /dev/null || fail "save-problem run"
"$BIN" run "${SMALL[@]}" --seed 12345 --load "$W/p" --save-grad "$W/g2" --reference none \
    > /dev/null || fail "load run"
"$BIN" run "${SMALL[@]}" --seed 7 --save-grad "$W/g3" --reference none > /dev/null ||
    fail "same-seed run"
for f in gW1 gb1 gW2 gb2 gz0; do
    [ -s "$W/g1/$f.npy" ] && pass || fail "--save-grad did not write $f.npy"
    cmp -s "$W/g1/$f.npy" "$W/g2/$f.npy" && pass || fail "--load: $f.npy differs"
    cmp -s "$W/g1/$f.npy" "$W/g3/$f.npy" && pass || fail "same seed: $f.npy differs"
done
for f in W1 b1 W2 b2 z0 w; do
    [ -s "$W/p/$f.npy" ] && pass || fail "--save-problem did not write $f.npy"
done
# a partial --load: only z0 from the files, the rest from the seed, is the seed's problem with
# that z0: loading the seed's own z0 changes nothing
mkdir -p "$W/pz" "$W/g4"
cp "$W/p/z0.npy" "$W/pz/"
"$BIN" run "${SMALL[@]}" --seed 7 --load "$W/pz" --save-grad "$W/g4" --reference none \
    > /dev/null || fail "partial load run"
cmp -s "$W/g1/gW1.npy" "$W/g4/gW1.npy" && cmp -s "$W/g1/gz0.npy" "$W/g4/gz0.npy" && pass ||
    fail "a partial --load changed the gradient"

# ---- the reference cache --------------------------------------------------------------------
"$BIN" run "${SMALL[@]}" --seed 99 --json > "$W/r1" || fail "reference run 1"
"$BIN" run "${SMALL[@]}" --seed 99 --json > "$W/r2" || fail "reference run 2"
[ "$(py jget "$W/r1" detail.reference.cached)" = False ] && pass || fail "first reference cached?"
[ "$(py jget "$W/r2" detail.reference.cached)" = True ] && pass ||
    fail "second reference not from the cache"
[ "$(py jget "$W/r1" err_vs_reference)" = "$(py jget "$W/r2" err_vs_reference)" ] && pass ||
    fail "the cached reference gives another error"
[ "$(py jget "$W/r1" detail.reference.converged)" = True ] && pass ||
    fail "the fine reference did not converge"
ls "$W/cache/"*.ref > /dev/null 2>&1 && pass || fail "no cache file in ODEGRAD_CACHE"
[ -z "$(ls "$W/cache/" | grep -v '\.ref$')" ] && pass || fail "temporary files left in the cache"
"$BIN" reference "${SMALL[@]}" --seed 99 > "$W/r3" || fail "odegrad reference"
grep -q "found" "$W/r3" && pass || fail "odegrad reference did not find the cached entry"

# ---- the warm-up (docs/experiments.md, "How a run is measured") -----------------------------
# --warmup 0 runs none; --warmup W >= 1 runs W, and more while they fault pages in, at most
# ODG_RUN_SETTLE_MORE = 8 more: between W and W + 8, and the record says how many.
"$BIN" run "${SMALL[@]}" --reference none --json > "$W/w0" || fail "--warmup 0"
[ "$(py jget "$W/w0" detail.warmups_done)" = 0 ] && pass || fail "--warmup 0 ran warm-ups"
"$BIN" run "${SMALL[@]}" --reference none --warmup 2 --json > "$W/w2" || fail "--warmup 2"
w=$(py jget "$W/w2" detail.warmups_done)
[ "$w" -ge 2 ] 2> /dev/null && [ "$w" -le 10 ] && pass || fail "--warmup 2 ran '$w' warm-ups"

# ---- resident memory follows the stored data ------------------------------------------------
# Not in the sanitizer build (make test-sanitize sets ODG_SANITIZE): AddressSanitizer's shadow
# memory, redzones and quarantine of freed blocks are resident too, so the figures below say
# nothing about the method there.  Everything from here on is about resident memory.
if [ -n "${ODG_SANITIZE:-}" ]; then
    echo "skipped under the sanitizers (ODG_SANITIZE=$ODG_SANITIZE): the resident-memory" \
        "assertions (AddressSanitizer's shadow memory and quarantine are resident too)"
    summary
    exit
fi
# mlp D=64 H=8 B=128: M = B*D = 8192 doubles per state.  backprop keeps N*s*M doubles (s = 4):
# N = 64: 16.8 MB, N = 512: 134.2 MB.  The difference of the two rss figures must exceed half
# of the difference of the theory (117.4 MB / 2): the tape is touched when it is written, and
# nothing else that grows with N is near its size.  backsolve-adjoint keeps nothing that grows
# with N (docs/theory.md section 6; its workspace is O(M + P) and the step grid is 16 bytes a step,
# 7 KiB at N = 512), so its two figures must agree within 4 MiB (allocator and library noise).
RSS=(--model mlp --dim 64 --hidden 8 --batch 128 --repeat 1 --warmup 1 --reference none --json)
rss() { # rss METHOD N
    "$BIN" run "${RSS[@]}" --method "$1" --steps "$2" > "$W/rss.out" || return 1
    py jget "$W/rss.out" rss_peak_bytes
}
bp64=$(rss backprop 64) && bp512=$(rss backprop 512) && bs64=$(rss backsolve-adjoint 64) &&
    bs512=$(rss backsolve-adjoint 512) || fail "rss runs"
echo "rss: backprop N=64 $bp64, N=512 $bp512; backsolve-adjoint N=64 $bs64, N=512 $bs512"
python3 -c "
import sys
M, s = 64 * 128, 4
half = (512 - 64) * s * M * 8 / 2
sys.exit(0 if float('$bp512') - float('$bp64') > half else 1)" && pass ||
    fail "backprop rss does not grow with N ($bp64 -> $bp512)"
python3 -c "
import sys
sys.exit(0 if abs(float('$bs512') - float('$bs64')) < 4 * 2**20 else 1)" && pass ||
    fail "backsolve-adjoint rss is not flat ($bs64 -> $bs512)"
# Timed three times, the tape is still counted once: the gradients after the first reuse the
# memory the process kept, and the peak is read after the first, so it is the accounted peak
# plus allocator and library noise (about 0.3 MiB here; 4 MiB allowed, against the 16 MiB a
# tape counted twice adds).  Reading the peak after all three let it count a second tape now
# and then (16.3 MiB accounted, 32.5 MiB resident in one run of this configuration, 16.6 in the
# next): the allocator had placed a later gradient's tape elsewhere.
ODEGRAD_CACHE="$W/cache" "$BIN" run --model mlp --dim 16 --hidden 64 --batch 128 --steps 256 \
    --method backprop --repeat 3 --warmup 1 --reference fine --json > "$W/rss3.out" ||
    fail "rss run, 3 repeats"
python3 -c "
import json, sys
r = json.loads(open('$W/rss3.out').read().splitlines()[-1])
sys.exit(0 if r['rss_peak_bytes'] < r['accounted_peak_bytes'] + 4 * 2**20 else 1)" && pass ||
    fail "backprop rss over 3 repeats counts more than one tape: $(cat "$W/rss3.out")"

summary
