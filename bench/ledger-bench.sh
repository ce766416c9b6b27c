#!/usr/bin/env bash
# bench/ledger-bench.sh: the usage ledger's costs (lib/team/cp_ledger.h, lib/team/cp_usage.h).
#
#   bench/ledger-bench.sh [CCPROXY_BIN]     (or $CCPROXY_BIN; default build/ccproxy)
#
# 1. builds bench/ledger-bench.c against the libraries next to the binary ($BUILD_DIR, default the
#    binary's directory: libccproxy_core.a, libccproxy_xlate.a);
# 2. a burst of $ADD_ROWS (100,000) cp_ledger_add() calls: mean, percentiles and max of one call (what
#    the loop waits), and how long close() then takes to write them;
# 3. a $ROWS (1,000,000) row ledger spread over 30 days, written through the real writer (skipped when
#    $KEEP_DB names an existing file);
# 4. `ccproxy usage --since 30d --by key|model|provider|day|session` ($RUNS runs each, output to
#    /dev/null, --json for one more run of each): min and median wall time.
# Everything goes to a new directory in /tmp (removed at the end unless $KEEP=1).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BIN=${1:-${CCPROXY_BIN:-$ROOT/build/ccproxy}}
BUILD_DIR=${BUILD_DIR:-$(dirname "$BIN")}
ROWS=${ROWS:-1000000}
ADD_ROWS=${ADD_ROWS:-100000}
RUNS=${RUNS:-7}
OUT=$(mktemp -d /tmp/ccproxy-ledger-bench.XXXXXX)
DB=${KEEP_DB:-$OUT/usage.db}

cleanup() { [ "${KEEP:-0}" = 1 ] || rm -rf "$OUT"; }
trap cleanup EXIT

[ -x "$BIN" ] || { echo "ledger-bench: no ccproxy binary at $BIN" >&2; exit 2; }
cc -O2 -std=c11 -D_GNU_SOURCE -I"$ROOT/lib/base" -I"$ROOT/lib/team" "$HERE/ledger-bench.c" \
    "$BUILD_DIR/libccproxy_core.a" "$BUILD_DIR/libccproxy_xlate.a" \
    $(pkg-config --libs sqlite3 jansson libcrypto) -lpthread -lm -o "$OUT/ledger-bench"

echo "== cp_ledger_add under a burst"
"$OUT/ledger-bench" add "$OUT/burst.db" "$ADD_ROWS"

if [ ! -s "$DB" ]; then
    echo "== generating $ROWS rows over 30 days"
    timeout 600 "$OUT/ledger-bench" gen "$DB" "$ROWS" 30
fi
ls -l "$DB" | awk '{printf "ledger: %.1f MB\n", $5 / 1048576}'

ms_now() { echo $(( $(date +%s%N) / 1000000 )); }

echo "== ccproxy usage --since 30d ($RUNS runs each; ms)"
printf '%-10s %8s %8s %10s\n' by min median json
for by in key model provider day session; do
    times=()
    for _ in $(seq "$RUNS"); do
        t0=$(ms_now)
        HOME="$OUT" "$BIN" usage --ledger "$DB" --since 30d --by "$by" >/dev/null
        times+=($(($(ms_now) - t0)))
    done
    t0=$(ms_now)
    HOME="$OUT" "$BIN" usage --ledger "$DB" --since 30d --by "$by" --json >/dev/null
    tj=$(($(ms_now) - t0))
    sorted=($(printf '%s\n' "${times[@]}" | sort -n))
    printf '%-10s %8s %8s %10s\n' "$by" "${sorted[0]}" "${sorted[$((RUNS / 2))]}" "$tj"
done
t0=$(ms_now)
HOME="$OUT" "$BIN" usage --ledger "$DB" --since 30d --by session --key dev-007 >/dev/null
echo "one key (--key dev-007 --by session): $(($(ms_now) - t0)) ms"
