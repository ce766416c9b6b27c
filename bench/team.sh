#!/usr/bin/env bash
# bench/team.sh: what team access (developer keys, per-key limits, prices, the usage ledger) costs per
# request, on the small non-stream benchmark of run.sh. Same binary, same body, same wrk script, wrk
# -t2 -c32; the modes alternate, a fresh proxy for every run:
#   A  no keys (loopback mode), ledger.enabled false                              (the baseline)
#   B  $KEYS keys in auth.keys, each request authenticated as one of $USE_KEYS of them (x-api-key, in
#      turn), those with models, rpm, tpm, maxStreams and a USD budget set never to refuse; prices
#      configured; the ledger on (~/.ccproxy/usage.db in the proxy's $HOME, default flushMs 250)
#   C  B with ledger.enabled false (splits auth + limits from the ledger)
#
#   bench/team.sh [--runs 5] [--duration 10] [--modes ABC] [--keys 1000] [--use-keys 16]
#                 [--ccproxy BIN] [--no-build] [--out DIR] [--perf] [--callgrind]
#
# Prints the runs and a table (median, min..max): req/s, proxy CPU µs per request (and how much of it
# was in threads other than the loop, i.e. the ledger writer), p50/p99, and B and C against A (the
# differences of the runs of the same round). After each B run it counts the ledger's rows against the
# requests wrk completed, and the ledger's size per row. --perf: then one more run of each mode under
# `perf record` (-F 499, call graphs), and the top symbols of each. --callgrind: instead of the timed
# runs, each mode once under valgrind's callgrind, counting the instructions the proxy executes (every
# thread: the loop and the ledger writer) for the requests of one wrk run: instructions per request do
# not move with the load of a shared machine, where req/s moves by tens of per cent. Needs what run.sh
# needs for its wrk part, plus sqlite3 and sha256sum (and valgrind for --callgrind).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
. "$HERE/lib.sh" # busy, busy_pct, quiet_wait, bench_snapshot

RUNS=5
DURATION=10
MODES=ABC
KEYS=1000
USE_KEYS=16 # one key may not go above 100,000 rpm (CP_LIMITS_RPM_MAX): several keys carry the load
THREADS=2
CONNS=32
BUILD=1
CCPROXY=""
OUT=""
PERF=0
CALLGRIND=0
BODY=$HERE/bodies/small.json
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PROXY_PORT=${PROXY_PORT:-18182}
MOCK_PORT=${MOCK_PORT:-18191}
QUIET_MAX=${QUIET_MAX:-60}

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
    --runs) RUNS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --modes) MODES=$2; shift ;;
    --keys) KEYS=$2; shift ;;
    --use-keys) USE_KEYS=$2; shift ;;
    --ccproxy) CCPROXY=$2; shift ;;
    --no-build) BUILD=0 ;;
    --out) OUT=$2; shift ;;
    --perf) PERF=1 ;;
    --callgrind) CALLGRIND=1 ;;
    -h|--help) usage ;;
    *) echo "team.sh: unknown argument $1" >&2; usage ;;
    esac
    shift
done
[ "$USE_KEYS" -ge 1 ] && [ "$USE_KEYS" -le "$KEYS" ] || { echo "team.sh: --use-keys must be 1..--keys" >&2; exit 2; }

need() { command -v "$1" >/dev/null 2>&1 || { echo "team.sh: $1 is required" >&2; exit 1; }; }
for t in cc pkg-config curl wrk sqlite3 sha256sum timeout; do need "$t"; done
[ "$PERF" = 0 ] || need perf
[ "$CALLGRIND" = 0 ] || { need valgrind; need callgrind_control; }

[ -n "$OUT" ] || OUT=$(mktemp -d "${TMPDIR:-/tmp}/ccproxy-team.XXXXXX")
mkdir -p "$OUT/bin" "$OUT/home/.ccproxy"
OUT=$(cd "$OUT" && pwd)
echo "results in $OUT"
ulimit -n "$(ulimit -Hn)"
if [ "$(nproc)" -lt 2 ]; then TS_PROXY=(); TS_LOAD=(); else
    TS_PROXY=(taskset -c "$PROXY_CPU"); TS_LOAD=(taskset -c "$LOAD_CPU"); fi

PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
    PIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM
stop_pid() { # stops one of our processes (SIGTERM: the proxy drains and flushes its ledger) and forgets it
    local p keep=()
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && [ "$p" != "$1" ] && keep+=("$p"); done
    PIDS=("${keep[@]:-}")
}

# ---- the binary and the mock ---------------------------------------------------------------------
bench_snapshot team.sh
# shellcheck disable=SC2046
cc -O2 -std=c11 -Wall -o "$OUT/bin/mock_upstream" "$HERE/mock_upstream.c" $(pkg-config --cflags --libs libevent)

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$( [ -n "$(git -C "$ROOT" status --porcelain -- lib daemon 2>/dev/null)" ] && echo ' (lib/ or daemon/ modified)')"
    echo "nproc: $(nproc); cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
    echo "kernel: $(uname -sr); ledger on: $(df -T "$OUT" | awk 'NR == 2 {print $2 " (" $1 ")"}')"
    echo "ccproxy: $("$CC_BIN" version 2>&1 | head -1)"
    echo "sqlite3: $(sqlite3 --version | awk '{print $1}'); wrk: $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
    echo "pinning: proxy ${TS_PROXY[*]:-none}; mock and wrk ${TS_LOAD[*]:-none}"
    echo "plan: $RUNS rounds of modes $MODES, ${DURATION}s each, wrk -t$THREADS -c$CONNS, body $(basename "$BODY") ($(wc -c <"$BODY") B); $KEYS keys, $USE_KEYS used"
} | tee "$OUT/machine.txt"

# ---- helpers (the same measurements as run.sh) ---------------------------------------------------
kv() { sed -n 's/^RESULT //p' "$1" 2>/dev/null | tail -1 | tr ' ' '\n' | sed -n "s/^$2=//p"; }
thread_ticks() { # pid -> "process-ticks other-threads-ticks": the loop thread is the one whose id is the pid
    cat "/proc/$1/stat" /proc/"$1"/task/*/stat 2>/dev/null |
        awk -v p="$1" 'NR == 1 { all = $14 + $15; next } $1 != p { o += $14 + $15 } END { print all + 0, o + 0 }'
}
wait_http() {
    for _ in $(seq 1 500); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1$2" 2>/dev/null)" = 200 ] && return 0
        sleep 0.01
    done
    return 1
}
for p in "$PROXY_PORT" "$MOCK_PORT"; do
    ! curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$p/" 2>/dev/null ||
        { echo "team.sh: port $p is in use (set PROXY_PORT/MOCK_PORT)" >&2; exit 1; }
done

# ---- keys and settings ---------------------------------------------------------------------------
# Key i is "ccp_" + 43 characters (the length of `ccproxy keys add` keys), named dev-NNNN. Keys FIRST ..
# FIRST + USE_KEYS - 1 (the middle of the list; auth compares every digest anyway) carry the load with
# limits that never refuse; every other key has ordinary limits.
FIRST=$((KEYS / 2))
key_of() { printf 'ccp_bench%039d' "$1"; }
USED=""
{
    echo '['
    for i in $(seq 0 $((KEYS - 1))); do
        d=$(key_of "$i" | sha256sum | cut -c1-64)
        if [ "$i" -ge "$FIRST" ] && [ "$i" -lt $((FIRST + USE_KEYS)) ]; then
            USED="$USED${USED:+,}$(key_of "$i")"
            lim='"models": ["claude-*", "mock-model*@mock"], "rpm": 100000, "tpm": 1000000000000, "maxStreams": 100000, "budget": {"usd": 1000000, "per": "month"}'
        else
            lim='"models": ["claude-*"], "rpm": 60, "tpm": 400000, "maxStreams": 8, "budget": {"usd": 50, "per": "month"}'
        fi
        printf '  {"name": "dev-%04d", "sha256": "%s", %s}%s\n' "$i" "$d" "$lim" "$([ "$i" -lt $((KEYS - 1)) ] && echo ,)"
    done
    echo ']'
} >"$OUT/keys.json"

write_settings() { # mode
    local team ledger=false
    case $1 in
    A) team="" ;;
    B) team="\"auth\": {\"keys\": $(cat "$OUT/keys.json")},"; ledger=true ;;
    C) team="\"auth\": {\"keys\": $(cat "$OUT/keys.json")}," ;;
    esac
    [ -z "$team" ] || team="$team
  \"prices\": {\"mock-model*\": {\"input\": 3, \"output\": 15, \"cacheRead\": 0.3, \"cacheWrite\": 3.75}},"
    cat >"$OUT/home/.ccproxy/settings.json" <<EOF
{
  "server": {"host": "127.0.0.1", "port": $PROXY_PORT, "drainTimeoutSeconds": 2},
  "providers": {"mock": {"baseURL": "http://127.0.0.1:$MOCK_PORT/v1", "apiKey": "bench", "responseStyle": "openai"}},
  "models": {"bigModel": "mock-model@mock", "smallModel": "mock-model@mock", "preferredProvider": "mock"},
  $team
  "ledger": {"enabled": $ledger},
  "logging": {"level": "info"}
}
EOF
    chmod 600 "$OUT/home/.ccproxy/settings.json"
}
LEDGER=$OUT/home/.ccproxy/usage.db
rows() { sqlite3 -readonly "$LEDGER" 'SELECT count(*) FROM requests' 2>/dev/null || echo 0; }

PROXY_PID=""
start_proxy() { # mode run
    rm -f "$LEDGER" "$LEDGER-wal" "$LEDGER-shm" # a fresh ledger: its limit counters start empty
    write_settings "$1"
    (cd "$OUT/home" && HOME="$OUT/home" CCPROXY_MANAGED_PATH=/nonexistent exec "${TS_PROXY[@]}" "$CC_BIN" server \
        --port "$PROXY_PORT" --host 127.0.0.1 2>"$OUT/ccproxy-$1-$2.log") &
    PROXY_PID=$!
    PIDS+=("$PROXY_PID")
    wait_http "$PROXY_PORT" /health || { echo "team.sh: ccproxy did not start, see $OUT/ccproxy-$1-$2.log" >&2; exit 1; }
}
post() { # key out-file: prints the HTTP status
    curl -s -o "$2" -w '%{http_code}' --max-time 10 -X POST "http://127.0.0.1:$PROXY_PORT/v1/messages" \
        -H 'content-type: application/json' -H 'anthropic-version: 2023-06-01' -H "x-api-key: $1" --data-binary "@$BODY"
}
wrk_load() { # threads conns seconds out-file
    BENCH_BODY=$BODY BENCH_KEYS=$USED timeout $(($3 + 30)) "${TS_LOAD[@]}" wrk -t"$1" -c"$2" -d"${3}s" --timeout 10s \
        -s "$HERE/wrk/post-keys.lua" "http://127.0.0.1:$PROXY_PORT" >"$4" 2>&1 || true
}

# ---- runs ----------------------------------------------------------------------------------------
(exec "${TS_LOAD[@]}" "$OUT/bin/mock_upstream" --port "$MOCK_PORT" --chunks 20 --interval-ms 0 2>"$OUT/mock.log") &
MOCK_PID=$!
PIDS+=("$MOCK_PID")
wait_http "$MOCK_PORT" /health || { echo "team.sh: the mock did not start" >&2; exit 1; }

HZ=$(getconf CLK_TCK)
RES=$OUT/runs.tsv
printf 'mode\tround\trps\tp50_us\tp99_us\trequests\terrors\tcpu_pct\tcpu_us_per_req\tother_threads_us_per_req\tcore_busy_pct\tledger_rows\trows_minus_requests\trows_not_200\tdb_bytes\n' >"$RES"
one_run() { # mode round [perf]
    local m=$1 r=$2 f st v perf_pid="" c0 c1 t0 t1 k0 k1 r0 r1 req err e not200=- db=- rowsd=- nrows=-
    f=$OUT/wrk-$m-$r.txt
    start_proxy "$m" "$r"
    if [ "$r" = 1 ]; then # the answers are real Messages, and keys mode refuses a wrong key
        st=$(post "$(key_of "$FIRST")" "$OUT/answer-$m.json")
        [ "$st" = 200 ] && grep -q '"type":"message"' "$OUT/answer-$m.json" ||
            { echo "team.sh: mode $m answered $st: $(head -c 300 "$OUT/answer-$m.json")" >&2; exit 1; }
        if [ "$m" != A ]; then
            st=$(post ccp_wrong "$OUT/answer-$m-wrong.json")
            [ "$st" = 401 ] || { echo "team.sh: mode $m answered $st to a wrong key (expected 401)" >&2; exit 1; }
        fi
        echo "  mode $m: $(sed -n 's/.*"msg":"\(access: [^"(]*\).*/\1/p' "$OUT/ccproxy-$m-$r.log" | head -1)"
    fi
    wrk_load 1 4 1 /dev/null # warm-up
    sleep 0.6                # > flushMs: the warm-up's rows are written
    r0=$(rows)
    quiet_wait
    c0=$(thread_ticks "$PROXY_PID"); k0=$(busy "$PROXY_CPU"); t0=$(date +%s.%N)
    if [ "${3:-}" = perf ]; then
        timeout $((DURATION + 30)) "${TS_LOAD[@]}" perf record -F 499 -g -o "$OUT/perf-$m.data" -p "$PROXY_PID" \
            -- sleep "$DURATION" >/dev/null 2>&1 &
        perf_pid=$!
        PIDS+=("$perf_pid")
    fi
    wrk_load "$THREADS" "$CONNS" "$DURATION" "$f"
    c1=$(thread_ticks "$PROXY_PID"); k1=$(busy "$PROXY_CPU"); t1=$(date +%s.%N)
    [ -z "$perf_pid" ] || { wait "$perf_pid" 2>/dev/null || true; stop_pid "$perf_pid"; } # it ends by itself
    stop_pid "$PROXY_PID" # SIGTERM: every queued row is written before it exits
    req=$(kv "$f" requests)
    [ -n "$req" ] || { echo "team.sh: wrk failed: $(tail -3 "$f")" >&2; exit 1; }
    err=0; for e in err_connect err_read err_write err_status err_timeout; do v=$(kv "$f" $e); err=$((err + ${v:-0})); done
    if [ "$m" = B ]; then
        r1=$(rows)
        nrows=$((r1 - r0)); rowsd=$((r1 - r0 - req))
        not200=$(sqlite3 -readonly "$LEDGER" "SELECT count(*) FROM requests WHERE id > $r0 AND status != 200")
        db=$(( $(stat -c %s "$LEDGER") + $(stat -c %s "$LEDGER-wal" 2>/dev/null || echo 0) ))
    fi
    line=$(awk -v m="$m" -v r="$r" -v rps="$(kv "$f" rps)" -v p50="$(kv "$f" p50_us)" -v p99="$(kv "$f" p99_us)" \
        -v req="$req" -v err="$err" -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" \
        -v hz="$HZ" -v busy="$(busy_pct "$k0" "$k1")" -v nrows="$nrows" -v rowsd="$rowsd" -v not200="$not200" -v db="$db" \
        'BEGIN { split(c0, a, " "); split(c1, b, " "); cpu = (b[1] - a[1]) / hz; other = (b[2] - a[2]) / hz
                 printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t%.2f\t%.2f\t%s\t%s\t%s\t%s\t%s\n", m, r, rps, p50, p99, req, err,
                     100 * cpu / (t1 - t0), 1e6 * cpu / req, 1e6 * other / req, busy, nrows, rowsd, not200, db }')
    echo "$line" >>"$RES"
    echo "$line" | awk -F'\t' '{ printf "  %s #%s  %9s req/s  p50 %5s us  p99 %5s us  errors %s  proxy cpu %s%% = %s us/req (other threads %s)  its core %s%% busy", $1, $2, $3, $4, $5, $7, $8, $9, $10, $11
        if ($1 == "B") printf "  ledger +%s rows (%+d vs wrk, %s not 200), %.0f B/row", $12, $13, $14, $15 / ($12 + 0.000001)
        printf "\n" }'
}

# Instructions per request under callgrind (--callgrind): instrumentation is switched on (and the
# counters zeroed) after the warm-up,
# for one wrk run (1 thread, 4 connections), and dumped a second after it (the ledger writer's batch
# for those rows included); per request = the instructions of every thread / the requests wrk counted
# (those still in flight at the end, at most 4, make it a slight overestimate). Only the explicit dump
# is read: the one callgrind writes at exit counts from the zeroing and comes out wrapped around.
callgrind_run() { # mode
    local m=$1 f=$OUT/wrk-$m-callgrind.txt cg=$OUT/callgrind-$m ir req
    rm -f "$LEDGER" "$LEDGER-wal" "$LEDGER-shm" "$cg".*
    write_settings "$m"
    (cd "$OUT/home" && HOME="$OUT/home" CCPROXY_MANAGED_PATH=/nonexistent exec "${TS_PROXY[@]}" valgrind \
        --tool=callgrind --instr-atstart=no --separate-threads=yes --callgrind-out-file="$cg.%p" "$CC_BIN" server \
        --port "$PROXY_PORT" --host 127.0.0.1 2>"$OUT/ccproxy-$m-callgrind.log") &
    PROXY_PID=$!
    PIDS+=("$PROXY_PID")
    for _ in 1 2 3 4 5 6; do wait_http "$PROXY_PORT" /health && break; done
    wrk_load 1 4 2 /dev/null # warm-up
    sleep 1
    callgrind_control -i on "$PROXY_PID" >/dev/null
    callgrind_control -z "$PROXY_PID" >/dev/null
    wrk_load 1 4 "$DURATION" "$f"
    sleep 1 # the ledger writer's batch
    callgrind_control -d "$PROXY_PID" >/dev/null
    callgrind_control -i off "$PROXY_PID" >/dev/null
    stop_pid "$PROXY_PID"
    req=$(kv "$f" requests)
    ir=$(cat "$cg".*.1-* 2>/dev/null | sed -n 's/^summary: //p' | awk '{ s += $1 } END { print s + 0 }')
    printf '%s\t%s\t%s\n' "$m" "$req" "$ir" >>"$OUT/callgrind.tsv"
    awk -v m="$m" -v req="$req" -v ir="$ir" 'BEGIN { printf "  %s  %d requests, %.0f instructions per request\n", m, req, ir / req }'
}

if [ "$CALLGRIND" = 1 ]; then
    echo "== callgrind: instructions per request"
    : >"$OUT/callgrind.tsv"
    for m in $(echo "$MODES" | grep -o .); do callgrind_run "$m"; done
    awk -F'\t' '{ ipr[$1] = $3 / $2 } END { for (m in ipr) if (m != "A" && ("A" in ipr))
        printf "  %s against A: %+.0f instructions per request (%+.1f %%)\n", m, ipr[m] - ipr["A"], 100 * (ipr[m] / ipr["A"] - 1) }' \
        "$OUT/callgrind.tsv" | sort
    cleanup
    exit 0
fi

for r in $(seq 1 "$RUNS"); do
    echo "== round $r of $RUNS"
    for m in $(echo "$MODES" | grep -o .); do one_run "$m" "$r"; done
done
if [ "$PERF" = 1 ]; then
    echo "== perf: one more run of each mode under perf record"
    for m in $(echo "$MODES" | grep -o .); do
        one_run "$m" perf perf
        perf report -i "$OUT/perf-$m.data" --no-children --sort sym --percent-limit 0.7 --stdio 2>/dev/null |
            grep -v '^#' | grep '%' | head -30 >"$OUT/perf-$m.txt" || true
    done
fi
cleanup

# ---- table ---------------------------------------------------------------------------------------
# per mode: median (min..max) of each figure; B and C against A: the difference of each round's runs
# (the runs of one round are next to each other in time), median (min..max).
{
    echo "| mode | req/s | proxy CPU µs/req (other threads) | p50 µs | p99 µs | errors |"
    echo "|---|---|---|---|---|---|"
    for m in $(echo "$MODES" | grep -o .); do
        awk -F'\t' -v m="$m" '
            function med(a, n,   i, j, t) { for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
                                              return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
            function f(col, fmt,   a, i) { for (i = 1; i <= n; i++) a[i] = v[i, col]; return sprintf(fmt " (" fmt ".." fmt ")", med(a, n), a[1], a[n]) }
            NR > 1 && $1 == m && $2 ~ /^[0-9]+$/ { n++; for (c = 1; c <= NF; c++) v[n, c] = $c; e += $7 }
            END { if (!n) exit
                  name = (m == "A") ? "A no keys, no ledger" : (m == "B") ? "B keys + limits + prices + ledger" : "C keys + limits + prices, no ledger"
                  printf "| %s | %s | %s (%s) | %s | %s | %d |\n", name, f(3, "%.0f"), f(9, "%.1f"), f(10, "%.2f"), f(4, "%.0f"), f(5, "%.0f"), e }' "$RES"
    done
    echo
    echo "| against A (same round) | req/s | proxy CPU µs/req | p50 | p99 |"
    echo "|---|---|---|---|---|"
    for m in B C; do
        case $MODES in *A*) ;; *) break ;; esac
        case $MODES in *$m*) ;; *) continue ;; esac
        awk -F'\t' -v m="$m" '
            function med(a, n,   i, j, t) { for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
                                              return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
            function d(col,   a, i, k) { k = 0; for (i = 1; i <= R; i++) if ((i, "A", col) in v && (i, m, col) in v && v[i, "A", col] > 0) a[++k] = 100 * (v[i, m, col] / v[i, "A", col] - 1)
                                          if (!k) return "n/a"; return sprintf("%+.1f %% (%+.1f..%+.1f)", med(a, k), a[1], a[k]) }
            NR > 1 && $2 ~ /^[0-9]+$/ { for (c = 3; c <= NF; c++) v[$2, $1, c] = $c; if ($2 > R) R = $2 }
            END { printf "| %s | %s | %s | %s | %s |\n", m, d(3), d(9), d(4), d(5) }' "$RES"
    done
    if grep -q '^B	[0-9]' "$RES"; then
        echo
        awk -F'\t' '$1 == "B" && $2 ~ /^[0-9]+$/ { n++; rows += $12; req += $6; if (n == 1 || $13 < lo) lo = $13; if (n == 1 || $13 > hi) hi = $13
                                                   no += $14; db += $15 }
            END { printf "ledger (B): %d rows for %d requests wrk completed over %d runs; rows − requests per run %+d..%+d (the requests in flight when wrk stopped: at most %d), %d rows not 200; %.0f bytes per row (usage.db after the proxy stopped)\n",
                  rows, req, n, lo, hi, '"$CONNS"', no, db / rows }' "$RES"
    fi
} >"$OUT/summary.md"
echo
cat "$OUT/machine.txt"
echo
cat "$OUT/summary.md"
for m in A B C; do
    [ -s "$OUT/perf-$m.txt" ] && { echo; echo "perf, mode $m (self %, symbols above 0.7 %):"; cat "$OUT/perf-$m.txt"; }
done
echo
echo "raw output: $OUT"
