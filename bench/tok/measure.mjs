// measure.mjs: compares lib/anth/cp_tok.c with real BPE tokenizers on tests/fixtures/tok.
//
//   cd bench/tok && npm install && node measure.mjs [--write] [--bench N]
//
// For every fixture it prints the real token count (o200k_base, the GPT-4o/4.1/o-series encoding, and
// cl100k_base, GPT-4/3.5), our estimate, and the error; then the mean and worst absolute error per
// category. Text fixtures (prose-*, code-*, json-*, intl-*) are counted whole with cp_tok_text().
// Request fixtures (request-*.json, whole Anthropic bodies) are counted with cp_tok_request(); their real
// count applies the tokenizer to the same pieces cp_tok_request() counts (system, block texts, compact
// JSON of tool inputs and schemas) plus the same fixed overheads (see lib/anth/cp_tok.c), so the comparison
// measures the text estimate on what a request really contains.
//
// --write  stores the real counts in tests/fixtures/tok/expected.json, which tests/unit/test_tok.c
//          checks the estimator against (every fixture within the tolerance of its o200k count).
// --bench N  also times N calls of cp_tok_request() on request-01-cc-main.json (a ~70 KB Claude Code body).
// --texts DIR  also compares cp_tok_text() on every file of DIR, named <category>-..., e.g. held-out text
//          that is not stored in the repository (reported only; it neither fails nor goes to expected.json).
// Exits 1 when a fixture is off by more than the tolerance against o200k_base.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encode as o200k } from 'gpt-tokenizer/encoding/o200k_base';
import { encode as cl100k } from 'gpt-tokenizer/encoding/cl100k_base';

const TOLERANCE_PCT = 15;
const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../..');
const fixdir = join(root, 'tests/fixtures/tok');
const args = process.argv.slice(2);
const write = args.includes('--write');
const benchN = args.includes('--bench') ? Number(args[args.indexOf('--bench') + 1]) || 2000 : 0;
const textsDir = args.includes('--texts') ? args[args.indexOf('--texts') + 1] : null;

// Same fixed costs as lib/anth/cp_tok.c.
const C = { request: 3, message: 4, toolUse: 8, toolResult: 4, tool: 8, tools: 12, imageMax: 1600, pdfMin: 1600 };

function imageTokens(source) {
  if (source?.type !== 'base64' || typeof source.data !== 'string') return C.imageMax;
  const b = Buffer.from(source.data.slice(0, 44), 'base64');
  if (b.length < 24 || b.toString('latin1', 1, 4) !== 'PNG') return C.imageMax;
  const w = b.readUInt32BE(16), h = b.readUInt32BE(20), edge = Math.max(w, h);
  let px = w * h;
  if (edge > 1568) px = Math.floor((px * 1568) / edge * 1568 / edge);
  return Math.ceil(Math.min(px, 1192464) / 750);
}

// The real count of a request body: the tokenizer applied to the pieces cp_tok_request() counts.
function requestTokens(body, count) {
  const text = (v) => (typeof v === 'string' ? count(v) : 0);
  const json = (v) => (v === undefined ? 0 : count(JSON.stringify(v)));
  const content = (c) => (typeof c === 'string' ? count(c) : Array.isArray(c) ? c.reduce((s, b) => s + block(b), 0) : 0);
  function block(b) {
    if (typeof b === 'string') return count(b);
    if (b === null || typeof b !== 'object' || Array.isArray(b)) return 0;
    switch (typeof b.type === 'string' ? b.type : undefined) {
      case undefined: return json(b);
      case 'text': return text(b.text);
      case 'thinking': return text(b.thinking);
      case 'redacted_thinking': return 0;
      case 'tool_use': case 'server_tool_use': return C.toolUse + text(b.name) + json(b.input);
      case 'tool_result': return C.toolResult + content(b.content);
      case 'image': return imageTokens(b.source);
      case 'document': {
        const s = b.source ?? {};
        return text(b.title) + text(b.context) +
          (s.type === 'text' ? text(s.data) : s.type === 'content' ? content(s.content) : C.pdfMin);
      }
      default: return json(b);
    }
  }
  let n = C.request;
  const sys = body.system;
  if ((typeof sys === 'string' && sys.length > 0) || (Array.isArray(sys) && sys.length > 0)) n += C.message + content(sys);
  for (const m of body.messages ?? []) if (m && typeof m === 'object' && !Array.isArray(m)) n += C.message + content(m.content);
  const tools = Array.isArray(body.tools) ? body.tools : [];
  if (tools.length > 0) n += C.tools;
  for (const t of tools) {
    if (!t || typeof t !== 'object' || Array.isArray(t)) continue;
    n += C.tool + text(t.name) + text(t.description) + json(t.input_schema);
  }
  return n + json(body.output_config?.format?.schema);
}

// Build the C driver against the tree's lib/ (no CMake needed).
const bin = join(mkdtempSync(join(tmpdir(), 'cp-tok-')), 'tokcount');
const pkg = execFileSync('pkg-config', ['--cflags', '--libs', 'jansson', 'openssl'], { encoding: 'utf8' }).trim().split(/\s+/);
execFileSync(process.env.CC || 'cc', ['-O2', '-std=c11', '-D_GNU_SOURCE', '-I', join(root, 'lib/anth'), '-I', join(root, 'lib/base'),
  join(here, 'tokcount.c'), join(root, 'lib/anth/cp_tok.c'), join(root, 'lib/base/cp_common.c'), join(root, 'lib/base/cp_buf.c'),
  ...pkg, '-o', bin], { stdio: 'inherit' });

const files = readdirSync(fixdir).filter((f) => /^(prose|code|json|intl|request)-/.test(f)).sort();
const estimate = (mode, list) => {
  if (list.length === 0) return {};
  const out = execFileSync(bin, [mode, ...list.map((f) => join(fixdir, f))], { encoding: 'utf8' });
  return Object.fromEntries(out.trim().split('\n').map((l) => l.split('\t')).map(([n, p]) => [relative(fixdir, p), Number(n)]));
};
const texts = files.filter((f) => !f.startsWith('request-'));
const reqs = files.filter((f) => f.startsWith('request-'));
const est = { ...estimate('text', texts), ...estimate('request', reqs) };

const rows = files.map((f) => {
  const raw = readFileSync(join(fixdir, f), 'utf8');
  const kind = f.startsWith('request-') ? 'request' : 'text';
  const real = (enc) => (kind === 'text' ? enc(raw).length : requestTokens(JSON.parse(raw), (s) => enc(s).length));
  const r = { file: f, category: f.split('-')[0], kind, bytes: Buffer.byteLength(raw), o200k: real(o200k), cl100k: real(cl100k), est: est[f] };
  r.errO = (100 * (r.est - r.o200k)) / r.o200k;
  r.errC = (100 * (r.est - r.cl100k)) / r.cl100k;
  return r;
});

const pct = (x) => `${x >= 0 ? '+' : ''}${x.toFixed(1)}%`;
function report(rows, title) {
  console.log(`${title.padEnd(34)} ${'bytes'.padStart(6)} ${'o200k'.padStart(6)} ${'cl100k'.padStart(6)} ${'est'.padStart(6)} ${'vs o200k'.padStart(9)} ${'vs cl100k'.padStart(9)}`);
  for (const r of rows) {
    const flag = Math.abs(r.errO) > TOLERANCE_PCT ? '  <-- over tolerance' : '';
    console.log(`${r.file.slice(0, 34).padEnd(34)} ${String(r.bytes).padStart(6)} ${String(r.o200k).padStart(6)} ${String(r.cl100k).padStart(6)} ${String(r.est).padStart(6)} ${pct(r.errO).padStart(9)} ${pct(r.errC).padStart(9)}${flag}`);
  }
  console.log(`\n${'category'.padEnd(10)} ${'n'.padStart(3)}   o200k mean |err|  worst      cl100k mean |err|  worst    total est/o200k`);
  const cats = [...new Set(rows.map((r) => r.category))];
  for (const c of [...cats, 'all']) {
    const rs = rows.filter((r) => c === 'all' || r.category === c);
    const stat = (k) => {
      const abs = rs.map((r) => Math.abs(r[k]));
      const worst = rs.reduce((a, r) => (Math.abs(r[k]) > Math.abs(a[k]) ? r : a));
      return `${(abs.reduce((a, b) => a + b, 0) / abs.length).toFixed(1).padStart(14)}%  ${pct(worst[k]).padStart(7)}`;
    };
    const tot = rs.reduce((a, r) => a + r.est, 0) / rs.reduce((a, r) => a + r.o200k, 0);
    console.log(`${c.padEnd(10)} ${String(rs.length).padStart(3)} ${stat('errO')}   ${stat('errC')}    ${tot.toFixed(3)}`);
  }
}
report(rows, 'fixture');

if (textsDir) {
  const list = readdirSync(textsDir).filter((f) => readFileSync(join(textsDir, f)).length > 0).sort();
  const out = execFileSync(bin, ['text', ...list.map((f) => join(textsDir, f))], { encoding: 'utf8' }).trim().split('\n');
  const held = list.map((f, i) => {
    const raw = readFileSync(join(textsDir, f), 'utf8');
    const r = { file: f, category: f.split('-')[0], bytes: Buffer.byteLength(raw), o200k: o200k(raw).length, cl100k: cl100k(raw).length, est: Number(out[i].split('\t')[0]) };
    return { ...r, errO: (100 * (r.est - r.o200k)) / r.o200k, errC: (100 * (r.est - r.cl100k)) / r.cl100k };
  });
  console.log(`\n--texts ${textsDir} (reported only)\n`);
  report(held, 'text');
}

if (write) {
  const expected = {
    comment: 'Real token counts of the fixtures in this directory, written by bench/tok/measure.mjs --write (gpt-tokenizer). ' +
      'kind "text": the whole file; kind "request": the pieces cp_tok_request() counts plus its fixed overheads. ' +
      'tests/unit/test_tok.c requires cp_tok within tolerance_pct of o200k_base for every fixture.',
    tolerance_pct: TOLERANCE_PCT,
    fixtures: rows.map(({ file, kind, o200k, cl100k }) => ({ file, kind, o200k_base: o200k, cl100k_base: cl100k })),
  };
  writeFileSync(join(fixdir, 'expected.json'), JSON.stringify(expected, null, 2) + '\n');
  console.log(`\nwrote ${relative(root, join(fixdir, 'expected.json'))}`);
}
if (benchN > 0) {
  for (const f of ['request-01-cc-main.json']) console.log(`\ncp_tok_request(${f}): ` + execFileSync(bin, ['bench', String(benchN), join(fixdir, f)], { encoding: 'utf8' }).trim());
}
const bad = rows.filter((r) => Math.abs(r.errO) > TOLERANCE_PCT);
if (bad.length > 0) {
  console.log(`\n${bad.length} fixture(s) off by more than ${TOLERANCE_PCT}% against o200k_base: ${bad.map((r) => r.file).join(', ')}`);
  process.exit(1);
}
