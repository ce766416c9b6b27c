// What Claude Code sends (docs/protocol-notes.md, "What Claude Code sends"), through ccproxy to OpenAI-style
// providers: the main call, the title call, count_tokens (answered locally) and the max_tokens:1 probe.
import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { setupProxy, assertNothingReceived, assertAnthropicStream, findKeys, hdr, contentText } from './lib/proxy.mjs';
import { oaiCompletion, oaiToolCall } from './lib/mock-upstream.mjs';
import {
  claudeCodeBody, claudeCodeHeaders, claudeCodeTitleBody, claudeCodeTools, assertValidOpenAIRequest, OAI_TOOL_NAME_RE,
} from './lib/claude-code.mjs';

const PROV_KEY = 'sk-prov-SECRET-cc-1234';
const GEM_KEY = 'g-key-SECRET-cc';
const OR_KEY = 'or-key-SECRET-cc';
const CC_KEY = 'sk-ant-cc-client-key-777';

let env;
let main;
let alt;
let client;

before(async () => {
  env = await setupProxy({
    settings: ({ main: m, alt: a }) => ({
      providers: {
        openai: { baseURL: `${m.url}/v1`, apiKey: PROV_KEY },
        gemini: { baseURL: m.url, apiKey: GEM_KEY },
        openrouter: { baseURL: `${a.url}/api/v1`, apiKey: OR_KEY },
      },
      models: { bigModel: 'gpt-4.1@openai', smallModel: 'o3-mini@openai', preferredProvider: 'openai' },
    }),
  });
  ({ main, alt, client } = env);
});
after(async () => { if (env) await env.close(); });
beforeEach(() => env.resetMocks());

const ctx = () => `\n--- daemon stderr (tail) ---\n${env.stderrTail()}`;
const ccPost = (p, body) => env.post(p, body, claudeCodeHeaders(CC_KEY), { timeoutMs: 10000 });

function toolCallAnswer() {
  return oaiCompletion({
    content: 'Summary: the file says hello.',
    tool_calls: [oaiToolCall('call_cc_1', 'Read', { file_path: '/tmp/other.txt', limit: 20 })],
    usage: { prompt_tokens: 21000, completion_tokens: 55, total_tokens: 21055, prompt_tokens_details: { cached_tokens: 20000 } },
  });
}

async function theUpstreamRequest(mock) {
  const r = await mock.waitForRequests(1, 3000);
  assert.equal(mock.requests.length, 1, `one upstream request; got ${mock.requests.map((x) => x.url)}`);
  return r;
}

const GEMINI_BAD = ['$schema', 'additionalProperties', 'propertyNames', 'exclusiveMinimum', 'const'];

describe('Claude Code main call (stream, ?beta=true, 24 tools, adaptive thinking, cache_control, ...)', () => {
  for (const [model, mockName, flavor, upModel, path] of [
    // a provider named "openai" gets OpenAI's rules whatever its baseURL (here the mock, as a corporate relay)
    ['claude-opus-4-8[1m]', 'main', 'openai', 'gpt-4.1', '/v1/chat/completions'],
    ['gemini-2.5-pro@gemini', 'main', 'gemini', 'gemini-2.5-pro', '/v1beta/openai/chat/completions'],
    ['anthropic/claude-opus-4@openrouter', 'alt', 'openrouter', 'anthropic/claude-opus-4', '/api/v1/chat/completions'],
    ['o4-mini@openai', 'main', 'openai', 'o4-mini', '/v1/chat/completions'],
  ]) {
    test(`${model}: the upstream body follows the OpenAI rules; the SSE answer is well-formed`, async () => {
      const mock = mockName === 'main' ? main : alt;
      mock.enqueue({ json: toolCallAnswer() });
      const sent = claudeCodeBody(model);
      const res = await ccPost('/v1/messages?beta=true', sent);
      assert.equal(res.status, 200, `status${res.text ? `: ${res.text}` : ''}${ctx()}`);
      const r = await theUpstreamRequest(mock);
      assert.equal(r.path, path);
      assert.ok(r.json, `upstream body is JSON: ${r.text.slice(0, 200)}`);
      assertValidOpenAIRequest(r.json, { flavor });
      assert.equal(r.json.model, upModel);
      // nothing of the client's identity or Anthropic headers travels upstream
      const hdrs = JSON.stringify(r.headers);
      assert.ok(!hdrs.includes(CC_KEY), `client key forwarded: ${hdrs}`);
      for (const h of ['x-api-key', 'anthropic-beta', 'anthropic-version', 'x-claude-code-session-id']) {
        assert.equal(hdr(r, h), undefined, `${h} must not be sent to an OpenAI-style upstream: ${hdrs}`);
      }
      // content survived the translation
      const msgs = r.json.messages;
      assert.equal(r.json.tools.length, 24, 'all 24 tools declared');
      assert.deepEqual(r.json.tools.map((t) => t.function.name), claudeCodeTools().map((t) => t.name));
      assert.equal(msgs[0].role, 'system');
      const sys0 = contentText(msgs[0].content);
      assert.ok(sys0.includes('interactive agent that helps users'), `system prompt kept: ${sys0.slice(0, 300)}`);
      assert.ok(msgs.some((m) => m.role === 'system' && contentText(m.content).includes('Available agent types')),
        'the mid-conversation role:"system" entry is kept as a system message');
      const toolMsgs = msgs.filter((m) => m.role === 'tool');
      assert.deepEqual(toolMsgs.map((m) => m.tool_call_id), ['toolu_01ReadAAAA', 'toolu_01BashBBBB', 'toolu_01WebCCCC']);
      assert.ok(contentText(toolMsgs[0].content).includes('hello'));
      assert.ok(contentText(msgs[msgs.length - 1].content).includes('now summarize'), 'last user text kept, after the tool messages');
      assert.equal(msgs[msgs.length - 1].role, 'user');
      if (flavor === 'gemini') {
        for (const t of r.json.tools) {
          const bad = findKeys(t.function.parameters, (k) => GEMINI_BAD.includes(k));
          assert.deepEqual(bad, [], `Gemini tool ${t.function.name} schema still has ${bad}: ${JSON.stringify(t.function.parameters)}`);
          assert.deepEqual(findKeys(t.function.parameters, (k, v) => k === 'type' && typeof v !== 'string'), [],
            `Gemini tool ${t.function.name}: type arrays`);
        }
      }
      if (upModel === 'o4-mini') {
        assert.equal(r.json.reasoning_effort, 'high', 'output_config.effort → reasoning_effort for a reasoning model');
        assert.ok(r.json.max_completion_tokens > 0 && r.json.max_tokens === undefined, 'max_completion_tokens for a reasoning model');
      }

      // the answer: an Anthropic stream the SDK accumulators accept
      assert.match(String(res.headers['content-type']), /^text\/event-stream/);
      const msg = assertAnthropicStream(res.text, ctx());
      assert.equal(msg.model, model);
      assert.match(msg.id, /^msg_/);
      assert.equal(msg.stop_reason, 'tool_use');
      const tu = msg.content.find((b) => b.type === 'tool_use');
      assert.ok(tu, `a tool_use block: ${JSON.stringify(msg.content)}`);
      assert.equal(tu.name, 'Read');
      assert.deepEqual(tu.input, { file_path: '/tmp/other.txt', limit: 20 });
      assert.equal(msg.content.find((b) => b.type === 'text')?.text, 'Summary: the file says hello.');
      assert.equal(msg.usage.input_tokens, 1000);
      assert.equal(msg.usage.cache_read_input_tokens, 20000);
      assert.equal(msg.usage.output_tokens, 55);
    });
  }

  test('the non-stream fallback of the same body gets a JSON Message', async () => {
    main.enqueue({ json: toolCallAnswer() });
    const res = await ccPost('/v1/messages?beta=true', claudeCodeBody('claude-opus-4-8[1m]', { stream: false }));
    assert.equal(res.status, 200, res.text + ctx());
    assert.match(String(res.headers['content-type']), /^application\/json/);
    const m = res.json;
    assert.equal(m.type, 'message');
    assert.equal(m.model, 'claude-opus-4-8[1m]');
    assert.deepEqual(m.content.map((b) => b.type), ['text', 'tool_use']);
    assert.deepEqual(m.content[1].input, { file_path: '/tmp/other.txt', limit: 20 });
    const r = await theUpstreamRequest(main);
    assertValidOpenAIRequest(r.json);
  });

  test('the SDK streaming the same request (beta client, betas header) accepts the answer', async () => {
    main.enqueue({ json: toolCallAnswer() });
    const { stream, ...params } = claudeCodeBody('claude-sonnet-4-6');
    assert.equal(stream, true);
    const m = await client.beta.messages.stream({ ...params, betas: ['context-management-2025-06-27'] }).finalMessage();
    assert.equal(m.stop_reason, 'tool_use');
    assert.deepEqual(m.content.find((b) => b.type === 'tool_use').input, { file_path: '/tmp/other.txt', limit: 20 });
    const r = await theUpstreamRequest(main);
    assertValidOpenAIRequest(r.json);
    assert.equal(r.json.model, 'gpt-4.1');
  });

  test('the title call (no tools, thinking disabled, json_schema output) → response_format, no empty tools', async () => {
    main.enqueue({ json: oaiCompletion({ content: '{"title":"Read notes and say hi"}' }) });
    const sent = claudeCodeTitleBody();
    const res = await ccPost('/v1/messages?beta=true', sent);
    assert.equal(res.status, 200, res.text + ctx());
    const r = await theUpstreamRequest(main);
    assertValidOpenAIRequest(r.json);
    assert.equal(r.json.tools, undefined, 'an empty tools array is not sent (OpenAI rejects [])');
    assert.equal(r.json.tool_choice, undefined);
    assert.equal(r.json.parallel_tool_calls, undefined);
    assert.ok(r.json.reasoning_effort === undefined || r.json.reasoning_effort === 'none', `reasoning_effort: ${r.json.reasoning_effort}`);
    const rf = r.json.response_format;
    assert.ok(rf && rf.type === 'json_schema', `response_format json_schema: ${JSON.stringify(rf)}`);
    assert.equal(typeof rf.json_schema.name, 'string');
    assert.match(rf.json_schema.name, /^[a-zA-Z0-9_-]{1,64}$/);
    assert.deepEqual(rf.json_schema.schema, sent.output_config.format.schema);
    const msg = assertAnthropicStream(res.text);
    assert.equal(msg.content[0].text, '{"title":"Read notes and say hi"}');
  });

  test('metadata.user_id (a JSON string) becomes a valid user identifier or is dropped', async () => {
    await ccPost('/v1/messages?beta=true', claudeCodeBody('claude-opus-4-8[1m]'));
    const r = await theUpstreamRequest(main);
    for (const k of ['user', 'safety_identifier']) {
      if (r.json[k] !== undefined) {
        assert.equal(typeof r.json[k], 'string');
        assert.ok(r.json[k].length > 0 && r.json[k].length <= 64, `${k} ≤ 64 chars: ${r.json[k]}`);
      }
    }
    assert.equal(r.json.metadata, undefined);
  });

  test('tool names Claude Code may send (MCP names) stay within the OpenAI name rules', async () => {
    const long = 'mcp__claude_ai_Some_Very_Long_Server_Name__search_documents_in_workspace_by_query';
    main.enqueue({ json: (rec) => oaiCompletion({ content: null, tool_calls: [oaiToolCall('call_m', rec.json.tools[1].function.name, { q: 'x' })] }) });
    const body = claudeCodeBody('claude-opus-4-8[1m]', { stream: false });
    body.tools = [body.tools[0], { name: long, description: 'mcp tool', input_schema: { type: 'object', properties: { q: { type: 'string' } } } }];
    body.messages = [{ role: 'user', content: 'search' }];
    const res = await ccPost('/v1/messages?beta=true', body);
    assert.equal(res.status, 200, res.text + ctx());
    const r = await theUpstreamRequest(main);
    assertValidOpenAIRequest(r.json);
    for (const t of r.json.tools) assert.match(t.function.name, OAI_TOOL_NAME_RE);
    assert.equal(res.json.content[0].name, long, 'original MCP name restored');
  });
});

describe('count_tokens for an OpenAI-style provider is answered locally', () => {
  test('SDK countTokens: positive, grows with the input, upstream untouched', async () => {
    const small = await client.messages.countTokens({ model: 'gpt-4.1@openai', messages: [{ role: 'user', content: 'hi' }] });
    const text = 'The quick brown fox jumps over the lazy dog. '.repeat(250); // ~11 KB of English
    const big = await client.messages.countTokens({ model: 'gpt-4.1@openai', messages: [{ role: 'user', content: text }] });
    const withSys = await client.messages.countTokens({
      model: 'gpt-4.1@openai', system: text, messages: [{ role: 'user', content: text }],
    });
    const withTools = await client.messages.countTokens({
      model: 'claude-opus-4-8', messages: [{ role: 'user', content: 'hi' }], tools: claudeCodeTools(),
    });
    for (const [n, v] of [['small', small], ['big', big], ['withSys', withSys], ['withTools', withTools]]) {
      assert.ok(Number.isInteger(v.input_tokens) && v.input_tokens > 0, `${n}: positive integer input_tokens: ${JSON.stringify(v)}`);
    }
    assert.ok(big.input_tokens > small.input_tokens, `${big.input_tokens} > ${small.input_tokens}`);
    assert.ok(big.input_tokens >= 1000 && big.input_tokens <= 11250, `~11 KB of English is 1000–11250 tokens: ${big.input_tokens}`);
    assert.ok(withSys.input_tokens > big.input_tokens, `system is counted: ${withSys.input_tokens} > ${big.input_tokens}`);
    assert.ok(withTools.input_tokens > small.input_tokens + 500, `tools are counted: ${withTools.input_tokens} vs ${small.input_tokens}`);
    await assertNothingReceived([main, alt], 200);
  });

  test('Claude Code\'s count_tokens call (?beta=true, no system) → 200 {input_tokens}', async () => {
    const res = await env.post('/v1/messages/count_tokens?beta=true', {
      model: 'claude-opus-4-8[1m]', messages: [{ role: 'user', content: 'foo' }], tools: claudeCodeTools().slice(0, 3),
    }, { ...claudeCodeHeaders(CC_KEY), 'anthropic-beta': 'claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,token-counting-2024-11-01' });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(Object.keys(res.json), ['input_tokens']);
    assert.ok(Number.isInteger(res.json.input_tokens) && res.json.input_tokens > 0, res.text);
    await assertNothingReceived([main, alt], 200);
  });
});

describe('Claude Code\'s max_tokens:1 probe to a reasoning model', () => {
  for (const content of ['', null]) {
    test(`non-stream max_tokens 1 → stop_reason max_tokens with usage (upstream content ${JSON.stringify(content)})`, async () => {
      main.enqueue({
        json: oaiCompletion({
          content, finish_reason: 'length',
          usage: { prompt_tokens: 1234, completion_tokens: 1, total_tokens: 1235, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 1 } },
        }),
      });
      const m = await client.messages.create({
        model: 'claude-haiku-4-5-20251001', max_tokens: 1, messages: [{ role: 'user', content: 'count me' }],
        metadata: { user_id: '{"device_id":"x","session_id":"y"}' },
      });
      const r = await theUpstreamRequest(main);
      assert.equal(r.json.model, 'o3-mini');
      assert.equal(r.json.max_completion_tokens, 1, r.text);
      assert.equal(r.json.max_tokens, undefined, r.text);
      assertValidOpenAIRequest(r.json);
      assert.equal(m.type, 'message');
      assert.equal(m.model, 'claude-haiku-4-5-20251001');
      assert.equal(m.stop_reason, 'max_tokens');
      assert.ok(Array.isArray(m.content));
      for (const b of m.content) assert.notEqual(b.type, 'tool_use');
      assert.equal(m.usage.input_tokens, 1234);
      assert.equal(m.usage.output_tokens, 1);
    });
  }
});
