// OpenAI-style providers (generic, gemini, openrouter, custom without key) driven by the official SDK:
// routing, what the upstream receives (docs/providers.md, "Requests") and how its answer is translated
// (docs/protocol-notes.md, "Answers (OpenAI-style -> Anthropic)", "Mapping: usage").
import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  setupProxy, contentText, findKeys, assertNothingReceived, assertAnthropicStream, rejectsApi, hdr, CLIENT_KEY,
} from './lib/proxy.mjs';
import { oaiCompletion, oaiToolCall, DEFAULT_OAI_TEXT } from './lib/mock-upstream.mjs';

const PROV_KEY = 'sk-prov-SECRET-openai-1234';
const GEM_KEY = 'g-key-SECRET-5678';
const OR_KEY = 'or-key-SECRET-9012';
const FORCED_KEY = 'sk-forced-SECRET-3456';
const ALL_KEYS = [PROV_KEY, GEM_KEY, OR_KEY, FORCED_KEY];
const OR_HEADERS = { 'HTTP-Referer': 'https://ccproxy.example/e2e', 'X-Title': 'ccproxy e2e' };
const TOOL_NAME_RE = /^[a-zA-Z0-9_-]{1,64}$/;

const WEATHER_TOOL = {
  name: 'get_weather',
  description: 'Get the weather for a city',
  input_schema: {
    type: 'object',
    properties: { city: { type: 'string', description: 'City name' }, units: { type: 'string', enum: ['c', 'f'] } },
    required: ['city'],
  },
};

// JSON Schema 2020-12 as Claude Code sends it (docs/protocol-notes.md, "What Claude Code sends"), nested to
// check deep cleaning.
const FANCY_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  properties: {
    path: { type: 'string', description: 'file path' },
    limit: { type: 'integer', exclusiveMinimum: 0, maximum: 9007199254740991 },
    note: { type: ['string', 'null'], description: 'optional note' },
    tags: { type: 'object', propertyNames: { type: 'string' }, additionalProperties: { type: 'string' } },
    items: {
      type: 'array',
      items: {
        type: 'object',
        properties: { id: { type: 'string' }, n: { type: ['integer', 'null'], exclusiveMinimum: 1 } },
        required: ['id'],
        additionalProperties: false,
      },
    },
  },
  required: ['path'],
  additionalProperties: false,
};

let env;
let main;
let alt;
let client;

before(async () => {
  env = await setupProxy({
    settings: ({ main: m, alt: a }) => ({
      providers: {
        // named "openai" but tested for the generic rules: a provider named openai is the OpenAI flavor
        // whatever its host unless "flavor" says otherwise
        openai: { baseURL: `${m.url}/v1`, apiKey: PROV_KEY, flavor: 'generic' },
        gemini: { baseURL: m.url, apiKey: GEM_KEY },
        openrouter: { baseURL: `${a.url}/api/v1`, apiKey: OR_KEY, headers: OR_HEADERS },
        forced: { baseURL: `${m.url}/forced/v1`, apiKey: FORCED_KEY, maxTokensField: 'max_completion_tokens' },
        local: { baseURL: `${m.url}/local/v1` },
        capped: { baseURL: `${m.url}/capped/v1`, maxOutputTokens: 1000 },
      },
      models: { bigModel: 'big-up@openai', smallModel: 'small-up@openai', preferredProvider: 'openai' },
    }),
  });
  ({ main, alt, client } = env);
});
after(async () => { if (env) await env.close(); });
beforeEach(() => env.resetMocks());

const basic = (model, extra = {}) => ({ model, max_tokens: 64, messages: [{ role: 'user', content: 'Hello' }], ...extra });
const ctx = () => `\n--- daemon stderr (tail) ---\n${env.stderrTail()}`;

/** The one chat-completions request the mock received. */
async function upstreamReq(mock = main) {
  const r = await mock.waitForRequests(1, 3000);
  assert.equal(mock.requests.length, 1, `exactly one upstream request; got ${mock.requests.map((x) => x.url)}`);
  assert.ok(r.json && typeof r.json === 'object', `upstream body is JSON: ${r.text}`);
  return r;
}

function assertNoSecretsForwarded(r) {
  const all = JSON.stringify(r.headers) + r.text;
  assert.ok(!all.includes(CLIENT_KEY), `the client's key must not reach the upstream: ${JSON.stringify(r.headers)}`);
  assert.equal(hdr(r, 'x-api-key'), undefined, 'no x-api-key toward an OpenAI-style upstream');
}

function assertMessageShape(m, model) {
  assert.equal(m.type, 'message', JSON.stringify(m));
  assert.equal(m.role, 'assistant');
  assert.match(m.id, /^msg_/, `id starts with msg_: ${m.id}`);
  assert.equal(m.model, model, 'model is the client\'s model');
  assert.ok(Array.isArray(m.content));
  assert.ok('stop_sequence' in m, 'stop_sequence present');
}

describe('generic OpenAI-style provider', () => {
  test('non-stream create: path, bearer provider key, model, body; SDK gets a Message', async () => {
    const m = await client.messages.create(basic('gpt-4o@openai'));
    const r = await upstreamReq();
    assert.equal(r.method, 'POST');
    assert.equal(r.path, '/v1/chat/completions');
    assert.equal(hdr(r, 'authorization'), `Bearer ${PROV_KEY}`);
    assertNoSecretsForwarded(r);
    assert.equal(hdr(r, 'anthropic-version'), undefined, 'anthropic-version dropped toward OpenAI');
    assert.match(String(hdr(r, 'content-type')), /^application\/json/);
    assert.equal(r.json.model, 'gpt-4o');
    assert.equal(r.json.messages.length, 1, JSON.stringify(r.json.messages));
    assert.equal(r.json.messages[0].role, 'user');
    assert.equal(contentText(r.json.messages[0].content), 'Hello');
    assert.equal(r.json.max_tokens, 64, `generic flavor uses max_tokens: ${r.text}`);
    assert.equal(r.json.max_completion_tokens, undefined);

    assertMessageShape(m, 'gpt-4o@openai');
    assert.deepEqual(m.content.map((b) => ({ type: b.type, text: b.text })), [{ type: 'text', text: DEFAULT_OAI_TEXT }]);
    assert.equal(m.stop_reason, 'end_turn');
    assert.equal(m.stop_sequence, null);
    assert.equal(m.usage.input_tokens, 20, 'input = prompt 25 - cached 5');
    assert.equal(m.usage.cache_read_input_tokens, 5);
    assert.equal(m.usage.output_tokens, 7);
    assert.equal(m.usage.cache_creation_input_tokens ?? 0, 0);
  });

  test('client x-api-key (raw request) is not forwarded either', async () => {
    const res = await env.post('/v1/messages', basic('gpt-4o@openai'), { 'x-api-key': 'sk-client-RAW-xyz' });
    assert.equal(res.status, 200, res.text + ctx());
    const r = await upstreamReq();
    assert.equal(hdr(r, 'authorization'), `Bearer ${PROV_KEY}`);
    assert.ok(!JSON.stringify(r.headers).includes('sk-client-RAW-xyz'));
    assert.equal(hdr(r, 'x-api-key'), undefined);
  });

  for (const [model, up] of [
    ['claude-3-5-haiku-20241022', 'small-up'],
    ['claude-haiku-4-5', 'small-up'],
    ['claude-sonnet-4-6', 'big-up'],
    ['claude-opus-4-1', 'big-up'],
    ['claude-opus-4-8[1m]', 'big-up'],
    ['my-own-model', 'my-own-model'],
  ]) {
    test(`routing: ${model} → upstream model ${up}`, async () => {
      const m = await client.messages.create(basic(model));
      const r = await upstreamReq();
      assert.equal(r.path, '/v1/chat/completions');
      assert.equal(r.json.model, up);
      assert.equal(m.model, model, 'the answer names the client\'s model');
    });
  }

  test('messages.stream().finalMessage() gets the translated answer', async () => {
    main.enqueue({ json: oaiCompletion({ content: 'streamed hello', usage: { prompt_tokens: 40, completion_tokens: 3, total_tokens: 43, prompt_tokens_details: { cached_tokens: 10 } } }) });
    const m = await client.messages.stream(basic('claude-sonnet-4')).finalMessage();
    const r = await upstreamReq();
    assert.equal(r.json.model, 'big-up');
    assertMessageShape(m, 'claude-sonnet-4');
    assert.deepEqual(m.content.map((b) => [b.type, b.text]), [['text', 'streamed hello']]);
    assert.equal(m.stop_reason, 'end_turn');
    assert.equal(m.usage.output_tokens, 3);
    assert.equal(m.usage.input_tokens, 30);
    assert.equal(m.usage.cache_read_input_tokens, 10);
  });

  test('stream:true over raw HTTP: text/event-stream with well-formed events', async () => {
    main.enqueue({ json: oaiCompletion({ content: 'raw stream', finish_reason: 'stop' }) });
    const res = await env.post('/v1/messages?beta=true', basic('gpt-4o@openai', { stream: true }));
    assert.equal(res.status, 200, res.text + ctx());
    assert.match(String(res.headers['content-type']), /^text\/event-stream/);
    const msg = assertAnthropicStream(res.text);
    assert.match(msg.id, /^msg_/);
    assert.equal(msg.model, 'gpt-4o@openai');
    assert.deepEqual(msg.content.map((b) => [b.type, b.text]), [['text', 'raw stream']]);
    assert.equal(msg.stop_reason, 'end_turn');
  });

  test('custom provider without a key: no Authorization header', async () => {
    const m = await client.messages.create(basic('llama3.2@local'));
    const r = await upstreamReq();
    assert.equal(r.path, '/local/v1/chat/completions');
    assert.equal(hdr(r, 'authorization'), undefined, `headers: ${JSON.stringify(r.headers)}`);
    assertNoSecretsForwarded(r);
    assert.equal(r.json.model, 'llama3.2');
    assert.equal(m.content[0].text, DEFAULT_OAI_TEXT);
  });

  test('maxTokensField "max_completion_tokens" forces max_completion_tokens', async () => {
    await client.messages.create(basic('gpt-4o@forced'));
    const r = await upstreamReq();
    assert.equal(r.path, '/forced/v1/chat/completions');
    assert.equal(hdr(r, 'authorization'), `Bearer ${FORCED_KEY}`);
    assert.equal(r.json.max_completion_tokens, 64, r.text);
    assert.equal(r.json.max_tokens, undefined, r.text);
  });
});

describe('gemini and openrouter flavors', () => {
  test('gemini: /v1beta/openai/chat/completions, its key, tool schemas cleaned', async () => {
    main.enqueue({ json: oaiCompletion({ content: 'from gemini' }) });
    const m = await client.messages.create(basic('gemini-2.5-flash@gemini', {
      tools: [{ name: 'read_thing', description: 'Read a thing', input_schema: FANCY_SCHEMA }, WEATHER_TOOL],
    }));
    const r = await upstreamReq();
    assert.equal(r.path, '/v1beta/openai/chat/completions');
    assert.equal(hdr(r, 'authorization'), `Bearer ${GEM_KEY}`);
    assertNoSecretsForwarded(r);
    assert.equal(r.json.model, 'gemini-2.5-flash');
    assert.equal(r.json.tools.length, 2);
    const params = r.json.tools[0].function.parameters;
    assert.equal(r.json.tools[0].function.name, 'read_thing');
    const bad = findKeys(params, (k) => ['$schema', 'additionalProperties', 'propertyNames', 'exclusiveMinimum'].includes(k));
    assert.deepEqual(bad, [], `forbidden schema keywords left for Gemini: ${JSON.stringify(params)}`);
    const arrays = findKeys(params, (k, v) => k === 'type' && typeof v !== 'string');
    assert.deepEqual(arrays, [], `every "type" is a single string: ${JSON.stringify(params)}`);
    // the useful parts survive
    assert.equal(params.type, 'object');
    assert.deepEqual(params.required, ['path']);
    assert.equal(params.properties.path.type, 'string');
    assert.equal(params.properties.note.type, 'string');
    assert.equal(params.properties.items.items.properties.id.type, 'string');
    assert.deepEqual(params.properties.items.items.required, ['id']);
    assert.deepEqual(r.json.tools[1].function.parameters.properties.units.enum, ['c', 'f']);
    assert.equal(m.content[0].text, 'from gemini');
    assert.equal(m.model, 'gemini-2.5-flash@gemini');
  });

  test('openrouter: baseURL path kept, its key, configured extra headers sent', async () => {
    alt.enqueue({ json: oaiCompletion({ content: 'from openrouter' }) });
    const m = await client.messages.create(basic('anthropic/claude-sonnet-4@openrouter', {
      tools: [{ name: 'read_thing', input_schema: FANCY_SCHEMA }],
    }));
    assert.equal(main.requests.length, 0, 'the main mock got nothing');
    const r = await upstreamReq(alt);
    assert.equal(r.path, '/api/v1/chat/completions');
    assert.equal(hdr(r, 'authorization'), `Bearer ${OR_KEY}`);
    assert.equal(hdr(r, 'http-referer'), OR_HEADERS['HTTP-Referer']);
    assert.equal(hdr(r, 'x-title'), OR_HEADERS['X-Title']);
    assertNoSecretsForwarded(r);
    assert.equal(r.json.model, 'anthropic/claude-sonnet-4');
    assert.equal(m.content[0].text, 'from openrouter');
  });

  test('generic provider keeps the tool schema (no Gemini cleaning)', async () => {
    await client.messages.create(basic('gpt-4o@openai', { tools: [{ name: 'read_thing', input_schema: FANCY_SCHEMA }] }));
    const r = await upstreamReq();
    const p = r.json.tools[0].function.parameters;
    assert.deepEqual(p.properties, FANCY_SCHEMA.properties, JSON.stringify(p));
    assert.deepEqual(p.required, ['path']);
    assert.equal(p.additionalProperties, false);
  });
});

describe('response translation (OpenAI → Anthropic)', () => {
  test('tool_calls → tool_use with parsed input, after the text', async () => {
    main.enqueue({
      json: oaiCompletion({
        content: 'Let me check.',
        tool_calls: [oaiToolCall('call_abc123', 'get_weather', { city: 'Paris', units: 'c' }),
          oaiToolCall('call_def456', 'get_weather', { city: 'Rome' })],
        finish_reason: 'tool_calls',
      }),
    });
    const m = await client.messages.create(basic('gpt-4o@openai', { tools: [WEATHER_TOOL] }));
    assertMessageShape(m, 'gpt-4o@openai');
    assert.equal(m.stop_reason, 'tool_use');
    assert.equal(m.content.length, 3, JSON.stringify(m.content));
    assert.equal(m.content[0].type, 'text');
    assert.equal(m.content[0].text, 'Let me check.');
    assert.deepEqual(m.content.slice(1).map((b) => ({ type: b.type, id: b.id, name: b.name, input: b.input })), [
      { type: 'tool_use', id: 'call_abc123', name: 'get_weather', input: { city: 'Paris', units: 'c' } },
      { type: 'tool_use', id: 'call_def456', name: 'get_weather', input: { city: 'Rome' } },
    ]);
  });

  test('tool call with content null, empty id and empty arguments → tool_use with a toolu_ id and input {}', async () => {
    main.enqueue({ json: oaiCompletion({ content: null, tool_calls: [oaiToolCall('', 'get_weather', '')] }) });
    const m = await client.messages.create(basic('gpt-4o@openai', { tools: [WEATHER_TOOL] }));
    assert.equal(m.content.length, 1, JSON.stringify(m.content));
    const b = m.content[0];
    assert.equal(b.type, 'tool_use');
    assert.equal(b.name, 'get_weather');
    assert.deepEqual(b.input, {});
    assert.ok(typeof b.id === 'string' && b.id.length > 6, `non-empty id: ${b.id}`);
    assert.match(b.id, /^toolu_/);
    assert.equal(m.stop_reason, 'tool_use');
  });

  test('tool call arguments that are not JSON → an error (502 api_error), not input {}', async () => {
    main.enqueue({ json: oaiCompletion({ content: null, tool_calls: [oaiToolCall('call_1', 'get_weather', '{"city": Paris')] }) });
    await rejectsApi(client.messages.create(basic('gpt-4o@openai', { tools: [WEATHER_TOOL] })), 502, 'api_error',
      { excludes: [PROV_KEY] });
  });

  test('long and non-[a-zA-Z0-9_-] tool names are shortened upstream and restored in the answer', async () => {
    const long = `mcp__a_very_long_server_name_for_testing__${'x'.repeat(40)}_tool`;
    const dotted = 'ns.tool:v2';
    assert.ok(long.length > 64);
    main.enqueue({
      json: (rec) => {
        const names = rec.json.tools.map((t) => t.function.name);
        return oaiCompletion({
          content: null,
          tool_calls: [oaiToolCall('call_l', names[0], { a: 1 }), oaiToolCall('call_d', names[1], { b: 2 }),
            oaiToolCall('call_w', names[2], { city: 'Oslo' })],
        });
      },
    });
    const m = await client.messages.create(basic('gpt-4o@openai', {
      tools: [{ name: long, input_schema: { type: 'object', properties: { a: { type: 'integer' } } } },
        { name: dotted, input_schema: { type: 'object', properties: { b: { type: 'integer' } } } }, WEATHER_TOOL],
      messages: [
        { role: 'user', content: 'go' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_prev', name: long, input: { a: 0 } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_prev', content: 'ok' }] },
      ],
    }));
    const r = await upstreamReq();
    const sent = r.json.tools.map((t) => t.function.name);
    for (const n of sent) assert.match(n, TOOL_NAME_RE, `upstream tool name ${n}`);
    assert.equal(new Set(sent).size, 3, `distinct names: ${sent}`);
    assert.equal(sent[2], 'get_weather', 'valid names are left alone');
    const hist = r.json.messages.find((x) => x.role === 'assistant');
    assert.equal(hist.tool_calls[0].function.name, sent[0], 'history tool_use uses the same shortened name');
    assert.deepEqual(m.content.map((b) => b.name), [long, dotted, 'get_weather']);
    assert.deepEqual(m.content.map((b) => b.input), [{ a: 1 }, { b: 2 }, { city: 'Oslo' }]);
  });

  for (const key of ['reasoning_content', 'reasoning']) {
    test(`${key} → a thinking block first, with signature ""`, async () => {
      main.enqueue({
        json: oaiCompletion({
          content: 'The answer is 4.',
          [key]: 'Two plus two is four.',
          tool_calls: [oaiToolCall('call_t', 'get_weather', { city: 'Lima' })],
        }),
      });
      const m = await client.messages.create(basic('deepseek-reasoner@openai', { tools: [WEATHER_TOOL] }));
      assert.deepEqual(m.content.map((b) => b.type), ['thinking', 'text', 'tool_use'], JSON.stringify(m.content));
      assert.equal(m.content[0].thinking, 'Two plus two is four.');
      assert.equal(m.content[0].signature, '');
      assert.equal(m.content[1].text, 'The answer is 4.');
      assert.deepEqual(m.content[2].input, { city: 'Lima' });
    });
  }

  for (const [fr, sr, withTool] of [
    ['stop', 'end_turn', false], ['length', 'max_tokens', false], ['tool_calls', 'tool_use', true],
    ['content_filter', 'refusal', false],
    // cut by the output limit after complete tool calls: the client must learn of the limit (docs/protocol-notes.md,
    // "Mapping: finish_reason -> stop_reason"), the calls are kept
    ['length', 'max_tokens', true],
  ]) {
    test(`finish_reason ${fr}${withTool ? ' with complete tool calls' : ''} → stop_reason ${sr}`, async () => {
      main.enqueue({
        json: oaiCompletion({
          content: 'partial',
          finish_reason: fr,
          ...(withTool ? { tool_calls: [oaiToolCall('call_x', 'get_weather', { city: 'Bern' })] } : {}),
        }),
      });
      const m = await client.messages.create(basic('gpt-4o@openai', withTool ? { tools: [WEATHER_TOOL] } : {}));
      assert.equal(m.stop_reason, sr);
      if (withTool) assert.deepEqual(m.content.find((b) => b.type === 'tool_use').input, { city: 'Bern' });
      // and the same through the stream
      main.enqueue({
        json: oaiCompletion({
          content: 'partial',
          finish_reason: fr,
          ...(withTool ? { tool_calls: [oaiToolCall('call_x', 'get_weather', { city: 'Bern' })] } : {}),
        }),
      });
      const s = await client.messages.stream(basic('gpt-4o@openai', withTool ? { tools: [WEATHER_TOOL] } : {})).finalMessage();
      assert.equal(s.stop_reason, sr);
      if (withTool) assert.deepEqual(s.content.find((b) => b.type === 'tool_use').input, { city: 'Bern' });
    });
  }

  test('message.refusal → a text block with the refusal, stop_reason refusal', async () => {
    main.enqueue({ json: oaiCompletion({ content: null, refusal: 'I cannot help with that.', finish_reason: 'stop' }) });
    const m = await client.messages.create(basic('gpt-4o@openai'));
    assert.deepEqual(m.content.map((b) => [b.type, b.text]), [['text', 'I cannot help with that.']]);
    assert.equal(m.stop_reason, 'refusal');
  });

  test('Gemini ends a tool-call turn with finish_reason "stop" → stop_reason tool_use', async () => {
    main.enqueue({ json: oaiCompletion({ content: null, tool_calls: [oaiToolCall('', 'get_weather', { city: 'Kyiv' })], finish_reason: 'stop' }) });
    const m = await client.messages.create(basic('gemini-2.5-flash@gemini', { tools: [WEATHER_TOOL] }));
    assert.equal(m.stop_reason, 'tool_use');
    assert.deepEqual(m.content.map((b) => [b.type, b.name, b.input]), [['tool_use', 'get_weather', { city: 'Kyiv' }]]);
    assert.match(m.content[0].id, /^toolu_/);
  });

  test('finish_reason "tool_calls" without any tool call → end_turn', async () => {
    main.enqueue({ json: oaiCompletion({ content: 'no tools after all', finish_reason: 'tool_calls' }) });
    const m = await client.messages.create(basic('gpt-4o@openai'));
    assert.equal(m.stop_reason, 'end_turn');
    assert.deepEqual(m.content.map((b) => b.type), ['text']);
  });

  for (const args of ['[1,2]', '"just a string"', 'null']) {
    test(`tool call arguments that are JSON but not an object (${args}) → 502 api_error`, async () => {
      main.enqueue({ json: oaiCompletion({ content: null, tool_calls: [oaiToolCall('call_n', 'get_weather', args)] }) });
      await rejectsApi(client.messages.create(basic('gpt-4o@openai', { tools: [WEATHER_TOOL] })), 502, 'api_error');
    });
  }

  test('usage: input = prompt - cached, cache_read = cached, output = completion', async () => {
    main.enqueue({
      json: oaiCompletion({
        content: 'x',
        usage: { prompt_tokens: 1000, completion_tokens: 123, total_tokens: 1123, prompt_tokens_details: { cached_tokens: 600 } },
      }),
    });
    const m = await client.messages.create(basic('gpt-4o@openai'));
    assert.equal(m.usage.input_tokens, 400);
    assert.equal(m.usage.cache_read_input_tokens, 600);
    assert.equal(m.usage.output_tokens, 123);
    main.enqueue({ json: oaiCompletion({ content: 'y', usage: { prompt_tokens: 17, completion_tokens: 2, total_tokens: 19 } }) });
    const n = await client.messages.create(basic('gpt-4o@openai'));
    assert.equal(n.usage.input_tokens, 17, 'no prompt_tokens_details: all input is uncached');
    assert.equal(n.usage.cache_read_input_tokens ?? 0, 0);
    assert.equal(n.usage.output_tokens, 2);
  });
});

describe('answers recorded from routers (integers beyond 64 bits, <think> tags, reasoning twice)', () => {
  // Together / Hugging Face routers put "seed": 9949578379265081000 (> 2^63-1) on the choice; DeepSeek-R1
  // through them puts its reasoning in a leading <think>...</think>. Raw bytes: JSON.stringify cannot
  // write such an integer.
  const SEED = '9949578379265081000';
  const togetherWhole = `{"id":"nq8Xy2k","object":"chat.completion","created":1764900000,"model":"deepseek-ai/DeepSeek-R1",`
    + `"prompt":[],"choices":[{"finish_reason":"stop","seed":${SEED},"logprobs":null,"index":0,"message":{"role":"assistant",`
    + `"content":"<think>\\nThe user wants a greeting.\\n</think>\\n\\nHello! How can I help?","tool_calls":[]}}],`
    + `"usage":{"prompt_tokens":12,"completion_tokens":25,"total_tokens":37}}`;
  const chunk = (delta, finish = null) => `data: {"id":"nq8Xy2k","object":"chat.completion.chunk","model":"deepseek-ai/DeepSeek-R1",`
    + `"choices":[{"index":0,"delta":${JSON.stringify(delta)},"finish_reason":${JSON.stringify(finish)},"seed":${SEED}}]}\n\n`;

  test('a whole answer with a 64-bit-overflowing seed and <think> → a Message with thinking then text (not 502)', async () => {
    main.enqueue({ rawBody: togetherWhole, headers: { 'content-type': 'application/json' } });
    const m = await client.messages.create(basic('deepseek-r1@openai'));
    assert.deepEqual(m.content.map((b) => b.type), ['thinking', 'text'], `${JSON.stringify(m.content)}${ctx()}`);
    assert.equal(m.content[0].thinking.trim(), 'The user wants a greeting.');
    assert.equal(m.content[1].text, 'Hello! How can I help?');
    assert.equal(m.usage.output_tokens, 25);
  });

  test('the same answer streamed, tags split across chunks → one thinking block, one text block', async () => {
    main.enqueue({
      chunks: [chunk({ role: 'assistant', content: '<th' }), chunk({ content: 'ink>\nThe user wants' }),
        chunk({ content: ' a greeting.\n</th' }), chunk({ content: 'ink>\n\nHello!' }), chunk({ content: ' How can I help?' }),
        chunk({}, 'stop'), 'data: [DONE]\n\n'],
    });
    const m = await client.messages.stream(basic('deepseek-r1@openai')).finalMessage();
    assert.deepEqual(m.content.map((b) => b.type), ['thinking', 'text'], JSON.stringify(m.content));
    assert.equal(m.content[0].thinking.trim(), 'The user wants a greeting.');
    assert.equal(m.content[1].text, 'Hello! How can I help?');
  });

  test('a client body with an integer beyond 64 bits is accepted and reaches the upstream', async () => {
    const raw = `{"model":"gpt-4o@openai","max_tokens":64,"metadata":{"user_id":"u1"},"messages":[{"role":"user","content":[`
      + `{"type":"text","text":"seed"}]}],"tools":[{"name":"t","input_schema":{"type":"object","properties":`
      + `{"n":{"type":"integer","maximum":123456789012345678901234567890}}}}]}`;
    const res = await env.post('/v1/messages', raw, { 'content-type': 'application/json' });
    assert.equal(res.status, 200, res.text);
    const r = await main.waitForRequests(1, 3000).then(() => main.requests[0]);
    assert.ok(r.text.includes('"maximum":1.2345678901234568e+29') || r.text.includes('"maximum":1.2345678901234568e29'),
      `the huge bound arrives as a number: ${r.text.slice(0, 400)}`);
  });

  test('reasoning given twice (reasoning field + the same <think> in content, MiniMax) → one thinking block', async () => {
    main.enqueue({
      json: oaiCompletion({ content: '<think>\nI should list the files.\n</think>\n\nHere they are.', reasoning: 'I should list the files.' }),
    });
    const m = await client.messages.create(basic('minimax-m2@openai'));
    assert.deepEqual(m.content.map((b) => b.type), ['thinking', 'text'], JSON.stringify(m.content));
    assert.equal(m.content[0].thinking, 'I should list the files.');
    assert.equal(m.content[1].text, 'Here they are.');
  });
});

describe('request translation (Anthropic → OpenAI), as the upstream sees it', () => {
  test('system string → first system message', async () => {
    await client.messages.create(basic('gpt-4o@openai', { system: 'You are terse.' }));
    const r = await upstreamReq();
    assert.deepEqual(r.json.messages.map((x) => x.role), ['system', 'user']);
    assert.equal(contentText(r.json.messages[0].content), 'You are terse.');
  });

  test('system blocks → one first system message with both texts, no cache_control', async () => {
    await client.messages.create(basic('gpt-4o@openai', {
      system: [{ type: 'text', text: 'Block A.', cache_control: { type: 'ephemeral' } }, { type: 'text', text: 'Block B.' }],
    }));
    const r = await upstreamReq();
    assert.deepEqual(r.json.messages.map((x) => x.role), ['system', 'user']);
    const t = contentText(r.json.messages[0].content);
    assert.ok(t.includes('Block A.') && t.includes('Block B.') && t.indexOf('Block A.') < t.indexOf('Block B.'), t);
    assert.deepEqual(findKeys(r.json, (k) => k === 'cache_control'), []);
  });

  test('role "system" inside messages stays at its position', async () => {
    await client.messages.create(basic('gpt-4o@openai', {
      system: 'top',
      messages: [
        { role: 'user', content: 'u1' },
        { role: 'assistant', content: 'a1' },
        { role: 'system', content: 'mid-conversation system' },
        { role: 'user', content: 'u2' },
      ],
    }));
    const r = await upstreamReq();
    assert.deepEqual(r.json.messages.map((x) => x.role), ['system', 'user', 'assistant', 'system', 'user']);
    assert.deepEqual(r.json.messages.map((x) => contentText(x.content)), ['top', 'u1', 'a1', 'mid-conversation system', 'u2']);
  });

  test('images: base64 → data URL, url → url, order kept', async () => {
    await client.messages.create(basic('gpt-4o@openai', {
      messages: [{
        role: 'user',
        content: [
          { type: 'text', text: 'Compare:' },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgoAAAANSUhEUg==' } },
          { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
        ],
      }],
    }));
    const r = await upstreamReq();
    const parts = r.json.messages[0].content;
    assert.ok(Array.isArray(parts), JSON.stringify(parts));
    assert.deepEqual(parts.map((p) => p.type), ['text', 'image_url', 'image_url']);
    assert.equal(parts[0].text, 'Compare:');
    assert.equal(parts[1].image_url.url, 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUg==');
    assert.equal(parts[2].image_url.url, 'https://example.com/cat.jpg');
  });

  test('tools → functions', async () => {
    await client.messages.create(basic('gpt-4o@openai', { tools: [WEATHER_TOOL] }));
    const r = await upstreamReq();
    assert.deepEqual(r.json.tools, [{
      type: 'function',
      function: { name: 'get_weather', description: WEATHER_TOOL.description, parameters: WEATHER_TOOL.input_schema },
    }]);
    assert.ok(r.json.tool_choice === undefined || r.json.tool_choice === 'auto', `tool_choice: ${r.json.tool_choice}`);
    assert.ok(r.json.parallel_tool_calls === undefined || r.json.parallel_tool_calls === true);
  });

  for (const [choice, want] of [
    [{ type: 'auto' }, 'auto'],
    [{ type: 'any' }, 'required'],
    [{ type: 'tool', name: 'get_weather' }, { type: 'function', function: { name: 'get_weather' } }],
    [{ type: 'none' }, 'none'],
  ]) {
    test(`tool_choice ${choice.type} → ${JSON.stringify(want)}`, async () => {
      await client.messages.create(basic('gpt-4o@openai', { tools: [WEATHER_TOOL], tool_choice: choice }));
      const r = await upstreamReq();
      assert.deepEqual(r.json.tool_choice, want);
      assert.ok(r.json.parallel_tool_calls === undefined || r.json.parallel_tool_calls === true);
    });
  }

  test('disable_parallel_tool_use → parallel_tool_calls false', async () => {
    await client.messages.create(basic('gpt-4o@openai', {
      tools: [WEATHER_TOOL], tool_choice: { type: 'auto', disable_parallel_tool_use: true },
    }));
    const r = await upstreamReq();
    assert.equal(r.json.parallel_tool_calls, false);
    assert.equal(r.json.tool_choice, 'auto');
  });

  test('tool_use / tool_result history → assistant tool_calls + tool messages right after, before user text', async () => {
    await client.messages.create(basic('gpt-4o@openai', {
      tools: [WEATHER_TOOL],
      messages: [
        { role: 'user', content: 'Weather in Paris and Rome?' },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Checking both.' },
            { type: 'tool_use', id: 'toolu_01', name: 'get_weather', input: { city: 'Paris' } },
            { type: 'tool_use', id: 'toolu_02', name: 'get_weather', input: { city: 'Rome' } },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_01', content: '18C and sunny' },
            { type: 'tool_result', tool_use_id: 'toolu_02', content: [{ type: 'text', text: 'service unavailable' }], is_error: true },
            { type: 'text', text: 'Thanks, and tomorrow?' },
          ],
        },
      ],
    }));
    const r = await upstreamReq();
    const msgs = r.json.messages;
    assert.deepEqual(msgs.map((x) => x.role), ['user', 'assistant', 'tool', 'tool', 'user'], JSON.stringify(msgs));
    const a = msgs[1];
    assert.equal(contentText(a.content), 'Checking both.');
    assert.equal(a.tool_calls.length, 2);
    for (const [i, id, city] of [[0, 'toolu_01', 'Paris'], [1, 'toolu_02', 'Rome']]) {
      assert.equal(a.tool_calls[i].id, id);
      assert.equal(a.tool_calls[i].type, 'function');
      assert.equal(a.tool_calls[i].function.name, 'get_weather');
      assert.equal(typeof a.tool_calls[i].function.arguments, 'string');
      assert.deepEqual(JSON.parse(a.tool_calls[i].function.arguments), { city });
    }
    assert.equal(msgs[2].tool_call_id, 'toolu_01');
    assert.equal(contentText(msgs[2].content), '18C and sunny');
    assert.equal(msgs[3].tool_call_id, 'toolu_02');
    const errText = contentText(msgs[3].content);
    assert.ok(errText.includes('service unavailable'), errText);
    assert.match(errText, /error/i, `is_error is marked in the tool message: ${errText}`);
    assert.ok(!/error/i.test(contentText(msgs[2].content)), 'a successful result is not marked');
    assert.equal(contentText(msgs[4].content), 'Thanks, and tomorrow?');
  });

  test('stop_sequences → stop, metadata.user_id → user, temperature/top_p kept for a normal model', async () => {
    await client.messages.create(basic('gpt-4o@openai', {
      stop_sequences: ['END', 'STOP'], metadata: { user_id: 'user-123' }, temperature: 0.3, top_p: 0.9, top_k: 5,
    }));
    const r = await upstreamReq();
    assert.deepEqual(r.json.stop, ['END', 'STOP']);
    assert.equal(r.json.user, 'user-123');
    assert.equal(r.json.temperature, 0.3);
    assert.equal(r.json.top_p, 0.9);
    assert.equal(r.json.max_tokens, 64);
    assert.equal(r.json.metadata, undefined, 'no Anthropic metadata object upstream');
    assert.equal(r.json.stop_sequences, undefined);
    assert.equal(r.json.top_k, undefined, 'top_k dropped for OpenAI-style');
  });

  test('reasoning model (o3-mini): no temperature/top_p, max_completion_tokens, effort → reasoning_effort', async () => {
    await client.messages.create(basic('o3-mini@openai', {
      temperature: 0.3, top_p: 0.9, thinking: { type: 'adaptive' }, output_config: { effort: 'high' },
    }));
    const r = await upstreamReq();
    assert.equal(r.json.model, 'o3-mini');
    assert.equal(r.json.temperature, undefined, r.text);
    assert.equal(r.json.top_p, undefined, r.text);
    assert.equal(r.json.max_completion_tokens, 64, r.text);
    assert.equal(r.json.max_tokens, undefined, r.text);
    assert.equal(r.json.reasoning_effort, 'high', r.text);
    assert.equal(r.json.thinking, undefined);
    assert.equal(r.json.output_config, undefined);
  });

  test('thinking enabled with a large budget (Claude Code haiku shape) → reasoning_effort high on a reasoning model', async () => {
    await client.messages.create(basic('o3-mini@openai', { max_tokens: 32000, thinking: { type: 'enabled', budget_tokens: 31999 } }));
    const r = await upstreamReq();
    assert.equal(r.json.reasoning_effort, 'high', r.text);
    assert.equal(r.json.max_completion_tokens, 32000);
    assert.equal(r.json.thinking, undefined);
  });

  test('openrouter: adaptive thinking + effort → its reasoning object, no reasoning_effort', async () => {
    await client.messages.create(basic('openai/o3@openrouter', { thinking: { type: 'adaptive' }, output_config: { effort: 'medium' } }));
    const r = await upstreamReq(alt);
    assert.deepEqual(r.json.reasoning, { effort: 'medium' }, r.text);
    assert.equal(r.json.reasoning_effort, undefined, r.text);
    assert.equal(r.json.output_config, undefined);
  });

  test('tool_choice / disable_parallel_tool_use without tools are not sent', async () => {
    await client.messages.create(basic('gpt-4o@openai', { tool_choice: { type: 'any', disable_parallel_tool_use: true } }));
    const r = await upstreamReq();
    assert.equal(r.json.tools, undefined);
    assert.equal(r.json.tool_choice, undefined, r.text);
    assert.equal(r.json.parallel_tool_calls, undefined, 'parallel_tool_calls without tools is a 400 at OpenAI');
  });

  test('an image inside a tool_result moves to a user message after the tool messages', async () => {
    await client.messages.create(basic('gpt-4o@openai', {
      tools: [{ name: 'screenshot', input_schema: { type: 'object', properties: {} } }],
      messages: [
        { role: 'user', content: 'take a screenshot' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_s', name: 'screenshot', input: {} }] },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_s', content: [{ type: 'text', text: 'captured' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } }] },
            { type: 'text', text: 'what do you see?' },
          ],
        },
      ],
    }));
    const r = await upstreamReq();
    const msgs = r.json.messages;
    assert.deepEqual(msgs.map((x) => x.role), ['user', 'assistant', 'tool', 'user'], JSON.stringify(msgs));
    assert.equal(msgs[2].tool_call_id, 'toolu_s');
    assert.ok(typeof msgs[2].content === 'string' || msgs[2].content.every((p) => p.type === 'text'), 'tool content is text only');
    assert.ok(contentText(msgs[2].content).includes('captured'));
    const parts = msgs[3].content;
    assert.ok(Array.isArray(parts), JSON.stringify(msgs[3]));
    assert.ok(parts.some((p) => p.type === 'image_url' && p.image_url.url === 'data:image/png;base64,AAAA'), JSON.stringify(parts));
    assert.ok(contentText(parts).includes('what do you see?'));
  });

  test('document with a text source → text for the upstream, title included', async () => {
    await client.messages.create(basic('gpt-4o@openai', {
      messages: [{ role: 'user', content: [{ type: 'document', title: 'Release notes', source: { type: 'text', media_type: 'text/plain', data: 'Version 2 adds X.' } }, { type: 'text', text: 'Summarize.' }] }],
    }));
    const r = await upstreamReq();
    const t = contentText(r.json.messages[0].content);
    assert.ok(t.includes('Version 2 adds X.') && t.includes('Release notes') && t.includes('Summarize.'), t);
  });

  for (const [name, block, word] of [
    ['a PDF document', { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0xLjQK' } }, 'PDF'],
    ['an image file_id', { type: 'image', source: { type: 'file', file_id: 'file_011CNha8iCJcU1wXNR6q4V8w' } }, 'file'],
  ]) {
    test(`${name} toward a generic OpenAI-style provider → 400 invalid_request_error; upstream untouched`, async () => {
      await rejectsApi(client.messages.create(basic('gpt-4o@openai', { messages: [{ role: 'user', content: [block, { type: 'text', text: 'read it' }] }] })),
        400, 'invalid_request_error', { includes: [word] });
      await assertNothingReceived([main, alt], 200);
    });
  }

  test('maxOutputTokens caps the output-token field sent upstream', async () => {
    await client.messages.create({ ...basic('m@capped'), max_tokens: 32000 });
    const r = await upstreamReq();
    assert.equal(r.json.max_tokens, 1000, r.text);
  });

  test('an upstream 400 naming its output-token cap: retried once with that cap, which is remembered', async () => {
    main.enqueue({
      status: 400,
      json: {
        error: {
          message: 'max_tokens is too large: 32000. This model supports at most 16384 completion tokens, whereas you provided 32000.',
          type: 'invalid_request_error', param: 'max_tokens', code: 'invalid_value',
        },
      },
    });
    const m = await client.messages.create({ ...basic('capme@local'), max_tokens: 32000 });
    assert.equal(m.type, 'message');
    await main.waitForRequests(2, 3000);
    assert.equal(main.requests.length, 2, 'one retry');
    assert.equal(main.requests[0].json.max_tokens, 32000);
    assert.equal(main.requests[1].json.max_tokens, 16384);
    env.resetMocks();
    await client.messages.create({ ...basic('capme@local'), max_tokens: 32000 });
    const r = await upstreamReq();
    assert.equal(r.json.max_tokens, 16384, 'the learned cap is applied up front');
  });

  test('an upstream 400 that is not about the output cap is not retried', async () => {
    main.enqueue({ status: 400, json: { error: { message: 'messages: bad role', type: 'invalid_request_error' } } });
    await assert.rejects(client.messages.create(basic('other@local')),
      (e) => e.status === 400 && e.error?.error?.type === 'invalid_request_error' && e.headers.get('x-should-retry') === 'false');
    // a capped retry is sent before the client is answered: the answer means there was none
    assert.equal(main.requests.length, 1);
  });

  test('more than 4 stop_sequences toward a vendor API (gemini flavor): the first 4 reach the upstream', async () => {
    const stops = ['s1', 's2', 's3', 's4', 's5'];
    await client.messages.create(basic('gemini-2.5-pro@gemini', { stop_sequences: stops }));
    const r = await upstreamReq();
    assert.deepEqual(r.json.stop, stops.slice(0, 4), `stop sent upstream: ${JSON.stringify(r.json.stop)}`);
  });

  test('more than 4 stop_sequences toward a generic OpenAI-compatible server: all of them are sent', async () => {
    const stops = ['s1', 's2', 's3', 's4', 's5'];
    await client.messages.create(basic('qwen@local', { stop_sequences: stops }));
    const r = await upstreamReq();
    assert.deepEqual(r.json.stop, stops, `stop sent upstream: ${JSON.stringify(r.json.stop)}`);
  });

  test('cache_control appears nowhere in the upstream body', async () => {
    const cc = { type: 'ephemeral' };
    await client.messages.create(basic('gpt-4o@openai', {
      system: [{ type: 'text', text: 'sys', cache_control: cc }],
      tools: [{ ...WEATHER_TOOL, cache_control: cc }],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'q', cache_control: cc }] },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_c', name: 'get_weather', input: { city: 'X' }, cache_control: cc }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_c', content: 'r', cache_control: cc }] },
      ],
    }));
    const r = await upstreamReq();
    assert.deepEqual(findKeys(r.json, (k) => k === 'cache_control'), [], r.text);
    assert.ok(!r.text.includes('ephemeral'), r.text);
  });

  test('a web_search server tool → 400 invalid_request_error naming it; upstream receives nothing', async () => {
    await rejectsApi(client.messages.create(basic('gpt-4o@openai', {
      tools: [WEATHER_TOOL, { type: 'web_search_20250305', name: 'web_search', max_uses: 3 }],
    })), 400, 'invalid_request_error', { includes: ['web_search'] });
    await assertNothingReceived([main, alt], 300);
  });

  test('all provider keys stay out of every client-visible answer', async () => {
    const m = await client.messages.create(basic('gpt-4o@openai'));
    const s = JSON.stringify(m);
    for (const k of ALL_KEYS) assert.ok(!s.includes(k));
  });
});

describe('models.map', () => {
  let menv;
  before(async () => {
    menv = await setupProxy({
      settings: ({ main: m }) => ({
        providers: { openai: { baseURL: `${m.url}/v1`, apiKey: PROV_KEY }, local: { baseURL: `${m.url}/local/v1` } },
        models: { bigModel: 'big-up@openai', smallModel: 'small-up@openai', map: { 'claude-opus-*': 'qwen-max@local' } },
      }),
    });
  });
  after(async () => { if (menv) await menv.close(); });

  test('a matching pattern wins over the opus rule; others keep the defaults; /v1/models lists the target', async () => {
    await menv.client.messages.create(basic('claude-opus-4-8[1m]'));
    await menv.client.messages.create(basic('claude-sonnet-4'));
    await menv.main.waitForRequests(2, 3000);
    assert.equal(menv.main.requests[0].path, '/local/v1/chat/completions');
    assert.equal(menv.main.requests[0].json.model, 'qwen-max');
    assert.equal(menv.main.requests[1].json.model, 'big-up');
    const models = await menv.client.models.list();
    assert.ok(models.data.some((m) => m.id === 'qwen-max@local'), JSON.stringify(models.data));
  });
});

describe('large request bodies (sent upstream through a read callback)', () => {
  let lenv;
  before(async () => {
    lenv = await setupProxy({
      settings: ({ main: m }) => ({
        providers: { openai: { baseURL: `${m.url}/v1`, apiKey: PROV_KEY } },
        models: { bigModel: 'big-up@openai', smallModel: 'small-up@openai' },
      }),
    });
  });
  after(async () => { if (lenv) await lenv.close(); });

  for (const kb of [63, 64, 300]) {
    test(`a ${kb} KB user message reaches the upstream intact, non-stream and stream`, async () => {
      const text = 'x'.repeat(kb * 1024);
      const m = await lenv.client.messages.create(basic('big@openai', { messages: [{ role: 'user', content: text }] }));
      assert.equal(m.type, 'message');
      const s = await lenv.client.messages.stream(basic('big@openai', { messages: [{ role: 'user', content: text }] })).finalMessage();
      assert.equal(s.type, 'message');
      await lenv.main.waitForRequests(2, 3000);
      for (const r of lenv.main.requests) {
        const user = r.json.messages.find((x) => x.role === 'user');
        assert.equal(user.content, text, 'the whole body arrived');
        assert.equal(Number(r.headers['content-length'] ?? r.rawBody.length), r.rawBody.length);
      }
      lenv.resetMocks();
    });
  }

  test('a large body retried with a learned output cap is sent again intact', async () => {
    lenv.main.enqueue({ status: 400, json: { error: { message: 'max_tokens is too large: 32000. This model supports at most 4096 completion tokens.' } } });
    const text = 'y'.repeat(200 * 1024);
    await lenv.client.messages.create({ ...basic('capbig@openai', { messages: [{ role: 'user', content: text }] }), max_tokens: 32000 });
    await lenv.main.waitForRequests(2, 3000);
    // a provider named "openai" is the OpenAI flavor (here behind a relay URL): max_completion_tokens
    assert.equal(lenv.main.requests[1].json.max_completion_tokens, 4096);
    assert.equal(lenv.main.requests[1].json.messages.find((x) => x.role === 'user').content, text);
    lenv.resetMocks();
  });
});
