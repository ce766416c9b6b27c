// `ccproxy keys add|rotate|revoke|list` (daemon/keys.c, lib/cli/cp_keys.c) against a temp HOME: the key is
// printed once, on stdout alone, and only its SHA-256 reaches the file (0600, every other setting kept in
// order); hostile flag values, a symbolic link and settings that would not load change nothing; a
// running server takes a new key without a restart (and `keys` says so once it has), refuses a revoked or
// rotated one, and a stream of another key in flight meanwhile ends complete.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { runCli, makeDirs, removeDirs, writeFile, SANITIZER_RE, CONFIG_EXIT, USAGE_EXIT } from './lib/daemon.mjs';
import { startTeam, keyEntry, sha256, body, BOB } from './lib/team.mjs';
import { openStream, anthTextEvents, assertCompleteStream, streamedText, sleep } from './lib/stream.mjs';

const KEY_RE = /^ccp_[0-9A-Za-z]{43}$/;
const ISO_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

const cleanups = [];
after(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function ownDirs() {
  const dirs = makeDirs();
  cleanups.push(() => removeDirs(dirs));
  return dirs;
}

/** `ccproxy keys ARGS` in <dirs> (HOME, CWD, CCPROXY_MANAGED_PATH), bounded. */
async function keys(dirs, args, { env = {}, timeoutMs = 15000 } = {}) {
  const r = await runCli(['keys', ...args], { dirs, env, timeoutMs });
  assert.doesNotMatch(r.stderr, SANITIZER_RE, r.stderr);
  return r;
}

/** The key printed by add/rotate: the whole of stdout is the key and one newline. */
function printedKey(r, ctx = '') {
  assert.equal(r.code, 0, `exit code${ctx}\nstderr: ${r.stderr}`);
  assert.match(r.stdout, /^ccp_[0-9A-Za-z]{43}\n$/, `stdout is the key alone on one line${ctx}: ${JSON.stringify(r.stdout)}`);
  const key = r.stdout.trim();
  assert.ok(!r.stderr.includes(key), `the key is not repeated on stderr${ctx}`);
  return key;
}

const readJson = (p) => JSON.parse(fs.readFileSync(p, 'utf8'));
const mode = (p) => fs.statSync(p).mode & 0o777;

/** Every file under <dir> whose bytes contain <needle>. */
function filesHolding(dir, needle) {
  const hits = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && fs.readFileSync(p).includes(needle)) hits.push(p);
    }
  };
  walk(dir);
  return hits;
}

describe('keys add, rotate, revoke on the settings file', () => {
  test('add: the key once on stdout, only its digest in the file (0600), every other setting kept in order', async () => {
    const dirs = ownDirs();
    const before = { logging: { level: 'warn' }, server: { port: 18123, host: '127.0.0.1' }, models: { map: { 'x-*': 'y' } } };
    writeFile(dirs.homeSettingsPath, before);
    fs.chmodSync(dirs.homeSettingsPath, 0o600);
    const r = await keys(dirs, ['add', 'alice', '--models', 'claude-*, gpt-5*@openai', '--rpm', '60', '--tpm', '400000',
      '--max-streams', '8', '--budget-usd', '50']);
    const key = printedKey(r);
    assert.match(key, KEY_RE);
    assert.match(r.stderr, /shown once/);
    assert.match(r.stderr, /ccproxy init --remote \S+ --key -/, 'says how the developer uses it');
    assert.match(r.stderr, /within about 2 seconds/);
    const after1 = readJson(dirs.homeSettingsPath);
    assert.deepEqual(Object.keys(after1), ['logging', 'server', 'models', 'auth'], 'member order kept, auth appended');
    for (const k of Object.keys(before)) assert.deepEqual(after1[k], before[k], `${k} unchanged`);
    assert.equal(after1.auth.keys.length, 1);
    const e = after1.auth.keys[0];
    assert.deepEqual(Object.keys(e), ['name', 'sha256', 'created', 'models', 'rpm', 'tpm', 'maxStreams', 'budget']);
    assert.equal(e.name, 'alice');
    assert.equal(e.sha256, sha256(key), 'the digest of the printed key');
    assert.match(e.created, ISO_RE);
    assert.ok(Math.abs(Date.parse(e.created) - Date.now()) < 60000, `created is now: ${e.created}`);
    assert.deepEqual(e.models, ['claude-*', 'gpt-5*@openai']);
    assert.equal(e.rpm, 60);
    assert.equal(e.tpm, 400000);
    assert.equal(e.maxStreams, 8);
    assert.deepEqual(e.budget, { usd: 50, per: 'month' });
    assert.equal(mode(dirs.homeSettingsPath), 0o600);
    assert.deepEqual(filesHolding(dirs.root, key), [], 'the key itself is in no file');
    assert.deepEqual(fs.readdirSync(path.dirname(dirs.homeSettingsPath)).sort(), ['settings.json'], 'no temporary file left');
    // the server's own loader accepts what was written
    const cfg = await runCli(['config'], { dirs });
    assert.equal(cfg.code, 0, cfg.stderr);
  });

  test('add without a settings file creates ~/.ccproxy (0700) and the file (0600); a second add appends', async () => {
    const dirs = ownDirs();
    const a = printedKey(await keys(dirs, ['add', 'alice']));
    assert.equal(mode(path.dirname(dirs.homeSettingsPath)), 0o700);
    assert.equal(mode(dirs.homeSettingsPath), 0o600);
    const b = printedKey(await keys(dirs, ['add', 'bob', '--budget-tokens', '5000', '--per', 'week']));
    assert.notEqual(a, b);
    const ks = readJson(dirs.homeSettingsPath).auth.keys;
    assert.deepEqual(ks.map((k) => k.name), ['alice', 'bob']);
    assert.deepEqual(Object.keys(ks[0]), ['name', 'sha256', 'created'], 'no limit given, none written');
    assert.deepEqual(ks[1].budget, { tokens: 5000, per: 'week' });
    assert.deepEqual([ks[0].sha256, ks[1].sha256], [sha256(a), sha256(b)]);
  });

  test('an existing name is refused (exit 1, pointing at rotate); rotate and revoke of an unknown name exit 1 naming the file', async () => {
    const dirs = ownDirs();
    printedKey(await keys(dirs, ['add', 'alice', '--rpm', '5']));
    const bytes = fs.readFileSync(dirs.homeSettingsPath);
    const dup = await keys(dirs, ['add', 'alice']);
    assert.equal(dup.code, 1, dup.stderr);
    assert.equal(dup.stdout, '', 'no key printed');
    assert.match(dup.stderr, /key alice exists.*`ccproxy keys rotate alice`/);
    for (const sub of ['rotate', 'revoke']) {
      const r = await keys(dirs, [sub, 'zed']);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stdout, '');
      assert.ok(r.stderr.includes('zed') && r.stderr.includes(dirs.homeSettingsPath), r.stderr);
    }
    assert.deepEqual(fs.readFileSync(dirs.homeSettingsPath), bytes, 'file untouched');
  });

  test('rotate replaces the digest and the time only; revoke removes the entry', async () => {
    const dirs = ownDirs();
    const old = printedKey(await keys(dirs, ['add', 'alice', '--models', 'claude-*', '--rpm', '7']));
    printedKey(await keys(dirs, ['add', 'bob']));
    const e0 = readJson(dirs.homeSettingsPath).auth.keys[0];
    await sleep(1100); // a new second for "created"
    const r = await keys(dirs, ['rotate', 'alice']);
    const neu = printedKey(r);
    assert.notEqual(neu, old);
    const ks = readJson(dirs.homeSettingsPath).auth.keys;
    assert.deepEqual(ks.map((k) => k.name), ['alice', 'bob'], 'same place in the list');
    assert.equal(ks[0].sha256, sha256(neu));
    assert.deepEqual({ ...ks[0], sha256: 0, created: 0 }, { ...e0, sha256: 0, created: 0 }, 'name, models, limits kept');
    assert.ok(Date.parse(ks[0].created) > Date.parse(e0.created), `created updated: ${e0.created} -> ${ks[0].created}`);
    const rv = await keys(dirs, ['revoke', 'alice']);
    assert.equal(rv.code, 0, rv.stderr);
    assert.equal(rv.stdout, '', 'revoke prints no key');
    assert.deepEqual(readJson(dirs.homeSettingsPath).auth.keys.map((k) => k.name), ['bob']);
  });

  test('hostile flag values: exit 2 naming the flag, nothing written', async () => {
    const dirs = ownDirs();
    const cases = [
      [['--rpm', '12abc'], '--rpm'], [['--rpm', '-1'], '--rpm'], [['--rpm', '0'], '--rpm'], [['--rpm', '100001'], '--rpm'],
      [['--rpm', '99999999999999999999999'], '--rpm'], [['--rpm', '1e3'], '--rpm'], [['--rpm', ' 5'], '--rpm'],
      [['--tpm', '1e999'], '--tpm'], [['--tpm', '1.5'], '--tpm'], [['--max-streams', '100001'], '--max-streams'],
      [['--budget-usd', '1e999'], '--budget-usd'], [['--budget-usd', '-5'], '--budget-usd'], [['--budget-usd', '0'], '--budget-usd'],
      [['--budget-usd', 'nan'], '--budget-usd'], [['--budget-usd', '12abc'], '--budget-usd'],
      [['--budget-tokens', '1.5'], '--budget-tokens'], [['--budget-tokens', '0'], '--budget-tokens'],
      [['--models', 'a,,b'], '--models'], [['--models', ' , '], '--models'], [['--models', 'a,'], '--models'],
      [['--rpm', ''], '--rpm'], [['--per', 'year', '--budget-usd', '5'], '--per'],
    ];
    for (const [extra, flag] of cases) {
      const r = await keys(dirs, ['add', 'alice', ...extra]);
      const c = `\nargs: ${JSON.stringify(extra)}\nstderr: ${r.stderr}`;
      assert.equal(r.code, USAGE_EXIT, `exit 2${c}`);
      assert.ok(r.stderr.includes(flag), `names ${flag}${c}`);
      assert.equal(r.stdout, '', `no key printed${c}`);
    }
    for (const name of ['bad name', '../x', 'a/b', 'x'.repeat(65), 'é']) {
      const r = await keys(dirs, ['add', name]);
      assert.equal(r.code, USAGE_EXIT, `name ${JSON.stringify(name)}: ${r.stderr}`);
    }
    assert.ok(!fs.existsSync(dirs.homeSettingsPath), 'no settings file was created');
  });

  test('a symbolic link in place of the settings file is refused, and its target left alone', async () => {
    const dirs = ownDirs();
    const target = path.join(dirs.root, 'elsewhere.json');
    writeFile(target, { logging: { level: 'info' } });
    const bytes = fs.readFileSync(target);
    fs.mkdirSync(path.dirname(dirs.homeSettingsPath), { recursive: true, mode: 0o700 });
    fs.symlinkSync(target, dirs.homeSettingsPath);
    const r = await keys(dirs, ['add', 'alice']);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /symbolic link/);
    assert.ok(fs.lstatSync(dirs.homeSettingsPath).isSymbolicLink(), 'the link is still there');
    assert.deepEqual(fs.readFileSync(target), bytes);
  });

  test('settings that would not load are never written (exit 78, why): a bad file, a bad entry, another layer', async () => {
    const dirs = ownDirs();
    const cases = [
      ['not JSON', '{"logging": ', {}, /settings\.json:\d+:\d+/],
      ['auth.keys with a misspelt limit', JSON.stringify({ auth: { keys: [{ name: 'old', sha256: 'a'.repeat(64), rmp: 5 }] } }), {}, /rmp/],
      ['auth is not an object', JSON.stringify({ auth: [] }), {}, /auth/],
      ['a server value the loader refuses', JSON.stringify({ server: { port: 'nope' } }), {}, /server\.port/],
      ['CCPROXY_CONFIG names a broken file', JSON.stringify({ logging: { level: 'info' } }),
        { CCPROXY_CONFIG: path.join(dirs.root, 'broken.json') }, /broken\.json/],
    ];
    writeFile(path.join(dirs.root, 'broken.json'), '{ nope');
    for (const [what, text, env, why] of cases) {
      writeFile(dirs.homeSettingsPath, text);
      const r = await keys(dirs, ['add', 'alice'], { env });
      const c = `\n${what}\nstderr: ${r.stderr}`;
      assert.equal(r.code, CONFIG_EXIT, `exit 78${c}`);
      assert.match(r.stderr, why, c);
      assert.equal(r.stdout, '', `no key printed${c}`);
      assert.equal(fs.readFileSync(dirs.homeSettingsPath, 'utf8'), text, `file unchanged${c}`);
      assert.deepEqual(fs.readdirSync(path.dirname(dirs.homeSettingsPath)), ['settings.json'], `no temporary file left${c}`);
    }
  });

  test('--scope system edits $CCPROXY_MANAGED_PATH and keeps its mode', async () => {
    const dirs = ownDirs();
    writeFile(dirs.managedPath, { logging: { format: 'json' } });
    fs.chmodSync(dirs.managedPath, 0o644);
    const key = printedKey(await keys(dirs, ['add', 'svc', '--scope', 'system']));
    const m = readJson(dirs.managedPath);
    assert.deepEqual(m.logging, { format: 'json' });
    assert.equal(m.auth.keys[0].sha256, sha256(key));
    assert.equal(mode(dirs.managedPath), 0o644, 'the mode the service reads it with');
    assert.ok(!fs.existsSync(dirs.homeSettingsPath), 'the user file was not touched');
    assert.ok(listShows(await keys(dirs, ['list']), dirs.managedPath));
  });
});

function listShows(r, s) {
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.includes(s);
}

describe('keys list', () => {
  test('names, id, limits, created and last used from the ledger; never the key or the digest', async () => {
    const t = await startTeam({ settings: () => ({ auth: { keys: [keyEntry('bob', BOB, { rpm: 9, budget: { usd: 5, per: 'day' } })] } }) });
    cleanups.push(() => t.close());
    const alice = printedKey(await keys(t.dirs, ['add', 'alice', '--models', 'gpt-*']));
    let ok;
    for (let i = 0; i < 60; i++) { // the server reloads within ~2 s of the rename
      ok = await t.post(alice, body());
      if (ok.status === 200) break;
      await sleep(100);
    }
    assert.equal(ok.status, 200, `alice's key is served: ${ok.text}`);
    let rows;
    for (let i = 0; i < 50; i++) { // the ledger is written in batches
      const r = await keys(t.dirs, ['list', '--json']);
      assert.equal(r.code, 0, r.stderr);
      rows = JSON.parse(r.stdout);
      if (rows.find((x) => x.name === 'alice').lastUsed !== 'never') break;
      await sleep(100);
    }
    const a = rows.find((x) => x.name === 'alice');
    const b = rows.find((x) => x.name === 'bob');
    assert.match(a.lastUsed, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$/);
    assert.ok(Math.abs(Date.parse(a.lastUsed) - Date.now()) < 60000, a.lastUsed);
    assert.equal(b.lastUsed, 'never');
    assert.equal(a.id, sha256(alice).slice(0, 12));
    assert.equal(b.id, sha256(BOB).slice(0, 12));
    assert.deepEqual(a.models, ['gpt-*']);
    assert.equal(b.rpm, 9);
    assert.deepEqual(b.budget, { usd: 5, per: 'day' });
    assert.equal(a.source, t.dirs.homeSettingsPath);
    const table = await keys(t.dirs, ['list']);
    assert.equal(table.code, 0, table.stderr);
    for (const s of ['NAME', 'LAST USED', 'alice', 'bob', 'never', '$5/day', 'gpt-*', t.dirs.homeSettingsPath]) {
      assert.ok(table.stdout.includes(s), `table shows ${s}:\n${table.stdout}`);
    }
    for (const out of [JSON.stringify(rows), table.stdout]) {
      assert.ok(!out.includes(alice) && !out.includes(sha256(alice)) && !out.includes(sha256(BOB)), 'no key, no whole digest');
    }
  });

  test('the merged view: keys of the managed file override the user\'s, with their source', async () => {
    const dirs = ownDirs();
    printedKey(await keys(dirs, ['add', 'mine']));
    printedKey(await keys(dirs, ['add', 'svc', '--scope', 'system']));
    const add = await keys(dirs, ['add', 'other']);
    printedKey(add);
    assert.match(add.stderr, /overrides/, 'says the user file is overridden');
    const rows = JSON.parse((await keys(dirs, ['list', '--json'])).stdout);
    assert.deepEqual(rows.map((r) => [r.name, r.source]), [['svc', dirs.managedPath]]);
    const none = ownDirs();
    const r = await keys(none, ['list']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /no developer keys.*ccproxy keys add NAME/);
    assert.deepEqual(JSON.parse((await keys(none, ['list', '--json'])).stdout), []);
  });
});

describe('a running server', () => {
  test('takes a new key without a restart, refuses a revoked or rotated one; a stream of another key keeps going', async () => {
    const t = await startTeam({
      settings: () => ({ server: { host: '127.0.0.1' }, auth: { keys: [keyEntry('bob', BOB)] } }),
      daemon: { portInHomeSettings: true }, // so that `ccproxy keys` finds it where the settings say
    });
    cleanups.push(() => t.close());
    const pid = t.d.proc.pid;
    const reloaded = (r, n) => assert.match(r.stderr, new RegExp(`the running proxy \\(pid ${pid}\\) has reloaded: ${n} keys`), r.stderr);

    // add: confirmed by the tool, then served at once
    const add = await keys(t.dirs, ['add', 'alice']);
    const alice = printedKey(add);
    reloaded(add, 2);
    assert.equal((await t.post(alice, body())).status, 200, 'alice is served right after the confirmation');

    // bob's stream, paused upstream in the middle while keys change
    const pieces = ['first ', 'second ', 'third'];
    const ev = anthTextEvents(pieces);
    t.anth.enqueue({ chunks: [...ev.slice(0, 4), { pauseMs: 6000 }, ...ev.slice(4)], gapMs: 5 });
    const s = openStream(t.port, body('claude-x', { stream: true }), { headers: { 'x-api-key': BOB }, timeoutMs: 30000 });
    await s.waitFor((text) => text.includes('first '), 5000, 'the first piece');

    const rv = await keys(t.dirs, ['revoke', 'alice']);
    assert.equal(rv.code, 0, rv.stderr);
    reloaded(rv, 1);
    const refused = await t.post(alice, body());
    assert.equal(refused.status, 401, `revoked: ${refused.text}`);
    assert.equal(refused.json.error.type, 'authentication_error');

    const rot = await keys(t.dirs, ['rotate', 'bob']);
    const bob2 = printedKey(rot);
    reloaded(rot, 1);
    assert.equal((await t.post(BOB, body())).status, 401, 'the old key of a rotated name is refused');
    assert.equal((await t.post(bob2, body())).status, 200, 'the new one is served');

    const res = await s.done;
    assert.equal(res.status, 200);
    assertCompleteStream(res.text, { ctx: '\nthe stream of the old key in flight ends complete' });
    assert.equal(streamedText(res.events), pieces.join(''));
    assert.ok(t.d.alive(), 'no restart');
    assert.equal(t.d.proc.pid, pid);
    const log = t.d.stderrText();
    for (const k of [alice, bob2]) assert.ok(!log.includes(k), 'no key in the server log');
    assert.ok(t.d.jsonLines().filter((l) => l.msg === 'config reloaded').length >= 3, 'reloaded by itself');
  });
});
