// The usage ledger under stress (docs/team.md, "The ledger"): SIGTERM writes every row, kill -9 loses
// at most one flush interval, and a locked, deleted, unwritable, full or read-only database never stops
// requests: rows wait and land once it can be written; a queue that overflows counts and logs what it
// dropped.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startDaemon, makeDirs, removeDirs, waitFor, sleep, CONFIG_EXIT, runCli } from './lib/daemon.mjs';
import { startTeam, body, ledgerRows, teamSettings } from './lib/team.mjs';
import { startMock } from './lib/mock-upstream.mjs';

async function posts(t, n) {
  for (let i = 0; i < n; i++) {
    const r = await t.post(null, body());
    assert.equal(r.status, 200, r.text);
  }
}

describe('durability', () => {
  test('SIGTERM writes every queued row before the process exits', async () => {
    const dirs = makeDirs();
    // nothing would be written before the stop: a long interval, a large batch
    const t = await startTeam({ dirs, settings: () => ({ ledger: { flushMs: 60000, batchRows: 100000 } }) });
    try {
      await posts(t, 30);
      assert.equal(ledgerRows(t.ledgerPath).length, 0, 'not written yet: the interval is a minute');
      await t.close({ keepDirs: true });
      assert.equal(ledgerRows(t.ledgerPath).length, 30);
    } finally {
      removeDirs(dirs);
    }
  });

  test('kill -9 loses at most the rows of the last flush interval', async () => {
    const dirs = makeDirs();
    const t = await startTeam({ dirs, settings: () => ({ ledger: { flushMs: 200 } }) });
    try {
      await posts(t, 20);
      await sleep(700); // more than two intervals: these 20 are on disk
      await posts(t, 5);
      t.d.signal('SIGKILL');
      await t.d.waitExit(5000);
      const n = ledgerRows(t.ledgerPath).length;
      assert.ok(n >= 20 && n <= 25, `${n} rows after kill -9`);
    } finally {
      await t.close().catch(() => {});
      await t.oai.close().catch(() => {});
      removeDirs(dirs);
    }
  });
});

describe('a database that cannot be written', () => {
  test('locked by another process: requests flow, rows wait, then land', async () => {
    const dirs = makeDirs();
    const t = await startTeam({ dirs, settings: () => ({ ledger: { flushMs: 100 } }) });
    let holder;
    try {
      await posts(t, 1);
      await waitFor(() => ledgerRows(t.ledgerPath).length === 1, { what: 'the first row' });
      // a second writer holds the write lock (as `sqlite3 usage.db` with BEGIN EXCLUSIVE would)
      holder = spawn('sqlite3', [t.ledgerPath], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      holder.stdout.on('data', (c) => { out += c; });
      holder.stdin.write("BEGIN EXCLUSIVE;\nINSERT INTO requests (ts) VALUES (0);\nSELECT 'locked';\n");
      await waitFor(() => out.includes('locked'), { what: 'the lock' });
      const from = t.d.mark();
      const t0 = Date.now();
      await posts(t, 10);
      assert.ok(Date.now() - t0 < 5000, 'requests did not wait for the disk');
      await t.d.waitLog(/ledger/i, { from, timeoutMs: 8000, what: 'a ledger warning' });
      holder.stdin.write('ROLLBACK;\n.quit\n');
      await new Promise((r) => holder.on('exit', r));
      holder = null;
      await waitFor(() => ledgerRows(t.ledgerPath).length === 11, { timeoutMs: 15000, what: 'the 10 rows after the lock' });
    } finally {
      if (holder) holder.kill('SIGKILL');
      await t.close({ keepDirs: true });
      removeDirs(dirs);
    }
  });

  test('deleted while the server runs: the file is created again and the rows land in it', async () => {
    const dirs = makeDirs();
    const t = await startTeam({ dirs, settings: () => ({ ledger: { flushMs: 100 } }) });
    try {
      await posts(t, 3);
      await waitFor(() => ledgerRows(t.ledgerPath).length === 3, { what: 'three rows' });
      for (const f of ['', '-wal', '-shm']) fs.rmSync(t.ledgerPath + f, { force: true });
      await posts(t, 4);
      await waitFor(() => ledgerRows(t.ledgerPath).length === 4, { timeoutMs: 15000, what: 'the 4 rows in the new file' });
      assert.equal(fs.statSync(t.ledgerPath).mode & 0o777, 0o600);
    } finally {
      await t.close({ keepDirs: true });
      removeDirs(dirs);
    }
  });

  test('unwritable (its directory replaced by a file), then writable again: nothing lost; an overflowing queue counts its losses', async () => {
    const dirs = makeDirs();
    const dir = path.join(dirs.root, 'ledger');
    const file = path.join(dir, 'usage.db');
    // root ignores file modes: an unwritable path is one whose directory is a regular file (ENOTDIR)
    const t = await startTeam({ dirs, settings: () => ({ ledger: { path: file, flushMs: 100, queueRows: 100 } }) });
    try {
      await posts(t, 2);
      await waitFor(() => ledgerRows(file).length === 2, { what: 'two rows' });
      fs.rmSync(dir, { recursive: true });
      fs.writeFileSync(dir, 'not a directory');
      const from = t.d.mark();
      await posts(t, 120); // 100 wait, 20 are dropped
      await t.d.waitLog((j) => j && /ledger/i.test(j.msg) && /drop/i.test(JSON.stringify(j)), { from, timeoutMs: 8000, what: 'the drop count' });
      fs.rmSync(dir);
      await waitFor(() => ledgerRows(file).length === 100, { timeoutMs: 20000, what: 'the 100 queued rows' });
      await posts(t, 1);
      await waitFor(() => ledgerRows(file).length === 101, { timeoutMs: 5000, what: 'new rows again' });
      const lines = t.d.jsonLines().filter((j) => /ledger/i.test(j.msg));
      assert.ok(lines.some((j) => JSON.stringify(j).includes('20')), `the loss is counted: ${JSON.stringify(lines)}`);
      assert.ok(lines.length < 40, `ledger warnings are rate limited: ${lines.length} lines`);
    } finally {
      await t.close({ keepDirs: true });
      removeDirs(dirs);
    }
  });
});

/** Runs <cmd> with <args>; fails the test with its output when it does not exit 0. */
function must(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10000 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
}

describe('a full or read-only database', () => {
  test('full (a file-size limit on the server): requests flow, rows wait, and land once there is room', async () => {
    const dirs = makeDirs();
    const t = await startTeam({ dirs, settings: () => ({ ledger: { flushMs: 100 } }) });
    try {
      await posts(t, 1);
      await waitFor(() => ledgerRows(t.ledgerPath).length === 1, { what: 'the first row' });
      // commits append to the write-ahead log: it may not grow past its size now (SIGXFSZ is ignored)
      const size = Math.max(fs.existsSync(`${t.ledgerPath}-wal`) ? fs.statSync(`${t.ledgerPath}-wal`).size : 0, 4096);
      must('prlimit', ['--pid', String(t.d.proc.pid), `--fsize=${size}:unlimited`]);
      const from = t.d.mark();
      await posts(t, 40);
      await t.d.waitLog((j) => j && /ledger write failed/.test(j.msg), { from, timeoutMs: 8000, what: 'the failure' });
      assert.ok(t.d.alive(), 'the server survives the file-size limit');
      assert.equal(ledgerRows(t.ledgerPath).length, 1, 'nothing more fitted');
      must('prlimit', ['--pid', String(t.d.proc.pid), '--fsize=unlimited:unlimited']);
      await waitFor(() => ledgerRows(t.ledgerPath).length === 41, { timeoutMs: 20000, what: 'the 40 waiting rows' });
      await t.d.waitLog((j) => j && /ledger writes again/.test(j.msg), { from, timeoutMs: 5000, what: 'the recovery' });
    } finally {
      await t.close({ keepDirs: true });
      removeDirs(dirs);
    }
  });

  // As root, file modes make nothing read-only; the immutable attribute (ext4, xfs, btrfs) does, for
  // root too. As another user, test_ledger.c covers a read-only file.
  test('read-only (immutable) while the server runs: requests flow, rows wait, then land', { skip: process.getuid() !== 0 && 'needs root for chattr +i' }, async () => {
    const dirs = makeDirs();
    const t = await startTeam({ dirs, settings: () => ({ ledger: { flushMs: 100 } }) });
    const files = [t.ledgerPath, `${t.ledgerPath}-wal`];
    let locked = false;
    try {
      await posts(t, 2);
      await waitFor(() => ledgerRows(t.ledgerPath).length === 2, { what: 'two rows' });
      must('chattr', ['+i', ...files]);
      locked = true;
      const from = t.d.mark();
      await posts(t, 10);
      await t.d.waitLog((j) => j && /ledger write failed/.test(j.msg), { from, timeoutMs: 8000, what: 'the failure' });
      must('chattr', ['-i', ...files]);
      locked = false;
      await waitFor(() => ledgerRows(t.ledgerPath).length === 12, { timeoutMs: 20000, what: 'the 10 waiting rows' });
    } finally {
      if (locked) spawnSync('chattr', ['-i', ...files]);
      await t.close({ keepDirs: true });
      removeDirs(dirs);
    }
  });
});

describe('hostile ledger paths at start', () => {
  for (const [name, prep] of [
    ['a directory', (p) => fs.mkdirSync(p, { recursive: true })],
    ['a file that is not a database', (p) => { fs.mkdirSync(path.dirname(p), { recursive: true }); fs.writeFileSync(p, 'x'.repeat(5000)); }],
  ]) {
    test(`${name}: the server does not start, and says why`, async () => {
      const dirs = makeDirs();
      const oai = await startMock({ name: 'oai' });
      const anth = await startMock({ name: 'anth' });
      const file = path.join(dirs.root, 'l', 'usage.db');
      prep(file);
      try {
        await assert.rejects(
          startDaemon({ dirs, homeSettings: teamSettings({ oai, anth }, { ledger: { path: file } }), timeoutMs: 3000 }),
          (e) => new RegExp(`code ${CONFIG_EXIT}`).test(e.message) && e.message.includes(file) && /ledger/.test(e.message));
        const off = await runCli(['config'], { dirs, homeSettings: teamSettings({ oai, anth }, { ledger: { path: file, enabled: false } }) });
        assert.equal(off.code, 0, off.stderr);
      } finally {
        await oai.close();
        await anth.close();
        removeDirs(dirs);
      }
    });
  }
});
