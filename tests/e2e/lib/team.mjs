// Helpers for the team-access tests (9x): developer keys as the config stores them, a proxy with a
// mock OpenAI-style and a mock Anthropic-style upstream, and the usage ledger read with the sqlite3 CLI
// (the real SQLite library and file, as the admin's `sqlite3` would see them).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startDaemon, request, makeDirs, removeDirs, writeFile } from './daemon.mjs';
import { startMock } from './mock-upstream.mjs';

export const ALICE = 'ccp_aliceAliceAliceAliceAliceAliceAliceAlice1';
export const BOB = 'ccp_bobBobBobBobBobBobBobBobBobBobBobBobBobBo2';
export const CAROL = 'ccp_carolCarolCarolCarolCarolCarolCarolCaro3';

export const sha256 = (s) => createHash('sha256').update(s).digest('hex');

/** An auth.keys entry for <key>, named <name>, with the limit fields in <extra>. */
export function keyEntry(name, key, extra = {}) {
  return { name, sha256: sha256(key), ...extra };
}

/** The settings of a team proxy: provider "oai" (OpenAI style, mock <oai>), "anth" (Anthropic style,
 * mock <anth>); "gpt-*" and "claude-*" route there; <extra> is merged at the top level. */
export function teamSettings({ oai, anth }, extra = {}) {
  return {
    providers: {
      oai: { baseURL: `${oai.url}/v1`, apiKey: 'sk-prov-SECRET-oai' },
      anth: { baseURL: anth.url, responseStyle: 'anthropic', apiKey: 'sk-ant-prov-SECRET' },
    },
    models: {
      bigModel: 'gpt-big@oai', smallModel: 'gpt-small@oai', preferredProvider: 'oai',
      map: { 'gpt-*': 'gpt-4o@oai', 'claude-*': 'claude-up@anth' },
    },
    ledger: { flushMs: 100 },
    retry: { maxAttempts: 1 }, // one upstream answer, one row (retries: tests/e2e/99-retry.test.mjs)
    breaker: { failures: 0, failureRate: 0 }, // scripted failures keep reaching the mocks
    ...extra,
  };
}

/**
 * Mocks + a daemon. opts: {settings(mocks) → extra top-level settings, dirs, daemon: extra startDaemon opts}
 * → {d, oai, anth, dirs, port, post(key, body, headers), close({keepDirs})}
 */
export async function startTeam(opts = {}) {
  const oai = opts.oai || await startMock({ name: 'oai' });
  const anth = opts.anth || await startMock({ name: 'anth' });
  const dirs = opts.dirs || makeDirs();
  const homeSettings = teamSettings({ oai, anth }, opts.settings ? opts.settings({ oai, anth }) : {});
  let d;
  try {
    d = await startDaemon({ dirs, homeSettings, ...(opts.daemon || {}) });
  } catch (e) {
    await oai.close();
    await anth.close();
    if (!opts.dirs) removeDirs(dirs);
    throw e;
  }
  const t = {
    d, oai, anth, dirs, port: d.port,
    ledgerPath: path.join(dirs.home, '.ccproxy', 'usage.db'),
    post: (key, body, headers = {}, p = '/v1/messages') => request(d.port, {
      method: 'POST', path: p, body, timeoutMs: 10000,
      headers: { 'anthropic-version': '2023-06-01', ...(key ? { 'x-api-key': key } : {}), ...headers },
    }),
    /** Rewrites ~/.ccproxy/settings.json atomically (as `ccproxy keys` does) with new extra settings. */
    rewrite(extraFn) {
      const file = dirs.homeSettingsPath;
      const tmp = `${file}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify(teamSettings({ oai, anth }, extraFn({ oai, anth })), null, 2));
      fs.renameSync(tmp, file);
    },
    async close({ keepDirs = false } = {}) {
      let err;
      try { await d.stop(); } catch (e) { err = e; }
      if (!opts.oai) await oai.close().catch(() => {});
      if (!opts.anth) await anth.close().catch(() => {});
      if (!keepDirs && !opts.dirs) removeDirs(dirs);
      if (err) throw err;
    },
  };
  return t;
}

export const body = (model = 'gpt-4o', extra = {}) => ({
  model, max_tokens: 64, messages: [{ role: 'user', content: 'hi' }], ...extra,
});

/** The ledger's rows (oldest first), read with the sqlite3 CLI. */
export function ledgerRows(file, where = '1') {
  if (!fs.existsSync(file)) return [];
  const r = spawnSync('sqlite3', ['-json', `file:${file}?mode=ro`, `SELECT * FROM requests WHERE ${where} ORDER BY id`],
    { encoding: 'utf8', timeout: 10000 });
  assert.equal(r.status, 0, `sqlite3 failed: ${r.stderr}`);
  return r.stdout.trim() === '' ? [] : JSON.parse(r.stdout);
}

export { makeDirs, removeDirs, writeFile };
