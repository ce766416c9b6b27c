// The real Claude Code CLI (npm @anthropic-ai/claude-code 2.1.197, pinned in package.json) in print mode,
// offline with a fresh HOME, against ccproxy. The upstream is a scripted mock playing the model: once an
// OpenAI-style provider (ccproxy translates the streams) and once an Anthropic-style one (ccproxy relays
// them). Claude Code always streams; a broken stream makes it silently retry without "stream", so every
// upstream call is also checked to have been a streaming one.
import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDaemon } from './lib/daemon.mjs';
import { setupProxy, contentText } from './lib/proxy.mjs';
import { assertValidOpenAIRequest } from './lib/claude-code.mjs';
import {
  checkClaude, runClaude, openaiResponder, anthropicResponder, MOCK_HI, FIRST_LINE_PREFIX, CLAUDE_VERSION, CLAUDE_BIN,
} from './lib/claude-cli.mjs';

const OAI_KEY = 'sk-prov-SECRET-cli-oai';
const ANTH_KEY = 'sk-ant-prov-SECRET-cli';
const FIRST_LINE = 'The secret word is PLUM-7421.';
const SECOND_LINE = 'Second line: nothing to see here.';

let env;
let dAnth;
let work;
let notes;

before(async () => {
  checkClaude();
  env = await setupProxy({
    settings: ({ main: m }) => ({
      providers: { oai: { baseURL: `${m.url}/v1`, apiKey: OAI_KEY } },
      models: { bigModel: 'cc-big@oai', smallModel: 'cc-small@oai', preferredProvider: 'oai' },
    }),
  });
  dAnth = await startDaemon({
    homeSettings: {
      providers: { anth: { baseURL: env.alt.url, responseStyle: 'anthropic', apiKey: ANTH_KEY } },
      models: { bigModel: 'claude-up@anth', smallModel: 'claude-up-small@anth', preferredProvider: 'anth' },
    },
  });
  work = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'ccproxy-cc-work-')));
  notes = path.join(work, 'notes.txt');
  fs.writeFileSync(notes, `${FIRST_LINE}\n${SECOND_LINE}\n`);
});
after(async () => {
  if (dAnth) await dAnth.stop().catch((e) => { throw e; });
  if (env) await env.close();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

const VARIANTS = {
  openai: {
    daemon: () => env.d,
    mock: () => env.main,
    responder: openaiResponder,
    modelCall: (r) => /\/chat\/completions$/.test(r.path),
    check(r) {
      assertValidOpenAIRequest(r.json, { flavor: 'generic' });
      assert.equal(r.json.model, 'cc-big', `claude's main model is routed to bigModel: ${r.json.model}`);
      assert.equal(r.headers.authorization, `Bearer ${OAI_KEY}`);
      assert.ok(!JSON.stringify(r.headers).includes('sk-ant-test'), 'the CLI\'s key is not forwarded');
    },
    toolNames: (r) => (r.json.tools || []).map((t) => t.function.name),
    /** The tool result content the upstream got in request r, or null. */
    toolContent(r) {
      const t = r.json.messages.filter((m) => m.role === 'tool');
      return t.length ? contentText(t[t.length - 1].content) : null;
    },
  },
  anthropic: {
    daemon: () => dAnth,
    mock: () => env.alt,
    responder: anthropicResponder,
    modelCall: (r) => /\/v1\/messages$/.test(r.path),
    check(r) {
      assert.equal(r.json.model, 'claude-up', `claude's main model is routed to bigModel: ${r.json.model}`);
      assert.equal(r.headers['x-api-key'], ANTH_KEY, 'the provider key, never the client\'s');
    },
    toolNames: (r) => (r.json.tools || []).map((t) => t.name),
    toolContent(r) {
      for (const m of [...r.json.messages].reverse()) {
        if (!Array.isArray(m.content)) continue;
        const tr = m.content.find((b) => b.type === 'tool_result');
        if (tr) return typeof tr.content === 'string' ? tr.content : contentText(tr.content);
      }
      return null;
    },
  },
};

function explain(res, V) {
  const d = V.daemon();
  return `\nclaude exit ${res.code}/${res.signal} after ${res.ms} ms\nstdout: ${res.stdout.slice(0, 3000)}\nstderr: ${res.stderr.slice(0, 2000)}` +
    `\nupstream calls: ${V.mock().requests.map((r) => `${r.method} ${r.url} stream=${r.json && r.json.stream} decision=${JSON.stringify(r.decision)}`).join('\n  ')}` +
    `\n--- daemon stderr (tail) ---\n${d.stderrText().split('\n').filter(Boolean).slice(-12).join('\n')}`;
}

test('the pinned Claude Code CLI is installed', async () => {
  const res = await runClaude(['--version'], { baseURL: 'http://127.0.0.1:9', cwd: os.tmpdir(), timeoutMs: 30000 });
  assert.equal(res.code, 0, `${CLAUDE_BIN} --version: ${res.stdout} ${res.stderr}`);
  assert.ok(res.stdout.includes(CLAUDE_VERSION), `version ${CLAUDE_VERSION}: ${res.stdout}`);
});

for (const [name, V] of Object.entries(VARIANTS)) {
  describe(`claude -p against ccproxy with an ${name}-style provider`, () => {
    beforeEach(() => {
      env.resetMocks();
      V.mock().enqueue(V.responder());
    });

    test('claude -p "say hi" --output-format json → exit 0, the mock\'s text as result, streamed upstream calls', async () => {
      const res = await runClaude(['-p', 'say hi', '--output-format', 'json'], { baseURL: `http://127.0.0.1:${V.daemon().port}`, cwd: work });
      const c = explain(res, V);
      assert.equal(res.code, 0, `exit code${c}`);
      assert.ok(res.json, `stdout is one JSON result${c}`);
      assert.equal(res.json.type, 'result', c);
      assert.equal(res.json.is_error, false, `is_error${c}`);
      assert.ok(String(res.json.result).includes(MOCK_HI), `result contains the mock's text${c}`);
      const calls = V.mock().requests.filter(V.modelCall);
      assert.ok(calls.length >= 1, `a model call reached the upstream${c}`);
      for (const r of calls) {
        assert.equal(r.json.stream, true, `every upstream call streams (a non-stream retry means the stream failed)${c}`);
        V.check(r);
      }
      assert.equal(calls[calls.length - 1].decision.kind, 'hi', c);
    });

    test('claude -p "read the file … and tell me its first line" --allowedTools Read --max-turns 3 → a Read round trip', async () => {
      const prompt = `read the file ${notes} and tell me its first line`;
      const res = await runClaude(['-p', prompt, '--allowedTools', 'Read', '--max-turns', '3', '--output-format', 'json'],
        { baseURL: `http://127.0.0.1:${V.daemon().port}`, cwd: work });
      const c = explain(res, V);
      assert.equal(res.code, 0, `exit code${c}`);
      assert.ok(res.json, `stdout is one JSON result${c}`);
      assert.equal(res.json.is_error, false, `is_error${c}`);
      const calls = V.mock().requests.filter(V.modelCall);
      assert.ok(calls.length >= 2, `two model calls (the tool call, then the answer)${c}`);
      assert.ok(V.toolNames(calls[0]).includes('Read'), `Claude Code offered the Read tool: ${V.toolNames(calls[0])}${c}`);
      assert.equal(calls[0].decision.kind, 'read', c);
      const second = calls.find((r) => r.decision && r.decision.kind === 'quote');
      assert.ok(second, `a later call carried the tool result${c}`);
      const content = V.toolContent(second);
      assert.ok(content && content.includes(FIRST_LINE) && content.includes(SECOND_LINE),
        `the tool result holds the file's content: ${JSON.stringify(content)}${c}`);
      if (name === 'openai') {
        const tm = second.json.messages.filter((m) => m.role === 'tool');
        assert.equal(tm.length, 1, `one role:"tool" message${c}`);
        const asst = second.json.messages.filter((m) => m.role === 'assistant' && m.tool_calls);
        assert.equal(asst.length, 1, c);
        assert.equal(asst[0].tool_calls[0].function.name, 'Read', c);
        assert.deepEqual(JSON.parse(asst[0].tool_calls[0].function.arguments), { file_path: notes }, c);
        assert.equal(tm[0].tool_call_id, asst[0].tool_calls[0].id, `the tool message answers the call${c}`);
      }
      for (const r of calls) {
        assert.equal(r.json.stream, true, `every upstream call streams (a non-stream retry means the stream failed)${c}`);
        V.check(r);
      }
      assert.ok(String(res.json.result).includes(FIRST_LINE), `the final result quotes the first line${c}`);
      assert.ok(String(res.json.result).includes(FIRST_LINE_PREFIX), c);
    });
  });
}
