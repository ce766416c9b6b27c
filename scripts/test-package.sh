#!/usr/bin/env bash
# scripts/test-package.sh DEB: installs the Debian package (cmake/package.cmake, `make package`) on
# this machine, checks it, and purges it. `make test-package` builds the package and runs this.
#
#   lintian            no error and no warning (the meant ones are overridden in
#                      packaging/debian/ccproxy.lintian-overrides, with the reason)
#   dpkg -i            the postinst works without systemd as PID 1; apt-get -f install needs nothing
#   the files          dpkg -L, the conffiles, modes and owners, the user, the unit enabled (not
#                      started), systemd-analyze verify, the man page, the docs
#   the service user   /usr/bin/ccproxy server run as ccproxy (HOME and STATE_DIRECTORY as the unit
#                      sets them) on a free loopback port answers /health and serves the models of
#                      /etc/ccproxy/managed-settings.json: it can read its config; `ccproxy keys add
#                      --scope system` keeps the file's mode and group and the server picks it up;
#                      SIGTERM stops it with status 0; nothing it wrote is readable by others
#   dpkg -i again      an upgrade in place keeps the changed conffile, its mode and group
#   dpkg -r, dpkg -P   remove leaves only the conffiles (and the state); purge leaves nothing
#
# Needs root. Refuses to run when ccproxy is installed (in any state) or its files exist, rather
# than replace them. Whatever happens, the package is purged at the end (and the user ccproxy
# removed if the test made it). Every wait is bounded; the run takes 30 to 70 s, most of it lintian
# and the man-db trigger of each dpkg run.
set -euo pipefail

PKG=ccproxy
UNIT=/usr/lib/systemd/system/ccproxy.service
MANAGED=/etc/ccproxy/managed-settings.json
ENVFILE=/etc/ccproxy/ccproxy.env
STATE=/var/lib/ccproxy

START=$SECONDS
step() { printf '\n== [%3ds] %s\n' $((SECONDS - START)) "$*"; }
ok() { printf '   ok: %s\n' "$*"; }
fail() {
    printf '\ntest-package: FAIL: %s\n' "$*" >&2
    exit 1
}

[ $# -eq 1 ] || fail "usage: scripts/test-package.sh path/to/ccproxy_VERSION_ARCH.deb (exactly one)"
DEB=$(realpath "$1")
[ -f "$DEB" ] || fail "$1: no such package"
[ "$(id -u)" -eq 0 ] || fail "needs root (dpkg -i, a system user)"
for tool in lintian dpkg dpkg-deb apt-get curl setpriv systemd-analyze man gzip find stat getent; do
    command -v "$tool" >/dev/null || fail "$tool is missing (scripts/install-deps.sh --test)"
done

# Never clobber an install that was here before.
if st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$PKG" 2>/dev/null) && [ "${st:1:1}" != n ]; then
    fail "$PKG is already installed here (dpkg status '${st% }'): not touching it; remove it first or test elsewhere"
fi
for p in /usr/bin/ccproxy /etc/ccproxy "$STATE" "$UNIT" /usr/lib/sysusers.d/ccproxy.conf; do
    [ ! -e "$p" ] || fail "$p exists but no package owns it: not overwriting it"
done

USER_BEFORE=$(getent passwd ccproxy || true)
TMP=$(mktemp -d /tmp/test-package.XXXXXX)
chmod 0711 "$TMP" # the service user must reach nothing here but what is made for it
SERVER_PID=
INSTALLED=
cleanup() {
    local rc=$?
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    if [ -n "$INSTALLED" ]; then
        timeout 120 dpkg -P "$PKG" >/dev/null 2>&1 || echo "test-package: could not purge $PKG: run dpkg -P $PKG" >&2
    fi
    # The package keeps its user after a purge, as Debian does; the test removes the one it made.
    if [ -z "$USER_BEFORE" ] && getent passwd ccproxy >/dev/null && ! dpkg-query -W "$PKG" >/dev/null 2>&1; then
        userdel ccproxy 2>/dev/null || echo "test-package: could not remove the user ccproxy it made" >&2
        if getent group ccproxy >/dev/null; then groupdel ccproxy 2>/dev/null || true; fi
    fi
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Paths named like the package, before and after (the purge must restore the list); container
# images that other builds on this machine make are not the package's.
snapshot() {
    find /etc /usr /var/lib -xdev \( -path /var/lib/dpkg -o -path /var/lib/containers -o -path /var/lib/docker \) \
        -prune -o -name '*ccproxy*' -print 2>/dev/null | sort || true
}
snapshot >"$TMP/before"

VERSION=$(dpkg-deb -f "$DEB" Version)
step "$(basename "$DEB"): version $VERSION, $(stat -c %s "$DEB") bytes, Installed-Size $(dpkg-deb -f "$DEB" Installed-Size) KiB"
dpkg-deb -f "$DEB" Depends

step "lintian (fails on errors and warnings)"
# lintian warns about itself when run as root; that line says nothing about the package.
if ! timeout 120 lintian --fail-on error,warning --display-info --pedantic \
    "$DEB" >"$TMP/lintian" 2>&1; then
    grep -v 'running with root privileges' "$TMP/lintian" >&2 || true
    fail "lintian"
fi
grep -v 'running with root privileges' "$TMP/lintian" | grep -v '^N:' || true
ok "lintian: no error, no warning"

step "dpkg -i"
INSTALLED=1
timeout 120 dpkg -i "$DEB" >"$TMP/dpkg-i" 2>&1 || {
    cat "$TMP/dpkg-i" >&2
    fail "dpkg -i"
}
cat "$TMP/dpkg-i"
grep -q '^ccproxy: enabled, not started: .*/etc/ccproxy/ccproxy.env.*systemctl start ccproxy' "$TMP/dpkg-i" ||
    fail "the postinst did not say what to do next"
[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$PKG")" = "ii " ] || fail "$PKG is not installed after dpkg -i"
timeout 120 apt-get -f install -y -q -o Dpkg::Lock::Timeout=60 >"$TMP/apt" 2>&1 || {
    cat "$TMP/apt" >&2
    fail "apt-get -f install"
}
grep -q '^0 upgraded, 0 newly installed, 0 to remove' "$TMP/apt" || {
    cat "$TMP/apt" >&2
    fail "apt-get -f install wanted to change something: the package's Depends are not what is here"
}
ok "installed; apt-get -f install: nothing to do"

step "the program"
[ "$(command -v ccproxy)" = /usr/bin/ccproxy ] || fail "ccproxy is not /usr/bin/ccproxy on PATH"
/usr/bin/ccproxy --version >"$TMP/version" || fail "ccproxy --version exited $?"
head -1 "$TMP/version" | grep -q "^ccproxy ${VERSION} (commit " || fail "ccproxy --version says: $(head -1 "$TMP/version")"
ok "$(head -1 "$TMP/version")"
file_info=$(LC_ALL=C od -An -c -N4 /usr/bin/ccproxy | tr -d ' ')
[ "$file_info" = '177ELF' ] || fail "/usr/bin/ccproxy is not an ELF file"
if LC_ALL=C readelf -S /usr/bin/ccproxy 2>/dev/null | grep -q '\.debug_\|\.symtab'; then
    fail "/usr/bin/ccproxy is not stripped"
fi
ok "stripped"

step "dpkg -L: the files"
dpkg -L "$PKG" >"$TMP/list"
for f in /usr/bin/ccproxy "$UNIT" /usr/lib/sysusers.d/ccproxy.conf "$MANAGED" "$ENVFILE" \
    /usr/share/man/man1/ccproxy.1.gz /usr/share/doc/ccproxy/README.md /usr/share/doc/ccproxy/copyright \
    /usr/share/doc/ccproxy/changelog.gz /usr/share/doc/ccproxy/docs/cli.md \
    /usr/share/doc/ccproxy/docs/configuration.md /usr/share/doc/ccproxy/docs/team.md \
    /usr/share/doc/ccproxy/docs/security.md /usr/share/doc/ccproxy/docs/deployment.md \
    /usr/share/doc/ccproxy/docs/resilience.md; do
    grep -qx "$f" "$TMP/list" || fail "dpkg -L $PKG does not list $f"
    [ -f "$f" ] || fail "$f is listed but not installed"
done
conffiles=$(dpkg-query -W -f='${Conffiles}\n' "$PKG" | awk 'NF {print $1}' | sort | tr '\n' ' ')
[ "$conffiles" = "$ENVFILE $MANAGED " ] || fail "conffiles are '$conffiles'"
cmp -s "$MANAGED" "$(dirname "$0")/../conf/settings.example.json" ||
    fail "$MANAGED is not conf/settings.example.json"
gzip -t /usr/share/man/man1/ccproxy.1.gz /usr/share/doc/ccproxy/changelog.gz || fail "a .gz file is broken"
zcat /usr/share/doc/ccproxy/changelog.gz | head -1 | grep -q "^ccproxy ($VERSION) " ||
    fail "changelog.gz does not start with version $VERSION"
grep -v '^#' "$ENVFILE" | grep -q '[^[:space:]]' && fail "$ENVFILE holds more than comments"
ok "$(wc -l <"$TMP/list") paths; conffiles: $conffiles"

step "the user, modes and owners"
IFS=: read -r _ _ uid gid _ home shell < <(getent passwd ccproxy) || fail "no user ccproxy"
[ "$uid" -lt 1000 ] || fail "ccproxy is not a system user (uid $uid)"
[ "$home" = "$STATE" ] || fail "ccproxy's home is $home"
case "$shell" in */nologin | /bin/false) ;; *) fail "ccproxy's shell is $shell" ;; esac
[ "$(getent group ccproxy | cut -d: -f3)" = "$gid" ] || fail "ccproxy's primary group is not ccproxy"
check_mode() { # PATH MODE OWNER:GROUP
    local got
    got=$(stat -c '%a %U:%G' "$1")
    [ "$got" = "$2 $3" ] || fail "$1 is $got, expected $2 $3"
    ok "$1: $2 $3"
}
check_mode "$MANAGED" 640 root:ccproxy
check_mode "$ENVFILE" 600 root:root
check_mode /etc/ccproxy 750 root:ccproxy
check_mode "$STATE" 700 ccproxy:ccproxy
check_mode /usr/bin/ccproxy 755 root:root
private() { # nothing under /etc/ccproxy or the state directory is open to others
    local open
    open=$(find /etc/ccproxy "$STATE" -perm /o=rwx ! -type l 2>/dev/null)
    [ -z "$open" ] || fail "open to others: $open"
}
private
ok "nothing under /etc/ccproxy or $STATE is open to others"

step "systemd: the unit, enabled but not started"
# deb-systemd-helper links /lib/systemd/system/ccproxy.service: the same file on a merged /usr.
ln_target=$(readlink -e /etc/systemd/system/multi-user.target.wants/ccproxy.service || true)
[ "$ln_target" = "$(readlink -e "$UNIT")" ] || fail "ccproxy.service is not enabled (multi-user.target.wants: '$ln_target')"
ok "enabled (multi-user.target.wants)"
if [ -d /run/systemd/system ]; then
    systemctl is-active --quiet ccproxy && fail "the postinst started the service"
    ok "not started"
else
    ok "systemd is not PID 1 here: nothing to start or reload"
fi
timeout 60 systemd-analyze verify "$UNIT" >"$TMP/verify" 2>&1 || {
    cat "$TMP/verify" >&2
    fail "systemd-analyze verify $UNIT"
}
[ ! -s "$TMP/verify" ] || {
    cat "$TMP/verify" >&2
    fail "systemd-analyze verify $UNIT printed the above"
}
grep -q '^ExecStart=/usr/bin/ccproxy server$' "$UNIT" || fail "$UNIT does not run /usr/bin/ccproxy server"
grep -q '^User=ccproxy$' "$UNIT" || fail "$UNIT does not run as ccproxy"
ok "systemd-analyze verify: nothing to say"

step "the man page"
man --warnings -l /usr/share/man/man1/ccproxy.1.gz 2>"$TMP/man-warn" >/dev/null || fail "man -l failed"
[ ! -s "$TMP/man-warn" ] || {
    cat "$TMP/man-warn" >&2
    fail "man --warnings printed the above"
}
MANWIDTH=80 timeout 30 man ccproxy 2>/dev/null | col -b >"$TMP/man" || fail "man ccproxy failed"
for section in NAME SYNOPSIS DESCRIPTION COMMANDS OPTIONS CONFIGURATION ENVIRONMENT FILES SIGNALS \
    'EXIT STATUS' 'SEE ALSO'; do
    grep -q "^$section\$" "$TMP/man" || fail "man ccproxy has no $section section"
done
ok "man ccproxy: $(wc -l <"$TMP/man") lines, every section"

step "the service user runs the installed binary"
# Runs /usr/bin/ccproxy ARGS as the user ccproxy, in the environment the unit gives it (HOME,
# StateDirectory=, WorkingDirectory=) and nothing else; VAR=value words before -- are added. It execs,
# so `( as_ccproxy ... ) &` leaves the server's pid in $!.
as_ccproxy() {
    local vars=()
    while [ "$1" != -- ]; do
        vars+=("$1")
        shift
    done
    shift
    cd "$STATE"
    exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$STATE" STATE_DIRECTORY="$STATE" LANG=C.UTF-8 \
        "${vars[@]}" setpriv --reuid ccproxy --regid ccproxy --init-groups /usr/bin/ccproxy "$@"
}
# `ccproxy config` as the user: the managed file is one of its layers.
(as_ccproxy CCPROXY_HOST=127.0.0.1 -- config) >"$TMP/config" 2>"$TMP/config.err" || {
    cat "$TMP/config.err" >&2
    fail "ccproxy config as ccproxy"
}
grep -q "\"server.port\": \"$MANAGED\"" "$TMP/config" || fail "ccproxy config as ccproxy does not read $MANAGED"
ok "ccproxy config as ccproxy reads $MANAGED"
# ... which another user cannot read.
if (cd / && env -i PATH=/usr/bin:/bin HOME=/nonexistent setpriv --reuid nobody --regid nogroup --clear-groups \
    /usr/bin/ccproxy config >/dev/null 2>"$TMP/nobody.err"); then
    fail "nobody could read the configuration, $MANAGED included"
fi
ok "nobody cannot: $(head -1 "$TMP/nobody.err")"

# The server, on a port the kernel picks (it prints it), on loopback only.
(as_ccproxy CCPROXY_HOST=127.0.0.1 -- server --port 0) >"$TMP/server.out" 2>"$TMP/server.err" &
SERVER_PID=$!
port=
for _ in $(seq 100); do
    port=$(sed -n 's/^ccproxy listening on 127\.0\.0\.1 port \([0-9][0-9]*\)$/\1/p' "$TMP/server.out")
    [ -n "$port" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
done
[ -n "$port" ] || {
    cat "$TMP/server.err" >&2
    fail "the server did not start as ccproxy within 10 s"
}
uids=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$SERVER_PID/status")
[ "$uids" = "$uid $uid $uid $uid" ] || fail "the server does not run as ccproxy (uids $uids)"
health=$(curl -sS --noproxy '*' --max-time 5 "http://127.0.0.1:$port/health") || fail "GET /health failed"
case "$health" in
*'"status":"ok"'*"\"pid\":$SERVER_PID"* | *"\"pid\":$SERVER_PID"*'"status":"ok"'*) ;;
*) fail "GET /health answered: $health" ;;
esac
ok "ccproxy on 127.0.0.1:$port as ccproxy, GET /health: $health"
# bigModel "gpt-4o@openai" is what the managed file says (the built-in default is another).
models=$(curl -sS --noproxy '*' --max-time 5 "http://127.0.0.1:$port/v1/models") || fail "GET /v1/models failed"
case "$models" in *'"gpt-4o@openai"'*) ;; *) fail "GET /v1/models does not list the managed file's models: $models" ;; esac
ok "GET /v1/models: the models of $MANAGED"

step "ccproxy keys add --scope system keeps the managed file's mode and group"
# As root, with an empty HOME of its own; the key (stdout) goes nowhere.
mkdir -m 0700 "$TMP/root-home"
(cd / && env -i PATH=/usr/bin:/bin HOME="$TMP/root-home" /usr/bin/ccproxy keys add pkgtest --scope system \
    >/dev/null 2>"$TMP/keys.err") || {
    cat "$TMP/keys.err" >&2
    fail "ccproxy keys add --scope system"
}
grep -q '"name": "pkgtest"' "$MANAGED" || fail "the key is not in $MANAGED"
check_mode "$MANAGED" 640 root:ccproxy
# The running server reloads it by itself: the API now needs a key, loopback included.
status=
for _ in $(seq 100); do
    status=$(curl -sS --noproxy '*' --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/models")
    [ "$status" = 401 ] && break
    sleep 0.1
done
[ "$status" = 401 ] || fail "the server did not pick up the new key within 10 s (GET /v1/models: $status)"
ok "the server (as ccproxy) read the rewritten file: GET /v1/models without a key is 401"

step "SIGTERM"
kill -TERM "$SERVER_PID"
for _ in $(seq 100); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$SERVER_PID" 2>/dev/null && fail "the server did not exit within 10 s of SIGTERM"
rc=0
wait "$SERVER_PID" || rc=$?
SERVER_PID=
[ "$rc" -eq 0 ] || {
    cat "$TMP/server.err" >&2
    fail "the server exited $rc after SIGTERM"
}
ok "exited 0"
[ -f "$STATE/usage.db" ] || fail "no ledger in $STATE"
check_mode "$STATE/usage.db" 600 ccproxy:ccproxy
check_mode "$STATE/.ccproxy/instance.key" 600 ccproxy:ccproxy
private
ok "nothing the server wrote is open to others"
if grep -q '"level":"error"' "$TMP/server.err"; then
    cat "$TMP/server.err" >&2
    fail "the server logged errors"
fi

step "dpkg -i again (an upgrade in place): the changed conffile stays, with its mode and group"
timeout 120 dpkg -i "$DEB" >"$TMP/dpkg-i2" 2>&1 || {
    cat "$TMP/dpkg-i2" >&2
    fail "dpkg -i over the installed package"
}
grep -q '"name": "pkgtest"' "$MANAGED" || fail "the upgrade replaced the changed $MANAGED"
check_mode "$MANAGED" 640 root:ccproxy
check_mode /etc/ccproxy 750 root:ccproxy

step "dpkg -r: only the conffiles stay"
timeout 120 dpkg -r "$PKG" >"$TMP/dpkg-r" 2>&1 || {
    cat "$TMP/dpkg-r" >&2
    fail "dpkg -r"
}
[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$PKG")" = "rc " ] || fail "$PKG is not in state rc after dpkg -r"
for f in "$MANAGED" "$ENVFILE"; do [ -f "$f" ] || fail "dpkg -r removed the conffile $f"; done
grep -vx -e "$MANAGED" -e "$ENVFILE" "$TMP/list" | while read -r f; do
    [ -d "$f" ] && continue # directories shared with other packages
    [ ! -e "$f" ] || fail "dpkg -r left $f"
done
left=$(dpkg -L "$PKG" 2>/dev/null | while read -r f; do [ -d "$f" ] || [ ! -e "$f" ] || echo "$f"; done | sort | tr '\n' ' ')
[ "$left" = "$ENVFILE $MANAGED " ] || fail "after dpkg -r, dpkg -L has these files: $left"
ok "left: $left(and the state in $STATE until the purge)"

step "dpkg -P: nothing stays"
timeout 120 dpkg -P "$PKG" >"$TMP/dpkg-p" 2>&1 || {
    cat "$TMP/dpkg-p" >&2
    fail "dpkg -P"
}
INSTALLED=
if st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$PKG" 2>/dev/null) && [ "${st:1:1}" != n ]; then
    fail "$PKG is still known to dpkg: $st"
fi
for p in /etc/ccproxy "$STATE" /etc/systemd/system/multi-user.target.wants/ccproxy.service; do
    if [ -e "$p" ] || [ -L "$p" ]; then fail "dpkg -P left $p"; fi
done
if dpkg -S /usr/bin/ccproxy "$UNIT" "$MANAGED" >/dev/null 2>&1; then
    fail "dpkg -S still finds a ccproxy file"
fi
snapshot >"$TMP/after"
diff "$TMP/before" "$TMP/after" >&2 || fail "after the purge, the paths above differ from before the install"
ok "purged: no file, no state, no enablement left (the user ccproxy stays, as Debian does$([ -n "$USER_BEFORE" ] || echo '; the test removes it'))"

printf '\ntest-package: OK (%s)\n' "$(basename "$DEB")"
