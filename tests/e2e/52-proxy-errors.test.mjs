// Upstream failures as the client sees them (docs/protocol-notes.md, "Errors", "Anthropic errors"): HTTP
// errors of OpenAI-style providers in every body shape, non-JSON answers, which errors the client may retry
// (x-should-retry, and the SDK's own retries left on), transport failures (down, no answer, reset, a TLS
// certificate that does not verify, a host name that does not resolve, connectTimeoutMs) for both styles,
// and the client leaving while the upstream is still working.
import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { assertError, rawConnect, request, waitFor, startDaemon, validBody } from './lib/daemon.mjs';
import { setupProxy, rejectsApi, CLIENT_KEY } from './lib/proxy.mjs';
import { oaiCompletion, startMock, DEFAULT_OAI_TEXT } from './lib/mock-upstream.mjs';
import { fullBacklogPort, selfSignedCert } from './lib/sockets.mjs';

const PROV_KEY = 'sk-prov-SECRET-errors-1234';
const GEM_KEY = 'g-key-SECRET-errors';
const OR_KEY = 'or-key-SECRET-errors';
const ANTH_KEY = 'sk-ant-prov-SECRET-errors';
const KEYS = [PROV_KEY, GEM_KEY, OR_KEY, ANTH_KEY];

let env;
let main;
let alt;
let client;

before(async () => {
  env = await setupProxy({
    settings: ({ main: m, alt: a, downPort }) => ({
      providers: {
        // named "openai" but tested for the generic rules: a provider named openai is the OpenAI flavor
        // whatever its host unless "flavor" says otherwise
        openai: { baseURL: `${m.url}/v1`, apiKey: PROV_KEY, flavor: 'generic' },
        gemini: { baseURL: m.url, apiKey: GEM_KEY },
        openrouter: { baseURL: `${a.url}/api/v1`, apiKey: OR_KEY },
        anth: { baseURL: m.url, responseStyle: 'anthropic', apiKey: ANTH_KEY },
        down: { baseURL: `http://127.0.0.1:${downPort}/v1`, apiKey: PROV_KEY, connectTimeoutMs: 2000 },
        downanth: { baseURL: `http://127.0.0.1:${downPort}`, responseStyle: 'anthropic', apiKey: ANTH_KEY, connectTimeoutMs: 2000 },
        slow: { baseURL: `${m.url}/slow/v1`, apiKey: PROV_KEY, firstByteTimeoutMs: 500 },
        slowanth: { baseURL: `${m.url}/slowanth`, responseStyle: 'anthropic', apiKey: ANTH_KEY, firstByteTimeoutMs: 500 },
      },
      models: { bigModel: 'big-up@openai', smallModel: 'small-up@openai', preferredProvider: 'openai' },
    }),
  });
  ({ main, alt, client } = env);
});
after(async () => { if (env) await env.close(); });
beforeEach(() => env.resetMocks());

const body = (model, extra = {}) => ({ model, max_tokens: 32, messages: [{ role: 'user', content: 'Hello' }], ...extra });
const ctx = () => `\n--- daemon stderr (tail) ---\n${env.stderrTail()}`;

function assertNoKeys(res) {
  const all = res.text + JSON.stringify(res.headers);
  for (const k of KEYS) assert.ok(!all.includes(k), `provider key ${k} leaked to the client: ${res.text}`);
}

async function healthy() {
  const h = await request(env.d.port, { path: '/health', timeoutMs: 2000 });
  assert.equal(h.status, 200, `daemon healthy afterwards${ctx()}`);
  assert.ok(env.d.alive(), 'daemon still running');
}

describe('HTTP errors from an OpenAI-style upstream', () => {
  for (const [up, status, type, extra] of [
    [400, 400, 'invalid_request_error', { type: 'invalid_request_error', param: 'max_tokens', code: 'unsupported_parameter' }],
    [401, 401, 'authentication_error', { type: 'invalid_request_error', code: 'invalid_api_key' }],
    [403, 403, 'permission_error', { type: 'invalid_request_error', code: 'unsupported_country_region_territory' }],
    [404, 404, 'not_found_error', { type: 'invalid_request_error', code: 'model_not_found' }],
    [413, 413, 'request_too_large', { type: 'invalid_request_error', code: null }],
    [422, 400, 'invalid_request_error', { type: 'invalid_request_error', code: null }],
    [429, 429, 'rate_limit_error', { type: 'requests', code: 'rate_limit_exceeded' }],
    [500, 500, 'api_error', { type: 'server_error', code: null }],
    [502, 529, 'overloaded_error', { type: 'server_error', code: null }],
    [503, 529, 'overloaded_error', { type: 'server_error', code: null }],
    [529, 529, 'overloaded_error', { type: 'server_error', code: null }],
  ]) {
    test(`upstream ${up} → ${status} ${type}, upstream message kept, provider named, key not leaked`, async () => {
      const message = up === 401
        ? `Incorrect API key provided: ${PROV_KEY}. You can find your API key at https://platform.openai.com/account/api-keys.`
        : `upstream problem number ${up} happened`;
      main.enqueue({
        status: up,
        headers: up === 429 ? { 'retry-after': '7' } : {},
        json: { error: { message, ...extra } },
      });
      const res = await env.post('/v1/messages', body('gpt-4o@openai'));
      assertError(res, status, type, { includes: ['openai'] });
      assertNoKeys(res);
      if (up === 401) {
        assert.ok(res.json.error.message.includes('Incorrect API key provided'), `upstream message kept: ${res.text}`);
      } else {
        assert.ok(res.json.error.message.includes(message), `upstream message kept: ${res.text}`);
      }
      if (up === 429) assert.equal(res.headers['retry-after'], '7', 'retry-after copied');
      // the client must change a 4xx request (x-should-retry: false); 408/409/429 and 5xx are worth a retry
      const retryable = status === 429 || status >= 500;
      assert.equal(res.headers['x-should-retry'], retryable ? undefined : 'false',
        `x-should-retry for ${status}: ${JSON.stringify(res.headers)}`);
      assert.equal(main.requests.length, 1, 'one upstream attempt');
      assert.equal(main.requests[0].path, '/v1/chat/completions');
    });
  }

  test('SDK view of an upstream 429: RateLimitError with retry-after and requestID', async () => {
    main.enqueue({ status: 429, headers: { 'retry-after': '7' }, json: { error: { message: 'Rate limit reached for gpt-4o', type: 'requests', code: 'rate_limit_exceeded' } } });
    const err = await rejectsApi(client.messages.create(body('gpt-4o@openai')), 429, 'rate_limit_error',
      { includes: ['Rate limit reached for gpt-4o'], excludes: KEYS });
    assert.equal(err.constructor.name, 'RateLimitError');
    assert.equal(err.headers.get('retry-after'), '7');
  });

  test('a stream request answered by an upstream error gets the JSON error, not SSE', async () => {
    main.enqueue({ status: 503, json: { error: { message: 'The engine is currently overloaded, please try again later', type: 'server_error' } } });
    const res = await env.post('/v1/messages', body('gpt-4o@openai', { stream: true }));
    assertError(res, 529, 'overloaded_error', { includes: ['overloaded'] });
    main.enqueue({ status: 503, json: { error: { message: 'The engine is currently overloaded, please try again later', type: 'server_error' } } });
    await rejectsApi(client.messages.stream(body('gpt-4o@openai')).finalMessage(), 529, 'overloaded_error');
  });

  test('Gemini-style one-element array error body', async () => {
    main.enqueue({
      status: 400,
      json: [{ error: { code: 400, message: 'Invalid JSON payload received. Unknown name "foo": Cannot find field.', status: 'INVALID_ARGUMENT' } }],
    });
    const res = await env.post('/v1/messages', body('gemini-2.5-flash@gemini'));
    assertError(res, 400, 'invalid_request_error', { includes: ['gemini', 'Invalid JSON payload received'] });
    assertNoKeys(res);
    assert.equal(main.requests[0].path, '/v1beta/openai/chat/completions');
  });

  for (const [up, status, type, message] of [
    [402, 402, 'billing_error', 'Insufficient credits. Add more using https://openrouter.ai/credits'],
    [429, 429, 'rate_limit_error', 'Rate limit exceeded: free-models-per-day'],
    [503, 529, 'overloaded_error', 'No endpoints found that can handle the request'],
  ]) {
    test(`OpenRouter numeric code ${up} → ${status} ${type}`, async () => {
      alt.enqueue({ status: up, json: { error: { code: up, message, metadata: { provider_name: 'SomeHost' } } } });
      const res = await env.post('/v1/messages', body('meta-llama/llama-3-8b@openrouter'));
      assertError(res, status, type, { includes: ['openrouter', message] });
      assertNoKeys(res);
    });
  }

  test('OpenRouter error inside a 200 (choice finish_reason "error") → mapped error, not a Message', async () => {
    alt.enqueue({
      json: oaiCompletion({
        content: '',
        finish_reason: 'error',
        extraChoice: { error: { code: 502, message: 'Provider returned error: high demand', metadata: { provider_name: 'Google' } } },
      }),
    });
    const res = await env.post('/v1/messages', body('google/gemini-2.5-pro@openrouter'));
    assertError(res, 529, 'overloaded_error', { includes: ['Provider returned error'] });
  });

  for (const [up, status, type] of [[502, 529, 'overloaded_error'], [500, 500, 'api_error'], [404, 404, 'not_found_error']]) {
    test(`non-JSON (HTML) ${up} error body → ${status} ${type} naming the provider`, async () => {
      main.enqueue({ status: up, headers: { 'content-type': 'text/html' }, text: `<html><body><h1>${up} Bad Things</h1></body></html>` });
      const res = await env.post('/v1/messages', body('gpt-4o@openai'));
      assertError(res, status, type, { includes: ['openai'] });
    });
  }

  test('non-JSON 200 → 502 api_error naming the provider', async () => {
    main.enqueue({ status: 200, headers: { 'content-type': 'text/html' }, text: '<html>hello, I am a captive portal</html>' });
    const res = await env.post('/v1/messages', body('gpt-4o@openai'));
    assertError(res, 502, 'api_error', { includes: ['openai'] });
    main.enqueue({ status: 200, headers: { 'content-type': 'application/json' }, rawBody: '' });
    assertError(await env.post('/v1/messages', body('gpt-4o@openai')), 502, 'api_error', { includes: ['openai'] });
  });

  test('JSON 200 that is not a chat completion → 502 api_error', async () => {
    main.enqueue({ json: { hello: 'world' } });
    const res = await env.post('/v1/messages', body('gpt-4o@openai'));
    assertError(res, 502, 'api_error', { includes: ['openai'] });
  });

  test('daemon healthy after all that', healthy);
});

describe('retries: x-should-retry, and the SDK retrying on its own (maxRetries left at its default, 2)', () => {
  const sdkDefault = () => new env.Anthropic({ baseURL: env.baseURL, apiKey: CLIENT_KEY, timeout: 15000 });
  const QUOTA = { error: { message: 'You exceeded your current quota, please check your plan and billing details.', type: 'insufficient_quota', param: null, code: 'insufficient_quota' } };
  const RATE = { error: { message: 'Rate limit reached for gpt-4o on requests per min', type: 'requests', param: null, code: 'rate_limit_exceeded' } };

  test('an upstream 503 once, then an answer: the SDK retries by itself (after retry-after-ms) and gets the answer', async () => {
    main.enqueue({ status: 503, headers: { 'retry-after-ms': '20' }, json: { error: { message: 'The engine is overloaded', type: 'server_error' } } });
    const m = await sdkDefault().messages.create(body('gpt-4o@openai'));
    assert.equal(m.content[0].text, DEFAULT_OAI_TEXT, ctx());
    assert.equal(main.requests.length, 2, `one failed attempt and the SDK's retry reached the upstream${ctx()}`);
    const statuses = env.d.jsonLines().filter((l) => l.msg === 'request' && l.path === '/v1/messages').slice(-2).map((l) => l.status);
    assert.deepEqual(statuses, [529, 200], `the client saw 529 overloaded_error, then 200${ctx()}`);
  });

  test('a plain 429 (rate limit): no x-should-retry, so the SDK retries and gets the answer', async () => {
    main.enqueue({ status: 429, headers: { 'retry-after-ms': '20' }, json: RATE });
    const res = await env.post('/v1/messages', body('gpt-4o@openai'));
    assertError(res, 429, 'rate_limit_error', { includes: ['Rate limit reached'] });
    assert.equal(res.headers['x-should-retry'], undefined, `a rate limit is worth a retry: ${JSON.stringify(res.headers)}`);
    assert.equal(res.headers['retry-after-ms'], '20', 'retry-after-ms copied');
    main.reset();
    main.enqueue({ status: 429, headers: { 'retry-after-ms': '20' }, json: RATE });
    const m = await sdkDefault().messages.create(body('gpt-4o@openai'));
    assert.equal(m.content[0].text, DEFAULT_OAI_TEXT);
    assert.equal(main.requests.length, 2, `the SDK retried the 429${ctx()}`);
  });

  test('a 429 insufficient_quota (out of credit): x-should-retry false, the SDK does not retry', async () => {
    main.enqueue({ status: 429, headers: { 'retry-after-ms': '20' }, json: QUOTA });
    const res = await env.post('/v1/messages', body('gpt-4o@openai'));
    assertError(res, 429, 'rate_limit_error', { includes: ['insufficient_quota', 'retrying will not help', 'You exceeded your current quota'] });
    assert.equal(res.headers['x-should-retry'], 'false', `retrying cannot help: ${JSON.stringify(res.headers)}`);
    main.reset();
    // a retry would get the default 200 answer and succeed: the rejection proves there was none
    main.enqueue({ status: 429, headers: { 'retry-after-ms': '20' }, json: QUOTA });
    const err = await rejectsApi(sdkDefault().messages.create(body('gpt-4o@openai')), 429, 'rate_limit_error',
      { includes: ['retrying will not help'], excludes: KEYS });
    assert.equal(err.constructor.name, 'RateLimitError');
    assert.equal(err.headers.get('x-should-retry'), 'false');
    assert.equal(main.requests.length, 1, `the SDK did not retry${ctx()}`);
    // a streaming request is answered the same way, before any event
    main.enqueue({ status: 429, json: QUOTA });
    await rejectsApi(sdkDefault().messages.stream(body('gpt-4o@openai')).finalMessage(), 429, 'rate_limit_error');
    assert.equal(main.requests.length, 2, `no retry of the stream either${ctx()}`);
  });

  test('insufficient_quota reported inside a 200 (OpenRouter style) → 429 with x-should-retry false', async () => {
    alt.enqueue({ json: { id: 'gen-1', object: 'chat.completion', choices: [], error: { message: 'Key limit exceeded', code: 'insufficient_quota' } } });
    const res = await env.post('/v1/messages', body('meta-llama/llama-3-8b@openrouter'));
    assertError(res, 429, 'rate_limit_error', { includes: ['retrying will not help'] });
    assert.equal(res.headers['x-should-retry'], 'false', JSON.stringify(res.headers));
  });
});

describe('HTTP errors from an Anthropic-style upstream with a non-envelope body', () => {
  test('HTML 502 → 529 overloaded_error envelope naming the provider', async () => {
    main.enqueue({ status: 502, headers: { 'content-type': 'text/html' }, text: '<html>502 Bad Gateway</html>' });
    const res = await env.post('/v1/messages', body('claude-x@anth'));
    assertError(res, 529, 'overloaded_error', { includes: ['anth'] });
    assertNoKeys(res);
  });

  test('plain-text 401 → 401 authentication_error envelope', async () => {
    main.enqueue({ status: 401, text: 'unauthorized' });
    const res = await env.post('/v1/messages', body('claude-x@anth'));
    assertError(res, 401, 'authentication_error', { includes: ['anth'] });
  });
});

describe('transport failures', () => {
  for (const [model, prov] of [['gpt-4o@down', 'down'], ['claude-x@downanth', 'downanth']]) {
    test(`upstream down (closed port): ${prov} → 502 api_error naming the provider`, async () => {
      const t0 = Date.now();
      const res = await env.post('/v1/messages', body(model));
      assertError(res, 502, 'api_error', { includes: [prov] });
      assertNoKeys(res);
      assert.ok(Date.now() - t0 < 3000, 'answered quickly');
      await rejectsApi(client.messages.create(body(model)), 502, 'api_error', { includes: [prov] });
    });
  }

  for (const [model, prov, pathRe] of [['gpt-4o@slow', 'slow', /^\/slow\/v1\/chat\/completions$/], ['claude-x@slowanth', 'slowanth', /^\/slowanth\/v1\/messages$/]]) {
    test(`upstream never answers, firstByteTimeoutMs 500: ${prov} → 504 timeout_error`, async () => {
      main.enqueue({ hang: true });
      const t0 = Date.now();
      const res = await env.post('/v1/messages', body(model), {}, { timeoutMs: 5000 });
      const dt = Date.now() - t0;
      assertError(res, 504, 'timeout_error', { includes: [prov] });
      assert.ok(dt >= 400 && dt < 3000, `answered after the first-byte timeout, took ${dt} ms`);
      assert.equal(main.requests.length, 1);
      assert.match(main.requests[0].path, pathRe);
      await main.waitFor((r) => r[0].clientClosed, { timeoutMs: 1000, what: 'the timed-out upstream connection to be closed' });
    });
  }

  for (const [model, prov] of [['gpt-4o@openai', 'openai'], ['claude-x@anth', 'anth']]) {
    test(`upstream resets the connection: ${prov} → 502 api_error`, async () => {
      main.enqueue({ reset: true, times: 5 });
      const res = await env.post('/v1/messages', body(model));
      assertError(res, 502, 'api_error', { includes: [prov] });
      assertNoKeys(res);
      assert.ok(main.requests.length >= 1);
    });
  }

  for (const [model, prov] of [['gpt-4o@openai', 'openai'], ['claude-x@anth', 'anth']]) {
    test(`upstream closes in the middle of a 200 body: ${prov} → 502 api_error`, async () => {
      main.enqueue({ headers: { 'content-type': 'application/json' }, chunks: ['{"id":"chatcmpl-x","object":"chat.completion","choices":['], destroyAfter: true });
      const res = await env.post('/v1/messages', body(model));
      assertError(res, 502, 'api_error', { includes: [prov] });
    });
  }

  test('daemon healthy after the transport failures', healthy);
});

describe('transport failures the network makes: TLS, DNS, connectTimeoutMs', () => {
  let d;
  let tlsMock;
  let backlog;
  let certDir;
  let cert;

  before(async () => {
    certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ccproxy-e2e-cert-'));
    cert = selfSignedCert(certDir);
    tlsMock = await startMock({ name: 'tls', tls: cert });
    backlog = await fullBacklogPort();
    const dead = `http://127.0.0.1:${backlog.port}`;
    d = await startDaemon({
      homeSettings: {
        providers: {
          tlsbad: { baseURL: `${tlsMock.url}/v1`, apiKey: PROV_KEY },
          tlsanth: { baseURL: tlsMock.url, responseStyle: 'anthropic', apiKey: ANTH_KEY },
          // .invalid never resolves (RFC 6761); connectTimeoutMs also bounds the name lookup
          nodns: { baseURL: 'http://ccproxy-e2e.invalid/v1', apiKey: PROV_KEY, connectTimeoutMs: 5000 },
          nodnsanth: { baseURL: 'https://ccproxy-e2e.invalid', responseStyle: 'anthropic', apiKey: ANTH_KEY, connectTimeoutMs: 5000 },
          hang: { baseURL: `${dead}/v1`, apiKey: PROV_KEY, connectTimeoutMs: 700 },
          hanganth: { baseURL: dead, responseStyle: 'anthropic', apiKey: ANTH_KEY, connectTimeoutMs: 700 },
        },
      },
    });
  });
  after(async () => {
    if (d) await d.stop();
    if (tlsMock) await tlsMock.close();
    if (backlog) await backlog.close();
    if (certDir) fs.rmSync(certDir, { recursive: true, force: true });
  });

  const post = (model, extra = {}) => request(d.port, {
    method: 'POST', path: '/v1/messages', body: validBody(model, extra), headers: { 'x-api-key': CLIENT_KEY }, timeoutMs: 10000,
  });
  /** The log line that says why (the client learns only the kind of failure: docs/security.md). */
  const whyLogged = (prov) => d.waitLog((j) => j && j.msg === 'upstream transfer failed' && j.provider === prov,
    { what: `"upstream transfer failed" for ${prov}` });

  test('the TLS mock itself works for a client that trusts its certificate', async () => {
    const status = await new Promise((resolve, reject) => {
      const req = https.request(`${tlsMock.url}/v1/chat/completions`, { method: 'POST', ca: cert.cert, headers: { 'content-type': 'application/json' } },
        (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
      req.on('error', reject);
      req.end(JSON.stringify({ model: 'm', messages: [] }));
    });
    assert.equal(status, 200);
    tlsMock.reset();
  });

  for (const [model, prov] of [['gpt-4o@tlsbad', 'tlsbad'], ['claude-x@tlsanth', 'tlsanth']]) {
    test(`an upstream certificate that does not verify (self-signed): ${prov} → 502 api_error "TLS failed", nothing sent`, async () => {
      for (const stream of [false, true]) {
        const from = d.mark();
        const res = await post(model, stream ? { stream: true } : {});
        assertError(res, 502, 'api_error');
        assert.equal(res.json.error.message, `provider ${prov} unreachable (TLS failed)`, res.text);
        assert.equal(res.headers['x-should-retry'], undefined, 'a 5xx may be retried');
        const why = await d.waitLog((j) => j && j.msg === 'upstream transfer failed' && j.provider === prov, { from });
        assert.equal(why.curl, 60, `curl: peer certificate verification failed: ${JSON.stringify(why)}`);
        assert.equal(why.host, `127.0.0.1:${tlsMock.port}`, JSON.stringify(why));
      }
      assert.equal(tlsMock.requests.length, 0, 'no request went over the unverified connection');
    });
  }

  for (const [model, prov] of [['gpt-4o@nodns', 'nodns'], ['claude-x@nodnsanth', 'nodnsanth']]) {
    test(`a host name that does not resolve: ${prov} → 502 api_error "its host name does not resolve"`, async () => {
      const res = await post(model);
      assertError(res, 502, 'api_error');
      assert.equal(res.json.error.message, `provider ${prov} unreachable (its host name does not resolve)`, res.text);
      assert.ok(!res.text.includes('invalid'), `the host is not told to the client: ${res.text}`);
      const why = await whyLogged(prov);
      assert.equal(why.curl, 6, `curl: could not resolve host: ${JSON.stringify(why)}`);
      assert.match(why.host, /^ccproxy-e2e\.invalid(:\d+)?$/, JSON.stringify(why));
    });
  }

  for (const [model, prov] of [['gpt-4o@hang', 'hang'], ['claude-x@hanganth', 'hanganth']]) {
    test(`a connect that never completes, connectTimeoutMs 700: ${prov} → 504 timeout_error after ~0.7 s`, async () => {
      for (const stream of [false, true]) {
        const from = d.mark();
        const t0 = Date.now();
        const res = await post(model, stream ? { stream: true } : {});
        const dt = Date.now() - t0;
        assertError(res, 504, 'timeout_error');
        assert.equal(res.json.error.message, `provider ${prov} unreachable (timed out)`, res.text);
        assert.ok(dt >= 600 && dt < 3000, `answered ${dt} ms after the request (connectTimeoutMs 700, firstByteTimeoutMs 600000)`);
        const why = await d.waitLog((j) => j && j.msg === 'upstream transfer failed' && j.provider === prov, { from });
        assert.equal(why.curl, 28, `curl: operation timed out: ${JSON.stringify(why)}`);
      }
    });
  }

  test('the SDK sees the same errors, and the daemon stays healthy', async () => {
    const client = new env.Anthropic({ baseURL: `http://127.0.0.1:${d.port}`, apiKey: CLIENT_KEY, maxRetries: 0, timeout: 10000 });
    await rejectsApi(client.messages.create(body('gpt-4o@tlsbad')), 502, 'api_error', { includes: ['TLS failed'] });
    await rejectsApi(client.messages.create(body('gpt-4o@hang')), 504, 'timeout_error', { includes: ['timed out'] });
    const h = await request(d.port, { path: '/health' });
    assert.equal(h.status, 200);
    assert.equal(h.json.active, 0);
  });
});

describe('client disconnect', () => {
  for (const [model, prov, stream] of [
    ['claude-x@anth', 'anth', false], ['claude-x@anth', 'anth', true],
    ['gpt-4o@openai', 'openai', false], ['gpt-4o@openai', 'openai', true],
  ]) {
    test(`client leaves while the upstream works (${prov}${stream ? ', stream' : ''}): upstream connection closed within 1 s`, async () => {
      main.enqueue({ hang: true });
      const c = await rawConnect(env.d.port);
      let t0;
      try {
        const payload = JSON.stringify(body(model, stream ? { stream: true } : {}));
        await c.write('POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
          `x-api-key: sk-client-x\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`);
        await main.waitForRequests(1, 3000);
        await new Promise((r) => setTimeout(r, 100));
        assert.equal(main.requests[0].clientClosed, false, 'upstream connection open while the client waits');
        assert.equal(c.received(), '', `no answer yet: ${c.received()}`);
      } finally {
        t0 = Date.now();
        c.close();
      }
      const rec = await main.waitFor((r) => r[0].clientClosed && r[0], { timeoutMs: 1000, what: 'ccproxy to close the abandoned upstream request' });
      assert.ok(rec.closedAt - t0 <= 1000, `closed ${rec.closedAt - t0} ms after the client left`);
      await healthy();
      await waitFor(async () => (await request(env.d.port, { path: '/health' })).json?.active === 0,
        { timeoutMs: 1000, what: 'no request left active in /health' });
    });
  }
});
