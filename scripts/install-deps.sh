#!/bin/sh
# Installs the Debian/Ubuntu packages ccproxy needs, only when something is missing.
#   scripts/install-deps.sh          build and run: compiler, cmake, libevent, libcurl, jansson, OpenSSL
#   scripts/install-deps.sh --test   also what the tests need: cmocka, clang, clang-format, libFuzzer
#                                    (libclang-rt-14-dev), Node.js, tmux and script (terminal-driven tests),
#                                    python3 and openssl (peers node cannot play: tests/e2e/lib/sockets.mjs),
#                                    lintian (the .deb), podman, runc and debootstrap (the container image),
#                                    nginx-light and haproxy (the reverse-proxy lines of docs/deployment.md)
# Runs apt-get as root, or through sudo when not root.
set -eu

pkgs="build-essential cmake pkg-config git libevent-dev libcurl4-openssl-dev libjansson-dev libssl-dev libsqlite3-dev ca-certificates"
if [ "${1:-}" = "--test" ]; then
    pkgs="$pkgs libcmocka-dev clang clang-format libclang-rt-14-dev curl tmux bsdutils python3 python3-yaml openssl sqlite3 lintian podman runc debootstrap nginx-light haproxy"
    # Node.js 18+ runs the end-to-end tests; a newer one already on the machine is fine.
    if ! command -v node >/dev/null 2>&1 || ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 18 ? 0 : 1)'; then
        pkgs="$pkgs nodejs"
    fi
    if ! command -v npm >/dev/null 2>&1; then
        pkgs="$pkgs npm"
    fi
fi

missing=""
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: missing packages:$missing (no apt-get here: install them by hand)" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
echo "install-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
