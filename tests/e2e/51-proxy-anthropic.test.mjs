// Anthropic-style providers (responseStyle "anthropic"): requests pass through with the upstream model
// name and the provider's key; answers (JSON, SSE, errors) are relayed unchanged with their status.
import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { REQUEST_ID_RE, request } from './lib/daemon.mjs';
import { setupProxy, rejectsApi, hdr, CLIENT_KEY, assertAnthropicStream } from './lib/proxy.mjs';
import { anthMessage, anthSSE } from './lib/mock-upstream.mjs';

const ANTH_KEY = 'sk-ant-prov-SECRET-1111';
const ANTH_V1_KEY = 'sk-ant-prov-SECRET-2222';

let env;
let main;
let client;

before(async () => {
  env = await setupProxy({
    settings: ({ main: m }) => ({
      providers: {
        anth: { baseURL: m.url, responseStyle: 'anthropic', apiKey: ANTH_KEY },
        anthv1: { baseURL: `${m.url}/gw/v1`, responseStyle: 'anthropic', apiKey: ANTH_V1_KEY, headers: { 'X-Team': 'e2e' } },
        openai: { baseURL: `${m.url}/v1`, apiKey: 'sk-prov-SECRET-unused' },
      },
      models: { bigModel: 'claude-big-upstream@anth', smallModel: 'claude-small-upstream@anthv1', preferredProvider: 'anth' },
    }),
  });
  ({ main, client } = env);
});
after(async () => { if (env) await env.close(); });
beforeEach(() => env.resetMocks());

const ctx = () => `\n--- daemon stderr (tail) ---\n${env.stderrTail()}`;

async function oneReq() {
  const r = await main.waitForRequests(1, 3000);
  assert.equal(main.requests.length, 1, `exactly one upstream request; got ${main.requests.map((x) => x.url)}`);
  return r;
}

/** A request body full of Anthropic-only fields, which must arrive untouched. */
function richBody(model) {
  return {
    model,
    max_tokens: 1024,
    system: [{ type: 'text', text: 'You are helpful.', cache_control: { type: 'ephemeral' } }],
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'Hi there', cache_control: { type: 'ephemeral' } }] },
      { role: 'assistant', content: [{ type: 'thinking', thinking: 'hmm', signature: 'EqQBsig==' }, { type: 'text', text: 'Hello' }] },
      { role: 'system', content: 'mid-conversation note' },
      { role: 'user', content: 'More?' },
    ],
    thinking: { type: 'adaptive' },
    output_config: { effort: 'high' },
    context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
    metadata: { user_id: '{"device_id":"abc","session_id":"s1"}' },
    tools: [{ name: 'Read', description: 'read', input_schema: { $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'object', properties: { file_path: { type: 'string' } }, additionalProperties: false } },
      { type: 'web_search_20250305', name: 'web_search', max_uses: 2 }],
    temperature: 0.5,
  };
}

describe('passthrough requests', () => {
  test('create: path /v1/messages, provider x-api-key, versions/betas forwarded, body unchanged but for the model', async () => {
    const up = anthMessage({ id: 'msg_upstream_0001', model: 'claude-x-upstream-answer', usage: { input_tokens: 321, output_tokens: 9, cache_creation_input_tokens: 3, cache_read_input_tokens: 100, service_tier: 'standard' } });
    const body = richBody('claude-x@anth');
    const betas = ['context-1m-2025-08-07', 'interleaved-thinking-2025-05-14'];
    // what the SDK sends when it talks to the upstream directly
    await env.sdk({ baseURL: main.url }).beta.messages.create({ ...body, betas });
    const direct = await oneReq();
    main.reset();
    main.enqueue({ json: up, headers: { 'x-upstream-extra': '1' } });
    const res = await client.beta.messages.create({ ...body, betas: ['context-1m-2025-08-07', 'interleaved-thinking-2025-05-14'] }).withResponse();
    const r = await oneReq();
    assert.equal(r.method, 'POST');
    assert.equal(r.path, '/v1/messages');
    assert.equal(hdr(r, 'x-api-key'), ANTH_KEY);
    assert.equal(hdr(r, 'authorization'), undefined, `the client's Bearer must not be forwarded: ${JSON.stringify(r.headers)}`);
    assert.ok(!JSON.stringify(r.headers).includes(CLIENT_KEY));
    assert.match(String(hdr(direct, 'anthropic-version')), /^\d{4}-\d{2}-\d{2}$/);
    assert.equal(hdr(r, 'anthropic-version'), hdr(direct, 'anthropic-version'), 'anthropic-version forwarded as the SDK sent it');
    assert.equal(hdr(r, 'anthropic-beta'), hdr(direct, 'anthropic-beta'), 'anthropic-beta forwarded as the SDK sent it');
    assert.match(String(hdr(r, 'anthropic-beta')), /context-1m-2025-08-07/);
    assert.deepEqual(r.json, { ...direct.json, model: 'claude-x' }, 'body forwarded unchanged except model');
    assert.deepEqual(r.json, { ...body, model: 'claude-x' }, 'body forwarded unchanged except model');
    // relayed unchanged
    assert.equal(res.response.status, 200);
    assert.match(String(res.response.headers.get('request-id')), REQUEST_ID_RE);
    assert.deepEqual(JSON.parse(JSON.stringify(res.data)), up);
  });

  test('the SDK\'s anthropic-version is forwarded as sent', async () => {
    await client.messages.create({ model: 'm@anth', max_tokens: 5, messages: [{ role: 'user', content: 'v' }] });
    const a = await oneReq();
    main.reset();
    const res = await env.post('/v1/messages', { model: 'm@anth', max_tokens: 5, messages: [{ role: 'user', content: 'v' }] },
      { 'anthropic-version': '2023-06-01', 'anthropic-beta': 'claude-code-20250219,context-management-2025-06-27' });
    assert.equal(res.status, 200, res.text + ctx());
    const b = await oneReq();
    assert.equal(hdr(b, 'anthropic-version'), '2023-06-01');
    assert.equal(hdr(b, 'anthropic-beta'), 'claude-code-20250219,context-management-2025-06-27');
    assert.equal(hdr(b, 'x-api-key'), ANTH_KEY, 'the client x-api-key is replaced by the provider key');
    assert.notEqual(hdr(a, 'anthropic-version'), undefined);
  });

  test('a client that sends no anthropic-version (nor anthropic-beta) → the default 2023-06-01 upstream, no beta', async () => {
    for (const p of ['/v1/messages', '/v1/messages/count_tokens']) {
      const b = { model: 'm@anth', messages: [{ role: 'user', content: 'v' }], ...(p === '/v1/messages' ? { max_tokens: 5 } : {}) };
      const res = await request(env.d.port, { method: 'POST', path: p, body: b, headers: { 'x-api-key': CLIENT_KEY } });
      assert.equal(res.status, 200, res.text + ctx());
      const r = await oneReq();
      assert.equal(r.path, p);
      assert.equal(hdr(r, 'anthropic-version'), '2023-06-01', `the documented default: ${JSON.stringify(r.headers)}`);
      assert.equal(hdr(r, 'anthropic-beta'), undefined, 'no beta invented');
      main.reset();
    }
    const res = await env.post('/v1/messages', { model: 'm@anth', max_tokens: 5, messages: [{ role: 'user', content: 'v' }] },
      { 'anthropic-version': '2099-01-01' });
    assert.equal(res.status, 200, res.text + ctx());
    assert.equal(hdr(await oneReq(), 'anthropic-version'), '2099-01-01', 'a version the client sends wins over the default');
  });

  test('baseURL ending in /v1 → <base>/messages; extra headers; routing via smallModel', async () => {
    const m = await client.messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] });
    const r = await oneReq();
    assert.equal(r.path, '/gw/v1/messages');
    assert.equal(hdr(r, 'x-api-key'), ANTH_V1_KEY);
    assert.equal(hdr(r, 'x-team'), 'e2e');
    assert.equal(r.json.model, 'claude-small-upstream');
    assert.equal(m.model, 'claude-small-upstream', 'answer relayed unchanged (the mock echoes the upstream model)');
  });

  for (const [model, up] of [['claude-sonnet-4-6', 'claude-big-upstream'], ['claude-opus-4-8[1m]', 'claude-big-upstream'], ['some-model', 'some-model']]) {
    test(`routing ${model} → ${up} on anth`, async () => {
      await client.messages.create({ model, max_tokens: 10, messages: [{ role: 'user', content: 'x' }] });
      const r = await oneReq();
      assert.equal(r.path, '/v1/messages');
      assert.equal(r.json.model, up);
    });
  }

  test('?beta=true path from the client is accepted', async () => {
    const res = await env.post('/v1/messages?beta=true', { model: 'q@anth', max_tokens: 5, messages: [{ role: 'user', content: 'b' }] });
    assert.equal(res.status, 200, res.text + ctx());
    const r = await oneReq();
    assert.equal(r.path, '/v1/messages');
    assert.equal(r.json.model, 'q');
  });
});

describe('passthrough answers', () => {
  test('streaming: SSE relayed byte for byte; SDK finalMessage accepts it', async () => {
    const up = anthMessage({
      id: 'msg_stream_1',
      model: 'claude-up',
      content: [
        { type: 'thinking', thinking: 'Let me look.', signature: 'sigABC' },
        { type: 'text', text: 'Reading it now.' },
        { type: 'tool_use', id: 'toolu_01Xy', name: 'Read', input: { file_path: '/tmp/a.txt' } },
      ],
      stop_reason: 'tool_use',
    });
    const chunks = anthSSE(up);
    main.enqueue({ chunks, gapMs: 5 });
    const body = { model: 'claude-x@anth', max_tokens: 100, messages: [{ role: 'user', content: 'read /tmp/a.txt' }], stream: true };
    const res = await env.post('/v1/messages', body);
    assert.equal(res.status, 200, res.text + ctx());
    assert.match(String(res.headers['content-type']), /^text\/event-stream/);
    const r = await oneReq();
    assert.equal(r.json.stream, true, 'stream:true forwarded');
    assert.equal(res.text, r.sent, 'SSE relayed unchanged');
    const msg = assertAnthropicStream(res.text);
    assert.deepEqual(msg.content[2].input, { file_path: '/tmp/a.txt' });

    main.reset();
    main.enqueue({ chunks, gapMs: 5 });
    const fm = await client.messages.stream({ model: 'claude-x@anth', max_tokens: 100, messages: [{ role: 'user', content: 'read' }] }).finalMessage();
    assert.equal(fm.id, 'msg_stream_1');
    assert.deepEqual(fm.content.map((b) => b.type), ['thinking', 'text', 'tool_use']);
    assert.equal(fm.content[0].signature, 'sigABC');
    assert.deepEqual(fm.content[2].input, { file_path: '/tmp/a.txt' });
    assert.equal(fm.stop_reason, 'tool_use');
  });

  test('4xx error JSON relayed with its status and body', async () => {
    const err = { type: 'error', error: { type: 'invalid_request_error', message: 'prompt is too long: 205351 tokens > 200000 maximum' }, request_id: 'req_upstream_1' };
    main.enqueue({ status: 400, json: err });
    const res = await env.post('/v1/messages', { model: 'm@anth', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] });
    assert.equal(res.status, 400, res.text);
    assert.match(String(res.headers['request-id']), REQUEST_ID_RE);
    assert.equal(res.json.type, 'error');
    assert.equal(res.json.error.type, 'invalid_request_error');
    assert.equal(res.json.error.message, err.error.message);
    main.enqueue({ status: 400, json: err });
    await rejectsApi(client.messages.create({ model: 'm@anth', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }),
      400, 'invalid_request_error', { includes: ['prompt is too long'] });
  });

  test('429 with retry-after relayed; 529 overloaded relayed; stream request error is JSON, not SSE', async () => {
    main.enqueue({ status: 429, headers: { 'retry-after': '7' }, json: { type: 'error', error: { type: 'rate_limit_error', message: 'Number of request tokens has exceeded your per-minute rate limit' } } });
    const a = await env.post('/v1/messages', { model: 'm@anth', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] });
    assert.equal(a.status, 429, a.text);
    assert.equal(a.headers['retry-after'], '7');
    assert.equal(a.json.error.type, 'rate_limit_error');

    main.enqueue({ status: 529, json: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } });
    const b = await env.post('/v1/messages', { model: 'm@anth', max_tokens: 5, stream: true, messages: [{ role: 'user', content: 'x' }] });
    assert.equal(b.status, 529, b.text);
    assert.match(String(b.headers['content-type']), /^application\/json/);
    assert.equal(b.json.error.type, 'overloaded_error');
    assert.equal(b.json.error.message, 'Overloaded');
  });

  test('an upstream 200 with extra fields is relayed unchanged (non-stream)', async () => {
    const up = { ...anthMessage({ id: 'msg_extra' }), container: null, stop_details: null, context_management: { applied_edits: [] } };
    main.enqueue({ json: up });
    const res = await env.post('/v1/messages', { model: 'm@anth', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] });
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, up);
  });
});

describe('passthrough count_tokens', () => {
  test('forwarded to the upstream count_tokens with the upstream model; answer relayed', async () => {
    main.enqueue({ json: { input_tokens: 1234 }, match: (r) => r.path.endsWith('/count_tokens') });
    const c = await client.messages.countTokens({
      model: 'claude-sonnet-4-6',
      system: 'sys',
      messages: [{ role: 'user', content: 'count me' }],
      tools: [{ name: 'Read', input_schema: { type: 'object', properties: {} } }],
    });
    assert.equal(c.input_tokens, 1234);
    const r = await oneReq();
    assert.equal(r.path, '/v1/messages/count_tokens');
    assert.equal(hdr(r, 'x-api-key'), ANTH_KEY);
    assert.equal(r.json.model, 'claude-big-upstream');
    assert.equal(r.json.system, 'sys');
    assert.deepEqual(r.json.messages, [{ role: 'user', content: 'count me' }]);
  });

  test('baseURL ending in /v1: <base>/messages/count_tokens; ?beta=true accepted', async () => {
    const res = await env.post('/v1/messages/count_tokens?beta=true', { model: 'x@anthv1', messages: [{ role: 'user', content: 'hi' }] },
      { 'anthropic-beta': 'token-counting-2024-11-01' });
    assert.equal(res.status, 200, res.text + ctx());
    assert.deepEqual(res.json, { input_tokens: 42 });
    const r = await oneReq();
    assert.equal(r.path, '/gw/v1/messages/count_tokens');
    assert.equal(hdr(r, 'x-api-key'), ANTH_V1_KEY);
    assert.equal(hdr(r, 'anthropic-beta'), 'token-counting-2024-11-01');
    assert.equal(r.json.model, 'x');
  });
});
