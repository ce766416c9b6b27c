#!/usr/bin/env node
// bench/make-bodies.mjs: writes the Anthropic request bodies the benchmarks send (deterministic).
//
//   bodies/small.json          a small chat turn (system prompt + 3 messages, ~2.5 KB), non-stream
//   bodies/small-stream.json   the same with "stream": true
//   bodies/cc70k.json          a Claude Code-sized first turn (~70 KB): 3 system blocks, a
//                              mid-conversation system message, 24 tools with JSON Schema 2020-12
//                              input schemas (shape of docs/protocol-notes.md, "What Claude Code sends")
//   bodies/cc70k-stream.json   the same with "stream": true (what Claude Code really sends)
//
// The tool texts are written for this benchmark (their length and keywords mimic a coding agent's
// tools, the words are ours). Run: node bench/make-bodies.mjs  (no dependencies).
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'bodies');
mkdirSync(out, { recursive: true });

// ---- deterministic filler text ---------------------------------------------------------------
let seed = 12345;
const rnd = (n) => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
};
const SENTENCES = [
  'Prefer this tool over running shell commands for the same purpose, because its output is structured and easier to review.',
  'Paths must be absolute; relative paths are resolved against the project root only when the user asked for it explicitly.',
  'When a call fails, read the error message carefully before trying again with different arguments.',
  'Do not guess values the user did not give you; ask a short clarifying question instead.',
  'Results longer than the display limit are truncated in the middle and a marker says how many characters were left out.',
  'Several independent calls may be made in one message; they run in parallel and their results come back in order.',
  'Keep the user informed: a one-line summary of what you are about to do is better than silence.',
  'Never include secrets such as API keys, passwords or tokens in the arguments; they are logged.',
  'If the user interrupts a call, do not repeat it automatically; wait for their next instruction.',
  'Use the same terminology as the codebase, for example the names of modules, functions and configuration keys.',
  'Large outputs cost context: narrow the request with the optional parameters before asking for everything.',
  'The tool is sandboxed: network access and writes outside the working directory may be refused.',
  'Timestamps are reported in UTC with millisecond precision in ISO 8601 format.',
  'An empty result is a valid answer and usually means that nothing matched; it is not an error.',
  'Check the current state first when the task depends on it, for example by listing before deleting.',
  'When the task is finished, report what changed and what you verified, in two or three sentences.',
];
function notes(tool, bytes) {
  let s = `\n\nUsage notes for ${tool}:\n`;
  let i = 0;
  while (s.length < bytes) s += `- ${SENTENCES[rnd(SENTENCES.length)]} (${tool} ${++i})\n`;
  return s;
}

// ---- tools ------------------------------------------------------------------------------------
const S = 'https://json-schema.org/draft/2020-12/schema';
const MAX_SAFE = 9007199254740991;
const str = (description, extra = {}) => ({ type: 'string', description, ...extra });
const int = (description, extra = {}) => ({ type: 'integer', description, ...extra });
const num = (description, extra = {}) => ({ type: 'number', description, ...extra });
const bool = (description, extra = {}) => ({ type: 'boolean', description, ...extra });
function tool(name, summary, size, properties, required = [], extra = {}) {
  return {
    name,
    description: summary + notes(name, Math.round(size * 0.88)),
    input_schema: { $schema: S, type: 'object', properties, required, additionalProperties: false, ...extra },
  };
}
const taskStatus = { anyOf: [{ type: 'string', enum: ['pending', 'in_progress', 'completed'] }, { type: 'string', const: 'deleted' }] };
const meta = { type: 'object', description: 'Free-form key/value metadata.', propertyNames: { pattern: '^[a-z][a-z0-9_]{0,63}$' }, additionalProperties: { type: 'string', maxLength: 1000 } };

const tools = [
  tool('Agent', 'Start a sub-agent that works on a self-contained task and reports back once. Give it everything it needs in the prompt: it cannot see this conversation.', 4200, {
    description: str('A three-to-six word summary of the task.', { minLength: 3, maxLength: 80 }),
    prompt: str('The full task for the agent, with context, constraints and the shape of the answer.'),
    subagent_type: str('Which kind of agent to start.', { enum: ['general-purpose', 'researcher', 'reviewer'], default: 'general-purpose' }),
    run_in_background: bool('Return at once and deliver the result later.', { default: false }),
  }, ['description', 'prompt']),
  tool('Bash', 'Run a command in a persistent bash shell with an optional timeout. The working directory persists between calls; quote paths that contain spaces.', 9000, {
    command: str('The command to execute.'),
    timeout: num('Timeout in milliseconds (max 600000).', { minimum: 0, maximum: 600000 }),
    description: str('What the command does, in five to ten words.'),
    run_in_background: bool('Run the command in the background and return its id.', { default: false }),
    dangerouslyDisableSandbox: bool('Run outside the sandbox (asks the user).', { default: false }),
  }, ['command']),
  tool('CronCreate', 'Schedule a prompt to run later or on a recurring schedule (cron syntax, local time).', 1800, {
    schedule: str('Five-field cron expression, e.g. "0 9 * * 1-5".', { pattern: '^(\\S+\\s+){4}\\S+$' }),
    prompt: str('What to do when the job fires.'),
    recurring: bool('Repeat on the schedule instead of firing once.', { default: true }),
  }, ['schedule', 'prompt']),
  tool('CronDelete', 'Delete a scheduled job by id.', 900, { id: str('The job id returned by CronCreate.') }, ['id']),
  tool('CronList', 'List the scheduled jobs of this session with their next run time.', 900, {}),
  tool('Edit', 'Replace an exact string in a file. The old string must occur exactly once unless replace_all is set; read the file first.', 3400, {
    file_path: str('Absolute path of the file to modify.'),
    old_string: str('The text to replace, copied exactly, including indentation.'),
    new_string: str('The replacement text (must differ from old_string).'),
    replace_all: bool('Replace every occurrence.', { default: false }),
  }, ['file_path', 'old_string', 'new_string']),
  tool('EnterWorktree', 'Create a git worktree for isolated work on a branch and switch the session into it.', 1500, {
    branch: str('Branch name to create or check out.', { minLength: 1, maxLength: 200 }),
    base: str('Commit or branch to start from.', { default: 'HEAD' }),
  }, ['branch']),
  tool('ExitWorktree', 'Leave the current worktree and return to the main checkout, optionally removing it.', 1000, {
    remove: bool('Delete the worktree directory after leaving it.', { default: false }),
  }),
  tool('NotebookEdit', 'Replace, insert or delete a cell in a Jupyter notebook (.ipynb).', 1900, {
    notebook_path: str('Absolute path of the notebook.'),
    cell_id: str('Id of the cell to edit, or after which to insert.'),
    new_source: str('New source of the cell.'),
    cell_type: str('Type of the cell.', { enum: ['code', 'markdown'] }),
    edit_mode: str('What to do.', { enum: ['replace', 'insert', 'delete'], default: 'replace' }),
  }, ['notebook_path', 'new_source']),
  tool('Read', 'Read a file from the local filesystem. Lines are numbered from 1; images and PDFs are returned as attachments.', 3600, {
    file_path: str('Absolute path of the file to read.'),
    offset: int('Line number to start reading from.', { minimum: 0, maximum: MAX_SAFE }),
    limit: int('Number of lines to read.', { exclusiveMinimum: 0, maximum: MAX_SAFE }),
    pages: str('Page range for PDF files, e.g. "1-5".'),
  }, ['file_path']),
  tool('ReportFindings', 'Report review findings as a structured list, one entry per problem, with a severity.', 2300, {
    findings: {
      type: 'array', description: 'The findings.', minItems: 0, maxItems: 100,
      items: {
        type: 'object', additionalProperties: false, required: ['file', 'line', 'severity', 'message'],
        properties: {
          file: str('Path relative to the repository root.'),
          line: int('1-based line number.', { minimum: 1, maximum: MAX_SAFE }),
          severity: str('How bad it is.', { enum: ['info', 'minor', 'major', 'critical'] }),
          message: str('One-sentence description.', { maxLength: 2000 }),
        },
      },
    },
  }, ['findings']),
  tool('ScheduleWakeup', 'Ask to be woken up after a delay to check on something long-running.', 1200, {
    delay_seconds: int('Seconds to wait.', { minimum: 1, maximum: 86400 }),
    reason: str('What to check when woken up.'),
  }, ['delay_seconds', 'reason']),
  tool('SendMessage', 'Send a message to another running agent or teammate by name.', 1400, {
    to: str('Recipient name.'), message: str('The message.'), summary: str('A five-word preview.', { maxLength: 60 }),
  }, ['to', 'message']),
  tool('Skill', 'Run a named skill from the skill list with optional arguments.', 1700, {
    skill: str('The skill name, exactly as listed.'), args: str('Optional arguments for the skill.'),
  }, ['skill']),
  tool('TaskCreate', 'Create a task in the session task list to track multi-step work.', 2400, {
    subject: str('Short imperative title.', { maxLength: 200 }),
    description: str('What needs to be done and how to verify it.'),
    activeForm: str('Present-continuous form shown while in progress.'),
    metadata: meta,
  }, ['subject', 'description']),
  tool('TaskGet', 'Get one task by id with its full description and status.', 900, { taskId: str('The task id.') }, ['taskId']),
  tool('TaskList', 'List all tasks with id, subject, status and owner.', 900, {}),
  tool('TaskOutput', 'Get the output of a background task or shell by id, optionally waiting for it to finish.', 1300, {
    task_id: str('The background task id.'), block: bool('Wait for completion.', { default: true }),
    timeout: int('Longest wait in milliseconds.', { minimum: 0, maximum: 600000, default: 30000 }),
  }, ['task_id']),
  tool('TaskStop', 'Stop a running background task or shell.', 900, { task_id: str('The background task id.') }, ['task_id']),
  tool('TaskUpdate', 'Update a task: status, subject, description, owner or dependencies.', 2600, {
    taskId: str('The task id.'), status: taskStatus, subject: str('New title.'), description: str('New description.'),
    owner: str('New owner.'), addBlocks: { type: 'array', items: { type: 'string' }, description: 'Task ids this task blocks.' },
    addBlockedBy: { type: 'array', items: { type: 'string' }, description: 'Task ids that block this task.' }, metadata: meta,
  }, ['taskId']),
  tool('WebFetch', 'Fetch a URL, convert the page to Markdown and answer a prompt about it with a small model.', 2600, {
    url: str('The URL to fetch.', { format: 'uri' }), prompt: str('What to extract from the page.'),
  }, ['url', 'prompt']),
  tool('WebSearch', 'Search the web and return result titles and URLs; cite sources in the answer.', 2200, {
    query: str('The search query.', { minLength: 2 }),
    allowed_domains: { type: 'array', items: { type: 'string' }, description: 'Only include these domains.' },
    blocked_domains: { type: 'array', items: { type: 'string' }, description: 'Never include these domains.' },
  }, ['query']),
  tool('Workflow', 'Start or resume a multi-step workflow defined in the project configuration.', 1700, {
    name: str('Workflow name.'), input: { type: 'object', description: 'Workflow input.', additionalProperties: true },
    resumeFromRunId: str('Run id to resume.', { pattern: '^run_[A-Za-z0-9]{16}$' }),
  }, ['name']),
  tool('Write', 'Write a file to the local filesystem, overwriting it. Read an existing file first; prefer Edit for changes.', 2000, {
    file_path: str('Absolute path of the file to write.'), content: str('The full content of the file.'),
  }, ['file_path', 'content']),
];

// ---- bodies ----------------------------------------------------------------------------------
const para = (n) => {
  let s = '';
  while (s.length < n) s += SENTENCES[rnd(SENTENCES.length)] + ' ';
  return s.trim();
};
const small = {
  model: 'claude-sonnet-4-5-20250929',
  max_tokens: 1024,
  system: 'You are a concise assistant for a software team. ' + para(900),
  messages: [
    { role: 'user', content: 'What does the retry policy in our HTTP client do when the server answers 429? ' + para(400) },
    { role: 'assistant', content: 'It waits for the time given in retry-after, then retries up to three times with jitter. ' + para(300) },
    { role: 'user', content: 'Summarise that in one sentence for the changelog.' },
  ],
  temperature: 0.7,
};

const cc = {
  model: 'claude-opus-4-8',
  messages: [
    { role: 'user', content: [
      { type: 'text', text: "<system-reminder>\nAs you answer the user's questions, you can use the following context:\n# currentDate\nToday's date is 2026-11-24.\n\n      IMPORTANT: this context may or may not be relevant to your tasks.\n</system-reminder>\n\n" },
      { type: 'text', text: 'fix the failing test in lib/util.c', cache_control: { type: 'ephemeral' } },
    ] },
    { role: 'system', content: 'Available agent types for the Agent tool:\n- general-purpose: research and multi-step tasks\n- researcher: read-only investigation\n- reviewer: code review\n\nAvailable skills:\n' + para(4400) },
  ],
  system: [
    { type: 'text', text: 'x-anthropic-billing-header: cc_version=2.1.197.123; cc_entrypoint=sdk-cli;' },
    { type: 'text', text: "You are a Claude agent, built on Anthropic's Claude Agent SDK.", cache_control: { type: 'ephemeral' } },
    { type: 'text', text: '\nYou are an interactive agent that helps users with software engineering tasks. ' + para(4400), cache_control: { type: 'ephemeral' } },
  ],
  tools,
  metadata: { user_id: JSON.stringify({ device_id: 'a'.repeat(64), account_uuid: '', session_id: '3f1c2a9e-5b7d-4e21-9c0a-6d8e2f4b1a77' }) },
  max_tokens: 64000,
  thinking: { type: 'adaptive' },
  context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
  output_config: { effort: 'high' },
};

function write(name, obj) {
  const s = JSON.stringify(obj);
  writeFileSync(join(out, name), s);
  return s.length;
}
const sizes = {
  'small.json': write('small.json', small),
  'small-stream.json': write('small-stream.json', { ...small, stream: true }),
  'cc70k.json': write('cc70k.json', cc),
  'cc70k-stream.json': write('cc70k-stream.json', { ...cc, stream: true }),
};
const toolBytes = JSON.stringify(tools).length;
for (const [k, v] of Object.entries(sizes)) console.log(`${k}\t${v} bytes`);
console.log(`tools\t${tools.length} tools, ${toolBytes} bytes`);
