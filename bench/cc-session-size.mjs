#!/usr/bin/env node
// How large do Claude Code's request bodies get in a long session?
//
// Runs the real Claude Code CLI (`claude -p`) against a mock Anthropic Messages endpoint on
// 127.0.0.1 that drives a long agentic session: every answer is a Read tool call on a file in a
// temporary project directory (a new part of a source file, a tiny note, a screenshot or a PDF), so
// every turn adds one tool result to the history, until --turns; then a final text answer. The mock
// reports usage consistent with the growing context (tokens = text bytes / --bytes-per-token, plus an
// estimate per image and PDF page; mostly as cache reads, as in a cached session) and refuses what the
// API refuses: more tokens than --window (400 "prompt is too long") and bodies over --api-max-mb
// (413). Claude Code 2.1.197 does not compact ahead of the window with these models; it compacts when
// the API refuses, so those refusals decide the largest body. Compaction calls get a summary.
//
// Every request is recorded: Content-Length, the JSON value count of lib/base/cp_json.c
// cp_json_count_values (1 + commas, '[' and '{' outside strings), messages, kind. Node built-ins only;
// nothing leaves 127.0.0.1.
//
//   node bench/cc-session-size.mjs --turns 150                          # 1M window (the default model)
//   node bench/cc-session-size.mjs --model claude-sonnet-4-5-20250929 --turns 40   # a 200k-window model
//   node bench/cc-session-size.mjs --scenario small --minimal --turns 60 # smallest turns: JSON values per turn
//   node bench/cc-session-size.mjs --scenario image --image-px 700 --turns 60      # screenshots, base64
//   node bench/cc-session-size.mjs --scenario pdf --pdf-mb 20.5 --turns 1          # one large PDF
//
// Options (defaults in brackets):
//   --claude PATH          the CLI [tests/e2e/node_modules/.bin/claude next to this repo]
//   --model M              passed as --model (none: the CLI's default, a 1M-token window model)
//   --scenario S           read | small | image | pdf [read]
//   --turns N              tool calls at most [60]
//   --max-mb X             stop calling tools once a body exceeds X MB (10^6 bytes) [40]
//   --lines N              lines per Read (scenario read) [600, about 30 KB of JSON per turn]
//   --bytes-per-token B    reported context tokens = body bytes / B [4]
//   --window N             context window in tokens: a body of more tokens is refused with 400 "prompt is too
//                          long: X tokens > N maximum", as the API does [1000000 without --model, else 200000]
//   --image-px N           side of the square noise PNG (scenario image) [2000]
//   --pdf-mb X             size of the PDF (scenario pdf) [12]
//   --api-max-mb X         a body over X MiB is refused with 413 request_too_large, as the API's front does
//                          (the Messages API documents 32 MB) [32]
//   --port N               the mock's port on 127.0.0.1 [0: any free one]
//   --base URL             ANTHROPIC_BASE_URL for the CLI [the mock]: a proxy whose upstream is the mock
//   --timeout S            kill the CLI after S seconds [300]
//   --minimal              answer each tool call with the tool_use block alone (no thinking, no text): the
//                          smallest turn, so the most JSON values per byte
//   --json FILE            also write every request's record and the summary as JSON
//   --dump DIR             also write every request body to DIR/NNN.json
//   --keep                 keep the temporary directory (it is printed)
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import crypto from 'node:crypto';
import { spawn, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const opt = {
  claude: path.resolve(HERE, '../tests/e2e/node_modules/.bin/claude'), model: null, scenario: 'read',
  turns: 60, 'max-mb': 40, lines: 600, 'bytes-per-token': 4, 'image-px': 2000, 'pdf-mb': 12, 'api-max-mb': 32, port: 0, base: null,
  window: 0, timeout: 300, json: null, dump: null, minimal: false, keep: false,
};
for (let i = 0; i < argv.length; i++) {
  const k = argv[i].replace(/^--/, '');
  if (!(k in opt)) { console.error(`unknown option ${argv[i]}`); process.exit(2); }
  if (typeof opt[k] === 'boolean') opt[k] = true;
  else opt[k] = typeof opt[k] === 'number' ? Number(argv[++i]) : argv[++i];
}
const BPT = opt['bytes-per-token'];
const MAX_BYTES = opt['max-mb'] * 1e6;
const WINDOW = opt.window || (opt.model ? 200000 : 1000000);

// ---- the count of lib/base/cp_json.c cp_json_count_values, on the raw bytes -------------------
function countValues(buf) {
  let n = 1, inStr = false;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i];
    if (inStr) {
      if (c === 0x5c) i++; else if (c === 0x22) inStr = false;
    } else if (c === 0x22) inStr = true;
    else if (c === 0x2c || c === 0x5b || c === 0x7b) n++;
  }
  return n;
}

// ---- the project directory the session works in -------------------------------------------------
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cc-session-size-'));
const work = path.join(tmp, 'work'), home = path.join(tmp, 'home');
fs.mkdirSync(path.join(work, 'src'), { recursive: true });
fs.mkdirSync(home);

let seed = 12345;
const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296);
const pick = (a) => a[Math.floor(rnd() * a.length)];
const WORDS = ['buffer', 'len', 'count', 'conn', 'request', 'status', 'header', 'value', 'index', 'result',
  'config', 'upstream', 'client', 'stream', 'event', 'token', 'model', 'size', 'offset', 'error'];
// A line of C-like source: identifiers, a string literal with an escape, tabs for indentation.
function codeLine(i) {
  const ind = '\t'.repeat(1 + (i % 3));
  switch (i % 6) {
    case 0: return `${ind}if (${pick(WORDS)}->${pick(WORDS)} > ${Math.floor(rnd() * 4096)}) {`;
    case 1: return `${ind}snprintf(msg, sizeof(msg), "%s: ${pick(WORDS)} %zu\\n", ${pick(WORDS)}, ${pick(WORDS)}_${pick(WORDS)});`;
    case 2: return `${ind}${pick(WORDS)}_${pick(WORDS)} = cp_${pick(WORDS)}_${pick(WORDS)}(${pick(WORDS)}, ${pick(WORDS)});`;
    case 3: return `${ind}/* ${pick(WORDS)} the ${pick(WORDS)} before the ${pick(WORDS)} is sent */`;
    case 4: return `${ind}return ${pick(WORDS)} == NULL ? -1 : 0;`;
    default: return `${ind}}`;
  }
}
// Scenario read: each file holds `perFile` windows of `lines` lines; call i reads window i.
const perFile = 4;
function readPlan(i) {
  const f = path.join(work, 'src', `mod_${String(Math.floor(i / perFile)).padStart(3, '0')}.c`);
  if (!fs.existsSync(f)) {
    const out = [];
    for (let l = 0; l < perFile * opt.lines; l++) out.push(codeLine(l));
    fs.writeFileSync(f, out.join('\n') + '\n');
  }
  return { file_path: f, offset: 1 + (i % perFile) * opt.lines, limit: opt.lines };
}
// Scenario small: a distinct one-line file per call.
function smallPlan(i) {
  const f = path.join(work, 'src', `note_${String(i).padStart(3, '0')}.txt`);
  fs.writeFileSync(f, `ok ${i}\n`);
  return { file_path: f };
}
// Scenario image: a distinct square PNG of noise per call (incompressible: the worst case in bytes).
const CRC = new Int32Array(256).map((_, n) => { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; return c; });
const crc32 = (b) => { let c = -1; for (const x of b) c = CRC[(c ^ x) & 255] ^ (c >>> 8); return (c ^ -1) >>> 0; };
function pngChunk(type, data) {
  const t = Buffer.from(type, 'ascii'), len = Buffer.alloc(4), crc = Buffer.alloc(4);
  len.writeUInt32BE(data.length); crc.writeUInt32BE(crc32(Buffer.concat([t, data])));
  return Buffer.concat([len, t, data, crc]);
}
function imagePlan(i) {
  const f = path.join(work, `shot_${i}.png`), n = opt['image-px'];
  fs.rmSync(path.join(work, `shot_${i - 1}.png`), { force: true }); // already read: the CLI has sent it
  const raw = Buffer.alloc((n * 3 + 1) * n);
  crypto.randomFillSync(raw);
  for (let y = 0; y < n; y++) raw[y * (n * 3 + 1)] = 0; // filter byte: none
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(n, 0); ihdr.writeUInt32BE(n, 4); ihdr[8] = 8; ihdr[9] = 2; // 8-bit RGB
  fs.writeFileSync(f, Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr), pngChunk('IDAT', zlib.deflateSync(raw, { level: 1 })), pngChunk('IEND', Buffer.alloc(0))]));
  return { file_path: f };
}
// Scenario pdf: a valid PDF of 10 pages, each with a line of text and an uncompressed noise image.
function pdfPlan(i) {
  const f = path.join(work, `doc_${i}.pdf`), pages = 10;
  const side = Math.floor(Math.sqrt(opt['pdf-mb'] * 1e6 / pages / 3));
  const objs = []; // objs[k] = body of object k+1
  const kids = [];
  objs.push('<< /Type /Catalog /Pages 2 0 R >>');
  objs.push(null); // pages, filled below
  objs.push('<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>');
  for (let p = 0; p < pages; p++) {
    const img = crypto.randomBytes(side * side * 3);
    const content = Buffer.from(`BT /F1 24 Tf 72 720 Td (Page ${p + 1} of the size test) Tj ET q 400 0 0 400 100 200 cm /Im0 Do Q`);
    const imgNo = objs.length + 1;
    objs.push(Buffer.concat([Buffer.from(`<< /Type /XObject /Subtype /Image /Width ${side} /Height ${side} /ColorSpace /DeviceRGB /BitsPerComponent 8 /Length ${img.length} >>\nstream\n`), img, Buffer.from('\nendstream')]));
    const cNo = objs.length + 1;
    objs.push(Buffer.concat([Buffer.from(`<< /Length ${content.length} >>\nstream\n`), content, Buffer.from('\nendstream')]));
    kids.push(objs.length + 1);
    objs.push(`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents ${cNo} 0 R /Resources << /Font << /F1 3 0 R >> /XObject << /Im0 ${imgNo} 0 R >> >> >>`);
  }
  objs[1] = `<< /Type /Pages /Kids [${kids.map((k) => `${k} 0 R`).join(' ')}] /Count ${pages} >>`;
  const parts = [Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n', 'latin1')];
  const offsets = [];
  let pos = parts[0].length;
  objs.forEach((o, k) => {
    const b = Buffer.concat([Buffer.from(`${k + 1} 0 obj\n`), Buffer.isBuffer(o) ? o : Buffer.from(o), Buffer.from('\nendobj\n')]);
    offsets.push(pos); pos += b.length; parts.push(b);
  });
  let xref = `xref\n0 ${objs.length + 1}\n0000000000 65535 f \n`;
  for (const off of offsets) xref += `${String(off).padStart(10, '0')} 00000 n \n`;
  parts.push(Buffer.from(`${xref}trailer\n<< /Size ${objs.length + 1} /Root 1 0 R >>\nstartxref\n${pos}\n%%EOF\n`));
  fs.writeFileSync(f, Buffer.concat(parts));
  return { file_path: f };
}
const PLANS = { read: readPlan, small: smallPlan, image: imagePlan, pdf: pdfPlan };
if (!PLANS[opt.scenario]) { console.error(`unknown scenario ${opt.scenario}`); process.exit(2); }

// ---- the mock endpoint ---------------------------------------------------------------------------
const records = [];
const API_MAX_BYTES = opt['api-max-mb'] * 1048576;
// Image and PDF blocks: their base64 bytes, and the tokens the API would count for them (assumptions:
// an image costs width*height/750 tokens after the API's downscale to at most 1568 px and 1.15 MP,
// so at most ~1,600; a PDF page costs ~3,000: its text plus its page image).
function imageDims(d) {
  if (d[0] === 0x89 && d[1] === 0x50) return [d.readUInt32BE(16), d.readUInt32BE(20)];
  for (let i = 2; i + 9 < d.length;) { // JPEG: walk the segments to the frame header
    if (d[i] !== 0xff) break;
    const m = d[i + 1];
    if (m >= 0xc0 && m <= 0xc3) return [d.readUInt16BE(i + 7), d.readUInt16BE(i + 5)];
    i += 2 + d.readUInt16BE(i + 2);
  }
  return [1568, 735];
}
function mediaOf(body) {
  const m = { images: 0, documents: 0, b64: 0, tokens: 0 };
  const walk = (x) => {
    if (Array.isArray(x)) { x.forEach(walk); return; }
    if (!x || typeof x !== 'object') return;
    if ((x.type === 'image' || x.type === 'document') && x.source && x.source.type === 'base64') {
      const d = Buffer.from(x.source.data, 'base64');
      m.b64 += x.source.data.length;
      if (x.type === 'image') {
        m.images++;
        let [w, h] = imageDims(d);
        const k = Math.min(1, 1568 / Math.max(w, h), Math.sqrt(1.15e6 / (w * h)));
        w = Math.round(w * k); h = Math.round(h * k);
        m.tokens += Math.ceil(w * h / 750);
      } else {
        m.documents++;
        m.tokens += 3000 * Math.max(1, (d.toString('latin1').match(/\/Type\s*\/Page[^s]/g) || []).length);
      }
      return;
    }
    Object.values(x).forEach(walk);
  };
  walk(body.messages);
  return m;
}
let toolCalls = 0, prevTokens = 0;
const id = (p) => p + '_' + crypto.randomBytes(12).toString('hex');
const textOf = (c) => (typeof c === 'string' ? c : Array.isArray(c) ? c.map((b) => (b.type === 'text' ? b.text : '')).join('\n') : '');

function classify(body) {
  const fmt = body.output_config && body.output_config.format;
  if (fmt && fmt.type === 'json_schema') return 'json-schema';
  // The compaction prompt ends the history, in a user message or (mid-conversation system) a system one.
  const tail = (body.messages || []).slice(-2).map((m) => textOf(m.content)).join('\n');
  if (/Respond with TEXT ONLY|create a detailed summary/i.test(tail)) return 'compaction';
  if (!body.tools || !body.tools.length) return 'no-tools';
  return 'main';
}

function answerBlocks(kind, body, bytes) {
  if (kind === 'json-schema') return [{ type: 'text', text: '{"title":"Size test"}' }];
  if (kind === 'compaction') {
    return [{ type: 'text', text: '<analysis>The user asked to read the project files one part at a time.</analysis>\n' +
      '<summary>1. Primary Request: read every part of the files under src/ and report.\n2. Progress: ' +
      `${toolCalls} parts read so far; continue with the next part.</summary>` }];
  }
  if (kind !== 'main' || toolCalls >= opt.turns || bytes >= MAX_BYTES) {
    return [{ type: 'text', text: `Done: ${toolCalls} parts read.` }];
  }
  const input = PLANS[opt.scenario](toolCalls);
  toolCalls++;
  const think = body.thinking && body.thinking.type !== 'disabled' && !opt.minimal;
  const blocks = [];
  if (think) {
    blocks.push({ type: 'thinking', signature: crypto.randomBytes(240).toString('base64'),
      thinking: `I have read ${toolCalls - 1} parts so far. The next one is ${path.basename(input.file_path)}` +
        (input.offset ? ` from line ${input.offset}` : '') + '; I will read it and keep going until every part is covered.' });
  }
  if (!opt.minimal) blocks.push({ type: 'text', text: `Reading ${path.basename(input.file_path)}${input.offset ? ` at line ${input.offset}` : ''}.` });
  blocks.push({ type: 'tool_use', id: id('toolu'), name: 'Read', input });
  return blocks;
}

function sse(res, body, blocks, tokens) {
  // Context tokens consistent with the body: a cached session reports most of them as cache reads.
  const total = Math.max(1, tokens);
  const cacheRead = Math.min(prevTokens, total);
  prevTokens = total;
  const usage = { input_tokens: Math.min(3, total - cacheRead), cache_creation_input_tokens: Math.max(0, total - cacheRead - 3),
    cache_read_input_tokens: cacheRead, output_tokens: 1, service_tier: 'standard' };
  const outTokens = Math.ceil(JSON.stringify(blocks).length / 4);
  const ev = [];
  const push = (type, data) => ev.push(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
  push('message_start', { message: { id: id('msg'), type: 'message', role: 'assistant', model: body.model, content: [],
    stop_reason: null, stop_sequence: null, usage } });
  blocks.forEach((b, idx) => {
    if (b.type === 'thinking') {
      push('content_block_start', { index: idx, content_block: { type: 'thinking', thinking: '', signature: '' } });
      push('content_block_delta', { index: idx, delta: { type: 'thinking_delta', thinking: b.thinking } });
      push('content_block_delta', { index: idx, delta: { type: 'signature_delta', signature: b.signature } });
    } else if (b.type === 'text') {
      push('content_block_start', { index: idx, content_block: { type: 'text', text: '' } });
      push('content_block_delta', { index: idx, delta: { type: 'text_delta', text: b.text } });
    } else {
      push('content_block_start', { index: idx, content_block: { type: 'tool_use', id: b.id, name: b.name, input: {} } });
      push('content_block_delta', { index: idx, delta: { type: 'input_json_delta', partial_json: JSON.stringify(b.input) } });
    }
    push('content_block_stop', { index: idx });
  });
  const stop = blocks.some((b) => b.type === 'tool_use') ? 'tool_use' : 'end_turn';
  push('message_delta', { delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: outTokens } });
  push('message_stop', {});
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'request-id': id('req') });
  res.end(ev.join(''));
}

function sendJson(res, status, obj) {
  res.writeHead(status, { 'content-type': 'application/json', 'request-id': id('req') });
  res.end(JSON.stringify(obj));
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const raw = Buffer.concat(chunks);
    const url = req.url.split('?')[0];
    let body = null;
    try { body = raw.length ? JSON.parse(raw.toString('utf8')) : null; } catch { body = null; }
    if (req.method !== 'POST' || !body) { sendJson(res, 404, { type: 'error', error: { type: 'not_found_error', message: 'mock' } }); return; }
    const bytes = raw.length;
    const rec = { n: records.length + 1, path: url, contentLength: Number(req.headers['content-length'] ?? -1), bytes,
      values: countValues(raw), messages: (body.messages || []).length, stream: !!body.stream, model: body.model };
    records.push(rec);
    if (opt.dump) { fs.mkdirSync(opt.dump, { recursive: true }); fs.writeFileSync(path.join(opt.dump, `${String(rec.n).padStart(3, '0')}.json`), raw); }
    if (url === '/v1/messages/count_tokens') {
      rec.kind = 'count_tokens';
      sendJson(res, 200, { input_tokens: Math.round(bytes / BPT) });
      return;
    }
    rec.kind = classify(body);
    const media = mediaOf(body);
    rec.images = media.images; rec.documents = media.documents; rec.mediaBytes = media.b64;
    rec.tokens = Math.round((bytes - media.b64) / BPT) + media.tokens;
    if (bytes > API_MAX_BYTES) { // what the API's front answers to a body over its request size limit
      rec.answer = 'refused: 413 request_too_large';
      rec.toolCalls = toolCalls;
      sendJson(res, 413, { type: 'error', error: { type: 'request_too_large', message: 'Request exceeds the maximum allowed number of bytes.' } });
      return;
    }
    if (rec.tokens > WINDOW && rec.kind !== 'no-tools') { // what the API answers to a body over the window
      rec.answer = 'refused: prompt is too long';
      rec.toolCalls = toolCalls;
      sendJson(res, 400, { type: 'error', error: { type: 'invalid_request_error',
        message: `prompt is too long: ${rec.tokens} tokens > ${WINDOW} maximum` }, request_id: id('req') });
      return;
    }
    const blocks = answerBlocks(rec.kind, body, bytes);
    rec.answer = blocks.map((b) => b.type).join('+');
    rec.toolCalls = toolCalls;
    if (body.stream) sse(res, body, blocks, rec.tokens);
    else {
      const total = rec.tokens;
      sendJson(res, 200, { id: id('msg'), type: 'message', role: 'assistant', model: body.model, content: blocks,
        stop_reason: blocks.some((b) => b.type === 'tool_use') ? 'tool_use' : 'end_turn', stop_sequence: null,
        usage: { input_tokens: total, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 10 } });
    }
  });
});

// ---- run the CLI ------------------------------------------------------------------------------
const port = await new Promise((r) => server.listen(opt.port, '127.0.0.1', () => r(server.address().port)));
let version = '?';
try { version = execFileSync(opt.claude, ['--version'], { env: { PATH: process.env.PATH, HOME: home }, timeout: 30000 }).toString().trim(); } catch { /* reported as ? */ }
const prompt = {
  read: 'Read every part of the files under src/ one part at a time with the Read tool, then summarize them.',
  small: 'Read each note file under src/ with the Read tool, one by one, then summarize them.',
  image: 'Look at each screenshot in this directory with the Read tool, one by one, and describe them.',
  pdf: 'Read the PDF documents in this directory with the Read tool and summarize them.',
}[opt.scenario];
const args = ['-p', prompt, '--allowedTools', 'Read', '--max-turns', String(opt.turns + 5), '--output-format', 'json'];
if (opt.model) args.push('--model', opt.model);
const env = { PATH: process.env.PATH, HOME: home, TERM: 'dumb', ANTHROPIC_BASE_URL: opt.base || `http://127.0.0.1:${port}`,
  ANTHROPIC_API_KEY: 'sk-ant-size-test', DISABLE_AUTOUPDATER: '1', DISABLE_TELEMETRY: '1',
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', CLAUDE_CODE_MAX_RETRIES: '1' };
const t0 = Date.now();
const child = spawn(opt.claude, args, { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
let out = '', err = '';
child.stdout.on('data', (d) => { out += d; });
child.stderr.on('data', (d) => { err += d; });
const timer = setTimeout(() => { err += `\n[killed after ${opt.timeout} s]`; child.kill('SIGKILL'); }, opt.timeout * 1000);
const rc = await new Promise((r) => child.on('close', (code, sig) => r(code ?? sig)));
clearTimeout(timer);
server.close();
const secs = ((Date.now() - t0) / 1000).toFixed(1);

// ---- report ------------------------------------------------------------------------------------
const fmtN = (x) => x.toLocaleString('en-US');
console.log(`claude ${version}; scenario ${opt.scenario}; model ${opt.model ?? '(default)'}; window ${WINDOW}; exit ${rc} after ${secs} s; ${toolCalls} tool calls`);
console.log('  n  kind          msgs  content-length  json-values     tokens  answer');
for (const r of records) {
  console.log(`${String(r.n).padStart(3)}  ${r.kind.padEnd(12)} ${String(r.messages).padStart(5)}  ${fmtN(r.contentLength).padStart(14)}  ${fmtN(r.values).padStart(11)}  ${r.tokens ? fmtN(r.tokens).padStart(9) : ''.padStart(9)}  ${r.answer ?? ''}` +
    (r.images ? ` images=${r.images}` : '') + (r.documents ? ` documents=${r.documents}` : ''));
}
const mains = records.filter((r) => r.kind === 'main' || r.kind === 'compaction');
const maxBy = (k) => records.reduce((a, r) => (r[k] > a[k] ? r : a), records[0] || { [k]: 0 });
const first = records.find((r) => r.kind === 'main');
const big = maxBy('contentLength'), many = maxBy('values');
const summary = {
  date: new Date().toISOString(), cli: version, scenario: opt.scenario, model: opt.model, exit: rc, seconds: Number(secs),
  toolCalls, requests: records.length, compactions: records.filter((r) => r.kind === 'compaction').length,
  firstRequestBytes: first ? first.contentLength : null, firstRequestValues: first ? first.values : null,
  largestBytes: big ? big.contentLength : null, largestBytesRequest: big ? big.n : null,
  largestAcceptedBytes: Math.max(0, ...records.filter((r) => !/refused/.test(r.answer || '')).map((r) => r.contentLength)),
  largestValues: many ? many.values : null, largestValuesRequest: many ? many.n : null,
  refused: records.filter((r) => /refused/.test(r.answer || '')).length,
  mostImages: Math.max(0, ...records.map((r) => r.images || 0)),
  bytesPerToken: BPT, window: WINDOW, options: opt,
};
// Growth per tool call, over the main requests that carry the whole history (no compaction between).
const seg = [];
for (const r of mains) { if (r.kind === 'compaction' || /refused/.test(r.answer || '')) break; seg.push(r); }
if (seg.length >= 3) {
  const a = seg[1], b = seg[seg.length - 1], calls = b.toolCalls - a.toolCalls;
  if (calls > 0) {
    summary.bytesPerCall = Math.round((b.contentLength - a.contentLength) / calls);
    summary.valuesPerCall = Number(((b.values - a.values) / calls).toFixed(1));
  }
}
console.log(JSON.stringify(summary, null, 1));
let result = null;
try { result = JSON.parse(out); } catch { /* not JSON */ }
console.log('CLI result:', result ? JSON.stringify({ is_error: result.is_error, subtype: result.subtype, num_turns: result.num_turns,
  result: String(result.result).slice(0, 300), terminal_reason: result.terminal_reason, modelUsage: result.modelUsage }) : out.slice(0, 500));
if (err.trim()) console.log('CLI stderr:', err.slice(0, 1500));
if (opt.json) fs.writeFileSync(opt.json, JSON.stringify({ summary, records, stdout: out, stderr: err }, null, 1));
if (opt.keep) console.log(`kept ${tmp}`); else fs.rmSync(tmp, { recursive: true, force: true });
