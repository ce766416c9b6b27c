#!/usr/bin/env python3
"""Checks docker-compose.yml for tests/container/run.sh (there is no docker compose on the test machine).

    python3 tests/container/check_compose.py docker-compose.yml SETTINGS_OUT

Parses the file as YAML (python3-yaml) and checks what the sidecar promises: the app reaches ccproxy at
http://ccproxy:8082 once it is healthy; ccproxy has its keys from an env_file, the managed settings at
/etc/ccproxy/managed-settings.json, its state volume at /var/lib/ccproxy, the image's health check, a
read-only root, no capabilities, no-new-privileges, no published port, and a stop grace period longer
than its drain timeout. Writes the inline managed settings to SETTINGS_OUT, so that run.sh starts the
image with them. Exit 0 when all holds, else 1 with one line per problem.
"""
import json
import re
import sys

import yaml

DRAIN_DEFAULT = 30  # server.drainTimeoutSeconds, docs/configuration.md


def seconds(d):
    """A compose duration ("45s", "1m30s", "1h") in seconds."""
    if isinstance(d, (int, float)):
        return float(d)
    parts = re.findall(r"(\d+(?:\.\d+)?)(us|ms|h|m|s)", str(d))
    if not parts or "".join(n + u for n, u in parts) != str(d):
        raise ValueError(f"not a duration: {d!r}")
    unit = {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * unit[u] for n, u in parts)


def env_dict(env):
    if isinstance(env, dict):
        return {k: ("" if v is None else str(v)) for k, v in env.items()}
    out = {}
    for item in env or []:
        k, _, v = str(item).partition("=")
        out[k] = v
    return out


def main():
    path, out = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    bad = []

    def need(cond, msg):
        if not cond:
            bad.append(msg)

    services = doc.get("services") or {}
    app, cp = services.get("app"), services.get("ccproxy")
    need(isinstance(app, dict), "services.app is missing")
    need(isinstance(cp, dict), "services.ccproxy is missing")
    if not isinstance(app, dict) or not isinstance(cp, dict):
        print("\n".join(bad), file=sys.stderr)
        return 1

    need(env_dict(app.get("environment")).get("ANTHROPIC_BASE_URL") == "http://ccproxy:8082",
         "app: ANTHROPIC_BASE_URL is not http://ccproxy:8082")
    dep = (app.get("depends_on") or {})
    need(isinstance(dep, dict) and (dep.get("ccproxy") or {}).get("condition") == "service_healthy",
         "app: depends_on ccproxy is not condition: service_healthy")

    need(cp.get("build") is not None or cp.get("image"), "ccproxy: neither build nor image")
    need(cp.get("env_file"), "ccproxy: no env_file for the provider keys")
    need("ports" not in cp, "ccproxy: publishes ports (a sidecar is reached on the project network)")
    need(cp.get("read_only") is True, "ccproxy: read_only is not true")
    need("ALL" in (cp.get("cap_drop") or []), "ccproxy: cap_drop does not hold ALL")
    need("no-new-privileges:true" in (cp.get("security_opt") or []),
         "ccproxy: security_opt does not hold no-new-privileges:true")
    vols = cp.get("volumes") or []
    targets = [v.split(":")[1] if isinstance(v, str) and ":" in v else (v or {}).get("target") for v in vols]
    need("/var/lib/ccproxy" in targets, "ccproxy: no volume at /var/lib/ccproxy")
    test = (cp.get("healthcheck") or {}).get("test") or []
    need(list(test) == ["CMD", "/usr/bin/ccproxy", "status"],
         "ccproxy: healthcheck.test is not [CMD, /usr/bin/ccproxy, status]")

    settings = None
    cfgs = cp.get("configs") or []
    src = [c.get("source") for c in cfgs
           if isinstance(c, dict) and c.get("target") == "/etc/ccproxy/managed-settings.json"]
    need(len(src) == 1, "ccproxy: no config mounted at /etc/ccproxy/managed-settings.json")
    if len(src) == 1:
        top = (doc.get("configs") or {}).get(src[0]) or {}
        try:
            settings = json.loads(top.get("content", ""))
        except ValueError as e:
            bad.append(f"configs.{src[0]}.content is not JSON: {e}")

    drain = DRAIN_DEFAULT
    if isinstance(settings, dict):
        drain = ((settings.get("server") or {}).get("drainTimeoutSeconds")) or DRAIN_DEFAULT
        need("ccproxy" in ((settings.get("server") or {}).get("allowedHosts") or []),
             "managed settings: server.allowedHosts does not hold \"ccproxy\" (the app's Host header)")
    try:
        grace = seconds(cp.get("stop_grace_period", "10s"))
        need(grace > drain, f"ccproxy: stop_grace_period ({grace:g}s) is not longer than the drain timeout ({drain}s)")
    except ValueError as e:
        bad.append(f"ccproxy: stop_grace_period: {e}")

    if bad:
        print("\n".join(bad), file=sys.stderr)
        return 1
    with open(out, "w", encoding="utf-8") as f:
        json.dump(settings, f, indent=2)
        f.write("\n")
    print(f"docker-compose.yml: ok (stop_grace_period {grace:g}s > drain {drain}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
