// Helpers for the proxy tests (5x): a daemon whose providers point at mock upstreams, the official
// Anthropic SDK as the client, and checks on what the upstream received.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDaemon, closedPort, request, REQUEST_ID_RE } from './daemon.mjs';
import { startMock } from './mock-upstream.mjs';

export const E2E_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CLIENT_KEY = 'sk-client-KEY-0123456789';

/**
 * The official SDK (tests/e2e/node_modules). Throws a clear error when it is not installed:
 * these tests never skip.
 */
export async function loadSdk() {
  try {
    const mod = await import('@anthropic-ai/sdk');
    return mod.default || mod.Anthropic;
  } catch (e) {
    const pkg = path.join(E2E_DIR, 'node_modules', '@anthropic-ai', 'sdk', 'package.json');
    throw new Error(`the Anthropic SDK is not installed (${fs.existsSync(pkg) ? 'present but failed to load' : `missing ${pkg}`}): ` +
      `run \`npm install --no-audit --no-fund\` in ${E2E_DIR} (or \`npm --prefix ${E2E_DIR} ci --no-audit --no-fund\`)` +
      `\ncause: ${e && e.message}`);
  }
}

/**
 * Start two mock upstreams (main, alt), a closed port (downPort: nobody listens there, see closedPort()) and ccproxy with
 * homeSettings = settings({main, alt, downPort}).
 * → {d, main, alt, downPort, Anthropic, client, sdk(opts), post(path, body, headers, opts), stderrTail(), close()}
 */
/** The circuit breaker turned off, for suites that script many failures of one upstream. */
export const BREAKER_OFF = Object.freeze({ failures: 0, failureRate: 0 });

export async function setupProxy({ settings, daemonOpts = {} }) {
  const Anthropic = await loadSdk();
  const env = { mocks: [] };
  try {
    env.main = await startMock({ name: 'main' });
    env.alt = await startMock({ name: 'alt' });
    env.mocks.push(env.main, env.alt);
    env.downPort = await closedPort();
    // one attempt per upstream answer: these suites check how one answer is mapped (retries and their
    // default budget: tests/e2e/99-retry.test.mjs); no circuit breaker, so that a suite of scripted
    // failures keeps reaching its mock (the breaker: tests/e2e/100-pools.test.mjs)
    const s = { ...settings(env) };
    if (!s.retry) s.retry = { maxAttempts: 1 };
    if (!s.breaker) s.breaker = BREAKER_OFF;
    env.d = await startDaemon({ ...daemonOpts, homeSettings: s });
  } catch (e) {
    for (const m of env.mocks) await m.close().catch(() => {});
    throw e;
  }
  env.Anthropic = Anthropic;
  env.baseURL = `http://127.0.0.1:${env.d.port}`;
  env.sdk = (opts = {}) => new Anthropic({ baseURL: env.baseURL, apiKey: CLIENT_KEY, maxRetries: 0, timeout: 15000, ...opts });
  env.client = env.sdk();
  env.post = (p, body, headers = {}, opts = {}) => request(env.d.port, {
    method: 'POST', path: p, body, headers: { 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01', ...headers }, timeoutMs: 10000, ...opts,
  });
  env.resetMocks = () => { for (const m of env.mocks) m.reset(); };
  /** The last n lines of the daemon's stderr (for assertion messages). */
  env.stderrTail = (n = 15) => env.d.stderrText().split('\n').filter(Boolean).slice(-n).join('\n');
  env.close = async () => {
    let err;
    try { await env.d.stop(); } catch (e) { err = e; }
    for (const m of env.mocks) await m.close().catch(() => {});
    if (err) throw err;
  };
  return env;
}

/** All requests received by the given mocks. */
export function allRequests(...mocks) {
  return mocks.flatMap((m) => m.requests);
}

/** Assert the mocks received nothing within waitMs. */
export async function assertNothingReceived(mocks, waitMs = 300, ctx = '') {
  await new Promise((r) => setTimeout(r, waitMs));
  const got = allRequests(...mocks);
  assert.equal(got.length, 0, `upstream should receive nothing; got ${got.map((r) => `${r.method} ${r.url}`).join(', ')}${ctx}`);
}

/** Text of an OpenAI message content (string, null or array of parts). */
export function contentText(c) {
  if (c === null || c === undefined) return '';
  if (typeof c === 'string') return c;
  if (Array.isArray(c)) return c.filter((p) => p && p.type === 'text').map((p) => p.text).join('');
  return '';
}

/**
 * Every object key path in <v> (["messages", 0, "content", 1, "cache_control"] ...), skipping subtrees
 * for which skip(pathArray) is true.
 */
export function findKeys(v, pred, { skip = () => false } = {}) {
  const hits = [];
  const walk = (x, p) => {
    if (skip(p)) return;
    if (Array.isArray(x)) x.forEach((y, i) => walk(y, [...p, i]));
    else if (x && typeof x === 'object') {
      for (const [k, y] of Object.entries(x)) {
        if (pred(k, y, p)) hits.push([...p, k].join('.'));
        walk(y, [...p, k]);
      }
    }
  };
  walk(v, []);
  return hits;
}

/** Parse an SSE body into [{event, data (parsed JSON or raw string)}]. */
export function parseSSE(text) {
  const out = [];
  for (const block of text.replace(/\r\n?/g, '\n').split('\n\n')) {
    if (!block.trim()) continue;
    let event = null;
    const data = [];
    let comment = true;
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      comment = false;
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (comment) continue;
    const raw = data.join('\n');
    let json;
    try { json = JSON.parse(raw); } catch { json = raw; }
    out.push({ event, data: json });
  }
  return out;
}

/**
 * Check an Anthropic SSE body against what the SDK accumulators need (docs/protocol-notes.md,
 * "What the SDK and Claude Code accept") and rebuild the Message from it.
 */
export function assertAnthropicStream(text, ctx = '') {
  const evs = parseSSE(text);
  const c = `${ctx}\nstream:\n${text.slice(0, 3000)}`;
  assert.ok(evs.length >= 3, `at least message_start, message_delta, message_stop${c}`);
  for (const e of evs) {
    assert.ok(e.event, `every event has an "event:" line${c}`);
    assert.equal(typeof e.data, 'object', `every data line is JSON${c}`);
    assert.equal(e.data.type, e.event, `data.type equals the event name${c}`);
  }
  const real = evs.filter((e) => e.event !== 'ping');
  assert.equal(real[0].event, 'message_start', `message_start first${c}`);
  assert.equal(real[real.length - 1].event, 'message_stop', `message_stop last${c}`);
  const msg = JSON.parse(JSON.stringify(real[0].data.message));
  assert.ok(msg && msg.usage && Number.isInteger(msg.usage.input_tokens) && Number.isInteger(msg.usage.output_tokens),
    `message_start.message.usage with input/output tokens${c}`);
  assert.deepEqual(msg.content, [], `message_start content is empty${c}`);
  const bufs = [];
  let open = -1;
  let sawDelta = false;
  for (const e of real.slice(1, -1)) {
    const d = e.data;
    if (e.event === 'content_block_start') {
      assert.equal(open, -1, `no interleaved blocks${c}`);
      assert.equal(d.index, msg.content.length, `dense increasing block index${c}`);
      msg.content.push(JSON.parse(JSON.stringify(d.content_block)));
      bufs.push('');
      open = d.index;
    } else if (e.event === 'content_block_delta') {
      assert.equal(d.index, open, `delta for the open block${c}`);
      const b = msg.content[d.index];
      const t = d.delta.type;
      if (t === 'text_delta') { assert.equal(b.type, 'text', `text_delta on a text block${c}`); b.text += d.delta.text; }
      else if (t === 'thinking_delta') { assert.equal(b.type, 'thinking', c); b.thinking += d.delta.thinking; }
      else if (t === 'signature_delta') { assert.equal(b.type, 'thinking', c); b.signature = d.delta.signature; }
      else if (t === 'input_json_delta') { assert.equal(b.type, 'tool_use', c); bufs[d.index] += d.delta.partial_json; }
      else assert.fail(`unknown delta type ${t}${c}`);
    } else if (e.event === 'content_block_stop') {
      assert.equal(d.index, open, `stop for the open block${c}`);
      const b = msg.content[d.index];
      if (b.type === 'tool_use' && bufs[d.index] !== '') b.input = JSON.parse(bufs[d.index]);
      open = -1;
    } else if (e.event === 'message_delta') {
      assert.equal(open, -1, `message_delta after the blocks are closed${c}`);
      assert.ok('stop_reason' in d.delta, `message_delta.delta.stop_reason${c}`);
      assert.ok(Number.isInteger(d.usage && d.usage.output_tokens), `message_delta.usage.output_tokens${c}`);
      msg.stop_reason = d.delta.stop_reason;
      msg.stop_sequence = d.delta.stop_sequence ?? null;
      Object.assign(msg.usage, Object.fromEntries(Object.entries(d.usage).filter(([, v]) => v !== null)));
      sawDelta = true;
    } else {
      assert.fail(`unexpected event ${e.event} in the middle of the stream${c}`);
    }
  }
  assert.ok(sawDelta, `a message_delta${c}`);
  return msg;
}

/** Assert an SDK call rejects with an APIError of the given status and error.type; returns the error. */
export async function rejectsApi(promise, status, type, { includes = [], excludes = [] } = {}) {
  let err;
  try {
    const v = await promise;
    assert.fail(`expected an API error ${status} ${type}, got a success: ${JSON.stringify(v).slice(0, 500)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    err = e;
  }
  const ctx = `\nerror: ${err && err.constructor && err.constructor.name}: ${err && err.message}`;
  assert.equal(err.status, status, `HTTP status${ctx}`);
  assert.equal(err.error && err.error.type, 'error', `envelope type "error"${ctx}`);
  assert.equal(err.error && err.error.error && err.error.error.type, type, `error.type${ctx}`);
  assert.match(String(err.requestID), REQUEST_ID_RE, `requestID (request-id header)${ctx}`);
  const msg = String(err.error.error.message || '');
  for (const s of includes) assert.ok(msg.includes(s), `message should mention ${JSON.stringify(s)}${ctx}`);
  for (const s of excludes) assert.ok(!err.message.includes(s), `error must not contain ${JSON.stringify(s)}${ctx}`);
  return err;
}

/** Header value of a mock record, case-insensitive (node lower-cases them already). */
export function hdr(rec, name) {
  return rec.headers[name.toLowerCase()];
}
