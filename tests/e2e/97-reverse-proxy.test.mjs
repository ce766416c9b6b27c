// The reverse-proxy lines of docs/deployment.md ("Behind nginx or HAProxy"), taken from the document
// itself and run with the real nginx and HAProxy in front of ccproxy: TLS at the proxy, a developer key,
// the Host the client used (in server.allowedHosts), a streamed answer that arrives event by event (not
// buffered to the end), a body of several MiB, and a plain error passed through. If the document's lines
// stop working, this fails. Also the document's Kubernetes manifests, which no cluster here can run:
// they parse (python3's yaml), and their settings load in the real ccproxy, their probes, user, grace
// period and volumes agree with the Dockerfile and the defaults.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { REPO, startDaemon, freePort, waitFor, runCli, makeDirs, removeDirs } from './lib/daemon.mjs';
import { startMock } from './lib/mock-upstream.mjs';
import { oaiTextChunks, streamedText } from './lib/stream.mjs';
import { parseSSE } from './lib/proxy.mjs';
import { keyEntry, ALICE } from './lib/team.mjs';

const NAME = 'ccproxy.corp.example';
const doc = fs.readFileSync(path.join(REPO, 'docs', 'deployment.md'), 'utf8');

/** The fenced block of <lang> in docs/deployment.md (exactly one). */
function block(lang) {
  const all = [...doc.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]);
  assert.equal(all.length, 1, `one \`\`\`${lang} block in docs/deployment.md`);
  return all[0];
}

let dir;
let mock;
let d;
let cert;

/** A process kept until the end (bounded stop). */
function run(cmd, args) {
  const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (c) => { out += c; });
  p.stderr.on('data', (c) => { out += c; });
  return {
    p,
    out: () => out,
    async stop() {
      if (p.exitCode !== null || p.signalCode !== null) return;
      const gone = new Promise((r) => p.on('exit', r));
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    },
  };
}

/** HTTPS to the front proxy at <port> for host NAME; → {status, headers, text, times: [ms of each chunk]} */
function call(port, { method = 'POST', p = '/v1/messages', body, key = ALICE } = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const t0 = Date.now();
    const req = https.request({
      host: '127.0.0.1', port, method, path: p, servername: NAME, ca: cert, agent: false,
      headers: {
        host: NAME, 'anthropic-version': '2023-06-01', 'x-api-key': key,
        ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
      },
    }, (res) => {
      const chunks = [];
      const times = [];
      res.on('data', (c) => { chunks.push(c); times.push(Date.now() - t0); });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8'), times }));
      res.on('error', reject);
    });
    req.setTimeout(20000, () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(payload);
  });
}

const PIECES = ['one ', 'two ', 'three ', 'four ', 'five'];
const streamBody = { model: 'claude-sonnet-4-5', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'count' }] };

/** The checks every front proxy must pass. */
async function checkFront(port) {
  // streamed: the events come as the upstream sends them (0.4 s apart), not all at the end
  mock.enqueue({ chunks: oaiTextChunks(PIECES), gapMs: 400 });
  const s = await call(port, { body: streamBody });
  assert.equal(s.status, 200, s.text);
  assert.match(s.headers['content-type'], /^text\/event-stream/);
  assert.equal(streamedText(parseSSE(s.text)), PIECES.join(''));
  const first = s.times[0];
  const last = s.times[s.times.length - 1];
  assert.ok(last - first >= 1200, `the answer arrived over ${last - first} ms in ${s.times.length} pieces: buffered by the proxy?`);
  // a body of 5 MiB (under server.maxBodyBytes) goes through
  const big = { model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'x'.repeat(5 << 20) }] };
  const b = await call(port, { body: big });
  assert.equal(b.status, 200, b.text.slice(0, 500));
  // ccproxy's own errors come through as they are: no key → 401 in the Anthropic envelope
  const u = await call(port, { body: streamBody, key: 'ccp_wrong' });
  assert.equal(u.status, 401);
  assert.equal(JSON.parse(u.text).error.type, 'authentication_error');
  // the access line names the developer key, and the Host passed the allowedHosts check
  await waitFor(() => d.jsonLines().some((j) => j.msg === 'request' && j.key === 'alice' && j.status === 200),
    { what: 'an access line for alice' });
}

before(async () => {
  for (const bin of ['nginx', 'haproxy', 'openssl']) {
    try { execFileSync(bin, ['-v'], { stdio: 'ignore' }); } catch (e) {
      if (e.code === 'ENOENT') throw new Error(`${bin} is not installed: scripts/install-deps.sh --test installs it`);
    }
  }
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ccproxy-rp-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '2', '-subj', `/CN=${NAME}`,
    '-addext', `subjectAltName=DNS:${NAME}`], { stdio: 'ignore', timeout: 15000 });
  cert = fs.readFileSync(path.join(dir, 'cert.pem'), 'utf8');
  mock = await startMock({ name: 'oai' });
  d = await startDaemon({
    homeSettings: {
      server: { allowedHosts: [NAME] },
      providers: { oai: { baseURL: `${mock.url}/v1`, apiKey: 'sk-prov-rp' } },
      models: { bigModel: 'gpt-big@oai', smallModel: 'gpt-small@oai', preferredProvider: 'oai' },
      auth: { keys: [keyEntry('alice', ALICE)] },
      ledger: { enabled: false },
    },
  });
});
after(async () => {
  if (d) await d.stop();
  if (mock) await mock.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('docs/deployment.md: the Kubernetes manifests', () => {
  test('they parse; the settings load; probes, user, grace period and mounts agree with the image', async () => {
    const yaml = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]).find((b) => b.includes('kind: Deployment'));
    assert.ok(yaml, 'a ```yaml block with the Deployment');
    const docs = JSON.parse(execFileSync('python3', ['-c',
      'import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(sys.stdin))))'], { input: yaml, encoding: 'utf8' }));
    const kind = (k) => docs.find((x) => x && x.kind === k);
    const dep = kind('Deployment');
    const svc = kind('Service');
    const cm = kind('ConfigMap');
    for (const k of ['Secret', 'ConfigMap', 'PersistentVolumeClaim', 'Deployment', 'Service']) assert.ok(kind(k), k);
    const spec = dep.spec.template.spec;
    const c = spec.containers[0];
    const dockerfile = fs.readFileSync(path.join(REPO, 'Dockerfile'), 'utf8');
    assert.equal(dep.spec.replicas, 1, 'one writer of the ledger');
    assert.ok(spec.terminationGracePeriodSeconds > 30, 'longer than the default drain');
    assert.match(dockerfile, new RegExp(`USER ${spec.securityContext.runAsUser}:${spec.securityContext.runAsGroup}`));
    assert.match(dockerfile, /VOLUME \/var\/lib\/ccproxy/);
    assert.deepEqual(c.volumeMounts.map((m) => m.mountPath).sort(), ['/etc/ccproxy', '/var/lib/ccproxy']);
    for (const p of [c.readinessProbe, c.livenessProbe]) {
      assert.equal(p.httpGet.path, '/health');
      assert.equal(p.httpGet.port, c.ports[0].name);
    }
    assert.equal(c.ports[0].containerPort, 8082);
    assert.equal(svc.spec.ports[0].targetPort, c.ports[0].name);
    assert.deepEqual(svc.spec.selector, dep.spec.template.metadata.labels);
    // the ConfigMap's settings load in the real ccproxy (strict checking: a misspelt key would fail)
    const settings = JSON.parse(cm.data['managed-settings.json'].replace('"…"', `"${'0'.repeat(64)}"`));
    const dirs = makeDirs();
    try {
      const r = await runCli(['config'], { dirs, managedSettings: settings, env: { OPENAI_API_KEY: 'sk-k8s-test' } });
      assert.equal(r.code, 0, r.stderr);
    } finally {
      removeDirs(dirs);
    }
  });
});

describe('docs/deployment.md: the front proxies, as written', () => {
  test('nginx: TLS, the key, Host, a stream event by event, 5 MiB, errors', async () => {
    const port = await freePort();
    const server = block('nginx')
      .replace('listen 443 ssl;', `listen 127.0.0.1:${port} ssl;`)
      .replace(/ssl_certificate\s+\S+;/, `ssl_certificate ${dir}/cert.pem;`)
      .replace(/ssl_certificate_key\s+\S+;/, `ssl_certificate_key ${dir}/key.pem;`)
      .replace('proxy_pass http://127.0.0.1:8082;', `proxy_pass http://127.0.0.1:${d.port};`);
    assert.match(server, new RegExp(`127\\.0\\.0\\.1:${d.port}`), 'the proxy_pass line was found');
    const tmp = path.join(dir, 'nginx');
    fs.mkdirSync(tmp);
    fs.writeFileSync(path.join(tmp, 'nginx.conf'), `pid ${tmp}/nginx.pid;
error_log ${tmp}/error.log;
events {}
http {
  access_log off;
  client_body_temp_path ${tmp}/body; proxy_temp_path ${tmp}/proxy;
  fastcgi_temp_path ${tmp}/fcgi; uwsgi_temp_path ${tmp}/uwsgi; scgi_temp_path ${tmp}/scgi;
${server}
}
`);
    const nginx = run('nginx', ['-p', tmp, '-c', path.join(tmp, 'nginx.conf'), '-g', 'daemon off;']);
    try {
      await waitFor(async () => (await call(port, { method: 'GET', p: '/health' }).catch(() => null))?.status === 200,
        { timeoutMs: 10000, what: `nginx on ${port}: ${nginx.out()}` });
      await checkFront(port);
    } finally {
      await nginx.stop();
    }
  });

  test('HAProxy: TLS, the key, Host, a stream event by event, 5 MiB, errors', async () => {
    const port = await freePort();
    fs.writeFileSync(path.join(dir, 'haproxy.pem'), cert + fs.readFileSync(path.join(dir, 'key.pem'), 'utf8'));
    const cfg = block('haproxy')
      .replace('bind :443 ssl crt /etc/haproxy/certs/ccproxy.pem', `bind 127.0.0.1:${port} ssl crt ${dir}/haproxy.pem`)
      .replace('server local 127.0.0.1:8082', `server local 127.0.0.1:${d.port}`);
    assert.match(cfg, new RegExp(`bind 127\\.0\\.0\\.1:${port}`), 'the bind line was found');
    assert.match(cfg, new RegExp(`127\\.0\\.0\\.1:${d.port}`), 'the server line was found');
    fs.writeFileSync(path.join(dir, 'haproxy.cfg'), cfg);
    const ha = run('haproxy', ['-db', '-f', path.join(dir, 'haproxy.cfg')]);
    try {
      await waitFor(async () => (await call(port, { method: 'GET', p: '/health' }).catch(() => null))?.status === 200,
        { timeoutMs: 10000, what: `haproxy on ${port}: ${ha.out()}` });
      await checkFront(port);
    } finally {
      await ha.stop();
    }
  });
});
