// fit.mjs: derives the cost tables of lib/cp_tok.c from the real o200k_base tokenizer.
//
//   node fit.mjs [more text files...]
//
// Cuts the fixtures (prose-*, code-*, json-* in tests/fixtures/tok) and any extra files with o200k's own
// pre-tokenizer regex, encodes every pre-token, and prints the mean token count per class, smoothed and
// made non-decreasing in length, in hundredths of a token, ready to paste:
//   - word_cost: letter runs by leading character (none, space/tab, one of ( . _ # [ " '), case shape and
//     length; words with few vowels and words led by other signs are left out and reported as extras;
//   - the extras: SIGN_EXTRA (letter runs led by / - @ = ...), vowel-less and few-vowel runs;
//   - punct_cost: punctuation runs by length, made only of JSON/code structure or not.
// The tables in lib/cp_tok.c were fitted on the fixtures plus about 600 KB of other text (Python stdlib
// modules, C headers, release notes on the build machine), then checked on held-out files with
// `node measure.mjs --texts DIR`.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encode } from 'gpt-tokenizer/encoding/o200k_base';

// o200k_base's pre-tokenizer (tiktoken), in JavaScript syntax.
const PRE = /[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;
const LEAD = '(._#["\'';
const STRUCT = /^["',:;{}\[\]()]+$/;

const here = dirname(fileURLToPath(import.meta.url));
const fixdir = join(here, '../../tests/fixtures/tok');
const files = [
  ...readdirSync(fixdir).filter((f) => /^(prose|code|json)-/.test(f)).map((f) => join(fixdir, f)),
  ...process.argv.slice(2),
];

const words = {}, extras = {}, punct = {};
const add = (t, k, n) => ((t[k] ??= [0, 0]), t[k][0]++, (t[k][1] += n));
for (const f of files) {
  for (const [p] of readFileSync(f, 'utf8').matchAll(PRE)) {
    const n = encode(p).length;
    if (/^[^\r\n\p{L}\p{N}]?[A-Za-z]+$/u.test(p)) {
      const lead = /^[A-Za-z]/.test(p) ? '' : p[0];
      if (lead === '\\') continue; // JSON escapes are costed apart
      const w = lead ? p.slice(1) : p, L = w.length;
      const pfx = !lead ? 0 : lead === ' ' || lead === '\t' ? 1 : 2;
      const shape = /[A-Z]/.test(w[0]) ? (L > 1 && /[A-Z]/.test(w[1]) ? 2 : 1) : 0;
      const v = (w.match(/[aeiouy]/gi) || []).length;
      const vowels = L >= 3 && v === 0 ? 'none' : L >= 3 && 4 * v < L ? 'few' : 'ok';
      const sign = pfx === 2 && !LEAD.includes(lead);
      if (vowels === 'ok' && !sign) add(words, `${pfx}:${shape}:${Math.min(L, 16)}`, n);
      else if (vowels === 'ok') add(extras, `sign:${pfx}:${shape}:${Math.min(L, 16)}`, n);
      else if (!sign) add(extras, `${vowels}:${pfx}:${shape}:${Math.min(L, 16)}:${L < 6 ? 0 : L < 9 ? 1 : 2}`, n);
    } else if (!/[^\x00-\x7f]/.test(p)) {
      const core = p.replace(/^ /, '').replace(/[\r\n/]+$/, '');
      if (core.length === 0 || /[\p{L}\p{N}\s]/u.test(core)) continue;
      if (core.length > 2 && [...core].every((c) => c === core[0])) continue; // "-----": costed apart
      add(punct, `${STRUCT.test(core) ? 0 : 1}:${Math.min(core.length, 8)}`, n);
    }
  }
}

// Mean per cell, pulled towards the previous cell (+0.08) with a weight of 15 samples, non-decreasing
// from length 4 on.
function row(table, key, len) {
  const out = [0];
  let prev = 1;
  for (let L = 1; L <= len; L++) {
    const [c, t] = table[`${key}:${L}`] ?? [0, 0];
    const prior = L === 1 ? 1 : prev + 0.08;
    let v = (t + prior * 15) / (c + 15);
    if (L >= 4 && v < prev) v = prev;
    out.push(Math.round(v * 100));
    prev = v;
  }
  return out;
}
const W = {};
console.log('static const unsigned short word_cost[3 * 3][WORD_TABLE_LEN + 1] = {');
for (const [p, pname] of ['PFX_NONE', 'PFX_SPACE', 'PFX_PUNCT'].entries())
  for (const [c, cname] of ['word', 'Word', 'WORD'].entries()) {
    W[`${p}:${c}`] = row(words, `${p}:${c}`, 16);
    console.log(`    /* ${pname}, ${cname} */\n    {${W[`${p}:${c}`].join(', ')}},`);
  }
console.log('};');
// Extras: mean of (real - table) over the words the table left out.
const resid = (pred) => {
  let d = 0, k = 0;
  for (const [key, [c, t]] of Object.entries(extras)) {
    const parts = key.split(':');
    if (!pred(parts)) continue;
    const [p, s, L] = parts[0] === 'sign' ? parts.slice(1) : parts.slice(1, 4);
    d += t - (c * W[`${p}:${s}`][+L]) / 100;
    k += c;
  }
  return k ? `${Math.round((100 * d) / k)} (${k} runs)` : '-';
};
console.log(`SIGN_EXTRA ${resid((x) => x[0] === 'sign')}`);
for (const v of ['none', 'few'])
  console.log(`${v === 'none' ? 'vowelless' : 'few_vowels'}_extra {${[0, 1, 2].map((b) => resid((x) => x[0] === v && x[4] === String(b))).join(', ')}}`);
console.log('static const unsigned short punct_cost[2][PUNCT_TABLE_LEN + 1] = {');
console.log(`    {${row(punct, '0', 8).join(', ')}}, /* only F_STRUCT characters */`);
console.log(`    {${row(punct, '1', 8).join(', ')}}, /* any other */\n};`);
