// The fault matrix (hardening issue, item 10): one daemon per block is driven through faults of the
// upstream (refuses, resets, stalls before its status and mid-stream, garbage, a 10 MB event, invalid
// UTF-8, 429/500/529), of the client (leaves before the answer or mid-stream, never reads, reads 1 KB/s)
// and of the connection (slowloris heads and bodies, pipelining floods). For every fault:
//   - while it is in progress, bystander clients (a whole answer from an OpenAI-style provider and a
//     stream from an Anthropic-style one, through the same daemon) get complete, correct answers;
//   - afterwards the daemon is alive, /health answers with no request left active, and its RSS did not
//     grow past a stated bound while the fault lasted (sampled from /proc, generous under ASan);
//   - nothing is half-written: what a client received is a complete Anthropic answer (a Message, or an
//     event stream ending with message_stop) or a clean Anthropic error (the JSON envelope, or a stream
//     ending with `event: error` carrying a type), never a stream cut inside an event, never HTML, never
//     a JSON body cut short;
//   - the upstream transfer does not outlive the fault (the mock saw its connection closed or answered).
// The expected mapping of each upstream fault is the documented one (docs/protocol-notes.md, "Errors",
// "Anthropic-style upstreams"; lib/prov/cp_prov_err.c, lib/net/cp_up.c xfer_curl_error).
import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import { BIN, REQUEST_ID_RE, request, waitFor } from './lib/daemon.mjs';
import { setupProxy, parseSSE } from './lib/proxy.mjs';
import { DEFAULT_ANTH_TEXT, DEFAULT_OAI_TEXT } from './lib/mock-upstream.mjs';
import {
  openStream, assertCompleteStream, assertErrorStream, streamedText, anthTextEvents, anthStart, oaiTextChunks,
  oaiChunk, piece, rssBytes, isAsan, sleep, bigSource,
} from './lib/stream.mjs';

const KEY = 'sk-prov-SECRET-faultmatrix';
const MiB = 1048576;
const TIMEOUT_MS = 1000; // the fault providers' firstByteTimeoutMs and idleTimeoutMs

// ---- helpers ----------------------------------------------------------------------------------

let asanCache = null;
/** True for a sanitizer build (ASan keeps freed memory in quarantine: RSS bounds are scaled). */
function asan(pid) {
  if (asanCache === null) asanCache = /asan|sanit/i.test(BIN) || isAsan(pid);
  return asanCache;
}

/**
 * The RSS bound for a fault, in bytes: <gccMiB> for a plain build, <asanMiB> under ASan. ASan keeps freed
 * memory in its quarantine (256 MiB), so there RSS grows with the bytes allocated, not with what is live:
 * <asanMiB> null means no bound under ASan (a phase that moves tens of MB through the daemon).
 */
const rssLimit = (pid, gccMiB, asanMiB) => (asan(pid) ? (asanMiB === null ? Infinity : asanMiB) : gccMiB) * MiB;

/** Samples a process's VmRSS every 20 ms until stop(): → {base, peak} in bytes. */
function rssWatch(pid) {
  const base = rssBytes(pid);
  let peak = base;
  const sample = () => { try { peak = Math.max(peak, rssBytes(pid)); } catch { /* exited: alive() fails later */ } };
  const timer = setInterval(sample, 20);
  timer.unref(); // a failed test must not keep the process alive
  return {
    base,
    stop() { clearInterval(timer); sample(); return { base, peak, grown: peak - base }; },
  };
}

const tagOf = (rec) => rec && rec.json && Array.isArray(rec.json.messages) ? rec.json.messages[0]?.content : undefined;
const byTag = (tag) => (rec) => tagOf(rec) === tag;
let tagSeq = 0;
const newTag = (what) => `fault-${++tagSeq}-${what.replace(/[^a-z0-9]+/gi, '-').slice(0, 40)}`;

/** An Anthropic Messages request whose user text is <tag> (the mock's entries match on it). */
const faultBody = (model, tag, stream) => ({ model, max_tokens: 256, stream, messages: [{ role: 'user', content: tag }] });

/**
 * Bystanders: a whole answer from an OpenAI-style provider and a stream from an Anthropic-style one, both
 * on the other mock, through the same daemon. Both must be complete and correct, within <limitMs>.
 */
async function bystanders(env, what, limitMs = 5000) {
  const t0 = Date.now();
  const [whole, stream] = await Promise.all([
    request(env.d.port, {
      method: 'POST', path: '/v1/messages', timeoutMs: limitMs + 2000,
      headers: { 'x-api-key': 'sk-client', 'anthropic-version': '2023-06-01' },
      body: { model: 'gpt-by@byo', max_tokens: 32, messages: [{ role: 'user', content: `bystander of ${what}` }] },
    }),
    openStream(env.d.port, faultBody('claude-by@bya', `bystander of ${what}`, true), { timeoutMs: limitMs + 2000 }).done,
  ]);
  const dt = Date.now() - t0;
  const c = `\nbystander during "${what}"\nwhole: ${whole.status} ${whole.text.slice(0, 300)}\nstream: ${stream.status} ${stream.text.slice(0, 300)}${tail(env)}`;
  assert.equal(whole.status, 200, `bystander whole answer${c}`);
  assert.equal(whole.json?.type, 'message', c);
  assert.equal(whole.json.content?.[0]?.text, DEFAULT_OAI_TEXT, `bystander whole answer text${c}`);
  assert.equal(stream.status, 200, `bystander stream${c}`);
  assert.ok(stream.complete, `bystander stream ended cleanly${c}`);
  assert.equal(assertCompleteStream(stream.text, { ctx: c }).content[0].text, DEFAULT_ANTH_TEXT, `bystander stream text${c}`);
  assert.ok(dt < limitMs, `bystanders took ${dt} ms (limit ${limitMs})${c}`);
  return dt;
}

const tail = (env, n = 12) => `\n--- daemon stderr (tail) ---\n${env.stderrTail(n)}`;

/**
 * Nothing half-written: <r> (openStream's result, or the raw client's) is a complete Anthropic answer or a
 * clean Anthropic error. Returns {kind: 'message' | 'error' | 'stream' | 'stream-error', msg?, error?, status}.
 * opts: {utf8 (the bytes must be valid UTF-8; default true), relayed (an Anthropic-style relay: bytes before the
 * error event are the upstream's own and need not be Anthropic events)}
 */
function assertWhole(r, { ctx = '', utf8 = true, relayed = false } = {}) {
  const text = r.text;
  const c = `${ctx}\nstatus=${r.status} content-type=${r.headers['content-type']} complete=${r.complete} ` +
    `error=${r.error ? r.error.message : ''} bytes=${r.buf.length}\nbody start: ${JSON.stringify(text.slice(0, 500))}` +
    `\nbody end: ${JSON.stringify(text.slice(-300))}`;
  assert.ok(r.complete, `the reply ended cleanly (its body was not cut by the connection)${c}`);
  assert.match(String(r.headers['request-id'] || ''), REQUEST_ID_RE, `request-id header${c}`);
  if (utf8) {
    try { new TextDecoder('utf-8', { fatal: true }).decode(r.buf); } catch { assert.fail(`the reply is not valid UTF-8${c}`); }
  }
  const ct = String(r.headers['content-type'] || '');
  if (/^application\/json\b/i.test(ct)) {
    let j;
    try { j = JSON.parse(text); } catch (e) { assert.fail(`a JSON reply that does not parse (${e.message}): cut short or not JSON${c}`); }
    assert.ok(j && typeof j === 'object' && !Array.isArray(j), `a JSON object${c}`);
    if (r.status === 200) {
      assert.equal(j.type, 'message', `a 200 JSON reply is a Message${c}`);
      assert.equal(j.role, 'assistant', c);
      assert.ok(Array.isArray(j.content), `Message.content${c}`);
      assert.equal(typeof j.stop_reason, 'string', `Message.stop_reason${c}`);
      assert.ok(j.usage && Number.isInteger(j.usage.input_tokens) && Number.isInteger(j.usage.output_tokens), `Message.usage${c}`);
      return { kind: 'message', msg: j, status: r.status };
    }
    assert.ok(r.status >= 400 && r.status <= 599, `an error status${c}`);
    assert.equal(j.type, 'error', `the error envelope${c}`);
    assert.ok(j.error && typeof j.error.type === 'string' && j.error.type.length > 0, `error.type${c}`);
    assert.ok(typeof j.error.message === 'string' && j.error.message.length > 0, `error.message${c}`);
    return { kind: 'error', error: j.error, status: r.status };
  }
  if (/^text\/event-stream\b/i.test(ct)) {
    assert.equal(r.status, 200, `an event stream comes with 200${c}`);
    assert.ok(text.endsWith('\n\n'), `the stream ends at an event boundary (a blank line), not inside an event${c}`);
    const evs = parseSSE(text).filter((e) => e.event !== 'ping');
    const last = evs[evs.length - 1];
    if (last && last.event === 'message_stop') return { kind: 'stream', msg: assertCompleteStream(text, { ctx: c }), status: 200 };
    assert.equal(last && last.event, 'error', `a stream ends with message_stop or an error event${c}`);
    if (!relayed) return { kind: 'stream-error', error: assertErrorStream(text, null, c), status: 200 };
    // a relay: the upstream's bytes, then (after a blank line closing what was cut) exactly one error event
    assert.ok(/(^|\n\n)event: error\ndata: [^\n]*\n\n$/.test(text), `the error event stands on its own at the end${c}`);
    assert.equal(typeof last.data, 'object', `error data is JSON${c}`);
    assert.equal(last.data.type, 'error', c);
    assert.ok(last.data.error && typeof last.data.error.type === 'string' && typeof last.data.error.message === 'string', `error.type and message${c}`);
    assert.ok(!evs.some((e) => e.event === 'message_stop'), `no message_stop: the stream must not look complete${c}`);
    return { kind: 'stream-error', error: last.data.error, status: 200 };
  }
  assert.fail(`a reply that is neither JSON nor an event stream (HTML? plain text?)${c}`);
}

/** Asserts what assertWhole found against <expect>: {kind, status?, type?, msg? (RegExp), text?}. */
function assertExpected(got, expect, ctx) {
  const c = `${ctx}\ngot: ${JSON.stringify(got.error || { kind: got.kind, status: got.status }).slice(0, 600)}`;
  assert.equal(got.kind, expect.kind, `kind of answer${c}`);
  if (expect.status) assert.equal(got.status, expect.status, `status${c}`);
  if (expect.type) assert.equal(got.error.type, expect.type, `error.type${c}`);
  if (expect.msg) assert.match(got.error.message, expect.msg, `error.message${c}`);
  if (got.error) assert.ok(!got.error.message.includes(KEY), `no provider key in the message${c}`);
}

/** The daemon is up, /health answers ok, and no request is left active. */
async function assertHealthy(env) {
  assert.ok(env.d.alive(), `the daemon is alive${tail(env)}`);
  const h = await request(env.d.port, { path: '/health', timeoutMs: 3000 });
  assert.equal(h.status, 200, `/health${tail(env)}`);
  assert.equal(h.json?.status, 'ok', `/health status${tail(env)}`);
  await waitFor(async () => (await request(env.d.port, { path: '/health' })).json?.active === 0,
    { timeoutMs: 3000, what: `no request left active in /health${tail(env)}` });
}

/** The upstream request <rec> is over: answered, or its connection closed by ccproxy (or by the mock). */
function upstreamOver(mock, rec, timeoutMs = 3000) {
  return mock.waitFor(() => rec.answered || rec.clientClosed || rec.resetByMock,
    { timeoutMs, what: `upstream request ${tagOf(rec)} to be over (answered or closed)` });
}

/** A piece of text of exactly <n> bytes (ASCII), deterministic. */
const bigText = (n) => {
  const unit = 'The quick brown fox jumps over the lazy dog. 0123456789 ';
  return unit.repeat(Math.ceil(n / unit.length)).slice(0, n);
};

/** An upstream that writes scripted bytes instead of an HTTP answer (the mock only speaks HTTP). */
async function startRawUpstream() {
  const script = [];
  const sockets = new Set();
  const requests = [];
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    let buf = Buffer.alloc(0);
    let answered = false;
    s.on('data', async (d) => {
      if (answered) return;
      buf = Buffer.concat([buf, d]);
      const i = buf.indexOf('\r\n\r\n');
      if (i < 0) return;
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(buf.subarray(0, i).toString('latin1'));
      if (buf.length < i + 4 + (m ? Number(m[1]) : 0)) return;
      answered = true;
      const entry = script.shift() || { bytes: 'nothing scripted' };
      const rec = { head: buf.subarray(0, i).toString('latin1'), closed: false };
      requests.push(rec);
      s.on('close', () => { rec.closed = true; });
      if (entry.delayMs) await sleep(entry.delayMs);
      if (!s.destroyed) s.end(entry.bytes);
    });
  });
  await new Promise((resolve, reject) => { srv.once('error', reject); srv.listen(0, '127.0.0.1', resolve); });
  const { port } = srv.address();
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    requests,
    enqueue: (e) => script.push(e),
    reset: () => { script.length = 0; requests.length = 0; },
    async close() { for (const s of sockets) s.destroy(); await new Promise((r) => srv.close(() => r())); },
  };
}

/** Decodes an HTTP/1.1 response held whole in <buf> (Content-Length or chunked): → openStream-like result. */
function parseRawResponse(buf) {
  const i = buf.indexOf('\r\n\r\n');
  if (i < 0) return null;
  const lines = buf.subarray(0, i).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  const headers = {};
  for (const l of lines.slice(1)) {
    const k = l.indexOf(':');
    if (k > 0) headers[l.slice(0, k).trim().toLowerCase()] = l.slice(k + 1).trim();
  }
  let pos = i + 4;
  const parts = [];
  let complete = false;
  if (/chunked/i.test(headers['transfer-encoding'] || '')) {
    for (;;) {
      const e = buf.indexOf('\r\n', pos);
      if (e < 0) break;
      const size = parseInt(buf.subarray(pos, e).toString('latin1'), 16);
      if (!Number.isFinite(size)) break;
      if (size === 0) { complete = buf.length >= e + 4; break; }
      if (buf.length < e + 2 + size + 2) break;
      parts.push(buf.subarray(e + 2, e + 2 + size));
      pos = e + 2 + size + 2;
    }
  } else if (headers['content-length'] !== undefined) {
    const len = Number(headers['content-length']);
    parts.push(buf.subarray(pos, pos + len));
    complete = buf.length - pos >= len;
  }
  const body = Buffer.concat(parts);
  return { status: m ? Number(m[1]) : null, headers, buf: body, text: body.toString('utf8'), complete, error: null };
}

/**
 * A client that reads <chunk> bytes every <everyMs> ms (libuv reads into a buffer of that size; the socket
 * is paused in between), until fast() lets it read at full speed. → {received(), fast(), done (promise of
 * the parsed response once complete or closed), destroy()}
 */
function slowReader(port, body, { chunk = 1024, everyMs = 1000, timeoutMs = 60000 } = {}) {
  const payload = JSON.stringify(body);
  const parts = [];
  let n = 0;
  let fastMode = false;
  let timer = null;
  let settle;
  const done = new Promise((resolve) => { settle = resolve; });
  const finish = (why) => {
    clearTimeout(timer);
    clearTimeout(deadline);
    const r = parseRawResponse(Buffer.concat(parts)) || { status: null, headers: {}, buf: Buffer.alloc(0), text: '', complete: false };
    r.why = why;
    settle(r);
  };
  let tailBuf = Buffer.alloc(0);
  const sock = net.connect({
    host: '127.0.0.1',
    port,
    onread: {
      buffer: Buffer.alloc(chunk),
      callback(len, b) {
        const piece = Buffer.from(b.subarray(0, len));
        parts.push(piece);
        n += len;
        tailBuf = Buffer.concat([tailBuf, piece]).subarray(-8);
        if (tailBuf.toString('latin1').endsWith('\r\n0\r\n\r\n')) { finish('end'); sock.destroy(); return false; }
        if (fastMode) return true;
        timer = setTimeout(() => { if (!sock.destroyed) sock.resume(); }, everyMs);
        return false; // pause: the next read comes after everyMs
      },
    },
  });
  const deadline = setTimeout(() => { finish('timeout'); sock.destroy(); }, timeoutMs);
  sock.on('error', () => {});
  sock.on('close', () => finish('closed'));
  sock.on('connect', () => {
    sock.write(`POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
      `anthropic-version: 2023-06-01\r\nx-api-key: sk-client\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`);
  });
  return {
    received: () => n,
    closed: () => sock.destroyed,
    fast() { fastMode = true; clearTimeout(timer); if (!sock.destroyed) sock.resume(); },
    done,
    destroy: () => sock.destroy(),
  };
}

/** A raw client connection that records what it receives and when the daemon closes it. */
function rawClient(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const c = { s, buf: Buffer.alloc(0), closed: false, closedAt: 0, waiters: [] };
    const notify = () => { for (const w of c.waiters.splice(0)) w(); };
    s.on('data', (d) => { c.buf = Buffer.concat([c.buf, d]); notify(); });
    s.on('error', () => {});
    s.on('close', () => { c.closed = true; c.closedAt = Date.now(); notify(); });
    c.text = () => c.buf.toString('latin1');
    c.until = (pred, ms, what) => new Promise((res, rej) => {
      const t = setTimeout(() => rej(new Error(`${what}: not within ${ms} ms; got:\n${c.text().slice(0, 600)}`)), ms);
      const check = () => { if (pred()) { clearTimeout(t); res(); } else c.waiters.push(check); };
      check();
    });
    c.write = (d) => new Promise((res) => { if (c.closed || s.destroyed) res(false); else s.write(d, (e) => res(!e)); });
    s.once('connect', () => { s.off('error', reject); resolve(c); });
    s.once('error', reject);
  });
}

/** Every HTTP response in <buf> (a connection's whole input), each checked complete: → [{status, json}]. */
function allResponses(buf, ctx) {
  const out = [];
  let rest = buf;
  while (rest.length > 0) {
    const r = parseRawResponse(rest);
    assert.ok(r && r.status, `a response head${ctx}\nat: ${JSON.stringify(rest.toString('latin1').slice(0, 300))}`);
    assert.ok(r.complete, `a complete response, not one cut short${ctx}\nat: ${JSON.stringify(rest.toString('latin1').slice(0, 300))}`);
    let json;
    try { json = JSON.parse(r.text); } catch { assert.fail(`a JSON body${ctx}\n${r.text.slice(0, 300)}`); }
    out.push({ status: r.status, json, headers: r.headers });
    const headEnd = rest.indexOf('\r\n\r\n') + 4;
    if (/chunked/i.test(r.headers['transfer-encoding'] || '')) rest = rest.subarray(rest.indexOf('\r\n0\r\n\r\n', headEnd - 2) + 7);
    else rest = rest.subarray(headEnd + Number(r.headers['content-length']));
  }
  return out;
}

const STYLES = {
  openai: {
    prov: 'oai',
    model: 'gpt-f@oai',
    complete: (p) => oaiTextChunks(p),
    opened: (p) => oaiTextChunks(p, { finish: null }),
    errorBody: (status, type) => ({ error: { message: `upstream says ${status}`, type, code: null } }),
  },
  anthropic: {
    prov: 'anth',
    model: 'claude-f@anth',
    complete: (p) => anthTextEvents(p, { ping: false }),
    opened: (p) => anthTextEvents(p, { finish: false, ping: false }),
    errorBody: (status, type) => ({ type: 'error', error: { type, message: `upstream says ${status}` } }),
  },
};

const bigHash = (n, len) => {
  const h = crypto.createHash('sha256');
  for (let i = 0; i < n; i++) h.update(piece(i, len));
  return h.digest('hex');
};

/**
 * One event of <bytes> of text, written in pieces of <pieceBytes> with <pauseMs> between them, framed for
 * <style> (OpenAI chunk or Anthropic text delta), after the opening events, followed by the closing ones.
 */
function tenMegSource(style, bytes, { pieceBytes = 512 * 1024, pauseMs = 20 } = {}) {
  const text = bigText(bytes);
  const wire = style === 'anthropic'
    ? `event: content_block_delta\ndata: ${JSON.stringify({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } })}\n\n`
    : `data: ${JSON.stringify(oaiChunk({ content: text }).data)}\n\n`;
  const open = style === 'anthropic' ? anthTextEvents([], { finish: false, ping: false }) : [oaiChunk({ role: 'assistant', content: '' })];
  const close = style === 'anthropic'
    ? anthTextEvents(['x'], { ping: false }).slice(-3)
    : oaiTextChunks([]).slice(1);
  return function* gen() {
    yield* open;
    for (let i = 0; i < wire.length; i += pieceBytes) {
      yield wire.slice(i, i + pieceBytes);
      yield { pauseMs };
    }
    yield* close;
  };
}

// ---- the upstream faults ----------------------------------------------------------------------

describe('upstream faults', () => {
  let env;
  let raw;
  before(async () => {
    raw = await startRawUpstream();
    env = await setupProxy({
      settings: ({ main, alt, downPort }) => {
        const t = { apiKey: KEY, firstByteTimeoutMs: TIMEOUT_MS, idleTimeoutMs: TIMEOUT_MS };
        return {
          providers: {
            oai: { baseURL: `${main.url}/v1`, flavor: 'generic', ...t },
            anth: { baseURL: main.url, responseStyle: 'anthropic', ...t },
            oaidown: { baseURL: `http://127.0.0.1:${downPort}/v1`, flavor: 'generic', ...t },
            anthdown: { baseURL: `http://127.0.0.1:${downPort}`, responseStyle: 'anthropic', ...t },
            oairaw: { baseURL: `${raw.url}/v1`, flavor: 'generic', ...t },
            anthraw: { baseURL: raw.url, responseStyle: 'anthropic', ...t },
            byo: { baseURL: `${alt.url}/v1`, flavor: 'generic', apiKey: KEY },
            bya: { baseURL: alt.url, responseStyle: 'anthropic', apiKey: KEY },
          },
          models: { bigModel: 'big@oai', smallModel: 'small@oai', preferredProvider: 'oai' },
        };
      },
    });
  });
  after(async () => {
    if (env) await env.close();
    if (raw) await raw.close();
  });
  beforeEach(() => { env.resetMocks(); raw.reset(); });

  /**
   * Runs one fault: the mock is scripted with <entry> for this request only, the faulty request goes out,
   * bystanders run once <inProgress> says the fault is under way (default: the upstream has the request),
   * then the faulty client's answer, the daemon's health, its RSS and the upstream transfer are checked.
   * → {r (the faulty client's result), got (assertWhole's), rec (the mock's record), rss}
   */
  async function runFault(t, {
    model, stream = true, entry = null, rawEntry = null, inProgress = null, overlap = true,
    expect, rssMiB = [16, 64], wholeOpts = {},
  }) {
    const what = t.name;
    const tag = newTag(what);
    const pid = env.d.proc.pid;
    if (entry) env.main.enqueue({ ...entry, match: byTag(tag) });
    if (rawEntry) raw.enqueue(rawEntry);
    const w = rssWatch(pid);
    const h = openStream(env.d.port, faultBody(model, tag, stream), { timeoutMs: 20000 });
    let settled = false;
    h.done.then(() => { settled = true; });
    let rec = null;
    let pending;
    let r;
    let rss;
    try {
      if (entry) {
        rec = await env.main.waitFor((rs) => rs.find(byTag(tag)), { timeoutMs: 5000, what: `the fault request ${tag}` });
      }
      if (rawEntry) await waitFor(() => raw.requests.length > 0, { timeoutMs: 5000, what: 'the raw upstream to get the request' });
      if (inProgress) await inProgress(h, rec);
      pending = !settled;
      await bystanders(env, what);
      r = await h.done;
    } finally {
      rss = w.stop();
      h.destroy();
    }
    const ctx = `\nfault: ${what}${tail(env)}`;
    if (overlap) assert.ok(pending, `the fault was still in progress when the bystanders started${ctx}`);
    const got = assertWhole(r, { ctx, ...wholeOpts });
    assertExpected(got, expect, ctx);
    if (rec) await upstreamOver(env.main, rec);
    await assertHealthy(env);
    const limit = rssLimit(pid, ...rssMiB);
    assert.ok(rss.grown < limit, `daemon RSS grew by ${(rss.grown / MiB).toFixed(1)} MiB during the fault (limit ${limit / MiB} MiB)${ctx}`);
    t.diagnostic(`rss +${(rss.grown / MiB).toFixed(1)} MiB (peak ${(rss.peak / MiB).toFixed(1)} MiB)`);
    return { r, got, rec, rss, tag };
  }

  for (const [style, S] of Object.entries(STYLES)) {
    describe(`${style}-style`, () => {
      test('refuses the connection → 502 api_error "unreachable (connection refused)"', (t) => runFault(t, {
        model: `m@${S.prov}down`,
        overlap: false, // nothing to wait for: the bystanders run right behind it
        expect: { kind: 'error', status: 502, type: 'api_error', msg: new RegExp(`^provider ${S.prov}down unreachable \\(connection refused\\)$`) },
      }));

      test('resets the connection before its status → 502 api_error "unreachable (the transfer failed)"', async (t) => {
        const { tag } = await runFault(t, {
          model: S.model,
          // times 8: on a kept-alive upstream connection libcurl takes a reset before any answer for a stale
          // connection and sends the POST again (see the test below): every copy is reset
          entry: { delayMs: 300, reset: true, times: 8 },
          expect: { kind: 'error', status: 502, type: 'api_error', msg: new RegExp(`^provider ${S.prov} unreachable \\((the transfer failed|its connections closed before an answer, \\d+ times)\\)$`) },
        });
        t.diagnostic(`the upstream received the request ${env.main.requests.filter(byTag(tag)).length} time(s)`);
      });

      test('resets kept-alive connections before its status → the POST is sent at most twice (one resend for a stale connection)', async (t) => {
        const warm = 4;
        const warmTag = newTag('warm');
        env.main.enqueue({ match: byTag(warmTag), times: warm, delayMs: 100, json: S.prov === 'oai'
          ? { id: 'c', object: 'chat.completion', model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'w' }, finish_reason: 'stop' }] }
          : { id: 'msg_w', type: 'message', role: 'assistant', model: 'm', content: [{ type: 'text', text: 'w' }], stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 1, output_tokens: 1 } } });
        // <warm> requests at once leave <warm> kept-alive connections to the upstream
        await Promise.all(Array.from({ length: warm }, () => openStream(env.d.port, faultBody(S.model, warmTag, false)).done));
        const { tag } = await runFault(t, {
          model: S.model,
          stream: false,
          entry: { reset: true, times: 10 },
          overlap: false,
          expect: { kind: 'error', status: 502, type: 'api_error', msg: new RegExp(`^provider ${S.prov} unreachable \\((the transfer failed|its connections closed before an answer, \\d+ times)\\)$`) },
        });
        const copies = env.main.requests.filter(byTag(tag)).length;
        t.diagnostic(`the upstream received the request ${copies} times`);
        assert.ok(copies <= 2, `the upstream received the same POST ${copies} times (a generation each, when it had started one)`);
      });

      test(`stalls before its status → 504 timeout_error after firstByteTimeoutMs (${TIMEOUT_MS} ms), no byte sent before`, async (t) => {
        const { r } = await runFault(t, {
          model: S.model,
          entry: { hang: true },
          expect: { kind: 'error', status: 504, type: 'timeout_error', msg: new RegExp(`^provider ${S.prov} did not answer within 1 s$`) },
        });
        assert.match(String(r.headers['content-type']), /^application\/json/, 'a plain JSON error to a streaming request');
      });

      test(`stalls mid-stream → event: error timeout_error after idleTimeoutMs (${TIMEOUT_MS} ms)`, async (t) => {
        const { r } = await runFault(t, {
          model: S.model,
          entry: { chunks: S.opened(['started ']), hang: true },
          inProgress: (h) => h.waitFor((txt, evs) => streamedText(evs) === 'started ', 5000, 'the first text'),
          expect: { kind: 'stream-error', type: 'timeout_error', msg: new RegExp(`^provider ${S.prov} sent nothing for 1 s in the middle of its answer$`) },
        });
        assert.equal(streamedText(r.events), 'started ', 'what came before the stall was relayed');
      });

      test('resets mid-stream → event: error api_error "unreachable (the transfer failed)"', async (t) => {
        const { r } = await runFault(t, {
          model: S.model,
          // the pause lets ccproxy read everything before the RST (an RST discards unread data in the kernel)
          entry: { chunks: [...S.opened(['before ', 'the reset']), { pauseMs: 300 }], gapMs: 5, resetAfter: true },
          inProgress: (h) => h.waitFor((txt, evs) => streamedText(evs) === 'before the reset', 5000, 'the text before the reset'),
          expect: { kind: 'stream-error', type: 'api_error', msg: new RegExp(`^provider ${S.prov} unreachable \\((the transfer failed|its connections closed before an answer, \\d+ times)\\)$`) },
        });
        assert.equal(streamedText(r.events), 'before the reset');
      });

      test('sends bytes that are not HTTP → 502 api_error "unreachable (the transfer failed)"', (t) => runFault(t, {
        model: `m@${S.prov}raw`,
        rawEntry: { delayMs: 300, bytes: Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0xfe]), Buffer.from(' garbage\r\n\r\n<html>no</html>\n')]) },
        expect: { kind: 'error', status: 502, type: 'api_error', msg: new RegExp(`^provider ${S.prov}raw unreachable \\(the transfer failed\\)$`) },
      }));

      test('sends a status line, then headers of binary garbage → a clean 502 api_error', (t) => runFault(t, {
        model: `m@${S.prov}raw`,
        rawEntry: {
          delayMs: 300,
          bytes: Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n'), Buffer.from([0x00, 0xff, 0x01, 0x3a, 0x0d, 0x0a]),
            Buffer.from('X: '), Buffer.alloc(200 * 1024, 0x41), Buffer.from('\r\n\r\ndata: x\n\n')]),
        },
        expect: { kind: 'error', status: 502, type: 'api_error', msg: new RegExp(`^provider ${S.prov}raw unreachable`) },
      }));

      test('sends garbage events after the stream started → event: error api_error, nothing after it', async (t) => {
        const garbage = Buffer.concat([Buffer.from('data: '), Buffer.from([0x00, 0x7d, 0x7b, 0xff]), Buffer.from('garbage]]\n\nnot a field\n\n')]);
        const { r, rec } = await runFault(t, {
          model: S.model,
          entry: { chunks: [...S.opened(['fine ']), { pauseMs: 300 }, garbage], gapMs: 5 },
          inProgress: (h) => h.waitFor((txt, evs) => streamedText(evs) === 'fine ', 5000, 'the text before the garbage'),
          wholeOpts: style === 'anthropic' ? { relayed: true, utf8: false } : {},
          expect: style === 'anthropic'
            // relayed byte for byte (docs/protocol-notes.md, "Anthropic-style upstreams"); the body then ends without message_stop
            ? { kind: 'stream-error', type: 'api_error', msg: /^provider anth ended its stream before message_stop$/ }
            : { kind: 'stream-error', type: 'api_error', msg: /^provider oai sent a stream event that is not JSON: / },
        });
        if (style === 'anthropic') {
          const sent = Buffer.concat(rec.sentBuffers);
          assert.ok(r.buf.subarray(0, sent.length).equals(sent), 'the upstream bytes are relayed as they came, then the error event');
        }
        assert.equal(streamedText(r.events), 'fine ');
      });

      test('answers 200 with a body that is not JSON (non-streaming client) → a clean 502 api_error, never the garbage', (t) => runFault(t, {
        model: S.model,
        stream: false,
        entry: { delayMs: 300, headers: { 'content-type': 'application/json' }, rawBody: '{"id":"msg_cut","type":"message","content":[{"type":"te' },
        expect: { kind: 'error', status: 502, type: 'api_error' },
      }));

      test('answers 200 text/html to a streaming client → a clean 502 api_error, never HTML', (t) => runFault(t, {
        model: S.model,
        entry: { delayMs: 300, headers: { 'content-type': 'text/html' }, rawBody: '<html><head><title>Gateway says hi</title></head><body>hello</body></html>' },
        expect: { kind: 'error', status: 502, type: 'api_error' },
      }));

      for (const [status, type, mapped] of [[429, 'rate_limit_error', 429], [500, 'api_error', 500], [529, 'overloaded_error', 529]]) {
        test(`answers ${status} → ${mapped} ${type} for streaming and non-streaming clients (JSON, never an event stream)`, async (t) => {
          const tags = [newTag(`${status}-stream`), newTag(`${status}-whole`)];
          // an Anthropic-style 500 as an HTML gateway page: it must still reach the client as the JSON envelope
          const html = style === 'anthropic' && status === 500;
          for (const tag of tags) {
            env.main.enqueue({
              match: byTag(tag), delayMs: 300, status, headers: status === 429 ? { 'retry-after': '7' } : html ? { 'content-type': 'text/html' } : {},
              ...(html ? { rawBody: '<html><head><title>500 Internal Server Error</title></head><body>upstream says 500</body></html>' } : { json: S.errorBody(status, type) }),
            });
          }
          const pid = env.d.proc.pid;
          const w = rssWatch(pid);
          const hs = tags.map((tag, i) => openStream(env.d.port, faultBody(S.model, tag, i === 0)));
          await env.main.waitFor((rs) => tags.every((tag) => rs.find(byTag(tag))), { timeoutMs: 5000, what: 'both fault requests' });
          await bystanders(env, t.name);
          for (const [i, h] of hs.entries()) {
            const r = await h.done;
            const ctx = `\n${status}, ${i === 0 ? 'streaming' : 'non-streaming'} client${tail(env)}`;
            const got = assertWhole(r, { ctx });
            assertExpected(got, { kind: 'error', status: mapped, type, msg: html ? /^anth: 500 Internal Server Error$/ : /upstream says/ }, ctx);
            if (status === 429) assert.equal(r.headers['retry-after'], '7', `retry-after copied${ctx}`);
          }
          await assertHealthy(env);
          const rss = w.stop();
          assert.ok(rss.grown < rssLimit(pid, 16, 64), `RSS grew by ${rss.grown} bytes`);
        });
      }
    });
  }

  // -- a 10 MB event ----------------------------------------------------------------------------

  const TEN = 10 * MiB;
  /** The big body has started (the mock counts what it wrote; it reports no event per write: polled). */
  const bigUnderWay = (rec) => waitFor(() => rec.bytesSent >= 128 * 1024, { timeoutMs: 5000, intervalMs: 5, what: 'the big body under way' });

  test('openai-style: a 10 MB event in a stream → event: error api_error (1 MiB per event), memory bounded, upstream dropped', async (t) => {
    const { r, rec } = await runFault(t, {
      model: STYLES.openai.model,
      // 64 KiB every 20 ms: ccproxy gives up at 1 MiB, some 300 ms in, while the bystanders run
      entry: { source: tenMegSource('openai', TEN, { pieceBytes: 64 * 1024, pauseMs: 20 }) },
      inProgress: (h, rc) => bigUnderWay(rc),
      rssMiB: [16, 64],
      expect: { kind: 'stream-error', type: 'api_error', msg: /^provider oai sent a stream event larger than 1 MiB$/ },
    });
    assert.ok(rec.clientClosed, 'ccproxy dropped the upstream transfer');
    assert.ok(rec.bytesSent < TEN, `the upstream did not get to send all of it (${rec.bytesSent} bytes)`);
    assert.equal(r.events.filter((e) => e.event === 'content_block_delta').length, 0, 'nothing of the big event reached the client');
  });

  test('openai-style: a 10 MB event to a non-streaming client → 502 api_error JSON, memory bounded', (t) => runFault(t, {
    model: STYLES.openai.model,
    stream: false,
    entry: { source: tenMegSource('openai', TEN) },
    inProgress: (h, rc) => bigUnderWay(rc),
    rssMiB: [48, 128], // the whole answer is collected (up to server.maxAnswerBytes) before it is translated
    expect: { kind: 'error', status: 502, type: 'api_error', msg: /^provider oai sent a stream event larger than 1 MiB$/ },
  }));

  test('anthropic-style: a 10 MB event in a stream is relayed whole (byte for byte), memory bounded by backpressure', async (t) => {
    const { r, rec } = await runFault(t, {
      model: STYLES.anthropic.model,
      entry: { source: tenMegSource('anthropic', TEN) },
      inProgress: (h, rc) => bigUnderWay(rc),
      rssMiB: [16, 128],
      expect: { kind: 'stream' },
    });
    assert.equal(streamedText(r.events), bigText(TEN), 'the 10 MB text arrived intact');
    assert.equal(r.buf.length, rec.bytesSent, 'every upstream byte arrived, nothing else');
  });

  test('anthropic-style: a 10 MB whole answer to a non-streaming client is relayed whole, memory bounded', async (t) => {
    const text = bigText(TEN);
    const { got } = await runFault(t, {
      model: STYLES.anthropic.model,
      stream: false,
      entry: {
        source: function* gen() { // a whole Message, written in pieces with pauses so that the bystanders overlap it
          const body = JSON.stringify({ id: 'msg_big', type: 'message', role: 'assistant', model: 'm', content: [{ type: 'text', text }],
            stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 1, output_tokens: 1 } });
          for (let i = 0; i < body.length; i += 512 * 1024) { yield body.slice(i, i + 512 * 1024); yield { pauseMs: 20 }; }
        },
        headers: { 'content-type': 'application/json' },
      },
      inProgress: (h, rc) => bigUnderWay(rc),
      rssMiB: [64, 192], // a whole answer is collected (up to server.maxAnswerBytes) and parsed once
      expect: { kind: 'message' },
    });
    assert.equal(got.msg.content[0].text, text, 'the 10 MB text arrived intact');
  });

  // -- invalid UTF-8 -----------------------------------------------------------------------------

  const badUtf8Chunk = () => Buffer.concat([
    Buffer.from('data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"bad '),
    Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xe2, 0x82]), // an invalid byte pair, a bad continuation, a sequence cut short
    Buffer.from(' bytes"},"finish_reason":null}]}\n\n'),
  ]);

  test('openai-style: invalid UTF-8 in a stream event → event: error api_error; the client only ever gets valid UTF-8', async (t) => {
    const { r } = await runFault(t, {
      model: STYLES.openai.model,
      entry: { chunks: [...STYLES.openai.opened(['good ']), { pauseMs: 300 }, badUtf8Chunk(), ...oaiTextChunks([]).slice(1)], gapMs: 5 },
      inProgress: (h) => h.waitFor((txt, evs) => streamedText(evs) === 'good ', 5000, 'the text before the bad bytes'),
      expect: { kind: 'stream-error', type: 'api_error', msg: /^provider oai sent a stream event that is not JSON: / },
    });
    assert.equal(streamedText(r.events), 'good ');
  });

  test('openai-style: invalid UTF-8 in a whole answer → 502 api_error JSON in valid UTF-8', (t) => runFault(t, {
    model: STYLES.openai.model,
    stream: false,
    entry: {
      delayMs: 300,
      headers: { 'content-type': 'application/json' },
      rawBody: Buffer.concat([Buffer.from('{"id":"x","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"a'),
        Buffer.from([0xff, 0xc3]), Buffer.from('"},"finish_reason":"stop"}]}')]),
    },
    expect: { kind: 'error', status: 502, type: 'api_error', msg: /^provider oai returned a 200 answer that is not JSON: / },
  }));

  test('anthropic-style: invalid UTF-8 in a whole answer is relayed byte for byte (documented)', async (t) => {
    const body = Buffer.concat([Buffer.from('{"id":"msg_u","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"bad '),
      Buffer.from([0xff, 0xfe]), Buffer.from('"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}')]);
    const { r } = await runFault(t, {
      model: STYLES.anthropic.model,
      stream: false,
      entry: { delayMs: 300, headers: { 'content-type': 'application/json' }, rawBody: body },
      wholeOpts: { utf8: false },
      expect: { kind: 'message' },
    });
    assert.ok(r.buf.equals(body), 'relayed byte for byte');
  });

  test('anthropic-style: invalid UTF-8 in a stream is relayed byte for byte (documented), and the stream completes', async (t) => {
    const ev = anthTextEvents(['good ', 'XX'], { ping: false });
    const wire = ev.map((e) => Buffer.from(`event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`));
    const at = wire.findIndex((b) => b.includes('"XX"'));
    const i = wire[at].indexOf('XX');
    wire[at] = Buffer.concat([wire[at].subarray(0, i), Buffer.from([0xff, 0xfe]), wire[at].subarray(i + 2)]);
    const { r, rec } = await runFault(t, {
      model: STYLES.anthropic.model,
      entry: { chunks: [...wire.slice(0, at), { pauseMs: 300 }, ...wire.slice(at)], gapMs: 5 },
      inProgress: (h) => h.waitFor((txt, evs) => streamedText(evs) === 'good ', 5000, 'the text before the bad bytes'),
      wholeOpts: { utf8: false },
      expect: { kind: 'stream' },
    });
    assert.ok(r.buf.equals(Buffer.concat(rec.sentBuffers)), 'relayed byte for byte');
  });
});

// ---- the client faults ------------------------------------------------------------------------

describe('client faults', () => {
  let env;
  before(async () => {
    env = await setupProxy({
      settings: ({ main, alt }) => ({
        providers: {
          oai: { baseURL: `${main.url}/v1`, flavor: 'generic', apiKey: KEY },
          anth: { baseURL: main.url, responseStyle: 'anthropic', apiKey: KEY },
          byo: { baseURL: `${alt.url}/v1`, flavor: 'generic', apiKey: KEY },
          bya: { baseURL: alt.url, responseStyle: 'anthropic', apiKey: KEY },
        },
        models: { bigModel: 'big@oai', smallModel: 'small@oai', preferredProvider: 'oai' },
      }),
    });
  });
  after(async () => { if (env) await env.close(); });
  beforeEach(() => env.resetMocks());

  /** Runs <body(pid)> with the RSS watched; then the daemon must be healthy and have grown less than the bound. */
  async function watched(t, [gccMiB, asanMiB], body) {
    const pid = env.d.proc.pid;
    const w = rssWatch(pid);
    let rss;
    try {
      await body(pid);
    } finally {
      rss = w.stop();
    }
    await assertHealthy(env);
    const limit = rssLimit(pid, gccMiB, asanMiB);
    assert.ok(rss.grown < limit, `daemon RSS grew by ${(rss.grown / MiB).toFixed(1)} MiB during the fault (limit ${limit / MiB} MiB)${tail(env)}`);
    return rss;
    t.diagnostic(`rss +${(rss.grown / MiB).toFixed(1)} MiB (peak ${(rss.peak / MiB).toFixed(1)} MiB)`);
  }

  for (const [style, S] of Object.entries(STYLES)) {
    describe(`${style}-style`, () => {
      for (const stream of [true, false]) {
        test(`leaves before the answer (${stream ? 'streaming' : 'non-streaming'} request) → the upstream transfer is cancelled, 499 logged`, (t) => watched(t, [16, 64], async () => {
          const tag = newTag(t.name);
          env.main.enqueue({ hang: true, match: byTag(tag) });
          const from = env.d.mark();
          const h = openStream(env.d.port, faultBody(S.model, tag, stream));
          try {
            const rec = await env.main.waitFor((rs) => rs.find(byTag(tag)), { timeoutMs: 5000, what: 'the fault request' });
            await bystanders(env, t.name); // while the request waits for its upstream
            assert.equal(h.received(), 0, 'nothing was sent before the upstream status');
            assert.equal(rec.clientClosed, false, 'the upstream transfer is open while the client waits');
            h.destroy();
            await env.main.waitFor(() => rec.clientClosed, { timeoutMs: 2000, what: 'the upstream transfer to be cancelled' });
            await env.d.waitLog((j) => j?.msg === 'request' && j.status === 499 && j.model === S.model, { from, timeoutMs: 3000 });
          } finally {
            h.destroy();
          }
        }));
      }

      test('leaves mid-stream → the upstream transfer is cancelled', (t) => watched(t, [16, 64], async () => {
        const tag = newTag(t.name);
        env.main.enqueue({ chunks: S.opened(['one ', 'two ']), gapMs: 5, hang: true, match: byTag(tag) });
        const h = openStream(env.d.port, faultBody(S.model, tag, true));
        try {
          await h.waitFor((txt, evs) => streamedText(evs) === 'one two ', 5000, 'the streamed text');
          const rec = env.main.requests.find(byTag(tag));
          await bystanders(env, t.name); // while the stream is open
          assert.equal(rec.clientClosed, false, 'the upstream transfer is open while the client reads');
          h.destroy();
          await env.main.waitFor(() => rec.clientClosed, { timeoutMs: 2000, what: 'the upstream transfer to be cancelled' });
        } finally {
          h.destroy();
        }
      }));

      test('never reads a long stream → the upstream is held back, memory bounded (server.streamBufferBytes); leaving cancels it', (t) => watched(t, [16, 96], async () => {
        const tag = newTag(t.name);
        env.main.enqueue({ source: bigSource(style, 10000, 4000), match: byTag(tag) }); // 40 MB
        const h = openStream(env.d.port, faultBody(S.model, tag, true), { pauseReading: true, timeoutMs: 30000 });
        try {
          const rec = await env.main.waitFor((rs) => rs.find(byTag(tag)), { timeoutMs: 5000, what: 'the fault request' });
          await waitFor(() => rec.waitingSince !== null && Date.now() - rec.waitingSince >= 500,
            { timeoutMs: 15000, intervalMs: 20, what: `the upstream to be held back for 500 ms (pushed ${rec.bytesSent} bytes)` });
          await bystanders(env, t.name); // while the stream is held
          assert.ok(rec.waitingSince !== null, 'still held back after the bystanders');
          assert.ok(rec.bytesSent < 20 * MiB, `the upstream pushed ${rec.bytesSent} bytes to a client that reads nothing`);
          assert.equal(rec.clientClosed, false, 'the transfer is paused, not dropped');
          h.destroy();
          await env.main.waitFor(() => rec.clientClosed, { timeoutMs: 2000, what: 'the paused upstream transfer to be cancelled' });
        } finally {
          h.destroy();
        }
      }));

      // the whole test moves 20 MB through the daemon: under ASan only the slow phase has an RSS bound
      test('reads 1 KB/s → the upstream is held back, memory bounded; read at full speed later, the stream completes intact', (t) => watched(t, [32, null], async (pid) => {
        const N = 5000; // 20 MB: more than the kernel's socket buffers hold
        const LEN = 4000;
        const tag = newTag(t.name);
        env.main.enqueue({ source: bigSource(style, N, LEN), match: byTag(tag) });
        const w = rssWatch(pid);
        const c = slowReader(env.d.port, faultBody(S.model, tag, true), { chunk: 1024, everyMs: 1000 });
        try {
          const t0 = Date.now();
          const rec = await env.main.waitFor((rs) => rs.find(byTag(tag)), { timeoutMs: 5000, what: 'the fault request' });
          await waitFor(() => rec.waitingSince !== null && Date.now() - rec.waitingSince >= 2000,
            { timeoutMs: 15000, intervalMs: 20, what: `the upstream to be held back for 2 s (pushed ${rec.bytesSent} bytes)` });
          await bystanders(env, t.name); // while the slow reader holds the stream
          const secs = (Date.now() - t0) / 1000;
          assert.ok(c.received() <= (secs + 2) * 1024, `read ${c.received()} bytes in ${secs.toFixed(1)} s: not 1 KB/s`);
          assert.ok(rec.bytesSent < 20 * MiB, `the upstream pushed ${rec.bytesSent} bytes to a 1 KB/s reader`);
          assert.equal(rec.clientClosed, false, 'a slow reader is not cut: the upstream transfer is open');
          assert.ok(!c.closed(), 'a slow reader is not cut: its connection is open');
          const slow = w.stop();
          const limit = rssLimit(pid, 16, 96);
          assert.ok(slow.grown < limit, `daemon RSS grew by ${(slow.grown / MiB).toFixed(1)} MiB while a client read at 1 KB/s (limit ${limit / MiB} MiB)`);
          t.diagnostic(`after ${secs.toFixed(1)} s at 1 KB/s: client read ${c.received()} bytes, upstream pushed ` +
            `${(rec.bytesSent / MiB).toFixed(1)} MiB, daemon RSS +${(slow.grown / MiB).toFixed(1)} MiB`);
          c.fast();
          const r = await c.done;
          const msg = assertWhole(r, { ctx: `\nslow reader (${r.why})${tail(env)}` }).msg;
          assert.ok(msg, 'a complete stream');
          const text = msg.content.map((b) => b.text).join('');
          assert.equal(text.length, N * LEN, 'all text arrived');
          assert.equal(crypto.createHash('sha256').update(text).digest('hex'), bigHash(N, LEN), 'text intact, in order');
        } finally {
          w.stop();
          c.destroy();
        }
      }));
    });
  }
});

// ---- the connection faults --------------------------------------------------------------------

describe('connection faults', () => {
  let env;
  before(async () => {
    env = await setupProxy({
      settings: ({ main, alt }) => ({
        server: { headTimeoutSeconds: 1, bodyTimeoutSeconds: 1 },
        providers: {
          oai: { baseURL: `${main.url}/v1`, flavor: 'generic', apiKey: KEY },
          byo: { baseURL: `${alt.url}/v1`, flavor: 'generic', apiKey: KEY },
          bya: { baseURL: alt.url, responseStyle: 'anthropic', apiKey: KEY },
        },
        models: { bigModel: 'big@oai', smallModel: 'small@oai', preferredProvider: 'oai' },
      }),
    });
  });
  after(async () => { if (env) await env.close(); });
  beforeEach(() => env.resetMocks());

  const msgHead = (len) => `POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
    `anthropic-version: 2023-06-01\r\nContent-Length: ${len}\r\n\r\n`;

  /**
   * <n> connections each send <first>, then trickle <trickle> a byte every <everyMs> ms; bystanders run
   * meanwhile. Each must get exactly one 408 JSON error naming <setting>, then be closed.
   */
  async function slowloris(t, { n = 16, first, trickle, setting }) {
    const pid = env.d.proc.pid;
    const w = rssWatch(pid);
    const conns = await Promise.all(Array.from({ length: n }, () => rawClient(env.d.port)));
    try {
      const t0 = Date.now();
      const drip = async (c) => {
        c.dripped = 0;
        await c.write(first);
        for (let i = 0; i < trickle.length && !c.closed && Date.now() - t0 < 6000; i++) {
          if (!(await c.write(trickle[i]))) break;
          c.dripped++;
          await sleep(150); // the pace of the trickle, not a synchronisation
        }
      };
      const drips = conns.map(drip);
      await waitFor(() => conns.every((c) => c.dripped >= 2), { timeoutMs: 3000, intervalMs: 20, what: 'every trickle under way' });
      assert.ok(conns.every((c) => !c.closed), 'every slow connection is still open when the bystanders start');
      await bystanders(env, t.name);
      await Promise.all(conns.map((c) => c.until(() => c.closed, 5000, 'the slow connection closed')));
      await Promise.all(drips);
      for (const [i, c] of conns.entries()) {
        const ctx = `\nslow connection ${i}: ${JSON.stringify(c.text().slice(0, 400))}`;
        const rs = allResponses(c.buf, ctx);
        assert.equal(rs.length, 1, `exactly one answer${ctx}`);
        assert.equal(rs[0].status, 408, ctx);
        assert.equal(rs[0].json.type, 'error', ctx);
        assert.match(rs[0].json.error.message, new RegExp(setting), ctx);
        assert.ok(c.closedAt - t0 < 4000, `closed ${c.closedAt - t0} ms after it started${ctx}`);
      }
    } finally {
      for (const c of conns) c.s.destroy();
    }
    const rss = w.stop();
    await assertHealthy(env);
    assert.ok(rss.grown < rssLimit(pid, 16, 64), `RSS grew by ${(rss.grown / MiB).toFixed(1)} MiB`);
    t.diagnostic(`rss +${(rss.grown / MiB).toFixed(1)} MiB`);
  }

  test('slowloris heads: 16 connections trickling their heads → each 408 after server.headTimeoutSeconds, closed; bystanders unaffected', (t) => slowloris(t, {
    first: 'POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n',
    trickle: `X-Slow: ${'a'.repeat(200)}`,
    setting: 'headTimeoutSeconds',
  }));

  test('slowloris bodies: 16 connections trickling their bodies → each 408 after server.bodyTimeoutSeconds, closed; bystanders unaffected', (t) => slowloris(t, {
    first: msgHead(1000),
    trickle: '{"model":"m","max_tokens":1,"messages":[' + ' '.repeat(300),
    setting: 'bodyTimeoutSeconds',
  }));

  test('a pipelining flood behind a request in flight → the connection is closed (server.maxHeaderBytes), the upstream cancelled, RSS bounded', async (t) => {
    const tag = newTag(t.name);
    env.main.enqueue({ hang: true, match: byTag(tag) });
    const pid = env.d.proc.pid;
    const from = env.d.mark();
    const c = await rawClient(env.d.port);
    const w = rssWatch(pid);
    let sent = 0;
    try {
      const body = JSON.stringify(faultBody('gpt-f@oai', tag, false));
      await c.write(msgHead(Buffer.byteLength(body)) + body);
      const rec = await env.main.waitFor((rs) => rs.find(byTag(tag)), { timeoutMs: 5000, what: 'the request in flight' });
      const junk = Buffer.alloc(MiB, 'G');
      const flood = (async () => {
        for (let i = 0; i < 64 && !c.closed; i++) { // the daemon stops reading after 64 KiB: the writes block
          if (!(await c.write(junk))) break;
          sent += junk.length;
        }
      })();
      await bystanders(env, t.name); // while the flood runs
      await c.until(() => c.closed, 5000, 'the daemon closes the flooding connection');
      await flood;
      await env.d.waitLog(/pipelined behind a request in flight/, { from, timeoutMs: 3000 });
      await env.main.waitFor(() => rec.clientClosed, { timeoutMs: 3000, what: 'the upstream transfer to be cancelled' });
      const rs = allResponses(c.buf, `\nflooding connection: ${JSON.stringify(c.text().slice(0, 400))}`);
      for (const r of rs) assert.equal(r.json.type, 'error', 'only a clean error, if anything');
    } finally {
      c.s.destroy();
    }
    const rss = w.stop();
    assert.ok(sent < 48 * MiB, `the daemon kept reading: ${sent >> 20} MiB accepted`);
    await assertHealthy(env);
    assert.ok(rss.grown < rssLimit(pid, 16, 64), `RSS grew by ${(rss.grown / MiB).toFixed(1)} MiB under a pipelining flood`);
    t.diagnostic(`flood: ${sent >> 20} MiB written before the close; rss +${(rss.grown / MiB).toFixed(1)} MiB`);
  });

  test('a flood of pipelined complete requests (2,000 GET /health in one write) → whole answers in order, never one cut short', async (t) => {
    const K = 2000;
    const pid = env.d.proc.pid;
    const c = await rawClient(env.d.port);
    const w = rssWatch(pid);
    let rs;
    try {
      const one = 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
      const writing = c.write(one.repeat(K));
      await bystanders(env, t.name);
      await writing;
      await c.until(() => c.closed || (c.text().match(/HTTP\/1\.1 /g) || []).length >= K && c.text().endsWith('}'), 10000, 'the answers or the close');
      rs = allResponses(c.buf, '\npipelined /health answers');
    } finally {
      c.s.destroy();
    }
    const rss = w.stop();
    t.diagnostic(`${rs.length} of ${K} pipelined requests answered${c.closed ? ', then the connection was closed' : ''}`);
    assert.ok(rs.length === K || c.closed, `${rs.length} answers of ${K}, and the connection still open`);
    for (const r of rs) {
      assert.equal(r.status, 200);
      assert.equal(r.json.status, 'ok');
    }
    await assertHealthy(env);
    assert.ok(rss.grown < rssLimit(pid, 16, 64), `RSS grew by ${(rss.grown / MiB).toFixed(1)} MiB`);
  });
});
