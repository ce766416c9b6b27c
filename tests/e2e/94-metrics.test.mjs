// GET /metrics (docs/configuration.md, "metrics"): the Prometheus text format checked by a strict parser
// written here, exact counts after known traffic, counters kept across reloads, who may scrape (loopback,
// metrics.token, metrics.allow), the model-name cardinality bound, and hostile label values.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import http from 'node:http';
import { request, runCli } from './lib/daemon.mjs';
import { ALICE, BOB, keyEntry, startTeam, body } from './lib/team.mjs';

const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
const KEYS = [keyEntry('alice', ALICE, { models: ['gpt-*'] }), keyEntry('bob', BOB)];

// ---- a strict parser of the text exposition format 0.0.4 -----------------------------------------------

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const FLOAT_RE = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN)$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseFloatStrict(s, where) {
  if (!FLOAT_RE.test(s)) throw new Error(`${where}: not a float: ${JSON.stringify(s)}`);
  return s.endsWith('Inf') ? (s[0] === '-' ? -Infinity : Infinity) : Number(s);
}

/** Parses `{a="x",b="y"}` at <s>[<i>] (the brace) → [labels, index after the closing brace]. */
function parseLabels(s, i, where) {
  const labels = {};
  i += 1;
  if (s[i] === '}') return [labels, i + 1];
  for (;;) {
    const eq = s.indexOf('=', i);
    if (eq < 0) throw new Error(`${where}: label without '='`);
    const name = s.slice(i, eq);
    if (!LABEL_RE.test(name)) throw new Error(`${where}: bad label name ${JSON.stringify(name)}`);
    if (name in labels) throw new Error(`${where}: label ${name} twice`);
    if (s[eq + 1] !== '"') throw new Error(`${where}: label value not quoted`);
    let v = '';
    let j = eq + 2;
    for (;; j++) {
      if (j >= s.length) throw new Error(`${where}: unterminated label value`);
      const c = s[j];
      if (c === '"') break;
      if (c === '\\') {
        const n = s[++j];
        if (n === '\\') v += '\\';
        else if (n === '"') v += '"';
        else if (n === 'n') v += '\n';
        else throw new Error(`${where}: bad escape \\${n}`);
      } else {
        v += c;
      }
    }
    labels[name] = v;
    i = j + 1;
    if (s[i] === '}') return [labels, i + 1];
    if (s[i] !== ',' || s[i + 1] === '}') throw new Error(`${where}: expected ',' or '}' after a label`);
    i += 1;
  }
}

const seriesKey = (name, labels) => `${name}${JSON.stringify(Object.entries(labels).sort())}`;

/** The family a sample name belongs to (a histogram's _bucket, _sum, _count belong to it). */
function familyOf(fams, name) {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    const base = name.endsWith(suffix) ? name.slice(0, -suffix.length) : null;
    if (base && fams.get(base) && fams.get(base).type === 'histogram') return base;
  }
  return name;
}

function checkHistogram(fam, name) {
  const groups = new Map();
  for (const smp of fam.samples) {
    const { le, ...rest } = smp.labels;
    const k = JSON.stringify(Object.entries(rest).sort());
    if (!groups.has(k)) groups.set(k, { buckets: [], sum: null, count: null });
    const g = groups.get(k);
    if (smp.name === `${name}_bucket`) {
      if (le === undefined) throw new Error(`${name}: a bucket without le`);
      g.buckets.push([parseFloatStrict(le, `${name} le`), smp.value]);
    } else if (le !== undefined) {
      throw new Error(`${name}: le on ${smp.name}`);
    } else if (smp.name === `${name}_sum`) {
      g.sum = smp.value;
    } else if (smp.name === `${name}_count`) {
      g.count = smp.value;
    } else {
      throw new Error(`${name}: unexpected sample ${smp.name}`);
    }
  }
  for (const [k, g] of groups) {
    if (g.buckets.length === 0 || g.sum === null || g.count === null) throw new Error(`${name}${k}: incomplete`);
    for (let i = 1; i < g.buckets.length; i++) {
      if (!(g.buckets[i][0] > g.buckets[i - 1][0])) throw new Error(`${name}${k}: le not ascending`);
      if (g.buckets[i][1] < g.buckets[i - 1][1]) throw new Error(`${name}${k}: buckets not cumulative`);
    }
    const last = g.buckets[g.buckets.length - 1];
    if (last[0] !== Infinity) throw new Error(`${name}${k}: no +Inf bucket`);
    if (last[1] !== g.count) throw new Error(`${name}${k}: _count ${g.count} != +Inf bucket ${last[1]}`);
  }
}

/** → Map(family name → {type, help, samples: [{name, labels, value}]}); throws on anything the format or
 * our conventions forbid. */
export function parseExposition(text) {
  if (!text.endsWith('\n')) throw new Error('the text does not end with a newline');
  const fams = new Map();
  const seen = new Set();
  const closed = new Set();
  let current = null;
  const lines = text.slice(0, -1).split('\n');
  lines.forEach((line, n) => {
    const where = `line ${n + 1}`;
    const fam = (name) => {
      if (!fams.has(name)) fams.set(name, { type: null, help: null, samples: [] });
      return fams.get(name);
    };
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
      if (!m) throw new Error(`${where}: a comment that is not HELP or TYPE: ${line}`);
      const [, kw, name, rest] = m;
      if (!NAME_RE.test(name)) throw new Error(`${where}: bad metric name ${name}`);
      if (closed.has(name) || (fams.get(name) && fams.get(name).samples.length)) throw new Error(`${where}: ${kw} after samples of ${name}`);
      const f = fam(name);
      if (kw === 'HELP') {
        if (f.help !== null) throw new Error(`${where}: HELP twice for ${name}`);
        if (/\\[^\\n]|\\$/.test(rest)) throw new Error(`${where}: bad escape in HELP`);
        f.help = rest;
      } else {
        if (f.type !== null) throw new Error(`${where}: TYPE twice for ${name}`);
        if (!TYPES.has(rest)) throw new Error(`${where}: bad type ${rest}`);
        f.type = rest;
      }
      return;
    }
    const nm = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!nm) throw new Error(`${where}: not a sample: ${JSON.stringify(line)}`);
    const name = nm[0];
    let labels = {};
    let i = name.length;
    if (line[i] === '{') [labels, i] = parseLabels(line, i, where);
    const rest = line.slice(i);
    const vm = /^ (\S+)(?: (-?\d+))?$/.exec(rest);
    if (!vm) throw new Error(`${where}: bad value part ${JSON.stringify(rest)}`);
    const value = parseFloatStrict(vm[1], where);
    const fname = familyOf(fams, name);
    const f = fams.get(fname);
    if (!f || f.help === null || f.type === null) throw new Error(`${where}: ${name} without HELP and TYPE before it`);
    if (closed.has(fname)) throw new Error(`${where}: samples of ${fname} are not together`);
    if (current !== null && current !== fname) closed.add(current);
    current = fname;
    if (f.type !== 'histogram' && name !== fname) throw new Error(`${where}: ${name} in ${fname}`);
    if (f.type === 'counter' && (!fname.endsWith('_total') || !(value >= 0))) throw new Error(`${where}: bad counter ${name} ${value}`);
    const k = seriesKey(name, labels);
    if (seen.has(k)) throw new Error(`${where}: duplicate series ${k}`);
    seen.add(k);
    f.samples.push({ name, labels, value });
  });
  for (const [name, f] of fams) {
    if (f.help === null || f.type === null) throw new Error(`${name}: HELP or TYPE missing`);
    if (f.type === 'histogram') checkHistogram(f, name);
  }
  return fams;
}

/** The value of the series <name>{<labels>} (exactly those labels), or undefined. */
function val(fams, name, labels = {}) {
  const f = fams.get(familyOf(fams, name));
  const k = seriesKey(name, labels);
  const s = f && f.samples.find((x) => seriesKey(x.name, x.labels) === k);
  return s ? s.value : undefined;
}

/** Every sample of <name> as [labels, value]. */
const samples = (fams, name) => (fams.get(familyOf(fams, name))?.samples || []).filter((s) => s.name === name);

async function scrape(port, headers = {}) {
  const res = await request(port, { path: '/metrics', headers });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.headers['content-type'], CONTENT_TYPE);
  return parseExposition(res.text);
}

// ---- the parser refuses what the format forbids --------------------------------------------------------

test('the strict parser refuses broken expositions', () => {
  const ok = '# HELP a_total x\n# TYPE a_total counter\na_total{k="v"} 1\n';
  assert.equal(val(parseExposition(ok), 'a_total', { k: 'v' }), 1);
  const bad = [
    'a_total 1\n', // no HELP/TYPE
    '# HELP a_total x\na_total 1\n', // no TYPE
    '# HELP a_total x\n# TYPE a_total counter\na_total 1\n# TYPE a_total counter\n', // TYPE after samples
    `${ok}a_total{k="v"} 2\n`, // duplicate
    '# HELP a_total x\n# TYPE a_total counter\na_total{k="v} 1\n', // unterminated
    '# HELP a_total x\n# TYPE a_total counter\na_total{k="\\x"} 1\n', // bad escape
    '# HELP a_total x\n# TYPE a_total counter\na_total{k="v",} 1\n', // trailing comma
    '# HELP a_total x\n# TYPE a_total counter\na_total one\n', // not a float
    '# HELP a x\n# TYPE a counter\na 1\n', // counter without _total
    `${ok}garbage`, // no final newline
    `${ok}\n`, // an empty line
    '# HELP h x\n# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n', // not cumulative
    '# HELP h x\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n', // no +Inf
    '# HELP h x\n# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 1\n', // count != +Inf
  ];
  for (const b of bad) assert.throws(() => parseExposition(b), undefined, JSON.stringify(b));
});

// ---- counts after known traffic ------------------------------------------------------------------------

describe('metrics after known traffic', () => {
  test('requests, errors, tokens and histograms are exact; reloads count and reset nothing', async () => {
    const t = await startTeam({ settings: () => ({ auth: { keys: KEYS } }) });
    try {
      for (let i = 0; i < 3; i++) assert.equal((await t.post(ALICE, body())).status, 200);
      t.oai.enqueue({ status: 500, json: { error: { message: 'boom' } } });
      const failed = await t.post(ALICE, body());
      assert.ok(failed.status >= 500, failed.text);
      assert.equal((await t.post(null, body())).status, 401);
      assert.equal((await t.post(ALICE, body('o3@oai'))).status, 403);
      const streamed = await t.post(BOB, body('gpt-4o', { stream: true }));
      assert.equal(streamed.status, 200);
      assert.match(streamed.text, /event: message_stop/);

      const m = await scrape(t.port);
      const req = (provider, model, status, key) => val(m, 'ccproxy_requests_total', { provider, model, status: String(status), key });
      assert.equal(req('oai', 'gpt-4o', 200, 'alice'), 3);
      assert.equal(req('oai', 'gpt-4o', failed.status, 'alice'), 1);
      assert.equal(req('-', '-', 401, '-'), 1);
      assert.equal(req('oai', 'o3@oai', 403, 'alice'), 1);
      assert.equal(req('oai', 'gpt-4o', 200, 'bob'), 1);
      assert.equal(samples(m, 'ccproxy_requests_total').length, 5);

      assert.equal(val(m, 'ccproxy_errors_total', { type: 'authentication_error', origin: 'policy' }), 1);
      assert.equal(val(m, 'ccproxy_errors_total', { type: 'permission_error', origin: 'policy' }), 1);
      assert.equal(val(m, 'ccproxy_errors_total', { type: failed.json.error.type, origin: 'provider' }), 1);
      assert.equal(samples(m, 'ccproxy_errors_total').length, 3);

      // the OpenAI mock reports prompt 25 (5 cached) and completion 7 per answer
      const tok = (direction, key) => val(m, 'ccproxy_tokens_total', { direction, provider: 'oai', model: 'gpt-4o', key });
      assert.deepEqual(['input', 'cache_read', 'output', 'cache_write'].map((d) => tok(d, 'alice')), [60, 15, 21, 0]);
      assert.deepEqual(['input', 'cache_read', 'output', 'cache_write'].map((d) => tok(d, 'bob')), [20, 5, 7, 0]);
      assert.equal(samples(m, 'ccproxy_tokens_total').length, 8);

      const count = (fam, provider) => val(m, `${fam}_count`, { provider });
      const sum = (fam, provider) => val(m, `${fam}_sum`, { provider });
      assert.equal(count('ccproxy_request_duration_seconds', 'oai'), 6);
      assert.equal(count('ccproxy_request_duration_seconds', '-'), 1);
      assert.equal(count('ccproxy_added_seconds', 'oai'), 6);
      assert.equal(count('ccproxy_upstream_ttfb_seconds', 'oai'), 5, 'the 403 never went upstream');
      assert.ok(sum('ccproxy_added_seconds', 'oai') > 0);
      assert.ok(sum('ccproxy_added_seconds', 'oai') < sum('ccproxy_request_duration_seconds', 'oai'));
      assert.ok(sum('ccproxy_upstream_ttfb_seconds', 'oai') > 0);
      assert.equal(samples(m, 'ccproxy_upstream_retries_total').length, 0);

      assert.equal(val(m, 'ccproxy_active_requests'), 0);
      assert.equal(val(m, 'ccproxy_active_streams'), 0);
      assert.ok(val(m, 'ccproxy_open_connections') >= 1);
      assert.ok(val(m, 'process_open_fds') > 3);
      assert.ok(val(m, 'process_max_fds') >= val(m, 'process_open_fds'));
      assert.ok(val(m, 'process_resident_memory_bytes') > 1e6);
      const start = val(m, 'process_start_time_seconds');
      assert.ok(start > Date.now() / 1000 - 600 && start <= Date.now() / 1000 + 1, `start ${start}`);
      assert.equal(samples(m, 'ccproxy_build_info').length, 1);
      assert.equal(samples(m, 'ccproxy_build_info')[0].value, 1);
      assert.match(samples(m, 'ccproxy_build_info')[0].labels.version, /^\d+\.\d+\.\d+/);
      assert.equal(val(m, 'ccproxy_ledger_rows_dropped_total'), 0);
      assert.equal(val(m, 'ccproxy_config_reloads_total', { result: 'ok' }), 0);

      // HEAD: the head only
      const head = await request(t.port, { method: 'HEAD', path: '/metrics' });
      assert.equal(head.status, 200);
      assert.equal(head.headers['content-type'], CONTENT_TYPE);
      assert.equal(head.text, '');
      assert.equal((await request(t.port, { method: 'POST', path: '/metrics', body: {} })).status, 405);

      // a reload counts, and resets nothing; a refused one counts as an error
      let from = t.d.mark();
      t.rewrite(() => ({ auth: { keys: KEYS }, metrics: { maxModels: 50 } }));
      await t.d.waitLog((j) => j && j.msg === 'config reloaded', { from, timeoutMs: 6000, what: 'the reload' });
      from = t.d.mark();
      t.rewrite(() => ({ auth: { keys: KEYS }, metrics: { allow: ['10.0.0.0/8', '10.1/16'] } }));
      await t.d.waitLog((j) => j && j.msg === 'config reload failed; keeping the running configuration' &&
        /metrics\.allow\[1\]: "10\.1\/16" is not an address range/.test(j.error), { from, timeoutMs: 6000, what: 'the refusal' });
      const m2 = await scrape(t.port);
      assert.equal(val(m2, 'ccproxy_config_reloads_total', { result: 'ok' }), 1);
      assert.equal(val(m2, 'ccproxy_config_reloads_total', { result: 'error' }), 1);
      assert.equal(val(m2, 'ccproxy_requests_total', { provider: 'oai', model: 'gpt-4o', status: '200', key: 'alice' }), 3);
      assert.equal(val(m2, 'ccproxy_request_duration_seconds_count', { provider: 'oai' }), 6);
    } finally {
      await t.close();
    }
  });

  test('model names: at most metrics.maxModels label values, the rest "other"; hostile names escaped', async () => {
    const t = await startTeam({ settings: () => ({ metrics: { maxModels: 100 } }) });
    try {
      const hostile = 'q"uo\\te\nnl\\n{x="y"}@oai';
      assert.equal((await t.post(null, body(hostile))).status, 200);
      const names = Array.from({ length: 150 }, (_, i) => `m-${String(i).padStart(3, '0')}@oai`);
      for (let i = 0; i < names.length; i += 15) {
        const res = await Promise.all(names.slice(i, i + 15).map((n) => t.post(null, body(n))));
        for (const r of res) assert.equal(r.status, 200, r.text);
      }
      const m = await scrape(t.port);
      const reqs = samples(m, 'ccproxy_requests_total');
      const models = new Set(reqs.map((s) => s.labels.model));
      assert.equal(models.size, 101, [...models].join(' '));
      assert.ok(models.has('other'));
      assert.ok(models.has(hostile), 'the hostile name reads back as sent');
      const other = reqs.filter((s) => s.labels.model === 'other').reduce((a, s) => a + s.value, 0);
      assert.equal(other, 51, 'the hostile name took one of the 100 places');
      assert.equal(reqs.reduce((a, s) => a + s.value, 0), 151);
      assert.equal(val(m, 'ccproxy_tokens_total', { direction: 'input', provider: 'oai', model: 'other', key: '-' }), 51 * 20);
    } finally {
      await t.close();
    }
  });
});

test('an upstream request sent again (a learned output-token cap) counts in ccproxy_upstream_retries_total', async () => {
  const t = await startTeam();
  try {
    t.oai.enqueue({ status: 400, json: { error: { message: 'max_tokens is too large: 32000. This model supports at most 4096 completion tokens.' } } });
    const r = await t.post(null, body('capme@oai', { max_tokens: 32000 }));
    assert.equal(r.status, 200, r.text);
    assert.equal(t.oai.requests.length, 2);
    const m = await scrape(t.port);
    assert.equal(val(m, 'ccproxy_upstream_retries_total', { provider: 'oai' }), 1);
    assert.equal(val(m, 'ccproxy_requests_total', { provider: 'oai', model: 'capme@oai', status: '200', key: '-' }), 1);
    assert.equal(val(m, 'ccproxy_upstream_ttfb_seconds_count', { provider: 'oai' }), 1, 'one request, one observation');
    assert.equal(samples(m, 'ccproxy_errors_total').length, 0, 'the retried 400 is no error of the request');
    assert.ok(val(m, 'ccproxy_added_seconds_sum', { provider: 'oai' }) < val(m, 'ccproxy_request_duration_seconds_sum', { provider: 'oai' }));
  } finally {
    await t.close();
  }
});

// ---- who may scrape ------------------------------------------------------------------------------------

function lanAddress() {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list || []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return null;
}

/** GET <path> (/metrics) at <host>:<port> (a peer that is not loopback). */
function getFrom(host, port, headers = {}, path = '/metrics') {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, method: 'GET', path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c) => { text += c; }).on('end', () => {
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, text, json });
      });
    });
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

describe('access to /metrics', () => {
  const lan = lanAddress();

  test('/health from another address: breakers and keys (upstreams) only with a developer key or the metrics token', { skip: !lan && 'no non-loopback IPv4 address' }, async () => {
    const t = await startTeam({ settings: () => ({ metrics: { token: 'tok-123' }, auth: { keys: KEYS } }), daemon: { args: ['--host', '0.0.0.0'] } });
    try {
      const health = (headers) => getFrom(lan, t.port, headers, '/health');
      assert.deepEqual((await health({})).json, { status: 'ok', service: 'ccproxy' });
      assert.deepEqual((await health({ 'x-api-key': 'ccp_not_a_key_of_this_server' })).json, { status: 'ok', service: 'ccproxy' });
      assert.deepEqual((await health({ authorization: 'Bearer tok-12' })).json, { status: 'ok', service: 'ccproxy' });
      assert.deepEqual((await health({ 'x-api-key': BOB })).json.upstreams, { breakers: [], keys: [] });
      assert.deepEqual((await health({ authorization: `Bearer ${ALICE}` })).json.upstreams, { breakers: [], keys: [] });
      assert.deepEqual((await health({ authorization: 'Bearer tok-123' })).json.upstreams, { breakers: [], keys: [] });
    } finally {
      await t.close();
    }
  });

  test('other addresses: 401 without or with a wrong metrics.token, 200 with it; 403 without a token set; metrics.allow admits', { skip: !lan && 'no non-loopback IPv4 address' }, async () => {
    const t = await startTeam({ settings: () => ({ metrics: { token: 'tok-123' } }), daemon: { args: ['--host', '0.0.0.0'] } });
    try {
      const none = await getFrom(lan, t.port);
      assert.equal(none.status, 401);
      assert.equal(none.json.error.type, 'authentication_error');
      assert.equal((await getFrom(lan, t.port, { authorization: 'Bearer tok-12' })).status, 401);
      assert.equal((await getFrom(lan, t.port, { authorization: 'Bearer tok-1234' })).status, 401);
      assert.equal((await getFrom(lan, t.port, { authorization: 'Basic tok-123' })).status, 401);
      const ok = await getFrom(lan, t.port, { authorization: 'Bearer tok-123' });
      assert.equal(ok.status, 200);
      parseExposition(ok.text);
      await scrape(t.port); // loopback needs nothing
      assert.ok(!t.d.stderrText().includes('tok-12'), 'a token in the log');

      let from = t.d.mark();
      t.rewrite(() => ({}));
      await t.d.waitLog((j) => j && j.msg === 'config reloaded', { from, timeoutMs: 6000, what: 'the reload' });
      const refused = await getFrom(lan, t.port, { authorization: 'Bearer tok-123' });
      assert.equal(refused.status, 403);
      assert.equal(refused.json.error.type, 'permission_error');

      from = t.d.mark();
      t.rewrite(() => ({ metrics: { allow: ['fd00::/8', `${lan}/32`] } }));
      await t.d.waitLog((j) => j && j.msg === 'config reloaded', { from, timeoutMs: 6000, what: 'the reload' });
      const allowed = await getFrom(lan, t.port);
      assert.equal(allowed.status, 200);
      const m = parseExposition(allowed.text);
      // the refusals above were counted as policy errors
      assert.equal(val(m, 'ccproxy_errors_total', { type: 'authentication_error', origin: 'policy' }), 4);
      assert.equal(val(m, 'ccproxy_errors_total', { type: 'permission_error', origin: 'policy' }), 1);
    } finally {
      await t.close();
    }
  });

  test('metrics.token is redacted in `ccproxy config`', async () => {
    const t = await startTeam({ settings: () => ({ metrics: { token: 'tok-SECRET-1' } }) });
    try {
      const res = await runCli(['config'], { dirs: t.dirs });
      assert.equal(res.code, 0, res.stderr);
      assert.ok(!res.stdout.includes('tok-SECRET-1'));
      assert.match(res.stdout, /"token": "<redacted>"/);
    } finally {
      await t.close();
    }
  });
});
