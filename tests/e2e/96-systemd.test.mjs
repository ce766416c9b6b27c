// systemd: what the daemon tells the service manager (lib/net/cp_notify.h) and the unit itself
// (systemd/ccproxy.service). A fake NOTIFY_SOCKET (a python3 unix datagram receiver, as in
// tests/e2e/lib/sockets.mjs, that also reads the sender's pid from SCM_CREDENTIALS) and the real daemon:
// READY=1 once the port is bound, STATUS= with the load, RELOADING=1 + MONOTONIC_USEC= then READY=1 around
// SIGHUP, STOPPING=1 at SIGTERM, WATCHDOG=1 every WATCHDOG_USEC/2 from the loop, and hostile environments
// that must cost one warning and never the server. Then `systemd-analyze verify` and `security` on the unit.
// Every wait is bounded; no sleep decides an outcome except the "nothing arrives" windows (≥ 1 s, for
// pings due every 100 ms).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  BIN, REPO, startDaemon, request, rawConnect, waitFor, sleep, validBody, writeFile, makeDirs, removeDirs, freePort,
  baseEnv,
} from './lib/daemon.mjs';
import { startMock } from './lib/mock-upstream.mjs';
import { openStream, oaiTextChunks } from './lib/stream.mjs';

// Prints {"pid": sender, "msg": datagram} per message. With a port (argv[2] > 0), on a READY=1 it stops the
// sender (SIGSTOP), tries a TCP connect to the port (the kernel completes it for a bound, listening socket
// even while the process is stopped), resumes the sender and adds "bound": whether the port was bound at
// the moment READY=1 was sent: no race with the daemon's later steps.
const RX_PY = `
import json, os, signal, socket, struct, sys
p, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind('\\0' + p[1:] if p.startswith('@') else p)
print('listening', flush=True)
while True:
    d, anc, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(12))
    pid = -1
    for lvl, typ, data in anc:
        if lvl == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
            pid = struct.unpack('iII', data[:12])[0]
    rec = {'pid': pid, 'msg': d.decode('utf-8', 'replace')}
    if port and 'READY=1' in rec['msg'].split('\\n') and pid > 0:
        os.kill(pid, signal.SIGSTOP)
        try:
            socket.create_connection(('127.0.0.1', port), timeout=2).close()
            rec['bound'] = True
        except OSError:
            rec['bound'] = False
        os.kill(pid, signal.SIGCONT)
    print(json.dumps(rec), flush=True)
`;

/** A fake NOTIFY_SOCKET at <where> (a path or "@name"). → {records(), fields(), waitFor(pred, opts), close()} */
async function notifyRx(where, port = 0) {
  const proc = spawn('python3', ['-c', RX_PY, where, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const recs = [];
  let buf = '';
  let err = '';
  let ready = false;
  proc.stdout.setEncoding('utf8').on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line === 'listening') ready = true;
      else {
        const rec = JSON.parse(line);
        recs.push({ ...rec, f: fields(rec.msg) });
      }
    }
  });
  proc.stderr.setEncoding('utf8').on('data', (d) => { err += d; });
  let exited = false;
  proc.on('exit', () => { exited = true; });
  await waitFor(() => ready || exited, { timeoutMs: 5000, what: `python3 receiver on ${where}` });
  if (!ready) throw new Error(`the NOTIFY_SOCKET receiver did not start (python3 needed): ${err}`);
  return {
    records: () => recs,
    /** Waits for a record after index <from> that pred(fields, record) accepts → its index. */
    async waitFor(pred, { from = 0, timeoutMs = 5000, what = 'a notify message' } = {}) {
      const i = await waitFor(() => recs.findIndex((r, k) => k >= from && pred(r.f, r)) + 1,
        { timeoutMs, what: `${what} on NOTIFY_SOCKET` })
        .catch((e) => { throw new Error(`${e.message}; got ${JSON.stringify(recs.map((r) => r.msg))}`); });
      return i - 1;
    },
    close: () => new Promise((resolve) => {
      if (exited) { resolve(); return; }
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
    }),
  };
}

/** "A=1\nB=2" → {A: '1', B: '2'} */
function fields(msg) {
  const o = {};
  for (const l of msg.split('\n')) {
    const i = l.indexOf('=');
    if (i > 0) o[l.slice(0, i)] = l.slice(i + 1);
  }
  return o;
}

const STATUS_RE = /^(Draining: )?(\d+) requests? in flight \((\d+) streaming\), (\d+) connections?, (\d+) served$/;
const pings = (rx, from = 0) => rx.records().slice(from).filter((r) => r.f.WATCHDOG === '1').length;
const warnings = (d) => d.jsonLines().filter((j) => j.level === 'warn');
const mockSettings = (m) => ({
  providers: { up: { baseURL: `${m.url}/v1`, apiKey: 'sk-systemd-test' } },
  models: { bigModel: 'big@up', smallModel: 'small@up', preferredProvider: 'up' },
});

/** A daemon told about <rx>; closes both (and the dirs) after the test. */
async function withRx(t, { port = 0, env = {}, socketFile = false, ...opts } = {}) {
  const dirs = makeDirs();
  const where = socketFile ? path.join(dirs.root, 'notify.sock')
    : `@ccproxy-e2e-sd-${process.pid}-${Date.now()}-${Math.random().toString(16).slice(2)}`;
  const rx = await notifyRx(where, port);
  let d = null;
  t.after(async () => { // the daemon first: it still uses the directories
    try {
      if (d) await d.stop();
    } finally {
      await rx.close();
      removeDirs(dirs);
    }
  });
  const args = port ? ['--port', String(port)] : [];
  d = await startDaemon({ dirs, args, env: { NOTIFY_SOCKET: where, ...env }, ...opts });
  return { d, rx, dirs };
}

describe('sd_notify: the states', () => {
  test('READY=1 from the daemon once its port is bound; STATUS= with the load, only when it changed; STOPPING=1', async (t) => {
    const m = await startMock({ name: 'sd' });
    t.after(() => m.close());
    const port = await freePort();
    const { d, rx } = await withRx(t, { port, env: { WATCHDOG_USEC: '1000000' }, homeSettings: mockSettings(m) });
    await rx.waitFor((f) => f.READY === '1', { what: 'READY=1' });
    const ready = rx.records()[0];
    assert.equal(ready.f.READY, '1', `READY=1 is the first message: ${JSON.stringify(rx.records())}`);
    assert.equal(ready.pid, d.proc.pid, 'sent by the main process (NotifyAccess=main)');
    assert.equal(ready.bound, true, 'the port accepted connections when READY=1 was sent');
    assert.equal(ready.f.STATUS, '0 requests in flight (0 streaming), 0 connections, 0 served');

    // one known request through the mock, and one idle connection held open
    const r = await request(d.port, { method: 'POST', path: '/v1/messages', body: validBody('claude-sonnet-4') });
    assert.equal(r.status, 200, r.text);
    const c = await rawConnect(d.port);
    t.after(() => c.close());
    const i = await rx.waitFor((f) => f.STATUS === '0 requests in flight (0 streaming), 1 connection, 1 served',
      { timeoutMs: 8000, what: 'STATUS= with one connection and one request served' });
    c.close();
    const j = await rx.waitFor((f) => f.STATUS === '0 requests in flight (0 streaming), 0 connections, 1 served',
      { from: i + 1, timeoutMs: 8000, what: 'STATUS= once the connection closed' });
    // a stream under way: counted as in flight and streaming until it ends
    m.enqueue({ chunks: oaiTextChunks(['a'], { finish: null }), hang: true });
    const st = openStream(d.port, validBody('claude-sonnet-4', { stream: true }));
    t.after(() => st.destroy());
    await rx.waitFor((f) => f.STATUS === '1 request in flight (1 streaming), 1 connection, 1 served',
      { from: j + 1, timeoutMs: 8000, what: 'STATUS= with one stream under way' });
    st.destroy();
    await rx.waitFor((f) => f.STATUS === '0 requests in flight (0 streaming), 0 connections, 2 served',
      { from: j + 1, timeoutMs: 8000, what: 'STATUS= once the stream ended' });
    await rx.waitFor((f) => f.WATCHDOG === '1' && f.STATUS === undefined,
      { timeoutMs: 5000, what: 'a ping without STATUS= (the load did not change)' });
    let last = null;
    for (const rec of rx.records()) { // a STATUS= that did not change is not sent again
      if (rec.f.STATUS === undefined) continue;
      assert.match(rec.f.STATUS, STATUS_RE);
      if (rec.f.READY === undefined) assert.notEqual(rec.f.STATUS, last, `STATUS= repeated: ${JSON.stringify(rx.records().map((x) => x.msg))}`);
      last = rec.f.STATUS;
    }

    const n = rx.records().length;
    d.signal('SIGTERM');
    await rx.waitFor((f) => f.STOPPING === '1', { from: n, what: 'STOPPING=1' });
    assert.deepEqual(await d.waitExit(5000), { code: 0, signal: null });
    assert.equal(rx.records().filter((x) => x.f.READY === '1').length, 1, 'READY=1 once');
  });

  for (const socketFile of [false, true]) {
    test(`SIGHUP: RELOADING=1 + MONOTONIC_USEC= (CLOCK_MONOTONIC) then READY=1 + STATUS=, for a good and a bad config (${socketFile ? 'a socket file' : 'the abstract namespace'})`, async (t) => {
      const { d, rx } = await withRx(t, { socketFile });
      await rx.waitFor((f) => f.READY === '1', { what: 'READY=1' });
      for (const [what, content] of [['good', { models: { smallModel: 'small-b@gemini' } }], ['bad', '{ "server": ']]) {
        writeFile(d.dirs.homeSettingsPath, content);
        const from = rx.records().length;
        const mark = d.mark();
        const t0 = process.hrtime.bigint() / 1000n; // CLOCK_MONOTONIC on Linux, in µs
        d.signal('SIGHUP');
        const j = await rx.waitFor((f) => f.READY === '1', { from, what: `READY=1 after a ${what} reload` });
        const t1 = process.hrtime.bigint() / 1000n;
        const msgs = rx.records().slice(from, j + 1).filter((x) => x.f.WATCHDOG === undefined);
        assert.equal(msgs.length, 2, `${what}: RELOADING then READY: ${JSON.stringify(msgs.map((x) => x.msg))}`);
        assert.equal(msgs[0].f.RELOADING, '1', `${what}: RELOADING=1 first`);
        assert.match(msgs[0].f.MONOTONIC_USEC || '', /^\d+$/, `${what}: MONOTONIC_USEC= in the same message`);
        const mono = BigInt(msgs[0].f.MONOTONIC_USEC);
        assert.ok(mono >= t0 && mono <= t1, `${what}: MONOTONIC_USEC ${mono} within [${t0}, ${t1}]`);
        assert.match(msgs[1].f.STATUS || '', STATUS_RE, `${what}: READY=1 comes with STATUS=`);
        await d.waitLog(what === 'good' ? 'config reloaded' : 'config reload failed', { from: mark });
      }
      assert.equal((await request(d.port, { path: '/health' })).status, 200);
      const n = rx.records().length;
      d.signal('SIGTERM');
      await rx.waitFor((f) => f.STOPPING === '1', { from: n, what: 'STOPPING=1' });
      assert.deepEqual(await d.waitExit(5000), { code: 0, signal: null });
      assert.deepEqual(rx.records().map((x) => Object.keys(x.f)[0]).filter((k) => k !== 'STATUS'),
        ['READY', 'RELOADING', 'READY', 'RELOADING', 'READY', 'STOPPING'], 'the whole sequence, nothing else');
    });
  }
});

describe('sd_notify: the watchdog', () => {
  test('WATCHDOG_USEC=200000: WATCHDOG=1 every 100 ms; none while the process is stopped, again after SIGCONT', async (t) => {
    const { d, rx } = await withRx(t, { env: { WATCHDOG_USEC: '200000' } });
    await d.waitLog('systemd watchdog: pinging every 100 ms');
    await rx.waitFor((f) => f.READY === '1', { what: 'READY=1' });
    const from = rx.records().length;
    await waitFor(() => pings(rx, from) >= 5, { timeoutMs: 5000, what: '5 WATCHDOG=1 pings' });
    assert.equal(warnings(d).length, 0, d.stderrText());

    d.signal('SIGSTOP');
    let stopped;
    try {
      await sleep(300); // a ping sent just before the stop may still be on its way
      stopped = rx.records().length;
      await sleep(1500);
      assert.equal(pings(rx, stopped), 0, 'no pings from a stopped process');
    } finally {
      d.signal('SIGCONT');
    }
    await rx.waitFor((f) => f.WATCHDOG === '1', { from: stopped, timeoutMs: 3000, what: 'pings again after SIGCONT' });
    assert.equal((await request(d.port, { path: '/health' })).status, 200);
  });

  test('WATCHDOG_PID naming another process: no pings; naming the daemon: pings', async (t) => {
    const { d, rx } = await withRx(t, { env: { WATCHDOG_USEC: '200000', WATCHDOG_PID: String(process.pid) } });
    await rx.waitFor((f) => f.READY === '1', { what: 'READY=1' });
    await sleep(1200);
    assert.equal(pings(rx), 0, `no pings: ${JSON.stringify(rx.records().map((x) => x.msg))}`);
    assert.equal(warnings(d).length, 0, d.stderrText());
    assert.equal((await request(d.port, { path: '/health' })).status, 200);

    // WATCHDOG_PID=$$ then exec: the daemon's own pid, as systemd sets it
    const dirs = makeDirs();
    const where = `@ccproxy-e2e-sd-self-${process.pid}-${Date.now()}`;
    const rx2 = await notifyRx(where);
    const env = baseEnv(dirs, { NOTIFY_SOCKET: where, WATCHDOG_USEC: '200000' });
    const p = spawn('sh', ['-c', 'WATCHDOG_PID=$$ exec "$@"', 'sh', BIN, 'server', '--host', '127.0.0.1', '--port', '0'],
      { env, cwd: dirs.cwd, stdio: ['ignore', 'ignore', 'ignore'] });
    const gone = new Promise((r) => p.once('exit', (code, signal) => r({ code, signal })));
    t.after(async () => {
      p.kill('SIGKILL');
      await Promise.race([gone, sleep(3000)]);
      await rx2.close();
      removeDirs(dirs);
    });
    await rx2.waitFor((f, r) => f.WATCHDOG === '1' && r.pid === p.pid, { timeoutMs: 5000, what: 'a ping from the daemon itself' });
    p.kill('SIGTERM');
    assert.deepEqual(await Promise.race([gone, sleep(5000).then(() => 'timeout')]), { code: 0, signal: null });
  });
});

describe('sd_notify: hostile environments cost at most one warning, never the server', () => {
  const cases = [
    ['NOTIFY_SOCKET names nothing', (dirs) => path.join(dirs.root, 'no-such.sock')],
    ['NOTIFY_SOCKET is a regular file', (dirs) => { const f = path.join(dirs.root, 'file.sock'); fs.writeFileSync(f, 'x'); return f; }],
    ['NOTIFY_SOCKET is longer than sun_path', (dirs) => path.join(dirs.root, 'x'.repeat(200))],
    ['NOTIFY_SOCKET is a relative path (to a real socket)', () => 'notify.sock'],
  ];
  for (const [what, make] of cases) {
    test(what, async (t) => {
      const dirs = makeDirs();
      const rx = await notifyRx(path.join(dirs.cwd, 'notify.sock')); // what a relative path would reach
      let d = null;
      t.after(async () => {
        try {
          if (d) await d.stop();
        } finally {
          await rx.close();
          removeDirs(dirs);
        }
      });
      d = await startDaemon({ dirs, env: { NOTIFY_SOCKET: make(dirs), WATCHDOG_USEC: '200000' } });
      await sleep(1000); // ten pings due: every one fails
      assert.equal((await request(d.port, { path: '/health' })).status, 200);
      const w = warnings(d);
      assert.equal(w.length, 1, `one warning:\n${d.stderrText()}`);
      assert.match(w[0].msg, /NOTIFY_SOCKET/);
      assert.deepEqual(rx.records(), [], 'nothing sent to a relative path');
      d.signal('SIGTERM');
      assert.deepEqual(await d.waitExit(5000), { code: 0, signal: null });
      assert.equal(warnings(d).length, 1, `still one warning after STOPPING=1:\n${d.stderrText()}`);
    });
  }

  for (const usec of ['abc', '0', '-5', '99999999999999999999']) {
    test(`WATCHDOG_USEC=${usec}: one warning, no pings, every other message`, async (t) => {
      const { d, rx } = await withRx(t, { env: { WATCHDOG_USEC: usec } });
      await rx.waitFor((f) => f.READY === '1', { what: 'READY=1' });
      await sleep(1000);
      assert.equal((await request(d.port, { path: '/health' })).status, 200);
      assert.equal(pings(rx), 0, 'no pings');
      const w = warnings(d);
      assert.equal(w.length, 1, `one warning:\n${d.stderrText()}`);
      assert.ok(w[0].msg.startsWith(`WATCHDOG_USEC=${usec.slice(0, 32)} `), w[0].msg);
      const n = rx.records().length;
      d.signal('SIGTERM');
      await rx.waitFor((f) => f.STOPPING === '1', { from: n, what: 'STOPPING=1' });
      assert.deepEqual(await d.waitExit(5000), { code: 0, signal: null });
    });
  }
});

/** systemd-analyze, or null when it is not installed. */
function analyze() {
  try {
    execFileSync('systemd-analyze', ['--version'], { stdio: 'ignore', timeout: 10000 });
    return 'systemd-analyze';
  } catch {
    return null;
  }
}
const UNIT = path.join(REPO, 'systemd', 'ccproxy.service');
const noAnalyze = analyze() ? false : 'systemd-analyze is not installed (Debian package systemd): the unit is not checked';

describe('the unit file', () => {
  test('systemd-analyze verify: no complaint (ExecStart pointing at the built binary)', { skip: noAnalyze }, () => {
    const dirs = makeDirs();
    try {
      const text = fs.readFileSync(UNIT, 'utf8');
      assert.match(text, /^ExecStart=\/usr\/bin\/ccproxy server$/m, 'the packaged path');
      const copy = path.join(dirs.root, 'ccproxy.service');
      fs.writeFileSync(copy, text.replace(/^ExecStart=\S+/m, `ExecStart=${BIN}`));
      let out;
      try {
        // --man=no: Documentation= names man:ccproxy(1), which exists once the package is installed
        // (scripts/test-package.sh runs verify on the installed unit, man page included)
        out = execFileSync('systemd-analyze', ['verify', '--man=no', copy], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30000 });
      } catch (e) {
        assert.fail(`systemd-analyze verify failed (${e.status}):\n${e.stdout}${e.stderr}`);
      }
      assert.equal(out, '');
    } finally {
      removeDirs(dirs);
    }
  });

  test('systemd-analyze security --offline=true: exposure ≤ 2.0 ("OK")', { skip: noAnalyze }, () => {
    let out;
    try {
      out = execFileSync('systemd-analyze', ['security', '--offline=true', '--no-pager', UNIT],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30000 });
    } catch (e) {
      out = `${e.stdout}`; // it exits non-zero above --threshold only; keep its report for the message
    }
    const m = /Overall exposure level for ccproxy\.service: (\d+(?:\.\d+)?) (\w+)/.exec(out);
    assert.ok(m, `no "Overall exposure level" line:\n${out}`);
    assert.ok(Number(m[1]) <= 2.0, `exposure ${m[1]} ${m[2]} > 2.0:\n${out}`);
    assert.equal(m[2], 'OK', out);
    const unit = fs.readFileSync(UNIT, 'utf8');
    for (const line of ['Type=notify', 'NotifyAccess=main', 'User=ccproxy', 'Group=ccproxy', 'StateDirectory=ccproxy']) {
      assert.match(unit, new RegExp(`^${line}$`, 'm'), line);
    }
    assert.match(unit, /^WatchdogSec=\d+s?$/m, 'a watchdog');
    assert.doesNotMatch(unit, /^DynamicUser=yes/m, 'a static user: the managed file is root:ccproxy 0640');
    assert.match(fs.readFileSync(path.join(REPO, 'systemd', 'ccproxy.sysusers'), 'utf8'), /^u\s+ccproxy\s/m);
  });
});
