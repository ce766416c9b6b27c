// The whole first run, on a terminal (tmux): a new user (fresh HOME, no Claude Code state) runs
// `ccproxy init`, answers its questions, runs `ccproxy`, goes through Claude Code's own first-run
// screens (theme, notes, folder trust: no login, no API-key question), asks something, gets the
// answer of the provider chosen in init (a mock), and /exit's claude with status 0.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { BIN, SANITIZER_RE, freePort } from './lib/daemon.mjs';
import { startMock } from './lib/mock-upstream.mjs';
import { makeLaunchDirs, launchEnv, cleanupLaunch, sleep } from './lib/launcher.mjs';
import { checkClaude, CLAUDE_BIN, openaiResponder, MOCK_HI } from './lib/claude-cli.mjs';

const SESSION = `ccproxy-first-run-${process.pid}`;
const tmux = (...args) => execFileSync('tmux', args, { encoding: 'utf8' });
const screen = () => tmux('capture-pane', '-t', SESSION, '-p', '-S', '-200');
const q = (s) => `'${String(s).replace(/'/g, "'\\''")}'`;

/** Waits (bounded) for <re> on the screen; → the screen. */
async function waitScreen(re, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = screen();
    if (re.test(s)) return s;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}; screen:\n${s}`);
    await sleep(150);
  }
}

async function type(text) {
  if (text !== '') tmux('send-keys', '-t', SESSION, '-l', text);
  await sleep(200);
  tmux('send-keys', '-t', SESSION, 'Enter');
}

let dirs;
let mock;
after(async () => {
  try { tmux('kill-session', '-t', SESSION); } catch { /* not running */ }
  if (mock) await mock.close();
  await cleanupLaunch(dirs);
});

describe('first run on a terminal', () => {
  test('ccproxy init, then ccproxy: Claude Code talks to the chosen provider', { timeout: 120000 }, async () => {
    checkClaude();
    dirs = makeLaunchDirs({ fakeClaude: false });
    execFileSync('ln', ['-s', CLAUDE_BIN, `${dirs.bin}/claude`]);
    mock = await startMock({ name: 'first-run' });
    mock.enqueue(openaiResponder());
    const port = await freePort();
    const env = launchEnv(dirs, {
      TERM: 'xterm-256color', MOCK_PROVIDER_KEY: 'sk-first-run-key',
      DISABLE_AUTOUPDATER: '1', DISABLE_TELEMETRY: '1', CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    });
    const envArgs = Object.entries(env).map(([k, v]) => q(`${k}=${v}`)).join(' ');
    const script = `cd ${q(dirs.cwd)} && ${q(BIN)} init && ${q(BIN)}; echo "EXITED $?"; sleep 600`;
    tmux('new-session', '-d', '-s', SESSION, '-x', '160', '-y', '50', `env -i ${envArgs} sh -c ${q(script)}`);

    // ccproxy init
    await waitScreen(/Scope:[\s\S]*Choice \[1\]: *$/m, 10000, 'the scope question');
    await type('1');
    await waitScreen(/Provider:[\s\S]*Choice \[1\]: *$/m, 5000, 'the provider question');
    await type('custom');
    await waitScreen(/Name for this provider.*: *$/m, 5000, 'the provider name');
    await type('mock');
    await waitScreen(/Base URL: *$/m, 5000, 'the base URL');
    await type(`${mock.url}/v1`);
    await waitScreen(/API style[\s\S]*Choice \[1\]: *$/m, 5000, 'the API style');
    await type('1');
    await waitScreen(/Key or variable \[MOCK_API_KEY\]: *$/m, 5000, 'the key question');
    await type('MOCK_PROVIDER_KEY');
    await waitScreen(/read from \$MOCK_PROVIDER_KEY/, 5000, 'the key answer understood');
    await waitScreen(/Big model.*: *$/m, 5000, 'the big model');
    await type('first-big');
    await waitScreen(/Small model.*\[first-big\]: *$/m, 5000, 'the small model');
    await type('first-small');
    await waitScreen(/Port for the proxy \[8082\]: *$/m, 5000, 'the port');
    await type(String(port));

    // ccproxy → Claude Code's own first-run screens, then its prompt
    const deadline = Date.now() + 60000;
    for (;;) {
      const s = screen();
      assert.doesNotMatch(s, /Select login method|Do you want to use this API key|Log in|EXITED/, `no login or key question:\n${s}`);
      if (/\? for shortcuts/.test(s)) break;
      if (/Choose the text style|Press Enter to continue|trust this folder/.test(s)) await type('');
      if (Date.now() > deadline) throw new Error(`Claude Code did not reach its prompt:\n${s}`);
      await sleep(500);
    }
    await type('say hi');
    await waitScreen(new RegExp(MOCK_HI), 30000, 'the answer from the mock provider');
    await type('/exit');
    const end = await waitScreen(/EXITED \d+/, 20000, 'claude to exit');
    assert.match(end, /EXITED 0/);
    assert.match(end, /ccproxy: started the proxy at/);
    assert.doesNotMatch(end, SANITIZER_RE);

    const calls = mock.requests.filter((r) => /\/chat\/completions$/.test(r.path));
    assert.ok(calls.length >= 1, 'the provider chosen in init was called');
    assert.ok(calls.some((r) => r.json.model === 'first-big'), calls.map((r) => r.json.model).join());
    assert.ok(calls.every((r) => r.headers.authorization === 'Bearer sk-first-run-key'), 'with the key from the named variable');
  });
});
