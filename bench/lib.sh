# bench/lib.sh: shell functions the bench scripts share (sourced by bench/team.sh and bench/tls.sh).
# Needs PROXY_CPU, LOAD_CPU and QUIET_MAX set by the script.

# CPU index -> "busy-ticks total-ticks" from /proc/stat
busy() { awk -v c="cpu$1" '$1 == c { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat; }
busy_pct() {
    awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " ");
        printf "%.1f", (y[2] > x[2]) ? 100 * (y[1] - x[1]) / (y[2] - x[2]) : 0 }'
}
quiet_wait() { # the machine may be shared: wait (up to QUIET_MAX s) until both CPUs are below 15 % busy
    local waited=0 a0 a1 b0 b1 pa pb
    while :; do
        a0=$(busy "$PROXY_CPU"); b0=$(busy "$LOAD_CPU"); sleep 1; a1=$(busy "$PROXY_CPU"); b1=$(busy "$LOAD_CPU")
        pa=$(busy_pct "$a0" "$a1"); pb=$(busy_pct "$b0" "$b1")
        awk -v a="$pa" -v b="$pb" 'BEGIN { exit !(a < 15 && b < 15) }' && return 0
        if [ "$waited" -ge "$QUIET_MAX" ]; then
            echo "  warning: the machine is busy (CPU $PROXY_CPU ${pa}%, CPU $LOAD_CPU ${pb}%); measuring anyway"
            return 0
        fi
        sleep 2; waited=$((waited + 3))
    done
}
