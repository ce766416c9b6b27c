// Config validation (exit 78), unknown-key warnings, and layering precedence via `ccproxy config`.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  runCli, startDaemon, parseConfigOutput, makeDirs, removeDirs, writeFile, freePort, CONFIG_EXIT, trustFile,
} from './lib/daemon.mjs';

const PREFIX = 'ccproxy: config error: ';
const nonEmptyLines = (s) => s.split('\n').filter((l) => l.trim() !== '');
const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Run `ccproxy server` with a bad config; it must exit 78 with one "config error" line. */
async function expectConfigError(opts, { args = [], portFlag = true } = {}) {
  const dirs = makeDirs();
  try {
    // --port would legitimately override a bad server.port from a file, so it is left out there
    const portArgs = portFlag ? ['--port', String(await freePort())] : [];
    const r = await runCli(['server', '--host', '127.0.0.1', ...portArgs, ...args], { ...opts, dirs });
    assert.equal(r.code, CONFIG_EXIT,
      `expected exit ${CONFIG_EXIT} (signal ${r.signal})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    const lines = nonEmptyLines(r.stderr);
    assert.equal(lines.length, 1, `exactly one stderr line:\n${r.stderr}`);
    assert.ok(lines[0].startsWith(PREFIX), `stderr line starts with "${PREFIX}":\n${lines[0]}`);
    return { line: lines[0], dirs };
  } finally {
    removeDirs(dirs);
  }
}

describe('bad config exits 78 without starting', () => {
  test('invalid JSON in home settings → file:line:col', async () => {
    const text = '{\n  "server": {\n    "port": @@@\n  }\n}\n';
    const { line, dirs } = await expectConfigError({ homeSettings: text });
    const m = new RegExp(`${escapeRe(dirs.homeSettingsPath)}:(\\d+):(\\d+):`).exec(line);
    assert.ok(m, `line names ${dirs.homeSettingsPath}:line:col:\n${line}`);
    assert.equal(Number(m[1]), 3, `error is on line 3:\n${line}`);
    assert.ok(Number(m[2]) >= 1, 'column is positive');
  });

  test('invalid JSON (truncated) in cwd settings → file:line:col', async () => {
    const { line, dirs } = await expectConfigError({ cwdSettings: '{"server": {"port": 8082}' });
    assert.match(line, new RegExp(`${escapeRe(dirs.cwdSettingsPath)}:\\d+:\\d+:`), line);
  });

  test('invalid JSON in managed file names the managed path', async () => {
    const { line, dirs } = await expectConfigError({ managedSettings: '{ nope' });
    assert.match(line, new RegExp(`${escapeRe(dirs.managedPath)}:\\d+:\\d+:`), line);
  });

  test('invalid JSON in CCPROXY_CONFIG file names that file', async () => {
    const d = makeDirs();
    try {
      const extra = `${d.root}/env-extra.json`;
      writeFile(extra, '[1, 2,, ]');
      const port = await freePort();
      const r = await runCli(['server', '--host', '127.0.0.1', '--port', String(port)],
        { dirs: d, env: { CCPROXY_CONFIG: extra } });
      assert.equal(r.code, CONFIG_EXIT, `stderr: ${r.stderr}`);
      const lines = nonEmptyLines(r.stderr);
      assert.equal(lines.length, 1, r.stderr);
      assert.ok(lines[0].startsWith(PREFIX), lines[0]);
      assert.match(lines[0], new RegExp(`${escapeRe(extra)}:\\d+:\\d+:`), lines[0]);
    } finally {
      removeDirs(d);
    }
  });

  test('invalid JSON in --config file names that file', async () => {
    const d = makeDirs();
    try {
      const extra = `${d.root}/flag-extra.json`;
      writeFile(extra, '{"server": }');
      const port = await freePort();
      const r = await runCli(['server', '--host', '127.0.0.1', '--port', String(port), '--config', extra], { dirs: d });
      assert.equal(r.code, CONFIG_EXIT, `stderr: ${r.stderr}`);
      const lines = nonEmptyLines(r.stderr);
      assert.equal(lines.length, 1, r.stderr);
      assert.ok(lines[0].startsWith(PREFIX), lines[0]);
      assert.match(lines[0], new RegExp(`${escapeRe(extra)}:\\d+:\\d+:`), lines[0]);
    } finally {
      removeDirs(d);
    }
  });

  const semantic = [
    { name: 'server.port is a string', settings: { server: { port: '8080' } }, path: 'server.port' },
    { name: 'server.port is 70000', settings: { server: { port: 70000 } }, path: 'server.port' },
    {
      name: 'providers.openai.baseURL is not http(s)',
      settings: { providers: { openai: { baseURL: 'ftp://example.com/v1' } } },
      path: 'providers.openai.baseURL',
    },
    {
      name: 'new provider with a non-URL baseURL',
      settings: { providers: { acme: { baseURL: 'not a url', responseStyle: 'openai' } } },
      path: 'providers.acme.baseURL',
    },
    {
      name: 'providers.openai.responseStyle is "bogus"',
      settings: { providers: { openai: { responseStyle: 'bogus' } } },
      path: 'providers.openai.responseStyle',
    },
    {
      name: 'models.bigModel routes to a provider that does not exist',
      settings: { models: { bigModel: 'm@nosuch' } },
      path: 'models.bigModel',
    },
  ];
  for (const c of semantic) {
    test(`${c.name} → names file and ${c.path}`, async () => {
      const { line, dirs } = await expectConfigError({ cwdSettings: c.settings },
        { portFlag: !c.path.startsWith('server.port') });
      assert.ok(line.includes(dirs.cwdSettingsPath), `line names the file ${dirs.cwdSettingsPath}:\n${line}`);
      assert.ok(line.includes(c.path), `line names ${c.path}:\n${line}`);
    });
  }

  test('models.bigModel m@nosuch also names "nosuch"', async () => {
    const { line } = await expectConfigError({ homeSettings: { models: { bigModel: 'm@nosuch' } } });
    assert.ok(line.includes('nosuch'), line);
  });

  test('CCPROXY_PORT=abc → names CCPROXY_PORT', async () => {
    const d = makeDirs();
    try {
      // no --port flag here, so the env value is actually used
      const r = await runCli(['server', '--host', '127.0.0.1'], { dirs: d, env: { CCPROXY_PORT: 'abc' } });
      assert.equal(r.code, CONFIG_EXIT, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
      const lines = nonEmptyLines(r.stderr);
      assert.equal(lines.length, 1, r.stderr);
      assert.ok(lines[0].startsWith(PREFIX), lines[0]);
      assert.ok(lines[0].includes('CCPROXY_PORT'), lines[0]);
    } finally {
      removeDirs(d);
    }
  });

  test('`ccproxy config` also rejects a bad config with 78', async () => {
    const r = await runCli(['config'], { homeSettings: { server: { port: 70000 } } });
    assert.equal(r.code, CONFIG_EXIT, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
    assert.ok(r.stderr.includes(PREFIX), r.stderr);
    assert.ok(r.stderr.includes('server.port'), r.stderr);
  });
});

describe('unknown key', () => {
  test('server.colour → warning naming it, server still starts', async (t) => {
    const d = await startDaemon({ homeSettings: { server: { colour: 'blue' } } });
    t.after(() => d.stop());
    const warn = d.stderrText().split('\n').filter((l) => l.includes('server.colour'));
    assert.ok(warn.length >= 1, `a stderr line names server.colour:\n${d.stderrText()}`);
    assert.ok(d.alive(), 'daemon still running');
  });
});

describe('layering (defaults < home < cwd < managed < env < flags)', () => {
  test('each layer overrides the previous one, sources follow', async () => {
    const dirs = makeDirs();
    try {
      const envFile = `${dirs.root}/env-extra.json`;
      const flagFile = `${dirs.root}/flag-extra.json`;
      writeFile(dirs.homeSettingsPath, { server: { port: 1111, maxBodyBytes: 2048 }, logging: { level: 'debug' } });
      writeFile(dirs.cwdSettingsPath, { server: { port: 2222 } });
      trustFile(dirs); // a project file is applied once trusted (73-trust)
      writeFile(envFile, { server: { port: 4444 } });
      writeFile(flagFile, { server: { port: 6666, host: '127.0.0.9' } });

      const cfg = async (args = [], env = {}) => parseConfigOutput(await runCli(['config', ...args], { dirs, env }));

      let out = await cfg();
      assert.equal(out.config.server.port, 2222, 'cwd beats home');
      assert.equal(out.sources['server.port'], dirs.cwdSettingsPath);
      assert.equal(out.config.server.maxBodyBytes, 2048, 'home key not overridden by cwd survives (merge)');
      assert.equal(out.sources['server.maxBodyBytes'], dirs.homeSettingsPath);
      assert.equal(out.config.logging.level, 'debug');
      assert.equal(out.sources['logging.level'], dirs.homeSettingsPath);
      assert.equal(out.config.logging.format, 'json', 'sibling default kept');
      assert.equal(out.sources['logging.format'], 'default');
      assert.equal(out.config.server.host, '0.0.0.0');
      assert.equal(out.sources['server.host'], 'default');

      writeFile(dirs.managedPath, { server: { port: 3333 } });
      out = await cfg();
      assert.equal(out.config.server.port, 3333, 'managed beats cwd');
      assert.equal(out.sources['server.port'], dirs.managedPath);

      out = await cfg([], { CCPROXY_CONFIG: envFile });
      assert.equal(out.config.server.port, 4444, 'CCPROXY_CONFIG file beats managed');
      assert.equal(out.sources['server.port'], envFile);

      out = await cfg([], { CCPROXY_CONFIG: envFile, CCPROXY_PORT: '5555' });
      assert.equal(out.config.server.port, 5555, 'CCPROXY_PORT beats CCPROXY_CONFIG file');
      assert.equal(out.sources['server.port'], 'env CCPROXY_PORT');

      out = await cfg(['--config', flagFile], { CCPROXY_CONFIG: envFile, CCPROXY_PORT: '5555', CCPROXY_HOST: '127.0.0.8' });
      assert.equal(out.config.server.port, 6666, '--config file beats env');
      assert.equal(out.sources['server.port'], flagFile);
      assert.equal(out.config.server.host, '127.0.0.9', '--config file beats CCPROXY_HOST');
      assert.equal(out.sources['server.host'], flagFile);

      out = await cfg(['--config', flagFile, '--port', '7777'], { CCPROXY_CONFIG: envFile, CCPROXY_PORT: '5555' });
      assert.equal(out.config.server.port, 7777, '--port beats --config file');
      assert.equal(out.sources['server.port'], 'flag --port');
      assert.equal(out.config.server.maxBodyBytes, 2048, 'home value still present at the end');
    } finally {
      removeDirs(dirs);
    }
  });

  test('managed file beats cwd even for nested provider keys; objects merge key by key', async () => {
    const dirs = makeDirs();
    try {
      const r = await runCli(['config'], {
        dirs,
        homeSettings: {
          providers: {
            acme: { baseURL: 'http://127.0.0.1:9/acme', responseStyle: 'openai', headers: { 'X-A': '1' } },
          },
        },
        cwdSettings: { providers: { openai: { baseURL: 'http://127.0.0.1:9/cwd' }, acme: { headers: { 'X-B': '2' } } } },
        managedSettings: { providers: { openai: { baseURL: 'http://127.0.0.1:9/managed' } } },
      });
      const out = parseConfigOutput(r);
      const p = out.config.providers;
      assert.equal(p.openai.baseURL, 'http://127.0.0.1:9/managed');
      assert.equal(out.sources['providers.openai.baseURL'], dirs.managedPath);
      assert.equal(p.openai.responseStyle, 'openai', 'default sibling survives');
      assert.equal(out.sources['providers.openai.responseStyle'], 'default');
      assert.ok(p.anthropic && p.gemini && p.openrouter, 'default providers survive adding acme');
      assert.equal(p.acme.baseURL, 'http://127.0.0.1:9/acme');
      assert.deepEqual(p.acme.headers, { 'X-A': '1', 'X-B': '2' }, 'headers merged key by key');
      assert.equal(out.sources['providers.acme.headers.X-A'], dirs.homeSettingsPath);
      assert.equal(out.sources['providers.acme.headers.X-B'], dirs.cwdSettingsPath);
    } finally {
      removeDirs(dirs);
    }
  });
});
