// Fallback chains (models.fallbacks, docs/resilience.md): before the client has a byte, a candidate that
// fails with 408/409/429/500/502/503/504/529, cannot be reached, or sends no first byte in time hands the
// request to the next one, of either style; never on a 400, never after the first byte. The answer names
// its provider (x-ccproxy-provider, the access line), each hand-over is logged. Then hostile
// models.fallbacks values, and the real Claude Code CLI whose first provider answers 529.
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDaemon, request, runCli, closedPort, CONFIG_EXIT, SANITIZER_RE } from './lib/daemon.mjs';
import { startMock, DEFAULT_OAI_TEXT, DEFAULT_ANTH_TEXT } from './lib/mock-upstream.mjs';
import { openStream, oaiTextChunks, streamedText } from './lib/stream.mjs';
import { checkClaude, runClaude, openaiResponder, MOCK_HI } from './lib/claude-cli.mjs';

let A; // OpenAI style, the first candidate
let B; // OpenAI style, the second
let C; // Anthropic style, the third
let S; // never answers (first-byte timeout)
let d;

const oaiError = (status) => ({ status, json: { error: { message: `mock says ${status}`, type: 'server_error' } } });
const body = (model, extra = {}) => ({ model, max_tokens: 50, messages: [{ role: 'user', content: 'hi' }], ...extra });
const post = (model, extra) => request(d.port, {
  method: 'POST', path: '/v1/messages', body: body(model, extra), timeoutMs: 15000,
  headers: { 'anthropic-version': '2023-06-01', 'x-api-key': 'k' },
});
const handOvers = (from) => d.jsonLines().slice(from).filter((j) => j.msg === 'upstream failed; trying the next candidate');
const lastAccess = () => d.jsonLines().filter((j) => j.msg === 'request').pop();
const lineCount = () => d.jsonLines().length;

function settings(dead) {
  return {
    providers: {
      oa: { baseURL: `${A.url}/v1`, apiKey: 'sk-oa' },
      ob: { baseURL: `${B.url}/v1`, apiKey: 'sk-ob' },
      an: { baseURL: C.url, responseStyle: 'anthropic', apiKey: 'sk-an' },
      dead: { baseURL: `http://127.0.0.1:${dead}/v1`, apiKey: 'sk-dead', connectTimeoutMs: 2000 },
      slow: { baseURL: `${S.url}/v1`, apiKey: 'sk-slow', firstByteTimeoutMs: 500 },
      nokey: { baseURL: 'https://api.openai.com/v1' },
    },
    models: {
      bigModel: 'm-a@oa', smallModel: 'm-b@ob', preferredProvider: 'oa',
      map: { 'chain-*': 'm-a@oa' },
      fallbacks: {
        'm-a@oa': ['m-b@ob', 'm-c@an'],
        'm-dead@dead': ['m-b@ob'],
        'm-slow@slow': ['m-b@ob'],
        'm-k@oa': ['m-n@nokey', 'm-a@oa', 'm-b@ob'],
        'm-solo': ['m-solo@oa'],
      },
    },
    ledger: { enabled: false },
    retry: { maxAttempts: 1 }, // the chain alone (each candidate asked again: tests/e2e/99-retry.test.mjs)
    breaker: { failures: 0, failureRate: 0 }, // every test scripts failures of A (the breaker: 100-pools)
  };
}

before(async () => {
  [A, B, C, S] = await Promise.all(['A', 'B', 'C', 'S'].map((name) => startMock({ name })));
  d = await startDaemon({ homeSettings: settings(await closedPort()) });
});
after(async () => {
  if (d) await d.stop();
  for (const m of [A, B, C, S]) if (m) await m.close();
});
beforeEach(() => { for (const m of [A, B, C, S]) m.reset(); });

describe('the next candidate, before the first byte', () => {
  for (const status of [408, 409, 429, 500, 502, 503, 504, 529]) {
    test(`${status} from the first → the second answers; the answer and the log name it`, async () => {
      A.enqueue(oaiError(status));
      const from = lineCount();
      const r = await post('chain-1'); // models.map → m-a@oa, whose chain is ob, an
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.content[0].text, DEFAULT_OAI_TEXT);
      assert.equal(r.headers['x-ccproxy-provider'], 'ob');
      assert.equal(A.requests.length, 1);
      assert.equal(B.requests.length, 1);
      assert.equal(B.requests[0].json.model, 'm-b', 'the fallback\'s own model');
      assert.equal(B.requests[0].headers.authorization, 'Bearer sk-ob', 'the fallback\'s own key');
      assert.equal(C.requests.length, 0);
      const [h] = handOvers(from);
      assert.equal(h.provider, 'oa');
      assert.equal(h.why, `HTTP ${status}`);
      assert.equal(h.next, 'ob');
      const acc = lastAccess();
      assert.equal(acc.provider, 'ob');
      assert.equal(acc.upstream_model, 'm-b');
      assert.equal(acc.status, 200);
    });
  }

  test('529 then 503: the third, of the other style (Anthropic), answers a stream', async () => {
    A.enqueue(oaiError(529));
    B.enqueue(oaiError(503));
    const st = openStream(d.port, body('claude-sonnet-4-5', { stream: true })); // bigModel m-a@oa
    const r = await st.done;
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-ccproxy-provider'], 'an');
    assert.equal(streamedText(r.events), DEFAULT_ANTH_TEXT);
    assert.equal(C.requests[0].json.model, 'm-c');
    assert.equal(C.requests[0].json.stream, true);
    assert.equal(C.requests[0].headers['x-api-key'], 'sk-an');
  });

  test('every candidate fails: the last one\'s error, mapped as always, naming its provider', async () => {
    A.enqueue(oaiError(529));
    B.enqueue(oaiError(502));
    C.enqueue({ status: 529, json: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } });
    const r = await post('claude-sonnet-4-5');
    assert.equal(r.status, 529, r.text);
    assert.equal(r.json.error.type, 'overloaded_error');
    assert.equal(r.headers['x-ccproxy-provider'], 'an');
    assert.deepEqual([A, B, C].map((m) => m.requests.length), [1, 1, 1]);
  });

  test('a provider that cannot be reached: the next one answers', async () => {
    const from = lineCount();
    const r = await post('m-dead@dead');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['x-ccproxy-provider'], 'ob');
    assert.match(handOvers(from)[0].why, /unreachable|refused/);
  });

  test('no first byte within firstByteTimeoutMs (500 ms): the next one answers, soon', async () => {
    S.enqueue({ hang: true });
    const t0 = Date.now();
    const r = await post('m-slow@slow');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['x-ccproxy-provider'], 'ob');
    assert.ok(Date.now() - t0 < 5000, `answered after ${Date.now() - t0} ms`);
    assert.equal(S.requests.length, 1);
  });

  test('a candidate without its key is skipped; one named twice is tried once', async () => {
    A.enqueue(oaiError(503));
    const from = lineCount();
    const r = await post('m-k@oa'); // chain: nokey (no key), m-a@oa, m-b@ob
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['x-ccproxy-provider'], 'oa', 'm-a@oa after m-k@oa on the same provider');
    assert.equal(A.requests.length, 2);
    assert.deepEqual(A.requests.map((q) => q.json.model), ['m-k', 'm-a']);
    assert.equal(handOvers(from)[0].next, 'oa');
  });
});

describe('no hand-over', () => {
  test('a 400 is the client\'s problem: answered as it is, no other candidate asked', async () => {
    A.enqueue({ status: 400, json: { error: { message: 'bad request from mock', type: 'invalid_request_error' } } });
    const r = await post('claude-sonnet-4-5');
    assert.equal(r.status, 400, r.text);
    assert.equal(r.headers['x-ccproxy-provider'], 'oa');
    assert.equal(B.requests.length + C.requests.length, 0);
  });

  test('after the first byte: the stream ends with an error event, the next candidate is not asked', async () => {
    // the head and a first event reach the client, then the upstream connection breaks
    A.enqueue({ chunks: [...oaiTextChunks(['partial '], { finish: null }), { pauseMs: 300 }], resetAfter: true });
    const st = openStream(d.port, body('claude-sonnet-4-5', { stream: true }));
    const r = await st.done;
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-ccproxy-provider'], 'oa');
    assert.equal(streamedText(r.events), 'partial ');
    assert.equal(r.events.filter((e) => e.event === 'error').length, 1, r.text);
    assert.equal(B.requests.length + C.requests.length, 0);
  });

  test('a route without a chain answers the upstream\'s 529 as before', async () => {
    B.enqueue(oaiError(529));
    const r = await post('claude-haiku-4-5'); // smallModel m-b@ob: no fallbacks
    assert.equal(r.status, 529, r.text);
    assert.equal(r.headers['x-ccproxy-provider'], 'ob');
    assert.equal(A.requests.length + C.requests.length, 0);
  });
});

describe('hostile models.fallbacks', () => {
  const base = { providers: { oa: { baseURL: 'http://127.0.0.1:9/v1', apiKey: 'k' } } };
  const cases = [
    ['not an object', ['m@oa'], /models\.fallbacks: expected an object/],
    ['a value that is not an array', { 'm@oa': 'x@oa' }, /models\.fallbacks\.m@oa: expected a model name as the key and an array of 1 to 7/],
    ['an empty array', { 'm@oa': [] }, /models\.fallbacks\.m@oa: expected/],
    ['eight candidates', { 'm@oa': Array.from({ length: 8 }, (_, i) => `x${i}@oa`) }, /models\.fallbacks\.m@oa: expected/],
    ['a number in the list', { 'm@oa': ['x@oa', 5] }, /models\.fallbacks\.m@oa: expected/],
    ['an unknown provider', { 'm@oa': ['x@nosuch'] }, /models\.fallbacks\.m@oa: provider "nosuch" in "x@nosuch" is not configured/],
    ['an unknown provider in the key', { 'm@nosuch': ['x@oa'] }, /provider "nosuch"/],
    ['an empty key', { '': ['x@oa'] }, /models\.fallbacks\.: expected/],
  ];
  for (const [name, value, re] of cases) {
    test(`${name}: exit 78 naming it`, async () => {
      const r = await runCli(['config'], { homeSettings: { ...base, models: { fallbacks: value } } });
      assert.equal(r.code, CONFIG_EXIT, r.stdout + r.stderr);
      assert.match(r.stderr, re);
      assert.doesNotMatch(r.stderr, SANITIZER_RE);
    });
  }
});

describe('the real Claude Code CLI', () => {
  test('its first provider answers 529: claude -p gets its answer from the second, streamed', async () => {
    checkClaude();
    A.enqueue({ ...oaiError(529), times: Infinity, match: (rec) => /chat\/completions$/.test(rec.path) });
    B.enqueue(openaiResponder());
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ccproxy-fb-cc-'));
    try {
      const res = await runClaude(['-p', 'say hi', '--output-format', 'json'], { baseURL: `http://127.0.0.1:${d.port}`, cwd: work });
      const ctx = `\nexit ${res.code}\nstdout: ${res.stdout.slice(0, 1500)}\nstderr: ${res.stderr.slice(0, 1500)}`;
      assert.equal(res.code, 0, ctx);
      assert.equal(res.json.is_error, false, ctx);
      assert.ok(String(res.json.result).includes(MOCK_HI), ctx);
      const calls = B.requests.filter((r) => /chat\/completions$/.test(r.path));
      assert.ok(calls.length >= 1, ctx);
      for (const c of calls) assert.equal(c.json.stream, true);
      assert.ok(A.requests.length >= 1);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
});
