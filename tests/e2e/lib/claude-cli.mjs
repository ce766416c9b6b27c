// Running the real Claude Code CLI (npm @anthropic-ai/claude-code, a native binary) offline in print
// mode against ccproxy, and scripted upstream responders that play the model:
//   - a user prompt containing "say hi"                  → text MOCK_HI
//   - a user prompt containing "read the file <path>"     → a Read tool call {"file_path": <path>}
//   - the last turn carries a tool result                 → text quoting the result's first line
// one for an OpenAI-style upstream (Chat Completions, streamed when asked) and one for an Anthropic-style
// upstream (Messages API, SSE when asked); the mock turns their answers into streams.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { E2E_DIR, contentText } from './proxy.mjs';
import { oaiCompletion, oaiToolCall, anthMessage } from './mock-upstream.mjs';

// The native binary of this platform's optional package; its postinstall also copies it over
// node_modules/.bin/claude, which is the fallback (npm may one day skip install scripts by default).
const NATIVE_BIN = path.join(E2E_DIR, 'node_modules', '@anthropic-ai', `claude-code-${process.platform}-${process.arch}`, 'claude');
export const CLAUDE_BIN = fs.existsSync(NATIVE_BIN) ? NATIVE_BIN : path.join(E2E_DIR, 'node_modules', '.bin', 'claude');
export const CLAUDE_VERSION = '2.1.197';
export const MOCK_HI = 'Hello from the mock upstream';
export const FIRST_LINE_PREFIX = 'The first line of the file is:';

/** Throws a clear error when the CLI is not installed (these tests never skip). */
export function checkClaude() {
  if (!fs.existsSync(CLAUDE_BIN)) {
    throw new Error(`the Claude Code CLI is not installed (missing ${CLAUDE_BIN}): run \`npm ci --no-audit --no-fund\` in ${E2E_DIR}`);
  }
}

const READ_RE = /read the file (\S+)/;

/** "     1→text" / "1\ttext" (Read's numbered lines) → "text". */
export function stripLineNumber(line) {
  return line.replace(/^\s*\d+(\t|→)/, '');
}

/** The first line of a Read result, without its line number. */
function firstLine(content) {
  const lines = String(content).split('\n').map((l) => l.trim()).filter((l) => l && !/^<\/?system-reminder>/.test(l));
  return lines.length ? stripLineNumber(lines[0]).trim() : '';
}

/** The decision for a conversation: {kind: 'hi'|'read'|'quote'|'other', path?, quote?, toolName?}. */
function decide(lastKind, lastText, toolNames, toolContent) {
  if (lastKind === 'tool') return { kind: 'quote', quote: firstLine(toolContent) };
  const m = READ_RE.exec(lastText);
  if (m) {
    const toolName = toolNames.find((n) => n === 'Read') || toolNames.find((n) => /read/i.test(n));
    return { kind: 'read', path: m[1], toolName };
  }
  if (/say hi/i.test(lastText)) return { kind: 'hi' };
  return { kind: 'other' };
}

/** OpenAI-style: an entry for the mock answering every chat completion request as the model would. */
export function openaiResponder() {
  return {
    times: Infinity,
    match: (rec) => rec.method === 'POST' && /\/chat\/completions$/.test(rec.path),
    json: (rec) => {
      const b = rec.json || {};
      const msgs = (b.messages || []).filter((m) => m.role !== 'system' && m.role !== 'developer');
      const last = msgs[msgs.length - 1] || {};
      // a tool message after the last assistant turn (a user text may follow it in the same turn)
      let tool = null;
      for (let i = msgs.length - 1; i >= 0 && msgs[i].role !== 'assistant'; i--) if (msgs[i].role === 'tool') { tool = msgs[i]; break; }
      const toolNames = (b.tools || []).map((t) => t.function && t.function.name);
      const d = decide(tool ? 'tool' : 'user', contentText(last.content), toolNames, tool ? contentText(tool.content) : '');
      rec.decision = d;
      if (d.kind === 'read' && d.toolName) {
        return oaiCompletion({ model: b.model, content: null, tool_calls: [oaiToolCall('call_read_1', d.toolName, { file_path: d.path })] });
      }
      if (d.kind === 'quote') return oaiCompletion({ model: b.model, content: `${FIRST_LINE_PREFIX} ${d.quote}` });
      if (d.kind === 'hi') return oaiCompletion({ model: b.model, content: MOCK_HI });
      return oaiCompletion({ model: b.model, content: 'mock: I do not know what to do' });
    },
  };
}

/** Anthropic-style: an entry for the mock answering every /v1/messages request as the model would. */
export function anthropicResponder() {
  return {
    times: Infinity,
    match: (rec) => rec.method === 'POST' && /\/v1\/messages$/.test(rec.path),
    json: (rec) => {
      const b = rec.json || {};
      const msgs = (b.messages || []).filter((m) => m.role !== 'system');
      const last = msgs[msgs.length - 1] || {};
      const blocks = Array.isArray(last.content) ? last.content : [{ type: 'text', text: String(last.content || '') }];
      const tr = blocks.find((x) => x.type === 'tool_result');
      const trText = tr ? (typeof tr.content === 'string' ? tr.content : contentText(tr.content)) : '';
      const text = blocks.filter((x) => x.type === 'text').map((x) => x.text).join('\n');
      const toolNames = (b.tools || []).map((t) => t.name);
      const d = decide(tr ? 'tool' : 'user', text, toolNames, trText);
      rec.decision = d;
      const usage = { input_tokens: 100, output_tokens: 12, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
      if (d.kind === 'read' && d.toolName) {
        return anthMessage({
          model: b.model, usage, stop_reason: 'tool_use',
          content: [{ type: 'tool_use', id: 'toolu_01ReadMock', name: d.toolName, input: { file_path: d.path } }],
        });
      }
      const t = d.kind === 'quote' ? `${FIRST_LINE_PREFIX} ${d.quote}` : d.kind === 'hi' ? MOCK_HI : 'mock: I do not know what to do';
      return anthMessage({ model: b.model, usage, content: [{ type: 'text', text: t }] });
    },
  };
}

/**
 * Run `claude <args>` with a fresh HOME, offline env, stdin /dev/null, bounded.
 * → {code, signal, stdout, stderr, json (parsed stdout or undefined), ms}
 */
export function runClaude(args, { baseURL, cwd, timeoutMs = 120000, env = {} } = {}) {
  checkClaude();
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ccproxy-cc-home-'));
  const fullEnv = {
    PATH: process.env.PATH || '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    TERM: 'dumb',
    ANTHROPIC_BASE_URL: baseURL,
    ANTHROPIC_API_KEY: 'sk-ant-test',
    DISABLE_AUTOUPDATER: '1',
    DISABLE_TELEMETRY: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    ...env,
  };
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const p = spawn(CLAUDE_BIN, args, { cwd, env: fullEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
    p.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => {
      try { p.kill('SIGKILL'); } catch { /* ignore */ }
      reject(new Error(`claude ${args.join(' ')} did not exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    p.on('error', (e) => { clearTimeout(timer); reject(e); });
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      try { fs.rmSync(home, { recursive: true, force: true }); } catch { /* ignore */ }
      let json;
      try { json = JSON.parse(stdout); } catch { json = undefined; }
      resolve({ code, signal, stdout, stderr, json, ms: Date.now() - t0 });
    });
  });
}
