// The launcher on a laptop, the server on the team box (daemon/init.c, daemon/launch.c): `ccproxy init
// --remote URL --key -` writes client.url and the key (read from stdin) into ~/.ccproxy/settings.json;
// `ccproxy status` then reports the remote server and whether it takes the key (exit 0 / 1 / 3); the
// launcher starts no local server and gives claude the team server and the key as ANTHROPIC_AUTH_TOKEN
// (ANTHROPIC_API_KEY removed), refusing before claude starts when the key is refused; a local proxy with
// developer keys gets the user's own key. Last, the real Claude Code CLI through a key-protected
// ccproxy.
import { test, describe, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { SANITIZER_RE, closedPort, freePort, writeFile } from './lib/daemon.mjs';
import { startTeam, keyEntry, ALICE, BOB, CAROL } from './lib/team.mjs';
import {
  makeLaunchDirs, spawnCcproxy, ccproxy, claudeRuns, readPidFile, writeSettings, cleanupLaunch,
} from './lib/launcher.mjs';
import { checkClaude, anthropicResponder, MOCK_HI, CLAUDE_BIN } from './lib/claude-cli.mjs';

let team;
after(async () => {
  if (team) await team.close();
});

/** The team server, shared: alice (limits) and bob; claude-* goes to the Anthropic-style mock. */
async function teamServer() {
  if (!team) {
    team = await startTeam({
      settings: () => ({
        auth: { keys: [keyEntry('alice', ALICE, { rpm: 600, budget: { usd: 50, per: 'month' } }), keyEntry('bob', BOB)] },
      }),
    });
    team.url = `http://127.0.0.1:${team.port}`;
  }
  return team;
}

const laptops = [];
afterEach(async () => {
  for (const d of laptops.splice(0)) await cleanupLaunch(d);
});
function laptop() {
  const d = makeLaunchDirs();
  laptops.push(d);
  return d;
}

/** `ccproxy ARGS` on the laptop, with <input> on stdin when given. */
async function run(dirs, args, { input, env = {}, timeoutMs = 20000 } = {}) {
  const p = spawnCcproxy(args, dirs, { env, timeoutMs, stdin: input === undefined ? 'ignore' : 'pipe' });
  if (input !== undefined) p.proc.stdin.end(input);
  const r = await p.done;
  assert.doesNotMatch(r.stderr, SANITIZER_RE, r.stderr);
  return r;
}

/** init --remote <url> with <key> on stdin; must succeed. */
async function initRemote(dirs, url, key, extra = []) {
  const r = await run(dirs, ['init', '--remote', url, '--key', '-', ...extra], { input: `${key}\n` });
  assert.equal(r.code, 0, `init --remote: ${r.stderr}`);
  return r;
}

const readJson = (p) => JSON.parse(fs.readFileSync(p, 'utf8'));

describe('init --remote', () => {
  test('writes client.url and the key read from stdin (0600), merged into the existing file; never echoes the key', async () => {
    const dirs = laptop();
    writeFile(dirs.homeSettingsPath, { logging: { level: 'warn' }, server: { port: 18555 } });
    const r = await initRemote(dirs, 'https://team-box.example:8082/', ALICE);
    assert.deepEqual(readJson(dirs.homeSettingsPath), {
      logging: { level: 'warn' }, server: { port: 18555 }, client: { url: 'https://team-box.example:8082', key: ALICE },
    });
    assert.equal(fs.statSync(dirs.homeSettingsPath).mode & 0o777, 0o600);
    assert.ok(!r.stdout.includes(ALICE) && !r.stderr.includes(ALICE), 'the key is not echoed');
    assert.doesNotMatch(r.stderr, /unencrypted/, 'https: no warning');
    assert.match(r.stdout, /team server at https:\/\/team-box\.example:8082/);

    // another server without --force: refused, file unchanged; with --force: replaced, keyEnv instead of key
    const bytes = fs.readFileSync(dirs.homeSettingsPath);
    const other = await run(dirs, ['init', '--remote', 'https://other:1', '--key', '-'], { input: `${BOB}\n` });
    assert.equal(other.code, 1, other.stderr);
    assert.match(other.stderr, /team-box\.example:8082.*--force/);
    assert.deepEqual(fs.readFileSync(dirs.homeSettingsPath), bytes);
    const forced = await run(dirs, ['init', '--remote', 'http://10.9.8.7:8082', '--key-env', 'TEAM_KEY', '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stderr, /http:\/\/10\.9\.8\.7:8082.*the key crosses the network unencrypted/);
    assert.deepEqual(readJson(dirs.homeSettingsPath).client, { url: 'http://10.9.8.7:8082', keyEnv: 'TEAM_KEY' });
  });

  test('bad values: exit 2, nothing written', async () => {
    const dirs = laptop();
    const cases = [
      [['--remote', 'ftp://x', '--key', '-'], 'k\n', /--remote/],
      [['--remote', 'https://x', '--key', '-'], 'has space\n', /space/],
      [['--remote', 'https://x', '--key', '-'], '\n', /empty/],
      [['--remote', 'https://x', '--key', '-'], `${'k'.repeat(512)}\n`, /longer than 511/],
      [['--remote', 'https://x', '--key', '-'], 'a\nb\n', /control character/],
      [['--remote', 'https://x', '--key-env', '1BAD'], undefined, /--key-env/],
      [['--remote', 'https://x'], undefined, /--key -/], // no key, no terminal
      [['--remote', 'https://x', '--key', '-', '--provider', 'openai'], 'k\n', /provider/],
    ];
    for (const [args, input, why] of cases) {
      const r = await run(dirs, ['init', ...args], { input });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, why, r.stderr);
    }
    assert.ok(!fs.existsSync(dirs.homeSettingsPath));
  });
});

describe('status in remote mode', () => {
  test('key accepted (0, name and limits), refused (1), unreachable (3), none (1); the key is never printed', async () => {
    const t = await teamServer();
    const dirs = laptop();
    await initRemote(dirs, t.url, ALICE);
    const ok = await run(dirs, ['status']);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, new RegExp(`team server at ${t.url}`));
    assert.match(ok.stdout, /key\s+accepted: alice/);
    assert.match(ok.stdout, /limits\s+600 rpm, \$50\/month/);
    assert.match(ok.stdout, /usage\s+\d+ requests/);
    assert.match(ok.stdout, /models\s+any/);
    const j = JSON.parse((await run(dirs, ['status', '--json'])).stdout);
    assert.equal(j.mode, 'remote');
    assert.equal(j.url, t.url);
    assert.equal(j.reachable, true);
    assert.equal(j.key_accepted, true);
    assert.equal(j.key, 'alice');
    assert.equal(j.limits.rpm, 600);
    assert.equal(typeof j.usage.requests_last_minute, 'number');
    for (const out of [ok.stdout, ok.stderr, JSON.stringify(j)]) assert.ok(!out.includes(ALICE), 'no key printed');
    assert.equal(readPidFile(dirs), 0, 'no local server was started');

    await initRemote(dirs, t.url, CAROL, ['--force']); // a key the server does not know
    const bad = await run(dirs, ['status']);
    assert.equal(bad.code, 1, bad.stdout);
    assert.match(bad.stdout, /refused/);
    const badJ = JSON.parse((await run(dirs, ['status', '--json'])).stdout);
    assert.equal(badJ.key_accepted, false);
    assert.equal(badJ.reachable, true);

    const down = `http://127.0.0.1:${await closedPort()}`;
    await initRemote(dirs, down, ALICE, ['--force']);
    const off = await run(dirs, ['status']);
    assert.equal(off.code, 3, off.stdout);
    assert.match(off.stdout, /does not answer/);
    assert.equal(JSON.parse((await run(dirs, ['status', '--json'])).stdout).reachable, false);

    const nokey = await run(dirs, ['init', '--remote', t.url, '--key-env', 'NOT_SET_HERE', '--force']);
    assert.equal(nokey.code, 0, nokey.stderr);
    const none = await run(dirs, ['status', '--json']);
    assert.equal(none.code, 1);
    assert.equal(JSON.parse(none.stdout).reason, 'no developer key configured');
  });
});

describe('the launcher in remote mode (a fake claude records what it got)', () => {
  test('accepted: claude gets the team server and the key as ANTHROPIC_AUTH_TOKEN, ANTHROPIC_API_KEY removed, no local server', async () => {
    const t = await teamServer();
    const dirs = laptop();
    await initRemote(dirs, t.url, ALICE);
    const r = await run(dirs, ['-p', 'hello'], { env: { ANTHROPIC_API_KEY: 'sk-ant-someone-else' } });
    assert.equal(r.code, 0, r.stderr);
    const runs = claudeRuns(dirs);
    assert.equal(runs.length, 1);
    assert.deepEqual(runs[0].env, { ANTHROPIC_BASE_URL: t.url, ANTHROPIC_AUTH_TOKEN: ALICE, ANTHROPIC_API_KEY: null, NODE_EXTRA_CA_CERTS: null });
    assert.deepEqual(runs[0].argv, ['-p', 'hello'], 'the key is in no argv');
    assert.equal(runs[0].health.status, 200, 'claude reached the team server');
    assert.equal(readPidFile(dirs), 0, 'no local server');
    assert.ok(!fs.existsSync(path.join(dirs.stateDir, 'ccproxy.log')), 'no local server log');
  });

  test('refused key or unreachable server: exit 1 before claude starts, naming the URL', async () => {
    const t = await teamServer();
    const dirs = laptop();
    await initRemote(dirs, t.url, CAROL);
    const r = await run(dirs, ['-p', 'hello']);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(r.stderr.includes(`the team server at ${t.url} refused the key (unknown, revoked or rotated)`), r.stderr);
    assert.ok(!r.stderr.includes(CAROL));
    const down = `http://127.0.0.1:${await closedPort()}`;
    await initRemote(dirs, down, ALICE, ['--force']);
    const d = await run(dirs, ['-p', 'hello']);
    assert.equal(d.code, 1, d.stderr);
    assert.ok(d.stderr.includes(down), d.stderr);
    const nokey = await run(dirs, ['init', '--remote', t.url, '--key-env', 'NOT_SET_HERE', '--force']);
    assert.equal(nokey.code, 0);
    const n = await run(dirs, ['-p', 'hello']);
    assert.equal(n.code, 1);
    assert.match(n.stderr, /NOT_SET_HERE/);
    assert.deepEqual(claudeRuns(dirs), [], 'claude never started');
  });
});

describe('the launcher with a local proxy that has developer keys', () => {
  test('passes the user\'s own key (client.key); without one, exit 1 saying how to store it', async () => {
    const dirs = laptop();
    const port = await freePort();
    writeSettings(dirs, port, { auth: { keys: [keyEntry('me', ALICE)] } });
    const no = await run(dirs, ['-p', 'x']);
    assert.equal(no.code, 1, no.stderr);
    assert.match(no.stderr, /ccproxy init --key -/);
    assert.match(no.stderr, /ccproxy keys add NAME/);
    assert.deepEqual(claudeRuns(dirs), []);
    const init = await run(dirs, ['init', '--key', '-'], { input: ALICE });
    assert.equal(init.code, 0, init.stderr);
    assert.equal(readJson(dirs.homeSettingsPath).client.key, ALICE);
    assert.deepEqual(readJson(dirs.homeSettingsPath).auth.keys, [keyEntry('me', ALICE)], 'the rest kept');
    const r = await run(dirs, ['-p', 'x'], { env: { ANTHROPIC_API_KEY: 'sk-ant-other' } });
    assert.equal(r.code, 0, r.stderr);
    const [c] = claudeRuns(dirs);
    assert.deepEqual(c.env, { ANTHROPIC_BASE_URL: `http://127.0.0.1:${port}`, ANTHROPIC_AUTH_TOKEN: ALICE, ANTHROPIC_API_KEY: null, NODE_EXTRA_CA_CERTS: null });
    assert.ok(readPidFile(dirs) > 0, 'the local server was started');
    // a key the local proxy does not know stops the launcher
    const bad = await run(dirs, ['init', '--key', '-'], { input: CAROL });
    assert.equal(bad.code, 0);
    await ccproxy(['stop'], dirs, { timeoutMs: 15000 }); // the settings changed: a fresh server
    const r2 = await run(dirs, ['-p', 'x']);
    assert.equal(r2.code, 1, r2.stderr);
    assert.match(r2.stderr, /refused the key/);
    assert.equal(claudeRuns(dirs).length, 1);
  });
});

describe('the real Claude Code CLI through a key-protected team server', () => {
  test('`ccproxy -p "say hi"` on the laptop: an answer, the server logs the key name; a wrong key stops before claude', async () => {
    checkClaude();
    const t = await teamServer();
    t.anth.reset();
    t.anth.enqueue(anthropicResponder());
    const dirs = laptop();
    await initRemote(dirs, t.url, BOB);
    const env = {
      CCPROXY_CLAUDE: CLAUDE_BIN, TERM: 'dumb', DISABLE_AUTOUPDATER: '1', DISABLE_TELEMETRY: '1',
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', ANTHROPIC_API_KEY: 'sk-ant-must-not-be-sent',
    };
    const mark = t.d.mark();
    const r = await run(dirs, ['-p', 'say hi', '--output-format', 'json'], { env, timeoutMs: 120000 });
    const c = `\nexit ${r.code}\nstdout: ${r.stdout.slice(0, 2000)}\nstderr: ${r.stderr.slice(0, 2000)}\nserver: ${t.d.stderrText().slice(mark).slice(-3000)}`;
    assert.equal(r.code, 0, c);
    const out = JSON.parse(r.stdout);
    assert.equal(out.is_error, false, c);
    assert.ok(String(out.result).includes(MOCK_HI), c);
    const lines = t.d.stderrText().slice(mark).split('\n').filter(Boolean).map((l) => { try { return JSON.parse(l); } catch { return {}; } });
    const api = lines.filter((l) => l.msg === 'request' && l.path === '/v1/messages');
    assert.ok(api.length >= 1, `the model calls reached the team server${c}`);
    assert.ok(api.every((l) => l.key === 'bob' && l.status === 200), `every call logged as bob: ${JSON.stringify(api)}`);
    const calls = t.anth.requests.filter((q) => /\/v1\/messages$/.test(q.path));
    assert.ok(calls.length >= 1, c);
    for (const q of calls) {
      assert.equal(q.headers['x-api-key'], 'sk-ant-prov-SECRET', 'the provider key upstream, never the developer\'s');
      assert.ok(!JSON.stringify(q.headers).includes(BOB) && !JSON.stringify(q.headers).includes('sk-ant-must-not-be-sent'));
    }
    assert.ok(!t.d.stderrText().includes(BOB), 'the key is not in the server log');

    // a wrong key: the launcher stops before claude, the upstream sees nothing
    const before = t.anth.requests.length;
    await initRemote(dirs, t.url, `${BOB}x`, ['--force']);
    const w = await run(dirs, ['-p', 'say hi', '--output-format', 'json'], { env, timeoutMs: 30000 });
    assert.equal(w.code, 1, w.stderr);
    assert.match(w.stderr, /refused the key/);
    assert.equal(w.stdout, '', 'claude printed nothing: it never ran');
    assert.equal(t.anth.requests.length, before);
  });
});
