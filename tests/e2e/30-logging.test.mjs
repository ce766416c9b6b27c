// Logging: JSON lines on stderr, one access line per request, text format, debug level, no secrets.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  startDaemon, request, rawConnect, parseJsonLines, waitFor, validBody, writeFile,
} from './lib/daemon.mjs';
import { startMock } from './lib/mock-upstream.mjs';

/** Wait for the access line with the given request id; returns all access lines for it. */
async function accessLines(d, rid) {
  await waitFor(() => d.jsonLines().some((l) => l.msg === 'request' && l.rid === rid),
    { timeoutMs: 3000, what: `access log line for ${rid}` }).catch((e) => {
    throw new Error(`${e.message}\nstderr:\n${d.stderrText()}`);
  });
  return d.jsonLines().filter((l) => l.msg === 'request' && l.rid === rid);
}

describe('JSON log format (default)', () => {
  test('every stderr line is a JSON object with level+msg; one access line per request', async (t) => {
    const d = await startDaemon();
    t.after(() => d.stop());

    const body = JSON.stringify(validBody('claude-3-haiku-20240307'));
    const r = await request(d.port, {
      method: 'POST', path: '/v1/messages', body, headers: { 'content-type': 'application/json' },
    });
    assert.equal(r.status, 400, r.text);
    const rid = r.headers['request-id'];

    const lines = await accessLines(d, rid);
    assert.equal(lines.length, 1, `exactly one access line for ${rid}:\n${d.stderrText()}`);
    const a = lines[0];
    assert.equal(a.method, 'POST');
    assert.equal(a.path, '/v1/messages');
    assert.equal(a.status, 400);
    assert.equal(typeof a.dur_ms, 'number');
    assert.ok(a.dur_ms >= 0);
    assert.equal(a.bytes_in, Buffer.byteLength(body), `bytes_in: ${JSON.stringify(a)}`);
    assert.equal(typeof a.bytes_out, 'number');
    assert.ok(a.bytes_out > 0, `bytes_out: ${JSON.stringify(a)}`);
    assert.ok('model' in a, `model field present: ${JSON.stringify(a)}`);
    assert.ok('provider' in a, `provider field present: ${JSON.stringify(a)}`);
    assert.equal(a.provider, 'openai', `haiku routes to smallModel gpt-4-mini@openai: ${JSON.stringify(a)}`);
    assert.ok(['claude-3-haiku-20240307', 'gpt-4-mini', 'gpt-4-mini@openai'].includes(a.model),
      `model is the requested or resolved model: ${JSON.stringify(a)}`);

    const h = await request(d.port, { path: '/health' });
    const hl = await accessLines(d, h.headers['request-id']);
    assert.equal(hl.length, 1);
    assert.equal(hl[0].method, 'GET');
    assert.equal(hl[0].path, '/health');
    assert.equal(hl[0].status, 200);
    for (const f of ['dur_ms', 'bytes_in', 'bytes_out']) assert.equal(typeof hl[0][f], 'number', `${f} on /health line`);

    const nf = await request(d.port, { path: '/definitely-not-here' });
    const nl = await accessLines(d, nf.headers['request-id']);
    assert.equal(nl[0].status, 404);

    for (const { line, json } of parseJsonLines(d.stderrText())) {
      assert.ok(json, `stderr line is a JSON object: ${line}`);
      assert.equal(typeof json.level, 'string', `level in ${line}`);
      assert.equal(typeof json.msg, 'string', `msg in ${line}`);
    }
    assert.ok(!d.jsonLines().some((l) => l.level === 'debug'), 'no debug lines at default level info');
  });

  test('logging.level "error" suppresses info access lines', async (t) => {
    const d = await startDaemon({ homeSettings: { logging: { level: 'error' } } });
    t.after(() => d.stop());
    const r = await request(d.port, { path: '/nope' });
    assert.equal(r.status, 404);
    // A barrier instead of a delay: an error-level line the daemon writes after the request (a failed
    // reload). Its one loop writes lines in order, so an access line would be in stderr before it.
    writeFile(d.dirs.homeSettingsPath, '{ "logging": { "level": "error" }, }');
    d.signal('SIGHUP');
    await d.waitLog('config reload failed');
    const bad = d.jsonLines().filter((l) => ['info', 'debug'].includes(l.level));
    assert.deepEqual(bad, [], `no info/debug lines at level error:\n${d.stderrText()}`);
  });
});

describe('access line for an early 413', () => {
  test('413 (body too large) is logged once with its rid, method and path', async (t) => {
    const d = await startDaemon({ homeSettings: { server: { maxBodyBytes: 1000 } } });
    t.after(() => d.stop());
    const c = await rawConnect(d.port);
    let r;
    try {
      await c.write('POST /v1/messages?beta=true HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
        'Content-Length: 100000000\r\n\r\n{"model":');
      r = await c.readResponse(2000);
    } finally {
      c.close();
    }
    assert.equal(r.status, 413);
    const lines = await accessLines(d, r.headers['request-id']);
    assert.equal(lines.length, 1, d.stderrText());
    assert.equal(lines[0].status, 413);
    assert.equal(lines[0].method, 'POST', `method on the 413 access line: ${JSON.stringify(lines[0])}`);
    assert.match(String(lines[0].path), /^\/v1\/messages(\?|$)/, `path on the 413 access line: ${JSON.stringify(lines[0])}`);
  });
});

describe('text log format', () => {
  for (const [name, opts] of [
    ['logging.format "text" in settings', { homeSettings: { logging: { format: 'text' } } }],
    ['CCPROXY_LOG_FORMAT=text', { env: { CCPROXY_LOG_FORMAT: 'text' } }],
  ]) {
    test(`${name}: lines are not JSON and the access line carries the request id`, async (t) => {
      const d = await startDaemon(opts);
      t.after(() => d.stop());
      const r = await request(d.port, { path: '/v1/models' });
      assert.equal(r.status, 200);
      const rid = r.headers['request-id'];
      await waitFor(() => d.stderrText().includes(rid), { timeoutMs: 3000, what: 'text access line' })
        .catch((e) => { throw new Error(`${e.message}\nstderr:\n${d.stderrText()}`); });
      const lines = parseJsonLines(d.stderrText());
      assert.ok(lines.length > 0);
      for (const { line, json } of lines) {
        assert.equal(json, null, `text-format line parsed as JSON: ${line}`);
        // docs/configuration.md: `timestamp LEVEL message key=value ...`
        assert.match(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (ERROR|WARN |INFO |DEBUG) \S/, `text line shape: ${line}`);
      }
      const access = lines.find((l) => l.line.includes(rid)).line;
      assert.match(access, new RegExp(`^\\S+ INFO  request rid=${rid} method=GET path=/v1/models status=200 dur_ms=[0-9.]+ ` +
        'key=null model=null provider=null upstream_model=null bytes_in=0 bytes_out=[1-9][0-9]*$'), `the access line: ${access}`);
      const listening = lines.find((l) => / INFO  listening /.test(l.line));
      assert.ok(listening, 'the listening line');
      assert.match(listening.line, new RegExp(` host=127\\.0\\.0\\.1 port=${d.port} version=\\S+ pid=${d.proc.pid} `), listening.line);
    });
  }
});

describe('debug level', () => {
  for (const [name, opts] of [
    ['--debug after server', { args: ['--debug'] }],
    ['--debug before server', { globalArgs: ['--debug'] }],
    ['CCPROXY_LOG_LEVEL=debug', { env: { CCPROXY_LOG_LEVEL: 'debug' } }],
  ]) {
    test(`${name} → "level":"debug" lines appear`, async (t) => {
      const d = await startDaemon(opts);
      t.after(() => d.stop());
      await request(d.port, { method: 'POST', path: '/v1/messages', body: validBody('claude-3-haiku') });
      await waitFor(() => d.jsonLines().some((l) => l.level === 'debug'), { timeoutMs: 3000, what: 'a debug line' })
        .catch((e) => { throw new Error(`${e.message}\nstderr:\n${d.stderrText()}`); });
    });
  }
});

describe('secrets never logged', () => {
  test('client x-api-key / authorization and provider keys are not in stderr (--debug)', async (t) => {
    const secrets = ['sk-client-SECRET1', 'sk-client-SECRET2', 'sk-prov-SECRET3', 'sk-file-SECRET4'];
    const mock = await startMock({ name: 'secrets' });
    t.after(() => mock.close());
    // the first upstream answer echoes the provider key in its error message, as some servers do
    mock.enqueue({ status: 401, json: { error: { message: 'Incorrect API key provided: sk-prov-SECRET3.', type: 'invalid_request_error' } } });
    const d = await startDaemon({
      args: ['--debug'],
      env: { OPENAI_API_KEY: 'sk-prov-SECRET3' },
      homeSettings: {
        providers: {
          openai: { baseURL: `http://127.0.0.1:${mock.port}/v1` },
          gemini: { baseURL: `http://127.0.0.1:${mock.port}`, apiKey: 'sk-file-SECRET4' },
        },
      },
    });
    t.after(() => d.stop());
    const headers = {
      'x-api-key': 'sk-client-SECRET1',
      authorization: 'Bearer sk-client-SECRET2',
      'anthropic-version': '2023-06-01',
    };
    const r1 = await request(d.port, { method: 'POST', path: '/v1/messages?beta=true', body: validBody('claude-3-haiku'), headers });
    assert.equal(r1.status, 401, r1.text);
    assert.equal(mock.requests[0].headers.authorization, 'Bearer sk-prov-SECRET3', 'the provider key went upstream');
    assert.equal(mock.requests[0].headers['x-api-key'], undefined, 'the client key did not');
    const r2 = await request(d.port, { method: 'POST', path: '/v1/messages', body: validBody('m@gemini'), headers });
    const r3 = await request(d.port, { method: 'POST', path: '/v1/messages', body: '{"bad json', headers });
    assert.equal(r3.status, 400);
    for (const r of [r1, r2, r3]) await accessLines(d, r.headers['request-id']);
    assert.ok(d.jsonLines().some((l) => l.level === 'debug'), 'debug logging was actually on');
    const err = d.stderrText();
    for (const s of secrets) {
      assert.ok(!err.includes(s), `${s} appears in stderr:\n${err}`);
    }
    for (const s of ['SECRET1', 'SECRET2', 'SECRET3', 'SECRET4']) {
      assert.ok(!err.includes(s), `part of a secret (${s}) appears in stderr`);
    }
    for (const r of [r1, r2, r3]) {
      for (const s of secrets) assert.ok(!r.text.includes(s), `${s} echoed in a response body`);
    }
  });
});
