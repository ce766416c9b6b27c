#!/bin/sh
# Runs one libFuzzer target for a while on a fresh copy of its seed corpus (used by `make fuzz`).
#   tests/fuzz/run.sh BUILD TARGET SECONDS MAX_LEN [SEED_FILE...]
# The corpus is BUILD/corpus/TARGET: the seed files plus tests/fuzz/corpus/TARGET/*. The fuzzer's log
# goes to BUILD/TARGET.log, a crashing input to BUILD/crash/TARGET/. Exits non-zero on any finding.
# FUZZ_RUNS=N in the environment also stops the run after N executions (the long runs of
# docs/security.md, "Fuzzing").
set -eu
build=$1 target=$2 seconds=$3 max_len=$4
shift 4

corpus=$build/corpus/$target
crash=$build/crash/$target
log=$build/$target.log
rm -rf "$corpus" "$crash"
mkdir -p "$corpus" "$crash"
for f in "$@"; do
    cp "$f" "$corpus/"
done
if [ -d "tests/fuzz/corpus/$target" ]; then
    cp tests/fuzz/corpus/"$target"/* "$corpus/"
fi

start=$(date +%s)
rc=0
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "$build/$target" -max_total_time="$seconds" -max_len="$max_len" \
    -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 ${FUZZ_RUNS:+-runs="$FUZZ_RUNS"} -artifact_prefix="$crash/" \
    "$corpus" >"$log" 2>&1 || rc=$?
took=$(($(date +%s) - start))
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
if [ "$rc" -ne 0 ]; then
    echo "fuzz: $target FAILED (exit $rc after ${took}s); last lines of $log:" >&2
    tail -n 60 "$log" >&2
    echo "fuzz: $target: reproducer(s):" $(ls "$crash") "in $crash (rerun: $build/$target FILE)" >&2
    exit 1
fi
echo "fuzz: $target ok: ${runs:-?} runs in ${took}s (${rate:-?}/s), corpus $(ls "$corpus" | wc -l) inputs"
