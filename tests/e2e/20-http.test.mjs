// HTTP surface: health, probes, models, 404/405, request validation, 413, routing, 501, keep-alive, and the
// client-side limits of docs/configuration.md: maxBodyBytes, maxHeaderBytes, clientTimeoutSeconds.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import {
  startDaemon, closedPort, request, assertError, rawConnect, validBody, waitFor, REQUEST_ID_RE,
} from './lib/daemon.mjs';

const ENDPOINTS = ['/v1/messages', '/v1/messages/count_tokens'];

describe('default config, no API keys', () => {
  let d;
  before(async () => { d = await startDaemon(); });
  after(async () => { if (d) await d.stop(); });

  const post = (p, body, headers = {}) => request(d.port, { method: 'POST', path: p, body, headers });

  test('GET /health → 200 with status/service/version/uptime_s/active', async () => {
    const r = await request(d.port, { path: '/health' });
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^application\/json/);
    assert.match(String(r.headers['request-id']), REQUEST_ID_RE);
    assert.ok(r.json, `JSON body: ${r.text}`);
    assert.equal(r.json.status, 'ok');
    assert.equal(r.json.service, 'ccproxy');
    assert.equal(typeof r.json.version, 'string');
    assert.ok(r.json.version.length > 0);
    assert.ok(Number.isInteger(r.json.uptime_s) && r.json.uptime_s >= 0, `uptime_s: ${r.json.uptime_s}`);
    assert.ok(Number.isInteger(r.json.active) && r.json.active >= 0, `active: ${r.json.active}`);
  });

  test('GET / → 200', async () => {
    const g = await request(d.port, { path: '/' });
    assert.equal(g.status, 200);
    assert.match(String(g.headers['request-id']), REQUEST_ID_RE);
  });

  test('HEAD / → 200 with headers only (no body bytes on the wire)', async () => {
    const c = await rawConnect(d.port);
    try {
      await c.write('HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
      await waitFor(() => c.state.closed, { timeoutMs: 3000, what: 'server to close after HEAD' });
      const raw = c.received();
      const end = raw.indexOf('\r\n\r\n');
      assert.ok(end > 0, `complete header block: ${JSON.stringify(raw)}`);
      assert.match(raw, /^HTTP\/1\.[01] 200 /, `status line: ${JSON.stringify(raw)}`);
      assert.match(raw.slice(0, end), /\r\nrequest-id: req_[0-9a-f]{24}\r?$/im, 'request-id header');
      assert.equal(raw.slice(end + 4), '', `HEAD response must not carry a body; got: ${JSON.stringify(raw)}`);
    } finally {
      c.close();
    }
    // and node's client (strict parser) accepts it
    const h = await request(d.port, { method: 'HEAD', path: '/' });
    assert.equal(h.status, 200);
    assert.equal(h.text, '');
  });

  for (const p of ['/v1/models', '/v1/models?beta=true']) {
    test(`GET ${p} → model list containing big/small models`, async () => {
      const r = await request(d.port, { path: p });
      assert.equal(r.status, 200, r.text);
      assert.match(String(r.headers['content-type']), /^application\/json/);
      assert.match(String(r.headers['request-id']), REQUEST_ID_RE);
      const j = r.json;
      assert.ok(j && Array.isArray(j.data) && j.data.length > 0, r.text);
      for (const m of j.data) {
        assert.equal(m.type, 'model', JSON.stringify(m));
        assert.equal(typeof m.id, 'string');
        assert.equal(typeof m.display_name, 'string');
        assert.equal(typeof m.created_at, 'string');
      }
      const ids = j.data.map((m) => m.id);
      assert.ok(ids.includes('gpt-4@openai'), `ids: ${ids}`);
      assert.ok(ids.includes('gpt-4-mini@openai'), `ids: ${ids}`);
      assert.equal(j.has_more, false);
      assert.equal(j.first_id, ids[0]);
      assert.equal(j.last_id, ids[ids.length - 1]);
    });
  }

  for (const [method, p] of [['GET', '/nope'], ['POST', '/v1/nope'], ['GET', '/v1/messagesx'], ['GET', '/v2/models']]) {
    test(`${method} ${p} → 404 not_found_error`, async () => {
      assertError(await request(d.port, { method, path: p }), 404, 'not_found_error');
    });
  }

  for (const [method, p, allowed] of [
    ['GET', '/v1/messages', 'POST'],
    ['DELETE', '/v1/messages', 'POST'],
    ['GET', '/v1/messages/count_tokens', 'POST'],
    ['PUT', '/health', 'GET'],
    ['POST', '/v1/models', 'GET'],
  ]) {
    test(`${method} ${p} → 405 with Allow containing ${allowed}`, async () => {
      const r = await request(d.port, { method, path: p });
      assertError(r, 405, 'invalid_request_error');
      assert.ok(r.headers.allow, `Allow header present: ${JSON.stringify(r.headers)}`);
      const allow = r.headers.allow.split(',').map((s) => s.trim().toUpperCase());
      assert.ok(allow.includes(allowed), `Allow: ${r.headers.allow}`);
      assert.ok(!allow.includes(method), `Allow must not include ${method}: ${r.headers.allow}`);
    });
  }

  for (const ep of ENDPOINTS) {
    test(`${ep}: invalid JSON → 400 mentioning JSON`, async () => {
      assertError(await post(ep, '{"model": "x", '), 400, 'invalid_request_error', { includesCI: ['json'] });
      assertError(await post(`${ep}?beta=true`, 'not json at all'), 400, 'invalid_request_error', { includesCI: ['json'] });
    });

    const bad = [
      ['body is an array', [1, 2], null],
      ['body is a string', 'just a string', null],
      ['missing model', { max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }, 'model'],
      ['model not a string', { model: 42, max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }, 'model'],
      ['missing messages', { model: 'claude-3-haiku', max_tokens: 10 }, 'messages'],
      ['messages not an array', { model: 'claude-3-haiku', max_tokens: 10, messages: 'hi' }, 'messages'],
      ['messages is an object', { model: 'claude-3-haiku', max_tokens: 10, messages: { role: 'user' } }, 'messages'],
      ['role "tool"', { model: 'claude-3-haiku', max_tokens: 10, messages: [{ role: 'tool', content: 'x' }] }, 'role'],
      ['role "bogus" in 2nd message', {
        model: 'claude-3-haiku',
        max_tokens: 10,
        messages: [{ role: 'user', content: 'x' }, { role: 'bogus', content: 'y' }],
      }, 'role'],
    ];
    for (const [name, body, field] of bad) {
      test(`${ep}: ${name} → 400 invalid_request_error${field ? ` naming ${field}` : ''}`, async () => {
        const payload = typeof body === 'string' ? JSON.stringify(body) : body;
        assertError(await post(ep, payload), 400, 'invalid_request_error', { includes: field ? [field] : [] });
      });
    }
  }

  for (const [name, mt] of [['missing', undefined], ['a string', '10'], ['a float', 1.5], ['null', null]]) {
    test(`/v1/messages: max_tokens ${name} → 400 naming max_tokens`, async () => {
      const body = { model: 'claude-3-haiku', messages: [{ role: 'user', content: 'hi' }] };
      if (mt !== undefined) body.max_tokens = mt;
      assertError(await post('/v1/messages', body), 400, 'invalid_request_error', { includes: ['max_tokens'] });
      assertError(await post('/v1/messages?beta=true', body), 400, 'invalid_request_error', { includes: ['max_tokens'] });
    });
  }

  test('role "system" and "assistant" inside messages are accepted (reach routing)', async () => {
    const body = validBody('claude-3-haiku', {
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'hello' },
        { role: 'user', content: 'again' },
      ],
    });
    assertError(await post('/v1/messages', body), 400, 'invalid_request_error', { includes: ['ccproxy init'] });
  });

  test('count_tokens does not require max_tokens (gets past validation to routing)', async () => {
    const body = { model: 'claude-3-haiku', messages: [{ role: 'user', content: 'hi' }] };
    const msg = assertError(await post('/v1/messages/count_tokens?beta=true', body), 400, 'invalid_request_error',
      { includes: ['ccproxy init', 'OPENAI_API_KEY'] });
    assert.ok(!msg.includes('max_tokens'), msg);
  });

  for (const ep of ENDPOINTS) {
    for (const model of ['claude-3-haiku-20240307', 'claude-sonnet-4', 'claude-3-opus', 'some-model', 'gpt-4o@openai']) {
      test(`${ep}: model ${model} → openai without key → 400 mentioning ccproxy init + OPENAI_API_KEY`, async () => {
        assertError(await post(`${ep}?beta=true`, validBody(model)), 400, 'invalid_request_error',
          { includes: ['ccproxy init', 'OPENAI_API_KEY'] });
      });
    }
    test(`${ep}: x@nosuch → 400 naming nosuch, not listing the configured providers`, async () => {
      const msg = assertError(await post(ep, validBody('x@nosuch')), 400, 'invalid_request_error', { includes: ['nosuch'] });
      for (const p of ['openai', 'gemini', 'openrouter', 'anthropic']) { // a stranger learns nothing of the config
        assert.ok(!msg.includes(p), `message lists provider ${p}: ${msg}`);
      }
    });
  }

  test('request-id differs between requests', async () => {
    const a = await request(d.port, { path: '/health' });
    const b = await request(d.port, { path: '/health' });
    assert.match(a.headers['request-id'], REQUEST_ID_RE);
    assert.match(b.headers['request-id'], REQUEST_ID_RE);
    assert.notEqual(a.headers['request-id'], b.headers['request-id']);
  });

  test('keep-alive: two requests on one connection (http.Agent) both succeed', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const a = await request(d.port, { path: '/health', agent });
      assert.equal(a.status, 200);
      await new Promise((r) => setImmediate(r));
      const b = await request(d.port, { path: '/v1/models', agent });
      assert.equal(b.status, 200);
      assert.equal(b.reusedSocket, true, 'second request reused the first connection');
      const c = await request(d.port, { method: 'POST', path: '/v1/messages', body: '{bad', agent });
      assertError(c, 400, 'invalid_request_error');
      assert.equal(c.reusedSocket, true, 'connection kept alive after 200s');
    } finally {
      agent.destroy();
    }
  });

  test('keep-alive over a raw socket: two sequential requests get two responses', async () => {
    const c = await rawConnect(d.port);
    try {
      await c.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      const r1 = await c.readResponse(3000);
      assert.equal(r1.status, 200);
      const body = '{"model":1}';
      await c.write(`POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      const r2 = await c.readResponse(3000);
      assert.equal(r2.status, 400);
      assert.equal(r2.json?.error?.type, 'invalid_request_error', r2.text);
      assert.notEqual(r1.headers['request-id'], r2.headers['request-id']);
    } finally {
      c.close();
    }
  });
});

describe('routing to non-default providers (no keys)', () => {
  let d;
  before(async () => {
    d = await startDaemon({
      homeSettings: {
        models: { bigModel: 'big-m@openrouter', smallModel: 'small-m@gemini', preferredProvider: 'anthropic' },
      },
    });
  });
  after(async () => { if (d) await d.stop(); });

  const cases = [
    ['claude-3-5-haiku-latest', 'GEMINI_API_KEY'],
    ['claude-sonnet-4-20250514', 'OPENROUTER_API_KEY'],
    ['claude-opus-4', 'OPENROUTER_API_KEY'],
    ['my-custom-model', 'ANTHROPIC_API_KEY'],
    ['gpt-4o@openai', 'OPENAI_API_KEY'],
    ['claude-3-haiku@openrouter', 'OPENROUTER_API_KEY'],
  ];
  for (const [model, envName] of cases) {
    test(`${model} → needs ${envName}`, async () => {
      const msg = assertError(await request(d.port, { method: 'POST', path: '/v1/messages', body: validBody(model) }),
        400, 'invalid_request_error', { includes: ['ccproxy init', envName] });
      for (const other of ['GEMINI_API_KEY', 'OPENROUTER_API_KEY', 'ANTHROPIC_API_KEY', 'OPENAI_API_KEY']) {
        if (other !== envName) assert.ok(!msg.includes(other), `message should not mention ${other}: ${msg}`);
      }
    });
  }

  test('/v1/models reflects the configured big/small models', async () => {
    const r = await request(d.port, { path: '/v1/models' });
    const ids = r.json.data.map((m) => m.id);
    assert.ok(ids.includes('big-m@openrouter'), `ids: ${ids}`);
    assert.ok(ids.includes('small-m@gemini'), `ids: ${ids}`);
  });
});

describe('with OPENAI_API_KEY set (provider unreachable)', () => {
  let d;
  before(async () => {
    // a port nobody listens on: the upstream connection is refused at once, no network needed
    const dead = await closedPort();
    d = await startDaemon({
      env: { OPENAI_API_KEY: 'sk-test-123' },
      homeSettings: { providers: { openai: { baseURL: `http://127.0.0.1:${dead}/v1` } } },
    });
  });
  after(async () => { if (d) await d.stop(); });

  test('/v1/messages: valid request → 502 api_error naming the provider', async () => {
    const r = await request(d.port, { method: 'POST', path: '/v1/messages?beta=true', body: validBody('claude-3-haiku-20240307') });
    assertError(r, 502, 'api_error', { includes: ['openai'] });
    assert.ok(!r.text.includes('sk-test-123'), r.text);
  });
  test('/v1/messages/count_tokens: answered locally for an openai-style provider', async () => {
    const body = validBody('claude-3-haiku-20240307');
    delete body.max_tokens;
    const r = await request(d.port, { method: 'POST', path: '/v1/messages/count_tokens?beta=true', body });
    assert.equal(r.status, 200, r.text);
    assert.ok(Number.isInteger(r.json.input_tokens), r.text);
  });

  test('validation still happens before routing (missing max_tokens → 400)', async () => {
    assertError(await request(d.port, {
      method: 'POST', path: '/v1/messages', body: { model: 'claude-3-haiku', messages: [{ role: 'user', content: 'hi' }] },
    }), 400, 'invalid_request_error', { includes: ['max_tokens'] });
  });

  test('x@nosuch still → 400 even with a key', async () => {
    assertError(await request(d.port, { method: 'POST', path: '/v1/messages', body: validBody('x@nosuch') }),
      400, 'invalid_request_error', { includes: ['nosuch'] });
  });
});

// The spec's 413 scenario uses maxBodyBytes=1000; 2048 is run as well so the 413 behaviour is
// exercised even if the daemon imposes a minimum on maxBodyBytes.
for (const limit of [1000, 2048]) {
  describe(`maxBodyBytes = ${limit}`, () => {
    let d;
    before(async () => { d = await startDaemon({ homeSettings: { server: { maxBodyBytes: limit } } }); });
    after(async () => { if (d) await d.stop(); });

    test('huge Content-Length with a few bytes sent → 413 within 2 s, daemon still healthy', async () => {
      const c = await rawConnect(d.port);
      try {
        const t0 = Date.now();
        await c.write('POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
          'Content-Length: 100000000\r\n\r\n{"model":');
        const r = await c.readResponse(2000);
        assert.ok(Date.now() - t0 < 2000);
        assert.equal(r.status, 413, `status; got ${JSON.stringify(r)}`);
        assert.match(r.headers['request-id'] || '', REQUEST_ID_RE);
        assert.match(r.headers['content-type'] || '', /^application\/json/);
        assert.equal(r.json?.type, 'error', r.text);
        assert.equal(r.json?.error?.type, 'request_too_large', r.text);
        assert.equal(r.json?.request_id, r.headers['request-id']);
      } finally {
        c.close();
      }
      const h = await request(d.port, { path: '/health', timeoutMs: 2000 });
      assert.equal(h.status, 200);
    });

    test('chunked body growing past the limit → 413 request_too_large JSON, daemon still healthy', async () => {
      const c = await rawConnect(d.port);
      try {
        await c.write('POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n');
        const chunk = `${(500).toString(16)}\r\n${'a'.repeat(500)}\r\n`;
        for (let i = 0; i < Math.ceil(limit / 500) + 1; i++) {
          try { await c.write(chunk); } catch { break; } // the daemon may close as soon as it has answered
        }
        const r = await c.readResponse(2000);
        assert.equal(r.status, 413, `status; got ${JSON.stringify(r)}`);
        assert.equal(r.json?.error?.type, 'request_too_large', r.text);
        assert.match(r.headers['request-id'] || '', REQUEST_ID_RE);
      } finally {
        c.close();
      }
      assert.equal((await request(d.port, { path: '/health', timeoutMs: 2000 })).status, 200);
    });

    test('malformed request line → 400 invalid_request_error JSON', async () => {
      const c = await rawConnect(d.port);
      try {
        await c.write('THIS IS NOT HTTP\r\n\r\n');
        const r = await c.readResponse(2000);
        assert.equal(r.status, 400, `status; got ${JSON.stringify(r)}`);
        assert.equal(r.json?.error?.type, 'invalid_request_error', r.text);
      } finally {
        c.close();
      }
    });

    test(`${limit + 1}-byte body → 413; exactly ${limit}-byte body is accepted (400 for other reasons)`, async () => {
      const base = { messages: [{ role: 'user', content: 'x' }], max_tokens: 5, pad: '' };
      const mk = (n) => {
        const s = JSON.stringify(base);
        return JSON.stringify({ ...base, pad: 'a'.repeat(n - s.length) });
      };
      const at = mk(limit);
      const over = mk(limit + 1);
      assert.equal(Buffer.byteLength(at), limit);
      assert.equal(Buffer.byteLength(over), limit + 1);
      const headers = { 'content-type': 'application/json' };
      assertError(await request(d.port, { method: 'POST', path: '/v1/messages', body: over, headers }),
        413, 'request_too_large');
      assertError(await request(d.port, { method: 'POST', path: '/v1/messages', body: at, headers }),
        400, 'invalid_request_error', { includes: ['model'] });
    });
  });
}

/** GET /health with one padding header making the request head about <n> bytes; → the response. */
function headOfSize(port, n) {
  const fixed = 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: \r\n\r\n'.length;
  return request(port, { path: '/health', headers: { 'x-pad': 'a'.repeat(n - fixed) }, timeoutMs: 5000 });
}

for (const [limit, settings] of [[65536, {}], [2048, { server: { maxHeaderBytes: 2048 } }]]) {
  describe(`maxHeaderBytes = ${limit}${limit === 65536 ? ' (the default)' : ''}`, () => {
    let d;
    before(async () => { d = await startDaemon({ homeSettings: settings }); });
    after(async () => { if (d) await d.stop(); });

    test(`a request head of ${limit - 512} bytes is served; one of ${limit + 512} → 400 invalid_request_error naming the limit`, async () => {
      const ok = await headOfSize(d.port, limit - 512);
      assert.equal(ok.status, 200, ok.text);
      const r = await headOfSize(d.port, limit + 512);
      assertError(r, 400, 'invalid_request_error', { includes: ['server.maxHeaderBytes', String(limit)] });
      assert.equal((await request(d.port, { path: '/health' })).status, 200, 'daemon healthy afterwards');
    });
  });
}

describe('clientTimeoutSeconds = 1', () => {
  let d;
  before(async () => { d = await startDaemon({ homeSettings: { server: { clientTimeoutSeconds: 1 } } }); });
  after(async () => { if (d) await d.stop(); });

  /** Wait until the daemon closes <c>; → ms since t0. */
  async function closedAfter(c, t0) {
    await waitFor(() => c.state.closed || c.state.error, { timeoutMs: 4000, intervalMs: 20, what: 'the daemon to close the connection' });
    return Date.now() - t0;
  }

  test('a connection that never sends anything is closed after ~1 s', async () => {
    const t0 = Date.now();
    const c = await rawConnect(d.port);
    try {
      const dt = await closedAfter(c, t0);
      assert.ok(dt >= 800 && dt < 3000, `closed ${dt} ms after connecting`);
      assert.equal(c.received(), '', 'nothing was answered');
    } finally {
      c.close();
    }
  });

  test('a request head that stops half way (slowloris) is dropped after ~1 s', async () => {
    const c = await rawConnect(d.port);
    try {
      await c.write('POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty');
      const t0 = Date.now();
      const dt = await closedAfter(c, t0);
      assert.ok(dt >= 800 && dt < 3000, `closed ${dt} ms after the last byte`);
    } finally {
      c.close();
    }
  });

  test('a keep-alive connection idle after its answer is closed after ~1 s; a busy one lives on', async () => {
    const c = await rawConnect(d.port);
    try {
      await c.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      assert.equal((await c.readResponse(2000)).status, 200);
      const t0 = Date.now();
      const dt = await closedAfter(c, t0);
      assert.ok(dt >= 800 && dt < 3000, `closed ${dt} ms after the answer`);
    } finally {
      c.close();
    }
    // a request every 0.4 s keeps a connection alive past the timeout (bounded: 5 requests, 2 s)
    const k = await rawConnect(d.port);
    try {
      for (let i = 0; i < 5; i++) {
        await k.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
        assert.equal((await k.readResponse(2000)).status, 200, `request ${i} on the busy connection`);
        await new Promise((r) => setTimeout(r, 400)); // the pace of a slow but live client, not a synchronisation
      }
      assert.ok(!k.state.closed, 'the busy connection was not closed');
    } finally {
      k.close();
    }
  });
});
