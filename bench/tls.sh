#!/usr/bin/env bash
# bench/tls.sh: what TLS on the listener (server.tls) costs: plain HTTP against HTTPS, same binary, same
# mock (mock_upstream), same body (bodies/small.json), same settings but for server.tls (a self-signed
# P-256 certificate for 127.0.0.1 made here with the openssl command). Parts:
#   wrk        small non-stream, wrk -t2 -c32 and -t1 -c1: keep-alive, and with "Connection: close"
#              (a new connection per request; wrk keeps its TLS session, so its handshakes are resumed);
#              load_client --nonstream (one connection per request, a full handshake each, open loop)
#   callgrind  instructions per request under valgrind's callgrind (robust on a busy machine), for
#              keep-alive, close (resumed handshake) and new connections (full handshake)
#   streams    N concurrent streams (load_client, one chunk a second for 20 s): completions, proxy peak
#              RSS, RSS per stream ((peak - idle) / N)
#
#   bench/tls.sh [--runs 3] [--duration 10] [--only wrk,callgrind,streams] [--streams 5000]
#                [--stream-rate 2000] [--schemes "http https"] [--cg-duration 10] [--quick]
#                [--ccproxy BIN] [--no-build] [--out DIR]
#
# Schemes: http, https, and http+nodelay / https+nodelay: the same with TCP_NODELAY set on every
# accepted socket by a small LD_PRELOAD shim built here (ccproxy does not set it; see the notes in
# bench/README.md). Needs what run.sh needs, plus openssl, the libevent_openssl development files, and
# valgrind for the callgrind part. Pinning and ports as run.sh (PROXY_CPU, LOAD_CPU; PROXY_PORT, MOCK_PORT,
# SLOW_PORT, default: free ports chosen at start).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
. "$HERE/lib.sh" # busy, busy_pct, quiet_wait, bench_snapshot

RUNS=3            # wrk rounds; the schemes alternate within a round, a fresh proxy for each
DURATION=10       # seconds per wrk run at 32 connections
LAT_DURATION=5    # seconds per wrk run at 1 connection
CONNS=32
THREADS=2
NEW_N=2500        # load_client --nonstream: connections (one request each) ...
NEW_RATE=500      # ... opened at this rate (open loop)
CG_DURATION=10    # callgrind: seconds of wrk (1 thread, 4 connections)
CG_NEW_N=150      # callgrind: load_client connections, full handshakes ...
CG_NEW_RATE=15    # ... a second (the proxy runs ~50x slower under callgrind)
STREAMS=5000
STREAM_RATE=2000
STREAM_CHUNKS=20
STREAM_INTERVAL_MS=1000
SCHEMES="http https"
PARTS=wrk,callgrind,streams
BUILD=1
CCPROXY=""
OUT=""
BODY=$HERE/bodies/small.json
SBODY=$HERE/bodies/small-stream.json
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
QUIET_MAX=${QUIET_MAX:-60}

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) RUNS=1; DURATION=3; LAT_DURATION=2; NEW_N=500; CG_DURATION=4; CG_NEW_N=40; STREAMS=500; STREAM_CHUNKS=5 ;;
    --runs) RUNS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --cg-duration) CG_DURATION=$2; shift ;;
    --only) PARTS=$2; shift ;;
    --streams) STREAMS=$2; shift ;;
    --stream-rate) STREAM_RATE=$2; shift ;;
    --schemes) SCHEMES=$2; shift ;;
    --ccproxy) CCPROXY=$2; shift ;;
    --no-build) BUILD=0 ;;
    --out) OUT=$2; shift ;;
    -h|--help) usage ;;
    *) echo "tls.sh: unknown argument $1" >&2; usage ;;
    esac
    shift
done
has_part() { case ",$PARTS," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
for s in $SCHEMES; do
    case $s in http|https|http+nodelay|https+nodelay) ;; *) echo "tls.sh: unknown scheme $s" >&2; exit 2 ;; esac
done

need() { command -v "$1" >/dev/null 2>&1 || { echo "tls.sh: $1 is required" >&2; exit 1; }; }
for t in cc pkg-config curl wrk openssl timeout; do need "$t"; done
if has_part callgrind; then need valgrind; need callgrind_control; fi
pkg-config --exists libevent libevent_openssl openssl ||
    { echo "tls.sh: libevent (with libevent_openssl) and OpenSSL development files are required" >&2; exit 1; }

[ -n "$OUT" ] || OUT=$(mktemp -d "${TMPDIR:-/tmp}/ccproxy-tls.XXXXXX")
mkdir -p "$OUT/bin" "$OUT/home/.ccproxy" "$OUT/tls"
OUT=$(cd "$OUT" && pwd)
echo "results in $OUT"
ulimit -n "$(ulimit -Hn)" # the proxy, the mock and the load client inherit (and also raise) it
NOFILE=$(ulimit -n)
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
stop_pid() { # stops one of our processes and forgets it (so that cleanup never signals a reused pid)
    local p keep=()
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && [ "$p" != "$1" ] && keep+=("$p"); done
    PIDS=("${keep[@]:-}")
}

# ---- ports: the overrides, else free ones chosen now ---------------------------------------------
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
        echo $((20000 + RANDOM % 20000))
}
port_used() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PROXY_PORT=${PROXY_PORT:-$(free_port)}
MOCK_PORT=${MOCK_PORT:-$(free_port)}
SLOW_PORT=${SLOW_PORT:-$(free_port)}
for p in "$PROXY_PORT" "$MOCK_PORT" "$SLOW_PORT"; do
    ! port_used "$p" || { echo "tls.sh: port $p is in use (set PROXY_PORT/MOCK_PORT/SLOW_PORT)" >&2; exit 1; }
done
[ "$PROXY_PORT" != "$MOCK_PORT" ] && [ "$PROXY_PORT" != "$SLOW_PORT" ] && [ "$MOCK_PORT" != "$SLOW_PORT" ] ||
    { echo "tls.sh: the three ports must differ" >&2; exit 1; }

# ---- the binary, the tools, the certificate ------------------------------------------------------
bench_snapshot tls.sh
# shellcheck disable=SC2046
cc -O2 -std=c11 -Wall -o "$OUT/bin/mock_upstream" "$HERE/mock_upstream.c" $(pkg-config --cflags --libs libevent)
# shellcheck disable=SC2046
cc -O2 -std=c11 -Wall -o "$OUT/bin/load_client" "$HERE/load_client.c" \
    $(pkg-config --cflags --libs libevent libevent_openssl openssl)
# +nodelay schemes: TCP_NODELAY on every socket the proxy accepts (libevent's listener calls accept4)
cat >"$OUT/bin/nodelay.c" <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <sys/socket.h>
static int nodelay(int fd)
{
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* fails harmlessly on non-TCP */
    return fd;
}
int accept4(int s, struct sockaddr *a, socklen_t *l, int flags)
{
    static int (*real)(int, struct sockaddr *, socklen_t *, int);
    if (real == NULL)
        real = (int (*)(int, struct sockaddr *, socklen_t *, int))dlsym(RTLD_NEXT, "accept4");
    return nodelay(real(s, a, l, flags));
}
int accept(int s, struct sockaddr *a, socklen_t *l)
{
    static int (*real)(int, struct sockaddr *, socklen_t *);
    if (real == NULL)
        real = (int (*)(int, struct sockaddr *, socklen_t *))dlsym(RTLD_NEXT, "accept");
    return nodelay(real(s, a, l));
}
EOF
cc -O2 -shared -fPIC -o "$OUT/bin/nodelay.so" "$OUT/bin/nodelay.c" -ldl
# the certificate: self-signed, P-256, for 127.0.0.1; the key readable by its owner only
(umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
    -keyout "$OUT/tls/key.pem" -out "$OUT/tls/cert.pem" -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1) || { echo "tls.sh: openssl could not make a certificate" >&2; exit 1; }
chmod 600 "$OUT/tls/key.pem"
chmod 644 "$OUT/tls/cert.pem"

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$( [ -n "$(git -C "$ROOT" status --porcelain -- lib daemon 2>/dev/null)" ] && echo ' (lib/ or daemon/ modified)')"
    echo "nproc: $(nproc); cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); kernel: $(uname -sr)"
    echo "ccproxy: $("$CC_BIN" version 2>&1 | head -1)"
    echo "openssl: $(openssl version); libevent: $(pkg-config --modversion libevent); wrk: $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
    echo "certificate: $(openssl x509 -in "$OUT/tls/cert.pem" -noout -subject | sed 's/^subject=//'), $(openssl x509 -in "$OUT/tls/cert.pem" -noout -text | grep -m1 -o 'ASN1 OID: [a-z0-9]*' | sed 's/ASN1 OID: //')"
    echo "nofile: $NOFILE; pinning: proxy ${TS_PROXY[*]:-none}; mock, wrk, load client ${TS_LOAD[*]:-none}"
    echo "ports: proxy $PROXY_PORT, mock $MOCK_PORT, slow mock $SLOW_PORT; schemes: $SCHEMES"
} | tee "$OUT/machine.txt"

# ---- helpers (the same measurements as run.sh and team.sh) ---------------------------------------
kv() { sed -n 's/^RESULT //p' "$1" 2>/dev/null | tail -1 | tr ' ' '\n' | sed -n "s/^$2=//p"; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
HZ=$(getconf CLK_TCK)
url_of() { case $1 in https*) echo "https://127.0.0.1:$PROXY_PORT" ;; *) echo "http://127.0.0.1:$PROXY_PORT" ;; esac; }
wait_up() { # url: up to 5 s (60 s under valgrind) for a 200 on /health
    local n=${2:-500}
    for _ in $(seq 1 "$n"); do
        [ "$(curl -sk -o /dev/null --max-time 2 -w '%{http_code}' "$1/health" 2>/dev/null)" = 200 ] && return 0
        sleep 0.01
    done
    return 1
}

# run.sh's settings, plus server.tls for the https schemes, and maxConnectionsPerPeer 0 (no limit): every
# connection comes from 127.0.0.1, and the default (256) would refuse the streams part with 429.
write_settings() { # scheme upstream-port
    local tls=""
    case $1 in https*) tls=", \"tls\": {\"cert\": \"$OUT/tls/cert.pem\", \"key\": \"$OUT/tls/key.pem\", \"minVersion\": \"1.2\"}" ;; esac
    cat >"$OUT/home/.ccproxy/settings.json" <<EOF
{
  "server": {"host": "127.0.0.1", "port": $PROXY_PORT, "drainTimeoutSeconds": 2, "maxConnectionsPerPeer": 0$tls},
  "providers": {"mock": {"baseURL": "http://127.0.0.1:$2/v1", "apiKey": "bench", "responseStyle": "openai"}},
  "models": {"bigModel": "mock-model@mock", "smallModel": "mock-model@mock", "preferredProvider": "mock"},
  "logging": {"level": "info"}
}
EOF
    chmod 600 "$OUT/home/.ccproxy/settings.json"
    rm -f "$OUT"/home/.ccproxy/usage.db* # the same (empty) ledger for every run
}
PROXY_PID=""
start_proxy() { # scheme upstream-port log-name [valgrind args...]
    local s=$1 up=$2 log=$3 n=500 envs=(HOME="$OUT/home" CCPROXY_MANAGED_PATH=/nonexistent)
    shift 3
    write_settings "$s" "$up"
    [ $# -eq 0 ] || n=6000
    case $s in *+nodelay) envs+=(LD_PRELOAD="$OUT/bin/nodelay.so") ;; esac
    (cd "$OUT/home" && exec env "${envs[@]}" "${TS_PROXY[@]}" "$@" "$CC_BIN" server --port "$PROXY_PORT" --host 127.0.0.1 2>"$OUT/$log.log") &
    PROXY_PID=$!
    PIDS+=("$PROXY_PID")
    wait_up "$(url_of "$s")" "$n" || { echo "tls.sh: ccproxy did not start, see $OUT/$log.log" >&2; exit 1; }
}
MOCK_PID=""
start_mock() { # port log-name mock-args...
    local port=$1 log=$2
    shift 2
    (exec "${TS_LOAD[@]}" "$OUT/bin/mock_upstream" --port "$port" "$@" 2>"$OUT/$log.log") &
    MOCK_PID=$!
    PIDS+=("$MOCK_PID")
    wait_up "http://127.0.0.1:$port" || { echo "tls.sh: the mock did not start, see $OUT/$log.log" >&2; exit 1; }
}
lc() { # scheme args...: load_client (on the load CPU), with --tls for the https schemes
    local s=$1 a=()
    shift
    case $s in https*) a=(--tls) ;; esac
    timeout 900 "${TS_LOAD[@]}" "$OUT/bin/load_client" "${a[@]}" "$@" # its own --timeout ends it first
}
wrk_run() { # scheme out-file threads conns seconds [wrk args...]
    local s=$1 f=$2 t=$3 c=$4 d=$5
    shift 5
    BENCH_BODY=$BODY timeout $((d + 30)) "${TS_LOAD[@]}" wrk -t"$t" -c"$c" -d"${d}s" --timeout 10s "$@" \
        -s "$HERE/wrk/post.lua" "$(url_of "$s")" >"$f" 2>&1 || true
}
wrk_errors() {
    local k n=0 v
    for k in err_connect err_read err_write err_status err_timeout; do v=$(kv "$1" $k); n=$((n + ${v:-0})); done
    [ -n "$(kv "$1" requests)" ] && echo "$n" || echo "wrk failed"
}
HOW_NAMES="ka32 ka1 close32 close1 new"
how_text() {
    case $1 in
    ka32) echo "keep-alive, $CONNS conns" ;; ka1) echo "keep-alive, 1 conn" ;;
    close32) echo "Connection: close, $CONNS conns" ;; close1) echo "Connection: close, 1 conn" ;;
    new) echo "new connection each (load_client, $NEW_RATE/s)" ;;
    esac
}

# ---- check: both schemes answer, and the https port refuses plain HTTP ----------------------------
echo "== check"
start_mock "$MOCK_PORT" mock-check --chunks 20 --interval-ms 0
for s in $SCHEMES; do
    start_proxy "$s" "$MOCK_PORT" "ccproxy-check-$s"
    st=$(curl -sk -o "$OUT/answer-$s.json" -w '%{http_code}' --max-time 10 -X POST "$(url_of "$s")/v1/messages" \
        -H 'content-type: application/json' -H 'anthropic-version: 2023-06-01' -H 'x-api-key: bench' --data-binary "@$BODY")
    [ "$st" = 200 ] && grep -q '"type":"message"' "$OUT/answer-$s.json" ||
        { echo "tls.sh: $s answered $st: $(head -c 300 "$OUT/answer-$s.json")" >&2; exit 1; }
    extra=""
    case $s in https*)
        echo | timeout 10 openssl s_client -connect "127.0.0.1:$PROXY_PORT" >"$OUT/s_client-$s.txt" 2>&1 || true
        extra="; $(grep -m1 -o 'New, [^,]*, Cipher is .*' "$OUT/s_client-$s.txt" || echo 'openssl s_client: no handshake')"
        extra="$extra; plain HTTP to it: $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$PROXY_PORT/health" || true)" ;;
    esac
    lc "$s" --port "$PROXY_PORT" --n 20 --rate 0 --timeout 30 --body "$SBODY" >"$OUT/check-stream-$s.txt" 2>&1 ||
        { echo "tls.sh: $s: streams failed: $(grep -m1 '^failures' "$OUT/check-stream-$s.txt")" >&2; exit 1; }
    echo "  $s: a Message, 20 valid streams$extra"
    stop_pid "$PROXY_PID"
done
stop_pid "$MOCK_PID"

# ---- 1. wrk and load_client: rates, latency, proxy CPU per request -------------------------------
RES=$OUT/wrk.tsv
if has_part wrk; then
    printf 'scheme\tround\thow\trequests\trps\tp50_us\tp99_us\terrors\tcpu_us_per_req\tcore_busy_pct\n' >"$RES"
    start_mock "$MOCK_PORT" mock-wrk --chunks 20 --interval-ms 0
    one() { # scheme round how
        local s=$1 r=$2 h=$3 f=$OUT/wrk-$1-$3-$2.txt c0 c1 k0 k1 req rps p50 p99 err
        quiet_wait
        c0=$(ticks "$PROXY_PID"); k0=$(busy "$PROXY_CPU")
        case $h in
        ka32) wrk_run "$s" "$f" "$THREADS" "$CONNS" "$DURATION" ;;
        ka1) wrk_run "$s" "$f" 1 1 "$LAT_DURATION" ;;
        close32) wrk_run "$s" "$f" "$THREADS" "$CONNS" "$DURATION" -H 'Connection: close' ;;
        close1) wrk_run "$s" "$f" 1 1 "$LAT_DURATION" -H 'Connection: close' ;;
        new) lc "$s" --port "$PROXY_PORT" --n "$NEW_N" --rate "$NEW_RATE" --timeout $((NEW_N / NEW_RATE + 60)) \
                 --nonstream --body "$BODY" >"$f" 2>&1 || true ;;
        esac
        c1=$(ticks "$PROXY_PID"); k1=$(busy "$PROXY_CPU")
        if [ "$h" = new ]; then
            req=$(kv "$f" complete); rps=$(awk -v n="$req" -v w="$(kv "$f" wall_s)" 'BEGIN { if (w > 0) printf "%.1f", n / w }')
            p50=$(awk -v v="$(kv "$f" ttfb_p50_ms)" 'BEGIN { printf "%d", v * 1e3 }')
            p99=$(awk -v v="$(kv "$f" ttfb_p99_ms)" 'BEGIN { printf "%d", v * 1e3 }')
            err=$(kv "$f" failed)
        else
            req=$(kv "$f" requests); rps=$(kv "$f" rps); p50=$(kv "$f" p50_us); p99=$(kv "$f" p99_us); err=$(wrk_errors "$f")
        fi
        [ -n "$req" ] && [ "$req" != 0 ] || { echo "  $s $h: no requests ($(tail -2 "$f" | tr '\n' ' '))"; return 0; }
        awk -v s="$s" -v r="$r" -v h="$h" -v req="$req" -v rps="$rps" -v p50="$p50" -v p99="$p99" -v err="$err" \
            -v c0="$c0" -v c1="$c1" -v hz="$HZ" -v busy="$(busy_pct "$k0" "$k1")" \
            'BEGIN { printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t%s\n", s, r, h, req, rps, p50, p99, err, 1e6 * (c1 - c0) / hz / req, busy }' |
            tee -a "$RES" | awk -F'\t' '{ printf "  %-14s %-8s %9s req/s  p50 %6s us  p99 %6s us  errors %s  proxy %s us CPU/req (its core %s%% busy)\n", $1, $3, $5, $6, $7, $8, $9, $10 }'
    }
    for r in $(seq 1 "$RUNS"); do
        echo "== wrk round $r of $RUNS: small non-stream; keep-alive and Connection: close at $CONNS and 1 connections, $NEW_N new connections at $NEW_RATE/s"
        for s in $SCHEMES; do
            start_proxy "$s" "$MOCK_PORT" "ccproxy-wrk-$s-$r"
            wrk_run "$s" /dev/null 1 4 1 # warm-up
            for h in $HOW_NAMES; do one "$s" "$r" "$h"; done
            stop_pid "$PROXY_PID"
        done
    done
    stop_pid "$MOCK_PID"
fi

# ---- 2. callgrind: instructions per request ------------------------------------------------------
# As team.sh --callgrind: instrumentation on and counters zeroed after a warm-up, one workload, an
# explicit dump; per request = the instructions of every thread / the requests answered. ka: wrk -t1
# -c4 keep-alive; close: wrk -t1 -c4 with Connection: close (wrk keeps its TLS session: resumed
# handshakes); new: load_client --nonstream, one connection per request (full handshakes).
CG=$OUT/callgrind.tsv
if has_part callgrind; then
    echo "== callgrind: instructions per request (ka: keep-alive; close: a new connection per request, resumed TLS session; new: full handshake each)"
    printf 'scheme\thow\trequests\tinstructions\tper_request\n' >"$CG"
    start_mock "$MOCK_PORT" mock-callgrind --chunks 20 --interval-ms 0
    for h in ka close new; do
        for s in $SCHEMES; do
            cgf=$OUT/callgrind-$s-$h f=$OUT/wrk-callgrind-$s-$h.txt
            rm -f "$cgf".*
            start_proxy "$s" "$MOCK_PORT" "ccproxy-callgrind-$s-$h" valgrind --tool=callgrind --instr-atstart=no \
                --separate-threads=yes --callgrind-out-file="$cgf.%p"
            wrk_run "$s" /dev/null 1 4 2 # warm-up (the https one includes handshakes)
            sleep 1
            callgrind_control -i on "$PROXY_PID" >/dev/null 2>&1
            callgrind_control -z "$PROXY_PID" >/dev/null 2>&1
            case $h in
            ka) wrk_run "$s" "$f" 1 4 "$CG_DURATION" ;;
            close) wrk_run "$s" "$f" 1 4 "$CG_DURATION" -H 'Connection: close' ;;
            new) lc "$s" --port "$PROXY_PORT" --n "$CG_NEW_N" --rate "$CG_NEW_RATE" --timeout 240 --nonstream \
                     --body "$BODY" >"$f" 2>&1 || true ;;
            esac
            sleep 1 # the ledger writer's batch
            callgrind_control -d "$PROXY_PID" >/dev/null 2>&1
            callgrind_control -i off "$PROXY_PID" >/dev/null 2>&1
            stop_pid "$PROXY_PID"
            if [ "$h" = new ]; then req=$(kv "$f" complete); else req=$(kv "$f" requests); fi
            ir=$(cat "$cgf".*.1-* 2>/dev/null | sed -n 's/^summary: //p' | awk '{ s += $1 } END { print s + 0 }')
            awk -v s="$s" -v h="$h" -v req="${req:-0}" -v ir="$ir" 'BEGIN { printf "%s\t%s\t%d\t%.0f\t%.0f\n", s, h, req, ir, (req > 0) ? ir / req : 0 }' |
                tee -a "$CG" | awk -F'\t' '{ printf "  %-14s %-6s %6d requests, %.0f instructions per request\n", $1, $2, $3, $5 }'
        done
    done
    stop_pid "$MOCK_PID"
fi

# ---- 3. concurrent streams -------------------------------------------------------------------------
if has_part streams; then
    secs=$((STREAM_CHUNKS * STREAM_INTERVAL_MS / 1000))
    for s in $SCHEMES; do
        f=$OUT/streams-$s-$STREAMS-$STREAM_RATE.txt
        echo "== $STREAMS concurrent streams, $s, $STREAM_CHUNKS upstream chunks ${STREAM_INTERVAL_MS} ms apart (~${secs}s), $STREAM_RATE new connections/s"
        quiet_wait
        start_mock "$SLOW_PORT" "mock-streams-$s" --chunks "$STREAM_CHUNKS" --interval-ms "$STREAM_INTERVAL_MS" --hold
        start_proxy "$s" "$SLOW_PORT" "ccproxy-streams-$s"
        sleep 1 # idle RSS is sampled by the client before its first connection
        limit=$((secs + STREAMS / STREAM_RATE + STREAMS / 500 + 60))
        lc "$s" --port "$PROXY_PORT" --n "$STREAMS" --rate "$STREAM_RATE" --timeout "$limit" --pid "$PROXY_PID" \
            --body "$SBODY" >"$f" 2>&1 || true
        grep -v '^RESULT' "$f" | sed 's/^/  /'
        stop_pid "$PROXY_PID"; stop_pid "$MOCK_PID"
    done
fi
cleanup

# ---- table -----------------------------------------------------------------------------------------
{
    if has_part wrk && [ -s "$RES" ]; then
        echo "Small non-stream (bodies/small.json), median (min..max) of $RUNS runs; proxy CPU = its utime+stime / requests:"
        echo
        echo "| run | scheme | req/s | p50 µs | p99 µs | proxy CPU µs/req | errors |"
        echo "|---|---|---|---|---|---|---|"
        for h in $HOW_NAMES; do
            for s in $SCHEMES; do
                awk -F'\t' -v s="$s" -v h="$h" -v txt="$(how_text "$h")" '
                    function med(a, n,   i, j, t) { for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
                                                      return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
                    function f(col, fmt,   a, i) { for (i = 1; i <= n; i++) a[i] = v[i, col]; return sprintf(fmt " (" fmt ".." fmt ")", med(a, n), a[1], a[n]) }
                    NR > 1 && $1 == s && $3 == h { n++; for (c = 1; c <= NF; c++) v[n, c] = $c; e += $8 }
                    END { if (n) printf "| %s | %s | %s | %s | %s | %s | %d |\n", txt, s, f(5, "%.0f"), f(6, "%.0f"), f(7, "%.0f"), f(9, "%.1f"), e }' "$RES"
            done
        done
        echo
    fi
    if has_part callgrind && [ -s "$CG" ]; then
        echo "Instructions per request (callgrind, every thread of the proxy):"
        echo
        echo "| run | scheme | requests | instructions per request | against http |"
        echo "|---|---|---|---|---|"
        awk -F'\t' 'NR > 1 { s[NR] = $1; h[NR] = $2; req[NR] = $3; ipr[NR] = $5 }
            NR > 1 && substr($1, 1, 5) != "https" { plain[$2 substr($1, 5)] = $5 }
            END { for (i = 2; i <= NR; i++) { sfx = (substr(s[i], 1, 5) == "https") ? substr(s[i], 6) : substr(s[i], 5)
                      txt = (h[i] == "ka") ? "keep-alive (wrk -c4)" : (h[i] == "close") ? "Connection: close (wrk -c4; TLS session resumed)" : "new connection each (load_client; full handshake)"
                      d = ""; p = (h[i] sfx in plain) ? plain[h[i] sfx] : plain[h[i]]; if (substr(s[i], 1, 5) == "https" && p > 0) d = sprintf("%+.0f (%+.0f %%)", ipr[i] - p, 100 * (ipr[i] / p - 1))
                      printf "| %s | %s | %d | %.0f | %s |\n", txt, s[i], req[i], ipr[i], d } }' "$CG"
        echo
    fi
    if has_part streams; then
        echo "$STREAMS concurrent streams (bodies/small-stream.json), $STREAM_RATE new connections/s, $STREAM_CHUNKS chunks $STREAM_INTERVAL_MS ms apart:"
        echo
        echo "| scheme | complete / failed | idle → peak RSS | RSS per stream | TTFB p50 / p99 | first text delta p50 | proxy CPU |"
        echo "|---|---|---|---|---|---|---|"
        for s in $SCHEMES; do
            f=$OUT/streams-$s-$STREAMS-$STREAM_RATE.txt
            [ -f "$f" ] || continue
            echo "| $s | $(kv "$f" complete) / $(kv "$f" failed) | $(awk -v a="$(kv "$f" rss_idle_kb)" -v b="$(kv "$f" rss_peak_kb)" 'BEGIN { printf "%.1f → %.1f MiB", a / 1024, b / 1024 }') | $(kv "$f" per_stream_kb) KiB | $(kv "$f" ttfb_p50_ms) / $(kv "$f" ttfb_p99_ms) ms | $(kv "$f" delta_p50_ms) ms | $(kv "$f" cpu_pct) % |"
        done
    fi
} >"$OUT/summary.md"
echo
cat "$OUT/machine.txt"
echo
cat "$OUT/summary.md"
echo
echo "raw output: $OUT"
