// CLI: help / version / unknown commands & flags / `ccproxy config` output, sources, redaction.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, parseConfigOutput, makeDirs, removeDirs, writeFile, USAGE_EXIT } from './lib/daemon.mjs';

const nonEmptyLines = (s) => s.split('\n').filter((l) => l.trim() !== '');

describe('help', () => {
  for (const args of [['help'], ['--help'], ['-h']]) {
    test(`ccproxy ${args.join(' ')} prints usage on stdout and exits 0`, async () => {
      const r = await runCli(args);
      assert.equal(r.code, 0, `exit code\nstderr: ${r.stderr}`);
      assert.match(r.stdout, /usage/i, `stdout has usage:\n${r.stdout}`);
      assert.match(r.stdout, /\bserver\b/, 'usage mentions the server command');
      assert.match(r.stdout, /\bconfig\b/, 'usage mentions the config command');
    });
  }
});

describe('version', () => {
  for (const args of [['version'], ['--version']]) {
    test(`ccproxy ${args.join(' ')} prints version and library versions, exits 0`, async () => {
      const r = await runCli(args);
      assert.equal(r.code, 0, `exit code\nstderr: ${r.stderr}`);
      assert.match(r.stdout, /ccproxy \S*\d/, `stdout has "ccproxy <version>":\n${r.stdout}`);
      for (const word of ['libevent', 'libcurl', 'jansson', 'OpenSSL']) {
        assert.ok(r.stdout.includes(word), `stdout mentions ${word}:\n${r.stdout}`);
      }
    });
  }
});

describe('unknown command / flag', () => {
  const cases = [
    { args: ['init', '--frobnicate'], bad: '--frobnicate' },
    { args: ['status', '--nope'], bad: '--nope' },
    { args: ['stop', 'extra'], bad: 'extra' },
    { args: ['server', '--bogus-flag'], bad: '--bogus-flag' },
    { args: ['config', '--nope'], bad: '--nope' },
  ];
  for (const { args, bad } of cases) {
    test(`ccproxy ${args.join(' ')} exits 2 naming ${bad} plus usage`, async () => {
      const r = await runCli(args);
      assert.equal(r.code, USAGE_EXIT, `exit code (signal ${r.signal})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
      const mentioning = nonEmptyLines(r.stderr).filter((l) => l.includes(bad));
      assert.equal(mentioning.length, 1, `exactly one stderr line mentions ${bad}:\n${r.stderr}`);
      assert.match(r.stderr, /usage/i, `stderr includes usage:\n${r.stderr}`);
    });
  }
});

describe('ccproxy config', () => {
  test('defaults: every value and source is "default"', async () => {
    const out = parseConfigOutput(await runCli(['config']));
    const c = out.config;
    assert.deepEqual(
      {
        port: c.server.port,
        host: c.server.host,
        maxBodyBytes: c.server.maxBodyBytes,
        maxHeaderBytes: c.server.maxHeaderBytes,
        clientTimeoutSeconds: c.server.clientTimeoutSeconds,
        drainTimeoutSeconds: c.server.drainTimeoutSeconds,
      },
      {
        port: 8082,
        host: '0.0.0.0',
        maxBodyBytes: 16777216,
        maxHeaderBytes: 65536,
        clientTimeoutSeconds: 600,
        drainTimeoutSeconds: 30,
      },
    );
    for (const p of ['openai', 'gemini', 'openrouter', 'anthropic']) {
      assert.ok(c.providers[p], `provider ${p} present by default`);
      assert.match(c.providers[p].baseURL, /^https?:\/\//, `${p}.baseURL is a URL`);
    }
    assert.equal(c.providers.openai.baseURL, 'https://api.openai.com/v1');
    assert.equal(c.providers.openai.responseStyle, 'openai');
    assert.equal(c.providers.anthropic.baseURL, 'https://api.anthropic.com');
    assert.equal(c.providers.anthropic.responseStyle, 'anthropic');
    assert.equal(c.models.bigModel, 'gpt-4@openai');
    assert.equal(c.models.smallModel, 'gpt-4-mini@openai');
    assert.equal(c.models.preferredProvider, 'openai');
    assert.equal(c.logging.level, 'info');
    assert.equal(c.logging.format, 'json');
    for (const key of ['server.port', 'server.host', 'server.maxBodyBytes', 'server.drainTimeoutSeconds',
      'providers.openai.baseURL', 'providers.anthropic.responseStyle', 'models.bigModel',
      'models.smallModel', 'models.preferredProvider', 'logging.level', 'logging.format']) {
      assert.equal(out.sources[key], 'default', `sources[${key}]\n${JSON.stringify(out.sources, null, 1)}`);
    }
    // no files, no env, no flags: every leaf must come from the defaults
    assert.ok(Object.keys(out.sources).length >= 15, 'sources lists the leaf values');
    for (const [k, v] of Object.entries(out.sources)) {
      assert.equal(v, 'default', `sources[${k}] with no files/env/flags`);
    }
  });

  test('--port / --host flags are reflected with source "flag --..."', async () => {
    const out = parseConfigOutput(await runCli(['config', '--port', '9123', '--host', '127.0.0.2']));
    assert.equal(out.config.server.port, 9123);
    assert.equal(out.config.server.host, '127.0.0.2');
    assert.equal(out.sources['server.port'], 'flag --port');
    assert.equal(out.sources['server.host'], 'flag --host');
    assert.equal(out.sources['server.maxBodyBytes'], 'default');
  });

  test('env vars CCPROXY_PORT/HOST/LOG_LEVEL/LOG_FORMAT are reflected with "env NAME" sources', async () => {
    const out = parseConfigOutput(await runCli(['config'], {
      env: {
        CCPROXY_PORT: '9124', CCPROXY_HOST: '127.0.0.3', CCPROXY_LOG_LEVEL: 'warn', CCPROXY_LOG_FORMAT: 'text',
      },
    }));
    assert.equal(out.config.server.port, 9124);
    assert.equal(out.config.server.host, '127.0.0.3');
    assert.equal(out.config.logging.level, 'warn');
    assert.equal(out.config.logging.format, 'text');
    assert.equal(out.sources['server.port'], 'env CCPROXY_PORT');
    assert.equal(out.sources['server.host'], 'env CCPROXY_HOST');
    assert.equal(out.sources['logging.level'], 'env CCPROXY_LOG_LEVEL');
    assert.equal(out.sources['logging.format'], 'env CCPROXY_LOG_FORMAT');
  });

  test('--debug sets logging.level=debug with source "flag --debug"', async () => {
    const out = parseConfigOutput(await runCli(['config', '--debug'], { env: { CCPROXY_LOG_LEVEL: 'warn' } }));
    assert.equal(out.config.logging.level, 'debug');
    assert.equal(out.sources['logging.level'], 'flag --debug');
    const out2 = parseConfigOutput(await runCli(['--debug', 'config']));
    assert.equal(out2.config.logging.level, 'debug', '--debug before the command works too');
  });

  test('apiKey from a settings file is redacted and its source is the file path', async () => {
    const dirs = makeDirs();
    try {
      const secret = 'sk-file-SECRETA-0123456789';
      const r = await runCli(['config'], {
        dirs,
        homeSettings: { providers: { openai: { apiKey: secret } } },
      });
      const out = parseConfigOutput(r);
      assert.equal(out.config.providers.openai.apiKey, '<redacted>');
      assert.equal(out.sources['providers.openai.apiKey'], dirs.homeSettingsPath);
      assert.ok(!r.stdout.includes(secret), 'secret not in stdout');
      assert.ok(!r.stderr.includes(secret), 'secret not in stderr');
      assert.ok(!r.stdout.includes('SECRETA'), 'no part of the secret in stdout');
    } finally {
      removeDirs(dirs);
    }
  });

  test('apiKey from env <NAME>_API_KEY is redacted with source "env OPENAI_API_KEY"', async () => {
    const secret = 'sk-env-SECRETB-abcdef';
    const r = await runCli(['config'], { env: { OPENAI_API_KEY: secret, GEMINI_API_KEY: 'gm-SECRETC-xyz' } });
    const out = parseConfigOutput(r);
    assert.equal(out.config.providers.openai.apiKey, '<redacted>');
    assert.equal(out.sources['providers.openai.apiKey'], 'env OPENAI_API_KEY');
    assert.equal(out.config.providers.gemini.apiKey, '<redacted>');
    assert.equal(out.sources['providers.gemini.apiKey'], 'env GEMINI_API_KEY');
    for (const s of [secret, 'SECRETB', 'SECRETC']) {
      assert.ok(!r.stdout.includes(s), `${s} not in stdout`);
      assert.ok(!r.stderr.includes(s), `${s} not in stderr`);
    }
  });

  test('apiKey in a file wins over <NAME>_API_KEY env', async () => {
    const dirs = makeDirs();
    try {
      const r = await runCli(['config'], {
        dirs,
        cwdSettings: { providers: { openai: { apiKey: 'sk-file-SECRETD' } } },
        env: { OPENAI_API_KEY: 'sk-env-SECRETE' },
      });
      const out = parseConfigOutput(r);
      assert.equal(out.config.providers.openai.apiKey, '<redacted>');
      assert.equal(out.sources['providers.openai.apiKey'], dirs.cwdSettingsPath);
      assert.ok(!/SECRET[DE]/.test(r.stdout + r.stderr), 'no secret in output');
    } finally {
      removeDirs(dirs);
    }
  });

  test('${VAR} and ${VAR:-default} are expanded; expanded apiKey still redacted', async () => {
    const dirs = makeDirs();
    try {
      const r = await runCli(['config'], {
        dirs,
        homeSettings: {
          providers: {
            openai: {
              baseURL: '${OAI_BASE}',
              apiKey: '${MY_OAI_KEY}',
              headers: { 'X-Org': 'org-${ORG_ID}', 'X-Def': '${UNSET_VAR_XYZ:-fallback-val}' },
            },
            gemini: { baseURL: '${UNSET_GEMINI_BASE:-http://127.0.0.1:9/gem}' },
          },
        },
        env: { OAI_BASE: 'http://127.0.0.1:9/v1', MY_OAI_KEY: 'sk-expanded-SECRETF', ORG_ID: '42' },
      });
      const out = parseConfigOutput(r);
      assert.equal(out.config.providers.openai.baseURL, 'http://127.0.0.1:9/v1');
      assert.equal(out.config.providers.openai.headers['X-Org'], 'org-42');
      assert.equal(out.config.providers.openai.headers['X-Def'], 'fallback-val');
      assert.equal(out.config.providers.gemini.baseURL, 'http://127.0.0.1:9/gem');
      assert.equal(out.config.providers.openai.apiKey, '<redacted>');
      assert.ok(!(r.stdout + r.stderr).includes('SECRETF'), 'expanded secret not printed');
      assert.equal(out.sources['providers.openai.baseURL'], dirs.homeSettingsPath);
    } finally {
      removeDirs(dirs);
    }
  });

  test('--config FILE is applied with the file as source', async () => {
    const dirs = makeDirs();
    try {
      const extra = `${dirs.root}/extra.json`;
      writeFile(extra, { server: { maxBodyBytes: 12345 }, models: { bigModel: 'big-x@anthropic' } });
      const out = parseConfigOutput(await runCli(['config', '--config', extra], { dirs }));
      assert.equal(out.config.server.maxBodyBytes, 12345);
      assert.equal(out.config.models.bigModel, 'big-x@anthropic');
      assert.equal(out.sources['server.maxBodyBytes'], extra);
      assert.equal(out.sources['models.bigModel'], extra);
      assert.equal(out.sources['models.smallModel'], 'default');
    } finally {
      removeDirs(dirs);
    }
  });
});
