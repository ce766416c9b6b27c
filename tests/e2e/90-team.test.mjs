// Team access (docs/team.md): developer keys (401, 403), the access modes, limits and budgets (429 with
// retry-after), revocation by a reload while another key streams, and the usage ledger (one correct row
// per request, in the real SQLite file). The ledger's failure modes are tests/e2e/93-ledger.test.mjs.

import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import http from 'node:http';
import { request, assertError, makeDirs, removeDirs, sleep } from './lib/daemon.mjs';
import { openStream, assertCompleteStream } from './lib/stream.mjs';
import { oaiCompletion, anthMessage } from './lib/mock-upstream.mjs';
import { ALICE, BOB, CAROL, keyEntry, startTeam, body, ledgerRows } from './lib/team.mjs';

const KEYS = [
  keyEntry('alice', ALICE, { models: ['gpt-*', 'claude-up@anth'] }),
  keyEntry('bob', BOB),
];

function lanAddress() {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list || []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return null;
}

/** POST /v1/messages to <host>:<port> (for peers that are not loopback). */
function postFrom(host, port, headers = {}) {
  const payload = JSON.stringify(body());
  return new Promise((resolve, reject) => {
    const req = http.request({
      host, port, method: 'POST', path: '/v1/messages',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...headers },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c) => { text += c; }).on('end', () => resolve({ status: res.statusCode, json: JSON.parse(text) }));
    });
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(payload);
  });
}

describe('developer keys', () => {
  let t;
  after(async () => { if (t) await t.close(); });

  test('401 without a key or with a wrong one, from loopback too; both headers accepted; the name (never the key) is logged', async () => {
    t = await startTeam({ settings: () => ({ auth: { keys: KEYS } }) });
    await t.d.waitLog((j) => j && j.msg === 'access: developer keys' && j.keys === 2, { what: 'the mode line' });
    assertError(await t.post(null, body()), 401, 'authentication_error', { includes: ['x-api-key', 'ccproxy keys add'] });
    assertError(await t.post('ccp_wrong', body()), 401, 'authentication_error', { includes: ['invalid developer key'] });
    assertError(await t.post(ALICE.slice(0, -1), body()), 401, 'authentication_error');
    assertError(await t.post(null, body(), { authorization: `Basic ${Buffer.from(`x:${ALICE}`).toString('base64')}` }), 401, 'authentication_error');
    assertError(await t.post('x'.repeat(4000), body()), 401, 'authentication_error');
    const res401 = await t.post(null, body());
    assert.equal(res401.headers['x-should-retry'], 'false', 'a 401 is not retried');
    // GET /v1/models and count_tokens are API routes too
    assert.equal((await request(t.port, { path: '/v1/models' })).status, 401);
    assertError(await t.post(null, body(), {}, '/v1/messages/count_tokens'), 401, 'authentication_error');
    assert.equal(t.oai.requests.length, 0, 'nothing went upstream');
    // accepted: x-api-key, or Authorization: Bearer (the SDK and ANTHROPIC_AUTH_TOKEN)
    const a = await t.post(ALICE, body());
    assert.equal(a.status, 200, a.text);
    const b = await t.post(null, body(), { authorization: `Bearer ${BOB}` });
    assert.equal(b.status, 200, b.text);
    assert.equal((await request(t.port, { path: '/v1/models', headers: { 'x-api-key': BOB } })).status, 200);
    // the provider's key goes upstream, never the developer's
    for (const r of t.oai.requests) {
      assert.equal(r.headers.authorization, 'Bearer sk-prov-SECRET-oai');
      assert.ok(!JSON.stringify(r.headers).includes('ccp_'), 'a developer key leaked upstream');
    }
    const lines = t.d.jsonLines().filter((j) => j.msg === 'request' && j.path === '/v1/messages');
    assert.deepEqual(lines.map((j) => j.key ?? null), [null, null, null, null, null, null, 'alice', 'bob']);
    for (const k of [ALICE, BOB, 'ccp_wrong']) assert.ok(!t.d.stderrText().includes(k), `key ${k} in the log`);
    // /ccproxy/key: who am I, my limits, where I stand
    const me = await request(t.port, { path: '/ccproxy/key', headers: { authorization: `Bearer ${ALICE}` } });
    assert.equal(me.status, 200, me.text);
    assert.equal(me.json.key, 'alice');
    assert.deepEqual(me.json.models, ['gpt-*', 'claude-up@anth']);
    assert.equal((await request(t.port, { path: '/ccproxy/key' })).status, 401);
  });

  test('403 permission_error for a model outside the key\'s list, naming it; nothing goes upstream', async () => {
    if (!t) t = await startTeam({ settings: () => ({ auth: { keys: KEYS } }) }); // when run alone
    t.oai.reset();
    t.anth.reset();
    // alice: gpt-* (the client's name) and claude-up@anth (the routed target); bob: every model
    const denied = await t.post(ALICE, body('o3@oai'));
    assertError(denied, 403, 'permission_error', { includes: ['alice', 'o3@oai'] });
    assert.equal(denied.headers['x-should-retry'], 'false');
    assertError(await t.post(ALICE, body('o3@oai'), {}, '/v1/messages/count_tokens'), 403, 'permission_error');
    assert.equal(t.oai.requests.length, 0);
    assert.equal((await t.post(ALICE, body('claude-sonnet-4-5'))).status, 200, 'claude-* routes to claude-up@anth');
    assert.equal((await t.post(BOB, body('o3@oai'))).status, 200);
  });
});

describe('access modes', () => {
  const lan = lanAddress();

  test('loopback only without keys: other addresses get 401 saying how to add keys', { skip: !lan && 'no non-loopback IPv4 address' }, async () => {
    const t = await startTeam({ daemon: { args: ['--host', '0.0.0.0'] } });
    try {
      await t.d.waitLog((j) => j && j.mode === 'loopback only', { what: 'the mode line' });
      assert.equal((await t.post(null, body())).status, 200, 'loopback is served as before');
      const far = await postFrom(lan, t.port);
      assert.equal(far.status, 401);
      assert.equal(far.json.error.type, 'authentication_error');
      assert.match(far.json.error.message, /ccproxy keys add/);
      const health = await request(t.port, { path: '/health' });
      assert.equal(health.status, 200, '/health stays open');
    } finally {
      await t.close();
    }
  });

  test('open mode (auth.allowUnauthenticated) serves anyone, with a warning at start and at each reload', { skip: !lan && 'no non-loopback IPv4 address' }, async () => {
    const t = await startTeam({ settings: () => ({ auth: { allowUnauthenticated: true } }), daemon: { args: ['--host', '0.0.0.0'] } });
    try {
      await t.d.waitLog((j) => j && j.mode === 'open' && j.level === 'warn', { what: 'the open-mode warning' });
      assert.equal((await postFrom(lan, t.port)).status, 200);
      const from = t.d.mark();
      t.d.signal('SIGHUP');
      await t.d.waitLog((j) => j && j.mode === 'open' && j.level === 'warn', { from, what: 'the warning again' });
    } finally {
      await t.close();
    }
  });

  test('keys apply to loopback clients too, and allowUnauthenticated does not open a proxy that has keys', async () => {
    const t = await startTeam({ settings: () => ({ auth: { keys: KEYS, allowUnauthenticated: true } }) });
    try {
      assertError(await t.post(null, body()), 401, 'authentication_error');
      assert.equal((await t.post(BOB, body())).status, 200);
    } finally {
      await t.close();
    }
  });
});

describe('limits', () => {
  test('rpm: the request over the limit gets 429 rate_limit_error with the seconds until the window frees', async () => {
    const t = await startTeam({ settings: () => ({ auth: { keys: [keyEntry('alice', ALICE, { rpm: 2 }), keyEntry('bob', BOB)] } }) });
    try {
      const t0 = Date.now();
      assert.equal((await t.post(ALICE, body())).status, 200);
      assert.equal((await t.post(ALICE, body())).status, 200);
      await sleep(1200);
      const r = await t.post(ALICE, body());
      const elapsed = Date.now() - t0;
      assertError(r, 429, 'rate_limit_error', { includes: ['alice', '2 requests per minute', 'rpm'] });
      const ra = r.headers['retry-after'];
      assert.match(ra, /^\d+$/, 'an integer retry-after');
      // the first request frees its slot 60 s after it was admitted
      assert.ok(Number(ra) <= 60 - Math.floor(elapsed / 1000) + 1 && Number(ra) >= 60 - Math.ceil(elapsed / 1000) - 1,
        `retry-after ${ra} after ${elapsed} ms`);
      assert.equal(r.headers['x-should-retry'], undefined, 'a rate limit may be retried');
      assert.equal(t.oai.requests.length, 2, 'the refused request never went upstream');
      assert.equal((await t.post(BOB, body())).status, 200, 'another key is not limited');
      // count_tokens spends nothing upstream: not limited
      assert.equal((await t.post(ALICE, body(), {}, '/v1/messages/count_tokens')).status, 200);
    } finally {
      await t.close();
    }
  });

  test('tpm: tokens the upstream reported count; the next request waits for the window', async () => {
    // the mock reports prompt 25 (5 cached) + completion 7 = 32 tokens per request
    const t = await startTeam({ settings: () => ({ auth: { keys: [keyEntry('alice', ALICE, { tpm: 30 })] } }) });
    try {
      assert.equal((await t.post(ALICE, body())).status, 200, 'an empty window admits any request');
      const r = await t.post(ALICE, body());
      assertError(r, 429, 'rate_limit_error', { includes: ['alice', 'tokens per minute', 'tpm'] });
      const ra = Number(r.headers['retry-after']);
      assert.ok(ra >= 58 && ra <= 60, `retry-after ${ra}`);
      const me = await request(t.port, { path: '/ccproxy/key', headers: { 'x-api-key': ALICE } });
      assert.equal(me.json.usage.tokens_last_minute, 32, JSON.stringify(me.json));
    } finally {
      await t.close();
    }
  });

  test('maxStreams: requests of a key in flight at once', async () => {
    let release;
    const gate = new Promise((r) => { release = r; });
    const t = await startTeam({ settings: () => ({ auth: { keys: [keyEntry('alice', ALICE, { maxStreams: 1 })] } }) });
    try {
      t.oai.enqueue({ gate, json: oaiCompletion() });
      const first = t.post(ALICE, body());
      await t.oai.waitForRequests(1, 3000);
      const r = await t.post(ALICE, body());
      assertError(r, 429, 'rate_limit_error', { includes: ['alice', 'maxStreams'] });
      assert.match(r.headers['retry-after'], /^\d+$/);
      release();
      assert.equal((await first).status, 200);
      assert.equal((await t.post(ALICE, body())).status, 200, 'the stream was released');
    } finally {
      release();
      await t.close();
    }
  });

  test('a budget spent mid-month survives a restart; 429 with retry-after until the month ends, not retried', async () => {
    const dirs = makeDirs();
    const settings = () => ({
      auth: { keys: [keyEntry('alice', ALICE, { budget: { tokens: 40, per: 'month' } }),
        keyEntry('bob', BOB, { budget: { usd: 0.0001, per: 'day' } })] },
      prices: { 'gpt-4o@oai': { input: 1, output: 1 } }, // 32 tokens: $0.000032 a request
    });
    let t = await startTeam({ dirs, settings });
    try {
      assert.equal((await t.post(ALICE, body())).status, 200); // 32
      assert.equal((await t.post(ALICE, body())).status, 200); // 64: over, but it started under
      const r = await t.post(ALICE, body());
      assertError(r, 429, 'rate_limit_error', { includes: ['alice', 'budget'] });
      assert.equal(r.headers['x-should-retry'], 'false', 'retrying within seconds cannot help');
      const now = new Date();
      const monthEnd = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
      const want = Math.ceil((monthEnd - Date.now()) / 1000);
      assert.ok(Math.abs(Number(r.headers['retry-after']) - want) <= 3, `retry-after ${r.headers['retry-after']} vs ${want}`);
      for (let i = 0; i < 4; i++) assert.equal((await t.post(BOB, body())).status, 200, `bob ${i}`); // $0.000128
      assertError(await t.post(BOB, body()), 429, 'rate_limit_error', { includes: ['bob', 'budget'] });
      await t.close({ keepDirs: true });
      t = await startTeam({ dirs, settings });
      await t.d.waitLog((j) => j && j.msg === 'limits rebuilt from the ledger' && j.rows === 6, { what: 'the replay' });
      assertError(await t.post(ALICE, body()), 429, 'rate_limit_error', { includes: ['budget'] });
      assertError(await t.post(BOB, body()), 429, 'rate_limit_error', { includes: ['budget'] });
      assert.equal(t.oai.requests.length, 0, 'nothing went upstream after the restart');
    } finally {
      await t.close();
      removeDirs(dirs);
    }
  });
});

describe('reload', () => {
  test('revoking a key takes effect without a restart while another key\'s stream keeps going', async () => {
    let release;
    const gate = new Promise((r) => { release = r; });
    const keys = [keyEntry('alice', ALICE), keyEntry('bob', BOB)];
    const t = await startTeam({ settings: () => ({ auth: { keys } }) });
    try {
      // bob's stream: the first half now, the rest after the reload
      t.oai.enqueue((rec) => ({
        source: async function* src() {
          yield { data: { id: 'c1', object: 'chat.completion.chunk', model: rec.json.model, choices: [{ index: 0, delta: { role: 'assistant', content: 'before ' } }] } };
          await gate;
          yield { data: { id: 'c1', object: 'chat.completion.chunk', model: rec.json.model, choices: [{ index: 0, delta: { content: 'after' }, finish_reason: 'stop' }] } };
          yield { data: { id: 'c1', object: 'chat.completion.chunk', model: rec.json.model, choices: [], usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 } } };
          yield 'data: [DONE]\n\n';
        },
      }));
      const s = openStream(t.port, body('gpt-4o', { stream: true }), { headers: { 'x-api-key': BOB } });
      await s.waitFor((text) => text.includes('before'), 5000, 'the first half of bob\'s stream');
      const from = t.d.mark();
      t.rewrite(() => ({ auth: { keys: [keyEntry('bob', BOB)] } })); // alice revoked
      await t.d.waitLog((j) => j && j.msg === 'config reloaded' && j.keys === 1, { from, timeoutMs: 6000, what: 'the reload' });
      assertError(await t.post(ALICE, body()), 401, 'authentication_error');
      release();
      const res = await s.done;
      assert.equal(res.status, 200);
      assertCompleteStream(res.text);
      assert.ok(res.text.includes('before') && res.text.includes('after'));
      assert.equal((await t.post(BOB, body())).status, 200);
    } finally {
      release();
      await t.close();
    }
  });

  test('a bad change is refused and the running keys stay', async () => {
    const t = await startTeam({ settings: () => ({ auth: { keys: [keyEntry('alice', ALICE)] } }) });
    try {
      const from = t.d.mark();
      t.rewrite(() => ({ auth: { keys: [{ name: 'alice', sha256: 'nothex', rpm: 'x' }] } }));
      await t.d.waitLog((j) => j && j.msg === 'config reload failed; keeping the running configuration' && /auth\.keys\[0\]/.test(j.error),
        { from, timeoutMs: 6000, what: 'the refusal' });
      assert.equal((await t.post(ALICE, body())).status, 200);
    } finally {
      await t.close();
    }
  });
});

describe('ledger', () => {
  test('a client that leaves mid-stream: one row, 499 client_closed, its stream released, the upstream dropped', async () => {
    const dirs = makeDirs();
    const t = await startTeam({ dirs, settings: () => ({ auth: { keys: [keyEntry('alice', ALICE, { maxStreams: 1 })] } }) });
    try {
      t.anth.enqueue({
        chunks: [
          { event: 'message_start', data: { type: 'message_start', message: { id: 'm1', type: 'message', role: 'assistant', model: 'claude-up', content: [], stop_reason: null, usage: { input_tokens: 33, output_tokens: 1 } } } },
          { event: 'content_block_start', data: { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } } },
        ],
        hang: true,
      });
      const s = openStream(t.port, body('claude-x', { stream: true }), { headers: { 'x-api-key': ALICE } });
      await s.waitFor((text) => text.includes('content_block_start'), 5000, 'the stream to start');
      s.destroy();
      await t.anth.waitFor(() => t.anth.requests.length === 1 && t.anth.requests[0].clientClosed, { timeoutMs: 5000, what: 'the upstream dropped' });
      // the key's only stream slot was released: the next request is admitted
      assert.equal((await t.post(ALICE, body('gpt-4o'))).status, 200);
      await t.close({ keepDirs: true });
      const rows = ledgerRows(t.ledgerPath);
      assert.equal(rows.length, 2, JSON.stringify(rows));
      assert.deepEqual([rows[0].key, rows[0].status, rows[0].error_type, rows[0].stream, rows[0].input_tokens],
        ['alice', 499, 'client_closed', 1, 33], 'what the upstream had reported before the client left');
    } finally {
      removeDirs(dirs);
    }
  });

  test('one row per request with what the upstream reported, the key, the session, the cost', async () => {
    const dirs = makeDirs();
    const t = await startTeam({
      dirs,
      settings: () => ({
        auth: { keys: [keyEntry('alice', ALICE), keyEntry('carol', CAROL, { models: ['gpt-*'] })] },
        prices: { 'gpt-4o': { input: 2, output: 8, cacheRead: 1 } },
      }),
    });
    try {
      const session = { 'x-claude-code-session-id': '5b4c3d2e-1f00-4a6b-9c8d-7e6f5a4b3c2d' };
      assert.equal((await t.post(ALICE, body('gpt-4o'), session)).status, 200); // whole, OpenAI style
      const s = openStream(t.port, body('gpt-4o', { stream: true }), { headers: { 'x-api-key': ALICE, ...session } });
      assertCompleteStream((await s.done).text); // streamed, OpenAI style
      t.anth.enqueue({ json: anthMessage({ usage: { input_tokens: 100, output_tokens: 20, cache_read_input_tokens: 300, cache_creation_input_tokens: 40 } }) });
      const sa = openStream(t.port, body('claude-x', { stream: true }), { headers: { 'x-api-key': ALICE } });
      assertCompleteStream((await sa.done).text); // streamed, Anthropic passthrough
      t.anth.enqueue({ json: anthMessage({ usage: { input_tokens: 7, output_tokens: 3 } }) });
      assert.equal((await t.post(ALICE, body('claude-x'))).status, 200); // whole, Anthropic
      t.oai.enqueue({ status: 500, json: { error: { message: 'boom' } } });
      assert.equal((await t.post(ALICE, body('gpt-4o'))).status, 500);
      assert.equal((await t.post(CAROL, body('claude-x'))).status, 403);
      assert.equal((await t.post(ALICE, body(), {}, '/v1/messages/count_tokens')).status, 200);
      assert.equal((await t.post(ALICE, '{"model": "gpt-4o", "messages": [')).status, 400); // malformed
      assert.equal((await t.post('ccp_nobody', body())).status, 401); // no row: not a key's request
      await t.close({ keepDirs: true });
      const rows = ledgerRows(t.ledgerPath);
      assert.equal(rows.length, 8, JSON.stringify(rows, null, 1));
      const [whole, stream, anthStream, anthWhole, failed, denied, count, malformed] = rows;
      for (const r of rows) {
        assert.match(r.rid, /^req_[0-9a-f]{24}$/);
        assert.ok(r.ts > Date.now() - 120000 && r.ts <= Date.now());
        assert.ok(r.duration_ms >= 0);
      }
      assert.deepEqual(
        { key: whole.key, session: whole.session, model: whole.model, provider: whole.provider, upstream: whole.upstream_model, stream: whole.stream, status: whole.status, endpoint: whole.endpoint },
        { key: 'alice', session: '5b4c3d2e-1f00-4a6b-9c8d-7e6f5a4b3c2d', model: 'gpt-4o', provider: 'oai', upstream: 'gpt-4o', stream: 0, status: 200, endpoint: 'messages' });
      // the mock: prompt 25 of which 5 cached, completion 7 → input 20, cache read 5, output 7
      for (const r of [whole, stream]) {
        assert.deepEqual([r.input_tokens, r.output_tokens, r.cache_read_tokens, r.cache_write_tokens], [20, 7, 5, 0]);
        assert.ok(Math.abs(r.cost_usd - (20 * 2 + 7 * 8 + 5 * 1) / 1e6) < 1e-12, `cost ${r.cost_usd}`);
        assert.ok(r.ttfb_ms >= 0 && r.ttfb_ms <= r.duration_ms);
        assert.equal(r.error_type, null);
      }
      assert.equal(stream.stream, 1);
      assert.deepEqual([anthStream.input_tokens, anthStream.output_tokens, anthStream.cache_read_tokens, anthStream.cache_write_tokens], [100, 20, 300, 40]);
      assert.equal(anthStream.provider, 'anth');
      assert.equal(anthStream.upstream_model, 'claude-up');
      assert.equal(anthStream.cost_usd, null, 'claude-up has no price: cost unknown, not 0');
      assert.deepEqual([anthWhole.input_tokens, anthWhole.output_tokens], [7, 3]);
      assert.equal(failed.status, 500);
      assert.equal(failed.error_type, 'api_error');
      assert.equal(failed.input_tokens, null, 'no usage reported: unknown, not 0');
      assert.deepEqual([denied.key, denied.status, denied.error_type], ['carol', 403, 'permission_error']);
      assert.equal(count.endpoint, 'count_tokens');
      assert.equal(count.admitted, 0, 'count_tokens is not limited');
      assert.equal(whole.admitted, 1);
      assert.deepEqual([malformed.key, malformed.status, malformed.error_type, malformed.endpoint, malformed.admitted],
        ['alice', 400, 'invalid_request_error', 'messages', 0]);
      assert.equal(whole.session, stream.session);
      assert.equal(anthWhole.session, null);
    } finally {
      removeDirs(dirs);
    }
  });
});
