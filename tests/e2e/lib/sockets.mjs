// Peers node cannot play by itself, for the tests of documented network behaviour: a TCP listener whose
// accept queue is full (connects to it hang: connectTimeoutMs), a unix datagram socket that receives what
// the daemon tells systemd (NOTIFY_SOCKET, Type=notify), and a self-signed TLS certificate (an upstream whose
// certificate does not verify). The first two are a few lines of python3 (node has no unix datagram sockets
// and always accepts connections), the last one the openssl command; both come with the test dependencies
// (scripts/install-deps.sh --test). Each helper fails loudly when its tool is missing: tests never skip.

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

function need(cmd, pkg, args = ['--version']) {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', timeout: 5000 });
  } catch (e) {
    throw new Error(`${cmd} is needed by this test (Debian package ${pkg}; scripts/install-deps.sh --test): ${e.message}`);
  }
}

/** Run a python3 script as a child that prints one line when it is ready; → {proc, first (that line), lines, close()}. */
function pyChild(script, args, what) {
  need('python3', 'python3');
  const proc = spawn('python3', ['-c', script, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines = [];
  let buf = '';
  let err = '';
  const waiters = new Set();
  const notify = () => { for (const w of [...waiters]) w(); };
  let exited = false;
  proc.stdout.setEncoding('utf8').on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) { lines.push(buf.slice(0, i)); buf = buf.slice(i + 1); }
    notify();
  });
  proc.stderr.setEncoding('utf8').on('data', (d) => { err += d; });
  proc.on('exit', () => { exited = true; notify(); });
  proc.on('error', (e) => { err += String(e); exited = true; notify(); });
  /** Wait (bounded) for the first line after index <from> that pred accepts; returns it. */
  const waitLine = (pred, { from = 0, timeoutMs = 5000, label = what } = {}) => new Promise((resolve, reject) => {
    const check = () => {
      const hit = lines.slice(from).find(pred);
      if (hit !== undefined) { done(); resolve(hit); return; }
      if (exited) { done(); reject(new Error(`${label}: the helper exited: ${err}`)); }
    };
    const timer = setTimeout(() => { done(); reject(new Error(`${label}: nothing within ${timeoutMs} ms; got ${JSON.stringify(lines)} ${err}`)); }, timeoutMs);
    const done = () => { clearTimeout(timer); waiters.delete(check); };
    waiters.add(check);
    check();
  });
  const close = () => new Promise((resolve) => {
    if (exited) { resolve(); return; }
    proc.once('exit', () => resolve());
    proc.kill('SIGTERM');
  });
  return { proc, lines, waitLine, close, stderr: () => err };
}

const BACKLOG_PY = `
import socket, sys
s = socket.socket()
s.bind(('127.0.0.1', 0))
s.listen(0)
port = s.getsockname()[1]
fill = []
for i in range(3):  # backlog 0 keeps one finished connection: the rest of the SYNs are dropped
    c = socket.socket()
    c.setblocking(False)
    try:
        c.connect(('127.0.0.1', port))
    except OSError:
        pass
    fill.append(c)
print(port, flush=True)
sys.stdin.read()
`;

/**
 * A port on 127.0.0.1 where a TCP connect hangs: a listener that never accepts, its accept queue filled,
 * so the kernel drops further SYNs (no network needed, unlike a non-routable address).
 * → {port, close()}
 */
export async function fullBacklogPort() {
  const c = pyChild(BACKLOG_PY, [], 'full-backlog listener');
  const line = await c.waitLine((l) => /^\d+$/.test(l));
  return { port: Number(line), close: c.close };
}

const NOTIFY_PY = `
import socket, sys
p = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind('\\0' + p[1:] if p.startswith('@') else p)
print('listening', flush=True)
while True:
    d = s.recv(65536)
    print(d.decode('utf-8', 'replace').replace('\\n', '|'), flush=True)
`;

/**
 * A unix datagram socket that records every message (one line each, "\n" inside shown as "|").
 * where: a file path, or "@name" for the abstract namespace.
 * → {path, messages() (received so far), waitFor(message, {from, timeoutMs}) → its index, close()}
 */
export async function notifySocket(where) {
  const c = pyChild(NOTIFY_PY, [where], `NOTIFY_SOCKET ${where}`);
  await c.waitLine((l) => l === 'listening');
  const base = c.lines.length; // the messages come after the "listening" line
  return {
    path: where,
    messages: () => c.lines.slice(base),
    async waitFor(message, { from = 0, timeoutMs = 5000 } = {}) {
      const hit = await c.waitLine((l) => l === message, { from: base + from, timeoutMs, label: `${message} on NOTIFY_SOCKET` });
      return c.lines.indexOf(hit, base + from) - base;
    },
    close: c.close,
  };
}

/** A fresh self-signed certificate for 127.0.0.1 (P-256) in <dir>: → {key, cert} (PEM strings). */
export function selfSignedCert(dir) {
  need('openssl', 'openssl', ['version']);
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
  { stdio: 'ignore', timeout: 10000 });
  return { key: fs.readFileSync(key, 'utf8'), cert: fs.readFileSync(cert, 'utf8') };
}
