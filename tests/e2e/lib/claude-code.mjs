// Requests shaped like Claude Code's (docs/protocol-notes.md, "What Claude Code sends"), and a checker for
// the OpenAI Chat Completions body ccproxy must produce from them (docs/protocol-notes.md,
// "Chat Completions requests": fields, message roles and ordering; docs/providers.md, "Requests": what is
// dropped).

import assert from 'node:assert/strict';

const S2020 = 'https://json-schema.org/draft/2020-12/schema';
const MAXSAFE = 9007199254740991;

const obj = (properties, required = [], extra = {}) => ({
  $schema: S2020, type: 'object', properties, required, additionalProperties: false, ...extra,
});
const str = (description, extra = {}) => ({ type: 'string', description, ...extra });
const metaMap = { type: 'object', propertyNames: { type: 'string' }, additionalProperties: {}, description: 'Arbitrary metadata' };

/** The 24 print-mode tools, with the schema keywords Claude Code uses (docs/protocol-notes.md,
 * "What Claude Code sends"). */
export function claudeCodeTools() {
  const t = (name, description, input_schema) => ({ name, description, input_schema });
  return [
    t('Agent', 'Launch a new agent to handle complex, multi-step tasks autonomously.', obj({
      description: str('A short (3-5 word) description of the task'), prompt: str('The task for the agent to perform'),
      subagent_type: str('The type of specialized agent to use for this task'),
    }, ['description', 'prompt'])),
    t('Bash', 'Executes a given bash command and returns its output.', obj({
      command: str('The command to execute'),
      timeout: { type: 'number', description: 'Optional timeout in milliseconds (max 600000)', maximum: 600000 },
      description: str('Clear, concise description of what this command does'),
      run_in_background: { type: 'boolean', description: 'Run in the background', default: false },
    }, ['command'])),
    t('CronCreate', 'Schedule a recurring prompt.', obj({ schedule: str('cron expression', { minLength: 9, maxLength: 100 }), prompt: str('what to run') }, ['schedule', 'prompt'])),
    t('CronDelete', 'Delete a scheduled prompt.', obj({ id: str('cron id') }, ['id'])),
    t('CronList', 'List scheduled prompts.', obj({})),
    t('Edit', 'Performs exact string replacements in files.', obj({
      file_path: str('The absolute path to the file to modify'), old_string: str('The text to replace'),
      new_string: str('The text to replace it with (must be different from old_string)'),
      replace_all: { type: 'boolean', default: false, description: 'Replace all occurences of old_string (default false)' },
    }, ['file_path', 'old_string', 'new_string'])),
    t('EnterWorktree', 'Create and enter a git worktree.', obj({ name: str('worktree name', { pattern: '^[a-zA-Z0-9._-]+$' }) }, ['name'])),
    t('ExitWorktree', 'Leave the current worktree.', obj({ keep: { type: 'boolean' } })),
    t('NotebookEdit', 'Replace the contents of a specific cell in a Jupyter notebook.', obj({
      notebook_path: str('The absolute path to the Jupyter notebook file'), cell_id: str('The ID of the cell to edit'),
      new_source: str('The new source for the cell'),
      cell_type: { type: 'string', enum: ['code', 'markdown'], description: 'The type of the cell' },
      edit_mode: { type: 'string', enum: ['replace', 'insert', 'delete'], description: 'The type of edit to make' },
    }, ['notebook_path', 'new_source'])),
    t('Read', 'Reads a file from the local filesystem.', obj({
      file_path: str('The absolute path to the file to read'),
      offset: { type: 'integer', minimum: -MAXSAFE, maximum: MAXSAFE, description: 'The line number to start reading from' },
      limit: { type: 'integer', exclusiveMinimum: 0, maximum: MAXSAFE, description: 'The number of lines to read' },
      pages: str('Page range for PDF files'),
    }, ['file_path'])),
    t('ReportFindings', 'Report findings.', obj({
      findings: {
        type: 'array', minItems: 1, maxItems: 50,
        items: { type: 'object', properties: { title: { type: 'string' }, severity: { type: 'integer', minimum: -MAXSAFE, maximum: MAXSAFE } }, required: ['title'], additionalProperties: false },
      },
    }, ['findings'])),
    t('ScheduleWakeup', 'Wake up later.', obj({ delay_s: { type: 'integer', minimum: 1, maximum: 86400 }, note: { type: ['string', 'null'] } }, ['delay_s'])),
    t('SendMessage', 'Send a message to another agent.', obj({ to: str('recipient'), message: str('text') }, ['to', 'message'])),
    t('Skill', 'Execute a skill within the main conversation.', obj({ skill: str('The skill name'), args: str('Optional arguments') }, ['skill'])),
    t('TaskCreate', 'Create a task.', obj({ subject: str('title'), description: str('details'), activeForm: str('present continuous form'), metadata: metaMap }, ['subject', 'description'])),
    t('TaskGet', 'Get a task.', obj({ taskId: str('id') }, ['taskId'])),
    t('TaskList', 'List tasks.', obj({})),
    t('TaskOutput', 'Get the output of a background task.', obj({ task_id: str('id'), block: { type: 'boolean', default: true }, timeout: { type: 'number', minimum: 0, maximum: 600000, default: 30000 } }, ['task_id'])),
    t('TaskStop', 'Stop a background task.', obj({ task_id: str('id') }, ['task_id'])),
    t('TaskUpdate', 'Update a task.', obj({
      taskId: str('id'),
      status: { anyOf: [{ type: 'string', enum: ['pending', 'in_progress', 'completed'] }, { type: 'string', const: 'deleted' }] },
      addBlocks: { type: 'array', items: { type: 'string' } },
      metadata: metaMap,
    }, ['taskId'])),
    t('WebFetch', 'Fetches content from a specified URL and processes it.', obj({
      url: { type: 'string', format: 'uri', description: 'The URL to fetch content from' }, prompt: str('The prompt to run on the fetched content'),
    }, ['url', 'prompt'])),
    t('WebSearch', 'Search the web.', obj({
      query: str('The search query to use', { minLength: 2 }),
      allowed_domains: { type: 'array', items: { type: 'string' }, description: 'Only include results from these domains' },
      blocked_domains: { type: 'array', items: { type: 'string' } },
    }, ['query'])),
    t('Workflow', 'Run a workflow.', obj({ name: str('workflow'), resumeFromRunId: str('run id', { pattern: '^run_[a-z0-9]+$' }) }, ['name'])),
    t('Write', 'Writes a file to the local filesystem.', obj({ file_path: str('The absolute path to the file to write'), content: str('The content to write to the file') }, ['file_path', 'content'])),
  ];
}

export const CC_BETAS = 'claude-code-20250219,context-1m-2025-08-07,interleaved-thinking-2025-05-14,thinking-token-count-2026-05-13,' +
  'context-management-2025-06-27,prompt-caching-scope-2026-01-05,mid-conversation-system-2026-04-07,effort-2025-11-24';

export const SESSION_ID = '5b4c3d2e-1f00-4a6b-9c8d-7e6f5a4b3c2d';

/** Claude Code's request headers (docs/protocol-notes.md, "Anthropic Messages requests"). */
export function claudeCodeHeaders(key = 'sk-ant-cc-client-key') {
  return {
    accept: 'application/json',
    'user-agent': 'claude-cli/2.1.197 (external, sdk-cli)',
    'x-app': 'cli',
    'x-api-key': key,
    'anthropic-version': '2023-06-01',
    'anthropic-beta': CC_BETAS,
    'anthropic-dangerous-direct-browser-access': 'true',
    'x-claude-code-session-id': SESSION_ID,
    'x-stainless-lang': 'js',
    'x-stainless-package-version': '0.94.0',
    'x-stainless-retry-count': '0',
    'x-stainless-timeout': '600',
  };
}

const cc = { type: 'ephemeral' };

/** A main call mid-session: a Read and a Bash round trip already in the history. */
export function claudeCodeBody(model = 'claude-opus-4-8[1m]', { stream = true } = {}) {
  return {
    model,
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: "<system-reminder>\n# currentDate\nToday's date is 2026-11-24.\n</system-reminder>\n\n" },
          { type: 'text', text: 'read /tmp/notes.txt and say hi', cache_control: cc },
        ],
      },
      { role: 'system', content: 'Available agent types for the Agent tool: general-purpose, Explore, Plan. Skills: none.' },
      {
        role: 'assistant',
        content: [
          { type: 'thinking', thinking: 'The user wants the file read first.', signature: 'EqQBCkgIBxABGAIqQLs0aWduYXR1cmU=' },
          { type: 'text', text: 'I will read the file.' },
          { type: 'tool_use', id: 'toolu_01ReadAAAA', name: 'Read', input: { file_path: '/tmp/notes.txt' } },
        ],
      },
      {
        role: 'user',
        content: [{ type: 'tool_result', tool_use_id: 'toolu_01ReadAAAA', content: '1\thello\n2\t', cache_control: cc }],
      },
      {
        role: 'assistant',
        content: [
          { type: 'tool_use', id: 'toolu_01BashBBBB', name: 'Bash', input: { command: 'echo hi', description: 'Print hi' } },
          { type: 'tool_use', id: 'toolu_01WebCCCC', name: 'WebFetch', input: { __unparsedToolInput: { raw: '{"url": exa', len: 11 } } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_01BashBBBB', content: 'hi', is_error: false },
          { type: 'tool_result', tool_use_id: 'toolu_01WebCCCC', content: '<tool_use_error>InputValidationError: url is missing</tool_use_error>', is_error: true },
          { type: 'text', text: 'now summarize', cache_control: cc },
        ],
      },
    ],
    system: [
      { type: 'text', text: 'x-anthropic-billing-header: cc_version=2.1.197.123; cc_entrypoint=sdk-cli;' },
      { type: 'text', text: "You are a Claude agent, built on Anthropic's Claude Agent SDK.", cache_control: cc },
      { type: 'text', text: '\nYou are an interactive agent that helps users with software engineering tasks.', cache_control: cc },
    ],
    tools: claudeCodeTools(),
    metadata: { user_id: JSON.stringify({ device_id: 'ab'.repeat(32), account_uuid: '', session_id: SESSION_ID }) },
    max_tokens: 64000,
    thinking: { type: 'adaptive' },
    context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
    output_config: { effort: 'high' },
    ...(stream ? { stream: true } : {}),
  };
}

/** The TUI's title call (docs/protocol-notes.md, "What Claude Code sends"). */
export function claudeCodeTitleBody(model = 'claude-opus-4-8') {
  return {
    model,
    messages: [{ role: 'user', content: [{ type: 'text', text: '<session>read my notes and say hi</session>' }] }],
    system: [
      { type: 'text', text: 'x-anthropic-billing-header: cc_version=2.1.197.123; cc_entrypoint=cli;' },
      { type: 'text', text: "You are Claude Code, Anthropic's official CLI for Claude." },
      { type: 'text', text: 'Generate a concise, sentence-case title for this session. Answer with JSON.' },
    ],
    tools: [],
    metadata: { user_id: JSON.stringify({ device_id: 'cd'.repeat(32), account_uuid: '', session_id: SESSION_ID }) },
    max_tokens: 32000,
    thinking: { type: 'disabled' },
    output_config: {
      format: {
        type: 'json_schema',
        schema: { type: 'object', properties: { title: { type: 'string' } }, required: ['title'], additionalProperties: false },
      },
    },
    stream: true,
  };
}

// The request fields of Chat Completions (docs/protocol-notes.md, "Chat Completions requests", and the
// others OpenAI defines), minus `metadata`, which must never carry Anthropic's metadata, and the deprecated
// functions API. `extra_body` only for Gemini.
const OAI_TOP_KEYS = new Set([
  'model', 'messages', 'max_completion_tokens', 'max_tokens', 'temperature', 'top_p', 'stop', 'stream', 'stream_options',
  'tools', 'tool_choice', 'parallel_tool_calls', 'reasoning_effort', 'response_format', 'user', 'safety_identifier',
  'prompt_cache_key', 'service_tier', 'n', 'logprobs', 'top_logprobs', 'logit_bias', 'seed', 'presence_penalty',
  'frequency_penalty', 'modalities', 'audio', 'prediction', 'store', 'verbosity', 'web_search_options',
]);
const FORBIDDEN_ANYWHERE = ['cache_control', 'thinking', 'context_management', 'metadata', 'output_config', 'signature',
  'input_schema', 'tool_use_id', 'stop_sequences', 'redacted_thinking', 'anthropic_version'];
const USER_PARTS = new Set(['text', 'image_url', 'input_audio', 'file']);
const EFFORTS = new Set(['none', 'minimal', 'low', 'medium', 'high', 'xhigh', 'max']);
export const OAI_TOOL_NAME_RE = /^[a-zA-Z0-9_-]{1,64}$/;

function isTextParts(c) {
  return Array.isArray(c) && c.length > 0 && c.every((p) => p && p.type === 'text' && typeof p.text === 'string');
}

/** Every key path in <v> whose key is in <names>, not looking inside tool parameter schemas. */
function forbiddenKeys(v, names, skip, p = []) {
  const hits = [];
  if (p.length === 4 && p[0] === 'tools' && p[2] === 'function' && p[3] === 'parameters') return hits;
  if (skip(p)) return hits;
  if (Array.isArray(v)) v.forEach((x, i) => hits.push(...forbiddenKeys(x, names, skip, [...p, i])));
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (names.includes(k)) hits.push([...p, k].join('.'));
      hits.push(...forbiddenKeys(x, names, skip, [...p, k]));
    }
  }
  return hits;
}

/**
 * Assert <b> is a Chat Completions request an OpenAI-compatible server accepts.
 * opts: {flavor: 'generic'|'gemini'|'openrouter'}
 */
export function assertValidOpenAIRequest(b, { flavor = 'generic' } = {}) {
  const c = `\nupstream body: ${JSON.stringify(b).slice(0, 4000)}`;
  assert.ok(b && typeof b === 'object' && !Array.isArray(b), `body is an object${c}`);
  const allowed = new Set(OAI_TOP_KEYS);
  if (flavor === 'gemini') allowed.add('extra_body');
  if (flavor === 'openrouter') { allowed.add('reasoning'); allowed.add('provider'); allowed.add('usage'); }
  const unknown = Object.keys(b).filter((k) => !allowed.has(k));
  assert.deepEqual(unknown, [], `only Chat Completions request keys at the top level${c}`);
  assert.equal(typeof b.model, 'string', `model${c}`);
  assert.ok(b.model.length > 0, `model${c}`);

  // OpenRouter takes reasoning back as assistant reasoning_details, signature included
  // (docs/providers.md, "Flavors (OpenAI-compatible servers)")
  const skip = flavor === 'openrouter'
    ? (p) => p.length === 3 && p[0] === 'messages' && p[2] === 'reasoning_details'
    : () => false;
  const forb = forbiddenKeys(b, FORBIDDEN_ANYWHERE, skip);
  assert.deepEqual(forb, [], `Anthropic-only keys must not reach an OpenAI-style upstream${c}`);

  // token limit
  const hasMt = b.max_tokens !== undefined;
  const hasMct = b.max_completion_tokens !== undefined;
  assert.ok(!(hasMt && hasMct), `not both max_tokens and max_completion_tokens${c}`);
  for (const k of ['max_tokens', 'max_completion_tokens']) {
    if (b[k] !== undefined) assert.ok(Number.isInteger(b[k]) && b[k] > 0, `${k} is a positive integer${c}`);
  }
  if (b.reasoning_effort !== undefined) assert.ok(EFFORTS.has(b.reasoning_effort), `reasoning_effort value${c}`);
  if (b.stop !== undefined) {
    assert.ok(typeof b.stop === 'string' || (Array.isArray(b.stop) && b.stop.length <= 4 && b.stop.every((s) => typeof s === 'string')), `stop${c}`);
  }
  if (b.stream_options !== undefined) assert.equal(b.stream, true, `stream_options only with stream:true${c}`);
  if (b.safety_identifier !== undefined) assert.ok(typeof b.safety_identifier === 'string' && b.safety_identifier.length <= 64, `safety_identifier ≤ 64${c}`);
  if (b.user !== undefined) assert.equal(typeof b.user, 'string', `user is a string${c}`);
  for (const k of ['temperature', 'top_p']) if (b[k] !== undefined) assert.equal(typeof b[k], 'number', `${k}${c}`);

  // tools
  const toolNames = new Set();
  if (b.tools !== undefined) {
    assert.ok(Array.isArray(b.tools) && b.tools.length >= 1, `tools is a non-empty array when present${c}`);
    for (const t of b.tools) {
      assert.equal(t.type, 'function', `tool type function${c}`);
      assert.ok(t.function && typeof t.function === 'object', `tool.function${c}`);
      assert.match(t.function.name, OAI_TOOL_NAME_RE, `tool name ${t.function.name}${c}`);
      assert.ok(!toolNames.has(t.function.name), `tool names unique (${t.function.name})${c}`);
      toolNames.add(t.function.name);
      if (t.function.description !== undefined) assert.equal(typeof t.function.description, 'string', c);
      if (t.function.parameters !== undefined) {
        assert.equal(t.function.parameters.type, 'object', `parameters is an object schema (${t.function.name})${c}`);
      }
      assert.deepEqual(Object.keys(t).filter((k) => k !== 'type' && k !== 'function'), [], `tool keys${c}`);
    }
  }
  if (b.tool_choice !== undefined) {
    assert.ok(b.tools !== undefined, `tool_choice only with tools${c}`);
    const tc = b.tool_choice;
    const ok = ['none', 'auto', 'required'].includes(tc) ||
      (tc && tc.type === 'function' && tc.function && toolNames.has(tc.function.name));
    assert.ok(ok, `tool_choice value ${JSON.stringify(tc)}${c}`);
  }
  if (b.parallel_tool_calls !== undefined) {
    assert.equal(typeof b.parallel_tool_calls, 'boolean', c);
    assert.ok(b.tools !== undefined, `parallel_tool_calls only with tools${c}`);
  }

  // messages and their order
  assert.ok(Array.isArray(b.messages) && b.messages.length > 0, `messages${c}`);
  const roles = new Set(['system', 'developer', 'user', 'assistant', 'tool']);
  const msgKeys = new Set(['role', 'content', 'name', 'tool_calls', 'tool_call_id', 'refusal']);
  if (flavor === 'generic') { msgKeys.add('reasoning_content'); msgKeys.add('reasoning'); } // DeepSeek, Ollama, vLLM
  if (flavor === 'openrouter') { msgKeys.add('reasoning_details'); msgKeys.add('reasoning'); }
  let pending = null; // tool_call ids still to be answered
  for (let i = 0; i < b.messages.length; i++) {
    const m = b.messages[i];
    const mc = ` (messages[${i}] ${JSON.stringify(m).slice(0, 300)})${c}`;
    assert.ok(roles.has(m.role), `valid role${mc}`);
    assert.deepEqual(Object.keys(m).filter((k) => !msgKeys.has(k)), [], `only known message keys for ${flavor}${mc}`);
    if (m.reasoning_details !== undefined) {
      assert.equal(m.role, 'assistant', mc);
      assert.ok(Array.isArray(m.reasoning_details) && m.reasoning_details.every((d) => d && /^reasoning\./.test(d.type)),
        `reasoning_details entries are reasoning.* objects${mc}`);
    }
    if (m.role !== 'tool') assert.equal(m.tool_call_id, undefined, `tool_call_id only on tool messages${mc}`);
    if (pending && pending.size > 0) {
      assert.equal(m.role, 'tool', `every assistant tool_call is answered by tool messages immediately after${mc}`);
    }
    if (m.role === 'system' || m.role === 'developer') {
      assert.ok(typeof m.content === 'string' || isTextParts(m.content), `system content is text${mc}`);
    } else if (m.role === 'user') {
      assert.ok(typeof m.content === 'string' ||
        (Array.isArray(m.content) && m.content.length > 0 && m.content.every((p) => p && USER_PARTS.has(p.type))), `user content${mc}`);
    } else if (m.role === 'assistant') {
      const hasTc = Array.isArray(m.tool_calls) && m.tool_calls.length > 0;
      assert.ok(m.content === null || m.content === undefined || typeof m.content === 'string' || isTextParts(m.content), `assistant content${mc}`);
      assert.ok(hasTc || (typeof m.content === 'string') || isTextParts(m.content), `assistant has content or tool_calls${mc}`);
      if (m.tool_calls !== undefined) assert.ok(hasTc, `tool_calls non-empty when present${mc}`);
      if (hasTc) {
        pending = new Set();
        for (const tc of m.tool_calls) {
          assert.ok(typeof tc.id === 'string' && tc.id.length > 0, `tool_call id${mc}`);
          assert.equal(tc.type, 'function', `tool_call type${mc}`);
          assert.match(tc.function.name, OAI_TOOL_NAME_RE, `tool_call name${mc}`);
          if (toolNames.size) assert.ok(toolNames.has(tc.function.name), `tool_call names a declared tool${mc}`);
          assert.equal(typeof tc.function.arguments, 'string', `arguments is a JSON string${mc}`);
          const args = JSON.parse(tc.function.arguments);
          assert.ok(args && typeof args === 'object' && !Array.isArray(args), `arguments is a JSON object${mc}`);
          assert.ok(!pending.has(tc.id), `tool_call ids unique${mc}`);
          pending.add(tc.id);
        }
        continue;
      }
    } else if (m.role === 'tool') {
      assert.ok(pending && pending.has(m.tool_call_id), `tool message answers a pending tool_call of the assistant just before${mc}`);
      pending.delete(m.tool_call_id);
      assert.ok(typeof m.content === 'string' || isTextParts(m.content), `tool content is text${mc}`);
      continue;
    }
    pending = null;
  }
  assert.ok(!pending || pending.size === 0, `the last assistant tool_calls are all answered${c}`);
}
