// `ccproxy init`: through flags without a terminal, and through its questions on a pseudo-terminal
// (util-linux `script` gives it one); the file it writes, its modes, and the overwrite refusal.
import { describe, test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, SANITIZER_RE, USAGE_EXIT, writeFile } from './lib/daemon.mjs';
import { makeLaunchDirs, launchEnv, ccproxy, spawnCcproxy, cleanupLaunch } from './lib/launcher.mjs';

let dirs;
afterEach(async () => {
  await cleanupLaunch(dirs);
  dirs = null;
});

const mode = (p) => fs.statSync(p).mode & 0o777;
const readJson = (p) => JSON.parse(fs.readFileSync(p, 'utf8'));

/** `ccproxy init <args>` with <input> on stdin (a pipe; null: /dev/null). */
function initWithStdin(args, input) {
  const h = spawnCcproxy(['init', ...args], dirs, { stdin: input === null ? 'ignore' : 'pipe' });
  if (input !== null) {
    h.proc.stdin.on('error', () => { /* init stops reading a huge key: EPIPE */ });
    h.proc.stdin.end(input);
  }
  return h.done;
}

function clean(r) {
  assert.doesNotMatch(r.stderr + r.stdout, SANITIZER_RE, `sanitizer report\n${r.stderr}`);
}

describe('init without a terminal (flags)', () => {
  test('--provider openai --api-key-env: writes ~/.ccproxy/settings.json 0600 in a 0700 dir, loads, says what next', async () => {
    dirs = makeLaunchDirs();
    const r = await ccproxy(['init', '--provider', 'openai', '--api-key-env', 'MY_OPENAI_KEY', '--port', '9123'], dirs);
    clean(r);
    assert.equal(r.code, 0, r.stderr);
    const p = dirs.homeSettingsPath;
    assert.equal(mode(p), 0o600);
    assert.equal(mode(path.dirname(p)), 0o700);
    assert.deepEqual(readJson(p), {
      server: { host: '127.0.0.1', port: 9123 },
      providers: { openai: { baseURL: 'https://api.openai.com/v1', responseStyle: 'openai', apiKey: '${MY_OPENAI_KEY}' } },
      models: { bigModel: 'gpt-5@openai', smallModel: 'gpt-5-mini@openai', preferredProvider: 'openai' },
    });
    assert.ok(r.stdout.includes(`Wrote ${p}`), r.stdout);
    assert.match(r.stdout, /MY_OPENAI_KEY is not set/);
    assert.match(r.stdout, /export MY_OPENAI_KEY=/);
    assert.match(r.stdout, /run `ccproxy`/);
    // the server's own loader reads it, with the key from the variable
    const cfg = await ccproxy(['config'], dirs, { env: { MY_OPENAI_KEY: 'sk-from-env-123' } });
    assert.equal(cfg.code, 0, cfg.stderr);
    const out = JSON.parse(cfg.stdout);
    assert.equal(out.config.server.port, 9123);
    assert.equal(out.config.models.bigModel, 'gpt-5@openai');
    assert.equal(out.config.providers.openai.apiKey, '<redacted>');
    assert.ok(!cfg.stdout.includes('sk-from-env-123'));
  });

  test('missing answers: exit 2 naming each missing flag, nothing written', async () => {
    dirs = makeLaunchDirs();
    const cases = [
      [['init'], ['--provider']],
      [['init', '--provider', 'openai'], ['--api-key-env or --api-key']],
      [['init', '--provider', 'custom'], ['--base-url', '--big-model', '--small-model']],
      [['init', '--provider', 'deepseek', '--base-url', 'https://api.deepseek.com', '--yes'], ['--big-model']],
    ];
    for (const [args, want] of cases) {
      const r = await ccproxy(args, dirs);
      clean(r);
      assert.equal(r.code, USAGE_EXIT, `${args.join(' ')}: ${r.stderr}`);
      for (const w of want) assert.ok(r.stderr.includes(w), `${args.join(' ')}: stderr names ${w}:\n${r.stderr}`);
      assert.equal(fs.existsSync(dirs.homeSettingsPath), false);
    }
  });

  test('invalid answers: exit 2 with the reason, nothing written', async () => {
    dirs = makeLaunchDirs();
    const cases = [
      [['--provider', 'openai', '--api-key-env', 'MY-KEY'], /invalid variable name/],
      [['--provider', 'a@b', '--yes'], /invalid provider name/],
      [['--provider', 'custom', '--base-url', 'ftp://x', '--big-model', 'm', '--yes'], /invalid base URL/],
      [['--provider', 'openai', '--yes', '--port', '0'], /--port 0 \(any free port\) is for `ccproxy server` only/],
      [['--provider', 'openai', '--yes', '--port', '-5'], /invalid --port/],
      [['--provider', 'openai', '--yes', '--scope', 'team'], /invalid --scope/],
      [['--provider', 'openai', '--api-key', 'k', '--api-key-env', 'V'], /not both/],
      [['--provider', 'openai', '--yes', '--big-model', 'gpt 5'], /invalid big model/],
    ];
    for (const [args, re] of cases) {
      const r = await ccproxy(['init', ...args], dirs);
      assert.equal(r.code, USAGE_EXIT, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.equal(fs.existsSync(dirs.homeSettingsPath), false);
    }
  });

  test('--yes takes the provider\'s defaults (key variable, models, port)', async () => {
    dirs = makeLaunchDirs();
    const r = await ccproxy(['init', '--provider', 'gemini', '--yes'], dirs);
    assert.equal(r.code, 0, r.stderr);
    const s = readJson(dirs.homeSettingsPath);
    assert.equal(s.providers.gemini.apiKey, '${GEMINI_API_KEY}');
    assert.equal(s.providers.gemini.baseURL, 'https://generativelanguage.googleapis.com/v1beta/openai');
    assert.equal(s.models.bigModel, 'gemini-2.5-pro@gemini');
    assert.equal(s.models.smallModel, 'gemini-2.5-flash@gemini');
    assert.equal(s.server.port, 8082);
  });

  test('a custom Anthropic-style server in project scope, key in the file', async () => {
    dirs = makeLaunchDirs();
    const r = await ccproxy(['init', '--scope', 'project', '--provider', 'corp', '--base-url', 'https://llm.corp.example/v1',
      '--style', 'anthropic', '--api-key', 'sk-corp-SECRET-1', '--big-model', 'big-1', '--small-model', 'small-1'], dirs);
    clean(r);
    assert.equal(r.code, 0, r.stderr);
    const p = dirs.cwdSettingsPath;
    assert.equal(mode(p), 0o600);
    assert.equal(mode(path.dirname(p)), 0o700);
    const s = readJson(p);
    assert.deepEqual(s.providers.corp, { baseURL: 'https://llm.corp.example/v1', responseStyle: 'anthropic', apiKey: 'sk-corp-SECRET-1' });
    assert.equal(s.models.bigModel, 'big-1@corp');
    assert.ok(!r.stdout.includes('sk-corp-SECRET-1') && !r.stderr.includes('sk-corp-SECRET-1'), 'the key is not printed');
    assert.match(r.stdout, /version control/, 'warns about committing a key');
    assert.equal(fs.existsSync(dirs.homeSettingsPath), false);
  });

  test('an existing file is not replaced without --force; --force keeps a .bak; the directory is made private', async () => {
    dirs = makeLaunchDirs();
    const old = '{"server": {"port": 9999}}\n';
    writeFile(dirs.homeSettingsPath, old);
    fs.chmodSync(path.dirname(dirs.homeSettingsPath), 0o755);
    const refused = await ccproxy(['init', '--provider', 'openai', '--yes'], dirs);
    clean(refused);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /exists.*--force/);
    assert.equal(fs.readFileSync(dirs.homeSettingsPath, 'utf8'), old, 'left unchanged');
    const forced = await ccproxy(['init', '--provider', 'openai', '--yes', '--force'], dirs);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(readJson(dirs.homeSettingsPath).providers.openai.apiKey, '${OPENAI_API_KEY}');
    assert.equal(fs.readFileSync(`${dirs.homeSettingsPath}.bak`, 'utf8'), old, 'the old file is kept');
    assert.equal(mode(dirs.homeSettingsPath), 0o600);
    assert.equal(mode(path.dirname(dirs.homeSettingsPath)), 0o700);
    assert.deepEqual(fs.readdirSync(path.dirname(dirs.homeSettingsPath)).filter((f) => f.includes('.tmp')), [], 'no temporary file left');
  });

  test('--api-key -: the key comes from stdin (a pipe), one trailing newline stripped, never printed', async () => {
    dirs = makeLaunchDirs();
    const cases = [
      ['sk-pipe-SECRET-1\n', 'sk-pipe-SECRET-1'],
      ['sk-crlf-SECRET-2\r\n', 'sk-crlf-SECRET-2'],
      ['sk-bare-SECRET-3', 'sk-bare-SECRET-3'],
      ['k'.repeat(4096), 'k'.repeat(4096)], // the longest accepted
    ];
    for (const [input, key] of cases) {
      const r = await initWithStdin(['--provider', 'openai', '--api-key', '-', '--force'], input);
      clean(r);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readJson(dirs.homeSettingsPath).providers.openai.apiKey, key);
      assert.ok(!r.stdout.includes(key) && !r.stderr.includes(key), 'the key is not printed');
      assert.equal(mode(dirs.homeSettingsPath), 0o600);
    }
  });

  test('--api-key -: hostile stdin is refused (empty, closed, huge, NUL, control characters, two lines), nothing written', async () => {
    dirs = makeLaunchDirs();
    const cases = [
      ['', /is empty/],
      ['\n', /is empty/],
      [null, /is empty/], // stdin is /dev/null
      ['k'.repeat(4097), /longer than 4096 bytes/],
      ['k'.repeat(1 << 20), /longer than 4096 bytes/],
      ['sk-nul\0key\n', /NUL byte or a control character \(byte 7\)/],
      ['sk-esc\x1b[31mkey', /control character/],
      ['sk-tab\tkey', /control character/],
      ['sk-del\x7fkey', /control character/],
      ['sk-one\nsk-two\n', /control character/],
      ['sk-with space', /invalid API key/],
    ];
    for (const [input, re] of cases) {
      const r = await initWithStdin(['--provider', 'openai', '--api-key', '-'], input);
      clean(r);
      assert.equal(r.code, USAGE_EXIT, `${JSON.stringify(String(input).slice(0, 40))}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.equal(fs.existsSync(dirs.homeSettingsPath), false, 'nothing written');
    }
  });

  test('a broken existing config does not stop init from replacing it', async () => {
    dirs = makeLaunchDirs();
    writeFile(dirs.homeSettingsPath, '{"server": {');
    const r = await ccproxy(['init', '--provider', 'anthropic', '--api-key-env', 'ANTHROPIC_API_KEY', '--force'], dirs);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readJson(dirs.homeSettingsPath).providers.anthropic.responseStyle, 'anthropic');
  });
});

/**
 * Runs `ccproxy init <args>` on a pseudo-terminal; <dialog> is [[prompt regex, answer], ...]: each answer
 * is typed only once its prompt has appeared (so echo settings apply to it). → {code, out}
 */
async function initOnPty(args, dialog, { timeoutMs = 15000 } = {}) {
  const cmd = [BIN, 'init', ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  const p = spawn('script', ['-qec', cmd, '/dev/null'], { env: { ...launchEnv(dirs), TERM: 'dumb' }, cwd: dirs.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let pos = 0;
  const waiters = [];
  p.stdout.setEncoding('utf8').on('data', (d) => { out += d; for (const w of waiters.splice(0)) w(); });
  p.stderr.setEncoding('utf8').on('data', (d) => { out += d; });
  const closed = new Promise((resolve) => p.on('close', (code) => resolve(code)));
  const deadline = Date.now() + timeoutMs;
  try {
    for (const [re, answer] of dialog) {
      for (;;) {
        const m = re.exec(out.slice(pos));
        if (m) { pos += m.index + m[0].length; break; }
        if (Date.now() > deadline) throw new Error(`no prompt ${re} within ${timeoutMs} ms; output so far:\n${out}`);
        await new Promise((r) => { waiters.push(r); setTimeout(r, 100); });
      }
      p.stdin.write(`${answer}\n`);
    }
    let timer;
    const late = new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`init did not exit:\n${out}`)), Math.max(1000, deadline - Date.now())); });
    try {
      return { code: await Promise.race([closed, late]), out };
    } finally {
      clearTimeout(timer);
    }
  } finally {
    p.stdin.end();
    if (p.exitCode === null) p.kill('SIGKILL');
  }
}

describe('init on a terminal (questions)', () => {
  test('scope, provider, key typed without echo, models and port: the file it writes', async () => {
    dirs = makeLaunchDirs();
    const KEY = 'sk-typed-SECRET-7f3a9c';
    const { code, out } = await initOnPty([], [
      [/Scope:[\s\S]*Choice \[1\]: /, '1'],
      [/Provider:[\s\S]*openrouter[\s\S]*custom[\s\S]*Choice \[1\]: /, 'openrouter'],
      [/Base URL \[https:\/\/openrouter\.ai\/api\/v1\]: /, ''],
      [/API key:[\s\S]*Input is hidden\.\s+Key or variable \[OPENROUTER_API_KEY\]: /, KEY],
      [/Big model \(for sonnet and opus\) \[openai\/gpt-5\]: /, 'anthropic/claude-sonnet-4.5'],
      [/Small model .*\[openai\/gpt-5-mini\]: /, ''],
      [/Port for the proxy \[8082\]: /, '9555'],
    ]);
    assert.equal(code, 0, out);
    assert.doesNotMatch(out, SANITIZER_RE);
    assert.ok(!out.includes(KEY), `the key is not echoed or printed:\n${out}`);
    assert.ok(out.includes('Wrote '), out);
    assert.ok(out.includes(`a key of ${KEY.length} characters`), out);
    const s = readJson(dirs.homeSettingsPath);
    assert.equal(mode(dirs.homeSettingsPath), 0o600);
    assert.deepEqual(s.providers.openrouter, {
      baseURL: 'https://openrouter.ai/api/v1', responseStyle: 'openai', apiKey: KEY, headers: { 'X-Title': 'ccproxy' },
    });
    assert.equal(s.models.bigModel, 'anthropic/claude-sonnet-4.5@openrouter');
    assert.equal(s.models.smallModel, 'openai/gpt-5-mini@openrouter');
    assert.equal(s.server.port, 9555);
  });

  test('asks for the scope; a custom server with the key in a variable; bad answers are asked again', async () => {
    dirs = makeLaunchDirs();
    const { code, out } = await initOnPty([], [
      [/Scope:[\s\S]*Choice \[1\]: /, '7'],
      [/answer 1 to 2[\s\S]*Choice \[1\]: /, '2'],
      [/Provider:[\s\S]*Choice \[1\]: /, '5'],
      [/Name for this provider .*\[custom\]: /, 'vllm'],
      [/Base URL: /, 'http://127.0.0.1:8000/v1'],
      [/API style of that server:[\s\S]*Choice \[1\]: /, ''],
      [/API key:[\s\S]*or none\. Input is hidden\.\s+Key or variable \[VLLM_API_KEY\]: /, ''],
      [/Big model \(for sonnet and opus\): /, 'qwen3-coder'],
      [/Small model .*\[qwen3-coder\]: /, ''],
      [/Port for the proxy \[8082\]: /, 'x'],
      [/a port is 1 to 65535[\s\S]*Port for the proxy \[8082\]: /, ''],
    ]);
    assert.equal(code, 0, out);
    const s = readJson(dirs.cwdSettingsPath);
    assert.deepEqual(s.providers.vllm, { baseURL: 'http://127.0.0.1:8000/v1', responseStyle: 'openai', apiKey: '${VLLM_API_KEY}' });
    assert.equal(s.models.smallModel, 'qwen3-coder@vllm');
    assert.equal(s.server.port, 8082);
    assert.equal(mode(path.dirname(dirs.cwdSettingsPath)), 0o700);
  });

  test('an existing file: "n" leaves it unchanged; "y" replaces it and keeps a copy', async () => {
    dirs = makeLaunchDirs();
    const old = '{"models": {"bigModel": "old@openai"}}\n';
    writeFile(dirs.homeSettingsPath, old);
    const no = await initOnPty(['--scope', 'user'], [[/Replace it .*\[y\/N\]: /, '']]);
    assert.equal(no.code, 1, no.out);
    assert.match(no.out, /left unchanged/);
    assert.equal(fs.readFileSync(dirs.homeSettingsPath, 'utf8'), old);
    const yes = await initOnPty(['--scope', 'user', '--provider', 'anthropic', '--api-key-env', 'ANTHROPIC_API_KEY', '--port', '9556'], [
      [/Replace it .*\[y\/N\]: /, 'y'],
      [/Base URL \[https:\/\/api\.anthropic\.com\]: /, ''],
      [/Big model .*\[claude-sonnet-4-5\]: /, ''],
      [/Small model .*\[claude-haiku-4-5\]: /, ''],
    ]);
    assert.equal(yes.code, 0, yes.out);
    assert.doesNotMatch(yes.out, /Port for the proxy/, 'flags given are not asked again');
    assert.equal(readJson(dirs.homeSettingsPath).server.port, 9556);
    assert.equal(fs.readFileSync(`${dirs.homeSettingsPath}.bak`, 'utf8'), old);
  });

  test('--api-key - on a terminal: the key is asked for without echo', async () => {
    dirs = makeLaunchDirs();
    const KEY = 'sk-tty-SECRET-9c1e';
    const { code, out } = await initOnPty(['--scope', 'user', '--provider', 'openai', '--api-key', '-', '--port', '9557'], [
      [/API key \(input is hidden\): /, KEY],
      [/Base URL \[https:\/\/api\.openai\.com\/v1\]: /, ''],
      [/Big model .*\[gpt-5\]: /, ''],
      [/Small model .*\[gpt-5-mini\]: /, ''],
    ]);
    assert.equal(code, 0, out);
    assert.ok(!out.includes(KEY), `the key is not echoed or printed:\n${out}`);
    assert.equal(readJson(dirs.homeSettingsPath).providers.openai.apiKey, KEY);
  });

  test('Ctrl-C at the hidden key question leaves the terminal echoing', async () => {
    dirs = makeLaunchDirs();
    // the shell gets the ^C too: its trap prints the terminal settings once init has gone
    const cmd = `trap 'stty -a; exit 130' INT; '${BIN}' init --scope user --provider openai --base-url https://api.openai.com/v1; stty -a`;
    const p = spawn('script', ['-qec', cmd, '/dev/null'],
      { env: launchEnv(dirs), cwd: dirs.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
    const closed = new Promise((resolve) => p.on('close', resolve));
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no key prompt:\n${out}`)), 10000);
      const iv = setInterval(() => { if (out.includes('Key or variable')) { clearInterval(iv); clearTimeout(t); resolve(); } }, 20);
    });
    await new Promise((r) => setTimeout(r, 100));
    p.stdin.write('\x03'); // VINTR: SIGINT to init while echo is off
    const t = setTimeout(() => p.kill('SIGKILL'), 10000);
    await closed;
    clearTimeout(t);
    const stty = out.slice(out.lastIndexOf('speed'));
    assert.match(stty, /(^|\s)echo(\s|$)/m, `echo is on again:\n${stty}`);
    assert.doesNotMatch(stty, /-echo(\s|$)/m);
    assert.equal(fs.existsSync(dirs.homeSettingsPath), false);
  });

  test('end of input (Ctrl-D) cancels: nothing written', async () => {
    dirs = makeLaunchDirs();
    const cmd = `'${BIN}' init`;
    const p = spawn('script', ['-qec', cmd, '/dev/null'], { env: launchEnv(dirs), cwd: dirs.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no prompt:\n${out}`)), 10000);
      const iv = setInterval(() => { if (out.includes('Choice [1]: ')) { clearInterval(iv); clearTimeout(t); resolve(); } }, 20);
    });
    p.stdin.write('\x04'); // VEOF on the pty
    const code = await new Promise((resolve) => p.on('close', resolve));
    assert.equal(code, 1, out);
    assert.match(out, /cancelled, nothing written/);
    assert.equal(fs.existsSync(dirs.homeSettingsPath), false);
  });
});
