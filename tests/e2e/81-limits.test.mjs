// Safe to share, part two (the hardening issue): memory stays bounded whatever a client sends, slow and
// many connections cannot hold the daemon, and streams end with a reason. Each test here failed before
// its fix (lib/net/cp_conn.c, lib/net/cp_frame.c, cp_front_abort).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { startDaemon, validBody, request } from './lib/daemon.mjs';
import { setupProxy, parseSSE } from './lib/proxy.mjs';
import { oaiChunks, oaiCompletion } from './lib/mock-upstream.mjs';

const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

/** A raw client connection that records what it receives and when the daemon closes it. */
function client(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const c = { s, text: '', closed: false, closedAt: 0, waiters: [] };
    const notify = () => { for (const w of c.waiters.splice(0)) w(); };
    s.setEncoding('latin1');
    s.on('data', (d) => { c.text += d; notify(); });
    s.on('error', () => {});
    s.on('close', () => { c.closed = true; c.closedAt = Date.now(); notify(); });
    c.until = (pred, ms, what) => new Promise((res, rej) => {
      const t = setTimeout(() => rej(new Error(`${what}: not within ${ms} ms; got:\n${c.text.slice(0, 600)}`)), ms);
      const check = () => { if (pred()) { clearTimeout(t); res(); } else c.waiters.push(check); };
      check();
    });
    c.write = (d) => new Promise((res) => { if (c.closed || s.destroyed) res(false); else s.write(d, (e) => res(!e)); });
    s.on('connect', () => resolve(c));
    s.once('error', reject);
  });
}

/** A daemon whose models all go to the mock "main" as an OpenAI-style provider, with <server> settings. */
const relayProxy = (server = {}) => setupProxy({
  settings: ({ main: m }) => ({
    server,
    providers: { relay: { baseURL: `${m.url}/v1`, apiKey: 'sk-relay-1', flavor: 'generic' } },
    models: { bigModel: 'm@relay', smallModel: 'm@relay', preferredProvider: 'relay' },
  }),
});

const statusOf = (text) => Number((/^HTTP\/1\.1 (\d{3})/.exec(text) || [])[1]);
const bodyOf = (text) => { try { return JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)); } catch { return null; } };
const head = (path, extra = '') => `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${extra}`;

describe('framing evhttp would misread is refused first', () => {
  const cases = [
    ['a chunk extension', `${head('/v1/messages/count_tokens', 'Transfer-Encoding: chunked\r\n')}\r\n2;x=1\r\n{}\r\n0\r\n\r\n`, /Chunk extensions/],
    ['Transfer-Encoding with Content-Length', `${head('/v1/messages', 'Transfer-Encoding: chunked\r\nContent-Length: 5\r\n')}\r\n0\r\n\r\n`, /both Transfer-Encoding and Content-Length/],
    ['a Transfer-Encoding other than chunked', `${head('/v1/messages', 'Transfer-Encoding: gzip\r\n')}\r\n`, /exactly "chunked"/],
    ['a body on HEAD (evhttp would read it as the next request)', 'HEAD /health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 36\r\n\r\nGET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n', /HEAD or TRACE/],
    ['obsolete line folding', 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: 1\r\n folded\r\n\r\n', /folding/],
  ];
  for (const [what, raw, msg] of cases) {
    test(`${what} → 400 invalid_request_error (not 413), connection closed`, async (t) => {
      const d = await startDaemon();
      t.after(() => d.stop());
      const c = await client(d.port);
      await c.write(raw);
      await c.until(() => c.closed, 5000, 'connection closed');
      assert.equal(statusOf(c.text), 400, c.text);
      assert.equal((c.text.match(/^HTTP\/1\.1/gm) || []).length, 1, `one answer only:\n${c.text}`);
      const b = bodyOf(c.text);
      assert.equal(b?.error?.type, 'invalid_request_error', c.text);
      assert.match(b.error.message, msg);
      assert.match(c.text, /\r\nConnection: close\r\n/);
      assert.equal((await request(d.port, { path: '/health' })).status, 200);
    });
  }

  for (const [what, second, status] of [
    ['an unknown method', 'FOO / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 501],
    ['a malformed request line', 'GET\r\nHost: 127.0.0.1\r\n\r\n', 400],
  ]) {
    test(`evhttp's own error for ${what} is JSON also after a reply on the same connection (pipelined or later)`, async (t) => {
      const d = await startDaemon();
      t.after(() => d.stop());
      for (const pipelined of [true, false]) {
        const c = await client(d.port);
        const first = 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
        if (pipelined) {
          await c.write(first + second);
        } else {
          await c.write(first);
          await c.until(() => /"status":"ok"/.test(c.text), 3000, 'the first answer');
          await c.write(second);
        }
        await c.until(() => c.closed, 5000, 'the connection closed after the error');
        const answers = c.text.split(/(?=HTTP\/1\.1 \d{3} )/);
        assert.equal(answers.length, 2, c.text);
        assert.equal(statusOf(answers[1]), status, answers[1]);
        assert.match(answers[1], /\r\nContent-Type: application\/json\r\n/, `JSON, not evhttp's HTML:\n${answers[1]}`);
        assert.equal(bodyOf(answers[1])?.type, 'error', answers[1]);
      }
    });
  }

  test('an HTTP version other than 1.0 and 1.1 gets 505 as HTTP/1.1 JSON; evhttp\'s own errors never echo a bogus version', async (t) => {
    const d = await startDaemon();
    t.after(() => d.stop());
    for (const [raw, status] of [
      ['GET /health HTTP/-1.2\r\nHost: 127.0.0.1\r\n\r\n', 505],
      ['GET /health HTTP/1.10\r\nHost: 127.0.0.1\r\n\r\n', 505],
      [`GET / HTTP/1.1000\r\nX-Big: ${'a'.repeat(70000)}\r\n\r\n`, 400], // over maxHeaderBytes: evhttp's page
    ]) {
      const c = await client(d.port);
      await c.write(raw);
      await c.until(() => c.closed, 5000, 'closed after the error');
      assert.match(c.text, /^HTTP\/1\.1 \d{3} /, c.text.slice(0, 200));
      assert.equal(statusOf(c.text), status, c.text.slice(0, 300));
      assert.equal(bodyOf(c.text)?.type, 'error', c.text.slice(0, 300));
    }
  });

  test('a well-formed chunked body is still accepted, and keep-alive goes on after it', async (t) => {
    const d = await startDaemon({ homeSettings: { providers: { openai: { apiKey: 'sk-test-1' } } } });
    t.after(() => d.stop());
    const body = JSON.stringify(validBody('claude-3-5-sonnet-20241022'));
    const chunks = `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
    const c = await client(d.port);
    t.after(() => c.s.destroy());
    await c.write(`${head('/v1/messages/count_tokens', 'Transfer-Encoding: chunked\r\n')}\r\n${chunks}`);
    await c.until(() => /\r\n\r\n\{.*\}$/s.test(c.text), 5000, 'count_tokens answer');
    assert.equal(statusOf(c.text), 200, c.text);
    assert.ok(bodyOf(c.text).input_tokens > 0, c.text);
    c.text = '';
    await c.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await c.until(() => /"status":"ok"/.test(c.text), 5000, 'second request on the same connection');
  });
});

describe('memory stays bounded', () => {
  test('bytes pipelined behind a request in flight: capped at server.maxHeaderBytes, then the connection closes', async (t) => {
    const env = await relayProxy();
    t.after(() => env.close());
    env.main.enqueue({ hang: true });
    const pid = env.d.proc.pid;
    const c = await client(env.d.port);
    const body = JSON.stringify(validBody('m@relay'));
    await c.write(`${head('/v1/messages', `Content-Length: ${Buffer.byteLength(body)}\r\n`)}\r\n${body}`);
    await env.main.waitForRequests(1);
    const before = rssKiB(pid);
    const junk = Buffer.alloc(1 << 20, 'G');
    let sent = 0;
    for (let i = 0; i < 600 && !c.closed; i++) { // up to 600 MiB; before the fix all of it was buffered
      if (!(await c.write(junk))) break;
      sent += junk.length;
    }
    await c.until(() => c.closed, 5000, 'the daemon closes the flooding connection');
    const grown = rssKiB(pid) - before;
    assert.ok(sent < 64 << 20, `the daemon kept reading: ${sent >> 20} MiB accepted`);
    assert.ok(grown < 32 * 1024, `RSS grew by ${grown} KiB under a pipelining flood`);
    await env.d.waitLog(/pipelined behind a request in flight/, { timeoutMs: 3000 });
    await env.main.waitFor(() => env.main.requests[0].clientClosed, { timeoutMs: 3000, what: 'upstream transfer cancelled' });
    assert.equal((await request(env.d.port, { path: '/health' })).status, 200);
  });

  test('a client that leaves while its pipelined bytes wait is noticed: the upstream transfer is cancelled', async (t) => {
    const env = await relayProxy();
    t.after(() => env.close());
    env.main.enqueue({ hang: true });
    const c = await client(env.d.port);
    const body = JSON.stringify(validBody('m@relay'));
    await c.write(`${head('/v1/messages', `Content-Length: ${Buffer.byteLength(body)}\r\n`)}\r\n${body}GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    await env.main.waitForRequests(1);
    c.s.destroy();
    await env.main.waitFor(() => env.main.requests[0].clientClosed, { timeoutMs: 5000, what: 'upstream transfer cancelled after the client left' });
    await env.d.waitLog((j) => j?.msg === 'request' && j.status === 499, { timeoutMs: 3000 });
  });

  test('a body with absurdly many JSON values is refused before a tree is built (413, server.maxJsonValues)', async (t) => {
    const d = await startDaemon();
    t.after(() => d.stop());
    const pid = d.proc.pid;
    const before = rssKiB(pid);
    // 15 MiB of zeros in one array: about 7.8 million values (a parser spends ~40 bytes on each)
    const zeros = '0,'.repeat((15 << 20) / 2 - 1) + '0';
    const raw = `{"model":"claude-3-5-sonnet-20241022","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"metadata":{"z":[${zeros}]}}`;
    const t0 = Date.now();
    const r = await request(d.port, { method: 'POST', path: '/v1/messages', body: raw, timeoutMs: 20000 });
    const ms = Date.now() - t0;
    assert.equal(r.status, 413, r.text.slice(0, 300));
    assert.equal(r.json?.error?.type, 'request_too_large');
    assert.match(r.json.error.message, /server\.maxJsonValues/);
    const grown = rssKiB(pid) - before;
    assert.ok(grown < 120 * 1024, `RSS grew by ${grown} KiB for one absurd body`);
    // the loop was not stalled meanwhile
    assert.equal((await request(d.port, { path: '/health', timeoutMs: 2000 })).status, 200);
    assert.ok(ms < 10000, `${ms} ms`);
  });

  test('a small limit applies too: 2,000 values with server.maxJsonValues 1000', async (t) => {
    const d = await startDaemon({ homeSettings: { server: { maxJsonValues: 1000 }, providers: { openai: { apiKey: 'sk-test-1' } } } });
    t.after(() => d.stop());
    const b = validBody('claude-3-5-sonnet-20241022', { metadata: { z: Array(2000).fill(0) } });
    const r = await request(d.port, { method: 'POST', path: '/v1/messages', body: b });
    assert.equal(r.status, 413, r.text);
    assert.match(r.json.error.message, /more than 1000 JSON values/);
    const ok = await request(d.port, { method: 'POST', path: '/v1/messages/count_tokens', body: validBody('claude-3-5-sonnet-20241022') });
    assert.equal(ok.status, 200, ok.text);
  });

  test('concurrent uploads beyond server.uploadBudgetBytes → 503 overloaded_error with retry-after; within it they pass', async (t) => {
    const d = await startDaemon({ homeSettings: { server: { maxBodyBytes: 60000, uploadBudgetBytes: 100000 }, providers: { openai: { apiKey: 'sk-test-1' } } } });
    t.after(() => d.stop());
    const body = JSON.stringify(validBody('claude-3-5-sonnet-20241022', { metadata: { pad: 'x'.repeat(50000) } }));
    const len = Buffer.byteLength(body);
    // two uploads of ~50 KB against a budget of 100,000 bytes: whichever head arrives second is refused
    const a = await client(d.port);
    const b = await client(d.port);
    t.after(() => { a.s.destroy(); b.s.destroy(); });
    for (const c of [a, b]) await c.write(`${head('/v1/messages/count_tokens', `Content-Length: ${len}\r\n`)}\r\n${body.slice(0, 100)}`);
    await Promise.race([a.until(() => a.closed, 5000, 'one upload is refused'), b.until(() => b.closed, 5000, 'one upload is refused')]);
    const [refused, kept] = a.closed ? [a, b] : [b, a];
    assert.equal(statusOf(refused.text), 503, refused.text);
    assert.equal(bodyOf(refused.text)?.error?.type, 'overloaded_error');
    assert.match(refused.text, /\r\nretry-after: \d+\r\n/i);
    assert.match(bodyOf(refused.text).error.message, /uploadBudgetBytes/);
    await kept.write(body.slice(100));
    await kept.until(() => /input_tokens/.test(kept.text), 5000, 'the other upload completes');
    assert.equal(statusOf(kept.text), 200);
    // the budget was given back: the next upload passes
    const r = await request(d.port, { method: 'POST', path: '/v1/messages/count_tokens', body });
    assert.equal(r.status, 200, r.text);
    // a body over maxBodyBytes is refused as too large (413), not counted against the budget (503)
    const big = await client(d.port);
    await big.write(`${head('/v1/messages', 'Content-Length: 999999999999\r\n')}\r\n{`);
    await big.until(() => /^HTTP\/1\.1 \d{3}/.test(big.text), 5000, 'an answer to the huge upload');
    assert.equal(statusOf(big.text), 413, big.text);
    big.s.destroy();
  });
});

describe('slow and many connections', () => {
  test('the head has a total deadline: a byte every 300 ms does not keep it open (408 after server.headTimeoutSeconds)', async (t) => {
    const d = await startDaemon({ homeSettings: { server: { headTimeoutSeconds: 1 } } });
    t.after(() => d.stop());
    const c = await client(d.port);
    const t0 = Date.now();
    const raw = 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ' + 'a'.repeat(100);
    for (let i = 0; i < raw.length && !c.closed && Date.now() - t0 < 6000; i++) {
      await c.write(raw[i]);
      await new Promise((r) => setTimeout(r, 300));
      if (c.text) break;
    }
    await c.until(() => c.closed, 4000, 'closed after the head deadline');
    assert.equal(statusOf(c.text), 408, c.text);
    assert.match(bodyOf(c.text).error.message, /headTimeoutSeconds/);
    assert.ok(c.closedAt - t0 < 3500, `closed after ${c.closedAt - t0} ms`);
  });

  test('the body has a total deadline (408 after server.bodyTimeoutSeconds)', async (t) => {
    const d = await startDaemon({ homeSettings: { server: { bodyTimeoutSeconds: 1 } } });
    t.after(() => d.stop());
    const c = await client(d.port);
    const t0 = Date.now();
    await c.write(`${head('/v1/messages', 'Content-Length: 1000\r\n')}\r\n`);
    for (let i = 0; i < 30 && !c.closed && !c.text; i++) {
      await c.write('x');
      await new Promise((r) => setTimeout(r, 200));
    }
    await c.until(() => c.closed, 4000, 'closed after the body deadline');
    assert.equal(statusOf(c.text), 408, c.text);
    assert.match(bodyOf(c.text).error.message, /bodyTimeoutSeconds/);
    assert.ok(c.closedAt - t0 < 3500, `closed after ${c.closedAt - t0} ms`);
  });

  test('an idle keep-alive connection is closed after server.keepAliveSeconds, silently', async (t) => {
    const d = await startDaemon({ homeSettings: { server: { keepAliveSeconds: 1 } } });
    t.after(() => d.stop());
    const c = await client(d.port);
    await c.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await c.until(() => /"status":"ok"/.test(c.text), 3000, 'health answer');
    const t0 = Date.now();
    const n = c.text.length;
    await c.until(() => c.closed, 4000, 'the idle connection closed');
    assert.ok(Date.now() - t0 >= 700, 'not before the keep-alive time');
    assert.equal(c.text.length, n, 'nothing written on an idle close');
  });

  test('server.maxConnections: one more gets 503 overloaded_error with retry-after; server.maxConnectionsPerPeer: 429', async (t) => {
    const d = await startDaemon({ homeSettings: { server: { maxConnections: 3 } } });
    t.after(() => d.stop());
    const held = [];
    t.after(() => { for (const c of held) c.s.destroy(); });
    for (let i = 0; i < 3; i++) held.push(await client(d.port));
    const x = await client(d.port);
    await x.until(() => x.closed, 5000, 'the extra connection is refused');
    assert.equal(statusOf(x.text), 503, x.text);
    assert.equal(bodyOf(x.text)?.error?.type, 'overloaded_error');
    assert.match(bodyOf(x.text).error.message, /maxConnections = 3/);
    assert.match(x.text, /\r\nretry-after: 1\r\n/i);
    held.pop().s.destroy();
    let ok = 0; // the daemon sees the close on its next loop pass: poll its state, bounded
    for (let i = 0; i < 30 && ok !== 200; i++) ok = (await request(d.port, { path: '/health' })).status;
    assert.equal(ok, 200);

    const p = await startDaemon({ homeSettings: { server: { maxConnectionsPerPeer: 2 } } });
    t.after(() => p.stop());
    for (let i = 0; i < 2; i++) held.push(await client(p.port));
    const y = await client(p.port);
    await y.until(() => y.closed, 5000, 'the third connection from one peer is refused');
    assert.equal(statusOf(y.text), 429, y.text);
    assert.equal(bodyOf(y.text)?.error?.type, 'rate_limit_error');
    assert.match(bodyOf(y.text).error.message, /127\.0\.0\.1.*maxConnectionsPerPeer = 2/);
    // a burst of refused connections is one warning with a count, not a log line each
    const mark = p.mark();
    const burst = await Promise.all(Array.from({ length: 40 }, () => client(p.port)));
    await Promise.all(burst.map((b) => b.until(() => b.closed, 5000, 'refused')));
    assert.ok(burst.every((b) => statusOf(b.text) === 429), 'every one refused with 429');
    const lines = p.stderrText().slice(mark).split('\n').filter((l) => l.includes('connections refused') || l.includes('"status":429'));
    assert.ok(lines.length <= 2, `${lines.length} log lines for 40 refused connections:\n${lines.join('\n')}`);
  });

  test('new limits: wrong types and out-of-range values are configuration errors', async () => {
    const { runCli, CONFIG_EXIT } = await import('./lib/daemon.mjs');
    for (const [key, v] of [['headTimeoutSeconds', 0], ['bodyTimeoutSeconds', '30'], ['keepAliveSeconds', -1],
      ['maxConnections', 1.5], ['maxConnectionsPerPeer', 'many'], ['uploadBudgetBytes', 100], ['maxJsonValues', 10]]) {
      const r = await runCli(['config'], { homeSettings: { server: { [key]: v } } });
      assert.equal(r.code, CONFIG_EXIT, `${key}=${JSON.stringify(v)}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`server\\.${key}`));
    }
  });
});

describe('stream ends', () => {
  test('at the drain timeout an open stream gets event: error (overloaded_error) before the connection closes', async (t) => {
    const env = await relayProxy({ drainTimeoutSeconds: 1 });
    t.after(() => env.close());
    const chunks = oaiChunks(oaiCompletion({ content: 'partial answer' }));
    env.main.enqueue({ chunks: chunks.slice(0, 2), hang: true });
    const c = await client(env.d.port);
    const body = JSON.stringify({ ...validBody('m@relay'), stream: true });
    await c.write(`${head('/v1/messages', `Content-Length: ${Buffer.byteLength(body)}\r\n`)}\r\n${body}`);
    await c.until(() => /content_block_delta|message_start/.test(c.text), 5000, 'the stream started');
    env.d.proc.kill('SIGTERM');
    await c.until(() => c.closed, 8000, 'the stream ended');
    const payload = c.text.slice(c.text.indexOf('\r\n\r\n') + 4).replace(/\r\n[0-9a-f]+\r\n/g, '');
    const events = parseSSE(payload);
    const last = events[events.length - 1];
    assert.equal(last?.event, 'error', `last event:\n${payload.slice(-500)}`);
    assert.equal(last.data?.error?.type, 'overloaded_error');
    assert.match(last.data.error.message, /shutting down/);
    assert.match(c.text, /\r\n0\r\n\r\n$/, 'the chunked body was ended properly');
    const ex = await env.d.waitExit(5000);
    assert.equal(ex?.code, 0);
  });

  test('a client that half-closes its sending side after the request is taken as gone (documented), and the upstream call is cancelled', async (t) => {
    const env = await relayProxy();
    t.after(() => env.close());
    env.main.enqueue({ hang: true });
    const c = await client(env.d.port);
    const body = JSON.stringify(validBody('m@relay'));
    await c.write(`${head('/v1/messages', `Content-Length: ${Buffer.byteLength(body)}\r\n`)}\r\n${body}`);
    await env.main.waitForRequests(1);
    c.s.end(); // FIN: shutdown(SHUT_WR)
    await env.main.waitFor(() => env.main.requests[0].clientClosed, { timeoutMs: 5000, what: 'upstream cancelled' });
    await env.d.waitLog((j) => j?.msg === 'request' && j.status === 499, { timeoutMs: 3000 });
  });
});
