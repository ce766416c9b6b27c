// OpenAI-style upstream streams (data: {chunk} … data: [DONE]) translated incrementally into Anthropic events
// (docs/protocol-notes.md, "Answers (OpenAI-style -> Anthropic)"; lib/prov/openai/cp_oai_resp.h). Every case
// runs twice: as a raw event sequence read over HTTP and checked strictly (event: lines, message_start first,
// contiguous indices, deltas matching their block, message_delta with stop_reason and full usage,
// message_stop last), and through the SDK's messages.stream().finalMessage().
import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { setupProxy } from './lib/proxy.mjs';
import {
  openStream, assertCompleteStream, assertErrorStream, streamedText, oaiChunk, oaiTextChunks, OAI_USAGE, piece,
} from './lib/stream.mjs';

const PROV_KEY = 'sk-prov-SECRET-stream-oai';
const GEM_KEY = 'g-key-SECRET-stream';
const TOOL_NAME_RE = /^[a-zA-Z0-9_-]{1,64}$/;

const WEATHER_TOOL = {
  name: 'get_weather',
  description: 'Get the weather for a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};
const TIME_TOOL = {
  name: 'get_time',
  description: 'Get the time in a time zone',
  input_schema: { type: 'object', properties: { tz: { type: 'string' } }, required: ['tz'] },
};

let env;
let main;
let client;

before(async () => {
  env = await setupProxy({
    settings: ({ main: m }) => ({
      providers: {
        openai: { baseURL: `${m.url}/v1`, apiKey: PROV_KEY },
        gemini: { baseURL: m.url, apiKey: GEM_KEY },
      },
      models: { bigModel: 'big-up@openai', smallModel: 'small-up@openai', preferredProvider: 'openai' },
    }),
  });
  ({ main, client } = env);
});
after(async () => {
  // d.stop() is safe with an upstream transfer still finishing (61: "SIGTERM right after a stream")
  if (env) await env.close();
});
beforeEach(() => env.resetMocks());

const ctx = () => `\n--- daemon stderr (tail) ---\n${env.stderrTail()}`;
const basic = (model, extra = {}) => ({ model, max_tokens: 512, messages: [{ role: 'user', content: 'Hello' }], ...extra });

/**
 * Run <chunks> (array, or (rec) => array) through ccproxy twice: raw (strict event checks) and with the
 * SDK. Returns {raw: rebuilt message, sdk: finalMessage, rawText, rec (the upstream request of the raw run)}.
 */
async function both(chunks, reqBody, { entry = {} } = {}) {
  const mk = () => (typeof chunks === 'function' ? (rec) => ({ chunks: chunks(rec), gapMs: 1, ...entry }) : { chunks, gapMs: 1, ...entry });
  main.enqueue(mk());
  const r = await openStream(env.d.port, { ...reqBody, stream: true }).done;
  assert.equal(r.status, 200, `raw: status${r.text}${ctx()}`);
  assert.match(String(r.headers['content-type']), /^text\/event-stream/);
  assert.ok(r.complete, `raw: the body ended cleanly${ctx()}`);
  const raw = assertCompleteStream(r.text, { ctx: ctx(), inputRepeated: true });
  assert.match(raw.id, /^msg_/, 'message id');
  assert.equal(raw.model, reqBody.model, 'message_start names the client\'s model');
  const rec = main.requests[0];
  assert.equal(rec.json.stream, true, 'upstream asked to stream');
  assert.equal(rec.json.stream_options?.include_usage, true, 'stream_options.include_usage');
  main.enqueue(mk());
  let sdk;
  try {
    sdk = await client.messages.stream(reqBody).finalMessage();
  } catch (e) {
    assert.fail(`SDK stream().finalMessage() failed: ${e.constructor.name}: ${e.message}${ctx()}`);
  }
  // generated tool ids differ between the two runs
  const noIds = (content) => content.map((b) => (b.type === 'tool_use' ? { ...b, id: b.id.startsWith('toolu_') ? '<generated>' : b.id } : b));
  assert.deepEqual(noIds(sdk.content), noIds(raw.content), 'the SDK rebuilt the same content as the raw check');
  assert.equal(sdk.stop_reason, raw.stop_reason);
  return { raw, sdk, rawText: r.text, events: r.events, rec };
}

/** Run chunks that must end in an error event: raw check, then the SDK must reject. Returns the error. */
async function bothError(chunks, reqBody, type, { entry = {} } = {}) {
  main.enqueue({ chunks, gapMs: 1, ...entry });
  const r = await openStream(env.d.port, { ...reqBody, stream: true }).done;
  assert.equal(r.status, 200, `the stream started: ${r.text}${ctx()}`);
  const err = assertErrorStream(r.text, type, ctx());
  main.enqueue({ chunks, gapMs: 1, ...entry });
  let ok = null;
  try {
    ok = await client.messages.stream(reqBody).finalMessage();
  } catch (e) {
    if (e.error && e.error.error) assert.equal(e.error.error.type, err.type, `SDK error type: ${e.message}`);
    return { err, text: r.text, events: r.events, sdkError: e };
  }
  assert.fail(`the SDK accepted a failed stream as a Message: ${JSON.stringify(ok).slice(0, 500)}`);
  return null;
}

const tc = (index, fields) => ({ ...(index === undefined ? {} : { index }), ...fields });

describe('OpenAI-style stream translation', () => {
  test('text: pieces in order, end_turn, final usage (input = prompt − cached) in message_delta', async () => {
    const { raw, sdk, events } = await both(oaiTextChunks(['Hel', 'lo', ' there', ', friend']), basic('gpt-4o@openai'));
    assert.deepEqual(raw.content, [{ type: 'text', text: 'Hello there, friend' }]);
    assert.equal(raw.stop_reason, 'end_turn');
    assert.equal(raw.stop_sequence, null);
    const md = events.find((e) => e.event === 'message_delta').data;
    assert.equal(md.usage.output_tokens, 9, JSON.stringify(md));
    assert.equal(md.usage.input_tokens, 30, `input = 40 prompt − 10 cached: ${JSON.stringify(md)}`);
    assert.equal(md.usage.cache_read_input_tokens, 10, JSON.stringify(md));
    assert.equal(sdk.usage.input_tokens, 30);
    assert.equal(sdk.usage.output_tokens, 9);
    assert.equal(sdk.usage.cache_read_input_tokens, 10);
    // the text arrives as it comes: one text_delta per upstream piece (not one collected blob)
    assert.ok(events.filter((e) => e.event === 'content_block_delta').length >= 4, 'incremental text deltas');
    const ms = events.find((e) => e.event === 'message_start').data.message;
    assert.ok(ms.usage.input_tokens > 0, `message_start carries an input estimate: ${JSON.stringify(ms.usage)}`);
  });

  test('SSE framing variants: CRLF line ends and "data:" without a space', async () => {
    const wire = oaiTextChunks(['cr', 'lf ', 'ok']).map((c) => (typeof c === 'string' ? c : `data: ${JSON.stringify(c.data)}\n\n`));
    const chunks = wire.map((w, i) => (i % 2 ? w.replace(/\n/g, '\r\n') : w.replace(/^data: /, 'data:')));
    const { raw } = await both(chunks, basic('gpt-4o@openai'));
    assert.deepEqual(raw.content, [{ type: 'text', text: 'crlf ok' }]);
  });

  test('a tool-only answer whose first chunk has content "" → no empty text block', async () => {
    const chunks = [
      oaiChunk({ role: 'assistant', content: '', refusal: null }),
      oaiChunk({ tool_calls: [tc(0, { id: 'call_only', type: 'function', function: { name: 'get_weather', arguments: '' } })] }),
      oaiChunk({ tool_calls: [tc(0, { function: { arguments: '{"city":"Lima"}' } })] }),
      oaiChunk({}, { finish: 'tool_calls' }),
      oaiChunk(null, { choices: [], usage: OAI_USAGE }),
      'data: [DONE]\n\n',
    ];
    const { raw } = await both(chunks, basic('gpt-4o@openai', { tools: [WEATHER_TOOL] }));
    assert.deepEqual(raw.content.map((b) => [b.type, b.name, b.input]), [['tool_use', 'get_weather', { city: 'Lima' }]]);
  });

  test('interleaved tool-call fragments (0, 1, 0, 1) → two complete, non-interleaved tool_use blocks in index order', async () => {
    const chunks = [
      oaiChunk({ role: 'assistant', content: null }),
      oaiChunk({ tool_calls: [tc(0, { id: 'call_i0', type: 'function', function: { name: 'get_weather', arguments: '{"city":' } })] }),
      oaiChunk({ tool_calls: [tc(1, { id: 'call_i1', type: 'function', function: { name: 'get_time', arguments: '{"tz":' } })] }),
      oaiChunk({ tool_calls: [tc(0, { function: { arguments: '"Kyiv"}' } })] }),
      oaiChunk({ tool_calls: [tc(1, { function: { arguments: '"EET"}' } })] }),
      oaiChunk({}, { finish: 'tool_calls' }),
      oaiChunk(null, { choices: [], usage: OAI_USAGE }),
      'data: [DONE]\n\n',
    ];
    const { raw } = await both(chunks, basic('gpt-4o@openai', { tools: [WEATHER_TOOL, TIME_TOOL] }));
    assert.deepEqual(raw.content.map((b) => [b.type, b.name, b.input]),
      [['tool_use', 'get_weather', { city: 'Kyiv' }], ['tool_use', 'get_time', { tz: 'EET' }]]);
  });

  test('usage on the finish chunk itself (no separate usage chunk) → in message_delta', async () => {
    const usage = { prompt_tokens: 50, completion_tokens: 5, total_tokens: 55 };
    const chunks = [
      oaiChunk({ role: 'assistant', content: 'short' }),
      oaiChunk({}, { finish: 'stop', usage }),
      'data: [DONE]\n\n',
    ];
    const { events } = await both(chunks, basic('gpt-4o@openai'));
    const md = events.find((e) => e.event === 'message_delta').data;
    assert.deepEqual([md.usage.input_tokens, md.usage.output_tokens], [50, 5], JSON.stringify(md));
  });

  test('SSE comments and blank keep-alive lines from the upstream are skipped', async () => {
    const chunks = oaiTextChunks(['a', 'b']);
    chunks.splice(1, 0, ': OPENROUTER PROCESSING\n\n', '\n', ': keep-alive\n\n');
    const { raw } = await both(chunks, basic('gpt-4o@openai'));
    assert.deepEqual(raw.content, [{ type: 'text', text: 'ab' }]);
  });

  test('text then two tool calls with incremental arguments → text, tool_use, tool_use; stop_reason tool_use', async () => {
    const chunks = [
      oaiChunk({ role: 'assistant', content: '' }),
      oaiChunk({ content: 'Let me ' }),
      oaiChunk({ content: 'check.' }),
      oaiChunk({ tool_calls: [tc(0, { id: 'call_a1', type: 'function', function: { name: 'get_weather', arguments: '' } })] }),
      oaiChunk({ tool_calls: [tc(0, { function: { arguments: '{"ci' } })] }),
      oaiChunk({ tool_calls: [tc(0, { function: { arguments: 'ty": "Pa' } })] }),
      oaiChunk({ tool_calls: [tc(0, { function: { arguments: 'ris"}' } })] }),
      oaiChunk({ tool_calls: [tc(1, { id: 'call_b2', type: 'function', function: { name: 'get_time', arguments: '{"tz"' } })] }),
      oaiChunk({ tool_calls: [tc(1, { function: { arguments: ': "CET"}' } })] }),
      oaiChunk({}, { finish: 'tool_calls' }),
      oaiChunk(null, { choices: [], usage: OAI_USAGE }),
      'data: [DONE]\n\n',
    ];
    const { raw } = await both(chunks, basic('gpt-4o@openai', { tools: [WEATHER_TOOL, TIME_TOOL] }));
    assert.deepEqual(raw.content.map((b) => b.type), ['text', 'tool_use', 'tool_use'], JSON.stringify(raw.content));
    assert.equal(raw.content[0].text, 'Let me check.');
    assert.equal(raw.content[1].name, 'get_weather');
    assert.deepEqual(raw.content[1].input, { city: 'Paris' });
    assert.equal(raw.content[2].name, 'get_time');
    assert.deepEqual(raw.content[2].input, { tz: 'CET' });
    assert.notEqual(raw.content[1].id, raw.content[2].id, 'distinct tool ids');
    assert.equal(raw.stop_reason, 'tool_use');
  });

  test('finish_reason "length" after complete tool calls → the tool_use blocks kept, stop_reason max_tokens (not tool_use)', async () => {
    const chunks = [
      oaiChunk({ role: 'assistant', content: null, tool_calls: [tc(0, { id: 'call_len', type: 'function', function: { name: 'get_weather', arguments: '' } })] }),
      oaiChunk({ tool_calls: [tc(0, { function: { arguments: '{"city": ' } })] }),
      oaiChunk({ tool_calls: [tc(0, { function: { arguments: '"Paris"}' } })] }),
      oaiChunk({}, { finish: 'length' }),
      oaiChunk(null, { choices: [], usage: OAI_USAGE }),
      'data: [DONE]\n\n',
    ];
    const { raw, sdk } = await both(chunks, basic('gpt-4o@openai', { tools: [WEATHER_TOOL] }));
    assert.deepEqual(raw.content.map((b) => [b.type, b.name, b.input]), [['tool_use', 'get_weather', { city: 'Paris' }]]);
    assert.equal(raw.stop_reason, 'max_tokens', 'the output limit cut the turn: the client must know');
    assert.equal(sdk.stop_reason, 'max_tokens');
  });

  test('Gemini-style whole tool calls without index, two in one chunk, finish "stop" → two tool_use blocks, tool_use', async () => {
    const chunks = [
      oaiChunk({ role: 'assistant', content: 'Checking both.' }),
      oaiChunk({
        tool_calls: [
          { id: 'function-call-1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } },
          { type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }, // no id: one is generated
        ],
      }),
      oaiChunk({}, { finish: 'stop' }),
      oaiChunk(null, { choices: [], usage: OAI_USAGE }),
      'data: [DONE]\n\n',
    ];
    const { raw, rec } = await both(chunks, basic('gemini-2.5-flash@gemini', { tools: [WEATHER_TOOL] }));
    assert.equal(rec.path, '/v1beta/openai/chat/completions');
    assert.deepEqual(raw.content.map((b) => b.type), ['text', 'tool_use', 'tool_use'], JSON.stringify(raw.content));
    assert.equal(raw.content[0].text, 'Checking both.');
    assert.deepEqual(raw.content.slice(1).map((b) => [b.name, b.input]), [['get_weather', { city: 'Rome' }], ['get_weather', { city: 'Oslo' }]]);
    assert.ok(raw.content[2].id && raw.content[2].id !== raw.content[1].id, `a distinct id for the call without one: ${JSON.stringify(raw.content)}`);
    assert.equal(raw.stop_reason, 'tool_use', 'Gemini finish "stop" with tool calls → tool_use');
  });

  for (const key of ['reasoning_content', 'reasoning']) {
    test(`${key} then text → thinking block first (thinking_delta, signature_delta), then text`, async () => {
      const chunks = [
        oaiChunk({ role: 'assistant', content: '' }),
        oaiChunk({ [key]: 'Two plus ' }),
        oaiChunk({ [key]: 'two is four.' }),
        oaiChunk({ content: 'The answer ' }),
        oaiChunk({ content: 'is 4.' }),
        oaiChunk({}, { finish: 'stop' }),
        oaiChunk(null, { choices: [], usage: OAI_USAGE }),
        'data: [DONE]\n\n',
      ];
      const { raw, sdk, events } = await both(chunks, basic('deepseek-reasoner@openai'));
      assert.deepEqual(raw.content.map((b) => b.type), ['thinking', 'text'], JSON.stringify(raw.content));
      assert.equal(raw.content[0].thinking, 'Two plus two is four.');
      assert.equal(typeof raw.content[0].signature, 'string');
      assert.equal(raw.content[1].text, 'The answer is 4.');
      const sigIdx = events.findIndex((e) => e.event === 'content_block_delta' && e.data.delta.type === 'signature_delta');
      const stop0 = events.findIndex((e) => e.event === 'content_block_stop' && e.data.index === 0);
      const lastThink = events.map((e) => e.event === 'content_block_delta' && e.data.delta.type === 'thinking_delta').lastIndexOf(true);
      assert.ok(sigIdx > lastThink && sigIdx < stop0, `a signature_delta after the thinking deltas, before the thinking block stops:\n${events.map((e) => e.event + (e.data?.delta ? `/${e.data.delta.type}` : '')).join('\n')}`);
      assert.equal(sdk.content[0].type, 'thinking');
      assert.equal(typeof sdk.content[0].signature, 'string', 'the SDK sees a signature');
    });
  }

  test('usage after finish_reason in a choices:[] chunk → the final numbers in message_delta', async () => {
    const usage = { prompt_tokens: 1234, completion_tokens: 77, total_tokens: 1311, prompt_tokens_details: { cached_tokens: 200 } };
    const chunks = [
      oaiChunk({ role: 'assistant', content: '' }),
      oaiChunk({ content: 'counted' }),
      oaiChunk({}, { finish: 'length' }),
      oaiChunk(null, { choices: [], usage }),
      'data: [DONE]\n\n',
    ];
    const { raw, sdk, events } = await both(chunks, basic('gpt-4o@openai'));
    const md = events.find((e) => e.event === 'message_delta').data;
    assert.equal(md.delta.stop_reason, 'max_tokens', 'length → max_tokens');
    assert.equal(md.usage.output_tokens, 77, JSON.stringify(md));
    assert.equal(md.usage.input_tokens, 1034, `1234 − 200 cached: ${JSON.stringify(md)}`);
    assert.equal(md.usage.cache_read_input_tokens, 200, JSON.stringify(md));
    assert.equal(raw.content[0].text, 'counted');
    assert.deepEqual([sdk.usage.input_tokens, sdk.usage.output_tokens, sdk.usage.cache_read_input_tokens], [1034, 77, 200]);
  });

  test('an {"error":…} chunk mid-stream → event: error (api_error), no message_stop; the SDK rejects', async () => {
    const chunks = [
      oaiChunk({ role: 'assistant', content: '' }),
      oaiChunk({ content: 'Starting to ' }),
      { data: { error: { message: 'The server had an error while processing your request. Sorry about that!', type: 'server_error', code: null } } },
      oaiChunk({ content: 'never seen' }),
      oaiChunk({}, { finish: 'stop' }),
      'data: [DONE]\n\n',
    ];
    const { err, events } = await bothError(chunks, basic('gpt-4o@openai'), 'api_error');
    assert.ok(err.message.includes('processing your request'), `upstream message kept: ${err.message}`);
    assert.ok(!err.message.includes(PROV_KEY));
    assert.equal(streamedText(events), 'Starting to ', 'text before the error relayed, nothing after it');
  });

  test('an OpenRouter-style error chunk with code 502 mid-stream → event: error overloaded_error', async () => {
    const chunks = [
      oaiChunk({ role: 'assistant', content: 'partial' }),
      { data: { id: 'gen-1', object: 'chat.completion.chunk', error: { code: 502, message: 'Provider returned error', metadata: { provider_name: 'X' } }, choices: [{ index: 0, delta: { content: '' }, finish_reason: 'error' }] } },
      'data: [DONE]\n\n',
    ];
    await bothError(chunks, basic('gpt-4o@openai'), 'overloaded_error');
  });

  test('truncation: the upstream body ends without finish_reason and [DONE] → event: error api_error, the SDK rejects', async () => {
    const { err, events, sdkError } = await bothError(oaiTextChunks(['cut ', 'short'], { finish: null }), basic('gpt-4o@openai'), 'api_error');
    assert.equal(streamedText(events), 'cut short');
    assert.equal(err.message, 'provider openai stream ended before the answer finished');
    assert.equal(sdkError.error?.error?.type, 'api_error', `the SDK saw the error event: ${sdkError.message}`);
  });

  test('truncation inside a tool call → event: error api_error, no tool_use handed over as complete', async () => {
    const chunks = [
      oaiChunk({ role: 'assistant', content: null, tool_calls: [tc(0, { id: 'call_t', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Be' } })] }),
    ];
    const { err, events, sdkError } = await bothError(chunks, basic('gpt-4o@openai', { tools: [WEATHER_TOOL] }), 'api_error');
    assert.match(err.message, /^provider openai /, err.message);
    assert.equal(events.filter((e) => e.event === 'content_block_stop').length, 0, 'the cut tool_use block is never stopped as complete');
    assert.equal(sdkError.error?.error?.type, 'api_error', `the SDK saw the error event: ${sdkError.message}`);
  });

  test('UTF-8 multibyte characters split across upstream chunks arrive intact', async () => {
    const text = ['Grüße ', '世界 ', '😀👍🏽 ', 'ok'];
    const whole = Buffer.from(oaiTextChunks(text).map((c) => (typeof c === 'string' ? c : `data: ${JSON.stringify(c.data)}\n\n`)).join(''));
    const parts = [];
    for (let i = 0; i < whole.length; i += 5) parts.push(whole.subarray(i, Math.min(i + 5, whole.length)));
    // make sure some multibyte character really is split
    assert.ok(parts.some((p) => { try { new TextDecoder('utf-8', { fatal: true }).decode(p); return false; } catch { return true; } }));
    const { raw } = await both(parts, basic('gpt-4o@openai'), { entry: { gapMs: 0 } });
    assert.equal(raw.content[0].text, text.join(''));
  });

  test('2,000 chunks → all text intact and in order', async () => {
    const pieces = Array.from({ length: 2000 }, (_, i) => piece(i, 20));
    const { raw } = await both(oaiTextChunks(pieces), basic('gpt-4o@openai'), { entry: { gapMs: 0 } });
    assert.equal(raw.content.length, 1);
    assert.equal(raw.content[0].text, pieces.join(''));
  });

  test('a long (> 64 chars) tool name shortened upstream is restored in the streamed tool_use', async () => {
    const long = `mcp__a_very_long_server_name_for_testing__${'y'.repeat(40)}_tool`;
    assert.ok(long.length > 64);
    const chunks = (rec) => {
      const name = rec.json.tools[0].function.name;
      return [
        oaiChunk({ role: 'assistant', content: null, tool_calls: [tc(0, { id: 'call_long', type: 'function', function: { name, arguments: '' } })] }),
        oaiChunk({ tool_calls: [tc(0, { function: { arguments: '{"a": 1}' } })] }),
        oaiChunk({}, { finish: 'tool_calls' }),
        oaiChunk(null, { choices: [], usage: OAI_USAGE }),
        'data: [DONE]\n\n',
      ];
    };
    const { raw, rec } = await both(chunks, basic('gpt-4o@openai', {
      tools: [{ name: long, input_schema: { type: 'object', properties: { a: { type: 'integer' } } } }],
    }));
    const sent = rec.json.tools[0].function.name;
    assert.match(sent, TOOL_NAME_RE, 'the upstream got a valid shortened name');
    assert.notEqual(sent, long);
    assert.deepEqual(raw.content.map((b) => [b.type, b.name, b.input]), [['tool_use', long, { a: 1 }]]);
    assert.equal(raw.stop_reason, 'tool_use');
  });
});
