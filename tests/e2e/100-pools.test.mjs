// Key pools, session affinity, circuit breakers, and the rest of the fallback rules (docs/resilience.md):
// requests spread over providers.<name>.apiKeys; a 429 cools its key for the time named and the request
// moves to another key at once; a refused key (401) is out until a reload, logged without the key; a
// Claude Code session (x-claude-code-session-id) stays on its key and its candidate, and reaches the
// OpenAI flavor as a hashed prompt_cache_key; arrays in bigModel and models.map; contextFallbacks;
// retry.failoverStatuses; a chain of three whose first two fail answers within one first-byte timeout;
// the breaker opens, skips, lets one probe through, closes or opens again; /health and /metrics show it.
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkClaude, runClaude, openaiResponder, FIRST_LINE_PREFIX } from './lib/claude-cli.mjs';
import { ALICE, BOB, keyEntry, startTeam, body as teamBody } from './lib/team.mjs';
import { startDaemon, request, runCli, closedPort, sleep, waitFor, CONFIG_EXIT } from './lib/daemon.mjs';
import { startMock, oaiCompletion, DEFAULT_OAI_TEXT } from './lib/mock-upstream.mjs';

let P; // OpenAI style: the key pools
let O; // OpenAI style, the "openai" flavor (prompt_cache_key)
let A; let B; let C; // chains and sessions
let S; // hangs or answers late (first-byte timeouts)
let d;

const body = (model, extra = {}) => ({ model, max_tokens: 50, messages: [{ role: 'user', content: 'hi' }], ...extra });
const post = (port, model, headers = {}, extra = {}) => request(port, {
  method: 'POST', path: '/v1/messages', body: body(model, extra), timeoutMs: 20000,
  headers: { 'anthropic-version': '2023-06-01', 'x-api-key': 'k', ...headers },
});
const keysOf = (m) => m.requests.map((r) => r.headers.authorization);
const logs = (from, msg) => d.jsonLines().slice(from).filter((j) => j.msg === msg);
const mark = () => d.jsonLines().length;
const getJson = async (port, p) => (await request(port, { method: 'GET', path: p })).json;
const metrics = async (port) => (await request(port, { method: 'GET', path: '/metrics' })).text;
const rateLimited = (headers = {}) => ({ status: 429, headers, json: { error: { message: 'slow down', type: 'rate_limit' } } });

function settings(dead) {
  return {
    providers: {
      pool: { baseURL: `${P.url}/v1`, apiKeys: ['sk-pool-one', 'sk-pool-two', 'sk-pool-three'] },
      duo: { baseURL: `${P.url}/v1`, apiKeys: ['sk-duo-one', 'sk-duo-two'] },
      bad: { baseURL: `${P.url}/v1`, apiKey: 'sk-bad-one', apiKeys: ['sk-bad-two'] },
      solo: { baseURL: `${P.url}/v1`, apiKey: 'sk-solo-only' },
      oflav: { baseURL: `${O.url}/v1`, flavor: 'openai', apiKeys: ['sk-of-one', 'sk-of-two', 'sk-of-three'] },
      oa: { baseURL: `${A.url}/v1`, apiKey: 'sk-oa' },
      ob: { baseURL: `${B.url}/v1`, apiKey: 'sk-ob' },
      oc: { baseURL: `${C.url}/v1`, apiKey: 'sk-oc' },
      dead: { baseURL: `http://127.0.0.1:${dead}/v1`, apiKey: 'sk-dead', connectTimeoutMs: 1000 },
      stuck: { baseURL: `${S.url}/v1`, apiKey: 'sk-stuck', firstByteTimeoutMs: 60000, fallbackFirstByteTimeoutMs: 800 },
    },
    models: {
      bigModel: ['m-a@oa', 'm-b@ob'], smallModel: 'm-p@pool', preferredProvider: 'oa',
      map: {
        'pool-*': 'm-p@pool', 'duo-*': 'm-d@duo', 'bad-*': 'm-x@bad', 'solo-*': 'm-s@solo', 'oflav-*': 'gpt-5@oflav',
        'sess-*': ['m-a@oa', 'm-b@ob'],
        'three-*': ['m-d@dead', 'm-s@stuck', 'm-c@oc'],
        'stucklast-*': ['m-d@dead', 'm-s@stuck'],
        'ctx-*': 'm-small@oa',
      },
      contextFallbacks: { 'm-small@oa': ['m-big@ob'] },
    },
    retry: { failoverStatuses: [408, 429, 500, 502, 503, 529] }, // 409 and 504 left out on purpose
    breaker: { failures: 0, failureRate: 0 }, // the breaker has its own server below
    ledger: { enabled: false },
  };
}

before(async () => {
  [P, O, A, B, C, S] = await Promise.all(['P', 'O', 'A', 'B', 'C', 'S'].map((name) => startMock({ name })));
  d = await startDaemon({ homeSettings: settings(await closedPort()) });
});
after(async () => {
  if (d) await d.stop();
  for (const m of [P, O, A, B, C, S]) if (m) await m.close();
});
beforeEach(() => { for (const m of [P, O, A, B, C, S]) m.reset(); });

describe('key pools', () => {
  test('requests spread over every key of the pool', async () => {
    for (let i = 0; i < 6; i++) assert.equal((await post(d.port, 'pool-1')).status, 200);
    const used = keysOf(P);
    assert.deepEqual([...new Set(used)].sort(), ['Bearer sk-pool-one', 'Bearer sk-pool-three', 'Bearer sk-pool-two']);
    for (let i = 3; i < 6; i++) assert.equal(used[i], used[i - 3], 'round robin');
  });

  test('a 429 cools its key for the time named; the request moves to another key at once', async () => {
    P.enqueue(rateLimited({ 'retry-after': '2' }));
    const t0 = Date.now();
    const r = await post(d.port, 'pool-1');
    assert.equal(r.status, 200, r.text);
    assert.ok(Date.now() - t0 < 1500, 'no wait: another key was free');
    const [cooled, next] = keysOf(P);
    assert.notEqual(next, cooled);
    for (let i = 0; i < 4; i++) await post(d.port, 'pool-1');
    assert.ok(!keysOf(P).slice(2).includes(cooled), 'the cooling key is skipped');
    await sleep(2100);
    const before = P.requests.length;
    for (let i = 0; i < 3; i++) await post(d.port, 'pool-1');
    assert.ok(keysOf(P).slice(before).includes(cooled), 'back in the pool once its time is over');
  });

  test('a 401 takes the key out until a reload, loudly and without the key', async () => {
    const from = mark();
    P.enqueue({ status: 401, json: { error: { message: 'Incorrect API key provided', code: 'invalid_api_key' } } });
    const r = await post(d.port, 'pool-1');
    assert.equal(r.status, 200, r.text);
    const out = keysOf(P)[0];
    const [line] = logs(from, 'provider refused a key of its pool; it is out until the next reload');
    assert.ok(line, 'logged');
    assert.equal(line.provider, 'pool');
    assert.equal(line.level, 'error');
    assert.ok(line.key >= 1 && line.key <= 3);
    assert.doesNotMatch(d.stderrText(), /sk-pool-/, 'no key in any log line');
    for (let i = 0; i < 6; i++) await post(d.port, 'pool-1');
    assert.ok(!keysOf(P).slice(1).includes(out), 'never asked again');
    const h = await getJson(d.port, '/health');
    assert.deepEqual(h.upstreams.keys.filter((k) => k.provider === 'pool').map((k) => [k.key, k.state]), [[line.key, 'out']]);
    assert.doesNotMatch(JSON.stringify(h), /sk-pool/);
    assert.match(await metrics(d.port), new RegExp(`ccproxy_upstream_key_state\\{provider="pool",key="${line.key}"\\} 2`));
    d.signal('SIGHUP');
    await waitFor(() => logs(from, 'config reloaded').length > 0, { what: 'the reload' });
    const n = P.requests.length;
    for (let i = 0; i < 3; i++) await post(d.port, 'pool-1');
    assert.ok(keysOf(P).slice(n).includes(out), 'usable again after the reload');
  });

  test('every key cooling: a 429 with an integer retry-after, and no upstream request', async () => {
    P.enqueue({ ...rateLimited({ 'retry-after': '30' }), times: 2 }); // longer than retry.maxWaitSeconds
    const first = await post(d.port, 'duo-1');
    assert.equal(first.status, 429, first.text); // the provider's own answer, both keys tried
    assert.deepEqual(keysOf(P).sort(), ['Bearer sk-duo-one', 'Bearer sk-duo-two']);
    const r = await post(d.port, 'duo-1');
    assert.equal(r.status, 429, r.text);
    assert.equal(r.json.error.type, 'rate_limit_error');
    assert.match(r.headers['retry-after'], /^\d+$/);
    const s = Number(r.headers['retry-after']);
    assert.ok(s >= 28 && s <= 30, `retry-after ${s}`);
    assert.equal(P.requests.length, 2, 'nothing sent while every key cools');
  });

  test('every key refused: the provider\'s 401 once, then a 502 naming apiKeys, no key anywhere', async () => {
    P.enqueue({ status: 401, json: { error: { message: 'invalid api key' } }, times: 2 });
    const first = await post(d.port, 'bad-1');
    assert.equal(first.status, 401, first.text);
    assert.equal(P.requests.length, 2, 'each key asked once');
    const r = await post(d.port, 'bad-1');
    assert.equal(r.status, 502, r.text);
    assert.match(r.json.error.message, /apiKeys/);
    assert.doesNotMatch(r.text + d.stderrText(), /sk-bad-/);
    assert.equal(P.requests.length, 2);
  });

  test('a lone apiKey is never taken out: its 401 reaches the client, the next request is sent', async () => {
    P.enqueue({ status: 401, json: { error: { message: 'invalid api key' } } });
    assert.equal((await post(d.port, 'solo-1')).status, 401);
    assert.equal((await post(d.port, 'solo-1')).status, 200);
    assert.equal(P.requests.length, 2);
  });
});

describe('sessions', () => {
  test('one session stays on one key; when it cools the session moves and stays', async () => {
    const sess = { 'x-claude-code-session-id': '5f0c7a0e-1111-4c2b-9a57-aaaaaaaaaaaa' };
    for (let i = 0; i < 5; i++) await post(d.port, 'pool-1', sess);
    assert.equal(new Set(keysOf(P)).size, 1, keysOf(P).join());
    const [k1] = keysOf(P);
    P.enqueue(rateLimited({ 'retry-after-ms': '1000' }));
    await post(d.port, 'pool-1', sess);
    const k2 = keysOf(P)[6];
    assert.notEqual(k2, k1);
    await sleep(1100); // k1 is usable again, but the session's cache is on k2 now
    for (let i = 0; i < 4; i++) await post(d.port, 'pool-1', sess);
    assert.deepEqual(keysOf(P).slice(7), [k2, k2, k2, k2]);
  });

  test('a session stays on the candidate that served it; others start at the first', async () => {
    const sess = { 'x-claude-code-session-id': 'sess-cross-provider-1' };
    A.enqueue({ status: 503, json: { error: { message: 'down' } } });
    assert.equal((await post(d.port, 'sess-1', sess)).headers['x-ccproxy-provider'], 'ob');
    for (let i = 0; i < 3; i++) {
      const r = await post(d.port, 'sess-1', sess);
      assert.equal(r.headers['x-ccproxy-provider'], 'ob');
    }
    assert.equal(A.requests.length, 1, 'the session went straight to ob');
    assert.equal((await post(d.port, 'sess-1')).headers['x-ccproxy-provider'], 'oa', 'no session: the first');
    B.enqueue({ status: 503, json: { error: { message: 'down' } } }); // its candidate fails: the other one
    assert.equal((await post(d.port, 'sess-1', sess)).headers['x-ccproxy-provider'], 'oa');
    assert.equal((await post(d.port, 'sess-1', sess)).headers['x-ccproxy-provider'], 'oa');
  });

  test('the OpenAI flavor gets prompt_cache_key: a hash of the session, stable, never the id', async () => {
    const id = 'c0ffee00-2222-4c2b-9a57-bbbbbbbbbbbb';
    await post(d.port, 'oflav-1', { 'x-claude-code-session-id': id });
    await post(d.port, 'oflav-1', { 'x-claude-code-session-id': id });
    await post(d.port, 'oflav-1', { 'x-claude-code-session-id': 'another-session' });
    await post(d.port, 'oflav-1');
    const keys = O.requests.map((r) => r.json.prompt_cache_key);
    assert.match(keys[0], /^[0-9a-f]{32}$/);
    assert.equal(keys[1], keys[0], 'stable');
    assert.notEqual(keys[2], keys[0], 'per session');
    assert.equal(keys[3], undefined, 'no session, no key');
    for (const r of O.requests) assert.ok(!r.text.includes(id), 'the raw id never goes upstream');
    await post(d.port, 'pool-1', { 'x-claude-code-session-id': id });
    assert.equal(P.requests[0].json.prompt_cache_key, undefined, 'a generic OpenAI-compatible server gets none');
  });
});

describe('hostile session ids', () => {
  test('empty, huge, control bytes, twice: answered, hashed to 32 hex or left out, never echoed', async () => {
    const huge = 'S'.repeat(7000);
    const cases = [
      [{ 'x-claude-code-session-id': '' }, undefined],
      [{ 'x-claude-code-session-id': huge }, createHash('sha256').update(huge).digest('hex').slice(0, 32)],
      [{ 'x-claude-code-session-id': 'a\u00ffb"}{\\' }, /^[0-9a-f]{32}$/],
    ];
    for (const [hdr, want] of cases) {
      O.reset();
      const r = await post(d.port, 'oflav-1', hdr);
      assert.equal(r.status, 200, r.text);
      const key = O.requests[0].json.prompt_cache_key;
      if (want instanceof RegExp) assert.match(key, want);
      else assert.equal(key, want);
      assert.ok(!O.requests[0].text.includes('SSSSSSSS'), 'the id never goes upstream');
    }
    const twice = await post(d.port, 'oflav-1', { 'x-claude-code-session-id': ['one', 'two'] }); // sent as two lines
    assert.ok([200, 400].includes(twice.status), twice.text);
    assert.equal((await request(d.port, { method: 'GET', path: '/health' })).status, 200, 'still up');
  });
});

describe('the real Claude Code CLI', () => {
  test('one claude session over a pool of three keys: every call on one key, one prompt_cache_key from its id', async () => {
    checkClaude();
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ccproxy-pool-cc-'));
    const file = path.join(work, 'notes.txt');
    fs.writeFileSync(file, 'pools keep caches warm\nsecond line\n');
    O.enqueue(openaiResponder());
    const sid = randomUUID();
    try {
      for (let i = 0; i < 2; i++) assert.equal((await post(d.port, 'oflav-warm')).status, 200); // move the round robin
      const res = await runClaude(['-p', `read the file ${file} and tell me its first line`, '--allowedTools', 'Read',
        '--max-turns', '3', '--output-format', 'json', '--session-id', sid, '--model', 'oflav-cc'],
      { baseURL: `http://127.0.0.1:${d.port}`, cwd: work });
      const ctx = `\nexit ${res.code}\nstdout: ${res.stdout.slice(0, 1500)}\nstderr: ${res.stderr.slice(0, 1500)}`;
      assert.equal(res.code, 0, ctx);
      assert.ok(String(res.json.result).includes(FIRST_LINE_PREFIX), ctx);
      const calls = O.requests.slice(2).filter((r) => r.json && r.json.model === 'gpt-5');
      assert.ok(calls.length >= 2, `the tool call and the answer${ctx}`);
      const want = createHash('sha256').update(sid).digest('hex').slice(0, 32);
      for (const c of calls) {
        assert.equal(c.json.prompt_cache_key, want, 'the hash of the session id the CLI sent');
        assert.ok(!c.text.includes(sid), 'never the id itself');
      }
      assert.equal(new Set(calls.map((c) => c.headers.authorization)).size, 1, calls.map((c) => c.headers.authorization).join());
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
});

describe('chains', () => {
  test('bigModel as an array: its second answers when its first fails', async () => {
    A.enqueue({ status: 502, json: { error: { message: 'bad gateway' } } });
    const r = await post(d.port, 'claude-sonnet-4-5');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['x-ccproxy-provider'], 'ob');
    assert.equal(B.requests[0].json.model, 'm-b');
  });

  test('retry.failoverStatuses: a status left out (504) is the answer; one named (500) hands over', async () => {
    A.enqueue({ status: 504, json: { error: { message: 'gateway timeout' } } });
    const r = await post(d.port, 'sess-1');
    assert.equal(r.status, 504, r.text);
    assert.equal(B.requests.length, 0);
    A.enqueue({ status: 500, json: { error: { message: 'boom' } } });
    assert.equal((await post(d.port, 'sess-1')).headers['x-ccproxy-provider'], 'ob');
  });

  test('a chain of three whose first two fail (refused, silent) answers within one first-byte timeout', async () => {
    S.enqueue({ hang: true });
    const from = mark();
    const t0 = Date.now();
    const r = await post(d.port, 'three-1');
    const took = Date.now() - t0;
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['x-ccproxy-provider'], 'oc');
    assert.equal(r.json.content[0].text, DEFAULT_OAI_TEXT);
    assert.equal(S.requests.length, 1);
    assert.ok(took >= 700, `the silent one was given its 800 ms (${took})`);
    assert.ok(took < 800 + 1500, `one fallbackFirstByteTimeoutMs plus a margin, not firstByteTimeoutMs (${took} ms)`);
    assert.deepEqual(logs(from, 'upstream failed; trying the next candidate').map((j) => j.provider), ['dead', 'stuck']);
  });

  test('the last candidate keeps its own first-byte timeout', async () => {
    S.enqueue({ delayMs: 1500, json: oaiCompletion() });
    const t0 = Date.now();
    const r = await post(d.port, 'stucklast-1');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['x-ccproxy-provider'], 'stuck');
    assert.ok(Date.now() - t0 >= 1400);
  });

  test('contextFallbacks: a prompt too long for the first goes to the larger window', async () => {
    const from = mark();
    A.enqueue({
      status: 400,
      json: { error: { message: "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.", code: 'context_length_exceeded' } },
    });
    const r = await post(d.port, 'ctx-1');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['x-ccproxy-provider'], 'ob');
    assert.equal(B.requests[0].json.model, 'm-big');
    assert.match(logs(from, 'upstream failed; trying the next candidate')[0].why, /contextFallbacks/);
  });

  test('any other 400 is the answer: no fallback', async () => {
    A.enqueue({ status: 400, json: { error: { message: 'messages: bad role', type: 'invalid_request_error' } } });
    const r = await post(d.port, 'ctx-1');
    assert.equal(r.status, 400, r.text);
    assert.equal(B.requests.length, 0);
  });

  test('a developer key\'s models list holds for every candidate: one it may not use is passed over', async () => {
    const t = await startTeam({
      settings: () => ({
        auth: { keys: [keyEntry('alice', ALICE, { models: ['gpt-4o@oai'] }), keyEntry('bob', BOB)] },
        models: { bigModel: 'gpt-4o@oai', smallModel: 'gpt-4o@oai', preferredProvider: 'oai', map: { 'gpt-*': ['gpt-4o@oai', 'claude-up@anth'] } },
      }),
    });
    try {
      t.oai.enqueue({ status: 503, json: { error: { message: 'down' } }, times: 2 });
      const a = await t.post(ALICE, teamBody('gpt-4o'));
      assert.equal(a.status, 529, a.text); // oai's 503, mapped; claude-up@anth is not alice's to use
      assert.equal(t.anth.requests.length, 0);
      const b = await t.post(BOB, teamBody('gpt-4o'));
      assert.equal(b.status, 200, b.text);
      assert.equal(b.headers['x-ccproxy-provider'], 'anth');
    } finally {
      await t.close();
    }
  });

  test('every attempt is counted by outcome', async () => {
    A.enqueue({ status: 529, json: { error: { message: 'overloaded' } } });
    await post(d.port, 'sess-1');
    const text = await metrics(d.port);
    assert.match(text, /ccproxy_upstream_attempts_total\{provider="oa",model="m-a",outcome="overloaded"\} [1-9]/);
    assert.match(text, /ccproxy_upstream_attempts_total\{provider="ob",model="m-b",outcome="ok"\} [1-9]/);
    assert.match(text, /ccproxy_upstream_attempts_total\{provider="dead",model="m-d",outcome="no_answer"\} [1-9]/);
  });
});

describe('the circuit breaker', () => {
  let E; let F; let db;
  const brk = () => post(db.port, 'brk-1');
  const breakers = async () => (await getJson(db.port, '/health')).upstreams.breakers;
  const fail500 = { status: 500, json: { error: { message: 'boom' } } };

  before(async () => {
    [E, F] = await Promise.all(['E', 'F'].map((name) => startMock({ name })));
    db = await startDaemon({
      homeSettings: {
        providers: { bp: { baseURL: `${E.url}/v1`, apiKey: 'sk-bp' }, bq: { baseURL: `${F.url}/v1`, apiKey: 'sk-bq' } },
        models: { bigModel: 'm-p@bp', smallModel: 'm-p@bp', preferredProvider: 'bp', map: { 'brk-*': ['m-p@bp', 'm-q@bq'] } },
        breaker: { failures: 3, cooldownSeconds: 1, failureRate: 0 },
        retry: { maxAttempts: 1 },
        ledger: { enabled: false },
      },
    });
  });
  after(async () => {
    if (db) await db.stop();
    for (const m of [E, F]) if (m) await m.close();
  });
  beforeEach(() => { for (const m of [E, F]) if (m) m.reset(); });

  test('3 failures open it: the 4th request skips the provider; /health and /metrics show it', async () => {
    E.enqueue({ ...fail500, times: 3 });
    for (let i = 0; i < 3; i++) assert.equal((await brk()).headers['x-ccproxy-provider'], 'bq');
    assert.equal(E.requests.length, 3);
    const r = await brk();
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-ccproxy-provider'], 'bq');
    assert.equal(E.requests.length, 3, 'skipped while open');
    const b = (await breakers()).find((x) => x.provider === 'bp');
    assert.equal(b.state, 'open');
    assert.equal(b.model, 'm-p');
    assert.ok(b.open_for_ms > 0 && b.open_for_ms <= 1000);
    assert.match(await metrics(db.port), /ccproxy_breaker_state\{provider="bp",model="m-p"\} 1/);
    assert.match(db.stderrText(), /circuit opened/);
  });

  test('after the cooldown one probe goes through; its success closes it', async () => {
    await sleep(1100);
    E.enqueue({ delayMs: 600, json: oaiCompletion() }); // the probe takes a while: a request meanwhile must not probe too
    const probe = brk();
    await waitFor(() => E.requests.length === 1, { what: 'the probe' });
    const meanwhile = await brk();
    assert.equal(meanwhile.headers['x-ccproxy-provider'], 'bq', 'one probe at a time');
    assert.equal((await probe).headers['x-ccproxy-provider'], 'bp');
    assert.equal(E.requests.length, 1);
    assert.equal((await breakers()).filter((x) => x.provider === 'bp' && x.state !== 'closed').length, 0);
    assert.equal((await brk()).headers['x-ccproxy-provider'], 'bp', 'closed: asked first again');
  });

  test('a failed probe opens it for another cooldown', async () => {
    E.enqueue({ ...fail500, times: 3 });
    for (let i = 0; i < 3; i++) await brk();
    await sleep(1100);
    E.enqueue(fail500);
    assert.equal((await brk()).headers['x-ccproxy-provider'], 'bq'); // the probe failed, bq answered
    assert.equal(E.requests.length, 4);
    await brk();
    assert.equal(E.requests.length, 4, 'open again');
    assert.equal((await breakers()).find((x) => x.provider === 'bp').state, 'open');
  });
});

describe('the breaker\'s failure rate', () => {
  test('half of the last minute\'s attempts failed (4 at least): it opens without 5 in a row', async () => {
    const [E, F] = await Promise.all(['E2', 'F2'].map((name) => startMock({ name })));
    const dr = await startDaemon({
      homeSettings: {
        providers: { rp: { baseURL: `${E.url}/v1`, apiKey: 'sk-rp' }, rq: { baseURL: `${F.url}/v1`, apiKey: 'sk-rq' } },
        models: { bigModel: 'm-p@rp', smallModel: 'm-p@rp', preferredProvider: 'rp', map: { 'rate-*': ['m-p@rp', 'm-q@rq'] } },
        breaker: { failures: 0, failureRate: 0.5, minRequests: 4, windowSeconds: 60, cooldownSeconds: 30 },
        retry: { maxAttempts: 1 },
        ledger: { enabled: false },
      },
    });
    try {
      const fail = { status: 502, json: { error: { message: 'bad gateway' } } };
      const served = [];
      for (const outcome of ['ok', 'fail', 'ok']) { // 1 of 3 failed: below the rate, and below minRequests
        if (outcome === 'fail') E.enqueue(fail);
        served.push((await post(dr.port, 'rate-1')).headers['x-ccproxy-provider']);
      }
      assert.deepEqual(served, ['rp', 'rq', 'rp']);
      E.enqueue(fail); // 2 of 4: the rate is reached
      assert.equal((await post(dr.port, 'rate-1')).headers['x-ccproxy-provider'], 'rq');
      assert.equal(E.requests.length, 4);
      assert.equal((await post(dr.port, 'rate-1')).headers['x-ccproxy-provider'], 'rq');
      assert.equal(E.requests.length, 4, 'open: skipped');
      const b = (await getJson(dr.port, '/health')).upstreams.breakers.find((x) => x.provider === 'rp');
      assert.equal(b.state, 'open');
      assert.ok(b.open_for_ms > 25000, `a 30 s cooldown (${b.open_for_ms})`);
    } finally {
      await dr.stop();
      await E.close();
      await F.close();
    }
  });
});

describe('hostile resilience settings', () => {
  const cases = [
    [{ providers: { openai: { apiKeys: 'sk-a' } } }, /providers\.openai\.apiKeys/],
    [{ providers: { openai: { apiKeys: [] } } }, /providers\.openai\.apiKeys/],
    [{ providers: { openai: { apiKeys: ['sk-a', 7] } } }, /providers\.openai\.apiKeys/],
    [{ providers: { openai: { apiKeys: Array.from({ length: 17 }, (_, i) => `sk-${i}`) } } }, /providers\.openai\.apiKeys/],
    [{ providers: { openai: { fallbackFirstByteTimeoutMs: 0 } } }, /fallbackFirstByteTimeoutMs/],
    [{ retry: { failoverStatuses: [399] } }, /retry\.failoverStatuses/],
    [{ retry: { failoverStatuses: ['429'] } }, /retry\.failoverStatuses/],
    [{ retry: { failoverStatuses: 429 } }, /retry\.failoverStatuses/],
    [{ breaker: { failureRate: 1.5 } }, /breaker\.failureRate/],
    [{ breaker: { cooldownSeconds: 0 } }, /breaker\.cooldownSeconds/],
    [{ breaker: 'on' }, /breaker/],
    [{ models: { bigModel: [] } }, /models\.bigModel/],
    [{ models: { bigModel: ['gpt-5@nowhere'] } }, /models\.bigModel/],
    [{ models: { contextFallbacks: { 'gpt-4o@openai': 'gpt-4.1@openai' } } }, /models\.contextFallbacks/],
  ];
  for (const [value, re] of cases) {
    test(JSON.stringify(value).slice(0, 90), async () => {
      const r = await runCli(['config'], { homeSettings: value });
      assert.equal(r.code, CONFIG_EXIT, r.stdout + r.stderr);
      assert.match(r.stderr, re);
      assert.doesNotMatch(r.stderr, /sk-\d|sk-a\b/, 'no key in the message');
    });
  }

  test('apiKeys are redacted in `ccproxy config`', async () => {
    const r = await runCli(['config'], { homeSettings: { providers: { openai: { apiKeys: ['sk-secret-AAA', 'sk-secret-BBB'] } } } });
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, /sk-secret/);
  });
});
