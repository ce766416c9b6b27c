// Signals: SIGTERM/SIGINT graceful drain, drain timeout, double signal, SIGHUP reload (config, listener,
// the client-side limits, requests in flight). What the daemon tells systemd: tests/e2e/96-systemd.test.mjs.
// No sleeps as synchronisation: each step waits for a log line, a state or an answer.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  startDaemon, request, rawConnect, connectRefused, waitFor, sleep, validBody, writeFile, makeDirs, removeDirs,
  freePort, REQUEST_ID_RE,
} from './lib/daemon.mjs';
import { startMock, oaiCompletion } from './lib/mock-upstream.mjs';

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

/**
 * A barrier instead of a delay: two GET /health round trips on fresh connections. The daemon runs one loop
 * and accepts in order, so by the time their answers come back it has accepted every connection opened
 * before them and read what those had already sent (a read is handled in the loop pass after the accept,
 * an answer written at the earliest in the pass after its request was read).
 */
async function loopBarrier(port) {
  for (let i = 0; i < 2; i++) assert.equal((await request(port, { path: '/health' })).status, 200);
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
      await loopBarrier(d.port); // the daemon has accepted the connection and read the first half
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
    await loopBarrier(d.port);
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
    await loopBarrier(d.port);
    d.signal('SIGTERM');
    const draining = await d.waitLog((j) => j && j.msg === 'draining');
    assert.equal(draining.active + draining.connections > 0, true, `the drain waits for the half-sent request: ${JSON.stringify(draining)}`);
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
    await loopBarrier(d.port);
    d.signal('SIGTERM');
    await d.waitLog((j) => j && j.msg === 'draining');
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
    assert.equal((await request(d.port, { path: '/health' })).status, 200, 'the loop goes on after the failed reload');
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
    assert.equal((await request(d.port, { path: '/health' })).status, 200, 'the loop goes on after the failed reload');
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
  test('a request in flight across SIGHUP finishes on the config it started with (provider, key, limits); new ones use the new one', async (t) => {
    const a = await startMock({ name: 'a' });
    const b = await startMock({ name: 'b' });
    t.after(() => a.close());
    t.after(() => b.close());
    const settings = (m, key, server = {}) => ({
      server,
      providers: { up: { baseURL: `${m.url}/v1`, apiKey: key } },
      models: { bigModel: 'big@up', smallModel: 'small@up', preferredProvider: 'up' },
    });
    const d = await startDaemon({ homeSettings: settings(a, 'sk-key-A-old-config') });
    t.after(() => d.stop());
    const big = 'x'.repeat(100000); // over the new config's maxAnswerBytes (64 KiB), far under the old one's (32 MiB)
    let release;
    const gate = new Promise((r) => { release = r; });
    // The first answer waits until the reload is done. It names an output-token cap, so ccproxy sends the
    // request again at once, capped: that second upstream request and the answer's size limit are decided
    // after the reload, from the in-flight request's own config snapshot.
    a.enqueue({
      gate,
      status: 400,
      json: { error: { message: 'max_tokens is too large: 32000. This model supports at most 4096 completion tokens, whereas you provided 32000.', type: 'invalid_request_error', param: 'max_tokens', code: 'invalid_value' } },
    });
    a.enqueue({ json: oaiCompletion({ model: 'big', content: big }) });
    const inflight = request(d.port, { method: 'POST', path: '/v1/messages', body: validBody('claude-sonnet-4', { max_tokens: 32000 }), timeoutMs: 10000 });
    await a.waitForRequests(1, 3000);
    writeFile(d.dirs.homeSettingsPath, settings(b, 'sk-key-B-new-config', { maxAnswerBytes: 65536 }));
    const from = d.mark();
    d.signal('SIGHUP');
    await d.waitLog('config reloaded', { from });
    release();
    const r1 = await inflight;
    assert.equal(r1.status, 200, `${r1.text.slice(0, 300)}\n${d.stderrText().slice(-1500)}`);
    assert.equal(r1.json.model, 'claude-sonnet-4');
    assert.equal(r1.json.content[0].text.length, big.length, 'the whole answer: the old maxAnswerBytes applied');
    assert.equal(a.requests.length, 2, 'the capped retry went to the provider of the old config');
    assert.deepEqual(a.requests.map((x) => x.headers.authorization), ['Bearer sk-key-A-old-config', 'Bearer sk-key-A-old-config']);
    assert.equal(a.requests[1].json.max_tokens, 4096, 'the retry carries the cap');
    assert.equal(b.requests.length, 0, 'nothing of the in-flight request went to the new provider');

    b.enqueue({ json: oaiCompletion({ model: 'big', content: big }) });
    const r2 = await request(d.port, { method: 'POST', path: '/v1/messages', body: validBody('claude-sonnet-4') });
    assert.equal(r2.status, 502, r2.text.slice(0, 300));
    assert.equal(r2.json.error.type, 'api_error');
    assert.match(r2.json.error.message, /larger than 65536 bytes/, 'the new maxAnswerBytes applies to a new request');
    const r3 = await request(d.port, { method: 'POST', path: '/v1/messages', body: validBody('claude-sonnet-4') });
    assert.equal(r3.status, 200, r3.text);
    assert.equal(a.requests.length, 2, 'nothing new went to the old upstream');
    assert.deepEqual(b.requests.map((x) => x.headers.authorization), ['Bearer sk-key-B-new-config', 'Bearer sk-key-B-new-config']);
  });
});

describe('reload re-applies the client-side limits', () => {
  /** A body of exactly <n> bytes that is valid JSON but not a valid request (400 once past the size check). */
  const sized = (n) => {
    const base = { messages: [{ role: 'user', content: 'x' }], max_tokens: 5, pad: '' };
    return JSON.stringify({ ...base, pad: 'a'.repeat(n - JSON.stringify(base).length) });
  };
  const post = (d, b) => request(d.port, { method: 'POST', path: '/v1/messages', body: b });
  const headOf = (d, n) => request(d.port, { path: '/health', headers: { 'x-pad': 'a'.repeat(n) } });

  test('SIGHUP: maxBodyBytes, maxHeaderBytes and clientTimeoutSeconds of the new file apply to new connections, both ways', async (t) => {
    const tight = { server: { maxBodyBytes: 1000, maxHeaderBytes: 2048, clientTimeoutSeconds: 600 } };
    const loose = { server: { maxBodyBytes: 4000, maxHeaderBytes: 8192, clientTimeoutSeconds: 1 } };
    const d = await startDaemon({ homeSettings: tight });
    t.after(() => d.stop());
    const reload = async (settings) => {
      writeFile(d.dirs.homeSettingsPath, settings);
      const from = d.mark();
      d.signal('SIGHUP');
      await d.waitLog('config reloaded', { from });
    };
    assert.equal((await post(d, sized(2000))).status, 413, 'before: maxBodyBytes 1000');
    assert.equal((await headOf(d, 4000)).status, 400, 'before: maxHeaderBytes 2048');

    await reload(loose);
    const r = await post(d, sized(2000));
    assert.equal(r.status, 400, `after: a 2000-byte body passes maxBodyBytes 4000 (then fails validation): ${r.text}`);
    assert.equal(r.json.error.type, 'invalid_request_error');
    assert.equal((await post(d, sized(5000))).status, 413, 'after: maxBodyBytes 4000');
    assert.equal((await headOf(d, 4000)).status, 200, 'after: a 4000-byte header passes maxHeaderBytes 8192');
    const c = await rawConnect(d.port);
    try {
      const t0 = Date.now();
      await waitFor(() => c.state.closed || c.state.error, { timeoutMs: 4000, intervalMs: 20, what: 'an idle connection closed by clientTimeoutSeconds 1' });
      const dt = Date.now() - t0;
      assert.ok(dt >= 700 && dt < 3000, `closed after ${dt} ms`);
    } finally {
      c.close();
    }

    await reload(tight);
    assert.equal((await post(d, sized(2000))).status, 413, 'tight again: maxBodyBytes 1000');
    assert.equal((await headOf(d, 4000)).status, 400, 'tight again: maxHeaderBytes 2048');
  });
});

// What the daemon tells systemd (READY, RELOADING + MONOTONIC_USEC, STATUS, WATCHDOG, STOPPING) is tested in
// tests/e2e/96-systemd.test.mjs, for a socket file and the abstract namespace.
