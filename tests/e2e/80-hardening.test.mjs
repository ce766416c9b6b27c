// Safe to share (the hardening issue): what a hostile client or a local neighbour must not get from the
// daemon. Each test here failed before its fix.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { startDaemon, rawConnect, sleep, validBody, request, runCli, CONFIG_EXIT } from './lib/daemon.mjs';
import { setupProxy } from './lib/proxy.mjs';

/** Sends <raw> on a fresh connection; resolves with everything the daemon sent once it closed the
 * connection, or rejects after <ms> (a connection left open after a framing error is a failure). */
function exchangeRaw(port, raw, ms = 3000) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(raw));
    let buf = '';
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`connection still open after ${ms} ms; got:\n${buf}`)); }, ms);
    s.setEncoding('latin1');
    s.on('data', (d) => { buf += d; });
    s.on('error', () => {});
    s.on('close', () => { clearTimeout(timer); resolve({ text: buf }); });
  });
}

const statusLines = (text) => (text.match(/^HTTP\/1\.[01] \d{3}/gm) || []);

describe('strict request framing (no request smuggling)', () => {
  const smuggled = 'GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
  for (const [what, cl] of [
    ['two Content-Length headers', `Content-Length: 0\r\nContent-Length: ${smuggled.length}`],
    ['Content-Length "+N"', `Content-Length: +${smuggled.length}`],
    ['Content-Length with a leading zero', `Content-Length: 0${smuggled.length}`],
  ]) {
    test(`${what} → 400 invalid_request_error, connection closed, the smuggled request never answered`, async (t) => {
      const d = await startDaemon();
      t.after(() => d.stop());
      const raw = `POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${cl}\r\n\r\n${smuggled}`;
      const { text } = await exchangeRaw(d.port, raw);
      const lines = statusLines(text);
      assert.deepEqual(lines.map((l) => l.slice(-3)), ['400'], `one answer only, a 400:\n${text}`);
      assert.match(text, /Content-Length/);
      assert.match(text, /"type":"invalid_request_error"/);
      assert.match(text, /\r\nConnection: close\r\n/i);
      assert.ok(!text.includes('"data"'), `the smuggled GET /v1/models was answered:\n${text}`);
    });
  }

  test('one plain Content-Length is still accepted (keep-alive works)', async (t) => {
    const d = await startDaemon();
    t.after(() => d.stop());
    const c = await rawConnect(d.port);
    t.after(() => c.close());
    await c.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n');
    const r = await c.readResponse(3000);
    assert.equal(r.status, 200);
  });
});

describe('logs and process', () => {
  test('text logs: a model name with a newline cannot forge a log line', async (t) => {
    const d = await startDaemon({ homeSettings: { logging: { format: 'text' } } });
    t.after(() => d.stop());
    const forged = '2026-01-01T00:00:00.000Z INFO  forged line';
    const c = await rawConnect(d.port);
    t.after(() => c.close());
    const body = JSON.stringify(validBody(`claude-x\n${forged}`));
    await c.write(`POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    await c.readResponse(3000);
    await sleep(200);
    const lines = d.stderrText().split('\n');
    assert.ok(lines.some((l) => l.includes('forged line')), `the request was logged:\n${d.stderrText()}`);
    assert.ok(!lines.some((l) => l.startsWith(forged)), `a forged line:\n${d.stderrText()}`);
  });

  test('the server keeps no core file of itself (it holds provider keys)', async (t) => {
    const d = await startDaemon();
    t.after(() => d.stop());
    const limits = readFileSync(`/proc/${d.proc.pid}/limits`, 'utf8');
    const core = limits.split('\n').find((l) => l.startsWith('Max core file size'));
    assert.match(core || '', /^Max core file size\s+0\s+0\s/, limits);
  });
});

describe('secrets an upstream echoes back never reach the client or the log', () => {
  const ANTH_KEY = 'sk-ant-test-KEY-4242-abcd';
  const HDR_TOKEN = 'tok-4242-zzzz-q';
  let env;
  test('setup', async () => {
    env = await setupProxy({
      settings: ({ main: m }) => ({
        providers: {
          anth: { baseURL: m.url, responseStyle: 'anthropic', apiKey: ANTH_KEY },
          relay: { baseURL: `${m.url}/v1`, apiKey: 'sk-relay-1234', flavor: 'generic', headers: { 'X-Org-Token': HDR_TOKEN, 'X-Title': 'e2e' } },
        },
        models: { bigModel: 'm@relay', smallModel: 'm@relay', preferredProvider: 'relay' },
      }),
    });
  });

  test('an Anthropic error envelope quoting the refused key is relayed with the key redacted', async () => {
    env.main.enqueue({ status: 401, json: { type: 'error', error: { type: 'authentication_error', message: `invalid x-api-key: ${ANTH_KEY}` } } });
    const r = await env.post('/v1/messages', validBody('claude-x@anth'));
    assert.equal(r.status, 401, r.text);
    assert.equal(r.json?.error?.type, 'authentication_error', r.text);
    assert.ok(!r.text.includes(ANTH_KEY), `the key reached the client: ${r.text}`);
    assert.match(r.json.error.message, /\[redacted\]/);
  });

  test('an upstream error quoting a secret header value: redacted for the client and in the log', async () => {
    env.main.enqueue({ status: 500, json: { error: { message: `token ${HDR_TOKEN} is not allowed here` } } });
    const r = await env.post('/v1/messages', validBody('m@relay'));
    assert.equal(r.status, 500, r.text);
    assert.ok(!r.text.includes(HDR_TOKEN), `the header value reached the client: ${r.text}`);
    await sleep(200);
    assert.ok(env.d.stderrText().includes('is not allowed here'), `the upstream error was logged:\n${env.stderrTail()}`);
    assert.ok(!env.d.stderrText().includes(HDR_TOKEN), `the header value reached the log:\n${env.stderrTail()}`);
  });

  test('teardown', async () => { await env.close(); });
});

describe('browsers cannot drive it (CSRF, DNS rebinding)', () => {
  const post = (port, headers, body = JSON.stringify(validBody('claude-x'))) => request(port, {
    method: 'POST', path: '/v1/messages', body, headers,
  });

  test('a POST that is not application/json → 415 invalid_request_error (no CORS-free text/plain)', async (t) => {
    const d = await startDaemon();
    t.after(() => d.stop());
    for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx']) {
      const r = await post(d.port, { 'content-type': ct });
      assert.equal(r.status, 415, `${ct}: ${r.text}`);
      assert.equal(r.json?.error?.type, 'invalid_request_error', r.text);
    }
    const ok = await post(d.port, { 'content-type': 'Application/JSON; charset=utf-8' });
    assert.equal(ok.status, 400, ok.text); // accepted as JSON: the usual "no API key" answer
    assert.match(ok.json.error.message, /API key/);
  });

  test('a Host that is a name other than localhost → 403 permission_error; IP literals and allowedHosts pass', async (t) => {
    const d = await startDaemon({ homeSettings: { server: { allowedHosts: ['ccproxy.corp.example', '.team.example'] } } });
    t.after(() => d.stop());
    for (const host of ['attacker.example', 'attacker.example:8082', 'localhost.attacker.example', 'corp.example']) {
      const r = await request(d.port, { path: '/health', headers: { host } });
      assert.equal(r.status, 403, `${host}: ${r.text}`);
      assert.equal(r.json?.error?.type, 'permission_error', r.text);
      assert.match(r.json.error.message, /server\.allowedHosts/);
    }
    for (const host of ['127.0.0.1:1', '10.1.2.3', '[::1]:8082', 'localhost:8082', 'api.localhost', 'ccproxy.corp.example:8082',
      'a.team.example', 'team.example']) {
      const r = await request(d.port, { path: '/health', headers: { host } });
      assert.equal(r.status, 200, `${host}: ${r.text}`);
    }
  });

  test('a request with an Origin header → 403 unless the origin is in server.allowedOrigins', async (t) => {
    const d = await startDaemon({ homeSettings: { server: { allowedOrigins: ['https://console.corp.example'] } } });
    t.after(() => d.stop());
    for (const origin of ['https://attacker.example', 'null', 'http://127.0.0.1:8082']) {
      const r = await post(d.port, { 'content-type': 'application/json', origin });
      assert.equal(r.status, 403, `${origin}: ${r.text}`);
      assert.equal(r.json?.error?.type, 'permission_error', r.text);
      assert.match(r.json.error.message, /server\.allowedOrigins/);
    }
    const ok = await post(d.port, { 'content-type': 'application/json', origin: 'https://console.corp.example' });
    assert.equal(ok.status, 400, ok.text); // through the guard: the usual "no API key" answer
  });

  test('server.allowedHosts / allowedOrigins of the wrong type are configuration errors (exit 78)', async () => {
    for (const server of [{ allowedHosts: 'x' }, { allowedHosts: [1] }, { allowedOrigins: [''] }, { allowedOrigins: {} }]) {
      const r = await runCli(['server', '--port', '1'], { homeSettings: { server } });
      assert.equal(r.code, CONFIG_EXIT, `${JSON.stringify(server)}: ${r.stderr}`);
      assert.match(r.stderr, /server\.allowed(Hosts|Origins)/);
    }
  });
});

describe('less to learn for strangers', () => {
  test('an unreachable provider: the client learns the provider and the kind of failure, not its host or port', async (t) => {
    const { freePort } = await import('./lib/daemon.mjs');
    const dead = await freePort();
    const d = await startDaemon({
      homeSettings: { providers: { down: { baseURL: `http://127.0.0.1:${dead}/v1`, apiKey: 'k', connectTimeoutMs: 2000 } } },
    });
    t.after(() => d.stop());
    const r = await request(d.port, { method: 'POST', path: '/v1/messages', body: validBody('m@down') });
    assert.equal(r.status, 502, r.text);
    assert.equal(r.json?.error?.type, 'api_error', r.text);
    assert.match(r.json.error.message, /^provider down unreachable \(connection refused\)$/, r.text);
    assert.ok(!r.text.includes(String(dead)) && !r.text.includes('127.0.0.1'), r.text);
    await sleep(100);
    assert.ok(d.stderrText().includes(`127.0.0.1:${dead}`), `the log has the details:\n${d.stderrText()}`);
  });

  test('an unknown @provider is refused without listing the configured providers', async (t) => {
    const d = await startDaemon();
    t.after(() => d.stop());
    const r = await request(d.port, { method: 'POST', path: '/v1/messages', body: validBody('m@nosuch') });
    assert.equal(r.status, 400, r.text);
    assert.match(r.json.error.message, /unknown provider "nosuch"/);
    for (const name of ['openai', 'gemini', 'openrouter', 'anthropic']) assert.ok(!r.json.error.message.includes(name), r.text);
  });
});

describe('at the open-file limit', () => {
  test('the accept loop pauses instead of spinning: little CPU, few log lines, /health answers once fds free up', async (t) => {
    const { spawn } = await import('node:child_process');
    const { BIN, freePort, makeDirs, baseEnv, removeDirs } = await import('./lib/daemon.mjs');
    const dirs = makeDirs();
    const port = await freePort();
    // a hard limit of 48 descriptors: the daemon raises its soft limit to it, and 60 clients exhaust it
    const proc = spawn('prlimit', ['--nofile=48:48', BIN, 'server', '--host', '127.0.0.1', '--port', String(port)],
      { env: baseEnv(dirs), cwd: dirs.cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    const exited = new Promise((r) => proc.on('exit', r));
    const socks = [];
    t.after(async () => {
      for (const s of socks) s.destroy();
      proc.kill('SIGKILL');
      await exited;
      removeDirs(dirs);
    });
    for (let i = 0; i < 100 && !(await request(port, { path: '/health', timeoutMs: 300 }).then(() => true, () => false)); i++) await sleep(50);
    for (let i = 0; i < 60; i++) {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => {});
      socks.push(s);
    }
    await sleep(500);
    const cpu = () => { const f = readFileSync(`/proc/${proc.pid}/stat`, 'utf8').split(') ')[1].split(' '); return Number(f[11]) + Number(f[12]); };
    const c0 = cpu();
    const l0 = stderr.split('\n').length;
    await sleep(2000);
    const ticks = cpu() - c0; // clock ticks, 100 a second
    const lines = stderr.split('\n').length - l0;
    assert.ok(ticks < 60, `the daemon used ${ticks} ticks of CPU in 2 s at the fd limit (a spinning accept loop uses ~200)`);
    assert.ok(lines < 20, `${lines} log lines in 2 s at the fd limit:\n${stderr.slice(-2000)}`);
    assert.match(stderr, /open-file limit reached: accepting paused/);
    for (const s of socks) s.destroy();
    socks.length = 0;
    let ok = false;
    for (let i = 0; i < 40 && !ok; i++) {
      ok = await request(port, { path: '/health', timeoutMs: 500 }).then((r) => r.status === 200, () => false);
      if (!ok) await sleep(100);
    }
    assert.ok(ok, `/health answered after the clients left:\n${stderr.slice(-2000)}`);
  });
});

describe('bounded memory', () => {
  test('a whole upstream answer above server.maxAnswerBytes → 502 api_error naming the limit; the daemon stays up', async () => {
    const env = await setupProxy({
      settings: ({ main: m }) => ({
        server: { maxAnswerBytes: 100000 },
        providers: { relay: { baseURL: `${m.url}/v1`, apiKey: 'sk-relay-1234', flavor: 'generic' } },
        models: { bigModel: 'm@relay', smallModel: 'm@relay', preferredProvider: 'relay' },
      }),
    });
    try {
      const big = 'x'.repeat(200000);
      env.main.enqueue({ json: { id: 'c', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: big }, finish_reason: 'stop' }] } });
      const r = await env.post('/v1/messages', validBody('m@relay'));
      assert.equal(r.status, 502, r.text.slice(0, 300));
      assert.equal(r.json?.error?.type, 'api_error', r.text.slice(0, 300));
      assert.match(r.json.error.message, /larger than 100000 bytes/);
      env.main.enqueue({ json: { id: 'c', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'small' }, finish_reason: 'stop' }] } });
      const ok = await env.post('/v1/messages', validBody('m@relay'));
      assert.equal(ok.status, 200, ok.text);
    } finally {
      await env.close();
    }
  });
});
