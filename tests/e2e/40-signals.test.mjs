// Signals: SIGTERM/SIGINT graceful drain, drain timeout, double signal, SIGHUP reload.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  startDaemon, request, rawConnect, connectRefused, waitFor, sleep, validBody, writeFile, REQUEST_ID_RE,
} from './lib/daemon.mjs';

/** Open a raw connection and send a POST with only part of its body. */
async function partialPost(port, body) {
  const c = await rawConnect(port);
  const buf = Buffer.from(body);
  const cut = Math.floor(buf.length / 2);
  await c.write(`POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${buf.length}\r\n\r\n`);
  await c.write(buf.subarray(0, cut));
  return { c, rest: buf.subarray(cut) };
}

async function waitRefused(port, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await connectRefused(port, 300)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
}

describe('graceful shutdown', () => {
  for (const sig of ['SIGTERM', 'SIGINT']) {
    test(`${sig}: refuses new connections, finishes the in-flight request, exits 0`, async (t) => {
      const d = await startDaemon();
      t.after(() => d.stop());
      const { c, rest } = await partialPost(d.port, JSON.stringify(validBody('claude-3-haiku')));
      t.after(() => c.close());
      await sleep(300); // let the daemon accept and start reading the request
      d.signal(sig);
      const refused = await waitRefused(d.port, 1200);
      assert.ok(refused, `new connections refused within ~1 s after ${sig}\nstderr:\n${d.stderrText()}`);
      assert.ok(d.alive(), `daemon still running while a request is in flight\nstderr:\n${d.stderrText()}`);
      await c.write(rest);
      const r = await c.readResponse(3000);
      assert.equal(r.status, 400, `in-flight request answered: ${r.text}`);
      assert.equal(r.json?.error?.type, 'invalid_request_error', r.text);
      assert.ok(r.json.error.message.includes('ccproxy init'), r.text);
      assert.match(r.headers['request-id'] || '', REQUEST_ID_RE);
      const ex = await d.waitExit(5000);
      assert.deepEqual(ex, { code: 0, signal: null }, `exit status\nstderr:\n${d.stderrText()}`);
    });
  }

  test('idle daemon exits 0 promptly on SIGTERM', async (t) => {
    const d = await startDaemon();
    t.after(() => d.stop());
    const t0 = Date.now();
    d.signal('SIGTERM');
    const ex = await d.waitExit(3000);
    assert.deepEqual(ex, { code: 0, signal: null }, d.stderrText());
    assert.ok(Date.now() - t0 < 2000, `idle shutdown took ${Date.now() - t0} ms`);
  });

  test('drainTimeoutSeconds=1: stuck in-flight request → exit 0 after ~1 s (within 3 s)', async (t) => {
    const d = await startDaemon({ homeSettings: { server: { drainTimeoutSeconds: 1 } } });
    t.after(() => d.stop());
    const { c } = await partialPost(d.port, JSON.stringify(validBody('claude-3-haiku')));
    t.after(() => c.close());
    await sleep(300);
    const t0 = Date.now();
    d.signal('SIGTERM');
    const ex = await d.waitExit(3000);
    const took = Date.now() - t0;
    assert.deepEqual(ex, { code: 0, signal: null }, `exit status\nstderr:\n${d.stderrText()}`);
    assert.ok(took >= 700, `daemon waited for the in-flight request before exiting (took ${took} ms)`);
  });

  test('second signal during drain → exits at once with a nonzero status', async (t) => {
    const d = await startDaemon({ homeSettings: { server: { drainTimeoutSeconds: 20 } } });
    t.after(() => d.stop());
    const { c } = await partialPost(d.port, JSON.stringify(validBody('claude-3-haiku')));
    t.after(() => c.close());
    await sleep(300);
    d.signal('SIGTERM');
    await sleep(500);
    assert.ok(d.alive(), `still draining after first SIGTERM\nstderr:\n${d.stderrText()}`);
    const t0 = Date.now();
    d.signal('SIGTERM');
    const ex = await d.waitExit(1500);
    assert.ok(Date.now() - t0 <= 1000, `exited within 1 s of the second signal (${Date.now() - t0} ms)`);
    assert.ok(ex.code !== 0 || ex.signal !== null, `nonzero exit: ${JSON.stringify(ex)}`);
  });

  test('SIGINT as second signal after SIGTERM also exits at once, nonzero', async (t) => {
    const d = await startDaemon();
    t.after(() => d.stop());
    const { c } = await partialPost(d.port, JSON.stringify(validBody('claude-3-haiku')));
    t.after(() => c.close());
    await sleep(300);
    d.signal('SIGTERM');
    await sleep(300);
    assert.ok(d.alive(), 'still draining');
    const t0 = Date.now();
    d.signal('SIGINT');
    const ex = await d.waitExit(1500);
    assert.ok(Date.now() - t0 <= 1000);
    assert.ok(!(ex.code === 0 && ex.signal === null), `nonzero exit: ${JSON.stringify(ex)}`);
  });
});

describe('SIGHUP reload', () => {
  test('good config is applied; invalid JSON is logged and the old config kept', async (t) => {
    const d = await startDaemon({ homeSettings: { models: { smallModel: 'small-a@openai' } } });
    t.after(() => d.stop());
    const ids = async () => (await request(d.port, { path: '/v1/models' })).json.data.map((m) => m.id);
    assert.ok((await ids()).includes('small-a@openai'), 'initial config');

    writeFile(d.dirs.homeSettingsPath, { models: { smallModel: 'small-b@gemini' } });
    d.signal('SIGHUP');
    await waitFor(async () => (await ids()).includes('small-b@gemini'),
      { timeoutMs: 3000, what: 'new smallModel in /v1/models after SIGHUP' })
      .catch((e) => { throw new Error(`${e.message}\nstderr:\n${d.stderrText()}`); });
    assert.ok(!(await ids()).includes('small-a@openai'), 'old smallModel gone');
    // the reloaded routing is live too: haiku now routes to gemini
    const r = await request(d.port, { method: 'POST', path: '/v1/messages', body: validBody('claude-3-haiku') });
    assert.equal(r.status, 400);
    assert.ok(r.json.error.message.includes('GEMINI_API_KEY'), r.text);

    const before = d.stderrText().length;
    writeFile(d.dirs.homeSettingsPath, '{ "models": { "smallModel": "small-c@openai", }\n');
    d.signal('SIGHUP');
    const line = await waitFor(() => d.stderrText().slice(before).split('\n')
      .find((l) => l.includes(d.dirs.homeSettingsPath)),
    { timeoutMs: 3000, what: 'error line naming the settings file' })
      .catch((e) => { throw new Error(`${e.message}\nstderr:\n${d.stderrText()}`); });
    let parsed = null;
    try { parsed = JSON.parse(line); } catch { /* not json */ }
    assert.ok(parsed, `log line is JSON (default format): ${line}`);
    assert.equal(parsed.level, 'error', `error-level line: ${line}`);
    await sleep(200);
    assert.ok(d.alive(), `process stays up\nstderr:\n${d.stderrText()}`);
    const after = await ids();
    assert.ok(after.includes('small-b@gemini'), `previous config kept: ${after}`);
    assert.ok(!after.includes('small-c@openai'), `broken config not applied: ${after}`);
    const h = await request(d.port, { path: '/health' });
    assert.equal(h.status, 200);

    // and a later valid file is picked up again
    writeFile(d.dirs.homeSettingsPath, { models: { smallModel: 'small-d@openai' } });
    d.signal('SIGHUP');
    await waitFor(async () => (await ids()).includes('small-d@openai'),
      { timeoutMs: 3000, what: 'recovery after a bad reload' });
  });

  test('SIGHUP with a semantically invalid config (bad responseStyle) keeps running on the old config', async (t) => {
    const d = await startDaemon({ homeSettings: { models: { bigModel: 'big-a@openai' } } });
    t.after(() => d.stop());
    writeFile(d.dirs.homeSettingsPath, {
      providers: { openai: { responseStyle: 'bogus' } }, models: { bigModel: 'big-b@openai' },
    });
    const before = d.stderrText().length;
    d.signal('SIGHUP');
    await waitFor(() => d.stderrText().slice(before).includes('providers.openai.responseStyle'),
      { timeoutMs: 3000, what: 'error naming providers.openai.responseStyle' })
      .catch((e) => { throw new Error(`${e.message}\nstderr:\n${d.stderrText()}`); });
    await sleep(200);
    assert.ok(d.alive(), 'still running');
    const ids = (await request(d.port, { path: '/v1/models' })).json.data.map((m) => m.id);
    assert.ok(ids.includes('big-a@openai') && !ids.includes('big-b@openai'), `old config kept: ${ids}`);
  });
});

describe('drain and reload details', () => {
  test('SIGTERM closes idle keep-alive connections at once and exits 0 promptly', async (t) => {
    const d = await startDaemon({ homeSettings: { server: { drainTimeoutSeconds: 20 } } });
    t.after(() => d.stop());
    const c = await rawConnect(d.port);
    t.after(() => c.close());
    await c.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const r = await c.readResponse(2000);
    assert.equal(r.status, 200);
    const t0 = Date.now();
    d.signal('SIGTERM');
    const ex = await d.waitExit(3000);
    assert.deepEqual(ex, { code: 0, signal: null }, d.stderrText());
    assert.ok(Date.now() - t0 < 2000, `an idle keep-alive connection must not hold the drain (${Date.now() - t0} ms)`);
  });

  test('SIGHUP with a new port binds it and closes the old listener', async (t) => {
    const d = await startDaemon({ portInHomeSettings: true });
    t.after(() => d.stop());
    const oldPort = d.port;
    const { freePort } = await import('./lib/daemon.mjs');
    const newPort = await freePort();
    writeFile(d.dirs.homeSettingsPath, { server: { port: newPort } });
    d.signal('SIGHUP');
    await waitFor(async () => {
      try { return (await request(newPort, { path: '/health', timeoutMs: 500 })).status === 200; } catch { return false; }
    }, { timeoutMs: 3000, what: 'health on the new port' })
      .catch((e) => { throw new Error(`${e.message}\nstderr:\n${d.stderrText()}`); });
    assert.ok(await waitRefused(oldPort, 1000), 'old port no longer accepts');
    d.port = newPort;
  });

  test('SIGHUP to a port that is taken keeps the old listener and config', async (t) => {
    const d = await startDaemon({ portInHomeSettings: true, homeSettings: { models: { smallModel: 'a@openai' } } });
    t.after(() => d.stop());
    const net = await import('node:net');
    const blocker = net.createServer();
    await new Promise((res) => blocker.listen(0, '127.0.0.1', res));
    t.after(() => blocker.close());
    const taken = blocker.address().port;
    writeFile(d.dirs.homeSettingsPath, { server: { port: taken }, models: { smallModel: 'b@openai' } });
    const before = d.stderrText().length;
    d.signal('SIGHUP');
    await waitFor(() => d.stderrText().slice(before).includes('config reload failed'),
      { timeoutMs: 3000, what: 'reload failure logged' })
      .catch((e) => { throw new Error(`${e.message}\nstderr:\n${d.stderrText()}`); });
    const r = await request(d.port, { path: '/v1/models' });
    assert.equal(r.status, 200);
    assert.ok(r.json.data.some((m) => m.id === 'a@openai'), `old config kept: ${r.text}`);
  });
});

describe('reload with requests in flight', () => {
  test('a request in flight across SIGHUP finishes on the config it started with; new ones use the new one', async (t) => {
    const { startMock, oaiCompletion } = await import('./lib/mock-upstream.mjs');
    const a = await startMock({ name: 'a' });
    const b = await startMock({ name: 'b' });
    t.after(() => a.close());
    t.after(() => b.close());
    const settings = (m) => ({
      providers: { up: { baseURL: `${m.url}/v1`, apiKey: 'k' } },
      models: { bigModel: 'big@up', smallModel: 'small@up', preferredProvider: 'up' },
    });
    const d = await startDaemon({ homeSettings: settings(a) });
    t.after(() => d.stop());
    a.enqueue({ delayMs: 800, json: oaiCompletion({ model: 'big' }) });
    const inflight = request(d.port, { method: 'POST', path: '/v1/messages', body: validBody('claude-sonnet-4'), timeoutMs: 5000 });
    await a.waitForRequests(1, 3000);
    writeFile(d.dirs.homeSettingsPath, settings(b));
    d.signal('SIGHUP');
    await waitFor(() => d.stderrText().includes('config reloaded'), { timeoutMs: 3000, what: 'reload logged' });
    const r1 = await inflight;
    assert.equal(r1.status, 200, r1.text);
    assert.equal(r1.json.model, 'claude-sonnet-4');
    const r2 = await request(d.port, { method: 'POST', path: '/v1/messages', body: validBody('claude-sonnet-4') });
    assert.equal(r2.status, 200, r2.text);
    assert.equal(a.requests.length, 1, 'only the first request went to the old upstream');
    assert.equal(b.requests.length, 1, 'the new request went to the new upstream');
  });
});
