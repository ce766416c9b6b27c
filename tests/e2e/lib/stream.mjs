// Helpers for the streaming tests (6x): a raw HTTP client that records an SSE reply as it arrives,
// strict checks of Anthropic event sequences (complete and error-terminated), builders for the upstream
// streams the mock sends (Anthropic SSE events and OpenAI chunks), and a reader of a process's RSS.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { parseSSE } from './proxy.mjs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * POST a request and record the reply as it arrives (node:http, so chunked encoding is decoded).
 * opts: {path, headers, agent (default false: own connection), timeoutMs (whole exchange), pauseReading
 *        (true: never read until resumeReading() is called, which may come before the response head)}
 * → handle {req, t0, head (promise of {status, headers, t}), done (promise of result), chunks [{t, n}],
 *           bytes(), text(), events(), received(), waitFor(pred(text, events), ms, what), destroy(),
 *           resumeReading(), pauseReading()}
 * result: {status, headers, text, buf, events, complete (the body ended cleanly), error (socket error or
 *          abort), tHead, tEnd, reusedSocket}
 */
export function openStream(port, body, opts = {}) {
  const {
    path = '/v1/messages', headers = {}, agent = false, timeoutMs = 15000, pauseReading = false, ca,
  } = opts; // ca (PEM): over HTTPS, trusting it
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  const h = {
    'content-type': 'application/json',
    'anthropic-version': '2023-06-01',
    'x-api-key': 'sk-client-stream-test',
    'content-length': Buffer.byteLength(payload),
    ...headers,
  };
  const t0 = Date.now();
  const parts = [];
  let size = 0;
  const chunks = [];
  const waiters = new Set();
  const notify = () => { for (const w of [...waiters]) w(); };
  let res = null;
  let settled = false;
  let paused = pauseReading; // what the caller wants, also before the response head arrived
  let headResolve;
  let headReject;
  const head = new Promise((resolve, reject) => { headResolve = resolve; headReject = reject; });
  head.catch(() => {});
  const req = (ca === undefined ? http : https).request({ host: '127.0.0.1', port, method: 'POST', path, headers: h, agent, ca });
  const handle = {
    req, t0, head, chunks,
    bytes: () => Buffer.concat(parts),
    text: () => Buffer.concat(parts).toString('utf8'),
    events: () => parseSSE(Buffer.concat(parts).toString('utf8')),
    received: () => size,
    destroy: () => { req.destroy(); if (res) res.destroy(); },
    resumeReading: () => { paused = false; if (res) res.resume(); },
    pauseReading: () => { paused = true; if (res) res.pause(); },
    /** Wait (bounded) until at least n body bytes arrived in all (cheap: no parsing). */
    waitBytes(n, ms = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (size >= n) { cleanup(); resolve(size); return true; }
          if (settled) { cleanup(); resolve(size); return true; }
          return false;
        };
        const timer = setTimeout(() => { cleanup(); reject(new Error(`timed out after ${ms} ms waiting for ${n} bytes (got ${size})`)); }, ms);
        const cleanup = () => { clearTimeout(timer); waiters.delete(check); };
        if (!check()) waiters.add(check);
      });
    },
    /** Wait (bounded) until pred(text, events) is truthy (parses everything on each arrival: small streams only). */
    waitFor(pred, ms = 5000, what = 'stream condition') {
      return new Promise((resolve, reject) => {
        const check = () => {
          let v;
          try { const t = handle.text(); v = pred(t, parseSSE(t)); } catch { v = undefined; }
          if (v) { cleanup(); resolve(v); return true; }
          if (settled) { cleanup(); reject(new Error(`stream ended before ${what}; received:\n${handle.text().slice(0, 2000)}`)); return true; }
          return false;
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out after ${ms} ms waiting for ${what}; received:\n${handle.text().slice(0, 2000)}`));
        }, ms);
        const cleanup = () => { clearTimeout(timer); waiters.delete(check); };
        if (!check()) waiters.add(check);
      });
    },
  };
  handle.done = new Promise((resolve) => {
    let tHead = null;
    let error = null;
    const timer = setTimeout(() => {
      error = new Error(`stream did not end within ${timeoutMs} ms`);
      req.destroy(error);
    }, timeoutMs);
    const finish = (complete) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const buf = Buffer.concat(parts);
      const text = buf.toString('utf8');
      notify();
      headReject(error || new Error('no response head'));
      resolve({
        status: res ? res.statusCode : null,
        headers: res ? res.headers : {},
        buf,
        text,
        events: parseSSE(text),
        complete,
        error,
        tHead,
        tEnd: Date.now(),
        reusedSocket: req.reusedSocket,
      });
    };
    req.on('error', (e) => { error = error || e; finish(false); });
    req.on('response', (r) => {
      res = r;
      tHead = Date.now();
      headResolve({ status: r.statusCode, headers: r.headers, t: tHead });
      if (paused) r.pause(); // resumeReading() may have come before the head: it is not lost
      r.on('data', (c) => { parts.push(c); size += c.length; chunks.push({ t: Date.now(), n: c.length }); notify(); });
      r.on('aborted', () => { error = error || new Error('response aborted'); });
      r.on('error', (e) => { error = error || e; finish(false); });
      r.on('end', () => finish(!error && r.complete));
      r.on('close', () => finish(!error && r.complete));
    });
    req.end(payload);
  });
  return handle;
}

/** The non-ping events of a parsed stream. */
export const realEvents = (evs) => evs.filter((e) => e.event !== 'ping');

/** Text of all text_delta events (for any index). */
export function streamedText(evs) {
  return evs.filter((e) => e.event === 'content_block_delta' && e.data && e.data.delta && e.data.delta.type === 'text_delta')
    .map((e) => e.data.delta.text).join('');
}

/**
 * Strict check of a complete Anthropic stream (docs/protocol-notes.md, "Anthropic event stream"): an "event:"
 * line on every event equal to data.type, message_start first with a full message, block indices contiguous
 * from 0 in start order, no interleaving, deltas matching their block type, tool input JSON valid, exactly
 * one message_delta with stop_reason, stop_sequence and usage (with input_tokens when inputRepeated),
 * message_stop last and nothing after it. Returns the rebuilt message.
 */
export function assertCompleteStream(text, { ctx = '', inputRepeated = false } = {}) {
  const c = `${ctx}\nstream:\n${text.slice(0, 4000)}`;
  const evs = parseSSE(text);
  assert.ok(evs.length >= 3, `at least message_start, message_delta, message_stop${c}`);
  for (const e of evs) {
    assert.ok(e.event, `every event has an "event:" line${c}`);
    assert.equal(typeof e.data, 'object', `every data line is JSON${c}`);
    assert.equal(e.data.type, e.event, `data.type equals the event name${c}`);
  }
  assert.equal(evs[evs.length - 1].event, 'message_stop', `message_stop is the very last event${c}`);
  const real = realEvents(evs);
  assert.equal(real[0].event, 'message_start', `message_start first${c}`);
  assert.equal(real.filter((e) => e.event === 'message_start').length, 1, `one message_start${c}`);
  assert.equal(real.filter((e) => e.event === 'message_stop').length, 1, `one message_stop${c}`);
  assert.equal(real.filter((e) => e.event === 'error').length, 0, `no error event${c}`);
  const deltas = real.filter((e) => e.event === 'message_delta');
  assert.equal(deltas.length, 1, `exactly one message_delta${c}`);
  assert.equal(real[real.length - 2].event, 'message_delta', `message_delta right before message_stop${c}`);
  const msg = JSON.parse(JSON.stringify(real[0].data.message));
  assert.equal(msg.type, 'message', `message_start.message.type${c}`);
  assert.equal(msg.role, 'assistant', `message_start.message.role${c}`);
  assert.deepEqual(msg.content, [], `message_start content is empty${c}`);
  assert.equal(msg.stop_reason, null, `message_start stop_reason null${c}`);
  assert.ok(msg.usage && Number.isInteger(msg.usage.input_tokens) && Number.isInteger(msg.usage.output_tokens),
    `message_start.message.usage with input/output tokens${c}`);
  const bufs = [];
  let open = -1;
  for (const e of real.slice(1, -2)) {
    const d = e.data;
    if (e.event === 'content_block_start') {
      assert.equal(open, -1, `no interleaved blocks${c}`);
      assert.equal(d.index, msg.content.length, `block indices contiguous from 0 in start order${c}`);
      const b = JSON.parse(JSON.stringify(d.content_block));
      if (b.type === 'text') assert.equal(b.text, '', `text block starts empty${c}`);
      if (b.type === 'thinking') assert.equal(b.thinking, '', `thinking block starts empty${c}`);
      if (b.type === 'tool_use') {
        assert.deepEqual(b.input, {}, `tool_use starts with input {}${c}`);
        assert.ok(typeof b.id === 'string' && b.id.length > 0, `tool_use id${c}`);
        assert.ok(typeof b.name === 'string' && b.name.length > 0, `tool_use name${c}`);
      }
      msg.content.push(b);
      bufs.push('');
      open = d.index;
    } else if (e.event === 'content_block_delta') {
      assert.equal(d.index, open, `delta for the open block${c}`);
      const b = msg.content[d.index];
      const t = d.delta.type;
      if (t === 'text_delta') { assert.equal(b.type, 'text', `text_delta on a text block${c}`); b.text += d.delta.text; }
      else if (t === 'thinking_delta') { assert.equal(b.type, 'thinking', `thinking_delta on a thinking block${c}`); b.thinking += d.delta.thinking; }
      else if (t === 'signature_delta') { assert.equal(b.type, 'thinking', `signature_delta on a thinking block${c}`); b.signature = d.delta.signature; }
      else if (t === 'input_json_delta') { assert.equal(b.type, 'tool_use', `input_json_delta on a tool_use block${c}`); bufs[d.index] += d.delta.partial_json; }
      else assert.fail(`unknown delta type ${t}${c}`);
    } else if (e.event === 'content_block_stop') {
      assert.equal(d.index, open, `stop for the open block${c}`);
      const b = msg.content[d.index];
      if (b.type === 'tool_use') {
        let input;
        try { input = bufs[d.index] === '' ? {} : JSON.parse(bufs[d.index]); } catch (err) {
          assert.fail(`tool input JSON of block ${d.index} does not parse (${err.message}): ${bufs[d.index]}${c}`);
        }
        b.input = input;
      }
      open = -1;
    } else {
      assert.fail(`unexpected event ${e.event} in the middle of the stream${c}`);
    }
  }
  assert.equal(open, -1, `every block closed before message_delta${c}`);
  const md = deltas[0].data;
  assert.ok(md.delta && 'stop_reason' in md.delta && 'stop_sequence' in md.delta, `message_delta.delta has stop_reason and stop_sequence${c}`);
  assert.ok(typeof md.delta.stop_reason === 'string', `stop_reason is set${c}`);
  assert.ok(md.usage && Number.isInteger(md.usage.output_tokens), `message_delta.usage.output_tokens${c}`);
  if (inputRepeated) assert.ok(Number.isInteger(md.usage.input_tokens), `message_delta.usage.input_tokens repeated${c}`);
  msg.stop_reason = md.delta.stop_reason;
  msg.stop_sequence = md.delta.stop_sequence;
  Object.assign(msg.usage, Object.fromEntries(Object.entries(md.usage).filter(([, v]) => v !== null)));
  return msg;
}

/**
 * Check a stream that must end with an Anthropic error event: every event has its "event:" line, the
 * last event is "error" ({type:"error", error:{type, message}}, type equal to <type> when given), no
 * message_stop anywhere, message_start first when anything came before. Returns the error object.
 */
export function assertErrorStream(text, type = null, ctx = '') {
  const c = `${ctx}\nstream:\n${text.slice(0, 4000)}`;
  const evs = parseSSE(text);
  assert.ok(evs.length >= 1, `some event${c}`);
  for (const e of evs) assert.ok(e.event, `every event has an "event:" line${c}`);
  const last = evs[evs.length - 1];
  assert.equal(last.event, 'error', `the stream ends with an error event${c}`);
  assert.equal(evs.filter((e) => e.event === 'error').length, 1, `one error event${c}`);
  assert.equal(evs.filter((e) => e.event === 'message_stop').length, 0, `no message_stop: the stream must not look complete${c}`);
  assert.equal(typeof last.data, 'object', `error data is JSON${c}`);
  assert.equal(last.data.type, 'error', `error data.type${c}`);
  assert.ok(last.data.error && typeof last.data.error.message === 'string' && last.data.error.message.length > 0, `error.message${c}`);
  if (type) assert.equal(last.data.error.type, type, `error.type${c}`);
  const real = realEvents(evs);
  if (real.length > 1) assert.equal(real[0].event, 'message_start', `message_start first${c}`);
  return last.data.error;
}

// ---- upstream streams ---------------------------------------------------------------------------

let seq = 0;

/** An Anthropic message_start event object for the mock. */
export function anthStart(model = 'mock-model', usage = {}) {
  return {
    event: 'message_start',
    data: {
      type: 'message_start',
      message: {
        id: `msg_stream${++seq}`, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null,
        usage: { input_tokens: 11, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1, ...usage },
      },
    },
  };
}

/** Anthropic SSE event objects for one text block made of <pieces>. opts: {finish (default true), stopReason} */
export function anthTextEvents(pieces, { finish = true, stopReason = 'end_turn', ping = true } = {}) {
  const ev = (event, data) => ({ event, data: { type: event, ...data } });
  const out = [anthStart()];
  if (ping) out.push(ev('ping', {}));
  out.push(ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }));
  for (const p of pieces) out.push(ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: p } }));
  if (!finish) return out;
  out.push(ev('content_block_stop', { index: 0 }));
  out.push(ev('message_delta', { delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: pieces.length } }));
  out.push(ev('message_stop', {}));
  return out;
}

/** One OpenAI chunk object (as the mock's {data}) with choice delta <delta>. */
export function oaiChunk(delta, { finish = null, usage = null, id = 'chatcmpl-stream', model = 'mock-model', choices } = {}) {
  return {
    data: {
      id, object: 'chat.completion.chunk', created: 1700000000, model,
      choices: choices !== undefined ? choices : [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      usage,
    },
  };
}

export const OAI_USAGE = {
  prompt_tokens: 40, completion_tokens: 9, total_tokens: 49,
  prompt_tokens_details: { cached_tokens: 10 }, completion_tokens_details: { reasoning_tokens: 0 },
};

/**
 * OpenAI chunks for a text answer made of <pieces>. opts: {finish: 'stop' | null (none), usage (after the
 * finish chunk, in a choices:[] chunk; null: none), done (the [DONE] line, default true)}
 */
export function oaiTextChunks(pieces, { finish = 'stop', usage = OAI_USAGE, done = true } = {}) {
  const out = [oaiChunk({ role: 'assistant', content: '' })];
  for (const p of pieces) out.push(oaiChunk({ content: p }));
  if (finish) out.push(oaiChunk({}, { finish }));
  if (finish && usage) out.push(oaiChunk(null, { choices: [], usage }));
  if (finish && done) out.push('data: [DONE]\n\n');
  return out;
}

/** Deterministic text piece <i> of length <len> (ASCII). */
export function piece(i, len = 1000) {
  const head = `[${i}]`;
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789 ';
  let s = head;
  for (let k = 0; s.length < len; k++) s += alphabet[(i * 7 + k) % alphabet.length];
  return s;
}

/** A big upstream stream (mock `source`) of <n> text pieces of <len> characters, in the style of
 * <style> ('anthropic' events or OpenAI chunks), produced on demand. */
export function bigSource(style, n, len) {
  if (style === 'anthropic') {
    return function* gen() {
      yield anthStart();
      yield { event: 'content_block_start', data: { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } } };
      for (let i = 0; i < n; i++) {
        yield { event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: piece(i, len) } } };
      }
      yield { event: 'content_block_stop', data: { type: 'content_block_stop', index: 0 } };
      yield { event: 'message_delta', data: { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: n } } };
      yield { event: 'message_stop', data: { type: 'message_stop' } };
    };
  }
  return function* gen() {
    yield oaiChunk({ role: 'assistant', content: '' });
    for (let i = 0; i < n; i++) yield oaiChunk({ content: piece(i, len) });
    yield oaiChunk({}, { finish: 'stop' });
    yield oaiChunk(null, { choices: [], usage: { prompt_tokens: 10, completion_tokens: n, total_tokens: 10 + n } });
    yield 'data: [DONE]\n\n';
  };
}

/** VmRSS of a process in bytes (Linux /proc). */
export function rssBytes(pid) {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(s);
  assert.ok(m, `VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** True when <pid> runs under AddressSanitizer (its shadow memory makes VmSize terabytes). */
export function isAsan(pid) {
  const m = /^VmSize:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return !!m && Number(m[1]) > 1024 * 1024 * 1024; // > 1 TiB
}

/** The open-file limit line and the like: JSON log lines of the daemon with msg === <msg>. */
export function logLines(d, msg) {
  return d.jsonLines().filter((l) => l.msg === msg);
}
