#!/usr/bin/env bash
# tests/container/run.sh: builds the container image (Dockerfile) with podman and checks it.
#
#   tests/container/run.sh          as root; needs podman, runc, debootstrap, node, curl, python3-yaml
#
# Follows the podman recipe of this kind of machine (no registry, no Docker daemon): a Debian 12 base
# made with debootstrap and imported as localhost/debian:bookworm-min (made once, then kept in podman's
# store), podman settings in a temporary containers.conf, runc with cgroupfs, host networking.
#
# Then it starts the image as docker-compose.yml does (its managed settings, a read-only root with no
# tmpfs, no capabilities, no-new-privileges, a state volume: here a host directory) on a free
# 127.0.0.1 port, with a mock OpenAI-compatible upstream on the host (tests/container/mock-upstream.mjs)
# named by one more settings file (CCPROXY_CONFIG) and a dummy key from the environment, and checks:
#   - docker-compose.yml parses and holds what a sidecar needs (tests/container/check_compose.py);
#   - the image keeps its HEALTHCHECK, which passes; GET /health answers from the host;
#   - POST /v1/messages (Anthropic format) comes back with the mock's text, the mock saw the
#     translated request with the key; a Host header outside server.allowedHosts gets 403;
#   - the daemon runs as uid 10001 with no capabilities; the image has no compiler and no missing
#     library; the dummy key is in no log line;
#   - the usage ledger is written to the volume (usage.db), and `ccproxy usage` reads it;
#   - `podman stop -t 30` with a request in flight: the request completes, the daemon logs
#     "drained; exiting" and exits 0, well within the timeout;
#   - the .deb (build-pkg/, from `make package`) installs with apt on the bare Debian 12 base, and purges;
#   - prints the image size.
# Every wait is bounded; the container, the mock and the temporary files go on exit (the base image
# and the built image localhost/ccproxy:test stay, so a second run skips debootstrap and reuses
# podman's layer cache).
set -euo pipefail

# --base-only: make the base image if podman does not have it yet, and stop there (`make test` starts
# this in the background at its beginning, so the download overlaps the other tests).
BASE_ONLY=0
[ "${1:-}" = "--base-only" ] && BASE_ONLY=1

cd "$(dirname "$0")/../.."
T0=$(date +%s)
BASE_IMAGE=localhost/debian:bookworm-min
IMAGE=localhost/ccproxy:test
CT=ccproxy-ct-$$
TEXT='Hello from the mock (openai)' # DEFAULT_OAI_TEXT in tests/e2e/lib/mock-upstream.mjs

say() { printf '[%4ss] %s\n' "$(($(date +%s) - T0))" "$*"; }
fail() {
    printf 'tests/container/run.sh: FAIL: %s\n' "$*" >&2
    exit 1
}
ok() { say "ok: $*"; }

# ---- what the test needs ------------------------------------------------------------------------
if ! command -v podman >/dev/null 2>&1; then
    echo "tests/container/run.sh: podman is not installed; this test needs podman, runc and debootstrap" \
        "(apt-get install podman runc debootstrap, or scripts/install-deps.sh --test)" >&2
    exit 1
fi
[ "$(id -u)" -eq 0 ] || fail "run it as root (debootstrap and podman as root, see the comment at the top)"
for tool in runc node curl python3 timeout flock; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed"
done
python3 -c 'import yaml' 2>/dev/null ||
    fail "python3 cannot import yaml, needed to check docker-compose.yml: apt-get install python3-yaml"

TMP=$(mktemp -d /tmp/ccproxy-ct.XXXXXX) # 0700
MOCK_PID=
SLOW_PID=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$SLOW_PID" ]; then kill "$SLOW_PID" 2>/dev/null || true; fi
    if [ -n "$MOCK_PID" ]; then kill "$MOCK_PID" 2>/dev/null || true; fi
    if [ -n "${CONTAINERS_CONF:-}" ]; then
        P rm -f -t 0 "$CT" >/dev/null 2>&1 || true
    fi
    rm -rf "$TMP"
    if [ "$rc" -eq 0 ] && [ "$BASE_ONLY" -eq 1 ]; then
        say "base image ready in $(($(date +%s) - T0)) s"
    elif [ "$rc" -eq 0 ]; then
        say "container test passed in $(($(date +%s) - T0)) s"
    else
        say "container test FAILED (exit $rc) after $(($(date +%s) - T0)) s"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# podman as this machine needs it: no default ulimits (the hard limits cannot be raised here),
# cgroupfs, runc. Every call is bounded.
printf '[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\n' >"$TMP/containers.conf"
export CONTAINERS_CONF=$TMP/containers.conf
P() { timeout "${PODMAN_TIMEOUT:-120}" podman --runtime runc --cgroup-manager=cgroupfs "$@"; }

# ---- docker-compose.yml ---------------------------------------------------------------------------
python3 tests/container/check_compose.py docker-compose.yml "$TMP/managed-settings.json" ||
    fail "docker-compose.yml (above)"
ok "docker-compose.yml parses; its managed settings are used below"

# ---- the base image, made once ----------------------------------------------------------------------
exec 9>/tmp/ccproxy-container-base.lock
flock -w 900 9 || fail "another run holds /tmp/ccproxy-container-base.lock for 15 minutes"
if P image exists "$BASE_IMAGE"; then
    say "base image $BASE_IMAGE: in podman's store"
else
    command -v debootstrap >/dev/null 2>&1 || fail "debootstrap is not installed (apt-get install debootstrap)"
    say "base image $BASE_IMAGE: debootstrap --variant=minbase bookworm (about 2 minutes)"
    timeout 900 debootstrap --variant=minbase bookworm "$TMP/rootfs" >"$TMP/debootstrap.log" 2>&1 ||
        { tail -20 "$TMP/debootstrap.log" >&2; fail "debootstrap"; }
    tar -C "$TMP/rootfs" -c . | PODMAN_TIMEOUT=300 P import - "$BASE_IMAGE" >/dev/null ||
        fail "podman import of the base image"
    rm -rf "$TMP/rootfs"
fi
exec 9>&-
ok "base image: $(P image inspect --format '{{.Size}}' "$BASE_IMAGE") bytes"
[ "$BASE_ONLY" -eq 0 ] || exit 0

# ---- the image ------------------------------------------------------------------------------------------
old_id=$(P image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || true)
say "building $IMAGE (Dockerfile; --format docker keeps the HEALTHCHECK)"
if ! PODMAN_TIMEOUT=1200 P build --format docker --jobs 2 --network host -v /etc/apt:/etc/apt:ro \
    --build-arg BASE="$BASE_IMAGE" ${commit:+--build-arg CCPROXY_COMMIT="$commit"} \
    -t "$IMAGE" -f Dockerfile . >"$TMP/build.log" 2>&1; then
    tail -40 "$TMP/build.log" >&2
    fail "podman build"
fi
new_id=$(P image inspect --format '{{.Id}}' "$IMAGE")
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
    P rmi "$old_id" >/dev/null 2>&1 || true # the previous test image, now untagged
fi
version=$(P run --rm --network host "$IMAGE" version 2>/dev/null | head -1) || true
[ -n "$version" ] || fail "the image does not run \`ccproxy version\`"
ok "built: $version"

hc=$(P image inspect --format '{{json .Config.Healthcheck.Test}}' "$IMAGE")
[ "$hc" = '["CMD","/usr/bin/ccproxy","status"]' ] || fail "the image's HEALTHCHECK is $hc"
user=$(P image inspect --format '{{.Config.User}}' "$IMAGE")
[ "$user" = "10001:10001" ] || fail "the image's USER is '$user'"
ok "image config: USER $user, HEALTHCHECK $hc"

# ---- the mock upstream and the settings -----------------------------------------------------------------
free_port() {
    node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => {
      process.stdout.write(String(s.address().port)); s.close(); });'
}
KEY="sk-ct-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" # a dummy provider key, never in argv
(umask 077 && printf '%s\n' "$KEY" >"$TMP/key")

CT_EXPECT_KEY=$KEY node tests/container/mock-upstream.mjs "$TMP/mock.port" "$TMP/mock.log" \
    2>"$TMP/mock.err" &
MOCK_PID=$!
for _ in $(seq 100); do [ -s "$TMP/mock.port" ] && break; sleep 0.1; done
[ -s "$TMP/mock.port" ] || { cat "$TMP/mock.err" >&2; fail "the mock upstream did not start in 10 s"; }
MOCK_PORT=$(cat "$TMP/mock.port")
PORT=$(free_port)
ok "mock upstream on 127.0.0.1:$MOCK_PORT; ccproxy will listen on 127.0.0.1:$PORT"

# One more layer (CCPROXY_CONFIG): the openai provider at the mock; its key stays ${OPENAI_API_KEY}.
cat >"$TMP/test-settings.json" <<EOF
{
  "providers": { "openai": { "baseURL": "http://127.0.0.1:$MOCK_PORT/v1" } },
  "ledger": { "flushMs": 100 }
}
EOF
chmod 0644 "$TMP/managed-settings.json" "$TMP/test-settings.json" # no secret in them
mkdir -m 0700 "$TMP/state"
chown 10001:10001 "$TMP/state" # the image's user; a named volume gets this from the image

# ---- the container --------------------------------------------------------------------------------------
(
    export OPENAI_API_KEY=$KEY # passed by name (-e NAME), so not on any command line
    P run -d --name "$CT" --network host \
        --read-only --read-only-tmpfs=false --cap-drop ALL --security-opt no-new-privileges \
        -e OPENAI_API_KEY -e CCPROXY_HOST=127.0.0.1 -e CCPROXY_PORT="$PORT" \
        -e CCPROXY_CONFIG=/etc/ccproxy/test-settings.json \
        -v "$TMP/managed-settings.json:/etc/ccproxy/managed-settings.json:ro" \
        -v "$TMP/test-settings.json:/etc/ccproxy/test-settings.json:ro" \
        -v "$TMP/state:/var/lib/ccproxy" \
        "$IMAGE" >"$TMP/run.out" 2>"$TMP/run.err"
) || { cat "$TMP/run.err" >&2; fail "podman run"; }
# (podman may say on stderr that it has no systemd to schedule health checks: they are run below.)

URL=http://127.0.0.1:$PORT
up=
for _ in $(seq 100); do
    if curl -fsS -m 1 "$URL/health" >"$TMP/health.json" 2>/dev/null; then
        up=1
        break
    fi
    [ "$(P inspect --format '{{.State.Running}}' "$CT")" = true ] ||
        { P logs "$CT" >&2 || true; fail "the container exited"; }
    sleep 0.2
done
[ -n "$up" ] || { P logs "$CT" >&2 || true; fail "GET /health did not answer within 20 s"; }
grep -q '"status":"ok"' "$TMP/health.json" || fail "GET /health: $(cat "$TMP/health.json")"
ok "GET /health from the host: $(cat "$TMP/health.json")"

P healthcheck run "$CT" >"$TMP/hc.out" 2>&1 || { cat "$TMP/hc.out" >&2; fail "podman healthcheck run"; }
[ "$(P inspect --format '{{.State.Health.Status}}' "$CT")" = healthy ] || fail "the container is not healthy"
P exec "$CT" /usr/bin/ccproxy status >"$TMP/status.out" 2>&1 || { cat "$TMP/status.out" >&2; fail "ccproxy status"; }
ok "HEALTHCHECK passes: $(head -1 "$TMP/status.out")"

# ---- a proxied request ------------------------------------------------------------------------------------
BODY='{"model":"claude-sonnet-4-5","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}'
messages() { # HOST_HEADER BODY OUT -> prints the HTTP status
    curl -sS -m 20 -o "$3" -w '%{http_code}' -H "Host: $1" -H 'content-type: application/json' \
        -H 'anthropic-version: 2023-06-01' --data "$2" "$URL/v1/messages"
}
code=$(messages "ccproxy:8082" "$BODY" "$TMP/answer.json") || fail "POST /v1/messages: curl failed"
[ "$code" = 200 ] || fail "POST /v1/messages: HTTP $code: $(cat "$TMP/answer.json")"
python3 - "$TMP/answer.json" "$TEXT" <<'EOF' || fail "POST /v1/messages: $(cat "$TMP/answer.json")"
import json, sys
a = json.load(open(sys.argv[1]))
assert a["type"] == "message" and a["role"] == "assistant", a
assert a["content"][0]["type"] == "text" and a["content"][0]["text"] == sys.argv[2], a["content"]
EOF
for _ in $(seq 50); do grep -q chat/completions "$TMP/mock.log" 2>/dev/null && break; sleep 0.1; done
grep -q '"path":"/v1/chat/completions","model":"gpt-4o","auth_ok":true' "$TMP/mock.log" ||
    fail "the mock did not see the translated request with the key: $(cat "$TMP/mock.log" 2>/dev/null)"
ok "POST /v1/messages (Host: ccproxy:8082) -> the mock got gpt-4o with the key -> \"$TEXT\""

code=$(messages "evil.example" "$BODY" "$TMP/denied.json") || fail "POST /v1/messages: curl failed"
[ "$code" = 403 ] || fail "Host: evil.example got HTTP $code, not 403 (server.allowedHosts not applied?)"
ok "Host: evil.example -> 403 (the managed settings are in force)"

# ---- who it runs as, what the image holds ---------------------------------------------------------------------
uid=$(P exec "$CT" id -u)
[ "$uid" != 0 ] || fail "podman exec id -u: 0"
st=$(P exec "$CT" cat /proc/1/status)
grep -Eq '^Uid:\s+10001\s+10001\s+10001\s+10001$' <<<"$st" || fail "the daemon's uids: $(grep ^Uid <<<"$st")"
grep -Eq '^CapEff:\s+0+$' <<<"$st" || fail "the daemon has capabilities: $(grep ^CapEff <<<"$st")"
ok "the daemon runs as uid 10001 (exec: uid $uid), no capabilities"
# shellcheck disable=SC2016 # $c is expanded by the container's shell
cc=$(P exec "$CT" sh -c 'for c in gcc cc c99 c89 clang tcc make ld as curl wget; do command -v "$c"; done; true')
[ -z "$cc" ] || fail "the runtime image holds build tools: $cc"
missing=$(P exec "$CT" sh -c 'ldd /usr/bin/ccproxy | grep "not found"; true')
[ -z "$missing" ] || fail "libraries missing in the runtime image: $missing"
ok "no compiler, make, curl or wget in the runtime image; every library of the binary is there"

# ---- the ledger on the volume -----------------------------------------------------------------------------
for _ in $(seq 50); do [ -s "$TMP/state/usage.db" ] && break; sleep 0.1; done
[ -s "$TMP/state/usage.db" ] || fail "no usage.db on the volume: $(ls -la "$TMP/state")"
P exec "$CT" /usr/bin/ccproxy usage --json --by model >"$TMP/usage.json" 2>&1 ||
    { cat "$TMP/usage.json" >&2; fail "ccproxy usage"; }
grep -q 'claude-sonnet-4-5' "$TMP/usage.json" || fail "ccproxy usage has no row of the request: $(cat "$TMP/usage.json")"
ok "ledger: $(stat -c '%n owner %u:%g mode %a' "$TMP/state/usage.db" | sed "s|$TMP/state|<volume>|"); ccproxy usage shows the request"

# ---- a graceful stop with a request in flight -------------------------------------------------------------------
SLOW='{"model":"slow-model@openai","max_tokens":50,"messages":[{"role":"user","content":"take your time"}]}'
messages "127.0.0.1" "$SLOW" "$TMP/slow.json" >"$TMP/slow.code" 2>"$TMP/slow.err" &
SLOW_PID=$!
for _ in $(seq 100); do grep -q '"model":"slow-model"' "$TMP/mock.log" 2>/dev/null && break; sleep 0.1; done
grep -q '"model":"slow-model"' "$TMP/mock.log" || fail "the slow request did not reach the mock within 10 s"
t_stop=$(date +%s%N)
P stop -t 30 "$CT" >/dev/null 2>"$TMP/stop.err" || { cat "$TMP/stop.err" >&2; fail "podman stop"; }
stop_ms=$((($(date +%s%N) - t_stop) / 1000000))
wait "$SLOW_PID" || { cat "$TMP/slow.err" >&2; fail "the request in flight failed during the stop"; }
SLOW_PID=
{ [ "$(cat "$TMP/slow.code")" = 200 ] && grep -qF "$TEXT" "$TMP/slow.json"; } ||
    fail "the request in flight got HTTP $(cat "$TMP/slow.code"): $(cat "$TMP/slow.json")"
rc=$(P inspect --format '{{.State.ExitCode}}' "$CT")
P logs "$CT" >"$TMP/ccproxy.log" 2>&1
[ "$rc" = 0 ] || { tail -5 "$TMP/ccproxy.log" >&2; fail "exit status $rc after podman stop"; }
grep -q '"msg":"draining","signal":"SIGTERM","active":1' "$TMP/ccproxy.log" ||
    fail "no 'draining' line with the request in flight: $(tail -3 "$TMP/ccproxy.log")"
grep -q '"msg":"drained; exiting"' "$TMP/ccproxy.log" || fail "no 'drained; exiting' line"
! grep -q 'drain timeout reached' "$TMP/ccproxy.log" || fail "the drain timed out"
[ "$stop_ms" -lt 30000 ] || fail "podman stop took $stop_ms ms (the drain should end with the request)"
ok "podman stop -t 30 with a request in flight: it completed, 'drained; exiting', exit 0, in $stop_ms ms"

# ---- no key in the logs ----------------------------------------------------------------------------------------
! grep -qF -f "$TMP/key" "$TMP/ccproxy.log" "$TMP/status.out" "$TMP/run.err" "$TMP/hc.out" ||
    fail "the provider key appears in the container's output"
ok "the dummy provider key is in none of the $(wc -l <"$TMP/ccproxy.log") log lines"

# ---- the .deb on a clean Debian 12 --------------------------------------------------------------------------
# The package from `make package` (build-pkg/, or $CCPROXY_DEB) installed with apt on the bare debootstrap
# base, which has none of its dependencies and no systemd (the postinst then makes the user with adduser),
# checked, then purged.
deb=${CCPROXY_DEB:-$(ls build-pkg/ccproxy_*.deb 2>/dev/null | head -1)}
[ -n "$deb" ] && [ -f "$deb" ] || fail "no .deb to install: run \`make package\` first (or set CCPROXY_DEB)"
say "installing $(basename "$deb") on the clean base $BASE_IMAGE"
# shellcheck disable=SC2016 # expanded by the container's shell
if ! PODMAN_TIMEOUT=600 P run --rm --network host -v /etc/apt:/etc/apt:ro -v "$(cd "$(dirname "$deb")" && pwd)":/pkg:ro \
    -e DEB="/pkg/$(basename "$deb")" "$BASE_IMAGE" sh -euc '
    export DEBIAN_FRONTEND=noninteractive
    if dpkg-query -W ccproxy >/dev/null 2>&1; then echo "ccproxy is installed in the base image"; exit 1; fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "$DEB" >/tmp/install.log 2>&1 || { cat /tmp/install.log; exit 1; }
    /usr/bin/ccproxy version
    id ccproxy
    test "$(stat -c %a:%U:%G /etc/ccproxy/managed-settings.json)" = 640:root:ccproxy
    test "$(stat -c %a:%U:%G /etc/ccproxy/ccproxy.env)" = 600:root:root
    test "$(stat -c %a:%U /var/lib/ccproxy)" = 700:ccproxy
    test -f /usr/lib/systemd/system/ccproxy.service
    su -s /bin/sh ccproxy -c "HOME=/var/lib/ccproxy /usr/bin/ccproxy config >/dev/null"
    apt-get purge -y -qq ccproxy >/tmp/purge.log 2>&1 || { cat /tmp/purge.log; exit 1; }
    if dpkg-query -W -f "\${Status}" ccproxy 2>/dev/null | grep -q installed; then echo "still installed"; exit 1; fi
    test ! -e /usr/bin/ccproxy && test ! -e /etc/ccproxy/managed-settings.json && test ! -e /var/lib/ccproxy
    echo clean-install-ok
    ' >"$TMP/deb.log" 2>&1 || ! grep -q clean-install-ok "$TMP/deb.log"; then
    tail -30 "$TMP/deb.log" >&2
    fail "the .deb on a clean Debian 12"
fi
ok "the .deb installs on a clean Debian 12 with its dependencies (apt), the service user reads its settings, purge leaves nothing"

# ---- the size ------------------------------------------------------------------------------------------------
size=$(P image inspect --format '{{.Size}}' "$IMAGE")
base=$(P image inspect --format '{{.Size}}' "$BASE_IMAGE")
say "image size: $size bytes ($((size / 1000000)) MB), of which the base $BASE_IMAGE $((base / 1000000)) MB" \
    "and ccproxy's layers $(((size - base) / 1000000)) MB"
P images --filter reference="$IMAGE" --filter reference="$BASE_IMAGE"
