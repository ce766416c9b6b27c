// `ccproxy [ARGS]`: starts the proxy in the background when none answers, then runs claude (a fake one
// on PATH here) with the arguments verbatim, pointed at the proxy; `ccproxy status` and `ccproxy stop`.
import { describe, test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { BIN, SANITIZER_RE, CONFIG_EXIT, freePort, writeFile, request, trustFile } from './lib/daemon.mjs';
import { startMock } from './lib/mock-upstream.mjs';
import { openStream } from './lib/stream.mjs';
import {
  makeLaunchDirs, spawnCcproxy, ccproxy, claudeRuns, readPidFile, alive, readLog, logCount, writeSettings,
  cleanupLaunch, waitFor, sleep, launchEnv,
} from './lib/launcher.mjs';

const NPM_INSTALL = 'npm install -g @anthropic-ai/claude-code';

let dirs;
const extraPids = [];
const closers = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
  await cleanupLaunch(dirs, extraPids.splice(0));
  dirs = null;
});

function clean(r, what = 'ccproxy') {
  assert.doesNotMatch(r.stderr, SANITIZER_RE, `${what}: sanitizer report\n${r.stderr}`);
}

/** Fields of /proc/<pid>/stat after the command name. */
function procStat(pid) {
  const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return s.slice(s.lastIndexOf(')') + 2).split(' ');
}

/** A server on 127.0.0.1:<port> that is not ccproxy. */
async function occupy(port, handler) {
  const srv = handler === 'silent'
    ? net.createServer(() => { /* accept, never answer */ })
    : http.createServer(handler);
  const sockets = new Set();
  srv.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise((resolve, reject) => { srv.once('error', reject); srv.listen(port, '127.0.0.1', resolve); });
  closers.push(() => new Promise((resolve) => { for (const s of sockets) s.destroy(); srv.close(() => resolve()); }));
  return srv;
}

describe('launching claude', () => {
  test('no server yet: starts one in the background, runs claude with the arguments verbatim, exits with its status', async () => {
    dirs = makeLaunchDirs();
    const port = await freePort();
    writeSettings(dirs, port, {}, { where: 'cwd' });
    // a project file is applied once the user trusted it; that creates ~/.ccproxy (private) and the trust
    // store, nothing else (73-trust checks that the launcher itself creates ~/.ccproxy 0700)
    const trusted = await ccproxy(['trust'], dirs);
    assert.equal(trusted.code, 0, trusted.stderr);
    assert.deepEqual(fs.readdirSync(dirs.stateDir), ['trusted.json']);
    const args = ['-p', 'say hi', '--output-format', 'json', '--model', 'sonnet', 'two  spaces', '', 'ünïcødé "q"', '--debug', '--', 'status'];
    const r = await ccproxy(args, dirs, { env: { FAKE_CLAUDE_EXIT: '7', ANTHROPIC_API_KEY: 'sk-ant-real-user-key' } });
    clean(r);
    assert.equal(r.code, 7, `claude's exit status is ccproxy's\nstderr: ${r.stderr}`);
    const runs = claudeRuns(dirs);
    assert.equal(runs.length, 1, 'claude ran once');
    const run = runs[0];
    assert.deepEqual(run.argv, args, 'every argument reaches claude unchanged, in order');
    assert.equal(run.env.ANTHROPIC_BASE_URL, `http://127.0.0.1:${port}`);
    assert.ok(run.env.ANTHROPIC_AUTH_TOKEN, 'claude has a credential, so it does not ask to log in');
    assert.equal(run.env.ANTHROPIC_API_KEY, null, "the user's own Anthropic key is not handed to claude");
    assert.equal(run.health.status, 200, `claude reached the proxy: ${JSON.stringify(run.health)}`);
    assert.equal(run.health.body.service, 'ccproxy');

    // the background server: pid file, own session, stdin /dev/null, output in the log; it stays up
    const pid = readPidFile(dirs);
    assert.ok(pid > 0, 'pid file written');
    assert.equal(run.health.body.pid, pid, 'the pid file names the server that answered');
    assert.ok(alive(pid), 'the server outlives claude');
    const st = procStat(pid);
    assert.notEqual(st[3], procStat(process.pid)[3], 'the server is in a session of its own (setsid)');
    assert.equal(st[4], '0', 'with no controlling terminal');
    assert.equal(fs.readlinkSync(`/proc/${pid}/fd/0`), '/dev/null', 'stdin is /dev/null');
    assert.equal(fs.readlinkSync(`/proc/${pid}/fd/1`), dirs.logPath, 'stdout goes to ~/.ccproxy/ccproxy.log');
    assert.equal(fs.readlinkSync(`/proc/${pid}/fd/2`), dirs.logPath, 'stderr goes to ~/.ccproxy/ccproxy.log');
    assert.equal(logCount(dirs, 'listening'), 1, readLog(dirs));
    assert.equal(fs.statSync(dirs.stateDir).mode & 0o777, 0o700, '~/.ccproxy is created private');
    assert.equal(fs.statSync(dirs.logPath).mode & 0o777, 0o600, 'so is the log');
    assert.match(r.stderr, new RegExp(`started the proxy at http://127\\.0\\.0\\.1:${port}`));
  });

  test('the background server keeps none of the launcher\'s other descriptors (a pipe on fd 3 gets its EOF)', async () => {
    dirs = makeLaunchDirs();
    const port = await freePort();
    writeSettings(dirs, port);
    const h = spawnCcproxy(['-p', 'x'], dirs, { extraStdio: ['pipe'], timeoutMs: 15000 });
    const eof = new Promise((resolve) => h.proc.stdio[3].on('close', resolve).resume());
    const r = await h.done; // 'close' needs every pipe closed: a server holding fd 3 would time this out
    await eof;
    assert.equal(r.code, 0, r.stderr);
    assert.ok(alive(readPidFile(dirs)), 'while the server runs on');
  });

  test('a running server is reused: the second launch starts nothing', async () => {
    dirs = makeLaunchDirs();
    const port = await freePort();
    writeSettings(dirs, port);
    const a = await ccproxy(['-p', 'one'], dirs);
    assert.equal(a.code, 0, a.stderr);
    const pid = readPidFile(dirs);
    const b = await ccproxy(['-p', 'two'], dirs, { env: { FAKE_CLAUDE_EXIT: '3' } });
    clean(b);
    assert.equal(b.code, 3, b.stderr);
    assert.doesNotMatch(b.stderr, /started the proxy/, 'nothing started the second time');
    const runs = claudeRuns(dirs);
    assert.equal(runs.length, 2);
    assert.deepEqual(runs.map((x) => x.health.body.pid), [pid, pid], 'both talked to the same server');
    assert.equal(logCount(dirs, 'listening'), 1, 'one server ever listened');
  });

  test('two launchers started at once end with one server', async () => {
    dirs = makeLaunchDirs();
    const port = await freePort();
    writeSettings(dirs, port);
    const [a, b] = await Promise.all([ccproxy(['-p', 'a'], dirs), ccproxy(['-p', 'b'], dirs)]);
    clean(a);
    clean(b);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const runs = claudeRuns(dirs);
    assert.equal(runs.length, 2);
    assert.equal(runs[0].health.body.pid, runs[1].health.body.pid, 'one server answered both');
    assert.equal(logCount(dirs, 'listening'), 1, `one server started:\n${readLog(dirs)}`);
    assert.equal([a, b].filter((r) => /started the proxy/.test(r.stderr)).length, 1);
  });

  test('SIGINT and SIGTERM sent to ccproxy reach claude, and its status is ccproxy\'s', async () => {
    dirs = makeLaunchDirs();
    const port = await freePort();
    writeSettings(dirs, port);
    for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]]) {
      const before = claudeRuns(dirs).length;
      const h = spawnCcproxy(['--resume'], dirs, { env: { FAKE_CLAUDE_WAIT: '1' } });
      await waitFor(() => claudeRuns(dirs).length > before && claudeRuns(dirs).at(-1).ready, { timeoutMs: 15000, what: 'claude ready' });
      h.proc.kill(sig);
      const r = await h.done;
      clean(r);
      assert.equal(r.code, code, `${sig}: exit ${r.code} signal ${r.signal}\n${r.stderr}`);
      const rec = claudeRuns(dirs).find((x) => x.signal === sig);
      assert.ok(rec, `claude received ${sig}`);
    }
    assert.ok(alive(readPidFile(dirs)), 'the proxy is not hit by the signals sent to the launcher');
  });

  test('claude missing from PATH: exit 127 with the npm install command, nothing started', async () => {
    dirs = makeLaunchDirs({ fakeClaude: false });
    const port = await freePort();
    writeSettings(dirs, port);
    const r = await ccproxy(['-p', 'x'], dirs, { env: { PATH: `${dirs.bin}:/usr/bin:/bin` } });
    clean(r);
    assert.equal(r.code, 127, r.stderr);
    assert.ok(r.stderr.includes(NPM_INSTALL), `stderr has the install command:\n${r.stderr}`);
    assert.equal(readPidFile(dirs), 0, 'no server was started');
    const s = await ccproxy(['status'], dirs);
    assert.equal(s.code, 3, s.stdout);
  });

  test('claude found in ~/.claude/local (Claude Code\'s own local install) when not on PATH', async () => {
    dirs = makeLaunchDirs();
    const port = await freePort();
    writeSettings(dirs, port);
    fs.mkdirSync(`${dirs.home}/.claude/local`, { recursive: true });
    fs.renameSync(`${dirs.bin}/claude`, `${dirs.home}/.claude/local/claude`);
    const r = await ccproxy(['-p', 'x'], dirs, { env: { FAKE_CLAUDE_EXIT: '4' } });
    assert.equal(r.code, 4, r.stderr);
    assert.deepEqual(claudeRuns(dirs)[0].argv, ['-p', 'x']);
  });

  test('a log over 8 MiB moves to ccproxy.log.1 when a server starts', async () => {
    dirs = makeLaunchDirs();
    const port = await freePort();
    writeSettings(dirs, port);
    fs.writeFileSync(dirs.logPath, 'old\n'.repeat(2_200_000)); // 8.8 MB
    const r = await ccproxy(['-p', 'x'], dirs);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.statSync(`${dirs.logPath}.1`).size, 8_800_000, 'the old log is kept whole');
    assert.ok(fs.statSync(dirs.logPath).size < 100_000, 'the new one starts small');
    assert.equal(logCount(dirs, 'listening'), 1);
  });

  test('CCPROXY_CLAUDE names the claude to run', async () => {
    dirs = makeLaunchDirs();
    const port = await freePort();
    writeSettings(dirs, port);
    fs.renameSync(`${dirs.bin}/claude`, `${dirs.root}/my-claude`);
    const r = await ccproxy(['-p', 'x'], dirs, { env: { CCPROXY_CLAUDE: `${dirs.root}/my-claude`, FAKE_CLAUDE_EXIT: '5' } });
    assert.equal(r.code, 5, r.stderr);
    assert.deepEqual(claudeRuns(dirs)[0].argv, ['-p', 'x']);
    const bad = await ccproxy(['-p', 'x'], dirs, { env: { CCPROXY_CLAUDE: `${dirs.root}/nope` } });
    assert.equal(bad.code, 127);
    assert.match(bad.stderr, /CCPROXY_CLAUDE/);
  });

  test('the port is taken by another HTTP server: a clear error, exit 1, claude not run', async () => {
    dirs = makeLaunchDirs();
    const port = await freePort();
    writeSettings(dirs, port);
    await occupy(port, (req, res) => { res.writeHead(404, { 'content-type': 'text/plain' }); res.end('nope'); });
    const r = await ccproxy(['-p', 'x'], dirs);
    clean(r);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(r.stderr.includes(`http://127.0.0.1:${port} is in use by another program`), r.stderr);
    assert.match(r.stderr, /HTTP 404/);
    assert.equal(claudeRuns(dirs).length, 0, 'claude did not run');
    assert.equal(readPidFile(dirs), 0, 'no server was started');
  });

  test('the port is taken by something that is not HTTP (accepts, never answers): exit 1 within seconds', async () => {
    dirs = makeLaunchDirs();
    const port = await freePort();
    writeSettings(dirs, port);
    await occupy(port, 'silent');
    const r = await ccproxy(['-p', 'x'], dirs);
    clean(r);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /in use by another program/);
    assert.ok(r.ms < 8000, `took ${r.ms} ms`);
    assert.equal(claudeRuns(dirs).length, 0);
  });

  test('a server that fails to start: the end of its log is shown, exit 1, claude not run', async () => {
    dirs = makeLaunchDirs();
    const port = await freePort();
    writeSettings(dirs, port);
    fs.mkdirSync(dirs.pidPath, { recursive: true }); // the server cannot write its pid file
    fs.writeFileSync(dirs.logPath, 'an old line from an earlier run\n');
    const r = await ccproxy(['-p', 'x'], dirs);
    clean(r);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /exited while starting/);
    assert.ok(r.stderr.includes(dirs.logPath), r.stderr);
    assert.match(r.stderr, /cannot write the pid file/, `the log's last lines are shown:\n${r.stderr}`);
    assert.doesNotMatch(r.stderr, /an old line/, 'only what this start wrote');
    assert.ok(r.ms < 8000, `failed fast (${r.ms} ms)`);
    assert.equal(claudeRuns(dirs).length, 0);
    await assert.rejects(fetch(`http://127.0.0.1:${port}/health`), 'nothing listens afterwards');
    fs.rmdirSync(dirs.pidPath);
  });

  test('a server that never answers: the launcher gives up after its 10 s start timeout, kills it, shows its log, exit 1', { timeout: 40000 }, async () => {
    dirs = makeLaunchDirs();
    const port = await freePort();
    writeSettings(dirs, port);
    // CCPROXY_CONFIG names a FIFO: the launcher reads the one "{}" the test writes, the server it starts
    // then blocks opening the FIFO (no writer any more), so it never listens and never answers /health
    const fifo = path.join(dirs.root || os.tmpdir(), `start-timeout-${process.pid}.fifo`);
    assert.equal(spawnSync('mkfifo', ['-m', '600', fifo]).status, 0, 'mkfifo');
    closers.push(async () => fs.rmSync(fifo, { force: true }));
    const h = spawnCcproxy(['-p', 'x'], dirs, { env: { CCPROXY_CONFIG: fifo }, timeoutMs: 30000 });
    fs.writeFileSync(fifo, '{}'); // blocks until the launcher opens it for reading
    const r = await h.done;
    clean(r);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`did not answer at http://127\\.0\\.0\\.1:${port} within 10 s; stopping it`));
    assert.ok(r.stderr.includes(dirs.logPath), `the log is named:\n${r.stderr}`);
    assert.ok(r.ms >= 9500 && r.ms < 25000, `gave up after ${r.ms} ms`);
    assert.equal(claudeRuns(dirs).length, 0, 'claude not run');
    // the server it started is gone (killed), not left blocked in the background
    const left = spawnSync('pgrep', ['-f', `${BIN} server`]).stdout.toString().split('\n').filter(Boolean)
      .filter((pid) => { try { return fs.readFileSync(`/proc/${pid}/environ`, 'latin1').includes(fifo); } catch { return false; } });
    assert.deepEqual(left, [], 'the started server was stopped');
  });

  test('a broken config: exit 78 with the error, nothing started', async () => {
    dirs = makeLaunchDirs();
    writeFile(dirs.homeSettingsPath, '{"server": {"port": "eighty"}}');
    const r = await ccproxy(['-p', 'x'], dirs);
    clean(r);
    assert.equal(r.code, CONFIG_EXIT, r.stderr);
    assert.match(r.stderr, /server\.port/);
    assert.equal(claudeRuns(dirs).length, 0);
  });

  test('claude settings that set ANTHROPIC_BASE_URL are outranked with --settings, placed before the verbatim arguments', async () => {
    dirs = makeLaunchDirs();
    const port = await freePort();
    writeSettings(dirs, port);
    const pinned = JSON.stringify({ env: { ANTHROPIC_BASE_URL: `http://127.0.0.1:${port}` } });
    for (const file of [`${dirs.home}/.claude/settings.json`, `${dirs.cwd}/.claude/settings.local.json`]) {
      writeFile(file, { env: { ANTHROPIC_BASE_URL: 'http://127.0.0.1:1' }, model: 'opus' });
      const before = claudeRuns(dirs).length;
      const r = await ccproxy(['-p', 'x', '--model', 'sonnet'], dirs);
      clean(r);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(claudeRuns(dirs)[before].argv, ['--settings', pinned, '-p', 'x', '--model', 'sonnet'], file);
      assert.ok(r.stderr.includes('sets ANTHROPIC_BASE_URL'), r.stderr);
      fs.rmSync(file);
    }
    // the user's own --settings is left alone (claude keeps only the last one), with a warning
    writeFile(`${dirs.home}/.claude/settings.json`, { env: { ANTHROPIC_BASE_URL: 'http://127.0.0.1:1' } });
    const before = claudeRuns(dirs).length;
    const r = await ccproxy(['--settings', '{}', '-p', 'x'], dirs);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(claudeRuns(dirs)[before].argv, ['--settings', '{}', '-p', 'x']);
    assert.match(r.stderr, /warning: .* may not use the proxy/);
  });

  test('--debug before the arguments is ccproxy\'s: the server it starts logs at debug level', async () => {
    dirs = makeLaunchDirs();
    const port = await freePort();
    writeSettings(dirs, port);
    const r = await ccproxy(['--debug', '-p', 'x'], dirs);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(claudeRuns(dirs)[0].argv, ['-p', 'x']);
    assert.ok(fs.readFileSync(`/proc/${readPidFile(dirs)}/cmdline`, 'utf8').split('\0').includes('--debug'));
  });
});

describe('status and stop', () => {
  test('status: not running → exit 3; running → pid, address, version, uptime, requests; --json', async () => {
    dirs = makeLaunchDirs();
    const port = await freePort();
    writeSettings(dirs, port);
    const down = await ccproxy(['status'], dirs);
    clean(down);
    assert.equal(down.code, 3, down.stdout);
    assert.match(down.stdout, /not running/);
    const downJson = JSON.parse((await ccproxy(['status', '--json'], dirs)).stdout);
    assert.equal(downJson.running, false);
    assert.equal(downJson.url, `http://127.0.0.1:${port}`);

    assert.equal((await ccproxy(['-p', 'x'], dirs)).code, 0);
    const pid = readPidFile(dirs);
    const up = await ccproxy(['status'], dirs);
    clean(up);
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stdout, /ccproxy is running/);
    assert.match(up.stdout, new RegExp(`address\\s+http://127\\.0\\.0\\.1:${port}`));
    assert.match(up.stdout, new RegExp(`pid\\s+${pid}\\b`));
    assert.match(up.stdout, /version\s+\d+\.\d+\.\d+/);
    assert.match(up.stdout, /uptime\s+\d+s/);
    assert.match(up.stdout, /requests\s+0 in flight, 0 streaming/);
    const j = JSON.parse((await ccproxy(['status', '--json'], dirs)).stdout);
    assert.equal(j.running, true);
    assert.equal(j.pid, pid);
    assert.equal(j.url, `http://127.0.0.1:${port}`);
    assert.ok(Number.isInteger(j.uptime_s));
    assert.equal(j.active, 0);
    assert.equal(j.streams, 0);
  });

  test('status counts a stream in flight; stop lets it finish, then the server is gone', async () => {
    dirs = makeLaunchDirs();
    const port = await freePort();
    const mock = await startMock({ name: 'launch' });
    closers.push(() => mock.close());
    writeSettings(dirs, port, {
      providers: { m: { baseURL: `${mock.url}/v1`, apiKey: 'sk-m' } },
      models: { bigModel: 'up-big@m', smallModel: 'up-small@m', preferredProvider: 'm' },
    });
    assert.equal((await ccproxy(['-p', 'x'], dirs)).code, 0);
    const pid = readPidFile(dirs);
    const parts = ['Hel', 'lo ', 'from ', 'a ', 'slow ', 'stream'];
    mock.enqueue({
      chunks: [
        ...parts.map((p, i) => ({ data: { id: 'c1', object: 'chat.completion.chunk', model: 'up-big', choices: [{ index: 0, delta: i === 0 ? { role: 'assistant', content: p } : { content: p }, finish_reason: null }] } })),
        { data: { id: 'c1', object: 'chat.completion.chunk', model: 'up-big', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage: { prompt_tokens: 5, completion_tokens: 6, total_tokens: 11 } } },
        '[DONE]',
      ].map((c) => (typeof c === 'string' ? `data: ${c}\n\n` : c)),
      gapMs: 250,
    });
    const s = openStream(port, { model: 'claude-sonnet-4-5', max_tokens: 100, stream: true, messages: [{ role: 'user', content: 'hi' }] });
    await s.waitFor((text) => text.includes('content_block_delta'), 5000, 'first delta');
    const st = JSON.parse((await ccproxy(['status', '--json'], dirs)).stdout);
    assert.equal(st.active, 1, JSON.stringify(st));
    assert.equal(st.streams, 1, JSON.stringify(st));
    const stop = await ccproxy(['stop'], dirs);
    clean(stop);
    assert.equal(stop.code, 0, stop.stderr);
    assert.match(stop.stdout, new RegExp(`stopped \\(pid ${pid}\\)`));
    const res = await s.done;
    assert.ok(res.complete, 'the stream in flight ended cleanly');
    const text = res.events.filter((e) => e.event === 'content_block_delta').map((e) => e.data.delta.text).join('');
    assert.equal(text, parts.join(''), 'nothing lost');
    assert.ok(res.events.some((e) => e.event === 'message_stop'));
    assert.equal(alive(pid), false, 'the server is gone when stop returns');
    assert.equal(fs.existsSync(dirs.pidPath), false, 'the pid file is removed');
    assert.match(readLog(dirs), /"draining"/);
    const after = await ccproxy(['status'], dirs);
    assert.equal(after.code, 3);
    const again = await ccproxy(['stop'], dirs);
    assert.equal(again.code, 0, 'stop with nothing running is fine');
    assert.match(again.stdout, /not running/);
  });

  test('stop finds the server by its pid file when the port changed; a stale pid file is removed', async () => {
    dirs = makeLaunchDirs();
    const port = await freePort();
    writeSettings(dirs, port);
    assert.equal((await ccproxy(['-p', 'x'], dirs)).code, 0);
    const pid = readPidFile(dirs);
    writeSettings(dirs, await freePort()); // the settings now name another port
    const st = await ccproxy(['status'], dirs);
    assert.equal(st.code, 3);
    assert.match(st.stdout, new RegExp(`ccproxy pid ${pid} from .* is alive`));
    const stop = await ccproxy(['stop'], dirs);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(alive(pid), false);
    fs.writeFileSync(dirs.pidPath, `${process.pid}\n`); // a pid that is not a ccproxy
    const again = await ccproxy(['stop'], dirs);
    assert.equal(again.code, 0);
    assert.equal(fs.existsSync(dirs.pidPath), false, 'stale pid file removed');
    assert.ok(alive(process.pid), 'and the process it named was left alone');
  });

  test('stop escalates on a server that does not exit: second SIGTERM, then SIGKILL', { timeout: 30000 }, async () => {
    dirs = makeLaunchDirs();
    const port = await freePort();
    writeSettings(dirs, port, { server: { drainTimeoutSeconds: 1 } });
    assert.equal((await ccproxy(['-p', 'x'], dirs)).code, 0);
    const pid = readPidFile(dirs);
    process.kill(pid, 'SIGSTOP'); // hung: signals other than SIGKILL wait
    const t0 = Date.now();
    const r = await ccproxy(['stop'], dirs, { timeoutMs: 20000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /still runs after the drain timeout/);
    assert.equal(alive(pid), false, 'gone');
    assert.ok(Date.now() - t0 >= 6000, 'it waited the drain timeout plus the grace first');
  });

  test('status when another program has the port: exit 1 naming it', async () => {
    dirs = makeLaunchDirs();
    const port = await freePort();
    writeSettings(dirs, port);
    await occupy(port, (req, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"status":"ok"}'); });
    const r = await ccproxy(['status'], dirs);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /used by another program/);
    const stop = await ccproxy(['stop'], dirs);
    assert.equal(stop.code, 0, 'stop touches nothing that is not ccproxy');
  });
});

// ---- identity: the launcher, status and stop trust only the user's own server (docs/cli.md) ----

const NOBODY = 65534;
const hmac = (key, ...parts) => createHmac('sha256', key).update(parts.join('')).digest('hex');
const keyPath = (dirs) => path.join(dirs.stateDir, 'instance.key');
const readKey = (dirs) => Buffer.from(fs.readFileSync(keyPath(dirs), 'utf8').trim(), 'hex');

/** `sleep 60`: a real process whose pid an impostor names; killed after the test. */
function spawnSleep() {
  const p = spawn('sleep', ['60'], { stdio: 'ignore' });
  extraPids.push(p.pid);
  return p.pid;
}

/** An HTTP server on <port> that answers /health as ccproxy does (without the instance key). */
async function impostor(port, { pid, proof = false, seen = [] }) {
  await occupy(port, (req, res) => {
    seen.push(req.headers);
    const body = { status: 'ok', service: 'ccproxy', version: '0.1.0', pid, uptime_s: 5, active: 0, streams: 0 };
    if (proof) Object.assign(body, { config_digest: randomBytes(32).toString('hex'), proof: randomBytes(32).toString('hex') });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  return seen;
}

/** `ccproxy server` in the foreground (no pid file), with the test's HOME; its log lines are collected. */
async function serverDirect(dirs, args = []) {
  const proc = spawn(BIN, ['server', ...args], { env: launchEnv(dirs), cwd: dirs.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout.setEncoding('utf8').on('data', (d) => { log += d; });
  proc.stderr.setEncoding('utf8').on('data', (d) => { log += d; });
  const exited = new Promise((resolve) => proc.on('close', resolve));
  closers.push(async () => { proc.kill('SIGKILL'); await exited; });
  await waitFor(() => /"listening"/.test(log), { timeoutMs: 10000, what: `the server listening:\n${log}` });
  return { proc, log: () => log };
}

/** GET /health at <host>:<port>; <headers> as an object or a flat [name, value, ...] array. */
function getHealth(host, port, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, path: '/health', headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, json: JSON.parse(text) }));
    });
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

function lanAddress() {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list || []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return null;
}

const canBeNobody = process.getuid?.() === 0 && spawnSync('id', ['nobody']).status === 0;
const hasPython = spawnSync('python3', ['-c', 'import fcntl']).status === 0;

/** Runs `<bin> <args>` (ccproxy, or a copy of it) as uid/gid <id> (another than ours: root only). */
function ccproxyAs(id, args, dirs, { timeoutMs = 20000, bin = BIN } = {}) {
  return new Promise((resolve, reject) => {
    const ids = id === null ? {} : { uid: id, gid: id };
    const proc = spawn(bin, args, { ...ids, env: launchEnv(dirs), cwd: dirs.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
    proc.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`ccproxy ${args.join(' ')} hung\n${stderr}`)); }, timeoutMs);
    proc.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

describe('identity: only your own proxy gets claude, and only its pid is signalled', () => {
  for (const kind of ['no proof', 'a made-up proof']) {
    test(`an impostor answering /health as ccproxy (${kind}, naming a real pid): launch refuses, status says so, stop signals nothing`, async () => {
      dirs = makeLaunchDirs();
      const port = await freePort();
      writeSettings(dirs, port);
      const victim = spawnSleep();
      const seen = await impostor(port, { pid: victim, proof: kind !== 'no proof' });
      const r = await ccproxy(['-p', 'x'], dirs);
      clean(r);
      assert.equal(r.code, 1, r.stderr);
      assert.ok(r.stderr.includes(`something at http://127.0.0.1:${port} answers as ccproxy but cannot prove it is yours`), r.stderr);
      assert.match(r.stderr, /CCPROXY_PORT/);
      assert.match(r.stderr, kind === 'no proof' ? /gives no proof/ : /proof of identity is wrong/);
      assert.equal(claudeRuns(dirs).length, 0, 'claude did not run');
      assert.equal(readPidFile(dirs), 0, 'nothing started');
      // the probe carried a fresh nonce and a credential, never the key itself
      const key = fs.readFileSync(keyPath(dirs), 'utf8').trim();
      assert.equal(fs.statSync(keyPath(dirs)).mode & 0o777, 0o600);
      assert.ok(seen.length >= 1);
      for (const h of seen) {
        assert.match(h['x-ccproxy-nonce'], /^[0-9a-f]{64}$/);
        assert.match(h['x-ccproxy-auth'], /^[0-9a-f]{64}$/);
        assert.ok(!JSON.stringify(h).includes(key), 'the instance key never leaves the machine\'s files');
      }
      assert.equal(new Set(seen.map((h) => h['x-ccproxy-nonce'])).size, seen.length, 'a new nonce each time');

      const st = await ccproxy(['status'], dirs);
      assert.equal(st.code, 1, st.stdout);
      assert.match(st.stdout, /answers as ccproxy but cannot prove it is yours/);
      assert.doesNotMatch(st.stdout, new RegExp(`\\b${victim}\\b`), 'the pid it claims is not repeated');
      const sj = JSON.parse((await ccproxy(['status', '--json'], dirs)).stdout);
      assert.equal(sj.running, false);
      assert.equal(sj.identity, 'unproven');
      assert.equal(sj.pid, undefined);

      const stop = await ccproxy(['stop'], dirs);
      clean(stop);
      assert.equal(stop.code, 1, stop.stderr);
      assert.match(stop.stderr, /cannot prove it is yours.*signals only the server named in/s);
      assert.ok(alive(victim), 'the process the impostor named was not signalled');
      // its pid in our pid file too (no lock: a stale file): still not signalled
      fs.mkdirSync(dirs.stateDir, { recursive: true });
      fs.writeFileSync(dirs.pidPath, `${victim}\n`);
      const stop2 = await ccproxy(['stop'], dirs);
      assert.equal(stop2.code, 1, stop2.stderr);
      assert.ok(alive(victim), 'still alive');
      assert.equal(fs.existsSync(dirs.pidPath), false, 'the stale pid file was removed');
    });
  }

  test('stop never signals a pid learned over HTTP, even one of a real ccproxy', async () => {
    dirs = makeLaunchDirs();
    const port = await freePort();
    writeSettings(dirs, port);
    const real = await serverDirect(dirs, ['--port', String(await freePort())]); // a ccproxy, elsewhere
    await impostor(port, { pid: real.proc.pid });
    const stop = await ccproxy(['stop'], dirs);
    clean(stop);
    assert.equal(stop.code, 1, stop.stderr);
    assert.ok(alive(real.proc.pid), 'the ccproxy whose pid the impostor gave was not signalled');
    assert.doesNotMatch(real.log(), /"draining"/);
  });

  test('a relay that hands your nonce to your real proxy and passes its proof back gets no traffic', async () => {
    dirs = makeLaunchDirs();
    const port = await freePort();
    writeSettings(dirs, port);
    assert.equal((await ccproxy(['-p', 'one'], dirs)).code, 0);
    const relayPort = await freePort();
    await occupy(relayPort, (req, res) => {
      const up = http.request({ host: '127.0.0.1', port, path: req.url, headers: { ...req.headers, host: `127.0.0.1:${port}` }, agent: false }, (ur) => {
        res.writeHead(ur.statusCode, ur.headers);
        ur.pipe(res);
      });
      up.end();
    });
    const r = await ccproxy(['-p', 'two'], dirs, { env: { CCPROXY_PORT: String(relayPort) } });
    clean(r);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /runs with other settings/, 'the proof holds, but the digest covers the address: not ours to use');
    assert.equal(claudeRuns(dirs).length, 1, 'claude ran only the first time');
  });

  test('a pid file naming another program: a stale one is removed, one held by `sleep` is refused; the process lives', async () => {
    assert.ok(hasPython, 'python3 (installed by scripts/install-deps.sh --test) holds the POSIX lock');
    dirs = makeLaunchDirs();
    const port = await freePort();
    writeSettings(dirs, port);
    fs.mkdirSync(dirs.stateDir, { recursive: true, mode: 0o700 });
    const victim = spawnSleep();
    fs.writeFileSync(dirs.pidPath, `${victim}\n`); // nothing holds it
    const a = await ccproxy(['stop'], dirs);
    clean(a);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /not running/);
    assert.ok(alive(victim));
    assert.equal(fs.existsSync(dirs.pidPath), false);
    // `sleep` that holds the pid file's lock, as a server would: its executable gives it away
    const code = 'import fcntl,os,sys\nfd=os.open(sys.argv[1],os.O_RDWR|os.O_CREAT,0o600)\nos.write(fd,b"%d\\n"%os.getpid())\n' +
      'fcntl.lockf(fd,fcntl.LOCK_EX|fcntl.LOCK_NB)\nos.set_inheritable(fd,True)\nos.execv("/bin/sleep",["sleep","60"])\n';
    const holder = spawn('python3', ['-c', code, dirs.pidPath], { stdio: 'ignore' });
    extraPids.push(holder.pid);
    await waitFor(() => { try { return fs.readlinkSync(`/proc/${holder.pid}/exe`).endsWith('/sleep'); } catch { return false; } }, { what: 'sleep holding the pid file' });
    const b = await ccproxy(['stop'], dirs);
    clean(b);
    assert.equal(b.code, 1, b.stderr);
    assert.match(b.stderr, new RegExp(`not stopping anything: pid ${holder.pid} runs /.*sleep, not this ccproxy`));
    assert.ok(alive(holder.pid), 'sleep was not signalled');
    assert.ok(fs.existsSync(dirs.pidPath), 'a held pid file is left alone');
  });

  test('a proxy with other settings is not reused (changed settings, another directory, another key); after `ccproxy stop` the next launch starts one with them', async () => {
    dirs = makeLaunchDirs();
    const port = await freePort();
    writeSettings(dirs, port, { models: { bigModel: 'gpt-5@openai' } });
    assert.equal((await ccproxy(['-p', 'one'], dirs, { env: { OPENAI_API_KEY: 'sk-one' } })).code, 0);
    const pid = readPidFile(dirs);
    // the same settings from another directory: reused
    const cwd2 = path.join(dirs.root, 'cwd2');
    fs.mkdirSync(cwd2);
    const same = await ccproxy(['-p', 'two'], { ...dirs, cwd: cwd2 }, { env: { OPENAI_API_KEY: 'sk-one' } });
    assert.equal(same.code, 0, same.stderr);
    assert.equal(claudeRuns(dirs).length, 2);
    // another key in the environment: the proxy would use the old one
    const key = await ccproxy(['-p', 'three'], dirs, { env: { OPENAI_API_KEY: 'sk-two' } });
    assert.equal(key.code, 1, key.stderr);
    assert.ok(!key.stderr.includes('sk-one') && !key.stderr.includes('sk-two'), key.stderr);
    // a directory whose project settings (trusted) name another model
    const cwd3 = path.join(dirs.root, 'cwd3');
    writeFile(path.join(cwd3, '.ccproxy', 'settings.json'), { models: { bigModel: 'gpt-5-mini@openai' } });
    trustFile(dirs, path.join(cwd3, '.ccproxy', 'settings.json'));
    const other = await ccproxy(['-p', 'four'], { ...dirs, cwd: cwd3 }, { env: { OPENAI_API_KEY: 'sk-one' } });
    assert.equal(other.code, 1, other.stderr);
    // changed user settings
    writeSettings(dirs, port, { models: { bigModel: 'gpt-5-codex@openai' } });
    const r = await ccproxy(['-p', 'five'], dirs, { env: { OPENAI_API_KEY: 'sk-one' } });
    clean(r);
    assert.equal(r.code, 1, r.stderr);
    for (const x of [key, other, r]) {
      assert.ok(x.stderr.includes(`the proxy at http://127.0.0.1:${port} (pid ${pid}) runs with other settings than the ones here`), x.stderr);
      assert.match(x.stderr, /Run `ccproxy stop`, then `ccproxy` again/);
    }
    assert.equal(claudeRuns(dirs).length, 2, 'claude ran only with the proxy of its settings');
    const st = await ccproxy(['status'], dirs, { env: { OPENAI_API_KEY: 'sk-one' } });
    assert.equal(st.code, 0, st.stdout);
    assert.match(st.stdout, /running \(yours\)/);
    assert.match(st.stdout, /settings\s+not the ones here/);
    assert.equal(JSON.parse((await ccproxy(['status', '--json'], dirs, { env: { OPENAI_API_KEY: 'sk-one' } })).stdout).same_settings, false);
    assert.equal((await ccproxy(['stop'], dirs)).code, 0);
    const again = await ccproxy(['-p', 'six'], dirs, { env: { OPENAI_API_KEY: 'sk-one' } });
    assert.equal(again.code, 0, again.stderr);
    assert.notEqual(readPidFile(dirs), pid, 'a new proxy, with these settings');
    assert.equal(claudeRuns(dirs).length, 3);
  });

  test('a reload (SIGHUP) publishes the new settings: the next launch reuses the proxy', async () => {
    dirs = makeLaunchDirs();
    const port = await freePort();
    writeSettings(dirs, port, { models: { bigModel: 'gpt-5@openai' } });
    assert.equal((await ccproxy(['-p', 'one'], dirs)).code, 0);
    const pid = readPidFile(dirs);
    writeSettings(dirs, port, { models: { bigModel: 'gpt-5-mini@openai' } });
    process.kill(pid, 'SIGHUP');
    await waitFor(() => logCount(dirs, 'config reloaded') === 1, { what: 'the reload' });
    const r = await ccproxy(['-p', 'two'], dirs);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(claudeRuns(dirs).at(-1).health.body.pid, pid, 'the same proxy');
  });

  test('an instance key open to other users is refused: the launcher says why and what to do, the server offers no proof', async () => {
    dirs = makeLaunchDirs();
    const port = await freePort();
    writeSettings(dirs, port);
    assert.equal((await ccproxy(['-p', 'one'], dirs)).code, 0);
    fs.chmodSync(keyPath(dirs), 0o644);
    const r = await ccproxy(['-p', 'two'], dirs);
    clean(r);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /instance\.key is open to other users \(mode 0644\)/);
    assert.match(r.stderr, /chmod 600/);
    assert.equal(claudeRuns(dirs).length, 1);
    const st = await ccproxy(['status'], dirs);
    assert.equal(st.code, 1);
    assert.match(st.stdout, /cannot prove it is yours \(.*open to other users/);
    const stop = await ccproxy(['stop'], dirs); // the pid file, not the key, says what to stop
    assert.equal(stop.code, 0, stop.stderr);
    const srv = await serverDirect(dirs);
    assert.match(srv.log(), /instance key refused: .*open to other users/);
    const h = await request(port, { path: '/health', headers: { 'x-ccproxy-nonce': randomBytes(32).toString('hex') } });
    assert.equal(h.status, 200);
    assert.equal(h.json.proof, undefined, 'no key, no proof');
    assert.ok(!srv.log().includes(fs.readFileSync(keyPath(dirs), 'utf8').trim()), 'the key is never logged');
  });

  test('a proxy of yours running without a pid file: stop says it cannot stop it, exit 1, and it keeps running', async () => {
    dirs = makeLaunchDirs();
    const port = await freePort();
    writeSettings(dirs, port);
    const srv = await serverDirect(dirs);
    const st = await ccproxy(['status'], dirs);
    assert.equal(st.code, 0, st.stdout);
    assert.match(st.stdout, new RegExp(`running \\(yours\\)[\\s\\S]*pid\\s+${srv.proc.pid}\\b`));
    const stop = await ccproxy(['stop'], dirs);
    clean(stop);
    assert.equal(stop.code, 1, stop.stderr);
    assert.match(stop.stderr, /is yours but has no pid file/);
    assert.ok(alive(srv.proc.pid));
  });

  test('/health: status only for strangers; version, pid and load on loopback or with the key; hostile nonces refused', { skip: !lanAddress() && 'no non-loopback IPv4 address' }, async () => {
    dirs = makeLaunchDirs();
    const port = await freePort();
    writeSettings(dirs, port, { server: { host: '0.0.0.0' } });
    assert.equal((await ccproxy(['-p', 'x'], dirs)).code, 0);
    const pid = readPidFile(dirs);
    const lan = lanAddress();
    const key = readKey(dirs);
    const nonce = randomBytes(32).toString('hex');
    const local = await getHealth('127.0.0.1', port);
    assert.deepEqual(Object.keys(local.json).sort(), ['active', 'pid', 'service', 'status', 'streams', 'upstreams', 'uptime_s', 'version']);
    assert.deepEqual(local.json.upstreams, { breakers: [], keys: [] }, 'breakers and keys (docs/resilience.md)');
    assert.equal(local.json.pid, pid);
    const stranger = await getHealth(lan, port);
    assert.deepEqual(stranger.json, { status: 'ok', service: 'ccproxy' }, 'no pid, load or version');
    const withNonce = await getHealth(lan, port, { 'x-ccproxy-nonce': nonce });
    assert.deepEqual(Object.keys(withNonce.json).sort(), ['config_digest', 'proof', 'service', 'status']);
    const wrongAuth = await getHealth(lan, port, { 'x-ccproxy-nonce': nonce, 'x-ccproxy-auth': hmac(randomBytes(32), 'ccproxy-health-client-v1\n', nonce) });
    assert.equal(wrongAuth.json.pid, undefined);
    const authed = await getHealth(lan, port, { 'x-ccproxy-nonce': nonce, 'x-ccproxy-auth': hmac(key, 'ccproxy-health-client-v1\n', nonce) });
    assert.equal(authed.json.pid, pid);
    assert.deepEqual(authed.json.upstreams, { breakers: [], keys: [] });
    assert.equal(typeof authed.json.active, 'number');
    const { config_digest: digest, proof } = authed.json;
    assert.equal(proof, hmac(key, 'ccproxy-health-v1\n', nonce, '\n', String(pid), '\n', digest), 'the documented proof');
    // hostile nonces and credentials: 400, and the proxy stays healthy
    const bad = [
      { 'x-ccproxy-nonce': nonce.slice(0, 31) },
      { 'x-ccproxy-nonce': nonce + nonce + '0' },
      { 'x-ccproxy-nonce': 'a'.repeat(8000) },
      { 'x-ccproxy-nonce': 'g'.repeat(32) },
      { 'x-ccproxy-nonce': `${nonce.slice(0, 32)} ${nonce.slice(32)}` },
      { 'x-ccproxy-nonce': '' },
      { 'x-ccproxy-auth': hmac(key, 'ccproxy-health-client-v1\n', nonce) },
      ['x-ccproxy-nonce', nonce, 'x-ccproxy-nonce', nonce],
      ['x-ccproxy-nonce', nonce, 'x-ccproxy-auth', 'a', 'x-ccproxy-auth', 'b'],
    ];
    for (const headers of bad) {
      const res = await getHealth('127.0.0.1', port, headers);
      assert.equal(res.status, 400, JSON.stringify(headers).slice(0, 200));
      assert.equal(res.json.error.type, 'invalid_request_error');
      assert.match(res.json.error.message, /x-ccproxy-(nonce|auth)/);
    }
    assert.equal((await getHealth('127.0.0.1', port)).status, 200);
  });

  test('after an upgrade replaced the executable under a running proxy, stop still stops it (same path, " (deleted)")', async () => {
    dirs = makeLaunchDirs();
    const port = await freePort();
    writeSettings(dirs, port);
    const bin = path.join(dirs.root, 'bin', 'ccproxy');
    fs.copyFileSync(BIN, bin);
    fs.chmodSync(bin, 0o755);
    const r = await ccproxyAs(null, ['-p', 'x'], dirs, { bin });
    assert.equal(r.code, 0, r.stderr);
    const pid = readPidFile(dirs);
    fs.copyFileSync(BIN, `${bin}.new`); // what a package manager does: a new file renamed over the old one
    fs.chmodSync(`${bin}.new`, 0o755);
    fs.renameSync(`${bin}.new`, bin);
    assert.equal(fs.readlinkSync(`/proc/${pid}/exe`), `${bin} (deleted)`);
    const other = path.join(dirs.root, 'elsewhere-ccproxy'); // the same program at another path: not it
    fs.copyFileSync(BIN, other);
    fs.chmodSync(other, 0o755);
    const refused = await ccproxyAs(null, ['stop'], dirs, { bin: other });
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /runs .*ccproxy \(deleted\), not this ccproxy/);
    const stop = await ccproxyAs(null, ['stop'], dirs, { bin });
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(alive(pid), false);
  });

  test('as an ordinary user: the proxy hides its executable (non-dumpable), the pid file\'s lock proves it; status and stop work', { skip: !canBeNobody && 'needs root to run as nobody' }, async () => {
    dirs = makeLaunchDirs();
    const port = await freePort();
    writeSettings(dirs, port);
    assert.equal(spawnSync('chown', ['-R', `${NOBODY}:${NOBODY}`, dirs.root]).status, 0);
    const r = await ccproxyAs(NOBODY, ['-p', 'x'], dirs);
    assert.equal(r.code, 0, r.stderr);
    const pid = readPidFile(dirs);
    assert.equal(fs.statSync(`/proc/${pid}`).uid, NOBODY);
    const peek = spawnSync('readlink', [`/proc/${pid}/exe`], { uid: NOBODY, gid: NOBODY });
    assert.notEqual(peek.status, 0, 'its own user cannot see which program it runs');
    const st = await ccproxyAs(NOBODY, ['status'], dirs);
    assert.equal(st.code, 0, st.stdout + st.stderr);
    assert.match(st.stdout, /running \(yours\)/);
    const asRoot = await ccproxy(['stop'], dirs); // root, with nobody's pid file: not root's server
    assert.equal(asRoot.code, 1, asRoot.stderr);
    assert.match(asRoot.stderr, new RegExp(`pid ${pid} belongs to uid ${NOBODY}, not to you`));
    assert.ok(alive(pid));
    const stop = await ccproxyAs(NOBODY, ['stop'], dirs);
    assert.equal(stop.code, 0, stop.stderr);
    assert.match(stop.stdout, new RegExp(`stopped \\(pid ${pid}\\)`));
    assert.equal(alive(pid), false);
  });
});

describe('the real Claude Code CLI launched by ccproxy', () => {
  for (const leftover of [false, true]) {
    test(`ccproxy -p "say hi" --output-format json: the answer comes from the configured provider${leftover ? ' (despite ANTHROPIC_BASE_URL in ~/.claude/settings.json)' : ''}`, { timeout: 180000 }, async () => {
      const { checkClaude, CLAUDE_BIN, openaiResponder, MOCK_HI } = await import('./lib/claude-cli.mjs');
      checkClaude();
      dirs = makeLaunchDirs({ fakeClaude: false });
      fs.symlinkSync(CLAUDE_BIN, `${dirs.bin}/claude`);
      const port = await freePort();
      const mock = await startMock({ name: 'cc-launch' });
      closers.push(() => mock.close());
      mock.enqueue(openaiResponder());
      writeSettings(dirs, port, {
        providers: { up: { baseURL: `${mock.url}/v1`, apiKey: 'sk-up-launch' } },
        models: { bigModel: 'launch-big@up', smallModel: 'launch-small@up', preferredProvider: 'up' },
      });
      if (leftover) writeFile(`${dirs.home}/.claude/settings.json`, { env: { ANTHROPIC_BASE_URL: 'http://127.0.0.1:1' } });
      const r = await ccproxy(['-p', 'say hi', '--output-format', 'json'], dirs, {
        timeoutMs: 150000,
        env: { TERM: 'dumb', DISABLE_AUTOUPDATER: '1', DISABLE_TELEMETRY: '1', CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1' },
      });
      clean(r);
      assert.equal(r.code, 0, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
      const out = JSON.parse(r.stdout);
      assert.equal(out.is_error, false, r.stdout);
      assert.ok(out.result.includes(MOCK_HI), `result: ${out.result}`);
      const calls = mock.requests.filter((q) => /\/chat\/completions$/.test(q.path));
      assert.ok(calls.length >= 1, 'the provider was called');
      assert.ok(calls.every((q) => ['launch-big', 'launch-small'].includes(q.json.model)), calls.map((q) => q.json.model).join());
      assert.ok(calls.every((q) => q.headers.authorization === 'Bearer sk-up-launch'), 'the provider got its own key');
      assert.ok(alive(readPidFile(dirs)), 'the proxy stays up for the next launch');
    });
  }
});
