// bench/hostile.mjs: what hostile clients cost the daemon (docs/security.md, docs/benchmarks.md).
//
//   node bench/hostile.mjs [--ccproxy build/ccproxy] [--flood-mib 600]
//
// Starts a fresh ccproxy for each part, on a free loopback port with its own $HOME (an OpenAI-style
// provider whose upstream starts a stream and falls silent, and never answers anything else), and
// measures:
//   pipeline  bytes pipelined behind a stream in flight: how much the daemon took, its RSS growth
//   zeros     a JSON body of 15 MiB of "0," in one array: time to the answer, status, RSS growth
//   slowloris a request head sent one byte every 500 ms: how long the connection stays open (max 20 s)
//   conns     3,000 idle connections opened at once: how many the daemon keeps open, RSS growth
// and prints one line per part. Every loop is bounded in count and time. Node built-ins only.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const BIN = path.resolve(opt('--ccproxy', 'build/ccproxy'));
const FLOOD_MIB = Number(opt('--flood-mib', '600'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

function listen(server) {
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server.address().port)));
}

async function freePort() {
  const s = net.createServer();
  const p = await listen(s);
  await new Promise((r) => s.close(r));
  return p;
}

function connect(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const c = { s, text: '', closed: false, t0: Date.now(), closedAt: 0 };
    s.setEncoding('latin1');
    s.on('data', (d) => { c.text += d; });
    s.on('error', () => {});
    s.on('close', () => { c.closed = true; c.closedAt = Date.now(); });
    s.on('connect', () => resolve(c));
    s.on('error', () => resolve(c));
  });
}

// resolves false when the connection is gone or the daemon has not taken the bytes within 5 s
const write = (c, d) => new Promise((r) => {
  if (c.closed || c.s.destroyed) return r(false);
  const t = setTimeout(() => r(false), 5000);
  c.s.write(d, (e) => { clearTimeout(t); r(!e); });
});

async function main() {
  // a stream request gets its headers and one chunk, then silence; anything else is never answered
  const upstream = http.createServer((req, res) => {
    let b = '';
    req.on('data', (d) => { b += d; });
    req.on('end', () => {
      if (!b.includes('"stream":true')) return;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', model: 'm', choices: [{ index: 0, delta: { role: 'assistant', content: 'Hi' }, finish_reason: null }] })}\n\n`);
    });
  });
  const upPort = await listen(upstream);
  // a fresh daemon for each part, so that one part's memory does not hide the next one's
  const start = async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ccproxy-hostile-'));
    fs.mkdirSync(path.join(home, '.ccproxy'), { mode: 0o700 });
    fs.writeFileSync(path.join(home, '.ccproxy', 'settings.json'), JSON.stringify({
      server: { host: '127.0.0.1', maxBodyBytes: 33554432, headTimeoutSeconds: 5 },
      providers: { up: { baseURL: `http://127.0.0.1:${upPort}/v1`, apiKey: 'sk-bench', flavor: 'generic' } },
      models: { bigModel: 'm@up', smallModel: 'm@up', preferredProvider: 'up' },
      logging: { level: 'warn' },
    }), { mode: 0o600 });
    const p = await freePort();
    const child = spawn(BIN, ['server', '--port', String(p)], {
      env: { PATH: process.env.PATH, HOME: home }, cwd: home, stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr.resume();
    for (let i = 0; i < 100; i++) {
      const up = await new Promise((r) => http.get({ host: '127.0.0.1', port: p, path: '/health' }, (res) => { res.resume(); r(true); }).on('error', () => r(false)));
      if (up) break;
      await sleep(50);
    }
    return { port: p, pid: child.pid, stop: () => { child.kill('SIGKILL'); fs.rmSync(home, { recursive: true, force: true }); } };
  };
  let d;
  const out = [];
  const body = JSON.stringify({ model: 'm@up', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
  const post = (b) => `POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(b)}\r\n\r\n${b}`;

  d = await start();
  { // pipeline, behind a stream being written (evhttp reads the socket while it writes a reply)
    const c = await connect(d.port);
    await write(c, post(JSON.stringify({ ...JSON.parse(body), stream: true })));
    for (let i = 0; i < 100 && !c.text.includes('message_start'); i++) await sleep(20);
    const r0 = rssKiB(d.pid);
    const junk = Buffer.alloc(1 << 20, 'G');
    let sent = 0;
    const deadline = Date.now() + 60000;
    for (let i = 0; i < FLOOD_MIB && Date.now() < deadline; i++) {
      if (!(await write(c, junk))) break;
      sent += junk.length;
    }
    await sleep(500);
    out.push(`pipeline: ${(sent / 1048576).toFixed(1)} MiB taken of ${FLOOD_MIB} MiB sent behind a request in flight; connection ${c.closed ? 'closed' : 'open'}; RSS +${((rssKiB(d.pid) - r0) / 1024).toFixed(1)} MiB`);
    c.s.destroy();
    d.stop();
  }
  d = await start();
  { // zeros
    const z = `{"model":"m@up","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"metadata":{"z":[${'0,'.repeat((15 << 20) / 2 - 1)}0]}}`;
    const r0 = rssKiB(d.pid);
    let peak = r0;
    const timer = setInterval(() => { peak = Math.max(peak, rssKiB(d.pid)); }, 20);
    const t0 = Date.now();
    const c = await connect(d.port);
    await write(c, post(z));
    for (let i = 0; i < 600 && !/^HTTP\/1\.1 \d+/.test(c.text) && !c.closed; i++) await sleep(50);
    clearInterval(timer);
    out.push(`zeros: 15 MiB array of 0 answered ${(c.text.match(/^HTTP\/1\.1 (\d+)/) || [])[1] || 'nothing'} in ${Date.now() - t0} ms; RSS peak +${((peak - r0) / 1024).toFixed(0)} MiB`);
    c.s.destroy();
    d.stop();
  }
  d = await start();
  { // slowloris
    const c = await connect(d.port);
    const head = 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ' + 'a'.repeat(100);
    for (let i = 0; i < head.length && !c.closed && Date.now() - c.t0 < 20000; i++) {
      await write(c, head[i]);
      await sleep(500);
    }
    out.push(`slowloris: a head at one byte per 500 ms was ${c.closed ? `closed after ${c.closedAt - c.t0} ms (${(c.text.match(/^HTTP\/1\.1 (\d+)/) || [])[1] || 'no'} reply)` : 'still open after 20 s'} (server.headTimeoutSeconds 5)`);
    c.s.destroy();
    d.stop();
  }
  d = await start();
  { // conns
    const r0 = rssKiB(d.pid);
    const cs = [];
    for (let i = 0; i < 3000; i++) cs.push(connect(d.port));
    const all = await Promise.all(cs);
    await sleep(1500);
    const open = all.filter((c) => !c.closed).length;
    const refused = all.filter((c) => /^HTTP\/1\.1 (503|429)/.test(c.text)).length;
    out.push(`conns: 3000 idle connections: ${open} kept open, ${refused} refused with 503/429; RSS +${((rssKiB(d.pid) - r0) / 1024).toFixed(1)} MiB; /proc/${'PID'}/fd limit ${fs.readFileSync(`/proc/${d.pid}/limits`, 'utf8').match(/Max open files\s+(\d+)/)[1]}`);
    for (const c of all) c.s.destroy();
    d.stop();
  }
  upstream.close();
  upstream.closeAllConnections?.();
  console.log(`ccproxy ${BIN}`);
  for (const l of out) console.log(`  ${l}`);
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
