// cc-tools.mjs: 24 tool definitions shaped like the ones Claude Code sends in print mode
// (see docs/protocol-notes.md, "What Claude Code sends": names, JSON Schema 2020-12 keywords, $schema on
// every tool, additionalProperties:false). The descriptions and schemas are written for this benchmark; they
// mimic the length and style of a coding agent's tools, not any vendor's text.
const S = 'https://json-schema.org/draft/2020-12/schema';
const MAX_SAFE = 9007199254740991;

function tool(name, description, properties, required = [], extra = {}) {
  return {
    name,
    description,
    input_schema: { $schema: S, type: 'object', properties, required, additionalProperties: false, ...extra },
  };
}

const str = (description, extra = {}) => ({ type: 'string', description, ...extra });
const num = (description, extra = {}) => ({ type: 'number', description, ...extra });
const int = (description, extra = {}) => ({ type: 'integer', description, ...extra });
const bool = (description, extra = {}) => ({ type: 'boolean', description, ...extra });

export const tools = [
  tool('Agent', `Start a sub-agent that works on a self-contained task on its own and reports back once.

Use a sub-agent when a task needs many searches or file reads whose intermediate results you do not need to keep in your own context, for example "find every place where the retry policy is configured" or "check which tests cover the parser". The sub-agent has the same tools as you, except that it cannot start further agents.

How to use it well:
- Give the agent everything it needs in the prompt. It cannot see this conversation, so name the files, the goal and the format you want the answer in.
- Say whether the agent should only research or may also change files. By default, tell it not to edit anything.
- Several agents may run at the same time: when tasks are independent, start them in one message with several tool calls.
- The agent's final message is returned to you as the tool result. The user does not see it, so summarise what matters.
- Do not use an agent to read a single known file or to run one command; call the tool directly, it is faster.`,
  {
    description: str('A three-to-six word summary of the task, shown to the user while the agent runs.'),
    prompt: str('The full task for the agent, including context, constraints and the expected shape of its answer.'),
    subagent_type: str('Which kind of agent to start.', { enum: ['general-purpose', 'researcher', 'reviewer'], default: 'general-purpose' }),
    run_in_background: bool('Return at once and deliver the result later as a notification.', { default: false }),
  }, ['description', 'prompt']),

  tool('Bash', `Run a command in a persistent bash shell, with an optional timeout.

The working directory persists between calls, but shell state such as variables and functions set with export may not. Always quote paths that contain spaces, for example cd "/home/dev/My Project".

Before running a command:
1. If the command creates files or directories, check with ls that the parent directory exists and is the one you mean.
2. Prefer the dedicated tools for reading, searching and editing files. Do not use cat, head, tail, sed, awk, grep or find for those tasks when a dedicated tool exists; use this tool for builds, tests, package managers, git and other programs.

Usage notes:
- The command argument is required. The timeout is in milliseconds, up to 600000 (10 minutes); the default is 120000 (2 minutes).
- Write a short description of what the command does, in active voice, five to ten words, for example "Run the unit tests for the parser".
- Output longer than 30000 characters is truncated in the middle.
- To run several independent commands, make several calls in one message. To run dependent commands, chain them with && so that a failure stops the chain. Use ; only when you do not care whether the earlier command failed.
- Avoid interactive commands (editors, pagers, prompts). Pass flags such as --yes or --no-pager, or set GIT_PAGER=cat.
- Long-running servers should be started with run_in_background and checked later with TaskOutput.

Git:
- Only commit when the user asks. When they do, first run git status, git diff and git log -n 5 in parallel to see what changed and how this repository writes commit messages.
- Never change git config, never run destructive commands such as push --force, reset --hard or clean -fdx unless the user asked for exactly that, and never skip hooks with --no-verify.
- If a pre-commit hook modifies files, stage the modified files and commit again; do not amend someone else's commit.
- Write commit messages that say why the change was made, in one or two sentences, and pass them with a here-document so that the formatting survives:
  git commit -m "$(cat <<'MSG'
  Fix the reconnect loop when the upstream closes an idle socket.
  MSG
  )"

Pull requests:
- Use the gh command for everything related to GitHub. Push the branch with -u if it has no upstream yet, then create the pull request with a title under 70 characters and a body with a short summary and a test plan as a checklist.
- Return the pull request URL when you are done.`,
  {
    command: str('The command to execute.'),
    timeout: num('Optional timeout in milliseconds (at most 600000).', { minimum: 0, maximum: 600000 }),
    description: str('Clear, concise description of what the command does, in five to ten words.'),
    run_in_background: bool('Run the command in the background and return a task id instead of waiting.'),
    dangerouslyDisableSandbox: bool('Run outside the sandbox. Only when the user asked for it explicitly.'),
  }, ['command']),

  tool('CronCreate', `Schedule a prompt to run again later on a cron schedule, for example to check a deployment every ten minutes or to summarise new issues every morning. The schedule uses five standard cron fields in the user's local time zone. Jobs live only as long as the current session unless durable is true.`,
  {
    cron: str('Five-field cron expression, e.g. "*/10 * * * *".', { pattern: '^\\S+ \\S+ \\S+ \\S+ \\S+$' }),
    prompt: str('The prompt to run at each firing.'),
    recurring: bool('false runs the job once at the next matching time.', { default: true }),
    durable: bool('Keep the job after the session ends.', { default: false }),
  }, ['cron', 'prompt']),

  tool('CronDelete', 'Delete a scheduled job by the id that CronCreate returned.',
  { id: str('The job id.') }, ['id']),

  tool('CronList', 'List the scheduled jobs of this session, with their ids, schedules, next firing time and the first line of each prompt.', {}),

  tool('Edit', `Replace an exact string in a file.

Rules:
- Read the file with the Read tool at least once in this conversation before editing it; the edit fails otherwise.
- old_string must match the file exactly, including indentation and line endings. When you copy text from Read output, leave out the line-number prefix: everything after the tab that follows the line number is file content.
- The edit fails if old_string is not unique in the file. Add more surrounding lines to make it unique, or set replace_all to change every occurrence, for example to rename a variable.
- Keep edits small and focused, and preserve the file's existing style. Do not add comments that only describe the change you made.
- Prefer editing an existing file to creating a new one.`,
  {
    file_path: str('The absolute path of the file to modify.'),
    old_string: str('The text to replace.'),
    new_string: str('The text to replace it with (must be different from old_string).'),
    replace_all: bool('Replace every occurrence of old_string.', { default: false }),
  }, ['file_path', 'old_string', 'new_string']),

  tool('EnterWorktree', 'Create a git worktree for the current repository on a new branch and switch the session into it, so that experimental changes do not touch the main checkout. Use it only when the user asks for a worktree or for an isolated attempt.',
  { name: str('Name of the worktree and branch; a random name is used when omitted.', { maxLength: 64 }) }),

  tool('ExitWorktree', 'Leave the current worktree and return to the original checkout. With action "remove" the worktree and its branch are deleted, which discards any uncommitted changes; with "keep" they stay on disk.',
  {
    action: str('What to do with the worktree.', { enum: ['keep', 'remove'] }),
    discard_changes: bool('Must be true to remove a worktree that has uncommitted changes.'),
  }, ['action']),

  tool('NotebookEdit', `Replace, insert or delete one cell of a Jupyter notebook (.ipynb). Cells are addressed by their id, as shown by the Read tool. To insert, give the id of the cell after which the new one goes, or no id to insert at the top. The notebook path must be absolute.`,
  {
    notebook_path: str('Absolute path of the notebook.'),
    cell_id: str('Id of the cell to edit, or after which to insert.'),
    new_source: str('The new source of the cell.'),
    cell_type: str('Cell type; required when inserting.', { enum: ['code', 'markdown'] }),
    edit_mode: str('What to do.', { enum: ['replace', 'insert', 'delete'], default: 'replace' }),
  }, ['notebook_path', 'new_source']),

  tool('Read', `Read a file from the local filesystem. The path must be absolute.

- By default up to 2000 lines are read from the start of the file. For long files, pass offset and limit to read a part, but prefer reading the whole file when it is small.
- Lines are returned in cat -n format: the line number, a tab, then the content. Lines longer than 2000 characters are cut.
- Images (PNG, JPEG, GIF, WebP) are shown to you visually. PDF files are read page by page; pass pages for large documents. Notebooks are returned with all their cells and outputs.
- This tool reads files, not directories; use Bash with ls for a directory listing.
- When several files may be useful, read them in parallel in one message.
- An empty file is reported with a warning instead of content.`,
  {
    file_path: str('The absolute path of the file to read.'),
    offset: int('The line number to start reading from (1-based).', { minimum: 0, maximum: MAX_SAFE }),
    limit: int('The number of lines to read.', { exclusiveMinimum: 0, maximum: MAX_SAFE }),
    pages: str('Page range for PDF files, e.g. "1-5". At most 20 pages per call.'),
  }, ['file_path']),

  tool('ReportFindings', `Report the findings of a review in a structured form, one entry per problem found. Use it at the end of a code review or audit instead of writing the list as prose, so that the findings can be shown as annotations in the editor.`,
  {
    findings: {
      type: 'array',
      description: 'The problems found, most severe first.',
      minItems: 0,
      maxItems: 50,
      items: {
        type: 'object',
        properties: {
          file: str('Path of the file, relative to the repository root.'),
          line: int('First line of the problem.', { minimum: 1, maximum: MAX_SAFE }),
          end_line: int('Last line of the problem.', { minimum: 1, maximum: MAX_SAFE }),
          severity: str('How bad it is.', { enum: ['critical', 'high', 'medium', 'low', 'nit'] }),
          title: str('One-line summary.', { maxLength: 120 }),
          detail: str('Why it is a problem and how to fix it.'),
        },
        required: ['file', 'line', 'severity', 'title'],
        additionalProperties: false,
      },
    },
    summary: str('A two-sentence overall verdict.'),
  }, ['findings']),

  tool('ScheduleWakeup', 'Pause this session and resume it after a delay with the given prompt, for example to look at a long build again in twenty minutes without polling. The delay is in seconds and must be positive.',
  {
    delay_seconds: int('How long to wait.', { exclusiveMinimum: 0, maximum: 86400 }),
    prompt: str('What to do when the session wakes up.'),
  }, ['delay_seconds', 'prompt']),

  tool('SendMessage', 'Send a message to another running agent or teammate session by name. The message is delivered the next time the recipient is idle. Use it to hand over results or to ask a question; do not use it to talk to the user.',
  {
    to: str('Name of the recipient.'),
    message: str('The message text.', { minLength: 1 }),
  }, ['to', 'message']),

  tool('Skill', `Run a skill: a packaged set of instructions and scripts for a recurring task, such as preparing a release or writing a migration. The list of available skills and what each one is for is given in the system reminder. Call this tool with the skill's name when the user's request matches its description; the skill's instructions are then added to the conversation.`,
  {
    skill: str('Name of the skill, exactly as listed.'),
    args: str('Optional arguments for the skill.'),
  }, ['skill']),

  tool('TaskCreate', `Create a task in the session's task list. Use the task list for work that has three or more distinct steps, or when the user gives you several things to do at once, so that both of you can see progress. Create all the tasks you already know about at the start, keep exactly one task in_progress at a time, and mark each task completed as soon as it is done rather than in batches.`,
  {
    subject: str('Short imperative title, e.g. "Add retry to the upload client".'),
    description: str('What done looks like for this task.'),
    activeForm: str('Present-continuous form shown while the task runs, e.g. "Adding retry to the upload client".'),
    metadata: { type: 'object', description: 'Free-form labels.', propertyNames: { pattern: '^[a-z][a-z0-9_]*$' }, additionalProperties: { type: 'string' } },
  }, ['subject', 'description']),

  tool('TaskGet', 'Get one task from the task list by id, with its full description, status, owner and the tasks it blocks or is blocked by.',
  { taskId: str('The id of the task.') }, ['taskId']),

  tool('TaskList', 'List all tasks with their id, subject, status and owner. Use it to find the next task to work on after finishing one.', {}),

  tool('TaskOutput', 'Read the output of a background task (a command started with run_in_background, or a background agent). Returns the new output since the last call, and the exit status if the task has finished. With block true, waits up to timeout milliseconds for the task to finish.',
  {
    task_id: str('The id of the background task.'),
    block: bool('Wait for completion.', { default: true }),
    timeout: num('Maximum wait in milliseconds.', { minimum: 0, maximum: 600000, default: 30000 }),
  }, ['task_id', 'block', 'timeout']),

  tool('TaskStop', 'Stop a running background task by id. The task receives SIGTERM, then SIGKILL after five seconds.',
  { task_id: str('The id of the task to stop.') }, ['task_id']),

  tool('TaskUpdate', `Update a task: change its status, subject or description, assign an owner, or record dependencies between tasks. Set status to "deleted" to remove a task that is no longer relevant. Only mark a task completed when it is fully done: tests pass, nothing is left half-finished, and no new problem was found that belongs to it.`,
  {
    taskId: str('The id of the task.'),
    status: { anyOf: [{ type: 'string', enum: ['pending', 'in_progress', 'completed'] }, { type: 'string', const: 'deleted' }] },
    subject: str('New subject.'),
    description: str('New description.'),
    owner: str('New owner.'),
    addBlocks: { type: 'array', items: { type: 'string' }, description: 'Ids of tasks that cannot start until this one is done.' },
    addBlockedBy: { type: 'array', items: { type: 'string' }, description: 'Ids of tasks that must finish before this one.' },
    metadata: { type: 'object', propertyNames: { pattern: '^[a-z][a-z0-9_]*$' }, additionalProperties: { type: ['string', 'null'] } },
  }, ['taskId']),

  tool('WebFetch', `Fetch a URL and answer a question about its content. The page is converted from HTML to Markdown and processed with a small, fast model together with your prompt; you receive that model's answer, not the raw page.

- The URL must be fully formed. HTTP is upgraded to HTTPS.
- The tool is read-only and does not log in anywhere; pages behind authentication will fail.
- When a page redirects to a different host, the tool tells you so and you must call it again with the new URL.
- Results are cached for fifteen minutes, so repeated calls for the same URL are cheap.`,
  {
    url: str('The URL to fetch.', { format: 'uri' }),
    prompt: str('What to extract from the page.'),
  }, ['url', 'prompt']),

  tool('WebSearch', `Search the web and return result titles, links and snippets. Use it for information that may be newer than your training data, such as a library's latest release or a recent security advisory. When you use results in your answer, list the sources you relied on as Markdown links at the end.`,
  {
    query: str('The search query.', { minLength: 2 }),
    allowed_domains: { type: 'array', items: { type: 'string' }, description: 'Only return results from these domains.' },
    blocked_domains: { type: 'array', items: { type: 'string' }, description: 'Never return results from these domains.' },
  }, ['query']),

  tool('Workflow', 'Start or resume a named multi-step workflow defined in the project, such as "release" or "triage". A run that stopped on an error can be resumed from the step that failed by passing its run id.',
  {
    name: str('Name of the workflow.'),
    inputs: { type: 'object', description: 'Inputs for the workflow.', additionalProperties: true },
    resumeFromRunId: str('Run id to resume.', { pattern: '^run_[0-9a-f]{16}$' }),
  }, ['name']),

  tool('Write', `Write a file to the local filesystem, replacing it if it exists.

- If the file already exists, you must have read it in this conversation first.
- Prefer Edit for changes to existing files: it sends only the difference.
- Do not create documentation files (README, *.md) unless the user asked for them.
- The path must be absolute.`,
  {
    file_path: str('The absolute path of the file to write.'),
    content: str('The full content of the file.'),
  }, ['file_path', 'content']),
];
