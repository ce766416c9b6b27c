// make-fixtures.mjs: writes the generated fixtures of tests/fixtures/tok/ (the tool-schema JSON files, a
// numeric JSON file and the whole Anthropic request bodies) from cc-tools.mjs and the hand-written text
// fixtures. Deterministic: running it twice gives the same bytes. Run `node make-fixtures.mjs`, then
// `node measure.mjs --write` to refresh expected.json.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';
import { tools } from './cc-tools.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const dir = join(here, '../../tests/fixtures/tok');
const read = (name) => readFileSync(join(dir, name), 'utf8');
const write = (name, text) => writeFileSync(join(dir, name), text);
const byName = (...names) => names.map((n) => tools.find((t) => t.name === n));

// Seeded PRNG (mulberry32) so the numeric fixture is stable.
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// A valid PNG of <w> x <h> grey pixels, so requests carry realistic base64 image data.
function png(w, h) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  const raw = Buffer.alloc((w + 1) * h, 0x80);
  for (let y = 0; y < h; y++) raw[y * (w + 1)] = 0;
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([sig, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]).toString('base64');
}

const catN = (text, from = 1) =>
  text.split('\n').map((l, i) => `${String(i + from).padStart(6)}\t${l}`).join('\n');

// --- JSON text fixtures -------------------------------------------------------------------------
write('json-01-tool-bash.json', JSON.stringify(byName('Bash')[0]) + '\n');
write('json-02-cc-tools.json', JSON.stringify(tools) + '\n');
write('json-10-schema-pretty.json', JSON.stringify(byName('Read', 'ReportFindings', 'TaskUpdate'), null, 2) + '\n');
{
  const r = rng(42);
  const regions = ['us-east-1', 'us-west-2', 'eu-central-1', 'eu-west-1', 'ap-southeast-2', 'ap-northeast-1'];
  const series = regions.map((region) => ({
    region,
    window: { start: '2025-03-14T00:00:00Z', end: '2025-03-14T01:00:00Z', step_s: 300 },
    samples: Array.from({ length: 12 }, (_, i) => ({
      t: 1741910400 + i * 300,
      requests: Math.floor(r() * 9000) + 500,
      p50_ms: Math.round((80 + r() * 120) * 10) / 10,
      p99_ms: Math.round((400 + r() * 2600) * 10) / 10,
      error_rate: Math.round(r() * 0.02 * 1e5) / 1e5,
      tokens_in: Math.floor(r() * 4e7),
      cost_usd: Math.round(r() * 900 * 100) / 100,
    })),
  }));
  write('json-08-metrics.json', JSON.stringify({ generated_at: '2025-03-14T01:00:07Z', series }, null, 2) + '\n');
}

{
  // npm lockfile: the sha512 integrity hashes are random base64, the kind of text BPE splits finely.
  const r = rng(7);
  const bytes = (n) => Buffer.from(Array.from({ length: n }, () => Math.floor(r() * 256)));
  const names = ['undici', 'zod', 'pino', 'pino-std-serializers', 'sonic-boom', 'thread-stream', 'fast-redact',
    'on-exit-leak-free', 'quick-format-unescaped', 'real-require', 'safe-stable-stringify', 'atomic-sleep',
    'process-warning', 'split2', 'typescript', 'vitest', '@vitest/expect', '@vitest/runner', 'tinypool', 'chai'];
  const packages = { '': { name: '@acme/notes-service', version: '2.7.1', license: 'MIT', dependencies: { pino: '^9.4.0', undici: '^6.19.8', zod: '^3.23.8' } } };
  names.forEach((n, i) => {
    const v = `${1 + (i % 5)}.${(i * 7) % 13}.${(i * 3) % 10}`;
    packages[`node_modules/${n}`] = {
      version: v,
      resolved: `https://registry.npmjs.org/${n}/-/${n.split('/').pop()}-${v}.tgz`,
      integrity: `sha512-${bytes(64).toString('base64')}`,
      ...(i % 3 === 0 ? { dev: true } : {}),
      ...(i % 4 === 1 ? { engines: { node: '>=18' } } : {}),
    };
  });
  write('json-12-package-lock.json', JSON.stringify({ name: '@acme/notes-service', version: '2.7.1', lockfileVersion: 3, requires: true, packages }, null, 2) + '\n');
}

// --- whole Anthropic request bodies (counted with cp_tok_request) --------------------------------
const system = [
  { type: 'text', text: 'x-billing-header: cc_version=2.1.197; cc_entrypoint=sdk-cli' },
  { type: 'text', text: 'You are an interactive command-line coding agent.', cache_control: { type: 'ephemeral' } },
  { type: 'text', text: read('prose-13-system-prompt.md') + '\n' + read('prose-03-design.md'), cache_control: { type: 'ephemeral' } },
];
const reminder = '<system-reminder>\nAs you answer the user\'s questions, you can use the following context:\n# claudeMd\nCodebase and user instructions are shown below. Be sure to adhere to these instructions.\n\nContents of /home/dev/projects/ccproxy/CLAUDE.md (project instructions, checked into the codebase):\n\n' + read('prose-01-readme.md').slice(0, 2500) + '\n</system-reminder>\n';
const anth = read('code-03-cp_anth.c');
const common = read('code-02-cp_common.c');
const editOld = 'static const char *kind_name(enum cp_anth_kind kind)\n{\n    return kind == CP_ANTH_MESSAGES ? "messages" : "count_tokens";\n}\n';
const editNew = 'static const char *kind_name(enum cp_anth_kind kind)\n{\n    switch (kind) {\n    case CP_ANTH_MESSAGES:\n        return "messages";\n    case CP_ANTH_COUNT_TOKENS:\n        return "count_tokens";\n    }\n    return "unknown";\n}\n';
const buildLog = `[ 12%] Building C object CMakeFiles/ccproxy_core.dir/lib/cp_anth.c.o
/home/dev/projects/ccproxy/lib/cp_anth.c: In function 'kind_name':
/home/dev/projects/ccproxy/lib/cp_anth.c:41:1: error: control reaches end of non-void function [-Werror=return-type]
   41 | }
      | ^
cc1: all warnings being treated as errors
gmake[2]: *** [CMakeFiles/ccproxy_core.dir/build.make:132: CMakeFiles/ccproxy_core.dir/lib/cp_anth.c.o] Error 1
gmake[1]: *** [CMakeFiles/Makefile2:181: CMakeFiles/ccproxy_core.dir/all] Error 2
gmake: *** [Makefile:91: all] Error 2`;

const main = {
  model: 'claude-sonnet-4-5-20250929',
  max_tokens: 32000,
  stream: true,
  thinking: { type: 'enabled', budget_tokens: 31999 },
  metadata: { user_id: JSON.stringify({ device_id: 'b3f1c2d4e5a6978812340abcdeff0011', session_id: '6c1d7e0a-4b2f-4e8a-9c3d-5f6a7b8c9d0e' }) },
  system,
  messages: [
    { role: 'user', content: [{ type: 'text', text: reminder }, { type: 'text', text: read('prose-07-user-prompt.txt') }] },
    {
      role: 'assistant',
      content: [
        { type: 'thinking', thinking: 'The user suspects the disconnect path relies on a timer. I should read the validation module first to see how requests flow, then look for the close callback.', signature: 'EpYCCkYIBhgCKkA0c2lnbmF0dXJlLW5vdC1yZWFsLWJ1dC1zaGFwZWQtbGlrZS1vbmUtZm9yLXRoZS1iZW5jaG1hcmsSDGJlbmNobWFyaw==' },
        { type: 'text', text: "I'll start by reading the request validation code and the front end." },
        { type: 'tool_use', id: 'toolu_01Qm8vX2aLr7TnW3kJ9sPd4F', name: 'Read', input: { file_path: '/home/dev/projects/ccproxy/lib/cp_anth.c' } },
      ],
    },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01Qm8vX2aLr7TnW3kJ9sPd4F', content: catN(anth) }] },
    {
      role: 'assistant',
      content: [
        { type: 'tool_use', id: 'toolu_01Hh2cY7bNq4ZsE8wR1mLk6T', name: 'Bash', input: { command: 'grep -rn "evhttp_connection_set_closecb\\|client_gone" lib/ daemon/', description: 'Find where client close callbacks are registered' } },
        { type: 'tool_use', id: 'toolu_01Pz5dV3fGx9MhJ2cT7nRw8Q', name: 'Read', input: { file_path: '/home/dev/projects/ccproxy/lib/cp_common.c', offset: 1, limit: 200 } },
        { type: 'tool_use', id: 'toolu_01Wn6hB1cXe8RpL3vK7tMy2D', name: 'Read', input: { file_path: '/home/dev/projects/ccproxy/tests/e2e/20-http.test.mjs' } },
      ],
    },
    {
      role: 'user',
      content: [
        { type: 'tool_result', tool_use_id: 'toolu_01Hh2cY7bNq4ZsE8wR1mLk6T', content: 'lib/cp_front.c:214:    evhttp_connection_set_closecb(conn, front_on_close, x);\nlib/cp_front.c:231:static void front_on_close(struct evhttp_connection *conn, void *ud)\nlib/cp_front.c:240:    x->client_gone = 1;  /* the reaper cancels the upstream on its next tick */' },
        { type: 'tool_result', tool_use_id: 'toolu_01Pz5dV3fGx9MhJ2cT7nRw8Q', content: [{ type: 'text', text: catN(common) }] },
        { type: 'tool_result', tool_use_id: 'toolu_01Wn6hB1cXe8RpL3vK7tMy2D', content: catN(read('code-14-http.test.mjs')) },
      ],
    },
    {
      role: 'assistant',
      content: [
        { type: 'text', text: 'The close callback only sets a flag. Before changing it, let me make the kind name helper exhaustive, since the compiler will need it for the new switch.' },
        { type: 'tool_use', id: 'toolu_01Ls4gT8kWc2VbN6xQ3pHz9M', name: 'Edit', input: { file_path: '/home/dev/projects/ccproxy/lib/cp_anth.c', old_string: editOld, new_string: editNew } },
      ],
    },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01Ls4gT8kWc2VbN6xQ3pHz9M', content: 'The file /home/dev/projects/ccproxy/lib/cp_anth.c has been updated. Here\'s the result of running `cat -n` on a snippet of the edited file:\n' + catN(editNew, 36) }] },
    {
      role: 'assistant',
      content: [{ type: 'tool_use', id: 'toolu_01Tq7eR2nVy5KjM8wD4sBx3C', name: 'Bash', input: { command: 'cmake --build build -j2 2>&1 | tail -20', description: 'Build the project', timeout: 300000 } }],
    },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01Tq7eR2nVy5KjM8wD4sBx3C', is_error: true, content: buildLog }] },
    { role: 'assistant', content: [{ type: 'text', text: read('prose-08-assistant-answer.md') }] },
    { role: 'user', content: [{ type: 'text', text: 'Thanks. Can you also write the release note for this change? Keep it to two lines.', cache_control: { type: 'ephemeral' } }] },
  ],
  tools,
};
write('request-01-cc-main.json', JSON.stringify(main) + '\n');

write('request-02-cc-count-tools.json', JSON.stringify({
  model: 'claude-sonnet-4-5-20250929',
  messages: [{ role: 'user', content: 'foo' }],
  tools: byName('Agent', 'Bash', 'Edit', 'Read', 'ReportFindings', 'TaskCreate', 'TaskUpdate', 'WebFetch', 'WebSearch', 'Write'),
}) + '\n');

write('request-03-cc-count-prompt.json', JSON.stringify({
  model: 'claude-sonnet-4-5-20250929',
  messages: [{ role: 'user', content: read('prose-13-system-prompt.md') }],
}) + '\n');

write('request-04-blocks.json', JSON.stringify({
  model: 'claude-opus-4-1',
  max_tokens: 1024,
  system: 'You review screenshots and logs of a web dashboard and explain what went wrong, briefly.',
  messages: [
    {
      role: 'user',
      content: [
        { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png(400, 300) } },
        { type: 'text', text: 'This panel shows the error rate for the last hour. What happened around 09:12?' },
        { type: 'document', source: { type: 'text', media_type: 'text/plain', data: read('json-11-log-lines.txt') }, title: 'proxy.log' },
      ],
    },
    {
      role: 'assistant',
      content: [
        { type: 'thinking', thinking: 'The log shows a 429 with a retry at 09:12:11, then a 500 at 09:12:31. The chart spike matches the 500. I should also check whether the retry succeeded.', signature: 'EqQBCkYIBRgCKkBzaWduYXR1cmUtc2hhcGVkLWZvci10aGUtYmVuY2htYXJr' },
        { type: 'redacted_thinking', data: 'EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4mPnZ5sQ7vB8=' },
        { type: 'text', text: 'Two events line up with the spike. Let me look at the upstream status page capture you mentioned.' },
        { type: 'tool_use', id: 'toolu_01Sc9xV4bNm2QwE7rT5yUi3O', name: 'screenshot', input: { url: 'https://status.example.com/', full_page: false, viewport: { width: 1280, height: 800 } } },
      ],
    },
    {
      role: 'user',
      content: [
        { type: 'tool_result', tool_use_id: 'toolu_01Sc9xV4bNm2QwE7rT5yUi3O', content: [
          { type: 'text', text: 'Captured https://status.example.com/ at 1280x800.' },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png(1280, 800) } },
        ] },
      ],
    },
    { role: 'system', content: 'The user prefers answers as a short bulleted list.' },
    { role: 'assistant', content: 'The status page reports degraded performance for the chat completions API between 09:10 and 09:20 UTC, which explains both the 429 and the 500.' },
    { role: 'user', content: [{ type: 'text', text: 'And the image from the URL?' }, { type: 'image', source: { type: 'url', url: 'https://example.com/chart.png' } }] },
  ],
  tools: [
    { name: 'screenshot', description: 'Capture a screenshot of a web page.', input_schema: { type: 'object', properties: { url: { type: 'string', format: 'uri' }, full_page: { type: 'boolean' }, viewport: { type: 'object', properties: { width: { type: 'integer' }, height: { type: 'integer' } } } }, required: ['url'] } },
    { type: 'web_search_20250305', name: 'web_search', max_uses: 5 },
  ],
}) + '\n');

write('request-05-simple.json', JSON.stringify({
  model: 'gpt-4.1-mini',
  max_tokens: 2048,
  system: 'You are a helpful writing assistant. Keep answers short and plain.',
  messages: [
    { role: 'user', content: 'Please tighten this email:\n\n' + read('prose-10-email.txt') },
    { role: 'assistant', content: read('prose-05-paragraph.txt') },
    { role: 'user', content: 'Good. Now do the same for this essay:\n\n' + read('prose-06-essay.md') },
  ],
}) + '\n');
console.log('fixtures written to', dir);
