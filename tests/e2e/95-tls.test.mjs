// TLS on the listener (server.tls, lib/net/cp_tls.c, lib/net/cp_conn.c): a certificate chain made here
// with the openssl command (a root, an intermediate, leaves for 127.0.0.1), then the real clients over
// HTTPS: curl --cacert, the official SDK and the real Claude Code CLI (both trusting the root through
// NODE_EXTRA_CA_CERTS), streaming included. Also: TLS 1.2 / 1.3 and minVersion, plain HTTP to the TLS
// port (a 400 that says https, then a close), garbage (a close, not a hang), a client that leaves before
// its answer (noticed through TLS), pipelined requests, SIGHUP re-reading the certificate while a stream
// on the old one finishes, a bad certificate at reload (refused, the old one kept), and hostile
// server.tls settings and files at start (exit 78 naming the key and file, never a hang or a prompt).
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import https from 'node:https';
import tls from 'node:tls';
import {
  startDaemon, request, runCli, makeDirs, removeDirs, SANITIZER_RE, CONFIG_EXIT, sleep, waitFor,
} from './lib/daemon.mjs';
import { startMock, DEFAULT_OAI_TEXT } from './lib/mock-upstream.mjs';
import { E2E_DIR } from './lib/proxy.mjs';
import { openStream, oaiTextChunks, streamedText } from './lib/stream.mjs';
import { checkClaude, runClaude, openaiResponder, MOCK_HI } from './lib/claude-cli.mjs';
import { makeLaunchDirs, ccproxy, claudeRuns, writeSettings, cleanupLaunch } from './lib/launcher.mjs';
import { keyEntry, ALICE } from './lib/team.mjs';

const PROVIDER_KEY = 'sk-prov-TLS-SECRET-0123';
let pki;
let mock;
let d;

/** curl <args>, bounded and asynchronous (the mock upstream lives in this process). → {code, stdout} */
function curl(args) {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '10', ...args], { encoding: 'utf8', timeout: 15000 }, (err, stdout) => {
      resolve({ code: err ? err.code : 0, stdout });
    });
  });
}

/** openssl, bounded. */
function ossl(args, cwd) {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], timeout: 15000 });
}

/** A root CA, an intermediate CA, and leaves signed by the intermediate for 127.0.0.1 and localhost. */
function makePki() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ccproxy-tls-'));
  const ext = (name, text) => { fs.writeFileSync(path.join(dir, name), text); return name; };
  const ca = 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n';
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ossl(['req', '-x509', ...ec, '-keyout', 'root.key', '-out', 'root.pem', '-days', '3', '-subj', '/CN=ccproxy test root',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  ossl(['req', ...ec, '-keyout', 'int.key', '-out', 'int.csr', '-subj', '/CN=ccproxy test intermediate'], dir);
  ossl(['x509', '-req', '-in', 'int.csr', '-CA', 'root.pem', '-CAkey', 'root.key', '-CAcreateserial', '-days', '3',
    '-out', 'int.pem', '-extfile', ext('ca.ext', ca)], dir);
  const leaf = (name, days = 3) => {
    ossl(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
    ossl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'int.pem', '-CAkey', 'int.key', '-CAcreateserial', '-days', String(days),
      '-out', `${name}.leaf`, '-extfile', ext('leaf.ext', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n')], dir);
    // the file the server is given: the leaf, then the intermediate (clients trust only the root)
    fs.writeFileSync(path.join(dir, `${name}.pem`), fs.readFileSync(path.join(dir, `${name}.leaf`), 'utf8') + fs.readFileSync(path.join(dir, 'int.pem'), 'utf8'));
    fs.chmodSync(path.join(dir, `${name}.key`), 0o600);
    const der = new crypto.X509Certificate(fs.readFileSync(path.join(dir, `${name}.leaf`)));
    return { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`), fingerprint: der.fingerprint256 };
  };
  // self-signed, as on a machine of one's own: the launcher hands this very file to claude
  ossl(['req', '-x509', ...ec, '-keyout', 'self.key', '-out', 'self.pem', '-days', '3', '-subj', '/CN=self',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], dir);
  fs.chmodSync(path.join(dir, 'self.key'), 0o600);
  const p = { dir, root: path.join(dir, 'root.pem'), a: leaf('server-a'), b: leaf('server-b'), old: leaf('server-old', -1) };
  p.self = { cert: path.join(dir, 'self.pem'), key: path.join(dir, 'self.key') };
  p.rootPem = fs.readFileSync(p.root, 'utf8');
  return p;
}

/** Settings of a proxy on TLS with <files> ({cert, key}) and an OpenAI-style mock. */
function tlsSettings(files, extra = {}) {
  return {
    server: { tls: { cert: files.cert, key: files.key, ...extra } },
    providers: { oai: { baseURL: `${mock.url}/v1`, apiKey: PROVIDER_KEY } },
    models: { bigModel: 'gpt-big@oai', smallModel: 'gpt-small@oai', preferredProvider: 'oai' },
    ledger: { enabled: false },
  };
}

const body = (extra = {}) => ({ model: 'claude-sonnet-4-5', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }], ...extra });

/** The fingerprint of the certificate the server presents to a new connection, and the TLS version. */
function peer(port, opts = {}) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: pki.rootPem, ...opts }, () => {
      const r = { fingerprint: s.getPeerX509Certificate().fingerprint256, version: s.getProtocol(), alpn: s.alpnProtocol };
      s.end();
      resolve(r);
    });
    s.setTimeout(5000, () => s.destroy(new Error('TLS connect timed out')));
    s.on('error', reject);
  });
}

/** A raw TLS socket to <port>: write(text), and read everything until the server closes. */
function tlsSocket(port) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: pki.rootPem }, () => {
      let data = '';
      s.setEncoding('utf8').on('data', (c) => { data += c; });
      const closed = new Promise((r) => s.on('close', () => r(data)));
      resolve({ s, text: () => data, closed });
    });
    s.setTimeout(10000, () => s.destroy(new Error('TLS socket timed out')));
    s.on('error', reject);
  });
}

/** node (with the SDK installed in tests/e2e) running <code> as a module; → {code, stdout, stderr}. */
function nodeScript(code, env, timeoutMs = 30000) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--input-type=module', '-e', code], {
      cwd: E2E_DIR, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c) => { stdout += c; });
    p.stderr.on('data', (c) => { stderr += c; });
    const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`node script timed out\n${stderr}`)); }, timeoutMs);
    p.on('close', (c) => { clearTimeout(timer); resolve({ code: c, stdout, stderr }); });
  });
}

const SDK_STREAM = `
import Anthropic from '@anthropic-ai/sdk';
const c = new Anthropic({ baseURL: process.env.BASE, apiKey: 'sk-ant-client', maxRetries: 0, timeout: 15000 });
try {
  const s = c.messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] });
  let text = '';
  s.on('text', (t) => { text += t; });
  const m = await s.finalMessage();
  console.log(JSON.stringify({ text, usage: m.usage, stop: m.stop_reason }));
} catch (e) {
  const causes = [];
  for (let c = e.cause; c && causes.length < 5; c = c.cause) causes.push(String(c.code || c.message));
  console.log(JSON.stringify({ error: e.constructor.name, message: String(e.message), cause: causes.join(' / ') }));
}`;

before(async () => {
  pki = makePki();
  mock = await startMock({ name: 'oai' });
  d = await startDaemon({ homeSettings: tlsSettings(pki.a), tlsCA: pki.rootPem });
});
after(async () => {
  if (d) await d.stop();
  if (mock) await mock.close();
  if (pki) fs.rmSync(pki.dir, { recursive: true, force: true });
});
beforeEach(() => mock.reset());

describe('HTTPS with the real clients', () => {
  test('curl --cacert (the root only: the server sends the intermediate): /health and a Messages request', async () => {
    const base = `https://127.0.0.1:${d.port}`;
    const health = JSON.parse((await curl(['--cacert', pki.root, `${base}/health`])).stdout);
    assert.equal(health.status, 'ok');
    assert.equal(health.pid, d.proc.pid);
    const out = (await curl(['--cacert', pki.root, '-H', 'content-type: application/json',
      '-H', 'anthropic-version: 2023-06-01', '-H', 'x-api-key: sk-ant-client', '--data-binary', JSON.stringify(body()),
      '-w', '\n%{http_code} %{ssl_verify_result}', `${base}/v1/messages`])).stdout;
    const [json, tail] = [out.slice(0, out.lastIndexOf('\n')), out.slice(out.lastIndexOf('\n') + 1)];
    assert.equal(tail, '200 0', out);
    const m = JSON.parse(json);
    assert.equal(m.type, 'message');
    assert.equal(m.content[0].text, DEFAULT_OAI_TEXT);
    assert.equal(mock.requests.length, 1);
    assert.equal(mock.requests[0].headers.authorization, `Bearer ${PROVIDER_KEY}`);
    // without the root, curl refuses the certificate: TLS is really in use and really verified
    assert.equal((await curl([`${base}/health`])).code, 60, 'curl: peer certificate cannot be authenticated');
  });

  test('TLS 1.3 by default, TLS 1.2 accepted (minVersion "1.2"), ALPN http/1.1', async () => {
    const v13 = await peer(d.port, { ALPNProtocols: ['h2', 'http/1.1'] });
    assert.equal(v13.version, 'TLSv1.3');
    assert.equal(v13.fingerprint, pki.a.fingerprint);
    assert.equal(v13.alpn, 'http/1.1');
    const v12 = await peer(d.port, { maxVersion: 'TLSv1.2', ALPNProtocols: ['h2'] });
    assert.equal(v12.version, 'TLSv1.2');
    assert.equal(v12.alpn, false, 'h2 alone is not agreed: the connection goes on as HTTP/1.1');
  });

  test('the official SDK streams over HTTPS (NODE_EXTRA_CA_CERTS); without the root it gets a connection error', async () => {
    mock.enqueue({ chunks: oaiTextChunks(['Hello ', 'over ', 'TLS']), gapMs: 20 });
    const ok = await nodeScript(SDK_STREAM, { BASE: `https://127.0.0.1:${d.port}`, NODE_EXTRA_CA_CERTS: pki.root });
    const r = JSON.parse(ok.stdout.trim().split('\n').pop());
    assert.equal(r.text, 'Hello over TLS', ok.stdout + ok.stderr);
    assert.equal(r.stop, 'end_turn');
    assert.equal(r.usage.output_tokens, 9);
    assert.equal(mock.requests[0].json.stream, true);
    const bad = await nodeScript(SDK_STREAM, { BASE: `https://127.0.0.1:${d.port}` });
    const e = JSON.parse(bad.stdout.trim().split('\n').pop());
    assert.equal(e.error, 'APIConnectionError', bad.stdout);
    assert.match(e.cause, /CERT|certificate|issuer/i, bad.stdout);
  });

  test('the real Claude Code CLI streams through HTTPS (NODE_EXTRA_CA_CERTS)', async () => {
    checkClaude();
    mock.enqueue(openaiResponder());
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ccproxy-tls-cc-'));
    try {
      const res = await runClaude(['-p', 'say hi', '--output-format', 'json'], {
        baseURL: `https://127.0.0.1:${d.port}`, cwd: work, env: { NODE_EXTRA_CA_CERTS: pki.root },
      });
      const ctx = `\nexit ${res.code}\nstdout: ${res.stdout.slice(0, 2000)}\nstderr: ${res.stderr.slice(0, 2000)}\n${d.stderrText().slice(-3000)}`;
      assert.equal(res.code, 0, ctx);
      assert.equal(res.json.is_error, false, ctx);
      assert.ok(String(res.json.result).includes(MOCK_HI), ctx);
      const calls = mock.requests.filter((r) => /\/chat\/completions$/.test(r.path));
      assert.ok(calls.length >= 1, ctx);
      for (const c of calls) assert.equal(c.json.stream, true, `streamed upstream calls${ctx}`);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
});

describe('the TLS port and odd clients', () => {
  test('plain HTTP to the TLS port: a 400 that says https://, then a close', async () => {
    const r = await request(d.port, { path: '/health', timeoutMs: 3000 });
    assert.equal(r.status, 400);
    assert.equal(r.json.type, 'error');
    assert.equal(r.json.error.type, 'invalid_request_error');
    assert.match(r.json.error.message, /https:\/\//);
    assert.equal(r.headers.connection, 'close');
    const p = await request(d.port, { method: 'POST', path: '/v1/messages', body: body(), timeoutMs: 3000 });
    assert.equal(p.status, 400);
    assert.equal(mock.requests.length, 0, 'nothing reached the upstream');
  });

  test('bytes that are neither TLS nor HTTP: the connection is closed at once, the server serves on', async () => {
    const net = await import('node:net');
    const closedIn = await new Promise((resolve, reject) => {
      const t0 = Date.now();
      const s = net.connect(d.port, '127.0.0.1', () => s.write(Buffer.from('\x00\x01\x02garbage\r\n\r\n')));
      s.on('data', () => {});
      s.on('close', () => resolve(Date.now() - t0));
      s.on('error', () => {});
      setTimeout(() => { s.destroy(); reject(new Error('the server kept a garbage connection open for 5 s')); }, 5000);
    });
    assert.ok(closedIn < 3000, `closed after ${closedIn} ms`);
    const h = await request(d.port, { path: '/health', ca: pki.rootPem });
    assert.equal(h.status, 200);
  });

  test('a client that leaves before its answer is noticed through TLS: the upstream request is cancelled', async () => {
    mock.enqueue({ hang: true });
    const from = d.mark();
    const st = openStream(d.port, body({ stream: true }), { ca: pki.rootPem });
    await waitFor(() => mock.requests.length === 1, { what: 'the upstream request' });
    st.destroy();
    await waitFor(() => mock.requests[0].clientClosed, { timeoutMs: 5000, what: 'the upstream request cancelled' });
    const line = await d.waitLog((j) => j && j.msg === 'request' && j.path === '/v1/messages', { from });
    assert.equal(line.status, 499);
  });

  test('a connection over the per-peer limit is refused over TLS: a readable 429, then a close', async () => {
    const d6 = await startDaemon({ homeSettings: { ...tlsSettings(pki.a), server: { tls: { cert: pki.a.cert, key: pki.a.key }, maxConnectionsPerPeer: 1 } }, tlsCA: pki.rootPem });
    try {
      const held = await tlsSocket(d6.port);
      await waitFor(async () => (await d6.jsonLines()).length > 0, { what: 'the daemon log' });
      const extra = await tlsSocket(d6.port);
      extra.s.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      const text = await extra.closed;
      assert.match(text, /^HTTP\/1\.1 429 /, text);
      assert.match(text, /"type":"rate_limit_error"/);
      held.s.end();
    } finally {
      await d6.stop();
    }
  });

  test('the framing checks see the decrypted bytes: two Content-Lengths over TLS get 400 and a close', async () => {
    const c = await tlsSocket(d.port);
    c.s.write('POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}');
    const text = await c.closed;
    assert.match(text, /^HTTP\/1\.1 400 /, text);
    assert.match(text, /"type":"invalid_request_error"/);
    assert.equal(mock.requests.length, 0);
  });

  test('no Nagle stall: keep-alive requests over TLS answer in milliseconds, not after a delayed ACK', async () => {
    // the head and the body of an answer leave as two TLS records; with Nagle's algorithm the second one
    // waited for the client's delayed ACK (40 ms on Linux) on every request of a kept-alive connection
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const times = [];
      for (let i = 0; i < 21; i++) {
        const t0 = process.hrtime.bigint();
        const r = await request(d.port, { path: '/health', ca: pki.rootPem, agent });
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
        assert.equal(r.status, 200);
        if (i > 0) assert.equal(r.reusedSocket, true, 'one kept-alive connection');
      }
      const rest = times.slice(1).sort((a, b) => a - b); // the first one paid the handshake
      const median = rest[rest.length >> 1];
      assert.ok(median < 25, `median ${median.toFixed(1)} ms over 20 kept-alive requests: ${rest.map((t) => t.toFixed(1)).join(' ')}`);
    } finally {
      agent.destroy();
    }
  });

  test('pipelined requests over one TLS connection, the first one slow: both answered in order', async () => {
    mock.enqueue({ delayMs: 300, json: { id: 'x', object: 'chat.completion', model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'first' }, finish_reason: 'stop' }] } });
    const c = await tlsSocket(d.port);
    const one = JSON.stringify(body());
    const req = (last) => `POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\nanthropic-version: 2023-06-01\r\n` +
      `x-api-key: k\r\ncontent-length: ${Buffer.byteLength(one)}\r\n${last ? 'connection: close\r\n' : ''}\r\n${one}`;
    c.s.write(req(false) + req(true));
    const text = await c.closed;
    const heads = text.match(/HTTP\/1\.1 \d+/g);
    assert.deepEqual(heads, ['HTTP/1.1 200', 'HTTP/1.1 200'], text);
    assert.ok(text.indexOf('"first"') < text.indexOf(DEFAULT_OAI_TEXT), text);
  });
});

describe('reload', () => {
  test('SIGHUP re-reads the certificate: new connections get the new one, a stream on the old one finishes', async () => {
    const dirs = makeDirs();
    const live = { cert: path.join(dirs.home, 'live.pem'), key: path.join(dirs.home, 'live.key') };
    fs.copyFileSync(pki.a.cert, live.cert);
    fs.copyFileSync(pki.a.key, live.key);
    fs.chmodSync(live.key, 0o600);
    const d2 = await startDaemon({ dirs, homeSettings: tlsSettings(live), tlsCA: pki.rootPem });
    try {
      assert.equal((await peer(d2.port)).fingerprint, pki.a.fingerprint);
      const pieces = Array.from({ length: 12 }, (_, i) => `p${i} `);
      mock.enqueue({ chunks: oaiTextChunks(pieces), gapMs: 100 });
      const st = openStream(d2.port, body({ stream: true }), { ca: pki.rootPem });
      await st.waitFor((t) => t.includes('p1 '), 5000, 'the stream under way');
      // a renewal as certbot does it: new files in place, then a reload
      fs.copyFileSync(pki.b.cert, `${live.cert}.new`);
      fs.renameSync(`${live.cert}.new`, live.cert);
      fs.copyFileSync(pki.b.key, `${live.key}.new`);
      fs.chmodSync(`${live.key}.new`, 0o600);
      fs.renameSync(`${live.key}.new`, live.key);
      const from = d2.mark();
      d2.signal('SIGHUP');
      await d2.waitLog('config reloaded', { from });
      assert.equal((await peer(d2.port)).fingerprint, pki.b.fingerprint, 'a new connection gets the new certificate');
      const r = await st.done;
      assert.equal(r.status, 200);
      assert.ok(r.complete, 'the old stream ended normally');
      assert.equal(streamedText(r.events), pieces.join(''), 'and lost nothing');

      // a broken certificate at reload: refused, logged, the running one kept
      fs.writeFileSync(live.cert, 'not a certificate\n');
      const from2 = d2.mark();
      d2.signal('SIGHUP');
      const fail = await d2.waitLog('config reload failed; keeping the running configuration', { from: from2 });
      assert.match(fail.error, /server\.tls\.cert: .*live\.pem: not a PEM certificate/);
      assert.equal((await peer(d2.port)).fingerprint, pki.b.fingerprint);
      const h = await request(d2.port, { path: '/health', ca: pki.rootPem });
      assert.equal(h.status, 200);
    } finally {
      await d2.stop();
      removeDirs(dirs);
    }
  });

  test('minVersion "1.3": a TLS 1.2 client is refused, TLS 1.3 served', async () => {
    const d3 = await startDaemon({ homeSettings: tlsSettings(pki.a, { minVersion: '1.3' }), tlsCA: pki.rootPem });
    try {
      await assert.rejects(peer(d3.port, { maxVersion: 'TLSv1.2' }), /protocol version|alert/i);
      assert.equal((await peer(d3.port)).version, 'TLSv1.3');
      assert.match(d3.stderrText(), /"msg":"TLS on".*"minVersion":"1\.3"/);
    } finally {
      await d3.stop();
    }
  });
});

describe('the command line with a TLS proxy', () => {
  test('the launcher starts the proxy on TLS, gives claude its https:// address and certificate; status and stop work', async () => {
    const dirs = makeLaunchDirs();
    try {
      const port = (await import('./lib/daemon.mjs')).freePort;
      const p = await port();
      writeSettings(dirs, p, { ...tlsSettings(pki.self), server: { tls: pki.self } });
      const r = await ccproxy(['-p', 'hi'], dirs);
      assert.equal(r.code, 0, r.stderr);
      const [run] = claudeRuns(dirs);
      assert.equal(run.env.ANTHROPIC_BASE_URL, `https://127.0.0.1:${p}`);
      assert.equal(run.env.NODE_EXTRA_CA_CERTS, pki.self.cert);
      assert.equal(run.health.status, 200, JSON.stringify(run.health)); // claude's own HTTPS request, verified
      const st = JSON.parse((await ccproxy(['status', '--json'], dirs)).stdout);
      assert.equal(st.running, true, JSON.stringify(st));
      assert.equal(st.identity, 'yours');
      assert.equal(st.url, `https://127.0.0.1:${p}`);
      // NODE_EXTRA_CA_CERTS already set by the user (a private CA's root, say) is kept
      const r2 = await ccproxy(['-p', 'hi'], dirs, { env: { NODE_EXTRA_CA_CERTS: pki.root } });
      assert.equal(r2.code, 0, r2.stderr);
      assert.equal(claudeRuns(dirs).find((x) => x.pid !== run.pid).env.NODE_EXTRA_CA_CERTS, pki.root);
      const stop = await ccproxy(['stop'], dirs);
      assert.equal(stop.code, 0, stop.stderr);
    } finally {
      await cleanupLaunch(dirs);
    }
  });

  test('a laptop on a team server with a private CA: NODE_EXTRA_CA_CERTS is trusted by status and the launcher too', async () => {
    const t = await startDaemon({ homeSettings: { ...tlsSettings(pki.a), auth: { keys: [keyEntry('alice', ALICE)] } }, tlsCA: pki.rootPem });
    const dirs = makeLaunchDirs();
    try {
      const url = `https://127.0.0.1:${t.port}`;
      writeSettings(dirs, 1, { client: { url, key: ALICE } });
      const bad = await ccproxy(['status', '--json'], dirs);
      const bj = JSON.parse(bad.stdout);
      assert.equal(bj.reachable, false, bad.stdout);
      assert.match(JSON.stringify(bj), /certificate|SSL/i);
      const ok = await ccproxy(['status', '--json'], dirs, { env: { NODE_EXTRA_CA_CERTS: pki.root } });
      const oj = JSON.parse(ok.stdout);
      assert.equal(oj.reachable, true, ok.stdout + ok.stderr);
      assert.equal(oj.key, 'alice');
      const r = await ccproxy(['-p', 'hi'], dirs, { env: { NODE_EXTRA_CA_CERTS: pki.root } });
      assert.equal(r.code, 0, r.stderr);
      const [run] = claudeRuns(dirs);
      assert.equal(run.env.ANTHROPIC_BASE_URL, url);
      assert.equal(run.env.ANTHROPIC_AUTH_TOKEN, ALICE);
      assert.equal(run.health.status, 200, JSON.stringify(run.health));
    } finally {
      await cleanupLaunch(dirs);
      await t.stop();
    }
  });
});

describe('hostile server.tls', () => {
  /** `ccproxy server` with <tlsValue> as server.tls; it must exit quickly. → {code, stderr} */
  async function startBad(tlsValue, { files = {} } = {}) {
    const dirs = makeDirs();
    try {
      const res = await runCli(['server', '--host', '127.0.0.1', '--port', '0'], {
        dirs, homeSettings: { server: { tls: tlsValue(dirs) } }, files, timeoutMs: 8000,
      });
      assert.doesNotMatch(res.stderr, SANITIZER_RE, res.stderr);
      assert.doesNotMatch(res.stderr, /BEGIN|PRIVATE KEY-----/, 'no key material in the log');
      return res;
    } finally {
      removeDirs(dirs);
    }
  }
  const cases = [
    ['only a certificate', () => ({ cert: pki.a.cert }), /server\.tls: needs both "cert".*and "key"/],
    ['a relative path', () => ({ cert: 'cert.pem', key: pki.a.key }), /server\.tls\.cert.*an absolute file path/],
    ['minVersion "1.1"', () => ({ cert: pki.a.cert, key: pki.a.key, minVersion: '1.1' }), /server\.tls\.minVersion.*"1\.2" or "1\.3"/],
    ['minVersion a number', () => ({ cert: pki.a.cert, key: pki.a.key, minVersion: 1.3 }), /server\.tls\.minVersion/],
    ['tls a string', () => 'on', /server\.tls/],
    ['a missing file', () => ({ cert: '/nonexistent/cert.pem', key: pki.a.key }), /server\.tls\.cert: no such file/],
    ['a directory', () => ({ cert: os.tmpdir(), key: pki.a.key }), /server\.tls\.cert: .*not a regular file/],
    ['a FIFO (never blocks)', (dirs) => {
      const f = path.join(dirs.home, 'fifo.pem');
      execFileSync('mkfifo', [f]);
      return { cert: pki.a.cert, key: f };
    }, /server\.tls\.key: .*not a regular file/],
    ['a 2 MiB file', (dirs) => {
      const f = path.join(dirs.home, 'huge.pem');
      fs.writeFileSync(f, Buffer.alloc(2 << 20, 65));
      return { cert: f, key: pki.a.key };
    }, /server\.tls\.cert: .*(larger|too large)/],
    ['garbage instead of a certificate', (dirs) => {
      const f = path.join(dirs.home, 'junk.pem');
      fs.writeFileSync(f, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
      return { cert: f, key: pki.a.key };
    }, /server\.tls\.cert: .*not a PEM certificate/],
    ['a key of another certificate', () => ({ cert: pki.a.cert, key: pki.b.key }), /server\.tls\.key: .*does not match the certificate/],
    ['the certificate as the key', () => ({ cert: pki.a.cert, key: pki.a.cert }), /server\.tls\.key: .*not a PEM private key/],
    ['an encrypted key (no passphrase prompt)', (dirs) => {
      const f = path.join(dirs.home, 'enc.key');
      execFileSync('openssl', ['pkey', '-in', pki.a.key, '-aes256', '-passout', 'pass:secret', '-out', f], { stdio: 'ignore' });
      return { cert: pki.a.cert, key: f };
    }, /server\.tls\.key: .*encrypted.*openssl pkey/],
  ];
  for (const [name, value, re] of cases) {
    test(`${name}: exit 78 with a message naming it`, async () => {
      const t0 = Date.now();
      const res = await startBad(value);
      assert.equal(res.code, CONFIG_EXIT, res.stderr);
      assert.match(res.stderr, re);
      assert.ok(Date.now() - t0 < 6000, 'quickly');
    });
  }

  test('a key file other users can read: a warning; an expired certificate: a warning; both still served', async () => {
    const dirs = makeDirs();
    const key = path.join(dirs.home, 'open.key');
    fs.copyFileSync(pki.old.key, key);
    fs.chmodSync(key, 0o644);
    const d4 = await startDaemon({ dirs, homeSettings: tlsSettings({ cert: pki.old.cert, key }), tlsCA: true });
    const text = d4.stderrText();
    await d4.stop();
    removeDirs(dirs);
    assert.match(text, /open\.key holds the TLS private key.*other users can read it \(mode 0644\)/);
    assert.match(text, /the TLS certificate .*server-old\.pem has expired/);
  });

  test('an RSA certificate with a traditional (PKCS#1) key file, through a symbolic link: served', async () => {
    const dirs = makeDirs();
    try {
      ossl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'rsa8.key', '-out', 'rsa.pem', '-days', '2', '-subj', '/CN=rsa',
        '-addext', 'subjectAltName=IP:127.0.0.1'], dirs.home);
      ossl(['pkey', '-in', 'rsa8.key', '-traditional', '-out', 'rsa.key'], dirs.home);
      assert.match(fs.readFileSync(path.join(dirs.home, 'rsa.key'), 'utf8'), /BEGIN RSA PRIVATE KEY/);
      fs.chmodSync(path.join(dirs.home, 'rsa.key'), 0o600);
      fs.symlinkSync(path.join(dirs.home, 'rsa.pem'), path.join(dirs.home, 'live.pem'));
      const pem = fs.readFileSync(path.join(dirs.home, 'rsa.pem'), 'utf8');
      const d5 = await startDaemon({ dirs, homeSettings: tlsSettings({ cert: path.join(dirs.home, 'live.pem'), key: path.join(dirs.home, 'rsa.key') }), tlsCA: pem });
      const h = await request(d5.port, { path: '/health', ca: pem });
      assert.equal(h.status, 200);
      assert.equal(h.socket.getPeerX509Certificate().publicKey.asymmetricKeyType, 'rsa');
      await d5.stop();
    } finally {
      removeDirs(dirs);
    }
  });

  test('a key readable by its owner only: no warning', () => {
    assert.doesNotMatch(d.stderrText(), /holds the TLS private key/);
    assert.doesNotMatch(d.stderrText(), /has expired/);
    assert.match(d.stderrText(), /"msg":"TLS on","certificate":"subject \/CN=server-a, valid until/);
  });
});
