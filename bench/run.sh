#!/usr/bin/env bash
# bench/run.sh: builds the bench tools, runs every ccproxy benchmark bounded in time, prints a table.
#
#   bench/run.sh                      everything (about 6 minutes on 2 cores)
#   bench/run.sh --quick              short smoke run (about 1 minute; figures not for the docs)
#   bench/run.sh --only startup,wrk   parts: startup, wrk, streams, held (N long non-stream requests)
#   bench/run.sh --streams "1000:small 9900:cc70k:500" --held "9900:small" --duration 10 \
#                --ccproxy ./build/ccproxy --no-build --out DIR
#
# Needs: cc, pkg-config and the libevent headers, curl, wrk (installed with apt-get when missing and
# possible), node (only to regenerate bench/bodies/ when a file is missing), taskset.
# The proxy runs pinned to CPU $PROXY_CPU (0), the mock, wrk and the load client to CPU $LOAD_CPU (1).
# Results (raw tool output, logs, summary.md) go to --out DIR (default: a new directory in /tmp).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
. "$HERE/lib.sh" # busy, busy_pct, quiet_wait

DURATION=10          # seconds per wrk throughput run (32 connections)
LAT_DURATION=5       # seconds per wrk latency run (1 connection)
CONNS=32
THREADS=2
# long cases, N:body[:rate[:chunks]]: body is bodies/<body>-stream.json (streams) or <body>.json
# (held); rate is new connections a second (default $RATE); chunks is the stream length in upstream
# chunks (default $STREAM_CHUNKS). The 70 KB body is opened at 500/s (ccproxy parses about 800 of them
# a second; faster arrivals overflow its listen queue, see docs/benchmarks.md), so its streams last 45 s
# for all 9,900 to be open at once after the 20 s ramp.
STREAMS="1000:small 5000:small 9900:small 9900:cc70k:500:45"
HELD="9900:small 9900:cc70k:500:45"
STREAM_CHUNKS=20     # long streams: upstream chunks ...
STREAM_INTERVAL_MS=1000  # ... one every second: 20 s streams
RATE=2000            # new connections per second opened by the load client
STARTUP_RUNS=10
PARTS=startup,wrk,streams,held
BUILD=1
CCPROXY=""
OUT=""
LOG_LEVEL=info
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PROXY_PORT=${PROXY_PORT:-18082}
MOCK_PORT=${MOCK_PORT:-18091}
SLOW_PORT=${SLOW_PORT:-18092}

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) DURATION=3; LAT_DURATION=2; STREAMS="200:small 1000:small 200:cc70k:500"; HELD="1000:small 200:cc70k:500"
             STREAM_CHUNKS=5; STARTUP_RUNS=3 ;;
    --only) PARTS=$2; shift ;;
    --streams) STREAMS=$2; shift ;;
    --held) HELD=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --ccproxy) CCPROXY=$2; shift ;;
    --no-build) BUILD=0 ;;
    --out) OUT=$2; shift ;;
    --log-level) LOG_LEVEL=$2; shift ;;
    -h|--help) usage ;;
    *) echo "run.sh: unknown argument $1" >&2; usage ;;
    esac
    shift
done
has_part() { case ",$PARTS," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

# ---- environment ---------------------------------------------------------------------------------
[ -n "$OUT" ] || OUT=$(mktemp -d "${TMPDIR:-/tmp}/ccproxy-bench.XXXXXX")
mkdir -p "$OUT/bin" "$OUT/home/.ccproxy" "$OUT/bodies"
OUT=$(cd "$OUT" && pwd)
echo "results in $OUT"

ulimit -n "$(ulimit -Hn)" # the proxy, the mock and the load client inherit (and also raise) it
NOFILE=$(ulimit -n)
if [ "$(nproc)" -lt 2 ]; then TS_PROXY=(); TS_LOAD=(); else
    TS_PROXY=(taskset -c "$PROXY_CPU"); TS_LOAD=(taskset -c "$LOAD_CPU"); fi

need() { command -v "$1" >/dev/null 2>&1 || { echo "run.sh: $1 is required" >&2; exit 1; }; }
need cc; need pkg-config; need curl; need timeout
pkg-config --exists libevent || { echo "run.sh: libevent development files are required (libevent-dev)" >&2; exit 1; }
if ! command -v wrk >/dev/null 2>&1 && has_part wrk; then
    echo "wrk not found; installing it with apt-get"
    if [ "$(id -u)" = 0 ]; then apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
    else sudo apt-get install -y wrk >/dev/null; fi
fi

PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && kill "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && wait "$p" 2>/dev/null || true
    done
    PIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- build ---------------------------------------------------------------------------------------
if [ -z "$CCPROXY" ]; then
    if [ "$BUILD" = 1 ]; then
        if [ ! -f "$ROOT/build/CMakeCache.txt" ]; then
            cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCCPROXY_TESTS=OFF >/dev/null
        fi
        if ! cmake --build "$ROOT/build" -j2 >"$OUT/build.log" 2>&1; then
            grep -m3 'error' "$OUT/build.log" >&2 || true
            [ -x "$ROOT/build/ccproxy" ] || { echo "run.sh: the build failed, see $OUT/build.log" >&2; exit 1; }
            echo "run.sh: the build failed (see $OUT/build.log); measuring the existing build/ccproxy of $(date -r "$ROOT/build/ccproxy" '+%F %T')" >&2
        fi
    fi
    CCPROXY=$ROOT/build/ccproxy
fi
cp "$CCPROXY" "$OUT/ccproxy" # a snapshot: a rebuild during the run does not change what is measured
CC_BIN=$OUT/ccproxy
EV_FLAGS=$(pkg-config --cflags --libs libevent)
# shellcheck disable=SC2086
cc -O2 -std=c11 -Wall -o "$OUT/bin/mock_upstream" "$HERE/mock_upstream.c" $EV_FLAGS
# shellcheck disable=SC2046
cc -O2 -std=c11 -Wall -o "$OUT/bin/load_client" "$HERE/load_client.c" \
    $(pkg-config --cflags --libs libevent libevent_openssl openssl)
cc -O2 -std=c11 -Wall -o "$OUT/bin/startup" "$HERE/startup.c"
for b in small small-stream cc70k cc70k-stream; do
    if [ ! -f "$HERE/bodies/$b.json" ]; then need node; node "$HERE/make-bodies.mjs" >/dev/null; break; fi
done

# ---- machine -------------------------------------------------------------------------------------
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$( [ -n "$(git -C "$ROOT" status --porcelain -- lib daemon 2>/dev/null)" ] && echo ' (lib/ or daemon/ modified)')"
    echo "nproc: $(nproc)"
    echo "cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
    echo "ram: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    echo "kernel: $(uname -sr)"
    echo "nofile: $NOFILE (hard $(ulimit -Hn))"
    echo "ccproxy: $("$CC_BIN" version 2>&1 | tr '\n' ';' | sed 's/;$//; s/;/; /g')"
    echo "wrk: $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
    echo "cc: $(cc --version | head -1)"
    echo "pinning: proxy ${TS_PROXY[*]:-none}; mock, wrk, load client ${TS_LOAD[*]:-none}"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt"

# ---- helpers -------------------------------------------------------------------------------------
kv() { sed -n 's/^RESULT //p' "$1" 2>/dev/null | tail -1 | tr ' ' '\n' | sed -n "s/^$2=//p"; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
wait_http() { # port path: wait up to 5 s for a 200

    for _ in $(seq 1 500); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1$2" 2>/dev/null)" = 200 ] && return 0
        sleep 0.01
    done
    return 1
}
QUIET_MAX=${QUIET_MAX:-120} # quiet_wait (bench/lib.sh); timed runs also record how busy the proxy's CPU was
port_free() { ! curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/" 2>/dev/null; }
for p in "$PROXY_PORT" "$MOCK_PORT" "$SLOW_PORT"; do
    port_free "$p" || { echo "run.sh: port $p is in use (set PROXY_PORT/MOCK_PORT/SLOW_PORT)" >&2; exit 1; }
done

write_settings() { # mock port
    cat >"$OUT/home/.ccproxy/settings.json" <<EOF
{
  "server": {"host": "127.0.0.1", "port": $PROXY_PORT, "drainTimeoutSeconds": 2, "maxConnectionsPerPeer": 0},
  "providers": {"mock": {"baseURL": "http://127.0.0.1:$1/v1", "apiKey": "bench", "responseStyle": "openai"}},
  "models": {"bigModel": "mock-model@mock", "smallModel": "mock-model@mock", "preferredProvider": "mock"},
  "logging": {"level": "$LOG_LEVEL"}
}
EOF
}
PROXY_PID=""
start_proxy() { # mock port, log name
    write_settings "$1"
    (cd "$OUT/home" && HOME="$OUT/home" CCPROXY_MANAGED_PATH=/nonexistent exec "${TS_PROXY[@]}" "$CC_BIN" server \
        --port "$PROXY_PORT" --host 127.0.0.1 2>>"$OUT/$2.log") &
    PROXY_PID=$!
    PIDS+=("$PROXY_PID")
    wait_http "$PROXY_PORT" /health || { echo "run.sh: ccproxy did not start, see $OUT/$2.log" >&2; exit 1; }
}
stop_pid() { # stops one of our processes and forgets it (so that cleanup never signals a reused pid)
    local p keep=()
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && [ "$p" != "$1" ] && keep+=("$p"); done
    PIDS=("${keep[@]:-}")
}
MOCK_PID=""
start_mock() { # port, log name, mock args...
    local port=$1 log=$2
    shift 2
    (exec "${TS_LOAD[@]}" "$OUT/bin/mock_upstream" --port "$port" "$@" 2>"$OUT/$log.log") &
    MOCK_PID=$!
    PIDS+=("$MOCK_PID")
    wait_http "$port" /health || { echo "run.sh: the mock did not start, see $OUT/$log.log" >&2; exit 1; }
}
post() { # url body-file out-file: prints the HTTP status
    curl -s -o "$3" -w '%{http_code}' --max-time 30 -X POST "$1" -H 'content-type: application/json' \
        -H 'anthropic-version: 2023-06-01' -H 'x-api-key: bench' --data-binary "@$2"
}

# ---- 1. start time and idle RSS ------------------------------------------------------------------
if has_part startup; then
    echo "== start to first answer, idle RSS ($STARTUP_RUNS runs)"
    quiet_wait
    write_settings "$MOCK_PORT"
    (cd "$OUT/home" && HOME="$OUT/home" CCPROXY_MANAGED_PATH=/nonexistent timeout 120 "$OUT/bin/startup" \
        --port "$PROXY_PORT" --runs "$STARTUP_RUNS" --idle-ms 1000 --cpu "$PROXY_CPU" -- \
        "$CC_BIN" server --port "$PROXY_PORT" --host 127.0.0.1 2>>"$OUT/startup-ccproxy.log") >"$OUT/startup.txt" || true
    grep '^start to first answer\|^idle' "$OUT/startup.txt" || tail -3 "$OUT/startup.txt"
fi

# ---- 2. wrk: throughput and latency --------------------------------------------------------------
WRK_VALID_STREAM=0
wrk_errors() {
    local k n=0 v
    for k in err_connect err_read err_write err_status err_timeout; do v=$(kv "$1" $k); n=$((n + ${v:-0})); done
    [ -n "$(kv "$1" requests)" ] && echo "$n" || echo "wrk failed"
}
run_wrk() { # name url path body threads conns duration
    local name=$1 url=$2 path=$3 body=$4 t=$5 c=$6 d=$7 c0 c1 t0 t1 k0 k1
    quiet_wait
    c0=$(ticks "$PROXY_PID"); t0=$(date +%s.%N); k0=$(busy "$PROXY_CPU")
    BENCH_BODY=$body BENCH_PATH=$path timeout $((d + 30)) "${TS_LOAD[@]}" wrk -t"$t" -c"$c" -d"${d}s" \
        --timeout 10s -s "$HERE/wrk/post.lua" "$url" >"$OUT/wrk-$name.txt" 2>&1 || true
    c1=$(ticks "$PROXY_PID"); t1=$(date +%s.%N); k1=$(busy "$PROXY_CPU")
    awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v hz="$(getconf CLK_TCK)" \
        'BEGIN {printf "proxy_cpu_pct=%.1f\n", 100 * (c1 - c0) / hz / (t1 - t0)}' >>"$OUT/wrk-$name.txt"
    echo "proxy_core_busy_pct=$(busy_pct "$k0" "$k1")" >>"$OUT/wrk-$name.txt"
    printf '  %-24s %9s req/s  p50 %7s us  p99 %7s us  errors %s  proxy cpu %s%% (its core %s%% busy)\n' "$name" \
        "$(kv "$OUT/wrk-$name.txt" rps)" "$(kv "$OUT/wrk-$name.txt" p50_us)" "$(kv "$OUT/wrk-$name.txt" p99_us)" \
        "$(wrk_errors "$OUT/wrk-$name.txt")" "$(sed -n 's/^proxy_cpu_pct=//p' "$OUT/wrk-$name.txt")" \
        "$(sed -n 's/^proxy_core_busy_pct=//p' "$OUT/wrk-$name.txt")"
}
if has_part wrk; then
    echo "== wrk: capture the OpenAI requests ccproxy sends, validate answers"
    start_mock "$MOCK_PORT" mock-capture --chunks 20 --interval-ms 0 --dump "$OUT/capture.json"
    start_proxy "$MOCK_PORT" ccproxy-capture
    for b in small cc70k; do
        for s in "" -stream; do
            st=$(post "http://127.0.0.1:$PROXY_PORT/v1/messages" "$HERE/bodies/$b$s.json" "$OUT/answer-$b$s.txt")
            cp "$OUT/capture.json" "$OUT/bodies/$b$s.openai.json"
            echo "  $b$s: proxy status $st, upstream body $(wc -c <"$OUT/bodies/$b$s.openai.json") bytes"
        done
        grep -q '"type":"message"' "$OUT/answer-$b.txt" || { echo "run.sh: bad non-stream answer for $b:" >&2; head -c 500 "$OUT/answer-$b.txt" >&2; exit 1; }
        grep -q '"stream":true' "$OUT/bodies/$b-stream.openai.json" || echo "  note: ccproxy sent $b-stream upstream without \"stream\":true"
    done
    if timeout 60 "$OUT/bin/load_client" --port "$PROXY_PORT" --n 20 --rate 0 --timeout 30 \
        --body "$HERE/bodies/small-stream.json" >"$OUT/validate-stream.txt" 2>&1 &&
        timeout 60 "$OUT/bin/load_client" --port "$PROXY_PORT" --n 20 --rate 0 --timeout 30 \
            --body "$HERE/bodies/cc70k-stream.json" >>"$OUT/validate-stream.txt" 2>&1; then
        WRK_VALID_STREAM=1
        echo "  stream answers: valid (message_start ... message_stop)"
    else
        echo "  stream answers: INVALID, stream throughput rows are marked so ($(grep -m1 '^failures' "$OUT/validate-stream.txt" | sed 's/failures *//'))"
    fi
    for b in small cc70k; do
        for s in "" -stream; do
            st=$(post "http://127.0.0.1:$MOCK_PORT/v1/chat/completions" "$OUT/bodies/$b$s.openai.json" "$OUT/direct-$b$s.txt")
            [ "$st" = 200 ] || { echo "run.sh: the mock answered $st to $b$s" >&2; exit 1; }
        done
    done
    stop_pid "$PROXY_PID"; stop_pid "$MOCK_PID"

    echo "== wrk: ${DURATION}s at $CONNS connections ($THREADS threads), ${LAT_DURATION}s at 1 connection"
    start_mock "$MOCK_PORT" mock-wrk --chunks 20 --interval-ms 0
    start_proxy "$MOCK_PORT" ccproxy-wrk
    # warm-up
    BENCH_BODY=$HERE/bodies/small.json timeout 30 "${TS_LOAD[@]}" wrk -t1 -c4 -d1s -s "$HERE/wrk/post.lua" \
        "http://127.0.0.1:$PROXY_PORT" >/dev/null 2>&1 || true
    for b in small cc70k; do
        for s in "" -stream; do
            run_wrk "proxy-$b$s-c$CONNS" "http://127.0.0.1:$PROXY_PORT" /v1/messages "$HERE/bodies/$b$s.json" "$THREADS" "$CONNS" "$DURATION"
            run_wrk "direct-$b$s-c$CONNS" "http://127.0.0.1:$MOCK_PORT" /v1/chat/completions "$OUT/bodies/$b$s.openai.json" "$THREADS" "$CONNS" "$DURATION"
            run_wrk "proxy-$b$s-c1" "http://127.0.0.1:$PROXY_PORT" /v1/messages "$HERE/bodies/$b$s.json" 1 1 "$LAT_DURATION"
            run_wrk "direct-$b$s-c1" "http://127.0.0.1:$MOCK_PORT" /v1/chat/completions "$OUT/bodies/$b$s.openai.json" 1 1 "$LAT_DURATION"
        done
    done
    grep -h '"level":"error"' "$OUT/ccproxy-wrk.log" | head -3 || true
    stop_pid "$PROXY_PID"; stop_pid "$MOCK_PID"
fi

# ---- 3. long concurrent streams, 4. long non-stream requests held open ------------------------------
# held: the same number of open exchanges answered with one JSON Message after the same time (the mock
# holds non-stream answers with --hold): memory per in-flight request without the streaming path.
overflows() { nstat -az TcpExtListenOverflows 2>/dev/null | awk '/ListenOverflows/ {print $2}'; }
run_long() { # kind(streams|held) n body rate chunks
    local kind=$1 n=$2 b=$3 rate=$4 chunks=$5 secs limit f body extra=() o0 o1
    secs=$((chunks * STREAM_INTERVAL_MS / 1000))
    f=$OUT/$kind-$b-$n.txt
    if [ "$kind" = streams ]; then
        body=$HERE/bodies/$b-stream.json
        echo "== $n concurrent streams ($b), $chunks upstream chunks ${STREAM_INTERVAL_MS} ms apart (~${secs}s), $rate new connections/s"
    else
        body=$HERE/bodies/$b.json; extra=(--nonstream)
        echo "== $n concurrent non-stream requests ($b) answered after ~${secs}s, $rate new connections/s"
    fi
    quiet_wait
    start_mock "$SLOW_PORT" "mock-$kind-$b-$n" --chunks "$chunks" --interval-ms "$STREAM_INTERVAL_MS" --hold
    start_proxy "$SLOW_PORT" "ccproxy-$kind-$b-$n"
    sleep 1 # idle RSS is sampled by the client before its first connection
    limit=$((secs + n / rate + n / 500 + 60))
    o0=$(overflows)
    timeout $((limit + 30)) "${TS_LOAD[@]}" "$OUT/bin/load_client" --port "$PROXY_PORT" --n "$n" --rate "$rate" \
        --timeout "$limit" --pid "$PROXY_PID" "${extra[@]}" --body "$body" >"$f" 2>&1 || true
    o1=$(overflows)
    [ -n "$o0" ] && [ -n "$o1" ] && echo "listen_overflows $((o1 - o0)) (TcpExtListenOverflows during the run, all listeners)" >>"$f"
    if [ "$kind" = streams ]; then grep -v '^RESULT' "$f"; else grep -v '^RESULT\|^first' "$f"; fi | sed 's/^/  /'
    stop_pid "$PROXY_PID"; stop_pid "$MOCK_PID"
    tail -1 "$OUT/mock-$kind-$b-$n.log" | sed 's/^/  /'
}
if has_part streams; then
    for c in $STREAMS; do IFS=: read -r n b r k <<<"$c"; run_long streams "$n" "$b" "${r:-$RATE}" "${k:-$STREAM_CHUNKS}"; done
fi
if has_part held; then
    for c in $HELD; do IFS=: read -r n b r k <<<"$c"; run_long held "$n" "$b" "${r:-$RATE}" "${k:-$STREAM_CHUNKS}"; done
fi
cleanup

# ---- table ---------------------------------------------------------------------------------------
verdict() { # value op target -> met / MISSED
    awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN { if (v == "") { print "n/a"; exit }
        ok = (op == ">=") ? (v + 0 >= t + 0) : (v + 0 <= t + 0); print ok ? "met" : "MISSED" }'
}
sub_us() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "") print ""; else printf "%.3f", (a - b) / 1000 }'; }
{
    echo "| measurement | result | target | verdict |"
    echo "|---|---|---|---|"
    if [ -f "$OUT/startup.txt" ]; then
        v=$(kv "$OUT/startup.txt" start_ms_p50)
        echo "| start to first answer (median of $(kv "$OUT/startup.txt" runs)) | $v ms | ≤ 50 ms | $(verdict "$v" "<=" 50) |"
        r=$(kv "$OUT/startup.txt" idle_rss_kb)
        mib=$(awk -v k="$r" 'BEGIN {printf "%.1f", k / 1024}')
        echo "| idle RSS (VmRSS 1 s after start; anon $(kv "$OUT/startup.txt" idle_anon_kb) KiB, file-backed $(kv "$OUT/startup.txt" idle_file_kb) KiB) | $mib MiB | ≤ 5 MiB | $(verdict "$r" "<=" 5120) |"
    fi
    if has_part wrk && [ -f "$OUT/wrk-proxy-small-c$CONNS.txt" ]; then
        for b in small cc70k; do
            tgt=10000; [ $b = cc70k ] && tgt=3000
            size=$(wc -c <"$HERE/bodies/$b.json")
            v=$(kv "$OUT/wrk-proxy-$b-c$CONNS.txt" rps)
            cpu=$(sed -n 's/^proxy_cpu_pct=//p' "$OUT/wrk-proxy-$b-c$CONNS.txt")
            core=$(sed -n 's/^proxy_core_busy_pct=//p' "$OUT/wrk-proxy-$b-c$CONNS.txt")
            per=$(awk -v r="$v" -v c="$cpu" 'BEGIN { if (c > 0) printf "%.0f", r * 100 / c }')
            echo "| non-stream req/s, $b ($size B), $CONNS conns (proxy CPU $cpu %, its core $core % busy: $per req per proxy CPU-second; direct to mock: $(kv "$OUT/wrk-direct-$b-c$CONNS.txt" rps)) | $v | ≥ $tgt | $(verdict "$v" ">=" $tgt) |"
        done
        for b in small cc70k; do
            v=$(kv "$OUT/wrk-proxy-$b-stream-c$CONNS.txt" rps)
            cpu=$(sed -n 's/^proxy_cpu_pct=//p' "$OUT/wrk-proxy-$b-stream-c$CONNS.txt")
            note=""; [ "$WRK_VALID_STREAM" = 1 ] || note=" (answers INVALID: not a real stream)"
            echo "| stream req/s, $b, 20 chunks, $CONNS conns (proxy CPU $cpu %; direct: $(kv "$OUT/wrk-direct-$b-stream-c$CONNS.txt" rps))$note | $v | – | – |"
        done
        for b in small cc70k; do
            for c in 1 "$CONNS"; do
                p=$(kv "$OUT/wrk-proxy-$b-c$c.txt" p50_us); d=$(kv "$OUT/wrk-direct-$b-c$c.txt" p50_us)
                a=$(sub_us "$p" "$d")
                if [ "$c" = 1 ]; then t="≤ 0.5 ms"; vd=$(verdict "$a" "<=" 0.5); else t="(saturated: queueing)"; vd="–"; fi
                echo "| added p50 latency, non-stream $b, $c conn (proxy $p µs − direct $d µs) | $a ms | $t | $vd |"
            done
        done
    fi
    for c in $STREAMS; do
        IFS=: read -r n b r k <<<"$c"; f=$OUT/streams-$b-$n.txt
        has_part streams && [ -f "$f" ] || continue
        ok=$(kv "$f" complete); ps=$(kv "$f" per_stream_kb)
        vd=$(verdict "$ps" "<=" 32); [ "$ok" = "$n" ] || vd="n/a (streams failed)"
        lo=$(sed -n 's/^listen_overflows \([0-9]*\).*/\1/p' "$f")
        echo "| $n streams, $b, ${r:-$RATE} new/s, $((${k:-$STREAM_CHUNKS} * STREAM_INTERVAL_MS / 1000)) s: complete / failed (listen-queue overflows ${lo:-?}) | $ok / $(kv "$f" failed) | all $n | $( [ "$ok" = "$n" ] && echo met || echo MISSED) |"
        echo "| $n streams, $b: RSS per stream ((peak $(kv "$f" rss_peak_kb) − idle $(kv "$f" rss_idle_kb) KiB) / N) | $ps KiB | ≤ 32 KiB | $vd |"
        echo "| $n streams, $b: TTFB p50 / p99; first text delta p50 | $(kv "$f" ttfb_p50_ms) / $(kv "$f" ttfb_p99_ms) ms; $(kv "$f" delta_p50_ms) ms | – | – |"
        echo "| $n streams, $b: proxy CPU | $(kv "$f" cpu_pct) % of a core | – | – |"
    done
    for c in $HELD; do
        IFS=: read -r n b r k <<<"$c"; f=$OUT/held-$b-$n.txt
        has_part held && [ -f "$f" ] || continue
        ok=$(kv "$f" complete)
        lo=$(sed -n 's/^listen_overflows \([0-9]*\).*/\1/p' "$f")
        echo "| $n held non-stream requests, $b, ${r:-$RATE} new/s, $((${k:-$STREAM_CHUNKS} * STREAM_INTERVAL_MS / 1000)) s: complete / failed (listen-queue overflows ${lo:-?}) | $ok / $(kv "$f" failed) | – | – |"
        echo "| $n held non-stream requests, $b: RSS per request ((peak $(kv "$f" rss_peak_kb) − idle $(kv "$f" rss_idle_kb) KiB) / N) | $(kv "$f" per_stream_kb) KiB | – | – |"
        echo "| $n held non-stream requests, $b: proxy CPU | $(kv "$f" cpu_pct) % of a core | – | – |"
    done
} >"$OUT/summary.md"
echo
cat "$OUT/machine.txt"
echo
cat "$OUT/summary.md"
echo
echo "raw output: $OUT"
