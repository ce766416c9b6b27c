// A scripted mock upstream (an OpenAI-style and Anthropic-style provider) for the proxy tests.
// Node built-ins only; listens on 127.0.0.1 on a port the kernel picks (listen(0), read back: no race).
//
//   const m = await startMock({ name: 'main' });
//   m.enqueue({ status: 429, headers: { 'retry-after': '7' }, json: { error: { message: 'slow down' } } });
//   ... drive ccproxy ...
//   m.requests[0]   // {method, url, path, query, headers, rawBody, text, json, t, answered, clientClosed, closedAt}
//   m.reset();      // clears the script queue and the recorded requests (call it before each test)
//   await m.close();
//
// A script entry (or a function (record) => entry) answers one request, in queue order:
//   status (200), headers {},
//   json: value | (record) => value    JSON body (an OpenAI chat.completion or Anthropic message is turned
//                                      into the matching SSE stream when the request had "stream": true,
//                                      unless noAutoStream: true)
//   text: string                      text/plain body (set headers['content-type'] for HTML etc.)
//   rawBody: string | Buffer          body bytes as given (no content-type unless set)
//   chunks: [string | {event?, data}] a streamed body (default content-type text/event-stream); an object
//                                     is written as "event: E\ndata: JSON\n\n" (no event line if no event);
//                                     gapMs between chunks
//   delayMs                           wait before answering
//   gate: Promise                     wait until it settles before answering (after delayMs): the test decides
//                                     when the upstream answers
//   hang: true                        never answer (with chunks: send them, then never end)
//   reset: true                       destroy the connection (TCP RST where supported) without answering
//   destroyAfter: true                with chunks: send them, then close the connection without ending the body
//   resetAfter: true                  with chunks/source: send them, then reset the connection (TCP RST)
//   source: () => iterable            a streamed body produced on demand (sync or async iterable of string |
//                                     Buffer | {event?, data} | {pauseMs}), written with backpressure: the mock
//                                     waits for 'drain' whenever the socket does not take more, so
//                                     rec.bytesSent is what the peer's side accepted (give or take ~64 KB);
//                                     rec.waitingSince / rec.maxDrainWaitMs tell whether and how long it was held back
//   A chunks/source element {pauseMs: n} writes nothing and waits n ms (a silence at that point).
//   Every streamed body counts rec.bytesSent as it goes and keeps rec.sentBuffers (Buffers as written;
//   not for source) so byte-exact checks see multibyte characters split across chunks.
//   match: (record) => bool           only answer requests it matches (the first matching entry is used)
//   times: n                          answer n requests (default 1); Infinity for every matching request
// With the queue empty (or nothing matching) the default answers are:
//   POST .../chat/completions     a chat completion echoing the model, with usage (prompt 25, completion 7,
//                                 cached 5), or its SSE form when "stream": true
//   POST .../messages/count_tokens  {"input_tokens": 42}
//   POST .../messages             an Anthropic Message echoing the model, or its SSE form when "stream": true
//   anything else                 404 JSON

import http from 'node:http';
import https from 'node:https';
import { EventEmitter } from 'node:events';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export const DEFAULT_OAI_TEXT = 'Hello from the mock (openai)';
export const DEFAULT_ANTH_TEXT = 'Hello from the mock (anthropic)';
export const DEFAULT_OAI_USAGE = {
  prompt_tokens: 25,
  completion_tokens: 7,
  total_tokens: 32,
  prompt_tokens_details: { cached_tokens: 5, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0 },
};

let idSeq = 0;

/**
 * An OpenAI chat completion.
 * opts: {model, content (string|null), tool_calls, reasoning_content, reasoning, refusal, finish_reason, usage, extraMessage}
 */
export function oaiCompletion(opts = {}) {
  const message = { role: 'assistant', content: opts.content === undefined ? DEFAULT_OAI_TEXT : opts.content };
  if (opts.tool_calls !== undefined) message.tool_calls = opts.tool_calls;
  if (opts.reasoning_content !== undefined) message.reasoning_content = opts.reasoning_content;
  if (opts.reasoning !== undefined) message.reasoning = opts.reasoning;
  if (opts.refusal !== undefined) message.refusal = opts.refusal;
  Object.assign(message, opts.extraMessage || {});
  const choice = {
    index: 0,
    message,
    logprobs: null,
    finish_reason: opts.finish_reason === undefined ? (opts.tool_calls ? 'tool_calls' : 'stop') : opts.finish_reason,
  };
  Object.assign(choice, opts.extraChoice || {});
  return {
    id: `chatcmpl-mock${++idSeq}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: opts.model || 'mock-model',
    choices: [choice],
    usage: opts.usage === undefined ? { ...DEFAULT_OAI_USAGE } : opts.usage,
    system_fingerprint: 'fp_mock',
  };
}

/** One OpenAI tool call. */
export function oaiToolCall(id, name, args) {
  return { id, type: 'function', function: { name, arguments: typeof args === 'string' ? args : JSON.stringify(args) } };
}

/** An Anthropic Message. opts: {model, content, stop_reason, usage, id} */
export function anthMessage(opts = {}) {
  return {
    id: opts.id || `msg_mock${++idSeq}`,
    type: 'message',
    role: 'assistant',
    model: opts.model || 'mock-model',
    content: opts.content || [{ type: 'text', text: DEFAULT_ANTH_TEXT }],
    stop_reason: opts.stop_reason || 'end_turn',
    stop_sequence: null,
    usage: opts.usage || {
      input_tokens: 11, output_tokens: 5, cache_creation_input_tokens: 0, cache_read_input_tokens: 0,
      service_tier: 'standard',
    },
  };
}

/** The Anthropic SSE events ({event, data}) carrying Message <msg>, as the real API streams it. */
export function anthSSE(msg) {
  const ev = (event, data) => ({ event, data: { type: event, ...data } });
  const out = [ev('message_start', {
    message: { ...msg, content: [], stop_reason: null, stop_sequence: null, usage: { ...msg.usage, output_tokens: 1 } },
  })];
  out.push(ev('ping', {}));
  msg.content.forEach((b, index) => {
    if (b.type === 'text') {
      out.push(ev('content_block_start', { index, content_block: { type: 'text', text: '' } }));
      const half = Math.ceil(b.text.length / 2);
      for (const piece of [b.text.slice(0, half), b.text.slice(half)]) {
        if (piece) out.push(ev('content_block_delta', { index, delta: { type: 'text_delta', text: piece } }));
      }
    } else if (b.type === 'thinking') {
      out.push(ev('content_block_start', { index, content_block: { type: 'thinking', thinking: '', signature: '' } }));
      out.push(ev('content_block_delta', { index, delta: { type: 'thinking_delta', thinking: b.thinking } }));
      out.push(ev('content_block_delta', { index, delta: { type: 'signature_delta', signature: b.signature } }));
    } else if (b.type === 'tool_use') {
      out.push(ev('content_block_start', { index, content_block: { type: 'tool_use', id: b.id, name: b.name, input: {} } }));
      const s = JSON.stringify(b.input);
      const half = Math.ceil(s.length / 2);
      out.push(ev('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: '' } }));
      out.push(ev('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: s.slice(0, half) } }));
      out.push(ev('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: s.slice(half) } }));
    } else {
      out.push(ev('content_block_start', { index, content_block: b }));
    }
    out.push(ev('content_block_stop', { index }));
  });
  out.push(ev('message_delta', {
    delta: { stop_reason: msg.stop_reason, stop_sequence: msg.stop_sequence ?? null },
    usage: { output_tokens: msg.usage.output_tokens },
  }));
  out.push(ev('message_stop', {}));
  return out;
}

/** The OpenAI SSE chunks ({data}, then the "[DONE]" line) carrying chat completion <c>. */
export function oaiChunks(c, { includeUsage = true } = {}) {
  const base = { id: c.id, object: 'chat.completion.chunk', created: c.created, model: c.model };
  const ch = c.choices[0];
  const m = ch.message;
  const chunk = (delta, finish = null) => ({
    data: { ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], usage: null },
  });
  const out = [chunk({ role: 'assistant', content: '' })];
  for (const k of ['reasoning_content', 'reasoning']) {
    if (typeof m[k] === 'string' && m[k]) out.push(chunk({ [k]: m[k] }));
  }
  if (typeof m.content === 'string' && m.content) {
    const half = Math.ceil(m.content.length / 2);
    out.push(chunk({ content: m.content.slice(0, half) }));
    if (m.content.length > half) out.push(chunk({ content: m.content.slice(half) }));
  }
  if (typeof m.refusal === 'string' && m.refusal) out.push(chunk({ refusal: m.refusal }));
  (m.tool_calls || []).forEach((tc, index) => {
    const a = tc.function.arguments || '';
    const half = Math.ceil(a.length / 2);
    out.push(chunk({ tool_calls: [{ index, id: tc.id, type: 'function', function: { name: tc.function.name, arguments: '' } }] }));
    if (a.slice(0, half)) out.push(chunk({ tool_calls: [{ index, function: { arguments: a.slice(0, half) } }] }));
    if (a.slice(half)) out.push(chunk({ tool_calls: [{ index, function: { arguments: a.slice(half) } }] }));
  });
  out.push(chunk({}, ch.finish_reason));
  if (includeUsage && c.usage) out.push({ data: { ...base, choices: [], usage: c.usage } });
  out.push('data: [DONE]\n\n');
  return out;
}

function formatChunk(c) {
  if (typeof c === 'string' || Buffer.isBuffer(c)) return c;
  if (c instanceof Uint8Array) return Buffer.from(c);
  const data = typeof c.data === 'string' ? c.data : JSON.stringify(c.data);
  return `${c.event ? `event: ${c.event}\n` : ''}data: ${data}\n\n`;
}

function isChatCompletion(v) {
  return v && typeof v === 'object' && v.object === 'chat.completion' && Array.isArray(v.choices);
}

function isAnthMessage(v) {
  return v && typeof v === 'object' && v.type === 'message' && Array.isArray(v.content);
}

/** The default answer for a request record (see the top of the file). */
export function defaultEntry(rec) {
  const model = rec.json && typeof rec.json.model === 'string' ? rec.json.model : 'mock-model';
  if (rec.method === 'POST' && /\/chat\/completions$/.test(rec.path)) {
    return { json: oaiCompletion({ model }) };
  }
  if (rec.method === 'POST' && /\/messages\/count_tokens$/.test(rec.path)) {
    return { json: { input_tokens: 42 } };
  }
  if (rec.method === 'POST' && /\/messages$/.test(rec.path)) {
    return { json: anthMessage({ model }) };
  }
  return { status: 404, json: { error: { message: `mock: no route for ${rec.method} ${rec.path}`, type: 'not_found' } } };
}

/**
 * Start a mock upstream. tls: {key, cert} (PEM) serves HTTPS instead of HTTP (url starts with https://).
 * → {name, port, url, requests, enqueue, reset, pending, waitForRequests, waitFor, lastRequest, close}
 */
export async function startMock({ name = 'mock', tls = null } = {}) {
  const requests = [];
  let queue = [];
  const sockets = new Set();
  const events = new EventEmitter();
  events.setMaxListeners(100);

  const server = (tls ? https.createServer.bind(https, { key: tls.key, cert: tls.cert }) : http.createServer)((req, res) => {
    const chunks = [];
    const url = new URL(req.url, 'http://mock.invalid');
    const rec = {
      method: req.method,
      url: req.url,
      path: url.pathname,
      query: url.search,
      headers: { ...req.headers },
      rawBody: null,
      text: null,
      json: undefined,
      t: Date.now(),
      bodyComplete: false,
      answered: false,
      answeredAt: null,
      clientClosed: false,
      closedAt: null,
      entry: null,
    };
    let done = false;
    let answering = false;
    res.on('finish', () => { rec.answered = true; rec.answeredAt = Date.now(); events.emit('change'); });
    res.on('close', () => {
      if (!rec.answered && !rec.resetByMock) {
        rec.clientClosed = true;
        rec.closedAt = Date.now();
        events.emit('change');
      }
    });
    const finishBody = () => {
      if (done) return;
      done = true;
      rec.rawBody = Buffer.concat(chunks);
      rec.text = rec.rawBody.toString('utf8');
      try { rec.json = rec.text ? JSON.parse(rec.text) : undefined; } catch { rec.json = undefined; }
      requests.push(rec);
      events.emit('change');
      if (!answering) {
        answering = true;
        answer(rec, req, res).catch((e) => {
          rec.mockError = String(e && e.stack ? e.stack : e);
          try { res.destroy(); } catch { /* ignore */ }
        });
      }
    };
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => { rec.bodyComplete = true; finishBody(); });
    req.on('error', () => finishBody());
    req.on('close', () => finishBody());
  });
  server.keepAliveTimeout = 5000;
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  function takeEntry(rec) {
    for (let i = 0; i < queue.length; i++) {
      const q = queue[i];
      if (q.match && !q.match(rec)) continue;
      q.left -= 1;
      if (q.left <= 0) queue.splice(i, 1);
      return q.entry;
    }
    return null;
  }

  async function answer(rec, req, res) {
    let entry = takeEntry(rec);
    if (typeof entry === 'function') entry = entry(rec);
    if (!entry) entry = defaultEntry(rec);
    rec.entry = entry;
    const gone = () => res.destroyed || rec.clientClosed;
    if (entry.delayMs) await sleep(entry.delayMs);
    if (entry.gate) await Promise.resolve(entry.gate).catch(() => {});
    if (gone()) return;
    if (entry.reset) {
      rec.resetByMock = true;
      const s = req.socket;
      if (typeof s.resetAndDestroy === 'function') s.resetAndDestroy();
      else s.destroy();
      return;
    }
    const status = entry.status ?? 200;
    const headers = { ...(entry.headers || {}) };
    const hasHeader = (n) => Object.keys(headers).some((k) => k.toLowerCase() === n);
    let streamChunks = entry.chunks || null;
    let body = null;
    if (entry.source) return streamSource(entry, rec, req, res, status, headers, hasHeader, gone);
    if (!streamChunks && entry.hang) return; // never answer
    if (!streamChunks) {
      if (entry.rawBody !== undefined) {
        body = Buffer.isBuffer(entry.rawBody) ? entry.rawBody : Buffer.from(String(entry.rawBody));
      } else if (entry.text !== undefined) {
        body = Buffer.from(String(entry.text));
        if (!hasHeader('content-type')) headers['content-type'] = 'text/plain; charset=utf-8';
      } else {
        const v = typeof entry.json === 'function' ? entry.json(rec) : entry.json;
        const wantsStream = rec.json && rec.json.stream === true && status >= 200 && status < 300 && !entry.noAutoStream;
        if (wantsStream && isChatCompletion(v)) {
          streamChunks = oaiChunks(v, { includeUsage: !!(rec.json.stream_options && rec.json.stream_options.include_usage) });
        } else if (wantsStream && isAnthMessage(v)) {
          streamChunks = anthSSE(v);
        } else {
          body = Buffer.from(JSON.stringify(v === undefined ? null : v));
          if (!hasHeader('content-type')) headers['content-type'] = 'application/json';
        }
      }
    }
    if (streamChunks) {
      if (!hasHeader('content-type')) headers['content-type'] = 'text/event-stream';
      if (!hasHeader('cache-control')) headers['cache-control'] = 'no-cache';
      res.writeHead(status, headers);
      rec.sent = '';
      rec.sentBuffers = [];
      rec.bytesSent = 0;
      for (let i = 0; i < streamChunks.length; i++) {
        if (gone()) return;
        const c = streamChunks[i];
        if (c && typeof c === 'object' && !Buffer.isBuffer(c) && !(c instanceof Uint8Array) && c.pauseMs !== undefined) {
          await sleep(c.pauseMs);
          continue;
        }
        const s = formatChunk(c);
        rec.sent += s;
        const b = Buffer.isBuffer(s) ? s : Buffer.from(s);
        rec.sentBuffers.push(b);
        rec.bytesSent += b.length;
        res.write(s);
        if (entry.gapMs && i + 1 < streamChunks.length) await sleep(entry.gapMs);
      }
      if (endSpecial(entry, rec, req)) return;
      if (entry.hang) return;
      res.end();
      return;
    }
    if (!hasHeader('content-length')) headers['content-length'] = body.length;
    rec.sent = body.toString('utf8');
    res.writeHead(status, headers);
    res.end(body);
  }

  /** destroyAfter / resetAfter: end the connection without finishing the body. True if it did. */
  function endSpecial(entry, rec, req) {
    if (entry.destroyAfter) { // cut the body short: close without finishing it
      rec.resetByMock = true;
      req.socket.destroy();
      return true;
    }
    if (entry.resetAfter) {
      rec.resetByMock = true;
      const s = req.socket;
      if (typeof s.resetAndDestroy === 'function') s.resetAndDestroy();
      else s.destroy();
      return true;
    }
    return false;
  }

  /** A body from entry.source(rec), written with backpressure. */
  async function streamSource(entry, rec, req, res, status, headers, hasHeader, gone) {
    if (!hasHeader('content-type')) headers['content-type'] = 'text/event-stream';
    if (!hasHeader('cache-control')) headers['cache-control'] = 'no-cache';
    res.writeHead(status, headers);
    rec.bytesSent = 0;
    rec.stalls = 0; // writes the socket did not take at once (every ~16 KB even with a fast reader)
    rec.waitingSince = null; // set while the mock waits for 'drain'
    rec.maxDrainWaitMs = 0; // the longest such wait: how long the peer held the stream back
    const drainOrClose = () => new Promise((resolve) => {
      const done = () => { res.off('drain', done); res.off('close', done); resolve(); };
      res.on('drain', done);
      res.on('close', done);
    });
    for await (const c of entry.source(rec)) {
      if (gone()) return;
      if (c && typeof c === 'object' && !Buffer.isBuffer(c) && !(c instanceof Uint8Array) && c.pauseMs !== undefined) {
        await sleep(c.pauseMs);
        continue;
      }
      const s = formatChunk(c);
      const n = Buffer.byteLength(s);
      rec.bytesSent += n;
      if (!res.write(s)) {
        rec.stalls++;
        rec.waitingSince = Date.now();
        events.emit('change');
        await drainOrClose();
        rec.maxDrainWaitMs = Math.max(rec.maxDrainWaitMs, Date.now() - rec.waitingSince);
        rec.waitingSince = null;
      }
    }
    if (gone()) return;
    if (endSpecial(entry, rec, req)) return;
    if (entry.hang) return;
    res.end();
  }

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => { server.off('error', reject); resolve(); });
  });
  const { port } = server.address();

  const m = {
    name,
    port,
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    requests,
    /** Queue script entries (objects or functions). An entry's `times`/`match` apply to it. */
    enqueue(...entries) {
      for (const e of entries) {
        const times = typeof e === 'object' && e.times !== undefined ? e.times : 1;
        const match = typeof e === 'object' ? e.match : undefined;
        queue.push({ entry: e, left: times, match });
      }
      return m;
    },
    /** Clear the queue and the recorded requests. */
    reset() {
      queue = [];
      requests.length = 0;
    },
    pending() { return queue.length; },
    lastRequest() { return requests[requests.length - 1]; },
    /** Wait (bounded) until pred(requests) is truthy; returns its value. */
    waitFor(pred, { timeoutMs = 3000, what = 'mock condition' } = {}) {
      return new Promise((resolve, reject) => {
        let timer;
        const check = () => {
          let v;
          try { v = pred(requests); } catch (e) { v = undefined; }
          if (v) {
            clearTimeout(timer);
            events.off('change', check);
            resolve(v);
          }
        };
        timer = setTimeout(() => {
          events.off('change', check);
          reject(new Error(`mock ${name}: timed out after ${timeoutMs} ms waiting for ${what}; ` +
            `received: ${requests.map((r) => `${r.method} ${r.url}`).join(', ') || 'nothing'}`));
        }, timeoutMs);
        events.on('change', check);
        check();
      });
    },
    /** Wait (bounded) until at least n requests were received; returns the n-th. */
    async waitForRequests(n = 1, timeoutMs = 3000) {
      await m.waitFor((r) => r.length >= n, { timeoutMs, what: `${n} request(s)` });
      return requests[n - 1];
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };
  return m;
}
