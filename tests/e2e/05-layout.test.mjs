// The architecture's rules, checked on the source tree (no daemon): docs/architecture.md states them.
//   - no include cycle among lib/ headers;
//   - the pure translation core (lib/anth, lib/prov, the pure part of lib/base) includes no I/O module
//     (libevent, libcurl, logging, config, front, upstream, exchange);
//   - the exchange never branches on a provider's style or flavor, and no code outside the flavor table
//     names a flavor;
//   - no C file over 1,000 lines without a reason written at its top; no function over 100 lines;
//   - comments and docs cite only files inside the repository.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, basename, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function walk(dir, pred, out = []) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.') || name.startsWith('build')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, pred, out);
    else if (pred(p)) out.push(p);
  }
  return out;
}
const rel = (p) => relative(ROOT, p);
const src = (p) => readFileSync(p, 'utf8');
const libFiles = walk(join(ROOT, 'lib'), (p) => /\.[ch]$/.test(p));
const includes = (p) => [...src(p).matchAll(/^#include "([^"]+)"/gm)].map((m) => basename(m[1]));

test('no include cycle among lib/ headers', () => {
  const headers = new Map(libFiles.filter((p) => p.endsWith('.h')).map((p) => [basename(p), includes(p)]));
  const state = new Map();
  const cycles = [];
  const visit = (h, path) => {
    if (state.get(h) === 'done' || !headers.has(h)) return;
    if (state.get(h) === 'open') { cycles.push([...path.slice(path.indexOf(h)), h].join(' -> ')); return; }
    state.set(h, 'open');
    for (const n of headers.get(h)) visit(n, [...path, h]);
    state.set(h, 'done');
  };
  for (const h of headers.keys()) visit(h, []);
  assert.deepEqual(cycles, []);
});

test('the translation core includes no I/O module', () => {
  const pureBase = ['cp_common', 'cp_buf', 'cp_url', 'cp_sse', 'cp_jsonck', 'cp_json', 'cp_retry'];
  const core = libFiles.filter((p) => /lib\/(anth|prov)\//.test(p) ||
    pureBase.some((b) => basename(p).startsWith(`${b}.`)));
  const io = /^#include [<"](event2\/|curl\/|cp_log\.h|cp_config\.h|cp_front\.h|cp_up\.h|cp_exchange\.h|cp_server\.h|cp_route\.h)/m;
  const bad = core.filter((p) => io.test(src(p))).map(rel);
  assert.deepEqual(bad, []);
  assert.ok(core.length > 20, `core files found: ${core.length}`);
});

test('the exchange never branches on style or flavor; only the flavor table names flavors', () => {
  const ex = src(join(ROOT, 'lib/exchange/cp_exchange.c'));
  assert.doesNotMatch(ex, /CP_STYLE_|->style\b|flavor|cp_oai/);
  const named = libFiles.filter((p) => !/cp_oai_flavor\.[ch]$/.test(p))
    .filter((p) => /CP_OAI_(GENERIC|OPENAI|GEMINI|OPENROUTER|DEEPSEEK)\b|fl->id\b|->name, "(openai|gemini|openrouter|deepseek)"/.test(src(p)))
    .map(rel);
  assert.deepEqual(named, []);
});

test('no C file over 1,000 lines without a reason at its top; no function over 100 lines', () => {
  const cfiles = [...libFiles, ...walk(join(ROOT, 'daemon'), (p) => p.endsWith('.c'))].filter((p) => p.endsWith('.c'));
  const long = [];
  const fns = [];
  for (const p of cfiles) {
    const lines = src(p).split('\n');
    const count = lines[lines.length - 1] === '' ? lines.length - 1 : lines.length;
    if (count > 1000 && !/Why this file is long/.test(lines.slice(0, 40).join('\n'))) long.push(`${rel(p)}: ${count}`);
    for (let i = 1; i < lines.length; i++) {
      if (lines[i] !== '{') continue; // clang-format puts a function's brace alone in column 0
      let j = i + 1;
      while (j < lines.length && lines[j] !== '}') j++;
      if (j - i + 1 > 100) fns.push(`${rel(p)}:${i}: ${j - i + 1} lines`);
      i = j;
    }
  }
  assert.deepEqual(long, []);
  assert.deepEqual(fns, []);
});

test('comments and docs cite only files inside the repository', () => {
  const outside = /(?<![\w-])(protocol|field-study|design|style|real-clients|containers)\.md\b|\.\.\/shared\//;
  const files = [
    ...libFiles, ...walk(join(ROOT, 'daemon'), () => true), ...walk(join(ROOT, 'docs'), () => true),
    ...walk(join(ROOT, 'tests'), (p) => /\.(c|h|mjs|js|py|md)$/.test(p) && !p.includes('/fixtures/tok/')),
    ...walk(join(ROOT, 'bench'), () => true),
    join(ROOT, 'README.md'),
  ];
  const bad = files.filter((p) => outside.test(src(p))).map(rel);
  assert.deepEqual(bad, []);
});
