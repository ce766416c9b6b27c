#!/usr/bin/env bash
# Mutation testing: does the test suite notice when a documented behaviour breaks?
#
# Each mutation below is a one-line edit (a sed expression on one file) that plants a plausible bug in a
# documented behaviour. For each one this script, in a scratch copy of the work tree (tracked and
# untracked files, never the tree itself), applies the edit, rebuilds only what the tests need, and runs
# the tests named for it: unit:<name> is tests/unit/test_<name>.c (ctest unit_<name>), e2e:<NN>[#<regex>] is
# tests/e2e/<NN>-*.test.mjs (only the tests whose name matches <regex>). The mutation is CAUGHT when a test
# fails and MISSED when they all pass. A sed that changes nothing, or a mutant that does not compile, is an
# ERROR (fix the list). Before the mutants, the unmodified copy is built and every test command must pass
# and run at least one test, so a catch always means the mutation was noticed.
#
#   scripts/mutate.sh              every mutation (about 10 minutes on 2 cores, see docs/testing.md)
#   scripts/mutate.sh ID...        only these
#   scripts/mutate.sh --list       the list
#   KEEP=1 scripts/mutate.sh ...   keep the scratch copy (its path is printed), with each run's log
#   ALL=1 scripts/mutate.sh ...    run every test of a mutation, not only up to the first that fails
#                                  (which tests notice it: slower)
#
# Exit status: 0 when every mutation run was caught, 1 otherwise. Bounded: each test command gets
# MUTATE_TIMEOUT seconds (default 300), each build 600.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
TIMEOUT=${MUTATE_TIMEOUT:-300}
JOBS=${JOBS:-2}

# id | file | sed expression | tests | the bug it plants
MUTATIONS=$(cat <<'EOF'
finish-length-tools|lib/prov/openai/cp_oai_resp.c|s/if (s->fin == FIN_LENGTH)$/if (s->fin == FIN_LENGTH \&\& !s->tools_sent)/|unit:oai_resp unit:oai_whole e2e:50#with complete tool calls e2e:60#after complete tool calls|finish_reason "length" after complete tool calls reported as tool_use (stream and whole), not max_tokens
stop-max-tokens|lib/prov/openai/cp_oai_resp.c|s/return "max_tokens";/return "end_turn";/|unit:oai_resp|finish_reason "length" reported as end_turn
cut-stream-complete|lib/prov/openai/cp_oai_resp.c|s/if (!s->have_fin \&\& !s->done)$/if (0)/|unit:oai_resp e2e:60#truncation|a stream cut before its finish_reason looks complete
hup-limits|lib/net/cp_front.c|/^int cp_front_reload/,/^}/s/front_apply_limits(f, cfg);/(void)0;/|e2e:40#client-side limits|SIGHUP does not re-apply maxBodyBytes, maxHeaderBytes, clientTimeoutSeconds
reload-in-place|lib/net/cp_server.c|s/^    cp_config_unref(s->cfg);$/    s->cfg->max_answer_bytes = next->max_answer_bytes; cp_config_unref(s->cfg);/|e2e:40#in flight|a reload changes the snapshot of requests in flight
body-limit|lib/net/cp_front.c|s/(ev_ssize_t)cfg->max_body_bytes)/(ev_ssize_t)33554432)/|e2e:20#maxBodyBytes|maxBodyBytes fixed at its default
header-limit|lib/net/cp_front.c|s/(ev_ssize_t)cfg->max_header_bytes)/(ev_ssize_t)65536)/|e2e:20#maxHeaderBytes|maxHeaderBytes fixed at its default
client-timeout|lib/net/cp_front.c|s/evhttp_set_timeout(f->http, (int)cfg->client_timeout_s);/(void)0;/|e2e:20#clientTimeoutSeconds|clientTimeoutSeconds never applied
retry-429|lib/net/cp_front.c|s/ \&\& status != 429)) {/)) {/|e2e:52#upstream 429 e2e:52#plain 429|a 429 marked x-should-retry: false (the SDKs would not retry a rate limit)
quota-retry|lib/prov/cp_prov_err.c|s/e->no_retry = 1;/e->no_retry = 0;/|unit:prov_err e2e:52#insufficient_quota|a 429 insufficient_quota without x-should-retry: false (the SDKs retry in vain)
retry-after-ms|lib/exchange/cp_exchange.c|s/{"retry-after", "retry-after-ms"}/{"retry-after", "x-retry-after-ms"}/|e2e:52#plain 429|the upstream's retry-after-ms not passed on
stream-buffer|lib/exchange/cp_exchange.c|s/>= x->cfg->stream_buffer_bytes/>= 262144u/|e2e:61#streamBufferBytes|streamBufferBytes fixed at its default
no-backpressure|lib/exchange/cp_exchange.c|s/>= x->cfg->stream_buffer_bytes/>= (size_t)-1/|e2e:61#never reads|a client that does not read is never waited for (unbounded buffering)
ping-interval|lib/exchange/cp_exchange.c|s/{(time_t)x->cfg->ping_interval_s, 0}/{(time_t)10, 0}/|e2e:61#pings|pingIntervalSeconds fixed at its default
connect-timeout|lib/exchange/cp_exchange.c|s/ur.connect_timeout_ms = x->prov->connect_timeout_ms;/ur.connect_timeout_ms = 10000;/|e2e:52#never completes|connectTimeoutMs fixed at its default
first-byte-timeout|lib/exchange/cp_exchange.c|s/ur.first_byte_timeout_ms = x->prov->first_byte_timeout_ms;/ur.first_byte_timeout_ms = 600000;/|e2e:52#never answers|firstByteTimeoutMs fixed at its default
tls-noverify|lib/net/cp_up.c|s/curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);/curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L); curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYPEER, 0L); curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYHOST, 0L);/|e2e:52#does not verify|upstream TLS certificates not verified
tls-kind|lib/net/cp_up.c|s/what = "TLS failed";/what = "the transfer failed";/|e2e:52#does not verify|a TLS failure reported as something else
dns-kind|lib/net/cp_up.c|s/what = "its host name does not resolve";/what = "connection refused";/|e2e:52#does not resolve|a DNS failure reported as a refused connection
anth-version|lib/prov/anthropic/cp_prov_anthropic.c|s/: "2023-06-01");/: "2023-01-01");/|e2e:51#no anthropic-version|the default anthropic-version is not 2023-06-01
text-log|lib/base/cp_log.c|s/"%s %-5s ", ts, lvl/"%s %s ", ts, lvl/|unit:log e2e:30#text|the text log format loses its aligned level column
notify-ready|lib/net/cp_server.c|/^int cp_server_run/,/^}/s/cp_notify_ready(s.notify);/(void)0;/|e2e:96#READY=1 from the daemon|Type=notify: READY=1 never sent at start
notify-reload|lib/net/cp_server.c|s/cp_notify_reloading(s->notify);/(void)0;/|e2e:96#SIGHUP|Type=notify: RELOADING=1 never sent on SIGHUP
tls-plain-400|lib/net/cp_conn.c|s/ERR_GET_REASON(err) == SSL_R_HTTP_REQUEST;/ERR_GET_REASON(err) == -1;/|e2e:95#plain HTTP to the TLS port|plain HTTP to the TLS port gets a bare close instead of a 400 saying https
nagle|lib/net/cp_conn.c|s/        int one = 1;/        int one = 0;/|e2e:95#no Nagle stall|client sockets keep Nagle's algorithm (40 ms per keep-alive HTTPS answer)
fallback-off|lib/exchange/cp_exchange.c|s/if (x->next >= x->nchain)/if (1)/|e2e:98#the second answers|models.fallbacks chains are never followed
retry-after-off|lib/exchange/cp_exchange.c|s/if (wait >= 0 \&\& budget \&\& wait <= /if (0 \&\& wait >= 0 \&\& budget \&\& wait <= /|e2e:99#429 with retry-after: 1|a short Retry-After is never waited for
frame-chunk-ext|lib/net/cp_frame.c|s/return frame_bad(s, "Chunk extensions are not supported");/return CP_FRAME_MORE;/|unit:frame e2e:81#a chunk extension|a chunk extension is not refused (evhttp answers it 413)
pipeline-cap|lib/net/cp_conn.c|s/evbuffer_get_length(buf) > cfg->max_header_bytes) {/evbuffer_get_length(buf) > (size_t)-1) {/|e2e:81#pipelined behind|bytes pipelined behind a request in flight are not capped
head-deadline|lib/net/cp_conn.c|s/want = DL_HEAD;/want = DL_NONE;/|e2e:81#head has a total deadline|the request head has no total deadline (slowloris)
upload-budget|lib/net/cp_conn.c|s/if (s->uploading - c->reserved + want > s->cfg->upload_budget)/if (0)/|e2e:81#uploadBudgetBytes|the upload budget is never enforced
per-peer|lib/net/cp_conn.c|s/\&\& from_peer > s->cfg->max_per_peer) {/\&\& from_peer > 0xffffffffu) {/|e2e:81#maxConnectionsPerPeer|maxConnectionsPerPeer never applied
json-values|lib/net/cp_front.c|s/> r->cfg->max_json_values) {/> (size_t)-1) {/|e2e:81#JSON values|a body of millions of JSON values is parsed
drain-error-event|lib/net/cp_server.c|s/cp_front_abort(s->front, "ccproxy is shutting down");/(void)0;/|e2e:81#drain timeout|streams are cut at the drain timeout without event: error
anth-2xx-garbage|lib/prov/anthropic/cp_prov_anthropic.c|s/if (ok \&\& !raw_utf8 \&\& !ant_answer_ok(st, j)) {/if (ok \&\& raw_utf8 \&\& !raw_utf8 \&\& !ant_answer_ok(st, j)) {/|unit:prov e2e:82#not JSON|an Anthropic-style 200 that is no Message (HTML, a cut body) is relayed
resend-cap|lib/net/cp_up.c|s/if (++x->sends <= UP_MAX_SENDS)/if (++x->sends > 0)/|e2e:82#kept-alive|a POST resent on every dead reused upstream connection
auth-loopback-open|lib/team/cp_team.c|s/(m == CP_AUTH_LOOPBACK \&\& peer_loopback)/(m == CP_AUTH_LOOPBACK \&\& peer_loopback >= 0)/|e2e:90#loopback only|without keys, clients on other addresses are served
auth-any-key|lib/team/cp_auth.c|s/if (CRYPTO_memcmp(d, k->digest, sizeof(d)) == 0) {/if (1) {/|unit:auth e2e:90#401 without a key|a key whose digest shares a slot is taken for another
model-list-off|lib/team/cp_team.c|s/if (!cp_auth_model_ok(k, model, route->model, route->provider->name))/if (0)/|e2e:90#403 permission_error|a key's model list is not enforced
rpm-off|lib/team/cp_limits.c|s/if (lim_rpm(spec) > 0 \&\& k->len >= lim_rpm(spec)) {/if (0) {/|unit:limits e2e:90#rpm:|rpm is never enforced
replay-refused|lib/team/cp_ledger.c|s/AND admitted = 1 /AND 1 /|unit:ledger e2e:90#survives a restart|refused requests count again after a restart
usage-none|lib/prov/openai/cp_prov_openai.c|s/return st != NULL \&\& st->tr != NULL \&\& cp_oai_resp_usage(st->tr, out);/return st != NULL \&\& st->tr != NULL \&\& cp_oai_resp_usage(st->tr, out) \&\& 0;/|unit:prov e2e:90#one row per request|OpenAI-style usage never reaches the ledger
EOF
)

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then usage; exit 0; fi
if [ "${1:-}" = "--list" ]; then
    printf '%s\n' "$MUTATIONS" | awk -F'|' '{ printf "%-20s %-42s %s\n", $1, $2, $5 }'
    exit 0
fi

want=" $* "
selected=$(printf '%s\n' "$MUTATIONS" | while IFS='|' read -r id rest; do
    if [ $# -eq 0 ] || [[ "$want" == *" $id "* ]]; then printf '%s|%s\n' "$id" "$rest"; fi
done)
[ -n "$selected" ] || { echo "mutate: no mutation named: $*" >&2; exit 2; }

WORK=$(mktemp -d /tmp/ccproxy-mutate.XXXXXX)
SRC=$WORK/src
BUILD=$WORK/build
LOGS=$WORK/logs
mkdir -p "$SRC" "$LOGS"
cleanup() { if [ -z "${KEEP:-}" ]; then rm -rf "$WORK"; else echo "mutate: kept $WORK"; fi; }
trap cleanup EXIT

# the work tree as it is now (tracked and untracked files, not ignored ones), with the e2e dependencies linked
(cd "$REPO" && git ls-files -co --exclude-standard -z | tar --null -T - -cf -) | tar -xf - -C "$SRC"
if [ -d "$REPO/tests/e2e/node_modules" ]; then ln -s "$REPO/tests/e2e/node_modules" "$SRC/tests/e2e/node_modules"; fi

t0=$(date +%s)
echo "mutate: building the unmodified copy in $BUILD"
cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCCPROXY_TESTS=ON >"$LOGS/cmake.log" 2>&1
timeout 600 cmake --build "$BUILD" -j "$JOBS" >"$LOGS/build.log" 2>&1 || { tail -30 "$LOGS/build.log"; echo "mutate: the unmodified tree does not build" >&2; exit 2; }

# Runs one test spec against the current build. Returns its status; the log goes to $2.
run_spec() {
    local spec=$1 log=$2
    case "$spec" in
    unit:*)
        (cd "$BUILD" && timeout "$TIMEOUT" ctest -R "^unit_${spec#unit:}\$" --output-on-failure) >"$log" 2>&1
        ;;
    e2e:*)
        local rest=${spec#e2e:} pat="" files
        if [[ "$rest" == *"#"* ]]; then pat=${rest#*#}; rest=${rest%%#*}; fi
        files=$(ls "$SRC"/tests/e2e/"$rest"-*.test.mjs)
        if [ -n "$pat" ]; then
            (cd "$SRC" && CCPROXY_BIN="$BUILD/ccproxy" timeout "$TIMEOUT" node --test --test-concurrency=1 \
                --test-name-pattern="$pat" $files) >"$log" 2>&1
        else
            (cd "$SRC" && CCPROXY_BIN="$BUILD/ccproxy" timeout "$TIMEOUT" node --test --test-concurrency=1 $files) >"$log" 2>&1
        fi
        ;;
    *) echo "bad test spec $spec" >"$log"; return 2 ;;
    esac
}

# The targets a mutant needs: the daemon for e2e specs, test_<name> for unit:<name>.
targets_for() {
    local t="" s
    for s in $1; do
        case "$s" in
        unit:*) t="$t test_${s#unit:}" ;;
        e2e:*) t="$t ccproxy" ;;
        esac
    done
    printf '%s\n' $t | sort -u | tr '\n' ' '
}

# split "a b e2e:50#with complete tool calls e2e:60#x" into specs: a spec starts with unit: or e2e:
specs_of() {
    printf '%s\n' "$1" | sed -E 's/ (unit:|e2e:)/\n\1/g'
}

echo "mutate: baseline: every test command must pass on the unmodified copy"
baseline_ok=1
specs_all=$(printf '%s\n' "$selected" | cut -d'|' -f4 | while read -r s; do specs_of "$s"; done | sort -u)
n=0
while IFS= read -r spec; do
    n=$((n + 1))
    log=$LOGS/baseline-$n.log
    if ! run_spec "$spec" "$log" </dev/null; then
        echo "  FAIL  $spec (log: $log)"; baseline_ok=0
    elif [[ "$spec" == e2e:* ]] && ! grep -Eq '^# pass [1-9]' "$log"; then
        echo "  NONE  $spec runs no test (log: $log)"; baseline_ok=0
    else
        echo "  ok    $spec"
    fi
done <<<"$specs_all"
if [ "$baseline_ok" != 1 ]; then
    KEEP=1
    echo "mutate: the unmodified tree fails its own tests: no mutation run" >&2
    exit 2
fi

caught=0 missed=0 errors=0 total=0
report=""
while IFS='|' read -r id file expr tests why; do
    total=$((total + 1))
    ts=$(date +%s)
    cp "$SRC/$file" "$WORK/orig"
    sed -i -e "$expr" "$SRC/$file"
    verdict=""
    if cmp -s "$SRC/$file" "$WORK/orig"; then
        verdict="ERROR (the sed changed nothing)"
    elif ! timeout 600 cmake --build "$BUILD" -j "$JOBS" --target $(targets_for "$(specs_of "$tests" | tr '\n' ' ')") \
        >"$LOGS/$id-build.log" 2>&1 </dev/null; then
        verdict="ERROR (the mutant does not build: $LOGS/$id-build.log)"
    else
        by="" notby=""
        k=0
        while IFS= read -r spec; do
            k=$((k + 1))
            if ! run_spec "$spec" "$LOGS/$id-$k.log" </dev/null; then
                by="$by${by:+, }$spec"
                [ -n "${ALL:-}" ] || break
            else
                notby="$notby${notby:+, }$spec"
            fi
        done < <(specs_of "$tests")
        if [ -z "$by" ]; then verdict="MISSED"; else verdict="caught by $by${ALL:+${notby:+ (not by $notby)}}"; fi
    fi
    cp "$WORK/orig" "$SRC/$file"
    touch "$SRC/$file" # the next build recompiles it
    case "$verdict" in
    caught*) caught=$((caught + 1)) ;;
    MISSED) missed=$((missed + 1)) ;;
    *) errors=$((errors + 1)) ;;
    esac
    line=$(printf '%-20s %-8s %4ss  %s' "$id" "${verdict%% *}" "$(($(date +%s) - ts))" "$verdict")
    echo "$line"
    report="$report$line"$'\n'
done <<<"$selected"

echo
echo "mutate: $caught of $total mutations caught, $missed missed, $errors errors, in $(($(date +%s) - t0)) s"
[ "$missed" -eq 0 ] && [ "$errors" -eq 0 ]
