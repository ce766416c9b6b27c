// Shared helpers for the ccproxy end-to-end tests.
// Built-ins only. Every wait is bounded; every spawned process is tracked and killed.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const BIN = process.env.CCPROXY_BIN
  ? path.resolve(process.env.CCPROXY_BIN)
  : path.join(REPO, 'build', 'ccproxy');

/** What AddressSanitizer, LeakSanitizer and UBSan print when they find something. */
export const SANITIZER_RE = /ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:/;
export const REQUEST_ID_RE = /^req_[0-9a-f]{24}$/;
export const CONFIG_EXIT = 78;
export const USAGE_EXIT = 2;

const live = new Set();
process.on('exit', () => {
  for (const p of live) {
    try { p.kill('SIGKILL'); } catch { /* ignore */ }
  }
});

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolves when <p> settles or after ms, whichever comes first; never keeps the process alive afterwards. */
function settleWithin(p, ms) {
  let timer;
  return Promise.race([p, new Promise((r) => { timer = setTimeout(r, ms); })]).finally(() => clearTimeout(timer));
}

/** Poll fn() until it returns a truthy value; throws after timeoutMs. */
export async function waitFor(fn, { timeoutMs = 5000, intervalMs = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastErr;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}` +
        (lastErr ? ` (last error: ${lastErr.message})` : ''));
    }
    await sleep(intervalMs);
  }
}

/** The kernel's ephemeral port range: where listen(0) and every outgoing connect() take their ports. */
function ephemeralRange() {
  try {
    const [lo, hi] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo > 0 && hi >= lo) return [lo, hi];
  } catch { /* not Linux */ }
  return [32768, 60999];
}

/** Resolves true when <port> can be listened on at 127.0.0.1 right now (the test socket is closed again). */
function canListen(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.unref();
    s.once('error', () => resolve(false));
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(true)));
  });
}

const PICK_MIN = 10000;

/**
 * A TCP port on 127.0.0.1 that nobody listens on, for a process that binds it later. It is drawn at random
 * below the kernel's ephemeral range, where neither listen(0) nor an outgoing connection of any process on
 * the machine can take it in the meantime (a port from listen(0) is closed and reused: any connect() may
 * grab it before the daemon binds it). Only another explicit pick of the same number can collide, which
 * startDaemon() detects ("cannot listen") and retries.
 */
export async function freePort() {
  const [lo] = ephemeralRange();
  if (lo - PICK_MIN >= 1000) {
    for (let i = 0; i < 50; i++) {
      const port = PICK_MIN + crypto.randomInt(lo - PICK_MIN);
      if (await canListen(port)) return port;
    }
  }
  return new Promise((resolve, reject) => { // no room below the ephemeral range: the kernel's choice
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** A port on 127.0.0.1 where a connection is refused (nobody listens; see freePort()). */
export async function closedPort() {
  for (let i = 0; i < 10; i++) {
    const port = await freePort();
    if (await connectRefused(port, 1000)) return port;
  }
  throw new Error('no closed port found on 127.0.0.1');
}

/**
 * Temp layout:  <root>/home  (HOME),  <root>/cwd  (CWD),
 *               <root>/managed/managed-settings.json  (CCPROXY_MANAGED_PATH, may not exist)
 */
export function makeDirs() {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'ccproxy-e2e-')));
  const home = path.join(root, 'home');
  const cwd = path.join(root, 'cwd');
  fs.mkdirSync(home);
  fs.mkdirSync(cwd);
  fs.mkdirSync(path.join(root, 'managed'));
  return {
    root,
    home,
    cwd,
    managedPath: path.join(root, 'managed', 'managed-settings.json'),
    homeSettingsPath: path.join(home, '.ccproxy', 'settings.json'),
    cwdSettingsPath: path.join(cwd, '.ccproxy', 'settings.json'),
  };
}

export function removeDirs(dirs) {
  if (dirs && dirs.root) {
    try { fs.rmSync(dirs.root, { recursive: true, force: true }); } catch { /* ignore */ }
  }
}

/** Write a file; objects are JSON-encoded, strings/Buffers written raw. Creates parent dirs. */
export function writeFile(absPath, content) {
  fs.mkdirSync(path.dirname(absPath), { recursive: true });
  const data = (typeof content === 'string' || Buffer.isBuffer(content))
    ? content
    : JSON.stringify(content, null, 2) + '\n';
  fs.writeFileSync(absPath, data);
}

/**
 * Trusts <file> (by default the working directory's settings) as `ccproxy trust` records it: its real
 * path and the SHA-256 of its bytes in ~/.ccproxy/trusted.json (directory 0700, file 0600; the format is
 * in lib/base/cp_trust.h). For tests about what a project file says, including files that do not load,
 * which the real command refuses to trust; tests/e2e/73-trust.test.mjs runs the real command.
 */
export function trustFile(dirs, file = dirs.cwdSettingsPath) {
  const dir = path.join(dirs.home, '.ccproxy');
  const store = path.join(dir, 'trusted.json');
  const real = fs.realpathSync(file);
  const sha256 = createHash('sha256').update(fs.readFileSync(real)).digest('hex');
  let trusted = [];
  try { trusted = JSON.parse(fs.readFileSync(store, 'utf8')).trusted.filter((e) => e.path !== real); } catch { /* none yet */ }
  trusted.push({ path: real, sha256, time: new Date().toISOString().replace(/\.\d+Z$/, 'Z') });
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(store, JSON.stringify({ version: 1, trusted }, null, 2) + '\n', { mode: 0o600 });
}

/** cwdSettings are written and trusted (trustFile): these tests are about what the layer says. */
function writeAll(dirs, { files, homeSettings, cwdSettings, managedSettings } = {}) {
  if (homeSettings !== undefined) writeFile(dirs.homeSettingsPath, homeSettings);
  if (cwdSettings !== undefined) {
    writeFile(dirs.cwdSettingsPath, cwdSettings);
    trustFile(dirs);
  }
  if (managedSettings !== undefined) writeFile(dirs.managedPath, managedSettings);
  for (const [rel, content] of Object.entries(files || {})) {
    writeFile(path.isAbsolute(rel) ? rel : path.join(dirs.root, rel), content);
  }
}

/** Minimal controlled environment: PATH, HOME, CCPROXY_MANAGED_PATH + extras. */
export function baseEnv(dirs, extra = {}) {
  const env = {
    PATH: process.env.PATH || '/usr/local/bin:/usr/bin:/bin',
    HOME: dirs.home,
    CCPROXY_MANAGED_PATH: dirs.managedPath,
  };
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined || v === null) delete env[k];
    else env[k] = String(v);
  }
  return env;
}

function checkBin() {
  if (!fs.existsSync(BIN)) {
    throw new Error(`ccproxy binary not found at ${BIN} (build it or set CCPROXY_BIN)`);
  }
}

/**
 * Run the CLI to completion (bounded).
 * opts: {env, dirs, files, homeSettings, cwdSettings, managedSettings, timeoutMs}
 * → {code, signal, stdout, stderr, dirs}
 */
export async function runCli(args, opts = {}) {
  checkBin();
  const ownDirs = !opts.dirs;
  const dirs = opts.dirs || makeDirs();
  writeAll(dirs, opts);
  const env = baseEnv(dirs, opts.env);
  const timeoutMs = opts.timeoutMs ?? 5000;
  try {
    return await new Promise((resolve, reject) => {
      const proc = spawn(BIN, args, { env, cwd: dirs.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
      live.add(proc);
      let stdout = '';
      let stderr = '';
      proc.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
      proc.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        reject(new Error(`ccproxy ${args.join(' ')} did not exit within ${timeoutMs} ms\n` +
          `stdout: ${stdout}\nstderr: ${stderr}`));
      }, timeoutMs);
      proc.on('error', (e) => { clearTimeout(timer); live.delete(proc); reject(e); });
      proc.on('close', (code, signal) => {
        clearTimeout(timer);
        live.delete(proc);
        resolve({ code, signal, stdout, stderr, dirs });
      });
    });
  } finally {
    if (ownDirs && !opts.keepDirs) removeDirs(dirs);
  }
}

/** Parse stdout of `ccproxy config`. */
export function parseConfigOutput(res) {
  assert.equal(res.code, 0, `ccproxy config exited ${res.code} (signal ${res.signal})\nstderr: ${res.stderr}`);
  let out;
  try {
    out = JSON.parse(res.stdout);
  } catch (e) {
    assert.fail(`ccproxy config stdout is not JSON: ${e.message}\nstdout: ${res.stdout}`);
  }
  assert.equal(typeof out.config, 'object', 'config output has a "config" object');
  assert.equal(typeof out.sources, 'object', 'config output has a "sources" object');
  return out;
}

/** Does log line <line> (its text, and its JSON when it is one) match <pred> (string, RegExp or (json, line) => bool)? */
function logMatch(pred, line) {
  if (typeof pred === 'string') return line.includes(pred);
  if (pred instanceof RegExp) return pred.test(line);
  let json = null;
  try { json = JSON.parse(line); } catch { /* a text-format line */ }
  return !!pred(json, line);
}

/** An "Address already in use" failure to listen, which a port picked by freePort() may meet (see there). */
const LISTEN_IN_USE_RE = /cannot listen on [^\n]*(Address already in use|address in use)/i;

/**
 * Start `ccproxy server --host 127.0.0.1 --port <free>` and wait for GET /health == 200 from this very process
 * (its pid: another server that took the port is never mistaken for ours). When the port was picked here and
 * turns out to be taken ("cannot listen"), another one is picked (5 tries).
 * opts: {args (extra args appended; if they contain --port/--host those are not added),
 *        globalArgs (before "server"), env, dirs, files, homeSettings, cwdSettings,
 *        managedSettings, portInHomeSettings, timeoutMs}
 * → {proc, port, dirs, stderrText(), waitExit(ms), stop(), alive(), mark(), waitLog(pred, opts), ...}
 */
export async function startDaemon(opts = {}) {
  checkBin();
  const dirs = opts.dirs || makeDirs();
  const ownDirs = !opts.dirs;
  const extra = opts.args || [];
  for (let attempt = 1; ; attempt++) {
    let o = opts;
    let settingsPort = null;
    if (opts.portInHomeSettings) { // the port comes from ~/.ccproxy/settings.json, not from --port
      settingsPort = await freePort();
      const hs = { ...(opts.homeSettings || {}) };
      hs.server = { ...(hs.server || {}), port: settingsPort };
      o = { ...opts, homeSettings: hs };
    }
    writeAll(dirs, o);
    const env = baseEnv(dirs, opts.env);
    let port;
    const picked = settingsPort !== null || !extra.includes('--port');
    const args = [...(opts.globalArgs || []), 'server'];
    if (!extra.includes('--host')) args.push('--host', '127.0.0.1');
    if (settingsPort !== null) {
      port = settingsPort;
    } else if (extra.includes('--port')) {
      port = Number(extra[extra.indexOf('--port') + 1]);
    } else {
      port = null; // --port 0: the kernel picks a free port and the daemon logs it (no race)
      args.push('--port', '0');
    }
    args.push(...extra);
    const d = spawnDaemon(args, env, dirs, ownDirs, port);
    d.tlsCA = opts.tlsCA; // server.tls is on: health checks go over HTTPS, trusting this PEM
    const up = await d.waitHealthy(opts.timeoutMs ?? 5000);
    if (up === 'ok') return d;
    if (up === 'exited' && picked && attempt < 5 && LISTEN_IN_USE_RE.test(d.stderrText())) continue;
    if (up === 'exited') {
      const ex = d.exitInfo();
      if (ownDirs) removeDirs(dirs);
      throw new Error(`ccproxy exited before becoming healthy (code ${ex.code}, ` +
        `signal ${ex.signal})\nargs: ${args.join(' ')}\nstderr:\n${d.stderrText()}`);
    }
    await d.stop().catch(() => {});
    throw new Error(`ccproxy did not answer GET /health with 200 within ${opts.timeoutMs ?? 5000} ms\nstderr:\n${d.stderrText()}`);
  }
}

/** Spawn the server and build its handle (see startDaemon). */
function spawnDaemon(args, env, dirs, ownDirs, port) {
  const proc = spawn(BIN, args, { env, cwd: dirs.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  let stderr = '';
  let stdout = '';
  let exitInfo = null;
  const waiters = new Set(); // called on every stderr chunk and at exit
  const notify = () => { for (const w of [...waiters]) w(); };
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      exitInfo = { code, signal };
      live.delete(proc);
      notify();
      resolve(exitInfo);
    });
  });
  proc.on('error', (e) => { stderr += `\n[spawn error] ${e.message}`; });
  proc.stderr.setEncoding('utf8').on('data', (chunk) => { stderr += chunk; notify(); });
  proc.stdout.setEncoding('utf8').on('data', (chunk) => { stdout += chunk; });

  const d = {
    proc,
    port,
    dirs,
    args,
    stderrText: () => stderr,
    stdoutText: () => stdout,
    alive: () => exitInfo === null,
    exitInfo: () => exitInfo,
    async waitExit(timeoutMs = 5000) {
      if (exitInfo) return exitInfo;
      let timer;
      const t = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(
          `daemon did not exit within ${timeoutMs} ms\nstderr:\n${stderr}`)), timeoutMs);
      });
      try {
        return await Promise.race([exited, t]);
      } finally {
        clearTimeout(timer);
      }
    },
    signal(sig) { proc.kill(sig); },
    /** Where the log is now: pass it as waitLog's `from` to see only lines written after this point. */
    mark: () => stderr.length,
    /**
     * Wait (bounded, event-driven) for a complete stderr line written after offset <from> that matches
     * <pred>: a string (contained), a RegExp, or (json, line) => bool (json null for a non-JSON line).
     * Resolves with the line's JSON, or its text when it is not JSON. Rejects on timeout or exit, with the log.
     */
    waitLog(pred, { from = 0, timeoutMs = 5000, what = String(pred) } = {}) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const text = stderr.slice(from);
          const lines = text.split('\n');
          lines.pop(); // an unfinished line
          for (const line of lines) {
            if (line.trim() !== '' && logMatch(pred, line)) {
              let json = null;
              try { json = JSON.parse(line); } catch { /* text */ }
              done();
              resolve(json ?? line);
              return;
            }
          }
          if (exitInfo) {
            done();
            reject(new Error(`daemon exited (${JSON.stringify(exitInfo)}) before logging ${what}\nstderr:\n${stderr}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for the log line ${what}\nstderr:\n${stderr}`));
        }, timeoutMs);
        const done = () => { clearTimeout(timer); waiters.delete(check); };
        waiters.add(check);
        check();
      });
    },
    /** 'ok' once GET /health answers 200 from this process, 'exited', or 'timeout'. */
    async waitHealthy(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (exitInfo) return 'exited';
        if (d.port === null) { // listening on port 0: its stdout says where
          const m = /^ccproxy listening on \S+ port (\d+)$/m.exec(stdout);
          if (m) port = d.port = Number(m[1]);
        }
        if (d.port === null) {
          if (Date.now() >= deadline) return 'timeout';
          await settleWithin(exited, 20);
          continue;
        }
        try {
          const r = await request(port, { path: '/health', timeoutMs: 1000, ca: d.tlsCA });
          if (r.status === 200 && r.json && r.json.pid === proc.pid) return 'ok';
        } catch { /* not up yet */ }
        if (Date.now() >= deadline) return exitInfo ? 'exited' : 'timeout';
        await settleWithin(exited, 50);
      }
    },
    /**
     * Graceful stop: SIGTERM, then the daemon must exit 0 within 10 s. Under ASan/UBSan this is also
     * where leaks and runtime errors surface, so any sanitizer report in stderr fails the caller.
     */
    async stop() {
      let problem = null;
      if (!exitInfo) {
        try { proc.kill('SIGTERM'); } catch { /* ignore */ }
        await settleWithin(exited, 10000);
        if (!exitInfo) {
          try { proc.kill('SIGKILL'); } catch { /* ignore */ }
          await settleWithin(exited, 3000);
          problem = 'daemon did not exit within 10 s of SIGTERM';
        } else if (exitInfo.code !== 0) {
          problem = `daemon exited with ${exitInfo.code}/${exitInfo.signal} after SIGTERM`;
        }
      }
      if (!problem && SANITIZER_RE.test(stderr)) problem = 'sanitizer report in daemon stderr';
      if (ownDirs) removeDirs(dirs);
      if (problem) throw new Error(`${problem}\nstderr:\n${stderr}`);
    },
    /** JSON log lines (lines that do not parse are skipped). */
    jsonLines() { return parseJsonLines(stderr).filter((x) => x.json).map((x) => x.json); },
  };
  return d;
}

export function parseJsonLines(text) {
  return text.split('\n').filter((l) => l.trim() !== '').map((line) => {
    let json = null;
    try {
      const v = JSON.parse(line);
      if (v && typeof v === 'object' && !Array.isArray(v)) json = v;
    } catch { /* not json */ }
    return { line, json };
  });
}

/**
 * HTTP request via node:http, or node:https when <ca> (PEM) is given: the server's certificate must chain
 * to it and name <servername> (default 127.0.0.1); <ca> true: HTTPS without checking the certificate. body: string | Buffer | object (JSON-encoded).
 * → {status, headers, text, json, reusedSocket, socket}
 */
export function request(port, {
  method = 'GET', path: p = '/', headers = {}, body, agent = false, timeoutMs = 5000, ca, servername,
} = {}) {
  return new Promise((resolve, reject) => {
    let payload;
    const h = { ...headers };
    if (body !== undefined) {
      payload = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
      // as the real clients do (ccproxy refuses other POST bodies: docs/security.md)
      if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json';
      h['content-length'] = Buffer.byteLength(payload);
    }
    const req = ca === undefined ? http.request({ host: '127.0.0.1', port, method, path: p, headers: h, agent })
      : https.request({ host: '127.0.0.1', port, method, path: p, headers: h, agent, ca: ca === true ? undefined : ca, rejectUnauthorized: ca !== true, servername });
    const timer = setTimeout(() => {
      req.destroy(new Error(`HTTP ${method} ${p} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (e) => { clearTimeout(timer); reject(e); });
    req.on('response', (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', (e) => { clearTimeout(timer); reject(e); });
      res.on('end', () => {
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, text, json, reusedSocket: req.reusedSocket, socket: res.socket });
      });
    });
    if (payload !== undefined) req.end(payload);
    else req.end();
  });
}

/** Assert the response is an Anthropic-style error with the right status/type and request-id. */
export function assertError(res, status, type, { includes = [], includesCI = [] } = {}) {
  const ctx = `\nstatus=${res.status} headers=${JSON.stringify(res.headers)}\nbody=${res.text}`;
  assert.equal(res.status, status, `expected HTTP ${status}${ctx}`);
  assert.match(String(res.headers['content-type'] || ''), /^application\/json\b/i, `content-type${ctx}`);
  assert.match(String(res.headers['request-id'] || ''), REQUEST_ID_RE, `request-id header${ctx}`);
  assert.ok(res.json && typeof res.json === 'object', `body is JSON${ctx}`);
  assert.equal(res.json.type, 'error', `body.type${ctx}`);
  assert.ok(res.json.error && typeof res.json.error === 'object', `body.error${ctx}`);
  assert.equal(res.json.error.type, type, `body.error.type${ctx}`);
  assert.equal(typeof res.json.error.message, 'string', `body.error.message${ctx}`);
  assert.ok(res.json.error.message.length > 0, `body.error.message non-empty${ctx}`);
  assert.equal(res.json.request_id, res.headers['request-id'], `request_id matches header${ctx}`);
  for (const s of includes) {
    assert.ok(res.json.error.message.includes(s), `error message should mention ${JSON.stringify(s)}${ctx}`);
  }
  for (const s of includesCI) {
    assert.ok(res.json.error.message.toLowerCase().includes(s.toLowerCase()),
      `error message should mention ${JSON.stringify(s)} (case-insensitive)${ctx}`);
  }
  return res.json.error.message;
}

/** Open a raw TCP connection; collects everything received. */
export function rawConnect(port, { timeoutMs = 2000 } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => { sock.destroy(); reject(new Error('connect timeout')); }, timeoutMs);
    const state = { buf: Buffer.alloc(0), closed: false, error: null, waiters: [] };
    const notify = () => { for (const w of state.waiters.splice(0)) w(); };
    sock.on('data', (c) => { state.buf = Buffer.concat([state.buf, c]); notify(); });
    sock.on('close', () => { state.closed = true; notify(); });
    sock.on('error', (e) => {
      state.error = e;
      clearTimeout(timer);
      if (state.connected) notify();
      else reject(e);
    });
    sock.on('connect', () => {
      clearTimeout(timer);
      state.connected = true;
      resolve({
        sock,
        state,
        write: (data) => new Promise((res, rej) => sock.write(data, (e) => (e ? rej(e) : res()))),
        /** Wait for one complete HTTP response (Content-Length or until close). */
        readResponse: (ms = 5000) => readRawResponse(state, ms),
        received: () => state.buf.toString('latin1'),
        close: () => sock.destroy(),
      });
    });
  });
}

function tryParseResponse(state) {
  const idx = state.buf.indexOf('\r\n\r\n');
  if (idx < 0) return null;
  const head = state.buf.subarray(0, idx).toString('latin1');
  const lines = head.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  if (!m) throw new Error(`bad status line: ${JSON.stringify(lines[0])}`);
  const headers = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  const bodyStart = idx + 4;
  let body;
  let consumed;
  if (headers['content-length'] !== undefined) {
    const len = Number(headers['content-length']);
    if (state.buf.length - bodyStart < len) return null;
    body = state.buf.subarray(bodyStart, bodyStart + len);
    consumed = bodyStart + len;
  } else if (/chunked/i.test(headers['transfer-encoding'] || '')) {
    // minimal chunked decoder
    let pos = bodyStart;
    const parts = [];
    for (;;) {
      const e = state.buf.indexOf('\r\n', pos);
      if (e < 0) return null;
      const size = parseInt(state.buf.subarray(pos, e).toString('latin1'), 16);
      if (size === 0) {
        const end = state.buf.indexOf('\r\n\r\n', e);
        if (end < 0 && state.buf.length < e + 4) return null;
        consumed = end < 0 ? e + 4 : end + 4;
        break;
      }
      if (state.buf.length < e + 2 + size + 2) return null;
      parts.push(state.buf.subarray(e + 2, e + 2 + size));
      pos = e + 2 + size + 2;
    }
    body = Buffer.concat(parts);
  } else {
    if (!state.closed) return null;
    body = state.buf.subarray(bodyStart);
    consumed = state.buf.length;
  }
  state.buf = state.buf.subarray(consumed);
  const text = body.toString('utf8');
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: Number(m[1]), headers, text, json };
}

async function readRawResponse(state, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = tryParseResponse(state);
    if (r) return r;
    if (state.closed || state.error) {
      throw new Error(`connection ${state.error ? `error (${state.error.code})` : 'closed'} ` +
        `before a complete response; received: ${JSON.stringify(state.buf.toString('latin1'))}`);
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new Error(`no complete response within ${ms} ms; received: ` +
        JSON.stringify(state.buf.toString('latin1')));
    }
    await new Promise((resolve) => {
      const t = setTimeout(resolve, left);
      state.waiters.push(() => { clearTimeout(t); resolve(); });
    });
  }
}

/** Resolves true if a TCP connect to the port is refused, false if it connects. */
export function connectRefused(port, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => { sock.destroy(); resolve(false); }, timeoutMs);
    sock.on('connect', () => { clearTimeout(timer); sock.destroy(); resolve(false); });
    sock.on('error', (e) => { clearTimeout(timer); resolve(e.code === 'ECONNREFUSED'); });
  });
}

/** A syntactically valid Anthropic Messages request. */
export function validBody(model = 'claude-3-5-sonnet-20241022', extra = {}) {
  return {
    model,
    max_tokens: 64,
    messages: [{ role: 'user', content: 'Hello' }],
    ...extra,
  };
}
