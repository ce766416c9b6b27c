# ccproxy container image: a build stage and a small runtime stage on the same Debian base.
#
#   docker build -t ccproxy .
#   docker run --rm -p 8082:8082 -e OPENAI_API_KEY -v ccproxy-state:/var/lib/ccproxy ccproxy
#
# podman without a registry (tests/container/run.sh): a locally made base image,
#   podman build --format docker --build-arg BASE=localhost/debian:bookworm-min -t ccproxy .
# (--format docker keeps HEALTHCHECK, which the OCI image format has no field for.)
#
# Configuration (docs/configuration.md): the environment (CCPROXY_PORT, CCPROXY_HOST,
# CCPROXY_LOG_LEVEL, CCPROXY_LOG_FORMAT, CCPROXY_CONFIG, provider keys such as OPENAI_API_KEY) and a
# mounted /etc/ccproxy/managed-settings.json (the managed layer). State (instance key, usage ledger)
# lives in the volume /var/lib/ccproxy. Logs are JSON lines on stderr.
ARG BASE=debian:bookworm-slim

FROM ${BASE} AS build
ARG DEBIAN_FRONTEND=noninteractive
# force-unsafe-io: dpkg skips its fsync calls in this throw-away stage (debian:*-slim images set
# it themselves; a locally made base does not).
RUN echo force-unsafe-io > /etc/dpkg/dpkg.cfg.d/unsafe-io \
 && apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake pkg-config \
      libevent-dev libcurl4-openssl-dev libjansson-dev libssl-dev libsqlite3-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The source tree minus what .dockerignore leaves out (.git, build directories, tests/, bench/):
# CMakeLists.txt compiles lib/ and daemon/, and its configure step also reads the files it includes
# (cmake/, packaging/), so the whole tree is copied rather than a list that could fall behind.
COPY . .
# CMakeLists.txt takes the commit that `ccproxy version` reports from `git rev-parse`; the build
# context has no .git, so a build argument stands in for it (otherwise "unknown"):
#   docker build --build-arg CCPROXY_COMMIT=$(git rev-parse --short=12 HEAD) ...
ARG CCPROXY_COMMIT=
RUN if [ -n "$CCPROXY_COMMIT" ]; then \
      echo "$CCPROXY_COMMIT" | grep -qx '[0-9a-f]\{7,40\}' || { echo "CCPROXY_COMMIT: not a commit id" >&2; exit 1; }; \
      printf '#!/bin/sh\necho "%s"\n' "$CCPROXY_COMMIT" > /usr/local/bin/git && chmod 0755 /usr/local/bin/git; \
    fi \
 && cmake -S . -B build -DCCPROXY_TESTS=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null \
 && cmake --build build -j "$(nproc)" \
 && strip --strip-unneeded build/ccproxy \
 && rm -f /usr/local/bin/git \
 && ./build/ccproxy version

FROM ${BASE}
ARG DEBIAN_FRONTEND=noninteractive
# The shared libraries the binary links (libevent core/extra, libcurl, jansson, OpenSSL, SQLite) and
# the CA bundle for https:// providers; nothing else (no compiler, no curl).
RUN apt-get update \
 && apt-get install -y --no-install-recommends -o Dpkg::Options::=--force-unsafe-io libevent-core-2.1-7 libevent-extra-2.1-7 \
      libevent-openssl-2.1-7 libcurl4 libjansson4 libssl3 libsqlite3-0 ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log
# A fixed non-root user (uid/gid 10001, no login shell) that owns the state directory. A host
# directory bind-mounted there must be writable by 10001 (chown 10001:10001 DIR, or podman's :U).
RUN groupadd --gid 10001 ccproxy \
 && useradd --uid 10001 --gid 10001 --home-dir /var/lib/ccproxy --no-create-home --no-log-init \
      --shell /usr/sbin/nologin ccproxy \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/ccproxy \
 && install -d -m 0755 /etc/ccproxy /usr/share/doc/ccproxy
COPY --from=build /src/build/ccproxy /usr/bin/ccproxy
COPY conf/settings.example.json /usr/share/doc/ccproxy/settings.example.json

# HOME holds ~/.ccproxy/instance.key (what `ccproxy status` checks, see docs/cli.md);
# STATE_DIRECTORY puts the usage ledger at /var/lib/ccproxy/usage.db (ledger.path's default,
# docs/configuration.md). Both are on the volume. The working directory is HOME, so no project
# settings layer ($CWD/.ccproxy/settings.json) applies. CCPROXY_HOST=0.0.0.0: a container is reached
# through its own interfaces, never its loopback (set CCPROXY_HOST=127.0.0.1 with --network host).
ENV HOME=/var/lib/ccproxy \
    STATE_DIRECTORY=/var/lib/ccproxy \
    CCPROXY_HOST=0.0.0.0
WORKDIR /var/lib/ccproxy
USER 10001:10001
VOLUME /var/lib/ccproxy
EXPOSE 8082

# `ccproxy status` asks /health at the configured address and proves the answer comes from this
# ccproxy (the instance key in HOME): exit 0 healthy, 3 nothing answers, 1 something else answers.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["/usr/bin/ccproxy", "status"]

# SIGTERM: stop accepting, let requests in flight (streams too) finish within
# server.drainTimeoutSeconds (30 s by default), log "drained; exiting", exit 0. Give the container
# runtime a longer stop timeout (docker stop -t 45, compose stop_grace_period: 45s), or it sends
# SIGKILL before the drain ends.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/ccproxy"]
CMD ["server"]
