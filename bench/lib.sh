# bench/lib.sh: shell functions the bench scripts share (sourced by bench/run.sh, team.sh and tls.sh).
# The script sets PROXY_CPU, LOAD_CPU, QUIET_MAX, and for bench_snapshot ROOT, OUT, BUILD and CCPROXY.

busy() { # CPU index -> "busy-ticks total-ticks" from /proc/stat
    awk -v c="cpu$1" '$1 == c { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat
}
busy_pct() { # "b0 t0" "b1 t1" -> percent busy in between
    awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " ");
        printf "%.1f", (y[2] > x[2]) ? 100 * (y[1] - x[1]) / (y[2] - x[2]) : 0 }'
}
# The machine may be shared (other people's tests): wait, up to QUIET_MAX seconds, until both CPUs are
# below 15 % busy for a second.
quiet_wait() {
    local waited=0 a0 a1 b0 b1 pa pb
    while :; do
        a0=$(busy "$PROXY_CPU"); b0=$(busy "$LOAD_CPU"); sleep 1; a1=$(busy "$PROXY_CPU"); b1=$(busy "$LOAD_CPU")
        pa=$(busy_pct "$a0" "$a1"); pb=$(busy_pct "$b0" "$b1")
        awk -v a="$pa" -v b="$pb" 'BEGIN { exit !(a < 15 && b < 15) }' && return 0
        if [ "$waited" -ge "$QUIET_MAX" ]; then
            echo "  warning: the machine is busy (CPU $PROXY_CPU ${pa}%, CPU $LOAD_CPU ${pb}%) after waiting ${waited}s; measuring anyway"
            return 0
        fi
        [ "$waited" = 0 ] && echo "  (waiting for other work to finish: CPU $PROXY_CPU ${pa}%, CPU $LOAD_CPU ${pb}% busy)"
        sleep 2; waited=$((waited + 3))
    done
}

# The binary measured: $CCPROXY, else build/ccproxy (built first unless BUILD=0), copied to $OUT/ccproxy
# (a rebuild during the run does not change what is measured); sets CC_BIN. $1 names the script for errors.
bench_snapshot() {
    if [ -z "$CCPROXY" ]; then
        if [ "$BUILD" = 1 ]; then
            [ -f "$ROOT/build/CMakeCache.txt" ] ||
                cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCCPROXY_TESTS=OFF >/dev/null
            cmake --build "$ROOT/build" -j2 --target ccproxy >"$OUT/build.log" 2>&1 ||
                { echo "$1: the build failed, see $OUT/build.log" >&2; exit 1; }
        fi
        CCPROXY=$ROOT/build/ccproxy
    fi
    cp "$CCPROXY" "$OUT/ccproxy"
    CC_BIN=$OUT/ccproxy
}
