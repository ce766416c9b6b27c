// Retry-After (docs/resilience.md): a 429/503/529 that names a short wait (retry-after in seconds or as
// an HTTP date, retry-after-ms, OpenAI's x-ratelimit-reset-*) is waited for on a loop timer and the same
// provider asked again; a long one is not waited for: the next candidate, or the client gets a 429 with
// an integer retry-after (the earliest any candidate frees up). 5xx without a wait: backoff with jitter.
// All within retry.maxAttempts per candidate and the client's own timeout (x-stainless-timeout); a
// client that leaves during a wait ends it. Then hostile retry settings.
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, request, runCli, CONFIG_EXIT, waitFor, sleep } from './lib/daemon.mjs';
import { startMock, DEFAULT_OAI_TEXT } from './lib/mock-upstream.mjs';
import { openStream } from './lib/stream.mjs';

let A; // the single candidate of m-a@oa, the first of chain-*
let B; // the second of the chain
let C; // the third
let d;

const err = (status, headers = {}) => ({ status, headers, json: { error: { message: `mock ${status}`, type: 'rate_limit' } } });
const post = (model, headers = {}) => request(d.port, {
  method: 'POST', path: '/v1/messages', timeoutMs: 20000,
  body: { model, max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] },
  headers: { 'anthropic-version': '2023-06-01', 'x-api-key': 'k', ...headers },
});
const waits = (from) => d.jsonLines().slice(from).filter((j) => j.msg === 'upstream asks to wait; retrying');
const mark = () => d.jsonLines().length;
const gap = (m) => m.requests[1].t - m.requests[0].t;

before(async () => {
  [A, B, C] = await Promise.all(['A', 'B', 'C'].map((name) => startMock({ name })));
  d = await startDaemon({
    homeSettings: {
      providers: {
        oa: { baseURL: `${A.url}/v1`, apiKey: 'sk-oa' },
        ob: { baseURL: `${B.url}/v1`, apiKey: 'sk-ob' },
        oc: { baseURL: `${C.url}/v1`, apiKey: 'sk-oc' },
      },
      models: {
        bigModel: 'm-a@oa', smallModel: 'm-a@oa', preferredProvider: 'oa',
        map: { 'chain-*': 'm-x@oa' },
        fallbacks: { 'm-x@oa': ['m-b@ob', 'm-c@oc'] },
      },
      // retry: the defaults (maxWaitSeconds 10, maxAttempts 3)
      breaker: { failures: 0, failureRate: 0 }, // every test scripts failures of A (the breaker: 100-pools)
      ledger: { enabled: false },
    },
  });
});
after(async () => {
  if (d) await d.stop();
  for (const m of [A, B, C]) if (m) await m.close();
});
beforeEach(() => { for (const m of [A, B, C]) m.reset(); });

describe('a short wait is waited for, then the same provider asked again', () => {
  const forms = [
    ['retry-after: 1', { 'retry-after': '1' }, 1000],
    ['retry-after-ms: 400', { 'retry-after-ms': '400', 'retry-after': '9' }, 400],
    ['retry-after as an HTTP date', () => ({ 'retry-after': new Date(Date.now() + 2000).toUTCString() }), 1000],
    ['x-ratelimit-reset-requests: 1s', { 'x-ratelimit-reset-requests': '1s' }, 1000],
  ];
  for (const [name, hdrs, atLeast] of forms) {
    test(`429 with ${name}`, async () => {
      A.enqueue(err(429, typeof hdrs === 'function' ? hdrs() : hdrs));
      const from = mark();
      const r = await post('claude-sonnet-4-5');
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.content[0].text, DEFAULT_OAI_TEXT);
      assert.equal(A.requests.length, 2);
      assert.ok(gap(A) >= atLeast - 50, `asked again after ${gap(A)} ms`);
      const [w] = waits(from);
      assert.equal(w.why, 'retry-after');
      assert.equal(w.attempt, 2);
    });
  }

  test('503 and 529 with a retry-after are waited for too', async () => {
    A.enqueue(err(503, { 'retry-after': '1' }));
    A.enqueue(err(529, { 'retry-after': '1' }));
    const r = await post('claude-sonnet-4-5');
    assert.equal(r.status, 200, r.text);
    assert.equal(A.requests.length, 3);
  });
});

describe('a long wait is not', () => {
  test('alone: the client gets the 429 at once, with the wait as an integer retry-after', async () => {
    A.enqueue(err(429, { 'retry-after': new Date(Date.now() + 61000).toUTCString() }));
    const t0 = Date.now();
    const r = await post('claude-sonnet-4-5');
    assert.equal(r.status, 429, r.text);
    assert.equal(r.json.error.type, 'rate_limit_error');
    assert.match(r.headers['retry-after'], /^\d+$/);
    assert.ok(Number(r.headers['retry-after']) >= 58 && Number(r.headers['retry-after']) <= 61, r.headers['retry-after']);
    assert.equal(A.requests.length, 1);
    assert.ok(Date.now() - t0 < 3000);
  });

  test('in a chain: the next candidate answers at once', async () => {
    A.enqueue(err(429, { 'retry-after': '60' }));
    const r = await post('chain-1');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['x-ccproxy-provider'], 'ob');
    assert.equal(A.requests.length, 1);
  });

  test('every candidate busy: a 429 whose retry-after is the earliest any of them frees up', async () => {
    A.enqueue(err(429, { 'retry-after': '30' }));
    B.enqueue(err(502));
    C.enqueue(err(529, { 'retry-after': '45' }));
    const r = await post('chain-2');
    assert.equal(r.status, 429, r.text);
    assert.equal(r.json.error.type, 'rate_limit_error');
    assert.ok(['29', '30'].includes(r.headers['retry-after']), r.headers['retry-after']);
    assert.equal(r.headers['x-ccproxy-provider'], 'oc');
    assert.deepEqual([A, B, C].map((m) => m.requests.length), [1, 1, 1]);
  });

  test('longer than the client\'s own timeout (x-stainless-timeout): not waited for', async () => {
    A.enqueue(err(429, { 'retry-after': '5' }));
    const r = await post('claude-sonnet-4-5', { 'x-stainless-timeout': '3' });
    assert.equal(r.status, 429, r.text);
    assert.equal(r.headers['retry-after'], '5');
    assert.equal(A.requests.length, 1);
  });
});

describe('backoff and the attempt budget', () => {
  test('503 without a wait: asked again after a backoff, up to retry.maxAttempts (3)', async () => {
    A.enqueue(err(503));
    A.enqueue(err(503));
    const from = mark();
    const r = await post('claude-sonnet-4-5');
    assert.equal(r.status, 200, r.text);
    assert.equal(A.requests.length, 3);
    const w = waits(from);
    assert.deepEqual(w.map((x) => x.why), ['backoff', 'backoff']);
    assert.ok(w[0].wait_ms >= 250 && w[0].wait_ms < 500, JSON.stringify(w[0]));
    assert.ok(w[1].wait_ms >= 500 && w[1].wait_ms < 1000, JSON.stringify(w[1]));
  });

  test('three 503s: the third is the answer (mapped as always: overloaded), and no fourth request is sent', async () => {
    for (let i = 0; i < 3; i++) A.enqueue(err(503));
    const r = await post('claude-sonnet-4-5');
    assert.equal(r.status, 529, r.text);
    assert.equal(r.json.error.type, 'overloaded_error');
    await sleep(1200);
    assert.equal(A.requests.length, 3);
  });

  test('a 400 is never asked again', async () => {
    A.enqueue({ status: 400, json: { error: { message: 'bad', type: 'invalid_request_error' } } });
    const r = await post('claude-sonnet-4-5');
    assert.equal(r.status, 400);
    assert.equal(A.requests.length, 1);
  });

  test('a client that leaves during a wait: nothing more is sent, 499 logged', async () => {
    A.enqueue(err(429, { 'retry-after': '2' }));
    const from = mark();
    const st = openStream(d.port, { model: 'claude-sonnet-4-5', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'hi' }] });
    await waitFor(() => waits(from).length === 1, { what: 'the wait' });
    st.destroy();
    await waitFor(() => d.jsonLines().slice(from).some((j) => j.msg === 'request' && j.status === 499),
      { what: 'the 499 access line' });
    await sleep(2500); // past the 2 s the upstream asked for
    assert.equal(A.requests.length, 1, 'no second request after the client left');
  });
});

describe('hostile retry settings', () => {
  const cases = [
    [{ maxWaitSeconds: -1 }, /retry\.maxWaitSeconds: expected an integer from 0 to 300/],
    [{ maxWaitSeconds: 301 }, /retry\.maxWaitSeconds/],
    [{ maxWaitSeconds: '5' }, /retry\.maxWaitSeconds/],
    [{ maxAttempts: 0 }, /retry\.maxAttempts: expected an integer from 1 to 10/],
    [{ maxAttempts: 11 }, /retry\.maxAttempts/],
    [{ maxAttempt: 3 }, null], // a misspelt key: a warning naming it, the config still loads
    ['fast', /retry: expected an object/],
  ];
  for (const [value, re] of cases) {
    test(`retry = ${JSON.stringify(value)}`, async () => {
      const r = await runCli(['config'], { homeSettings: { retry: value } });
      if (re === null) {
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /retry\.maxAttempt/);
      } else {
        assert.equal(r.code, CONFIG_EXIT, r.stdout + r.stderr);
        assert.match(r.stderr, re);
      }
    });
  }
});
