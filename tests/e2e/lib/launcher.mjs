// Helpers for the launcher tests (`ccproxy [ARGS]`, status, stop, init): a fake `claude` on PATH, running
// ccproxy with a given HOME, and cleaning up the background server it starts.
//
// The fake claude (a Node script) writes one JSON record per run into $FAKE_CLAUDE_OUT/<pid>.json:
//   {argv, pid, env: {ANTHROPIC_BASE_URL, ANTHROPIC_AUTH_TOKEN, ANTHROPIC_API_KEY, NODE_EXTRA_CA_CERTS (null when unset)},
//    health: <GET $ANTHROPIC_BASE_URL/health as JSON, or {error}>, ready, signal}
// then exits with $FAKE_CLAUDE_EXIT (default 0). With FAKE_CLAUDE_WAIT=1 it stays until SIGINT or SIGTERM,
// records the signal and exits 128 + its number.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, SANITIZER_RE, baseEnv, makeDirs, removeDirs, sleep, waitFor, writeFile } from './daemon.mjs';

const FAKE_CLAUDE = `#!/usr/bin/env node
'use strict';
const fs = require('fs');
const path = require('path');
const rec = {
  argv: process.argv.slice(2),
  pid: process.pid,
  env: {
    ANTHROPIC_BASE_URL: process.env.ANTHROPIC_BASE_URL ?? null,
    ANTHROPIC_AUTH_TOKEN: process.env.ANTHROPIC_AUTH_TOKEN ?? null,
    ANTHROPIC_API_KEY: process.env.ANTHROPIC_API_KEY ?? null,
    NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS ?? null,
  },
  health: null,
  ready: false,
  signal: null,
};
const out = path.join(process.env.FAKE_CLAUDE_OUT, process.pid + '.json');
const save = () => fs.writeFileSync(out, JSON.stringify(rec));
(async () => {
  try {
    const r = await fetch(process.env.ANTHROPIC_BASE_URL + '/health');
    rec.health = { status: r.status, body: await r.json() };
  } catch (e) {
    rec.health = { error: String(e) };
  }
  if (process.env.FAKE_CLAUDE_WAIT === '1') {
    for (const [sig, n] of [['SIGINT', 2], ['SIGTERM', 15]]) {
      process.on(sig, () => { rec.signal = sig; save(); process.exit(128 + n); });
    }
    rec.ready = true;
    save();
    setInterval(() => {}, 1000);
    return;
  }
  save();
  process.exit(Number(process.env.FAKE_CLAUDE_EXIT || 0));
})();
`;

/** Temp dirs plus <root>/bin/claude (the fake) and <root>/claude-out (its records). */
export function makeLaunchDirs({ fakeClaude = true } = {}) {
  const dirs = makeDirs();
  dirs.bin = path.join(dirs.root, 'bin');
  dirs.out = path.join(dirs.root, 'claude-out');
  fs.mkdirSync(dirs.bin);
  fs.mkdirSync(dirs.out);
  if (fakeClaude) {
    fs.writeFileSync(path.join(dirs.bin, 'claude'), FAKE_CLAUDE, { mode: 0o755 });
  }
  dirs.stateDir = path.join(dirs.home, '.ccproxy');
  dirs.logPath = path.join(dirs.stateDir, 'ccproxy.log');
  dirs.pidPath = path.join(dirs.stateDir, 'ccproxy.pid');
  return dirs;
}

/** The environment ccproxy runs with: fake claude first on PATH. */
export function launchEnv(dirs, extra = {}) {
  return baseEnv(dirs, {
    PATH: `${dirs.bin}:${process.env.PATH || '/usr/local/bin:/usr/bin:/bin'}`,
    FAKE_CLAUDE_OUT: dirs.out,
    ...extra,
  });
}

/**
 * Start `ccproxy <args>`; → {proc, done: Promise<{code, signal, stdout, stderr, ms}>}.
 * stdin is /dev/null unless stdin: 'pipe'; extraStdio adds descriptors 3, 4, ... ('pipe' etc.).
 */
export function spawnCcproxy(args, dirs, { env = {}, timeoutMs = 20000, stdin = 'ignore', extraStdio = [] } = {}) {
  const t0 = Date.now();
  const proc = spawn(BIN, args, { env: launchEnv(dirs, env), cwd: dirs.cwd, stdio: [stdin, 'pipe', 'pipe', ...extraStdio] });
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
  proc.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
  const done = new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      try { proc.kill('SIGKILL'); } catch { /* ignore */ }
      reject(new Error(`ccproxy ${args.join(' ')} did not exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    proc.on('error', (e) => { clearTimeout(timer); reject(e); });
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 });
    });
  });
  return { proc, done };
}

/** Run `ccproxy <args>` to completion. */
export function ccproxy(args, dirs, opts = {}) {
  return spawnCcproxy(args, dirs, opts).done;
}

/** The fake claude's records, oldest first. */
export function claudeRuns(dirs) {
  return fs.readdirSync(dirs.out)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(fs.readFileSync(path.join(dirs.out, f), 'utf8')));
}

export function readPidFile(dirs) {
  try {
    return Number(fs.readFileSync(dirs.pidPath, 'utf8').trim());
  } catch {
    return 0;
  }
}

export function alive(pid) {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

export function readLog(dirs) {
  try {
    return fs.readFileSync(dirs.logPath, 'utf8');
  } catch {
    return '';
  }
}

/** Log lines (JSON) whose msg is <msg>. */
export function logCount(dirs, msg) {
  return readLog(dirs).split('\n').filter((l) => {
    try { return JSON.parse(l).msg === msg; } catch { return false; }
  }).length;
}

/** Settings for a launcher test on <port>, merged over <extra>; in ~/.ccproxy, or ./.ccproxy with where: 'cwd'. */
export function writeSettings(dirs, port, extra = {}, { where = 'home' } = {}) {
  writeFile(where === 'cwd' ? dirs.cwdSettingsPath : dirs.homeSettingsPath, {
    ...extra,
    server: { host: '127.0.0.1', port, drainTimeoutSeconds: 5, ...(extra.server || {}) },
  });
}

/**
 * Stops whatever background server the test started (ccproxy stop, then SIGKILL by pid file as a last
 * resort), fails on sanitizer reports in its log, and removes the dirs.
 */
export async function cleanupLaunch(dirs, pids = []) {
  if (!dirs) return;
  const all = new Set([readPidFile(dirs), ...pids].filter(Boolean));
  try {
    await ccproxy(['stop'], dirs, { timeoutMs: 15000 });
  } catch { /* fall through to the kill */ }
  for (const pid of all) {
    if (alive(pid)) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* ignore */ }
    }
  }
  // the state, not a delay: every server gone (and done writing its log) before the log is read
  await waitFor(() => [...all].every((pid) => !alive(pid)), { timeoutMs: 3000, intervalMs: 10, what: 'the background server to exit' })
    .catch(() => { /* reported below if it matters: the log is read anyway */ });
  const log = readLog(dirs);
  removeDirs(dirs);
  if (SANITIZER_RE.test(log)) {
    throw new Error(`sanitizer report in the background server's log:\n${log}`);
  }
}

export { waitFor, sleep };
